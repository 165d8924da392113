// SPDX-License-Identifier: MIT
// Shared by the gaussian-perception tests (test_perception_linear*.cpp): the normal density, a
// formula cost registered from its text, and a data set simulated from the linear model.
#pragma once

#include <bactor/models/costs.hpp>
#include <bactor/models/data.hpp>
#include <bactor/models/formula.hpp>
#include <bactor/models/simulate.hpp>

#include <cmath>
#include <cstdint>
#include <map>
#include <numbers>
#include <string>
#include <vector>

namespace bactor::testing {

/// Gaussian motor noise without and with an offset (the only motor model under gaussian perception).
inline const MotorSpec gauss{MotorModel::gaussian, false};
inline const MotorSpec gauss_offset{MotorModel::gaussian, true};

inline double normal_pdf(double x, double mean, double sd) {
  const double z = (x - mean) / sd;
  return std::exp(-0.5 * z * z) / (sd * std::sqrt(2 * std::numbers::pi));
}

inline const CostInfo& formula_cost(const std::string& text, const std::string& params = "") {
  FormulaSpec f;
  f.expression = text;
  f.params = parse_param_priors(params);
  return register_formula_cost(f);
}

/// A data set from the linear model, in data units (a share `lapse` of the responses lapses).
inline Dataset linear_data(const CostInfo& cost, const MotorSpec& motor, std::map<std::string, double> values,
                           std::size_t trials, std::uint64_t seed, double s_lo = -3, double s_hi = 5, double lapse = 0,
                           std::vector<std::size_t>* lapsed = nullptr) {
  SimulationSpec sim;
  sim.cost = &cost;
  sim.motor = motor;
  sim.perception = PerceptionModel::gaussian;
  sim.values = std::move(values);
  sim.trials = trials;
  sim.s_lo = s_lo;
  sim.s_hi = s_hi;
  sim.seed = seed;
  sim.lapse = lapse;
  return simulate(sim, lapsed);
}

} // namespace bactor::testing
