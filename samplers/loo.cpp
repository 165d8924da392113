// SPDX-License-Identifier: MIT
// PSIS-LOO (see loo.hpp). The steps and constants follow ArviZ 0.23's `psislw`, `_gpdfit`,
// `_gpinv` and `loo`, which implement Vehtari et al. (2017, 2024); the test compares with
// numbers ArviZ computed on the same draws files (tests/fixtures/loo/).
#include <bactor/samplers/loo.hpp>
#include <bactor/samplers/diagnostics.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace bactor {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kEps = std::numeric_limits<double>::epsilon();

double mean_of(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return x.empty() ? 0.0 : s / double(x.size());
}

/// Population variance (n denominator, numpy's default), as ArviZ's se and dse use.
double var_pop(const std::vector<double>& x) {
  const double m = mean_of(x);
  double s = 0;
  for (double v : x) s += (v - m) * (v - m);
  return x.empty() ? 0.0 : s / double(x.size());
}

/// Inverse GPD cdf at p in (0, 1): sigma * expm1(-k log1p(-p)) / k (k ~ 0: -sigma log1p(-p)).
double gpd_quantile(double p, double k, double sigma) {
  if (!(sigma > 0)) return std::numeric_limits<double>::quiet_NaN();
  if (std::fabs(k) < kEps) return -std::log1p(-p) * sigma;
  return std::expm1(-k * std::log1p(-p)) / k * sigma;
}

} // namespace

double log_sum_exp(const std::vector<double>& x) {
  if (x.empty()) return -kInf;
  const double m = *std::max_element(x.begin(), x.end());
  if (!std::isfinite(m)) return m;  // +inf, or every term -inf
  double s = 0;
  for (double v : x) s += std::exp(v - m);
  return m + std::log(s);
}

GpdFit gpd_fit(const std::vector<double>& x) {
  // Zhang & Stephens (2009): a grid of m values of b = -k/sigma weighted by their profile
  // likelihood; the prior on b is their default (scale 3 x the first quartile); k's posterior
  // mean is then pulled towards 0.5 with the weight of 10 observations (PSIS paper, appendix).
  const std::size_t n = x.size();
  if (n == 0) throw std::invalid_argument("gpd_fit: no data");
  const double prior_bs = 3, prior_k = 10;
  const std::size_t m = 30 + std::size_t(std::sqrt(double(n)));
  const double q1 = x[std::size_t(double(n) / 4.0 + 0.5) - 1];
  std::vector<double> b(m), len(m);
  for (std::size_t j = 0; j < m; ++j) {
    b[j] = (1.0 - std::sqrt(double(m) / (double(j + 1) - 0.5))) / (prior_bs * q1) + 1.0 / x[n - 1];
    double k = 0;
    for (double v : x) k += std::log1p(-b[j] * v);
    k /= double(n);
    len[j] = double(n) * (std::log(-(b[j] / k)) - k - 1.0);
  }
  // Weights 1 / sum_l exp(len_l - len_j), those below 10 eps dropped, renormalised.
  std::vector<double> w(m);
  for (std::size_t j = 0; j < m; ++j) {
    double s = 0;
    for (std::size_t l = 0; l < m; ++l) s += std::exp(len[l] - len[j]);
    w[j] = 1.0 / s;
  }
  double wsum = 0, b_post = 0;
  for (std::size_t j = 0; j < m; ++j)
    if (w[j] >= 10 * kEps) wsum += w[j];
  for (std::size_t j = 0; j < m; ++j)
    if (w[j] >= 10 * kEps) b_post += b[j] * (w[j] / wsum);
  double k = 0;
  for (double v : x) k += std::log1p(-b_post * v);
  k /= double(n);
  GpdFit fit;
  fit.sigma = -k / b_post;
  fit.k = (double(n) * k + prior_k * 0.5) / (double(n) + prior_k);
  return fit;
}

double psis_smooth(std::vector<double>& lw, double r_eff) {
  const std::size_t S = lw.size();
  if (S == 0) throw std::invalid_argument("psis_smooth: no draws");
  if (!(r_eff > 0)) throw std::invalid_argument("psis_smooth: r_eff must be positive");
  const double top = *std::max_element(lw.begin(), lw.end());
  for (double& v : lw) v -= top;
  // Tail length M; the cutoff is the (M+1)-th largest ratio (ArviZ: sorted[-M-1]).
  const auto M = std::size_t(std::ceil(std::min(double(S) / 5.0, 3.0 * std::sqrt(double(S) / r_eff))));
  std::vector<std::size_t> order(S);
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lw[a] < lw[b]; });
  const std::size_t cut_pos = M + 1 <= S ? S - M - 1 : 0;
  const double cutoff = std::max(lw[order[cut_pos]], std::log(std::numeric_limits<double>::min()));
  const double exp_cutoff = std::exp(cutoff);
  // The tail: every ratio above the cutoff, ascending (ties at the cutoff stay in the body).
  std::vector<std::size_t> tail;
  for (std::size_t j = 0; j < S; ++j)
    if (lw[order[j]] > cutoff) tail.push_back(order[j]);
  double k = kInf;
  if (tail.size() > 4) {
    std::vector<double> excess(tail.size());
    for (std::size_t j = 0; j < tail.size(); ++j) excess[j] = std::exp(lw[tail[j]]) - exp_cutoff;
    const GpdFit fit = gpd_fit(excess);
    k = fit.k;
    if (std::isfinite(k)) {
      const double n = double(tail.size());
      for (std::size_t j = 0; j < tail.size(); ++j)
        lw[tail[j]] = std::log(gpd_quantile((double(j) + 0.5) / n, fit.k, fit.sigma) + exp_cutoff);
      for (double& v : lw)
        if (v > 0) v = 0;  // truncate at the largest raw ratio
    }
  }
  const double norm = log_sum_exp(lw);
  for (double& v : lw) v -= norm;
  return k;
}

double pareto_k_threshold(std::size_t draws) {
  return std::min(1.0 - 1.0 / std::log10(double(draws)), 0.7);
}

ParetoKCounts count_pareto_k(const std::vector<double>& k) {
  ParetoKCounts c;
  for (double v : k) {
    if (v <= 0.5) ++c.good;
    else if (v <= 0.7) ++c.ok;
    else if (v <= 1.0) ++c.bad;
    else ++c.very_bad;  // also +inf and NaN
  }
  return c;
}

LooResult psis_loo(const std::vector<std::vector<double>>& log_lik, double r_eff) {
  if (log_lik.empty()) throw std::invalid_argument("psis_loo: no trials");
  LooResult r;
  r.points = log_lik.size();
  r.draws = log_lik[0].size();
  if (r.draws < 2) throw std::invalid_argument("psis_loo: need at least 2 draws");
  r.r_eff = r_eff;
  r.good_k = pareto_k_threshold(r.draws);
  r.elpd_i.resize(r.points);
  r.lppd_i.resize(r.points);
  r.pareto_k.resize(r.points);
  std::vector<double> lw(r.draws);
  for (std::size_t i = 0; i < r.points; ++i) {
    const auto& ll = log_lik[i];
    if (ll.size() != r.draws) throw std::invalid_argument("psis_loo: trials have different numbers of draws");
    for (std::size_t s = 0; s < r.draws; ++s) lw[s] = -ll[s];
    r.pareto_k[i] = psis_smooth(lw, r_eff);
    for (std::size_t s = 0; s < r.draws; ++s) lw[s] += ll[s];
    r.elpd_i[i] = log_sum_exp(lw);
    r.lppd_i[i] = log_sum_exp(ll) - std::log(double(r.draws));
    if (r.pareto_k[i] > r.good_k || std::isnan(r.pareto_k[i])) r.warning = true;
  }
  for (std::size_t i = 0; i < r.points; ++i) {
    r.elpd_loo += r.elpd_i[i];
    r.lppd += r.lppd_i[i];
  }
  r.se = std::sqrt(double(r.points) * var_pop(r.elpd_i));
  r.p_loo = r.lppd - r.elpd_loo;
  return r;
}

std::vector<std::vector<double>> indexed_columns(const std::vector<ChainResult>& chains, const std::string& prefix) {
  if (chains.empty()) throw std::invalid_argument("no chains");
  // Column positions by 1-based index.
  std::vector<std::pair<long, std::size_t>> found;
  const auto& cols = chains[0].columns;
  for (std::size_t c = 0; c < cols.size(); ++c) {
    const std::string& name = cols[c];
    if (name.size() <= prefix.size() + 1 || name.compare(0, prefix.size(), prefix) != 0) continue;
    const char sep = name[prefix.size()];
    std::string digits = name.substr(prefix.size() + 1);
    if (sep == '[') {
      if (digits.empty() || digits.back() != ']') continue;
      digits.pop_back();
    } else if (sep != '.') {
      continue;
    }
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      continue;
    found.emplace_back(std::stol(digits), c);
  }
  if (found.empty()) throw std::invalid_argument("no " + prefix + ".i columns");
  std::sort(found.begin(), found.end());
  for (std::size_t j = 0; j < found.size(); ++j)
    if (found[j].first != long(j + 1))
      throw std::invalid_argument(prefix + " columns are not numbered 1.." + std::to_string(found.size()));
  for (const auto& ch : chains)
    if (ch.columns != cols) throw std::invalid_argument("chains have different columns");
  std::vector<std::vector<double>> out(found.size());
  for (const auto& ch : chains) {
    const std::size_t nc = ch.columns.size();
    for (std::size_t row = std::size_t(ch.warmup_draws_saved); row < ch.rows(); ++row)
      for (std::size_t j = 0; j < found.size(); ++j) out[j].push_back(ch.draws[row * nc + found[j].second]);
  }
  return out;
}

double relative_efficiency(const std::vector<ChainResult>& chains, const std::vector<std::string>& columns) {
  if (chains.size() <= 1 || columns.empty()) return 1.0;
  double sum = 0, total = 0;
  std::size_t n = 0;
  for (const auto& ch : chains) total += double(ch.rows() - std::size_t(ch.warmup_draws_saved));
  for (const auto& name : columns) {
    std::vector<std::vector<double>> per_chain;
    for (const auto& ch : chains) {
      const auto it = std::find(ch.columns.begin(), ch.columns.end(), name);
      if (it == ch.columns.end()) throw std::invalid_argument("no column '" + name + "'");
      const std::size_t c = std::size_t(it - ch.columns.begin()), nc = ch.columns.size();
      std::vector<double> v;
      for (std::size_t row = std::size_t(ch.warmup_draws_saved); row < ch.rows(); ++row) v.push_back(ch.draws[row * nc + c]);
      per_chain.push_back(std::move(v));
    }
    // ArviZ's ess(method="mean"): the split-chain ESS of the raw draws (a constant column
    // counts as all its draws).
    bool constant = true;
    for (const auto& v : per_chain)
      for (double x : v) constant = constant && x == per_chain[0][0];
    const double e = constant ? total : ess_basic(per_chain);
    if (std::isnan(e)) continue;
    sum += e;
    ++n;
  }
  if (n == 0 || total <= 0) return 1.0;
  return sum / double(n) / total;
}

ElpdDiff elpd_difference(const LooResult& a, const LooResult& b) {
  if (a.points != b.points) throw std::invalid_argument("models have different numbers of trials");
  std::vector<double> d(a.points);
  ElpdDiff r;
  for (std::size_t i = 0; i < a.points; ++i) {
    d[i] = a.elpd_i[i] - b.elpd_i[i];
    r.diff += d[i];
  }
  r.se = std::sqrt(double(a.points) * var_pop(d));
  return r;
}

std::vector<double> stacking_weights(const std::vector<std::vector<double>>& elpd) {
  const std::size_t K = elpd.size();
  if (K == 0) return {};
  const std::size_t N = elpd[0].size();
  // exp(elpd) with each trial's largest term factored out (it does not move the optimum).
  std::vector<double> e(N * K);
  for (std::size_t i = 0; i < N; ++i) {
    double m = -kInf;
    for (std::size_t k = 0; k < K; ++k) m = std::max(m, elpd[k][i]);
    for (std::size_t k = 0; k < K; ++k) e[i * K + k] = std::exp(elpd[k][i] - m);
  }
  // The objective is the log-likelihood of mixture proportions with fixed components, so the EM
  // update w_k <- w_k mean_i(e_ik / sum_j w_j e_ij) increases it monotonically to the optimum.
  std::vector<double> w(K, 1.0 / double(K)), next(K);
  for (int it = 0; it < 100000; ++it) {
    std::fill(next.begin(), next.end(), 0.0);
    for (std::size_t i = 0; i < N; ++i) {
      double den = 0;
      for (std::size_t k = 0; k < K; ++k) den += w[k] * e[i * K + k];
      for (std::size_t k = 0; k < K; ++k) next[k] += w[k] * e[i * K + k] / den;
    }
    double change = 0;
    for (std::size_t k = 0; k < K; ++k) {
      next[k] /= double(N);
      change = std::max(change, std::fabs(next[k] - w[k]));
    }
    w = next;
    if (change < 1e-12) break;
  }
  return w;
}

std::vector<CompareRow> compare_loo(const std::vector<std::string>& names, const std::vector<LooResult>& fits) {
  if (names.size() != fits.size()) throw std::invalid_argument("compare_loo: one name per fit");
  if (fits.empty()) return {};
  for (const auto& f : fits)
    if (f.points != fits[0].points)
      throw std::invalid_argument("models have different numbers of trials (" + std::to_string(fits[0].points) +
                                  " and " + std::to_string(f.points) + ")");
  std::vector<std::size_t> order(fits.size());
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return fits[a].elpd_loo > fits[b].elpd_loo; });
  std::vector<std::vector<double>> pointwise;
  for (const auto& f : fits) pointwise.push_back(f.elpd_i);
  const auto weights = stacking_weights(pointwise);
  std::vector<CompareRow> rows;
  const LooResult& best = fits[order[0]];
  for (std::size_t r = 0; r < order.size(); ++r) {
    const LooResult& f = fits[order[r]];
    const ElpdDiff d = elpd_difference(best, f);
    CompareRow row;
    row.name = names[order[r]];
    row.rank = int(r);
    row.elpd_loo = f.elpd_loo;
    row.p_loo = f.p_loo;
    row.elpd_diff = d.diff;
    row.dse = d.se;
    row.se = f.se;
    row.weight = weights[order[r]];
    row.warning = f.warning;
    rows.push_back(row);
  }
  return rows;
}

} // namespace bactor
