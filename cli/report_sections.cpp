// SPDX-License-Identifier: MIT
// The sections of `bactor report` (cli/report_sections.hpp).
#include "cli/cost_options.hpp"
#include "cli/report_sections.hpp"

#include "cli/options.hpp"
#include "cli/out_dir.hpp"

#include <bactor/engine/version.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/hierarchical.hpp>
#include <bactor/samplers/diagnostics.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>

namespace bactor::cli::report {
namespace {

using svg::Plot;
using svg::Style;
using svg::colour;
using svg::escape;

std::string g4(double v) { return std::isnan(v) ? "n/a" : number_text("%.4g", v); }

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

// ---- Predictive check -------------------------------------------------------------------------

void check_section(Html& h, const std::vector<bactor::cli::CheckRow>& rows, const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> groups;  // subject, cond in order
  for (const auto& r : rows)
    if (std::find(groups.begin(), groups.end(), std::pair{r.subject, r.cond}) == groups.end()) groups.emplace_back(r.subject, r.cond);
  for (const auto& [subj, cond] : groups) {
    std::vector<double> mx, mobs, mlo, mmid, mhi, sx, sobs, slo, smid, shi;
    const bactor::cli::CheckRow* slope = nullptr;
    // The rows' space (predictive.hpp): log r, r itself (linear) or the wrapped error d (circle).
    const bool circ = std::any_of(rows.begin(), rows.end(), [](const auto& r) { return r.stat == "cmean_d"; });
    const bool lin = std::any_of(rows.begin(), rows.end(), [](const auto& r) { return r.stat == "mean_r"; });
    const std::string mean_stat = circ ? "cmean_d" : lin ? "mean_r" : "mean_log_r", sd_stat = circ ? "csd_d" : lin ? "sd_r" : "sd_log_r";
    const std::string of = circ ? "the error d = wrap(r - s)" : lin ? "r" : "log r";
    const std::string mean_word = circ ? "circular mean of " : "mean ", sd_word = circ ? "circular sd of " : "sd of ";
    const std::string xlabel = circ ? "stimulus s (bin circular mean, radians)" : lin ? "stimulus s (bin mean)" : "stimulus s (bin geometric mean, log scale)";
    for (const auto& r : rows) {
      if (r.subject != subj || r.cond != cond) continue;
      if (r.stat == mean_stat) mx.push_back(r.s_center), mobs.push_back(r.observed), mlo.push_back(r.q5), mmid.push_back(r.q50), mhi.push_back(r.q95);
      if (r.stat == sd_stat) sx.push_back(r.s_center), sobs.push_back(r.observed), slo.push_back(r.q5), smid.push_back(r.q50), shi.push_back(r.q95);
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
      p.title(mean_word + of + " by stimulus, " + what).xlabel(xlabel).ylabel(mean_word + of).xlog(!lin && !circ);
      p.band(mx, mlo, mhi, band, "predictive 90% interval").line(mx, mmid, med, "predictive median");
      std::vector<double> ix, iy;  // no bias: log r = log s, r = s, or d = 0
      const double lo = *std::min_element(mx.begin(), mx.end()), hi = *std::max_element(mx.begin(), mx.end());
      for (int k = 0; k <= 20; ++k) {
        const double s = lin || circ ? lo + (hi - lo) * k / 20.0 : lo * std::pow(hi / lo, k / 20.0);
        ix.push_back(s), iy.push_back(circ ? 0.0 : lin ? s : std::log(s));
      }
      Style id;
      id.colour = "#999";
      id.dash = "3 3";
      id.width = 1;
      p.line(ix, iy, id, circ ? "d = 0" : "r = s");
      p.points(mx, mobs, obs, "observed").legend(Plot::Legend::top_left);
      h.figure(p.render(key + "-mean", "check-mean", false));
    }
    if (!sx.empty()) {
      Plot p(460, 280);
      p.title(sd_word + of + " by stimulus, " + what).xlabel(xlabel).ylabel(sd_word + of).xlog(!lin && !circ).yzero();
      p.band(sx, slo, shi, band, "predictive 90% interval").line(sx, smid, med, "predictive median");
      p.points(sx, sobs, obs, "observed");
      h.figure(p.render(key + "-sd", "check-sd", false));
    }
    if (slope)
      h.p(what + ": slope of " + bactor::cli::slope_words(rows) + (circ ? " (central tendency; 0 = none)" : " (central tendency; 1 = none)") +
          " observed " + g4(slope->observed) + ", predicted " +
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

const char* kCss =
    "body{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;margin:24px auto;max-width:1440px;color:#222;line-height:1.4}"
    "h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:28px}"
    "h3{font-size:15px}table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px}"
    "table.num td{text-align:right;font-variant-numeric:tabular-nums}table.kv th,table.num th{text-align:left;background:#f6f6f6}"
    "td.bad{background:#fde2e1;color:#a00}ul.warn li{color:#a00;margin:3px 0}p.ok{color:#176117}p.bad{color:#a00}"
    "p.small{font-size:12px;color:#555}span.ci{color:#666;font-size:12px}table.num td.text{text-align:left}"
    ".fig{display:inline-block;margin:4px 8px 4px 0;vertical-align:top}nav a{margin-right:12px}"
    "div.subject{border-top:3px solid #1f77b4;margin-top:36px}h2.subject{font-size:20px;border:none}";

} // namespace

// ---- Comparison ------------------------------------------------------------------------------

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

// ---- One posterior, the population, the shrinkage ---------------------------------------------

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
      const bool circ = std::any_of(mine.begin(), mine.end(), [](const auto& r) { return r.stat == "cmean_d"; });
      const bool lin = std::any_of(mine.begin(), mine.end(), [](const auto& r) { return r.stat == "mean_r"; });
      h.p(std::string("Per stimulus bin: the observed ") +
          (circ ? "circular mean and circular sd of the wrapped error d = wrap(r - s)" : lin ? "mean and sd of r" : "mean and sd of log r") +
          " (points) against the model's predictive median and 90% interval (band), " + check_note + ".");
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
      "(m ~ Normal(LOC, SCALE) gives NAME.pop = exp(m) a log-normal prior; NAME.sd ~ HalfNormal(SD_SCALE); under von Mises "
      "perception mu_0.pop is the mean angle, VonMises(LOC, 1/SCALE^2), uniform for SCALE inf, and mu_0.sd its wrapped-normal sd).");
  if (bactor::cli::setting(joint, "pooled").find('.') != std::string::npos)
    h.p("A blocked cohort: a parameter that varies by condition has one population per condition c, NAME.c.pop and NAME.c.sd "
        "(conditions numbered as in the settings' conditions).");
  diagnostics(h, joint, bactor::summarize(joint.chains, cols));
  std::map<std::string, std::string> pops;
  try {
    pops = bactor::cli::parse_string_assignments(bactor::cli::setting(joint, "population"), "population");
  } catch (const std::exception&) {
  }
  // Populations on the parameter's own scale: mu_0 and the offset under gaussian perception.
  std::set<std::string> linear;
  if (bactor::cli::setting(joint, "perception") == "gaussian") linear = {"mu_0", "offset"};
  const bool circular = bactor::cli::setting(joint, "perception") == "vonmises";
  std::set<std::string> bounded{"lapse"};  // on the logit scale: the lapse probability and the uniform-prior cost parameters
  try {
    for (const auto& p : bactor::cli::recorded_cost(bactor::cli::setting(joint, "cost"),
                                                    [&](const std::string& k) { return bactor::cli::setting(joint, k); })
                             .params)
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
        else if (circular && base.substr(0, base.find('.')) == "mu_0")  // the mean angle: VonMises(LOC, 1/SCALE^2), SCALE inf uniform
          prior = c + "=vonmises:" + bactor::cli::number(pp.loc) + ":" + bactor::cli::number(1 / (pp.scale * pp.scale));
        else if (linear.count(base.substr(0, base.find('.')))) prior = c + "=normal:" + bactor::cli::number(pp.loc) + ":" + bactor::cli::number(pp.scale);
        else if (!bounded.count(base.substr(0, base.find('.')))) prior = c + "=lognormal:" + bactor::cli::number(pp.loc) + ":" + bactor::cli::number(pp.scale);
      } catch (const std::exception&) {
      }
      f.settings["priors"] = prior;
      f.settings["cost"] = "";
    }
    h.figure(density_plot(f, c, "population-density-" + c, !(kind == "pop" || kind == "sd") || !prior.empty()));
  }
}

void shrinkage_section(Html& h, const bactor::cli::report::Cohort& c, const std::vector<std::string>& params, const std::string& separate_dir) {
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

// ---- The page --------------------------------------------------------------------------------

std::size_t write_html(const std::string& out, const std::string& heading, const Html& h, std::size_t& plots) {
  std::string html = "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>" +
                     escape(heading) + "</title>\n<style>" + kCss + "svg " + std::string(bactor::cli::svg::text_css) +
                     "</style>\n</head>\n<body>\n<h1>" + escape(heading) + "</h1>\n<p class=\"small\">bactor " +
                     escape(bactor::version()) + "; one self-contained file (inline SVG, no scripts).</p>\n<nav>";
  for (const auto& [id, t] : h.toc) html += "<a href=\"#" + escape(id) + "\">" + escape(t) + "</a>";
  html += "</nav>\n" + h.body + "</body>\n</html>\n";
  bactor::cli::write_file_atomically(out, html);  // no .tmp left behind on failure
  plots = 0;
  for (std::size_t pos = 0; (pos = html.find("<svg ", pos)) != std::string::npos; ++pos) ++plots;
  return html.size();
}

} // namespace bactor::cli::report
