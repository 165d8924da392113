// SPDX-License-Identifier: MIT
// The inference model of docs/inference.md as a bactor::Model: log posterior of the actor's
// parameters given trials (s_i, r_i), on the unconstrained scale; log_density builds it from
// tape nodes (models/inference_nodes.hpp) and the tape's reverse pass computes its gradient.
//
// Parameters (constrained): sigma, sigma_0, mu_0, sigma_r, cost parameters; those of
// InferenceSpec::per_condition (default: sigma) one per condition, the others shared.
// Units (docs/inference.md, "Units"): a fit works in units of a scale S, by default the
// geometric mean of the data's stimuli: s / S, r / S, mu_0 / S; the sigmas are log-scale and
// unit-free, and the cost parameters are read in units of S. The same data in seconds and in
// milliseconds then give the same posterior (mu_0 scaled by 1000). Priors, fixed values and
// outputs are in the data's units.
// Priors: sigma, sigma_0, sigma_r ~ HalfNormal(0.25), log(mu_0 / S) ~ N(0, 1), cost parameters
// as in the cost family; any can be overridden or fixed. Positive parameters are sampled as
// log, interval parameters as logit, with the log-Jacobian added.
// Likelihood: per trial u_i = log m_i ~ N(log s_i, sigma_c), log r_i ~ N(log a(m_i), sigma_r).
// The latent u_i is either integrated out (LatentMode::marginal: exact for the closed forms,
// adaptive Gauss–Hermite for a network) or sampled non-centred, u_i = log s_i + sigma_c z_i
// with z_i ~ N(0, 1) (LatentMode::sampled).
// Lapses (InferenceSpec::lapse): per trial p(r_i) = (1 - lapse) p_actor(r_i | theta) + lapse
// p_cont(r_i), the contaminant log r ~ U(log lo, log hi) (lapse_range; docs/inference.md).
// Gaussian perception (InferenceSpec::perception; docs/families.md, "Perception"): linear space,
// trials s / S and r / S with S the stimuli's root mean square, sigma and sigma_0 in data units
// too, the exact marginal of the affine closed-form action (models/perception_linear.hpp).
#pragma once

#include <bactor/models/data.hpp>
#include <bactor/models/marginal.hpp>
#include <bactor/models/motor.hpp>
#include <bactor/models/perception.hpp>
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

/// Prior of one parameter. half_normal(scale a); uniform(a, b); lognormal(log-loc a, scale b);
/// beta(shapes a, b) on (0, 1), sampled as logit v; normal(loc a, scale b) on the real line
/// (gaussian perception's mu_0 and offset), sampled as v itself; vonmises(mean angle a,
/// concentration b >= 0; b = 0 is uniform on the circle) for an angle (mu_0 under --perception
/// vonmises), sampled on the real line as it is (the density is periodic: HMC there is HMC on the
/// circle), its draws written wrapped into (a - pi, a + pi].
struct Prior {
  enum class Kind { half_normal, uniform, lognormal, beta, normal, vonmises } kind = Kind::half_normal;
  double a = 0.25, b = 0;
  /// log density (up to a constant) at the constrained value v. (Its gradient, with the
  /// transform's, is the constrain node's: models/inference_nodes.hpp.)
  double log_density(double v) const;
  bool in_support(double v) const;
};
/// Parses "halfnormal:SCALE", "uniform:LO:HI", "lognormal:LOC:SCALE" (LOC on the log scale),
/// "beta:A:B" (shapes, both positive), "normal:LOC:SCALE" or "vonmises:LOC:KAPPA" (an angle's; KAPPA >= 0).
Prior parse_prior(const std::string& text);
/// Throws ArgumentError("priors", ...) for a uniform prior with LO < 0 on a parameter that cannot
/// be negative: one whose default prior is not uniform with LO < 0 (a cost parameter of either
/// sign), unless `any_sign` (mu_0 and the offset under gaussian perception).
void check_prior_sign(const std::string& name, const Prior& given, const Prior& default_prior, bool any_sign);
std::string to_string(const Prior& prior);
/// The default prior of every parameter of `cost` with `conditions` conditions, in slot order:
/// sigma, sigma_0, mu_0, sigma_r, the cost parameters, each parameter in `per_condition` as
/// NAME.1..NAME.C when conditions > 1 (the two-argument form: only sigma varies). In units of
/// the fit's scale S: mu_0's entry, lognormal:0:1, is the prior of mu_0 / S (in data units
/// lognormal:log(S):1; see prior_in_data_units).
std::vector<std::pair<std::string, Prior>> default_priors(const CostInfo& cost, std::size_t conditions = 1);
/// With `lapse`, the lapse probability's prior (lapse_prior()) comes last, as "lapse" (or
/// lapse.1..C when per_condition holds "lapse").
std::vector<std::pair<std::string, Prior>> default_priors(const CostInfo& cost, std::size_t conditions,
                                                          const std::set<std::string>& per_condition, bool lapse = false);
/// Under a motor model (models/motor.hpp): the gaussian model has no sigma_r; sigma_a and the
/// offset follow the cost parameters, each HalfNormal(0.25) in units of S (motor_prior()).
/// Under gaussian perception (units of S, a spread of the stimuli): sigma ~ HalfNormal(0.25),
/// sigma_0 ~ HalfNormal(1), mu_0 ~ Normal(0, 1), sigma_a ~ HalfNormal(0.25), offset ~ Normal(0, 0.25).
std::vector<std::pair<std::string, Prior>> default_priors(const CostInfo& cost, const MotorSpec& motor,
                                                          std::size_t conditions,
                                                          const std::set<std::string>& per_condition, bool lapse = false,
                                                          PerceptionModel perception = PerceptionModel::lognormal);
/// The default prior of sigma_a and of the offset, in units of S: HalfNormal(0.25).
Prior motor_prior();
/// Whether a parameter carries the data's units (mu_0, sigma_a, offset and their per-condition
/// copies NAME.c; under gaussian perception also sigma and sigma_0).
bool has_data_units(const std::string& name, PerceptionModel perception = PerceptionModel::lognormal);
/// A prior of mu_0 / S as the prior of mu_0 (for data units), and back: uniform bounds and a
/// half-normal scale are multiplied by S, a log-normal location is shifted by log S (a beta
/// prior, for probabilities, is refused unless S = 1).
Prior prior_in_data_units(const Prior& prior, double scale);
Prior prior_in_scale_units(const Prior& prior, double scale);
/// The geometric mean of the stimuli: the default scale S of a fit (Dataset must be non-empty).
double geometric_mean_stimulus(const Dataset& data);
/// The root mean square of the stimuli, sqrt(mean s^2): the default scale S under gaussian
/// perception, where stimuli may have any sign (a spread of the stimuli about 0).
double rms_stimulus(const Dataset& data);
/// The default scale S of a fit under a perception model (one of the two above).
double default_scale(const Dataset& data, PerceptionModel perception);

/// Checks that every name of `per_condition` is a parameter of `cost` (theta_names, and "lapse"
/// when `lapse`); throws ArgumentError("per_condition", ...) naming the first that is not.
void check_per_condition(const CostInfo& cost, const std::set<std::string>& per_condition, bool lapse = false);

/// The default prior of the lapse probability: Beta(2, 50) (mean 3.8%, mode 2%, 90% of its mass
/// between 0.7% and 9.0%).
Prior lapse_prior();
/// How far the default contaminant's range is widened beyond a response that falls outside
/// stimulus_lapse_range (models/data.hpp): a factor e^0.5 = 1.65.
inline constexpr double lapse_margin = 0.5;

/// How a von Mises fit samples mu_0 (InferenceSpec::mu0_coordinates; docs/families.md, "Circular
/// tasks"): `angle`, the angle itself on the real line (its density is periodic); `vector`, the
/// direction atan2(y, x) of a 2-D vector (x, y) whose length rho has the density N(1, 0.1^2) / rho
/// on the plane, so that mu_0's marginal is its prior's: NUTS moves mu_0 around the circle by
/// moving the vector, which helps where the data hardly inform mu_0 (trees at the maximum depth
/// on the line) and costs where they do.
enum class Mu0Coordinates { angle, vector };
Mu0Coordinates parse_mu0_coordinates(const std::string& text);  // "angle" | "vector"
const char* to_string(Mu0Coordinates coordinates);

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
  // The unit S of the fit: 0 (default) the geometric mean of the data's stimuli; 1 the data's
  // own units; any other positive value is used as given.
  double scale = 0;
  // Lapses: with probability `lapse` (a parameter like the others: prior lapse_prior(), "lapse"
  // in priors/fixed/per_condition; shared by default) a response comes from the contaminant,
  // log r ~ U(log lapse_lo, log lapse_hi). Both 0: the range from the data (lapse_range).
  // Marginal latent mode only.
  bool lapse = false;
  double lapse_lo = 0, lapse_hi = 0;
  // The response model (models/motor.hpp): motor noise family and offset. Anything but the
  // plain log-normal model adds its parameters (sigma_a, offset; data units) and uses the
  // quadrature marginal (marginal latent mode, no lapses, no exact action; single-subject).
  MotorSpec motor;
  // The perception model (models/perception.hpp); a network must have been trained for it.
  PerceptionModel perception = PerceptionModel::lognormal;
  // Von Mises perception only (else refused unless `angle`): the coordinates of every free mu_0
  // (Mu0Coordinates). `vector` adds one sampled coordinate per free mu_0 after the free
  // parameters (dim() = n_free() + their number); the outputs are unchanged.
  Mu0Coordinates mu0_coordinates = Mu0Coordinates::angle;
};

/// The values the data of a fit may take (read_dataset): any sign under gaussian perception,
/// angles under von Mises perception, positive stimuli with responses of any sign under gaussian
/// motor noise, else both positive.
ValueDomain value_domain(const InferenceSpec& spec);

/// The contaminant's range (lo, hi) of r that `spec` gives for `data`: spec.lapse_lo/hi when
/// set (ArgumentError("lapse_range") unless 0 < lo < hi and every response inside, saying which
/// range would hold them), else stimulus_lapse_range(data.s) -- the range `simulate` draws lapses
/// from -- widened to e^lapse_margin beyond any response outside it (the contaminant must hold
/// every response). Under von Mises perception: (-pi, pi), the whole circle.
std::pair<double, double> lapse_range(const Dataset& data, const InferenceSpec& spec);

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
  /// Under von Mises perception with mu0_coordinates `angle`: the coordinate of every free mu_0
  /// (the angle itself; the density is 2 pi-periodic in it). Otherwise none.
  std::vector<std::size_t> angle_coordinates() const override;

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
  /// Per-trial log-likelihood at q (marginal: log p(r_i | theta); sampled: given z_i), as the
  /// density of r in the data's units.
  void trial_loglik(std::span<const double> q, std::span<double> out);
  /// The scale S the fit works in (InferenceSpec::scale, resolved).
  double scale() const;
  /// The prior of every free parameter in free_names() order, in the data's units (defaults
  /// with the overrides applied): what the draws files record.
  std::vector<std::pair<std::string, Prior>> free_priors() const;

  /// Where the posterior leaves the region the network was trained on (its metadata's
  /// training_priors, compared in units of S). `draws`: rows of free-parameter values in
  /// free_names() order (data units), as sampled. Without a network: nothing to check.
  struct RegionCheck {
    bool checked = false;            // a network with recorded training priors
    double stimuli_outside = 0;      // share of the data's stimuli s / S outside the trained range
    double draws_outside = 0;        // share of draws with any checked parameter outside
    std::vector<std::pair<std::string, double>> by_parameter;  // share outside, per parameter (> 0 only)
    std::string exact_note;          // what needs no check because the head is exact there
  };
  RegionCheck training_region(const std::vector<std::vector<double>>& draws) const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace bactor
