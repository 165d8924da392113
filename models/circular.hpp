// SPDX-License-Identifier: MIT
// Circular (von Mises) perception and motor noise (docs/families.md, "Circular tasks").
// Stimuli s, measurements m, actions a and responses r are angles in radians, in (-pi, pi]:
//   prior        s ~ VM(mu_0, kappa_0)      kappa_0 = 1 / sigma_0^2
//   measurement  m | s ~ VM(s, kappa)        kappa = 1 / sigma^2
//   posterior    s | m ~ VM(mu_post, kappa_post), kappa_post e^{i mu_post} = kappa_0 e^{i mu_0} + kappa e^{i m}
//   action       a* = mu_post + d*(kappa_post, kappa_r, c): d* = 0 for every cost symmetric and
//                non-decreasing in the wrapped error |d| (no solve), else the minimiser of the
//                expected cost over the circle (models/circular_shift.hpp)
//   response     r | a ~ VM(a, kappa_r)     kappa_r = 1 / sigma_r^2
//   lapse        with probability lambda, r ~ U(-pi, pi] instead (density 1 / (2 pi))
// theta = (sigma, sigma_0, mu_0, sigma_r, cost parameters c...): the layout of every other model.
//
// The likelihood of one trial integrates the measurement over the circle,
//   p(r | s) = ∫ VM(m; s, kappa) VM(r; a*(m), kappa_r) dm,
// by the trapezoid rule on n equispaced nodes m_j = mu_0 + 2 pi j / n, spectrally accurate for
// this periodic, analytic integrand; n grows with the integrand's sharpness (circular_nodes).
// The nodes sit at fixed offsets from mu_0, so kappa_post, mu_post - mu_0 and d* at node j are
// the same for every trial of a row: the actions are solved once per node (n / 2 + 1 solves, by
// symmetry), and each trial costs two products per node. The gradient is that of the quadrature
// sum (n held fixed), one tape node for all rows (circular_likelihood_node), its kernel
// vectorised over the nodes. Private header.
#pragma once

#include <bactor/engine/tape.hpp>
#include "models/circular_shift.hpp"
#include "models/inference_nodes.hpp"

#include <cstddef>
#include <memory>
#include <numbers>
#include <span>
#include <string>
#include <vector>

namespace bactor {

class Rng;
struct CostInfo;

/// x wrapped into (-pi, pi].
double wrap_angle(double x);

/// log(I0(kappa) e^{-kappa}) for kappa >= 0, stable at any kappa (power series below 20, the
/// asymptotic expansion above). d/dkappa = bessel_ratio(kappa) - 1.
double log_i0e(double kappa);
/// A(kappa) = I1(kappa) / I0(kappa), the mean resultant length of VM(0, kappa); in [0, 1).
double bessel_ratio(double kappa);

/// log VM(x; mu, kappa) = kappa (cos(x - mu) - 1) - log(2 pi) - log_i0e(kappa).
double vonmises_logpdf(double x, double mu, double kappa);

/// The posterior of s given m: kappa_post e^{i mu_post} = kappa_0 e^{i mu_0} + kappa e^{i m}.
struct VonMisesPosterior {
  double mu = 0, kappa = 0;
};
VonMisesPosterior vonmises_posterior(double mu_0, double kappa_0, double m, double kappa);

/// A draw from VM(mu, kappa) in (-pi, pi] (Best & Fisher's rejection sampler; uniform for
/// kappa < 1e-8, a wrapped normal above 1e7 where the two agree to double precision).
double sample_vonmises(Rng& rng, double mu, double kappa);

/// theta's entries as concentrations: kappa = 1/sigma^2, kappa_0 = 1/sigma_0^2, kappa_r = 1/sigma_r^2.
struct CircularParams {
  double kappa = 0, kappa_0 = 0, mu_0 = 0, kappa_r = 0;
  static CircularParams of(const double* theta);
};

/// A response of the circular actor with the action mu_post (a cost symmetric in the wrapped
/// error) to stimulus s: m ~ VM(s, kappa), a = mu_post(m), r ~ VM(a, kappa_r), in (-pi, pi].
double simulate_circular_response(const CircularParams& p, double s, Rng& rng);

/// How a cost acts under von Mises perception.
enum class CircularAction {
  mu_post,  // symmetric and non-decreasing in |d|, no parameters: a* = mu_post, no solve
  shifted,  // asymmetric or with parameters: a* = mu_post + d* (models/circular_shift.hpp)
};

/// Throws ArgumentError("cost", ...) unless `cost` is usable under von Mises perception: a loss
/// that depends on the wrapped difference d = wrap(r - s) alone. QuadraticCost and AbsoluteCost
/// are read on d (d^2, |d|: action mu_post); other built-ins are refused; a formula is checked
/// on a grid of (s, d) and of its parameters (drawn from their priors): mu_post when it is
/// symmetric and non-decreasing in |d| without parameters (a symmetric one that decreases is
/// refused), shifted when it is asymmetric, refused when it has parameters but is symmetric for
/// all of them (they would not move the action, so they could not be inferred).
CircularAction check_circular_cost(const CostInfo& cost);

/// The circular actor of one theta (4 + cost parameters entries): its action at any measurement
/// (simulation and predictions; the likelihood solves at its nodes itself).
class CircularActor {
public:
  CircularActor(const CostInfo& cost, const double* theta);
  const CircularParams& params() const { return p_; }
  /// a*(m) = mu_post(m) + d*(kappa_post(m)), d* by Newton from d* at the largest kappa_post
  /// (kappa + kappa_0, found by a global search), the likelihood's continuation's start.
  double action(double m) const;
  /// A response to s: m ~ VM(s, kappa), a = action(m), r ~ VM(a, kappa_r), in (-pi, pi].
  double respond(double s, Rng& rng) const;

private:
  CircularParams p_;
  bool shifted_ = false;
  detail::CircularCostSeries series_;
  mutable std::unique_ptr<detail::CircularShiftSolver> solver_;
  double d_top_ = 0;  // d* at kappa + kappa_0
};

/// The number of trapezoid nodes for the trial integral: 10 sqrt(kappa + kappa_r w^2) + 32,
/// w = kappa / |kappa - kappa_0| the largest d mu_post / dm (m opposite mu_0), so that the
/// integrand's sharpest feature is resolved; rounded up to a multiple of 8, at most
/// circular_max_nodes. Relative error below 1e-9 (tested against a 20,001-node integral).
int circular_nodes(const CircularParams& p);
inline constexpr int circular_max_nodes = 4096;

struct SimulationSpec;
struct Dataset;
struct InferenceSpec;

namespace detail {

/// simulate() under von Mises perception: s ~ U(s_lo, s_hi) wrapped into (-pi, pi] (the same
/// stimuli in every condition), then CircularActor::respond per trial, Rng(seed, 0); with
/// spec.lapse > 0, Rng(seed, 1) decides which trials lapse (their indices into `lapsed` when
/// given) and draws their responses, uniform on the circle (the other trials are those of
/// lapse = 0).
/// Parameters sigma, sigma_0, sigma_r (positive), mu_0 (any angle, wrapped) and the cost's, by
/// name in spec.values or per condition in spec.condition_values / condition_sigmas; motor
/// models, offsets and networks are refused (ArgumentError naming the option).
Dataset simulate_circular(const SimulationSpec& spec, std::vector<std::size_t>* lapsed = nullptr);

/// One row's trials (a condition): angles and their cosines and sines.
struct CircularTrials {
  std::vector<double> s, r, cs, ss, cr, sr;
  void add(double s_i, double r_i);
  std::size_t size() const { return s.size(); }
};

/// The cost of a circular fit: the loss and whether its action needs the solve.
struct CircularModel {
  const CostInfo* cost = nullptr;
  bool shifted = false;
  /// Theta entries per row: 4 + cost parameters.
  std::size_t n_theta() const { return 4 + cost->params.size(); }
  static CircularModel of(const CostInfo& cost) { return {&cost, check_circular_cost(cost) == CircularAction::shifted}; }
};

/// Where a row's theta and lapse probability are in V (eps_at = no_lapse: none), and its trials.
inline constexpr std::size_t no_lapse = std::size_t(-1);
struct CircularRow {
  std::size_t theta_at = 0;
  const CircularTrials* trials = nullptr;
  std::size_t eps_at = no_lapse;
};

/// Σ_i log p(r_i | s_i) of one row at theta (m.n_theta() entries), with lapse probability *eps
/// when eps is not null (p = (1 - eps) p_actor + eps / (2 pi)); adds d/dtheta to grad[0..n_theta)
/// and d/deps to grad[n_theta] (with a lapse) when grad is not null, writes each trial's value
/// to trial_ll when not null. -inf outside the support (a sigma not positive and finite).
double circular_row_loglik(const CircularModel& m, const double* theta, const double* eps, const CircularTrials& t,
                           double* grad, double* trial_ll);

/// What a circular fit (ActorModel under --perception vonmises) needs of its spec and data:
/// a cost of check_circular_cost, no network, exact action, sampled latents, motor model or
/// offset, no lapse range but the whole circle (-pi:pi, which lapse_range gives), and scale 0 or 1 (angles have no unit to choose; S = 1); every stimulus and response
/// in (-pi, pi] (a message naming the file and line otherwise). ArgumentError naming the
/// option or std::invalid_argument naming the trial.
void check_circular_fit(const Dataset& data, const InferenceSpec& spec);

/// A circular fit's likelihood rows: one per condition, theta of condition c at c * n_theta,
/// its lapse probability (with lapses) at conditions * n_theta + c.
struct CircularFit {
  CircularModel model;
  std::vector<CircularTrials> trials;
  std::vector<CircularRow> rows;
  /// Sizes the rows for `conditions` conditions under `cost`.
  void reset(const CostInfo& cost, std::size_t conditions, bool lapse);
  /// Each row's trial values (value path): out[c] gets condition c's trials in order.
  void values(const double* V, std::span<double* const> out) const;
};

/// acc + Σ_rows circular_row_loglik(V[theta_at ...], V[eps_at], trials) as one tape node;
/// backward adds into theta's entries (and the lapse probability) of every row, and acc.
/// `m` and `rows` must outlive the node.
Var circular_likelihood_node(Var V, const CircularModel& m, std::span<const CircularRow> rows, Elem acc = {});

} // namespace detail
} // namespace bactor
