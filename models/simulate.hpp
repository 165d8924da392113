// SPDX-License-Identifier: MIT
// Simulated experiments: stimuli, measurements, the actor's action and motor noise (docs/model.md).
#pragma once

#include <bactor/models/data.hpp>
#include <bactor/models/motor.hpp>
#include <bactor/models/perception.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bactor {

struct CostInfo;
class ActionNetwork;

/// How to simulate: true parameter values by name (sigma, sigma_0, mu_0, sigma_r, cost
/// parameters), optional per-condition values of any of them, the stimulus range, and the action source
/// (the network when given; else the closed form, else the numerical optimum).
struct SimulationSpec {
  const CostInfo* cost = nullptr;
  std::map<std::string, double> values;
  std::vector<double> condition_sigmas;  // non-empty: one condition per entry, same stimuli
  // Any parameter by condition (name -> one value per condition; every list the same length,
  // also as condition_sigmas'; "sigma" here and condition_sigmas both given is an error). A
  // parameter given here is left out of `values` (or ignored there).
  std::map<std::string, std::vector<double>> condition_values;
  std::size_t trials = 60;               // per condition
  double s_lo = 0.1, s_hi = 5.0;         // s ~ U(s_lo, s_hi)
  std::uint64_t seed = 1;
  std::shared_ptr<const ActionNetwork> network;
  // Lapses: each trial with probability `lapse` gets its response from the contaminant
  // log r ~ U(log lo, log hi), (lo, hi) = stimulus_lapse_range(the simulated stimuli) (the range
  // inference uses by default), instead of the actor's (drawn from Rng(seed, 1), so the other
  // trials are those of lapse = 0).
  double lapse = 0;
  // The response model (models/motor.hpp): its parameters (sigma_a, offset) are given in
  // `values` like the others, in the stimuli's units; the gaussian model takes no sigma_r.
  MotorSpec motor;
  // The perception model (models/perception.hpp); a network must have been trained for it.
  PerceptionModel perception = PerceptionModel::lognormal;
};

/// theta = (sigma, sigma_0, mu_0, sigma_r, cost params...) from named values; throws
/// std::invalid_argument naming a missing or non-positive value or an unknown name.
std::vector<double> theta_from_values(const CostInfo& cost, const std::map<std::string, double>& values);
/// The same for theta_names(cost, motor); the gaussian model's sigma_r slot gets unused_sigma_r
/// (a value given for it is refused: that model has no sigma_r).
/// Under gaussian perception mu_0 and the offset may have any sign.
std::vector<double> theta_from_values(const CostInfo& cost, const MotorSpec& motor,
                                      const std::map<std::string, double>& values,
                                      PerceptionModel perception = PerceptionModel::lognormal);

/// Simulates the experiment: s_i ~ U(s_lo, s_hi) (the same stimuli in each condition),
/// (gaussian perception: m_i ~ N(s_i, sigma_c^2), r_i = offset + a(m_i) + sigma_a u_i with the
/// linear closed-form action, or for a cost whose action is not affine in m the exact action
/// solved per trial (models/exact_linear.hpp); s_lo of any sign; gaussian motor noise only, no
/// network)
/// m_i ~ LogNormal(log s_i, sigma_c), r_i from the motor model given a(m_i) (log-normal:
/// LogNormal(log a(m_i), sigma_r)), plus the offset. Rng(seed, 0); with
/// lapses (spec.lapse) Rng(seed, 1) decides which trials lapse and draws their responses, whose
/// indices go to `lapsed` when given.
Dataset simulate(const SimulationSpec& spec, std::vector<std::size_t>* lapsed = nullptr);

/// spec's per-condition values by name: condition_values, with condition_sigmas as "sigma"
/// (ArgumentError "conditions" when sigma is given both ways, a list is empty or the lists'
/// lengths differ); n_cond gets their common length (1 without any).
std::map<std::string, std::vector<double>> condition_values(const SimulationSpec& spec, std::size_t& n_cond);

/// Name of the action source simulate() uses: "network", "closed-form" or "numerical".
std::string simulation_action_source(const SimulationSpec& spec);

} // namespace bactor
