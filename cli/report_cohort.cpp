// SPDX-License-Identifier: MIT
// The cohort page of `bactor report` (see report_cohort.hpp).
#include "cli/report_cohort.hpp"

#include "cli/svg.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

namespace bactor::cli::report {

namespace {

using svg::colour;
using svg::escape;
using svg::Plot;
using svg::Style;

std::string g3(double v) { return number_text("%.3g", v, true); }
std::string f3(double v) { return number_text("%.3f", v, true); }
std::string whole(double v) { return number_text("%.0f", v, true); }

const ParamSummary* find(const Summary& s, const std::string& name) {
  for (const auto& p : s.params)
    if (p.name == name) return &p;
  return nullptr;
}

/// "sigma.2 (long)" when the column is a condition's and the condition has a label of its own.
std::string column_label(const std::string& column, const std::map<std::string, std::string>& conditions) {
  const auto dot = column.rfind('.');
  if (dot == std::string::npos) return column;
  const auto it = conditions.find(column.substr(dot + 1));
  if (it == conditions.end() || it->second == it->first) return column;
  return column + " (" + it->second + ")";
}

std::string link(const Subject& s) {
  return "<a href=\"#" + escape(s.anchor) + "\">" + escape(s.fit->subject) + "</a>";
}

// ---- Diagnostics of every fit --------------------------------------------------------------

struct Verdict {
  double worst_rhat = 0, least_ess = std::numeric_limits<double>::infinity();
  std::string rhat_param, ess_param;
  double min_ebfmi = std::numeric_limits<double>::infinity();
  bool interrupted = false;
  std::vector<std::string> problems;
};

Verdict judge_fit(const Subject& s, bool joint) {
  Verdict v;
  const double ess_min = 100.0 * double(s.summary.chains);
  for (const auto& p : s.summary.params) {
    if (!(p.rhat <= v.worst_rhat)) v.worst_rhat = p.rhat, v.rhat_param = p.name;
    const double e = std::min(p.ess_bulk, p.ess_tail);
    if (!(e >= v.least_ess)) v.least_ess = e, v.ess_param = p.name;
  }
  for (double e : s.summary.ebfmi) v.min_ebfmi = std::min(v.min_ebfmi, e);
  for (const auto& c : s.fit->chains) v.interrupted = v.interrupted || !c.complete;
  if (!joint && s.summary.divergences > 0) v.problems.push_back(std::to_string(s.summary.divergences) + " divergences");
  if (!(v.worst_rhat < 1.01)) v.problems.push_back("R-hat " + f3(v.worst_rhat) + " (" + v.rhat_param + ")");
  if (!(v.least_ess >= ess_min)) v.problems.push_back("ESS " + whole(v.least_ess) + " (" + v.ess_param + ")");
  if (!joint && v.min_ebfmi < 0.3) v.problems.push_back("E-BFMI " + g3(v.min_ebfmi));
  if (!joint && s.summary.max_depth_hits > 0) v.problems.push_back(std::to_string(s.summary.max_depth_hits) + " at the maximum tree depth");
  if (v.interrupted) v.problems.push_back("interrupted");
  return v;
}

std::string diagnostics_table(const Cohort& c) {
  std::vector<Verdict> verdicts;
  for (const auto& s : c.subjects) verdicts.push_back(judge_fit(s, c.joint));
  // Subjects that need attention first, the worst R-hat first; the others in the fit's order.
  std::vector<std::size_t> order(c.subjects.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const bool pa = !verdicts[a].problems.empty(), pb = !verdicts[b].problems.empty();
    if (pa != pb) return pa;
    if (pa) return verdicts[a].problems.size() != verdicts[b].problems.size() ? verdicts[a].problems.size() > verdicts[b].problems.size()
                                                                               : verdicts[a].worst_rhat > verdicts[b].worst_rhat;
    return false;
  });
  std::size_t attention = 0;
  for (const auto& v : verdicts) attention += !v.problems.empty();
  std::string o;
  if (c.joint) {
    const Summary& s = c.joint_summary;
    o += "<p>One joint posterior of the cohort: " + std::to_string(s.divergences) + " divergences in " + std::to_string(s.draws) +
         " draws, " + std::to_string(s.max_depth_hits) + " transitions at the maximum tree depth; R-hat and ESS below are each "
         "subject's own parameters.</p>\n";
  }
  o += attention == 0 ? "<p class=\"ok\">Every fit passes: R-hat below 1.01, bulk and tail ESS at least 100 per chain" +
                            std::string(c.joint ? "" : ", no divergences, E-BFMI at least 0.3, no tree-depth saturation") + ".</p>\n"
                      : "<p class=\"bad\">" + std::to_string(attention) + " of " + std::to_string(c.subjects.size()) +
                            " subjects need attention (listed first).</p>\n";
  o += "<table class=\"num\">\n<tr><th>subject</th><th>worst R-hat</th><th>parameter</th><th>least ESS (bulk or tail)</th>"
       "<th>parameter</th>" + std::string(c.joint ? "" : "<th>divergences</th><th>least E-BFMI</th>") + "<th>verdict</th></tr>\n";
  for (std::size_t k : order) {
    const auto& s = c.subjects[k];
    const auto& v = verdicts[k];
    const double ess_min = 100.0 * double(s.summary.chains);
    auto cls = [](bool bad) { return bad ? std::string(" class=\"bad\"") : std::string(); };
    o += "<tr><th>" + link(s) + "</th><td" + cls(!(v.worst_rhat < 1.01)) + ">" + f3(v.worst_rhat) + "</td><td>" + escape(v.rhat_param) +
         "</td><td" + cls(!(v.least_ess >= ess_min)) + ">" + whole(v.least_ess) + "</td><td>" + escape(v.ess_param) + "</td>";
    if (!c.joint)
      o += "<td" + cls(s.summary.divergences > 0) + ">" + std::to_string(s.summary.divergences) + "</td><td" + cls(v.min_ebfmi < 0.3) + ">" +
           f2(v.min_ebfmi) + "</td>";
    std::string verdict;
    for (const auto& p : v.problems) verdict += (verdict.empty() ? "" : "; ") + p;
    o += "<td" + cls(!v.problems.empty()) + ">" + escape(verdict.empty() ? "ok" : verdict) + "</td></tr>\n";
  }
  return o + "</table>\n";
}

// ---- Posteriors --------------------------------------------------------------------------------

std::string posterior_table(const Cohort& c, const std::vector<std::string>& columns) {
  std::string o = "<table class=\"num\">\n<tr><th>subject</th>";
  for (const auto& col : columns) o += "<th>" + escape(column_label(col, c.conditions)) + "</th>";
  o += "</tr>\n";
  for (const auto& s : c.subjects) {
    o += "<tr><th>" + link(s) + "</th>";
    for (const auto& col : columns) {
      const auto* p = find(s.summary, col);
      o += p ? "<td>" + g3(p->q50) + " <span class=\"ci\">[" + g3(p->q5) + ", " + g3(p->q95) + "]</span></td>" : "<td></td>";
    }
    o += "</tr>\n";
  }
  return o + "</table>\n";
}

/// Every subject's 90% interval and median of one parameter, its conditions side by side.
std::string forest_plot(const Cohort& c, const std::string& base, const std::vector<std::string>& columns,
                        const std::string& label = "") {
  const std::size_t J = c.subjects.size(), C = columns.size();
  Plot p(460, 78 + std::max(60.0, 18 * double(J) * std::max<double>(1.0, 0.6 * double(C))));
  p.title(base + (label.empty() ? " by subject" : " by condition") + " (median and 90% interval)").xlabel(base).ticks(true, false).margins(96, 14, 30, 42);
  if (C > 1) p.legend(Plot::Legend::outside);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : c.subjects)
    for (const auto& col : columns)
      if (const auto* q = find(s.summary, col)) lo = std::min(lo, q->q5), hi = std::max(hi, q->q95);
  if (!(hi > lo)) lo = lo - 1, hi = hi + 1;
  const double pad = 0.05 * (hi - lo);
  p.xrange(lo - pad, hi + pad).yrange(-0.7, double(J) - 0.3);
  for (std::size_t k = 0; k < C; ++k) {
    std::vector<double> y, q5, q50, q95;
    for (std::size_t j = 0; j < J; ++j) {
      const auto* q = find(c.subjects[j].summary, columns[k]);
      if (!q) continue;
      // Subject 1 at the top; conditions side by side within a subject's row.
      const double off = C > 1 ? 0.6 * (double(k) / double(C - 1) - 0.5) : 0.0;
      y.push_back(double(J - 1 - j) - off), q5.push_back(q->q5), q50.push_back(q->q50), q95.push_back(q->q95);
    }
    Style bar;
    bar.colour = colour(k);
    bar.width = 1.6;
    p.errorbars(y, q5, q95, bar, true);
    Style pt;
    pt.colour = colour(k);
    pt.radius = 3;
    p.points(q50, y, pt, C > 1 ? column_label(columns[k], c.conditions) : "");
  }
  for (std::size_t j = 0; j < J; ++j)
    p.text(lo - pad - 0.02 * (hi - lo + 2 * pad), double(J - 1 - j), label.empty() ? c.subjects[j].fit->subject : label, "end");
  // The population median: one for the parameter, or (a blocked cohort's per-condition
  // parameter, NAME.c) one per condition in its colour.
  Style pop;
  pop.dash = "4 3";
  pop.width = 1;
  if (const auto it = c.population.find(base); it != c.population.end()) {
    pop.colour = "#555";
    p.vline(it->second, pop, "population median");
    if (C == 1) p.legend(Plot::Legend::outside);
  } else if (C > 1) {
    for (std::size_t k = 0; k < C; ++k)
      if (const auto pk = c.population.find(columns[k]); pk != c.population.end()) {
        pop.colour = colour(k);
        p.vline(pk->second, pop, "population median, " + column_label(columns[k], c.conditions));
      }
  }
  return p.render("cohort-forest-" + base, "forest", false);
}

// ---- Predictive check and comparison ------------------------------------------------------------

std::string check_table(const Cohort& c) {
  if (c.check.empty()) return "<p>No predictive check: " + escape(c.check_note.empty() ? "none given" : c.check_note) + ".</p>\n";
  std::string o = "<p>" + escape("Each subject's statistics (mean and sd of log r per stimulus bin and condition, the slope of " +
                                  bactor::cli::slope_words(c.check) + " per condition; of r itself under gaussian perception or motor "
                                  "noise) against the predictive 90% intervals, " + c.check_note + ".") + "</p>\n";
  o += "<table class=\"num\">\n<tr><th>subject</th><th>outside</th><th>of</th><th>share</th><th>verdict</th></tr>\n";
  std::size_t outside = 0, total = 0;
  for (const auto& s : c.subjects) {
    std::vector<CheckRow> mine;
    for (const auto& r : c.check)
      if (r.subject == s.fit->subject) mine.push_back(r);
    if (mine.empty()) {
      o += "<tr><th>" + link(s) + "</th><td></td><td></td><td></td><td>no check</td></tr>\n";
      continue;
    }
    const CheckVerdict v = judge(mine);
    outside += v.outside, total += v.total;
    std::string verdict;
    for (const auto& w : v.warnings) verdict += (verdict.empty() ? "" : " ") + w;
    o += "<tr><th>" + link(s) + "</th><td" + (v.warnings.empty() ? "" : " class=\"bad\"") + ">" + std::to_string(v.outside) + "</td><td>" +
         std::to_string(v.total) + "</td><td>" + f2(v.total ? double(v.outside) / double(v.total) : 0.0) + "</td><td class=\"text\">" +
         escape(verdict.empty() ? "no misfit found" : verdict) + "</td></tr>\n";
  }
  o += "</table>\n<p class=\"small\">" + std::to_string(outside) + " of " + std::to_string(total) +
       " statistics outside their 90% intervals in all (about 10% or fewer when the actor fits).</p>\n";
  return o;
}

std::string compare_table(const Cohort& c) {
  const auto& names = c.compare.at(0).names;
  std::string o = "<table class=\"num\">\n<tr><th>subject</th>";
  for (const auto& n : names) o += "<th>elpd_loo " + escape(n) + "</th>";
  o += "<th>best</th><th>elpd_diff of the next (dse)</th>";
  for (const auto& n : names) o += "<th>weight " + escape(n) + "</th>";
  o += "<th>Pareto k warning</th></tr>\n";
  for (const auto& t : c.compare) {
    const Subject* s = nullptr;
    for (const auto& x : c.subjects)
      if (x.fit->subject == t.subject) s = &x;
    o += "<tr><th>" + (s ? link(*s) : escape(t.subject == "all" ? "all (pooled)" : t.subject)) + "</th>";
    auto row_of = [&](const std::string& n) -> const CompareRow* {
      for (const auto& r : t.rows)
        if (r.name == n) return &r;
      return nullptr;
    };
    for (const auto& n : names) {
      const auto* r = row_of(n);
      o += r ? "<td>" + f2(r->elpd_loo) + " <span class=\"ci\">(" + f2(r->se) + ")</span></td>" : "<td></td>";
    }
    std::string warn;
    for (const auto& r : t.rows)
      if (r.warning) warn += (warn.empty() ? "" : ", ") + r.name;
    o += "<td>" + escape(t.rows.at(0).name) + "</td><td>" + (t.rows.size() > 1 ? f2(t.rows[1].elpd_diff) + " (" + f2(t.rows[1].dse) + ")" : "") +
         "</td>";
    for (const auto& n : names) {
      const auto* r = row_of(n);
      o += "<td>" + (r ? g3(r->weight) : std::string()) + "</td>";
    }
    o += "<td" + std::string(warn.empty() ? ">" : " class=\"bad\">") + escape(warn) + "</td></tr>\n";
  }
  return o + "</table>\n<p class=\"small\">elpd_loo (se) per subject; the pooled row sums every trial's pointwise values. A "
             "difference of more than about 4 and several dse is a clear preference. Weights: stacking.</p>\n";
}

} // namespace

std::vector<std::pair<std::string, std::vector<std::string>>> parameter_groups(const std::vector<std::string>& columns) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const auto& col : columns) {
    std::string base = col;
    const auto dot = col.rfind('.');
    if (dot != std::string::npos && dot + 1 < col.size() &&
        std::all_of(col.begin() + long(dot) + 1, col.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)) != 0; }))
      base = col.substr(0, dot);
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& g) { return g.first == base; });
    if (it == out.end()) out.push_back({base, {col}});
    else it->second.push_back(col);
  }
  return out;
}

std::string cohort_page(const Cohort& c) {
  if (c.subjects.empty()) return "";
  std::vector<std::string> columns;
  for (const auto& p : c.subjects.front().summary.params) columns.push_back(p.name);
  std::string o;
  o += "<h2 id=\"cohort-posteriors\">Cohort: every subject's posterior</h2>\n<p>" +
       escape(std::to_string(c.subjects.size()) + " subjects. Posterior median and 90% interval [5%, 95%] of each parameter" +
              (c.conditions.size() > 1 ? " and condition" : "") + "; each subject's name links to its own page.") + "</p>\n";
  o += posterior_table(c, columns);
  for (const auto& [base, cols] : parameter_groups(columns)) o += "<div class=\"fig\">" + forest_plot(c, base, cols) + "</div>\n";
  o += "<h2 id=\"cohort-diagnostics\">Cohort: diagnostics of all fits</h2>\n" + diagnostics_table(c);
  o += "<h2 id=\"cohort-check\">Cohort: posterior-predictive check</h2>\n" + check_table(c);
  if (!c.compare.empty()) o += "<h2 id=\"cohort-compare\">Cohort: model comparison (PSIS-LOO)</h2>\n" + compare_table(c);
  return o;
}

std::string condition_plots(const Subject& fit, const std::map<std::string, std::string>& conditions, const std::string& name) {
  Cohort one;
  one.subjects.push_back(fit);
  one.conditions = conditions;
  std::vector<std::string> columns;
  for (const auto& p : fit.summary.params) columns.push_back(p.name);
  std::string o;
  for (const auto& [base, cols] : parameter_groups(columns))
    if (cols.size() > 1) o += "<div class=\"fig\">" + forest_plot(one, base, cols, name) + "</div>\n";
  return o;
}

std::string shrinkage_plot(const std::string& param, const std::vector<std::string>& ids, const std::vector<double>& pooled_q5,
                           const std::vector<double>& pooled_q50, const std::vector<double>& pooled_q95,
                           const std::vector<double>& separate_q50, double population_median, const std::string& id) {
  Plot p(460, 360);
  p.title("shrinkage: " + param).xlabel(param + ", subject by subject (median)").ylabel(param + ", hierarchical (median, 90%)");
  p.legend(Plot::Legend::top_left);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (std::size_t j = 0; j < ids.size(); ++j)
    lo = std::min({lo, separate_q50[j], pooled_q5[j]}), hi = std::max({hi, separate_q50[j], pooled_q95[j]});
  Style idl;
  idl.colour = "#999";
  idl.dash = "3 3";
  idl.width = 1;
  p.line({lo, hi}, {lo, hi}, idl, "no pooling (y = x)");
  if (std::isfinite(population_median)) {
    Style pop;
    pop.colour = colour(1);
    pop.dash = "5 3";
    pop.width = 1.2;
    p.hline(population_median, pop, "population median");
  }
  Style bar;
  bar.colour = colour(0);
  bar.width = 1;
  bar.opacity = 0.6;
  p.errorbars(separate_q50, pooled_q5, pooled_q95, bar);
  Style pt;
  pt.colour = colour(0);
  pt.radius = 3;
  p.points(separate_q50, pooled_q50, pt, "subject");
  return p.render(id, "shrinkage", false);
}

} // namespace bactor::cli::report
