// SPDX-License-Identifier: MIT
// The optimal action of the circular actor for costs of the wrapped error that are asymmetric
// or have parameters (docs/families.md, "Circular tasks"). Private header.
//
// With the posterior s | m ~ VM(mu_post, kappa_post) and motor noise r | a ~ VM(a, kappa_r),
// the error r - s = (a - mu_post) + u - v with u ~ VM(0, kappa_r) and v ~ VM(0, kappa_post)
// independent, so for a loss g(d) of the wrapped error d = wrap(r - s) the expected cost of a
// depends on a only through delta = a - mu_post:
//   E(delta) = E g(wrap(delta + u - v)),   a* = mu_post + d*,   d* = argmin over the circle of E.
// With g(d) = a_0 + Σ_n a_n cos nd + b_n sin nd (its Fourier series), E[cos n(u - v)] =
// A_n(kappa_r) A_n(kappa_post) and E[sin n(u - v)] = 0, A_n = I_n / I_0, so
//   E(delta) = a_0 + Σ_n rho_n (a_n cos n delta + b_n sin n delta),  rho_n = A_n(kappa_r) A_n(kappa_post),
// exact but for the truncation at n = N (rho_n ~ e^{-n^2 / (2 kappa_e)}, 1/kappa_e = 1/kappa_r +
// 1/kappa_post) and the coefficients' quadrature (spectral for a smooth periodic g). d* solves
// F(delta) = E'(delta) = 0 with E'' > 0, and by the implicit function theorem
//   d d* / d phi = - F_phi / F_delta,   phi in {kappa_post, kappa_r, cost parameters},
// with d A_n / d kappa = (A_{n-1} + A_{n+1}) / 2 - A_1 A_n and the coefficients' derivatives in
// the cost parameters from the loss's: exact for a formula (dual numbers), else a central
// difference.
#pragma once

#include <bactor/models/costs.hpp>

#include <array>
#include <cstddef>
#include <span>
#include <vector>

namespace bactor::detail {

/// A_n(kappa) = I_n(kappa) / I_0(kappa) for n = 0..n_max into A (A[0] = 1; all 0 beyond n = 0 at
/// kappa = 0, all 1 at kappa = inf): for kappa < n_max^2 by the backward recurrence I_n / I_{n-1}
/// = 1 / (2n / kappa + I_{n+1} / I_n), started where the start's error has decayed below double
/// precision; above, by the forward recurrence from A_1 = bessel_ratio(kappa). O(n_max) either way.
void bessel_ratios(double kappa, int n_max, double* A);
/// bessel_ratios for the SIMD width's number of concentrations kappa[l] at once, into A[l].
void bessel_ratios_batch(const double* kappa, int n_max, double* const* A);

/// Fourier terms of the expected cost needed at these concentrations: N with rho_N below
/// e^{-40} (at least 4, at most circular_max_terms).
int circular_terms(double kappa_post_max, double kappa_r);
inline constexpr int circular_max_terms = 2048;

/// The loss g(d) = l(0, d; c) of the wrapped error as its Fourier series to n = N, from M
/// equispaced samples (M = max(128, 4N), a multiple of 8), and each coefficient's derivative in
/// each cost parameter (a formula's exactly, by dual numbers; any other cost's by a central
/// difference).
struct CircularCostSeries {
  int N = 0;
  std::size_t P = 0;           // cost parameters
  std::vector<double> a, b;    // [N + 2]: g ≈ a[0] + Σ_{n=1..N} a[n] cos nd + b[n] sin nd (a[N+1] = b[N+1] = 0)
  std::vector<double> da, db;  // [P][N + 2]: d a[n] / d c_k at k * (N + 2) + n
};
void circular_cost_series(const CostInfo& cost, const double* c, int N, CircularCostSeries& out);

/// d* and its partial derivatives.
struct CircularShift {
  double d = 0, d_kp = 0, d_kr = 0;                // d*, d d*/d kappa_post, d d*/d kappa_r
  std::array<double, max_cost_params> d_c{};       // d d*/d c_k
  double curvature = 0;                            // E''(d*) (> 0)
};

/// d* for one cost series and motor concentration at any kappa_post (the per-row part of the
/// solve: A_n(kappa_r) and its derivative are computed once).
class CircularShiftSolver {
public:
  CircularShiftSolver(const CircularCostSeries& series, double kappa_r);
  /// d* at kappa_post: from a global search over the circle when `start` is null, else by
  /// Newton from *start (a neighbouring solve's d*: the caller's continuation in kappa_post).
  CircularShift solve(double kappa_post, const double* start = nullptr);
  /// E(delta) - a_0 at kappa_post (tests; the series' expected cost).
  double expected_cost(double kappa_post, double delta);
  /// Computes A_n(kappa_post) for each of these concentrations ahead (in SIMD over them), for
  /// solve_node: the same numbers as solve's own but for rounding.
  void prepare(std::span<const double> kappa_posts);
  /// solve(kappa_posts[i], start) with the ratios of prepare.
  CircularShift solve_node(std::size_t i, const double* start = nullptr);

private:
  void set_kappa_post(double kappa_post, bool have_ratios = false);
  const CircularCostSeries* s_;
  std::vector<double> ar_, dar_, ap_, dap_, rho_;
  // At kappa_post: E, E' and E'' as Σ_n (cos n x, sin n x) weights, term n at n - 1, zero-padded
  // to a multiple of the SIMD width.
  std::vector<double> e_cos_, e_sin_, f_cos_, f_sin_, fp_cos_, fp_sin_;
  std::vector<double> cos_, sin_;  // cos n d*, sin n d* (the implicit derivatives)
  std::vector<double> table_kp_, table_, scratch_;  // prepare's concentrations and A_n rows (N + 2 each)
  double kp_ = -1;
};

} // namespace bactor::detail
