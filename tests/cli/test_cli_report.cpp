// SPDX-License-Identifier: MIT
// bactor report end to end: the HTML is well-formed (checked as XML), self-contained, and holds
// one SVG per expected plot with the expected number of points; a compare table alone; subjects;
// the SVG writer's ticks and escaping.
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <bactor/samplers/cmdstan_csv.hpp>
#include "cli/svg.hpp"

namespace fs = std::filesystem;

namespace {

using ::bactor::testing::Result;
using ::bactor::testing::run_bactor;

fs::path scratch(const std::string& name) { return ::bactor::testing::scratch_path("bactor_cli_report_", name); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A strict little XML well-formedness check (enough for XHTML with inline SVG): every tag
/// closed in order, attributes quoted, no stray '<' or '&' in text. Returns "" or the problem.
std::string xml_problem(const std::string& doc) {
  std::vector<std::string> stack;
  std::size_t i = 0, roots = 0;
  auto entity_ok = [&](std::size_t at) {
    const auto semi = doc.find(';', at);
    if (semi == std::string::npos || semi - at > 8) return false;
    const std::string e = doc.substr(at + 1, semi - at - 1);
    return e == "amp" || e == "lt" || e == "gt" || e == "quot" || e == "apos" || (e.size() > 1 && e[0] == '#');
  };
  while (i < doc.size()) {
    const char c = doc[i];
    if (c == '&') {
      if (!entity_ok(i)) return "bad entity at " + std::to_string(i);
      ++i;
      continue;
    }
    if (c != '<') {
      ++i;
      continue;
    }
    if (doc.compare(i, 9, "<!DOCTYPE") == 0) {
      i = doc.find('>', i) + 1;
      continue;
    }
    if (doc.compare(i, 4, "<!--") == 0) {
      i = doc.find("-->", i) + 3;
      continue;
    }
    const bool closing = doc[i + 1] == '/';
    std::size_t j = i + (closing ? 2 : 1);
    std::string name;
    while (j < doc.size() && (std::isalnum(static_cast<unsigned char>(doc[j])) || doc[j] == '-' || doc[j] == ':')) name += doc[j++];
    if (name.empty()) return "'<' not starting a tag at " + std::to_string(i);
    if (closing) {
      if (stack.empty() || stack.back() != name)
        return "</" + name + "> closes <" + (stack.empty() ? std::string("nothing") : stack.back()) + "> at " + std::to_string(i);
      stack.pop_back();
      i = doc.find('>', j) + 1;
      continue;
    }
    // Attributes: name="value" (value without '<').
    bool self_closing = false;
    for (;;) {
      while (j < doc.size() && std::isspace(static_cast<unsigned char>(doc[j]))) ++j;
      if (j >= doc.size()) return "unterminated tag <" + name + ">";
      if (doc[j] == '>') {
        ++j;
        break;
      }
      if (doc.compare(j, 2, "/>") == 0) {
        self_closing = true;
        j += 2;
        break;
      }
      std::string attr;
      while (j < doc.size() && doc[j] != '=' && !std::isspace(static_cast<unsigned char>(doc[j])) && doc[j] != '>') attr += doc[j++];
      if (attr.empty() || j >= doc.size() || doc[j] != '=' || (doc[j + 1] != '"' && doc[j + 1] != '\''))
        return "attribute '" + attr + "' of <" + name + "> without a quoted value at " + std::to_string(j);
      const char q = doc[j + 1];
      const auto end = doc.find(q, j + 2);
      if (end == std::string::npos) return "unterminated attribute value";
      if (doc.substr(j + 2, end - j - 2).find('<') != std::string::npos) return "'<' in an attribute value";
      j = end + 1;
    }
    if (stack.empty()) ++roots;
    if (!self_closing) stack.push_back(name);
    // <style> content is text without '<'.
    if (name == "style" && !self_closing) {
      const auto end = doc.find("</style>", j);
      if (end == std::string::npos) return "unterminated <style>";
      if (doc.substr(j, end - j).find('<') != std::string::npos) return "'<' inside <style>";
      j = end;
    }
    i = j;
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + ">";
  if (roots != 1) return std::to_string(roots) + " root elements";
  return "";
}

struct SvgInfo {
  std::string id, kind;
  std::size_t circles = 0;
  std::vector<std::size_t> polylines;  // vertices of each polyline
};

std::string attr(const std::string& tag, const std::string& name) {
  const auto p = tag.find(" " + name + "=\"");
  if (p == std::string::npos) return "";
  const auto s = p + name.size() + 3;
  return tag.substr(s, tag.find('"', s) - s);
}

std::vector<SvgInfo> svgs(const std::string& html) {
  std::vector<SvgInfo> out;
  for (std::size_t p = 0; (p = html.find("<svg ", p)) != std::string::npos;) {
    const auto end = html.find("</svg>", p);
    REQUIRE(end != std::string::npos);
    const std::string s = html.substr(p, end - p);
    SvgInfo info;
    const std::string open = s.substr(0, s.find('>'));
    info.id = attr(open, "id");
    info.kind = attr(open, "data-kind");
    // Points: <circle> elements, or the zero-length strokes ("M x yh0") of a points path.
    for (std::size_t q = 0; (q = s.find("<circle ", q)) != std::string::npos; ++q) ++info.circles;
    for (std::size_t q = 0; (q = s.find("<path class=\"pts\"", q)) != std::string::npos; ++q) {
      const std::string d = attr(s.substr(q, s.find("/>", q) - q), "d");
      for (std::size_t k = 0; (k = d.find("h0", k)) != std::string::npos; ++k) ++info.circles;
    }
    for (std::size_t q = 0; (q = s.find("<polyline ", q)) != std::string::npos; ++q) {
      const std::string tag = s.substr(q, s.find("/>", q) - q);
      const std::string pts = attr(tag, "points");
      info.polylines.push_back(pts.empty() ? 0 : std::size_t(std::count(pts.begin(), pts.end(), ' ') + 1));
    }
    out.push_back(info);
    p = end;
  }
  return out;
}

std::vector<SvgInfo> of_kind(const std::vector<SvgInfo>& all, const std::string& kind) {
  std::vector<SvgInfo> v;
  for (const auto& s : all)
    if (s.kind == kind) v.push_back(s);
  return v;
}

std::size_t divergent_draws(const fs::path& dir) {
  std::size_t n = 0;
  for (int c = 1; fs::exists(dir / ("chain-" + std::to_string(c) + ".csv")); ++c) {
    const auto ch = bactor::read_cmdstan_csv((dir / ("chain-" + std::to_string(c) + ".csv")).string());
    const auto col = std::size_t(std::find(ch.columns.begin(), ch.columns.end(), "divergent__") - ch.columns.begin());
    for (std::size_t r = std::size_t(ch.warmup_draws_saved); r < ch.rows(); ++r) n += ch.draws[r * ch.columns.size() + col] != 0;
  }
  return n;
}

} // namespace

TEST_CASE("cli report: well-formed self-contained HTML with one SVG per plot and the right points") {
  const fs::path dir = scratch("fit");
  fs::create_directories(dir);
  const fs::path data = dir / "two.csv";
  REQUIRE(run_bactor("simulate --cost QuadraticCostQuadraticEffort --set mu_0=1.5,sigma_0=0.2,sigma_r=0.1,beta=0.7 "
                     "--conditions sigma=0.1,0.3 --trials 50 --seed 2 --out " + data.string()).code == 0);
  for (const char* cost : {"QuadraticCost", "QuadraticCostQuadraticEffort"})
    REQUIRE(run_bactor("infer --data " + data.string() + " --cost " + cost + " --closed-form --chains 2 --warmup 300 --samples 200 "
                       "--seed 3 --out " + (dir / cost).string()).code == 0);
  const fs::path quad = dir / "QuadraticCost", effort = dir / "QuadraticCostQuadraticEffort";
  REQUIRE(run_bactor("check " + quad.string() + " --out " + (dir / "check.csv").string()).code == 0);
  const fs::path html_path = dir / "report.html";
  Result r = run_bactor("report " + quad.string() + " --compare " + effort.string() + " --names quad,effort --check " +
                        (dir / "check.csv").string() + " --out " + html_path.string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  const std::string html = slurp(html_path);
  CHECK(xml_problem(html) == "");
  // Self-contained: no scripts, no external resources.
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find(" src=") == std::string::npos);
  CHECK(html.find("href=\"http") == std::string::npos);
  CHECK(html.find("@import") == std::string::npos);

  const auto all = svgs(html);
  const std::vector<std::string> params = {"mu_0", "sigma_0", "sigma_r", "sigma.1", "sigma.2"};
  // Trace: one per parameter, one polyline per chain with every draw (200 < 500 shown).
  const auto trace = of_kind(all, "trace");
  REQUIRE(trace.size() == params.size());
  for (std::size_t k = 0; k < params.size(); ++k) {
    CHECK(trace[k].id == "trace-" + params[k]);
    CHECK(trace[k].polylines == std::vector<std::size_t>{200, 200});
  }
  // Rank: one per parameter, a 20-bin step line per chain (2 vertices per bin).
  const auto rank = of_kind(all, "rank");
  REQUIRE(rank.size() == params.size());
  for (const auto& s : rank) CHECK(s.polylines == std::vector<std::size_t>{40, 40});
  // Densities: posterior and prior curves on 160 grid points.
  const auto dens = of_kind(all, "density");
  REQUIRE(dens.size() == params.size());
  for (const auto& s : dens) CHECK(s.polylines == std::vector<std::size_t>{160, 160});
  // Pairs: 10 scatter panels of the 400 draws, plus the divergent draws in red.
  const auto pairs = of_kind(all, "pairs");
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0].circles == 10 * (400 + divergent_draws(quad)));
  // Predictive check: per condition a mean and an sd plot, one point per stimulus bin.
  std::map<std::string, std::size_t> bins;
  {
    std::ifstream in(dir / "check.csv");
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line))
      if (line.find(",mean_log_r,") != std::string::npos) ++bins[line.substr(1, line.find(',', 1) - 1)];
  }
  REQUIRE(bins.size() == 2);
  const auto cmean = of_kind(all, "check-mean"), csd = of_kind(all, "check-sd");
  REQUIRE(cmean.size() == 2);
  REQUIRE(csd.size() == 2);
  CHECK(cmean[0].id == "check-1-mean");
  CHECK(cmean[0].circles == bins["1"]);
  CHECK(cmean[1].circles == bins["2"]);
  CHECK(csd[0].circles == bins["1"]);
  // Comparison: elpd plot (one point per model, one difference point per non-best model) and a
  // Pareto k plot per model with one point per trial.
  const auto elpd = of_kind(all, "elpd");
  REQUIRE(elpd.size() == 1);
  CHECK(elpd[0].circles == 3);
  const auto khat = of_kind(all, "khat");
  REQUIRE(khat.size() == 2);
  for (const auto& s : khat) CHECK(s.circles == 100);
  // The parameter that varies by condition (sigma) with its conditions side by side.
  const auto by_cond = of_kind(all, "forest");
  REQUIRE(by_cond.size() == 1);
  CHECK(by_cond[0].id == "cohort-forest-sigma");
  CHECK(by_cond[0].circles == 2);
  CHECK(all.size() == 3 * params.size() + 1 + 4 + 1 + 2 + 1);
  // Tables and words.
  CHECK(html.find("Diagnostics and posterior summary") != std::string::npos);
  CHECK(html.find("<th>sigma.2</th>") != std::string::npos);
  CHECK(html.find("<th>elpd_loo</th>") != std::string::npos);
  CHECK(html.find("predicts worse than") != std::string::npos);
  // Labelled axes: every trace plot names its axes.
  CHECK(html.find("iteration (after warm-up)") != std::string::npos);
  CHECK(html.find("stimulus s (bin geometric mean, log scale)") != std::string::npos);

  // Without --check the report computes the check itself (data file found from the fit); --no-check leaves it out.
  Result r2 = run_bactor("report " + quad.string() + " --data " + data.string() + " --out " + (dir / "r2.html").string());
  INFO(r2.out);
  REQUIRE(r2.code == 0);
  const std::string h2 = slurp(dir / "r2.html");
  CHECK(xml_problem(h2) == "");
  CHECK(of_kind(svgs(h2), "check-mean").size() == 2);
  CHECK(of_kind(svgs(h2), "elpd").empty());
  Result r3 = run_bactor("report " + quad.string() + " --no-check --out " + (dir / "r3.html").string());
  REQUIRE(r3.code == 0);
  CHECK(of_kind(svgs(slurp(dir / "r3.html")), "check-mean").empty());

  // A compare table alone.
  REQUIRE(run_bactor("compare " + quad.string() + " " + effort.string() + " --names quad,effort --csv " + (dir / "cmp.csv").string()).code == 0);
  Result r4 = run_bactor("report " + (dir / "cmp.csv").string() + " --out " + (dir / "r4.html").string());
  INFO(r4.out);
  REQUIRE(r4.code == 0);
  const std::string h4 = slurp(dir / "r4.html");
  CHECK(xml_problem(h4) == "");
  const auto s4 = svgs(h4);
  REQUIRE(s4.size() == 1);
  CHECK(s4[0].kind == "elpd");
  CHECK(s4[0].circles == 3);
  // Bad input: not a compare table, missing fit.
  CHECK(run_bactor("report " + data.string() + " --out " + (dir / "bad.html").string()).code == 2);
  CHECK(!fs::exists(dir / "bad.html"));
  CHECK(run_bactor("report " + (dir / "nosuch").string() + " --out " + (dir / "bad.html").string()).code == 2);
  // Plot sizes out of range (0, negative, huge) are refused, naming the option, before any work.
  for (const std::string opt : {"--trace-points 0", "--trace-points 1", "--pairs-points 0", "--pairs-points -1",
                                "--trace-points 99999999999"}) {
    Result r = run_bactor("report " + quad.string() + " --out " + (dir / "bad.html").string() + " " + opt);
    CAPTURE(opt);
    CHECK(r.code == 2);
    CHECK(r.out.find(opt.substr(0, opt.find(' '))) != std::string::npos);
    CHECK(!fs::exists(dir / "bad.html"));
  }
}

TEST_CASE("cli report: subjects get their own sections") {
  const fs::path dir = scratch("subjects");
  fs::create_directories(dir);
  std::string merged = "subject,s,r\n";
  for (int subj : {3, 7}) {
    const fs::path p = dir / (std::to_string(subj) + "_data.csv");
    REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --trials 30 --seed " +
                       std::to_string(subj) + " --out " + p.string()).code == 0);
    std::ifstream in(p);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) merged += std::to_string(subj) + "," + line + "\n";
  }
  std::ofstream(dir / "subjects.csv") << merged;
  REQUIRE(run_bactor("infer --data " + (dir / "subjects.csv").string() + " --cost QuadraticCost --closed-form --fix sigma=0.2 "
                     "--chains 2 --warmup 200 --samples 150 --out " + (dir / "fit").string()).code == 0);
  Result r = run_bactor("report " + (dir / "fit").string() + " --data " + (dir / "subjects.csv").string() + " --out " +
                        (dir / "r.html").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  const std::string html = slurp(dir / "r.html");
  CHECK(xml_problem(html) == "");
  const auto all = svgs(html);
  CHECK(of_kind(all, "trace").size() == 6);  // 2 subjects x 3 parameters
  CHECK(of_kind(all, "pairs").size() == 2);
  CHECK(of_kind(all, "check-mean").size() == 2);
  CHECK(html.find("Diagnostics and posterior summary (subject 7)") != std::string::npos);
  CHECK(html.find("id=\"s7-trace-mu_0\"") != std::string::npos);
}

TEST_CASE("svg writer: ticks, escaping, well-formed output") {
  using namespace bactor::cli::svg;
  const Ticks t = nice_ticks(0.13, 0.18, 5);
  REQUIRE(!t.at.empty());
  CHECK(t.labels.front() == "0.13");
  CHECK(t.labels.back() == "0.18");
  const Ticks t2 = nice_ticks(0, 20000, 4);
  CHECK(t2.labels == std::vector<std::string>{"0", "5000", "10000", "15000", "20000"});
  const Ticks l = log_ticks(0.3, 5);
  CHECK(l.labels == std::vector<std::string>{"0.5", "1", "2", "5"});
  CHECK(log_ticks(0.49, 5.2).labels == std::vector<std::string>{"0.5", "1", "2", "3", "5"});
  CHECK(log_ticks(0.01, 50).labels == std::vector<std::string>{"0.01", "0.1", "1", "10"});
  CHECK(escape("a<b & \"c\"") == "a&lt;b &amp; &quot;c&quot;");
  // The checker itself rejects what it should.
  CHECK(xml_problem("<a><b></a>") != "");
  CHECK(xml_problem("<a x=1/>") != "");
  CHECK(xml_problem("<a>&nope</a>") != "");
  CHECK(xml_problem("<a>1 < 2</a>") != "");
  CHECK(xml_problem("<a/><b/>") != "");
  CHECK(xml_problem("<!DOCTYPE html>\n<a x=\"1\"><b/>&amp;</a>") == "");
  Plot p;
  p.title("x < y & z").xlabel("s").ylabel("r");
  p.points({1, 2, 3}, {1, 4, 9}, Style{}, "points <3>");
  p.line({1, 2, 3}, {1, 2, std::nan("")}, Style{}, "line");
  const std::string s = p.render("t\"1", "test");
  CHECK(xml_problem(s) == "");
  CHECK(svgs(s).at(0).circles == 3);
  CHECK(svgs(s).at(0).polylines == std::vector<std::size_t>{2});  // the NaN breaks the line
  CHECK(s.find("x &lt; y &amp; z") != std::string::npos);
  Grid g(2, 2, 100, 100);
  g.at(1, 0).points({1}, {1}, Style{});
  g.at(0, 0).points({1, 2}, {1, 2}, Style{});
  CHECK(xml_problem(g.render("g", "grid", "title")) == "");
  CHECK(svgs(g.render("g")).at(0).circles == 3);
}

namespace {

/// "" or the first remote reference: any http(s):// other than an xmlns namespace name, any
/// src attribute, any href that does not point into the page.
std::string remote_problem(const std::string& html) {
  for (const char* scheme : {"http://", "https://"})
    for (std::size_t p = 0; (p = html.find(scheme, p)) != std::string::npos; ++p)
      if (p < 7 || html.compare(p - 7, 7, "xmlns=\"") != 0) return "remote reference at " + std::to_string(p);
  if (html.find(" src=") != std::string::npos) return "a src attribute";
  for (std::size_t p = 0; (p = html.find(" href=\"", p)) != std::string::npos; ++p)
    if (html[p + 7] != '#') return "an href leaving the page at " + std::to_string(p);
  if (html.find("<script") != std::string::npos) return "a script";
  if (html.find("@import") != std::string::npos || html.find("url(") != std::string::npos) return "a CSS import or url()";
  return "";
}

} // namespace

TEST_CASE("cli report: a blocked 13-subject cohort opens with the cohort page and stays under 5 MB") {
  const fs::path dir = scratch("cohort");
  fs::create_directories(dir);
  const fs::path data = dir / "cohort.csv";
  // The shape of a blocked study: 13 subjects, three ranges with a prior each (few draws: the
  // report thins trace and pairs plots to fixed numbers of points, so its size does not grow
  // with the draws beyond these).
  Result sim = run_bactor("simulate --cost QuadraticCost --set sigma=0.15,sigma_r=0.1 --conditions \"mu_0=0.6,2,8;sigma_0=0.3,0.25,0.2\" "
                          "--subjects 13 --spread sigma=0.2,sigma_r=0.2 --trials 40 --seed 5 --out " + data.string());
  INFO(sim.out);
  REQUIRE(sim.code == 0);
  CHECK(sim.out.find("trials of 13 subjects in 3 conditions") != std::string::npos);
  const auto rows = ::bactor::testing::read_csv(data);
  REQUIRE(rows.size() == 13 * 3 * 40);
  CHECK(rows.front().count("cond") == 1);
  CHECK(rows.back().at("subject") == "13");
  // A parameter that varies by condition is the same for every subject: no --spread of it.
  const Result spread = run_bactor("simulate --cost QuadraticCost --set sigma=0.15,sigma_r=0.1 --conditions \"mu_0=0.6,2,8;sigma_0=0.3,0.25,0.2\" "
                                   "--subjects 3 --spread mu_0=0.2 --out " + (dir / "no.csv").string());
  CHECK(spread.code == 2);
  CHECK(spread.out.find("--spread: 'mu_0' varies by condition") != std::string::npos);
  CHECK(!fs::exists(dir / "no.csv"));
  const std::string run = " --cost QuadraticCost --closed-form --chains 4 --warmup 150 --samples 100 --seed 2 --out ";
  REQUIRE(run_bactor("infer --data " + data.string() + " --per-condition mu_0,sigma_0" + run + (dir / "blocked").string()).code == 0);
  REQUIRE(run_bactor("infer --data " + data.string() + " --per-condition none" + run + (dir / "shared").string()).code == 0);
  const fs::path html_path = dir / "report.html";
  Result r = run_bactor("report " + (dir / "blocked").string() + " --compare " + (dir / "shared").string() +
                        " --names blocked,shared --out " + html_path.string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  const std::string html = slurp(html_path);
  MESSAGE("13 x 3 cohort report: " << html.size() / 1024 << " kB");
  CHECK(html.size() <= 5u * 1024 * 1024);
  CHECK(xml_problem(html) == "");
  CHECK(remote_problem(html) == "");
  // The cohort page comes first: posterior table, forest plots, diagnostics, check, comparison.
  const auto cohort = html.find("id=\"cohort-posteriors\"");
  REQUIRE(cohort != std::string::npos);
  CHECK(cohort < html.find("id=\"s1\""));
  CHECK(html.find("id=\"cohort-diagnostics\"") < html.find("id=\"s1\""));
  CHECK(html.find("id=\"cohort-check\"") < html.find("id=\"s1\""));
  CHECK(html.find("id=\"cohort-compare\"") < html.find("id=\"s1\""));
  const auto all = svgs(html);
  const auto forest = of_kind(all, "forest");
  REQUIRE(forest.size() == 4);  // mu_0, sigma_0 (three conditions each), sigma_r, sigma
  CHECK(forest[0].id == "cohort-forest-mu_0");
  CHECK(forest[0].circles == 13 * 3);
  // One page per subject, linked from the cohort tables, not from the navigation.
  for (int j = 1; j <= 13; ++j) {
    CHECK(html.find("id=\"s" + std::to_string(j) + "\"") != std::string::npos);
    CHECK(html.find("href=\"#s" + std::to_string(j) + "\"") != std::string::npos);
  }
  const std::string nav = html.substr(html.find("<nav>"), html.find("</nav>") - html.find("<nav>"));
  CHECK(nav.find("#s1-") == std::string::npos);
  CHECK(of_kind(all, "trace").size() == 13 * 8);
  for (const auto& t : of_kind(all, "trace")) CHECK(t.polylines == std::vector<std::size_t>{100, 100, 100, 100});
  CHECK(of_kind(all, "pairs").at(0).circles >= 28 * 150);
  // The comparison per subject and pooled.
  CHECK(html.find("all (pooled)") != std::string::npos);
  CHECK(html.find("<th>weight blocked</th>") != std::string::npos);
}

TEST_CASE("cli report: strings from the data and the arguments are escaped") {
  const fs::path dir = scratch("escape");
  fs::create_directories(dir);
  // Markup in the subject ids, a column name, the model names and the title.
  const std::string mark = "<b>&\"'";
  std::string csv = "subject,s,<b>&x\n";
  for (int subj = 0; subj < 2; ++subj) {
    const fs::path p = dir / ("part" + std::to_string(subj) + ".csv");
    REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --trials 30 --seed " +
                       std::to_string(subj + 1) + " --out " + p.string()).code == 0);
    std::ifstream in(p);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) csv += (subj == 0 ? mark : "plain") + "," + line + "\n";
  }
  std::ofstream(dir / "marked.csv") << csv;
  const std::string common = " --columns 'r=<b>&x' --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 2 --warmup 100 --samples 100 --out ";
  Result i1 = run_bactor("infer --data " + (dir / "marked.csv").string() + common + (dir / "a").string());
  INFO(i1.out);
  REQUIRE(i1.code == 0);
  REQUIRE(run_bactor("infer --data " + (dir / "marked.csv").string() + common + (dir / "b").string() + " --seed 9").code == 0);
  Result r = run_bactor("report " + (dir / "a").string() + " --compare " + (dir / "b").string() +
                        " --names '<i>a&\"',b --title \"<b>&\\\"'title\" --out " + (dir / "r.html").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  const std::string html = slurp(dir / "r.html");
  CHECK(xml_problem(html) == "");
  CHECK(remote_problem(html) == "");
  CHECK(html.find("<b>") == std::string::npos);
  CHECK(html.find("<i>") == std::string::npos);
  CHECK(html.find("&lt;b&gt;&amp;&quot;&#39;") != std::string::npos);       // the subject id
  CHECK(html.find("&lt;b&gt;&amp;x") != std::string::npos);                  // the column name
  CHECK(html.find("&lt;i&gt;a&amp;&quot;") != std::string::npos);            // a model name
  CHECK(html.find("<title>&lt;b&gt;&amp;&quot;&#39;title</title>") != std::string::npos);
}

TEST_CASE("cli report: a hierarchical fit with its population, subjects and shrinkage") {
  const fs::path dir = scratch("hier");
  fs::create_directories(dir);
  const fs::path data = dir / "cohort.csv";
  REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=3,sigma_0=0.35,sigma=0.15,sigma_r=0.12 --subjects 5 "
                     "--spread mu_0=0.2,sigma_r=0.3 --trials 60 --stimuli 0.3:16 --seed 4 --out " + data.string()).code == 0);
  REQUIRE(run_bactor("infer --data " + data.string() + " --cost QuadraticCost --closed-form --hierarchical --chains 2 --warmup 200 "
                     "--samples 150 --seed 1 --out " + (dir / "hier").string()).code == 0);
  REQUIRE(run_bactor("infer --data " + data.string() + " --cost QuadraticCost --closed-form --chains 2 --warmup 200 "
                     "--samples 150 --seed 1 --out " + (dir / "sep").string()).code == 0);
  Result r = run_bactor("report " + (dir / "hier").string() + " --separate " + (dir / "sep").string() + " --out " +
                        (dir / "r.html").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  const std::string html = slurp(dir / "r.html");
  CHECK(xml_problem(html) == "");
  CHECK(remote_problem(html) == "");
  CHECK(html.find("id=\"population\"") < html.find("id=\"cohort-posteriors\""));
  const auto all = svgs(html);
  // Population densities with their priors (two curves each), one forest plot per parameter
  // with the population median, a shrinkage plot per pooled parameter, a page per subject.
  bool pop_prior = false;
  for (const auto& s : of_kind(all, "density"))
    if (s.id == "population-density-mu_0.pop") pop_prior = s.polylines.size() == 2;
  CHECK(pop_prior);
  CHECK(of_kind(all, "forest").size() == 4);
  CHECK(html.find("population median") != std::string::npos);
  const auto shrink = of_kind(all, "shrinkage");
  REQUIRE(shrink.size() == 4);
  for (const auto& s : shrink) CHECK(s.circles == 5);
  for (int j = 1; j <= 5; ++j) CHECK(html.find("id=\"s" + std::to_string(j) + "-trace-mu_0\"") != std::string::npos);
  CHECK(of_kind(all, "check-mean").size() == 5);
  CHECK(html.find("interrupted") == std::string::npos);
}

TEST_CASE("cli report: --compare with a fit of other data warns, as bactor compare does") {
  // Issue #23: bactor compare warned that fits of two data files cannot be ranked by elpd; the
  // report's comparison ranked them (here a gaussian-motor fit against a log-normal one) silently.
  const fs::path dir = scratch("compare_other_data");
  fs::create_directories(dir);
  const std::string a = (dir / "a.csv").string(), b = (dir / "b.csv").string();
  REQUIRE(run_bactor("simulate --cost QuadraticCost --motor gaussian --set mu_0=1.5,sigma_0=0.2,sigma=0.2,sigma_a=0.2 "
                     "--trials 30 --seed 1 --out " + a).code == 0);
  REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.2,sigma=0.2,sigma_r=0.1 --trials 30 --seed 2 "
                     "--out " + b).code == 0);
  const std::string fit = " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 1 --warmup 100 --samples 100 --threads 1";
  REQUIRE(run_bactor("infer --data " + a + fit + " --motor gaussian --out " + (dir / "fa").string()).code == 0);
  REQUIRE(run_bactor("infer --data " + b + fit + " --out " + (dir / "fb").string()).code == 0);
  Result r = run_bactor("report " + (dir / "fa").string() + " --compare " + (dir / "fb").string() + " --no-check --out " +
                        (dir / "r.html").string());
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("WARNING: fb was fitted to " + b + ", fa to " + a + ": elpd compares models on the same data only") !=
        std::string::npos);
}
