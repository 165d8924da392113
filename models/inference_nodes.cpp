// SPDX-License-Identifier: MIT
#include "models/inference_nodes.hpp"

#include <bactor/models/actor.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/network.hpp>
#include "models/inference_kernels.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <numbers>
#include <stdexcept>

namespace bactor::detail {

namespace {

/// Adjoint buffer of a node to add into (zeroed on first use); nullptr for constants.
inline double* adj(Var v) noexcept { return v.node()->grad(); }
inline void add_to(const Elem& e, double d) noexcept {
  if (e.empty()) return;
  if (double* a = adj(e.v)) a[e.i] += d;
}
/// `n` doubles of tape memory that live as long as the nodes created now.
inline double* scratch(std::size_t n) { return static_cast<double*>(Tape::current().allocate(n * sizeof(double))); }
/// An operand for custom()'s input list when `e` is empty (one that is listed anyway).
inline Var or_else(const Elem& e, Var fallback) noexcept { return e.empty() ? fallback : e.v; }

/// dz (+)= d * gz over the whole of z (which this node alone writes: it claims the adjoint).
inline void latent_backward(Var z, const double* gz, double d) {
  if (!z.needs_grad()) return;
  Node* zn = z.node();
  double* a = zn->adj;
  const std::size_t n = zn->size();
  if (zn->claim_adjoint()) {
    if (d == 1.0) std::memcpy(a, gz, n * sizeof(double));  // the usual seed
    else
      for (std::size_t k = 0; k < n; ++k) a[k] = d * gz[k];
  } else
    for (std::size_t k = 0; k < n; ++k) a[k] += d * gz[k];
}

/// A power-law likelihood and its gradient w.r.t. (log_k, w, sigma, sigma_r).
struct PowerSums {
  double ll = 0, log_k = 0, w = 0, sigma = 0, sigma_r = 0;
};

PowerSums marginal_sums(const PowerHead& h, const PowerStats& st, double sig, double sr) {
  PowerGrad g;
  PowerSums s;
  s.ll = power_loglik(h, st, sig, sr, g);
  s.log_k = g.log_k;
  s.w = g.w;
  s.sigma = g.sigma;
  s.sigma_r = g.sigma_r;
  return s;
}

/// Sampled latents: Σ_k log N(y_k; log_k + w (x_k + sig z_k), sr) - y_k - z_k^2/2 over n trials;
/// gz[k] = d/dz_k.
PowerSums sampled_sums(const PowerHead& h, const double* x, const double* y, const double* z, std::size_t n,
                       double sig, double sr, double* gz) {
  const double ir2 = 1.0 / (sr * sr);
  double ll = 0, se2 = 0, gs = 0;
  PowerHead::Adjoint ha;
  double dp[PowerHead::n_params];
  for (std::size_t k = 0; k < n; ++k) {
    const double zk = z[k];
    const double u = x[k] + sig * zk;
    double dla;
    const double la = h.eval(u, dla, dp);
    const double e = y[k] - la, g = e * ir2;
    se2 += e * e;
    PowerHead::add(ha, dp, g);
    gz[k] = g * dla * sig - zk;
    gs += g * dla * zk;
    ll -= 0.5 * zk * zk + y[k];
  }
  const double nn = static_cast<double>(n);
  PowerSums s;
  s.log_k = ha.log_k;
  s.w = ha.w;
  s.sigma = gs;
  s.sigma_r = -nn / sr + se2 * ir2 / sr;
  s.ll = ll - 0.5 * se2 * ir2 - nn * (std::log(sr) + 0.5 * std::log(2 * std::numbers::pi));
  return s;
}

/// The head of a power- or posterior-head network's outputs (log_k, logit w, -) and dw/dx1.
inline PowerHead network_power_head(Var x, double& dw) {
  PowerHead h{x.value(0), sigmoid(x.value(1))};
  dw = h.w * (1 - h.w);
  return h;
}

/// Saved gradient of a network likelihood node w.r.t. (x0, x1, x2, sigma, sigma_r).
using HeadGrad = std::array<double, 5>;

inline void head_backward(Var x, Elem sigma, Elem sigma_r, Elem acc, const HeadGrad& g, double d) {
  if (double* a = adj(x)) a[0] += d * g[0], a[1] += d * g[1], a[2] += d * g[2];
  add_to(sigma, d * g[3]);
  add_to(sigma_r, d * g[4]);
  add_to(acc, d);
}

} // namespace

// ---- constraining transforms, priors and log-Jacobians ------------------------------------

namespace {
/// Fused transform and prior, per prior kind (the transform follows from it):
///   half-normal(a), v = e^x:   log prior + log|J| = -v^2/(2a^2) + x
///   log-normal(a, b), v = e^x: -(x - a)^2/(2b^2) - log v + x = -(x - a)^2/(2b^2)  (log v = x)
///   uniform(a, b), v = a + (b - a) sigmoid(x): log(b - a) + log sigmoid(x) + log sigmoid(-x)
///     = log(b - a) - |x| - 2 log1p(e^{-|x|})  (one exp and one log1p for v and the Jacobian)
inline double constrain_slot_inline(const SlotSpec& slot, double x, double& v, double& dv, double& dlp) {
  const Prior& prior = slot.prior;
  switch (prior.kind) {
  case Prior::Kind::uniform: {
    const double e = std::exp(-std::abs(x)), ope = 1 + e, span = prior.b - prior.a;
    const double sg = (x >= 0 ? 1.0 : e) / ope;  // sigmoid(x)
    v = prior.a + span * sg;
    dv = span * sg * (1 - sg);
    dlp = 1 - 2 * sg;
    return slot.log_span - std::abs(x) - 2 * std::log1p(e);
  }
  case Prior::Kind::half_normal: {
    v = std::exp(x);
    dv = v;
    const double z2 = v * v * slot.inv_scale2;
    dlp = 1 - z2;
    return x - 0.5 * z2;
  }
  case Prior::Kind::lognormal: {
    v = std::exp(x);
    dv = v;
    const double z = (x - prior.a) * slot.inv_scale;
    dlp = -z * slot.inv_scale;
    return -0.5 * z * z;
  }
  case Prior::Kind::beta: {
    // v = sigmoid(x): (a - 1) log v + (b - 1) log(1 - v) + log v + log(1 - v)
    //   = -a softplus(-x) - b softplus(x), softplus(±x) = max(±x, 0) + log1p(e^{-|x|}).
    const double e = std::exp(-std::abs(x)), l1p = std::log1p(e);
    const double sg = (x >= 0 ? 1.0 : e) / (1 + e);
    v = sg;
    dv = sg * (1 - sg);
    dlp = prior.a * (1 - sg) - prior.b * sg;
    return -prior.a * (std::max(-x, 0.0) + l1p) - prior.b * (std::max(x, 0.0) + l1p);
  }
  }
  v = dv = dlp = 0;
  return 0;
}
} // namespace

double constrain_slot(const SlotSpec& slot, double x, double& v, double& dv, double& dlp) {
  return constrain_slot_inline(slot, x, v, dv, dlp);
}

void ConstrainPlan::prepare() {
  for (auto& s : slots) {
    const Prior& p = s.prior;
    s.log_span = p.kind == Prior::Kind::uniform ? std::log(p.b - p.a) : 0.0;
    s.inv_scale2 = p.kind == Prior::Kind::half_normal ? 1.0 / (p.a * p.a) : 0.0;
    s.inv_scale = p.kind == Prior::Kind::lognormal ? 1.0 / p.b : 0.0;
  }
  free_slot.assign(n_free, -1);
  fixed_slot.clear();
  for (std::size_t s = 0; s < slots.size(); ++s)
    if (slots[s].fixed) fixed_slot.push_back(int(s));
  for (std::size_t s = 0; s < slots.size(); ++s)
    if (!slots[s].fixed) {
      BACTOR_ASSERT(slots[s].q >= 0 && std::size_t(slots[s].q) < n_free && free_slot[slots[s].q] < 0);
      free_slot[slots[s].q] = int(s);
    }
  for (int s : free_slot) BACTOR_ASSERT(s >= 0);
  identity = layout.size() == slots.size();
  for (std::size_t j = 0; identity && j < layout.size(); ++j) identity = layout[j] == int(j);
}

namespace {
/// constrain_node's operand, plan and saved derivatives (arena data of the node).
struct ConstrainOp {
  Node* q;
  const int* layout;
  const int* free_slot;
  std::size_t S, L, F;
  bool identity;
  double* saved;  // dv/dq (F), dlp/dq (F), slot scratch (S)
};

void constrain_backward(Node& n) {
  const ConstrainOp& op = *static_cast<const ConstrainOp*>(n.data);
  Node* qn = op.q;
  if (!qn->needs_grad()) return;
  const double* dy = n.adj;
  const std::size_t F = op.F;
  // The slots' adjoints: dy itself when the layout is the identity (one condition).
  const double* g = dy;
  if (!op.identity) {
    double* gs = op.saved + 2 * F;
    std::fill(gs, gs + op.S, 0.0);
    for (std::size_t j = 0; j < op.L; ++j) gs[op.layout[j]] += dy[j];
    g = gs;
  }
  const double dlp = dy[op.L];
  const double* dv = op.saved;
  const double* dl = op.saved + F;
  const int* free_slot = op.free_slot;
  // dq_i = dv_i (slot adjoint) + dlp_i (prior and Jacobian term); every q_i gets one, so a
  // fresh adjoint is stored rather than zeroed first.
  if (qn->size() == F && qn->claim_adjoint()) {
    double* dq = qn->adj;
    for (std::size_t i = 0; i < F; ++i) dq[i] = g[free_slot[i]] * dv[i] + dlp * dl[i];
  } else {
    double* dq = qn->grad();
    for (std::size_t i = 0; i < F; ++i) dq[i] += g[free_slot[i]] * dv[i] + dlp * dl[i];
  }
}
} // namespace

Var constrain_node(Var q, const ConstrainPlan& plan) {
  BACTOR_ASSERT(q.size() >= plan.n_free && plan.free_slot.size() == plan.n_free);
  const std::size_t S = plan.slots.size(), L = plan.layout.size(), F = plan.n_free;
  const SlotSpec* slots = plan.slots.data();
  Tape& tape = Tape::current();
  Node* n = tape.make_node(L + 1, 1, q.needs_grad(), &constrain_backward);
  auto* op = static_cast<ConstrainOp*>(tape.allocate(sizeof(ConstrainOp) + (2 * F + S) * sizeof(double)));
  *op = ConstrainOp{q.node(), plan.layout.data(), plan.free_slot.data(), S, L, F, plan.identity,
                    reinterpret_cast<double*>(op + 1)};
  n->data = op;
  double* saved = op->saved;
  const double* qv = q.values().data();
  double* out = n->val;
  double* v = plan.identity ? out : saved + 2 * F;  // slot values (one condition: the output)
  for (int s : plan.fixed_slot) v[s] = slots[s].value;
  double lp = 0;
  for (std::size_t i = 0; i < F; ++i) {
    const int s = plan.free_slot[i];
    lp += constrain_slot_inline(slots[s], qv[i], v[s], saved[i], saved[F + i]);
  }
  if (!plan.identity)
    for (std::size_t j = 0; j < L; ++j) out[j] = v[plan.layout[j]];
  out[L] = lp;
  return Var(n);
}

// ---- the closed-form actors ------------------------------------------------------------------

ClosedForm closed_form_of(const CostInfo& cost) {
  if (cost.name == "QuadraticCost") return ClosedForm::quadratic;
  if (cost.name == "QuadraticCostQuadraticEffort") return ClosedForm::quadratic_effort;
  throw std::invalid_argument("cost '" + cost.name + "' has no power-law closed form (use --network)");
}

namespace {
/// closed_form_head with log mu_0 (and log beta) given.
inline PowerHead closed_form_head_logs(ClosedForm form, std::span<const double> theta, double* jac, double lmu,
                                      double lbeta) {
  // w = sigma_0^2 / (sigma^2 + sigma_0^2), sigma_post^2 = w sigma^2,
  // log k = (1 - w) log mu_0 + sigma_post^2 / 2 - 3 sigma_r^2 / 2 [+ log beta].
  const bool effort = form == ClosedForm::quadratic_effort;
  const double sig = theta[0], s0 = theta[1], mu0 = theta[2], sr = theta[3];
  const double s02 = s0 * s0, sg2 = sig * sig, id = 1.0 / (s02 + sg2);
  const double w = s02 * id, sp2 = w * sg2;
  PowerHead h;
  h.w = w;
  h.log_k = (1 - w) * lmu + 0.5 * sp2 - 1.5 * sr * sr + (effort ? lbeta : 0.0);
  if (jac) {
    const std::size_t n = theta.size();
    double* dk = jac;
    double* dw = jac + n;
    const double id2 = id * id;
    dw[0] = -2 * sig * s02 * id2;
    dw[1] = 2 * s0 * sg2 * id2;
    dw[2] = dw[3] = 0;
    const double dsp_dsig = 2 * s02 * s02 * sig * id2, dsp_ds0 = 2 * sg2 * sg2 * s0 * id2;
    dk[0] = -dw[0] * lmu + 0.5 * dsp_dsig;
    dk[1] = -dw[1] * lmu + 0.5 * dsp_ds0;
    dk[2] = (1 - w) / mu0;
    dk[3] = -3 * sr;
    if (n > 4) {  // the effort cost's beta (a loop here became two memset calls)
      dk[4] = dw[4] = 0;
      for (std::size_t t = 5; t < n; ++t) dk[t] = dw[t] = 0;
    }
    if (effort) dk[4] = 1.0 / theta[4];
  }
  return h;
}
} // namespace

PowerHead closed_form_head(ClosedForm form, std::span<const double> theta, double* jac) {
  const bool effort = form == ClosedForm::quadratic_effort;
  return closed_form_head_logs(form, theta, jac, std::log(theta[theta_index::mu_0]),
                               effort ? std::log(theta[theta_index::first_cost_param]) : 0.0);
}

// ---- likelihood -------------------------------------------------------------------------------

namespace {
/// A closed-form likelihood node's operands and saved gradient (arena data of the node):
/// theta (C rows of nt), the running sum, with sampled latents z and d/dz (gz); then the
/// gradient w.r.t. theta (C * nt values).
struct ClosedFormOp {
  Var theta;
  std::size_t size;  // C * nt
  Elem acc;
  Var z;
  const double* gz;
  double* g() { return reinterpret_cast<double*>(this + 1); }
  const double* g() const { return reinterpret_cast<const double*>(this + 1); }
};
static_assert(sizeof(ClosedFormOp) % alignof(double) == 0);

void closed_form_backward(Node& n) {
  const ClosedFormOp& op = *static_cast<const ClosedFormOp*>(n.data);
  const double d = n.adj[0];
  if (double* a = adj(op.theta)) {
    const double* g = op.g();
    for (std::size_t j = 0; j < op.size; ++j) a[j] += d * g[j];
  }
  add_to(op.acc, d);
  if (op.gz) latent_backward(op.z, op.gz, d);
}

/// The scalar node acc + Σ_c ll_c over the conditions' rows of theta, its op (gradient to be
/// filled) in `op` (written against Tape::make_node: operands and saved gradient in one arena
/// block, fewer instructions than custom() where a whole gradient takes 0.1 µs).
Node* closed_form_node(Var theta, std::size_t size, Elem acc, Var z, const double* gz, ClosedFormOp*& op) {
  Tape& tape = Tape::current();
  const bool grad = theta.needs_grad() || (!acc.empty() && acc.v.needs_grad()) || (gz && z.needs_grad());
  Node* n = tape.make_node(1, 1, grad, &closed_form_backward);
  op = ::new (tape.allocate(sizeof(ClosedFormOp) + size * sizeof(double))) ClosedFormOp{theta, size, acc, z, gz};
  n->data = op;
  return n;
}

/// Runs `per_row(c, head, sigma, sigma_r) -> PowerSums` over the C rows of theta (nt values
/// each) and fills the node: value acc + Σ ll_c (in row order), d/dtheta from each row's sums
/// through the closed-form head's Jacobian. log mu_0 and log beta are computed once when the
/// rows share them (the model's rows do: they are the same parameters).
template <bool Lapse = false, class PerRow>
Var closed_form_rows(ClosedForm form, Var theta, std::size_t nt, std::size_t C, Elem acc, Var z, const double* gz,
                     PerRow&& per_row) {
  BACTOR_ASSERT(nt > theta_index::sigma_r && nt <= 5 && (form == ClosedForm::quadratic || nt == 5) &&
                theta.size() >= C * nt + (Lapse ? C : 0));
  ClosedFormOp* op;
  Node* n = closed_form_node(theta, C * nt + (Lapse ? C : 0), acc, z, gz, op);
  const double* th = theta.values().data();
  double* g = op->g();
  const bool effort = form == ClosedForm::quadratic_effort;
  double value = acc.value(), lmu = 0, lbeta = 0, mu = NAN, beta = NAN;
  double jac[10];
  for (std::size_t c = 0; c < C; ++c) {
    const double* row = th + c * nt;
    if (!(row[theta_index::mu_0] == mu)) mu = row[theta_index::mu_0], lmu = std::log(mu);
    if (effort && !(row[theta_index::first_cost_param] == beta))
      beta = row[theta_index::first_cost_param], lbeta = std::log(beta);
    const PowerHead h = closed_form_head_logs(form, std::span<const double>(row, nt), jac, lmu, lbeta);
    const auto s = per_row(c, h, row[theta_index::sigma], row[theta_index::sigma_r]);
    value += s.ll;
    double* gr = g + c * nt;
    for (std::size_t t = 0; t < nt; ++t) gr[t] = s.log_k * jac[t] + s.w * jac[nt + t];
    gr[theta_index::sigma] += s.sigma;
    gr[theta_index::sigma_r] += s.sigma_r;
    if constexpr (Lapse) g[C * nt + c] = s.lapse;
  }
  n->val[0] = value;
  return Var(n);
}

/// A row's sums with lapses: PowerSums and d/d lapse.
struct LapseRowSums : PowerSums {
  double lapse = 0;
};

/// One condition's power-law marginal with lapses (power_lapse) as the sums of a row.
LapseRowSums lapse_sums(const PowerHead& h, const PaddedTrials& t, double sig, double sr, double eps, double log_width) {
  PowerLapseSums g;
  LapseRowSums s;
  s.ll = power_lapse(h, t.n, t.x, t.y, t.wt, sig, sr, LapseMix::of(eps, log_width), g);
  s.log_k = g.log_k;
  s.w = g.w;
  s.sigma = g.sigma;
  s.sigma_r = g.sigma_r;
  s.lapse = lapse_gradient(eps, g.n, g.rho);
  return s;
}
} // namespace

Var closed_form_marginal_node(ClosedForm form, Var theta, std::size_t nt, std::span<const PowerStats> stats, Elem acc) {
  return closed_form_rows(form, theta, nt, stats.size(), acc, Var(), nullptr,
                          [&](std::size_t c, const PowerHead& h, double sig, double sr) {
                            return marginal_sums(h, stats[c], sig, sr);
                          });
}

Var closed_form_sampled_node(ClosedForm form, Var theta, std::size_t nt, std::span<const double> x,
                             std::span<const double> y, std::span<const std::size_t> begin, Var z, Elem acc) {
  const std::size_t n = x.size();
  BACTOR_ASSERT(!begin.empty() && y.size() == n && z.size() == n && begin.front() == 0 && begin.back() == n);
  double* gz = scratch(n);
  const double* zv = z.values().data();
  return closed_form_rows(form, theta, nt, begin.size() - 1, acc, z, gz,
                          [&](std::size_t c, const PowerHead& h, double sig, double sr) {
                            const std::size_t b = begin[c];
                            return sampled_sums(h, &x[b], &y[b], &zv[b], begin[c + 1] - b, sig, sr, gz + b);
                          });
}

Var power_marginal_node(Var x, Elem sigma, Elem sigma_r, const PowerStats& stats, Elem acc) {
  BACTOR_ASSERT(x.size() == 3);
  double dw;
  const PowerHead h = network_power_head(x, dw);
  const PowerSums s = marginal_sums(h, stats, sigma.value(), sigma_r.value());
  const HeadGrad g{s.log_k, s.w * dw, 0.0, s.sigma, s.sigma_r};
  const double value = acc.value() + s.ll;
  return custom(
      {x, sigma.v, sigma_r.v, or_else(acc, x)}, 1, 1, [value](std::span<double> y) { y[0] = value; },
      [x, sigma, sigma_r, acc, g](std::span<const double>, std::span<const double> dy) {
        head_backward(x, sigma, sigma_r, acc, g, dy[0]);
      });
}

Var power_sampled_node(Var x, Elem sigma, Elem sigma_r, std::span<const double> xs, std::span<const double> ys, Var z,
                       Elem acc) {
  const std::size_t n = xs.size();
  BACTOR_ASSERT(x.size() == 3 && ys.size() == n && z.size() == n);
  double dw;
  const PowerHead h = network_power_head(x, dw);
  double* gz = scratch(n);
  const PowerSums s = sampled_sums(h, xs.data(), ys.data(), z.values().data(), n, sigma.value(), sigma_r.value(), gz);
  const HeadGrad g{s.log_k, s.w * dw, 0.0, s.sigma, s.sigma_r};
  const double value = acc.value() + s.ll;
  return custom(
      {x, sigma.v, sigma_r.v, z, or_else(acc, x)}, 1, 1, [value](std::span<double> y) { y[0] = value; },
      [x, sigma, sigma_r, z, acc, g, gz](std::span<const double>, std::span<const double> dy) {
        head_backward(x, sigma, sigma_r, acc, g, dy[0]);
        latent_backward(z, gz, dy[0]);
      });
}

namespace {
/// The softplus head of a network's outputs and its saved gradient from the kernel's sums.
inline SoftplusHead softplus_head(Var x) { return SoftplusHead{softplus(x.value(0)), sigmoid(x.value(1)), x.value(2)}; }
inline HeadGrad softplus_gradient(Var x, const SoftplusHead& h, const SoftplusSums& s) {
  return HeadGrad{s.head.k * sigmoid(x.value(0)), s.head.w * h.w * (1 - h.w), s.head.x2, s.sigma, s.sigma_r};
}
} // namespace

Var softplus_marginal_node(Var x, Elem sigma, Elem sigma_r, const PaddedTrials& trials, const GaussHermiteSet& rules,
                           Elem acc) {
  BACTOR_ASSERT(x.size() == 3 && trials.n % simd_lanes() == 0);
  const SoftplusHead h = softplus_head(x);
  const double sig = sigma.value();
  SoftplusSums s;
  const double ll =
      softplus_marginal(h, trials.n, trials.x, trials.y, trials.wt, sig, sigma_r.value(), rules.for_sigma(sig), s);
  const HeadGrad g = softplus_gradient(x, h, s);
  const double value = acc.value() + ll;
  return custom(
      {x, sigma.v, sigma_r.v, or_else(acc, x)}, 1, 1, [value](std::span<double> y) { y[0] = value; },
      [x, sigma, sigma_r, acc, g](std::span<const double>, std::span<const double> dy) {
        head_backward(x, sigma, sigma_r, acc, g, dy[0]);
      });
}

Var softplus_sampled_node(Var x, Elem sigma, Elem sigma_r, const PaddedTrials& trials, Var z, Elem acc) {
  const std::size_t n = z.size(), np = trials.n;
  BACTOR_ASSERT(x.size() == 3 && np % simd_lanes() == 0 && n <= np);
  const SoftplusHead h = softplus_head(x);
  // The kernel's padded latents (padding 0) and their gradient.
  double* pz = scratch(2 * np);
  double* gz = pz + np;
  std::memcpy(pz, z.values().data(), n * sizeof(double));
  std::fill(pz + n, pz + np, 0.0);
  SoftplusSums s;
  const double ll =
      softplus_sampled(h, np, trials.x, trials.y, trials.wt, pz, sigma.value(), sigma_r.value(), gz, s);
  const HeadGrad g = softplus_gradient(x, h, s);
  const double value = acc.value() + ll;
  return custom(
      {x, sigma.v, sigma_r.v, z, or_else(acc, x)}, 1, 1, [value](std::span<double> y) { y[0] = value; },
      [x, sigma, sigma_r, z, acc, g, gz](std::span<const double>, std::span<const double> dy) {
        head_backward(x, sigma, sigma_r, acc, g, dy[0]);
        latent_backward(z, gz, dy[0]);
      });
}

// ---- lapses ------------------------------------------------------------------------------------

Var closed_form_lapse_node(ClosedForm form, Var theta, std::size_t nt, std::span<const PaddedTrials> trials,
                           double log_width, Elem acc) {
  const std::size_t C = trials.size();
  const double* eps = theta.values().data() + C * nt;
  return closed_form_rows<true>(form, theta, nt, C, acc, Var(), nullptr,
                                [&](std::size_t c, const PowerHead& h, double sig, double sr) {
                                  return lapse_sums(h, trials[c], sig, sr, eps[c], log_width);
                                });
}

namespace {
/// Saved gradient of a network likelihood node with lapses: HeadGrad, then d/d lapse.
using LapseHeadGrad = std::array<double, 6>;
Var lapse_head_node(Var x, Elem sigma, Elem sigma_r, Elem lapse, Elem acc, double value, const LapseHeadGrad& g) {
  return custom(
      {x, sigma.v, sigma_r.v, lapse.v, or_else(acc, x)}, 1, 1, [value](std::span<double> y) { y[0] = value; },
      [x, sigma, sigma_r, lapse, acc, g](std::span<const double>, std::span<const double> dy) {
        head_backward(x, sigma, sigma_r, acc, HeadGrad{g[0], g[1], g[2], g[3], g[4]}, dy[0]);
        add_to(lapse, dy[0] * g[5]);
      });
}
} // namespace

Var power_lapse_node(Var x, Elem sigma, Elem sigma_r, Elem lapse, const PaddedTrials& trials, double log_width,
                     Elem acc) {
  BACTOR_ASSERT(x.size() == 3 && trials.n % simd_lanes() == 0);
  double dw;
  const PowerHead h = network_power_head(x, dw);
  const LapseRowSums s = lapse_sums(h, trials, sigma.value(), sigma_r.value(), lapse.value(), log_width);
  return lapse_head_node(x, sigma, sigma_r, lapse, acc, acc.value() + s.ll,
                         LapseHeadGrad{s.log_k, s.w * dw, 0.0, s.sigma, s.sigma_r, s.lapse});
}

Var softplus_lapse_node(Var x, Elem sigma, Elem sigma_r, Elem lapse, const PaddedTrials& trials,
                        const GaussHermiteSet& rules, double log_width, Elem acc) {
  BACTOR_ASSERT(x.size() == 3 && trials.n % simd_lanes() == 0);
  const SoftplusHead h = softplus_head(x);
  const double sig = sigma.value(), eps = lapse.value();
  const LapseMix mix = LapseMix::of(eps, log_width);
  SoftplusSums s;
  const double ll = softplus_marginal(h, trials.n, trials.x, trials.y, trials.wt, sig, sigma_r.value(),
                                      rules.for_sigma(sig), s, default_newton_steps, nullptr, &mix);
  double n = 0;
  for (std::size_t i = 0; i < trials.n; ++i) n += trials.wt[i];
  const HeadGrad g = softplus_gradient(x, h, s);
  return lapse_head_node(x, sigma, sigma_r, lapse, acc, acc.value() + ll,
                         LapseHeadGrad{g[0], g[1], g[2], g[3], g[4], lapse_gradient(eps, n, s.rho)});
}

double MupostHead::eval(double u, double& dla_du, double* dp) const {
  const std::size_t nt = net->n_inputs();
  if (!std::isfinite(u)) {  // parameters far outside the network's range (warm-up): NaN log-density
    dla_du = NAN;
    std::fill(dp, dp + n_params, 0.0);
    return NAN;
  }
  double x[3];
  // m = e^u within the range of doubles (the Newton steps keep u near x).
  net->forward({theta, nt}, std::exp(std::clamp(u, -700.0, 700.0)), x, *ws);
  const double dx[3] = {1.0, 0.0, 0.0};
  net->backward(dx, {dp, nt}, *ws, &dla_du);
  for (std::size_t k = nt; k < std::size_t(n_params); ++k) dp[k] = 0.0;
  return x[0];
}

void mupost_table_range(std::span<const double> xs, double sigma, const GaussHermite& rule, double& u_lo,
                        double& u_hi) {
  const auto [mn, mx] = std::minmax_element(xs.begin(), xs.end());
  const double s = std::exp2(std::ceil(8 * std::log2(sigma)) / 8);
  double t_max = 0;
  for (double t : rule.t) t_max = std::max(t_max, std::abs(t));
  const double R = 6 + std::numbers::sqrt2 * t_max;
  u_lo = *mn - R * s;
  u_hi = *mx + R * s;
  if (!(u_hi - u_lo > 1e-3)) {  // sigma ~ 0 and one stimulus: keep the basis sound
    u_lo = *mn - 5e-4;
    u_hi = *mx + 5e-4;
  }
}

HeadTable<MupostHead> mupost_table(const MupostHead& h, std::span<const double> xs, double sigma,
                                   const GaussHermite& rule) {
  double lo, hi;
  mupost_table_range(xs, sigma, rule, lo, hi);
  return HeadTable<MupostHead>(h, h.net->n_inputs(), lo, hi);
}

Var mupost_marginal_node(const ActionNetwork& net, Var V, std::size_t row, std::span<const double> xs,
                         std::span<const double> ys, const GaussHermiteSet& rules, ActionNetwork::Workspace& ws,
                         Elem acc) {
  const std::size_t nt = net.n_inputs();
  BACTOR_ASSERT(nt <= std::size_t(MupostHead::n_params) && V.size() >= row + nt && xs.size() == ys.size());
  const double* theta = V.values().data() + row;
  const double sig = theta[theta_index::sigma], sr = theta[theta_index::sigma_r];
  double ll = 0.0;
  double* grad = scratch(nt);
  if (!(sig > 0) || !std::isfinite(sig) || xs.empty()) {  // outside the support (warm-up): NaN
    ll = xs.empty() ? 0.0 : NAN;
    std::fill(grad, grad + nt, 0.0);
  } else {
    const GaussHermite& rule = rules.for_sigma(sig);
    const HeadTable<MupostHead> h = mupost_table(MupostHead{&net, theta, &ws}, xs, sig, rule);
    TrialGrad<HeadTable<MupostHead>> g;
    for (std::size_t i = 0; i < xs.size(); ++i) ll += gh_trial_loglik(h, xs[i], ys[i], sig, sr, rule, g);
    for (std::size_t k = 0; k < nt; ++k) grad[k] = g.head.d[k];
    grad[theta_index::sigma] += g.sigma;
    grad[theta_index::sigma_r] += g.sigma_r;
  }
  const double value = acc.value() + ll;
  return custom(
      {V, or_else(acc, V)}, 1, 1, [value](std::span<double> y) { y[0] = value; },
      [V, row, nt, acc, grad](std::span<const double>, std::span<const double> dy) {
        if (double* a = adj(V))
          for (std::size_t k = 0; k < nt; ++k) a[row + k] += dy[0] * grad[k];
        add_to(acc, dy[0]);
      });
}

} // namespace bactor::detail
