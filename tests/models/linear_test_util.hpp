// SPDX-License-Identifier: MIT
// Shared by the gaussian-perception tests (test_perception_linear*.cpp): the normal density, a
// formula cost registered from its text, a data set simulated from the linear model, and a short
// NUTS fit with its recovery check.
#pragma once

#include <bactor/models/costs.hpp>
#include <bactor/models/data.hpp>
#include <bactor/models/formula.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>
#include "tests/stat_criteria.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
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

/// NUTS (2 chains, 300 warm-up + 400 draws, 1 thread) on the fit of d under spec: the summary of
/// the free parameters, after checking the divergence rate (<= 1%).
inline Summary fit_summary(const Dataset& d, const InferenceSpec& spec, std::uint64_t seed, std::size_t warmup = 300,
                           std::size_t samples = 400, int threads = 1) {
  NutsSettings ns;
  ns.chains = 2;
  ns.warmup = warmup;
  ns.samples = samples;
  ns.seed = seed;
  ns.threads = threads;
  const auto chains = run_nuts([&] { return std::make_unique<ActorModel>(d, spec); }, ns);
  const ActorModel probe(d, spec);
  const Summary sum = summarize(chains, probe.free_names());
  testing::check_divergence_rate(sum.divergences, sum.draws);
  return sum;
}

/// Every free parameter's posterior mean within 4 sd of its true value, R-hat below 1.05.
inline void check_recovered(const Summary& sum, const std::map<std::string, double>& truth) {
  for (const auto& p : sum.params) {
    INFO(p.name << ": mean " << p.mean << ", sd " << p.sd << ", truth " << truth.at(p.name));
    CHECK(std::abs(p.mean - truth.at(p.name)) < 4 * p.sd);
    CHECK(p.rhat < 1.05);
  }
}

} // namespace bactor::testing
