// SPDX-License-Identifier: MIT
// The exact optimal action under gaussian perception (linear space) for any cost, also one that
// is not a function of r - s (AbsoluteCostQuadraticEffort, formulas such as (r - s)^2 + k r^2):
//     a*(mu_post) = argmin_a F(a),   F(a) = E l(mu_post + sigma_post e, a + sigma_a u),
// e, u ~ N(0, 1) independent (the actor's posterior and its gaussian motor noise; an offset is
// uncompensated and does not enter). a* is not affine in m then, so the likelihood integrates
// the measurement numerically (LinearForm over ExactHead, models/perception_linear.hpp).
//
// The solve, its implicit-function derivatives and the Chebyshev interpolant along mu_post are
// the log-normal exact action's (models/exact_action.hpp, with PerceptionModel::gaussian: y = a
// instead of log a, mu_post = w m + (1 - w) mu_0 with mu_0 itself); this file gives its
// expected cost. Private header.
#pragma once

#include <bactor/models/costs.hpp>
#include <bactor/models/ground_truth.hpp>
#include "models/exact_action.hpp"

#include <cstddef>
#include <span>

namespace bactor::detail {

/// F(a) = E l(mu + sp e, a + sa u) over e, u ~ N(0, 1), and F'(a) = E l_r in *dfda. Smooth costs:
/// Gauss–Hermite in e (opt.inner_nodes) and u (opt.outer_nodes). Costs with a kink at s = r:
/// (e, u) rotated to z = (sp e - sa u) / tau, w = (sa e + sp u) / tau (tau^2 = sp^2 + sa^2), so
/// that s - r = mu - a + tau z; the z-line over [-tail, tail] by composite 8-point Gauss–Legendre
/// panels anchored at the kink z* = (a - mu) / tau (models/shift_solve.hpp's), Gauss–Hermite in w
/// (opt.outer_nodes). The
/// cost's motor_truncation (a device of log-normal motor noise) is not applied: the gaussian
/// actor's expected cost is finite without it. p: the cost parameters. panels: the z-line's
/// panels across a kink (the training objective's coarser rule takes fewer).
double expected_cost_linear(const CostInfo& cost, double mu, double sp, double sa, const double* p, double a,
                            double* dfda, const GroundTruthOptions& opt = {}, int panels = 16);

/// a* = argmin_a F(a) and its partial derivatives in (mu, sp, sa, cost parameters) (d_sr = 0),
/// by safeguarded Newton steps on F_a from a_start. One pass of l_r over the quadrature's nodes
/// gives F_a, F_aa and F_a's derivatives in mu, sp and sa by Gaussian integration by parts
/// (E[l_r e] / sp, ...; exact across a kink), so the implicit function theorem needs no difference
/// quotient but the cost parameters' (a central difference of F_a on the same nodes). Throws
/// std::domain_error where no minimum is found or F_aa <= 0 there. exact_log_action with
/// PerceptionModel::gaussian calls it. partials = false: d_p is left 0 (a value-only solve, for
/// any number of cost parameters; with partials at most exact_max_cost_params).
ExactLogAction linear_action_solve(const CostInfo& cost, double mu, double sp, double sa, const double* p,
                                   const GroundTruthOptions& opt, double a_start, bool partials = true);

/// The optimal action at the measurement m (direct solve, no interpolant; for simulate and the
/// tests, and the training's evaluation set), theta laid out as theta_names(cost, {gaussian
/// motor}) (sigma, sigma_0, mu_0, unused sigma_r, cost parameters, sigma_a); any number of cost
/// parameters. Throws std::domain_error where the expected cost has no minimum.
double linear_exact_action(const CostInfo& cost, std::span<const double> theta, double m,
                           const GroundTruthOptions& opt = {20, 20, 8.5, 1e-12});

} // namespace bactor::detail
