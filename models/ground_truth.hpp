// SPDX-License-Identifier: MIT
// Numerical ground truth for the optimal action of any cost family: the expected cost over
// the posterior of s and the motor noise, minimised over log a.
#pragma once

#include <span>
#include <vector>

#include <bactor/models/costs.hpp>
#include <bactor/models/motor.hpp>

namespace bactor {

namespace detail {
/// An n-point Gauss rule, built once per (n, kind): Hermite for N(0, 1) (weights sum to 1) or
/// Legendre on [-1, 1]; x the nodes, w the weights (also used by models/exact_linear.cpp).
struct GaussRule {
  std::vector<double> x, w;
};
const GaussRule& gauss_rule(int n, bool hermite);
} // namespace detail

struct GroundTruthOptions {
  int outer_nodes = 32;   // nodes of the outer rule (motor noise, or w for kinked costs)
  int inner_nodes = 32;   // nodes of the inner rule (posterior draw, or per piece of z)
  double tail = 8.5;      // split pieces cover [-tail, tail] (normal mass outside < 2e-17)
  double tol = 1e-10;     // tolerance on log a
};

/// Expected cost F(y) = E ℓ(s, e^{y + sigma_r u}) at y = log a, and F'(y) in *dfdy.
/// s = exp(mu_post + sigma_post e), e, u ~ N(0, 1). Smooth costs: Gauss–Hermite in e and u.
/// Costs with a kink at s = r: (e, u) is rotated so that log s − log r depends on one
/// coordinate z only; the z-integral is split at the kink (Gauss–Legendre per piece) and the
/// other coordinate uses Gauss–Hermite. Costs with motor_truncation T: u clamped to [-T, T] (as in training).
double expected_cost(const CostInfo& cost, std::span<const double> theta, double m, double log_a,
                     double* dfdy, const GroundTruthOptions& opt = {});

/// The same expected cost given the posterior directly: log s ~ N(mu, sp), motor noise sr,
/// cost parameters p (cost.params.size() values).
double expected_cost_posterior(const CostInfo& cost, double mu, double sp, double sr, const double* p, double log_a,
                               double* dfdy, const GroundTruthOptions& opt = {});

/// The same under a motor model (models/motor.hpp): r = motor_response(mn, log a, u). Gaussian
/// motor noise with a kinked cost cuts the posterior line where the median response crosses s
/// (3/4 outer_nodes nodes per piece) and the motor line at r = s per posterior node (inner_nodes
/// per piece), both in a logistic probability scale (models/kink_split.hpp).
double expected_cost_posterior(const CostInfo& cost, double mu, double sp, const MotorNoise& mn, const double* p,
                               double log_a, double* dfdy, const GroundTruthOptions& opt = {});

/// argmin_a of the expected cost (root of F'(y) bracketed from y = log E[s|m], then Brent).
double numerical_action(const CostInfo& cost, std::span<const double> theta, double m,
                        const GroundTruthOptions& opt);
/// The same under motor noise mn; theta's first 4 + cost-parameter entries are read (any motor
/// parameters after them are ignored: mn carries them).
double numerical_action(const CostInfo& cost, const MotorNoise& mn, std::span<const double> theta, double m,
                        const GroundTruthOptions& opt = {});

} // namespace bactor
