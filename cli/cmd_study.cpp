// SPDX-License-Identifier: MIT
// bactor study: `disentangle` (here): does a second perceptual-noise level separate the prior
// belief (mu_0) from the cost's parameter (beta by default)? Same stimuli, one noise level vs two
// (docs/inference.md); --cost picks another family with one parameter. `misspecification`
// (cli/study_misspecification.cpp): which response family do the data prefer?
#include "cli/command.hpp"
#include "cli/options.hpp"
#include "cli/study_misspecification.hpp"
#include <bactor/models/costs.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/samplers/cmdstan_csv.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

namespace {

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[i];
  ma /= n;
  mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

int run_study(int argc, char** argv) {
  // One sub-command per study, so that `bactor study disentangle --help` shows that study's
  // options (and `bactor study --help` the list of studies).
  CLI::App app{"Studies (bactor study NAME --help for a study's options)"};
  std::string network, out, latent = "marginal", cost_name = "QuadraticCostQuadraticEffort";
  bool closed_form = false, exact_action = false;
  std::size_t trials = 45;
  std::uint64_t data_seed = 11;
  bactor::NutsSettings ns;
  ns.warmup = 1000;
  ns.samples = 2500;
  auto* study = app.add_subcommand("disentangle",
                                   "corr(mu_0, cost parameter) with one perceptual noise level vs two (same "
                                   "stimuli); draws in OUT/one-noise/ and OUT/two-noise/");
  study->add_option("--cost", cost_name, "cost family with one parameter (true values: beta 0.9, alpha 0.3, c 1, "
                    "gamma 1.5)")->capture_default_str();
  auto* net_opt = study->add_option("--network", network, "network trained for --cost (.safetensors)");
  auto* cf_opt = study->add_flag("--closed-form", closed_form, "closed-form action (default without --network, for "
                                 "costs that have one)");
  auto* ex_opt = study->add_flag("--exact-action", exact_action, "the ground-truth solver's action (any cost; slow)");
  net_opt->excludes(cf_opt);
  ex_opt->excludes(net_opt)->excludes(cf_opt);
  study->add_option("--trials", trials, "trials per noise level (same stimuli)")->capture_default_str();
  study->add_option("--data-seed", data_seed, "simulation seed")->capture_default_str();
  study->add_option("--latent", latent, "marginal or sampled")->capture_default_str();
  study->add_option("--chains", ns.chains, "chains")->capture_default_str();
  study->add_option("--warmup", ns.warmup, "warm-up iterations per chain")->capture_default_str();
  study->add_option("--samples", ns.samples, "draws per chain")->capture_default_str();
  study->add_option("--seed", ns.seed, "sampler seed")->capture_default_str();
  study->add_option("--threads", ns.threads, "threads (0: all)")->capture_default_str();
  study->add_option("--out", out, "directory for the draws of each design")->required();
  bactor::cli::MisspecificationOptions mis;
  auto* misspec = app.add_subcommand("misspecification",
                                     "which response family do the data prefer: simulate from each family, fit every "
                                     "family, PSIS-LOO preference and shared parameters' bias and 90% coverage");
  bactor::cli::add_misspecification_options(*misspec, mis);
  const std::string known = "known: disentangle, misspecification";
  if (argc < 2) throw bactor::cli::UsageError("give a study name (" + known + ")");
  if (argv[1][0] != '-' && std::string(argv[1]) != study->get_name() && std::string(argv[1]) != misspec->get_name())
    throw bactor::cli::UsageError("unknown study '" + std::string(argv[1]) + "' (" + known + ")");
  if (!bactor::cli::parse(app, argc, argv)) return 0;
  if (misspec->parsed()) return bactor::cli::run_misspecification(mis);
  if (!study->parsed()) throw bactor::cli::UsageError("give a study name (" + known + ")");
  if (trials < 1) throw bactor::cli::UsageError("--trials must be positive");

  const auto& cost = bactor::find_cost(cost_name);
  if (cost.params.size() != 1)
    throw bactor::cli::UsageError("--cost: the study needs a cost with one parameter (" + cost.name + " has " +
                                  std::to_string(cost.params.size()) + ")");
  const std::string pname = cost.params[0].name;
  // The true value of the cost's parameter: the QuadraticCostQuadraticEffort study's beta, and
  // for the others the values of the reference data sets (tests/reference/README.md).
  const double ptrue = pname == "beta" ? 0.9 : pname == "alpha" ? 0.3 : pname == "c" ? 1.0 : 1.5;
  if (network.empty() && !exact_action && !cost.closed_form)
    throw bactor::cli::UsageError("--cost " + cost.name + " has no closed form: give --network FILE or --exact-action");
  bactor::InferenceSpec spec;
  spec.cost = &cost;
  spec.exact_action = exact_action;
  spec.latent = bactor::parse_latent_mode(latent);
  if (!network.empty()) spec.network = std::make_shared<const bactor::ActionNetwork>(bactor::ActionNetwork::load(network));
  bactor::cli::install_stop_handlers();

  // Both designs: the same stimuli twice (2 x trials responses); one design at sigma = 0.2
  // twice, the other at sigma = 0.1 and 0.2.
  bactor::SimulationSpec sim;
  sim.cost = &cost;
  sim.values = {{"mu_0", 1.5}, {"sigma_0", 0.2}, {"sigma_r", 0.15}, {pname, ptrue}, {"sigma", 0.2}};
  sim.trials = trials;
  sim.s_lo = 0.25;
  sim.s_hi = 5.0;
  sim.seed = data_seed;
  sim.network = spec.network;
  sim.condition_sigmas = {0.2, 0.2};
  bactor::Dataset one = bactor::simulate(sim);
  std::fill(one.cond.begin(), one.cond.end(), 0);
  one.cond_labels = {"1"};
  sim.condition_sigmas = {0.1, 0.2};
  const bactor::Dataset two = bactor::simulate(sim);

  const std::string action = spec.network ? "network" : exact_action ? "exact" : "closed-form";
  std::printf("disentangling study: %s, %s = %g, mu_0 = 1.5, sigma_0 = 0.2, sigma_r = 0.15,\n"
              "%zu stimuli s ~ U(0.25, 5) shown twice; %s action; every parameter free\n",
              cost.name.c_str(), pname.c_str(), ptrue, trials, action.c_str());
  const std::string corr_head = "corr(mu0," + pname + ")";
  std::printf("%-28s %10s %10s %10s %10s %14s %6s\n", "design", "mu_0", "sd", pname.c_str(), "sd", corr_head.c_str(), "div");
  struct Design {
    const char* label;
    const char* dir;
    const bactor::Dataset* data;
  };
  for (const Design& design : {Design{"one noise level (0.2, 0.2)", "one-noise", &one},
                               Design{"two noise levels (0.1, 0.2)", "two-noise", &two}}) {
    const char* label = design.label;
    const char* dir = design.dir;
    const bactor::Dataset* data = design.data;
    const auto run = bactor::cli::run_posterior(*data, spec, ns, false);
    if (!run.complete) {
      std::fprintf(stderr, "interrupted\n");
      return bactor::cli::exit_failure;
    }
    const std::string path = out + "/" + dir;
    std::filesystem::create_directories(path);
    bactor::write_dataset(path + "/data.csv", *data);
    for (const auto& chain : run.chains)
      bactor::write_cmdstan_csv(path + "/chain-" + std::to_string(chain.chain_id) + ".csv", chain, ns,
                                "bactor_actor_" + cost.name + "_" + latent,
                                {{"study", "disentangle"}, {"cost", cost.name}, {"design", label}, {"latent", latent},
                                 {"action", spec.network ? network : action}});
    bactor::write_summary_csv(path + "/summary.csv", run.summary);
    const auto mu = bactor::cli::column_draws(run, "mu_0"), beta = bactor::cli::column_draws(run, pname);
    const auto means = bactor::cli::posterior_means(run);
    double sd_mu = 0, sd_beta = 0;
    for (const auto& p : run.summary.params) {
      if (p.name == "mu_0") sd_mu = p.sd;
      if (p.name == pname) sd_beta = p.sd;
    }
    std::printf("%-28s %10.4f %10.4f %10.4f %10.4f %14.3f %6zu\n", label, means.at("mu_0"), sd_mu, means.at(pname),
                sd_beta, correlation(mu, beta), run.summary.divergences);
  }
  std::printf("draws: %s/one-noise/, %s/two-noise/\n", out.c_str(), out.c_str());
  return 0;
}

} // namespace

BACTOR_COMMAND("study", "studies (disentangle: one noise level vs two; misspecification: which response family)",
               run_study);
