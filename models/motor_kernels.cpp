// SPDX-License-Identifier: MIT
#include "models/motor_kernels.hpp"

#include "engine/simd_math.hpp"
#include <bactor/engine/tape.hpp>  // BACTOR_ASSERT, which chebyshev.hpp uses
#include "models/chebyshev.hpp"
#include "models/softplus_simd.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <type_traits>

namespace bactor::detail {

namespace {

using B = xsimd::batch<double>;
using M = xsimd::batch_bool<double>;
constexpr std::size_t L = B::size;

using simd_head::exp_d;
using simd_head::log_d;

// ---- heads, lane-wise: log a(u), d log a/du, d log a/d(parameters), d^2 log a/du^2, inverse ----

/// log a(u) = log_k + w u.
struct PowerLanes {
  static constexpr int np = 2;
  B lk, w;
  bool invertible;
  explicit PowerLanes(const PowerHead& h) : lk(h.log_k), w(h.w), invertible(h.w > 0) {}
  void eval(B u, B& la, B& dla, B* dp, B& d2) const {
    la = xsimd::fma(w, u, lk);
    dla = w;
    dp[0] = B(1.0);
    dp[1] = u;
    d2 = B(0.0);
  }
  /// The u with log a(u) = y and the slope there (PowerHead::inverse); ok lanes.
  M inverse(B y, B& u, B& slope) const {
    u = (y - lk) / w;
    slope = w;
    return M(invertible);
  }
};

/// a = softplus(k e^{w u} + x2), by the softplus kernels' own lane-wise evaluation.
struct SoftplusLanes {
  static constexpr int np = 3;
  SoftplusHead h;
  explicit SoftplusLanes(const SoftplusHead& head) : h(head) {}
  void eval(B u, B& la, B& dla, B* dp, B& d2) const {
    B dpp[1][3];
    simd_head::eval<1, true>(h, &u, &la, &dla, dpp, &d2);
    dp[0] = dpp[0][0], dp[1] = dpp[0][1], dp[2] = dpp[0][2];
  }
  M inverse(B y, B& u, B& slope) const {
    if (!(h.k > 0 && h.w > 0)) return M(false);
    const B Y = exp_d(y), q = B(1.0) - exp_d(-Y);  // q = sigmoid(t) where la(u) = y
    const B ke = Y + log_d(q) - B(h.x2);            // k e^{w u} there
    u = log_d(ke / B(h.k)) / B(h.w);
    slope = q * ke * B(h.w) * exp_d(-y);
    return (q > B(0.0)) & (ke > B(1e-300)) & (Y < B(1e300));
  }
};

template <class Head>
using HeadLanes = std::conditional_t<std::is_same_v<Head, PowerHead>, PowerLanes, SoftplusLanes>;

// ---- motor densities, lane-wise (the policies of models/motor.hpp) ----------------------------

/// A trial's constants (MotorTrial) lane-wise.
struct TrialLanes {
  B rr, lr, y0, prec0;
  M valid, guess;
};
/// log p(r | la) and its derivatives (MotorEval) lane-wise.
struct EvalLanes {
  B l, dl, d2l, dsr, dsa, ddelta;
};

const B hl2pi(half_log_2pi);

/// LognormalMotor: log r' ~ N(la, sr^2), r' = r - delta > 0.
struct LognormalLanes {
  B sr, ir2, c;
  explicit LognormalLanes(const MotorParams& p) : sr(p.sr), ir2(1.0 / (p.sr * p.sr)), c(-std::log(p.sr) - half_log_2pi) {}
  TrialLanes prepare(B r, B delta) const {
    TrialLanes t;
    t.rr = r - delta;
    t.valid = t.guess = t.rr > B(0.0);
    t.lr = log_d(xsimd::select(t.valid, t.rr, B(1.0)));
    t.y0 = t.lr;
    t.prec0 = ir2;
    return t;
  }
  EvalLanes eval(const TrialLanes& t, B la) const {
    const B e = t.lr - la, eir2 = e * ir2;
    EvalLanes v;
    v.l = xsimd::fnma(B(0.5) * e, eir2, c) - t.lr;
    v.dl = eir2;
    v.d2l = -ir2;
    v.dsr = xsimd::fms(e, eir2, B(1.0)) / sr;
    v.dsa = B(0.0);
    v.ddelta = (eir2 + B(1.0)) / t.rr;
    return v;
  }
};

/// GeneralizedMotor: log r' ~ N(la, v), v = sr^2 + sa^2 e^{-2 la}.
struct GeneralizedLanes {
  B sr, sa, sr2, sa2;
  explicit GeneralizedLanes(const MotorParams& p) : sr(p.sr), sa(p.sa), sr2(p.sr * p.sr), sa2(p.sa * p.sa) {}
  TrialLanes prepare(B r, B delta) const {
    TrialLanes t;
    t.rr = r - delta;
    t.valid = t.guess = t.rr > B(0.0);
    const B rr = xsimd::select(t.valid, t.rr, B(1.0));
    t.lr = log_d(rr);
    t.y0 = t.lr;
    t.prec0 = B(1.0) / (sr2 + sa2 / (rr * rr));
    return t;
  }
  EvalLanes eval(const TrialLanes& t, B la) const {
    // As GeneralizedMotor::eval: A = dl/dv, dv/dla = dq/dla = -2q.
    const B g = exp_d(B(-2.0) * la), q = sa2 * g, v = sr2 + q, iv = B(1.0) / v;
    const B e = t.lr - la, eiv = e * iv, iv2 = iv * iv;
    const B A = B(0.5) * xsimd::fms(e, eiv, B(1.0)) * iv;
    const B dA = -eiv * iv + (eiv * eiv * iv - B(0.5) * iv2) * B(2.0) * q;
    EvalLanes m;
    m.l = -B(0.5) * e * eiv - B(0.5) * log_d(v) - hl2pi - t.lr;
    m.dl = eiv - B(2.0) * q * A;
    m.d2l = -iv + B(2.0) * q * (eiv * iv + B(2.0) * A - dA);
    m.dsr = B(2.0) * sr * A;
    m.dsa = B(2.0) * sa * g * A;
    m.ddelta = (eiv + B(1.0)) / t.rr;
    return m;
  }
};

/// GaussianMotor: r - delta ~ N(e^{la}, sa^2).
struct GaussianLanes {
  B sa, is2, c;
  explicit GaussianLanes(const MotorParams& p) : sa(p.sa), is2(1.0 / (p.sa * p.sa)), c(-std::log(p.sa) - half_log_2pi) {}
  TrialLanes prepare(B r, B delta) const {
    TrialLanes t;
    t.rr = r - delta;
    t.valid = M(true);
    t.guess = t.rr > B(0.0);
    t.lr = log_d(xsimd::select(t.guess, t.rr, B(1.0)));
    t.y0 = t.lr;
    t.prec0 = t.rr * t.rr * is2;
    return t;
  }
  EvalLanes eval(const TrialLanes& t, B la) const {
    const B E = exp_d(la), d = t.rr - E, dis2 = d * is2;
    EvalLanes m;
    m.l = xsimd::fnma(B(0.5) * d, dis2, c);
    m.dl = dis2 * E;
    m.d2l = E * (dis2 - E * is2);
    m.dsr = B(0.0);
    m.dsa = xsimd::fms(d, dis2, B(1.0)) / sa;
    m.ddelta = dis2;
    return m;
  }
};

template <class Motor>
using MotorLanes = std::conditional_t<std::is_same_v<Motor, LognormalMotor>, LognormalLanes,
                                      std::conditional_t<std::is_same_v<Motor, GeneralizedMotor>, GeneralizedLanes, GaussianLanes>>;

/// A lapse mixture lane-wise: the actor's log-density la of a response r (ok lanes; -inf
/// elsewhere) mixed with the contaminant's (uniform in log r for the log-normal families, in r
/// for the gaussian one); rho = the actor's responsibility (0 where not ok).
template <class ML>
struct LapseLanes {
  B l1m, lec;
  explicit LapseLanes(const LapseMix& m) : l1m(m.log1m_eps), lec(m.log_eps_cont) {}
  void mix(B la, B r, M ok, B& lp, B& rho) const {
    const B lc = std::is_same_v<ML, GaussianLanes> ? lec : lec - log_d(r);
    const B ma = xsimd::select(ok, l1m + la, B(-INFINITY));
    const B mx = xsimd::max(ma, lc);
    const B ea = exp_d(ma - mx), tot = ea + exp_d(lc - mx);
    lp = mx + log_d(tot);
    rho = xsimd::select(ok, ea / tot, B(0.0));
  }
};

// ---- the adaptive Gauss–Hermite marginal, one trial per lane -------------------------------

/// Sums of one batch of lanes.
struct Acc {
  B ll = B(0.0), gs = B(0.0), cnt = B(0.0), sr = B(0.0), sa = B(0.0), del = B(0.0), rho = B(0.0);
  B head[3] = {B(0.0), B(0.0), B(0.0)};
};

/// NB batches of trials at once, statement by statement (their dependency chains overlap).
template <int NB, bool Lapse, class HL, class ML>
inline void marginal_block(const HL& hl, const ML& ml, std::size_t i, const double* x, const double* r, const double* wt,
                           B delta, double sig, const GaussHermite& rule, Acc* acc, double* trial_ll,
                           const LapseLanes<ML>* lapse) {
  constexpr int np = HL::np;
  const double is2 = 1.0 / (sig * sig);
  const B vis2(is2), lim(3 * sig), span(8 * sig), half(0.5);
  B xi[NB], wi[NB], d[NB], la[NB], dla[NB], dp[NB][np], d2[NB], curv[NB];
  TrialLanes t[NB];
  EvalLanes me[NB];
  // Start (motor_trial_loglik): the mode with la linearised at its inverse at the motor
  // density's peak y0, weighted by the density's curvature there; the state is d = u - x.
  for (int v = 0; v < NB; ++v) {
    const std::size_t o = i + std::size_t(v) * L;
    xi[v] = B::load_unaligned(x + o);
    wi[v] = B::load_unaligned(wt + o);
    t[v] = ml.prepare(B::load_unaligned(r + o), delta);
    B ui, b;
    const M ok = hl.inverse(t[v].y0, ui, b) & t[v].guess;
    const B pb = b * b * t[v].prec0;
    const B d0 = (ui - xi[v]) * (pb / (vis2 + pb));
    d[v] = xsimd::select(ok, xsimd::min(xsimd::max(d0, -span), span), B(0.0));
  }
  // Newton steps to the mode, per lane until its step is below the tolerance (a stopped lane is
  // re-evaluated at the same point while others go on); the last evaluation gives the curvature.
  const B tol2(newton_tolerance * newton_tolerance);
  M active[NB];
  for (int v = 0; v < NB; ++v) active[v] = M(true);
  for (int it = 0;; ++it) {
    bool more = false;
    for (int v = 0; v < NB; ++v) {
      hl.eval(xi[v] + d[v], la[v], dla[v], dp[v], d2[v]);
      me[v] = ml.eval(t[v], la[v]);
      const B dla2 = dla[v] * dla[v];
      const B full = vis2 - xsimd::fma(me[v].d2l, dla2, me[v].dl * d2[v]);
      curv[v] = xsimd::select(full > B(0.1 * is2), full, xsimd::fma(xsimd::abs(me[v].d2l), dla2, vis2));
      if (it < newton_max_steps) {
        const B grad = xsimd::fms(me[v].dl, dla[v], d[v] * vis2);
        const B step = xsimd::min(xsimd::max(grad / curv[v], -lim), lim);
        active[v] = active[v] & (step * step * curv[v] > tol2);
        d[v] = xsimd::select(active[v], d[v] + step, d[v]);
        more = more || xsimd::any(active[v]);
      }
    }
    if (!more) break;
  }
  // Nodes d + scale t_j; weights exp(f_j - g0) with the log integrand at the mode g0 as the
  // reference (one pass; with a good Laplace fit the terms are ~ w_j, far from overflow).
  B scale[NB], g0[NB], sum[NB], sdu2[NB], ssr[NB], ssa[NB], sdel[NB], shd[NB][np];
  for (int v = 0; v < NB; ++v) {
    scale[v] = xsimd::sqrt(B(2.0) / curv[v]);
    g0[v] = xsimd::fnma(half * d[v], d[v] * vis2, me[v].l);
    sum[v] = sdu2[v] = ssr[v] = ssa[v] = sdel[v] = B(0.0);
    for (int k = 0; k < np; ++k) shd[v][k] = B(0.0);
  }
  const int m = rule.size();
  for (int j = 0; j < m; ++j) {
    const B log_w(rule.log_w[std::size_t(j)]), tj(rule.t[std::size_t(j)]);
    for (int v = 0; v < NB; ++v) {
      const B du = xsimd::fma(scale[v], tj, d[v]);
      B laj, dlaj, dpj[np], d2j;
      hl.eval(xi[v] + du, laj, dlaj, dpj, d2j);
      const EvalLanes e = ml.eval(t[v], laj);
      const B du2 = du * du;
      const B p = exp_d(log_w + xsimd::fnma(half * du2, vis2, e.l) - g0[v]);
      sum[v] += p;
      sdu2[v] = xsimd::fma(p, du2, sdu2[v]);
      ssr[v] = xsimd::fma(p, e.dsr, ssr[v]);
      ssa[v] = xsimd::fma(p, e.dsa, ssa[v]);
      sdel[v] = xsimd::fma(p, e.ddelta, sdel[v]);
      const B pdl = p * e.dl;
      for (int k = 0; k < np; ++k) shd[v][k] = xsimd::fma(pdl, dpj[k], shd[v][k]);
    }
  }
  const B lsig(std::log(sig));
  for (int v = 0; v < NB; ++v) {
    Acc& a = acc[v];
    const M ok = t[v].valid & (sum[v] > B(0.0)) & xsimd::isfinite(g0[v]) & xsimd::isfinite(sum[v]);
    B lli = xsimd::select(ok, g0[v] + log_d(xsimd::select(ok, sum[v] * scale[v], B(1.0))) - hl2pi - lsig, B(-INFINITY));
    B wrho = xsimd::select(ok, wi[v], B(0.0));  // the trial's weight in the actor's gradient
    if constexpr (Lapse) {
      B rho;
      lapse->mix(lli, t[v].rr + delta, ok, lli, rho);
      wrho *= rho;
      a.rho += wrho;
    }
    const B wn = xsimd::select(ok, wrho / sum[v], B(0.0));
    a.ll += xsimd::select(wi[v] > B(0.0), wi[v] * lli, B(0.0));
    a.cnt += wrho;
    a.gs = xsimd::fma(wn, sdu2[v], a.gs);
    a.sr = xsimd::fma(wn, ssr[v], a.sr);
    a.sa = xsimd::fma(wn, ssa[v], a.sa);
    a.del = xsimd::fma(wn, sdel[v], a.del);
    for (int k = 0; k < np; ++k) a.head[k] = xsimd::fma(wn, shd[v][k], a.head[k]);
    if (trial_ll) lli.store_unaligned(trial_ll + i + std::size_t(v) * L);
  }
}

/// Adds the batches' sums into acc[0].
template <int NB>
void reduce(Acc* acc) {
  for (int v = 1; v < NB; ++v) {
    acc[0].ll += acc[v].ll, acc[0].gs += acc[v].gs, acc[0].cnt += acc[v].cnt, acc[0].sr += acc[v].sr;
    acc[0].sa += acc[v].sa, acc[0].del += acc[v].del, acc[0].rho += acc[v].rho;
    for (int k = 0; k < 3; ++k) acc[0].head[k] += acc[v].head[k];
  }
}

} // namespace

template <class Head, class Motor>
double motor_marginal(const Head& h, std::size_t n, const double* x, const double* r, const double* wt, double sig,
                      const MotorParams& mp, const GaussHermite& rule, MotorSums& g, double* trial_ll,
                      const LapseMix* mix) {
  using ML = MotorLanes<Motor>;
  const HeadLanes<Head> hl(h);
  const ML ml(mp);
  const B delta(mp.delta);
  // Two batches in flight; the per-batch state (rule evaluations with their derivatives) is
  // larger than the softplus marginal's, which keeps four.
  constexpr int NB = 2;
  Acc acc[NB];
  std::size_t i = 0;
  if (mix) {
    const LapseLanes<ML> lapse(*mix);
    for (; i + NB * L <= n; i += NB * L)
      marginal_block<NB, true>(hl, ml, i, x, r, wt, delta, sig, rule, acc, trial_ll, &lapse);
    for (; i < n; i += L) marginal_block<1, true>(hl, ml, i, x, r, wt, delta, sig, rule, acc, trial_ll, &lapse);
  } else {
    const LapseLanes<ML>* no_lapse = nullptr;
    for (; i + NB * L <= n; i += NB * L)
      marginal_block<NB, false>(hl, ml, i, x, r, wt, delta, sig, rule, acc, trial_ll, no_lapse);
    for (; i < n; i += L) marginal_block<1, false>(hl, ml, i, x, r, wt, delta, sig, rule, acc, trial_ll, no_lapse);
  }
  reduce<NB>(acc);
  const double ll = xsimd::hadd(acc[0].ll);
  if (!std::isfinite(ll)) return ll;
  const double is2 = 1.0 / (sig * sig);
  g.sigma += xsimd::hadd(acc[0].gs) * is2 / sig - xsimd::hadd(acc[0].cnt) / sig;
  g.sigma_r += xsimd::hadd(acc[0].sr);
  g.sa += xsimd::hadd(acc[0].sa);
  g.delta += xsimd::hadd(acc[0].del);
  g.rho += xsimd::hadd(acc[0].rho);
  for (int k = 0; k < HeadLanes<Head>::np; ++k) g.head[k] += xsimd::hadd(acc[0].head[k]);
  return ll;
}

template double motor_marginal<PowerHead, LognormalMotor>(const PowerHead&, std::size_t, const double*, const double*,
                                                          const double*, double, const MotorParams&,
                                                          const GaussHermite&, MotorSums&, double*, const LapseMix*);
template double motor_marginal<PowerHead, GeneralizedMotor>(const PowerHead&, std::size_t, const double*, const double*,
                                                            const double*, double, const MotorParams&,
                                                            const GaussHermite&, MotorSums&, double*, const LapseMix*);
template double motor_marginal<PowerHead, GaussianMotor>(const PowerHead&, std::size_t, const double*, const double*,
                                                         const double*, double, const MotorParams&,
                                                         const GaussHermite&, MotorSums&, double*, const LapseMix*);
template double motor_marginal<SoftplusHead, LognormalMotor>(const SoftplusHead&, std::size_t, const double*,
                                                             const double*, const double*, double, const MotorParams&,
                                                             const GaussHermite&, MotorSums&, double*, const LapseMix*);
template double motor_marginal<SoftplusHead, GeneralizedMotor>(const SoftplusHead&, std::size_t, const double*,
                                                               const double*, const double*, double,
                                                               const MotorParams&, const GaussHermite&, MotorSums&,
                                                               double*, const LapseMix*);
template double motor_marginal<SoftplusHead, GaussianMotor>(const SoftplusHead&, std::size_t, const double*,
                                                            const double*, const double*, double, const MotorParams&,
                                                            const GaussHermite&, MotorSums&, double*, const LapseMix*);

double lognormal_offset_marginal(const PowerHead& h, std::size_t n, const double* x, const double* r, const double* wt,
                                 double sig, const MotorParams& mp, MotorSums& g, double* trial_ll, const LapseMix* mix) {
  // Per trial e = log(r - delta) - log_k - w x, v = sr^2 + w^2 sigma^2: log p = c - e^2/(2v) -
  // log(r - delta); the gradient needs Σ e, Σ e x, Σ e^2 and Σ (e/v + 1)/(r - delta).
  const double v = mp.sr * mp.sr + h.w * h.w * sig * sig, iv = 1.0 / v;
  const B lk(h.log_k), w(h.w), delta(mp.delta), viv(iv), c(-0.5 * std::log(2 * std::numbers::pi * v));
  const LapseLanes<LognormalLanes> lapse(mix ? *mix : LapseMix{});
  B se(0.0), sex(0.0), se2(0.0), sw(0.0), sdel(0.0), ll(0.0), srho(0.0);
  for (std::size_t i = 0; i < n; i += L) {
    const B xi = B::load_unaligned(x + i), wi = B::load_unaligned(wt + i), ri = B::load_unaligned(r + i);
    const B rr = ri - delta;
    const M ok = rr > B(0.0);
    const B yl = log_d(xsimd::select(ok, rr, B(1.0)));
    const B e = yl - xsimd::fma(w, xi, lk);
    B lli = xsimd::select(ok, xsimd::fnma(B(0.5) * e, e * viv, c) - yl, B(-INFINITY));
    B wr = xsimd::select(ok, wi, B(0.0));  // the trial's weight in the actor's gradient
    if (mix) {
      B rho;
      lapse.mix(lli, ri, ok, lli, rho);
      wr *= rho;
      srho += wr;
    }
    ll += xsimd::select(wi > B(0.0), wi * lli, B(0.0));
    const B we = wr * e;
    se += we;
    sex = xsimd::fma(we, xi, sex);
    se2 = xsimd::fma(we, e, se2);
    sw += wr;
    sdel += xsimd::select(ok, wr * xsimd::fma(e, viv, B(1.0)) / rr, B(0.0));
    if (trial_ll) lli.store_unaligned(trial_ll + i);
  }
  const double total = xsimd::hadd(ll);
  if (!std::isfinite(total)) return total;
  const double ne = xsimd::hadd(se), nex = xsimd::hadd(sex), ne2 = xsimd::hadd(se2), nw = xsimd::hadd(sw);
  const double dl_dv = 0.5 * (ne2 * iv - nw) * iv;
  g.head[0] += ne * iv;
  g.head[1] += nex * iv + dl_dv * 2 * h.w * sig * sig;
  g.sigma += dl_dv * 2 * h.w * h.w * sig;
  g.sigma_r += dl_dv * 2 * mp.sr;
  g.delta += xsimd::hadd(sdel);
  g.rho += xsimd::hadd(srho);
  return total;
}

OffsetSums::OffsetSums(std::size_t n, const double* x, const double* r, const double* wt) {
  std::vector<double> xs, ds, ws;
  r_min_ = INFINITY;
  for (std::size_t i = 0; i < n; ++i)
    if (wt[i] > 0) r_min_ = std::min(r_min_, r[i]);
  if (!(r_min_ > 0) || !std::isfinite(r_min_)) return;  // responses <= 0: no log-normal data
  for (std::size_t i = 0; i < n; ++i) {
    if (!(wt[i] > 0)) continue;
    xs.push_back(x[i]);
    ds.push_back(r[i] - r_min_);
    ws.push_back(wt[i]);
    n_ += wt[i];
    sx_ += wt[i] * x[i];
    sxx_ += wt[i] * x[i] * x[i];
  }
  t_hi_ = std::log(4 * r_min_);         // delta >= -3 r_min
  t_lo_ = std::log(r_min_) - 18.0;      // r_min - delta >= e^-18 r_min
  pieces_ = std::size_t(std::ceil((t_hi_ - t_lo_) / width));
  t_lo_ = t_hi_ - double(pieces_) * width;
  // The three sums at a point t, summed with compensation-free doubles (n terms of similar size).
  auto sums = [&](double t, double out[3]) {
    const double et = std::exp(t);
    double s1 = 0, s2 = 0, s3 = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const double y = ds[i] == 0 ? t : std::log(ds[i] + et);
      s1 += ws[i] * y;
      s2 += ws[i] * y * y;
      s3 += ws[i] * xs[i] * y;
    }
    out[0] = s1, out[1] = s2, out[2] = s3;
  };
  constexpr int K = points;
  std::vector<double> c(pieces_ * K * 6, 0.0);
  std::vector<double> f[3];
  for (auto& v : f) v.resize(K);
  for (std::size_t p = 0; p < pieces_; ++p) {
    const double lo = t_lo_ + double(p) * width;
    for (int k = 0; k < K; ++k) {
      double o[3];
      sums(lo + 0.5 * width * (1 + cheb_point(k, K)), o);
      for (int j = 0; j < 3; ++j) f[j][k] = o[j];
    }
    for (int j = 0; j < 3; ++j) {
      const std::vector<double> cj = cheb_coeffs(f[j]), dj = cheb_derivative(cj);
      // The series must have converged: its last coefficients below 1e-13 of its size (checked,
      // not assumed: else the per-trial loop serves every call).
      double size = 1;
      for (double v : f[j]) size = std::max(size, std::abs(v));
      if (std::max(std::abs(cj[K - 1]), std::abs(cj[K - 2])) > 1e-13 * size) {
        coeffs_.clear();
        return;
      }
      for (int k = 0; k < K; ++k) {
        c[(p * K + k) * 6 + j] = cj[k];
        c[(p * K + k) * 6 + 3 + j] = dj[k] * (2 / width);
      }
    }
  }
  coeffs_ = std::move(c);
}

bool OffsetSums::marginal(const PowerHead& h, double sig, const MotorParams& mp, MotorSums& g, double& ll) const {
  if (coeffs_.empty()) return false;
  const double gap = r_min_ - mp.delta;
  if (!(gap > 0)) return false;
  const double t = std::log(gap);
  if (!(t >= t_lo_ && t <= t_hi_)) return false;
  const std::size_t p = std::min(pieces_ - 1, std::size_t((t - t_lo_) / width));
  const double lo = t_lo_ + double(p) * width;
  const double tau = (2 * (t - lo) - width) / width;
  // Six series at tau by Clenshaw's recurrence, side by side.
  constexpr int K = points;
  const double* c = coeffs_.data() + p * K * 6;
  double b1[6] = {}, b2[6] = {};
  for (int k = K - 1; k >= 1; --k)
    for (int j = 0; j < 6; ++j) {
      const double b0 = c[k * 6 + j] + 2 * tau * b1[j] - b2[j];
      b2[j] = b1[j];
      b1[j] = b0;
    }
  double v[6];
  for (int j = 0; j < 6; ++j) v[j] = 0.5 * c[j] + tau * b1[j] - b2[j];
  PowerStats st;
  st.n = n_;
  st.sx = sx_;
  st.sxx = sxx_;
  st.sy = v[0];
  st.syy = v[1];
  st.sxy = v[2];
  PowerGrad pg;
  ll = power_loglik(h, st, sig, mp.sr, pg);
  if (!std::isfinite(ll)) return false;
  // d ll / d(sy, syy, sxy) from power_loglik's expression, times d sums/dt, times dt/d delta.
  const double vv = mp.sr * mp.sr + h.w * h.w * sig * sig;
  const double dsy = h.log_k / vv - 1, dsyy = -0.5 / vv, dsxy = h.w / vv;
  g.head[0] += pg.log_k;
  g.head[1] += pg.w;
  g.sigma += pg.sigma;
  g.sigma_r += pg.sigma_r;
  g.delta += -(dsy * v[3] + dsyy * v[4] + dsxy * v[5]) / gap;
  return true;
}

} // namespace bactor::detail
