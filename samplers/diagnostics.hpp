// SPDX-License-Identifier: MIT
// Convergence diagnostics as in Vehtari et al. (2021) and the posterior R package:
// rank-normalised split R-hat, bulk/tail ESS, MCSE, E-BFMI.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <bactor/samplers/nuts.hpp>

namespace bactor {

struct ParamSummary {
  std::string name;
  double mean = 0, sd = 0, q5 = 0, q50 = 0, q95 = 0, mcse_mean = 0, mcse_sd = 0, ess_bulk = 0,
         ess_tail = 0, rhat = 0;
  // Draws that are nan or +-inf. With any, every statistic above is NaN (format_summary prints
  // "n/a" and a WARNING): a mean of nan beside a finite ESS would read as a result.
  std::size_t nonfinite = 0;
};

struct Summary {
  std::vector<ParamSummary> params;     // every non-sampler column (names not ending in "__")
  ParamSummary lp;                      // lp__
  std::size_t draws = 0;                // total over chains
  std::size_t chains = 0;               // number of chains summarised
  std::size_t divergences = 0;
  std::size_t max_depth_hits = 0; int max_depth = 10;
  std::vector<double> ebfmi;            // per chain
  double seconds_warmup = 0, seconds_sampling = 0;
};

/// Summary over chains (post-warm-up rows only). `only`: restrict to these column names (empty: all).
Summary summarize(const std::vector<ChainResult>& chains, const std::vector<std::string>& only = {});
/// Fixed-width table plus the diagnostic lines; one WARNING line per problem
/// (divergences, R-hat >= 1.01, bulk- or tail-ESS < 100 per chain in all, E-BFMI < 0.3,
/// non-finite draws...), each stating the rule that fired. An E-BFMI that cannot be computed, and
/// every statistic of a column with non-finite draws, prints as "n/a". Without draws: one line
/// saying so, no table.
std::string format_summary(const Summary& s);
/// Writes the table as CSV (name,mean,sd,q5,q50,q95,mcse_mean,mcse_sd,ess_bulk,ess_tail,rhat).
void write_summary_csv(const std::string& path, const Summary& s);

// Single-quantity diagnostics. `chains`: one vector of draws per chain (equal lengths are
// not required; split chains use each chain's own halves).

/// Rank-normalised split R-hat: max of the bulk and the folded (tail) versions.
double rhat(const std::vector<std::vector<double>>& chains);
/// Classic (non-rank-normalised) split R-hat.
double rhat_basic(const std::vector<std::vector<double>>& chains);
/// Rank-normalised split bulk-ESS.
double ess_bulk(const std::vector<std::vector<double>>& chains);
/// Tail-ESS: min of the ESS of the 5% and 95% quantile indicators.
double ess_tail(const std::vector<std::vector<double>>& chains);
/// Split-chain ESS of the raw values (no rank normalisation), used for the MCSE of the mean.
double ess_basic(const std::vector<std::vector<double>>& chains);
/// Autocorrelation (lags 0..n-1) of one series by FFT, normalised so acf[0] = 1.
std::vector<double> autocorrelation(const std::vector<double>& x);
/// Monte Carlo standard errors of the mean, the sd, and a quantile (probability p).
double mcse_mean(const std::vector<std::vector<double>>& chains);
double mcse_sd(const std::vector<std::vector<double>>& chains);
double mcse_quantile(const std::vector<std::vector<double>>& chains, double p);
/// Quantile of pooled draws (type-7 linear interpolation, as R's default).
double quantile(std::vector<double> x, double p);
/// E-BFMI of one chain's energy__ series.
double ebfmi(const std::vector<double>& energy);

} // namespace bactor
