// SPDX-License-Identifier: MIT
// bactor report: one self-contained HTML file (inline SVG, no scripts, no network) with a fit's
// settings, diagnostics in plain words, trace, rank, density (prior overlaid) and pairs plots,
// the posterior-predictive check per condition and, with --compare, the PSIS-LOO comparison.
#include "cli/command.hpp"
#include "cli/fit_dir.hpp"
#include "cli/out_dir.hpp"
#include "cli/options.hpp"
#include "cli/predictive.hpp"
#include "cli/report_cohort.hpp"
#include "cli/report_sections.hpp"
#include "cli/svg.hpp"

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
using bactor::cli::svg::escape;
using bactor::cli::report::CompareBlock;
using bactor::cli::report::Html;
using bactor::cli::report::Layout;
using bactor::cli::report::compare_section;
using bactor::cli::report::fit_sections;
using bactor::cli::report::population_section;
using bactor::cli::report::shrinkage_section;
using bactor::cli::report::write_html;

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

/// The data a fit was made from, or why it could not be read (an explicit --data or --columns
/// that fails is an error).
struct DataResult {
  bactor::Dataset data;
  bool found = false;
  std::string problem;
};
DataResult report_data(const Fit& fit, const std::string& data_path, const std::string& columns) {
  DataResult r;
  try {
    r.data = bactor::cli::fit_data(fit, data_path, columns);
    r.found = true;
  } catch (const std::invalid_argument& e) {
    if (!data_path.empty() || !columns.empty()) throw;
    r.problem = e.what();
  }
  return r;
}

/// A hierarchical fit's subjects as fits of their own columns (trial counts from the data when
/// it was found; the check needs them, the pages do not).
std::vector<Fit> subjects_of(const Fit& joint, const DataResult& data) {
  std::map<std::string, bactor::cli::SubjectTrials> trials;
  if (data.found)
    trials = bactor::cli::subject_trials(data.data);
  else
    for (const auto& [k, id] : bactor::cli::parse_string_assignments(bactor::cli::setting(joint, "subjects"), "subjects")) trials[id] = {};
  auto fits = bactor::cli::hierarchical_subject_fits(joint, trials);
  for (auto& f : fits)  // the subjects' chains are the joint fit's, complete or interrupted with it
    for (std::size_t c = 0; c < f.chains.size() && c < joint.chains.size(); ++c) f.chains[c].complete = joint.chains[c].complete;
  return fits;
}

/// The predictive check of every page's fit: from `check_path`, FIT/check.csv, or computed.
struct CheckResult {
  std::vector<bactor::cli::CheckRow> rows;
  std::string note;  // where the rows came from, or why there are none
};
CheckResult report_check(const std::string& input, std::string check_path, const std::vector<Fit>& pages, const DataResult& data,
                         const bactor::cli::CheckOptions& copt, bool explicit_data) {
  CheckResult c;
  if (check_path.empty() && fs::is_regular_file(fs::path(input) / "check.csv")) check_path = (fs::path(input) / "check.csv").string();
  if (!check_path.empty()) {
    c.rows = bactor::cli::read_check_csv(check_path);
    c.note = "from " + check_path;
    return c;
  }
  if (!data.found) {
    c.note = "not computed: " + data.problem;
    std::cerr << "report: predictive check left out: " << data.problem << "\n";
    return c;
  }
  try {
    if (pages.size() == 1 && pages[0].subject.empty()) {
      c.rows = bactor::cli::predictive_check(pages[0], data.data, copt);
    } else {
      const auto subjects = bactor::split_subjects(data.data);
      for (std::size_t s = 0; s < pages.size(); ++s)
        for (const auto& [id, d] : subjects)
          if (id == pages[s].subject) {
            const auto part = bactor::cli::predictive_check(pages[s], d, copt, s);
            c.rows.insert(c.rows.end(), part.begin(), part.end());
          }
    }
    c.note = "computed from " + std::to_string(copt.draws) + " posterior draws (seed " + std::to_string(copt.seed) + ")";
  } catch (const std::invalid_argument& e) {
    if (explicit_data) throw;
    c.rows.clear();
    c.note = std::string("not computed: ") + e.what();
    std::cerr << "report: predictive check left out: " << e.what() << "\n";
  }
  return c;
}

/// PSIS-LOO of `fits` against the fits in `others`, per subject and, with subjects, pooled.
std::vector<CompareBlock> compare_blocks(const std::string& input, const std::vector<Fit>& fits, const std::vector<std::string>& others,
                                         const std::string& names_opt) {
  std::vector<CompareBlock> blocks;
  if (others.empty()) return blocks;
  std::vector<std::vector<Fit>> other_fits;
  for (const auto& d : others) other_fits.push_back(bactor::cli::read_fits(d));
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
  for (const auto& fit : fits) {
    CompareBlock b;
    b.subject = fit.subject;
    b.names = names;
    b.loo.push_back(bactor::cli::fit_loo(fit));
    for (std::size_t m = 0; m < other_fits.size(); ++m) {
      const Fit* match = nullptr;
      for (const auto& f : other_fits[m])
        if (f.subject == fit.subject) match = &f;
      if (!match) throw std::invalid_argument(others[m] + ": no fit for " + (fit.subject.empty() ? "the data" : "subject " + fit.subject));
      // As bactor compare says (cmd_compare.cpp): a ranking of fits to different data means nothing.
      const std::string d0 = bactor::cli::setting(fit, "data_file"), dm = bactor::cli::setting(*match, "data_file");
      if (!d0.empty() && !dm.empty() && d0 != dm)
        std::cerr << "WARNING: " << names[m + 1] << " was fitted to " << dm << ", " << names[0] << " to " << d0
                  << ": elpd compares models on the same data only\n";
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
  return blocks;
}

/// The median of each NAME.pop column of a hierarchical fit, by NAME.
std::map<std::string, double> population_medians(const Fit& joint) {
  std::map<std::string, double> out;
  for (const auto& col : bactor::cli::parameter_columns(joint.chains.at(0)))
    if (col.size() > 4 && col.compare(col.size() - 4, 4, ".pop") == 0) {
      auto x = bactor::cli::column(joint, col);
      std::sort(x.begin(), x.end());
      out[col.substr(0, col.size() - 4)] = bactor::quantile(x, 0.5);
    }
  return out;
}

/// A cohort's report: (a hierarchical fit's population,) the cohort page, (the shrinkage,) one
/// page per subject, the comparison in full.
void cohort_report(Html& h, const Fit& joint, bool hierarchical, const std::vector<Fit>& pages, const CheckResult& check,
                   const std::vector<CompareBlock>& blocks, Layout lay, const std::string& separate_dir) {
  if (hierarchical) population_section(h, joint);
  bactor::cli::report::Cohort c;
  c.joint = hierarchical;
  if (hierarchical) c.joint_summary = bactor::summarize(joint.chains, {"lp__"});
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
  c.check = check.rows;
  c.check_note = check.note;
  if (!hierarchical && blocks.size() > 1) c.compare = blocks;
  if (hierarchical) c.population = population_medians(joint);
  h.toc.emplace_back("cohort-posteriors", "Cohort: posteriors");
  h.toc.emplace_back("cohort-diagnostics", "diagnostics");
  h.toc.emplace_back("cohort-check", "predictive check");
  if (!c.compare.empty()) h.toc.emplace_back("cohort-compare", "comparison");
  h.body += bactor::cli::report::cohort_page(c);
  if (!separate_dir.empty()) shrinkage_section(h, c, params, separate_dir);
  if (hierarchical && !blocks.empty()) {
    h.section("compare", "Model comparison (PSIS-LOO)");
    compare_section(h, blocks);
  }
  // One page per subject, out of the navigation (the cohort tables link them); a hierarchical
  // fit's pooled parameters have no prior of their own to draw.
  std::string pooled = hierarchical ? bactor::cli::setting(joint, "pooled") : "";
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
    fit_sections(h, f, check.rows, check.note, nullptr, lay);
    h.body += "</div>\n";
  }
  h.toc_on = true;
  if (!hierarchical && !blocks.empty()) {
    h.section("compare", "Model comparison (PSIS-LOO), subject by subject");
    compare_section(h, blocks);
  }
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
  app.add_option("--trace-points", trace_points, "points per chain in trace plots (default 500; 100 per subject of a cohort)")
      ->check(CLI::Range(std::size_t(2), std::size_t(1000000)));
  app.add_option("--pairs-points", pairs_points, "draws in each pairs-plot panel (default 500; 150 per subject of a cohort)")
      ->check(CLI::Range(std::size_t(1), std::size_t(1000000)));
  app.add_option("--separate", separate_dir, "with a hierarchical fit: a subject-by-subject fit of the same data, for the shrinkage plot");
  app.add_option("--title", title, "report title");
  if (!bactor::cli::parse(app, argc, argv)) return bactor::cli::exit_ok;

  Html h;
  bactor::cli::check_output_file(out, "--out");  // before any work: not empty, not a folder
  if (fs::is_regular_file(input)) {  // a compare table alone
    if (!others.empty()) throw bactor::cli::UsageError("--compare needs a fit directory, not a compare CSV");
    h.section("compare", "Model comparison (PSIS-LOO)");
    compare_section(h, read_compare_csv(input));
  } else {
    const auto fits = bactor::cli::read_fits(input);
    const bool hierarchical = bactor::cli::setting(fits.at(0), "hierarchical") == "true";
    if (!separate_dir.empty() && !hierarchical) throw bactor::cli::UsageError("--separate needs a hierarchical fit (bactor infer --hierarchical)");
    // The data (for the check, and a hierarchical fit's subjects), the posteriors the pages show
    // (the fits, or a hierarchical fit's subjects), the check and the comparison.
    const DataResult data = !no_check || hierarchical ? report_data(fits.at(0), data_path, columns) : DataResult{};
    const std::vector<Fit> subject_fits = hierarchical ? subjects_of(fits[0], data) : std::vector<Fit>{};
    const std::vector<Fit>& pages = hierarchical ? subject_fits : fits;
    const bool cohort = hierarchical || fits.size() > 1;
    const CheckResult check = no_check ? CheckResult{} : report_check(input, check_path, pages, data, copt, !data_path.empty() || !columns.empty());
    const std::vector<CompareBlock> blocks = compare_blocks(input, fits, others, names_opt);
    Layout lay;
    lay.check = !no_check;
    lay.trace_points = trace_points ? trace_points : cohort ? 100 : 500;
    lay.pairs_points = pairs_points ? pairs_points : cohort ? 150 : 500;
    if (cohort) cohort_report(h, fits[0], hierarchical, pages, check, blocks, lay, separate_dir);
    else fit_sections(h, fits[0], check.rows, check.note, blocks.empty() ? nullptr : &blocks, lay);
  }
  std::size_t plots = 0;
  const std::size_t bytes = write_html(out, title.empty() ? "bactor report: " + input : title, h, plots);
  std::printf("wrote %s (%zu plots, %.0f kB)\n", out.c_str(), plots, double(bytes) / 1024.0);
  return bactor::cli::exit_ok;
}

BACTOR_COMMAND("report", "self-contained HTML report of a fit or a cohort (diagnostics, plots, check, comparison)", run_report);
