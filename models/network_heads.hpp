// SPDX-License-Identifier: MIT
// The action network's output heads and input features, written once as templates over the
// scalar: double (ActionNetwork's forward pass), Dual<batch<double>> (its backward pass: the
// derivatives of the features and of the closed-form parts of a head w.r.t. theta and log m,
// several directions per SIMD lane set) and the tape's float Tensor (training, head_action).
// The arithmetic is the one of docs/network.md:
//   posterior of s given m: w = sigma_0^2 / (sigma^2 + sigma_0^2), sigma_post = sigma sigma_0 /
//   sqrt(sigma^2 + sigma_0^2), mu_post = (1 - w) log mu_0 + w log m;
//   features: theta (softplus, power), (sigma_post, sigma_r, cost parameters) (posterior),
//   (sigma_post, sigma_r, cost parameters, mu_post) or (sigma_post, sigma_r, mu_post - log kappa)
//   (mupost; kappa a cost's length scale; with sigma_a, sigma_a / kappa before mu_post - log kappa);
//   power form of the head outputs (what inference reads): posterior x0 += (1 - w) log mu_0,
//   x1 = logit w = 2 log(sigma_0 / sigma), x2 = 0; mupost x0 += mu_post, x1 = x2 = 0.
// `linear` (a network trained under gaussian perception; mupost head only): the same in linear
// coordinates, m for log m and mu_0 for log mu_0: mu_post = (1 - w) mu_0 + w m, features
// (sigma_post, sigma_r, cost parameters, sigma_a, mu_post) or, with a length scale kappa,
// (sigma_post / kappa, sigma_r, sigma_a / kappa, mu_post / kappa), and a = mu_post + c x0 with
// c = linear_output_scale (1 without a length scale): x0 = a itself in power form.
// Private header.
#pragma once

#include <bactor/models/actor.hpp>
#include <bactor/models/cost_math.hpp>
#include <bactor/models/network.hpp>

#include <cstddef>

namespace bactor::heads {

using gen::exp;
using gen::log;
using gen::sqrt;

/// The features at theta (n_theta entries) into f (head_input_count entries). log_m: the
/// measurement's log (mupost); log_kappa: the cost's length scale's log (mupost of a cost with
/// one; `scaled` says so, and n_cost is then its parameter count: theta entries after them
/// are sigma_a's, read as sigma_a / kappa).
template <class T>
void features(NetworkHead head, const T* theta, std::size_t n_theta, const T& log_m, const T& log_kappa, bool scaled,
              T* f, std::size_t n_cost = 0, bool linear = false) {
  if (head == NetworkHead::softplus || head == NetworkHead::power) {
    for (std::size_t j = 0; j < n_theta; ++j) f[j] = theta[j];
    return;
  }
  namespace ti = theta_index;
  const T& sig = theta[ti::sigma];
  const T& sig0 = theta[ti::sigma_0];
  const T v = sig * sig + sig0 * sig0;
  f[0] = sig * sig0 / sqrt(v);
  f[1] = theta[ti::sigma_r];
  if (head == NetworkHead::mupost && linear) {  // log_m holds m itself
    const T w = sig0 * sig0 / v;
    const T mu = (T(1.0) - w) * theta[ti::mu_0] + w * log_m;
    if (scaled) {  // a / kappa is a function of the scale-free features
      const T inv_kappa = exp(-log_kappa);
      f[0] = f[0] * inv_kappa;
      std::size_t k = 2;
      for (std::size_t j = theta_index::first_cost_param + n_cost; j < n_theta; ++j) f[k++] = theta[j] * inv_kappa;
      f[k] = mu * inv_kappa;
      return;
    }
    f[n_theta - 2] = mu;
  } else if (head == NetworkHead::mupost) {
    const T w = sig0 * sig0 / v;
    const T mu = (T(1.0) - w) * log(theta[ti::mu_0]) + w * log_m;
    if (scaled) {
      // Scale-free: a* / kappa is a function of (sigma_post, sigma_r, mu_post - log kappa) and,
      // with a motor model's sigma_a (data units, like kappa), of sigma_a / kappa.
      std::size_t k = 2;
      for (std::size_t j = theta_index::first_cost_param + n_cost; j < n_theta; ++j) f[k++] = theta[j] * exp(-log_kappa);
      f[k] = mu - log_kappa;
      return;
    }
    f[n_theta - 2] = mu;
  }
  for (std::size_t j = ti::first_cost_param; j < n_theta; ++j) f[j - 2] = theta[j];
}

/// The linear head's output scale c in a = mu_post + c g at the measurement m: 1 for a cost
/// without a length scale; with one, c = kappa q / (kappa + q), q = sqrt(mu_post^2 + sigma_post^2
/// + sigma_a^2) (sigma_a theta's last entry), the smaller of the two scales in effect. The action
/// lies between 0 and about mu_post, so a* - mu_post is of order q at most, and of order kappa
/// where |mu_post| >> kappa (AbsoluteCostQuadraticEffort's saturation); g then stays of order 1
/// where kappa is large (beta near 1: the effort barely moves the action, and c = kappa would
/// multiply the MLP's error by kappa) and where it is small. c / kappa is a function of the
/// scale-free features, so the head still represents a* exactly; c is smooth in m and theta.
template <class T>
T linear_output_scale(const T* theta, std::size_t n_theta, const T& m, const T& log_kappa, bool scaled) {
  if (!scaled) return T(1.0);
  const T& sig = theta[theta_index::sigma];
  const T& sig0 = theta[theta_index::sigma_0];
  const T& sa = theta[n_theta - 1];
  const T v = sig * sig + sig0 * sig0, w = sig0 * sig0 / v;
  const T mu = (T(1.0) - w) * theta[theta_index::mu_0] + w * m;
  const T q = sqrt(mu * mu + sig * sig * sig0 * sig0 / v + sa * sa);
  const T kappa = exp(log_kappa);
  return kappa * q / (kappa + q);
}

/// The MLP's outputs x (in: the last layer's, out: the head in power form) at theta and log m
/// (`linear`: at m, x0 = mu_post + c x0, c = linear_scale from linear_output_scale).
template <class T>
void power_form(NetworkHead head, const T* theta, const T& log_m, T* x, bool linear = false,
                const T& linear_scale = T(1.0)) {
  if (head == NetworkHead::softplus || head == NetworkHead::power) return;
  namespace ti = theta_index;
  const T& sig = theta[ti::sigma];
  const T& sig0 = theta[ti::sigma_0];
  const T w = sig0 * sig0 / (sig * sig + sig0 * sig0);
  if (linear) {  // the mupost head in linear coordinates: a = mu_post + c g
    x[0] = (T(1.0) - w) * theta[ti::mu_0] + w * log_m + linear_scale * x[0];
    x[1] = T(0.0);
    x[2] = T(0.0);
    return;
  }
  x[0] = x[0] + (T(1.0) - w) * log(theta[ti::mu_0]);
  if (head == NetworkHead::posterior) {
    x[1] = T(2.0) * log(sig0 / sig);  // logit w
  } else {  // mupost: log a = mu_post + g
    x[0] = x[0] + w * log_m;
    x[1] = T(0.0);
  }
  x[2] = T(0.0);
}

/// min(max(x, lo), hi) for double (the Tensor op's counterpart).
inline double clip(double x, float lo, float hi) { return x < lo ? double(lo) : x > hi ? double(hi) : x; }

/// The action from the MLP's outputs (x0, x1, x2), log m and mu_post (before power_form):
///   power:     a = exp(x0) m^sigmoid(x1)
///   posterior, mupost: a = exp(x0 + mu_post)
///   softplus:  a = softplus(softplus(x0) m^sigmoid(x1) + x2)
/// log a is clipped to +-40 (float overflow in training). T: double or the tape's Tensor (with
/// its exp, sigmoid, softplus and clip).
template <class T, class L>
T action(NetworkHead head, const T& x0, const T& x1, const T& x2, const L& log_m, const L& mu_post);

/// The linear mupost head (gaussian perception): a = mu_post + c x0, c = linear_output_scale per
/// sample.
template <class T, class L>
T linear_action(const T& x0, const L& mu_post, const L& scale) {
  return mu_post + scale * x0;
}

template <class T, class L>
T action(NetworkHead head, const T& x0, const T& x1, const T& x2, const L& log_m, const L& mu_post) {
  switch (head) {
  case NetworkHead::posterior:
  case NetworkHead::mupost: return exp(clip(x0 + mu_post, -40.0f, 40.0f));
  case NetworkHead::power: return exp(clip(x0 + sigmoid(x1) * log_m, -40.0f, 40.0f));
  case NetworkHead::softplus: break;
  }
  return softplus(softplus(x0) * exp(sigmoid(x1) * log_m) + x2);
}

} // namespace bactor::heads
