// SPDX-License-Identifier: MIT
// The per-trial marginal likelihood under any motor model (models/motor.hpp), for any head of
// models/marginal.hpp:
//   p(r | s) = ∫ N(u; x, sigma) p_motor(r | log a(u)) du,   x = log s, u = log m,
// by adaptive Gauss–Hermite quadrature as gh_trial_loglik does for the log-normal motor: nodes
// centred at the mode of the log integrand (Newton steps on g(u) = -(u - x)^2/(2 sigma^2) +
// log p_motor(r | la(u))) and scaled by its curvature there. The motor density enters only
// through Motor::eval (value and derivatives in log a and in its parameters), so the power-law
// shortcut (sufficient statistics) does not apply and is not needed. The gradient is that of the
// quadrature sum with the nodes held fixed. Private header.
#pragma once

#include <bactor/models/marginal.hpp>
#include <bactor/models/motor.hpp>

#include <cmath>

namespace bactor::detail {

/// Gradient of one trial w.r.t. the motor parameters sigma_a and the offset (sigma_r goes to
/// TrialGrad::sigma_r).
struct MotorGrad {
  double sa = 0, delta = 0;
};

/// log p(r | s) (the density of r) for one trial; adds its gradient to g and mg. Returns -inf
/// (gradients unchanged) where the motor density is 0 for every action (an offset at or above a
/// response of a log-normal family).
template <class Motor, class Head>
double motor_trial_loglik(const Head& h, double x, double r, double sigma, const MotorParams& mp,
                          const GaussHermite& rule, TrialGrad<Head>& g, MotorGrad& mg) {
  const MotorTrial mt = Motor::prepare(r, mp);
  if (!mt.valid) return -INFINITY;
  const double is2 = 1.0 / (sigma * sigma);
  double dp[Head::n_params];
  // Start: the mode with la linearised at its inverse at the motor density's peak y0, weighted
  // by the density's curvature there (as gh_trial_loglik); the state is d = u - x.
  double d = 0, dla = 0, curv = is2;
  if (double ui, b; mt.guess && h.inverse(mt.y0, ui, b)) {
    const double pb = b * b * mt.prec0;
    d = (ui - x) * (pb / (is2 + pb));
    d = d > 8 * sigma ? 8 * sigma : (d < -8 * sigma ? -8 * sigma : d);
  }
  for (int it = 0;; ++it) {
    const double la = head_value_du(h, x + d, dla, dp);
    const MotorEval me = Motor::eval(mt, la, mp);
    const double grad = -d * is2 + me.dl * dla;
    const double full = is2 - (me.d2l * dla * dla + me.dl * h.curvature(x + d));
    curv = full > 0.1 * is2 ? full : is2 + std::abs(me.d2l) * dla * dla;
    if (it == newton_max_steps) break;
    double step = grad / curv;
    const double lim = 3 * sigma;
    step = step > lim ? lim : (step < -lim ? -lim : step);
    if (step * step * curv <= newton_tolerance * newton_tolerance) break;
    d += step;
  }
  const double scale = std::sqrt(2.0 / curv);

  constexpr int max_nodes = 200;
  double f[max_nodes];
  QuadNode<Head> node[max_nodes];  // a deferred head's gradient is formed once, at the end
  MotorEval me_j[max_nodes];
  const int n = rule.size() < max_nodes ? rule.size() : max_nodes;
  double fmax = -INFINITY;
  for (int j = 0; j < n; ++j) {
    const double du = d + scale * rule.t[j];
    me_j[j] = Motor::eval(mt, node[j].value(h, x + du), mp);
    f[j] = rule.log_w[j] - 0.5 * du * du * is2 + me_j[j].l;
    fmax = f[j] > fmax ? f[j] : fmax;
  }
  if (!std::isfinite(fmax)) return fmax;
  double sum = 0;
  for (int j = 0; j < n; ++j) sum += (f[j] = std::exp(f[j] - fmax));
  const double inv = 1.0 / sum;
  double gs = 0;
  for (int j = 0; j < n; ++j) {
    const double p = f[j] * inv, du = d + scale * rule.t[j];
    gs += p * du * du;
    node[j].add(h, g.head, p * me_j[j].dl);
    g.sigma_r += p * me_j[j].dsr;
    mg.sa += p * me_j[j].dsa;
    mg.delta += p * me_j[j].ddelta;
  }
  flush_head(h, g.head);
  g.sigma += gs * is2 / sigma - 1.0 / sigma;
  return fmax + std::log(sum) + std::log(scale) - half_log_2pi - std::log(sigma);
}

} // namespace bactor::detail
