// SPDX-License-Identifier: MIT
// The pieces of the inference log-density (models/inference.hpp) as tape nodes, so that
// ActorModel::log_density is a short composition of nodes and the tape's reverse pass computes
// its whole gradient (issue 14). Each node is one tape entry (engine/tape.hpp) whose forward
// and backward are the fused kernels the pieces already had: custom() nodes, and for the
// constrain and closed-form nodes Tape::make_node with a backward function (their operands
// and saved values in one arena block; 1.5% fewer instructions where a whole gradient takes
// 0.1 µs). Private header.
//
//   q ──constrain_node──> V = (theta_1, ..., theta_C, log prior + log|Jacobian|)
//   closed form:   (V, [z], acc) ──closed_form_*_node──> acc + Σ_c log p(r_c | theta_c)
//   network:       (V, row c) ──network_outputs──> x_c
//                  (x_c, sigma_c, sigma_r, [z_c], acc) ──power_* / softplus_*_node──> acc + ...
//
// Scalar operands are read as elements of another node's value (Elem) rather than through
// element() nodes, and a likelihood node adds its log-likelihood to a running sum `acc` (one
// node per condition instead of a likelihood node and a sum node): at N = 60 the closed-form
// gradient takes ~0.1 µs, so every tape entry counts. For the same reason the closed-form
// actor's head, log a = log_k(theta) + w(theta) u, is evaluated inside its likelihood node
// (which then takes theta), one node for all conditions, where the network's head is the
// network node's output (one per condition).
//
// Every node's gradient is checked against finite differences in
// tests/models/test_inference_nodes.cpp.
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

// ---- the closed-form actors ------------------------------------------------------------------

/// The costs whose optimal action is a power law in closed form (closed_form_head).
enum class ClosedForm { quadratic, quadratic_effort };
/// Throws std::invalid_argument for a cost without a power-law closed form.
ClosedForm closed_form_of(const CostInfo& cost);
/// closed_form_head for a cost resolved by closed_form_of.
PowerHead closed_form_head(ClosedForm form, std::span<const double> theta, double* jac = nullptr);

// ---- the network ----------------------------------------------------------------------------

// The network node is network_outputs(net, theta_v, offset, ws) (models/network_node.hpp), with
// one workspace per condition: the per-thread form would repeat a forward pass in the reverse
// pass for every condition after the first (effort_two_noise.csv, posterior network: +29% time
// per gradient under NUTS).

// ---- likelihood of one condition's trials ---------------------------------------------------
// Each adds its log-likelihood to `acc` (an empty Elem: 0); backward: d acc += dy.

/// Σ_c Σ_i log p(r_i | s_i), exact, for the cost's closed-form power-law actor over C =
/// stats.size() conditions: condition c's theta is theta[c nt .. (c + 1) nt) (sigma = its
/// element 0, sigma_r = element 3; closed_form_head), its trials summarised by stats[c]
/// (power_loglik). One node for every condition (log mu_0 and log beta computed once).
/// Backward: the fused gradient of power_loglik through the closed-form head's Jacobian, into
/// theta.
Var closed_form_marginal_node(ClosedForm form, Var theta, std::size_t nt, std::span<const PowerStats> stats,
                              Elem acc = {});

/// Σ_c Σ_i [log N(y_i; log a(x_i + sigma_c z_i), sigma_r) - y_i - z_i^2/2] for the closed-form
/// actor: the trials of condition c are x[begin[c] .. begin[c + 1]) (and y, and the latents z,
/// a node of x.size() values), theta as in closed_form_marginal_node. Backward: the fused
/// per-trial gradient (d z_i saved in the forward pass), into theta and z.
Var closed_form_sampled_node(ClosedForm form, Var theta, std::size_t nt, std::span<const double> x,
                             std::span<const double> y, std::span<const std::size_t> begin, Var z, Elem acc = {});

/// As closed_form_marginal_node for a power- or posterior-head network's outputs
/// x = (log_k, logit w, unused) (network_outputs): log a = log_k + sigmoid(x1) u.
Var power_marginal_node(Var x, Elem sigma, Elem sigma_r, const PowerStats& stats, Elem acc = {});

/// As closed_form_sampled_node for a power- or posterior-head network's outputs.
Var power_sampled_node(Var x, Elem sigma, Elem sigma_r, std::span<const double> xs, std::span<const double> ys, Var z,
                       Elem acc = {});

/// One condition's trials in the SIMD layout of the softplus kernels: n a multiple of
/// simd_lanes(), the real trials first, then padding with weight 0.
struct PaddedTrials {
  const double* x = nullptr;
  const double* y = nullptr;
  const double* wt = nullptr;
  std::size_t n = 0;
};

/// Σ_i log p(r_i | s_i) for a softplus-head network's outputs x = (x0, x1, x2), a =
/// softplus(softplus(x0) m^sigmoid(x1) + x2), by adaptive Gauss–Hermite quadrature with the
/// rule for sigma from `rules` (softplus_marginal). Backward: the kernel's fused gradient,
/// through softplus and sigmoid.
Var softplus_marginal_node(Var x, Elem sigma, Elem sigma_r, const PaddedTrials& trials, const GaussHermiteSet& rules,
                           Elem acc = {});

/// As power_sampled_node for a softplus-head network (softplus_sampled); z holds the real
/// trials' latents (z.size() <= trials.n).
Var softplus_sampled_node(Var x, Elem sigma, Elem sigma_r, const PaddedTrials& trials, Var z, Elem acc = {});

// ---- lapses: per trial log((1 - eps) p_actor + eps p_cont) ----------------------------------
// The mixture needs each trial's density, so these run over the trials (padded layout, SIMD
// kernels power_lapse and softplus_marginal with a LapseMix) instead of sufficient statistics;
// forward and backward in one pass, each trial's gradient weighted by its actor
// responsibility. log_width = log hi - log lo of the contaminant (log r ~ U(log lo, log hi)).

/// As closed_form_marginal_node with lapses: theta holds the C = trials.size() conditions' rows
/// of nt values, then the C conditions' lapse probabilities (elements C nt .. C nt + C - 1, the
/// layout of ActorModel's constrain node); the gradient goes to both.
Var closed_form_lapse_node(ClosedForm form, Var theta, std::size_t nt, std::span<const PaddedTrials> trials,
                           double log_width, Elem acc = {});

/// As power_marginal_node with lapses (probability `lapse`).
Var power_lapse_node(Var x, Elem sigma, Elem sigma_r, Elem lapse, const PaddedTrials& trials, double log_width,
                     Elem acc = {});

/// As softplus_marginal_node with lapses (probability `lapse`).
Var softplus_lapse_node(Var x, Elem sigma, Elem sigma_r, Elem lapse, const PaddedTrials& trials,
                        const GaussHermiteSet& rules, double log_width, Elem acc = {});

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

/// Σ_i log p(r_i | s_i) of one condition for a mupost-head network, by adaptive Gauss–Hermite
/// quadrature (gh_trial_loglik with the rule for sigma from `rules`) over the head tabulated
/// along u (mupost_table: about 16-200 network passes per condition instead of one per node and
/// trial); theta is V[row .. row + net.n_inputs()) (sigma = element 0, sigma_r = element 3).
/// Backward: the gradient with the nodes held fixed, into those elements of V (and acc). `net`,
/// `ws`, the trials and `rules` must outlive the node; `ws` must see no other forward() until the
/// node has been created (its gradient is computed in the forward pass).
Var mupost_marginal_node(const ActionNetwork& net, Var V, std::size_t row, std::span<const double> xs,
                         std::span<const double> ys, const GaussHermiteSet& rules, ActionNetwork::Workspace& ws,
                         Elem acc = {});

} // namespace bactor::detail
