// SPDX-License-Identifier: MIT
// bactor check: posterior-predictive check of a fit, per condition and stimulus bin, without
// r_rep columns in the draws (responses are simulated from the posterior draws).
#include "cli/command.hpp"
#include "cli/fit_dir.hpp"
#include "cli/options.hpp"
#include "cli/out_dir.hpp"
#include "cli/predictive.hpp"

#include <bactor/engine/errors.hpp>

#include <cstdio>
#include <iostream>
#include <map>

namespace {

void print_rows(const std::vector<bactor::cli::CheckRow>& rows) {
  std::string current;
  for (std::size_t j = 0; j < rows.size(); ++j) {
    const auto& r = rows[j];
    const std::string key = r.subject + "\x1f" + r.cond;
    if (key != current) {
      current = key;
      std::printf("\n%scondition %s\n", r.subject.empty() ? "" : ("subject " + r.subject + ", ").c_str(), r.cond.c_str());
      // Column names by the rows' space: log r, r itself (linear) or the wrapped error d (circle).
      const bool lin = r.stat == "mean_r" || r.stat == "sd_r", circ = r.stat == "cmean_d" || r.stat == "csd_d";
      std::printf("%4s %17s %5s  %-34s %-34s\n", "bin", "stimuli", "n",
                  circ ? "circ. mean d: observed, predicted [90%]" : lin ? "mean r: observed, predicted [90%]" : "mean log r: observed, predicted [90%]",
                  circ ? "circ. sd d: observed, predicted [90%]" : lin ? "sd r: observed, predicted [90%]" : "sd log r: observed, predicted [90%]");
    }
    auto cell = [](const bactor::cli::CheckRow& x) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%7.3f%s %7.3f [%7.3f, %7.3f]", x.observed, x.outside ? "*" : " ", x.q50, x.q5, x.q95);
      return std::string(buf);
    };
    if (r.stat == "mean_log_r" || r.stat == "mean_r" || r.stat == "cmean_d") {
      const auto& n = rows[j + 1 < rows.size() ? j + 1 : j].stat;
      const bool has_sd = j + 1 < rows.size() && (n == "sd_log_r" || n == "sd_r" || n == "csd_d") && rows[j + 1].bin == r.bin &&
                          rows[j + 1].cond == r.cond && rows[j + 1].subject == r.subject;
      char range[64];
      std::snprintf(range, sizeof range, "%.3g-%.3g", r.s_lo, r.s_hi);
      std::printf("%4s %17s %5zu  %-34s %-34s\n", r.bin.c_str(), range, r.n, cell(r).c_str(), has_sd ? cell(rows[j + 1]).c_str() : "");
    } else if (r.stat == "slope") {
      std::printf("slope of %s: observed %.3f%s, predicted %.3f [%.3f, %.3f], predictive p %.3f\n",
                  bactor::cli::slope_words(rows).c_str(), r.observed, r.outside ? "*" : "", r.q50, r.q5, r.q95, r.ppp);
    }
  }
}

int run(int argc, char** argv) {
  CLI::App app{"Posterior-predictive check of a fit written by bactor infer: per condition and stimulus value (or "
               "stimulus bin), the observed mean and sd of log r against the predictive median and 90% interval, and "
               "the slope of log r on log s (central tendency), observed against predicted (of r and s themselves under "
               "--perception gaussian or --motor gaussian; under --perception vonmises the circular mean and sd of the "
               "wrapped error d = wrap(r - s) and the slope of d on the stimulus's wrapped offset from the circular mean "
               "stimulus). Responses are simulated from the posterior draws with the settings the draws files record; no "
               "r_rep columns are needed."};
  std::string dir, data_path, out, columns;
  bactor::cli::CheckOptions opt;
  app.add_option("fit", dir, "fit directory (the --out of bactor infer)")->required();
  app.add_option("--data", data_path, "the data file the fit was made from (default: the data_file it records)");
  bactor::cli::add_columns_option(app, columns);  // default: the column map the fit records
  app.add_option("--bins", opt.bins, "stimulus bins per condition when the stimuli are continuous")->capture_default_str();
  app.add_option("--draws", opt.draws, "posterior draws used (evenly spaced)")->capture_default_str();
  app.add_option("--seed", opt.seed, "seed of the replicated responses")->capture_default_str();
  app.add_option("--out", out, "write the check as CSV");
  if (!bactor::cli::parse(app, argc, argv)) return bactor::cli::exit_ok;
  if (!out.empty()) bactor::cli::check_output_file(out, "--out");
  if (opt.bins < 1) throw bactor::cli::UsageError("--bins must be >= 1");
  if (opt.draws < 10) throw bactor::cli::UsageError("--draws must be >= 10");

  auto fits = bactor::cli::read_fits(dir);
  for (const auto& f : fits) bactor::cli::require_finite_draws(f.files, f.chains, "posterior-predictive check");
  std::vector<bactor::cli::CheckRow> rows;
  const bactor::Dataset data = [&] {
    try {
      return bactor::cli::fit_data(fits.at(0), data_path, columns);
    } catch (const bactor::ArgumentError& e) {
      // The map came from the fit, not from a --columns the user gave: say so, and what to give.
      if (e.argument() != "columns" || !columns.empty()) throw;
      throw std::invalid_argument(e.reason() + " (read with the column map the fit records, " +
                                  bactor::cli::setting(fits.at(0), "columns") +
                                  "; for a file with other names give --columns ROLE=COLUMN,...)");
    }
  }();
  if (bactor::cli::setting(fits.at(0), "hierarchical") == "true") {
    // One check per subject from its columns NAME.sJ (infer --hierarchical).
    if (!data.has_subjects()) throw std::invalid_argument(data.source + ": no subject column, but " + dir + " is a hierarchical fit");
    fits = bactor::cli::hierarchical_subject_fits(fits.at(0), bactor::cli::subject_trials(data));
  }
  // The model is rebuilt from the settings the draws files record; a damaged setting is the
  // file's fault, not an option's the user never gave: named by the file.
  auto check_fit = [&](const bactor::cli::Fit& fit, const bactor::Dataset& d, std::size_t index) {
    try {
      return bactor::cli::predictive_check(fit, d, opt, index);
    } catch (const bactor::ArgumentError& e) {
      throw std::invalid_argument(fit.files.at(0) + ": the recorded setting '" + e.argument() + "': " + e.reason());
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      if (what.rfind(fit.files.at(0), 0) == 0 || what.rfind(d.source, 0) == 0) throw;
      throw std::invalid_argument(fit.files.at(0) + ": the settings it records: " + what);
    }
  };
  if (fits.size() == 1 && fits[0].subject.empty()) {
    rows = check_fit(fits[0], data, 0);
  } else {
    const auto subjects = bactor::split_subjects(data);
    std::map<std::string, const bactor::Dataset*> by_id;
    for (const auto& [id, d] : subjects) by_id[id] = &d;
    for (std::size_t s = 0; s < fits.size(); ++s) {
      const auto it = by_id.find(fits[s].subject);
      if (it == by_id.end())
        throw std::invalid_argument(data.source + ": no trials of subject '" + fits[s].subject + "' (fit " + fits[s].dir + ")");
      const auto part = check_fit(fits[s], *it->second, s);
      rows.insert(rows.end(), part.begin(), part.end());
    }
  }
  std::printf("posterior-predictive check of %s (%zu draws per fit used; * = observed outside the 90%% interval)\n",
              dir.c_str(), std::min<std::size_t>(opt.draws, fits[0].chains.empty() ? 0 : bactor::cli::column(fits[0], "lp__").size()));
  print_rows(rows);
  const auto v = bactor::cli::judge(rows);
  std::printf("\n%zu of %zu statistics outside their 90%% predictive intervals (about 10%% or fewer when the actor fits)\n",
              v.outside, v.total);
  for (const auto& w : v.warnings) std::printf("WARNING: %s\n", w.c_str());
  if (v.warnings.empty()) std::printf("no misfit found by these statistics\n");
  if (!out.empty()) bactor::cli::write_check_csv(out, rows);
  return bactor::cli::exit_ok;
}

} // namespace

BACTOR_COMMAND("check", "posterior-predictive check of a fit per condition and stimulus bin", run);
