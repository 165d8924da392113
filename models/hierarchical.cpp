// SPDX-License-Identifier: MIT
#include <bactor/models/hierarchical.hpp>
#include "models/number_text.hpp"
#include "models/hierarchical_node.hpp"
#include "models/hierarchical_fused.hpp"

#include <bactor/engine/errors.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/engine/tape.hpp>
#include <bactor/models/actor.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/network_node.hpp>
#include "engine/tape_view.hpp"
#include "models/circular.hpp"
#include "models/inference_kernels.hpp"
#include "models/likelihood_plan.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <numbers>
#include <optional>
#include <sstream>
#include <tuple>
#include <stdexcept>

namespace bactor {

// ---- the population node ----------------------------------------------------------------------

namespace detail {

void PopulationPlan::validate() const {
  BACTOR_ASSERT(P() <= max_pooled && nt <= 16 && C >= 1);
  for (std::size_t k = 0; k < P(); ++k) {
    const PooledSpec& s = pooled[k];
    BACTOR_ASSERT(s.theta < nt && s.scale > 0 && s.sd_scale > 0 && s.cond < int(C));
    if (s.coord == PooledCoord::ridge || s.coord == PooledCoord::difference) {
      BACTOR_ASSERT(s.partner >= 0 && std::size_t(s.partner) < P() && pooled[s.partner].partner == int(k));
      BACTOR_ASSERT((s.coord == PooledCoord::ridge) != (pooled[s.partner].coord == PooledCoord::ridge));
      BACTOR_ASSERT(!s.logit && !pooled[s.partner].logit && !s.linear && !pooled[s.partner].linear);
    }
  }
  for (const PooledSpec& s : pooled)
    if (s.coord == PooledCoord::intercept) {
      for (int k : {s.k_sigma, s.k_sigma_0, s.k_sigma_r})
        BACTOR_ASSERT(k >= 0 && std::size_t(k) < P() && !pooled[std::size_t(k)].logit && !pooled[std::size_t(k)].linear);
      BACTOR_ASSERT(intercept_w.size() >= (s.w_row + 1) * J);
      BACTOR_ASSERT(pooled[std::size_t(s.k_sigma)].coord == PooledCoord::ridge &&
                    pooled[std::size_t(s.k_sigma_0)].coord == PooledCoord::difference &&
                    pooled[std::size_t(s.k_sigma_r)].coord == PooledCoord::noncentred);
    }
  for (std::size_t k = 0, a = extra_q(); k < P(); ++k)
    if (pooled[k].angle) {
      const bool centred = pooled[k].coord == PooledCoord::centred;
      BACTOR_ASSERT((centred || pooled[k].coord == PooledCoord::noncentred) && pooled[k].linear && pooled[k].extra == a);
      a += centred ? 1 + J : 1;
    }
  for (const SlotSpec& sl : shared) BACTOR_ASSERT(sl.q >= int(2 * P()) && std::size_t(sl.q) < 2 * P() + shared.size());
  for (std::size_t h = 0; h < shared.size(); ++h) BACTOR_ASSERT(shared_theta[h] < nt && shared_condition(h) < int(C));
  for (const auto& f : fixed) BACTOR_ASSERT(f.first < W());
}

namespace {

/// The prior sd of a difference's population mean relative to its partner's.
inline double difference_scale(const PopulationPlan& plan, std::size_t k) {
  return std::hypot(plan.pooled[k].scale, plan.pooled[std::size_t(plan.pooled[k].partner)].scale);
}

/// The sd of the length of an angle's 2-D vectors about 1 (population_angle, centred_angle).
constexpr double angle_rho_sd = 0.25;

/// An angle's 2-D vector from its coordinates (u, w): (cos ref, sin ref) + angle_rho_sd (u, w),
/// a shift and a scaling (constant Jacobian): the length's density has sd 1 in (u, w), and
/// (u, w) = 0, where inits start, is the unit vector at the reference direction (the data's
/// estimate of the angle, PooledSpec::ref), not the origin, where the direction is undefined.
/// Its direction a = atan2(y, x) with da/du = -c y / r2, da/dw = c x / r2, and its length rho
/// with drho/du = c x / rho, drho/dw = c y / rho (c = angle_rho_sd).
struct AngleVector {
  double x, y, r2, rho, a;
  AngleVector(double ref, double u, double w)
      : x(std::cos(ref) + angle_rho_sd * u), y(std::sin(ref) + angle_rho_sd * w), r2(x * x + y * y), rho(std::sqrt(r2)),
        a(std::atan2(y, x)) {}
  double da_du() const { return r2 > 0 ? -angle_rho_sd * y / r2 : 0; }
  double da_dw() const { return r2 > 0 ? angle_rho_sd * x / r2 : 0; }
  /// The coordinates (u, w) of the unit vector at angle a.
  static std::pair<double, double> coordinates(double ref, double a) {
    return {(std::cos(a) - std::cos(ref)) / angle_rho_sd, (std::sin(a) - std::sin(ref)) / angle_rho_sd};
  }
};

} // namespace

double wrapped_normal_log(double d, double tau, double& d_d, double& d_tau) {
  constexpr double two_pi = 2 * std::numbers::pi;
  if (tau <= 1.5) {
    double mx = -INFINITY, l[7];
    for (int k = -3; k <= 3; ++k) {
      const double x = d + two_pi * k;
      l[k + 3] = -0.5 * x * x / (tau * tau);
      mx = std::max(mx, l[k + 3]);
    }
    double sum = 0, sd = 0, st = 0;  // sum of weights, of weight * dl/dd, of weight * dl/dtau
    for (int k = -3; k <= 3; ++k) {
      const double x = d + two_pi * k, wk = std::exp(l[k + 3] - mx);
      sum += wk;
      sd += wk * (-x / (tau * tau));
      st += wk * (x * x / (tau * tau * tau));
    }
    d_d = sd / sum;
    d_tau = st / sum - 1 / tau;
    return mx + std::log(sum) - std::log(tau) - 0.5 * std::log(two_pi);
  }
  double f = 1, fd = 0, ft = 0;
  for (int n = 1; n <= 8; ++n) {
    const double a = 2 * std::exp(-0.5 * n * n * tau * tau);
    f += a * std::cos(n * d);
    fd -= a * n * std::sin(n * d);
    ft -= a * n * n * tau * std::cos(n * d);
  }
  d_d = fd / f;
  d_tau = ft / f;
  return std::log(f) - std::log(two_pi);
}

namespace {

/// One entry of the sparse Jacobian of a subject's constrained value w.r.t. q.
struct Partial {
  std::uint32_t i;
  double d;
};
constexpr int max_partials = 10;

namespace {

/// The population model's forward pass over one q, in phases: the population means and sds,
/// the shared and fixed parameters, then per subject its coordinates (noncentred, centred, the
/// ridge pair, mu_0 through the intercept) and their transforms. With `glp` (n_q zeros), `jac`
/// (J * P * max_partials) and `shared_dv` (H), also its gradient's pieces: glp = d(log-density
/// term)/dq, jac = d(V_jk)/dq sparse, shared_dv = d(shared value)/dq.
struct PopulationPass {
  const PopulationPlan& plan;
  const double* q;
  double* V;
  double* glp;
  Partial* jac;
  double* shared_dv;
  double* theta_u;
  std::size_t P = plan.P(), J = plan.J, nt = plan.nt, C = plan.C, W = plan.W(), H = plan.shared.size();
  bool g = glp != nullptr;
  double lp = 0;
  double m[max_pooled]{}, tau[max_pooled]{}, th[max_pooled]{};  // population medians and sds; a subject's unconstrained values
  double dm_u[max_pooled]{}, dm_w[max_pooled]{};  // an angle's d m / d q[k] and d m / d q[extra]
  Partial* pj = nullptr;          // the current subject's Jacobian entries

  void set(std::size_t k, int e, std::size_t i, double d) { pj[k * max_partials + e] = Partial{std::uint32_t(i), d}; }

  /// m_k ~ N(loc, scale) (a difference's relative to its partner's: a linear map, constant
  /// Jacobian), tau_k = sd_scale e^r ~ HalfNormal(sd_scale) with log-Jacobian r.
  void population_means() {
    for (std::size_t k = 0; k < P; ++k) {
      const PooledSpec& s = plan.pooled[k];
      if (s.angle) {
        population_angle(k);
      } else if (s.coord != PooledCoord::difference) {
        m[k] = s.loc + s.scale * q[k];  // m ~ N(loc, scale)
        lp -= 0.5 * q[k] * q[k];
        if (g) glp[k] -= q[k];
      }
      const double r = q[P + k], u = std::exp(r);  // tau = sd_scale e^r ~ HalfNormal(sd_scale), log-Jacobian r
      tau[k] = s.sd_scale * u;
      lp += r - 0.5 * u * u;
      if (g) glp[P + k] += 1 - u * u;
    }
    // The difference's population mean relative to its partner's (a linear map, constant
    // Jacobian): m = m_partner + loc - loc_partner + difference_scale q.
    for (std::size_t k = 0; k < P; ++k) {
      const PooledSpec& s = plan.pooled[k];
      if (s.coord != PooledCoord::difference) continue;
      const std::size_t p = std::size_t(s.partner);
      const double sd = difference_scale(plan, k);
      m[k] = m[p] + s.loc - plan.pooled[p].loc + sd * q[k];
      const double e = (m[k] - s.loc) / s.scale;
      lp -= 0.5 * e * e;
      if (g) {
        glp[p] -= e / s.scale * plan.pooled[p].scale;
        glp[k] -= e / s.scale * sd;
      }
    }
  }

  /// An angle's population mean m = atan2(w, u) of a 2-D vector (u, w) = (q[k], q[extra]) whose
  /// density depends on its length rho alone, so that m is uniform on the circle (a proper
  /// density on R^2 without a seam: the sampler moves m around the circle by moving the vector),
  /// times exp(kappa_m cos(m - loc)). The length's density exp(-(rho - 1)^2 / (2 angle_rho_sd^2))
  /// keeps rho near 1: the scale of m's direction in (u, w) is rho times m's posterior sd, so a
  /// vector ~ N(0, I) (rho from 0.3 to 2.4 in 90% of draws) is a funnel that a fixed step size
  /// crosses with divergences.
  void population_angle(std::size_t k) {
    const PooledSpec& s = plan.pooled[k];
    const AngleVector v(s.ref, q[k], q[s.extra]);
    m[k] = v.a;
    dm_u[k] = v.da_du();
    dm_w[k] = v.da_dw();
    const double e = (v.rho - 1) / angle_rho_sd;
    lp -= 0.5 * e * e - s.kappa_m * std::cos(m[k] - s.loc);
    if (g) {  // drho = d(-e^2/2)/d(x, y) per unit of (x, y); d(x, y)/d(u, w) = angle_rho_sd
      const double dm = -s.kappa_m * std::sin(m[k] - s.loc), drho = v.rho > 0 ? -e / v.rho : 0;
      glp[k] += dm * dm_u[k] + drho * v.x;
      glp[s.extra] += dm * dm_w[k] + drho * v.y;
    }
  }

  /// A centred angle: subject j's mu_0 = atan2(w, u) of its own 2-D vector (u, w) = (q[subject_q],
  /// q[extra + 1 + j]) (length density as population_angle's: proper, no seam), with the
  /// population density WN(mu_0 - m; tau), the wrapped normal that the non-centred m + tau z
  /// gives (the same model; wrapped_normal_log).
  void centred_angle(std::size_t j, std::size_t k) {
    const PooledSpec& s = plan.pooled[k];
    const std::size_t qu = plan.subject_q(j, k), qw = s.extra + 1 + j;
    const AngleVector v(plan.angle_reference(j, k), q[qu], q[qw]);
    th[k] = v.a;
    const double du = v.da_du(), dw = v.da_dw();  // d mu_0 / d(u, w)
    const double e = (v.rho - 1) / angle_rho_sd;
    double d_d, d_tau;
    lp += wrapped_normal_log(th[k] - m[k], tau[k], d_d, d_tau) - 0.5 * e * e;
    if (g) {
      const double drho = v.rho > 0 ? -e / v.rho : 0;
      glp[qu] += d_d * du + drho * v.x;
      glp[qw] += d_d * dw + drho * v.y;
      glp[k] -= d_d * dm_u[k];
      glp[s.extra] -= d_d * dm_w[k];
      glp[P + k] += d_tau * tau[k];  // tau = sd_scale e^{q_tau}
      set(k, 0, qu, du);
      set(k, 1, qw, dw);
    }
  }

  /// Subject j's value `v` of theta index t in the conditions `cond` selects (-1: all).
  void put(std::size_t j, int cond, std::size_t t, double v) {
    if (cond >= 0) {
      V[plan.row(j, std::size_t(cond)) + t] = v;
      return;
    }
    for (std::size_t c = 0; c < C; ++c) V[plan.row(j, c) + t] = v;
  }

  /// The shared parameters (their priors and transforms) and the fixed ones, in every row.
  void shared_and_fixed() {
    for (std::size_t h = 0; h < H; ++h) {
      const SlotSpec& sl = plan.shared[h];
      double v, dv, dl;
      lp += constrain_slot(sl, q[sl.q], v, dv, dl);
      if (g) {
        glp[sl.q] += dl;
        shared_dv[h] = dv;
      }
      for (std::size_t j = 0; j < J; ++j) put(j, plan.shared_condition(h), plan.shared_theta[h], v);
    }
    for (const auto& [at, value] : plan.fixed)
      for (std::size_t j = 0; j < J; ++j) V[j * W + at] = value;
  }

  /// Subject j's unconstrained values th from its coordinates.
  void subject_coordinates(std::size_t j) {
    pj = g ? jac + j * P * max_partials : nullptr;
    if (g) std::fill(pj, pj + P * max_partials, Partial{0, 0.0});
    for (std::size_t k = 0; k < P; ++k) {
      const PooledSpec& s = plan.pooled[k];
      const std::size_t qi = plan.subject_q(j, k);
      const double x = q[qi];
      switch (s.coord) {
      case PooledCoord::noncentred: {
        th[k] = m[k] + tau[k] * x;
        lp -= 0.5 * x * x;
        if (g) {
          glp[qi] -= x;
          set(k, 0, k, s.angle ? dm_u[k] : s.scale);
          set(k, 1, P + k, tau[k] * x);
          set(k, 2, qi, tau[k]);
          if (s.angle) set(k, 3, s.extra, dm_w[k]);
        }
        break;
      }
      case PooledCoord::centred: {
        if (s.angle) {
          centred_angle(j, k);
          break;
        }
        th[k] = s.loc + x;
        const double e = (th[k] - m[k]) / tau[k];
        lp -= 0.5 * e * e + std::log(tau[k]);
        if (g) {
          glp[qi] -= e / tau[k];
          glp[k] += e / tau[k] * s.scale;
          glp[P + k] += e * e - 1;
          set(k, 0, qi, 1.0);
        }
        break;
      }
      case PooledCoord::difference: break;  // with its ridge partner
      case PooledCoord::intercept: break;   // below, once the noise parameters are known
      case PooledCoord::ridge: {
        // (a, b) = (log sigma, log sigma_0) ~ N(m1, t1) N(m2, t2); sampled as d = b - a (centred,
        // d ~ N(m2 - m1, T), T^2 = t1^2 + t2^2) and a given d, non-centred:
        // a = m1 - c (d - m2 + m1) + S z, c = t1^2 / T^2, S = t1 t2 / T; Jacobian of (d, z) -> (a, b) is S.
        const std::size_t k1 = k, k2 = std::size_t(s.partner), q2 = plan.subject_q(j, k2);
        const PooledSpec& s2 = plan.pooled[k2];
        const double d = s2.loc - s.loc + q[q2], z = x;
        const double t1 = tau[k1], t2 = tau[k2], T2 = t1 * t1 + t2 * t2, c = t1 * t1 / T2, S = t1 * t2 / std::sqrt(T2);
        const double delta = d - m[k2] + m[k1];
        th[k1] = m[k1] - c * delta + S * z;
        th[k2] = th[k1] + d;
        const double e2 = delta * delta / T2;
        lp -= 0.5 * e2 + 0.5 * std::log(T2) + 0.5 * z * z;
        if (g) {
          glp[q2] -= delta / T2;
          glp[k2] += delta / T2 * difference_scale(plan, k2);  // m1's effect through delta and m2 cancel
          glp[P + k1] += (e2 - 1) * c;
          glp[P + k2] += (e2 - 1) * (1 - c);
          glp[qi] -= z;
          const double c1 = 2 * c * (1 - c) * delta;
          const double dr1 = -c1 + S * z * (1 - c), dr2 = c1 + S * z * c;
          for (std::size_t kk : {k1, k2}) {
            set(kk, 0, q2, kk == k1 ? -c : 1 - c);
            set(kk, 1, k1, s.scale);
            set(kk, 2, k2, c * difference_scale(plan, k2));
            set(kk, 3, qi, S);
            set(kk, 4, P + k1, dr1);
            set(kk, 5, P + k2, dr2);
          }
        }
        break;
      }
      }
    }
  }

  /// log mu_0 through the quadratic actor's intercept, once the noise parameters are known.
  void intercept_coordinate(std::size_t j) {
    for (std::size_t k = 0; k < P; ++k) {
      const PooledSpec& s = plan.pooled[k];
      if (s.coord != PooledCoord::intercept) continue;
      // log mu_0 through the quadratic actor's intercept log k = (1 - w) log mu_0 + w sigma^2 / 2 -
      // 3 sigma_r^2 / 2 (models/inference_nodes.cpp), with the subject's slope w replaced by a
      // constant estimate w_hat_j: kappa = (1 - w_hat_j) log mu_0 + w sigma^2 / 2 - 3 sigma_r^2 / 2,
      // centred, i.e. log mu_0 = A / (1 - w_hat_j), A = kappa - w sigma^2 / 2 + 3 sigma_r^2 / 2
      // (a shift and a constant scale: constant Jacobian). kappa stays near the identified
      // intercept wherever the posterior moves sigma and sigma_r.
      const std::size_t qi = plan.subject_q(j, k), ks = std::size_t(s.k_sigma), ks0 = std::size_t(s.k_sigma_0),
                        kr = std::size_t(s.k_sigma_r);
      const double kappa = s.loc + q[qi];
      const double s2 = std::exp(2 * th[ks]), s02 = std::exp(2 * th[ks0]), r2 = std::exp(2 * th[kr]);
      const double w = s02 / (s2 + s02), iw = 1.0 / (1.0 - plan.intercept_w[s.w_row * J + j]);  // a constant per subject
      const double A = kappa - 0.5 * w * s2 + 1.5 * r2;
      th[k] = A * iw;
      const double e = (th[k] - m[k]) / tau[k];
      lp -= 0.5 * e * e + std::log(tau[k]);
      if (g) {
        // d log mu_0 / d(log sigma, log sigma_0, log sigma_r, kappa); d(w sigma^2)/d log sigma =
        // 2 sigma^2 w^2, d(w sigma^2)/d log sigma_0 = 2 sigma_0^2 (1 - w)^2
        const double d_ls = -s2 * w * w * iw, d_ls0 = -s02 * (1 - w) * (1 - w) * iw, d_lr = 3 * r2 * iw;
        Partial* pk = pj + k * max_partials;
        const Partial* ps = pj + ks * max_partials;
        const Partial* ps0 = pj + ks0 * max_partials;
        const Partial* pr = pj + kr * max_partials;
        // The ridge pair's two lists share their indices (entries 0..5); sigma_r's has 3.
        for (int i = 0; i < 6; ++i) {
          BACTOR_ASSERT(ps[i].i == ps0[i].i);
          pk[i] = Partial{ps[i].i, d_ls * ps[i].d + d_ls0 * ps0[i].d};
        }
        for (int i = 0; i < 3; ++i) pk[6 + i] = Partial{pr[i].i, d_lr * pr[i].d};
        pk[9] = Partial{std::uint32_t(qi), iw};
        // The population term's gradient through log mu_0, and the log-Jacobian's through d.
        for (int i = 0; i < max_partials; ++i) glp[pk[i].i] -= e / tau[k] * pk[i].d;
        glp[k] += e / tau[k] * s.scale;
        glp[P + k] += e * e - 1;
      }
    }
  }

  /// Subject j's constrained values into V (and the Jacobian's chain through the transform).
  void transform(std::size_t j) {
    for (std::size_t k = 0; k < P; ++k) {
      const PooledSpec& s = plan.pooled[k];
      double v, dv;
      if (s.logit) {
        const double sg = 1.0 / (1.0 + std::exp(-th[k]));
        v = s.lo + (s.hi - s.lo) * sg;
        dv = (s.hi - s.lo) * sg * (1 - sg);
      } else if (s.linear) {
        v = th[k];
        dv = 1;
      } else {
        v = dv = std::exp(th[k]);
      }
      put(j, s.cond, s.theta, v);
      if (theta_u) theta_u[j * P + k] = th[k];
      if (g)
        for (int e = 0; e < max_partials; ++e) pj[k * max_partials + e].d *= dv;
    }
  }

  double run() {
    population_means();
    shared_and_fixed();
    for (std::size_t j = 0; j < J; ++j) {
      subject_coordinates(j);
      intercept_coordinate(j);
      transform(j);
    }
    V[J * W] = lp;
    return lp;
  }
};

} // namespace

/// The population model's forward pass (PopulationPass): V (J * nt values, then the
/// log-density term), and with `glp` its gradient's pieces.
double population_forward(const PopulationPlan& plan, const double* q, double* V, double* glp, Partial* jac,
                          double* shared_dv, double* theta_u) {
  return PopulationPass{plan, q, V, glp, jac, shared_dv, theta_u}.run();
}

/// population_node's saved data (arena).
struct PopulationOp {
  Var q;
  const PopulationPlan* plan;
  const double* glp;
  const Partial* jac;
  const double* shared_dv;
};

} // namespace

double population_mean(const PopulationPlan& plan, const double* q, std::size_t k) {
  const PooledSpec& s = plan.pooled[k];
  if (s.angle) return AngleVector(s.ref, q[k], q[s.extra]).a;
  if (s.coord != PooledCoord::difference) return s.loc + s.scale * q[k];
  const PooledSpec& p = plan.pooled[std::size_t(s.partner)];
  return p.loc + p.scale * q[s.partner] + s.loc - p.loc + difference_scale(plan, k) * q[k];
}

double population_mean_coordinate(const PopulationPlan& plan, const double* m, std::size_t k) {
  const PooledSpec& s = plan.pooled[k];
  if (s.angle) return AngleVector::coordinates(s.ref, m[k]).first;  // the extra coordinate: .second
  if (s.coord != PooledCoord::difference) return (m[k] - s.loc) / s.scale;
  const std::size_t p = std::size_t(s.partner);
  return (m[k] - m[p] - (s.loc - plan.pooled[p].loc)) / difference_scale(plan, k);
}

void population_values(const PopulationPlan& plan, const double* q, double* V, double* theta_u) {
  population_forward(plan, q, V, nullptr, nullptr, nullptr, theta_u);
}

Var population_node(Var q, const PopulationPlan& plan) {
  const std::size_t nq = plan.n_q(), P = plan.P(), J = plan.J, H = plan.shared.size();
  BACTOR_ASSERT(q.size() >= nq);
  Tape& tape = Tape::current();
  auto* glp = static_cast<double*>(tape.allocate(nq * sizeof(double)));
  auto* jac = static_cast<Partial*>(tape.allocate(J * P * max_partials * sizeof(Partial) + 8));
  auto* sdv = static_cast<double*>(tape.allocate((H + 1) * sizeof(double)));
  std::fill(glp, glp + nq, 0.0);
  const double* qv = q.values().data();
  const PopulationOp op{q, &plan, glp, jac, sdv};
  return custom(
      {q}, J * plan.W() + 1, 1,
      [&](std::span<double> y) { population_forward(plan, qv, y.data(), glp, jac, sdv, nullptr); },
      [op](std::span<const double>, std::span<const double> dy) {
        double* dq = op.q.node()->grad();
        if (!dq) return;
        const PopulationPlan& pl = *op.plan;
        const std::size_t P = pl.P(), J = pl.J, nq = pl.n_q();
        // The adjoint of subject j's value of theta t in the conditions `cond` selects: the sum
        // over the rows it was copied to.
        auto gathered = [&](std::size_t j, int cond, std::size_t t) {
          if (cond >= 0) return dy[pl.row(j, std::size_t(cond)) + t];
          double sum = 0;
          for (std::size_t c = 0; c < pl.C; ++c) sum += dy[pl.row(j, c) + t];
          return sum;
        };
        const double dlp = dy[J * pl.W()];
        for (std::size_t i = 0; i < nq; ++i) dq[i] += dlp * op.glp[i];
        for (std::size_t j = 0; j < J; ++j)
          for (std::size_t k = 0; k < P; ++k) {
            const double gv = gathered(j, pl.pooled[k].cond, pl.pooled[k].theta);
            const Partial* pk = op.jac + (j * P + k) * max_partials;
            for (int e = 0; e < max_partials; ++e) dq[pk[e].i] += gv * pk[e].d;
          }
        for (std::size_t h = 0; h < pl.shared.size(); ++h) {
          double sum = 0;
          for (std::size_t j = 0; j < J; ++j) sum += gathered(j, pl.shared_condition(h), pl.shared_theta[h]);
          dq[pl.shared[h].q] += sum * op.shared_dv[h];
        }
      });
}

} // namespace detail

// ---- specification ------------------------------------------------------------------------------

namespace {

std::string fmt(double v) { return detail::format_number(v); }

double parse_number(const std::string& text, const std::string& what) {
  const auto v = detail::parse_finite(text);
  if (!v) throw ArgumentError(what, "'" + text + "' is not a finite number");
  return *v;
}

// Median of HalfNormal(0.25), the default prior of the noise parameters.
constexpr double half_normal_median = 0.6744897501960817 * 0.25;

// The lapse probability's population (logit lambda_j ~ N(m, tau), m ~ N(loc, scale), tau ~
// HalfNormal(sd)): a subject's logit lambda has the mean and variance that the single-subject
// prior Beta(2, 50) gives it, E = digamma(2) - digamma(50) = -3.479 and Var = trigamma(2) +
// trigamma(50) = 0.665 = scale^2 + E[tau^2] = 0.644^2 + 0.5^2 (docs/hierarchical.md; the test
// "hierarchical: lapses" recomputes both by quadrature).
constexpr double lapse_logit_loc = -3.479, lapse_logit_scale = 0.644;

// Von Mises perception: sigma, sigma_0 and sigma_r (circular sds) have log-normal populations
// whose implied one-subject prior of log sigma has the mean and variance of the single-subject
// prior HalfNormal(0.25)'s: E log|0.25 Z| = log 0.25 - (gamma + log 2) / 2 = -2.0215 and
// Var = pi^2 / 8 = 1.2337 = scale^2 + E[tau^2] = 0.9918^2 + 0.5^2 (docs/hierarchical.md; the test
// "hierarchical vonmises: the population priors" recomputes both by quadrature).
constexpr double circular_sigma_loc = -2.0214769, circular_sigma_scale = 0.9918;

/// The bounds (lo, hi) of a parameter sampled on the logit scale of (v - lo) / (hi - lo): a cost
/// parameter with a uniform prior, the lapse probability (0, 1).
std::optional<std::pair<double, double>> logit_bounds(const CostInfo& cost, const std::string& name) {
  if (name == "lapse") return std::pair{0.0, 1.0};
  for (const auto& p : cost.params)
    if (p.name == name && p.kind == ParamPrior::Kind::uniform) return std::pair{p.a, p.b};
  return std::nullopt;
}

/// Whether the trials tell the subjects' log mu_0 apart, from each subject's least-squares line
/// of log r on log s (x), y = a + w x. The quadratic actor's line is (1 - w) log mu_0 + w x up to
/// the small noise terms, so it meets y = x at x* = a / (1 - w) = log mu_0, with delta-method
/// variance V = s^2 / (1 - w)^2 (1/n + (mean x - x*)^2 / Sxx) (a and w from the same fit;
/// s^2 the residual variance). The DerSimonian-Laird estimate of the between-subject variance
/// of x*, tau^2, against the median V: true when a typical subject's trials fix its log mu_0
/// more tightly than the population spreads them (a centred log mu_0 mixes well); false when
/// the population sd may be near 0, where a centred log mu_0 is a funnel. Subjects with fewer
/// than 3 trials or no spread in log s are left out; false with fewer than 2 left.
bool mu0_spread_identified(const std::vector<PowerStats>& stats) {
  std::vector<double> x, v;
  for (const PowerStats& st : stats) {
    if (st.n < 3) continue;
    const double mx = st.sx / st.n, my = st.sy / st.n;
    const double sxx = st.sxx - st.n * mx * mx, sxy = st.sxy - st.n * mx * my, syy = st.syy - st.n * my * my;
    if (!(sxx > 0)) continue;
    const double w = std::clamp(sxy / sxx, 0.05, 0.95), a = my - w * mx, xs = a / (1 - w);
    const double s2 = std::max(syy - sxy * sxy / sxx, 0.0) / (st.n - 2);
    x.push_back(xs);
    v.push_back(std::max(s2, 1e-12) / ((1 - w) * (1 - w)) * (1 / st.n + (mx - xs) * (mx - xs) / sxx));
  }
  if (x.size() < 2) return false;
  double sw = 0, sw2 = 0, swx = 0;
  for (std::size_t j = 0; j < x.size(); ++j) sw += 1 / v[j], sw2 += 1 / (v[j] * v[j]), swx += x[j] / v[j];
  double q = 0;
  for (std::size_t j = 0; j < x.size(); ++j) q += (x[j] - swx / sw) * (x[j] - swx / sw) / v[j];
  const double tau2 = std::max(0.0, (q - double(x.size() - 1)) / (sw - sw2 / sw));
  std::nth_element(v.begin(), v.begin() + long(v.size() / 2), v.end());
  return tau2 > v[v.size() / 2];
}

/// Under von Mises perception, each subject's mu_0 estimated from its trials and how well the
/// trials tell the subjects' mu_0 apart: the angles as unit vectors, z = e^{ir} on x = e^{is},
/// fitted by complex least squares z ~ alpha x + beta (the circular actor's response direction is
/// that of kappa e^{im} + kappa_0 e^{i mu_0}, so beta's direction estimates mu_0 whatever the
/// posterior weight, the complex alpha absorbing a constant shift d*), with the angular sampling
/// variance V = s^2 / (n (1 - |mean x|^2) |beta|^2) (s^2 the residual variance per component);
/// then the DerSimonian-Laird between-subject variance tau^2 of the estimates about their
/// weighted mean direction (wrapped differences), over the median V (`ratio`): large when a
/// typical subject's trials fix its mu_0 more tightly than the population spreads them (centred
/// angles mix), small when the population sd may be near 0 or the trials hardly inform mu_0
/// (centred angles funnel). Subjects with fewer than 3 trials or one stimulus give no estimate
/// (`subject` holds their responses' mean direction instead); ratio NaN with fewer than 2
/// estimates. Turning every angle by alpha turns every estimate by alpha.
struct AngleEstimates {
  std::vector<double> subject;  // per subject
  double mean = 0, ratio = std::numeric_limits<double>::quiet_NaN();
};
AngleEstimates estimate_angles(const std::vector<std::vector<std::pair<double, double>>>& subjects) {
  using cplx = std::complex<double>;
  AngleEstimates out;
  std::vector<double> x, v;
  for (const auto& sr : subjects) {
    const double n = double(sr.size());
    cplx mx = 0, mz = 0, mxz = 0;  // means of x, z, conj(x) z
    for (const auto& [s, r] : sr) {
      const cplx xi = std::polar(1.0, s), zi = std::polar(1.0, r);
      mx += xi / n, mz += zi / n, mxz += std::conj(xi) * zi / n;
    }
    out.subject.push_back(n > 0 ? std::arg(mz) : 0.0);
    const double spread = 1 - std::norm(mx);
    if (n < 3 || !(spread > 1e-9)) continue;
    const cplx beta = (mz - mx * mxz) / spread, alpha = mxz - std::conj(mx) * beta;
    double rss = 0;
    for (const auto& [s, r] : sr) rss += std::norm(std::polar(1.0, r) - alpha * std::polar(1.0, s) - beta);
    out.subject.back() = std::arg(beta);
    x.push_back(std::arg(beta));
    v.push_back(std::max(rss / (2 * n - 4), 1e-12) / (n * spread * std::max(std::norm(beta), 1e-300)));
  }
  cplx mean_dir = 0;
  for (std::size_t j = 0; j < x.size(); ++j) mean_dir += std::polar(1 / v[j], x[j]);
  out.mean = std::arg(mean_dir);
  if (x.size() < 2) return out;
  double sw = 0, sw2 = 0, q = 0;
  for (std::size_t j = 0; j < x.size(); ++j) {
    const double d = wrap_angle(x[j] - out.mean);
    sw += 1 / v[j], sw2 += 1 / (v[j] * v[j]), q += d * d / v[j];
  }
  const double tau2 = std::max(0.0, (q - double(x.size() - 1)) / (sw - sw2 / sw));
  std::nth_element(v.begin(), v.begin() + long(v.size() / 2), v.end());
  out.ratio = tau2 / v[v.size() / 2];
  return out;
}

/// The ratio above which `automatic` centres the von Mises cohort's angles (docs/hierarchical.md,
/// "Choosing the coordinates": the measurements behind it).
constexpr double angle_centred_threshold = 4.0;

} // namespace

HierParameterisation parse_hier_parameterisation(const std::string& text) {
  if (text == "auto") return HierParameterisation::automatic;
  if (text == "aligned") return HierParameterisation::aligned;
  if (text == "centred-mu0") return HierParameterisation::centred_mu0;
  if (text == "noncentred") return HierParameterisation::noncentred;
  if (text == "centred") return HierParameterisation::centred;
  throw ArgumentError("parameterisation", "'" + text + "' (expected auto, aligned, centred-mu0, centred or noncentred)");
}

const char* to_string(HierParameterisation p) {
  switch (p) {
  case HierParameterisation::aligned: return "aligned";
  case HierParameterisation::centred_mu0: return "centred-mu0";
  case HierParameterisation::noncentred: return "noncentred";
  case HierParameterisation::automatic: return "auto";
  case HierParameterisation::centred: return "centred";
  }
  return "?";
}

PopulationPrior parse_population_prior(const std::string& text) {
  const std::vector<std::string> parts = detail::split_fields(text, ':');
  if (parts.size() != 3) throw ArgumentError("population", "'" + text + "': expected LOC:SCALE:SD_SCALE");
  // SCALE may be "inf": a flat prior, which only an angle's population mean takes (uniform on the circle).
  PopulationPrior p{parse_number(parts[0], "population"), parts[1] == "inf" ? INFINITY : parse_number(parts[1], "population"),
                    parse_number(parts[2], "population")};
  if (!(p.scale > 0) || !(p.sd_scale > 0)) throw ArgumentError("population", "'" + text + "': SCALE and SD_SCALE must be positive");
  return p;
}

std::string to_string(const PopulationPrior& p) { return fmt(p.loc) + ":" + fmt(p.scale) + ":" + fmt(p.sd_scale); }

PopulationPrior default_population_prior(const CostInfo& cost, const std::string& name, double scale_S,
                                         PerceptionModel perception) {
  if (perception == PerceptionModel::gaussian) {
    // The single-subject priors in data units (S the root mean square of the stimuli): mu_0 ~
    // N(0, S) and offset ~ N(0, 0.25 S) become the population means' priors, with an sd scale of
    // half theirs; sigma ~ HalfNormal(0.25 S) and sigma_0 ~ HalfNormal(S) log-normal populations
    // about their medians.
    if (name == "mu_0") return {0.0, scale_S, 0.5 * scale_S};
    if (name == "offset") return {0.0, 0.25 * scale_S, 0.125 * scale_S};
    if (name == "sigma") return {std::log(half_normal_median * scale_S), 1.0, 0.5};
    if (name == "sigma_0") return {std::log(4 * half_normal_median * scale_S), 1.0, 0.5};
  }
  if (perception == PerceptionModel::vonmises) {
    // mu_0's population mean uniform on the circle (the single-subject prior vonmises:0:0; SCALE
    // inf: no von Mises factor), the subjects' spread about it a wrapped normal with sd tau ~
    // HalfNormal(0.5) radians.
    if (name == "mu_0") return {0.0, INFINITY, 0.5};
    if (name == "sigma" || name == "sigma_0" || name == "sigma_r") return {circular_sigma_loc, circular_sigma_scale, 0.5};
  }
  if (name == "mu_0") return {std::log(scale_S), 1.0, 0.5};
  if (name == "sigma" || name == "sigma_0" || name == "sigma_r") return {std::log(half_normal_median), 1.0, 0.5};
  // The motor parameters are in the data's units: a population about the single-subject prior's
  // median (HalfNormal(0.25 S)).
  if (name == "sigma_a" || name == "offset") return {std::log(half_normal_median * scale_S), 1.0, 0.5};
  if (name == "lapse") return {lapse_logit_loc, lapse_logit_scale, 0.5};
  for (const auto& p : cost.params)
    if (p.name == name) return p.kind == ParamPrior::Kind::uniform ? PopulationPrior{0.0, 1.5, 0.5} : PopulationPrior{p.a, p.b, 0.5};
  throw ArgumentError("pooled", "unknown parameter '" + name + "' for cost " + cost.name);
}

// ---- the model -------------------------------------------------------------------------------------

struct HierarchicalModel::Impl {
  /// One likelihood row: subject j's trials in condition c.
  struct Row {
    std::size_t j = 0, c = 0;
    std::vector<double> x, y;         // log s, log r
    std::vector<std::size_t> orig;    // file index of each trial
  };
  const CostInfo* cost = nullptr;
  std::shared_ptr<const ActionNetwork> net;
  MotorSpec motor;
  bool log_lik = true;
  // With lapses the lapse probability is the last entry of every row of V (tnames' "lapse",
  // after theta_names(cost, motor)), and each subject's contaminant range is its own.
  bool lapse = false;
  std::vector<std::pair<double, double>> lapse_ranges;  // per subject
  // Gaussian perception: trials in linear space (x = s, y = r), S the root mean square of the stimuli.
  bool linear = false;
  // Von Mises perception (models/circular.hpp): one circular likelihood row per subject and
  // condition replaces `lik` (x = s, y = r, angles; S = 1); mu_0 is an angle (PooledSpec::angle).
  bool circular = false;
  detail::CircularModel cmodel;
  std::vector<detail::CircularTrials> ctrials;
  std::vector<detail::CircularRow> crows;
  std::size_t J = 0, N = 0, nt = 0, C = 1;
  double S = 1;
  std::vector<std::string> ids, tnames, cond_labels;
  std::vector<Row> lrows;
  detail::PopulationPlan plan;
  std::vector<std::string> pooled_name, shared_name;  // per k, per h (NAME, or NAME.c for one condition's)
  std::vector<Prior> shared_prior;                    // per h, in the data's units
  std::vector<std::size_t> pooled_out, shared_out;    // k, h in output order
  // The likelihood (models/likelihood_plan.hpp): one row per subject and condition with trials,
  // theta of subject j in condition c at plan.row(j, c) of the population node's output.
  detail::LikelihoodPlan lik;
  std::vector<detail::RowRef> rows;
  std::vector<double> V, thu, grouped;
  std::unique_ptr<detail::FusedCohort> fused;  // the fused gradient, where it covers the spec
  // The coordinates in use (spec's, `automatic` resolved) and, under von Mises perception, the
  // statistic `automatic` decides by (angle_spread_ratio; NaN when not computed).
  HierParameterisation par = HierParameterisation::aligned;
  double angle_ratio = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> angle_ratios;  // per angle (estimate_angles)

  // Under von Mises perception `lik` is built for QuadraticCost and never run (the circular rows replace it).
  static bool circular_spec(const HierarchicalSpec& spec) { return spec.perception == PerceptionModel::vonmises; }
  explicit Impl(const HierarchicalSpec& spec)
      : lik((spec.cost ? (circular_spec(spec) ? find_cost("QuadraticCost") : *spec.cost)
                       : throw std::invalid_argument("hierarchical inference: no cost family given")),
            circular_spec(spec) ? nullptr : spec.network, !circular_spec(spec) && spec.exact_action, LatentMode::marginal,
            !circular_spec(spec) && spec.lapse, spec.quadrature_nodes, circular_spec(spec) ? MotorSpec{} : spec.motor,
            circular_spec(spec) ? PerceptionModel::lognormal : spec.perception) {}

  void values(std::span<const double> q) { detail::population_values(plan, q.data(), V.data(), thu.data()); }

  double log_density(std::span<const double> q, std::span<double> grad) {
    if (fused) return fused->log_density(q, grad);
    const bool want_grad = !grad.empty();
    Tape::Scope scope;
    const Var qv = want_grad ? variable_view(q, grad) : constant_view(q, q.size(), 1);
    const Var Vv = detail::population_node(qv, plan);
    detail::Elem acc{Vv, J * plan.W()};
    if (!std::isfinite(acc.value())) {
      std::fill(grad.begin(), grad.end(), 0.0);
      return acc.value();
    }
    acc = detail::Elem{circular ? detail::circular_likelihood_node(Vv, cmodel, crows, acc) : detail::add_likelihood(lik, Vv, rows, acc), 0};
    const double lp = acc.value();
    if (want_grad) {
      backward(acc.v);
      finish_view(qv);
    }
    return lp;
  }

  // Per-trial log-likelihood in file order (values() must have run at q): the composed
  // likelihood's value path.
  void trial_loglik(std::span<double> out) {
    std::vector<double*> row_out(lrows.size());
    for (std::size_t r = 0, k = 0; r < lrows.size(); k += lrows[r].x.size(), ++r) row_out[r] = grouped.data() + k;
    if (circular)
      for (std::size_t r = 0; r < crows.size(); ++r)
        detail::circular_row_loglik(cmodel, V.data() + crows[r].theta_at,
                                    crows[r].eps_at == detail::no_lapse ? nullptr : V.data() + crows[r].eps_at, *crows[r].trials,
                                    nullptr, row_out[r]);
    else
      detail::likelihood_values(lik, V.data(), rows, nullptr, row_out);
    for (std::size_t r = 0, k = 0; r < lrows.size(); ++r)
      for (std::size_t i = 0; i < lrows[r].x.size(); ++i, ++k) out[lrows[r].orig[i]] = grouped[k];
  }

  // ---- construction, in phases (HierarchicalModel's constructor) ----
  static bool is_pooled(const HierarchicalSpec& spec, const std::string& name) {
    return !spec.fixed.count(name) && (spec.pooled.empty() || spec.pooled.count(name));
  }
  /// Whether theta index t takes one value per condition.
  bool varies(const HierarchicalSpec& spec, std::size_t t) const { return C > 1 && spec.per_condition.count(tnames[t]); }
  /// NAME, or NAME.c (1-based) for condition c's copy.
  std::string item_name(std::size_t t, int c) const { return c < 0 ? tnames[t] : tnames[t] + "." + std::to_string(c + 1); }
  /// The value of `by_name` for condition c's copy of theta t: NAME.c's, else NAME's.
  template <class Map>
  const typename Map::mapped_type* lookup(const Map& by_name, std::size_t t, int c) const {
    if (auto it = by_name.find(item_name(t, c)); it != by_name.end()) return &it->second;
    if (auto it = by_name.find(tnames[t]); it != by_name.end()) return &it->second;
    return nullptr;
  }
  void group_rows(const Dataset& data, const HierarchicalSpec& spec);
  void contaminant_ranges(const Dataset& data, const HierarchicalSpec& spec, const std::vector<std::size_t>& subject_of);
  std::map<std::string, Prior> resolve_names(const HierarchicalSpec& spec) const;
  void build_population(const HierarchicalSpec& spec, const std::map<std::string, Prior>& prior);
  void angle_references();
  void resolve_parameterisation(const HierarchicalSpec& spec);
  void choose_coordinates();
  void finish_plan();
};

HierarchicalModel::HierarchicalModel(const Dataset& data, const HierarchicalSpec& spec)
    : impl_(std::make_unique<Impl>(spec)) {
  Impl& m = *impl_;
  if (data.size() == 0) throw std::invalid_argument(data.source + ": no trials");
  if (!data.has_subjects())
    throw std::invalid_argument(data.source + ": no subject column (hierarchical inference needs one)");
  for (const char* motor_param : {"sigma_a", "offset"})
    if (spec.per_condition.count(motor_param) &&
        (std::string(motor_param) == "offset" ? spec.motor.offset : spec.motor.has_sigma_a()))
      throw ArgumentError("per_condition", std::string("'") + motor_param +
                                               "': a cohort's conditions vary the actor's parameters only (sigma, sigma_0, mu_0, "
                                               "sigma_r, the cost's); " + motor_param +
                                               " is one per subject (pooled by default) — a single-subject fit (without "
                                               "--hierarchical) takes it per condition");
  check_per_condition(*spec.cost, spec.per_condition, spec.lapse);
  if (!spec.lapse && (spec.lapse_lo != 0 || spec.lapse_hi != 0))
    throw ArgumentError("lapse_range", "a contaminant range is given but lapses are off (set lapse)");
  m.cost = spec.cost;
  m.net = spec.network;
  m.motor = spec.motor;
  m.log_lik = spec.log_lik;
  m.lapse = spec.lapse;
  m.circular = spec.perception == PerceptionModel::vonmises;
  if (m.circular) {  // the single-subject fit's checks: cost, no network, motor, lapse range, angles in (-pi, pi]
    InferenceSpec is;
    is.cost = spec.cost;
    is.network = spec.network;
    is.exact_action = spec.exact_action;
    is.motor = spec.motor;
    is.lapse = spec.lapse;
    is.lapse_lo = spec.lapse_lo;
    is.lapse_hi = spec.lapse_hi;
    is.perception = spec.perception;
    detail::check_circular_fit(data, is);
    m.cmodel = detail::CircularModel::of(*spec.cost);
  }
  m.linear = spec.perception == PerceptionModel::gaussian;
  m.tnames = theta_names(*spec.cost, spec.motor);
  if (m.lapse) m.tnames.push_back("lapse");
  m.nt = m.tnames.size();
  m.C = std::max<std::size_t>(1, data.conditions());
  m.cond_labels = data.cond_labels;

  m.group_rows(data, spec);
  const std::map<std::string, Prior> prior = m.resolve_names(spec);
  m.build_population(spec, prior);
  m.angle_references();
  m.resolve_parameterisation(spec);
  if (m.par != HierParameterisation::noncentred) m.choose_coordinates();
  m.finish_plan();
  // The fused gradient (models/hierarchical_fused.hpp) where it covers the spec: one likelihood
  // row per subject (data with one condition; blocked cohorts keep the generic path for now).
  if (spec.fused && m.C == 1 && !m.circular) {
    std::vector<PowerStats> stats;
    for (const detail::RowTrials& t : m.lik.trials) stats.push_back(t.stats);
    m.fused = detail::FusedCohort::make(m.plan, m.lik, stats, spec.threads, spec.exchange);
  }
  if (spec.exchange && !m.fused)
    throw std::invalid_argument("splitting the subjects over processes needs the fused gradient: data with one condition, "
                                "the QuadraticCost closed form with sigma, sigma_0, mu_0 and sigma_r pooled in the aligned "
                                "or centred-mu0 coordinates, log-normal perception and motor noise, no lapses");
}

// Subjects in order of first appearance; one likelihood row per subject and condition with
// trials (subject-major, conditions in index order).
void HierarchicalModel::Impl::group_rows(const Dataset& data, const HierarchicalSpec& spec) {
  Impl& m = *this;
  std::map<std::string, std::size_t> index;
  std::vector<std::size_t> subject_of(data.size());
  double sum_log_s = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    auto [it, fresh] = index.emplace(data.subject[i], m.ids.size());
    if (fresh) m.ids.push_back(data.subject[i]);
    subject_of[i] = it->second;
    if (data.cond[i] < 0 || std::size_t(data.cond[i]) >= m.C)
      throw std::invalid_argument(data.source + ": condition index out of range");
    if (!m.linear && !m.circular) sum_log_s += std::log(data.s[i]);
  }
  m.J = m.ids.size();
  m.N = data.size();
  m.S = m.circular ? 1.0 : m.linear ? rms_stimulus(data) : std::exp(sum_log_s / double(m.N));  // angles: no unit
  if (!(m.S > 0))
    throw ArgumentError("perception", data.source + ": the stimuli are all 0, so their root mean square cannot be the unit");
  if (m.J < 2) throw std::invalid_argument(data.source + ": one subject; hierarchical inference needs at least two");
  std::vector<std::vector<std::size_t>> trials_of(m.J * m.C);  // file indices of (j, c) at j * C + c
  for (std::size_t i = 0; i < data.size(); ++i) trials_of[subject_of[i] * m.C + std::size_t(data.cond[i])].push_back(i);
  for (std::size_t b = 0; b < trials_of.size(); ++b) {
    if (trials_of[b].empty()) continue;
    Row& r = m.lrows.emplace_back(Row{b / m.C, b % m.C, {}, {}, {}});
    for (std::size_t i : trials_of[b]) {
      if (!(data.r[i] > 0) && m.motor.model != MotorModel::gaussian && !m.circular)
        throw std::invalid_argument(data.source + ": trial " + std::to_string(i + 1) + " has response " +
                                    fmt(data.r[i]) + " <= 0, which only gaussian motor noise allows");
      // Linear space under gaussian perception; else logs (a response <= 0, under gaussian motor
      // noise, is read by the motor form from r itself).
      r.x.push_back(m.linear || m.circular ? data.s[i] : std::log(data.s[i]));
      r.y.push_back(m.linear || m.circular ? data.r[i] : data.r[i] > 0 ? std::log(data.r[i]) : 0.0);
      r.orig.push_back(i);
    }
  }
  if (m.lapse) m.contaminant_ranges(data, spec, subject_of);
  m.grouped.assign(m.N, 0.0);
  if (m.circular) {  // theta of (j, c) at PopulationPlan::row(j, c), the lapse probability last in it
    m.ctrials.resize(m.lrows.size());
    for (std::size_t r = 0; r < m.lrows.size(); ++r) {
      for (std::size_t i = 0; i < m.lrows[r].x.size(); ++i) m.ctrials[r].add(m.lrows[r].x[i], m.lrows[r].y[i]);
      const std::size_t at = (m.lrows[r].j * m.C + m.lrows[r].c) * m.nt;
      m.crows.push_back({at, &m.ctrials[r], m.lapse ? at + m.nt - 1 : detail::no_lapse});
    }
    return;
  }
  for (const Row& r : m.lrows) {
    detail::RowTrials& t = m.lik.trials.emplace_back();
    t.x = r.x;
    t.y = r.y;
    if (!m.motor.plain())  // the responses themselves (data units) for the motor forms
      for (std::size_t i : r.orig) t.r.push_back(data.r[i]);
    if (m.lapse) {  // the subject's contaminant: log r uniform (gaussian motor noise: r uniform) over its range
      const auto [lo, hi] = m.lapse_ranges[r.j];
      t.log_width = m.motor.model == MotorModel::gaussian ? std::log(hi - lo) : std::log(std::log(hi) - std::log(lo));
    }
  }
  m.lik.finish();
  for (std::size_t r = 0; r < m.lrows.size(); ++r) {
    detail::RowRef ref;
    ref.theta_at = (m.lrows[r].j * m.C + m.lrows[r].c) * m.nt;  // PopulationPlan::row(j, c)
    if (m.lapse) ref.eps_at = ref.theta_at + m.nt - 1;           // the lapse probability, last in the row
    ref.trials = &m.lik.trials[r];
    m.rows.push_back(ref);
  }
}

// Each subject's contaminant range: lapse_range() of the subject's trials, as a fit of that
// subject alone takes it (the stimuli's range widened by e, or spec's range, which must hold
// every response; its error names the file line).
void HierarchicalModel::Impl::contaminant_ranges(const Dataset& data, const HierarchicalSpec& spec,
                                                 const std::vector<std::size_t>& subject_of) {
  std::vector<Dataset> one(J);
  for (std::size_t i = 0; i < data.size(); ++i) {
    Dataset& d = one[subject_of[i]];
    d.s.push_back(data.s[i]);
    d.r.push_back(data.r[i]);
    d.line.push_back(i < data.line.size() ? data.line[i] : i + 2);
  }
  InferenceSpec is;
  is.lapse = true;
  is.lapse_lo = spec.lapse_lo;
  is.lapse_hi = spec.lapse_hi;
  is.motor = spec.motor;
  is.perception = spec.perception;
  for (Dataset& d : one) {
    d.source = data.source;
    lapse_ranges.push_back(lapse_range(d, is));
  }
}

// The names of spec.fixed, spec.pooled, spec.priors and spec.population, checked (NAME, or
// NAME.c for a parameter that varies by condition); the priors of the parameters in the data's
// units.
std::map<std::string, Prior> HierarchicalModel::Impl::resolve_names(const HierarchicalSpec& spec) const {
  const Impl& m = *this;
  auto known = [&] {
    std::string s;
    for (const auto& n : m.tnames) s += (s.empty() ? "" : ", ") + n;
    return s;
  };
  // The base name of NAME or NAME.c (c in 1..C, NAME varying by condition).
  auto base_of = [&](const std::string& name, const char* what, bool allow_condition) {
    for (std::size_t t = 0; t < m.nt; ++t) {
      if (name == m.tnames[t]) return name;
      if (allow_condition && m.varies(spec, t))
        for (std::size_t c = 0; c < m.C; ++c)
          if (name == m.item_name(t, int(c))) return m.tnames[t];
    }
    std::string hint;
    if (const auto dot = name.rfind('.'); dot != std::string::npos && m.C > 1 && allow_condition)
      hint = " (a condition's own value NAME.c needs NAME in per_condition, c in 1.." + std::to_string(m.C) + ")";
    throw ArgumentError(what, "unknown parameter '" + name + "' (known: " + known() + ")" + hint);
  };
  std::map<std::string, Prior> prior;
  for (const auto& [name, p] : default_priors(*spec.cost, spec.motor, 1, {}, spec.lapse, spec.perception))
    prior[name] = p;
  // The defaults of mu_0, sigma_a and the offset (under gaussian perception sigma and sigma_0
  // too) are relative to S (docs/inference.md, Units): e.g. log(mu_0 / S) ~ N(0, 1). This model
  // works in the data's units, so it takes them in those.
  for (auto& [name, p] : prior)
    if (has_data_units(name, spec.perception)) p = prior_in_data_units(p, m.S);
  if (m.circular) prior["mu_0"] = Prior{Prior::Kind::vonmises, 0.0, 0.0};  // an angle: uniform on the circle
  // Parameters of either sign: mu_0 and the offset in linear space.
  auto any_sign = [&](const std::string& base) { return m.linear && (base == "mu_0" || base == "offset"); };
  auto no_sigma_r = [&](const std::string& name, const char* what) {
    if (!spec.motor.has_sigma_r() && (name == "sigma_r" || name.rfind("sigma_r.", 0) == 0))
      throw ArgumentError(what, "'sigma_r' is not a parameter of the " + std::string(to_string(spec.motor.model)) +
                                    " motor model (its noise is sigma_a)");
  };
  auto no_lapse = [&](const std::string& name, const char* what) {
    if (!spec.lapse && (name == "lapse" || name.rfind("lapse.", 0) == 0))
      throw ArgumentError(what, "'" + name + "' is a parameter only with lapses (set lapse)");
  };
  for (const auto& nv : spec.fixed) no_lapse(nv.first, "fixed");
  for (const auto& name : spec.pooled) no_lapse(name, "pooled");
  for (const auto& np : spec.priors) no_lapse(np.first, "priors");
  for (const auto& np : spec.population) no_lapse(np.first, "population");
  for (const auto& nv : spec.fixed) no_sigma_r(nv.first, "fixed");
  for (const auto& name : spec.pooled) no_sigma_r(name, "pooled");
  for (const auto& np : spec.priors) no_sigma_r(np.first, "priors");
  for (const auto& np : spec.population) no_sigma_r(np.first, "population");
  if (spec.per_condition.count("sigma_r")) no_sigma_r("sigma_r", "per_condition");
  for (const auto& nv : spec.fixed) {
    const Prior& p = prior[base_of(nv.first, "fixed", true)];
    const double v = nv.second;
    const bool ok = p.kind == Prior::Kind::uniform    ? (v >= p.a && v <= p.b)
                    : p.kind == Prior::Kind::beta     ? (v >= 0 && v < 1)
                    : p.kind == Prior::Kind::normal   ? true
                    : p.kind == Prior::Kind::vonmises ? true  // an angle
                                                      : v > 0;
    if (!ok || !std::isfinite(v))
      throw ArgumentError("fixed", nv.first + "=" + fmt(v) + " is outside the support of its prior " + to_string(p));
  }
  for (const auto& name : spec.pooled) {
    base_of(name, "pooled", false);
    if (spec.fixed.count(name)) throw ArgumentError("pooled", "'" + name + "' is fixed; a fixed parameter cannot be pooled");
  }
  auto pooled = [&](const std::string& name) { return is_pooled(spec, name); };
  for (const auto& np : spec.priors) {
    const std::string base = base_of(np.first, "priors", true);
    if (pooled(base))
      throw ArgumentError("priors", "'" + np.first + "' is pooled: its prior is the population's (set it with population)");
    const Prior& given = np.second;
    if ((prior.at(base).kind == Prior::Kind::vonmises) != (given.kind == Prior::Kind::vonmises))
      throw ArgumentError("priors", np.first + "=" + to_string(given) +
                                        (given.kind == Prior::Kind::vonmises ? ": a vonmises prior is for an angle (mu_0 under vonmises perception)"
                                                                             : ": an angle needs a prior on the circle, vonmises:LOC:KAPPA"));
    check_prior_sign(np.first, np.second, prior.at(base), any_sign(base));
    if (given.kind == Prior::Kind::normal && !any_sign(base))
      throw ArgumentError("priors", np.first + "=" + to_string(given) +
                                        ": a normal prior (either sign) is for mu_0 and offset under gaussian perception only");
    if (base == "lapse" && !(given.kind == Prior::Kind::beta || (given.kind == Prior::Kind::uniform && given.b <= 1)))
      throw ArgumentError("priors", np.first + "=" + to_string(given) +
                                        ": the lapse probability needs a prior on (0, 1), beta:A:B or uniform:LO:HI with HI <= 1");
    prior[np.first] = np.second;
  }
  for (const auto& np : spec.population) {
    const std::string base = base_of(np.first, "population", true);
    if (!pooled(base)) throw ArgumentError("population", "'" + np.first + "' is not pooled");
    if (std::isinf(np.second.scale) && !(m.circular && base == "mu_0"))
      throw ArgumentError("population", np.first + "=" + to_string(np.second) +
                                            ": SCALE inf (a flat prior) is for an angle's population mean only (mu_0 under vonmises perception)");
  }
  return prior;
}

// The population plan: fixed, pooled (with their population priors) and shared parameters, in
// output order (mu_0, sigma_0, sigma_r, sigma, cost parameters; one that varies by condition as
// its conditions' copies NAME.1..C in condition order, each with its own population or prior).
void HierarchicalModel::Impl::build_population(const HierarchicalSpec& spec, const std::map<std::string, Prior>& prior) {
  Impl& m = *this;
  std::vector<std::size_t> t_order{theta_index::mu_0, theta_index::sigma_0, theta_index::sigma_r, theta_index::sigma};
  for (std::size_t t = theta_index::first_cost_param; t < m.nt; ++t) t_order.push_back(t);
  m.plan.J = m.J;
  m.plan.nt = m.nt;
  m.plan.C = m.C;
  struct Shared {
    std::size_t t;
    int c;
    Prior p;
  };
  std::vector<Shared> shared;
  for (std::size_t t : t_order) {
    const std::string& base = m.tnames[t];
    if (t == theta_index::sigma_r && !spec.motor.has_sigma_r()) {  // the slot the layout keeps, unused
      for (std::size_t cc = 0; cc < m.C; ++cc) m.plan.fixed.emplace_back(cc * m.nt + t, unused_sigma_r);
      continue;
    }
    std::vector<int> conds{-1};
    if (m.varies(spec, t)) {
      conds.clear();
      for (std::size_t c = 0; c < m.C; ++c) conds.push_back(int(c));
    }
    for (int c : conds) {
      const std::string name = m.item_name(t, c);
      if (const double* v = m.lookup(spec.fixed, t, c)) {
        for (std::size_t cc = 0; cc < m.C; ++cc)
          if (detail::PopulationPlan::uses_condition(c, cc)) m.plan.fixed.emplace_back(cc * m.nt + t, *v);
      } else if (is_pooled(spec, base)) {
        detail::PooledSpec ps;
        ps.theta = t;
        ps.cond = c;
        const PopulationPrior* given = m.lookup(spec.population, t, c);
        const PopulationPrior pp = given ? *given : default_population_prior(*spec.cost, base, m.S, spec.perception);
        ps.loc = pp.loc;
        ps.scale = pp.scale;
        ps.sd_scale = pp.sd_scale;
        if (const auto b = logit_bounds(*spec.cost, base)) {
          ps.logit = true;
          std::tie(ps.lo, ps.hi) = *b;
        }
        ps.linear = m.linear && (base == "mu_0" || base == "offset");
        if (m.circular && base == "mu_0") {  // an angle: the population mean on the circle (PooledSpec::angle)
          ps.angle = ps.linear = true;
          ps.kappa_m = std::isinf(pp.scale) ? 0.0 : 1.0 / (pp.scale * pp.scale);
        }
        m.pooled_out.push_back(m.plan.pooled.size());
        m.pooled_name.push_back(name);
        m.plan.pooled.push_back(ps);
      } else {
        const auto it = prior.find(name);
        shared.push_back({t, c, it != prior.end() ? it->second : prior.at(base)});
        m.shared_name.push_back(name);
      }
    }
  }
  if (m.plan.pooled.size() > detail::max_pooled)
    throw ArgumentError("per_condition", std::to_string(m.plan.pooled.size()) + " pooled parameters (conditions x parameters); at most " +
                                             std::to_string(detail::max_pooled));
  const std::size_t P = m.plan.pooled.size();
  for (std::size_t h = 0; h < shared.size(); ++h) {
    detail::SlotSpec sl{shared[h].p};
    sl.q = int(2 * P + h);
    m.plan.shared.push_back(sl);
    m.plan.shared_theta.push_back(shared[h].t);
    m.plan.shared_cond.push_back(shared[h].c);
    m.shared_prior.push_back(shared[h].p);
    m.shared_out.push_back(h);
  }
}

// The coordinates in use: spec.parameterisation, `automatic` resolved to aligned outside von
// Mises perception; under it `noncentred` or `centred` (what aligned and centred-mu0 mean there),
// `automatic` centred when every mean angle's group of trials tells its subjects' mu_0 apart
// (angle_spread_ratio above angle_centred_threshold; the smallest ratio over the groups decides,
// as the non-centred coordinates are all or nothing).
void HierarchicalModel::Impl::resolve_parameterisation(const HierarchicalSpec& spec) {
  Impl& m = *this;
  const HierParameterisation p = spec.parameterisation;
  if (!m.circular) {
    if (p == HierParameterisation::centred)
      throw ArgumentError("parameterisation", "'centred' is for von Mises perception (its mu_0 angles); under " +
                                                  std::string(to_string(spec.perception)) +
                                                  " perception: auto, aligned, centred-mu0 or noncentred");
    m.par = p == HierParameterisation::automatic ? HierParameterisation::aligned : p;
    return;
  }
  for (std::size_t a = 0; a < m.angle_ratios.size(); ++a) {  // the smallest ratio; NaN (no estimate) wins
    const double ratio = m.angle_ratios[a];
    if (a == 0 || (!std::isnan(m.angle_ratio) && !(ratio >= m.angle_ratio))) m.angle_ratio = ratio;
  }
  if (p != HierParameterisation::automatic)
    m.par = p == HierParameterisation::noncentred ? p : HierParameterisation::centred;
  else  // no pooled mean angle (ratio NaN, nothing to choose): centred
    m.par = m.angle_ratios.empty() || m.angle_ratio > angle_centred_threshold ? HierParameterisation::centred
                                                                              : HierParameterisation::noncentred;
}

// Each angle's reference directions (PooledSpec::ref, PopulationPlan::angle_ref): the data's
// estimates of its subjects' mu_0 and of their mean, from the trials of the angle's group
// (estimate_angles), and the statistic `automatic` reads.
void HierarchicalModel::Impl::angle_references() {
  Impl& m = *this;
  for (detail::PooledSpec& ps : m.plan.pooled) {
    if (!ps.angle) continue;
    std::vector<std::vector<std::pair<double, double>>> subjects(m.J);  // (s, r) of the group's trials
    for (const Row& r : m.lrows)
      if (detail::PopulationPlan::uses_condition(ps.cond, r.c))
        for (std::size_t i = 0; i < r.x.size(); ++i) subjects[r.j].emplace_back(r.x[i], r.y[i]);
    const AngleEstimates est = estimate_angles(subjects);
    ps.ref = est.mean;
    angle_ratios.push_back(est.ratio);
    ps.ref_row = m.plan.angle_ref.size() / m.J;
    m.plan.angle_ref.insert(m.plan.angle_ref.end(), est.subject.begin(), est.subject.end());
  }
}

// The aligned and centred coordinates, per population group (a condition, or -1 for the
// parameters every condition shares): sigma and sigma_0 of one group as a ridge and its
// difference. log mu_0: with centred-mu0 centred; with aligned coordinates, where the group's
// trials tell the subjects' mu_0 apart (mu0_spread_identified), through each subject's intercept
// when the noise parameters it needs belong to its group or to every condition, else centred;
// where they do not, non-centred (a centred log mu_0 funnels when its population sd is near 0:
// docs/hierarchical.md).
void HierarchicalModel::Impl::choose_coordinates() {
  Impl& m = *this;
  const std::size_t P = m.plan.pooled.size();
  auto find = [&](std::size_t t, int cond) {
    for (std::size_t k = 0; k < P; ++k)
      if (m.plan.pooled[k].theta == t && m.plan.pooled[k].cond == cond) return int(k);
    return -1;
  };
  for (std::size_t k = 0; k < P; ++k)
    if (m.plan.pooled[k].theta == theta_index::mu_0) m.plan.pooled[k].coord = detail::PooledCoord::centred;
  for (int g = -1; g < int(m.C); ++g) {
    const int ks = find(theta_index::sigma, g), ks0 = find(theta_index::sigma_0, g);
    if (ks < 0 || ks0 < 0) continue;
    m.plan.pooled[std::size_t(ks)].coord = detail::PooledCoord::ridge;
    m.plan.pooled[std::size_t(ks)].partner = ks0;
    m.plan.pooled[std::size_t(ks0)].coord = detail::PooledCoord::difference;
    m.plan.pooled[std::size_t(ks0)].partner = ks;
  }
  // An angle is centred as its own 2-D vector (centred_angle); no intercept coordinate.
  if (m.par != HierParameterisation::aligned || m.circular) return;
  for (int g = -1; g < int(m.C); ++g) {
    const int kmu = find(theta_index::mu_0, g);
    if (kmu < 0) continue;
    auto& s = m.plan.pooled[std::size_t(kmu)];
    std::vector<PowerStats> stats(m.J);  // each subject's trials in the group
    for (const Row& r : m.lrows)
      if (detail::PopulationPlan::uses_condition(g, r.c))
        for (std::size_t i = 0; i < r.x.size(); ++i) stats[r.j].add(r.x[i], r.y[i]);
    if (!mu0_spread_identified(stats)) {
      s.coord = detail::PooledCoord::noncentred;
      continue;
    }
    if (m.linear) {  // the intercept coordinate is the log-normal actor's
      s.coord = detail::PooledCoord::centred;
      continue;
    }
    // The noise parameters of mu_0's group, or (for one condition's mu_0) the shared ones.
    auto noise = [&](std::size_t t) { return g >= 0 && find(t, g) < 0 ? find(t, -1) : find(t, g); };
    const int ks = noise(theta_index::sigma), ks0 = noise(theta_index::sigma_0), kr = noise(theta_index::sigma_r);
    if (ks < 0 || ks0 < 0 || kr < 0 || m.plan.pooled[std::size_t(ks)].coord != detail::PooledCoord::ridge ||
        m.plan.pooled[std::size_t(ks)].partner != ks0) {
      s.coord = detail::PooledCoord::centred;
      continue;
    }
    // Each subject's least-squares slope of log r on log s (clamped to [0.05, 0.95]) in the
    // group's trials, as w_hat.
    s.w_row = m.plan.intercept_w.size() / m.J;
    for (const PowerStats& st : stats) {
      const double vx = st.n > 0 ? st.sxx / st.n - (st.sx / st.n) * (st.sx / st.n) : 0.0;
      const double w = vx > 0 ? (st.sxy / st.n - st.sx * st.sy / (st.n * st.n)) / vx : 0.5;
      m.plan.intercept_w.push_back(std::clamp(w, 0.05, 0.95));
    }
    s.coord = detail::PooledCoord::intercept;
    s.k_sigma = ks;
    s.k_sigma_0 = ks0;
    s.k_sigma_r = kr;
  }
}

// The shared slots' prior constants and the value buffers.
void HierarchicalModel::Impl::finish_plan() {
  Impl& m = *this;
  const std::size_t P = m.plan.pooled.size();
  for (auto& sl : m.plan.shared) {  // the slot constants (ConstrainPlan::prepare computes the same)
    const Prior& p = sl.prior;
    sl.log_span = p.kind == Prior::Kind::uniform ? std::log(p.b - p.a) : 0.0;
    sl.inv_scale2 = p.kind == Prior::Kind::half_normal ? 1.0 / (p.a * p.a) : 0.0;
    sl.inv_scale = p.kind == Prior::Kind::lognormal || p.kind == Prior::Kind::normal ? 1.0 / p.b : 0.0;
  }
  m.plan.n_extra = 0;
  for (auto& ps : m.plan.pooled)
    if (ps.angle) {  // the mean's second coordinate; a centred angle's subjects' second coordinates after it
      ps.extra = m.plan.extra_q() + m.plan.n_extra;
      m.plan.n_extra += ps.coord == detail::PooledCoord::centred ? 1 + m.J : 1;
    }
  m.plan.validate();
  m.V.assign(m.J * m.plan.W() + 1, 0.0);
  m.thu.assign(m.J * P, 0.0);
}

HierarchicalModel::~HierarchicalModel() = default;

std::size_t HierarchicalModel::dim() const { return impl_->plan.n_q(); }

double HierarchicalModel::log_density(std::span<const double> q, std::span<double> grad) {
  return impl_->log_density(q, grad);
}

const std::vector<std::string>& HierarchicalModel::subject_ids() const { return impl_->ids; }
std::vector<std::string> HierarchicalModel::pooled_names() const { return impl_->pooled_name; }
std::vector<std::string> HierarchicalModel::shared_names() const { return impl_->shared_name; }
double HierarchicalModel::stimulus_scale() const { return impl_->S; }
const std::vector<std::string>& HierarchicalModel::condition_labels() const { return impl_->cond_labels; }

std::vector<std::pair<std::string, Prior>> HierarchicalModel::shared_priors() const {
  std::vector<std::pair<std::string, Prior>> out;
  for (std::size_t h : impl_->shared_out) out.emplace_back(impl_->shared_name[h], impl_->shared_prior[h]);
  return out;
}

bool HierarchicalModel::fused() const { return impl_->fused != nullptr; }
HierParameterisation HierarchicalModel::parameterisation() const { return impl_->par; }
double HierarchicalModel::angle_spread_ratio() const { return impl_->angle_ratio; }

std::map<std::string, std::string> HierarchicalModel::coordinates() const {
  std::map<std::string, std::string> out;
  for (std::size_t k = 0; k < impl_->pooled_name.size(); ++k) {
    const char* c = "noncentred";
    switch (impl_->plan.pooled[k].coord) {
    case detail::PooledCoord::noncentred: break;
    case detail::PooledCoord::centred: c = "centred"; break;
    case detail::PooledCoord::ridge: c = "ridge"; break;
    case detail::PooledCoord::difference: c = "difference"; break;
    case detail::PooledCoord::intercept: c = "intercept"; break;
    }
    out[impl_->pooled_name[k]] = c;
  }
  return out;
}

std::map<std::string, PopulationPrior> HierarchicalModel::population_priors() const {
  std::map<std::string, PopulationPrior> out;
  for (std::size_t k = 0; k < impl_->plan.P(); ++k) {
    const auto& s = impl_->plan.pooled[k];
    out[impl_->pooled_name[k]] = PopulationPrior{s.loc, s.scale, s.sd_scale};
  }
  return out;
}

std::vector<std::string> HierarchicalModel::parameter_names() const {
  const Impl& m = *impl_;
  std::vector<std::string> names;
  for (std::size_t k : m.pooled_out) {
    names.push_back(m.pooled_name[k] + ".pop");
    names.push_back(m.pooled_name[k] + ".sd");
  }
  for (std::size_t h : m.shared_out) names.push_back(m.shared_name[h]);
  for (std::size_t k : m.pooled_out)
    for (std::size_t j = 0; j < m.J; ++j) names.push_back(m.pooled_name[k] + ".s" + std::to_string(j + 1));
  return names;
}

std::vector<std::string> HierarchicalModel::output_names() const {
  auto names = parameter_names();
  if (impl_->log_lik)
    for (std::size_t i = 0; i < impl_->N; ++i) names.push_back("log_lik." + std::to_string(i + 1));
  return names;
}

void HierarchicalModel::write_outputs(std::span<const double> q, Rng&, std::span<double> out) {
  Impl& m = *impl_;
  m.values(q);
  const std::size_t P = m.plan.P();
  // A parameter's value in its condition's rows (every condition's: the first's).
  auto at = [&](std::size_t j, int cond, std::size_t t) { return m.V[m.plan.row(j, cond < 0 ? 0 : std::size_t(cond)) + t]; };
  std::size_t o = 0;
  for (std::size_t k : m.pooled_out) {
    const auto& s = m.plan.pooled[k];
    const double mk = detail::population_mean(m.plan, q.data(), k);
    out[o++] = s.angle ? s.loc + wrap_angle(mk - s.loc)
               : s.logit ? s.lo + (s.hi - s.lo) / (1.0 + std::exp(-mk))
               : s.linear ? mk
                          : std::exp(mk);
    out[o++] = s.sd_scale * std::exp(q[P + k]);
  }
  // Angles are written wrapped into (LOC - pi, LOC + pi], LOC their population prior's (pooled;
  // default 0) or prior's (shared) location, so that a posterior near the seam at LOC + pi can be
  // moved off it (as a single fit's mu_0).
  for (std::size_t h : m.shared_out) {
    const double v = at(0, m.plan.shared_condition(h), m.plan.shared_theta[h]);
    const Prior& p = m.shared_prior[h];
    out[o++] = p.kind == Prior::Kind::vonmises ? p.a + wrap_angle(v - p.a) : v;
  }
  for (std::size_t k : m.pooled_out)
    for (std::size_t j = 0; j < m.J; ++j) {
      const double v = at(j, m.plan.pooled[k].cond, m.plan.pooled[k].theta);
      const auto& s = m.plan.pooled[k];
      out[o++] = s.angle ? s.loc + wrap_angle(v - s.loc) : v;
    }
  if (m.log_lik) m.trial_loglik(out.subspan(o, m.N));
}

std::vector<double> HierarchicalModel::subject_theta(std::span<const double> q) const {
  impl_->values(q);
  return std::vector<double>(impl_->V.begin(), impl_->V.begin() + std::ptrdiff_t(impl_->J * impl_->plan.W()));
}

std::vector<std::pair<double, double>> HierarchicalModel::lapse_ranges() const { return impl_->lapse_ranges; }

void HierarchicalModel::trial_loglik(std::span<const double> q, std::span<double> out) {
  impl_->values(q);
  impl_->trial_loglik(out);
}

std::vector<double> HierarchicalModel::initial_point(const std::map<std::string, double>& pop,
                                                     const std::map<std::string, double>& sd) const {
  const Impl& m = *impl_;
  const std::size_t P = m.plan.P();
  std::vector<double> q(dim(), 0.0);
  std::vector<double> mk(P);
  for (std::size_t k = 0; k < P; ++k) {
    const auto& s = m.plan.pooled[k];
    const std::string& name = m.pooled_name[k];
    mk[k] = s.loc;
    if (auto it = pop.find(name); it != pop.end()) {
      const double v = it->second;
      if (!(s.logit ? (v > s.lo && v < s.hi) : s.linear ? std::isfinite(v) : v > 0))
        throw ArgumentError("init", name + "=" + fmt(v) + " is out of range");
      mk[k] = s.logit ? std::log((v - s.lo) / (s.hi - v)) : s.linear ? v : std::log(v);
    }
    if (auto it = sd.find(name); it != sd.end()) {
      if (!(it->second > 0)) throw ArgumentError("init", name + " sd must be positive");
      q[P + k] = std::log(it->second / s.sd_scale);
    }
  }
  for (std::size_t k = 0; k < P; ++k) {
    q[k] = detail::population_mean_coordinate(m.plan, mk.data(), k);
    if (m.plan.pooled[k].angle) q[m.plan.pooled[k].extra] = detail::AngleVector::coordinates(m.plan.pooled[k].ref, mk[k]).second;
  }
  for (const auto& sl : m.plan.shared) {
    const Prior& p = sl.prior;
    q[sl.q] = p.kind == Prior::Kind::uniform     ? 0.0
              : p.kind == Prior::Kind::lognormal ? p.a
              : p.kind == Prior::Kind::beta      ? std::log(p.a / p.b)  // logit of the prior mean
              : p.kind == Prior::Kind::normal    ? p.a
                                                 : std::log(0.674 * p.a);
  }
  for (std::size_t j = 0; j < m.J; ++j)
    for (std::size_t k = 0; k < P; ++k) {
      const auto& s = m.plan.pooled[k];
      double& x = q[m.plan.subject_q(j, k)];
      if (s.angle && s.coord == detail::PooledCoord::centred) {  // the subject's own vector at the mean angle
        std::tie(x, q[s.extra + 1 + j]) = detail::AngleVector::coordinates(m.plan.angle_reference(j, k), mk[k]);
      } else if (s.coord == detail::PooledCoord::centred) x = mk[k] - s.loc;
      else if (s.coord == detail::PooledCoord::intercept) {
        const double s2 = std::exp(2 * mk[std::size_t(s.k_sigma)]), s02 = std::exp(2 * mk[std::size_t(s.k_sigma_0)]);
        const double r2 = std::exp(2 * mk[std::size_t(s.k_sigma_r)]), w = s02 / (s2 + s02);
        x = (1 - m.plan.intercept_w[s.w_row * m.J + j]) * mk[k] + 0.5 * w * s2 - 1.5 * r2 - s.loc;
      }
      else if (s.coord == detail::PooledCoord::difference) {
        const auto& r = m.plan.pooled[s.partner];
        x = (mk[k] - mk[s.partner]) - (s.loc - r.loc);
      } else x = 0;
    }
  return q;
}

// ---- simulated cohorts ---------------------------------------------------------------------------

Cohort simulate_cohort(const CohortSpec& spec) {
  if (!spec.base.cost) throw std::invalid_argument("simulate_cohort: no cost family given");
  if (spec.subjects < 1) throw ArgumentError("subjects", "must be positive");
  const CostInfo& cost = *spec.base.cost;
  for (const auto& [name, sd] : spec.spread) {
    const auto names = theta_names(cost, spec.base.motor);
    const bool lapse = name == "lapse" && spec.base.lapse > 0;  // the lapse probability, given apart from values
    if (!lapse && (std::find(names.begin(), names.end(), name) == names.end() || !spec.base.values.count(name)))
      throw ArgumentError("spread", "'" + name + "' is not a parameter with a value" +
                                        (name == "lapse" ? std::string(" (a spread of lapse needs a lapse probability > 0)") : ""));
    if (!(sd >= 0) || !std::isfinite(sd)) throw ArgumentError("spread", name + ": sd must be >= 0");
  }
  std::map<std::string, std::pair<double, double>> bounds;
  for (const auto& p : cost.params)
    if (p.kind == ParamPrior::Kind::uniform) bounds[p.name] = {p.a, p.b};
  Rng rng(spec.base.seed, 1);
  Rng lapse_rng(spec.base.seed, 2);  // the lapse probabilities' own stream: a lapse spread changes no other value
  const auto lapse_spread = spec.spread.find("lapse");
  Cohort out;
  out.data.source = "simulated";
  out.data.cond_labels = {"1"};
  for (std::size_t j = 0; j < spec.subjects; ++j) {
    SimulationSpec sub = spec.base;
    sub.seed = spec.base.seed + 1 + j;
    for (auto& [name, v] : sub.values) {
      const auto it = spec.spread.find(name);
      const double z = rng.normal();  // drawn for every parameter, so adding a spread changes no other subject value
      if (it == spec.spread.end() || it->second == 0) continue;
      if (spec.base.perception == PerceptionModel::gaussian && (name == "mu_0" || name == "offset")) {
        v += it->second * z;  // either sign: a spread in the data's units
      } else if (spec.base.perception == PerceptionModel::vonmises && name == "mu_0") {
        v = wrap_angle(v + it->second * z);  // an angle: a wrapped normal about it, sd in radians
      } else if (const auto b = bounds.find(name); b != bounds.end()) {
        const auto [lo, hi] = b->second;
        const double u = std::log((v - lo) / (hi - v)) + it->second * z;
        v = lo + (hi - lo) / (1.0 + std::exp(-u));
      } else {
        v = std::exp(std::log(v) + it->second * z);
      }
    }
    if (lapse_spread != spec.spread.end() && spec.base.lapse > 0) {  // logit-normal around base.lapse
      const double u = std::log(spec.base.lapse / (1 - spec.base.lapse)) + lapse_spread->second * lapse_rng.normal();
      sub.lapse = 1.0 / (1.0 + std::exp(-u));
    }
    const Dataset d = simulate(sub);
    out.truth.push_back(sub.values);
    if (sub.lapse > 0) out.truth.back()["lapse"] = sub.lapse;
    const std::string id = std::to_string(j + 1);
    for (std::size_t i = 0; i < d.size(); ++i) {
      out.data.s.push_back(d.s[i]);
      out.data.r.push_back(d.r[i]);
      out.data.cond.push_back(0);
      out.data.subject.push_back(id);
      out.data.line.push_back(out.data.s.size() + 1);
    }
  }
  return out;
}

} // namespace bactor
