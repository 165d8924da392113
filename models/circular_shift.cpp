// SPDX-License-Identifier: MIT
#include "models/circular_shift.hpp"

#include "models/circular.hpp"
#include "models/formula_program.hpp"

#include <xsimd/xsimd.hpp>

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

void bessel_ratios_batch(const double* kappa, int n_max, double* const* A) {
  using B = xsimd::batch<double>;
  constexpr std::size_t L = B::size;
  // Lanes the backward recurrence does not serve (kappa <= 0, infinite, or >= n_max^2): the
  // scalar function; the others together, from the largest start among them (a later start
  // only shrinks the start's error further).
  alignas(64) double kv[L];
  int start = 0;
  bool any = false;
  for (std::size_t l = 0; l < L; ++l) {
    const double k = kappa[l];
    if (k > 0 && k < double(n_max) * n_max) {
      kv[l] = k, any = true;
      start = std::max(start, int(std::sqrt(double(n_max) * n_max + 40 * k)) + 4);
    } else {
      kv[l] = 1;  // a lane computed by the other branch below; 1 keeps the SIMD division finite
    }
  }
  if (any && n_max >= 1) {
    const B ik = B(2.0) / B::load_aligned(kv);
    B r(0.0);
    alignas(64) double t[L];
    for (int n = start; n >= 1; --n) {
      r = B(1.0) / xsimd::fma(B(double(n)), ik, r);  // I_n / I_{n-1}
      if (n <= n_max) {
        r.store_aligned(t);
        for (std::size_t l = 0; l < L; ++l) A[l][n] = t[l];
      }
    }
    for (std::size_t l = 0; l < L; ++l) {
      A[l][0] = 1;
      for (int n = 1; n <= n_max; ++n) A[l][n] *= A[l][n - 1];
    }
  }
  for (std::size_t l = 0; l < L; ++l) {
    const double k = kappa[l];
    if (!(k > 0 && k < double(n_max) * n_max)) bessel_ratios(k, n_max, A[l]);
  }
}

int circular_terms(double kappa_post_max, double kappa_r) {
  const double ke = 1 / (1 / std::max(kappa_post_max, 1e-300) + 1 / std::max(kappa_r, 1e-300));
  const double n = std::ceil(std::sqrt(80 * ke)) + 4;
  return n < circular_max_terms ? std::max(4, int(n)) : circular_max_terms;
}

namespace {
/// The Fourier coefficients n = 0..N of `count` signals g_s sampled at d_j = 2 pi j / M - pi
/// (j < M, M a multiple of the SIMD width): a_s[0] = Σ_j g_s[j] / M and, for n >= 1,
/// a_s[n] = (-1)^n (2 / M) Σ_j g_s[j] cos(2 pi n j / M), b_s[n] likewise with sin
/// (cos n d_j = (-1)^n cos(2 pi n j / M)). cos and sin of 2 pi n j / M come from rotating those of
/// n - 1 by 2 pi j / M, one complex product per sample shared by the signals, in SIMD over j
/// (the rotations' rounding grows like n eps: 1e-13 at n = 2048).
void fourier_coefficients(std::size_t M, int N, std::size_t count, const double* const* g, double* const* a,
                          double* const* b, const double* c1, const double* s1, double* c, double* s) {
  using B = xsimd::batch<double>;
  constexpr std::size_t L = B::size;
  constexpr std::size_t max_signals = 1 + max_cost_params;
  for (std::size_t k = 0; k < count; ++k) {
    double g0 = 0;
    for (std::size_t j = 0; j < M; ++j) g0 += g[k][j];
    a[k][0] = g0 / double(M);
  }
  std::fill(c, c + M, 1.0);
  std::fill(s, s + M, 0.0);
  for (int n = 1; n <= N; ++n) {
    std::array<B, max_signals> sa, sb;
    sa.fill(B(0.0)), sb.fill(B(0.0));
    for (std::size_t j = 0; j < M; j += L) {
      const B cr = B::load_unaligned(c1 + j), sr = B::load_unaligned(s1 + j);
      const B co = B::load_unaligned(c + j), so = B::load_unaligned(s + j);
      const B cn = xsimd::fms(co, cr, so * sr), sn = xsimd::fma(so, cr, co * sr);
      cn.store_unaligned(c + j);
      sn.store_unaligned(s + j);
      for (std::size_t k = 0; k < count; ++k) {
        const B gv = B::load_unaligned(g[k] + j);
        sa[k] = xsimd::fma(gv, cn, sa[k]);
        sb[k] = xsimd::fma(gv, sn, sb[k]);
      }
    }
    const double f = (n % 2 ? -2.0 : 2.0) / double(M);
    for (std::size_t k = 0; k < count; ++k) {
      a[k][n] = f * xsimd::hadd(sa[k]);
      b[k][n] = f * xsimd::hadd(sb[k]);
    }
  }
}
} // namespace

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
  // The samples and their cos / sin (of 2 pi j / M), this thread's, remade when M changes; the
  // loss and its parameter derivatives at the samples; the rotation's state.
  thread_local std::vector<double> cs, sn, d, zero, dl, cr, sr;
  thread_local std::vector<std::vector<double>> g;
  if (cs.size() != Mz) {
    for (auto* v : {&cs, &sn, &d, &zero, &dl, &cr, &sr}) v->assign(Mz, 0.0);
    for (int j = 0; j < M; ++j) {
      d[std::size_t(j)] = two_pi * j / M - std::numbers::pi;  // the samples cover (-pi, pi]: no wrap needed
      cs[std::size_t(j)] = std::cos(two_pi * j / M);
      sn[std::size_t(j)] = std::sin(two_pi * j / M);
    }
  }
  g.resize(1 + P);
  for (auto& v : g) v.resize(Mz);
  std::array<const double*, 1 + max_cost_params> gp{};
  std::array<double*, 1 + max_cost_params> ap{}, bp{};
  for (std::size_t k = 0; k <= P; ++k) {
    gp[k] = g[k].data();
    ap[k] = k == 0 ? out.a.data() : out.da.data() + (k - 1) * stride;
    bp[k] = k == 0 ? out.b.data() : out.db.data() + (k - 1) * stride;
  }
  // g and dg/dc_k at the samples: for a formula exactly, by dual numbers (one pass per
  // parameter, which gives g too); else g by the cost's evaluator and dg/dc_k by the central
  // difference (g(c_k + h) - g(c_k - h)) / 2h, h = 1e-5 (1 + |c_k|): truncation and rounding both
  // near 1e-10 relative (the shared shift solver's choice for the same derivative).
  auto loss = [&](const double* p, double* out_g) {
    if (cost.loss_dr_n) cost.loss_dr_n(Mz, zero.data(), d.data(), p, out_g, dl.data());  // a formula: one pass of its program
    else
      for (std::size_t j = 0; j < Mz; ++j) out_g[j] = cost.loss(0.0, d[j], p);
  };
  bool exact = true;
  for (std::size_t k = 0; k < P && exact; ++k) exact = formula_loss_dparam(cost, k, Mz, d.data(), c, g[0].data(), g[1 + k].data());
  if (P == 0 || !exact) loss(c, g[0].data());
  if (!exact) {
    std::array<double, max_cost_params> p{};
    std::copy(c, c + P, p.begin());
    for (std::size_t k = 0; k < P; ++k) {
      const double h = 1e-5 * (1 + std::abs(c[k]));
      p[k] = c[k] + h;
      loss(p.data(), g[1 + k].data());
      p[k] = c[k] - h;
      loss(p.data(), cr.data());
      for (std::size_t j = 0; j < Mz; ++j) g[1 + k][j] = (g[1 + k][j] - cr[j]) / (2 * h);
      p[k] = c[k];
    }
  }
  fourier_coefficients(Mz, N, 1 + P, gp.data(), ap.data(), bp.data(), cs.data(), sn.data(), cr.data(), sr.data());
}

CircularShiftSolver::CircularShiftSolver(const CircularCostSeries& series, double kappa_r) : s_(&series) {
  const int N = series.N;
  ar_.resize(std::size_t(N) + 2);
  dar_.resize(std::size_t(N) + 1);
  ap_.resize(std::size_t(N) + 2);
  dap_.resize(std::size_t(N) + 1);
  rho_.resize(std::size_t(N) + 1);
  const std::size_t L = xsimd::batch<double>::size, padded = (std::size_t(N) + L - 1) / L * L;
  for (auto* v : {&e_cos_, &e_sin_, &f_cos_, &f_sin_, &fp_cos_, &fp_sin_}) v->assign(padded, 0.0);
  cos_.resize(std::size_t(N) + 1);
  sin_.resize(std::size_t(N) + 1);
  bessel_ratios(kappa_r, N + 1, ar_.data());
  for (int n = 1; n <= N; ++n)
    dar_[std::size_t(n)] = 0.5 * (ar_[std::size_t(n) - 1] + ar_[std::size_t(n) + 1]) - ar_[1] * ar_[std::size_t(n)];
}

void CircularShiftSolver::prepare(std::span<const double> kappa_posts) {
  using B = xsimd::batch<double>;
  constexpr std::size_t L = B::size;
  const std::size_t w = std::size_t(s_->N) + 2, n = kappa_posts.size();
  table_kp_.assign(kappa_posts.begin(), kappa_posts.end());
  table_.resize(n * w);
  scratch_.resize(w);
  for (std::size_t i = 0; i < n; i += L) {
    std::array<double, L> k;
    std::array<double*, L> rows;
    for (std::size_t l = 0; l < L; ++l) {  // a short last group repeats its last one, into scratch
      k[l] = kappa_posts[std::min(i + l, n - 1)];
      rows[l] = i + l < n ? table_.data() + (i + l) * w : scratch_.data();
    }
    bessel_ratios_batch(k.data(), s_->N + 1, rows.data());
  }
}

CircularShift CircularShiftSolver::solve_node(std::size_t i, const double* start) {
  const double kp = table_kp_[i];
  if (kp > 0 && kp != kp_) {
    const std::size_t w = std::size_t(s_->N) + 2;
    std::copy(table_.data() + i * w, table_.data() + (i + 1) * w, ap_.data());
    set_kappa_post(kp, true);
  }
  return solve(kp, start);
}

void CircularShiftSolver::set_kappa_post(double kappa_post, bool have_ratios) {
  if (kappa_post == kp_) return;
  kp_ = kappa_post;
  const int N = s_->N;
  if (!have_ratios) bessel_ratios(kappa_post, N + 1, ap_.data());
  for (int n = 1; n <= N; ++n) {
    const std::size_t i = std::size_t(n);
    dap_[i] = 0.5 * (ap_[i - 1] + ap_[i + 1]) - ap_[1] * ap_[i];
    rho_[i] = ap_[i] * ar_[i];
    // E, F = E' and F' = E'' as Σ_n (u_n cos n x + v_n sin n x), term n at index n - 1.
    const double nn = double(n), ra = rho_[i] * s_->a[i], rb = rho_[i] * s_->b[i];
    e_cos_[i - 1] = ra, e_sin_[i - 1] = rb;
    f_cos_[i - 1] = nn * rb, f_sin_[i - 1] = -nn * ra;
    fp_cos_[i - 1] = -nn * nn * ra, fp_sin_[i - 1] = -nn * nn * rb;
  }
}

namespace {
/// Σ_{n=1..N} u_k[n-1] cos n x + v_k[n-1] sin n x for K pairs (u_k, v_k) of arrays padded with
/// zeros to a multiple of the SIMD width L: the harmonics n = 1..L in the lanes, rotated by L x
/// per step (a complex product: no trigonometric call per term, a dependency chain N / L long).
template <std::size_t K>
std::array<double, K> harmonic_sums(double x, std::size_t padded, const std::array<const double*, 2 * K>& uv) {
  using B = xsimd::batch<double>;
  constexpr std::size_t L = B::size;
  alignas(64) double c0[L], s0[L];
  const double c1 = std::cos(x), s1 = std::sin(x);
  double c = 1, s = 0;
  for (std::size_t l = 0; l < L; ++l) {
    const double cn = c * c1 - s * s1;
    s = s * c1 + c * s1;
    c = cn;
    c0[l] = c, s0[l] = s;
  }
  const B cL(c), sL(s);  // cos L x, sin L x
  B cb = B::load_aligned(c0), sb = B::load_aligned(s0);
  std::array<B, K> acc;
  acc.fill(B(0.0));
  for (std::size_t n = 0; n < padded; n += L) {
    for (std::size_t k = 0; k < K; ++k)
      acc[k] = xsimd::fma(B::load_unaligned(uv[2 * k] + n), cb, xsimd::fma(B::load_unaligned(uv[2 * k + 1] + n), sb, acc[k]));
    const B cn = xsimd::fms(cb, cL, sb * sL);
    sb = xsimd::fma(sb, cL, cb * sL);
    cb = cn;
  }
  std::array<double, K> out;
  for (std::size_t k = 0; k < K; ++k) out[k] = xsimd::hadd(acc[k]);
  return out;
}
} // namespace

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
  return harmonic_sums<1>(delta, e_cos_.size(), {e_cos_.data(), e_sin_.data()})[0];
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
    const auto v = harmonic_sums<2>(x, f_cos_.size(), {f_cos_.data(), f_sin_.data(), fp_cos_.data(), fp_sin_.data()});
    return ShiftDerivatives{v[0], v[1]};
  };
  const double step = std::numbers::pi / std::max(4, N);
  CircularShift out;
  out.d = wrap_angle(shift_solve(derivs, x0, step));
  // Implicit derivatives at d*: - F_phi / F_delta.
  // cos n d*, sin n d* first, then plain sums (each with its own accumulator).
  harmonics(N, out.d, [&](std::size_t n, double c, double s) { cos_[n] = c, sin_[n] = s; });
  const double* cn = cos_.data();
  const double* sn = sin_.data();
  double fd = 0, fkp = 0, fkr = 0;
  for (std::size_t n = 1; n <= std::size_t(N); ++n) {
    const double nn = double(n), h = b[n] * cn[n] - a[n] * sn[n];
    fd -= nn * nn * rho_[n] * (a[n] * cn[n] + b[n] * sn[n]);
    fkp += nn * dap_[n] * ar_[n] * h;
    fkr += nn * ap_[n] * dar_[n] * h;
  }
  std::array<double, max_cost_params> fc{};
  const std::size_t stride = std::size_t(N) + 2;
  for (std::size_t k = 0; k < s_->P; ++k) {
    const double* da = s_->da.data() + k * stride;
    const double* db = s_->db.data() + k * stride;
    double v = 0;
    for (std::size_t n = 1; n <= std::size_t(N); ++n) v += double(n) * rho_[n] * (db[n] * cn[n] - da[n] * sn[n]);
    fc[k] = v;
  }
  out.curvature = fd;
  if (fd > 0) {
    out.d_kp = -fkp / fd;
    out.d_kr = -fkr / fd;
    for (std::size_t k = 0; k < s_->P; ++k) out.d_c[k] = -fc[k] / fd;
  }
  return out;
}

} // namespace bactor::detail
