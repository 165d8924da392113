// SPDX-License-Identifier: MIT
// The sections of `bactor report` (cli/cmd_report.cpp): one posterior's diagnostics, densities,
// predictive check, pairs, trace and rank plots and settings; a hierarchical fit's population
// and shrinkage; the PSIS-LOO comparison; and the HTML page around them. Every string from the
// data or the arguments is escaped.
#pragma once

#include "cli/fit_dir.hpp"
#include "cli/predictive.hpp"
#include "cli/report_cohort.hpp"
#include "cli/report_plots.hpp"
#include "cli/svg.hpp"

#include <cstddef>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace bactor::cli::report {

/// The report's body as it grows: HTML, and the navigation's (id, title) entries.
struct Html {
  std::string body;
  std::vector<std::pair<std::string, std::string>> toc;  // id, title
  bool toc_on = true;  // false: sections of a subject's page stay out of the page's navigation
  void section(const std::string& id, const std::string& title) {
    if (toc_on) toc.emplace_back(id, title);
    body += "<h2 id=\"" + svg::escape(id) + "\">" + svg::escape(title) + "</h2>\n";
  }
  void p(const std::string& text) { body += "<p>" + svg::escape(text) + "</p>\n"; }
  void figure(const std::string& svg) { body += "<div class=\"fig\">" + svg + "</div>\n"; }
};

/// Options that shape the report's sections.
struct Layout {
  bool check = true;                  // a predictive-check section
  std::size_t trace_points = 500;     // per chain
  std::size_t pairs_points = 500;
  std::set<std::string> no_prior;     // parameters drawn without a prior (a hierarchical fit's subject parameters)
};

/// The sections of one posterior: diagnostics, densities, the check, (the comparison), pairs,
/// trace and rank plots, settings. Ids are prefixed "s<id>-" for a subject's fit.
void fit_sections(Html& h, const Fit& fit, const std::vector<CheckRow>& check, const std::string& check_note,
                  const std::vector<CompareBlock>* compare_here, const Layout& lay);

/// A hierarchical fit's population: its parameters' summary and densities with their priors.
void population_section(Html& h, const Fit& joint);

/// The shrinkage section: per pooled parameter, each subject fitted alone (the fits in
/// `separate_dir`) against its estimate in the hierarchical fit.
void shrinkage_section(Html& h, const Cohort& c, const std::vector<std::string>& params, const std::string& separate_dir);

/// The PSIS-LOO tables, their reading in words, the elpd and Pareto k plots.
void compare_section(Html& h, const std::vector<CompareBlock>& blocks);

/// The page around the sections, written to a temporary name and renamed; returns its size
/// and sets `plots` to the number of plots.
std::size_t write_html(const std::string& out, const std::string& heading, const Html& h, std::size_t& plots);

} // namespace bactor::cli::report
