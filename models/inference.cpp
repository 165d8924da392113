// SPDX-License-Identifier: MIT
#include <bactor/models/inference.hpp>
#include <bactor/models/network_node.hpp>
#include <bactor/engine/errors.hpp>
#include <bactor/engine/ops.hpp>

#include <bactor/engine/rng.hpp>
#include <bactor/engine/tape.hpp>
#include <bactor/models/actor.hpp>
#include <bactor/models/costs.hpp>
#include "models/number_text.hpp"
#include "models/exact_action.hpp"
#include "models/inference_kernels.hpp"
#include "models/inference_nodes.hpp"
#include "models/circular.hpp"
#include "models/likelihood_plan.hpp"
#include "engine/tape_view.hpp"
#include <bactor/models/network.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <numbers>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace bactor {

namespace {

std::string fmt(double v) { return detail::format_number(v); }

double parse_number(const std::string& text, const std::string& what) {
  const auto v = detail::parse_finite(text);
  if (!v) throw std::invalid_argument(what + ": '" + text + "' is not a finite number");
  return *v;
}

} // namespace

LatentMode parse_latent_mode(const std::string& text) {
  if (text == "marginal") return LatentMode::marginal;
  if (text == "sampled") return LatentMode::sampled;
  throw ArgumentError("latent", "'" + text + "' (expected marginal or sampled)");
}

const char* to_string(LatentMode mode) { return mode == LatentMode::marginal ? "marginal" : "sampled"; }

Mu0Coordinates parse_mu0_coordinates(const std::string& text) {
  if (text == "angle") return Mu0Coordinates::angle;
  if (text == "vector") return Mu0Coordinates::vector;
  throw ArgumentError("mu0_coordinates", "'" + text + "' (expected angle or vector)");
}

const char* to_string(Mu0Coordinates coordinates) { return coordinates == Mu0Coordinates::angle ? "angle" : "vector"; }

double Prior::log_density(double v) const {
  switch (kind) {
  case Kind::half_normal: return -0.5 * v * v / (a * a);
  case Kind::uniform: return 0;
  case Kind::lognormal: {
    const double lv = std::log(v), e = (lv - a) / b;
    return -0.5 * e * e - lv;
  }
  case Kind::beta: return (a - 1) * std::log(v) + (b - 1) * std::log1p(-v);
  case Kind::normal: {
    const double e = (v - a) / b;
    return -0.5 * e * e;
  }
  case Kind::vonmises: return b * std::cos(v - a);
  }
  return 0;
}

bool Prior::in_support(double v) const {
  if (!std::isfinite(v)) return false;
  if (kind == Kind::beta) return v > 0 && v < 1;
  if (kind == Kind::normal) return true;
  if (kind == Kind::vonmises) return true;
  return kind == Kind::uniform ? (v > a && v < b) : v > 0;
}

void check_prior_sign(const std::string& name, const Prior& given, const Prior& default_prior, bool any_sign) {
  const bool negative_default = default_prior.kind == Prior::Kind::uniform && default_prior.a < 0;
  if (given.kind == Prior::Kind::uniform && given.a < 0 && !negative_default && !any_sign)
    throw ArgumentError("priors", name + "=" + to_string(given) + ": LO < 0, but " + name +
                                      " is positive (uniform:LO:HI with 0 <= LO)");
}

Prior parse_prior(const std::string& text) {
  const std::vector<std::string> parts = detail::split_fields(text, ':');
  const std::string what = "prior '" + text + "'";
  Prior p;
  if (parts[0] == "halfnormal" && parts.size() == 2) {
    p.kind = Prior::Kind::half_normal;
    p.a = parse_number(parts[1], what);
    if (!(p.a > 0)) throw std::invalid_argument(what + ": scale must be positive");
  } else if (parts[0] == "uniform" && parts.size() == 3) {
    p.kind = Prior::Kind::uniform;
    p.a = parse_number(parts[1], what);
    p.b = parse_number(parts[2], what);
    // LO < 0 only for a parameter that may be negative (the model checks which: check_prior_sign).
    if (!(p.b > p.a)) throw std::invalid_argument(what + ": need LO < HI");
  } else if (parts[0] == "lognormal" && parts.size() == 3) {
    p.kind = Prior::Kind::lognormal;
    p.a = parse_number(parts[1], what);
    p.b = parse_number(parts[2], what);
    if (!(p.b > 0)) throw std::invalid_argument(what + ": scale must be positive");
  } else if (parts[0] == "beta" && parts.size() == 3) {
    p.kind = Prior::Kind::beta;
    p.a = parse_number(parts[1], what);
    p.b = parse_number(parts[2], what);
    if (!(p.a > 0 && p.b > 0)) throw std::invalid_argument(what + ": shapes A and B must be positive");
  } else if (parts[0] == "normal" && parts.size() == 3) {
    p.kind = Prior::Kind::normal;
    p.a = parse_number(parts[1], what);
    p.b = parse_number(parts[2], what);
    if (!(p.b > 0)) throw std::invalid_argument(what + ": scale must be positive");
  } else if (parts[0] == "vonmises" && parts.size() == 3) {
    p.kind = Prior::Kind::vonmises;
    p.a = parse_number(parts[1], what);
    p.b = parse_number(parts[2], what);
    if (!(p.b >= 0)) throw std::invalid_argument(what + ": the concentration KAPPA must be >= 0");
  } else {
    throw std::invalid_argument(what + ": expected halfnormal:SCALE, uniform:LO:HI, lognormal:LOC:SCALE, beta:A:B, "
                                       "normal:LOC:SCALE or vonmises:LOC:KAPPA");
  }
  // Values far outside what data can be (1e-100..1e100 in magnitude) overflow the sampler's
  // transforms: a lognormal LOC of 1000 put mu_0 at 5e305 with an infinite sd.
  if (!(std::abs(p.a) <= 1e100 && std::abs(p.b) <= 1e100))
    throw std::invalid_argument(what + ": every number must be within 1e100 in magnitude (the range data may take)");
  if (p.kind == Prior::Kind::lognormal && !(std::abs(p.a) <= 230 && p.b <= 100))
    throw std::invalid_argument(what + ": need |LOC| <= 230 (e^LOC within 1e-100..1e100, LOC is on the log scale) and SCALE <= 100");
  return p;
}

std::string to_string(const Prior& p) {
  switch (p.kind) {
  case Prior::Kind::half_normal: return "halfnormal:" + fmt(p.a);
  case Prior::Kind::uniform: return "uniform:" + fmt(p.a) + ":" + fmt(p.b);
  case Prior::Kind::lognormal: return "lognormal:" + fmt(p.a) + ":" + fmt(p.b);
  case Prior::Kind::beta: return "beta:" + fmt(p.a) + ":" + fmt(p.b);
  case Prior::Kind::normal: return "normal:" + fmt(p.a) + ":" + fmt(p.b);
  case Prior::Kind::vonmises: return "vonmises:" + fmt(p.a) + ":" + fmt(p.b);
  }
  return "?";
}

std::vector<std::pair<std::string, Prior>> default_priors(const CostInfo& cost, std::size_t conditions) {
  return default_priors(cost, conditions, {"sigma"});
}

ValueDomain value_domain(const InferenceSpec& spec) {
  if (spec.perception == PerceptionModel::gaussian) return ValueDomain::any;
  if (spec.perception == PerceptionModel::vonmises) return ValueDomain::circular;
  return spec.motor.model == MotorModel::gaussian ? ValueDomain::positive_stimuli : ValueDomain::positive;
}

Prior lapse_prior() { return Prior{Prior::Kind::beta, 2.0, 50.0}; }

std::pair<double, double> lapse_range(const Dataset& data, const InferenceSpec& spec) {
  if (data.size() == 0) throw std::invalid_argument(data.source + ": no trials");
  if (spec.perception == PerceptionModel::vonmises) return {-std::numbers::pi, std::numbers::pi};  // the whole circle
  double lo = INFINITY, hi = -INFINITY;
  std::size_t at_lo = 0, at_hi = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data.r[i] < lo) lo = data.r[i], at_lo = i;
    if (data.r[i] > hi) hi = data.r[i], at_hi = i;
  }
  const bool linear = spec.perception == PerceptionModel::gaussian;  // r of any sign: a range in r itself
  if (spec.lapse_lo == 0 && spec.lapse_hi == 0) {  // one definition with simulate (stimulus_lapse_range)
    if (linear) return detail::linear_lapse_range(data.s, &data.r);
    auto [slo, shi] = stimulus_lapse_range(data.s);
    if (lo < slo) slo = std::exp(std::log(lo) - lapse_margin);
    if (hi > shi) shi = std::exp(std::log(hi) + lapse_margin);
    return {slo, shi};
  }
  // The contaminant's density is 1 / (HI - LO): a width that overflows would make it 0, lapses
  // with no effect on the fit.
  if (!((linear || spec.lapse_lo > 0) && spec.lapse_hi > spec.lapse_lo) || !std::isfinite(spec.lapse_hi - spec.lapse_lo))
    throw ArgumentError("lapse_range", std::string(linear ? "need LO < HI" : "need 0 < LO < HI") + " with HI - LO finite, got " +
                                           fmt(spec.lapse_lo) + ":" + fmt(spec.lapse_hi));
  auto where = [&](std::size_t i) {
    return data.source + (i < data.line.size() ? ":" + std::to_string(data.line[i]) : std::string()) + ": r = " + fmt(data.r[i]);
  };
  // What would be accepted: the given range stretched to the responses (or the default).
  const std::string fix = "; the range must hold every response: give " + fmt(std::min(lo, spec.lapse_lo)) + ":" +
                          fmt(std::max(hi, spec.lapse_hi)) + " or wider, or no range for the default (the stimuli's range widened by e)";
  if (lo < spec.lapse_lo)
    throw ArgumentError("lapse_range", where(at_lo) + " is below the contaminant's range " + fmt(spec.lapse_lo) + ":" +
                                           fmt(spec.lapse_hi) + fix);
  if (hi > spec.lapse_hi)
    throw ArgumentError("lapse_range", where(at_hi) + " is above the contaminant's range " + fmt(spec.lapse_lo) + ":" +
                                           fmt(spec.lapse_hi) + fix);
  return {spec.lapse_lo, spec.lapse_hi};
}

namespace {
// The per-condition names against the model's parameters: theta_names(cost, motor) (sigma_a and
// the offset too, no sigma_r under gaussian motor noise), and "lapse" with lapses.
void check_per_condition_names(const CostInfo& cost, const MotorSpec& motor, const std::set<std::string>& per_condition,
                               bool lapse) {
  auto names = theta_names(cost, motor);
  if (!motor.has_sigma_r()) names.erase(std::find(names.begin(), names.end(), "sigma_r"));
  if (lapse) names.push_back("lapse");
  for (const auto& n : per_condition)
    if (n == "lapse" && !lapse) throw ArgumentError("per_condition", "'lapse' is a parameter only with lapses (--lapse)");
  for (const auto& n : per_condition)
    if (std::find(names.begin(), names.end(), n) == names.end()) {
      std::string list;
      for (const auto& k : names) list += (list.empty() ? "" : ", ") + k;
      throw ArgumentError("per_condition", "unknown parameter '" + n + "' for cost " + cost.name +
                                               (motor.plain() ? "" : " with motor noise " + motor.name()) + " (known: " + list + ")");
    }
}
} // namespace

void check_per_condition(const CostInfo& cost, const std::set<std::string>& per_condition, bool lapse) {
  check_per_condition_names(cost, MotorSpec{}, per_condition, lapse);
}

std::vector<std::pair<std::string, Prior>> default_priors(const CostInfo& cost, std::size_t conditions,
                                                          const std::set<std::string>& per_condition, bool lapse) {
  return default_priors(cost, MotorSpec{}, conditions, per_condition, lapse);
}

Prior motor_prior() { return Prior{Prior::Kind::half_normal, 0.25, 0}; }

std::vector<std::pair<std::string, Prior>> default_priors(const CostInfo& cost, const MotorSpec& motor,
                                                          std::size_t conditions,
                                                          const std::set<std::string>& per_condition, bool lapse,
                                                          PerceptionModel perception) {
  check_per_condition_names(cost, motor, per_condition, lapse);
  std::vector<std::pair<std::string, Prior>> base;
  const Prior half{Prior::Kind::half_normal, 0.25, 0};
  // Gaussian perception: everything but the cost parameters in units of S (a spread of the
  // stimuli); the prior of s is about as wide as the stimuli, mu_0 and the offset of either sign.
  const bool linear = perception == PerceptionModel::gaussian;
  base.emplace_back("sigma", half);
  base.emplace_back("sigma_0", linear ? Prior{Prior::Kind::half_normal, 1.0, 0} : half);
  base.emplace_back("mu_0", linear ? Prior{Prior::Kind::normal, 0.0, 1.0} : Prior{Prior::Kind::lognormal, 0.0, 1.0});  // of mu_0 / S
  if (motor.has_sigma_r()) base.emplace_back("sigma_r", half);
  for (const auto& p : cost.params)
    base.emplace_back(p.name, p.kind == ParamPrior::Kind::uniform ? Prior{Prior::Kind::uniform, p.a, p.b}
                                                                  : Prior{Prior::Kind::lognormal, p.a, p.b});
  for (const auto& name : motor.param_names())  // of sigma_a / S, offset / S
    base.emplace_back(name, linear && name == "offset" ? Prior{Prior::Kind::normal, 0.0, 0.25} : motor_prior());
  if (lapse) base.emplace_back("lapse", lapse_prior());
  std::vector<std::pair<std::string, Prior>> out;
  for (const auto& [name, prior] : base) {
    if (conditions > 1 && per_condition.count(name))
      for (std::size_t c = 0; c < conditions; ++c) out.emplace_back(name + "." + std::to_string(c + 1), prior);
    else
      out.emplace_back(name, prior);
  }
  return out;
}

bool has_data_units(const std::string& name, PerceptionModel perception) {
  auto is = [&](const char* base) { return name == base || name.rfind(std::string(base) + ".", 0) == 0; };
  for (const char* base : {"mu_0", "sigma_a", "offset"})
    if (is(base)) return true;
  return perception == PerceptionModel::gaussian && (is("sigma") || is("sigma_0"));
}

Prior prior_in_data_units(const Prior& p, double S) {
  Prior q = p;
  if (S == 1) return q;
  if (p.kind == Prior::Kind::beta) throw ArgumentError("priors", "a beta prior (" + to_string(p) + ") is for probabilities, not for mu_0");
  if (p.kind == Prior::Kind::lognormal) q.a = p.a + std::log(S);
  else q.a = p.a * S, q.b = p.b * S;
  return q;
}

Prior prior_in_scale_units(const Prior& p, double S) {
  Prior q = p;
  if (S == 1) return q;
  if (p.kind == Prior::Kind::beta) throw ArgumentError("priors", "a beta prior (" + to_string(p) + ") is for probabilities, not for mu_0");
  if (p.kind == Prior::Kind::lognormal) q.a = p.a - std::log(S);
  else q.a = p.a / S, q.b = p.b / S;
  return q;
}

double rms_stimulus(const Dataset& data) {
  double sum = 0;
  for (double v : data.s) sum += v * v;
  return std::sqrt(sum / double(data.size()));
}

double default_scale(const Dataset& data, PerceptionModel perception) {
  return perception == PerceptionModel::gaussian ? rms_stimulus(data) : geometric_mean_stimulus(data);
}

double geometric_mean_stimulus(const Dataset& data) {
  double sum = 0;
  for (double v : data.s) sum += std::log(v);
  return std::exp(sum / double(data.size()));
}

PowerHead closed_form_head(const CostInfo& cost, std::span<const double> theta, double* jac) {
  return detail::closed_form_head(detail::closed_form_of(cost), theta, jac);
}

// ---------------------------------------------------------------------------------------

struct ActorModel::Impl {
  struct Slot {
    std::string name;
    std::string base;  // the parameter's name (theta_names), without a condition suffix
    Prior prior;
    bool fixed = false;
    bool hidden = false;  // not a parameter of the model (the gaussian motor's sigma_r): fixed, no output
    double value = 0;  // when fixed
    int q = -1;        // unconstrained index when free
    double unit = 1;   // data units per model unit: S for mu_0, else 1
    bool logit() const { return prior.kind == Prior::Kind::uniform; }
    /// The value written out: in data units; an angle wrapped into (LOC - pi, LOC + pi], LOC its
    /// prior's location (default 0), so that a posterior near the seam can be moved off it.
    double output(double v) const {
      return prior.kind == Prior::Kind::vonmises ? prior.a + wrap_angle(v - prior.a) : v * unit;
    }
  };

  const CostInfo* cost;
  std::shared_ptr<const ActionNetwork> net;
  LatentMode latent;
  bool predict;
  bool log_lik = true;
  int C = 1;
  double S = 1, log_S = 0;  // the fit's unit (InferenceSpec::scale)
  bool linear = false;      // gaussian perception: trials in linear coordinates s / S, r / S
  std::size_t N = 0, n_theta = 0, n_free = 0;
  std::vector<Slot> slots;           // per theta name: one slot, or C (per condition)
  std::vector<int> first_slot;       // per theta index: its (first) slot
  std::vector<char> varies;          // per theta index: one slot per condition
  std::vector<int> out_order;        // slot indices in output order
  // Trials grouped by condition: positions begin[c] .. begin[c+1]; orig[k] = file index.
  std::vector<double> x, y;
  std::vector<std::size_t> begin, orig;
  // The likelihood (models/likelihood_plan.hpp): one row per condition, theta of condition c at
  // c * n_theta of the constrain node's output, its lapse probability at C * n_theta + c.
  detail::LikelihoodPlan lik;
  std::vector<detail::RowRef> rows;
  // The tape's view of the parameters: constrain_node's output holds theta of condition c at
  // c * n_theta .. (c + 1) * n_theta, then the prior + log-Jacobian term.
  detail::ConstrainPlan plan;
  // Scratch (one chain uses one model instance): constrained values by slot and in the
  // constrain node's layout, per-trial values grouped by condition, and the network's workspace
  // for the predictions.
  std::vector<double> val, theta, vlayout, grouped;
  ActionNetwork::Workspace ws;
  // Lapses: the lapse slot(s) (after the theta slots; one, or one per condition) and the
  // contaminant's range.
  bool lapse = false;
  int first_lapse_slot = -1;
  bool lapse_varies = false;
  double lapse_lo = 0, lapse_hi = 0, log_width = 0;

  // Von Mises perception (models/circular.hpp): the circular likelihood rows replace `lik`
  // (which is then an unused closed-form plan); angles in (-pi, pi], S = 1, mu_0 an angle.
  bool circular = false;
  bool vector_mu0 = false;  // InferenceSpec::mu0_coordinates == vector
  detail::CircularFit circ;
  // InferenceSpec::mu0_coordinates = vector: each free mu_0 as the direction of a 2-D vector, its
  // second coordinate after the free parameters; `inner` the free coordinates constrain_node reads.
  std::vector<detail::VectorAngle> vector_angles;
  std::vector<double> inner;

  Impl(const Dataset&, const InferenceSpec& spec)
      : lik((spec.cost ? (circular_spec(spec) ? find_cost("QuadraticCost") : *spec.cost)
                       : throw std::invalid_argument("inference: no cost family given")),
            circular_spec(spec) ? nullptr : spec.network, !circular_spec(spec) && spec.exact_action,
            circular_spec(spec) ? LatentMode::marginal : spec.latent, !circular_spec(spec) && spec.lapse, spec.quadrature_nodes,
            circular_spec(spec) ? MotorSpec{} : spec.motor,
            circular_spec(spec) ? PerceptionModel::lognormal : spec.perception) {}
  static bool circular_spec(const InferenceSpec& spec) { return spec.perception == PerceptionModel::vonmises; }

  bool exact() const { return lik.source == detail::SourceKind::exact; }
  int lapse_slot(int c) const { return first_lapse_slot + (lapse_varies ? c : 0); }
  int theta_slot(int c, std::size_t t) const { return first_slot[t] + (varies[t] ? c : 0); }

  // Constrained values of every slot at q (value-only paths: outputs, log_lik, predictions).
  void transform(std::span<const double> q) {
    if (!vector_angles.empty()) {
      detail::vector_angles_values(q, n_free, vector_angles, inner);
      q = inner;
    }
    for (std::size_t p = 0; p < slots.size(); ++p) {
      const Slot& s = slots[p];
      double dv, dlp;
      if (s.fixed) val[p] = s.value;
      else detail::constrain_slot(plan.slots[p], q[s.q], val[p], dv, dlp);
    }
  }

  void fill_theta(int c) {
    for (std::size_t t = 0; t < n_theta; ++t) theta[t] = val[theta_slot(c, t)];
  }

  SoftplusHead network_head(int c) {
    fill_theta(c);
    std::array<double, 3> xs{};
    net->forward(std::span<const double>(theta.data(), lik.n_action()), std::span<double, 3>(xs), ws);
    return SoftplusHead{softplus(xs[0]), sigmoid(xs[1]), xs[2]};
  }
  // Power-law actions, log a = log_k + w log m: the closed forms, and networks with the power
  // or posterior head.
  bool power_law() const {
    return lik.source == detail::SourceKind::closed_form || lik.source == detail::SourceKind::power_net;
  }
  PowerHead power_head(int c) {
    fill_theta(c);
    if (!net) return detail::closed_form_head(lik.closed_form, theta);
    std::array<double, 3> xs{};
    net->forward(std::span<const double>(theta.data(), lik.n_action()), std::span<double, 3>(xs), ws);
    return PowerHead{xs[0], sigmoid(xs[1])};
  }
  detail::MupostHead mupost_head(int c) {
    fill_theta(c);
    return detail::MupostHead{net.get(), theta.data(), &ws};
  }

  // The log-density as tape nodes, in one Scope: the free coordinates (and, with sampled
  // latents, the latents) as leaves; the constrained parameters with the prior and
  // log-Jacobian term; the likelihood of every condition as one composed node
  // (models/likelihood.hpp), which adds itself to the running sum. backward() then fills every
  // adjoint.
  double log_density(std::span<const double> q, std::span<double> grad) {
    const bool want_grad = !grad.empty();
    Tape::Scope scope;
    // Leaves over q and grad (no copies): q's free coordinates, and the latents.
    auto leaf = [&](std::size_t at, std::size_t n) {
      return want_grad ? variable_view(q.subspan(at, n), grad.subspan(at, n)) : constant_view(q.subspan(at, n), n, 1);
    };
    // Every parameter fixed: nothing to differentiate but the latents; the constrain node then
    // gets a constant 0 as its (unused) operand.
    const std::size_t n_vec = vector_angles.size();
    const Var qv = n_free > 0 ? leaf(0, n_free + n_vec) : constant(0.0);
    const Var V = detail::constrain_node(n_vec ? detail::vector_angles_node(qv, n_free, vector_angles) : qv, plan);
    detail::Elem acc{V, plan.layout.size()};
    if (n_vec) acc = detail::Elem{element(V, plan.layout.size()) + detail::vector_length_log_density(qv, vector_angles), 0};
    if (!std::isfinite(acc.value())) {  // outside the support
      std::fill(grad.begin(), grad.end(), 0.0);
      return acc.value();
    }
    const Var z = latent == LatentMode::sampled ? leaf(n_free + n_vec, N) : Var();
    acc = detail::Elem{circular ? detail::circular_likelihood_node(V, circ.model, circ.rows, acc) : detail::add_likelihood(lik, V, rows, acc, z), 0};
    const double lp = acc.value();
    if (want_grad) {
      backward(acc.v);  // the gradient lands in grad
      if (n_free > 0) finish_view(qv);
      if (latent == LatentMode::sampled) finish_view(z);
    }
    return lp;
  }

  // Per-trial log-likelihood in file order, as densities of r in the data's units.
  void trial_loglik(std::span<const double> q, std::span<double> out) {
    trial_loglik_scaled(q, out);
    for (double& v : out) v -= log_S;
  }
  // The same in units of S (the model's own): the composed likelihood's value path.
  void trial_loglik_scaled(std::span<const double> q, std::span<double> out) {
    transform(q);
    for (std::size_t j = 0; j < plan.layout.size(); ++j) vlayout[j] = val[plan.layout[j]];
    std::vector<double*> row_out(static_cast<std::size_t>(C), nullptr);
    for (int c = 0; c < C; ++c) row_out[std::size_t(c)] = grouped.data() + begin[c];
    const double* z = latent == LatentMode::sampled ? q.data() + n_free + vector_angles.size() : nullptr;
    if (circular) circ.values(vlayout.data(), row_out);
    else detail::likelihood_values(lik, vlayout.data(), rows, z, row_out);
    for (std::size_t k = 0; k < N; ++k) out[orig[k]] = grouped[k];
  }

  // Posterior-predictive responses in file order: fresh measurement and motor noise; with
  // lapses, a trial is a lapse with probability eps and then drawn from the contaminant.
  void predict_responses(Rng& rng, std::span<double> out) {
    const double llo = std::log(lapse_lo), lhi = std::log(lapse_hi);
    const bool linear_lapse = lik.motor.model == MotorModel::gaussian;  // uniform in r, else in log r
    for (int c = 0; c < C; ++c) {
      if (begin[c + 1] == begin[c]) continue;
      if (circular) {  // x holds the stimuli themselves (angles)
        fill_theta(c);
        const CircularActor actor(*cost, theta.data());
        const double eps = lapse ? val[lapse_slot(c)] : 0.0;
        for (std::size_t k = begin[c]; k < begin[c + 1]; ++k) {
          out[orig[k]] = actor.respond(x[k], rng);
          if (lapse && rng.uniform() < eps) out[orig[k]] = wrap_angle(rng.uniform(-std::numbers::pi, std::numbers::pi));
        }
        continue;
      }
      const double sig = val[theta_slot(c, theta_index::sigma)];
      const double eps = lapse ? val[lapse_slot(c)] : 0.0;
      fill_theta(c);
      const MotorNoise noise = motor_noise(*cost, lik.motor, theta);
      const double offset = lik.motor.offset ? theta.back() : 0.0;
      if (linear) {  // r = offset + a(m) + sigma_a u in linear space, m = s + sigma e
        const std::size_t sa_at = theta_size(*cost);
        auto respond = [&](const auto& action) {
          for (std::size_t k = begin[c]; k < begin[c + 1]; ++k) {
            const double m = x[k] + sig * rng.normal();
            out[orig[k]] = S * (offset + action(m) + theta[sa_at] * rng.normal());
            if (lapse && rng.uniform() < eps) out[orig[k]] = rng.uniform(lapse_lo, lapse_hi);  // the contaminant, in r
          }
        };
        if (lik.source == detail::SourceKind::exact) {  // a*(m) from the interpolant (a node outside: solved)
          const std::span<const double> xc(&x[begin[c]], begin[c + 1] - begin[c]);
          double u_lo, u_hi;
          detail::exact_action_range(xc, sig, lik.exact_opt, u_lo, u_hi);
          try {
            const detail::ExactHead h(*cost, std::span<const double>(theta).first(lik.n_action()), u_lo, u_hi, lik.exact_opt,
                                      MotorModel::gaussian, PerceptionModel::gaussian);
            respond([&](double m) {
              double da, dp[detail::ExactHead::n_params];
              return h.eval(m, da, dp);
            });
          } catch (const std::domain_error&) {  // no optimal action at this draw: no prediction
            for (std::size_t k = begin[c]; k < begin[c + 1]; ++k) out[orig[k]] = NAN;
          }
          continue;
        }
        if (lik.source == detail::SourceKind::mupost) {  // a network trained under gaussian perception: a = x0
          ActionNetwork::Workspace ws;
          respond([&](double m) {
            double xo[3];
            lik.net->forward(std::span<const double>(theta).first(lik.n_action()), m, std::span<double, 3>(xo), ws);
            return xo[0];
          });
          continue;
        }
        const PowerHead h = detail::linear_closed_form_head(*cost, lik.linear_action, theta, sa_at);
        respond([&](double m) { return h.log_k + h.w * m; });
        continue;
      }
      auto each = [&](const auto& h) {
        for (std::size_t k = begin[c]; k < begin[c + 1]; ++k) {
          double dla, dp[16];  // up to ExactHead::n_params
          const double u = x[k] + sig * rng.normal();
          out[orig[k]] = S * (offset + motor_response(noise, h.eval(u, dla, dp), rng.normal(), nullptr));
          if (lapse && rng.uniform() < eps)  // the contaminant, in data units
            out[orig[k]] = linear_lapse ? rng.uniform(lapse_lo, lapse_hi) : std::exp(rng.uniform(llo, lhi));
        }
      };
      const std::span<const double> xc(&x[begin[c]], begin[c + 1] - begin[c]);
      switch (lik.source) {
      case detail::SourceKind::exact: {
        fill_theta(c);
        double u_lo, u_hi;
        detail::exact_action_range(xc, sig, lik.exact_opt, u_lo, u_hi);
        try {
          each(detail::ExactHead(*cost, std::span<const double>(theta).first(lik.n_action()), u_lo, u_hi, lik.exact_opt,
                                 lik.motor.model));
        } catch (const std::domain_error&) {  // no optimal action at this draw: no prediction
          for (std::size_t k = begin[c]; k < begin[c + 1]; ++k) out[orig[k]] = NAN;
        }
        break;
      }
      case detail::SourceKind::mupost: each(detail::mupost_table(mupost_head(c), xc, sig, lik.rules.for_sigma(sig))); break;
      case detail::SourceKind::softplus_net: each(network_head(c)); break;
      default: each(power_head(c));
      }
    }
  }

  // ---- construction, in phases (ActorModel's constructor) ----
  void check_spec(const Dataset& data, const InferenceSpec& spec);
  void build_slots(const InferenceSpec& spec);
  void apply_overrides(const InferenceSpec& spec);
  void order_outputs();
  void group_trials(const Dataset& data);
  void build_layout();
};

void ActorModel::Impl::check_spec(const Dataset& data, const InferenceSpec& spec) {
  if (data.size() == 0) throw std::invalid_argument(data.source + ": no trials");
  if (spec.network) check_network_perception(*spec.network, spec.perception);
  circular = spec.perception == PerceptionModel::vonmises;
  vector_mu0 = spec.mu0_coordinates == Mu0Coordinates::vector;
  if (circular) detail::check_circular_fit(data, spec);
  if (spec.mu0_coordinates != Mu0Coordinates::angle && !circular)
    throw ArgumentError("mu0_coordinates", std::string(to_string(spec.mu0_coordinates)) +
                                               ": other coordinates of mu_0 are for an angle (--perception vonmises) only");
  cost = spec.cost;
  net = spec.network;
  latent = spec.latent;
  predict = spec.predict;
  log_lik = spec.log_lik;
  lapse = spec.lapse;
  if (lapse && circular) {  // uniform on the circle, density 1 / (2 pi)
    log_width = std::log(2 * std::numbers::pi);
  } else if (lapse) {
    std::tie(lapse_lo, lapse_hi) = lapse_range(data, spec);
    log_width = std::log(std::log(lapse_hi) - std::log(lapse_lo));
    lik.log_width = log_width;
  } else if (spec.lapse_lo != 0 || spec.lapse_hi != 0) {
    throw ArgumentError("lapse_range", "a contaminant range is given but lapses are off (set lapse)");
  }
  C = static_cast<int>(std::max<std::size_t>(1, data.conditions()));
  N = data.size();
  if (!(spec.scale >= 0) || !std::isfinite(spec.scale))
    throw ArgumentError("scale", fmt(spec.scale) + " (expected 0 for the geometric mean of the stimuli, or a positive number)");
  linear = spec.perception == PerceptionModel::gaussian;
  const double g = circular ? 1.0 : default_scale(data, spec.perception);  // angles: S = 1
  const char* what = linear ? "root mean square" : "geometric mean";
  if (linear && spec.scale == 0 && !(g > 0))
    throw ArgumentError("scale", "the stimuli are all 0, so their root mean square cannot be the unit (give a scale)");
  S = circular ? 1.0 : spec.scale > 0 ? spec.scale : g;
  // The unit must be of the stimuli's order (docs/bad-input.md): within a factor 1e6 of their
  // geometric mean (root mean square under gaussian perception); beyond it mu_0's default prior
  // and the cost parameters are out of reach (a scale of 1e-300 gave mu_0 = 1e-300 with sd 0).
  if (g > 0 && !(S >= g * 1e-6 && S <= g * 1e6))
    throw ArgumentError("scale", fmt(S) + " is not within a factor 1e6 of the stimuli's " + what + " " + fmt(g) +
                                     " (give a unit of the stimuli's order, or leave the scale out for that " +
                                     (linear ? "value)" : "mean)"));
  log_S = std::log(S);
  // Gaussian motor noise (linear responses): the contaminant is uniform in r, its width in units of S.
  if (lapse && spec.motor.model == MotorModel::gaussian) lik.log_width = log_width = std::log((lapse_hi - lapse_lo) / S);
  n_theta = theta_size(*spec.cost, spec.motor);
  if (spec.exact_action) {
    // A stimulus far from the unit S puts the solver into minutes per gradient (measured with
    // Linex: a trial at 500 S took 12 s of warm-up in all, one at 5e4 S more than 5 minutes):
    // refused, per docs/bad-input.md, rather than left to run.
    for (std::size_t i = 0; i < data.size(); ++i)
      if (linear ? !(std::abs(data.s[i]) <= 1e3 * S) : !(data.s[i] <= 1e3 * S && data.s[i] >= 1e-3 * S))
        throw ArgumentError("exact_action", data.source + (i < data.line.size() ? ":" + std::to_string(data.line[i]) : "") +
                                                ": s = " + fmt(data.s[i]) + " is not within a factor 1e3 of the unit S = " +
                                                fmt(S) + ", which the exact action's solver needs (check that trial, or use a network)");
  }
}

// Slots and their priors: per theta name one slot, or one per condition; the lapse slot(s) last.
void ActorModel::Impl::build_slots(const InferenceSpec& spec) {
  const auto tnames = theta_names(*spec.cost, spec.motor);
  const auto priors = default_priors(*spec.cost, spec.motor, static_cast<std::size_t>(C), spec.per_condition, lapse,
                                     spec.perception);
  if (!spec.motor.has_sigma_r() && spec.per_condition.count("sigma_r"))
    throw ArgumentError("per_condition", "'sigma_r' is not a parameter of the gaussian motor model");
  for (std::size_t t = 0; t < n_theta; ++t) {
    first_slot.push_back(static_cast<int>(slots.size()));
    varies.push_back(C > 1 && spec.per_condition.count(tnames[t]) ? 1 : 0);
    if (t == theta_index::sigma_r && !spec.motor.has_sigma_r()) {  // the slot the layout keeps
      Slot s{tnames[t], tnames[t], Prior{}};
      s.fixed = s.hidden = true;
      s.value = unused_sigma_r;
      slots.push_back(s);
      continue;
    }
    for (const auto& np : priors) {
      const bool mine = np.first == tnames[t] ||
                        (varies[t] && np.first.rfind(tnames[t] + ".", 0) == 0 &&
                         np.first.find('.', tnames[t].size() + 1) == std::string::npos);
      if (mine) {
        slots.push_back({np.first, tnames[t], np.second});
        if (has_data_units(np.first, spec.perception)) slots.back().unit = S;
      }
    }
  }
  if (circular)  // mu_0 is an angle: uniform on the circle by default
    for (Slot& sl : slots)
      if (sl.base == "mu_0") sl.prior = Prior{Prior::Kind::vonmises, 0.0, 0.0};
  if (lapse) {
    first_lapse_slot = static_cast<int>(slots.size());
    lapse_varies = C > 1 && spec.per_condition.count("lapse");
    for (const auto& np : priors)
      if (np.first == "lapse" || np.first.rfind("lapse.", 0) == 0) slots.push_back({np.first, "lapse", np.second});
  }
}

// The spec's prior overrides and fixed values, by name ("mu_0" means every condition's mu_0
// when it varies by condition).
void ActorModel::Impl::apply_overrides(const InferenceSpec& spec) {
  auto known = [&] {
    std::string s;
    for (const auto& sl : slots)
      if (!sl.hidden) s += (s.empty() ? "" : ", ") + sl.name;
    return s;
  };
  auto for_name = [&](const std::string& name, const char* what, auto f) {
    bool hit = false;
    for (auto& sl : slots)
      if (!sl.hidden && (sl.name == name || sl.base == name)) {
        f(sl);
        hit = true;
      }
    if (!hit && (name == "lapse" || name.rfind("lapse.", 0) == 0) && !lapse)
      throw ArgumentError(what, "'" + name + "' is a parameter only with lapses (--lapse)");
    if (!hit) throw ArgumentError(what, "unknown parameter '" + name + "' (known: " + known() + ")");
  };
  // Plain references, not structured bindings: clang < 16 cannot capture those in lambdas.
  for (const auto& np : spec.priors) {
    const auto& prior = np.second;
    for_name(np.first, "priors", [&](Slot& s) {
      // A probability needs a prior on (0, 1) (a log transform could leave it).
      // An angle (mu_0 under von Mises perception) needs a prior on the circle, and only an angle has one.
      if ((s.prior.kind == Prior::Kind::vonmises) != (prior.kind == Prior::Kind::vonmises))
        throw ArgumentError("priors", np.first + "=" + to_string(prior) +
                                          (prior.kind == Prior::Kind::vonmises ? ": a vonmises prior is for an angle (mu_0 under --perception vonmises)"
                                                                               : ": an angle needs a prior on the circle, vonmises:LOC:KAPPA"));
      if (s.base == "lapse" && !(prior.kind == Prior::Kind::beta || (prior.kind == Prior::Kind::uniform && prior.b <= 1)))
        throw ArgumentError("priors", np.first + "=" + to_string(prior) +
                                          ": the lapse probability needs a prior on (0, 1), beta:A:B or uniform:LO:HI with HI <= 1");
      check_prior_sign(np.first, prior, s.prior, linear && (s.base == "mu_0" || s.base == "offset"));
      if (prior.kind == Prior::Kind::normal && !(linear && (s.base == "mu_0" || s.base == "offset")))
        throw ArgumentError("priors", np.first + "=" + to_string(prior) +
                                          ": a normal prior (either sign) is for mu_0 and offset under gaussian perception only");
      s.prior = prior_in_scale_units(prior, s.unit);
    });
  }
  for (const auto& nv : spec.fixed) {
    const auto& name = nv.first;
    const auto& value = nv.second;
    for_name(name, "fixed", [&](Slot& s) {
      const double v = value / s.unit;
      const bool ok = s.prior.kind == Prior::Kind::uniform    ? (v >= s.prior.a && v <= s.prior.b)
                      : s.prior.kind == Prior::Kind::beta     ? (v >= 0 && v < 1)
                      : s.prior.kind == Prior::Kind::normal   ? true
                      : s.prior.kind == Prior::Kind::vonmises ? true  // an angle
                                                              : v > 0;
      if (!ok || !std::isfinite(v))
        throw ArgumentError("fixed", name + "=" + fmt(value) + " is outside the support of its prior " +
                                         to_string(prior_in_data_units(s.prior, s.unit)));
      s.fixed = true;
      s.value = v;
    });
  }
}

// Output order: mu_0, sigma_0, sigma_r, sigma, cost parameters (each per condition in condition
// order when it varies), lapses; the free slots' q follow it.
void ActorModel::Impl::order_outputs() {
  std::vector<std::size_t> t_order{theta_index::mu_0, theta_index::sigma_0, theta_index::sigma_r, theta_index::sigma};
  for (std::size_t t = theta_index::first_cost_param; t < n_theta; ++t) t_order.push_back(t);
  for (std::size_t t : t_order)
    for (int c = 0; c < (varies[t] ? C : 1); ++c)
      if (!slots[first_slot[t] + c].hidden) out_order.push_back(first_slot[t] + c);
  if (lapse)
    for (int c = 0; c < (lapse_varies ? C : 1); ++c) out_order.push_back(first_lapse_slot + c);
  int next = 0;
  for (int p : out_order)
    if (!slots[p].fixed) slots[p].q = next++;
  n_free = static_cast<std::size_t>(next);
  if (vector_mu0)
    for (int p : out_order)
      if (!slots[p].fixed && slots[p].prior.kind == Prior::Kind::vonmises)
        vector_angles.push_back({std::size_t(slots[p].q), n_free + vector_angles.size()});
  inner.assign(n_free, 0.0);
}

// Trials grouped by condition (in units of S), one likelihood row per condition.
void ActorModel::Impl::group_trials(const Dataset& data) {
  begin.assign(C + 1, 0);
  lik.trials.resize(std::size_t(C));
  if (circular) circ.reset(*cost, std::size_t(C), lapse);
  for (int c = 0; c < C; ++c) {
    begin[c] = x.size();
    detail::RowTrials& t = lik.trials[std::size_t(c)];
    t.z_begin = begin[c];
    for (std::size_t i = 0; i < data.size(); ++i)
      if (data.cond[i] == c) {
        // Linear space under gaussian perception, angles under von Mises; on the log scale otherwise
        // (a response <= 0, possible with gaussian motor noise, is read by the motor form from r alone).
        x.push_back(circular ? data.s[i] : linear ? data.s[i] / S : std::log(data.s[i]) - log_S);
        y.push_back(circular ? data.r[i] : linear ? data.r[i] / S : data.r[i] > 0 ? std::log(data.r[i]) - log_S : 0.0);
        if (circular) circ.trials[std::size_t(c)].add(data.s[i], data.r[i]);
        orig.push_back(i);
        t.x.push_back(x.back());
        t.y.push_back(y.back());
        // The response itself for the motor forms (RowTrials::r): e^y, or r / S when r <= 0
        // (gaussian motor noise), before finish() copies it into the padded SIMD layout.
        t.r.push_back(!linear && !(data.r[i] > 0) ? data.r[i] / S : std::exp(y.back()));
      }
  }
  begin[C] = x.size();
  if (x.size() != data.size()) throw std::invalid_argument(data.source + ": condition index out of range");
  lik.finish();
  for (int c = 0; c < C; ++c) {
    detail::RowRef r;
    r.theta_at = std::size_t(c) * n_theta;
    r.eps_at = std::size_t(C) * n_theta + std::size_t(c);
    r.trials = &lik.trials[std::size_t(c)];
    rows.push_back(r);
  }
}

// The tape's parameter layout: each condition's theta, in theta order, then the lapses.
void ActorModel::Impl::build_layout() {
  val.assign(slots.size(), 0.0);
  theta.assign(n_theta, 0.0);
  grouped.assign(N, 0.0);
  for (const auto& sl : slots) plan.slots.push_back({sl.prior, sl.fixed, sl.value, sl.q});
  for (int c = 0; c < C; ++c)
    for (std::size_t t = 0; t < n_theta; ++t) plan.layout.push_back(theta_slot(c, t));
  if (lapse)
    for (int c = 0; c < C; ++c) plan.layout.push_back(lapse_slot(c));
  plan.n_free = n_free;
  plan.prepare();
  vlayout.assign(plan.layout.size(), 0.0);
}

ActorModel::ActorModel(const Dataset& data, const InferenceSpec& spec)
    : impl_(std::make_unique<Impl>(data, spec)) {
  Impl& m = *impl_;
  m.check_spec(data, spec);
  m.build_slots(spec);
  m.apply_overrides(spec);
  m.order_outputs();
  m.group_trials(data);
  m.build_layout();
}

ActorModel::~ActorModel() = default;

std::size_t ActorModel::dim() const {
  return impl_->n_free + impl_->vector_angles.size() + (impl_->latent == LatentMode::sampled ? impl_->N : 0);
}

std::size_t ActorModel::n_free() const { return impl_->n_free; }

std::vector<std::size_t> ActorModel::angle_coordinates() const {
  std::vector<std::size_t> out;
  if (impl_->vector_mu0) return out;  // each mu_0 is then the direction of a 2-D vector, not a coordinate
  for (const auto& s : impl_->slots)
    if (!s.fixed && s.prior.kind == Prior::Kind::vonmises) out.push_back(std::size_t(s.q));
  std::sort(out.begin(), out.end());
  return out;
}

double ActorModel::log_density(std::span<const double> q, std::span<double> grad) {
  if (q.size() != dim() || (!grad.empty() && grad.size() != dim()))
    throw std::invalid_argument("ActorModel::log_density: q has " + std::to_string(q.size()) + " entries and grad " +
                                std::to_string(grad.size()) + ", expected " + std::to_string(dim()) + " (grad may be empty)");
  return impl_->log_density(q, grad);
}

std::vector<std::string> ActorModel::free_names() const {
  std::vector<std::string> names;
  for (int p : impl_->out_order)
    if (!impl_->slots[p].fixed) names.push_back(impl_->slots[p].name);
  return names;
}

std::vector<std::string> ActorModel::all_names() const {
  std::vector<std::string> names;
  for (int p : impl_->out_order) names.push_back(impl_->slots[p].name);
  return names;
}

std::vector<std::string> ActorModel::output_names() const {
  auto names = free_names();
  if (impl_->log_lik)
    for (std::size_t i = 0; i < impl_->N; ++i) names.push_back("log_lik." + std::to_string(i + 1));
  if (impl_->predict)
    for (std::size_t i = 0; i < impl_->N; ++i) names.push_back("r_rep." + std::to_string(i + 1));
  return names;
}

void ActorModel::write_outputs(std::span<const double> q, Rng& rng, std::span<double> out) {
  Impl& m = *impl_;
  m.transform(q);
  std::size_t o = 0;
  for (int p : m.out_order)
    if (!m.slots[p].fixed) out[o++] = m.slots[p].output(m.val[p]);
  if (m.log_lik) {
    m.trial_loglik(q, out.subspan(o, m.N));
    o += m.N;
  }
  if (m.predict) m.predict_responses(rng, out.subspan(o, m.N));
}

void ActorModel::trial_loglik(std::span<const double> q, std::span<double> out) { impl_->trial_loglik(q, out); }

double ActorModel::scale() const { return impl_->S; }

std::vector<std::pair<std::string, Prior>> ActorModel::free_priors() const {
  std::vector<std::pair<std::string, Prior>> out;
  for (int p : impl_->out_order) {
    const auto& s = impl_->slots[p];
    if (!s.fixed) out.emplace_back(s.name, prior_in_data_units(s.prior, s.unit));
  }
  return out;
}

ActorModel::RegionCheck ActorModel::training_region(const std::vector<std::vector<double>>& draws) const {
  const Impl& m = *impl_;
  RegionCheck rc;
  if (!m.net || !m.net->metadata().count("training_priors")) return rc;
  // The trained range of each input (in the network's units, i.e. units of S): uniform
  // priors' bounds; log-normal and normal ones' central 99.7% (location +- 3 scales).
  std::map<std::string, std::pair<double, double>> range;
  try {
    const auto tp = nlohmann::json::parse(m.net->metadata().at("training_priors"));
    for (const auto& [name, spec] : tp.items()) {
      if (spec.contains("uniform")) {
        range[name] = {spec["uniform"][0].get<double>(), spec["uniform"][1].get<double>()};
      } else if (spec.contains("lognormal")) {
        const double a = spec["lognormal"][0].get<double>(), b = spec["lognormal"][1].get<double>();
        range[name] = {std::exp(a - 3 * b), std::exp(a + 3 * b)};
      } else if (spec.contains("normal")) {  // mu_0 of a network trained under gaussian perception
        const double a = spec["normal"][0].get<double>(), b = spec["normal"][1].get<double>();
        range[name] = {a - 3 * b, a + 3 * b};
      }
    }
  } catch (const nlohmann::json::exception&) {
    return rc;  // unreadable metadata: nothing to compare with (ActionNetwork::load checks the rest)
  }
  rc.checked = true;
  const auto tnames = theta_names(*m.cost, m.lik.motor);
  // The posterior head is exact in mu_0 and the stimulus scale (its MLP sees only sigma_post,
  // sigma_r and the cost parameters), so only those are compared.
  const bool posterior = m.net->head() == NetworkHead::posterior;
  struct Check {
    std::string name;
    double lo, hi;
  };
  std::vector<Check> checks;
  if (posterior) {
    rc.exact_note = "the posterior head is exact in mu_0 and in the scale of the stimuli (homogeneous cost): only "
                    "sigma_post = sigma sigma_0 / sqrt(sigma^2 + sigma_0^2), sigma_r and the cost parameters are compared "
                    "with the training region";
    if (range.count("sigma")) checks.push_back({"sigma_post", range["sigma"].first / std::sqrt(2.0), range["sigma"].second / std::sqrt(2.0)});
  } else if (range.count("s")) {
    std::size_t out = 0;
    for (double x : m.x) {
      const double v = m.linear ? x : std::exp(x);  // gaussian perception: x = s / S itself
      out += !(v >= range["s"].first && v <= range["s"].second);
    }
    rc.stimuli_outside = double(out) / double(m.x.size());
  }
  for (std::size_t t = 0; t < m.n_theta; ++t) {
    if (posterior && (t == theta_index::sigma || t == theta_index::sigma_0 || t == theta_index::mu_0)) continue;
    if (range.count(tnames[t])) checks.push_back({tnames[t], range[tnames[t]].first, range[tnames[t]].second});
  }
  std::vector<std::size_t> outside(checks.size(), 0);
  std::size_t any = 0;
  std::vector<double> val(m.slots.size()), theta(m.n_theta);
  for (const auto& row : draws) {
    for (std::size_t p = 0; p < m.slots.size(); ++p) {
      const auto& s = m.slots[p];
      val[p] = s.fixed ? s.value : row.at(std::size_t(s.q)) / s.unit;
    }
    bool out_any = false;
    std::vector<char> out_k(checks.size(), 0);
    for (int c = 0; c < m.C; ++c) {
      for (std::size_t t = 0; t < m.n_theta; ++t) theta[t] = val[m.theta_slot(c, t)];
      for (std::size_t k = 0; k < checks.size(); ++k) {
        double v;
        if (checks[k].name == "sigma_post") {
          const double a = theta[theta_index::sigma], b = theta[theta_index::sigma_0];
          v = a * b / std::sqrt(a * a + b * b);
        } else {
          v = theta[std::size_t(std::find(tnames.begin(), tnames.end(), checks[k].name) - tnames.begin())];
        }
        if (!(v >= checks[k].lo && v <= checks[k].hi)) out_k[k] = 1, out_any = true;
      }
    }
    for (std::size_t k = 0; k < checks.size(); ++k) outside[k] += out_k[k];
    any += out_any;
  }
  if (!draws.empty()) {
    rc.draws_outside = double(any) / double(draws.size());
    for (std::size_t k = 0; k < checks.size(); ++k)
      if (outside[k]) rc.by_parameter.emplace_back(checks[k].name, double(outside[k]) / double(draws.size()));
  }
  return rc;
}

std::vector<double> ActorModel::constrain(std::span<const double> q) const {
  Impl& m = *impl_;
  m.transform(q);
  std::vector<double> v;
  for (int p : m.out_order) v.push_back(m.slots[p].output(m.val[p]));
  return v;
}

std::vector<double> ActorModel::unconstrain(const std::map<std::string, double>& values) const {
  const Impl& m = *impl_;
  std::vector<double> q(dim(), 0.0);
  for (const auto& s : m.slots) {
    if (s.fixed) continue;
    double v;
    auto it = values.find(s.name);
    if (it == values.end()) it = values.find(s.base);
    if (it != values.end()) v = it->second / s.unit;
    else if (s.prior.kind == Prior::Kind::uniform) v = 0.5 * (s.prior.a + s.prior.b);
    else if (s.prior.kind == Prior::Kind::lognormal) v = std::exp(s.prior.a);
    else if (s.prior.kind == Prior::Kind::beta) v = s.prior.a / (s.prior.a + s.prior.b);
    else if (s.prior.kind == Prior::Kind::normal) v = s.prior.a;
    else if (s.prior.kind == Prior::Kind::vonmises) v = s.prior.a;
    else v = 0.674 * s.prior.a;
    if (!s.prior.in_support(v))
      throw std::invalid_argument("value " + fmt(v * s.unit) + " of '" + s.name + "' is outside its prior's support");
    q[s.q] = s.prior.kind == Prior::Kind::uniform ? std::log((v - s.prior.a) / (s.prior.b - v))
             : s.prior.kind == Prior::Kind::beta     ? std::log(v / (1 - v))
             : s.prior.kind == Prior::Kind::normal   ? v
             : s.prior.kind == Prior::Kind::vonmises ? v
                                                     : std::log(v);
  }
  for (const auto& a : m.vector_angles) {  // the unit vector at the angle
    const double v = q[a.x_at];
    q[a.x_at] = std::cos(v);
    q[a.y_at] = std::sin(v);
  }
  return q;
}

} // namespace bactor
