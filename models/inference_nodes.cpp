// SPDX-License-Identifier: MIT
#include "models/inference_nodes.hpp"

#include <bactor/engine/ops.hpp>
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

// ---- constraining transforms, priors and log-Jacobians ------------------------------------

namespace {
/// Fused transform and prior, per prior kind (the transform follows from it):
///   half-normal(a), v = e^x:   log prior + log|J| = -v^2/(2a^2) + x
///   log-normal(a, b), v = e^x: -(x - a)^2/(2b^2) - log v + x = -(x - a)^2/(2b^2)  (log v = x)
///   normal(a, b), v = x:       -(x - a)^2/(2b^2)
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
  case Prior::Kind::normal: {
    v = x;
    dv = 1;
    const double z = (x - prior.a) * slot.inv_scale;
    dlp = -z * slot.inv_scale;
    return -0.5 * z * z;
  }
  case Prior::Kind::vonmises: {  // an angle on the real line (identity), b cos(v - a)
    v = x;
    dv = 1;
    dlp = -prior.b * std::sin(x - prior.a);
    return prior.b * std::cos(x - prior.a);
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
    s.inv_scale = p.kind == Prior::Kind::lognormal || p.kind == Prior::Kind::normal ? 1.0 / p.b : 0.0;
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

// ---- angles as the directions of 2-D vectors ------------------------------------------------

Var vector_angles_node(Var q, std::size_t n, std::span<const VectorAngle> angles) {
  BACTOR_ASSERT(q.size() >= n);
  auto forward = [&](std::span<double> out) {
    const double* qv = q.values().data();
    std::copy(qv, qv + n, out.begin());
    for (const VectorAngle& a : angles) out[a.x_at] = std::atan2(qv[a.y_at], qv[a.x_at]);
  };
  auto backward = [q, n, angles](std::span<const double>, std::span<const double> dy) {
    double* g = q.node()->grad();
    if (!g) return;
    const double* qv = q.values().data();
    for (std::size_t i = 0; i < n; ++i)  // an angle's x gets no pass-through: its entry is the angle
      if (std::none_of(angles.begin(), angles.end(), [i](const VectorAngle& a) { return a.x_at == i; })) g[i] += dy[i];
    for (const VectorAngle& a : angles) {
      const double x = qv[a.x_at], y = qv[a.y_at], r2 = x * x + y * y;
      if (r2 > 0) {
        g[a.x_at] -= dy[a.x_at] * y / r2;
        g[a.y_at] += dy[a.x_at] * x / r2;
      }
    }
  };
  return custom({q}, n, 1, forward, backward);
}

Var vector_length_log_density(Var q, std::span<const VectorAngle> angles) {
  Var total = constant(0.0);
  for (const VectorAngle& a : angles) {
    const Var rho = sqrt(square(element(q, a.x_at)) + square(element(q, a.y_at)));
    total = total - square(rho - 1.0) * (0.5 / (vector_length_sd * vector_length_sd)) - log(rho);
  }
  return total;
}

double vector_angles_values(std::span<const double> q, std::size_t n, std::span<const VectorAngle> angles,
                            std::span<double> inner) {
  std::copy(q.begin(), q.begin() + std::ptrdiff_t(n), inner.begin());
  double lp = 0;
  for (const VectorAngle& a : angles) {
    const double x = q[a.x_at], y = q[a.y_at], rho = std::hypot(x, y), e = (rho - 1) / vector_length_sd;
    inner[a.x_at] = std::atan2(y, x);
    lp += -0.5 * e * e - std::log(rho);
  }
  return lp;
}

// ---- the closed-form actors ------------------------------------------------------------------

ClosedForm closed_form_of(const CostInfo& cost) {
  if (cost.name == "QuadraticCost") return ClosedForm::quadratic;
  if (cost.name == "QuadraticCostQuadraticEffort") return ClosedForm::quadratic_effort;
  throw std::invalid_argument("cost '" + cost.name + "' has no power-law closed form (use --network)");
}

PowerHead closed_form_head(ClosedForm form, std::span<const double> theta, double* jac) {
  const bool effort = form == ClosedForm::quadratic_effort;
  return closed_form_head_logs(form, theta, jac, std::log(theta[theta_index::mu_0]),
                               effort ? std::log(theta[theta_index::first_cost_param]) : 0.0);
}

double MupostHead::eval(double u, double& dla_du, double* dp) const {
  const std::size_t nt = net->n_inputs();
  if (!std::isfinite(u)) {  // parameters far outside the network's range (warm-up): NaN log-density
    dla_du = NAN;
    std::fill(dp, dp + n_params, 0.0);
    return NAN;
  }
  double x[3];
  // m = e^u within the range of doubles (the Newton steps keep u near x); a network trained
  // under gaussian perception reads u = m itself and gives a and da/dm (linear coordinates).
  net->forward({theta, nt}, net->linear() ? u : std::exp(std::clamp(u, -700.0, 700.0)), x, *ws);
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

} // namespace bactor::detail
