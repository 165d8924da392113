// SPDX-License-Identifier: MIT
// Criteria shared by the statistical tests, stated so that they hold on any x86-64 (AVX2 or
// AVX-512, either vendor, -Dnative=false): never a count that only one bit-exact trajectory gives.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>

namespace bactor::testing {

/// Divergences as a rate: at most `rate` of the post-warm-up draws (default 1%) may be divergent.
/// Why a rate and not 0: a divergence is a property of one trajectory, and another CPU's
/// rounding (FMA contraction, SIMD width) gives another trajectory; on posteriors without a
/// pathology the measured rate was 0-0.04% (1 to 3 in 8,000 draws on one machine, 0 on another).
/// A geometry that biases the sampler (a funnel in centred coordinates, a step size far too
/// large) diverges in several percent of the draws, and the mean/sd checks beside this one catch
/// the bias itself.
inline void check_divergence_rate(std::size_t divergences, std::size_t draws, double rate = 0.01) {
  INFO(divergences << " divergent of " << draws << " draws (bound: " << rate * 100 << "% of the draws)");
  CHECK(draws > 0);
  CHECK(double(divergences) <= rate * double(draws));
}

} // namespace bactor::testing
