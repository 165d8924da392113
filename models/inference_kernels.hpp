// SPDX-License-Identifier: MIT
// Vectorised (xsimd, 4 trials per AVX2 register in double) per-trial loops of the inference
// model for the network's softplus head: the sampled-latent log-likelihood and the adaptive
// Gauss–Hermite marginal. Same mathematics as the scalar code in models/marginal.hpp, which the
// tests compare them with.
#pragma once

#include <bactor/models/marginal.hpp>

#include <cmath>
#include <cstddef>

namespace bactor::detail {

/// Sums of one condition's trial log-likelihoods and their gradient.
struct SoftplusSums {
  double sigma = 0, sigma_r = 0;  // d/d sigma, d/d sigma_r
  SoftplusHead::Adjoint head;     // d/d (k, w, x2)
  double rho = 0;                 // with lapses: Σ_i wt_i rho_i (the actor's responsibilities)
};

/// A lapse mixture's constants for one condition: per trial
///   log p(r_i) = log((1 - eps) p_actor(r_i) + eps p_cont(r_i)),  p_cont(r) = 1 / (width r),
/// so with y = log r both terms carry -y; log1m_eps = log(1 - eps), log_eps_cont = log eps -
/// log width (width = log hi - log lo of the contaminant). Each trial's gradient w.r.t. the
/// actor's parameters is the actor's times rho_i = (1 - eps) p_actor / p (its responsibility);
/// d/d eps of the sum is (Σ wt - Σ wt rho) / eps - Σ wt rho / (1 - eps) (lapse_gradient).
struct LapseMix {
  double log1m_eps = 0, log_eps_cont = -INFINITY;
  static LapseMix of(double eps, double log_width) { return {std::log1p(-eps), std::log(eps) - log_width}; }
};
/// d/d eps of Σ_i wt_i log p(r_i) from n = Σ wt and rho = Σ wt rho_i (0 at eps = 0, which only
/// a fixed value reaches).
inline double lapse_gradient(double eps, double n, double rho) {
  return eps > 0 && eps < 1 ? (n - rho) / eps - rho / (1 - eps) : 0.0;
}

/// The exact power-law marginal with lapses: Σ_i wt_i log((1 - eps) p_actor + eps p_cont) over
/// n trials (padded as the softplus kernels', a multiple of simd_lanes()), p_actor as
/// power_trial_loglik; the gradient w.r.t. (log_k, w, sigma, sigma_r) into g (added), rho =
/// Σ wt rho_i. `trial_ll` (optional, n entries): each trial's mixture log-density.
struct PowerLapseSums {
  double log_k = 0, w = 0, sigma = 0, sigma_r = 0, rho = 0, n = 0;
};
double power_lapse(const PowerHead& h, std::size_t n, const double* x, const double* y, const double* wt, double sig,
                   double sr, const LapseMix& mix, PowerLapseSums& g, double* trial_ll = nullptr);

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
/// With `lapse`: each trial's density is the mixture of LapseMix (its gradient reweighted by
/// rho_i; g.rho = Σ wt rho_i), and so is trial_ll.
double softplus_marginal(const SoftplusHead& h, std::size_t n, const double* x, const double* y, const double* wt,
                         double sig, double sr, const GaussHermite& rule, SoftplusSums& g,
                         int newton_steps = default_newton_steps, double* trial_ll = nullptr,
                         const LapseMix* lapse = nullptr);

} // namespace bactor::detail
