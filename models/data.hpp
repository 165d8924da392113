// SPDX-License-Identifier: MIT
// Trial data of an inverse decision-making experiment: stimulus s and response r per trial,
// optionally a condition label and a subject id. Read from and written to CSV with a header.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace bactor {

/// Trials of one data set. `cond[i]` is a 0-based index into `cond_labels` (one condition
/// labelled "1" when the file has no `cond` column); `subject` is empty without a column.
struct Dataset {
  std::string source;                    // file name (for messages and draws files)
  std::vector<double> s, r;              // stimuli and responses: finite; > 0, any sign or angles in (-pi, pi] as the ValueDomain
  std::vector<int> cond;                 // condition index per trial, 0-based
  std::vector<std::string> cond_labels;  // label of each condition index
  std::vector<std::string> subject;      // subject id per trial (empty: no subject column)
  std::vector<std::size_t> line;         // 1-based file line of each trial

  std::size_t size() const { return s.size(); }
  std::size_t conditions() const { return cond_labels.size(); }
  bool has_subjects() const { return !subject.empty(); }
};

/// The header column that holds each role of a trial: stimulus `s`, response `r`, condition
/// `cond` and subject id `subject`. By default each role's own name. A role mapped to another
/// name must be in the header; `cond` and `subject` are optional only under their own names.
struct ColumnMap {
  std::string s = "s", r = "r", cond = "cond", subject = "subject";
  bool operator==(const ColumnMap&) const = default;
};


/// Parses "ROLE=COLUMN,..." (roles s, r, cond, subject; a role not given keeps its own name),
/// e.g. "s=duration,r=reproduction,subject=sub,cond=block"; empty text is the default map.
/// Throws ArgumentError (argument "columns") naming the user's text for a missing '=', an
/// unknown role, a role given twice, an empty column name or one column for two roles.
ColumnMap parse_column_map(const std::string& text);

/// All four roles, "s=...,r=...,cond=...,subject=..." (parse_column_map reads it back).
std::string to_string(const ColumnMap& columns);

/// The values a data file's stimuli and responses may take: both positive (log-normal
/// perception and motor noise: the actor's magnitudes, r/s within 1e-6..1e6), positive stimuli
/// with responses of any sign (gaussian motor noise), both of any sign (gaussian perception,
/// linear space), or angles in radians in (-pi, pi] (von Mises perception, circular).
enum class ValueDomain { positive, positive_stimuli, any, circular };

/// Parses CSV text with a header naming the columns of `s` and `r` (required), `cond` and
/// `subject` (optional) as `columns` maps them; other columns are ignored. Conditions that are
/// all integers are ordered numerically, names by first appearance. Throws
/// std::invalid_argument with one line "FILE:LINE: column 'X': ..." (X the file's own column
/// name) for a missing column, an empty file, or a value that is missing, non-numeric,
/// non-finite or not positive (as `domain` requires: values of any sign may be 0, but their
/// magnitude must stay below 1e100); ArgumentError (argument "columns") for an invalid map or, with
/// "FILE:LINE: missing column 'X' (mapped to ROLE)", a mapped column the header lacks.
/// `domain`: which values of s and r are valid (ValueDomain).
Dataset parse_dataset(std::istream& in, const std::string& name, const ColumnMap& columns = {},
                      ValueDomain domain = ValueDomain::positive);

/// Reads a data file (see parse_dataset). Throws std::invalid_argument when it cannot be opened.
Dataset read_dataset(const std::string& path, const ColumnMap& columns = {}, ValueDomain domain = ValueDomain::positive);

/// Writes `cond,s,r` (cond unless there is one condition labelled "1"; subject first when
/// present; ids and labels quoted when they hold a comma, a quote or surrounding spaces), 17
/// significant digits, to a temporary file renamed to `path`: read_dataset reads back the same
/// trials, conditions and ids.
void write_dataset(const std::string& path, const Dataset& data);

/// The lapse contaminant's range of r (lo, hi) for trials with these stimuli: log r uniform over
/// [min log s - lapse_stimulus_margin, max log s + lapse_stimulus_margin], a factor e beyond the
/// smallest and largest stimulus. The one definition that `simulate` draws lapses from and that
/// inference uses by default (lapse_range in models/inference.hpp, which widens it only when a
/// response falls outside); it depends on the stimuli alone, so lapses cannot change it.
std::pair<double, double> stimulus_lapse_range(const std::vector<double>& stimuli);
inline constexpr double lapse_stimulus_margin = 1.0;

/// Splits by the `subject` column, subjects in order of first appearance; conditions keep the
/// labels of the whole file. Without a subject column: one entry with an empty id.
std::vector<std::pair<std::string, Dataset>> split_subjects(const Dataset& data);

} // namespace bactor
