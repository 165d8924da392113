// SPDX-License-Identifier: MIT
// The per-trial likelihood with the measurement integrated out.
//
// Trial: u = log m ~ Normal(x, sigma) with x = log s; log r ~ Normal(log a(u), sigma_r).
//   p(r | s) = (1/r) ∫ N(u; x, sigma) N(y; log a(u), sigma_r) du,   y = log r.
// For the power-law actor log a = log k + w u (both closed-form costs) the integral is exact:
//   y ~ Normal(log k + w x, sqrt(sigma_r^2 + w^2 sigma^2)).
// For any other action (the network) it is computed by adaptive Gauss–Hermite quadrature:
// nodes centred at the mode of the log integrand (Newton steps) and scaled by its curvature
// there (a Laplace fit; exact for a Gaussian integrand), with a node count that grows with
// sigma (quadrature_nodes_for). The gradient is that of the quadrature sum with the nodes held
// fixed, which equals the gradient of the integral to quadrature accuracy.
#pragma once

#include <cmath>
#include <concepts>
#include <cstddef>
#include <iterator>
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
  /// The u with log a(u) = y and d log a/du there; false if there is none.
  bool inverse(double y, double& u, double& slope) const {
    if (!(w > 0)) return false;
    u = (y - log_k) / w;
    slope = w;
    return true;
  }
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
  /// The u with log a(u) = y and d log a/du there; false if there is none (y at or below the
  /// lower asymptote log softplus(x2)). softplus(t) = Y = e^y  <=>  t = Y + log(1 - e^{-Y}),
  /// sigmoid(t) = 1 - e^{-Y}; d log a/du = sigmoid(t) k w e^{w u} / Y. A starting point only.
  bool inverse(double y, double& u, double& slope) const {
    const double Y = std::exp(y), q = -std::expm1(-Y);  // q = sigmoid(t)
    if (!(q > 0) || !(w > 0) || !(k > 0)) return false;
    const double ke = Y + std::log(q) - x2;  // k e^{w u}
    if (!(ke > 0) || !std::isfinite(ke)) return false;
    u = std::log(ke / k) / w;
    slope = q * ke * w / Y;
    return std::isfinite(u) && std::isfinite(slope);
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

/// Node count of the adaptive rule for measurement noise sigma (odd, so the mode is a node),
/// from the error tables of tests/models/test_marginal.cpp ("error table"): up to sigma 0.4,
/// the smallest count whose worst relative log-likelihood error is at most 4.4e-7 (most bands
/// 1e-7 or less) in three samples of 3,000 cases per band and in the 1,000-case table `make
/// test` runs, over sigma_r in 0.01..0.6, softplus heads with k in e^±1, w in 0.02..0.99, x2 in
/// ±0.5, and responses drawn from the model and 2 predictive sd off it. The integrand's
/// departure from a Gaussian grows with sigma (the head's curvature over ±sigma), hence the
/// growth. The errors are heavy-tailed: the worst cases are gross outliers on a saturating
/// head (e.g. r = 18 s where the head is flat), whose integrand is a skewed plateau, so each
/// band's count is set by rare cases (400 cases per band would have allowed counts that missed
/// 5e-6). Above sigma 0.4 (3% of the HalfNormal(0.25) prior) such cases needed 41-61 nodes,
/// and 61 are used up to 0.75 (99.7% of the prior), 81 beyond.
inline constexpr double quadrature_band_upper[] = {0.05, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.75};
inline constexpr int quadrature_node_counts[] = {5, 7, 9, 11, 13, 15, 19, 61, 81};
/// The mupost head's counts for the same bands, from its error tables (tests/models/test_mupost.cpp,
/// 400 cases per band and seed with 20k-step networks): for Linex and InvertedGaussian, whose
/// action is smooth in mu_post (worst 1.6e-10 with these counts), and ...
inline constexpr int mupost_quadrature_node_counts[] = {5, 9, 21, 25, 31, 41, 41, 61, 81};
/// ... for costs whose action has a near-kink in mu_post (CostInfo::action_kink;
/// AbsoluteCostQuadraticEffort: where the noiseless optimum leaves r = s, sharper the better the
/// network is trained): a response on the flat side makes the integrand a skewed plateau; with
/// the counts above a 20k-step network left errors up to 1.4e-4; with these, the default 60k-step
/// network's worst is 6.6e-7 (with 25 nodes in the second band it was 1.9e-5).
inline constexpr int mupost_kink_quadrature_node_counts[] = {13, 41, 61, 61, 81, 81, 81, 81, 101};
inline int quadrature_nodes_for(double sigma, const int* counts = quadrature_node_counts) {
  constexpr int bands = int(std::size(quadrature_band_upper));
  static_assert(std::size(quadrature_node_counts) == bands + 1);
  static_assert(std::size(mupost_quadrature_node_counts) == bands + 1);
  static_assert(std::size(mupost_kink_quadrature_node_counts) == bands + 1);
  int b = 0;
  while (b < bands && !(sigma <= quadrature_band_upper[b])) ++b;
  return counts[b];
}

/// Newton iteration to the mode (from the inverse-head guess, see gh_trial_loglik): a trial
/// stops once its next step would be below newton_tolerance Laplace sds (step^2 * curvature <=
/// tol^2), or after newton_max_steps steps; the rule is then centred there, at most about a
/// tenth of an sd from the mode, which the error tables show costs no accuracy (3 x 3,000 cases
/// per band: worst 4.2e-7 with tol 0.1, 4.4e-7 with 1e-3; 1.2 instead of 2.0 evaluations per
/// trial on effort_two_noise.csv). A fixed number of steps is not enough: an outlier response
/// with small sigma_r (log-likelihood -100 and below) needed up to 8 steps, and 2 left
/// relative errors up to 1.6.
inline constexpr int newton_max_steps = 16;
inline constexpr double newton_tolerance = 0.1;

/// Node count of the network marginal: -1 means "by sigma" (quadrature_nodes_for, per
/// condition); a positive count fixes the rule.
inline constexpr int default_quadrature_nodes = -1;
/// Newton steps at most: -1 means newton_max_steps.
inline constexpr int default_newton_steps = -1;

/// Gauss–Hermite rules by node count, built once (quadrature_nodes_for's counts, or one fixed
/// count).
class GaussHermiteSet {
public:
  /// `fixed` > 0: that rule for every sigma; -1: quadrature_nodes_for(sigma). Throws
  /// std::invalid_argument for other values (via GaussHermite).
  /// `counts`: the node count per sigma band (quadrature_node_counts,
  /// mupost_quadrature_node_counts or mupost_kink_quadrature_node_counts).
  explicit GaussHermiteSet(int fixed = default_quadrature_nodes, const int* counts = quadrature_node_counts);
  const GaussHermite& for_sigma(double sigma) const;

private:
  int fixed_;
  const int* counts_;
  std::vector<GaussHermite> rules_;  // by node count (index), empty where unused
};

/// Gradient of one trial's log-likelihood w.r.t. sigma, sigma_r and the head parameters.
template <class Head>
struct TrialGrad {
  double sigma = 0, sigma_r = 0;
  typename Head::Adjoint head;
};

/// A head whose d log a/dhead-parameters need not be formed at each quadrature node: it gives
/// log a alone there (node_value, keeping a NodeEval), adds a node's weighted gradient to a
/// pending sum (add_node) and forms the sum once (flush); Newton steps take value_du (log a and
/// d log a/du). HeadTable (models/chebyshev.hpp) is one: its d/dtheta series are linear in the
/// pieces' coefficients, so they are contracted once per trial or row instead of per node.
template <class Head>
concept DeferredHead = requires(const Head& h, typename Head::NodeEval& e, typename Head::Adjoint& a, double& d) {
  { h.node_value(0.0, e) } -> std::convertible_to<double>;
  { h.value_du(0.0, d) } -> std::convertible_to<double>;
  h.add_node(a, e, 1.0);
  h.flush(a);
};

namespace detail {
/// What a quadrature node keeps for its gradient: d log a/dhead-parameters, or a deferred
/// head's NodeEval. value(h, u) evaluates the head at u; add(h, a, w) adds w times the node's
/// gradient to a (a deferred head: to its pending sum).
template <class Head>
struct QuadNode {
  double dp[Head::n_params];
  double value(const Head& h, double u) {
    double dd;
    return h.eval(u, dd, dp);
  }
  void add(const Head&, typename Head::Adjoint& a, double w) const { Head::add(a, dp, w); }
};
template <DeferredHead Head>
struct QuadNode<Head> {
  typename Head::NodeEval e;
  double value(const Head& h, double u) { return h.node_value(u, e); }
  void add(const Head& h, typename Head::Adjoint& a, double w) const { h.add_node(a, e, w); }
};
/// log a(u) and d log a/du (the Newton steps' evaluation; `dp` is scratch).
template <class Head>
double head_value_du(const Head& h, double u, double& dla, double* dp) {
  if constexpr (DeferredHead<Head>) return h.value_du(u, dla);
  else return h.eval(u, dla, dp);
}
/// Completes a's pending sum (deferred heads; a no-op for the others).
template <class Head>
void flush_head(const Head& h, typename Head::Adjoint& a) {
  if constexpr (DeferredHead<Head>) h.flush(a);
}
} // namespace detail

/// log p(r | s) for one trial (including the 1/r Jacobian) by adaptive Gauss–Hermite
/// quadrature; adds its gradient to `g`. x = log s, y = log r. flush_head false: a deferred
/// head (DeferredHead) keeps this trial's head gradient pending until the caller's
/// detail::flush_head(h, g.head), after many trials (MarginalForm, once per row).
template <class Head>
double gh_trial_loglik(const Head& h, double x, double y, double sigma, double sigma_r,
                       const GaussHermite& rule, TrialGrad<Head>& g, int newton_steps = default_newton_steps,
                       bool flush_head = true) {
  const double is2 = 1.0 / (sigma * sigma), ir2 = 1.0 / (sigma_r * sigma_r);
  double dp[Head::n_params];
  // Mode of  g(u) = -(u-x)^2/(2 sigma^2) - (y - la(u))^2/(2 sigma_r^2)  by Newton steps (the
  // Gauss–Newton curvature when the full one is not clearly positive, steps limited to 3 sigma)
  // from the closed-form-like guess: the mode with la linearised at its inverse la^{-1}(y),
  // a precision-weighted mean of x and la^{-1}(y) (exact for a power-law head), kept within
  // x ± 8 sigma; u = x when y has no inverse.
  //
  // The state is the offset d = u - x, not u: for tiny sigma (1e-17 is reachable in warm-up)
  // u - x would cancel to a multiple of x's ulp, and (u - x)^2 / sigma^2 would turn that
  // rounding into errors of hundreds in the log-likelihood.
  if (newton_steps < 0) newton_steps = newton_max_steps;
  double d = 0, dla = 0, curv = is2;
  if (double ui, b; h.inverse(y, ui, b)) {
    const double pb = b * b * ir2;
    d = (ui - x) * (pb / (is2 + pb));
    d = d > 8 * sigma ? 8 * sigma : (d < -8 * sigma ? -8 * sigma : d);
  }
  auto curvature = [&](double uu, double la) {
    const double full = is2 + (dla * dla - (y - la) * h.curvature(uu)) * ir2;
    return full > 0.1 * is2 ? full : is2 + dla * dla * ir2;
  };
  // The last evaluation (at the point where the iteration stops) gives the curvature, i.e.
  // the Laplace scale.
  for (int it = 0;; ++it) {
    const double la = detail::head_value_du(h, x + d, dla, dp);
    const double grad = -d * is2 + (y - la) * dla * ir2;
    curv = curvature(x + d, la);
    if (it == newton_steps) break;
    double step = grad / curv;
    const double lim = 3 * sigma;  // keep steps within the prior's scale
    step = step > lim ? lim : (step < -lim ? -lim : step);
    if (step * step * curv <= newton_tolerance * newton_tolerance) break;
    d += step;
  }
  const double scale = std::sqrt(2.0 / curv);  // u_j = x + d + scale t_j

  constexpr int max_nodes = 200;  // GaussHermite's limit
  double f[max_nodes], la_j[max_nodes];
  detail::QuadNode<Head> node[max_nodes];
  const int n = rule.size() < max_nodes ? rule.size() : max_nodes;
  double fmax = -INFINITY;
  for (int j = 0; j < n; ++j) {
    const double du = d + scale * rule.t[j];
    la_j[j] = node[j].value(h, x + du);
    const double dy = y - la_j[j];
    f[j] = rule.log_w[j] - 0.5 * du * du * is2 - 0.5 * dy * dy * ir2;
    fmax = f[j] > fmax ? f[j] : fmax;
  }
  double sum = 0;
  for (int j = 0; j < n; ++j) sum += (f[j] = std::exp(f[j] - fmax));
  const double inv = 1.0 / sum;
  double gs = 0, gr = 0;
  for (int j = 0; j < n; ++j) {
    const double p = f[j] * inv;
    const double du = d + scale * rule.t[j], dy = y - la_j[j];
    gs += p * du * du;
    gr += p * dy * dy;
    node[j].add(h, g.head, p * dy * ir2);
  }
  if (flush_head) detail::flush_head(h, g.head);
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
  const double iv = 1.0 / v;  // one division
  const double dl_dv = 0.5 * (q * iv - st.n) * iv;
  g.log_k += -0.5 * dq_dlk * iv;
  g.w += -0.5 * dq_dw * iv + dl_dv * 2 * w * sigma * sigma;
  g.sigma += dl_dv * 2 * w * w * sigma;
  g.sigma_r += dl_dv * 2 * sigma_r;
  return -0.5 * st.n * std::log(2 * std::numbers::pi * v) - 0.5 * q * iv - st.sy;
}

} // namespace bactor
