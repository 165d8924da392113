// SPDX-License-Identifier: MIT
#include <bactor/models/simulate.hpp>
#include <bactor/engine/errors.hpp>

#include <bactor/engine/rng.hpp>
#include <bactor/models/actor.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/network.hpp>
#include "models/circular.hpp"
#include "models/exact_linear.hpp"
#include "models/perception_linear.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace bactor {

std::vector<double> theta_from_values(const CostInfo& cost, const std::map<std::string, double>& values) {
  return theta_from_values(cost, MotorSpec{}, values);
}

std::vector<double> theta_from_values(const CostInfo& cost, const MotorSpec& motor,
                                      const std::map<std::string, double>& values, PerceptionModel perception) {
  auto names = theta_names(cost, motor);
  if (!motor.has_sigma_r()) {
    if (values.count("sigma_r"))
      throw std::invalid_argument("parameter 'sigma_r' is not part of the gaussian motor model (its noise is sigma_a)");
    names.erase(names.begin() + theta_index::sigma_r);
  }
  for (const auto& [k, v] : values) {
    bool known = false;
    for (const auto& n : names) known = known || n == k;
    if (!known) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      throw std::invalid_argument("unknown parameter '" + k + "' for cost " + cost.name + " with motor noise " +
                                  motor.name() + " (known: " + list + ")");
    }
  }
  std::vector<double> theta;
  for (const auto& n : names) {
    auto it = values.find(n);
    if (it == values.end()) throw std::invalid_argument("missing value for parameter '" + n + "' (cost " + cost.name + ")");
    const bool any_sign = perception == PerceptionModel::gaussian && (n == "mu_0" || n == "offset");
    if (!(it->second > 0 || any_sign) || !std::isfinite(it->second)) {
      std::ostringstream os;
      os << "parameter '" << n << "' = " << it->second << " must be " << (any_sign ? "finite" : "positive and finite");
      throw std::invalid_argument(os.str());
    }
    theta.push_back(it->second);
  }
  if (!motor.has_sigma_r()) theta.insert(theta.begin() + theta_index::sigma_r, unused_sigma_r);
  return theta;
}

std::map<std::string, std::vector<double>> condition_values(const SimulationSpec& spec, std::size_t& n_cond) {
  std::map<std::string, std::vector<double>> by_cond = spec.condition_values;
  if (!spec.condition_sigmas.empty()) {
    if (by_cond.count("sigma")) throw ArgumentError("conditions", "sigma given twice (condition_sigmas and condition_values)");
    by_cond["sigma"] = spec.condition_sigmas;
  }
  n_cond = 1;
  for (const auto& [name, list] : by_cond) {
    if (list.empty()) throw ArgumentError("conditions", "no values for '" + name + "'");
    if (n_cond > 1 && list.size() != n_cond)
      throw ArgumentError("conditions", "every parameter needs the same number of condition values ('" + name + "' has " +
                                            std::to_string(list.size()) + ", others " + std::to_string(n_cond) + ")");
    n_cond = std::max(n_cond, list.size());
  }
  for (const auto& [name, list] : by_cond)
    if (list.size() != n_cond)
      throw ArgumentError("conditions", "every parameter needs the same number of condition values ('" + name + "' has " +
                                            std::to_string(list.size()) + ", others " + std::to_string(n_cond) + ")");
  return by_cond;
}

std::string simulation_action_source(const SimulationSpec& spec) {
  if (spec.network) return "network";
  if (spec.perception == PerceptionModel::gaussian)  // a cost of r - s, else the exact action's solve
    return !spec.cost || detail::affine_linear_action(*spec.cost) ? "closed-form" : "numerical";
  if (spec.perception == PerceptionModel::vonmises)  // mu_post, or mu_post + a solved shift
    return spec.cost && check_circular_cost(*spec.cost) == CircularAction::shifted ? "numerical" : "closed-form";
  return spec.cost && has_closed_form(*spec.cost, spec.motor) ? "closed-form" : "numerical";
}

Dataset simulate(const SimulationSpec& spec, std::vector<std::size_t>* lapsed) {
  if (!spec.cost) throw std::invalid_argument("simulate: no cost family given");
  if (spec.perception == PerceptionModel::vonmises) return detail::simulate_circular(spec, lapsed);  // models/circular.hpp
  if (!(spec.lapse >= 0 && spec.lapse < 1)) throw ArgumentError("lapse", "the lapse probability must be in [0, 1)");
  if (lapsed) lapsed->clear();
  if (spec.trials == 0) throw ArgumentError("trials", "must be positive");
  const bool linear = spec.perception == PerceptionModel::gaussian;
  if (linear ? !(spec.s_hi > spec.s_lo && std::isfinite(spec.s_hi - spec.s_lo))
             : !(spec.s_lo > 0 && spec.s_hi > spec.s_lo && std::isfinite(spec.s_hi)))
    throw ArgumentError("stimuli", linear ? "need s_lo < s_hi, both finite and s_hi - s_lo a finite number"
                                          : "need 0 < s_lo < s_hi < infinity");
  const CostInfo& cost = *spec.cost;
  std::map<std::string, double> values = spec.values;
  std::size_t n_cond = 1;
  const std::map<std::string, std::vector<double>> by_cond = condition_values(spec, n_cond);
  for (const auto& [name, list] : by_cond) {
    const bool any_sign = linear && (name == "mu_0" || name == "offset");
    for (double v : list)
      if (!(v > 0 || any_sign) || !std::isfinite(v))
        throw ArgumentError("conditions", "values of '" + name + "' must be " + (any_sign ? "finite" : "positive and finite"));
    values[name] = list[0];  // the first condition's value, for the check below; each condition sets its own
  }
  const MotorSpec& motor = spec.motor;
  if (spec.network) check_network_perception(*spec.network, spec.perception);
  std::vector<double> theta = theta_from_values(cost, motor, values, spec.perception);
  std::optional<detail::LinearAction> linear_action;
  if (linear) {
    if (motor.model != MotorModel::gaussian)
      throw ArgumentError("perception", "gaussian: needs gaussian motor noise (" + std::string(to_string(motor.model)) +
                                            " motor noise needs a positive action, which linear space does not give)");
    // A cost of r - s: mu_post plus a shift (closed form or one solve); any other cost: the
    // exact action, solved per trial (models/exact_linear.hpp; a value-only solve, for any number
    // of cost parameters); with a network, its action.
    if (!spec.network && detail::affine_linear_action(cost)) linear_action = detail::linear_action_of(cost);
  }
  const auto names = theta_names(cost, motor);
  if (spec.network && spec.network->cost_name() != cost.name)
    throw std::invalid_argument("network was trained for cost '" + spec.network->cost_name() + "', not '" + cost.name + "'");
  if (spec.network && network_motor(*spec.network) != motor.model)
    throw ArgumentError("motor", std::string("the network was trained for ") + to_string(network_motor(*spec.network)) +
                                     " motor noise, not " + to_string(motor.model));
  const std::size_t n_action = action_theta_size(cost, motor);

  Rng rng(spec.seed, 0);
  std::vector<double> stimuli(spec.trials);
  for (auto& s : stimuli) s = rng.uniform(spec.s_lo, spec.s_hi);
  Dataset d;
  d.source = "simulated";
  ActionNetwork::Workspace ws;
  for (std::size_t c = 0; c < n_cond; ++c) {
    d.cond_labels.push_back(std::to_string(c + 1));
    for (std::size_t t = 0; t < names.size(); ++t) {
      auto it = by_cond.find(names[t]);
      if (it != by_cond.end()) theta[t] = it->second[c];
    }
    const double sigma = theta[0];
    const MotorNoise noise = motor_noise(cost, motor, theta);
    const double offset = motor.offset ? theta.back() : 0.0;
    const std::span<const double> action_theta(theta.data(), n_action);
    std::array<double, 3> x{};
    const bool per_m = spec.network && measurement_head(spec.network->head());
    if (spec.network && !per_m) spec.network->forward(action_theta, std::span<double, 3>(x), ws);
    if (linear_action) {  // linear space: m = s + sigma e, r = offset + a(m) + sigma_a u
      const PowerHead h = detail::linear_closed_form_head(cost, *linear_action, theta, theta_size(cost));
      if (!std::isfinite(h.log_k))
        throw ArgumentError("perception", "gaussian: cost " + cost.name + " has no finite optimal action at these parameter values");
      for (double s : stimuli) {
        const double m = s + sigma * rng.normal();
        d.s.push_back(s);
        d.r.push_back(offset + h.log_k + h.w * m + noise.sigma_a * rng.normal());
        d.cond.push_back(static_cast<int>(c));
        d.line.push_back(d.s.size() + 1);
      }
      continue;
    }
    if (linear) {  // the network's or the exact action at each measurement
      for (double s : stimuli) {
        const double m = s + sigma * rng.normal();
        double a;
        try {
          a = spec.network ? spec.network->action(action_theta, m) : detail::linear_exact_action(cost, theta, m);
        } catch (const std::domain_error&) {
          throw ArgumentError("perception", "gaussian: cost " + cost.name + " has no optimal action at m = " +
                                                std::to_string(m) + " with these parameter values");
        }
        d.s.push_back(s);
        d.r.push_back(offset + a + noise.sigma_a * rng.normal());
        d.cond.push_back(static_cast<int>(c));
        d.line.push_back(d.s.size() + 1);
      }
      continue;
    }
    for (double s : stimuli) {
      const double m = std::exp(std::log(s) + sigma * rng.normal());
      if (per_m) spec.network->forward(action_theta, m, std::span<double, 3>(x), ws);  // the head reads m
      const double a = spec.network ? spec.network->action(std::span<const double, 3>(x), m)
                                     : optimal_action(cost, MotorSpec{motor.model, false}, action_theta, m);
      if (!(a > 0) || !std::isfinite(a)) throw std::runtime_error("simulate: action is not positive at m = " + std::to_string(m));
      d.s.push_back(s);
      d.r.push_back(offset + motor_response(noise, std::log(a), rng.normal(), nullptr));
      d.cond.push_back(static_cast<int>(c));
      d.line.push_back(d.s.size() + 1);
    }
  }
  if (spec.lapse > 0) {
    Rng lr(spec.seed, 1);
    // The definition inference uses by default (in r itself under gaussian perception).
    const auto range = linear ? detail::linear_lapse_range(stimuli) : stimulus_lapse_range(stimuli);
    // Uniform in log r, or in r under gaussian motor noise (linear responses), as inference's.
    const bool in_r = motor.model == MotorModel::gaussian;
    const double lo = in_r ? range.first : std::log(range.first), hi = in_r ? range.second : std::log(range.second);
    for (std::size_t i = 0; i < d.size(); ++i) {
      const bool lapse = lr.uniform() < spec.lapse;
      const double lr_resp = lr.uniform(lo, hi);  // drawn for every trial: trial i's draws do not depend on the others'
      if (!lapse) continue;
      d.r[i] = in_r ? lr_resp : std::exp(lr_resp);
      if (lapsed) lapsed->push_back(i);
    }
  }
  // Extreme values (stimuli or parameters near the limits of double precision) can overflow;
  // a data set with an infinite or NaN value is refused rather than written.
  for (std::size_t i = 0; i < d.size(); ++i)
    if (!std::isfinite(d.s[i]) || !std::isfinite(d.r[i]))
      throw std::runtime_error("simulate: trial " + std::to_string(i + 1) + " came out non-finite (s = " + std::to_string(d.s[i]) +
                               ", r = " + std::to_string(d.r[i]) + "): the stimuli's range or the parameter values overflow "
                               "double precision");
  return d;
}

} // namespace bactor
