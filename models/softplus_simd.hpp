// SPDX-License-Identifier: MIT
// The softplus head a = softplus(k e^{w u} + x2) evaluated lane-wise (xsimd, double), with the
// kernels' own division-light exp and log: shared by the softplus marginal and sampled kernels
// (models/inference_kernels.cpp) and the motor forms' kernels (models/motor_kernels.cpp).
// Private header; include it in .cpp files only (it is compiled with the SIMD flags there).
#pragma once

#include <bactor/models/marginal.hpp>
#include "engine/simd_math.hpp"

#include <xsimd/xsimd.hpp>

#include <cstdint>

namespace bactor::detail::simd_head {

using B = xsimd::batch<double>;
using U = xsimd::batch<std::uint64_t>;
constexpr std::size_t L = B::size;


/// e^x lane-wise to ~1 ulp, the argument clamped to [-708, 709] (so e^-708 ~ 3e-308 below
/// it, where exp_clamped of engine/simd_math.hpp selects 0: two operations fewer, and every
/// use here is a weight or a term that is negligible at that size).
inline B exp_d(B x) { return simd::exp_in_range(xsimd::min(xsimd::max(x, B(-708.0)), B(709.0))); }
/// log x lane-wise for positive normal x, ~1 ulp (one division); other inputs give finite
/// garbage (callers select those lanes away).
inline B log_d(B x) { return simd::log_normal(x); }

/// log a(u), d log a/du, d log a/d(k, w, x2) and (optionally) d^2 log a/du^2 for the head
/// a = softplus(k e^{w u} + x2), lane-wise, for NB independent batches at once (statement by
/// statement, so that their long dependency chains overlap). Two exp, two log and one division
/// per lane: softplus(t) = max(t, 0) + log1p(e^{-|t|}) with log1p(z) = log(1 + z) +
/// (z - ((1 + z) - 1)) (the rounding error of 1 + z; ~1 ulp for z in [0, 1]), and one
/// reciprocal 1/((1 + z) softplus(t)) giving both sigmoid(t)/softplus(t) and 1 - sigmoid(t).
/// The caller gives e = e^{w u} (eval computes it; the quadrature nodes get it as
/// e^{w u_0} e^{±w scale t}).
template <int NB, bool Curvature>
inline void eval_e(const SoftplusHead& h, const B* u, const B* e, B* la, B* dla_du, B (*dp)[3], B* d2 = nullptr) {
  const B k(h.k), w(h.w), x2(h.x2), one(1.0), zero(0.0);
  B t[NB], z[NB], sp[NB], inv[NB];
  for (int v = 0; v < NB; ++v) {
    t[v] = xsimd::fma(k, e[v], x2);
    z[v] = exp_d(-xsimd::abs(t[v]));  // in [0, 1]
  }
  for (int v = 0; v < NB; ++v) {
    const B opz = one + z[v];
    sp[v] = xsimd::max(t[v], zero) + (log_d(opz) + (z[v] - (opz - one)));  // softplus(t)
    inv[v] = one / (opz * sp[v]);
  }
  for (int v = 0; v < NB; ++v) {
    const auto tiny = t[v] < B(-30.0);  // softplus(t) = e^t to double precision
    const auto pos = t[v] >= zero;
    la[v] = xsimd::select(tiny, t[v], log_d(sp[v]));
    const B a_t = xsimd::select(tiny, one, xsimd::select(pos, one, z[v]) * inv[v]);  // d la/dt
    const B ke = k * e[v];
    const B dt_du = ke * w;
    dp[v][0] = a_t * e[v];
    dp[v][1] = a_t * ke * u[v];
    dp[v][2] = a_t;
    dla_du[v] = a_t * dt_du;
    if constexpr (Curvature) {
      // d/dt (sg/sp) = (sg (1 - sg) sp - sg^2) / sp^2 = a_t ((1 - sg) - a_t);
      // d^2 la/du^2 = that * dt_du^2 + a_t * w * dt_du
      const B one_m_sg = xsimd::select(pos, z[v], one) * inv[v] * sp[v];
      const B da = xsimd::select(tiny, zero, a_t * (one_m_sg - a_t));
      d2[v] = da * dt_du * dt_du + a_t * w * dt_du;
    }
  }
}

/// eval_e with e = e^{w u} computed here (into `e` when given).
template <int NB, bool Curvature>
inline void eval(const SoftplusHead& h, const B* u, B* la, B* dla_du, B (*dp)[3], B* d2 = nullptr, B* e_out = nullptr) {
  const B w(h.w);
  B e[NB];
  for (int v = 0; v < NB; ++v) e[v] = exp_d(w * u[v]);
  eval_e<NB, Curvature>(h, u, e, la, dla_du, dp, d2);
  if (e_out)
    for (int v = 0; v < NB; ++v) e_out[v] = e[v];
}

} // namespace bactor::detail::simd_head
