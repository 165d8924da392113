// SPDX-License-Identifier: MIT
// The registry of cost families (docs/model.md): names, formulas, parameter priors, closed-form
// optimal actions, and the per-family evaluators (scalar and the fused training kernel) that
// are instantiated from the generic functions of models/cost_functions.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
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
/// Most cost parameters a cost may have.
inline constexpr std::size_t max_cost_params = 16;
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
  // Motor noise (models/motor.hpp): 0 log-normal r = a e^{sr u}; 1 generalized r = a e^{sd u},
  // sd = sqrt(sr^2 + sa^2/a^2); 2 gaussian r = a + sa u. sigma_a: [n], for 1 and 2.
  int motor = 0;
  const float* sigma_a = nullptr;
  // A product Gauss–Hermite rule instead of the draws when u_nodes > 0 (log-normal families;
  // under gaussian motor noise the split rule of models/kink_split.hpp, its rules on [0, 1] per
  // piece in e_node, e_weight and u_node, u_weight; models/train_kernel.hpp): E over u and e as sum_i sum_j e_weight[i] u_weight[j]
  // f(e_node[i], u_node[j]), each rule's weights summing to 1; e_node and e_weight padded with
  // zero weights to a multiple of 16 entries (whole SIMD batches), e_nodes > 0 the real count.
  std::size_t u_nodes = 0, e_nodes = 0;
  const float *u_node = nullptr, *u_weight = nullptr, *e_node = nullptr, *e_weight = nullptr;
  // With u_split = L > 0 (costs with a kink at r = s): the e nodes are those of w and u_node,
  // u_weight a rule on [0, 1] (weights summing to 1) for each of the two pieces [-L, z_k] and
  // [z_k, L] of z, where z = (sd u - sp e) / tau and w = (sp u + sd e) / tau (tau^2 = sd^2 +
  // sp^2) and r = s at z = z_k; the normal density in the weights (models/train_kernel.hpp).
  float u_split = 0.0f;
  // With seam > 0 (a cost whose second r-derivative jumps where params[0] (r - s) = seam, Linex;
  // CostInfo::seam) under the product rule: for a motor node r_j whose seam s* = r_j - seam /
  // params[0] lies within |e*| < seam_range (models/kink_split.hpp) of the posterior, e* = (log s*
  // - mu_post) / sigma_post, the e-line is cut at e* and each piece integrated in the logistic
  // scale of models/kink_split.hpp with seam_node, seam_weight (a rule on [0, 1], seam_nodes
  // entries padded with zero weights to a multiple of 16) instead of the e nodes.
  float seam = 0.0f;
  std::size_t seam_nodes = 0;
  const float *seam_node = nullptr, *seam_weight = nullptr;
  // Gaussian motor noise under a rule: true, the split rule of models/kink_split.hpp (a cost with
  // a kink at r = s); false, the product rule with r = a + sa u (a truncated cost, Linex).
  bool split_lines = false;
  float* loss = nullptr;          // [n] out
  float* dloss_da = nullptr;      // [n] out
};
/// A function pointer bound to the data it needs (a formula's program, a user's block
/// evaluator): one indirect call per use, never per element. Called like the function itself.
template <class Sig> struct BoundFn;
template <class R, class... A> struct BoundFn<R(A...)> {
  R (*fn)(const void* ctx, A...) = nullptr;
  const void* ctx = nullptr;
  R operator()(A... a) const { return fn(ctx, a...); }
  explicit operator bool() const { return fn != nullptr; }
};
using FusedKernel = BoundFn<void(const FusedArgs&)>;
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
  detail::BoundFn<double(double s, double r, const double* p)> loss;
  /// ℓ(s, r; p), and dℓ/dr in *dl_dr (forward-mode dual numbers).
  detail::BoundFn<double(double s, double r, const double* p, double* dl_dr)> loss_dr;
  /// Optional: loss_dr at n points (s[i], r[i]) with the same parameters, into l[i] and
  /// dl_dr[i]. The ground truth uses it when set (a formula runs its program once per block
  /// instead of once per point).
  detail::BoundFn<void(std::size_t n, const double* s, const double* r, const double* p, double* l, double* dl_dr)>
      loss_dr_n;
  /// The fused SIMD training kernel for this family.
  detail::FusedKernel fused;
  /// Keeps the evaluators' bound data alive (a formula's program); null for the built-ins.
  std::shared_ptr<const void> owner;
  /// For a cost given as a formula (models/formula.hpp): its text, else empty. Networks trained
  /// for it record the formula and the priors in their metadata.
  std::string expression;
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
  /// When > 0: the second r-derivative of ℓ jumps where params[0] (r − s) = seam (for
  /// params[0] > 0): Linex, whose exp is continued linearly beyond c(r − s) = 10. The ground truth
  /// and the generalized-noise training rule cut the posterior line there per motor node.
  double seam = 0.0;
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

/// All seven families of docs/model.md, then those registered later (register_cost, a formula,
/// a network file's formula), in a stable order. Entries never move: references stay valid.
/// Registration is not synchronised with iteration: register before using the list in threads.
const std::deque<CostInfo>& cost_families();
/// Adds a cost to the registry (models/custom_cost.hpp builds one from a C++ struct,
/// models/formula.hpp from a formula) and returns the registered entry. Throws
/// std::invalid_argument naming the field when the name is empty or taken by a different cost,
/// an evaluator is missing, or a setting is out of range. Registering the same formula twice
/// returns the first entry.
const CostInfo& register_cost(CostInfo cost);
/// The output head `bactor train --head auto` picks: "posterior" for homogeneous costs, else
/// "mupost" (measured 10-50x more accurate than softplus for the three others; README).
const char* default_head_name(const CostInfo& cost);
/// Throws std::invalid_argument("unknown cost 'X' (known: ...)").
const CostInfo& find_cost(const std::string& name);
/// Number of theta entries for a family: 4 + cost parameters.
inline std::size_t theta_size(const CostInfo& cost) { return 4 + cost.params.size(); }
/// Validates a cost's settings (motor_truncation >= 0, motor_importance_scale >= 0 and only
/// with a truncation, no kink together with a truncation, at most detail::max_cost_params
/// parameters) and fills what is left to detection: kink -1 detects kink_at_s_equals_r
/// (detect_kink), 0/1 declares it; homogeneity_degree -1 detects it (detect_homogeneity), else
/// declares it. Throws std::invalid_argument naming the setting.
void finish_cost_settings(CostInfo& cost, int kink, int homogeneity_degree);
/// Names of theta in order: sigma, sigma_0, mu_0, sigma_r, then the cost parameters.
std::vector<std::string> theta_names(const CostInfo& cost);
/// Draws one value from a prior.
double sample_prior(const ParamPrior& prior, Rng& rng);
/// "uniform:A:B" or "lognormal:LOC:SCALE" (LOC on the log scale), the text parse_param_prior reads.
std::string to_string(const ParamPrior& prior);
/// Parses "uniform:A:B" (A < B) or "lognormal:LOC:SCALE" (SCALE > 0) for parameter `name`;
/// throws std::invalid_argument naming the parameter and the text.
ParamPrior parse_param_prior(const std::string& name, const std::string& text);

/// The degree p (1..6) with ℓ(λs, λr) = λ^p ℓ(s, r), checked numerically to 1e-9 relative on
/// 200 points (s, r in (0.1, 7), cost parameters from their priors, λ in {0.37, 1.9, 4.3}); 0
/// when there is none.
int detect_homogeneity(const CostInfo& cost);
/// True when ℓ has a kink at s = r (a jump in dℓ/dr or d²ℓ/dr² there), or when the ground
/// truth's expected cost (Gauss–Hermite) differs from the split rule at s = r by more than 1e-7
/// relative on a grid of posteriors over the training range (a sharp peak, InvertedGaussian).
/// Costs with motor_truncation only get the derivative test (the split rule has no truncation).
bool detect_kink(const CostInfo& cost);

/// Closed-form optimal action (throws std::invalid_argument when !closed_form).
/// theta = (sigma, sigma_0, mu_0, sigma_r, cost params...).
double closed_form_action(const CostInfo& cost, std::span<const double> theta, double m);
/// Expected-cost minimiser by quadrature (ground truth), any cost; relative accuracy 1e-6-ish.
/// Implemented in models/ground_truth.cpp (options there).
double numerical_action(const CostInfo& cost, std::span<const double> theta, double m);
/// Closed form when the family has one, numerical otherwise.
double optimal_action(const CostInfo& cost, std::span<const double> theta, double m);

} // namespace bactor
