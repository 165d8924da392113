// SPDX-License-Identifier: MIT
// The exact-action likelihood (issue 17, part 1): the optimal action a*(m, theta) computed
// inside the likelihood by the ground-truth solver (models/ground_truth.hpp) instead of by a
// network or a closed form, for any cost family. Slow by design; it produces the reference
// posterior against which network posteriors are checked. Private header.
//
// The action. With y = log a, F(y; mu, sp, sr, p) = E_{s|m} E_{motor} ℓ(s, e^{y + sr u}) where
// log s | m ~ N(mu, sp) is the actor's posterior (mu = mu_post, sp = sigma_post) and p the cost
// parameters. y* solves the first-order condition F_y(y*) = 0 (Newton on F_y, the ground
// truth's quadrature for F and F_y), and by the implicit function theorem
//     d y* / d phi = − F_{y phi} / F_{yy},   phi in {mu, sp, sr, p},
// with the second derivatives F_{yy}, F_{y phi} taken as central differences of F_y (which the
// quadrature gives to ~1e-13 and which is smooth in every argument, also for the costs with a
// kink at s = r, where pointwise second derivatives of ℓ would miss the kink's delta term).
// theta enters through mu and sp (sigma, sigma_0, mu_0), sr and p; the measurement through mu
// (d mu / d log m = w_m).
//
// Under the generalized and gaussian motor models (models/motor.hpp) the expectation is over
// that model's noise and sigma_a is one more parameter phi (the gaussian model has no sr).
//
// Under gaussian perception (PerceptionModel::gaussian, models/exact_linear.hpp) everything is
// read in linear space: y = a itself, s | m ~ N(mu, sp^2) with mu = w m + (1 - w) mu_0 (mu_0
// itself, of any sign), u = m; the solve and its partials are linear_action_solve's (exact
// second derivatives by Gaussian integration by parts); the gaussian motor model only.
//
// Per condition and per gradient, y*(mu) depends on the measurement only through mu_post,
// linearly in u = log m, so it is solved at Chebyshev points in mu covering the trials'
// quadrature nodes (u in [min x − R sigma, max x + R sigma]) and interpolated there (value
// and IFT partials, each a Chebyshev series); a node outside that range is solved directly.
// The interpolant is piecewise: 16 points per piece, pieces of at most 4 in mu, each halved
// until the last two Chebyshev coefficients of y* are below 1e-7 (AbsoluteCostQuadraticEffort's
// action has a knee where the effort term takes over, which one series over the whole range
// missed by 3e-3; it takes 7 pieces there, the smooth costs one).
// The interpolation error is below 3e-7 in log a on the tested costs and ranges
// (tests/models/test_exact_action.cpp), far below the quadrature marginal's. Nothing is kept
// between calls, so a result depends on theta and the data only.
//
// The likelihood of a trial is the adaptive Gauss–Hermite marginal of models/marginal.hpp
// (gh_trial_loglik) with ExactHead as the head: its gradient is that of the quadrature sum with
// the nodes held fixed, through d log a / d theta at every node.
#pragma once

#include <bactor/engine/tape.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/ground_truth.hpp>
#include <bactor/models/marginal.hpp>
#include <bactor/models/motor.hpp>
#include <bactor/models/perception.hpp>
#include "models/inference_nodes.hpp"

#include <array>
#include <cstddef>
#include <span>
#include <vector>

namespace bactor::detail {

/// The largest number of cost parameters the exact action supports (the built-in families have 0
/// or 1; a formula may have more). Each one costs a central difference of F_y per solve and a
/// Chebyshev series per piece; the loops run over the cost's own count, so a one-parameter fit
/// costs what it did under a limit of 1 (bench/exact_action). More are refused (ArgumentError
/// "exact_action", models/likelihood_plan.cpp).
inline constexpr std::size_t exact_max_cost_params = 4;

struct ExactActionOptions {
  /// Quadrature of the expected cost (see GroundTruthOptions): 20 x 20 nodes agree with the
  /// ground truth's 32 x 32 to 1e-10 in log a on the tested costs (test_exact_action.cpp).
  GroundTruthOptions quadrature{20, 20, 8.5, 1e-12};
  int interpolation_nodes = 16;  // Chebyshev points per piece of the interpolant
  double max_piece = 4.0;        // initial pieces at most this wide in mu
  double tail_tolerance = 1e-7;  // a piece is halved while |c_{K-2}|, |c_{K-1}| of y* exceed this
  int max_halvings = 6;
  // A halved piece whose tail is below noise_cap and not 0.3x its parent's is at the solver's
  // noise floor and kept (see ExactHead::build).
  double noise_cap = 1e-4;
  // The interpolant covers u in [min x - R sigma, max x + R sigma]: the quadrature's search starts
  // within 8 sigma of x and its nodes reach ~4.5 Laplace sds beyond the mode (6 left the nodes
  // of responses beyond AbsoluteCostQuadraticEffort's saturation outside, each solved directly:
  // 4x slower per gradient in bench/exact_action).
  double range_sds = 12.0;
};

/// The optimal log action and its partial derivatives (implicit function theorem).
struct ExactLogAction {
  double y = 0;                     // log a*
  double d_mu = 0, d_sp = 0, d_sr = 0, d_sa = 0;
  std::array<double, exact_max_cost_params> d_p{};  // d y* / d p_k, k < the cost's parameter count
  double fyy = 0;                   // F_yy at y* (a curvature guess for a neighbouring solve)
  int evaluations = 0;              // F_y evaluations spent (for the bench)
};

/// y* = argmin_y F(y; mu, sp, sr, p) and dy*/d(mu, sp, sr, p), Newton on F_y from y_start
/// (with `curvature` as F_yy there when it is positive, e.g. a neighbouring solve's, else a
/// central difference). Throws std::domain_error when no minimum is found. Gaussian
/// perception: y = a, solved by linear_action_solve (models/exact_linear.hpp; mn gaussian).
ExactLogAction exact_log_action(const CostInfo& cost, double mu, double sp, const MotorNoise& mn, const double* p,
                                const GroundTruthOptions& quad, double y_start, double curvature = 0,
                                PerceptionModel perception = PerceptionModel::lognormal);
/// The same under log-normal motor noise sr; d_sa = 0.
inline ExactLogAction exact_log_action(const CostInfo& cost, double mu, double sp, double sr, const double* p,
                                       const GroundTruthOptions& quad, double y_start, double curvature = 0) {
  return exact_log_action(cost, mu, sp, MotorNoise{MotorModel::lognormal, sr, 0.0}, p, quad, y_start, curvature);
}

/// log a*(u; theta) for one condition as a head of models/marginal.hpp (gh_trial_loglik): its
/// parameters are theta itself (sigma, sigma_0, mu_0, sigma_r, the cost parameters (at most
/// exact_max_cost_params), and sigma_a under the generalized and gaussian motor models:
/// action_theta_size entries; unused entries 0), so
/// the quadrature's head adjoint is d log p / d theta through the action. Under gaussian
/// perception the head is a*(m) itself (u = m, in the fit's units), read by LinearForm.
class ExactHead {
public:
  static constexpr int n_params = 4 + int(exact_max_cost_params) + 1;
  using Adjoint = std::array<double, n_params>;

  /// Solves the action at the interpolation points covering u in [u_lo, u_hi] for the actor
  /// planning with motor noise `motor` (theta as action_theta_size(cost, {motor})).
  ExactHead(const CostInfo& cost, std::span<const double> theta, double u_lo, double u_hi,
            const ExactActionOptions& opt, MotorModel motor = MotorModel::lognormal,
            PerceptionModel perception = PerceptionModel::lognormal);

  /// log a(u), d log a / du, and d log a / d theta (n_params entries) in dp.
  double eval(double u, double& dla_du, double* dp) const;
  /// d^2 log a / du^2 (from the interpolant; 0 outside its range).
  double curvature(double u) const;
  /// A starting point for the mode search: the u where the head, linearised at the centre of
  /// its range, equals y.
  bool inverse(double y, double& u, double& slope) const;
  static void add(Adjoint& a, const double* dp, double g) {
    for (int k = 0; k < n_params; ++k) a[k] += g * dp[k];
  }
  /// Direct solves so far (interpolation points and nodes outside the range).
  int solves() const { return solves_; }
  int evaluations() const { return evaluations_; }

private:
  ExactLogAction solve(double mu, double y_start, double curvature = 0) const;
  double mu_of(double u) const { return lm0_ + wm_ * (u - lm0_); }

  // One piece of the interpolant: Chebyshev coefficients (f = c0/2 + Σ c_j T_j) on [lo, hi]
  // of y*, its partials in (mu, sp, sr, sa), in each cost parameter (p[k], k < np_; the rest
  // empty) and the mu-derivative of d_mu.
  struct Piece {
    double lo = 0, hi = 0;
    std::vector<double> y, mu, sp, sr, sa, mumu;
    std::array<std::vector<double>, exact_max_cost_params> p;
    double t(double m) const { return (2 * m - lo - hi) / (hi - lo); }
  };
  /// Solves at the piece's Chebyshev points (y_start: a guess at lo) and appends it, halved
  /// while its tail is above tolerance; returns the value at hi (the next piece's guess).
  double build(double lo, double hi, double y_start, int depth, double parent_tail);
  const Piece* find(double mu) const;

  const CostInfo* cost_;
  const ExactActionOptions* opt_;
  MotorModel motor_ = MotorModel::lognormal;
  PerceptionModel perception_ = PerceptionModel::lognormal;
  std::size_t np_ = 0;     // the cost's parameters (theta[4 .. 4 + np_))
  std::size_t sa_at_ = 0;  // sigma_a's index in theta (generalized, gaussian)
  std::array<double, n_params> theta_{};
  double sp_ = 0, wm_ = 0, lm0_ = 0;  // lm0_: log mu_0 (mu_0 itself under gaussian perception)
  double dlm0_ = 0;                    // d lm0_ / d mu_0
  // d sp / d(sigma, sigma_0), d wm / d(sigma, sigma_0).
  double dsp_ds_ = 0, dsp_ds0_ = 0, dwm_ds_ = 0, dwm_ds0_ = 0;
  double lo_ = 0, hi_ = 0;  // interpolation range in mu
  std::vector<Piece> pieces_;  // in increasing mu, covering [lo_, hi_]
  mutable int solves_ = 0, evaluations_ = 0;
};

/// The interpolation range in u for trials x and measurement noise sigma.
void exact_action_range(std::span<const double> x, double sigma, const ExactActionOptions& opt, double& u_lo,
                        double& u_hi);

} // namespace bactor::detail
