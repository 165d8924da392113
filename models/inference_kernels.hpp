// SPDX-License-Identifier: MIT
// Vectorised (xsimd, 4 trials per AVX2 register in double) per-trial loops of the inference
// model for the network's softplus head: the sampled-latent log-likelihood and the adaptive
// Gauss–Hermite marginal. Same mathematics as the scalar code in models/marginal.hpp, which the
// tests compare them with.
#pragma once

#include <bactor/models/marginal.hpp>

#include <cstddef>

namespace bactor::detail {

/// Sums of one condition's trial log-likelihoods and their gradient.
struct SoftplusSums {
  double sigma = 0, sigma_r = 0;  // d/d sigma, d/d sigma_r
  SoftplusHead::Adjoint head;     // d/d (k, w, x2)
};

/// Lanes per SIMD register (trial arrays are padded to a multiple of this, weight 0).
std::size_t simd_lanes();

/// ex[i] = e^x[i], lx[i] = log x[i] by the kernels' own division-light SIMD exp and log
/// (n a multiple of simd_lanes(); for tests against std::exp / std::log).
void exp_log_kernels(std::size_t n, const double* x, double* ex, double* lx);

/// Sampled latents: Σ_i wt_i [ log N(y_i; la(x_i + sig z_i), sr) − y_i − z_i^2/2 ] over n
/// trials (n a multiple of simd_lanes(), padding has wt = 0); gz[i] = d/dz_i (0 on padding).
double softplus_sampled(const SoftplusHead& h, std::size_t n, const double* x, const double* y, const double* wt,
                        const double* z, double sig, double sr, double* gz, SoftplusSums& g);

/// Marginal: Σ_i wt_i log p(r_i | s_i) by adaptive Gauss–Hermite (as gh_trial_loglik), with
/// gradient. At most `newton_steps` Newton steps from the inverse-head guess, per lane until
/// converged (newton_tolerance); with an odd rule the mode is the centre node and is not
/// re-evaluated.
/// `trial_ll` (optional, n entries): each trial's own log p(r_i | s_i), weight not applied.
double softplus_marginal(const SoftplusHead& h, std::size_t n, const double* x, const double* y, const double* wt,
                         double sig, double sr, const GaussHermite& rule, SoftplusSums& g,
                         int newton_steps = default_newton_steps, double* trial_ll = nullptr);

} // namespace bactor::detail
