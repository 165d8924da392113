// SPDX-License-Identifier: MIT
// The optimal shift of a cost of one difference under additive noise (private header).
//
// For a cost l(x) of one variable and noise y with density p(y; eta) (eta: the noise's
// parameters), the expected cost of the shift d is
//     E(d) = ∫ l(d + y) p(y) dy,
// and d* = argmin_d E(d) solves E_d(d*) = 0 with
//     E_d   = ∫ l'(d + y) p(y) dy,
//     E_dd  = −∫ l'(d + y) p_y(y) dy            (by parts: no l'' needed, and a jump of l' at a
//                                               kink enters exactly instead of as a delta),
//     E_deta = ∫ l'(d + y) p_eta(y) dy,   E_dtheta = ∫ d/dtheta l'(d + y) p(y) dy,
// and by the implicit function theorem dd*/deta = −E_deta / E_dd, dd*/dtheta = −E_dtheta / E_dd.
// Only the cost's first derivative l' is read (the formula's or struct's dual numbers give it).
//
// The integral runs over the noise's support [lo, hi] as a composite 8-point Gauss–Legendre
// rule on panels of width (hi - lo) / `panels` anchored at the first kink of l' (a point x = k
// where l' may jump or be singular, e.g. x = 0 for |x|^q), split at any other kink, and graded
// towards each kink (y = k + h u^2), so every piece is smooth in its variable and the rule
// converges fast; the nodes move with d, so E_d(d) is smooth in d even for kinked costs. Newton on E_d inside a bracket
// (expanded from the start until E_d changes sign, then bisection wherever Newton would leave
// it); a solve that finds no sign change, or no positive curvature at the root, fails (ok =
// false): the caller decides what that means (a refusal, or -inf log-likelihood).
//
// The noise is a type with
//   static constexpr std::size_t n_params;     // eta's size (<= shift_max_params)
//   double lo() const, hi() const;              // the support of y (finite)
//   void density(double y, double& p, double& p_y, double* p_eta) const;
// (GaussianShiftNoise below), and the cost a type with
//   std::size_t n_params() const;               // theta's size (<= shift_max_params)
//   void slope(std::size_t n, const double* x, double* dl) const;              // l'(x_i)
//   void slope_dparam(std::size_t k, std::size_t n, const double* x, double* out) const;
//                                                                               // d/dtheta_k l'(x_i)
// Nothing here knows where the noise comes from (perception, motor noise) or what the cost is.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <span>

#include <bactor/models/costs.hpp>

namespace bactor::detail {

/// Most noise or cost parameters a shift solve carries derivatives for.
inline constexpr std::size_t shift_max_params = 16;

/// The 8-point Gauss–Legendre rule on [-1, 1] (nodes by Newton on P_8 from Chebyshev guesses,
/// weights 2 / ((1 - x^2) P_8'(x)^2); exact for polynomials of degree 15).
struct GaussLegendre8 {
  static constexpr int n = 8;
  std::array<double, n> x{}, w{};
  GaussLegendre8() {
    for (int i = 0; i < n; ++i) {
      double t = std::cos(std::numbers::pi * (i + 0.75) / (n + 0.5)), dp = 0;
      for (int it = 0; it < 100; ++it) {
        double p0 = 1, p1 = t;  // P_0, P_1; recurrence (k+1) P_{k+1} = (2k+1) t P_k - k P_{k-1}
        for (int k = 1; k < n; ++k) {
          const double p2 = ((2 * k + 1) * t * p1 - k * p0) / (k + 1);
          p0 = p1;
          p1 = p2;
        }
        dp = n * (t * p1 - p0) / (t * t - 1);
        const double step = p1 / dp;
        t -= step;
        if (std::abs(step) < 1e-16) break;
      }
      x[std::size_t(i)] = t;
      w[std::size_t(i)] = 2 / ((1 - t * t) * dp * dp);
    }
  }
};
inline const GaussLegendre8& gauss_legendre8() {
  static const GaussLegendre8 rule;
  return rule;
}

/// y = tau z, z ~ N(0, 1) on [-width tau, width tau] (the mass beyond 10 sd is below 2e-23);
/// eta = (tau).
struct GaussianShiftNoise {
  static constexpr std::size_t n_params = 1;
  double tau = 1;
  double width = 10;
  double lo() const { return -width * tau; }
  double hi() const { return width * tau; }
  /// p(y) = phi(y / tau) / tau, p_y = -y / tau^2 p, dp/dtau = p (y^2 / tau^2 - 1) / tau.
  void density(double y, double& p, double& p_y, double* p_eta) const {
    const double z = y / tau;
    p = std::exp(-0.5 * z * z) / (tau * std::sqrt(2 * std::numbers::pi));
    p_y = -z / tau * p;
    p_eta[0] = p * (z * z - 1) / tau;
  }
};

struct ShiftOptions {
  int panels = 16;              // equal panels over the noise's support, before the kink splits
  int max_iterations = 100;
  double tolerance = 1e-12;    // on the step, relative to the support's width
};

/// d*, the curvature E_dd there, and dd*/deta, dd*/dtheta.
struct ShiftSolution {
  bool ok = false;
  double d = 0;
  double e_dd = 0;
  std::array<double, shift_max_params> d_noise{}, d_param{};
  int evaluations = 0;         // E_d evaluations (each one pass of the cost over the nodes)
};

namespace shift_detail {

/// Most quadrature nodes: 8 per panel, kinks add at most one piece each.
inline constexpr std::size_t max_kinks = 4;
inline constexpr int max_panels = 24;
inline constexpr std::size_t max_nodes = 8 * (2 * std::size_t(max_panels) + 3 * max_kinks + 2);

/// The composite rule at shift d: x_i = d + y_i and the weights times p, p_y and p_eta.
template <class Noise>
class Nodes {
public:
  std::size_t n = 0;
  std::array<double, max_nodes> x, wp, wpy;
  std::array<std::array<double, max_nodes>, Noise::n_params> wpe;

  void build(const Noise& noise, double d, std::span<const double> kinks, int panels) {
    const double lo = noise.lo(), hi = noise.hi(), hp = (hi - lo) / panels;
    kinks = kinks.first(std::min(kinks.size(), max_kinks));
    // Break points in y: panels of width hp anchored at the first kink inside (lo, hi) (so a
    // kink is never a hair's breadth from a panel end, which would leave its neighbour panel
    // nearly singular), the other kinks, and the support's ends.
    std::array<double, 2 * std::size_t(max_panels) + max_kinks + 2> br{};
    std::array<bool, br.size()> at_kink{};
    std::size_t nb = 0;
    double anchor = lo;
    for (double k : kinks)
      if (k - d > lo && k - d < hi) {
        anchor = k - d;
        break;
      }
    br[nb++] = lo;
    br[nb++] = hi;
    for (int j = -panels; j <= panels; ++j) {
      const double y = anchor + j * hp;
      bool kink = false;  // a kink is added below, with its flag
      for (double k : kinks) kink = kink || std::abs(y - (k - d)) <= 1e-9 * hp;
      if (y > lo && y < hi && !kink) br[nb++] = y;
    }
    for (double k : kinks)
      if (k - d > lo && k - d < hi) at_kink[nb] = true, br[nb++] = k - d;
    // Sort the points with their flags (few: insertion sort).
    for (std::size_t i = 1; i < nb; ++i)
      for (std::size_t j = i; j > 0 && br[j] < br[j - 1]; --j) std::swap(br[j], br[j - 1]), std::swap(at_kink[j], at_kink[j - 1]);
    n = 0;
    for (std::size_t j = 0; j + 1 < nb; ++j) {
      const double a = br[j], b = br[j + 1];
      if (!(b > a)) continue;
      if (at_kink[j] && at_kink[j + 1]) {  // between two kinks: each half graded towards its kink
        add_piece(noise, d, a, 0.5 * (a + b), -1);
        add_piece(noise, d, b, 0.5 * (a + b), -1);
      } else if (at_kink[j]) {
        add_piece(noise, d, a, b, -1);
      } else if (at_kink[j + 1]) {
        add_piece(noise, d, b, a, -1);
      } else {
        add_piece(noise, d, a, b, 1);
      }
    }
  }

private:
  /// 8 Gauss-Legendre nodes on the piece from y0 to y1: plain (plain > 0), or graded towards y0
  /// (a kink) by y = y0 + (y1 - y0) u^2, u in [0, 1], which makes l' ~ |x|^q near the kink a
  /// smooth function of u for q = 1/2 and much smoother for any q > -1.
  void add_piece(const Noise& noise, double d, double y0, double y1, int plain) {
    const GaussLegendre8& gl = gauss_legendre8();
    const double len = y1 - y0;
    for (int q = 0; q < gl.n; ++q) {
      const double t = gl.x[std::size_t(q)], wq = gl.w[std::size_t(q)];
      double y, w;
      if (plain > 0) {
        y = y0 + 0.5 * len * (1 + t);
        w = 0.5 * std::abs(len) * wq;
      } else {
        const double u = 0.5 * (1 + t);
        y = y0 + len * u * u;
        w = std::abs(len) * u * wq;  // dy = 2 |len| u du, du = dt / 2
      }
      double p, py, pe[Noise::n_params];
      noise.density(y, p, py, pe);
      x[n] = d + y;
      wp[n] = w * p;
      wpy[n] = w * py;
      for (std::size_t e = 0; e < Noise::n_params; ++e) wpe[e][n] = w * pe[e];
      ++n;
    }
  }
};

inline double dot(std::size_t n, const double* a, const double* b) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

} // namespace shift_detail

/// E_d(d) and, in *e_dd, E_dd(d) for the noise and cost (the header's comment).
template <class Noise, class Cost>
double shift_slope(const Noise& noise, const Cost& cost, double d, std::span<const double> kinks, double* e_dd,
                   const ShiftOptions& opt = {}) {
  static_assert(Noise::n_params <= shift_max_params);
  shift_detail::Nodes<Noise> nd;
  nd.build(noise, d, kinks, std::clamp(opt.panels, 1, shift_detail::max_panels));
  std::array<double, shift_detail::max_nodes> dl;
  cost.slope(nd.n, nd.x.data(), dl.data());
  if (e_dd) *e_dd = -shift_detail::dot(nd.n, dl.data(), nd.wpy.data());
  return shift_detail::dot(nd.n, dl.data(), nd.wp.data());
}

/// d* = argmin_d ∫ l(d + y) p(y) dy from d_start, with its implicit derivatives (the header's
/// comment). kinks: the points x where l' may jump (at most 4).
template <class Noise, class Cost>
ShiftSolution solve_shift(const Noise& noise, const Cost& cost, std::span<const double> kinks, double d_start = 0,
                          const ShiftOptions& opt = {}) {
  ShiftSolution s;
  const int panels = std::clamp(opt.panels, 1, shift_detail::max_panels);
  const double width = noise.hi() - noise.lo(), tol = opt.tolerance * width;
  if (!(width > 0) || !std::isfinite(width) || !std::isfinite(d_start)) return s;
  shift_detail::Nodes<Noise> nd;
  std::array<double, shift_detail::max_nodes> dl;
  double g = 0, h = 0;
  auto eval = [&](double d) {
    nd.build(noise, d, kinks, panels);
    cost.slope(nd.n, nd.x.data(), dl.data());
    g = shift_detail::dot(nd.n, dl.data(), nd.wp.data());
    h = -shift_detail::dot(nd.n, dl.data(), nd.wpy.data());
    ++s.evaluations;
  };
  // Bracket [a, b] with E_d(a) < 0 < E_d(b) once known (has_a / has_b).
  double a = -INFINITY, b = INFINITY, d = d_start, step_out = 0.25 * width;
  bool converged = false;
  for (int it = 0; it < opt.max_iterations; ++it) {
    eval(d);
    if (!std::isfinite(g) || !std::isfinite(h)) return s;
    if (g == 0) {
      converged = true;
      break;
    }
    if (g < 0) a = std::max(a, d);
    else b = std::min(b, d);
    double next = h > 0 ? d - g / h : NAN;
    const bool bracketed = std::isfinite(a) && std::isfinite(b);
    if (bracketed) {
      if (!(next > a && next < b)) next = 0.5 * (a + b);
    } else if (!std::isfinite(next) || std::abs(next - d) > step_out) {
      // No bracket yet and Newton is unreliable or far: walk downhill, doubling the stride.
      next = d + (g > 0 ? -step_out : step_out);
      step_out *= 2;
    }
    if (std::abs(next - d) <= tol || (bracketed && b - a <= tol)) {
      d = next;
      converged = true;
      break;
    }
    d = next;
    if (!(std::abs(d) < 1e6 * width)) return s;  // E_d keeps its sign: no finite minimiser
  }
  if (!converged) return s;
  eval(d);
  if (!(h > 0) || !std::isfinite(g)) return s;
  s.d = d;
  s.e_dd = h;
  for (std::size_t e = 0; e < Noise::n_params; ++e)
    s.d_noise[e] = -shift_detail::dot(nd.n, dl.data(), nd.wpe[e].data()) / h;
  const std::size_t np = std::min(cost.n_params(), shift_max_params);
  for (std::size_t k = 0; k < np; ++k) {
    cost.slope_dparam(k, nd.n, nd.x.data(), dl.data());
    s.d_param[k] = -shift_detail::dot(nd.n, dl.data(), nd.wp.data()) / h;
  }
  s.ok = true;
  return s;
}

/// A registered cost read as a cost of the difference x = r - s (l(x) = loss(0, x; p)), for
/// costs that are functions of r - s alone (the caller checks that). l' comes from the cost's own
/// forward-mode dual numbers (loss_dr_n, else loss_dr); dl'/dp_k, which the cost's evaluators do
/// not give, is a central difference of l' in p_k (step 1e-5 (1 + |p_k|): error ~1e-10 relative).
/// kink() says whether l' may jump at x = 0.
struct CostOfDifference {
  const CostInfo* cost = nullptr;
  const double* p = nullptr;  // cost.params.size() values
  std::size_t n_params() const { return cost->params.size(); }
  bool kink() const { return cost->kink_at_s_equals_r; }
  void slope(std::size_t n, const double* x, double* dl) const { slope_at(p, n, x, dl); }
  void slope_dparam(std::size_t k, std::size_t n, const double* x, double* out) const {
    std::array<double, max_cost_params> q{};
    std::copy(p, p + n_params(), q.begin());
    const double h = 1e-5 * (1 + std::abs(p[k]));
    std::array<double, shift_detail::max_nodes> lo;
    q[k] = p[k] - h;
    slope_at(q.data(), n, x, lo.data());
    q[k] = p[k] + h;
    slope_at(q.data(), n, x, out);
    for (std::size_t i = 0; i < n; ++i) out[i] = (out[i] - lo[i]) / (2 * h);
  }

private:
  void slope_at(const double* q, std::size_t n, const double* x, double* dl) const {
    std::array<double, shift_detail::max_nodes> zero{}, l;
    if (n <= zero.size() && cost->loss_dr_n) {
      cost->loss_dr_n(n, zero.data(), x, q, l.data(), dl);
      return;
    }
    for (std::size_t i = 0; i < n; ++i) cost->loss_dr(0.0, x[i], q, &dl[i]);
  }
};

} // namespace bactor::detail
