// SPDX-License-Identifier: MIT
#include "models/inference_kernels.hpp"

#include "engine/simd_math.hpp"
#include "models/softplus_simd.hpp"

#include <xsimd/xsimd.hpp>

#include <cmath>
#include <cstdint>
#include <numbers>

namespace bactor::detail {

namespace {

using namespace simd_head;
} // namespace

std::size_t simd_lanes() { return L; }

void exp_log_kernels(std::size_t n, const double* x, double* ex, double* lx) {
  for (std::size_t i = 0; i < n; i += L) {
    const B v = B::load_unaligned(x + i);
    exp_d(v).store_unaligned(ex + i);
    log_d(v).store_unaligned(lx + i);
  }
}

namespace {

/// Sums of the sampled-latent kernel, one set per interleaved batch.
struct SampledAcc {
  B ll = B(0.0), se2 = B(0.0), gs = B(0.0), gk = B(0.0), gw = B(0.0), gx2 = B(0.0), cnt = B(0.0);
};

template <int NB>
inline void sampled_block(const SoftplusHead& h, std::size_t i, const double* x, const double* y, const double* wt,
                          const double* z, B vsig, B vir2, double* gz, SampledAcc* acc) {
  B xi[NB], yi[NB], wi[NB], zi[NB], u[NB], la[NB], dla[NB], dp[NB][3];
  for (int v = 0; v < NB; ++v) {
    const std::size_t o = i + std::size_t(v) * L;
    xi[v] = B::load_unaligned(x + o);
    yi[v] = B::load_unaligned(y + o);
    wi[v] = B::load_unaligned(wt + o);
    zi[v] = B::load_unaligned(z + o);
    u[v] = xsimd::fma(vsig, zi[v], xi[v]);
  }
  eval<NB, false>(h, u, la, dla, dp);
  for (int v = 0; v < NB; ++v) {
    SampledAcc& a = acc[v];
    const B e = yi[v] - la[v];
    const B gl = wi[v] * e * vir2;
    a.se2 = xsimd::fma(wi[v] * e, e, a.se2);
    a.gk = xsimd::fma(gl, dp[v][0], a.gk);
    a.gw = xsimd::fma(gl, dp[v][1], a.gw);
    a.gx2 = xsimd::fma(gl, dp[v][2], a.gx2);
    const B gd = gl * dla[v];
    a.gs = xsimd::fma(gd, zi[v], a.gs);
    a.ll -= wi[v] * xsimd::fma(B(0.5) * zi[v], zi[v], yi[v]);
    a.cnt += wi[v];
    if (gz) xsimd::fms(gd, vsig, wi[v] * zi[v]).store_unaligned(gz + i + std::size_t(v) * L);
  }
}

} // namespace

double softplus_sampled(const SoftplusHead& h, std::size_t n, const double* x, const double* y, const double* wt,
                        const double* z, double sig, double sr, double* gz, SoftplusSums& g) {
  const double ir2 = 1.0 / (sr * sr);
  const B vsig(sig), vir2(ir2);
  constexpr int NB = 4;  // four batches in flight (measured faster than two at N = 6000)
  SampledAcc acc[NB];
  std::size_t i = 0;
  for (; i + NB * L <= n; i += NB * L) sampled_block<NB>(h, i, x, y, wt, z, vsig, vir2, gz, acc);
  for (; i + 2 * L <= n; i += 2 * L) sampled_block<2>(h, i, x, y, wt, z, vsig, vir2, gz, acc);
  for (; i < n; i += L) sampled_block<1>(h, i, x, y, wt, z, vsig, vir2, gz, acc);
  for (int v = 1; v < NB; ++v) {
    acc[0].ll += acc[v].ll, acc[0].se2 += acc[v].se2, acc[0].gs += acc[v].gs, acc[0].cnt += acc[v].cnt;
    acc[0].gk += acc[v].gk, acc[0].gw += acc[v].gw, acc[0].gx2 += acc[v].gx2;
  }
  const double nn = xsimd::hadd(acc[0].cnt), s2 = xsimd::hadd(acc[0].se2);
  g.sigma += xsimd::hadd(acc[0].gs);
  g.sigma_r += -nn / sr + s2 * ir2 / sr;
  g.head.k += xsimd::hadd(acc[0].gk);
  g.head.w += xsimd::hadd(acc[0].gw);
  g.head.x2 += xsimd::hadd(acc[0].gx2);
  return xsimd::hadd(acc[0].ll) - 0.5 * s2 * ir2 - nn * (std::log(sr) + 0.5 * std::log(2 * std::numbers::pi));
}

namespace {

/// Sums of the marginal kernel, one set per interleaved batch.
struct MarginalAcc {
  B ll = B(0.0), gs = B(0.0), gr = B(0.0), gk = B(0.0), gw = B(0.0), gx2 = B(0.0), cnt = B(0.0);
};

template <int NB, bool Lapse = false>
inline void marginal_block(const SoftplusHead& h, std::size_t i, const double* x, const double* y, const double* wt,
                           double sig, double sr, const GaussHermite& rule, int newton_steps, MarginalAcc* acc,
                           double* trial_ll, const LapseMix* mix = nullptr) {
  const double is2 = 1.0 / (sig * sig), ir2 = 1.0 / (sr * sr);
  const B vis2(is2), vir2(ir2), lim(3 * sig), half(0.5);
  // State: the offset d = u - x (see gh_trial_loglik: u itself would cancel for tiny sigma).
  B xi[NB], yi[NB], wi[NB], d[NB], u[NB], la[NB], dla[NB], dp[NB][3], d2[NB], curv[NB];
  for (int v = 0; v < NB; ++v) {
    const std::size_t o = i + std::size_t(v) * L;
    xi[v] = B::load_unaligned(x + o);
    yi[v] = B::load_unaligned(y + o);
    wi[v] = B::load_unaligned(wt + o);
    d[v] = B(0.0);
  }
  // Mode of the log integrand g(u) = -(u - x)^2/(2 sigma^2) - (y - la(u))^2/(2 sigma_r^2) by
  // Newton steps (Gauss–Newton curvature where the full one is not clearly positive; steps
  // limited to 3 sigma) from the guess of gh_trial_loglik: la linearised at its inverse
  // la^{-1}(y) (SoftplusHead::inverse), kept within x ± 8 sigma; x where y has no inverse.
  // The last evaluation gives the curvature, i.e. the Laplace scale.
  if (h.k > 0 && h.w > 0) {
    const B one(1.0), w(h.w), x2(h.x2), ik(1.0 / h.k), iw(1.0 / h.w), span(8 * sig);
    for (int v = 0; v < NB; ++v) {
      const B Y = exp_d(yi[v]), q = one - exp_d(-Y);  // q = sigmoid(t) at la(u) = y
      const B ke = Y + log_d(q) - x2;                  // k e^{w u} there
      const B ui = log_d(ke * ik) * iw;
      const B b = q * ke * w * exp_d(-yi[v]);          // d la/du there
      const B pb = b * b * vir2;
      const B d0 = (ui - xi[v]) * (pb / (vis2 + pb));
      const auto ok = (q > B(0.0)) & (ke > B(1e-300)) & (Y < B(1e300));
      d[v] = xsimd::select(ok, xsimd::min(xsimd::max(d0, -span), span), B(0.0));
    }
  }
  // Per lane as gh_trial_loglik: a lane stops moving once its step is below the tolerance (it
  // is re-evaluated at the same point while other lanes go on, with the same result).
  const B tol2(newton_tolerance * newton_tolerance);
  xsimd::batch_bool<double> active[NB];
  for (int v = 0; v < NB; ++v) active[v] = xsimd::batch_bool<double>(true);
  B e0[NB];  // e^{w u} at the last evaluation, where every lane's d has stopped
  for (int it = 0;; ++it) {
    for (int v = 0; v < NB; ++v) u[v] = xi[v] + d[v];
    eval<NB, true>(h, u, la, dla, dp, d2, e0);
    bool more = false;
    for (int v = 0; v < NB; ++v) {
      const B r = yi[v] - la[v];
      const B gn = xsimd::fma(dla[v] * dla[v], vir2, vis2);
      const B full = xsimd::fnma(r * d2[v], vir2, gn);
      curv[v] = xsimd::select(full > B(0.1 * is2), full, gn);
      if (it < newton_steps) {
        const B grad = r * dla[v] * vir2 - d[v] * vis2;
        const B step = xsimd::min(xsimd::max(grad / curv[v], -lim), lim);
        active[v] = active[v] & (step * step * curv[v] > tol2);
        d[v] = xsimd::select(active[v], d[v] + step, d[v]);
        more = more || xsimd::any(active[v]);
      }
    }
    if (!more) break;
  }
  // Nodes u_j = x + d + scale t_j. Weights exp(f_j - g(u)) with f_j = log_w_j + g(u_j): g at the
  // mode is the reference, so one pass suffices (with a good Laplace fit the terms are ~w_j,
  // far from overflow) and there is no limit on the node count.
  B scale[NB], g0[NB], sum[NB], s_du2[NB], s_dy2[NB], hk[NB], hw[NB], hx2[NB];
  for (int v = 0; v < NB; ++v) {
    scale[v] = xsimd::sqrt(B(2.0) / curv[v]);
    const B dy = yi[v] - la[v];
    g0[v] = -half * xsimd::fma(d[v] * d[v], vis2, dy * dy * vir2);
    sum[v] = s_du2[v] = s_dy2[v] = hk[v] = hw[v] = hx2[v] = B(0.0);
  }
  auto add = [&](int v, B log_w, B du, B dy, const B* dpj) {
    const B du2 = du * du;
    const B p = exp_d(log_w - half * xsimd::fma(du2, vis2, dy * dy * vir2) - g0[v]);
    sum[v] += p;
    s_du2[v] = xsimd::fma(p, du2, s_du2[v]);
    const B pdy = p * dy;
    s_dy2[v] = xsimd::fma(pdy, dy, s_dy2[v]);
    hk[v] = xsimd::fma(pdy, dpj[0], hk[v]);
    hw[v] = xsimd::fma(pdy, dpj[1], hw[v]);
    hx2[v] = xsimd::fma(pdy, dpj[2], hx2[v]);
  };
  // The rule is symmetric (t_{m-1-j} = -t_j, equal weights): the nodes u_0 ± scale |t_j| go
  // in pairs that share one exp, e^{w u} = e^{w u_0} e^{±w scale |t_j|} (the minus side by a
  // division); 4% fewer instructions.
  const int m = rule.size();
  const B w(h.w);
  for (int j = 0; j < m / 2; ++j) {
    const B log_w(rule.log_w[std::size_t(j)]), tj(-rule.t[std::size_t(j)]);
    B du[NB], uu[NB], ee[NB], q[NB], laj[NB], dj[NB], dpj[NB][3];
    for (int v = 0; v < NB; ++v) {
      const B st = scale[v] * tj;
      q[v] = exp_d(w * st);
      du[v] = d[v] + st;
      uu[v] = xi[v] + du[v];
      ee[v] = e0[v] * q[v];
    }
    eval_e<NB, false>(h, uu, ee, laj, dj, dpj);
    for (int v = 0; v < NB; ++v) add(v, log_w, du[v], yi[v] - laj[v], dpj[v]);
    for (int v = 0; v < NB; ++v) {
      du[v] = xsimd::fnma(scale[v], tj, d[v]);
      uu[v] = xi[v] + du[v];
      ee[v] = e0[v] / q[v];
    }
    eval_e<NB, false>(h, uu, ee, laj, dj, dpj);
    for (int v = 0; v < NB; ++v) add(v, log_w, du[v], yi[v] - laj[v], dpj[v]);
  }
  if (m % 2 == 1) {  // an odd rule's t = 0 node is the mode itself
    const B log_w(rule.log_w[std::size_t(m / 2)]);
    for (int v = 0; v < NB; ++v) add(v, log_w, d[v], yi[v] - la[v], dp[v]);
  }
  for (int v = 0; v < NB; ++v) {
    MarginalAcc& a = acc[v];
    if constexpr (Lapse) {
      // The mixture: la = the actor's log p(r | s) + y, against the contaminant's log eps -
      // log width; the actor's gradient terms weighted by rho = its responsibility, `cnt` then
      // sums wt rho (the -1/sigma, -1/sigma_r terms are per actor trial) and `ll` the
      // mixture's log-density (its constants included).
      const B la = g0[v] + log_d(sum[v] * scale[v]) - B(std::log(2 * std::numbers::pi * sig * sr));
      const B ma = B(mix->log1m_eps) + la, mb(mix->log_eps_cont);
      const B mx = xsimd::max(ma, mb);
      const B ea = exp_d(ma - mx), eb = exp_d(mb - mx), tot = ea + eb;
      const B lli = mx + log_d(tot) - yi[v];
      const B rho = ea / tot;
      const B wnorm = wi[v] * rho / sum[v];
      const B wr = wnorm * vir2;
      a.gk = xsimd::fma(hk[v], wr, a.gk);
      a.gw = xsimd::fma(hw[v], wr, a.gw);
      a.gx2 = xsimd::fma(hx2[v], wr, a.gx2);
      a.gs = xsimd::fma(s_du2[v], wnorm, a.gs);
      a.gr = xsimd::fma(s_dy2[v], wnorm, a.gr);
      a.ll += wi[v] * lli;
      a.cnt += wi[v] * rho;
      if (trial_ll) lli.store_unaligned(trial_ll + i + std::size_t(v) * L);
      continue;
    }
    const B wnorm = wi[v] / sum[v];  // trial weight / normaliser
    const B wr = wnorm * vir2;
    a.gk = xsimd::fma(hk[v], wr, a.gk);
    a.gw = xsimd::fma(hw[v], wr, a.gw);
    a.gx2 = xsimd::fma(hx2[v], wr, a.gx2);
    a.gs = xsimd::fma(s_du2[v], wnorm, a.gs);
    a.gr = xsimd::fma(s_dy2[v], wnorm, a.gr);
    const B lli = g0[v] + log_d(sum[v] * scale[v]) - yi[v];
    a.ll += wi[v] * lli;
    a.cnt += wi[v];
    if (trial_ll) (lli - B(std::log(2 * std::numbers::pi * sig * sr))).store_unaligned(trial_ll + i + std::size_t(v) * L);
  }
}

} // namespace

double softplus_marginal(const SoftplusHead& h, std::size_t n, const double* x, const double* y, const double* wt,
                         double sig, double sr, const GaussHermite& rule, SoftplusSums& g, int newton_steps,
                         double* trial_ll, const LapseMix* lapse) {
  if (newton_steps < 0) newton_steps = newton_max_steps;
  // Four batches in flight: 1.3x faster than two at N = 600 and 6000 (bench/inference,
  // gradient of the softplus-head marginal); one is 1.5x slower than two.
  constexpr int NB = 4;
  MarginalAcc acc[NB];
  std::size_t i = 0;
  if (lapse) {
    for (; i + NB * L <= n; i += NB * L)
      marginal_block<NB, true>(h, i, x, y, wt, sig, sr, rule, newton_steps, acc, trial_ll, lapse);
    for (; i + 2 * L <= n; i += 2 * L)
      marginal_block<2, true>(h, i, x, y, wt, sig, sr, rule, newton_steps, acc, trial_ll, lapse);
    for (; i < n; i += L) marginal_block<1, true>(h, i, x, y, wt, sig, sr, rule, newton_steps, acc, trial_ll, lapse);
  } else {
    for (; i + NB * L <= n; i += NB * L) marginal_block<NB>(h, i, x, y, wt, sig, sr, rule, newton_steps, acc, trial_ll);
    for (; i + 2 * L <= n; i += 2 * L) marginal_block<2>(h, i, x, y, wt, sig, sr, rule, newton_steps, acc, trial_ll);
    for (; i < n; i += L) marginal_block<1>(h, i, x, y, wt, sig, sr, rule, newton_steps, acc, trial_ll);
  }
  for (int v = 1; v < NB; ++v) {
    acc[0].ll += acc[v].ll, acc[0].gs += acc[v].gs, acc[0].gr += acc[v].gr, acc[0].cnt += acc[v].cnt;
    acc[0].gk += acc[v].gk, acc[0].gw += acc[v].gw, acc[0].gx2 += acc[v].gx2;
  }
  const double is2 = 1.0 / (sig * sig), ir2 = 1.0 / (sr * sr);
  const double nn = xsimd::hadd(acc[0].cnt);
  g.sigma += xsimd::hadd(acc[0].gs) * is2 / sig - nn / sig;
  g.sigma_r += xsimd::hadd(acc[0].gr) * ir2 / sr - nn / sr;
  g.head.k += xsimd::hadd(acc[0].gk);
  g.head.w += xsimd::hadd(acc[0].gw);
  g.head.x2 += xsimd::hadd(acc[0].gx2);
  if (lapse) {  // nn = Σ wt rho; ll already holds each trial's whole log-density
    g.rho += nn;
    return xsimd::hadd(acc[0].ll);
  }
  return xsimd::hadd(acc[0].ll) - nn * std::log(2 * std::numbers::pi * sig * sr);
}

namespace {

/// Sums of the power-law lapse kernel, one set per interleaved batch.
struct PowerLapseAcc {
  B w = B(0.0), r = B(0.0), re = B(0.0), rex = B(0.0), re2 = B(0.0), ll = B(0.0);
};

/// NB batches of power_lapse's loop, statement by statement so that their dependency chains
/// (an exp, a log and a division each) overlap.
template <int NB>
inline void power_lapse_block(std::size_t i, const double* x, const double* y, const double* wt, B lk, B w, B c0, B hiv,
                              B l1m, B mb, PowerLapseAcc* acc, double* trial_ll) {
  B xi[NB], yi[NB], wi[NB], e[NB], ma[NB], t[NB], opt[NB];
  for (int v = 0; v < NB; ++v) {
    const std::size_t o = i + std::size_t(v) * L;
    xi[v] = B::load_unaligned(x + o);
    yi[v] = B::load_unaligned(y + o);
    wi[v] = B::load_unaligned(wt + o);
    e[v] = yi[v] - xsimd::fma(w, xi[v], lk);
    ma[v] = l1m + xsimd::fnma(hiv * e[v], e[v], c0);
    t[v] = exp_d(-xsimd::abs(ma[v] - mb));  // the smaller term over the larger, in (0, 1]
    opt[v] = B(1.0) + t[v];
  }
  for (int v = 0; v < NB; ++v) {
    const auto actor = ma[v] >= mb;
    const B lli = xsimd::max(ma[v], mb) + log_d(opt[v]) - yi[v];
    const B rho = xsimd::select(actor, B(1.0), t[v]) / opt[v];
    const B wr = wi[v] * rho;
    PowerLapseAcc& a = acc[v];
    a.w += wi[v];
    a.r += wr;
    a.re = xsimd::fma(wr, e[v], a.re);
    a.rex = xsimd::fma(wr * e[v], xi[v], a.rex);
    a.re2 = xsimd::fma(wr * e[v], e[v], a.re2);
    a.ll = xsimd::fma(wi[v], lli, a.ll);
    if (trial_ll) lli.store_unaligned(trial_ll + i + std::size_t(v) * L);
  }
}

} // namespace

double power_lapse(const PowerHead& h, std::size_t n, const double* x, const double* y, const double* wt, double sig,
                   double sr, const LapseMix& mix, PowerLapseSums& g, double* trial_ll) {
  // Per trial e = y - log_k - w x, v = sigma_r^2 + w^2 sigma^2: the actor's log-density is
  // A - y with A = -log(2 pi v)/2 - e^2/(2v); the mixture's lse(a, b) - y with a = log(1 - eps)
  // + A and b = log eps - log width, computed as max(a, b) + log(1 + t), t = e^{-|a - b|};
  // rho = the actor's share, 1/(1 + t) or t/(1 + t). The gradient of Σ rho_i A_i needs Σ rho,
  // Σ rho e, Σ rho e x and Σ rho e^2 (one exp, one log and one division per trial).
  const double v = sr * sr + h.w * h.w * sig * sig, iv = 1.0 / v;
  const B lk(h.log_k), w(h.w), c0(-0.5 * std::log(2 * std::numbers::pi * v)), hiv(0.5 * iv), l1m(mix.log1m_eps),
      mb(mix.log_eps_cont);
  constexpr int NB = 4;
  PowerLapseAcc acc[NB];
  std::size_t i = 0;
  for (; i + NB * L <= n; i += NB * L) power_lapse_block<NB>(i, x, y, wt, lk, w, c0, hiv, l1m, mb, acc, trial_ll);
  for (; i < n; i += L) power_lapse_block<1>(i, x, y, wt, lk, w, c0, hiv, l1m, mb, acc, trial_ll);
  for (int k = 1; k < NB; ++k) {
    acc[0].w += acc[k].w, acc[0].r += acc[k].r, acc[0].re += acc[k].re, acc[0].rex += acc[k].rex;
    acc[0].re2 += acc[k].re2, acc[0].ll += acc[k].ll;
  }
  const double nr = xsimd::hadd(acc[0].r), re = xsimd::hadd(acc[0].re), rex = xsimd::hadd(acc[0].rex),
               re2 = xsimd::hadd(acc[0].re2);
  const double dl_dv = 0.5 * (re2 * iv - nr) * iv;
  g.log_k += re * iv;
  g.w += rex * iv + dl_dv * 2 * h.w * sig * sig;
  g.sigma += dl_dv * 2 * h.w * h.w * sig;
  g.sigma_r += dl_dv * 2 * sr;
  g.rho += nr;
  g.n += xsimd::hadd(acc[0].w);
  return xsimd::hadd(acc[0].ll);
}

} // namespace bactor::detail
