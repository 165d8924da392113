// SPDX-License-Identifier: MIT
// Reading the output of `bactor infer` back: a fit directory holds chain-1.csv, chain-2.csv, ...
// (CmdStan CSV) or, for data with subjects, one subject-<name>/ folder of them per subject and
// subjects.csv, which maps each subject id to its folder (docs/formats.md). Used by compare,
// check, report and merge; infer writes the map with the functions here.
#pragma once

#include <bactor/samplers/loo.hpp>
#include <bactor/samplers/nuts.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bactor::cli {

/// One posterior: the chains of one directory and the settings `infer` recorded in them.
struct Fit {
  std::string dir;                                // the folder holding chain-*.csv
  std::string subject;                            // "" or the subject id (folder subject-<id>)
  std::vector<std::string> files;                 // chain files, by chain number
  std::vector<ChainResult> chains;
  std::map<std::string, std::string> settings;    // `# key = value` lines of chain 1 before the header
};

/// The fits under `dir`: its own chain-*.csv (one fit, subject ""), else one per subject listed
/// in its subjects.csv (a folder written before that file existed: one per subject-<id>/ folder
/// with chain files), ids sorted numerically when all are numbers, else by name. Throws
/// std::invalid_argument when there are none or a file is malformed (naming file and line).
std::vector<Fit> read_fits(const std::string& dir);

/// The `# key = value` lines before the CSV header of a draws file (first occurrence wins).
std::map<std::string, std::string> read_settings(const std::string& path);

// ---- Subject folders and their map (subjects.csv) ----

/// The map's file name in a fit folder and its first line (how bactor recognises its own).
inline constexpr const char* subjects_file_name = "subjects.csv";
inline constexpr const char* subjects_file_first_line = "# bactor fit folder: subject ids and their folders (docs/formats.md)";

/// Folder names for subject ids given in data order: "subject-" + the id with every byte
/// outside [A-Za-z0-9._-] (and a final '.') written %XX (two upper-case hex digits), cut to 200
/// bytes; a name equal, ignoring ASCII case, to an earlier one gets "~2", "~3", ... So a name is
/// one path component, never "." or "..", unique on case-insensitive file systems too, and
/// depends on the ids before it only when it collides.
std::vector<std::string> subject_folders(const std::vector<std::string>& ids);

/// 64-bit FNV-1a hash of a byte string (offset basis 14695981039346656037, prime 1099511628211).
std::uint64_t fnv1a64(std::string_view bytes);

/// The shard (1..n) a subject belongs to: fnv1a64(id) mod n, plus 1.
int subject_shard(const std::string& id, int n);

/// One subject of a fit folder: its position among all subjects of the data file (1-based, by
/// first appearance), its id and its folder.
struct SubjectEntry {
  std::size_t index = 0;
  std::string id, folder;
};

/// The content of subjects.csv: `# key = value` settings in order (shard, complete,
/// subjects_total, the run's settings), then the subjects.
struct SubjectMap {
  std::vector<std::pair<std::string, std::string>> settings;
  std::vector<SubjectEntry> subjects;
  /// The value of `key`, or "" when absent.
  std::string get(const std::string& key) const;
};

/// Writes `dir`/subjects.csv (through a .tmp renamed into place); ids are quoted as CSV needs.
void write_subject_map(const std::string& dir, const SubjectMap& map);
/// Appends one subject's row to `dir`/subjects.csv (written by write_subject_map): a run adds
/// each subject as its folder is complete, in time linear in the number of subjects.
void append_subject(const std::string& dir, const SubjectEntry& entry);
/// Reads a subjects.csv (a last row without its line end, from a run killed while appending it,
/// is left out), checking every folder is a name subject_folders could have made (one
/// path component starting "subject-", no slash or backslash, not "..") and that indices, ids and folders are
/// unique. Throws std::invalid_argument naming the file and line.
SubjectMap read_subject_map(const std::string& path);

/// Setting `key` or `fallback` when absent.
std::string setting(const Fit& fit, const std::string& key, const std::string& fallback = "");

/// The parameter columns: not sampler columns (ending in "__"), not log_lik.i or r_rep.i.
std::vector<std::string> parameter_columns(const ChainResult& chain);

/// Post-warm-up draws of one column, chains concatenated. Throws when absent.
std::vector<double> column(const Fit& fit, const std::string& name);
/// Post-warm-up draws of one column, one vector per chain.
std::vector<std::vector<double>> column_by_chain(const Fit& fit, const std::string& name);

/// Last path component of a directory ("runs/quad/" -> "quad").
std::string base_name(const std::string& dir);

/// PSIS-LOO of a fit from its log_lik.i columns (r_eff from its parameter columns, as ArviZ).
/// Throws std::invalid_argument naming the file when there are no log_lik columns.
LooResult fit_loo(const Fit& fit);
/// The pointwise values of several fits (subjects) as one LooResult (sums, se over all trials).
LooResult pool_loo(const std::vector<const LooResult*>& parts);

/// Shortest decimal that reads back to the same double ("nan", "inf", "-inf" otherwise).
std::string number(double v);

} // namespace bactor::cli
