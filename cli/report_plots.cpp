// SPDX-License-Identifier: MIT
// The plots of `bactor report` (see report_plots.hpp).
#include "cli/cost_options.hpp"
#include "cli/report_plots.hpp"

#include "cli/options.hpp"
#include "cli/svg.hpp"

#include <bactor/models/costs.hpp>
#include <bactor/samplers/diagnostics.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace bactor::cli::report {

std::string number_text(const char* fmt, double v, bool na_if_not_finite) {
  if (na_if_not_finite && !std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

namespace {

using svg::colour;
using svg::Plot;
using svg::Style;

constexpr double kPi = 3.14159265358979323846;

/// Units of the actor's parameters, for axis labels.
std::string axis_name(const std::string& p) {
  if (p == "mu_0") return "mu_0 (prior mean of s, stimulus units)";
  if (p.rfind("sigma", 0) == 0) return p + " (log units)";
  return p;
}

double prior_density(const Prior& p, double x) {
  using K = Prior::Kind;
  switch (p.kind) {
    case K::half_normal: return x < 0 ? 0 : 2.0 / (p.a * std::sqrt(2 * kPi)) * std::exp(-0.5 * x * x / (p.a * p.a));
    case K::uniform: return x >= p.a && x <= p.b ? 1.0 / (p.b - p.a) : 0.0;
    case K::lognormal: {
      if (x <= 0) return 0;
      const double z = (std::log(x) - p.a) / p.b;
      return std::exp(-0.5 * z * z) / (x * p.b * std::sqrt(2 * kPi));
    }
    case K::beta:
      if (x <= 0 || x >= 1) return 0;
      return std::exp((p.a - 1) * std::log(x) + (p.b - 1) * std::log1p(-x) + std::lgamma(p.a + p.b) - std::lgamma(p.a) -
                      std::lgamma(p.b));
    case K::normal: {
      const double z = (x - p.a) / p.b;
      return std::exp(-0.5 * z * z) / (p.b * std::sqrt(2 * kPi));
    }
    case K::vonmises:  // an angle: exp(b cos(x - a)) / (2 pi I0(b)) on (-pi, pi]
      if (!(x > -kPi && x <= kPi)) return 0.0;
      return std::exp(p.b * (std::cos(x - p.a) - 1)) /
             (2 * kPi * (p.b < 700 ? std::cyl_bessel_i(0.0, p.b) * std::exp(-p.b) : 1 / std::sqrt(2 * kPi * p.b)));
  }
  return 0;
}

} // namespace

/// Draws thinned to at most `n` evenly spaced ones.
std::vector<std::size_t> thin_index(std::size_t total, std::size_t n) {
  std::vector<std::size_t> idx;
  if (total <= n) {
    idx.resize(total);
    std::iota(idx.begin(), idx.end(), std::size_t(0));
  } else {
    for (std::size_t j = 0; j < n; ++j) idx.push_back(std::size_t(double(j) * double(total) / double(n)));
  }
  return idx;
}


/// The prior of `name` as the fit recorded it, else the cost's default.
bool find_prior(const Fit& fit, const std::string& name, Prior& out) {
  try {
    const auto rec = parse_string_assignments(setting(fit, "priors"), "priors");
    auto it = rec.find(name);
    // A per-condition parameter NAME.c: its own entry, else NAME's.
    const auto dot = name.find('.');
    const std::string base = dot == std::string::npos ? name : name.substr(0, dot);
    if (it == rec.end()) it = rec.find(base);
    if (it != rec.end()) {
      out = parse_prior(it->second);
      return true;
    }
    const std::string cost = setting(fit, "cost");
    // mu_0's default is relative to the fit's unit S; without a recorded prior it is unknown.
    if (cost.empty() || has_data_units(base)) return false;
    for (const auto& [n, p] : default_priors(recorded_cost(cost, [&](const std::string& k) { return setting(fit, k); }), 1))
      if (n == base) {
        out = p;
        return true;
      }
  } catch (const std::exception&) {
  }
  return false;
}

std::string trace_plot(const Fit& fit, const std::string& param, const std::string& id, std::size_t max_points) {
  const auto by_chain = column_by_chain(fit, param);
  Plot p(540, 230);
  p.legend(Plot::Legend::outside);
  p.title("trace: " + param).xlabel("iteration (after warm-up)").ylabel(param);
  for (std::size_t c = 0; c < by_chain.size(); ++c) {
    const auto idx = thin_index(by_chain[c].size(), max_points);
    std::vector<double> x, y;
    for (auto i : idx) x.push_back(double(i + 1)), y.push_back(by_chain[c][i]);
    Style s;
    s.colour = colour(c);
    s.width = 0.8;
    s.opacity = 0.8;
    p.line(x, y, s, "chain " + std::to_string(fit.chains[c].chain_id));
  }
  return p.render(id, "trace", false);
}

std::string rank_plot(const Fit& fit, const std::string& param, const std::string& id) {
  const auto by_chain = column_by_chain(fit, param);
  std::vector<std::pair<double, std::size_t>> all;  // value, chain
  for (std::size_t c = 0; c < by_chain.size(); ++c)
    for (double v : by_chain[c]) all.emplace_back(v, c);
  std::vector<std::size_t> order(all.size());
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return all[a].first < all[b].first; });
  const int B = 20;
  const double n = double(all.size());
  std::vector<std::vector<double>> counts(by_chain.size(), std::vector<double>(B, 0.0));
  for (std::size_t r = 0; r < order.size(); ++r) counts[all[order[r]].second][std::min(B - 1, int(double(r) / n * B))] += 1;
  std::vector<double> edges;
  for (int b = 0; b <= B; ++b) edges.push_back(double(b) * n / B);
  Plot p(540, 230);
  p.legend(Plot::Legend::outside);
  p.title("rank plot: " + param).xlabel("rank of the draw among all chains").ylabel("draws per bin").yzero();
  for (std::size_t c = 0; c < counts.size(); ++c) {
    Style s;
    s.colour = colour(c);
    s.width = 1.4;
    p.steps(edges, counts[c], s, "chain " + std::to_string(fit.chains[c].chain_id));
  }
  Style u;
  u.colour = "#555";
  u.dash = "4 3";
  u.width = 1;
  p.hline(double(by_chain.at(0).size()) / B, u, "uniform (chains agree)");
  return p.render(id, "rank", false);
}

std::string density_plot(const Fit& fit, const std::string& param, const std::string& id, bool with_prior) {
  const auto x = column(fit, param);
  double m = 0;
  for (double v : x) m += v;
  m /= double(x.size());
  double var = 0;
  for (double v : x) var += (v - m) * (v - m);
  const double sd = std::sqrt(var / double(std::max<std::size_t>(x.size() - 1, 1)));
  std::vector<double> sorted = x;
  std::sort(sorted.begin(), sorted.end());
  const double iqr = quantile(sorted, 0.75) - quantile(sorted, 0.25);
  double bw = 0.9 * std::min(sd, iqr > 0 ? iqr / 1.34 : sd) * std::pow(double(x.size()), -0.2);  // Silverman
  if (!(bw > 0)) bw = std::max(std::fabs(m) * 1e-3, 1e-6);
  Prior prior;
  const bool has_prior = with_prior && find_prior(fit, param, prior);
  double lo = sorted.front() - 3 * bw, hi = sorted.back() + 3 * bw;
  const bool positive = has_prior ? prior.kind != Prior::Kind::uniform && prior.kind != Prior::Kind::vonmises : sorted.front() > 0;
  if (positive) lo = std::max(lo, 0.0);
  if (has_prior && prior.kind == Prior::Kind::uniform) lo = std::max(lo, prior.a), hi = std::min(hi, prior.b);
  if (has_prior && prior.kind == Prior::Kind::beta) hi = std::min(hi, 1.0);
  const int G = 160;
  std::vector<double> gx(G), gy(G, 0.0), py(G);
  const auto idx = thin_index(x.size(), 4000);
  for (int g = 0; g < G; ++g) {
    gx[g] = lo + (hi - lo) * g / (G - 1);
    double s = 0;
    for (auto i : idx) {
      const double z = (gx[g] - x[i]) / bw;
      s += std::exp(-0.5 * z * z);
      if (positive) {  // reflection at 0 keeps the density from leaking below the support
        const double zr = (gx[g] + x[i]) / bw;
        s += std::exp(-0.5 * zr * zr);
      }
    }
    gy[g] = s / (double(idx.size()) * bw * std::sqrt(2 * kPi));
    if (has_prior) py[g] = prior_density(prior, gx[g]);
  }
  Plot p(440, 230);
  p.title("posterior of " + param).xlabel(axis_name(param)).ylabel("density").yzero();
  Style post;
  post.colour = colour(0);
  post.width = 2;
  p.line(gx, gy, post, "posterior (all chains)");
  if (has_prior) {
    Style pr;
    pr.colour = colour(1);
    pr.dash = "5 3";
    pr.width = 1.6;
    p.line(gx, py, pr, "prior " + to_string(prior));
  }
  return p.render(id, "density", false);
}

std::string pairs_plot(const Fit& fit, const std::vector<std::string>& params, const std::string& id, std::size_t max_points,
                       std::size_t& n_div_shown) {
  const std::size_t P = params.size();
  std::vector<std::vector<double>> cols;
  for (const auto& p : params) cols.push_back(column(fit, p));
  std::vector<double> div;  // a hierarchical fit's subject has no sampler columns of its own
  try {
    div = column(fit, "divergent__");
  } catch (const std::exception&) {
  }
  const auto idx = thin_index(cols[0].size(), max_points);
  std::vector<std::size_t> div_idx;
  for (std::size_t i = 0; i < div.size(); ++i)
    if (div[i] != 0) div_idx.push_back(i);
  n_div_shown = div_idx.size();
  const double cell = P <= 3 ? 200 : P <= 6 ? 175 : 140;
  svg::Grid grid(static_cast<int>(P), static_cast<int>(P), cell, cell);
  for (std::size_t r = 0; r < P; ++r)
    for (std::size_t c = 0; c <= r; ++c) {
      Plot& p = grid.at(int(r), int(c));
      p.margins(48, 8, 8, 36);
      if (r == P - 1) p.xlabel(params[c]);
      if (c == 0) p.ylabel(params[r]);
      if (r == c) {
        const auto& v = cols[c];
        const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
        const int B = 24;
        std::vector<double> edges(B + 1), counts(B, 0.0);
        const double w = (*mx - *mn) > 0 ? (*mx - *mn) / B : 1.0;
        for (int b = 0; b <= B; ++b) edges[b] = *mn + w * b;
        for (double x : v) counts[std::min(B - 1, int((x - *mn) / w))] += 1;
        Style s;
        s.colour = colour(0);
        s.opacity = 0.6;
        p.bars(edges, counts, s).yzero().ticks(true, false);
        continue;
      }
      // Tick labels on the outer panels only: a column shares its x range, a row its y range.
      p.ticks(r == P - 1, c == 0);
      std::vector<double> x, y, dx, dy;
      for (auto i : idx) x.push_back(cols[c][i]), y.push_back(cols[r][i]);
      for (auto i : div_idx) dx.push_back(cols[c][i]), dy.push_back(cols[r][i]);
      Style s;
      s.colour = colour(0);
      s.radius = 1.3;
      s.opacity = 0.35;
      p.points(x, y, s);
      if (!dx.empty()) {
        Style d;
        d.colour = "#d62728";
        d.radius = 2;
        p.points(dx, dy, d, r == 1 && c == 0 ? "divergent" : "");
      }
    }
  // Correlations in the upper triangle.
  for (std::size_t r = 0; r < P; ++r)
    for (std::size_t c = r + 1; c < P; ++c) {
      const auto& a = cols[c];
      const auto& b = cols[r];
      double ma = 0, mb = 0;
      for (std::size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[i];
      ma /= double(a.size()), mb /= double(b.size());
      double sab = 0, saa = 0, sbb = 0;
      for (std::size_t i = 0; i < a.size(); ++i)
        sab += (a[i] - ma) * (b[i] - mb), saa += (a[i] - ma) * (a[i] - ma), sbb += (b[i] - mb) * (b[i] - mb);
      Plot& p = grid.at(int(r), int(c));
      p.margins(48, 8, 8, 36).ticks(false, false).frame(false).xrange(0, 1).yrange(0, 1);
      p.text(0.5, 0.55, "correlation", "middle").text(0.5, 0.4, f2(sab / std::sqrt(saa * sbb)), "middle");
    }
  return grid.render(id, "pairs", "pairs plot (" + std::to_string(idx.size()) + " draws" +
                                      (div_idx.empty() ? "" : ", divergent ones in red") + ")", false);
}

std::string elpd_plot(const CompareBlock& b, const std::string& id) {
  const std::size_t M = b.rows.size();
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& r : b.rows) {
    lo = std::min({lo, r.elpd_loo - r.se, r.elpd_loo - r.dse}), hi = std::max({hi, r.elpd_loo + r.se, r.elpd_loo + r.dse});
  }
  const double pad = 0.08 * std::max(hi - lo, 1.0);
  Plot p(640, 80 + 42 * double(M));
  p.title("PSIS-LOO model comparison" + (b.subject.empty() ? std::string() : ", subject " + b.subject))
      .xlabel("elpd_loo (log score; higher predicts better)")
      .ticks(true, false)
      .margins(130, 16, 30, 42)
      .xrange(lo - pad, hi + pad)
      .yrange(-0.5, double(M) - 0.5)
      .legend(Plot::Legend::outside);
  std::vector<double> y, x, slo, shi, dy, dx, dlo, dhi;
  for (std::size_t k = 0; k < M; ++k) {
    const auto& r = b.rows[k];
    const double yy = double(M - 1 - k);
    y.push_back(yy), x.push_back(r.elpd_loo), slo.push_back(r.elpd_loo - r.se), shi.push_back(r.elpd_loo + r.se);
    if (k > 0) dy.push_back(yy - 0.25), dx.push_back(r.elpd_loo), dlo.push_back(r.elpd_loo - r.dse), dhi.push_back(r.elpd_loo + r.dse);
    p.text(lo - pad - 0.02 * (hi - lo + 2 * pad), yy, r.name, "end");
  }
  Style best;
  best.colour = "#888";
  best.dash = "4 3";
  best.width = 1;
  p.vline(b.rows[0].elpd_loo, best, "best model");
  Style se;
  se.colour = "#222";
  se.width = 1.5;
  p.errorbars(y, slo, shi, se, true);
  Style pt;
  pt.colour = "#222";
  pt.radius = 4;
  p.points(x, y, pt, "elpd_loo +- se");
  if (!dx.empty()) {
    Style ds;
    ds.colour = colour(3);
    ds.width = 1.5;
    p.errorbars(dy, dlo, dhi, ds, true);
    Style dp;
    dp.colour = colour(3);
    dp.radius = 3.5;
    dp.hollow = true;
    dp.width = 1.5;
    p.points(dx, dy, dp, "difference to best +- dse");
  }
  return p.render(id, "elpd", false);
}

std::string khat_plot(const LooResult& l, const std::string& name, const std::string& id) {
  Plot p(600, 230);
  p.legend(Plot::Legend::outside);
  p.title("Pareto k per trial: " + name).xlabel("trial (log_lik.i)").ylabel("Pareto k");
  std::vector<double> x, y;
  for (std::size_t i = 0; i < l.points; ++i) x.push_back(double(i + 1)), y.push_back(std::isfinite(l.pareto_k[i]) ? l.pareto_k[i] : 2.0);
  Style s;
  s.colour = colour(0);
  s.radius = 2.2;
  s.opacity = 0.8;
  p.points(x, y, s, "trial");
  Style t;
  t.colour = colour(3);
  t.dash = "4 3";
  t.width = 1;
  p.hline(l.good_k, t, "threshold " + f2(l.good_k) + " for " + std::to_string(l.draws) + " draws");
  Style o;
  o.colour = "#999";
  o.dash = "2 3";
  o.width = 1;
  p.hline(1.0, o, "k = 1");
  p.yrange(std::min(-0.1, *std::min_element(y.begin(), y.end()) - 0.05), std::max(1.1, *std::max_element(y.begin(), y.end()) + 0.05));
  return p.render(id, "khat", false);
}

} // namespace bactor::cli::report
