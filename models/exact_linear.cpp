// SPDX-License-Identifier: MIT
#include "models/exact_linear.hpp"

#include "models/exact_action.hpp"
#include "models/shift_solve.hpp"

#include <bactor/engine/errors.hpp>
#include <bactor/models/actor.hpp>

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

namespace bactor::detail {

namespace {

/// Panels of the kinked costs' z-line over [-tail, tail] (width 1.06 for the default tail 8.5):
/// F and F_a to ~1e-11 against the analytic AbsoluteCostQuadraticEffort; 8 panels gave 5e-8,
/// 12 gave 1e-9 (and one 20-point rule per side of the kink 2e-7 where it sat 4 sd out).
constexpr int kink_panels = 16;

/// The quadrature's nodes for one (mu, sp, sa, a): the points (s, r), their weights and the
/// standard normals (e, u) behind them (s = mu + sp e, r = a + sa u).
struct Nodes2 {
  std::vector<double> s, r, w, e, u, l, lr;
};

/// The z-line's nodes and their weights times the normal density (g).
struct ZNodes : shift_detail::Nodes {
  std::array<double, shift_detail::max_nodes> g;
};

/// The Gauss–Hermite rule of n nodes (a per-thread cache of gauss_rule's, which locks a mutex).
const GaussRule& hermite(int n) {
  thread_local std::array<const GaussRule*, 65> cache{};
  if (n < 1 || n >= int(cache.size())) return gauss_rule(n, true);
  const GaussRule*& r = cache[std::size_t(n)];
  if (!r) r = &gauss_rule(n, true);
  return *r;
}

/// Fills the nodes of E over (e, u) (expected_cost_linear's rules), in plain loops over the
/// second rule (their set-up took a third of a gradient with one push_back per value). with_eu:
/// also the standard normals (e, u) (the moments need them, the expected cost does not).
void build_nodes(const CostInfo& cost, double mu, double sp, double sa, double a, const GroundTruthOptions& opt, Nodes2& nd,
                 int panels = kink_panels, bool with_eu = true) {
  const GaussRule& gh = hermite(opt.outer_nodes);
  const std::size_t nw = gh.x.size();
  const double* wx = gh.x.data();
  const double* ww = gh.w.data();
  auto fill_row = [&](std::size_t at, double e0, double de, double u0, double du, double weight) {
    // e = e0 + de w_j, u = u0 + du w_j along the second rule's nodes w_j.
    double* sv = nd.s.data() + at;
    double* rv = nd.r.data() + at;
    double* wv = nd.w.data() + at;
    const double s0 = mu + sp * e0, ds = sp * de, r0 = a + sa * u0, dr = sa * du;
    for (std::size_t j = 0; j < nw; ++j) {
      sv[j] = s0 + ds * wx[j];
      rv[j] = r0 + dr * wx[j];
      wv[j] = weight * ww[j];
    }
    if (!with_eu) return;
    double* e = nd.e.data() + at;
    double* u = nd.u.data() + at;
    for (std::size_t j = 0; j < nw; ++j) e[j] = e0 + de * wx[j], u[j] = u0 + du * wx[j];
  };
  auto resize = [&](std::size_t n) {
    nd.s.resize(n), nd.r.resize(n), nd.w.resize(n);
    if (with_eu) nd.e.resize(n), nd.u.resize(n);
  };
  if (cost.kink_at_s_equals_r) {
    // (e, u) rotated: z = (sp e - sa u) / tau, w = (sa e + sp u) / tau, so s - r = mu - a + tau z
    // and the kink sits at z* for every w; e = (sp z + sa w) / tau, u = (sp w - sa z) / tau.
    const double tau = std::hypot(sp, sa), kink = (a - mu) / tau, cs = sp / tau, ca = sa / tau;
    thread_local ZNodes nz;
    nz.build(-opt.tail, opt.tail, std::span<const double>(&kink, 1), panels);
    resize(nz.n * nw);
    // The z-nodes' weights times the normal density, in SIMD batches (the exps took a sixth of
    // a training step); nz's arrays have room for the last batch's spare lanes.
    using B = xsimd::batch<double>;
    constexpr std::size_t L = B::size;
    static_assert(shift_detail::max_nodes % L == 0);
    const B inv_sqrt_2pi(1 / std::sqrt(2 * std::numbers::pi)), half(-0.5);
    for (std::size_t i = 0; i < nz.n; i += L) {
      const B z = B::load_unaligned(nz.x.data() + i);
      (B::load_unaligned(nz.w.data() + i) * inv_sqrt_2pi * xsimd::exp(half * z * z)).store_unaligned(nz.g.data() + i);
    }
    for (std::size_t i = 0; i < nz.n; ++i) {
      const double z = nz.x[i];
      fill_row(i * nw, cs * z, ca, -ca * z, cs, nz.g[i]);
    }
  } else {
    const GaussRule& ge = hermite(opt.inner_nodes);
    resize(ge.x.size() * nw);
    for (std::size_t i = 0; i < ge.x.size(); ++i) fill_row(i * nw, ge.x[i], 0.0, 0.0, 1.0, ge.w[i]);  // e fixed, u = w_j
  }
}

/// l and l_r at the nodes (one block: a formula runs its program once).
void evaluate(const CostInfo& cost, const double* p, Nodes2& nd) {
  const std::size_t n = nd.s.size();
  nd.l.resize(n), nd.lr.resize(n);
  if (cost.loss_dr_n) cost.loss_dr_n(n, nd.s.data(), nd.r.data(), p, nd.l.data(), nd.lr.data());
  else
    for (std::size_t k = 0; k < n; ++k) nd.l[k] = cost.loss_dr(nd.s[k], nd.r[k], p, &nd.lr[k]);
}

/// F_a and its derivatives in (a, mu, sp, sa) from one pass over the nodes. By Gaussian
/// integration by parts (Stein's identity, E f(x) x = E f'(x) for x ~ N(0, 1), also across the
/// jump of l_r at a kink, whose delta term it contains), with F_a = E l_r(mu + sp e, a + sa u):
///   F_aa = E[l_r u] / sa,  F_a,mu = E[l_r e] / sp,
///   F_a,sp = E[l_r (e^2 - 1)] / sp,  F_a,sa = E[l_r (u^2 - 1)] / sa,
/// so no second derivative of the cost and no difference quotient is needed.
struct Moments {
  double fa = 0, faa = 0, fa_mu = 0, fa_sp = 0, fa_sa = 0;
};
Moments moments(const CostInfo& cost, double mu, double sp, double sa, const double* p, double a,
                const GroundTruthOptions& opt, Nodes2& nd) {
  build_nodes(cost, mu, sp, sa, a, opt, nd);
  evaluate(cost, p, nd);
  Moments m;
  const std::size_t n = nd.s.size();
  const double *w = nd.w.data(), *lr = nd.lr.data(), *ev = nd.e.data(), *uv = nd.u.data();
  for (std::size_t k = 0; k < n; ++k) {
    const double g = w[k] * lr[k], e = ev[k], u = uv[k];
    m.fa += g;
    m.faa += g * u;
    m.fa_mu += g * e;
    m.fa_sp += g * (e * e - 1);
    m.fa_sa += g * (u * u - 1);
  }
  m.faa /= sa, m.fa_mu /= sp, m.fa_sp /= sp, m.fa_sa /= sa;
  return m;
}

} // namespace

double expected_cost_linear(const CostInfo& cost, double mu, double sp, double sa, const double* p, double a,
                            double* dfda, const GroundTruthOptions& opt, int panels) {
  thread_local Nodes2 nd;
  build_nodes(cost, mu, sp, sa, a, opt, nd, panels, false);
  evaluate(cost, p, nd);
  double f = 0, g = 0;  // dr/da = 1
  for (std::size_t k = 0; k < nd.s.size(); ++k) f += nd.w[k] * nd.l[k], g += nd.w[k] * nd.lr[k];
  if (dfda) *dfda = g;
  return f;
}

ExactLogAction linear_action_solve(const CostInfo& cost, double mu, double sp, double sa, const double* p,
                                   const GroundTruthOptions& opt, double a_start, bool partials) {
  thread_local Nodes2 nd;
  ExactLogAction r;
  auto fail = [&](const char* what) {
    return std::domain_error(std::string("exact action (gaussian perception): ") + what + " (mu_post " + std::to_string(mu) +
                             ", sigma_post " + std::to_string(sp) + ", sigma_a " + std::to_string(sa) + ")");
  };
  // Safeguarded Newton on F_a with the exact F_aa: inside a bracket [lo, hi] with F_a(lo) < 0 <
  // F_a(hi) once one is known (bisection where Newton would leave it), before that steps of at
  // most `stride` downhill, the stride doubling (a cost without a minimum walks off and fails).
  double a = a_start, lo = -INFINITY, hi = INFINITY, stride = 0.5 * std::hypot(sp, sa) + 0.1;
  Moments m;
  bool converged = false, newton = false;  // newton: the last step was Newton's (m is then current to ~1e-11)
  for (int it = 0; it < 200 && !converged; ++it) {
    m = moments(cost, mu, sp, sa, p, a, opt, nd);
    ++r.evaluations;
    if (!std::isfinite(m.fa) || !std::isfinite(m.faa)) throw fail("the expected cost is not finite");
    if (m.fa == 0) break;
    (m.fa < 0 ? lo : hi) = a;
    double next = m.faa > 0 ? a - m.fa / m.faa : NAN;
    const bool bracketed = std::isfinite(lo) && std::isfinite(hi);
    newton = true;
    if (bracketed) {
      if (!(next > lo && next < hi)) next = 0.5 * (lo + hi), newton = false;
    } else if (!std::isfinite(next) || std::abs(next - a) > stride) {
      next = a + (m.fa > 0 ? -stride : stride);
      stride *= 2;
      newton = false;
    }
    // A Newton step below 1e-11 leaves an error of ~1e-22 (quadratic convergence); the partials
    // from this iteration's moments are then off by ~1e-11 relative.
    converged = std::abs(next - a) <= 1e-11 * (1 + std::abs(a)) || (bracketed && hi - lo <= 1e-13 * (1 + std::abs(a)));
    a = next;
    if (!(std::abs(a) < 1e8)) throw fail("no minimum of the expected cost found");
  }
  if (!converged && m.fa != 0) throw fail("the solve did not converge");
  if (!newton) {  // at the root itself (after a Newton step of < 1e-11 the last moments serve)
    m = moments(cost, mu, sp, sa, p, a, opt, nd);
    ++r.evaluations;
  }
  if (!(m.faa > 0)) throw fail("the expected cost is not convex at its stationary point");
  r.y = a;
  r.fyy = m.faa;
  r.d_mu = -m.fa_mu / m.faa;
  r.d_sp = -m.fa_sp / m.faa;
  r.d_sa = -m.fa_sa / m.faa;
  // The cost parameters: a central difference of F_a on the same nodes (the cost's evaluators
  // give dl/dr only). A value-only solve (linear_exact_action) skips them, and so takes costs of
  // more parameters than d_p holds.
  const std::size_t np = partials ? cost.params.size() : 0;
  BACTOR_ASSERT(np <= exact_max_cost_params);  // the callers refuse more (ArgumentError)
  for (std::size_t k = 0; k < np; ++k) {
    std::array<double, exact_max_cost_params> q{};
    std::copy(p, p + np, q.begin());
    const double h = 1e-5 * (1 + std::abs(p[k]));
    double fd[2];
    for (int side = 0; side < 2; ++side) {
      q[k] = p[k] + (side ? h : -h);
      evaluate(cost, q.data(), nd);
      fd[side] = 0;
      for (std::size_t j = 0; j < nd.s.size(); ++j) fd[side] += nd.w[j] * nd.lr[j];
    }
    r.evaluations += 2;
    r.d_p[k] = -(fd[1] - fd[0]) / (2 * h) / m.faa;
  }
  return r;
}

double linear_exact_action(const CostInfo& cost, std::span<const double> theta, double m, const GroundTruthOptions& opt) {
  const double s = theta[theta_index::sigma], s0 = theta[theta_index::sigma_0], mu0 = theta[theta_index::mu_0];
  const double w = s0 * s0 / (s * s + s0 * s0), mu = w * m + (1 - w) * mu0, sp = s * s0 / std::hypot(s, s0);
  return linear_action_solve(cost, mu, sp, theta[theta_size(cost)], theta.data() + theta_index::first_cost_param, opt, mu,
                             false)
      .y;
}

} // namespace bactor::detail
