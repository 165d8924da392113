// SPDX-License-Identifier: MIT
#include "models/inference_kernels.hpp"

#include <xsimd/xsimd.hpp>

#include <cmath>
#include <numbers>

namespace bactor::detail {

namespace {

using B = xsimd::batch<double>;
constexpr std::size_t L = B::size;

/// log a(u), d log a/du, d log a/d(k, w, x2) and (optionally) d^2 log a/du^2 for the head
/// a = softplus(k e^{w u} + x2), lane-wise. One exp(w u) and one exp(-|t|) serve softplus and
/// its derivative.
inline B eval(const SoftplusHead& h, B u, B& dla_du, B* dp, B* d2 = nullptr) {
  const B k(h.k), w(h.w), x2(h.x2);
  const B e = xsimd::exp(w * u);
  const B t = xsimd::fma(k, e, x2);
  const B z = xsimd::exp(-xsimd::abs(t));  // in (0, 1]
  const B one(1.0);
  const B inv1z = one / (one + z);
  const auto pos = t >= B(0.0);
  const B sg = xsimd::select(pos, inv1z, z * inv1z);       // sigmoid(t)
  const B sp = xsimd::max(t, B(0.0)) + xsimd::log1p(z);    // softplus(t)
  const auto tiny = t < B(-30.0);                          // softplus(t) = e^t to double precision
  const B la = xsimd::select(tiny, t, xsimd::log(sp));
  const B a_t = xsimd::select(tiny, one, sg / sp);         // d la / dt
  const B dt_du = k * w * e;
  dp[0] = a_t * e;
  dp[1] = a_t * k * e * u;
  dp[2] = a_t;
  dla_du = a_t * dt_du;
  if (d2) {
    // d/dt (sg/sp) = (sg (1 - sg) sp - sg^2) / sp^2 ; d^2 la/du^2 = that * dt_du^2 + a_t * w * dt_du
    const B da = xsimd::select(tiny, B(0.0), (sg * (one - sg) * sp - sg * sg) / (sp * sp));
    *d2 = da * dt_du * dt_du + a_t * w * dt_du;
  }
  return la;
}

} // namespace

std::size_t simd_lanes() { return L; }

double softplus_sampled(const SoftplusHead& h, std::size_t n, const double* x, const double* y, const double* wt,
                        const double* z, double sig, double sr, double* gz, SoftplusSums& g) {
  const double ir2 = 1.0 / (sr * sr);
  const B vsig(sig), vir2(ir2);
  B ll(0.0), se2(0.0), gs(0.0), gk(0.0), gw(0.0), gx2(0.0), cnt(0.0);
  alignas(64) double buf[L];
  for (std::size_t i = 0; i < n; i += L) {
    const B xi = B::load_unaligned(x + i), yi = B::load_unaligned(y + i), wi = B::load_unaligned(wt + i);
    const B zi = B::load_unaligned(z + i);
    const B u = xsimd::fma(vsig, zi, xi);
    B dla, dp[3];
    const B la = eval(h, u, dla, dp);
    const B e = yi - la;
    const B gl = wi * e * vir2;
    se2 += wi * e * e;
    gk += gl * dp[0];
    gw += gl * dp[1];
    gx2 += gl * dp[2];
    gs += gl * dla * zi;
    ll -= wi * (B(0.5) * zi * zi + yi);
    cnt += wi;
    if (gz) {
      (gl * dla * vsig - zi).store_aligned(buf);
      for (std::size_t l = 0; l < L; ++l)
        if (wt[i + l] != 0) gz[i + l] = buf[l];
    }
  }
  const double nn = xsimd::hadd(cnt), s2 = xsimd::hadd(se2);
  g.sigma += xsimd::hadd(gs);
  g.sigma_r += -nn / sr + s2 * ir2 / sr;
  g.head.k += xsimd::hadd(gk);
  g.head.w += xsimd::hadd(gw);
  g.head.x2 += xsimd::hadd(gx2);
  return xsimd::hadd(ll) - 0.5 * s2 * ir2 - nn * (std::log(sr) + 0.5 * std::log(2 * std::numbers::pi));
}

double softplus_marginal(const SoftplusHead& h, std::size_t n, const double* x, const double* y, const double* wt,
                         double sig, double sr, const GaussHermite& rule, SoftplusSums& g, int newton_steps) {
  const double is2 = 1.0 / (sig * sig), ir2 = 1.0 / (sr * sr);
  const B vis2(is2), vir2(ir2), lim(3 * sig), one(1.0);
  constexpr int max_nodes = 64;
  const int m = rule.size() < max_nodes ? rule.size() : max_nodes;
  B f[max_nodes], dy[max_nodes], du2[max_nodes], dpj[max_nodes][3];
  B acc_ll(0.0), acc_gs(0.0), acc_gr(0.0), gk(0.0), gw(0.0), gx2(0.0);
  const double log_norm = std::log(2 * std::numbers::pi * sig * sr);
  for (std::size_t i = 0; i < n; i += L) {
    const B xi = B::load_unaligned(x + i), yi = B::load_unaligned(y + i), wi = B::load_unaligned(wt + i);
    // Mode of the log integrand by Newton steps (Gauss–Newton curvature as a fallback).
    B u = xi, dla, dp[3], d2, curv;
    for (int it = 0; it <= newton_steps; ++it) {
      const B la = eval(h, u, dla, dp, &d2);
      const B r = yi - la;
      const B gn = vis2 + dla * dla * vir2;
      const B full = gn - r * d2 * vir2;
      curv = xsimd::select(full > B(0.1 * is2), full, gn);
      if (it == newton_steps) break;
      const B grad = (xi - u) * vis2 + r * dla * vir2;
      u += xsimd::min(xsimd::max(grad / curv, -lim), lim);
    }
    const B scale = xsimd::sqrt(B(2.0) / curv);
    B fmax(-INFINITY);
    for (int j = 0; j < m; ++j) {
      const B uj = xsimd::fma(scale, B(rule.t[j]), u);
      B d;
      const B la = eval(h, uj, d, dpj[j]);
      const B du = uj - xi;
      dy[j] = yi - la;
      du2[j] = du * du;
      f[j] = B(rule.log_w[j]) - B(0.5) * (du2[j] * vis2 + dy[j] * dy[j] * vir2);
      fmax = xsimd::max(fmax, f[j]);
    }
    B sum(0.0);
    for (int j = 0; j < m; ++j) sum += (f[j] = xsimd::exp(f[j] - fmax));
    const B wnorm = wi / sum;  // trial weight / normaliser
    B s_du2(0.0), s_dy2(0.0);
    for (int j = 0; j < m; ++j) {
      const B p = f[j] * wnorm;
      s_du2 += p * du2[j];
      s_dy2 += p * dy[j] * dy[j];
      const B gl = p * dy[j] * vir2;
      gk += gl * dpj[j][0];
      gw += gl * dpj[j][1];
      gx2 += gl * dpj[j][2];
    }
    acc_gs += s_du2;
    acc_gr += s_dy2;
    acc_ll += wi * (fmax + xsimd::log(sum) + xsimd::log(scale) - yi);
  }
  double nn = 0;
  for (std::size_t i = 0; i < n; ++i) nn += wt[i];
  g.sigma += xsimd::hadd(acc_gs) * is2 / sig - nn / sig;
  g.sigma_r += xsimd::hadd(acc_gr) * ir2 / sr - nn / sr;
  g.head.k += xsimd::hadd(gk);
  g.head.w += xsimd::hadd(gw);
  g.head.x2 += xsimd::hadd(gx2);
  return xsimd::hadd(acc_ll) - nn * log_norm;
}

} // namespace bactor::detail
