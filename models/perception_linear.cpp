// SPDX-License-Identifier: MIT
#include "models/perception_linear.hpp"

#include <bactor/engine/errors.hpp>

#include <algorithm>
#include <numbers>

namespace bactor::detail {

LinearAction linear_action_of(const CostInfo& cost) {
  const std::string& n = cost.name;
  if (n == "QuadraticCost" || n == "AbsoluteCost" || n == "InvertedGaussian") return LinearAction::centred;
  if (n == "Linex") return LinearAction::linex;
  if (n == "AsymmetricQuadratic") return LinearAction::asymmetric;
  if (n == "QuadraticCostQuadraticEffort") return LinearAction::effort;
  throw ArgumentError("perception", "gaussian: cost " + n +
                                        " has no closed-form action under gaussian perception (the costs of r - s alone and "
                                        "QuadraticCostQuadraticEffort have one; networks for gaussian perception are not "
                                        "supported yet)");
}

double asymmetric_shift(double alpha, double* dt) {
  const double b = 1 - 2 * alpha;
  auto Phi = [](double t) { return 0.5 * std::erfc(-t / std::numbers::sqrt2); };
  auto phi = [](double t) { return std::exp(-0.5 * t * t) / std::sqrt(2 * std::numbers::pi); };
  // h is increasing with h(0) = b phi(0); Newton steps kept inside a shrinking bracket.
  double lo = -40, hi = 40, t = 0;
  for (int it = 0; it < 100; ++it) {
    const double P = Phi(t), h = t * (alpha + b * P) + b * phi(t), dh = alpha + b * P;
    if (h > 0) hi = t;
    else lo = t;
    double next = t - h / dh;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (std::abs(next - t) < 1e-15 * (1 + std::abs(t))) {
      t = next;
      break;
    }
    t = next;
  }
  if (dt) *dt = -(t * (1 - 2 * Phi(t)) - 2 * phi(t)) / (alpha + b * Phi(t));
  return t;
}

PowerHead linear_closed_form_head(LinearAction kind, std::span<const double> theta, std::size_t sa_at, double* jac) {
  const std::size_t n = theta.size();
  const double s = theta[theta_index::sigma], s0 = theta[theta_index::sigma_0], mu = theta[theta_index::mu_0];
  const double sa = theta[sa_at];
  const double s2 = s * s, s02 = s0 * s0, D = s2 + s02, iD2 = 1.0 / (D * D);
  const double w = s02 / D, dw_ds = -2 * s * s02 * iD2, dw_ds0 = 2 * s0 * s2 * iD2;
  // log_k and w of the posterior mean, mu_post = w m + (1 - w) mu_0.
  double lk = (1 - w) * mu, dlk_ds = -mu * dw_ds, dlk_ds0 = -mu * dw_ds0, dlk_dmu = 1 - w;
  double dw[2] = {dw_ds, dw_ds0}, slope = w, dlk_dp = 0, dw_dp = 0, dlk_dsa = 0;
  if (kind == LinearAction::linex || kind == LinearAction::asymmetric) {
    // tau^2 = sigma_post^2 + sigma_a^2 = s^2 s0^2 / D + sa^2.
    const double tau2 = s2 * s02 / D + sa * sa;
    const double dtau2_ds = 2 * s * s02 * s02 * iD2, dtau2_ds0 = 2 * s0 * s2 * s2 * iD2, dtau2_dsa = 2 * sa;
    double shift, dshift_dtau2;
    if (kind == LinearAction::linex) {
      const double c = theta[theta_index::first_cost_param];
      shift = -0.5 * c * tau2;
      dshift_dtau2 = -0.5 * c;
      dlk_dp = -0.5 * tau2;
    } else {
      const double alpha = theta[theta_index::first_cost_param], tau = std::sqrt(tau2);
      double dt = 0;
      const double ts = asymmetric_shift(alpha, &dt);
      shift = tau * ts;
      dshift_dtau2 = 0.5 * ts / tau;
      dlk_dp = tau * dt;
    }
    lk += shift;
    dlk_ds += dshift_dtau2 * dtau2_ds;
    dlk_ds0 += dshift_dtau2 * dtau2_ds0;
    dlk_dsa = dshift_dtau2 * dtau2_dsa;
  } else if (kind == LinearAction::effort) {
    const double beta = theta[theta_index::first_cost_param];
    dlk_dp = lk;
    dw_dp = w;
    lk *= beta, dlk_ds *= beta, dlk_ds0 *= beta, dlk_dmu *= beta;
    slope *= beta, dw[0] *= beta, dw[1] *= beta;
  }
  if (jac) {
    std::fill(jac, jac + 2 * n, 0.0);
    jac[theta_index::sigma] = dlk_ds;
    jac[theta_index::sigma_0] = dlk_ds0;
    jac[theta_index::mu_0] = dlk_dmu;
    jac[sa_at] = dlk_dsa;
    jac[n + theta_index::sigma] = dw[0];
    jac[n + theta_index::sigma_0] = dw[1];
    if (kind != LinearAction::centred) {
      jac[theta_index::first_cost_param] = dlk_dp;
      jac[n + theta_index::first_cost_param] = dw_dp;
    }
  }
  return PowerHead{lk, slope};
}

} // namespace bactor::detail
