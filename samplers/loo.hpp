// SPDX-License-Identifier: MIT
// Pareto-smoothed importance-sampling leave-one-out cross-validation (PSIS-LOO) and model
// comparison, as in Vehtari, Gelman & Gabry (2017, Stat. Comput. 27:1413), Vehtari, Simpson,
// Gelman, Yao & Gabry (2024, JMLR 25:72) and ArviZ's `loo` / `compare` (the same estimator, the
// same constants; tested against ArviZ 0.23 to 1e-6 relative):
//  - raw log importance ratios of trial i: -log_lik_i(draw s), shifted so that the largest is 0;
//  - the M = ceil(min(S / 5, 3 sqrt(S / r_eff))) largest ratios are the tail; a generalized
//    Pareto distribution is fitted to their excesses over the cutoff by Zhang & Stephens' (2009)
//    empirical-Bayes estimate with the weakly informative prior on k of the PSIS paper (k pulled
//    towards 0.5 with weight 10 draws);
//  - the tail is replaced by the fit's expected order statistics, truncated at the largest raw
//    ratio, and the weights normalised (log-sum-exp throughout);
//  - elpd_loo_i = log sum_s w_is p(y_i | theta_s); p_loo = lppd - elpd_loo; se = sqrt(N var(elpd_i)).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <bactor/samplers/nuts.hpp>

namespace bactor {

/// Zhang & Stephens (2009) fit of a generalized Pareto distribution to `sorted_excesses` (> 0,
/// ascending), with the PSIS paper's prior on k: returns {k, sigma}.
struct GpdFit {
  double k = 0, sigma = 0;
};
GpdFit gpd_fit(const std::vector<double>& sorted_excesses);

/// log(sum(exp(x))), stable (the largest term factored out); -inf for an empty vector.
double log_sum_exp(const std::vector<double>& x);

/// Pareto-smooths one vector of raw log importance ratios in place and normalises them (their
/// exps sum to 1). Returns the Pareto shape k (+inf when the tail has 4 draws or fewer and
/// nothing was smoothed). `r_eff`: relative MCMC efficiency of the draws (ESS / S).
double psis_smooth(std::vector<double>& log_ratios, double r_eff);

/// Sample-size-dependent Pareto k threshold min(1 - 1/log10(S), 0.7) (Vehtari et al. 2024).
double pareto_k_threshold(std::size_t draws);

/// Pareto k classes: good (k <= 0.5), ok (0.5, 0.7], bad (0.7, 1], very bad (> 1).
struct ParetoKCounts {
  std::size_t good = 0, ok = 0, bad = 0, very_bad = 0;
};
ParetoKCounts count_pareto_k(const std::vector<double>& k);

struct LooResult {
  double elpd_loo = 0, se = 0, p_loo = 0, lppd = 0;
  std::vector<double> elpd_i;     // pointwise elpd_loo
  std::vector<double> lppd_i;     // pointwise log mean likelihood (p_loo_i = lppd_i - elpd_i)
  std::vector<double> pareto_k;   // per trial
  std::size_t draws = 0, points = 0;
  double r_eff = 1;
  double good_k = 0.7;            // pareto_k_threshold(draws)
  bool warning = false;           // some k > good_k
};

/// PSIS-LOO of a log-likelihood matrix: `log_lik[i]` holds trial i's S draws (all the same S).
LooResult psis_loo(const std::vector<std::vector<double>>& log_lik, double r_eff);

/// Relative efficiency as ArviZ's `loo` computes it: 1 for one chain, else the mean over the
/// named columns of the split-chain ESS of the mean (no rank normalisation) divided by the
/// number of draws. Post-warm-up rows only.
double relative_efficiency(const std::vector<ChainResult>& chains, const std::vector<std::string>& columns);

/// Columns of `chains` (post-warm-up rows, chains concatenated in order) that are named
/// `prefix.1`, `prefix.2`, ... (or `prefix[1]`, ...), in index order: one vector of draws per
/// index. Throws std::invalid_argument when there are none or the chains' columns differ.
std::vector<std::vector<double>> indexed_columns(const std::vector<ChainResult>& chains, const std::string& prefix);

/// One row of the comparison table (as arviz.compare prints it, scale "log").
struct CompareRow {
  std::string name;
  int rank = 0;                 // 0 = best (highest elpd_loo)
  double elpd_loo = 0, p_loo = 0, elpd_diff = 0, se = 0, dse = 0;
  double weight = 0;            // stacking weight
  bool warning = false;
};

/// Ranks models by elpd_loo (ties keep the input order); elpd_diff and dse against the best, from
/// the pointwise differences: dse = sqrt(N var(diff)). Stacking weights maximise
/// sum_i log sum_k w_k exp(elpd_i,k) on the simplex (Yao et al. 2018). All models need the same
/// number of trials (std::invalid_argument otherwise).
std::vector<CompareRow> compare_loo(const std::vector<std::string>& names, const std::vector<LooResult>& fits);

/// Difference of two fits' elpd (a - b) and its standard error sqrt(N var(elpd_i,a - elpd_i,b)).
struct ElpdDiff {
  double diff = 0, se = 0;
};
ElpdDiff elpd_difference(const LooResult& a, const LooResult& b);

/// Stacking weights (Yao, Vehtari, Simpson & Gelman 2018) of models with pointwise elpd
/// `elpd[k][i]`: maximises sum_i log sum_k w_k exp(elpd[k][i]) over the simplex.
std::vector<double> stacking_weights(const std::vector<std::vector<double>>& elpd);

} // namespace bactor
