// SPDX-License-Identifier: MIT
#include <bactor/models/simulate.hpp>
#include <bactor/engine/errors.hpp>

#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/network.hpp>

#include <array>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace bactor {

std::vector<double> theta_from_values(const CostInfo& cost, const std::map<std::string, double>& values) {
  const auto names = theta_names(cost);
  for (const auto& [k, v] : values) {
    bool known = false;
    for (const auto& n : names) known = known || n == k;
    if (!known) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      throw std::invalid_argument("unknown parameter '" + k + "' for cost " + cost.name + " (known: " + list + ")");
    }
  }
  std::vector<double> theta;
  for (const auto& n : names) {
    auto it = values.find(n);
    if (it == values.end()) throw std::invalid_argument("missing value for parameter '" + n + "' (cost " + cost.name + ")");
    if (!(it->second > 0) || !std::isfinite(it->second)) {
      std::ostringstream os;
      os << "parameter '" << n << "' = " << it->second << " must be positive and finite";
      throw std::invalid_argument(os.str());
    }
    theta.push_back(it->second);
  }
  return theta;
}

std::string simulation_action_source(const SimulationSpec& spec) {
  if (spec.network) return "network";
  return spec.cost && spec.cost->closed_form ? "closed-form" : "numerical";
}

Dataset simulate(const SimulationSpec& spec) {
  if (!spec.cost) throw std::invalid_argument("simulate: no cost family given");
  if (spec.trials == 0) throw ArgumentError("trials", "must be positive");
  if (!(spec.s_lo > 0 && spec.s_hi > spec.s_lo)) throw ArgumentError("stimuli", "need 0 < s_lo < s_hi");
  const CostInfo& cost = *spec.cost;
  std::map<std::string, double> values = spec.values;
  std::vector<double> sigmas = spec.condition_sigmas;
  if (sigmas.empty()) {
    auto it = values.find("sigma");
    if (it == values.end()) throw std::invalid_argument("missing value for parameter 'sigma'");
    sigmas.push_back(it->second);
  } else {
    values["sigma"] = sigmas[0];  // placeholder for validation; replaced per condition
  }
  std::vector<double> theta = theta_from_values(cost, values);
  for (double sg : sigmas)
    if (!(sg > 0) || !std::isfinite(sg)) throw std::invalid_argument("condition sigma values must be positive");
  if (spec.network && spec.network->cost_name() != cost.name)
    throw std::invalid_argument("network was trained for cost '" + spec.network->cost_name() + "', not '" + cost.name + "'");

  Rng rng(spec.seed, 0);
  std::vector<double> stimuli(spec.trials);
  for (auto& s : stimuli) s = rng.uniform(spec.s_lo, spec.s_hi);
  Dataset d;
  d.source = "simulated";
  ActionNetwork::Workspace ws;
  const double sigma_r = theta[3];
  for (std::size_t c = 0; c < sigmas.size(); ++c) {
    d.cond_labels.push_back(std::to_string(c + 1));
    theta[0] = sigmas[c];
    std::array<double, 3> x{};
    if (spec.network) spec.network->forward(theta, std::span<double, 3>(x), ws);
    for (double s : stimuli) {
      const double m = std::exp(std::log(s) + sigmas[c] * rng.normal());
      const double a = spec.network ? spec.network->action(std::span<const double, 3>(x), m) : optimal_action(cost, theta, m);
      if (!(a > 0) || !std::isfinite(a)) throw std::runtime_error("simulate: action is not positive at m = " + std::to_string(m));
      d.s.push_back(s);
      d.r.push_back(std::exp(std::log(a) + sigma_r * rng.normal()));
      d.cond.push_back(static_cast<int>(c));
      d.line.push_back(d.s.size() + 1);
    }
  }
  return d;
}

} // namespace bactor
