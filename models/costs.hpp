// SPDX-License-Identifier: MIT
// The registry of cost families (docs/model.md): names, formulas, parameter priors, closed-form
// optimal actions, and the per-family evaluators (scalar and the fused training kernel) that
// are instantiated from the generic functions of models/cost_functions.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace bactor {

class Rng;

struct ParamPrior {
  std::string name;                          // "beta", "alpha", "c", "gamma"
  enum class Kind { uniform, lognormal } kind;
  double a, b;                               // uniform(a, b) or lognormal(log-loc a, scale b)
};

namespace detail {
/// Arguments of the fused training kernel for one chunk of n samples (see models/train.cpp):
/// draws e, u ~ N(0,1), s' = exp(mu_post + sigma_post e), r = a exp(sigma_r u), and per sample
/// loss = mean_k ℓ(s', r), dloss_da = mean_k dℓ/dr(s', r) · r / a. Never stores n×K arrays.
struct FusedArgs {
  std::size_t n = 0;              // samples in this chunk
  std::size_t K = 0;              // Monte Carlo draws per sample
  const float* mu_post = nullptr; // [n]
  const float* sigma_post = nullptr;
  const float* a = nullptr;       // [n] actions, > 0
  const float* sigma_r = nullptr; // [n]
  const float* params = nullptr;  // [n_params][n], parameter-major
  std::uint64_t seed = 0, stream = 0;  // normal draws come from this stream ...
  const float* e_fixed = nullptr; // ... unless these are given: [n][K] fixed draws (tests)
  const float* u_fixed = nullptr;
  float u_clamp = 0.0f;           // when > 0, motor draws u are clamped to [-u_clamp, u_clamp]
  float u_scale = 0.0f;           // with u_clamp: draw u from N(0, u_scale^2), importance-weighted
  float* loss = nullptr;          // [n] out
  float* dloss_da = nullptr;      // [n] out
};
using FusedKernel = void (*)(const FusedArgs&);
} // namespace detail

struct CostInfo {
  std::string name;                          // "QuadraticCost", ...
  std::string formula;                       // human-readable ℓ(s, r)
  std::vector<ParamPrior> params;            // cost parameters, in theta order after sigma_r
  bool closed_form = false;
  /// p when ℓ(λs, λr) = λ^p ℓ(s, r) for every λ > 0, else 0. For such costs the optimal action
  /// is exactly c(theta) exp(mu_post), a power law in m (the power network head represents it
  /// exactly), and the trainer weights each sample's cost by exp(-p mu_post) so that every
  /// stimulus scale counts alike (the weight does not depend on the action, so the optimum at
  /// every (theta, m) is unchanged).
  int homogeneity_degree = 0;
  bool homogeneous() const { return homogeneity_degree > 0; }

  // Evaluators instantiated from the generic cost function (filled by the registry).
  /// ℓ(s, r; p) in double.
  double (*loss)(double s, double r, const double* p) = nullptr;
  /// ℓ(s, r; p), and dℓ/dr in *dl_dr (forward-mode dual numbers).
  double (*loss_dr)(double s, double r, const double* p, double* dl_dr) = nullptr;
  /// The fused SIMD training kernel for this family.
  detail::FusedKernel fused = nullptr;
  /// True when ℓ may have a kink or jump in its r-derivative at r = s, or is sharply peaked
  /// there (InvertedGaussian): the ground-truth quadrature then splits at s = r.
  bool kink_at_s_equals_r = false;
  /// When > 0, motor draws u are clamped to [-T, T], T = this, in training and in the ground
  /// truth alike (Linex: E exp(c r) is infinite for log-normal r, so without it the expected
  /// cost diverges and the optimal action is undefined).
  double motor_truncation = 0.0;
  /// When > 0 (with motor_truncation): the training objective draws the motor noise from
  /// N(0, scale^2) and weights each draw by N(u; 0, 1) / N(u; 0, scale^2) before clamping
  /// (importance sampling; the same expectation). Linex: its expected cost and gradient are
  /// dominated by rare draws near the truncation when c exp(mu_post) is large; 1.5 measured
  /// best (docs/training.md).
  double motor_importance_scale = 0.0;
  /// For the costs that are not homogeneous: an approximation of the curvature of the expected
  /// cost in log a near the optimum, as a function of the stimulus scale S = exp(mu_post), the
  /// total log-noise sigma_t = sqrt(sigma_post^2 + sigma_r^2) and the cost parameters. The
  /// trainer of the mupost head weights each sample's cost by its inverse (as exp(-p mu_post)
  /// for a cost homogeneous of degree p), so that every stimulus scale and cost parameter
  /// counts alike in log a; the weight does not depend on the action, so the optimum at every
  /// (theta, m) is unchanged. nullptr: weight 1.
  double (*curvature_scale)(double S, double sigma_t, const double* params) = nullptr;
  /// For a cost that is, up to a positive factor, a function of (s / kappa, r / kappa) with a
  /// length scale kappa(cost parameters) (the three costs that are not homogeneous): log kappa,
  /// and its derivative with respect to the cost parameters in dlog (n_params entries). The
  /// optimal action is then exp(mu_post + G(sigma_post, sigma_r, mu_post - log kappa)) with one
  /// function G for all cost parameters, and the mupost head's MLP learns G of those three
  /// inputs (docs/network.md). nullptr: no such scale (the MLP then sees the cost parameters
  /// and mu_post).
  double (*log_scale)(const double* params, double* dlog) = nullptr;
  /// True when the optimal action has a near-kink in mu_post at low noise
  /// (AbsoluteCostQuadraticEffort): the mupost head's quadrature then uses
  /// mupost_kink_quadrature_node_counts (models/marginal.hpp).
  bool action_kink = false;
};

/// All seven families of docs/model.md (and any registered later), in a stable order.
const std::vector<CostInfo>& cost_families();
/// The output head `bactor train --head auto` picks: "posterior" for homogeneous costs, else
/// "mupost" (measured 10-50x more accurate than softplus for the three others; README).
const char* default_head_name(const CostInfo& cost);
/// Throws std::invalid_argument("unknown cost 'X' (known: ...)").
const CostInfo& find_cost(const std::string& name);
/// Number of theta entries for a family: 4 + cost parameters.
inline std::size_t theta_size(const CostInfo& cost) { return 4 + cost.params.size(); }
/// Names of theta in order: sigma, sigma_0, mu_0, sigma_r, then the cost parameters.
std::vector<std::string> theta_names(const CostInfo& cost);
/// Draws one value from a prior.
double sample_prior(const ParamPrior& prior, Rng& rng);

/// Closed-form optimal action (throws std::invalid_argument when !closed_form).
/// theta = (sigma, sigma_0, mu_0, sigma_r, cost params...).
double closed_form_action(const CostInfo& cost, std::span<const double> theta, double m);
/// Expected-cost minimiser by quadrature (ground truth), any cost; relative accuracy 1e-6-ish.
/// Implemented in models/ground_truth.cpp (options there).
double numerical_action(const CostInfo& cost, std::span<const double> theta, double m);
/// Closed form when the family has one, numerical otherwise.
double optimal_action(const CostInfo& cost, std::span<const double> theta, double m);

} // namespace bactor
