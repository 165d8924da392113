// SPDX-License-Identifier: MIT
// bactor compare: PSIS-LOO model comparison of fits (the log_lik.i columns of `infer`'s draws).
#include "cli/command.hpp"
#include "cli/fit_dir.hpp"
#include "cli/options.hpp"
#include "cli/out_dir.hpp"
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

using bactor::LooResult;
using bactor::cli::Fit;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

/// One comparison (one subject, or all): the table, Pareto k lines and the warning.
struct Block {
  std::string subject;  // "" for a single fit per model; "all" for pooled subjects
  std::vector<std::string> names;
  std::vector<LooResult> loo;
  std::vector<bactor::CompareRow> rows;
};

void print_block(const Block& b, std::size_t worst) {
  const auto& l0 = b.loo.at(0);
  std::printf("PSIS-LOO%s: %zu trials", b.subject.empty() ? "" : (b.subject == "all" ? " (all subjects, pointwise values pooled)" : (" subject " + b.subject).c_str()), l0.points);
  if (b.subject != "all") {
    std::printf(", draws");
    for (std::size_t m = 0; m < b.loo.size(); ++m) std::printf("%s %zu", m ? "," : "", b.loo[m].draws);
    std::printf(" (r_eff");
    for (std::size_t m = 0; m < b.loo.size(); ++m) std::printf("%s %.2f", m ? "," : "", b.loo[m].r_eff);
    std::printf(")");
  }
  std::printf("\n");
  std::size_t w = 5;
  for (const auto& n : b.names) w = std::max(w, n.size());
  std::printf("%-*s %4s %10s %8s %10s %7s %8s %8s %8s\n", int(w), "model", "rank", "elpd_loo", "p_loo", "elpd_diff",
              "weight", "se", "dse", "warning");
  for (const auto& r : b.rows)
    std::printf("%-*s %4d %10.2f %8.2f %10.2f %7.3f %8.2f %8.2f %8s\n", int(w), r.name.c_str(), r.rank, r.elpd_loo,
                r.p_loo, r.elpd_diff, r.weight, r.se, r.dse, r.warning ? "True" : "False");
  // Pareto k per model.
  for (std::size_t m = 0; m < b.loo.size(); ++m) {
    const auto& l = b.loo[m];
    const auto c = bactor::count_pareto_k(l.pareto_k);
    const auto imax = std::size_t(std::max_element(l.pareto_k.begin(), l.pareto_k.end()) - l.pareto_k.begin());
    std::printf("  Pareto k, %s: %zu good (<= 0.5), %zu ok (<= 0.7), %zu bad (<= 1), %zu very bad (> 1); max %.2f (trial %zu)\n",
                b.names[m].c_str(), c.good, c.ok, c.bad, c.very_bad, l.pareto_k[imax], imax + 1);
  }
  for (std::size_t m = 0; m < b.loo.size(); ++m) {
    const auto& l = b.loo[m];
    if (!l.warning) continue;
    std::vector<std::size_t> idx(l.points);
    std::iota(idx.begin(), idx.end(), std::size_t(0));
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t c) { return l.pareto_k[a] > l.pareto_k[c]; });
    std::size_t n_over = 0;
    for (double k : l.pareto_k) n_over += !(k <= l.good_k);
    std::string names;
    for (std::size_t j = 0; j < std::min(worst, n_over); ++j)
      names += (j ? ", " : "") + std::string("trial ") + std::to_string(idx[j] + 1) + " (k = " + fmt("%.2f", l.pareto_k[idx[j]]) + ")";
    if (n_over > worst) names += ", ...";
    std::printf("WARNING: %s%s: %zu trial%s with Pareto k > %.2f (the threshold for %zu draws): %s. Their elpd_loo "
                "values are unreliable: the posterior without such a trial differs too much from the full one (influential or "
                "badly predicted trials); check them, or refit without them.\n",
                b.names[m].c_str(), b.subject.empty() || b.subject == "all" ? "" : (" (subject " + b.subject + ")").c_str(),
                n_over, n_over == 1 ? "" : "s", l.good_k, l.draws, names.c_str());
  }
  if (b.rows.size() >= 2) {
    const auto& best = b.rows[0];
    for (std::size_t r = 1; r < b.rows.size(); ++r) {
      const auto& o = b.rows[r];
      const double z = o.dse > 0 ? o.elpd_diff / o.dse : INFINITY;
      std::printf("  '%s' predicts worse than '%s' by %.2f elpd (dse %.2f, %.1f standard errors)%s\n", o.name.c_str(),
                  best.name.c_str(), o.elpd_diff, o.dse, z,
                  o.elpd_diff < 4 ? ": a small difference (|elpd_diff| < 4)" : (z < 2 ? ": within 2 standard errors" : ""));
    }
  }
  // All pairs when there are more than two models.
  if (b.loo.size() > 2) {
    std::printf("  pairwise elpd differences (row - column, se):\n");
    for (std::size_t r = 0; r < b.rows.size(); ++r) {
      const auto ir = std::size_t(std::find(b.names.begin(), b.names.end(), b.rows[r].name) - b.names.begin());
      std::printf("    %-*s", int(w), b.rows[r].name.c_str());
      for (std::size_t c = 0; c < b.rows.size(); ++c) {
        const auto ic = std::size_t(std::find(b.names.begin(), b.names.end(), b.rows[c].name) - b.names.begin());
        if (ic == ir) {
          std::printf(" %20s", "-");
          continue;
        }
        const auto d = bactor::elpd_difference(b.loo[ir], b.loo[ic]);
        std::printf(" %20s", (fmt("%.2f", d.diff) + " (" + fmt("%.2f", d.se) + ")").c_str());
      }
      std::printf("\n");
    }
  }
  std::printf("\n");
}

void write_csv(const std::string& path, const std::vector<Block>& blocks) {
  std::ofstream out(path + ".tmp");
  if (!out) throw std::runtime_error(path + ": cannot write");
  using bactor::cli::number;
  out << "subject,model,rank,elpd_loo,p_loo,elpd_diff,weight,se,dse,warning,trials,draws,r_eff,good_k,k_good,k_ok,k_bad,"
         "k_very_bad,k_max\n";
  for (const auto& b : blocks)
    for (const auto& r : b.rows) {
      const auto m = std::size_t(std::find(b.names.begin(), b.names.end(), r.name) - b.names.begin());
      const auto& l = b.loo[m];
      const auto c = bactor::count_pareto_k(l.pareto_k);
      out << b.subject << ',' << r.name << ',' << r.rank << ',' << number(r.elpd_loo) << ',' << number(r.p_loo) << ','
          << number(r.elpd_diff) << ',' << number(r.weight) << ',' << number(r.se) << ',' << number(r.dse) << ','
          << (r.warning ? "True" : "False") << ',' << l.points << ',' << l.draws << ',' << number(l.r_eff) << ','
          << number(l.good_k) << ',' << c.good << ',' << c.ok << ',' << c.bad << ',' << c.very_bad << ','
          << number(*std::max_element(l.pareto_k.begin(), l.pareto_k.end())) << '\n';
    }
  out.close();
  if (!out) throw std::runtime_error(path + ": write failed");
  std::filesystem::rename(path + ".tmp", path);
}

void write_pointwise(const std::string& path, const std::vector<Block>& blocks) {
  std::ofstream out(path + ".tmp");
  if (!out) throw std::runtime_error(path + ": cannot write");
  using bactor::cli::number;
  out << "subject,model,trial,elpd_loo,p_loo,pareto_k\n";
  for (const auto& b : blocks) {
    if (b.subject == "all") continue;
    for (std::size_t m = 0; m < b.names.size(); ++m)
      for (std::size_t i = 0; i < b.loo[m].points; ++i)
        out << b.subject << ',' << b.names[m] << ',' << i + 1 << ',' << number(b.loo[m].elpd_i[i]) << ','
            << number(b.loo[m].lppd_i[i] - b.loo[m].elpd_i[i]) << ',' << number(b.loo[m].pareto_k[i]) << '\n';
  }
  out.close();
  if (!out) throw std::runtime_error(path + ": write failed");
  std::filesystem::rename(path + ".tmp", path);
}

int run(int argc, char** argv) {
  CLI::App app{"PSIS-LOO model comparison of fits written by bactor infer (their log_lik.i columns): elpd_loo, se, "
               "p_loo, Pareto k per trial, and elpd differences with their standard errors, ranked as arviz.compare "
               "ranks them. Fits with subject-<id>/ folders are compared subject by subject and pooled."};
  std::vector<std::string> dirs;
  std::string names_opt, csv_out, pointwise_out;
  std::size_t worst = 5;
  app.add_option("dirs", dirs, "fit directories (the --out of bactor infer), one per model")->required();
  app.add_option("--names", names_opt, "model names, comma-separated (default: the directories' names)");
  app.add_option("--csv", csv_out, "write the table(s) as CSV (one row per subject and model)");
  app.add_option("--pointwise", pointwise_out, "write per-trial elpd_loo, p_loo and Pareto k as CSV");
  app.add_option("--worst", worst, "number of worst trials named in a Pareto k warning")->capture_default_str();
  if (!bactor::cli::parse(app, argc, argv)) return bactor::cli::exit_ok;
  if (!csv_out.empty()) bactor::cli::check_output_file(csv_out, "--csv");
  if (!pointwise_out.empty()) bactor::cli::check_output_file(pointwise_out, "--pointwise");

  std::vector<std::string> names;
  if (!names_opt.empty()) {
    std::stringstream ss(names_opt);
    std::string n;
    while (std::getline(ss, n, ',')) names.push_back(n);
    if (names.size() != dirs.size())
      throw bactor::cli::UsageError("--names: " + std::to_string(names.size()) + " names for " + std::to_string(dirs.size()) + " fits");
  } else {
    for (const auto& d : dirs) names.push_back(bactor::cli::base_name(d));
  }
  if (std::set<std::string>(names.begin(), names.end()).size() != names.size())
    throw bactor::cli::UsageError("model names are not unique (give --names)");
  for (const auto& n : names)
    if (n.empty() || n.find_first_of(",\"\n") != std::string::npos)
      throw bactor::cli::UsageError("--names: '" + n + "' (names must be non-empty, without commas or quotes)");

  // Read everything before writing anything.
  std::vector<std::vector<Fit>> fits;
  for (const auto& d : dirs) fits.push_back(bactor::cli::read_fits(d));
  for (const auto& m : fits)
    for (const auto& f : m) bactor::cli::require_finite_draws(f.files, f.chains, "PSIS-LOO");
  for (std::size_t m = 1; m < fits.size(); ++m) {
    std::vector<std::string> a, b;
    for (const auto& f : fits[0]) a.push_back(f.subject);
    for (const auto& f : fits[m]) b.push_back(f.subject);
    if (a != b) {
      auto list = [](const std::vector<std::string>& v) {
        std::string s;
        for (const auto& x : v) s += (s.empty() ? "" : ",") + (x.empty() ? std::string("(none)") : x);
        return s;
      };
      throw std::invalid_argument(dirs[m] + ": subjects " + list(b) + " differ from " + dirs[0] + "'s " + list(a));
    }
  }
  std::vector<Block> blocks;
  const std::size_t n_subjects = fits[0].size();
  for (std::size_t s = 0; s < n_subjects; ++s) {
    Block b;
    b.subject = fits[0][s].subject;
    b.names = names;
    for (std::size_t m = 0; m < fits.size(); ++m) {
      const Fit& f = fits[m][s];
      for (std::size_t c = 0; c < f.chains.size(); ++c)
        if (!f.chains[c].complete)
          std::cerr << "WARNING: " << f.files[c] << " is an interrupted chain (complete = 0)\n";
      b.loo.push_back(bactor::cli::fit_loo(f));
      const std::string d0 = bactor::cli::setting(fits[0][s], "data_file"), dm = bactor::cli::setting(f, "data_file");
      if (m > 0 && !d0.empty() && !dm.empty() && d0 != dm)
        std::cerr << "WARNING: " << names[m] << " was fitted to " << dm << ", " << names[0] << " to " << d0
                  << ": elpd compares models on the same data only\n";
      if (b.loo.back().points != b.loo[0].points)
        throw std::invalid_argument(f.files[0] + ": " + std::to_string(b.loo.back().points) + " trials, but " +
                                    fits[0][s].files[0] + " has " + std::to_string(b.loo[0].points) +
                                    " (models must be fitted to the same trials)");
    }
    b.rows = bactor::compare_loo(b.names, b.loo);
    blocks.push_back(std::move(b));
  }
  if (n_subjects > 1) {
    Block all;
    all.subject = "all";
    all.names = names;
    for (std::size_t m = 0; m < fits.size(); ++m) {
      std::vector<const LooResult*> parts;
      for (std::size_t s = 0; s < n_subjects; ++s) parts.push_back(&blocks[s].loo[m]);
      all.loo.push_back(bactor::cli::pool_loo(parts));
    }
    all.rows = bactor::compare_loo(all.names, all.loo);
    blocks.push_back(std::move(all));
  }
  for (const auto& b : blocks) print_block(b, worst);
  if (!csv_out.empty()) write_csv(csv_out, blocks);
  if (!pointwise_out.empty()) write_pointwise(pointwise_out, blocks);
  return bactor::cli::exit_ok;
}

} // namespace

BACTOR_COMMAND("compare", "PSIS-LOO model comparison of fits (elpd, Pareto k, differences)", run);
