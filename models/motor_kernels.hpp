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
/// Same conventions as motor_marginal (one SIMD log per trial; no sufficient statistics, since
/// the offset moves every response's log).
double lognormal_offset_marginal(const PowerHead& h, std::size_t n, const double* x, const double* r, const double* wt,
                                 double sig, const MotorParams& mp, MotorSums& g, double* trial_ll = nullptr,
                                 const LapseMix* mix = nullptr);

} // namespace bactor::detail
