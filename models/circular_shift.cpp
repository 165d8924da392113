// SPDX-License-Identifier: MIT
#include "models/circular_shift.hpp"

#include "models/circular.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace bactor::detail {

namespace {
constexpr double two_pi = 2 * std::numbers::pi;

struct ShiftDerivatives {
  double f = 0, fp = 0;  // F(x) and F'(x), the derivative of the function minimised and its curvature
};
/// A zero of F with F' > 0 near x0 (a local minimum of the function whose derivative F is):
/// Newton steps of at most max_step, and a step of max_step downhill where F' <= 0.
template <class Derivs>
double shift_solve(Derivs derivs, double x0, double max_step) {
  double x = x0;
  for (int it = 0; it < 100; ++it) {
    const ShiftDerivatives v = derivs(x);
    double dx = v.fp > 0 ? -v.f / v.fp : (v.f > 0 ? -max_step : max_step);
    dx = std::clamp(dx, -max_step, max_step);
    x += dx;
    if (std::abs(dx) < 1e-13) break;
  }
  return x;
}
}

void bessel_ratios(double kappa, int n_max, double* A) {
  A[0] = 1;
  if (n_max < 1) return;
  if (!(kappa > 0)) {
    std::fill(A + 1, A + n_max + 1, 0.0);
    return;
  }
  if (!(kappa < INFINITY)) {  // the limit: VM(0, kappa) -> a point mass at 0
    std::fill(A + 1, A + n_max + 1, 1.0);
    return;
  }
  if (kappa >= double(n_max) * n_max) {
    // Where kappa >= n_max^2 the backward start below would lie sqrt(40 kappa) terms up (5e8
    // divisions at kappa = 1e16, a sigma_r of 1e-8 in an early warm-up step, and past int's
    // range above 1e17), while the forward recurrence A_{n+1} = A_{n-1} - (2n / kappa) A_n is
    // accurate: its error grows like K_n / I_n, by about e^{n^2 / kappa} <= e over n <= n_max.
    A[1] = bessel_ratio(kappa);
    for (int n = 1; n < n_max; ++n) A[n + 1] = A[n - 1] - (2 * n / kappa) * A[n];
    return;
  }
  // The error of the start (ratio 0) shrinks by about A_n(kappa)^2 ~ e^{-n^2 / kappa} on its way
  // down to n: starting at sqrt(n_max^2 + 40 kappa) leaves e^{-40} at n_max and less below.
  // A[n] holds the ratio I_n / I_{n-1} on the way down, then the product.
  const int start = int(std::sqrt(double(n_max) * n_max + 40 * kappa)) + 4;
  double r = 0;  // I_{n+1} / I_n
  for (int n = start; n >= 1; --n) {
    r = 1 / (2 * n / kappa + r);  // I_n / I_{n-1}
    if (n <= n_max) A[n] = r;
  }
  for (int n = 1; n <= n_max; ++n) A[n] *= A[n - 1];
}

int circular_terms(double kappa_post_max, double kappa_r) {
  const double ke = 1 / (1 / std::max(kappa_post_max, 1e-300) + 1 / std::max(kappa_r, 1e-300));
  const double n = std::ceil(std::sqrt(80 * ke)) + 4;
  return n < circular_max_terms ? std::max(4, int(n)) : circular_max_terms;
}

void circular_cost_series(const CostInfo& cost, const double* c, int N, CircularCostSeries& out) {
  const std::size_t P = cost.params.size();
  const int M = (std::max(128, 4 * N) + 7) & ~7;
  out.N = N;
  out.P = P;
  const std::size_t stride = std::size_t(N) + 2;
  out.a.assign(stride, 0.0);
  out.b.assign(stride, 0.0);
  out.da.assign(P * stride, 0.0);
  out.db.assign(P * stride, 0.0);
  const std::size_t Mz = std::size_t(M);
  // The samples and their cos / sin, this thread's, remade when M changes.
  thread_local std::vector<double> cs, sn, g, d, zero, dl;
  if (cs.size() != Mz) {
    for (auto* v : {&cs, &sn, &g, &d, &zero, &dl}) v->assign(Mz, 0.0);
    for (int j = 0; j < M; ++j) {
      d[std::size_t(j)] = two_pi * j / M - std::numbers::pi;  // the samples cover (-pi, pi]: no wrap needed
      cs[std::size_t(j)] = std::cos(two_pi * j / M);
      sn[std::size_t(j)] = std::sin(two_pi * j / M);
    }
  }
  // The discrete Fourier transform of g at the samples d_j = 2 pi j / M - pi, read for n <= N
  // (cos n d_j = (-1)^n cos(2 pi n j / M)); `sign` accumulates into a, b (or their derivative).
  auto transform = [&](const double* p, double weight, double* a, double* b) {
    if (cost.loss_dr_n) cost.loss_dr_n(Mz, zero.data(), d.data(), p, g.data(), dl.data());  // a formula: one pass of its program
    else
      for (int j = 0; j < M; ++j) g[std::size_t(j)] = cost.loss(0.0, d[std::size_t(j)], p);
    double g0 = 0;
    for (double v : g) g0 += v;
    a[0] += weight * g0 / M;
    for (int n = 1; n <= N; ++n) {
      double sa = 0, sb = 0;
      std::size_t k = 0;  // n j mod M
      for (int j = 0; j < M; ++j) {
        sa += g[std::size_t(j)] * cs[k];
        sb += g[std::size_t(j)] * sn[k];
        k += std::size_t(n);  // n < M: one subtraction keeps k below M
        if (k >= Mz) k -= Mz;
      }
      const double f = (n % 2 ? -2.0 : 2.0) * weight / M;
      a[n] += f * sa;
      b[n] += f * sb;
    }
  };
  std::array<double, max_cost_params> p{};
  std::copy(c, c + P, p.begin());
  transform(p.data(), 1.0, out.a.data(), out.b.data());
  // d/dc_k by the central difference (f(h) - f(-h)) / 2h, h = 1e-5 (1 + |c_k|): truncation and
  // rounding both near 1e-10 relative (the shared shift solver's choice for the same derivative).
  for (std::size_t k = 0; k < P; ++k) {
    const double h = 1e-5 * (1 + std::abs(c[k]));
    for (const double step : {-1.0, 1.0}) {
      p[k] = c[k] + step * h;
      transform(p.data(), step / (2 * h), out.da.data() + k * stride, out.db.data() + k * stride);
    }
    p[k] = c[k];
  }
}

CircularShiftSolver::CircularShiftSolver(const CircularCostSeries& series, double kappa_r) : s_(&series) {
  const int N = series.N;
  ar_.resize(std::size_t(N) + 2);
  dar_.resize(std::size_t(N) + 1);
  ap_.resize(std::size_t(N) + 2);
  dap_.resize(std::size_t(N) + 1);
  rho_.resize(std::size_t(N) + 1);
  bessel_ratios(kappa_r, N + 1, ar_.data());
  for (int n = 1; n <= N; ++n)
    dar_[std::size_t(n)] = 0.5 * (ar_[std::size_t(n) - 1] + ar_[std::size_t(n) + 1]) - ar_[1] * ar_[std::size_t(n)];
}

void CircularShiftSolver::set_kappa_post(double kappa_post) {
  if (kappa_post == kp_) return;
  kp_ = kappa_post;
  const int N = s_->N;
  bessel_ratios(kappa_post, N + 1, ap_.data());
  for (int n = 1; n <= N; ++n) {
    const std::size_t i = std::size_t(n);
    dap_[i] = 0.5 * (ap_[i - 1] + ap_[i + 1]) - ap_[1] * ap_[i];
    rho_[i] = ap_[i] * ar_[i];
  }
}

namespace {
/// Σ_n w_n (x_n cos n delta + y_n sin n delta) for n = 1..N, with cos n delta + i sin n delta by
/// complex multiplication (no trigonometric call per term).
template <class Term>
void harmonics(int N, double delta, Term term) {
  const double c1 = std::cos(delta), s1 = std::sin(delta);
  double c = 1, s = 0;
  for (int n = 1; n <= N; ++n) {
    const double cn = c * c1 - s * s1;
    s = s * c1 + c * s1;
    c = cn;
    term(std::size_t(n), c, s);
  }
}
} // namespace

double CircularShiftSolver::expected_cost(double kappa_post, double delta) {
  set_kappa_post(kappa_post);
  double e = 0;
  harmonics(s_->N, delta, [&](std::size_t n, double c, double s) { e += rho_[n] * (s_->a[n] * c + s_->b[n] * s); });
  return e;
}

CircularShift CircularShiftSolver::solve(double kappa_post, const double* start) {
  if (!(kappa_post > 0)) {
    // The limit kappa_post -> 0 (kappa = kappa_0 with m opposite mu_0): A_n(kappa_post) ~
    // (kappa_post / 2)^n / n!, so the first harmonic alone shapes E; its minimum.
    CircularShift out;
    out.d = std::atan2(-s_->b[1], -s_->a[1]);
    return out;
  }
  set_kappa_post(kappa_post);
  const int N = s_->N;
  const double* a = s_->a.data();
  const double* b = s_->b.data();
  double x0;
  if (start) {
    x0 = *start;
  } else {  // the lowest of E on a grid finer than its narrowest feature (period 2 pi / N)
    const int K = std::max(64, 4 * N);
    double best = INFINITY;
    x0 = 0;
    for (int k = 0; k < K; ++k) {
      const double x = two_pi * k / K - std::numbers::pi;
      const double e = expected_cost(kappa_post, x);
      if (e < best) best = e, x0 = x;
    }
  }
  // F = E', F' = E'' at x.
  auto derivs = [&](double x) {
    double f = 0, fp = 0;
    harmonics(N, x, [&](std::size_t n, double c, double s) {
      const double q = double(n) * rho_[n];
      f += q * (b[n] * c - a[n] * s);
      fp -= q * double(n) * (a[n] * c + b[n] * s);
    });
    return ShiftDerivatives{f, fp};
  };
  const double step = std::numbers::pi / std::max(4, N);
  CircularShift out;
  out.d = wrap_angle(shift_solve(derivs, x0, step));
  // Implicit derivatives at d*: - F_phi / F_delta.
  double fd = 0, fkp = 0, fkr = 0;
  std::array<double, max_cost_params> fc{};
  const std::size_t stride = std::size_t(N) + 2;
  harmonics(N, out.d, [&](std::size_t n, double c, double s) {
    const double nn = double(n);
    const double h = b[n] * c - a[n] * s;
    fd -= nn * nn * rho_[n] * (a[n] * c + b[n] * s);
    fkp += nn * dap_[n] * ar_[n] * h;
    fkr += nn * ap_[n] * dar_[n] * h;
    for (std::size_t k = 0; k < s_->P; ++k)
      fc[k] += nn * rho_[n] * (s_->db[k * stride + n] * c - s_->da[k * stride + n] * s);
  });
  out.curvature = fd;
  if (fd > 0) {
    out.d_kp = -fkp / fd;
    out.d_kr = -fkr / fd;
    for (std::size_t k = 0; k < s_->P; ++k) out.d_c[k] = -fc[k] / fd;
  }
  return out;
}

} // namespace bactor::detail
