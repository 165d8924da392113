// SPDX-License-Identifier: MIT
// A simulated duration-reproduction cohort (stimuli 0.3-16 s, QuadraticCost closed-form actor)
// from a known population, and the aligned coordinates of a QuadraticCost population plan: the
// hierarchical tests' and bench/hierarchical's fixtures. No doctest here, so that the benchmark
// can include it too.
#pragma once

#include <bactor/models/costs.hpp>
#include <bactor/models/hierarchical.hpp>
#include "models/hierarchical_node.hpp"

#include <cstddef>
#include <cstdint>

namespace bactor::testing {

/// J subjects x `trials` trials; population medians sigma 0.15, sigma_0 0.35, mu_0 3,
/// sigma_r 0.12, each subject's log values spread by 0.3 (mu_0: mu0_spread; with the default 0.2
/// and tens of trials the trials do not tell the subjects' mu_0 apart, so the aligned default
/// samples log mu_0 non-centred; with 0.8 and 40+ trials they do, and it goes through the intercept).
inline Cohort duration_cohort(std::size_t J, std::size_t trials, std::uint64_t seed, double mu0_spread = 0.2) {
  CohortSpec cs;
  cs.base.cost = &find_cost("QuadraticCost");
  cs.base.values = {{"sigma", 0.15}, {"sigma_0", 0.35}, {"mu_0", 3.0}, {"sigma_r", 0.12}};
  cs.base.trials = trials;
  cs.base.s_lo = 0.3;
  cs.base.s_hi = 16.0;
  cs.base.seed = seed;
  cs.subjects = J;
  cs.spread = {{"sigma", 0.3}, {"sigma_0", 0.3}, {"mu_0", mu0_spread}, {"sigma_r", 0.3}};
  return simulate_cohort(cs);
}

/// Puts a QuadraticCost plan whose pooled parameters are in output order (mu_0, sigma_0,
/// sigma_r, sigma) into the aligned coordinates: sigma and sigma_0 as the ridge pair, mu_0
/// through the intercept (the caller fills plan.intercept_w).
inline void align_quadratic_plan(detail::PopulationPlan& plan) {
  plan.pooled[3].coord = detail::PooledCoord::ridge;
  plan.pooled[3].partner = 1;
  plan.pooled[1].coord = detail::PooledCoord::difference;
  plan.pooled[1].partner = 3;
  plan.pooled[0].coord = detail::PooledCoord::intercept;
  plan.pooled[0].k_sigma = 3;
  plan.pooled[0].k_sigma_0 = 1;
  plan.pooled[0].k_sigma_r = 2;
}

} // namespace bactor::testing
