// SPDX-License-Identifier: MIT
// bactor report: one self-contained HTML file (inline SVG, no scripts, no network) with a fit's
// settings, diagnostics in plain words, trace, rank, density (prior overlaid) and pairs plots,
// the posterior-predictive check per condition and, with --compare, the PSIS-LOO comparison.
#include "cli/command.hpp"
#include "cli/fit_dir.hpp"
#include "cli/options.hpp"
#include "cli/predictive.hpp"
#include "cli/report_cohort.hpp"
#include "cli/svg.hpp"

#include <bactor/engine/version.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/hierarchical.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/loo.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using bactor::cli::Fit;
using bactor::cli::svg::Plot;
using bactor::cli::svg::Style;
using bactor::cli::svg::colour;
using bactor::cli::svg::escape;

constexpr double kPi = 3.14159265358979323846;

std::string g4(double v) {
  if (std::isnan(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}
std::string f2(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

/// Units of the actor's parameters, for axis labels.
std::string axis_name(const std::string& p) {
  if (p == "mu_0") return "mu_0 (prior mean of s, stimulus units)";
  if (p.rfind("sigma", 0) == 0) return p + " (log units)";
  return p;
}

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

double prior_density(const bactor::Prior& p, double x) {
  using K = bactor::Prior::Kind;
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
  }
  return 0;
}

/// The prior of `name` as the fit recorded it, else the cost's default.
bool find_prior(const Fit& fit, const std::string& name, bactor::Prior& out) {
  try {
    const auto rec = bactor::cli::parse_string_assignments(bactor::cli::setting(fit, "priors"), "priors");
    auto it = rec.find(name);
    // A per-condition parameter NAME.c: its own entry, else NAME's.
    const auto dot = name.find('.');
    const std::string base = dot == std::string::npos ? name : name.substr(0, dot);
    if (it == rec.end()) it = rec.find(base);
    if (it != rec.end()) {
      out = bactor::parse_prior(it->second);
      return true;
    }
    const std::string cost = bactor::cli::setting(fit, "cost");
    // mu_0's default is relative to the fit's unit S; without a recorded prior it is unknown.
    if (cost.empty() || bactor::has_data_units(base)) return false;
    for (const auto& [n, p] : bactor::default_priors(bactor::find_cost(cost), 1))
      if (n == base) {
        out = p;
        return true;
      }
  } catch (const std::exception&) {
  }
  return false;
}

struct Html {
  std::string body;
  std::vector<std::pair<std::string, std::string>> toc;  // id, title
  bool toc_on = true;  // false: sections of a subject's page stay out of the page's navigation
  void section(const std::string& id, const std::string& title) {
    if (toc_on) toc.emplace_back(id, title);
    body += "<h2 id=\"" + escape(id) + "\">" + escape(title) + "</h2>\n";
  }
  void p(const std::string& text) { body += "<p>" + escape(text) + "</p>\n"; }
  void figure(const std::string& svg) { body += "<div class=\"fig\">" + svg + "</div>\n"; }
};

// ---- Settings and diagnostics -------------------------------------------------------------

void settings_table(Html& h, const Fit& fit) {
  static const std::vector<std::pair<std::string, std::string>> keys = {
      {"data_file", "data file"}, {"columns", "columns (role=column)"}, {"subject", "subject"}, {"trials", "trials"}, {"conditions", "conditions (index=label)"},
      {"cost", "cost"}, {"action", "action"}, {"network", "network"}, {"latent", "latent measurement"},
      {"fixed", "fixed parameters"}, {"priors", "priors"}, {"num_warmup", "warm-up per chain"},
      {"num_samples", "draws per chain"}, {"thin", "thin"}, {"seed", "seed"}, {"delta", "target acceptance (delta)"},
      {"max_depth", "maximum tree depth"}, {"metric", "metric"}, {"log_lik", "log_lik columns"}, {"predict", "r_rep columns"},
      {"lapse", "lapse mixture"}, {"lapse_range", "lapse contaminant's range of r"},
      {"bactor_version", "bactor version"}};
  std::vector<std::pair<std::string, std::string>> kv = {{"folder", fit.dir}, {"chains", std::to_string(fit.chains.size())}};
  for (const auto& [k, label] : keys) {
    const std::string v = bactor::cli::setting(fit, k);
    if (!v.empty()) kv.emplace_back(label, v);
  }
  // Two settings per row keeps the table short.
  h.body += "<table class=\"kv\">\n";
  for (std::size_t i = 0; i < kv.size(); i += 2) {
    h.body += "<tr><th>" + escape(kv[i].first) + "</th><td>" + escape(kv[i].second) + "</td>";
    if (i + 1 < kv.size()) h.body += "<th>" + escape(kv[i + 1].first) + "</th><td>" + escape(kv[i + 1].second) + "</td>";
    h.body += "</tr>\n";
  }
  h.body += "</table>\n";
}

void diagnostics(Html& h, const Fit& fit, const bactor::Summary& s) {
  std::vector<std::string> warn;
  const std::size_t chains = fit.chains.size();
  const double ess_min = 100.0 * double(chains);
  for (std::size_t c = 0; c < chains; ++c)
    if (!fit.chains[c].complete)
      warn.push_back("Chain " + std::to_string(fit.chains[c].chain_id) + " was interrupted (complete = 0): the run stopped early.");
  if (s.divergences > 0)
    warn.push_back(std::to_string(s.divergences) + " of " + std::to_string(s.draws) +
                   " transitions after warm-up ended in a divergence: the sampler met a region it could not follow, so that "
                   "part of the posterior may be missed. Raise --delta (e.g. 0.95); the red points in the pairs plot show where.");
  for (const auto& p : s.params) {
    if (p.rhat >= 1.01)
      warn.push_back("R-hat of " + p.name + " is " + g4(p.rhat) +
                     " (should be below 1.01): the chains disagree about it. Run longer (--warmup, --samples).");
    if (p.ess_bulk < ess_min || p.ess_tail < ess_min)
      warn.push_back("Effective sample size of " + p.name + " is low (bulk " + g4(p.ess_bulk) + ", tail " + g4(p.ess_tail) +
                     "; want at least 100 per chain, " + g4(ess_min) + "): its summaries carry a large Monte Carlo error. Draw more samples.");
  }
  for (std::size_t c = 0; c < s.ebfmi.size(); ++c)
    if (s.ebfmi[c] < 0.3)
      warn.push_back("E-BFMI of chain " + std::to_string(c + 1) + " is " + g4(s.ebfmi[c]) +
                     " (below 0.3): the sampler explores the energy distribution poorly, often a sign of heavy tails or a funnel.");
  if (s.max_depth_hits > 0)
    warn.push_back(std::to_string(s.max_depth_hits) + " transitions stopped at the maximum tree depth (" + std::to_string(s.max_depth) +
                   "): sampling is inefficient there (not biased). Raise --max-depth.");
  if (warn.empty()) {
    h.body += "<p class=\"ok\">No problems found: every R-hat below 1.01, bulk and tail ESS at least 100 per chain, no "
              "divergences, E-BFMI at least 0.3 in every chain, no tree-depth saturation.</p>\n";
  } else {
    h.body += "<ul class=\"warn\">\n";
    for (const auto& w : warn) h.body += "<li>" + escape(w) + "</li>\n";
    h.body += "</ul>\n";
  }
  h.body += "<table class=\"num\">\n<tr><th>parameter</th><th>mean</th><th>sd</th><th>5%</th><th>50%</th><th>95%</th>"
            "<th>MCSE mean</th><th>ESS bulk</th><th>ESS tail</th><th>R-hat</th></tr>\n";
  for (const auto& p : s.params) {
    auto cls = [](bool bad) { return bad ? std::string(" class=\"bad\"") : std::string(); };
    h.body += "<tr><th>" + escape(p.name) + "</th><td>" + g4(p.mean) + "</td><td>" + g4(p.sd) + "</td><td>" + g4(p.q5) + "</td><td>" +
              g4(p.q50) + "</td><td>" + g4(p.q95) + "</td><td>" + g4(p.mcse_mean) + "</td><td" + cls(p.ess_bulk < ess_min) + ">" +
              g4(std::round(p.ess_bulk)) + "</td><td" + cls(p.ess_tail < ess_min) + ">" + g4(std::round(p.ess_tail)) + "</td><td" +
              cls(p.rhat >= 1.01) + ">" + g4(p.rhat) + "</td></tr>\n";
  }
  h.body += "</table>\n<p class=\"small\">" + std::to_string(s.draws) + " draws in " + std::to_string(s.chains) + " chains; " +
            std::to_string(s.divergences) + " divergences; " + std::to_string(s.max_depth_hits) + " transitions at the maximum tree depth; E-BFMI";
  for (std::size_t c = 0; c < s.ebfmi.size(); ++c) h.body += (c ? ", " : " ") + g4(s.ebfmi[c]);
  h.body += ". Rules as in Vehtari et al. (2021) and Stan: R-hat &lt; 1.01, ESS &#8805; 100 per chain, E-BFMI &#8805; 0.3.</p>\n";
}

// ---- Plots of the draws ---------------------------------------------------------------------

std::string trace_plot(const Fit& fit, const std::string& param, const std::string& id, std::size_t max_points) {
  const auto by_chain = bactor::cli::column_by_chain(fit, param);
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
  const auto by_chain = bactor::cli::column_by_chain(fit, param);
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

std::string density_plot(const Fit& fit, const std::string& param, const std::string& id, bool with_prior = true) {
  const auto x = bactor::cli::column(fit, param);
  double m = 0;
  for (double v : x) m += v;
  m /= double(x.size());
  double var = 0;
  for (double v : x) var += (v - m) * (v - m);
  const double sd = std::sqrt(var / double(std::max<std::size_t>(x.size() - 1, 1)));
  std::vector<double> sorted = x;
  std::sort(sorted.begin(), sorted.end());
  const double iqr = bactor::quantile(sorted, 0.75) - bactor::quantile(sorted, 0.25);
  double bw = 0.9 * std::min(sd, iqr > 0 ? iqr / 1.34 : sd) * std::pow(double(x.size()), -0.2);  // Silverman
  if (!(bw > 0)) bw = std::max(std::fabs(m) * 1e-3, 1e-6);
  bactor::Prior prior;
  const bool has_prior = with_prior && find_prior(fit, param, prior);
  double lo = sorted.front() - 3 * bw, hi = sorted.back() + 3 * bw;
  const bool positive = has_prior ? prior.kind != bactor::Prior::Kind::uniform : sorted.front() > 0;
  if (positive) lo = std::max(lo, 0.0);
  if (has_prior && prior.kind == bactor::Prior::Kind::uniform) lo = std::max(lo, prior.a), hi = std::min(hi, prior.b);
  if (has_prior && prior.kind == bactor::Prior::Kind::beta) hi = std::min(hi, 1.0);
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
    p.line(gx, py, pr, "prior " + bactor::to_string(prior));
  }
  return p.render(id, "density", false);
}

std::string pairs_plot(const Fit& fit, const std::vector<std::string>& params, const std::string& id, std::size_t max_points,
                       std::size_t& n_div_shown) {
  const std::size_t P = params.size();
  std::vector<std::vector<double>> cols;
  for (const auto& p : params) cols.push_back(bactor::cli::column(fit, p));
  std::vector<double> div;  // a hierarchical fit's subject has no sampler columns of its own
  try {
    div = bactor::cli::column(fit, "divergent__");
  } catch (const std::exception&) {
  }
  const auto idx = thin_index(cols[0].size(), max_points);
  std::vector<std::size_t> div_idx;
  for (std::size_t i = 0; i < div.size(); ++i)
    if (div[i] != 0) div_idx.push_back(i);
  n_div_shown = div_idx.size();
  const double cell = P <= 3 ? 200 : P <= 6 ? 175 : 140;
  bactor::cli::svg::Grid grid(static_cast<int>(P), static_cast<int>(P), cell, cell);
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

// ---- Predictive check -------------------------------------------------------------------------

void check_section(Html& h, const std::vector<bactor::cli::CheckRow>& rows, const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> groups;  // subject, cond in order
  for (const auto& r : rows)
    if (std::find(groups.begin(), groups.end(), std::pair{r.subject, r.cond}) == groups.end()) groups.emplace_back(r.subject, r.cond);
  for (const auto& [subj, cond] : groups) {
    std::vector<double> mx, mobs, mlo, mmid, mhi, sx, sobs, slo, smid, shi;
    const bactor::cli::CheckRow* slope = nullptr;
    for (const auto& r : rows) {
      if (r.subject != subj || r.cond != cond) continue;
      if (r.stat == "mean_log_r") mx.push_back(r.s_center), mobs.push_back(r.observed), mlo.push_back(r.q5), mmid.push_back(r.q50), mhi.push_back(r.q95);
      if (r.stat == "sd_log_r") sx.push_back(r.s_center), sobs.push_back(r.observed), slo.push_back(r.q5), smid.push_back(r.q50), shi.push_back(r.q95);
      if (r.stat == "slope") slope = &r;
    }
    const std::string what = (subj.empty() ? "" : "subject " + subj + ", ") + "condition " + cond;
    const std::string key = prefix + "check-" + (subj.empty() ? "" : subj + "-") + cond;
    Style band;
    band.colour = colour(0);
    band.opacity = 0.25;
    Style med;
    med.colour = colour(0);
    med.width = 1.5;
    Style obs;
    obs.colour = "#222";
    obs.radius = 3.5;
    if (!mx.empty()) {
      Plot p(460, 280);
      p.title("mean log r by stimulus, " + what).xlabel("stimulus s (bin geometric mean, log scale)").ylabel("mean log r").xlog();
      p.band(mx, mlo, mhi, band, "predictive 90% interval").line(mx, mmid, med, "predictive median");
      std::vector<double> ix, iy;
      const double lo = *std::min_element(mx.begin(), mx.end()), hi = *std::max_element(mx.begin(), mx.end());
      for (int k = 0; k <= 20; ++k) {
        const double s = lo * std::pow(hi / lo, k / 20.0);
        ix.push_back(s), iy.push_back(std::log(s));
      }
      Style id;
      id.colour = "#999";
      id.dash = "3 3";
      id.width = 1;
      p.line(ix, iy, id, "r = s");
      p.points(mx, mobs, obs, "observed").legend(Plot::Legend::top_left);
      h.figure(p.render(key + "-mean", "check-mean", false));
    }
    if (!sx.empty()) {
      Plot p(460, 280);
      p.title("sd of log r by stimulus, " + what).xlabel("stimulus s (bin geometric mean, log scale)").ylabel("sd of log r").xlog().yzero();
      p.band(sx, slo, shi, band, "predictive 90% interval").line(sx, smid, med, "predictive median");
      p.points(sx, sobs, obs, "observed");
      h.figure(p.render(key + "-sd", "check-sd", false));
    }
    if (slope)
      h.p(what + ": slope of log r on log s (central tendency; 1 = none) observed " + g4(slope->observed) + ", predicted " +
          g4(slope->q50) + " (90% interval " + g4(slope->q5) + " to " + g4(slope->q95) + ", predictive p " + g4(slope->ppp) + ").");
  }
  const auto v = bactor::cli::judge(rows);
  h.p(std::to_string(v.outside) + " of " + std::to_string(v.total) +
      " statistics lie outside their 90% predictive intervals (about 10% or fewer when the actor fits).");
  if (v.warnings.empty()) {
    h.body += "<p class=\"ok\">No misfit found by these statistics.</p>\n";
  } else {
    h.body += "<ul class=\"warn\">\n";
    for (const auto& w : v.warnings) h.body += "<li>" + escape(w) + "</li>\n";
    h.body += "</ul>\n";
  }
}

// ---- Comparison ------------------------------------------------------------------------------

struct CompareBlock {
  std::string subject;
  std::vector<bactor::CompareRow> rows;
  std::vector<std::string> names;          // input order (pointwise below in this order)
  std::vector<bactor::LooResult> loo;      // empty when read from a compare CSV
};

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

std::string khat_plot(const bactor::LooResult& l, const std::string& name, const std::string& id) {
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

void compare_section(Html& h, const std::vector<CompareBlock>& blocks) {
  for (std::size_t bi = 0; bi < blocks.size(); ++bi) {
    const auto& b = blocks[bi];
    if (!b.subject.empty()) h.body += "<h3>" + escape(b.subject == "all" ? "all subjects (pointwise values pooled)" : "subject " + b.subject) + "</h3>\n";
    h.body += "<table class=\"num\">\n<tr><th>model</th><th>rank</th><th>elpd_loo</th><th>p_loo</th><th>elpd_diff</th><th>weight</th>"
              "<th>se</th><th>dse</th><th>warning</th></tr>\n";
    for (const auto& r : b.rows)
      h.body += "<tr><th>" + escape(r.name) + "</th><td>" + std::to_string(r.rank) + "</td><td>" + f2(r.elpd_loo) + "</td><td>" +
                f2(r.p_loo) + "</td><td>" + f2(r.elpd_diff) + "</td><td>" + g4(r.weight) + "</td><td>" + f2(r.se) + "</td><td>" +
                f2(r.dse) + "</td><td" + (r.warning ? " class=\"bad\">True" : ">False") + "</td></tr>\n";
    h.body += "</table>\n";
    for (std::size_t k = 1; k < b.rows.size(); ++k) {
      const auto& r = b.rows[k];
      const double z = r.dse > 0 ? r.elpd_diff / r.dse : INFINITY;
      h.p("'" + r.name + "' predicts worse than '" + b.rows[0].name + "' by " + f2(r.elpd_diff) + " (dse " + f2(r.dse) + ", " +
          (std::isfinite(z) ? f2(z) : std::string("inf")) + " standard errors)" +
          (r.elpd_diff < 4 ? ": a small difference (below 4)." : z < 2 ? ": within 2 standard errors." : "."));
    }
    const std::string key = "elpd" + (b.subject.empty() ? std::string() : "-" + b.subject);
    h.figure(elpd_plot(b, key));
    if (b.subject != "all")
      for (std::size_t m = 0; m < b.loo.size(); ++m) {
        const auto& l = b.loo[m];
        if (l.warning) {
          std::vector<std::size_t> bad;
          for (std::size_t i = 0; i < l.points; ++i)
            if (!(l.pareto_k[i] <= l.good_k)) bad.push_back(i);
          std::string list;
          for (std::size_t j = 0; j < std::min<std::size_t>(bad.size(), 8); ++j)
            list += (j ? ", " : "") + std::to_string(bad[j] + 1) + " (k = " + f2(l.pareto_k[bad[j]]) + ")";
          h.body += "<ul class=\"warn\"><li>" +
                    escape(b.names[m] + ": " + std::to_string(bad.size()) + " trial(s) with Pareto k above " + f2(l.good_k) + ": " + list +
                           (bad.size() > 8 ? ", ..." : "") + ". Their elpd_loo values are unreliable (influential or badly predicted trials).") +
                    "</li></ul>\n";
        }
        h.figure(khat_plot(l, b.names[m], "khat-" + (b.subject.empty() ? std::string() : b.subject + "-") + b.names[m]));
      }
  }
  h.p("PSIS-LOO (Vehtari, Gelman & Gabry 2017; Pareto k thresholds of Vehtari et al. 2024): elpd_loo estimates how well each "
      "model predicts a new trial; se is its standard error, elpd_diff and dse the difference to the best model and its "
      "standard error, weight the stacking weight. Computed as arviz.compare does (rank 0 = best).");
}

std::vector<CompareBlock> read_compare_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(path + ": cannot open file");
  std::string line;
  if (!std::getline(in, line) || line.rfind("subject,model,rank,elpd_loo,p_loo,elpd_diff,weight,se,dse,warning", 0) != 0)
    throw std::invalid_argument(path + ":1: not a compare table (expected the CSV written by bactor compare --csv)");
  std::vector<CompareBlock> blocks;
  std::size_t lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string x;
    while (std::getline(ss, x, ',')) f.push_back(x);
    if (f.size() < 10) throw std::invalid_argument(path + ":" + std::to_string(lineno) + ": expected at least 10 values");
    if (blocks.empty() || blocks.back().subject != f[0]) blocks.push_back({f[0], {}, {}, {}});
    bactor::CompareRow r;
    try {
      r.name = f[1], r.rank = std::stoi(f[2]), r.elpd_loo = std::stod(f[3]), r.p_loo = std::stod(f[4]), r.elpd_diff = std::stod(f[5]);
      r.weight = std::stod(f[6]), r.se = std::stod(f[7]), r.dse = std::stod(f[8]), r.warning = f[9] == "True";
    } catch (const std::exception&) {
      throw std::invalid_argument(path + ":" + std::to_string(lineno) + ": bad number");
    }
    blocks.back().rows.push_back(r);
    blocks.back().names.push_back(r.name);
  }
  if (blocks.empty()) throw std::invalid_argument(path + ": no rows");
  return blocks;
}

const char* kCss =
    "body{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;margin:24px auto;max-width:1440px;color:#222;line-height:1.4}"
    "h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:28px}"
    "h3{font-size:15px}table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px}"
    "table.num td{text-align:right;font-variant-numeric:tabular-nums}table.kv th,table.num th{text-align:left;background:#f6f6f6}"
    "td.bad{background:#fde2e1;color:#a00}ul.warn li{color:#a00;margin:3px 0}p.ok{color:#176117}p.bad{color:#a00}"
    "p.small{font-size:12px;color:#555}span.ci{color:#666;font-size:12px}table.num td.text{text-align:left}"
    ".fig{display:inline-block;margin:4px 8px 4px 0;vertical-align:top}nav a{margin-right:12px}"
    "div.subject{border-top:3px solid #1f77b4;margin-top:36px}h2.subject{font-size:20px;border:none}";

/// Options that shape the report's sections.
struct Layout {
  bool check = true;                  // a predictive-check section
  std::size_t trace_points = 500;     // per chain
  std::size_t pairs_points = 500;
  std::set<std::string> no_prior;     // parameters drawn without a prior (a hierarchical fit's subject parameters)
};

/// The sections of one posterior: diagnostics, densities, the check, (the comparison), pairs,
/// trace and rank plots, settings. `pre` prefixes every id ("" or "s<id>-").
void fit_sections(Html& h, const Fit& fit, const std::vector<bactor::cli::CheckRow>& check, const std::string& check_note,
                  const std::vector<CompareBlock>* compare_here, const Layout& lay) {
  const std::string pre = fit.subject.empty() ? "" : "s" + fit.subject + "-";
  const std::string sub = fit.subject.empty() ? "" : " (subject " + fit.subject + ")";
  const auto params = bactor::cli::parameter_columns(fit.chains.at(0));
  const auto summary = bactor::summarize(fit.chains, params);
  // The answer first (diagnostics, posteriors, predictive check, comparison), then the plots
  // that show how the draws were made, then the settings.
  h.section(pre + "diagnostics", "Diagnostics and posterior summary" + sub);
  diagnostics(h, fit, summary);
  if (fit.subject.empty()) {  // one fit: the parameters that vary by condition side by side
    std::map<std::string, std::string> conditions;
    try {
      conditions = bactor::cli::parse_string_assignments(bactor::cli::setting(fit, "conditions"), "conditions");
    } catch (const std::exception&) {
    }
    const std::string plots = bactor::cli::report::condition_plots({&fit, summary, ""}, conditions, bactor::cli::base_name(fit.dir));
    if (!plots.empty()) {
      h.section("conditions", "Parameters by condition");
      h.body += plots;
    }
  }
  h.section(pre + "marginals", "Posterior densities and priors" + sub);
  h.p("Kernel density of all draws (Gaussian kernel, Silverman's bandwidth, reflected at 0 for positive parameters) with the prior's density.");
  for (const auto& p : params) h.figure(density_plot(fit, p, pre + "density-" + p, !lay.no_prior.count(p)));
  if (lay.check) {
    h.section(pre + "check", "Posterior-predictive check" + sub);
    std::vector<bactor::cli::CheckRow> mine;
    for (const auto& r : check)
      if (r.subject == fit.subject) mine.push_back(r);
    if (mine.empty()) {
      h.p("No predictive check: " + (check_note.empty() ? std::string("none for this fit") : check_note) + ".");
    } else {
      h.p("Per stimulus bin: the observed mean and sd of log r (points) against the model's predictive median and 90% interval "
          "(band), " + check_note + ".");
      check_section(h, mine, pre);
    }
  }
  if (compare_here) {
    h.section("compare", "Model comparison (PSIS-LOO)");
    compare_section(h, *compare_here);
  }
  if (params.size() >= 2) {
    h.section(pre + "pairs", "Pairs plot" + sub);
    std::size_t ndiv = 0;
    h.figure(pairs_plot(fit, params, pre + "pairs", lay.pairs_points, ndiv));
  }
  h.section(pre + "trace", "Trace plots" + sub);
  h.p("Each chain's draws after warm-up (thinned to at most " + std::to_string(lay.trace_points) +
      " points per chain). Chains that overlap like noise around one level have mixed.");
  for (const auto& p : params) h.figure(trace_plot(fit, p, pre + "trace-" + p, lay.trace_points));
  h.section(pre + "rank", "Rank plots" + sub);
  h.p("Histograms of each chain's ranks among all draws (Vehtari et al. 2021): flat and alike when the chains sample the same distribution.");
  for (const auto& p : params) h.figure(rank_plot(fit, p, pre + "rank-" + p));
  h.section(pre + "settings", "Settings" + sub);
  settings_table(h, fit);
}

/// A hierarchical fit's population: its parameters' summary and densities with their priors.
void population_section(Html& h, const Fit& joint) {
  std::vector<std::string> cols;
  for (const auto& c : bactor::cli::parameter_columns(joint.chains.at(0))) {
    const auto dot = c.rfind(".s");
    const bool subject_col = dot != std::string::npos && dot + 2 < c.size() &&
                             std::all_of(c.begin() + long(dot) + 2, c.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)) != 0; });
    if (!subject_col) cols.push_back(c);
  }
  h.section("population", "Population (hierarchical fit)");
  h.p("Each pooled parameter's subjects are drawn from a population: NAME.pop is its median (exp of the mean on the log or logit "
      "scale) and NAME.sd the sd on that scale. Diagnostics of the joint fit, then the population's densities with their priors "
      "(m ~ Normal(LOC, SCALE) gives NAME.pop = exp(m) a log-normal prior; NAME.sd ~ HalfNormal(SD_SCALE)).");
  diagnostics(h, joint, bactor::summarize(joint.chains, cols));
  std::map<std::string, std::string> pops;
  try {
    pops = bactor::cli::parse_string_assignments(bactor::cli::setting(joint, "population"), "population");
  } catch (const std::exception&) {
  }
  std::set<std::string> bounded;
  try {
    for (const auto& p : bactor::find_cost(bactor::cli::setting(joint, "cost")).params)
      if (p.kind == bactor::ParamPrior::Kind::uniform) bounded.insert(p.name);
  } catch (const std::exception&) {
  }
  for (const auto& c : cols) {
    // NAME.pop and NAME.sd take their priors from the recorded population; shared ones from priors.
    Fit f = joint;
    std::string prior;
    const auto dot = c.rfind('.');
    const std::string base = dot == std::string::npos ? c : c.substr(0, dot), kind = dot == std::string::npos ? "" : c.substr(dot + 1);
    if (const auto it = pops.find(base); it != pops.end() && (kind == "pop" || kind == "sd")) {
      try {
        const auto pp = bactor::parse_population_prior(it->second);
        if (kind == "sd") prior = c + "=halfnormal:" + bactor::cli::number(pp.sd_scale);
        else if (!bounded.count(base)) prior = c + "=lognormal:" + bactor::cli::number(pp.loc) + ":" + bactor::cli::number(pp.scale);
      } catch (const std::exception&) {
      }
      f.settings["priors"] = prior;
      f.settings["cost"] = "";
    }
    h.figure(density_plot(f, c, "population-density-" + c, !(kind == "pop" || kind == "sd") || !prior.empty()));
  }
}

/// The separate (subject-by-subject) fit's median of `param` for each subject, NaN where missing.
std::vector<double> separate_medians(const std::vector<Fit>& separate, const std::vector<std::string>& ids, const std::string& param) {
  std::vector<double> out;
  for (const auto& id : ids) {
    double m = std::nan("");
    for (const auto& f : separate)
      if (f.subject == id) try {
          auto x = bactor::cli::column(f, param);
          std::sort(x.begin(), x.end());
          m = bactor::quantile(x, 0.5);
        } catch (const std::exception&) {
        }
    out.push_back(m);
  }
  return out;
}

} // namespace

int run_report(int argc, char** argv) {
  CLI::App app{"One self-contained HTML report of a fit written by bactor infer (inline SVG, no scripts, no network): settings, "
               "diagnostics in plain words, trace, rank, density (with prior) and pairs plots, the posterior-predictive check "
               "per condition, and with --compare the PSIS-LOO comparison. A fit with subjects (or a hierarchical fit) opens "
               "with a cohort page and links one page per subject. A compare table (bactor compare --csv) instead of a fit "
               "gives the comparison alone."};
  std::string input, out, check_path, data_path, names_opt, title, columns, separate_dir;
  std::vector<std::string> others;
  bool no_check = false;
  std::size_t trace_points = 0, pairs_points = 0;
  bactor::cli::CheckOptions copt;
  app.add_option("fit", input, "fit directory (the --out of bactor infer), or a compare CSV")->required();
  app.add_option("--out", out, "the HTML file to write")->required();
  app.add_option("--compare", others, "other fits to compare with by PSIS-LOO");
  app.add_option("--names", names_opt, "model names for the fit and the --compare fits, comma-separated");
  auto* chk = app.add_option("--check", check_path, "a check CSV (bactor check --out); default: FIT/check.csv if present, else computed");
  app.add_flag("--no-check", no_check, "leave the predictive check out")->excludes(chk);
  app.add_option("--data", data_path, "the data file (for the check; default: the data_file the fit records)");
  bactor::cli::add_columns_option(app, columns);  // default: the column map the fit records
  app.add_option("--bins", copt.bins, "stimulus bins of the check")->capture_default_str();
  app.add_option("--trace-points", trace_points, "points per chain in trace plots (default 500; 100 per subject of a cohort)");
  app.add_option("--pairs-points", pairs_points, "draws in each pairs-plot panel (default 500; 150 per subject of a cohort)");
  app.add_option("--separate", separate_dir, "with a hierarchical fit: a subject-by-subject fit of the same data, for the shrinkage plot");
  app.add_option("--title", title, "report title");
  if (!bactor::cli::parse(app, argc, argv)) return bactor::cli::exit_ok;
  if ((trace_points != 0 && trace_points < 2)) throw bactor::cli::UsageError("--trace-points must be >= 2 and --pairs-points >= 1");

  Html h;
  const bool compare_only = fs::is_regular_file(input);
  std::string heading = title.empty() ? "bactor report: " + input : title;
  if (compare_only) {
    if (!others.empty()) throw bactor::cli::UsageError("--compare needs a fit directory, not a compare CSV");
    const auto blocks = read_compare_csv(input);
    h.section("compare", "Model comparison (PSIS-LOO)");
    compare_section(h, blocks);
  } else {
    const auto fits = bactor::cli::read_fits(input);
    const bool hierarchical = bactor::cli::setting(fits.at(0), "hierarchical") == "true";
    if (!separate_dir.empty() && !hierarchical) throw bactor::cli::UsageError("--separate needs a hierarchical fit (bactor infer --hierarchical)");
    // The data: for the check and for a hierarchical fit's subjects (their trial counts).
    bactor::Dataset data;
    bool have_data = false;
    std::string data_problem;
    if (!no_check || hierarchical) try {
        data = bactor::cli::fit_data(fits.at(0), data_path, columns);
        have_data = true;
      } catch (const std::invalid_argument& e) {
        if (!data_path.empty() || !columns.empty()) throw;
        data_problem = e.what();
      }
    // The posteriors the pages show: the fits, or a hierarchical fit's subjects.
    std::vector<Fit> subject_fits;
    if (hierarchical) {
      std::map<std::string, std::size_t> trials;
      if (have_data)
        for (const auto& [id, d] : bactor::split_subjects(data)) trials[id] = d.size();
      else
        for (const auto& [k, id] : bactor::cli::parse_string_assignments(bactor::cli::setting(fits[0], "subjects"), "subjects")) trials[id] = 0;
      subject_fits = bactor::cli::hierarchical_subject_fits(fits[0], trials);
    }
    const std::vector<Fit>& pages = hierarchical ? subject_fits : fits;
    const bool cohort = hierarchical || fits.size() > 1;
    std::vector<std::vector<Fit>> other_fits;
    for (const auto& d : others) other_fits.push_back(bactor::cli::read_fits(d));
    // The predictive check: given, found, or computed.
    std::vector<bactor::cli::CheckRow> check;
    std::string check_note;
    if (!no_check) {
      if (check_path.empty() && fs::is_regular_file(fs::path(input) / "check.csv")) check_path = (fs::path(input) / "check.csv").string();
      if (!check_path.empty()) {
        check = bactor::cli::read_check_csv(check_path);
        check_note = "from " + check_path;
      } else if (!have_data) {
        check_note = "not computed: " + data_problem;
        std::cerr << "report: predictive check left out: " << data_problem << "\n";
      } else {
        try {
          if (pages.size() == 1 && pages[0].subject.empty()) {
            check = bactor::cli::predictive_check(pages[0], data, copt);
          } else {
            const auto subjects = bactor::split_subjects(data);
            for (std::size_t s = 0; s < pages.size(); ++s)
              for (const auto& [id, d] : subjects)
                if (id == pages[s].subject) {
                  const auto part = bactor::cli::predictive_check(pages[s], d, copt, s);
                  check.insert(check.end(), part.begin(), part.end());
                }
          }
          check_note = "computed from " + std::to_string(copt.draws) + " posterior draws (seed " + std::to_string(copt.seed) + ")";
        } catch (const std::invalid_argument& e) {
          if (!data_path.empty() || !columns.empty()) throw;
          check_note = std::string("not computed: ") + e.what();
          std::cerr << "report: predictive check left out: " << e.what() << "\n";
        }
      }
    }
    std::vector<CompareBlock> blocks;
    if (!other_fits.empty()) {
      std::vector<std::string> names;
      if (!names_opt.empty()) {
        std::stringstream ss(names_opt);
        std::string n;
        while (std::getline(ss, n, ',')) names.push_back(n);
        if (names.size() != 1 + others.size()) throw bactor::cli::UsageError("--names: one name for the fit and each --compare fit");
      } else {
        names.push_back(bactor::cli::base_name(input));
        for (const auto& d : others) names.push_back(bactor::cli::base_name(d));
      }
      if (std::set<std::string>(names.begin(), names.end()).size() != names.size())
        throw bactor::cli::UsageError("model names are not unique (give --names)");
      for (std::size_t s = 0; s < fits.size(); ++s) {
        CompareBlock b;
        b.subject = fits[s].subject;
        b.names = names;
        b.loo.push_back(bactor::cli::fit_loo(fits[s]));
        for (std::size_t m = 0; m < other_fits.size(); ++m) {
          const Fit* match = nullptr;
          for (const auto& f : other_fits[m])
            if (f.subject == fits[s].subject) match = &f;
          if (!match)
            throw std::invalid_argument(others[m] + ": no fit for " + (fits[s].subject.empty() ? "the data" : "subject " + fits[s].subject));
          b.loo.push_back(bactor::cli::fit_loo(*match));
        }
        b.rows = bactor::compare_loo(b.names, b.loo);
        blocks.push_back(std::move(b));
      }
      if (blocks.size() > 1) {
        CompareBlock all;
        all.subject = "all";
        all.names = names;
        for (std::size_t m = 0; m < names.size(); ++m) {
          std::vector<const bactor::LooResult*> parts;
          for (const auto& b : blocks) parts.push_back(&b.loo[m]);
          all.loo.push_back(bactor::cli::pool_loo(parts));
        }
        all.rows = bactor::compare_loo(all.names, all.loo);
        blocks.push_back(std::move(all));
      }
    }
    Layout lay;
    lay.check = !no_check;
    lay.trace_points = trace_points ? trace_points : cohort ? 100 : 500;
    lay.pairs_points = pairs_points ? pairs_points : cohort ? 150 : 500;
    if (!cohort) {
      fit_sections(h, fits[0], check, check_note, blocks.empty() ? nullptr : &blocks, lay);
    } else {
      if (hierarchical) population_section(h, fits[0]);
      // The cohort page: one table and plot per question, each subject linked to its page.
      bactor::cli::report::Cohort c;
      c.joint = hierarchical;
      if (hierarchical) c.joint_summary = bactor::summarize(fits[0].chains, {"lp__"});
      std::vector<std::string> params;
      for (const auto& f : pages) {
        params = bactor::cli::parameter_columns(f.chains.at(0));
        c.subjects.push_back({&f, bactor::summarize(f.chains, params), "s" + f.subject});
      }
      try {
        for (const auto& [k, label] : bactor::cli::parse_string_assignments(bactor::cli::setting(pages.at(0), "conditions"), "conditions"))
          c.conditions[k] = label;
      } catch (const std::exception&) {
      }
      c.check = check;
      c.check_note = check_note;
      if (!hierarchical && blocks.size() > 1)
        for (const auto& b : blocks) c.compare.push_back({b.subject, b.rows, b.names});
      if (hierarchical)
        for (const auto& col : bactor::cli::parameter_columns(fits[0].chains.at(0)))
          if (col.size() > 4 && col.compare(col.size() - 4, 4, ".pop") == 0) {
            auto x = bactor::cli::column(fits[0], col);
            std::sort(x.begin(), x.end());
            c.population[col.substr(0, col.size() - 4)] = bactor::quantile(x, 0.5);
          }
      h.toc.emplace_back("cohort-posteriors", "Cohort: posteriors");
      h.toc.emplace_back("cohort-diagnostics", "diagnostics");
      h.toc.emplace_back("cohort-check", "predictive check");
      if (!c.compare.empty()) h.toc.emplace_back("cohort-compare", "comparison");
      h.body += bactor::cli::report::cohort_page(c);
      if (!separate_dir.empty()) {
        const auto separate = bactor::cli::read_fits(separate_dir);
        h.section("shrinkage", "Shrinkage: hierarchical against subject by subject");
        h.p("Each point is a subject: its posterior median fitted alone (x) against its median in the hierarchical fit (y, with "
            "the 90% interval). Points pulled from the diagonal toward the population median are what pooling does.");
        std::vector<std::string> ids;
        for (const auto& s : c.subjects) ids.push_back(s.fit->subject);
        for (const auto& col : params) {
          std::vector<double> q5, q50, q95;
          for (const auto& s : c.subjects)
            for (const auto& p : s.summary.params)
              if (p.name == col) q5.push_back(p.q5), q50.push_back(p.q50), q95.push_back(p.q95);
          const auto sep = separate_medians(separate, ids, col);
          if (std::none_of(sep.begin(), sep.end(), [](double v) { return std::isfinite(v); }) || q50.size() != ids.size()) continue;
          const auto pop = c.population.find(col);
          h.figure(bactor::cli::report::shrinkage_plot(col, ids, q5, q50, q95, sep, pop == c.population.end() ? std::nan("") : pop->second,
                                                       "shrinkage-" + col));
        }
      }
      if (hierarchical && !blocks.empty()) {
        h.section("compare", "Model comparison (PSIS-LOO)");
        compare_section(h, blocks);
      }
      // One page per subject, out of the navigation (the cohort tables link them).
      std::string pooled = hierarchical ? bactor::cli::setting(fits[0], "pooled") : "";
      for (std::size_t start = 0; !pooled.empty();) {
        const auto comma = pooled.find(',', start);
        lay.no_prior.insert(pooled.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      h.toc_on = false;
      for (const auto& f : pages) {
        const std::string pre = "s" + f.subject;
        h.body += "<div class=\"subject\">\n<h2 class=\"subject\" id=\"" + escape(pre) + "\">" + escape("Subject " + f.subject) +
                  "</h2>\n<p class=\"small\"><a href=\"#cohort-posteriors\">back to the cohort</a>";
        for (const auto& [id, label] : std::vector<std::pair<std::string, std::string>>{
                 {"diagnostics", "diagnostics"}, {"marginals", "densities"}, {"check", "check"}, {"pairs", "pairs"}, {"trace", "trace"},
                 {"rank", "rank"}, {"settings", "settings"}})
          if (id != "check" || lay.check) h.body += " &#183; <a href=\"#" + escape(pre + "-" + id) + "\">" + label + "</a>";
        h.body += "</p>\n";
        fit_sections(h, f, check, check_note, nullptr, lay);
        h.body += "</div>\n";
      }
      h.toc_on = true;
      if (!hierarchical && !blocks.empty()) {
        h.section("compare", "Model comparison (PSIS-LOO), subject by subject");
        compare_section(h, blocks);
      }
    }
  }
  std::string html = "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>" +
                     escape(heading) + "</title>\n<style>" + kCss + "svg " + std::string(bactor::cli::svg::text_css) +
                     "</style>\n</head>\n<body>\n<h1>" + escape(heading) + "</h1>\n<p class=\"small\">bactor " +
                     escape(bactor::version()) + "; one self-contained file (inline SVG, no scripts).</p>\n<nav>";
  for (const auto& [id, t] : h.toc) html += "<a href=\"#" + escape(id) + "\">" + escape(t) + "</a>";
  html += "</nav>\n" + h.body + "</body>\n</html>\n";
  const std::string tmp = out + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) throw std::runtime_error(out + ": cannot write");
    f << html;
    if (!f) throw std::runtime_error(out + ": write failed");
  }
  fs::rename(tmp, out);
  std::size_t svgs = 0;
  for (std::size_t pos = 0; (pos = html.find("<svg ", pos)) != std::string::npos; ++pos) ++svgs;
  std::printf("wrote %s (%zu plots, %.0f kB)\n", out.c_str(), svgs, double(html.size()) / 1024.0);
  return bactor::cli::exit_ok;
}

BACTOR_COMMAND("report", "self-contained HTML report of a fit or a cohort (diagnostics, plots, check, comparison)", run_report);
