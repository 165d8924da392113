// SPDX-License-Identifier: MIT
// bactor recover: parameter-recovery study. Data sets simulated from the evaluation prior
// (sigma, sigma_0, sigma_r ~ U(0.1, 0.25), mu_0 ~ U(2, 5), cost parameters from their priors),
// one posterior each; R^2 of posterior means vs truth and 90% interval coverage per parameter.
#include "cli/command.hpp"
#include "cli/options.hpp"
#include "cli/out_dir.hpp"
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>

namespace {

double quantile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double h = p * static_cast<double>(v.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(h);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (h - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

int run_recover(int argc, char** argv) {
  CLI::App app{"Parameter recovery: simulate data sets from the evaluation prior, infer each, compare with the truth"};
  std::string cost, network, fix_true, latent = "marginal", out;
  bool closed_form = false;
  std::size_t datasets = 20, trials = 60;
  std::string stimuli = "0.1:5";
  bactor::NutsSettings ns;
  ns.warmup = 500;
  ns.samples = 1000;
  app.add_option("--cost", cost, "cost family")->required();
  auto* net_opt = app.add_option("--network", network, "trained action network (.safetensors)");
  auto* cf_opt = app.add_flag("--closed-form", closed_form, "use the closed-form action (default without --network)");
  net_opt->excludes(cf_opt);
  app.add_option("--datasets", datasets, "simulated data sets")->capture_default_str();
  app.add_option("--trials", trials, "trials per data set")->capture_default_str();
  app.add_option("--stimuli", stimuli, "stimulus range LO:HI")->capture_default_str();
  app.add_option("--fix-true", fix_true, "parameters fixed at their true value in inference, e.g. sigma");
  app.add_option("--latent", latent, "marginal or sampled")->capture_default_str();
  app.add_option("--chains", ns.chains, "chains")->capture_default_str();
  app.add_option("--warmup", ns.warmup, "warm-up iterations per chain")->capture_default_str();
  app.add_option("--samples", ns.samples, "draws per chain")->capture_default_str();
  app.add_option("--seed", ns.seed, "seed (data set d uses simulation seed seed*1000+d)")->capture_default_str();
  app.add_option("--threads", ns.threads, "threads (0: all)")->capture_default_str();
  app.add_option("--out", out, "optional CSV of per-data-set truth and posterior summaries");
  if (!bactor::cli::parse(app, argc, argv)) return 0;
  if (!out.empty()) bactor::cli::check_output_file(out, "--out");
  if (datasets < 2) throw bactor::cli::UsageError("--datasets must be at least 2");
  if (trials < 1) throw bactor::cli::UsageError("--trials must be positive");

  bactor::InferenceSpec spec;
  spec.cost = &bactor::find_cost(cost);
  spec.latent = bactor::parse_latent_mode(latent);
  spec.log_lik = false;  // only summaries are kept
  // The truths are drawn in the simulation's own units: for a cost that is not homogeneous in
  // (s, r) the fit reads its parameters in those units too (in units of S they would differ
  // from the truth); the homogeneous costs keep the default unit, which changes nothing there.
  if (!spec.cost->homogeneous()) spec.scale = 1;
  // The study's inference prior for mu_0 (its truths are U(2, 5)): U(0.1, 5), as before the
  // default became unit-free, so that its R^2 and coverage stay comparable across versions.
  spec.priors["mu_0"] = bactor::Prior{bactor::Prior::Kind::uniform, 0.1, 5.0};
  if (!network.empty()) spec.network = std::make_shared<const bactor::ActionNetwork>(bactor::ActionNetwork::load(network));
  std::vector<std::string> fixed_names;
  if (!fix_true.empty()) {
    std::size_t start = 0;
    for (;;) {
      const auto c = fix_true.find(',', start);
      fixed_names.push_back(fix_true.substr(start, c == std::string::npos ? std::string::npos : c - start));
      if (c == std::string::npos) break;
      start = c + 1;
    }
  }
  const auto [lo, hi] = bactor::cli::parse_range(stimuli, "--stimuli");
  const auto names = bactor::theta_names(*spec.cost);
  for (const auto& f : fixed_names)
    if (std::find(names.begin(), names.end(), f) == names.end()) throw bactor::cli::UsageError("--fix-true: unknown parameter '" + f + "'");
  bactor::cli::install_stop_handlers();

  // Per parameter: truths, posterior means, coverage indicators.
  std::map<std::string, std::vector<double>> truth_of, mean_of;
  std::map<std::string, int> covered;
  std::vector<std::string> free_names;
  FILE* csv = out.empty() ? nullptr : std::fopen(out.c_str(), "w");
  if (!out.empty() && !csv) throw std::runtime_error("cannot write " + out);
  if (csv) std::fprintf(csv, "dataset,param,truth,mean,q5,q95,rhat,ess_bulk\n");
  std::size_t divergences = 0;
  for (std::size_t d = 0; d < datasets; ++d) {
    bactor::Rng rng(ns.seed, 1000 + d);
    std::map<std::string, double> truth{{"sigma", rng.uniform(0.1, 0.25)}, {"sigma_0", rng.uniform(0.1, 0.25)},
                                        {"sigma_r", rng.uniform(0.1, 0.25)}, {"mu_0", rng.uniform(2, 5)}};
    for (const auto& p : spec.cost->params) truth[p.name] = bactor::sample_prior(p, rng);
    bactor::SimulationSpec sim;
    sim.cost = spec.cost;
    sim.values = truth;
    sim.trials = trials;
    sim.s_lo = lo;
    sim.s_hi = hi;
    sim.seed = ns.seed * 1000 + d;
    sim.network = spec.network;
    const bactor::Dataset data = bactor::simulate(sim);
    bactor::InferenceSpec s = spec;
    for (const auto& f : fixed_names) s.fixed[f] = truth[f];
    bactor::NutsSettings nsd = ns;
    nsd.seed = ns.seed + d;
    const auto run = bactor::cli::run_posterior(data, s, nsd, false);
    if (!run.complete) {
      std::fprintf(stderr, "interrupted after %zu data sets\n", d);
      break;
    }
    free_names = run.params;
    divergences += run.summary.divergences;
    for (const auto& p : run.summary.params) {
      const double t = truth.at(p.name);
      const auto draws = bactor::cli::column_draws(run, p.name);
      const double q5 = quantile(draws, 0.05), q95 = quantile(draws, 0.95);
      truth_of[p.name].push_back(t);
      mean_of[p.name].push_back(p.mean);
      covered[p.name] += (t >= q5 && t <= q95);
      if (csv) std::fprintf(csv, "%zu,%s,%.9g,%.9g,%.9g,%.9g,%.5f,%.1f\n", d + 1, p.name.c_str(), t, p.mean, q5, q95, p.rhat, p.ess_bulk);
    }
    std::fprintf(stderr, "data set %zu/%zu done (%.2f s)\n", d + 1, datasets, run.wall_seconds);
  }
  if (csv) std::fclose(csv);
  std::printf("parameter recovery: cost %s, %s action, %zu data sets x %zu trials, latent %s%s\n", cost.c_str(),
              spec.network ? "network" : "closed-form", truth_of.empty() ? 0 : truth_of.begin()->second.size(), trials,
              latent.c_str(), fix_true.empty() ? "" : (", fixed at truth: " + fix_true).c_str());
  std::printf("%-10s %8s %12s %10s\n", "param", "R^2", "coverage90", "mean bias");
  for (const auto& name : free_names) {
    const auto& t = truth_of[name];
    const auto& m = mean_of[name];
    double tm = 0;
    for (double v : t) tm += v;
    tm /= static_cast<double>(t.size());
    double ss_res = 0, ss_tot = 0, bias = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
      ss_res += (m[i] - t[i]) * (m[i] - t[i]);
      ss_tot += (t[i] - tm) * (t[i] - tm);
      bias += m[i] - t[i];
    }
    std::printf("%-10s %8.3f %12.3f %10.4f\n", name.c_str(), 1 - ss_res / ss_tot,
                static_cast<double>(covered[name]) / static_cast<double>(t.size()), bias / static_cast<double>(t.size()));
  }
  std::printf("divergences (all data sets): %zu\n", divergences);
  return 0;
}

} // namespace

BACTOR_COMMAND("recover", "parameter-recovery study over simulated data sets", run_recover);
