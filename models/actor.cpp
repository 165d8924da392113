// SPDX-License-Identifier: MIT
#include <bactor/models/actor.hpp>

#include <cmath>

namespace bactor {

ActorPosterior actor_posterior(double m, double sigma, double sigma_0, double mu_0) {
  const double prec = 1.0 / (sigma_0 * sigma_0) + 1.0 / (sigma * sigma);
  const double var = 1.0 / prec;
  const double w_m = var / (sigma * sigma);
  const double w_0 = var / (sigma_0 * sigma_0);
  return {w_0 * std::log(mu_0) + w_m * std::log(m), std::sqrt(var), w_m, w_0};
}

} // namespace bactor
