// SPDX-License-Identifier: MIT
// The log-normal Bayesian actor of docs/model.md: prior s ~ LogNormal(log mu_0, sigma_0),
// measurement m | s ~ LogNormal(log s, sigma), hence a log-normal posterior s | m.
#pragma once

#include <cstddef>

namespace bactor {

/// Posterior of the log-normal actor given measurement m: log s | m ~ N(mu_post, sigma_post).
/// w_m and w_0 are the weights of log m and log mu_0 in mu_post (w_m + w_0 = 1).
struct ActorPosterior {
  double mu_post, sigma_post, w_m, w_0;
};

/// sigma_post = (1/sigma_0^2 + 1/sigma^2)^(-1/2), w_m = sigma_post^2/sigma^2,
/// w_0 = sigma_post^2/sigma_0^2, mu_post = w_0 log mu_0 + w_m log m.
ActorPosterior actor_posterior(double m, double sigma, double sigma_0, double mu_0);

/// Index of each actor parameter in theta = (sigma, sigma_0, mu_0, sigma_r, cost params...).
namespace theta_index {
inline constexpr std::size_t sigma = 0, sigma_0 = 1, mu_0 = 2, sigma_r = 3, first_cost_param = 4;
}

/// Training prior ranges (docs/training.md): sigma, sigma_0, sigma_r ~ U(0.01, 0.5),
/// mu_0 ~ U(0.1, 7), stimulus s ~ U(0.1, 7); the generalized and gaussian motor models' sigma_a
/// (in the stimuli's units) ~ U(0.01, 0.5).
struct TrainingPrior {
  double noise_lo = 0.01, noise_hi = 0.5;
  double mu0_lo = 0.1, mu0_hi = 7.0;
  double s_lo = 0.1, s_hi = 7.0;
  double sigma_a_lo = 0.01, sigma_a_hi = 0.5;
};

} // namespace bactor
