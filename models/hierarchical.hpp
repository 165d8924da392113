// SPDX-License-Identifier: MIT
// A hierarchical cohort model (docs/hierarchical.md) as a bactor::Model: J subjects, each a
// Bayesian actor as in models/inference.hpp, whose pooled parameters are drawn from a
// population distribution inferred jointly with them.
//
// Population model: for every pooled parameter k and subject j, the parameter's unconstrained
// value theta_jk (log for a positive parameter, logit((v - lo)/(hi - lo)) for a cost parameter
// with a uniform prior) is theta_jk ~ Normal(m_k, tau_k), independently. Population priors:
//   m_k ~ Normal(loc_k, scale_k)  (defaults: log of the default prior's median for sigma,
//        sigma_0, sigma_r, i.e. log(0.674 * 0.25); log S for mu_0, S the geometric mean of the
//        cohort's stimuli, i.e. log(mu_0 / S) ~ Normal(0, 1); the log-normal prior's location
//        and scale for a cost parameter with one; 0 and 1.5 on the logit scale for a uniform one),
//   tau_k ~ HalfNormal(sd_scale_k)  (default 0.5).
// Parameters that are not pooled are shared by all subjects (one value, their usual prior) or
// fixed. Blocked cohorts (several conditions): each parameter of HierarchicalSpec::per_condition
// is one parameter per condition, pooled across subjects with its own population (subject j in
// condition c has theta_jc); the likelihood's rows are then subject x condition. The likelihood is the exact marginal of each subject's trials (closed form, or a
// power- or posterior-head network through sufficient statistics: O(subjects) per gradient)
// or the adaptive Gauss–Hermite marginal for a softplus-head network (O(trials)). With lapses
// each subject's trials are the single-subject lapse mixture with the subject's own lapse
// probability (logit-scale population) and contaminant range; under gaussian perception the
// trials are in linear space and mu_0 and the offset have normal populations on their own scale;
// under von Mises perception the trials are angles (the circular likelihood of models/circular.hpp,
// one row per subject), mu_0 is an angle whose population mean is uniform on the circle (sampled
// as the direction of a 2-D vector) and whose subjects spread about it as a wrapped normal
// (centred: each subject's angle its own 2-D vector; `noncentred`: m + tau z_j), and sigma,
// sigma_0, sigma_r have log-normal populations matching the
// single-subject prior HalfNormal(0.25)'s log mean and variance (docs/hierarchical.md).
//
// Sampling coordinates (HierParameterisation): `noncentred`, theta_jk = m_k + tau_k z_jk for
// every pooled k; or `aligned` (default), which follows what one subject's trials identify: the
// posterior weight w = sigma_0^2 / (sigma^2 + sigma_0^2), i.e. d = log sigma_0 - log sigma =
// logit(w) / 2, sampled centred; log sigma given d non-centred under its conditional population
// distribution (the ridge along which sigma and sigma_0 trade off), and sigma_0's population
// mean relative to sigma's; log mu_0 through the intercept kappa_j = (1 - w_hat_j) log mu_0 +
// w sigma^2/2 - 3 sigma_r^2/2 (w_hat_j the subject's least-squares slope, a constant), sampled
// centred, so that mu_0 follows sigma and sigma_r where the data fix only the intercept (needs
// sigma, sigma_0, mu_0 and sigma_r pooled, else log mu_0 centred; and the subjects' trials
// telling their mu_0 apart, else log mu_0 non-centred); the rest non-centred.
// `centred-mu0`: aligned with log mu_0 itself centred. Same posterior, different geometry
// (shifts and linear maps with constant Jacobians; the bivariate conditional's is exact).
// `automatic` (the default): `aligned` outside von Mises perception; under it `centred` (the
// aligned pair for sigma and sigma_0, each subject's mu_0 its own 2-D vector) or `noncentred`,
// chosen from the data before sampling (models/hierarchical.cpp, angle_spread_ratio; `aligned`
// and `centred-mu0` are read as `centred` there).
#pragma once

#include <bactor/models/data.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/motor.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/samplers/model.hpp>

#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace bactor {

namespace detail {
class SubjectExchange;  // models/hierarchical_fused.hpp
}

enum class HierParameterisation { aligned, centred_mu0, noncentred, automatic, centred };
/// "aligned" | "centred-mu0" | "noncentred" | "auto" | "centred"; throws
/// ArgumentError("parameterisation", ...) otherwise.
HierParameterisation parse_hier_parameterisation(const std::string& text);
const char* to_string(HierParameterisation p);

/// Prior of one pooled parameter's population mean and sd (unconstrained scale):
/// m ~ Normal(loc, scale), tau ~ HalfNormal(sd_scale).
struct PopulationPrior {
  double loc = 0, scale = 1, sd_scale = 0.5;
};
/// Parses "LOC:SCALE:SD_SCALE" (LOC on the unconstrained scale; for mu_0 log(mu_0 / S) is
/// what the default centres at 0, but LOC is on log mu_0 itself). SCALE may be "inf", which only
/// an angle's population mean takes (uniform on the circle).
PopulationPrior parse_population_prior(const std::string& text);
std::string to_string(const PopulationPrior& p);

/// What to infer for a cohort (data with a subject column; with a condition column, a blocked
/// cohort: every subject measured in several conditions).
struct HierarchicalSpec {
  const CostInfo* cost = nullptr;                // required
  std::shared_ptr<const ActionNetwork> network;  // null: the cost's closed form (or the exact action)
  bool exact_action = false;                     // the exact optimal action (excludes a network)
  // The response model (docs/families.md): sigma_a and the offset, where the model has them, are
  // parameters like the others (pooled by default: a log-normal population each, in the data's
  // units); the gaussian model has no sigma_r.
  MotorSpec motor;
  // Lapses (docs/hierarchical.md): each subject's trials are the mixture of InferenceSpec::lapse
  // with its own lapse probability `lapse` (a parameter like the others: pooled by default, with a
  // population on the logit scale; shared or fixed by `pooled` and `fixed`). The contaminant's
  // range: each subject's own, from its data as a fit of that subject alone takes it
  // (lapse_range()), or [lapse_lo, lapse_hi] for every subject when both are set.
  bool lapse = false;
  double lapse_lo = 0, lapse_hi = 0;
  // Gaussian perception (docs/hierarchical.md): stimuli and responses in linear space (any sign),
  // gaussian motor noise and the linear closed form only; mu_0 and the offset pooled with normal
  // populations on their own scale (they may be negative), the rest on the log scale. Von Mises
  // perception: angles in (-pi, pi], a cost check_circular_cost accepts, no network, lognormal
  // motor model without offset (read as von Mises motor noise), mu_0 an angle (see above).
  PerceptionModel perception = PerceptionModel::lognormal;
  std::set<std::string> pooled;                  // empty: every free parameter
  // With C > 1 conditions, the parameters that take one value per condition (as in
  // InferenceSpec): a pooled one has one population per condition (NAME.c.pop, NAME.c.sd, each
  // subject's NAME.c.sJ), a shared one a value per condition (NAME.c). The others are one value
  // per subject (pooled) or one for all (shared) in every condition.
  std::set<std::string> per_condition{"sigma"};
  // The maps below take NAME (every condition's) or, for a parameter of per_condition, NAME.c
  // (condition c's, 1-based; it wins over NAME).
  std::map<std::string, double> fixed;           // fixed for every subject
  std::map<std::string, Prior> priors;           // shared (not pooled) parameters' priors
  std::map<std::string, PopulationPrior> population;  // overrides of the population priors
  HierParameterisation parameterisation = HierParameterisation::automatic;
  bool log_lik = true;                           // log_lik.i, i in file order
  int quadrature_nodes = default_quadrature_nodes;
  // How the gradient is computed (not the model; results are bitwise the same for any threads
  // and any exchange): the fused node where it covers the spec (models/hierarchical_fused.hpp;
  // false: always the generic path), its threads (0: all), and a split of the subjects over processes
  // (null: this process; needs the fused path).
  bool fused = true;
  int threads = 1;
  std::shared_ptr<detail::SubjectExchange> exchange;
};

/// The default population prior of `name` (a parameter of `cost`) for a cohort whose stimuli
/// have geometric mean `scale_S` (under gaussian perception: root mean square, and mu_0 and the
/// offset on their own scale, not the log scale; under von Mises perception mu_0's is
/// 0:inf:SD_SCALE, its mean angle uniform on the circle: a VonMises(LOC, 1/SCALE^2) prior with
/// SCALE infinite).
PopulationPrior default_population_prior(const CostInfo& cost, const std::string& name, double scale_S,
                                         PerceptionModel perception = PerceptionModel::lognormal);

/// The posterior of a cohort: population means (unconstrained scale, q[0..P)), sds, shared
/// parameters and each subject's coordinates.
class HierarchicalModel final : public Model {
public:
  /// Validates (subject column, at least 2 subjects, names, fixed values, per_condition,
  /// network) and throws ArgumentError / std::invalid_argument naming what is wrong.
  HierarchicalModel(const Dataset& data, const HierarchicalSpec& spec);
  ~HierarchicalModel() override;
  HierarchicalModel(const HierarchicalModel&) = delete;
  HierarchicalModel& operator=(const HierarchicalModel&) = delete;

  std::size_t dim() const override;
  double log_density(std::span<const double> q, std::span<double> grad) override;
  /// NAME.pop (the population median in the parameter's units: the constrained value at
  /// m_k) and NAME.sd (tau_k, on the unconstrained scale) per pooled parameter; then each
  /// shared parameter NAME; then NAME.sJ per pooled parameter and subject j (1-based, in
  /// subject_ids() order); then log_lik.i (file order). NAME is a pooled_names() /
  /// shared_names() entry: a parameter that varies by condition is NAME.c (NAME.c.pop,
  /// NAME.c.sd, NAME.c.sJ). Under von Mises perception mu_0.pop is the population's mean
  /// angle and mu_0.sd its wrapped-normal sd (radians); angles are written wrapped into
  /// (LOC - pi, LOC + pi], LOC the population prior's location (default 0).
  std::vector<std::string> output_names() const override;
  void write_outputs(std::span<const double> q, Rng& rng, std::span<double> out) override;

  /// Subject ids in order of first appearance (subject j + 1 in the output names).
  const std::vector<std::string>& subject_ids() const;
  /// Pooled parameters in output order (mu_0, sigma_0, sigma_r, sigma, cost parameters; one
  /// that varies by condition as NAME.1..NAME.C).
  std::vector<std::string> pooled_names() const;
  /// Shared (not pooled, not fixed) parameters in output order (NAME, or NAME.c as above).
  std::vector<std::string> shared_names() const;
  /// Each shared parameter's prior (data units), in shared_names() order.
  std::vector<std::pair<std::string, Prior>> shared_priors() const;
  /// The data's condition labels (condition c + 1 in the names NAME.c).
  const std::vector<std::string>& condition_labels() const;
  /// The population prior used for each pooled parameter (by pooled_names(); defaults with overrides).
  std::map<std::string, PopulationPrior> population_priors() const;
  /// The geometric mean of the cohort's stimuli (the default population centre of mu_0).
  double stimulus_scale() const;
  /// Names of the parameter columns (everything before log_lik).
  std::vector<std::string> parameter_names() const;
  /// Unconstrained point with the population means at `pop` (constrained values by name;
  /// missing: the prior centre), sds at `sd` (missing: sd_scale), each subject at its
  /// population median. For inits and tests.
  std::vector<double> initial_point(const std::map<std::string, double>& pop = {},
                                    const std::map<std::string, double>& sd = {}) const;
  /// Each subject's theta at q: J rows (subject_ids() order) of C blocks (conditions) of
  /// theta_names(cost, motor) values, with lapses followed by the lapse probability, row-major
  /// (one condition: J rows of theta).
  std::vector<double> subject_theta(std::span<const double> q) const;
  /// With lapses: each subject's contaminant range (lo, hi) of r, in subject_ids() order.
  std::vector<std::pair<double, double>> lapse_ranges() const;
  /// True when the gradient runs through the fused node (models/hierarchical_fused.hpp).
  bool fused() const;
  /// How each pooled parameter (NAME or NAME.c) is sampled: "noncentred", "centred", "ridge"
  /// (log sigma given the difference), "difference" (log sigma_0 - log sigma) or "intercept"
  /// (log mu_0 through the quadratic actor's intercept); see the coordinates above.
  std::map<std::string, std::string> coordinates() const;
  /// The coordinates in use: the spec's, with `automatic` resolved (aligned outside von Mises
  /// perception, centred or noncentred under it) and, under von Mises perception, `aligned` and
  /// `centred-mu0` read as `centred`.
  HierParameterisation parameterisation() const;
  /// Under von Mises perception: the statistic `automatic` decides by, the between-subject
  /// variance of the subjects' mu_0 estimated from their trials over the median subject's
  /// sampling variance of its estimate (centred when above the threshold; docs/hierarchical.md);
  /// NaN otherwise or when fewer than 2 subjects give an estimate.
  double angle_spread_ratio() const;
  /// Per-trial marginal log-likelihood at q, in file order.
  void trial_loglik(std::span<const double> q, std::span<double> out);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A simulated cohort: each subject's parameters drawn around the population medians in
/// `base.values` (log-normal: log v_j = log v + spread z_j; a cost parameter with a uniform
/// prior on its logit scale; under von Mises perception mu_0 wrapped normally, mu_0 + spread z_j
/// wrapped), then `base.trials` trials each (simulate(), seed base.seed + j).
/// With lapses (base.lapse > 0) a spread of "lapse" draws each subject's lapse probability
/// logit-normally around base.lapse (from a stream of its own, so no other value changes); the
/// truth then holds each subject's "lapse".
struct CohortSpec {
  SimulationSpec base;
  std::size_t subjects = 20;
  std::map<std::string, double> spread;  // sd of the unconstrained value; missing: the same for all
};
struct Cohort {
  Dataset data;                                      // subject ids "1".."J", one condition
  std::vector<std::map<std::string, double>> truth;  // each subject's values
};
/// Throws ArgumentError("spread", ...) for a name without a value or a negative sd.
Cohort simulate_cohort(const CohortSpec& spec);

} // namespace bactor
