// SPDX-License-Identifier: MIT
// Diagnostics after Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), following the
// formulas of the posterior R package (ess_basic, rhat_basic, z-scaled ranks, folding).
#include <bactor/samplers/diagnostics.hpp>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include <unsupported/Eigen/FFT>

namespace bactor {

namespace {

using Chains = std::vector<std::vector<double>>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double mean_of(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return s / double(x.size());
}
/// Sample variance (n - 1 denominator).
double var_of(const std::vector<double>& x) {
  if (x.size() < 2) return kNaN;
  const double m = mean_of(x);
  double s = 0;
  for (double v : x) s += (v - m) * (v - m);
  return s / double(x.size() - 1);
}

/// Truncates all chains to the shortest length.
Chains equalise(const Chains& chains) {
  std::size_t n = std::numeric_limits<std::size_t>::max();
  for (const auto& c : chains) n = std::min(n, c.size());
  Chains out;
  for (const auto& c : chains) out.emplace_back(c.begin(), c.begin() + std::ptrdiff_t(n));
  return out;
}

/// Splits each chain into halves (the middle draw of an odd-length chain is dropped).
Chains split(const Chains& chains) {
  Chains out;
  for (const auto& c : chains) {
    const std::size_t n = c.size();
    if (n < 2) {
      out.push_back(c);
      continue;
    }
    const std::size_t h = n / 2;
    out.emplace_back(c.begin(), c.begin() + std::ptrdiff_t(h));
    out.emplace_back(c.begin() + std::ptrdiff_t(n - h), c.end());
  }
  return out;
}

bool degenerate(const Chains& chains) {
  bool any = false;
  double first = 0;
  for (const auto& c : chains)
    for (double v : c) {
      if (!std::isfinite(v)) return true;
      if (!any) first = v, any = true;
      else if (v != first) return false;
    }
  return true;  // empty or constant
}

/// Normal quantile (Acklam's rational approximation refined by one Halley step).
double qnorm(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p > 1 - 0.02425) {
    const double q = std::sqrt(-2 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

/// Rank-normalises the pooled draws: qnorm((rank - 3/8) / (S + 1/4)), average ranks for ties.
Chains z_scale(const Chains& chains) {
  std::vector<std::pair<double, std::size_t>> all;
  for (std::size_t c = 0; c < chains.size(); ++c)
    for (std::size_t i = 0; i < chains[c].size(); ++i) all.emplace_back(chains[c][i], 0);
  std::vector<std::size_t> idx(all.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::vector<double> flat(all.size());
  {
    std::size_t k = 0;
    for (const auto& c : chains)
      for (double v : c) flat[k++] = v;
  }
  std::sort(idx.begin(), idx.end(), [&](std::size_t x, std::size_t y) { return flat[x] < flat[y]; });
  std::vector<double> rank(flat.size());
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    while (j + 1 < idx.size() && flat[idx[j + 1]] == flat[idx[i]]) ++j;
    const double r = 0.5 * double(i + j) + 1.0;  // average of 1-based ranks i+1..j+1
    for (std::size_t k = i; k <= j; ++k) rank[idx[k]] = r;
    i = j + 1;
  }
  const double s = double(flat.size());
  Chains out = chains;
  std::size_t k = 0;
  for (auto& c : out)
    for (auto& v : c) v = qnorm((rank[k++] - 0.375) / (s + 0.25));
  return out;
}

Chains fold(const Chains& chains) {
  std::vector<double> all;
  for (const auto& c : chains) all.insert(all.end(), c.begin(), c.end());
  const double med = quantile(all, 0.5);
  Chains out = chains;
  for (auto& c : out)
    for (auto& v : c) v = std::fabs(v - med);
  return out;
}

/// ESS of chains of equal length (posterior's .ess with Geyer's initial monotone sequence).
double ess_raw(const Chains& chains) {
  const std::size_t m = chains.size();
  if (m == 0) return kNaN;
  const std::size_t n = chains[0].size();
  if (n < 3 || degenerate(chains)) return kNaN;
  std::vector<double> acov_mean(n, 0.0), chain_means(m);
  for (std::size_t c = 0; c < m; ++c) {
    const auto ac = autocorrelation(chains[c]);
    const double mu = mean_of(chains[c]);
    chain_means[c] = mu;
    double v = 0;
    for (double x : chains[c]) v += (x - mu) * (x - mu);
    v /= double(n);  // biased autocovariance at lag 0
    for (std::size_t t = 0; t < n; ++t) acov_mean[t] += ac[t] * v / double(m);
  }
  const double mean_var = acov_mean[0] * double(n) / double(n - 1);
  double var_plus = mean_var * double(n - 1) / double(n);
  if (m > 1) var_plus += var_of(chain_means);
  if (!(var_plus > 0)) return kNaN;

  std::vector<double> rho(n, 0.0);
  std::size_t t = 0;
  double rho_even = 1.0;
  rho[0] = rho_even;
  double rho_odd = 1.0 - (mean_var - acov_mean[1]) / var_plus;
  rho[1] = rho_odd;
  while (t + 5 < n && !std::isnan(rho_even + rho_odd) && rho_even + rho_odd > 0) {
    t += 2;
    rho_even = 1.0 - (mean_var - acov_mean[t]) / var_plus;
    rho_odd = 1.0 - (mean_var - acov_mean[t + 1]) / var_plus;
    if (rho_even + rho_odd >= 0) {
      rho[t] = rho_even;
      rho[t + 1] = rho_odd;
    }
  }
  const std::size_t max_t = t;
  if (rho_even > 0) rho[max_t] = rho_even;
  // Geyer's initial monotone sequence.
  t = 0;
  while (t + 4 <= max_t) {
    t += 2;
    if (rho[t] + rho[t + 1] > rho[t - 2] + rho[t - 1]) {
      rho[t] = 0.5 * (rho[t - 2] + rho[t - 1]);
      rho[t + 1] = rho[t];
    }
  }
  const double s = double(m) * double(n);
  double tau = -1.0 + rho[max_t];
  for (std::size_t k = 0; k < max_t; ++k) tau += 2.0 * rho[k];
  tau = std::max(tau, 1.0 / std::log10(s));
  return s / tau;
}

double rhat_raw(const Chains& chains) {
  const std::size_t m = chains.size();
  if (m < 2 || degenerate(chains)) return kNaN;
  const std::size_t n = chains[0].size();
  std::vector<double> means(m), vars(m);
  for (std::size_t c = 0; c < m; ++c) {
    means[c] = mean_of(chains[c]);
    vars[c] = var_of(chains[c]);
  }
  const double between = double(n) * var_of(means);
  const double within = mean_of(vars);
  return std::sqrt((between / within + double(n) - 1.0) / double(n));
}

Chains indicator(const Chains& chains, double p) {
  std::vector<double> all;
  for (const auto& c : chains) all.insert(all.end(), c.begin(), c.end());
  const double q = quantile(all, p);
  Chains out = chains;
  for (auto& c : out)
    for (auto& v : c) v = v <= q ? 1.0 : 0.0;
  return out;
}

double ess_quantile(const Chains& chains, double p) {
  return ess_raw(split(indicator(equalise(chains), p)));
}

} // namespace

std::vector<double> autocorrelation(const std::vector<double>& x) {
  const std::size_t n = x.size();
  if (n == 0) return {};
  std::size_t m = 1;
  while (m < 2 * n) m <<= 1;
  const double mu = mean_of(x);
  std::vector<double> y(m, 0.0);
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] - mu;
  Eigen::FFT<double> fft;
  std::vector<std::complex<double>> f;
  fft.fwd(f, y);
  for (auto& v : f) v = std::complex<double>(std::norm(v), 0.0);
  std::vector<std::complex<double>> back;
  fft.inv(back, f);
  std::vector<double> ac(n);
  const double a0 = back[0].real();
  for (std::size_t t = 0; t < n; ++t) ac[t] = a0 > 0 ? back[t].real() / a0 : (t == 0 ? 1.0 : 0.0);
  return ac;
}

double quantile(std::vector<double> x, double p) {
  if (x.empty()) return kNaN;
  std::sort(x.begin(), x.end());
  const double h = (double(x.size()) - 1.0) * p;
  const std::size_t lo = std::size_t(std::floor(h));
  const std::size_t hi = std::min(lo + 1, x.size() - 1);
  return x[lo] + (h - double(lo)) * (x[hi] - x[lo]);
}

double rhat_basic(const Chains& chains) { return rhat_raw(split(equalise(chains))); }

double rhat(const Chains& chains) {
  const Chains s = split(equalise(chains));
  if (degenerate(s)) return kNaN;
  const double bulk = rhat_raw(z_scale(s));
  const double tail = rhat_raw(z_scale(fold(s)));
  return std::max(bulk, tail);
}

double ess_bulk(const Chains& chains) {
  const Chains s = split(equalise(chains));
  if (degenerate(s)) return kNaN;
  return ess_raw(z_scale(s));
}

double ess_tail(const Chains& chains) {
  return std::min(ess_quantile(chains, 0.05), ess_quantile(chains, 0.95));
}

double ess_basic(const Chains& chains) { return ess_raw(split(equalise(chains))); }

double mcse_mean(const Chains& chains) {
  std::vector<double> all;
  for (const auto& c : equalise(chains)) all.insert(all.end(), c.begin(), c.end());
  return std::sqrt(var_of(all) / ess_basic(chains));
}

double mcse_sd(const Chains& chains) {
  // Delta method on the mean of squared deviations (posterior's mcse_sd).
  const Chains e = equalise(chains);
  std::vector<double> all;
  for (const auto& c : e) all.insert(all.end(), c.begin(), c.end());
  const double mu = mean_of(all);
  Chains sq = e;
  std::vector<double> sq_all;
  for (auto& c : sq)
    for (auto& v : c) {
      v = (v - mu) * (v - mu);
      sq_all.push_back(v);
    }
  const double ev = mean_of(sq_all);
  const double ess = ess_raw(split(sq));
  return std::sqrt(var_of(sq_all) / 4.0 / ev / ess);
}

double mcse_quantile(const Chains& chains, double p) {
  const double ess = ess_quantile(chains, p);
  if (!std::isfinite(ess)) return kNaN;
  // posterior uses the Beta(ess p + 1, ess (1 - p) + 1) quantiles at ±1 sd; for the ESS values
  // where an MCSE is meaningful its normal approximation is used here.
  const double a = ess * p + 1, b = ess * (1 - p) + 1;
  const double m = a / (a + b), sd = std::sqrt(a * b / ((a + b) * (a + b) * (a + b + 1)));
  const double a1 = std::clamp(m - sd, 0.0, 1.0), a2 = std::clamp(m + sd, 0.0, 1.0);
  std::vector<double> all;
  for (const auto& c : equalise(chains)) all.insert(all.end(), c.begin(), c.end());
  std::sort(all.begin(), all.end());
  const std::size_t s = all.size();
  const std::size_t i1 = std::max<std::size_t>(std::size_t(std::floor(a1 * double(s))), 1) - 1;
  const std::size_t i2 = std::min<std::size_t>(std::size_t(std::ceil(a2 * double(s))), s) - 1;
  return 0.5 * (all[i2] - all[i1]);
}

double ebfmi(const std::vector<double>& energy) {
  if (energy.size() < 3) return kNaN;
  double num = 0;
  for (std::size_t i = 1; i < energy.size(); ++i) num += (energy[i] - energy[i - 1]) * (energy[i] - energy[i - 1]);
  num /= double(energy.size() - 1);
  const double mu = mean_of(energy);
  double den = 0;
  for (double e : energy) den += (e - mu) * (e - mu);
  den /= double(energy.size());
  return num / den;
}

// ---------------------------------------------------------------------------------------------

namespace {

ParamSummary summarize_one(const std::string& name, const Chains& chains) {
  ParamSummary p;
  p.name = name;
  const Chains e = equalise(chains);
  std::vector<double> all;
  for (const auto& c : e) all.insert(all.end(), c.begin(), c.end());
  for (double v : all) p.nonfinite += !std::isfinite(v);
  if (p.nonfinite > 0 || all.empty()) {  // no statistic is meaningful: all NaN, none half-computed
    p.mean = p.sd = p.q5 = p.q50 = p.q95 = p.mcse_mean = p.mcse_sd = p.ess_bulk = p.ess_tail = p.rhat = NAN;
    return p;
  }
  p.mean = mean_of(all);
  p.sd = std::sqrt(var_of(all));
  p.q5 = quantile(all, 0.05);
  p.q50 = quantile(all, 0.5);
  p.q95 = quantile(all, 0.95);
  p.mcse_mean = mcse_mean(e);
  p.mcse_sd = mcse_sd(e);
  p.ess_bulk = ess_bulk(e);
  p.ess_tail = ess_tail(e);
  p.rhat = rhat(e);
  return p;
}

std::size_t column_index(const ChainResult& c, const std::string& name) {
  for (std::size_t j = 0; j < c.columns.size(); ++j)
    if (c.columns[j] == name) return j;
  return c.columns.size();
}

Chains column(const std::vector<ChainResult>& chains, std::size_t j) {
  Chains out;
  for (const auto& c : chains) {
    std::vector<double> v;
    const std::size_t nc = c.columns.size();
    for (std::size_t r = std::size_t(c.warmup_draws_saved); r < c.rows(); ++r) v.push_back(c.draws[r * nc + j]);
    out.push_back(std::move(v));
  }
  return out;
}

} // namespace

Summary summarize(const std::vector<ChainResult>& chains, const std::vector<std::string>& only) {
  Summary s;
  if (chains.empty()) return s;
  const auto& first = chains.front();
  for (const auto& c : chains)
    if (c.columns != first.columns)
      throw std::invalid_argument("summarize: chain " + std::to_string(c.chain_id) +
                                  " has different columns than chain " + std::to_string(first.chain_id));
  for (const auto& name : only)
    if (column_index(first, name) == first.columns.size())
      throw std::invalid_argument("summarize: unknown column '" + name + "'");
  const std::size_t ncol = first.columns.size();
  for (std::size_t j = 0; j < ncol; ++j) {
    const std::string& name = first.columns[j];
    const bool sampler = name.size() >= 2 && name.compare(name.size() - 2, 2, "__") == 0;
    if (sampler) continue;
    if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end()) continue;
    s.params.push_back(summarize_one(name, column(chains, j)));
  }
  const std::size_t jlp = column_index(first, "lp__");
  if (jlp < ncol) s.lp = summarize_one("lp__", column(chains, jlp));
  const std::size_t jdiv = column_index(first, "divergent__");
  const std::size_t jdepth = column_index(first, "treedepth__");
  const std::size_t jenergy = column_index(first, "energy__");
  int maxd = 0;
  s.chains = chains.size();
  for (const auto& c : chains) {
    s.draws += c.rows() - std::size_t(c.warmup_draws_saved);
    s.seconds_warmup += c.warmup_seconds;
    s.seconds_sampling += c.sampling_seconds;
    maxd = std::max(maxd, c.max_depth);
  }
  s.max_depth = maxd;
  for (const auto& c : chains) {
    std::vector<double> energy;
    for (std::size_t r = std::size_t(c.warmup_draws_saved); r < c.rows(); ++r) {
      if (jdiv < ncol && c.draws[r * ncol + jdiv] != 0) ++s.divergences;
      if (jdepth < ncol && int(c.draws[r * ncol + jdepth]) >= s.max_depth) ++s.max_depth_hits;
      if (jenergy < ncol) energy.push_back(c.draws[r * ncol + jenergy]);
    }
    if (jenergy < ncol) s.ebfmi.push_back(ebfmi(energy));
  }
  return s;
}

std::string format_summary(const Summary& s) {
  std::ostringstream os;
  if (s.draws == 0) {
    os << "no draws after warm-up in " << s.chains << " chain" << (s.chains == 1 ? "" : "s") << ": nothing to summarise\n";
    return os.str();
  }
  std::size_t w = 8;
  for (const auto& p : s.params) w = std::max(w, p.name.size() + 1);
  char line[512];
  std::snprintf(line, sizeof line, "%-*s %10s %10s %10s %10s %10s %9s %9s %9s %7s\n", int(w), "name",
                "mean", "sd", "5%", "50%", "95%", "mcse", "ess_bulk", "ess_tail", "r_hat");
  os << line;
  auto row = [&](const ParamSummary& p) {
    if (p.nonfinite > 0)
      std::snprintf(line, sizeof line, "%-*s %10s %10s %10s %10s %10s %9s %9s %9s %7s\n", int(w), p.name.c_str(), "n/a",
                    "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a");
    else
      std::snprintf(line, sizeof line, "%-*s %10.4g %10.4g %10.4g %10.4g %10.4g %9.2g %9.0f %9.0f %7.3f\n",
                    int(w), p.name.c_str(), p.mean, p.sd, p.q5, p.q50, p.q95, p.mcse_mean, p.ess_bulk,
                    p.ess_tail, p.rhat);
    os << line;
  };
  row(s.lp);
  for (const auto& p : s.params) row(p);
  const std::size_t nchains = s.chains;
  os << "\n" << s.draws << " draws in " << nchains << " chain" << (nchains == 1 ? "" : "s");
  if (s.seconds_warmup + s.seconds_sampling > 0) {
    std::snprintf(line, sizeof line, "; %.3g s warm-up, %.3g s sampling (summed over chains)",
                  s.seconds_warmup, s.seconds_sampling);
    os << line;
  }
  os << "\n";
  os << "divergences: " << s.divergences << "; tree depth " << s.max_depth
     << " reached: " << s.max_depth_hits << "; E-BFMI:";
  for (double e : s.ebfmi) {
    if (std::isfinite(e)) std::snprintf(line, sizeof line, " %.3g", e);
    else std::snprintf(line, sizeof line, " n/a");  // too few draws, or constant energy
    os << line;
  }
  os << "\n";
  // Warnings.
  if (s.divergences > 0) {
    std::snprintf(line, sizeof line,
                  "WARNING: %zu of %zu draws (%.2g%%) ended with a divergence; the posterior may be "
                  "biased (raise delta or reparameterise)\n",
                  s.divergences, s.draws, s.draws ? 100.0 * double(s.divergences) / double(s.draws) : 0.0);
    os << line;
  }
  if (s.max_depth_hits > 0)
    os << "WARNING: " << s.max_depth_hits << " of " << s.draws << " draws saturated the maximum tree depth "
       << s.max_depth << "\n";
  for (std::size_t c = 0; c < s.ebfmi.size(); ++c)
    if (s.ebfmi[c] < 0.3) {
      std::snprintf(line, sizeof line, "WARNING: chain %zu has E-BFMI %.3g < 0.3 (poor exploration of the energy)\n",
                    c + 1, s.ebfmi[c]);
      os << line;
    }
  std::vector<const ParamSummary*> all{&s.lp};
  for (const auto& p : s.params) all.push_back(&p);
  // The ESS rule (Vehtari et al. 2021): bulk- and tail-ESS at least 100 per chain, i.e.
  // 100 x chains in all. The warning names the estimate(s) below it and the threshold.
  const std::size_t rule_chains = std::max<std::size_t>(nchains, 1);
  const double min_ess = 100.0 * double(rule_chains);
  char rule[96];
  std::snprintf(rule, sizeof rule, "%.0f = 100 per chain x %zu chain%s", min_ess, rule_chains,
                rule_chains == 1 ? "" : "s");
  for (const auto* p : all) {
    if (p->nonfinite > 0) {
      std::snprintf(line, sizeof line,
                    "WARNING: %s has %zu non-finite draws (nan or inf) of %zu: its statistics are not computed (n/a); "
                    "a damaged draws file, or a model that returned nan/inf\n",
                    p->name.c_str(), p->nonfinite, s.draws);
      os << line;
      continue;
    }
    if (!(p->rhat < 1.01) && !std::isnan(p->rhat)) {
      std::snprintf(line, sizeof line, "WARNING: %s has R-hat %.3f >= 1.01\n", p->name.c_str(), p->rhat);
      os << line;
    }
    const bool low_bulk = p->ess_bulk < min_ess, low_tail = p->ess_tail < min_ess;
    if (low_bulk && low_tail)
      std::snprintf(line, sizeof line, "WARNING: %s has bulk-ESS %.0f and tail-ESS %.0f < %s\n", p->name.c_str(),
                    p->ess_bulk, p->ess_tail, rule);
    else if (low_bulk)
      std::snprintf(line, sizeof line, "WARNING: %s has bulk-ESS %.0f < %s (tail-ESS %.0f)\n", p->name.c_str(),
                    p->ess_bulk, rule, p->ess_tail);
    else if (low_tail)
      std::snprintf(line, sizeof line, "WARNING: %s has tail-ESS %.0f < %s (bulk-ESS %.0f)\n", p->name.c_str(),
                    p->ess_tail, rule, p->ess_bulk);
    if (low_bulk || low_tail) os << line;
  }
  return os.str();
}

void write_summary_csv(const std::string& path, const Summary& s) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw std::invalid_argument("cannot write summary file '" + path + "'");
    out << "name,mean,sd,q5,q50,q95,mcse_mean,mcse_sd,ess_bulk,ess_tail,rhat\n";
    char line[512];
    auto row = [&](const ParamSummary& p) {
      if (p.nonfinite > 0) {  // not computed: NA, which R and pandas read as missing
        out << p.name << ",NA,NA,NA,NA,NA,NA,NA,NA,NA,NA\n";
        return;
      }
      std::snprintf(line, sizeof line, "%s,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g\n",
                    p.name.c_str(), p.mean, p.sd, p.q5, p.q50, p.q95, p.mcse_mean, p.mcse_sd, p.ess_bulk,
                    p.ess_tail, p.rhat);
      out << line;
    };
    row(s.lp);
    for (const auto& p : s.params) row(p);
    if (!out) throw std::invalid_argument("error writing summary file '" + path + "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::invalid_argument("cannot rename '" + tmp + "' to '" + path + "'");
}

} // namespace bactor
