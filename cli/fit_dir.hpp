// SPDX-License-Identifier: MIT
// Reading the output of `bactor infer` back: a fit directory holds chain-1.csv, chain-2.csv, ...
// (CmdStan CSV) or, for data with subjects, one subject-<id>/ folder of them per subject. Used
// by compare, check and report.
#pragma once

#include <bactor/samplers/loo.hpp>
#include <bactor/samplers/nuts.hpp>

#include <map>
#include <string>
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

/// The fits under `dir`: its own chain-*.csv (one fit, subject ""), else one per subject-<id>/
/// folder (ids sorted numerically when all are numbers, else by name). Throws
/// std::invalid_argument when there are none or a file is malformed (naming file and line).
std::vector<Fit> read_fits(const std::string& dir);

/// The `# key = value` lines before the CSV header of a draws file (first occurrence wins).
std::map<std::string, std::string> read_settings(const std::string& path);

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
