// SPDX-License-Identifier: MIT
// The cohort page of `bactor report`: for a fit with subjects (one posterior per subject, or a
// hierarchical fit's subjects), every subject's posterior in one table (median and 90% interval
// per parameter and condition), a forest plot per parameter, the diagnostics of all fits with
// the subjects that need attention first, the predictive check's counts per subject and the
// PSIS-LOO comparison per subject and pooled; and the shrinkage plot of a hierarchical fit
// against a subject-by-subject one. Every string from the data or the arguments is escaped.
#pragma once

#include "cli/fit_dir.hpp"
#include "cli/predictive.hpp"
#include "cli/report_plots.hpp"

#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/loo.hpp>

#include <map>
#include <string>
#include <vector>

namespace bactor::cli::report {

/// One subject: its posterior (a Fit of its own columns), summary and the id of its page.
struct Subject {
  const Fit* fit = nullptr;
  Summary summary;
  std::string anchor;
};

struct Cohort {
  std::vector<Subject> subjects;                 // in the fit's order
  std::map<std::string, std::string> conditions; // condition index ("1", "2", ...) -> label
  std::vector<CheckRow> check;                   // every subject's rows (may be empty)
  std::string check_note;                        // where the check came from, or why it is missing
  std::vector<CompareBlock> compare;             // per subject, then "all"; empty without --compare
  bool joint = false;                            // one hierarchical fit: divergences are the cohort's
  Summary joint_summary;                         // with joint: the joint fit's sampler diagnostics
  std::map<std::string, double> population;      // NAME (or NAME.c, per condition) -> median of NAME.pop (lines in its forest plot)
};

/// The cohort page's HTML (headings h2 with ids cohort-*, tables and inline SVG without their
/// own text styles: the page's CSS carries svg::text_css).
std::string cohort_page(const Cohort& cohort);

/// For one fit with conditions: a plot per parameter that varies by condition, its conditions'
/// medians and 90% intervals side by side ("" when no parameter varies by condition).
std::string condition_plots(const Subject& fit, const std::map<std::string, std::string>& conditions, const std::string& name);

/// Each subject's posterior median of `param` in a hierarchical fit (y) against a separate fit's
/// (x), with the 90% intervals, the identity line and the population median.
std::string shrinkage_plot(const std::string& param, const std::vector<std::string>& ids, const std::vector<double>& pooled_q5,
                           const std::vector<double>& pooled_q50, const std::vector<double>& pooled_q95,
                           const std::vector<double>& separate_q50, double population_median, const std::string& id);

/// Parameter columns grouped by their name without a condition suffix: "mu_0.1", "mu_0.2" ->
/// {"mu_0", {"mu_0.1", "mu_0.2"}}; a shared parameter is a group of one. First-seen order.
std::vector<std::pair<std::string, std::vector<std::string>>> parameter_groups(const std::vector<std::string>& columns);

} // namespace bactor::cli::report
