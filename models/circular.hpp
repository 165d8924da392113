// SPDX-License-Identifier: MIT
// Circular (von Mises) perception and motor noise (docs/families.md, "Circular tasks").
// Stimuli s, measurements m, actions a and responses r are angles in radians, in (-pi, pi]:
//   prior        s ~ VM(mu_0, kappa_0)      kappa_0 = 1 / sigma_0^2
//   measurement  m | s ~ VM(s, kappa)        kappa = 1 / sigma^2
//   posterior    s | m ~ VM(mu_post, kappa_post), kappa_post e^{i mu_post} = kappa_0 e^{i mu_0} + kappa e^{i m}
//   action       a* = mu_post (every cost symmetric and non-decreasing in the wrapped error |d|)
//   response     r | a ~ VM(a, kappa_r)     kappa_r = 1 / sigma_r^2
// theta = (sigma, sigma_0, mu_0, sigma_r): the layout of every other model, without cost
// parameters (a* does not depend on them, so they could not be inferred).
//
// The likelihood of one trial integrates the measurement over the circle,
//   p(r | s) = ∫ VM(t; 0, kappa) VM(r; mu_post(s + t), kappa_r) dt,
// by the trapezoid rule on n equispaced nodes t_j = 2 pi j / n, spectrally accurate for this
// periodic, analytic integrand; n grows with the integrand's sharpness (circular_nodes). The
// gradient is that of the quadrature sum (n held fixed), one tape node for all rows
// (circular_likelihood_node), its kernel vectorised over the nodes. Private header.
#pragma once

#include <bactor/engine/tape.hpp>
#include "models/inference_nodes.hpp"

#include <cstddef>
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

/// A response of the circular actor to stimulus s: m ~ VM(s, kappa), a = mu_post(m),
/// r ~ VM(a, kappa_r), in (-pi, pi].
double simulate_circular_response(const CircularParams& p, double s, Rng& rng);

/// Throws ArgumentError("cost", ...) unless `cost` is usable under von Mises perception: no
/// cost parameters, and a loss that depends on the wrapped difference d = wrap(r - s) alone,
/// symmetric and non-decreasing in |d| (then a* = mu_post). QuadraticCost and AbsoluteCost are
/// read on d (d^2, |d|); a formula is checked on a grid of (s, d) (e.g. 1 - cos(r - s) passes).
void check_circular_cost(const CostInfo& cost);

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
/// stimuli in every condition), then simulate_circular_response per trial, Rng(seed, 0).
/// Parameters sigma, sigma_0, sigma_r (positive) and mu_0 (any angle, wrapped), by name in
/// spec.values or per condition in spec.condition_values / condition_sigmas; lapses, motor
/// models, offsets and networks are refused (ArgumentError naming the option).
Dataset simulate_circular(const SimulationSpec& spec);

/// One row's trials (a condition): angles and their cosines and sines.
struct CircularTrials {
  std::vector<double> s, r, cs, ss, cr, sr;
  void add(double s_i, double r_i);
  std::size_t size() const { return s.size(); }
};

/// Where a row's theta is in V, and its trials.
struct CircularRow {
  std::size_t theta_at = 0;
  const CircularTrials* trials = nullptr;
};

/// Σ_i log p(r_i | s_i) of one row at theta (4 entries); adds d/dtheta to grad[0..3] when
/// grad is not null, writes each trial's value to trial_ll when not null. -inf outside the
/// support (a sigma not positive and finite).
double circular_row_loglik(const double* theta, const CircularTrials& t, double* grad, double* trial_ll);

/// What a circular fit (ActorModel under --perception vonmises) needs of its spec and data:
/// a cost of check_circular_cost, no network, exact action, lapses, sampled latents, motor
/// model or offset, and scale 0 or 1 (angles have no unit to choose; S = 1); every stimulus
/// and response in (-pi, pi] (a message naming the file and line otherwise). ArgumentError
/// naming the option or std::invalid_argument naming the trial.
void check_circular_fit(const Dataset& data, const InferenceSpec& spec);

/// A circular fit's likelihood rows: one per condition, theta of condition c at c * n_theta.
struct CircularFit {
  std::vector<CircularTrials> trials;
  std::vector<CircularRow> rows;
  /// Sizes the rows for `conditions` conditions with theta stride n_theta.
  void reset(std::size_t conditions, std::size_t n_theta);
  /// Each row's trial values (value path): out[c] gets condition c's trials in order.
  void values(const double* V, std::span<double* const> out) const;
};

/// acc + Σ_rows circular_row_loglik(V[theta_at ...], trials) as one tape node; backward adds
/// into theta's four entries of every row (and acc). `rows` must outlive the node.
Var circular_likelihood_node(Var V, std::span<const CircularRow> rows, Elem acc = {});

} // namespace detail
} // namespace bactor
