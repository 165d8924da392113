// SPDX-License-Identifier: MIT
// Log-densities on the tape, summed over elements (arguments broadcast: each is a scalar or
// has the common size). Outside the support, or with a non-positive scale, the value is
// -infinity and the gradient zero, so a sampler simply rejects the point.
#pragma once

#include <concepts>
#include <type_traits>

#include <bactor/engine/tape.hpp>

namespace bactor {

namespace detail {
/// A density argument: a Var or a number (which enters as a constant, as in Stan).
template <class T> concept DensityArg = std::same_as<T, Var> || std::is_arithmetic_v<T>;
template <class... T> inline constexpr bool any_var = (std::same_as<T, Var> || ...);
template <class T> Var as_var(const T& x) {
  if constexpr (std::same_as<T, Var>) return x;
  else return constant(double(x));
}
} // namespace detail

/// sum_i log N(x_i | mu_i, sigma_i) = sum -z^2/2 - log sigma - log(2 pi)/2, z = (x - mu)/sigma.
/// dx = -z/sigma, dmu = z/sigma, dsigma = (z^2 - 1)/sigma.
Var normal_lpdf(Var x, Var mu, Var sigma);
Var normal_lpdf(Var x, double mu, double sigma);

/// sum_i log LogNormal(x_i | mu_i, sigma_i) (log x ~ N(mu, sigma)), x > 0:
/// -z^2/2 - log sigma - log(2 pi)/2 - log x with z = (log x - mu)/sigma.
/// dx = -(z/sigma + 1)/x, dmu = z/sigma, dsigma = (z^2 - 1)/sigma.
Var lognormal_lpdf(Var x, Var mu, Var sigma);
Var lognormal_lpdf(Var x, double mu, double sigma);

/// sum_i log HalfNormal(x_i | sigma_i), x >= 0: log(2/pi)/2 - log sigma - x^2/(2 sigma^2).
/// dx = -x/sigma^2, dsigma = (x^2/sigma^2 - 1)/sigma.
Var half_normal_lpdf(Var x, Var sigma);
Var half_normal_lpdf(Var x, double sigma);

/// sum_i log U(x_i | a_i, b_i), a <= x <= b: -log(b - a).
/// dx = 0, da = 1/(b - a), db = -1/(b - a).
Var uniform_lpdf(Var x, Var a, Var b);
Var uniform_lpdf(Var x, double a, double b);

/// The densities above with a number wherever a Var goes, e.g. normal_lpdf(x, mu, 0.5) or
/// normal_lpdf(2.3, mu, sigma): the numbers enter as constants (derivatives as above for the
/// Var arguments, none for the numbers).
template <detail::DensityArg X, detail::DensityArg M, detail::DensityArg S>
  requires detail::any_var<X, M, S>
Var normal_lpdf(const X& x, const M& mu, const S& sigma) {
  return normal_lpdf(detail::as_var(x), detail::as_var(mu), detail::as_var(sigma));
}
template <detail::DensityArg X, detail::DensityArg M, detail::DensityArg S>
  requires detail::any_var<X, M, S>
Var lognormal_lpdf(const X& x, const M& mu, const S& sigma) {
  return lognormal_lpdf(detail::as_var(x), detail::as_var(mu), detail::as_var(sigma));
}
template <detail::DensityArg X, detail::DensityArg S>
  requires detail::any_var<X, S>
Var half_normal_lpdf(const X& x, const S& sigma) {
  return half_normal_lpdf(detail::as_var(x), detail::as_var(sigma));
}
template <detail::DensityArg X, detail::DensityArg A, detail::DensityArg B>
  requires detail::any_var<X, A, B>
Var uniform_lpdf(const X& x, const A& a, const B& b) {
  return uniform_lpdf(detail::as_var(x), detail::as_var(a), detail::as_var(b));
}

} // namespace bactor
