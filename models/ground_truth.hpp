// SPDX-License-Identifier: MIT
// Numerical ground truth for the optimal action of any cost family: the expected cost over
// the posterior of s and the motor noise, minimised over log a.
#pragma once

#include <span>

#include "models/costs.hpp"

namespace bactor {

struct GroundTruthOptions {
  int outer_nodes = 48;   // Gauss–Hermite nodes over the motor noise u
  int inner_nodes = 48;   // Gauss–Legendre nodes per piece over the posterior draw e
  double tail = 8.5;      // e is integrated over [-tail, tail] (mass outside < 2e-17)
  double tol = 1e-10;     // tolerance on log a
};

/// Expected cost F(y) = E ℓ(s, e^{y + sigma_r u}) at y = log a, and F'(y) in *dfdy.
/// s = exp(mu_post + sigma_post e); the e-integral is split at the point where s = r, so
/// kinks of ℓ at s = r do not spoil the quadrature; u uses Gauss–Hermite.
double expected_cost(const CostInfo& cost, std::span<const double> theta, double m, double log_a,
                     double* dfdy, const GroundTruthOptions& opt = {});

/// argmin_a of the expected cost (root of F'(y) bracketed from y = log E[s|m], then Brent).
double numerical_action(const CostInfo& cost, std::span<const double> theta, double m,
                        const GroundTruthOptions& opt);

} // namespace bactor
