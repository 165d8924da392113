// SPDX-License-Identifier: MIT
// bactor evaluate: accuracy of a trained network against the ground truth on fresh points.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <vector>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/options.hpp"
#include <bactor/models/network.hpp>
#include <bactor/models/train.hpp>
#include "models/train_linear.hpp"

namespace {

int run(int argc, char** argv) {
  using namespace bactor;
  CLI::App app{"Evaluate a trained action network against the optimal action (closed form or numerical)."};
  std::string file;
  std::size_t points = 2000;
  std::uint64_t seed = 20250;
  app.add_option("--network", file, "trained network (.safetensors)")->required();
  app.add_option("--points", points, "number of fresh evaluation points")->capture_default_str()->check(CLI::Range(1, 10000000));
  app.add_option("--seed", seed, "random seed of the points")->capture_default_str();
  std::string motor;
  cli::add_motor_option(app, motor,
                 "motor noise to evaluate against (default: the network's, from its metadata; another is refused)");
  std::string perception;
  cli::add_perception_option(app, perception, "perception to evaluate against (default: the network's, from its metadata; "
                             "another is refused)");
  if (!cli::parse(app, argc, argv)) return cli::exit_ok;
  if (!std::ifstream(file)) throw std::invalid_argument("--network: cannot open '" + file + "'");
  // A formula network's cost comes from its metadata (registered by load).
  const ActionNetwork net = ActionNetwork::load(file);
  const CostInfo& cost = find_cost(net.cost_name());
  const MotorModel net_motor = network_motor(net);
  if (!motor.empty() && (motor == "vonmises" || parse_motor_model(motor) != net_motor))  // no network is trained for von Mises noise
    throw cli::UsageError("--motor: the network was trained for " + std::string(to_string(net_motor)) +
                          " motor noise, not " + motor + " (its actions answer another question)");
  const PerceptionModel net_perception = network_perception(net);
  if (!perception.empty() && cli::perception_option(perception) != net_perception)
    throw cli::UsageError("--perception: the network was trained for " + std::string(to_string(net_perception)) +
                          " perception, not " + perception + " (its actions answer another question)");
  // Points from the network's own training prior (its metadata), the default one otherwise.
  TrainingPrior prior;
  if (net.metadata().count("training_priors")) {
    try {
      const auto tp = nlohmann::json::parse(net.metadata().at("training_priors"));
      auto range = [&](const char* key, double& lo, double& hi) {
        const auto r = tp.at(key).at("uniform");
        lo = r.at(0).get<double>();
        hi = r.at(1).get<double>();
        if (!(lo > 0 && hi > lo && std::isfinite(hi))) throw std::invalid_argument(key);
      };
      range("sigma", prior.noise_lo, prior.noise_hi);
      if (!net.linear()) {  // gaussian perception: mu_0 ~ N(0, 1), s of either sign (detail::sample_linear_training_point)
        range("mu_0", prior.mu0_lo, prior.mu0_hi);
        range("s", prior.s_lo, prior.s_hi);
      }
      if (net_motor != MotorModel::lognormal) range("sigma_a", prior.sigma_a_lo, prior.sigma_a_hi);
    } catch (const std::exception&) {
      throw std::invalid_argument("--network: " + file + ": metadata 'training_priors' is malformed");
    }
  }
  const NetworkAccuracy acc = evaluate_network(net, cost, points, seed, prior);
  std::fprintf(stderr, "%s: cost %s, %s motor noise%s, %zu points (%zu dropped), ground truth %s\n", file.c_str(),
               cost.name.c_str(), to_string(net_motor), net.linear() ? ", gaussian perception" : "", acc.points, acc.dropped,
               net.linear() ? "exact linear action (relative errors: |a - a*| / (|a*| + sigma_post + sigma_a))"
               : has_closed_form(cost, MotorSpec{net_motor, false}) ? "closed form" : "numerical quadrature");
  std::printf("rmse=%.6g max_abs_error=%.6g mean_rel_error=%.6g max_rel_error=%.6g", acc.rmse, acc.max_abs, acc.mean_rel,
              acc.max_rel);
  // Gaussian motor noise (log-normal perception): also relative to |a*| + sigma_a, the response's
  // scale in the likelihood (where a* << sigma_a a relative error in a* says little).
  if (!net.linear() && net_motor == MotorModel::gaussian)
    std::printf(" mean_motor_scaled_error=%.6g max_motor_scaled_error=%.6g", acc.mean_motor_rel, acc.max_motor_rel);
  std::printf(" points=%zu\n", acc.points);
  return cli::exit_ok;
}

} // namespace

BACTOR_COMMAND("evaluate", "accuracy of a trained network against the ground truth", run);
