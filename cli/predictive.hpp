// SPDX-License-Identifier: MIT
// Posterior-predictive checks from a fit's draws without r_rep columns: responses are simulated
// from the posterior draws with the settings `infer` recorded (cost, action, fixed values,
// priors) through ActorModel::write_outputs, then summarised per condition and stimulus bin
// (mean and sd of log r) and per condition (the central-tendency slope of log r on log s), each
// against the observed value. Under gaussian perception or a gaussian motor model the same
// statistics of r and s themselves; under von Mises perception the circular mean and circular sd
// of the wrapped error d = wrap(r - s) and the slope of d on the stimulus's wrapped offset from
// the condition's circular mean stimulus. Used by `bactor check` and `bactor report`.
#pragma once

#include "cli/fit_dir.hpp"
#include <bactor/models/data.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bactor::cli {

/// One statistic of one group of trials, observed and predicted.
struct CheckRow {
  std::string subject;      // "" without subjects
  std::string cond;         // condition label
  std::string stat;         // mean_log_r, sd_log_r, mean_r, sd_r, cmean_d, csd_d (per bin) or slope (per condition)
  std::string bin;          // 1-based bin number, or "all" for the slope
  double s_lo = 0, s_hi = 0, s_center = 0;  // stimulus range of the bin, its stimuli's geometric (linear: arithmetic, circle: circular) mean
  std::size_t n = 0;        // trials
  double observed = 0;
  double q5 = 0, q50 = 0, q95 = 0;  // predictive 5%, 50%, 95% quantiles of the statistic
  double ppp = 0;           // predictive p-value: share of replications with a statistic >= observed
  bool outside = false;     // observed outside [q5, q95]
};

struct CheckOptions {
  int bins = 8;                 // stimulus bins per condition when the stimuli are continuous
  std::size_t draws = 1000;     // posterior draws used (evenly spaced over all draws)
  std::uint64_t seed = 1;       // replication noise: Rng(seed, subject index)
};

/// Bins of one condition's trials (indices into the data set): one per distinct stimulus when
/// there are at most 12 distinct values with 3 trials or more each, else `bins` groups of
/// consecutive stimuli with (nearly) equal counts, at least 3 trials each; equal stimuli share a bin.
std::vector<std::vector<std::size_t>> stimulus_bins(const Dataset& data, const std::vector<std::size_t>& trials, int bins);

/// The check of one fit (one subject's data). Throws std::invalid_argument when the recorded
/// settings do not match the data (trial count) or cannot be rebuilt.
std::vector<CheckRow> predictive_check(const Fit& fit, const Dataset& data, const CheckOptions& options,
                                       std::size_t subject_index = 0);

/// What hierarchical_subject_fits needs of a subject's data: its trial count and the labels of
/// the conditions it has, numbered as split_subjects numbers them (empty: not known).
struct SubjectTrials {
  std::size_t trials = 0;
  std::vector<std::string> conditions;
};
/// Each subject of a data set (split_subjects) by id.
std::map<std::string, SubjectTrials> subject_trials(const Dataset& data);

/// A hierarchical fit (infer --hierarchical) as one Fit per subject, for predictive_check: each
/// holds lp__, the subject's pooled parameters (columns NAME.sJ renamed NAME) and the shared
/// ones, and the settings an ActorModel of that subject needs (trials the subject's count,
/// pooled parameters with a prior of full support); `subject` the recorded id. In a blocked
/// cohort a per-condition parameter NAME.c is numbered among the subject's own conditions (as a
/// fit of its data alone: NAME.k, or NAME with one condition; left out for a condition it
/// lacks), and so are the priors, fixed values and conditions recorded. Throws
/// std::invalid_argument when the recorded subjects are missing from `subjects`.
std::vector<Fit> hierarchical_subject_fits(const Fit& fit, const std::map<std::string, SubjectTrials>& subjects);

/// The data a fit was made from: `data_path` if given, else the recorded data_file (as written,
/// relative to the working directory of `infer`; also tried relative to the fit folder's parent),
/// read with `columns` (the text of --columns) if given, else with the column map the fit records
/// (`columns = s=...,r=...`), else the standard names. Throws std::invalid_argument naming the
/// file when it cannot be found.
Dataset fit_data(const Fit& fit, const std::string& data_path, const std::string& columns = "");

/// Plain-language verdict: per statistic type, how many observed values fall outside their 90%
/// intervals, and a warning when that is more than a well-fitting model gives (more than the
/// binomial(M, 0.1) 99% quantile), or a slope's predictive p-value is below 0.005 or above 0.995.
struct CheckVerdict {
  std::size_t total = 0, outside = 0;
  std::vector<std::string> warnings;  // empty: no misfit found
};
CheckVerdict judge(const std::vector<CheckRow>& rows);
/// What the rows' slope regresses: "log r on log s", "r on s" or the circular version's words.
std::string slope_words(const std::vector<CheckRow>& rows);

void write_check_csv(const std::string& path, const std::vector<CheckRow>& rows);
/// Reads a file written by write_check_csv (throws std::invalid_argument naming file and line).
std::vector<CheckRow> read_check_csv(const std::string& path);

} // namespace bactor::cli
