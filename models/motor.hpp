// SPDX-License-Identifier: MIT
// Motor (response) noise families (docs/families.md): the response r given the planned action a.
//   lognormal    log r ~ N(log a, sigma_r^2)                      (constant CV; the default)
//   generalized  log r ~ N(log a, sigma_r^2 + (sigma_a / a)^2)    (CV falls toward sigma_r as a grows)
//   gaussian     r ~ N(a, sigma_a^2)                              (linear tasks; r may be <= 0)
// and, with any of them, an uncompensated offset delta: r = delta + r_motor. The actor knows its
// motor noise (training draws and the optimal action follow it) but not the offset.
//
// Parameters: sigma_a (generalized, gaussian) and offset come after the cost parameters in theta,
// sigma_a first: theta = (sigma, sigma_0, mu_0, sigma_r, cost params..., [sigma_a], [offset]).
// The network sees theta up to sigma_a (the offset does not change the action). The gaussian model
// has no sigma_r: its slot holds unused_sigma_r so that the shared layout stays valid (the closed
// forms' factor exp(-3/2 sigma_r^2) is then 1, which is their gaussian-motor form).
//
// Densities are policies (LognormalMotor, GeneralizedMotor, GaussianMotor): per trial, prepare()
// folds the response and the offset into constants; eval() gives log p(r | log a) and its
// derivatives in log a and in (sigma_r, sigma_a, offset). The likelihood's MotorForm
// (models/likelihood.hpp) is a template over them.
#pragma once

#include <cmath>
#include <cstddef>
#include <numbers>
#include <span>
#include <string>
#include <vector>

namespace bactor {

struct CostInfo;
class ActionNetwork;

enum class MotorModel { lognormal, generalized, gaussian };

/// "lognormal" | "generalized" | "gaussian"; ArgumentError("motor", ...) otherwise.
MotorModel parse_motor_model(const std::string& text);
const char* to_string(MotorModel model);

/// A response model: the motor noise family and whether a response offset is a parameter.
struct MotorSpec {
  MotorModel model = MotorModel::lognormal;
  bool offset = false;
  /// Today's model (log-normal, no offset): every fast path of the log-normal actor applies.
  bool plain() const { return model == MotorModel::lognormal && !offset; }
  bool has_sigma_a() const { return model != MotorModel::lognormal; }
  bool has_sigma_r() const { return model != MotorModel::gaussian; }
  /// The motor parameters after the cost parameters: sigma_a (generalized, gaussian), offset.
  std::vector<std::string> param_names() const;
  /// Entries the action depends on beyond theta_size(cost) (sigma_a: 1, else 0).
  std::size_t action_extra() const { return has_sigma_a() ? 1 : 0; }
  /// "lognormal", "generalized+offset", ...: what networks and draws files record.
  std::string name() const;
  bool operator==(const MotorSpec&) const = default;
};
/// Parses MotorSpec::name()'s text back ("gaussian+offset"); ArgumentError("motor", ...).
MotorSpec parse_motor_spec(const std::string& text);

/// The value the gaussian model keeps in sigma_r's slot (it has no sigma_r).
inline constexpr double unused_sigma_r = 1e-30;

/// Theta size for a cost under a motor model: theta_size(cost) + motor parameters.
std::size_t theta_size(const CostInfo& cost, const MotorSpec& motor);
/// theta_names(cost) then the motor's parameter names.
std::vector<std::string> theta_names(const CostInfo& cost, const MotorSpec& motor);
/// Theta entries the action depends on (the network's inputs): theta_size(cost) + action_extra().
inline std::size_t action_theta_size(const CostInfo& cost, const MotorSpec& motor);

/// The motor noise of one actor for the ground truth and the training draws: a response at
/// standard-normal draw u is r(a, u) (motor_response).
struct MotorNoise {
  MotorModel model = MotorModel::lognormal;
  double sigma_r = 0, sigma_a = 0;
};
/// r at log action y and draw u, and dr/dy in *dr_dy:
///   lognormal e^{y + sr u}; generalized e^{y + sqrt(sr^2 + sa^2 e^{-2y}) u}; gaussian e^y + sa u.
inline double motor_response(const MotorNoise& mn, double y, double u, double* dr_dy) {
  switch (mn.model) {
  case MotorModel::generalized: {
    const double q = mn.sigma_a * mn.sigma_a * std::exp(-2 * y), sd = std::sqrt(mn.sigma_r * mn.sigma_r + q);
    const double r = std::exp(y + sd * u);
    if (dr_dy) *dr_dy = r * (1 - u * q / sd);
    return r;
  }
  case MotorModel::gaussian: {
    const double a = std::exp(y);
    if (dr_dy) *dr_dy = a;
    return a + mn.sigma_a * u;
  }
  case MotorModel::lognormal: break;
  }
  const double r = std::exp(y + mn.sigma_r * u);
  if (dr_dy) *dr_dy = r;
  return r;
}
/// The motor noise of theta (laid out as theta_names(cost, motor)).
MotorNoise motor_noise(const CostInfo& cost, const MotorSpec& motor, std::span<const double> theta);

/// The motor model a network was trained for (its metadata "motor"; log-normal without it).
MotorModel network_motor(const ActionNetwork& net);

/// The optimal action under a motor model: the closed form where one exists (the quadratic costs
/// with log-normal or gaussian motor noise), else the ground truth's numerical minimiser over
/// the motor model's noise. theta as theta_names(cost, motor) (the offset, if any, is ignored).
double optimal_action(const CostInfo& cost, const MotorSpec& motor, std::span<const double> theta, double m);
/// Whether optimal_action has a closed form for (cost, motor).
bool has_closed_form(const CostInfo& cost, const MotorSpec& motor);

// ---- densities (policies of the likelihood's MotorForm) --------------------------------------

/// Motor parameters of one row (units of the fit's scale S).
struct MotorParams {
  double sr = 0, sa = 0, delta = 0;
};
/// log p(r | log a = la) and its derivatives: in la (first, second) and in (sr, sa, delta).
struct MotorEval {
  double l = 0, dl = 0, d2l = 0, dsr = 0, dsa = 0, ddelta = 0;
};
/// Per-trial constants: the response net of the offset, rr = r - delta, its log (lognormal
/// families) and a starting point for the mode search: the la where the density peaks (y0) and
/// the curvature -d2l there (prec0). valid = false: the density is 0 for every action (the
/// offset at or above a positive-only response).
struct MotorTrial {
  double rr = 0, lr = 0, y0 = 0, prec0 = 0;
  bool valid = true, guess = true;
};

inline constexpr double half_log_2pi = 0.91893853320467274178;

/// The log-normal families' per-trial constants: r' = r - delta must be positive; the density of
/// log r' peaks at la = log r' with curvature 1/var there.
inline MotorTrial log_family_trial(double r, const MotorParams& p, bool additive) {
  MotorTrial t;
  t.rr = r - p.delta;
  t.valid = t.rr > 0;
  t.lr = t.valid ? std::log(t.rr) : 0.0;
  t.y0 = t.lr;
  t.prec0 = 1.0 / (p.sr * p.sr + (additive && t.valid ? p.sa * p.sa / (t.rr * t.rr) : 0.0));
  return t;
}

/// log r' ~ N(la, sr^2), r' = r - delta > 0 (density of r: the Jacobian 1/r' included).
struct LognormalMotor {
  static MotorTrial prepare(double r, const MotorParams& p) { return log_family_trial(r, p, false); }
  static MotorEval eval(const MotorTrial& t, double la, const MotorParams& p) {
    const double ir2 = 1.0 / (p.sr * p.sr), e = t.lr - la;
    MotorEval v;
    v.l = -0.5 * e * e * ir2 - std::log(p.sr) - half_log_2pi - t.lr;
    v.dl = e * ir2;
    v.d2l = -ir2;
    v.dsr = (e * e * ir2 - 1.0) / p.sr;
    v.ddelta = (e * ir2 + 1.0) / t.rr;  // d/d delta through lr = log(r - delta)
    return v;
  }
};

/// log r' ~ N(la, v), v = sr^2 + sa^2 e^{-2 la}, r' = r - delta > 0.
struct GeneralizedMotor {
  static MotorTrial prepare(double r, const MotorParams& p) { return log_family_trial(r, p, true); }
  static MotorEval eval(const MotorTrial& t, double la, const MotorParams& p) {
    const double g = std::exp(-2 * la), q = p.sa * p.sa * g, v = p.sr * p.sr + q, iv = 1.0 / v;
    const double e = t.lr - la;
    // l = -e^2/(2v) - log(v)/2 - log(2 pi)/2 - lr; A = dl/dv; dv/dla = -2q, dq/dla = -2q.
    const double A = 0.5 * (e * e * iv - 1.0) * iv;
    const double dA_dla = -e * iv * iv + (e * e * iv * iv * iv - 0.5 * iv * iv) * 2 * q;
    MotorEval m;
    m.l = -0.5 * e * e * iv - 0.5 * std::log(v) - half_log_2pi - t.lr;
    m.dl = e * iv - 2 * q * A;
    m.d2l = -iv + 2 * q * e * iv * iv + 4 * q * A - 2 * q * dA_dla;
    m.dsr = 2 * p.sr * A;
    m.dsa = 2 * p.sa * g * A;
    m.ddelta = (e * iv + 1.0) / t.rr;
    return m;
  }
};

/// r - delta ~ N(e^{la}, sa^2).
struct GaussianMotor {
  static MotorTrial prepare(double r, const MotorParams& p) {
    MotorTrial t;
    t.rr = r - p.delta;
    t.guess = t.rr > 0;
    t.lr = t.guess ? std::log(t.rr) : 0.0;
    t.y0 = t.lr;
    t.prec0 = t.guess ? t.rr * t.rr / (p.sa * p.sa) : 0.0;
    return t;
  }
  static MotorEval eval(const MotorTrial& t, double la, const MotorParams& p) {
    const double is2 = 1.0 / (p.sa * p.sa), E = std::exp(la), d = t.rr - E;
    MotorEval m;
    m.l = -0.5 * d * d * is2 - std::log(p.sa) - half_log_2pi;
    m.dl = d * E * is2;
    m.d2l = E * (d - E) * is2;
    m.dsa = (d * d * is2 - 1.0) / p.sa;
    m.ddelta = d * is2;  // d/d delta through rr = r - delta
    return m;
  }
};

inline std::size_t action_theta_size(const CostInfo& cost, const MotorSpec& motor) {
  return theta_size(cost, motor) - (motor.offset ? 1 : 0);
}

} // namespace bactor
