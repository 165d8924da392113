// SPDX-License-Identifier: MIT
// The pieces of the inference log-density (models/inference.hpp) that are not the likelihood:
// the constraining transform with the priors and log-Jacobians as one tape node, the closed-form
// power-law heads, and the mupost network as a head of models/marginal.hpp. The likelihood
// itself is the composed node of models/likelihood.hpp.
//
//   q ──constrain_node──> V = (theta_1, ..., theta_C, [lapses], log prior + log|Jacobian|)
//   V ──likelihood_node<Source, Form>──> acc + Σ_c log p(r_c | theta_c)   (models/likelihood.hpp)
//
// Scalar operands are read as elements of another node's value (Elem) rather than through
// element() nodes. The constrain node's gradient is checked against finite differences in
// tests/models/test_inference_nodes.cpp. Private header.
#pragma once

#include <bactor/engine/tape.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/marginal.hpp>
#include <bactor/models/network.hpp>
#include "models/chebyshev.hpp"

#include <cstddef>
#include <span>
#include <vector>

namespace bactor::detail {

/// Element i of a node's value, used as a scalar operand (adjoints go to element i).
/// An empty Elem (no node) stands for the constant 0.
struct Elem {
  Var v;
  std::size_t i = 0;
  bool empty() const noexcept { return v.node() == nullptr; }
  double value() const noexcept { return empty() ? 0.0 : v.value(i); }
};

// ---- constraining transforms, priors and log-Jacobians ------------------------------------

/// One parameter of the model: its prior, and either a fixed value or its unconstrained
/// coordinate q (log for half-normal and log-normal priors, logit of (v - a)/(b - a) for
/// uniform(a, b) priors).
struct SlotSpec {
  Prior prior;
  bool fixed = false;
  double value = 0;     // when fixed
  int q = -1;           // index in q when free
  // Constants of the prior (ConstrainPlan::prepare): log(b - a) for uniform(a, b), 1/a^2 for
  // half-normal(a), 1/b for log-normal(a, b).
  double log_span = 0, inv_scale2 = 0, inv_scale = 0;
};

/// The constrained value v of a free slot at unconstrained x, dv/dx, and the slot's term of the
/// log-density, Prior::log_density(v) + log|dv/dx| (up to constants), with its derivative d/dx
/// in `dlp`.
double constrain_slot(const SlotSpec& slot, double x, double& v, double& dv, double& dlp);

/// What constrain_node computes: output element j is the constrained value of slot layout[j];
/// the last output element is Σ over free slots of log prior + log|Jacobian|.
struct ConstrainPlan {
  std::vector<SlotSpec> slots;
  std::vector<int> layout;  // slot index per output element
  std::size_t n_free = 0;   // size of q (the free slots' q are 0..n_free-1)
  // Derived by prepare():
  std::vector<int> free_slot;   // slot index of q_i, i < n_free
  std::vector<int> fixed_slot;  // the fixed slots
  bool identity = false;       // layout[j] == j for every slot
  /// Fills the derived fields (the slots' prior constants, free_slot, fixed_slot, identity); call once
  /// the slots, layout and n_free are set (each free slot's q in 0..n_free-1, once).
  void prepare();
};

/// (v_layout[0], ..., v_layout[L-1], lp) from the free coordinates q (at least plan.n_free
/// values). Backward: dq_p += dv_p/dq_p Σ_{j: layout[j] = p} dy_j + dy_L dlp_p/dq_p. Outside
/// the priors' support (or on overflow) lp is -inf or NaN; the caller stops there. `plan`
/// must outlive the node.
Var constrain_node(Var q, const ConstrainPlan& plan);

// ---- angles as the directions of 2-D vectors (InferenceSpec::mu0_coordinates) ---------------

/// An angle sampled as the direction of a 2-D vector: its first coordinate x is q[x_at] (the
/// angle's own place among the free coordinates), its second y is q[y_at] (after them).
struct VectorAngle {
  std::size_t x_at = 0, y_at = 0;
};
/// The sd of such a vector's length about 1: N(1, 0.1^2) (bench/circular.cpp, "mu0").
inline constexpr double vector_length_sd = 0.1;
/// q[0..n) with q[a.x_at] replaced by atan2(q[a.y_at], q[a.x_at]) for every a of `angles`: the
/// free coordinates constrain_node reads. One custom node; backward: the other entries pass
/// their adjoints through, d atan2/dx = -y / rho^2, d atan2/dy = x / rho^2 (0 at the origin).
/// `angles` must outlive the node.
Var vector_angles_node(Var q, std::size_t n, std::span<const VectorAngle> angles);
/// Σ over `angles` of the vector's log density given its direction, -(rho - 1)^2 / (2 sd^2) -
/// log rho (sd = vector_length_sd; the 1/rho is the polar Jacobian, so that the direction's
/// marginal is the angle's own prior), from tape ops (sqrt, square, log).
Var vector_length_log_density(Var q, std::span<const VectorAngle> angles);
/// The value-only form of the two: `inner` (size n) receives vector_angles_node's value; returns
/// vector_length_log_density's.
double vector_angles_values(std::span<const double> q, std::size_t n, std::span<const VectorAngle> angles,
                            std::span<double> inner);

// ---- the closed-form actors ------------------------------------------------------------------

/// The costs whose optimal action is a power law in closed form (closed_form_head).
enum class ClosedForm { quadratic, quadratic_effort };
/// Throws std::invalid_argument for a cost without a power-law closed form.
ClosedForm closed_form_of(const CostInfo& cost);
/// closed_form_head for a cost resolved by closed_form_of.
PowerHead closed_form_head(ClosedForm form, std::span<const double> theta, double* jac = nullptr);
/// The same with log mu_0 and log beta (the effort cost's; else unused) given; jac (2 x
/// theta.size()) receives d(log_k, w)/dtheta when not null.
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


// ---- the network ----------------------------------------------------------------------------

// The network node is network_outputs(net, theta_v, offset, ws) (models/network_node.hpp), with
// one workspace per condition: the per-thread form would repeat a forward pass in the reverse
// pass for every condition after the first (effort_two_noise.csv, posterior network: +29% time
// per gradient under NUTS).

/// One condition's trials in the SIMD layout of the softplus kernels: n a multiple of
/// simd_lanes(), the real trials first, then padding with weight 0.
struct PaddedTrials {
  const double* x = nullptr;
  const double* y = nullptr;
  const double* wt = nullptr;
  std::size_t n = 0;
};

/// The mupost head (models/network.hpp) as a head of gh_trial_loglik (models/marginal.hpp):
/// log a(u) = mu_post(e^u, theta) + g(sigma_post, sigma_r, ..., mu_post), one forward and one
/// backward pass of the network per evaluation, which give log a, d log a/du (= d log a/d log m)
/// and d log a/dtheta (the head's "parameters" are theta itself). No inverse (the Newton
/// iteration starts at u = x) and no second derivative (Gauss–Newton curvature); the error
/// tables of tests/models/test_mupost.cpp establish the quadrature's accuracy with them.
struct MupostHead {
  static constexpr int n_params = 8;  // theta entries, at most (4 + 4 cost parameters)
  const ActionNetwork* net = nullptr;
  const double* theta = nullptr;
  ActionNetwork::Workspace* ws = nullptr;
  struct Adjoint {
    double d[n_params] = {};
  };
  double eval(double u, double& dla_du, double* dp) const;
  bool inverse(double, double&, double&) const { return false; }
  double curvature(double) const { return 0.0; }
  static void add(Adjoint& a, const double* dp, double g) {
    for (int k = 0; k < n_params; ++k) a.d[k] += g * dp[k];
  }
};

/// The u range over which a condition's mupost head is tabulated (HeadTable, models/chebyshev.hpp):
/// [min x - R s, max x + R s] with s = sigma rounded up to the grid 2^(k/8) and R = 6 + sqrt(2) t_max,
/// t_max the rule's largest node: the Laplace scale is at most sqrt(2) sigma, so the nodes of a
/// trial whose mode is within 6 s of x lie inside. The range is constant while sigma stays in a
/// grid cell and quadrature band, so the table's gradient is that of its value.
void mupost_table_range(std::span<const double> xs, double sigma, const GaussHermite& rule, double& u_lo,
                        double& u_hi);

/// A condition's mupost head, tabulated over mupost_table_range.
HeadTable<MupostHead> mupost_table(const MupostHead& h, std::span<const double> xs, double sigma,
                                   const GaussHermite& rule);

} // namespace bactor::detail
