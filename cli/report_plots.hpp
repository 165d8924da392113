// SPDX-License-Identifier: MIT
// The plots of `bactor report` as inline SVG (cli/svg.hpp), each a function of a fit's draws:
// trace, rank, density (with the prior the fit recorded), pairs; and of a PSIS-LOO comparison:
// elpd and Pareto k. The SVGs carry no text styles of their own (the page's CSS has them).
#pragma once

#include "cli/fit_dir.hpp"

#include <bactor/models/inference.hpp>
#include <bactor/samplers/loo.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace bactor::cli::report {

/// v printed with the printf format `fmt` (one double), or "n/a" where v is not finite and
/// `na_if_not_finite` (the report's number formatters, e.g. number_text("%.2f", v)).
std::string number_text(const char* fmt, double v, bool na_if_not_finite = false);
/// v with two decimals (as printf prints non-finite values).
inline std::string f2(double v) { return number_text("%.2f", v); }

/// One comparison table: of one subject's fits, of the pooled trials (subject "all"), or of the
/// data without subjects (subject "").
struct CompareBlock {
  std::string subject;
  std::vector<CompareRow> rows;      // by rank
  std::vector<std::string> names;    // the models in input order (loo in this order)
  std::vector<LooResult> loo;        // empty when read from a compare CSV
};

/// Draws thinned to at most `n` evenly spaced ones (their indices).
std::vector<std::size_t> thin_index(std::size_t total, std::size_t n);

/// The prior of `name` as the fit recorded it, else the cost's default (false: none known).
bool find_prior(const Fit& fit, const std::string& name, Prior& out);

/// Each chain's draws of `param` after warm-up, thinned to `max_points` per chain.
std::string trace_plot(const Fit& fit, const std::string& param, const std::string& id, std::size_t max_points);
/// Histograms of each chain's ranks among all draws (20 bins).
std::string rank_plot(const Fit& fit, const std::string& param, const std::string& id);
/// Kernel density of all draws (reflected at 0 for a positive parameter), with the prior's
/// density when `with_prior` and the fit records one.
std::string density_plot(const Fit& fit, const std::string& param, const std::string& id, bool with_prior = true);
/// Scatter plots of every pair (`max_points` draws, divergent ones in red), histograms on the
/// diagonal, correlations above it. `n_div_shown`: the divergent draws drawn.
std::string pairs_plot(const Fit& fit, const std::vector<std::string>& params, const std::string& id, std::size_t max_points,
                       std::size_t& n_div_shown);
/// elpd_loo with its se per model and the difference to the best with its dse.
std::string elpd_plot(const CompareBlock& b, const std::string& id);
/// Pareto k of every trial with the threshold for the fit's number of draws.
std::string khat_plot(const LooResult& l, const std::string& name, const std::string& id);

} // namespace bactor::cli::report
