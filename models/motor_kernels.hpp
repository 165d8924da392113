// SPDX-License-Identifier: MIT
// Vectorised (xsimd, 4 trials per AVX2 register in double) per-trial loops of the motor forms
// (models/motor_marginal.hpp, docs/families.md): the same adaptive Gauss–Hermite marginal as
// motor_trial_loglik, one trial per lane, for the power-law head (closed forms, power and
// posterior networks) and the softplus head under the three motor models, and the exact
// marginal of the log-normal model with an offset under a power-law head. The tests compare
// them with the scalar code and with finite differences. Private header.
#pragma once

#include <bactor/models/marginal.hpp>
#include <bactor/models/motor.hpp>
#include "models/inference_kernels.hpp"

#include <cstddef>
#include <vector>

namespace bactor::detail {

/// Sums of one row's trial log-likelihoods' gradient: d/d sigma, sigma_r, sigma_a, offset and the
/// head's parameters (power: log_k, w; softplus: k, w, x2).
struct MotorSums {
  double sigma = 0, sigma_r = 0, sa = 0, delta = 0;
  double head[3] = {0, 0, 0};
  double rho = 0;  // with lapses: Σ_i wt_i rho_i (the actor's responsibilities)
};

/// With lapses (`mix` given) each trial's density is log((1 - eps) p_actor(r) + eps p_cont(r)),
/// its gradient terms weighted by rho_i = (1 - eps) p_actor / p; the contaminant is uniform in
/// log r over a range of width W for the log-normal families (p_cont = 1/(W r), as without a
/// motor model) and uniform in r for the gaussian one (p_cont = 1/W): LapseMix::log_eps_cont
/// is log eps - log W in either case.

/// Σ_i wt_i log p(r_i | s_i) under motor model Motor (LognormalMotor, GeneralizedMotor,
/// GaussianMotor) and head Head (PowerHead, SoftplusHead) by adaptive Gauss–Hermite, with its
/// gradient added to g; x = log s, r the responses, n a multiple of simd_lanes() (padding has
/// wt = 0). -inf (g unchanged in meaning, to be discarded) where a trial of weight > 0 has
/// density 0 for every action. `trial_ll` (optional, n entries): each trial's log-density.
template <class Head, class Motor>
double motor_marginal(const Head& h, std::size_t n, const double* x, const double* r, const double* wt, double sig,
                      const MotorParams& mp, const GaussHermite& rule, MotorSums& g, double* trial_ll = nullptr,
                      const LapseMix* mix = nullptr);

/// The log-normal model with an offset under a power-law head, exactly: log(r - delta) ~
/// N(log_k + w x, sigma_r^2 + w^2 sigma^2), the density of r with the Jacobian 1/(r - delta).
/// Same conventions as motor_marginal, one SIMD log per trial: the path for lapses, per-trial
/// values and offsets outside OffsetSums' table (which serves the gradient otherwise, in O(1)).
double lognormal_offset_marginal(const PowerHead& h, std::size_t n, const double* x, const double* r, const double* wt,
                                 double sig, const MotorParams& mp, MotorSums& g, double* trial_ll = nullptr,
                                 const LapseMix* mix = nullptr);

/// The log-normal model with an offset under a power-law head in O(1) per gradient: the three
/// response sums the exact marginal needs, S1 = Σ wt log(r - delta), S2 = Σ wt log(r - delta)^2
/// and Sx = Σ wt x log(r - delta), tabulated once per row as Chebyshev series in
/// t = log(r_min - delta). Each term log(r_i - delta) = log(d_i + e^t), d_i = r_i - r_min >= 0, is
/// t itself (d_i = 0) or log d_i + softplus(t - log d_i), whose singularities lie at distance pi
/// from the real t axis whatever d_i is, so pieces of a fixed width converge geometrically for
/// every data set (width 2, 24 points: the tail coefficients are checked at build). The
/// marginal's value is then power_loglik's with these sums in place of the log responses', and
/// its offset derivative is the series' t-derivative times dt/d delta = -1/(r_min - delta): the
/// gradient of the value computed. Outside the tabulated t range (delta below -3 r_min, or
/// within 1.5e-8 r_min of r_min) and for lapses or per-trial values, the per-trial loop
/// (lognormal_offset_marginal) runs instead.
class OffsetSums {
public:
  OffsetSums(std::size_t n, const double* x, const double* r, const double* wt);
  /// Σ_i wt_i log p(r_i | s_i) and its gradient added to g, as lognormal_offset_marginal
  /// without lapses; false (nothing written) where delta is outside the table.
  bool marginal(const PowerHead& h, double sig, const MotorParams& mp, MotorSums& g, double& ll) const;
  /// Whether the series passed their build-time check (else marginal() always returns false).
  bool valid() const { return !coeffs_.empty(); }

  static constexpr int points = 24;       // Chebyshev points per piece
  static constexpr double width = 2.0;    // piece width in t

private:
  double r_min_ = 0, t_lo_ = 0, t_hi_ = 0;
  double n_ = 0, sx_ = 0, sxx_ = 0;
  std::size_t pieces_ = 0;
  // Per piece, points x 6 interleaved: S1, S2, Sx and their t-derivatives (d/dt, already
  // scaled from the piece's [-1, 1] coordinate).
  std::vector<double> coeffs_;
};

} // namespace bactor::detail
