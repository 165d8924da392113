// SPDX-License-Identifier: MIT
// Angles on the circle for the sampler (docs/sampler.md, "Angles"): wrapping into (-pi, pi] and
// the spread of a window of angles about their circular mean, which warm-up uses as an angle's
// variance. Private header.
#pragma once

#include <cmath>
#include <cstddef>
#include <numbers>

namespace bactor::detail {

/// x wrapped into (-pi, pi].
inline double wrap_angle(double x) {
  constexpr double pi = std::numbers::pi, two_pi = 2 * std::numbers::pi;
  double r = std::remainder(x, two_pi);  // [-pi, pi] (up to the rounding of 2 pi)
  if (r <= -pi) r += two_pi;
  if (r > pi) r -= two_pi;
  return r;
}

/// The spread of n angles x[0], x[stride], ... about their circular mean c = atan2(sum sin,
/// sum cos): the deviations d_k = wrap(x_k - c) in (-pi, pi], their mean and their sum of
/// squares about that mean, sum (d_k - mean d)^2. Unlike the spread of the raw values it does not
/// depend on where the circle is cut (a cluster at +-pi is one cluster) nor on how many turns a
/// chain made, and it is at most n pi^2. (c = 0 when the sines and cosines sum to 0.)
struct CircularSpread {
  double centre = 0;     // circular mean c
  double mean_dev = 0;   // mean of d
  double sum_sq = 0;     // sum of (d - mean d)^2
};
inline CircularSpread circular_spread(std::size_t n, const double* x, std::size_t stride = 1) {
  CircularSpread out;
  if (n == 0) return out;
  double s = 0, c = 0;
  for (std::size_t k = 0; k < n; ++k) s += std::sin(x[k * stride]), c += std::cos(x[k * stride]);
  out.centre = std::atan2(s, c);
  for (std::size_t k = 0; k < n; ++k) out.mean_dev += wrap_angle(x[k * stride] - out.centre);
  out.mean_dev /= double(n);
  for (std::size_t k = 0; k < n; ++k) {
    const double d = wrap_angle(x[k * stride] - out.centre) - out.mean_dev;
    out.sum_sq += d * d;
  }
  return out;
}

} // namespace bactor::detail
