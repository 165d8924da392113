// SPDX-License-Identifier: MIT
// Training under gaussian perception (docs/training.md, "Gaussian perception"): the training
// points in units of S, the input scaling of the linear mupost head, its evaluation set against
// the exact linear action, and the objective's expected cost as a tape node. Private header.
#pragma once

#include <bactor/engine/rng.hpp>
#include <bactor/engine/tensor.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/ground_truth.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/train.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace bactor::detail {

/// The training prior under gaussian perception, in units of S (the root mean square of the
/// stimuli, inference's unit there): sigma ~ U(noise_lo, noise_hi), sigma_0 ~ U(noise_lo,
/// linear_sigma0_hi), mu_0 ~ N(0, 1), stimuli s ~ U(-linear_s_range, linear_s_range), m ~ N(s,
/// sigma^2), sigma_a ~ U(sigma_a_lo, sigma_a_hi), cost parameters from their priors.
inline constexpr double linear_sigma0_hi = 2.0;
inline constexpr double linear_s_range = 3.0;

/// One training point under gaussian perception: theta laid out as theta_names(cost, {gaussian
/// motor}) (sigma_r unused), and the measurement m.
void sample_linear_training_point(const CostInfo& cost, const TrainingPrior& prior, Rng& rng, std::span<double> theta,
                                  double& m);

/// The linear mupost head's input scaling: each feature's map from its spread over 4001 fixed
/// training points, median to 0 and the central 95% to about [-1, 1], on the log scale for a
/// positive feature spanning more than a factor 10 (a constant feature, the unused sigma_r:
/// shift only).
std::vector<InputScaling> linear_input_scaling(const CostInfo& cost, const TrainingPrior& prior);

/// n training points with their exact optimal actions (linear_exact_action; points where it
/// finds no minimum are dropped), a* of any sign.
EvalSet make_linear_eval_set(const CostInfo& cost, std::size_t n, std::uint64_t seed, std::uint64_t stream,
                             const TrainingPrior& prior, int threads);

/// The error scale of a linear action: |a*| + sigma_post + sigma_a (a* may be near 0).
double linear_error_scale(std::span<const double> theta, std::size_t sa_at, double a_star);

/// The quadrature of the training objective: expected_cost_linear's rule, coarser than the exact
/// action's (8 x 8 Gauss–Hermite for smooth costs; 4 panels of 8 Gauss–Legendre nodes in z over
/// +-7 times 8 Gauss–Hermite in w across a kink).
inline constexpr GroundTruthOptions linear_training_rule{8, 8, 7.0, 1e-10};
inline constexpr int linear_training_panels = 4;

/// F(a_i) = E l(mu_i + sp_i e, a_i + sa_i u) per sample (1 x n actions a) as one tape node,
/// dF/da = F_a kept for the reverse pass (expected_cost_linear with the training rule, in double).
/// p: the cost parameters, n_params x n (parameter-major).
Tensor expected_cost_linear_node(const CostInfo& cost, Tensor a, const float* mu, const float* sp, const float* sa,
                                 const float* p);

} // namespace bactor::detail
