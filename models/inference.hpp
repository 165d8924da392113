// SPDX-License-Identifier: MIT
// The inference model of docs/inference.md as a bactor::Model: log posterior of the actor's
// parameters given trials (s_i, r_i), on the unconstrained scale; log_density builds it from
// tape nodes (models/inference_nodes.hpp) and the tape's reverse pass computes its gradient.
//
// Parameters (constrained): sigma, sigma_0, mu_0, sigma_r, cost parameters; those of
// InferenceSpec::per_condition (default: sigma) one per condition, the others shared.
// Priors: sigma, sigma_0, sigma_r ~ HalfNormal(0.25), mu_0 ~ U(0.1, 5), cost parameters as in
// the cost family; any can be overridden or fixed. Positive parameters are sampled as log,
// interval parameters as logit, with the log-Jacobian added.
// Likelihood: per trial u_i = log m_i ~ N(log s_i, sigma_c), log r_i ~ N(log a(m_i), sigma_r).
// The latent u_i is either integrated out (LatentMode::marginal: exact for the closed forms,
// adaptive Gauss–Hermite for a network) or sampled non-centred, u_i = log s_i + sigma_c z_i
// with z_i ~ N(0, 1) (LatentMode::sampled).
#pragma once

#include <bactor/models/data.hpp>
#include <bactor/models/marginal.hpp>
#include <bactor/samplers/model.hpp>

#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace bactor {

struct CostInfo;
class ActionNetwork;

enum class LatentMode { marginal, sampled };
LatentMode parse_latent_mode(const std::string& text);  // "marginal" | "sampled"
const char* to_string(LatentMode mode);

/// Prior of one parameter. half_normal(scale a); uniform(a, b); lognormal(log-loc a, scale b).
struct Prior {
  enum class Kind { half_normal, uniform, lognormal } kind = Kind::half_normal;
  double a = 0.25, b = 0;
  /// log density (up to a constant) at the constrained value v. (Its gradient, with the
  /// transform's, is the constrain node's: models/inference_nodes.hpp.)
  double log_density(double v) const;
  bool in_support(double v) const;
};
/// Parses "halfnormal:SCALE", "uniform:LO:HI" or "lognormal:LOC:SCALE" (LOC on the log scale).
Prior parse_prior(const std::string& text);
std::string to_string(const Prior& prior);
/// The default prior of every parameter of `cost` with `conditions` conditions, in slot order:
/// sigma, sigma_0, mu_0, sigma_r, the cost parameters, each parameter in `per_condition` as
/// NAME.1..NAME.C when conditions > 1 (the two-argument form: only sigma varies).
std::vector<std::pair<std::string, Prior>> default_priors(const CostInfo& cost, std::size_t conditions = 1);
std::vector<std::pair<std::string, Prior>> default_priors(const CostInfo& cost, std::size_t conditions,
                                                          const std::set<std::string>& per_condition);
/// Checks that every name of `per_condition` is a parameter of `cost` (theta_names); throws
/// ArgumentError("per_condition", ...) naming the first that is not.
void check_per_condition(const CostInfo& cost, const std::set<std::string>& per_condition);

/// What to infer and how.
struct InferenceSpec {
  const CostInfo* cost = nullptr;                    // required
  std::shared_ptr<const ActionNetwork> network;      // null: the cost's closed form (or the exact action)
  // The exact optimal action inside the likelihood (models/exact_action.hpp): the ground-truth
  // solver per gradient, any cost, slow; excludes a network; marginal latent mode only.
  bool exact_action = false;
  // The parameters that take one value per condition (with C > 1 conditions named NAME.1..C,
  // in condition order): any of mu_0, sigma_0, sigma, sigma_r and the cost's parameters.
  std::set<std::string> per_condition{"sigma"};
  std::map<std::string, double> fixed;               // "mu_0" (every condition's), "mu_0.2", "sigma_r", ...
  std::map<std::string, Prior> priors;               // overrides by the same names ("mu_0": every condition's)
  LatentMode latent = LatentMode::marginal;
  bool predict = false;                              // add r_rep.i to the outputs
  bool log_lik = true;                               // add log_lik.i (per-trial log-likelihood)
  int quadrature_nodes = default_quadrature_nodes;   // network marginal only; -1: by sigma
};

/// Power-law form of a closed-form actor: log a = log_k + w log m. `theta` as in theta_names;
/// `jac` (2 x theta.size(), row-major) receives d(log_k, w)/d theta. Throws
/// std::invalid_argument for a cost without a power-law closed form.
PowerHead closed_form_head(const CostInfo& cost, std::span<const double> theta, double* jac = nullptr);

/// The posterior of docs/inference.md for one data set.
class ActorModel final : public Model {
public:
  /// Validates the spec against the data (unknown names, fixed values outside the prior's
  /// support, network cost/parameter mismatch) and throws std::invalid_argument naming them.
  ActorModel(const Dataset& data, const InferenceSpec& spec);
  ~ActorModel() override;
  ActorModel(const ActorModel&) = delete;
  ActorModel& operator=(const ActorModel&) = delete;

  std::size_t dim() const override;
  double log_density(std::span<const double> q, std::span<double> grad) override;
  std::vector<std::string> output_names() const override;
  void write_outputs(std::span<const double> q, Rng& rng, std::span<double> out) override;

  /// Names of the free (sampled) parameters in output order (mu_0, sigma_0, sigma_r, sigma,
  /// cost params; a per-condition one as NAME.1..C), fixed ones left out.
  std::vector<std::string> free_names() const;
  /// Names of all parameters in output order (free and fixed).
  std::vector<std::string> all_names() const;
  /// Number of free parameters (dim() minus the latents in sampled mode).
  std::size_t n_free() const;
  /// Unconstrained point from constrained values by name (missing: prior-median-ish default;
  /// latents 0). For inits and tests.
  std::vector<double> unconstrain(const std::map<std::string, double>& values) const;
  /// Constrained values of all parameters in all_names() order at q.
  std::vector<double> constrain(std::span<const double> q) const;
  /// Per-trial log-likelihood at q (marginal: log p(r_i | theta); sampled: given z_i).
  void trial_loglik(std::span<const double> q, std::span<double> out);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace bactor
