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
#include <string>
#include <vector>

namespace bactor::detail {

/// The training prior under gaussian perception, in units of S (the root mean square of the
/// stimuli, inference's unit there): sigma ~ U(noise_lo, noise_hi), sigma_0 ~ U(noise_lo,
/// linear_sigma0_hi), mu_0 ~ N(0, 1), stimuli s ~ U(-linear_s_range, linear_s_range), m ~ N(s,
/// sigma^2), sigma_a ~ U(sigma_a_lo, sigma_a_hi), cost parameters from their priors.
inline constexpr double linear_sigma0_hi = 2.0;
inline constexpr double linear_s_range = 3.0;
/// The default hidden layers under gaussian perception (`bactor train`; the library's TrainSettings
/// keeps 16,64,16,8): a first layer of 32 halves AbsoluteCostQuadraticEffort's largest errors at
/// its knee for about 5% more time per step (docs/training.md).
inline constexpr int linear_hidden[] = {32, 64, 16, 8};

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

/// A quadrature of expected_cost_linear: opt (outer: Gauss–Hermite nodes in u, or in w across a
/// kink; inner: nodes in e; tail: the z-line's half width) and the z-line's panels across a kink.
struct LinearRule {
  GroundTruthOptions opt;
  int panels = 0;
};

/// The training objective's rules, coarser than the exact action's (docs/training.md, the
/// node-count table; tests/models/test_network_linear.cpp makes it): 8 x 8 Gauss–Hermite for a
/// smooth cost (64 nodes); across a kink 3 panels of 8 Gauss–Legendre nodes in z over +-6 (about
/// 32 nodes) times 4 Gauss–Hermite nodes in w (128 in all; the rule before took 4 panels over +-7
/// times 8 in w, 320, for an argmin within 1e-5 instead of 4e-5 of |a*| + sigma_post + sigma_a).
inline constexpr LinearRule linear_rule_smooth{{8, 8, 7.0, 1e-10}, 4};
inline constexpr LinearRule linear_rule_kink{{4, 8, 6.0, 1e-10}, 3};
inline const LinearRule& linear_training_rule(const CostInfo& cost) {
  return cost.kink_at_s_equals_r ? linear_rule_kink : linear_rule_smooth;
}
/// The rule in words, for the network's metadata (training.expectation).
std::string linear_rule_text(const CostInfo& cost);

/// F(a_i) = E l(mu_i + sp_i e, a_i + sa_i u) per sample (1 x n actions a) as one tape node,
/// dF/da = F_a kept for the reverse pass (expected_cost_linear with the training rule, in double).
/// p: the cost parameters, n_params x n (parameter-major).
Tensor expected_cost_linear_node(const CostInfo& cost, Tensor a, const float* mu, const float* sp, const float* sa,
                                 const float* p);

} // namespace bactor::detail
