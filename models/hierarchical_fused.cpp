// SPDX-License-Identifier: MIT
#include "models/hierarchical_fused.hpp"

#include "engine/simd_math.hpp"
#include "models/hierarchical_node.hpp"
#include "models/likelihood_plan.hpp"

#include <bactor/engine/errors.hpp>
#include "engine/tape_view.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>
#include <stdexcept>
#include <string>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace bactor::detail {

namespace {

using B = xsimd::batch<double>;
using I = xsimd::batch<std::int64_t>;
constexpr std::size_t L = B::size;
using F = FusedPieces;

/// The per-subject constants, one field per array (structure of arrays, padded to L).
enum Const : std::size_t { c_n, c_sx, c_sy, c_sxx, c_sxy, c_syy, c_iw, c_wt, n_consts };

/// A group's population quantities that the subjects read (the per-subject pieces hold their
/// adjoints, F::g_m_mu .. F::g_iT2, in the same order).
enum GroupQ : std::size_t { m_mu, itau_mu, m_r, tau_r, m_s, dm, c_ridge, S_ridge, iT2, n_group_q };

/// How a subject's log mu_0 is sampled (PooledCoord): through its intercept kappa_j = loc + x_j
/// (aligned), log mu_0 = loc + x_j centred, or log mu_0 = m + tau z_j non-centred.
enum MuCoord : int { mu_intercept, mu_centred, mu_noncentred };

/// 2 x with |x| beyond which exp(2 x) leaves the range of exp_in_range: such subjects get NaN
/// (a divergence), as the generic path's overflow does.
constexpr double max_log = 350.0;

} // namespace

struct FusedCohort::Data {
  std::size_t J = 0, Jp = 0, G = 1, P = 4, nq = 0;
  std::size_t k_mu = 0, k_s0 = 0, k_r = 0, k_s = 0;  // pooled index of each role (= offset of its coordinate in a subject's block)
  MuCoord mu = mu_intercept;                          // how log mu_0 is sampled
  double loc_mu = 0, D0 = 0;                          // kappa (or log mu_0) = loc_mu + x_mu; d = D0 + x_s0
  double hyp = 1;                                     // hypot(scale_sigma, scale_sigma_0): the difference's mean's prior sd
  struct Prior {
    double loc = 0, scale = 1, sd = 0.5;
  } pri[4];                                           // per pooled index k
  std::vector<double> consts;                         // n_consts * Jp
  std::vector<std::int64_t> qbase, group;             // Jp each: subject's first coordinate; group index
  std::vector<std::size_t> group_q, group_n;          // per group: population block in q; its subject count
  bool contiguous = false;                            // see FusedCohort::contiguous
  int threads = 1;
  std::shared_ptr<SubjectExchange> exchange;
  mutable std::vector<double> gq;                     // n_group_q * G: the groups' quantities at the last q
  mutable std::vector<double> gsum;                   // G * n_sum: the totals of the blocks' sums

  const double* cst(Const c) const { return consts.data() + c * Jp; }
  /// The population constants (priors, groups) from the plan, once the roles are set.
  void population(const PopulationPlan& plan, const FusedLayout& layout);
  /// The subjects' constants (statistics, intercept slopes, where their coordinates are).
  void subjects(const PopulationPlan& plan, std::span<const PowerStats> stats, const FusedLayout& layout);
  /// Group g's population quantities at q into gq (GroupQ order, stride G).
  void group_quantities(const double* q, double* out) const;
};

// ---- construction -------------------------------------------------------------------------------

FusedCohort::FusedCohort(std::unique_ptr<Data> d) : d_(std::move(d)), pieces_(piece_size(), 0.0), sums_(sums_size(), 0.0) {}
FusedCohort::~FusedCohort() = default;

std::size_t FusedCohort::subjects() const { return d_->J; }
std::size_t FusedCohort::groups() const { return d_->G; }
std::size_t FusedCohort::padded() const { return d_->Jp; }
std::size_t FusedCohort::n_q() const { return d_->nq; }
std::size_t FusedCohort::subject_q(std::size_t j) const { return std::size_t(d_->qbase[j]); }
bool FusedCohort::contiguous() const { return d_->contiguous; }

namespace {

/// The pooled indices of the four actor parameters when the fused path covers the plan and the
/// likelihood: the QuadraticCost closed form with the exact marginal, the four pooled in the
/// aligned coordinates (the sigma / sigma_0 ridge, sigma_r non-centred, mu_0 through the
/// intercept, centred or non-centred: `aligned` and `centred-mu0`), nothing shared or fixed.
struct Roles {
  int mu = -1, s = -1, s0 = -1, r = -1;
  MuCoord mu_coord = mu_centred;
};
std::optional<Roles> covered(const PopulationPlan& plan, const LikelihoodPlan& lik) {
  if (lik.source != SourceKind::closed_form || lik.closed_form != ClosedForm::quadratic || lik.sampled || lik.lapse ||
      !lik.motor.plain())
    return std::nullopt;
  if (plan.nt != 4 || plan.P() != 4 || !plan.shared.empty() || !plan.fixed.empty()) return std::nullopt;
  Roles r;
  for (std::size_t k = 0; k < 4; ++k) {
    const PooledSpec& p = plan.pooled[k];
    if (p.logit || p.linear) return std::nullopt;
    (p.theta == theta_index::mu_0 ? r.mu : p.theta == theta_index::sigma ? r.s : p.theta == theta_index::sigma_0 ? r.s0 : r.r) = int(k);
  }
  const auto coord = [&](int k) { return plan.pooled[std::size_t(k)].coord; };
  if (coord(r.s) != PooledCoord::ridge || plan.pooled[std::size_t(r.s)].partner != r.s0 ||
      coord(r.r) != PooledCoord::noncentred)
    return std::nullopt;
  switch (coord(r.mu)) {
  case PooledCoord::intercept:
    if (plan.intercept_w.size() != plan.J) return std::nullopt;
    r.mu_coord = mu_intercept;
    break;
  case PooledCoord::centred: r.mu_coord = mu_centred; break;
  case PooledCoord::noncentred: r.mu_coord = mu_noncentred; break;
  default: return std::nullopt;
  }
  return r;
}

} // namespace

std::unique_ptr<FusedCohort> FusedCohort::make(const PopulationPlan& plan, const LikelihoodPlan& lik,
                                               std::span<const PowerStats> stats, int threads,
                                               std::shared_ptr<SubjectExchange> exchange, const FusedLayout& layout) {
  const std::optional<Roles> roles = covered(plan, lik);
  if (!roles) return nullptr;
  BACTOR_ASSERT(stats.size() == plan.J && (layout.group.empty() || layout.group.size() == plan.J));
  BACTOR_ASSERT(layout.subject_q.empty() || layout.subject_q.size() == plan.J);
  auto d = std::make_unique<Data>();
  d->k_mu = std::size_t(roles->mu);
  d->k_s = std::size_t(roles->s);
  d->k_s0 = std::size_t(roles->s0);
  d->k_r = std::size_t(roles->r);
  d->mu = roles->mu_coord;
  d->population(plan, layout);
  d->subjects(plan, stats, layout);
#if defined(_OPENMP)
  d->threads = threads > 0 ? threads : omp_get_max_threads();
#else
  (void)threads;
#endif
  d->exchange = std::move(exchange);
  std::unique_ptr<FusedCohort> c(new FusedCohort(std::move(d)));
  if (c->d_->exchange) c->d_->exchange->attach(*c);
  return c;
}

void FusedCohort::Data::population(const PopulationPlan& plan, const FusedLayout& layout) {
  for (std::size_t k = 0; k < 4; ++k) pri[k] = {plan.pooled[k].loc, plan.pooled[k].scale, plan.pooled[k].sd_scale};
  nq = layout.n_q ? layout.n_q : plan.n_q();
  loc_mu = pri[k_mu].loc;
  D0 = pri[k_s0].loc - pri[k_s].loc;
  hyp = std::hypot(pri[k_s].scale, pri[k_s0].scale);
  group_q = layout.group_q.empty() ? std::vector<std::size_t>{0} : layout.group_q;
  G = group_q.size();
  for (std::size_t g = 0; g < G; ++g) BACTOR_ASSERT(group_q[g] + 2 * P <= nq);
  gq.assign(n_group_q * G, 0.0);
  gsum.assign(FusedCohort::n_sum * G, 0.0);
}

void FusedCohort::Data::subjects(const PopulationPlan& plan, std::span<const PowerStats> stats, const FusedLayout& layout) {
  J = plan.J;
  Jp = (J + L - 1) / L * L;
  group_n.assign(G, 0);
  consts.assign(n_consts * Jp, 0.0);
  qbase.assign(Jp, 0);
  group.assign(Jp, 0);
  for (std::size_t j = 0; j < Jp; ++j) {
    const std::size_t src = std::min(j, J - 1);  // padding repeats the last subject with weight 0
    const PowerStats& st = stats[src];
    const double v[n_consts] = {st.n, st.sx, st.sy, st.sxx, st.sxy, st.syy,
                                mu == mu_intercept ? 1.0 / (1.0 - plan.intercept_w[src]) : 1.0,
                                j < J ? 1.0 : 0.0};
    for (std::size_t c = 0; c < n_consts; ++c) consts[c * Jp + j] = v[c];
    qbase[j] = std::int64_t(layout.subject_q.empty() ? plan.subject_q(src, 0) : layout.subject_q[src]);
    BACTOR_ASSERT(std::size_t(qbase[j]) + P <= nq);
    const std::uint32_t g = layout.group.empty() ? 0 : layout.group[src];
    BACTOR_ASSERT(g < G);
    group[j] = std::int64_t(g);
    if (j < J) ++group_n[g];
  }
  contiguous = true;
  for (std::size_t j = 0; j < J; ++j) contiguous = contiguous && qbase[j] == qbase[0] + std::int64_t(4 * j);
  for (std::size_t g = 0; g < G; ++g) contiguous = contiguous && group_q[g] + 2 * P <= std::size_t(qbase[0]);
}

// ---- the population level -----------------------------------------------------------------------

void FusedCohort::Data::group_quantities(const double* q, double* out) const {
  for (std::size_t g = 0; g < G; ++g) {
    const double* qm = q + group_q[g];
    const double* qt = qm + P;
    const double t_mu = pri[k_mu].sd * std::exp(qt[k_mu]), t_r = pri[k_r].sd * std::exp(qt[k_r]);
    const double t1 = pri[k_s].sd * std::exp(qt[k_s]), t2 = pri[k_s0].sd * std::exp(qt[k_s0]);
    const double T2 = t1 * t1 + t2 * t2, iT = 1.0 / std::sqrt(T2);
    out[m_mu * G + g] = pri[k_mu].loc + pri[k_mu].scale * qm[k_mu];
    out[itau_mu * G + g] = 1.0 / t_mu;
    out[m_r * G + g] = pri[k_r].loc + pri[k_r].scale * qm[k_r];
    out[tau_r * G + g] = t_r;
    out[m_s * G + g] = pri[k_s].loc + pri[k_s].scale * qm[k_s];
    // sigma_0's mean relative to sigma's (PopulationPass::population_means): m_s0 - m_s.
    out[dm * G + g] = D0 + hyp * qm[k_s0];
    out[c_ridge * G + g] = t1 * t1 / T2;
    out[S_ridge * G + g] = t1 * t2 * iT;
    out[iT2 * G + g] = 1.0 / T2;
  }
}

// ---- the subjects' pieces -----------------------------------------------------------------------

namespace {

/// One batch of L subjects starting at j: forward through the aligned coordinates, the
/// closed-form head and the exact marginal, then the reverse sweep (derivatives beside each
/// step, in reverse order), into the pieces' fields.
template <bool Multi, MuCoord Mu>
inline void subject_batch(const FusedCohort::Data& d, const double* q, const double* gq, std::size_t j, double* out) {
  const std::size_t Jp = d.Jp, G = d.G;
  const I qb = I::load_unaligned(d.qbase.data() + j);
  const B x_mu = B::gather(q + d.k_mu, qb), x_s0 = B::gather(q + d.k_s0, qb);
  const B x_r = B::gather(q + d.k_r, qb), x_s = B::gather(q + d.k_s, qb);
  B gv[n_group_q];
  if constexpr (Multi) {
    const I gi = I::load_unaligned(d.group.data() + j);
    for (std::size_t k = 0; k < n_group_q; ++k) gv[k] = B::gather(gq + k * G, gi);
  } else {
    for (std::size_t k = 0; k < n_group_q; ++k) gv[k] = B(gq[k]);
  }
  auto cst = [&](Const c) { return B::load_unaligned(d.cst(c) + j); };
  const B n = cst(c_n), sx = cst(c_sx), sy = cst(c_sy), sxx = cst(c_sxx), sxy = cst(c_sxy), syy = cst(c_syy);
  const B iw = cst(c_iw), wt = cst(c_wt);
  const B one(1.0), half(0.5), two(2.0);

  // Forward. The ridge pair: d = log sigma_0 - log sigma, delta its offset from the population's,
  // log sigma given d; w = sigma_0^2 / (sigma^2 + sigma_0^2) = sigmoid(2 d).
  const B dd = B(d.D0) + x_s0;
  const B delta = dd - gv[dm];
  const B ls = xsimd::fma(gv[S_ridge], x_s, xsimd::fnma(gv[c_ridge], delta, gv[m_s]));
  const B lr = xsimd::fma(gv[tau_r], x_r, gv[m_r]);
  const B s2 = simd::exp_in_range(two * ls), r2 = simd::exp_in_range(two * lr);
  const B w = one / (one + simd::exp_in_range(-two * dd));
  const B ws2 = w * s2;  // sigma_post^2
  // log mu_0 through the intercept kappa (a constant scale iw = 1 / (1 - w_hat)), centred, or
  // non-centred (m + tau z); e is the standardised coordinate whose N(0, 1) density enters.
  constexpr bool Intercept = Mu == mu_intercept, Noncentred = Mu == mu_noncentred;
  const B t_mu = Noncentred ? one / gv[itau_mu] : B(0.0);
  const B A = Intercept ? B(d.loc_mu) + x_mu - half * ws2 + B(1.5) * r2 : B(d.loc_mu) + x_mu;
  const B lmu = Noncentred ? xsimd::fma(t_mu, x_mu, gv[m_mu]) : Intercept ? A * iw : A;
  const B e = Noncentred ? x_mu : (lmu - gv[m_mu]) * gv[itau_mu];
  // The head log a = lk + w u and the exact marginal y ~ N(lk + w x, v), v = sigma_r^2 + w^2 sigma^2.
  const B lk = xsimd::fma(one - w, lmu, half * ws2) - B(1.5) * r2;
  const B v = xsimd::fma(w, ws2, r2);
  const B iv = one / v;
  const B a = xsimd::fma(w, sx, xsimd::fms(n, lk, sy));    // dQ/dlk / 2
  const B b = xsimd::fma(lk, sx, xsimd::fms(w, sxx, sxy));  // dQ/dw / 2
  const B Q = xsimd::fma(w, b, xsimd::fma(lk, a, syy - lk * sy - w * sxy));  // Σ (y - lk - w x)^2
  const B ll = -half * n * (B(std::log(2 * std::numbers::pi)) + simd::log_normal(v)) - half * Q * iv - sy;
  const B lp = -half * (delta * delta * gv[iT2] + x_s * x_s + x_r * x_r + e * e);
  // Outside the exponentials' range: NaN, a divergence (as the generic path's overflow).
  const auto bad = (xsimd::abs(ls) > B(max_log)) | (xsimd::abs(lr) > B(max_log)) | (xsimd::abs(dd) > B(max_log));
  const B value = xsimd::select(bad, B(std::numeric_limits<double>::quiet_NaN()), wt * (ll + lp));

  // Reverse sweep of the same chain.
  const B g_lk = -iv * a;
  const B g_v = half * xsimd::fms(Q, iv, n) * iv;
  B g_w = xsimd::fma(g_v * two, ws2, -iv * b) - g_lk * lmu;  // through Q, v and lk
  B g_s2 = g_v * w * w;
  B g_r2 = g_v - B(1.5) * g_lk;
  // Centred coordinates: the density of log mu_0 depends on it; non-centred: on z only.
  const B g_lmu = Noncentred ? g_lk * (one - w) : xsimd::fma(g_lk, one - w, -e * gv[itau_mu]);
  const B g_A = Intercept ? g_lmu * iw : g_lmu;
  const B g_ws2 = Intercept ? xsimd::fnma(half, g_A, half * g_lk) : half * g_lk;
  if constexpr (Intercept) g_r2 = xsimd::fma(B(1.5), g_A, g_r2);
  g_w = xsimd::fma(g_ws2, s2, g_w);
  g_s2 = xsimd::fma(g_ws2, w, g_s2);
  const B g_ls = two * s2 * g_s2;
  const B g_lr = two * r2 * g_r2;
  const B g_delta = xsimd::fnma(gv[c_ridge], g_ls, -delta * gv[iT2]);
  const B g_d = xsimd::fma(g_w * two * w, one - w, g_delta);

  auto put = [&](F::Field f, const B& x) { (wt * x).store_unaligned(out + f * Jp + j); };
  value.store_unaligned(out + F::value * Jp + j);
  if constexpr (Noncentred) {  // lmu = m + tau z: adjoints of m and tau through lmu
    put(F::g_m_mu, g_lmu);
    put(F::g_tau_mu, g_lmu * x_mu);
  } else {  // -(lmu - m)^2 / (2 tau^2): d/dm = e / tau, d/dtau = e^2 / tau
    put(F::g_m_mu, e * gv[itau_mu]);
    put(F::g_tau_mu, e * e * gv[itau_mu]);
  }
  put(F::g_m_r, g_lr);
  put(F::g_tau_r, g_lr * x_r);
  put(F::g_m_s, g_ls);
  put(F::g_dm, -g_delta);
  put(F::g_c, -g_ls * delta);
  put(F::g_S, g_ls * x_s);
  put(F::g_iT2, -half * delta * delta);
  put(F::g_x_mu, Noncentred ? xsimd::fms(g_lmu, t_mu, x_mu) : g_A);
  put(F::g_x_s0, g_d);
  put(F::g_x_r, xsimd::fms(g_lr, gv[tau_r], x_r));
  put(F::g_x_s, xsimd::fms(g_ls, gv[S_ridge], x_s));
}

/// The sums of one block's pieces (subjects [j0, j1)), per group, subject by subject.
template <bool Multi>
inline void block_sums(const FusedCohort::Data& d, const double* pc, std::size_t j0, std::size_t j1, double* s) {
  constexpr std::size_t n = FusedCohort::n_sum;
  const std::size_t Jp = d.Jp;
  if constexpr (!Multi) {  // in registers
    double a[n] = {};
    for (std::size_t j = j0; j < j1; ++j)
      for (std::size_t k = 0; k < n; ++k) a[k] += pc[k * Jp + j];
    std::copy(a, a + n, s);
  } else {
    std::fill(s, s + d.G * n, 0.0);
    for (std::size_t j = j0; j < j1; ++j) {
      double* sg = s + std::size_t(d.group[j]) * n;
      for (std::size_t k = 0; k < n; ++k) sg[k] += pc[k * Jp + j];
    }
  }
}

/// Blocks [b0, b1): their subjects' pieces batch by batch, then their sums. Each block's
/// results depend only on its own subjects, so the split over threads changes nothing.
template <bool Multi, MuCoord Mu>
void block_range(const FusedCohort::Data& d, const double* q, const double* gq, std::size_t b0, std::size_t b1,
                 double* pc, double* sums, int threads) {
  constexpr std::size_t B = FusedCohort::block;
  auto one = [&](std::size_t b) {
    const std::size_t j0 = b * B, j1 = std::min(d.J, j0 + B);
    for (std::size_t j = j0; j < j1; j += L) subject_batch<Multi, Mu>(d, q, gq, j, pc);
    block_sums<Multi>(d, pc, j0, j1, sums + b * d.G * FusedCohort::n_sum);
  };
  const std::ptrdiff_t nb = std::ptrdiff_t(b1 - b0);
  constexpr std::ptrdiff_t min_blocks_per_thread = 4;
  const int nt = int(std::clamp<std::ptrdiff_t>(nb / min_blocks_per_thread, 1, threads));
  if (nt > 1) {  // (an OpenMP region even with if(false) costs a runtime call: a fifth of a small cohort's gradient)
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(nt)
#endif
    for (std::ptrdiff_t i = 0; i < nb; ++i) one(b0 + std::size_t(i));
  } else {
    for (std::ptrdiff_t i = 0; i < nb; ++i) one(b0 + std::size_t(i));
  }
}

} // namespace

void FusedCohort::blocks(const double* q, std::size_t b0, std::size_t b1, double* pc, double* sums) const {
  const Data& d = *d_;
  BACTOR_ASSERT(b0 <= b1 && b1 <= blocks());
  if (b0 == b1) return;  // an empty share (more processes than blocks)
  d.group_quantities(q, d.gq.data());
  const auto run = [&]<bool Multi>() {
    switch (d.mu) {
    case mu_intercept: block_range<Multi, mu_intercept>(d, q, d.gq.data(), b0, b1, pc, sums, d.threads); break;
    case mu_centred: block_range<Multi, mu_centred>(d, q, d.gq.data(), b0, b1, pc, sums, d.threads); break;
    case mu_noncentred: block_range<Multi, mu_noncentred>(d, q, d.gq.data(), b0, b1, pc, sums, d.threads); break;
    }
  };
  if (d.G == 1) run.operator()<false>();
  else run.operator()<true>();
}

void FusedCohort::evaluate(const double* q) {
  if (d_->exchange) d_->exchange->evaluate(*this, q, pieces_.data(), sums_.data());
  else blocks(q, 0, blocks(), pieces_.data(), sums_.data());
}

// ---- combining, in subject order ----------------------------------------------------------------

double FusedCohort::combine(const double* q, const double* pc, const double* bs, double* grad) const {
  const Data& d = *d_;
  const std::size_t G = d.G, J = d.J, Jp = d.Jp, P = d.P, nb = blocks();
  // The groups' totals of the blocks' sums, block by block: the log-density terms of the
  // subjects and the adjoints of the group quantities (GroupQ order).
  std::vector<double>& tot = d.gsum;  // G * n_sum
  std::fill(tot.begin(), tot.end(), 0.0);
  for (std::size_t b = 0; b < nb; ++b)
    for (std::size_t i = 0; i < G * n_sum; ++i) tot[i] += bs[b * G * n_sum + i];
  double lp = 0;
  for (std::size_t g = 0; g < G; ++g) lp += tot[g * n_sum];
  if (grad) {
    std::fill(grad, grad + d.nq, 0.0);
    const std::size_t fx[4] = {F::g_x_mu, F::g_x_s0, F::g_x_r, F::g_x_s};
    const std::size_t kx[4] = {d.k_mu, d.k_s0, d.k_r, d.k_s};
    for (std::size_t j = 0; j < J; ++j)
      for (std::size_t i = 0; i < 4; ++i) grad[std::size_t(d.qbase[j]) + kx[i]] = pc[fx[i] * Jp + j];
  }
  // Each group: its population terms (PopulationPass::population_means, and the subjects'
  // constant log-Jacobian terms -log tau_mu and -log T / 2 per subject) and the chain rule from
  // its quantities to q_m and q_tau.
  for (std::size_t g = 0; g < G; ++g) {
    const double* qm = q + d.group_q[g];
    const double* qt = qm + P;
    const double* s = tot.data() + g * n_sum + 1;  // the group's adjoints, GroupQ order
    const double ng = double(d.group_n[g]);
    double u[4], tau[4];
    for (std::size_t k = 0; k < 4; ++k) {
      u[k] = std::exp(qt[k]);
      tau[k] = d.pri[k].sd * u[k];
      lp += qt[k] - 0.5 * u[k] * u[k];  // tau = sd e^r ~ HalfNormal(sd), log-Jacobian r
    }
    for (std::size_t k : {d.k_mu, d.k_r, d.k_s}) lp -= 0.5 * qm[k] * qm[k];
    const Data::Prior &ps = d.pri[d.k_s], &ps0 = d.pri[d.k_s0];
    const double hyp = d.hyp;
    const double m_s0 = ps.loc + ps.scale * qm[d.k_s] + ps0.loc - ps.loc + hyp * qm[d.k_s0];
    const double e0 = (m_s0 - ps0.loc) / ps0.scale;
    lp -= 0.5 * e0 * e0;
    const double t1 = tau[d.k_s], t2 = tau[d.k_s0], T2 = t1 * t1 + t2 * t2, it2 = 1.0 / T2, c = t1 * t1 * it2;
    // (-log tau_mu per subject: the centred coordinates' Jacobian; none for z.)
    const double ng_mu = d.mu == mu_noncentred ? 0.0 : ng;
    lp -= ng * 0.5 * std::log(T2) + ng_mu * std::log(tau[d.k_mu]);
    if (!grad) continue;
    double* gm = grad + d.group_q[g];
    double* gt = gm + P;
    gm[d.k_mu] = s[m_mu] * d.pri[d.k_mu].scale - qm[d.k_mu];
    gm[d.k_r] = s[m_r] * d.pri[d.k_r].scale - qm[d.k_r];
    gm[d.k_s] = s[m_s] * ps.scale - qm[d.k_s] - e0 / ps0.scale * ps.scale;
    gm[d.k_s0] = s[dm] * hyp - e0 / ps0.scale * hyp;
    // d/dT2 of Σ_j (-delta_j^2 / (2 T2)) (through 1/T2) and of -n_g log T2 / 2.
    const double g_T2 = -it2 * it2 * s[iT2] - 0.5 * ng * it2;
    const double sq = std::sqrt(it2);
    const double g_t1 = s[c_ridge] * 2 * t1 * it2 * (1 - c) + s[S_ridge] * t2 * sq * (1 - c) + g_T2 * 2 * t1;
    const double g_t2 = -s[c_ridge] * 2 * c * t2 * it2 + s[S_ridge] * t1 * sq * c + g_T2 * 2 * t2;
    // The pieces' field at itau_mu holds d/dtau_mu (centred: e^2 / tau_mu per subject; add
    // -n_g log tau_mu's; non-centred: the likelihood's through lmu = m + tau z).
    double gtk[4];
    gtk[d.k_mu] = s[itau_mu] - ng_mu / tau[d.k_mu];
    gtk[d.k_r] = s[tau_r];
    gtk[d.k_s] = g_t1;
    gtk[d.k_s0] = g_t2;
    for (std::size_t k = 0; k < 4; ++k) gt[k] = gtk[k] * tau[k] + 1 - u[k] * u[k];
  }
  if (!std::isfinite(lp) && grad) std::fill(grad, grad + d.nq, 0.0);
  return lp;
}

double FusedCohort::log_density(std::span<const double> q, std::span<double> grad) {
  Tape::Scope scope;
  const bool want_grad = !grad.empty();
  const Var qv = want_grad ? variable_view(q, grad) : constant_view(q, q.size(), 1);
  const Var y = fused_node(qv, *this);
  if (want_grad) {
    backward(y);
    finish_view(qv);
  }
  return y.value();
}

// ---- the tape node ------------------------------------------------------------------------------

namespace {
struct FusedOp {
  Var q;
  const double* g;  // d log density / dq (n values)
  std::size_t n;
};
} // namespace

Var fused_node(Var q, FusedCohort& cohort) {
  const std::size_t nq = cohort.n_q();
  BACTOR_ASSERT(q.size() == nq);
  Tape& tape = Tape::current();
  double* g = q.needs_grad() ? static_cast<double*>(tape.allocate(nq * sizeof(double))) : nullptr;
  const double* qv = q.values().data();
  const FusedOp op{q, g, nq};
  return custom(
      {q}, 1, 1,
      [&](std::span<double> y) {
        cohort.evaluate(qv);
        y[0] = cohort.combine(qv, cohort.pieces(), cohort.sums(), g);
      },
      [op](std::span<const double>, std::span<const double> dy) {
        Node* qn = op.q.node();
        if (!qn->needs_grad()) return;
        const double s = dy[0];
        if (qn->claim_adjoint())
          for (std::size_t i = 0; i < op.n; ++i) qn->adj[i] = s * op.g[i];
        else
          for (std::size_t i = 0; i < op.n; ++i) qn->adj[i] += s * op.g[i];
      });
}

} // namespace bactor::detail
