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
// The integral is a composite 8-point Gauss–Legendre rule in x = d + y over a window
// [c + lo, c + hi] (the noise's support around a centre c): panels of width (hi - lo) / `panels`
// anchored at the first kink of l' (a point x = k where l' may jump or be singular, e.g. x = 0
// for |x|^q), split at any other kink and graded towards each kink (x = k + h u^2), so every
// piece is smooth in its variable. The nodes are fixed in x while d moves, so l' is evaluated
// once per window and a Newton step only re-weights the nodes by p(x_j - d); E_dd is then the
// exact d-derivative of the discrete E_d (E_deta differs from the discrete one, whose window
// scales with the noise, by the quadrature's error only: 1e-8 of tau in the tests). The window
// is re-centred at d (one more evaluation of l') when d leaves c +- (hi - lo) / 8, so p is
// negligible at the window's ends, and widened (ShiftOptions::max_widening) when a fast-growing
// cost moves the integrand's mass into its outer panels. Newton on E_d inside a bracket
// (expanded from the start until E_d changes sign, then bisection wherever Newton would leave
// it); a solve that finds no sign change, or no positive curvature at the root, fails (ok =
// false): the caller decides what that means (a refusal, or -inf log-likelihood).
//
// The noise is a type with
//   static constexpr std::size_t n_params;     // eta's size (<= shift_max_params)
//   double lo() const, hi() const;              // the support of y (finite)
//   void density(std::size_t n, const double* y, double* p, double* p_y, double* const* p_eta) const;
//                    // p, p_y and (when p_eta is not null) dp/deta_e into p_eta[e], at n points
// (GaussianShiftNoise below), and the cost a type with
//   std::size_t n_params() const;               // theta's size (<= shift_max_params)
//   void slope(std::size_t n, const double* x, double* dl) const;              // l'(x_i)
//   void slope_dparam(std::size_t k, std::size_t n, const double* x, double* out) const;
//                                                                               // d/dtheta_k l'(x_i)
// Nothing here knows where the noise comes from (perception, motor noise) or what the cost is.
// ShiftTable (below) tabulates the solver's d* over tau (and one cost parameter) once, checked
// against it, for callers that need d* at many tau: a Chebyshev series in place of a solve.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <span>
#include <vector>

#include <xsimd/xsimd.hpp>

#include <bactor/models/costs.hpp>

#include "models/formula_program.hpp"

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
  void density(std::size_t n, const double* y, double* p, double* p_y, double* const* p_eta) const {
    using B = xsimd::batch<double>;
    constexpr std::size_t L = B::size;
    const double it = 1 / tau, c = it / std::sqrt(2 * std::numbers::pi);
    std::size_t i = 0;
    for (; i + L <= n; i += L) {  // the exps in SIMD: they are the Newton steps' whole cost
      const B z = B::load_unaligned(y + i) * it, pb = xsimd::exp(B(-0.5) * z * z) * c;
      pb.store_unaligned(p + i);
      (-z * it * pb).store_unaligned(p_y + i);
      if (p_eta) (pb * (z * z - 1) * it).store_unaligned(p_eta[0] + i);
    }
    for (; i < n; ++i) {
      const double z = y[i] * it, pv = std::exp(-0.5 * z * z) * c;
      p[i] = pv;
      p_y[i] = -z * it * pv;
      if (p_eta) p_eta[0][i] = pv * (z * z - 1) * it;
    }
  }
};

struct ShiftOptions {
  int panels = 14;             // equal panels over the window, before the kink splits
  int max_iterations = 100;
  double tolerance = 1e-12;    // on the step, relative to the window's width
  // When the integrand |l'(x) p(x - d*)| keeps more than edge_tolerance of its mass in the
  // window's outer panels (a cost growing fast enough to move the mass out, e.g. exp(c x) with
  // c tau > 5), the window and its panel count grow by 1.5x, up to max_widening x, and the
  // solve continues there. 1: never (a noise whose support is all of [lo, hi], e.g. a circle).
  double max_widening = 3;
  double edge_tolerance = 1e-13;
};

/// d*, the curvature E_dd there, and dd*/deta, dd*/dtheta.
struct ShiftSolution {
  bool ok = false;
  double d = 0;
  double e_dd = 0;
  std::array<double, shift_max_params> d_noise{}, d_param{};
  int evaluations = 0;         // passes of the cost over the nodes (one per window, 2 per parameter: at most)
  int iterations = 0;          // Newton or bisection steps (re-weightings of the nodes)
};

namespace shift_detail {

/// Most quadrature nodes: 8 per piece; panels, kink splits and the two graded halves between
/// two kinks.
inline constexpr std::size_t max_kinks = 4;
inline constexpr int max_panels = 48;
inline constexpr std::size_t max_nodes = 8 * (2 * std::size_t(max_panels) + 3 * max_kinks + 2);

/// The composite rule over x in [a, b]: nodes x_j and weights w_j (without the density).
struct Nodes {
  std::size_t n = 0;
  std::array<double, max_nodes> x, w;

  void build(double a, double b, std::span<const double> kinks, int panels) {
    const double hp = (b - a) / panels;
    kinks = kinks.first(std::min(kinks.size(), max_kinks));
    // Break points: panels of width hp anchored at the first kink inside (a, b) (so a kink is
    // never a hair's breadth from a panel end, which would leave its neighbour panel nearly
    // singular), the other kinks, and the window's ends.
    std::array<double, 2 * std::size_t(max_panels) + max_kinks + 2> br{};
    std::array<bool, br.size()> at_kink{};
    std::size_t nb = 0;
    double anchor = a;
    for (double k : kinks)
      if (k > a && k < b) {
        anchor = k;
        break;
      }
    br[nb++] = a;
    br[nb++] = b;
    for (int j = -panels; j <= panels; ++j) {
      const double y = anchor + j * hp;
      bool kink = false;  // a kink is added below, with its flag
      for (double k : kinks) kink = kink || std::abs(y - k) <= 1e-9 * hp;
      if (y > a && y < b && !kink) br[nb++] = y;
    }
    for (double k : kinks)
      if (k > a && k < b) at_kink[nb] = true, br[nb++] = k;
    for (std::size_t i = 1; i < nb; ++i)  // few points: insertion sort, with the flags
      for (std::size_t j = i; j > 0 && br[j] < br[j - 1]; --j) std::swap(br[j], br[j - 1]), std::swap(at_kink[j], at_kink[j - 1]);
    n = 0;
    for (std::size_t j = 0; j + 1 < nb; ++j) {
      const double lo = br[j], hi = br[j + 1];
      if (!(hi > lo)) continue;
      if (at_kink[j] && at_kink[j + 1]) {  // between two kinks: each half graded towards its kink
        add_piece(lo, 0.5 * (lo + hi), false);
        add_piece(hi, 0.5 * (lo + hi), false);
      } else if (at_kink[j]) {
        add_piece(lo, hi, false);
      } else if (at_kink[j + 1]) {
        add_piece(hi, lo, false);
      } else {
        add_piece(lo, hi, true);
      }
    }
  }

private:
  /// 8 Gauss–Legendre nodes on the piece from x0 to x1: plain, or graded towards x0 (a kink) by
  /// x = x0 + (x1 - x0) u^2, u in [0, 1], which makes l' ~ |x - x0|^q a smooth function of u
  /// for q = 1/2 and much smoother for any q > -1.
  void add_piece(double x0, double x1, bool plain) {
    const GaussLegendre8& gl = gauss_legendre8();
    const double len = x1 - x0;
    for (int q = 0; q < gl.n; ++q) {
      const double t = gl.x[std::size_t(q)], wq = gl.w[std::size_t(q)];
      if (plain) {
        x[n] = x0 + 0.5 * len * (1 + t);
        w[n] = 0.5 * std::abs(len) * wq;
      } else {
        const double u = 0.5 * (1 + t);
        x[n] = x0 + len * u * u;
        w[n] = std::abs(len) * u * wq;  // dx = 2 |len| u du, du = dt / 2
      }
      ++n;
    }
  }
};

} // namespace shift_detail

/// d* = argmin_d ∫ l(d + y) p(y) dy from d_start, with its implicit derivatives (the header's
/// comment). kinks: the points x where l' may jump (at most 4).
template <class Noise, class Cost>
ShiftSolution solve_shift(const Noise& noise, const Cost& cost, std::span<const double> kinks, double d_start = 0,
                          const ShiftOptions& opt = {}) {
  static_assert(Noise::n_params <= shift_max_params);
  using shift_detail::max_nodes;
  ShiftSolution s;
  const double lo0 = noise.lo(), hi0 = noise.hi();
  if (!(hi0 > lo0) || !std::isfinite(hi0 - lo0) || !std::isfinite(d_start)) return s;
  double widening = 1, lo = lo0, hi = hi0, width = hi - lo, tol = opt.tolerance * width, margin = width / 8;
  int panels = std::clamp(opt.panels, 1, shift_detail::max_panels);
  shift_detail::Nodes nd;
  std::array<double, max_nodes> dl, wdl, y, p, py;
  double c = d_start;    // the window's centre
  double eta_at = NAN;   // where pe (below) holds dp/deta on this window: the last eval with eta
  auto window = [&](double centre) {
    c = centre;
    eta_at = NAN;
    nd.build(c + lo, c + hi, kinks, panels);
    cost.slope(nd.n, nd.x.data(), dl.data());
    for (std::size_t j = 0; j < nd.n; ++j) wdl[j] = nd.w[j] * dl[j];
    ++s.evaluations;
  };
  double g = 0, h = 0;
  std::array<std::array<double, max_nodes>, Noise::n_params> pe;
  std::array<double*, Noise::n_params> pe_ptr;
  for (std::size_t e = 0; e < Noise::n_params; ++e) pe_ptr[e] = pe[e].data();
  auto eval = [&](double d, bool eta) {  // E_d and E_dd at d on the window's nodes (and dp/deta)
    for (std::size_t j = 0; j < nd.n; ++j) y[j] = nd.x[j] - d;
    noise.density(nd.n, y.data(), p.data(), py.data(), eta ? pe_ptr.data() : nullptr);
    eta_at = eta ? d : NAN;
    g = h = 0;
    for (std::size_t j = 0; j < nd.n; ++j) {
      g += wdl[j] * p[j];
      h -= wdl[j] * py[j];
    }
    ++s.iterations;
  };
  // The share of |l'(x) p(x - d)| in the window's outer panels (after eval(d)).
  auto edge_share = [&]() {
    const double hp = (hi - lo) / panels;
    double edge = 0, all = 0;
    for (std::size_t j = 0; j < nd.n; ++j) {
      const double m = std::abs(wdl[j] * p[j]);
      all += m;
      if (nd.x[j] < c + lo + hp || nd.x[j] > c + hi - hp) edge += m;
    }
    return all > 0 ? edge / all : 0.0;
  };
  window(d_start);
  // Bracket [a, b] with E_d(a) < 0 < E_d(b) once known.
  double a = -INFINITY, b = INFINITY, d = d_start, step_out = 0.25 * width;
  bool converged = false;
  for (int it = 0; it < opt.max_iterations && !converged; ++it) {
    if (std::abs(d - c) > margin) window(d);  // keep the density well inside the window
    eval(d, false);
    if (!std::isfinite(g) || !std::isfinite(h)) return s;
    if (g == 0) break;
    if (g < 0) a = std::max(a, d);
    else b = std::min(b, d);
    double next = h > 0 ? d - g / h : NAN;
    const bool bracketed = std::isfinite(a) && std::isfinite(b);
    if (bracketed) {
      // Bisect where Newton leaves the bracket, unless it has converged: at the root Newton's
      // step may round onto the bracket's end, which is no reason to bisect.
      if (!(next > a && next < b) && !(std::abs(next - d) <= tol)) next = 0.5 * (a + b);
    } else if (!std::isfinite(next) || std::abs(next - d) > step_out) {
      // No bracket yet and Newton is unreliable or far: walk downhill, doubling the stride.
      next = d + (g > 0 ? -step_out : step_out);
      step_out *= 2;
    }
    converged = std::abs(next - d) <= tol || (bracketed && b - a <= tol);
    d = next;
    if (!(std::abs(d) < 1e6 * width)) return s;  // E_d keeps its sign: no finite minimiser
    if (converged) {
      if (std::abs(d - c) > margin) window(d);
      eval(d, true);
      if (edge_share() > opt.edge_tolerance && widening < opt.max_widening &&
          std::ceil(1.5 * panels) <= shift_detail::max_panels) {
        // The mass reaches the window's ends: widen it (same panel width) and solve on.
        widening *= 1.5;
        lo = widening * lo0, hi = widening * hi0, width = hi - lo, margin = width / 8;
        panels = int(std::ceil(1.5 * panels));
        window(d);
        a = -INFINITY, b = INFINITY, converged = false;
      }
    }
  }
  if (!converged && g != 0) return s;
  if (std::abs(d - c) > margin) window(d);
  if (!(eta_at == d)) eval(d, true);  // else the converged step's evaluation is at d already
  if (!(h > 0) || !std::isfinite(g)) return s;
  s.d = d;
  s.e_dd = h;
  for (std::size_t e = 0; e < Noise::n_params; ++e) {
    double v = 0;
    for (std::size_t j = 0; j < nd.n; ++j) v += wdl[j] * pe[e][j];
    s.d_noise[e] = -v / h;
  }
  const std::size_t np = std::min(cost.n_params(), shift_max_params);
  for (std::size_t k = 0; k < np; ++k) {
    cost.slope_dparam(k, nd.n, nd.x.data(), dl.data());
    s.evaluations += 2;
    double v = 0;
    for (std::size_t j = 0; j < nd.n; ++j) v += nd.w[j] * dl[j] * p[j];
    s.d_param[k] = -v / h;
  }
  s.ok = true;
  return s;
}

/// d*(tau) (no cost parameter) or d*(tau, p) (one parameter p in [p_lo, p_hi]) under gaussian
/// noise (GaussianShiftNoise), tabulated once: t = d* / tau (exactly constant in tau for a cost
/// homogeneous in r - s) as a Chebyshev series of degree n_u - 1 in u = log tau on each unit
/// interval of [u_min, u_max] (tau from 1e-3 to 1e3 in the data's units of S), times degree
/// n_p - 1 in p on each of p_pieces equal intervals of [p_lo, p_hi] (pieces, as d* may have a
/// singularity just beyond the range, e.g. t*(alpha) at alpha = 0), from the solver at the
/// Chebyshev points. Each piece is then checked against the solver at Chebyshev–Lobatto points
/// (every other one, the ends included): d* within check_d tau, dd*/dtau and dd*/dp within
/// check_slope of the solver's (relative to 1 + their size); a piece that fails, or whose solves
/// fail, is not used (eval says false there, and the caller solves). Its values are a function of
/// (tau, p) alone: no history.
class ShiftTable {
public:
  static constexpr int n_u = 16, n_p = 12, p_pieces = 8;
  static constexpr int u_min = -7, u_max = 7;
  static constexpr double check_d = 1e-10, check_slope = 1e-7;

  /// make(p) gives the cost at parameter p (ignored when `param` is false).
  template <class MakeCost>
  ShiftTable(MakeCost make, std::span<const double> kinks, bool param = false, double p_lo = 0, double p_hi = 0,
             const ShiftOptions& opt = {})
      : np_(param ? n_p : 1), pp_(param ? p_pieces : 1), p_lo_(p_lo), p_w_(param ? (p_hi - p_lo) / p_pieces : 1) {
    const int pieces = (u_max - u_min) * pp_;
    const std::size_t w = std::size_t(n_u) * std::size_t(np_);
    coef_.assign(std::size_t(pieces) * w, 0.0);
    ok_.assign(std::size_t(pieces), 0);
    auto node = [](int k, int n) { return n == 1 ? 0.0 : std::cos(std::numbers::pi * (k + 0.5) / n); };
    auto lobatto = [](int k, int n) { return n == 1 ? 0.0 : std::cos(std::numbers::pi * k / (n - 1)); };
    auto next = [](int k, int n) { return k == n - 1 ? n : std::min(k + 2, n - 1); };
    for (int i = 0; i < pieces; ++i) {
      const double mid = u_min + i / pp_ + 0.5, pmid = p_lo_ + (i % pp_ + 0.5) * p_w_;
      std::vector<double> f(w);  // f[k * np + l] = t at (u_k, p_l)
      bool ok = true;
      for (int l = 0; l < np_ && ok; ++l) {
        const auto cost = make(pmid + 0.5 * p_w_ * node(l, np_));
        for (int k = 0; k < n_u && ok; ++k) {
          const double tau = std::exp(mid + 0.5 * node(k, n_u));
          const ShiftSolution sol = solve_shift(GaussianShiftNoise{tau}, cost, kinks, 0.0, opt);
          ok = sol.ok;
          f[std::size_t(k) * std::size_t(np_) + std::size_t(l)] = sol.d / tau;
        }
      }
      if (!ok) continue;
      // a_jm = c_j c_m / (n_u n_p) Σ_k Σ_l f_kl cos(pi j (k + 1/2) / n_u) cos(pi m (l + 1/2) / n_p).
      double* a = coef_.data() + std::size_t(i) * w;
      for (int j = 0; j < n_u; ++j)
        for (int m = 0; m < np_; ++m) {
          double v = 0;
          for (int k = 0; k < n_u; ++k)
            for (int l = 0; l < np_; ++l)
              v += f[std::size_t(k) * std::size_t(np_) + std::size_t(l)] * std::cos(std::numbers::pi * j * (k + 0.5) / n_u) *
                   std::cos(std::numbers::pi * m * (l + 0.5) / np_);
          a[std::size_t(j) * std::size_t(np_) + std::size_t(m)] = (j ? 2.0 : 1.0) * (m ? 2.0 : 1.0) * v / (n_u * np_);
        }
      // The check, at every other Chebyshev–Lobatto point in u and in p (the ends included).
      for (int l = 0; l < np_ && ok; l = next(l, np_)) {
        const double y = lobatto(l, np_);
        const auto cost = make(pmid + 0.5 * p_w_ * y);
        for (int k = 0; k < n_u && ok; k = next(k, n_u)) {
          const double x = lobatto(k, n_u), tau = std::exp(mid + 0.5 * x);
          const ShiftSolution sol = solve_shift(GaussianShiftNoise{tau}, cost, kinks, 0.0, opt);
          if (!(ok = sol.ok)) break;
          double d = 0, d_tau = 0, d_p = 0;
          value(std::size_t(i), x, y, tau, d, d_tau, d_p);  // the piece's own series, also at its ends
          const double err = std::abs(d - sol.d) / tau;
          double err_slope = std::abs(d_tau - sol.d_noise[0]) / (1 + std::abs(sol.d_noise[0]));
          if (param) err_slope = std::max(err_slope, std::abs(d_p - sol.d_param[0]) / (1 + std::abs(sol.d_param[0])));
          max_error_ = std::max(max_error_, err);
          max_slope_error_ = std::max(max_slope_error_, err_slope);
          ok = err <= check_d && err_slope <= check_slope;
        }
      }
      ok_[std::size_t(i)] = ok;
    }
  }

  /// d*, dd*/dtau and (with a parameter) dd*/dp at (tau, p); false (nothing written) outside the
  /// table or in a piece that failed.
  bool eval(double tau, double p, double& d, double& d_tau, double& d_p) const {
    const double u = std::log(tau), q = (p - p_lo_) / p_w_;
    if (!(u >= u_min && u <= u_max) || (np_ > 1 && !(q >= 0 && q <= pp_))) return false;
    const int iu = std::min(int(u - u_min), u_max - u_min - 1), ip = np_ > 1 ? std::min(int(q), pp_ - 1) : 0;
    const std::size_t i = std::size_t(iu * pp_ + ip);
    if (!ok_[i]) return false;
    value(i, 2 * (u - (u_min + iu + 0.5)), np_ > 1 ? 2 * (q - ip - 0.5) : 0.0, tau, d, d_tau, d_p);
    return true;
  }
  /// The check's largest errors: |d_table - d_solver| / tau, and of the derivatives (relative to 1 + their size).
  double max_error() const { return max_error_; }
  double max_slope_error() const { return max_slope_error_; }
  /// The pieces in use.
  int pieces_ok() const {
    int k = 0;
    for (char o : ok_) k += o;
    return k;
  }

private:
  /// T_j(x) and T_j'(x) = j U_{j-1}(x) for j < n by their recurrences.
  static void chebyshev(double x, int n, double* t, double* dt) {
    double t0 = 1, t1 = x, u0 = 1, u1 = 2 * x;  // T_0, T_1; U_0, U_1
    t[0] = 1, dt[0] = 0;
    if (n > 1) t[1] = x, dt[1] = 1;
    for (int j = 2; j < n; ++j) {
      const double t2 = 2 * x * t1 - t0, u2 = 2 * x * u1 - u0;
      t[j] = t2, dt[j] = j * u1;
      t0 = t1, t1 = t2, u0 = u1, u1 = u2;
    }
  }
  /// Piece i's series at x = 2 (u - its mid) and y = 2 (p - its mid) / its width, both in [-1, 1].
  void value(std::size_t i, double x, double y, double tau, double& d, double& d_tau, double& d_p) const {
    std::array<double, n_u> tx, dtx;
    std::array<double, n_p> ty, dty;
    chebyshev(x, n_u, tx.data(), dtx.data());
    chebyshev(y, np_, ty.data(), dty.data());
    const double* a = coef_.data() + i * std::size_t(n_u) * std::size_t(np_);
    double v = 0, vx = 0, vy = 0;
    for (int j = 0; j < n_u; ++j) {
      double r = 0, ry = 0;  // Σ_m a_jm T_m(y), and its y-derivative
      for (int m = 0; m < np_; ++m) {
        const double c = a[std::size_t(j) * std::size_t(np_) + std::size_t(m)];
        r += c * ty[std::size_t(m)];
        ry += c * dty[std::size_t(m)];
      }
      v += r * tx[std::size_t(j)];
      vx += r * dtx[std::size_t(j)];
      vy += ry * tx[std::size_t(j)];
    }
    // d = tau t(u, p): dd/dtau = t + dt/du (dt/du = 2 dv/dx), dd/dp = tau (2 / p_w) dv/dy.
    d = tau * v;
    d_tau = v + 2 * vx;
    d_p = np_ > 1 ? tau * 2 * vy / p_w_ : 0.0;
  }

  int np_, pp_;
  double p_lo_, p_w_;
  std::vector<double> coef_;
  std::vector<char> ok_;
  double max_error_ = 0, max_slope_error_ = 0;
};

/// E_d(d) and, in *e_dd, E_dd(d) (the header's comment), on a window centred at d.
template <class Noise, class Cost>
double shift_slope(const Noise& noise, const Cost& cost, double d, std::span<const double> kinks, double* e_dd,
                   const ShiftOptions& opt = {}) {
  shift_detail::Nodes nd;
  nd.build(d + noise.lo(), d + noise.hi(), kinks, std::clamp(opt.panels, 1, shift_detail::max_panels));
  std::array<double, shift_detail::max_nodes> dl, y, p, py;
  cost.slope(nd.n, nd.x.data(), dl.data());
  for (std::size_t j = 0; j < nd.n; ++j) y[j] = nd.x[j] - d;
  noise.density(nd.n, y.data(), p.data(), py.data(), nullptr);
  double g = 0, h = 0;
  for (std::size_t j = 0; j < nd.n; ++j) {
    g += nd.w[j] * dl[j] * p[j];
    h -= nd.w[j] * dl[j] * py[j];
  }
  if (e_dd) *e_dd = h;
  return g;
}

/// A registered cost read as a cost of the difference x = r - s (l(x) = loss(0, x; p)), for
/// costs that are functions of r - s alone (the caller checks that). l' comes from the cost's own
/// forward-mode dual numbers (loss_dr_n, else loss_dr); dl'/dp_k is exact for a formula (nested
/// dual numbers, formula_slope_dparam), else, as the cost's evaluators do not give it, a central
/// difference of l' in p_k (step 1e-5 (1 + |p_k|): error ~1e-10 relative).
/// kink() says whether l' may jump at x = 0.
struct CostOfDifference {
  const CostInfo* cost = nullptr;
  const double* p = nullptr;  // cost.params.size() values
  std::size_t n_params() const { return cost->params.size(); }
  bool kink() const { return cost->kink_at_s_equals_r; }
  void slope(std::size_t n, const double* x, double* dl) const { slope_at(p, n, x, dl); }
  void slope_dparam(std::size_t k, std::size_t n, const double* x, double* out) const {
    if (formula_slope_dparam(*cost, k, n, x, p, out)) return;  // a formula: exact, by nested dual numbers
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
    static const std::array<double, shift_detail::max_nodes> zero{};  // s = 0
    std::array<double, shift_detail::max_nodes> l;
    if (n <= zero.size() && cost->loss_dr_n) {
      cost->loss_dr_n(n, zero.data(), x, q, l.data(), dl);
      return;
    }
    for (std::size_t i = 0; i < n; ++i) cost->loss_dr(0.0, x[i], q, &dl[i]);
  }
};

} // namespace bactor::detail
