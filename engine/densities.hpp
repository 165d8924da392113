// SPDX-License-Identifier: MIT
// Log-densities on the tape, summed over elements (arguments broadcast: each is a scalar or
// has the common size). Outside the support, or with a non-positive scale, the value is
// -infinity and the gradient zero, so a sampler simply rejects the point.
#pragma once

#include <bactor/engine/tape.hpp>

namespace bactor {

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

} // namespace bactor
