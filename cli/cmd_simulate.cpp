// SPDX-License-Identifier: MIT
// bactor simulate: a synthetic data set from known actor parameters.
#include <algorithm>
#include "cli/command.hpp"
#include "cli/options.hpp"
#include <bactor/models/costs.hpp>
#include <bactor/models/data.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>

#include <iostream>
#include <memory>

namespace {

int run_simulate(int argc, char** argv) {
  CLI::App app{"Simulate trials (s, r) of a Bayesian actor with known parameters"};
  std::string cost, set, stimuli = "0.1:5", conditions, network, out;
  std::size_t trials = 60;
  std::uint64_t seed = 1;
  app.add_option("--cost", cost, "cost family (bactor costs lists them)")->required();
  app.add_option("--set", set, "true values, e.g. mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1[,beta=0.9] (sigma from --conditions when given)")->required();
  app.add_option("--trials", trials, "trials per condition")->capture_default_str();
  app.add_option("--stimuli", stimuli, "stimulus range LO:HI, s ~ U(LO, HI)")->capture_default_str();
  app.add_option("--conditions", conditions, "one condition per perceptual noise level, e.g. sigma=0.1,0.2 (same stimuli; only sigma varies by "
                 "condition, so leave it out of --set)");
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--network", network, "use this trained network's action instead of the closed form / numerical optimum");
  app.add_option("--out", out, "output CSV (columns [cond,]s,r)")->required();
  if (!bactor::cli::parse(app, argc, argv)) return 0;

  bactor::SimulationSpec spec;
  spec.cost = &bactor::find_cost(cost);
  spec.values = bactor::cli::parse_assignments(set, "--set");
  if (!conditions.empty()) {
    // Only the perceptual noise sigma varies by condition: "sigma=0.1,0.2" or "0.1,0.2".
    std::string list = conditions;
    const auto eq = list.find('=');
    if (eq != std::string::npos) {
      const std::string name = list.substr(0, eq);
      if (name != "sigma")
        throw bactor::cli::UsageError("--conditions: only sigma (the perceptual noise) may vary by condition, not '" +
                                      name + "'; e.g. --conditions sigma=0.1,0.25");
      list = list.substr(eq + 1);
    }
    spec.condition_sigmas = bactor::cli::parse_number_list(list, "--conditions");
    if (spec.values.count("sigma"))
      throw bactor::cli::UsageError("--set sigma=" + bactor::cli::parse_string_assignments(set, "--set").at("sigma") +
                                    " conflicts with --conditions sigma=" + list +
                                    " (sigma varies by condition: leave it out of --set)");
    spec.values["sigma"] = spec.condition_sigmas[0];
  }
  if (trials == 0) throw bactor::cli::UsageError("--trials must be positive");
  // Absurd sizes fail here with a message, not with std::bad_alloc after minutes.
  if (trials > 10000000 || trials * std::max<std::size_t>(1, spec.condition_sigmas.size()) > 10000000)
    throw bactor::cli::UsageError("--trials: at most 10000000 trials in all (got " + std::to_string(trials) + " per condition)");
  spec.trials = trials;
  const auto [lo, hi] = bactor::cli::parse_range(stimuli, "--stimuli");
  if (!(lo > 0)) throw bactor::cli::UsageError("--stimuli: LO must be positive");
  spec.s_lo = lo;
  spec.s_hi = hi;
  spec.seed = seed;
  if (!network.empty()) spec.network = std::make_shared<const bactor::ActionNetwork>(bactor::ActionNetwork::load(network));
  const bactor::Dataset d = bactor::simulate(spec);
  bactor::write_dataset(out, d);
  std::cerr << "wrote " << d.size() << " trials (" << d.conditions() << " condition" << (d.conditions() > 1 ? "s" : "")
            << ", action: " << bactor::simulation_action_source(spec) << ", seed " << seed << ") to " << out << "\n";
  return 0;
}

} // namespace

BACTOR_COMMAND("simulate", "simulate a data set from known actor parameters", run_simulate);
