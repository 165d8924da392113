// SPDX-License-Identifier: MIT
// The population part of the hierarchical log-density (models/hierarchical.hpp) as one tape
// node: from the sampled coordinates q to every subject's constrained theta and the log-density
// of the population model, its priors and the shared parameters' priors. The likelihood then
// reads the subjects' theta rows as the inference model's nodes read conditions' rows
// (models/inference_nodes.hpp). Private header; the node's gradient is checked against finite
// differences in tests/models/test_hierarchical.cpp.
#pragma once

#include <bactor/engine/tape.hpp>
#include "models/inference_nodes.hpp"

#include <cstddef>
#include <vector>

namespace bactor::detail {

/// The most pooled parameters (counting each condition's copy) a plan may have.
inline constexpr std::size_t max_pooled = 64;

/// How one pooled parameter's subject values are sampled (see HierParameterisation).
enum class PooledCoord {
  noncentred,  // theta_j = m + tau z_j, z_j ~ N(0, 1)
  centred,     // theta_j = loc + x_j, x_j + loc ~ N(m, tau)
  ridge,       // log sigma given d (the partner's coordinate): non-centred on the conditional
  difference,  // d = log sigma_0 - log sigma (= loc_partner - loc + x_j), centred on N(m - m_p, sqrt(tau^2 + tau_p^2))
  intercept,   // log mu_0 through the quadratic actor's intercept kappa_j = loc + x_j, centred (PopulationPlan::intercept_w)
};

/// One pooled parameter: its theta index, the condition it belongs to, transform, population
/// prior and coordinate. With conditions (a blocked cohort) a parameter that varies by condition
/// is one PooledSpec per condition, each with its own population.
struct PooledSpec {
  std::size_t theta = 0;
  int cond = -1;            // the one condition whose rows it fills; -1: every condition's
  bool logit = false;       // v = lo + (hi - lo) sigmoid(theta) (else v = e^theta, or theta itself when `linear`)
  bool linear = false;      // v = theta (a parameter of either sign: mu_0 and the offset under gaussian perception)
  double lo = 0, hi = 1;
  double loc = 0, scale = 1, sd_scale = 0.5;  // m = loc + scale q_m; tau = sd_scale e^{q_tau}
  PooledCoord coord = PooledCoord::noncentred;
  int partner = -1;         // ridge <-> difference: the other pooled index
  int k_sigma = -1, k_sigma_0 = -1, k_sigma_r = -1;  // intercept: the noise parameters' pooled indices
  std::size_t w_row = 0;    // intercept: subject j's slope is intercept_w[w_row * J + j]
  // An angle (mu_0 under von Mises perception; v = theta as with `linear`): the population mean
  // is m = atan2(q[extra], q[k]) of a 2-D vector (q[k], q[extra]) whose density depends on its
  // length alone (kept near 1), i.e. m uniform on the circle, times a von Mises prior
  // exp(kappa_m cos(m - loc)) (kappa_m = 1 / scale^2; 0 when scale is infinite); subjects from
  // the wrapped normal WN(m, tau): noncentred mu_0_j = m + tau z_j, or centred mu_0_j =
  // atan2(q[extra + 1 + j], q[subject_q(j, k)]), each subject's own 2-D vector, with the density
  // WN(mu_0_j - m; tau).
  // The vectors are (cos ref, sin ref) + 0.25 (q_u, q_w) (a shift and scaling, constant
  // Jacobian; models/hierarchical.cpp, AngleVector): ref is the data's estimate of the mean
  // angle, each subject's at PopulationPlan::angle_reference, so that inits near q = 0 start
  // near them.
  bool angle = false;
  std::size_t extra = 0;    // the mean's second coordinate in q (from PopulationPlan::extra_q)
  double kappa_m = 0;
  double ref = 0;           // the mean's reference direction
  std::size_t ref_row = 0;  // the subjects' reference directions at PopulationPlan::angle_ref[ref_row * J + j]
};

/// q = (q_m[0..P), q_tau[0..P), shared[0..H), subject 0's P coordinates, subject 1's, ...,
/// then per angle the second component of its population mean's vector and, centred, each
/// subject's second component).
/// Output V: J rows of W = C * nt constrained values (subject j's theta in condition c at
/// row(j, c) = j * W + c * nt), then the log-density term (population model, population
/// priors, shared priors and log-Jacobians). A likelihood row (subject j, condition c) reads
/// theta at row(j, c); the population group of its parameters is c: the pooled parameters with
/// cond == c or -1 (uses_condition).
struct PopulationPlan {
  std::size_t J = 0, nt = 0;
  std::size_t C = 1;                     // conditions
  std::vector<PooledSpec> pooled;
  std::vector<SlotSpec> shared;          // their q fields index q directly
  std::vector<std::size_t> shared_theta; // theta index of each shared slot
  std::vector<int> shared_cond;          // condition of each shared slot (-1 or missing: every condition's)
  std::vector<std::pair<std::size_t, double>> fixed;  // index in a subject's row (c * nt + theta), value
  // intercept coordinates: each subject's constant slope w_hat_j (J values per intercept
  // coordinate, at PooledSpec::w_row; log mu_0 = (kappa - w sigma^2/2 + 3 sigma_r^2/2) /
  // (1 - w_hat_j), a constant Jacobian).
  std::vector<double> intercept_w;
  // angles: each subject's reference direction (J values per angle, at PooledSpec::ref_row;
  // empty: 0 for all)
  std::vector<double> angle_ref;
  double angle_reference(std::size_t j, std::size_t k) const {
    return angle_ref.empty() ? 0.0 : angle_ref[pooled[k].ref_row * J + j];
  }
  std::size_t P() const { return pooled.size(); }
  std::size_t W() const { return C * nt; }
  std::size_t row(std::size_t j, std::size_t c) const { return j * W() + c * nt; }
  /// Whether rows of condition c read a parameter of condition `cond` (-1: every condition).
  static bool uses_condition(int cond, std::size_t c) { return cond < 0 || std::size_t(cond) == c; }
  int shared_condition(std::size_t h) const { return h < shared_cond.size() ? shared_cond[h] : -1; }
  std::size_t n_extra = 0;               // the angles' extra coordinates (PooledSpec::extra)
  std::size_t n_q() const { return 2 * P() + shared.size() + J * P() + n_extra; }
  /// The first extra coordinate's index.
  std::size_t extra_q() const { return 2 * P() + shared.size() + J * P(); }
  std::size_t subject_q(std::size_t j, std::size_t k) const { return 2 * P() + shared.size() + j * P() + k; }
  /// Checks the plan (pairs consistent, shared q in range); call once it is filled.
  void validate() const;
};

/// The population mean m_k at q: loc + scale q_k (an angle's: atan2(q[extra], q[k])), except for a `difference` (aligned), whose
/// mean is sampled relative to its partner's: m_partner + loc - loc_partner + hypot(scale,
/// scale_partner) q_k (a linear map: its Jacobian is constant). Its prior is still
/// Normal(loc, scale) on m_k itself.
double population_mean(const PopulationPlan& plan, const double* q, std::size_t k);
/// q_k for the population means `m` (all P of them): population_mean's inverse (an angle's:
/// cos m_k, its extra coordinate sin m_k).
double population_mean_coordinate(const PopulationPlan& plan, const double* m, std::size_t k);

/// Value-only: V (J * W + 1 values) at q; also the subjects' unconstrained values (J * P)
/// when `theta_u` is given.
void population_values(const PopulationPlan& plan, const double* q, double* V, double* theta_u = nullptr);

/// log WN(d; tau), the wrapped normal density of an angle difference d with sd tau (of m + tau z
/// wrapped; a centred angle's population density), and its derivatives in d and tau. Up to tau =
/// 1.5 the sum over windings N(d + 2 pi k; 0, tau), |k| <= 3 (the next term is below e^-50 of
/// the first); above it the Fourier series (1 + 2 sum_n e^{-n^2 tau^2 / 2} cos(n d)) / (2 pi),
/// n <= 8 (the next term below e^-45): the same function, each where it converges fast.
double wrapped_normal_log(double d, double tau, double& d_d, double& d_tau);

/// The node: V as above. Backward: dq = (dV/dq)^T dV, from the saved sparse Jacobian (each
/// subject value depends on at most six coordinates) and the saved gradient of the log-density
/// term. `plan` must outlive the node.
Var population_node(Var q, const PopulationPlan& plan);

} // namespace bactor::detail
