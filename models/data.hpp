// SPDX-License-Identifier: MIT
// Trial data of an inverse decision-making experiment: stimulus s and response r per trial,
// optionally a condition label and a subject id. Read from and written to CSV with a header.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <string>
#include <vector>

namespace bactor {

/// Trials of one data set. `cond[i]` is a 0-based index into `cond_labels` (one condition
/// labelled "1" when the file has no `cond` column); `subject` is empty without a column.
struct Dataset {
  std::string source;                    // file name (for messages and draws files)
  std::vector<double> s, r;              // stimuli and responses, all > 0 and finite
  std::vector<int> cond;                 // condition index per trial, 0-based
  std::vector<std::string> cond_labels;  // label of each condition index
  std::vector<std::string> subject;      // subject id per trial (empty: no subject column)
  std::vector<std::size_t> line;         // 1-based file line of each trial

  std::size_t size() const { return s.size(); }
  std::size_t conditions() const { return cond_labels.size(); }
  bool has_subjects() const { return !subject.empty(); }
};

/// Parses CSV text with a header naming the columns `s` and `r` (required), `cond` and
/// `subject` (optional); other columns are ignored. Conditions that are all integers are
/// ordered numerically, names by first appearance. Throws std::invalid_argument with one line
/// "FILE:LINE: column 'X': ..." for a missing column, an empty file, or a value that is
/// missing, non-numeric, non-finite or not positive.
Dataset parse_dataset(std::istream& in, const std::string& name);

/// Reads a data file (see parse_dataset). Throws std::invalid_argument when it cannot be opened.
Dataset read_dataset(const std::string& path);

/// Writes `cond,s,r` (cond only with more than one condition; subject first when present),
/// 17 significant digits, to a temporary file renamed to `path`.
void write_dataset(const std::string& path, const Dataset& data);

/// Splits by the `subject` column, subjects in order of first appearance; conditions keep the
/// labels of the whole file. Without a subject column: one entry with an empty id.
std::vector<std::pair<std::string, Dataset>> split_subjects(const Dataset& data);

} // namespace bactor
