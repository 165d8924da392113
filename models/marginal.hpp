// SPDX-License-Identifier: MIT
// The per-trial likelihood with the measurement integrated out.
//
// Trial: u = log m ~ Normal(x, sigma) with x = log s; log r ~ Normal(log a(u), sigma_r).
//   p(r | s) = (1/r) ∫ N(u; x, sigma) N(y; log a(u), sigma_r) du,   y = log r.
// For the power-law actor log a = log k + w u (both closed-form costs) the integral is exact:
//   y ~ Normal(log k + w x, sqrt(sigma_r^2 + w^2 sigma^2)).
// For any other action (the network) it is computed by adaptive Gauss–Hermite quadrature:
// nodes centred at the mode of the log integrand (Gauss–Newton steps) and scaled by its
// curvature there. The gradient is that of the quadrature sum with the nodes held fixed,
// which equals the gradient of the integral to quadrature accuracy.
#pragma once

#include <cmath>
#include <cstddef>
#include <numbers>
#include <vector>

namespace bactor {

/// Power-law action a = k m^w in log form: log a(u) = log_k + w u.
struct PowerHead {
  double log_k = 0, w = 1;
  /// Adjoint: d/d(log_k, w).
  struct Adjoint {
    double log_k = 0, w = 0;
  };
  /// log a(u), its u-derivative, and d log a / d(head parameters) in `dp`.
  double eval(double u, double& dla_du, double* dp) const {
    dla_du = w;
    dp[0] = 1.0;
    dp[1] = u;
    return log_k + w * u;
  }
  static constexpr int n_params = 2;
  /// d^2 log a / du^2.
  double curvature(double) const { return 0.0; }
  static void add(Adjoint& a, const double* dp, double g) {
    a.log_k += g * dp[0];
    a.w += g * dp[1];
  }
};

/// The network's output head a = softplus(k e^{w u} + x2), k = softplus(x0), w = sigmoid(x1).
struct SoftplusHead {
  double k = 1, w = 1, x2 = 0;
  /// Adjoint: d/d(k, w, x2).
  struct Adjoint {
    double k = 0, w = 0, x2 = 0;
  };
  static constexpr int n_params = 3;
  double eval(double u, double& dla_du, double* dp) const {
    const double e = std::exp(w * u);
    const double t = k * e + x2;
    double la, dla_dt;
    if (t > 30) {  // softplus(t) = t + log1p(e^-t) ≈ t
      const double a = t + std::log1p(std::exp(-t));
      la = std::log(a);
      dla_dt = 1.0 / (a * (1.0 + std::exp(-t)));
    } else if (t < -30) {  // softplus(t) ≈ e^t
      la = t;
      dla_dt = 1.0;
    } else {
      const double a = std::log1p(std::exp(t));
      la = std::log(a);
      dla_dt = 1.0 / (a * (1.0 + std::exp(-t)));
    }
    dp[0] = dla_dt * e;
    dp[1] = dla_dt * k * e * u;
    dp[2] = dla_dt;
    dla_du = dla_dt * k * e * w;
    return la;
  }
  /// d^2 log a / du^2 (for the Newton steps that find the mode).
  double curvature(double u) const {
    const double e = std::exp(w * u), t = k * e + x2, b = k * w * e;  // b = dt/du
    if (t < -30) return w * b;
    const double sg = 1.0 / (1.0 + std::exp(-t));
    const double sp = t > 30 ? t + std::log1p(std::exp(-t)) : std::log1p(std::exp(t));
    const double a = sg / sp, da = (sg * (1 - sg) * sp - sg * sg) / (sp * sp);
    return da * b * b + a * w * b;
  }
  static void add(Adjoint& a, const double* dp, double g) {
    a.k += g * dp[0];
    a.w += g * dp[1];
    a.x2 += g * dp[2];
  }
};

/// Gauss–Hermite rule for ∫ f(t) e^{-t^2} dt: nodes and log(weight) + t^2 (so that
/// ∫ g(t) dt ≈ Σ exp(log_w[j]) g(t[j]) for g decaying like a Gaussian).
struct GaussHermite {
  std::vector<double> t, log_w;
  /// n-point rule by the Golub–Welsch eigenvalue method (n >= 1).
  explicit GaussHermite(int n);
  int size() const { return static_cast<int>(t.size()); }
};

/// Default node count of the network marginal (relative log-likelihood error < 1e-6 over the
/// prior ranges even for strongly curved heads at sigma = 0.6, where 12 nodes give ~2e-6;
/// see tests/models/test_marginal.cpp).
inline constexpr int default_quadrature_nodes = 16;

/// Gradient of one trial's log-likelihood w.r.t. sigma, sigma_r and the head parameters.
template <class Head>
struct TrialGrad {
  double sigma = 0, sigma_r = 0;
  typename Head::Adjoint head;
};

/// log p(r | s) for one trial (including the 1/r Jacobian) by adaptive Gauss–Hermite
/// quadrature; adds its gradient (weighted by `scale`) to `g`. x = log s, y = log r.
template <class Head>
double gh_trial_loglik(const Head& h, double x, double y, double sigma, double sigma_r,
                       const GaussHermite& rule, TrialGrad<Head>& g, int newton_steps = 3) {
  const double is2 = 1.0 / (sigma * sigma), ir2 = 1.0 / (sigma_r * sigma_r);
  double dp[Head::n_params];
  // Mode of  -(u-x)^2/(2 sigma^2) - (y - la(u))^2/(2 sigma_r^2)  by Newton steps (the
  // Gauss–Newton curvature when the full one is not positive), started at the linearised
  // solution around u = x.
  double u = x, dla = 0, curv = is2;
  auto curvature = [&](double uu, double la) {
    const double full = is2 + (dla * dla - (y - la) * h.curvature(uu)) * ir2;
    return full > 0.1 * is2 ? full : is2 + dla * dla * ir2;
  };
  for (int it = 0; it < newton_steps; ++it) {
    const double la = h.eval(u, dla, dp);
    const double grad = -(u - x) * is2 + (y - la) * dla * ir2;
    curv = curvature(u, la);
    double step = grad / curv;
    const double lim = 3 * sigma;  // keep steps within the prior's scale
    step = step > lim ? lim : (step < -lim ? -lim : step);
    u += step;
  }
  curv = curvature(u, h.eval(u, dla, dp));
  const double scale = std::sqrt(2.0 / curv);  // u_j = u + scale t_j

  constexpr int max_nodes = 64;
  double f[max_nodes], la_j[max_nodes], dp_j[max_nodes][Head::n_params];
  const int n = rule.size() < max_nodes ? rule.size() : max_nodes;
  double fmax = -INFINITY;
  for (int j = 0; j < n; ++j) {
    const double uj = u + scale * rule.t[j];
    double d;
    la_j[j] = h.eval(uj, d, dp_j[j]);
    const double du = uj - x, dy = y - la_j[j];
    f[j] = rule.log_w[j] - 0.5 * du * du * is2 - 0.5 * dy * dy * ir2;
    fmax = f[j] > fmax ? f[j] : fmax;
  }
  double sum = 0;
  for (int j = 0; j < n; ++j) sum += (f[j] = std::exp(f[j] - fmax));
  const double inv = 1.0 / sum;
  double gs = 0, gr = 0;
  for (int j = 0; j < n; ++j) {
    const double p = f[j] * inv;
    const double uj = u + scale * rule.t[j];
    const double du = uj - x, dy = y - la_j[j];
    gs += p * du * du;
    gr += p * dy * dy;
    Head::add(g.head, dp_j[j], p * dy * ir2);
  }
  g.sigma += gs * is2 / sigma - 1.0 / sigma;
  g.sigma_r += gr * ir2 / sigma_r - 1.0 / sigma_r;
  return fmax + std::log(sum) + std::log(scale) - std::log(2 * std::numbers::pi * sigma * sigma_r) - y;
}

/// Exact marginal log-likelihood of one trial for the power-law actor (for tests and for
/// per-trial log_lik output): y ~ Normal(log_k + w x, sqrt(sigma_r^2 + w^2 sigma^2)), minus y.
inline double power_trial_loglik(const PowerHead& h, double x, double y, double sigma, double sigma_r) {
  const double v = sigma_r * sigma_r + h.w * h.w * sigma * sigma;
  const double e = y - h.log_k - h.w * x;
  return -0.5 * std::log(2 * std::numbers::pi * v) - 0.5 * e * e / v - y;
}

/// Sufficient statistics of one condition's trials for the exact power-law marginal.
struct PowerStats {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
  void add(double x, double y) {
    n += 1;
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
    syy += y * y;
  }
};

/// Gradient of the summed power-law marginal w.r.t. (log_k, w, sigma, sigma_r).
struct PowerGrad {
  double log_k = 0, w = 0, sigma = 0, sigma_r = 0;
};

/// Σ_i power_trial_loglik over the trials summarised by `st`, in O(1); adds the gradient to g.
inline double power_loglik(const PowerHead& h, const PowerStats& st, double sigma, double sigma_r,
                           PowerGrad& g) {
  const double lk = h.log_k, w = h.w;
  const double v = sigma_r * sigma_r + w * w * sigma * sigma;
  // Q = Σ (y - lk - w x)^2 expanded in the statistics.
  const double q = st.syy + st.n * lk * lk + w * w * st.sxx - 2 * lk * st.sy - 2 * w * st.sxy + 2 * lk * w * st.sx;
  const double dq_dlk = 2 * (st.n * lk - st.sy + w * st.sx);
  const double dq_dw = 2 * (w * st.sxx - st.sxy + lk * st.sx);
  const double dl_dv = -0.5 * st.n / v + 0.5 * q / (v * v);
  g.log_k += -0.5 * dq_dlk / v;
  g.w += -0.5 * dq_dw / v + dl_dv * 2 * w * sigma * sigma;
  g.sigma += dl_dv * 2 * w * w * sigma;
  g.sigma_r += dl_dv * 2 * sigma_r;
  return -0.5 * st.n * std::log(2 * std::numbers::pi * v) - 0.5 * q / v - st.sy;
}

} // namespace bactor
