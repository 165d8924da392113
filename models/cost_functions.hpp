// SPDX-License-Identifier: MIT
// The cost families ℓ(s, r; params) of docs/model.md, each one small generic function
// templated on the scalar type T (double, float, an xsimd batch or a Dual of those). The
// trainer and the ground-truth solver get dℓ/dr by evaluating them on Dual numbers.
//
// Adding a family: write a struct like the ones below (n_params and eval), then register its
// name, formula and parameter priors in models/costs.cpp (one entry of the table).
#pragma once

#include "models/dual.hpp"

#include <type_traits>

namespace bactor::costfn {

using gen::abs;
using gen::exp;
using gen::select;

/// Whether T computes in double (double, Dual<double>), not in float (float, SIMD batches of
/// float and their duals).
template <class T> struct computes_in_double : std::is_same<T, double> {};
template <class V> struct computes_in_double<Dual<V>> : computes_in_double<V> {};

/// ℓ = (s − r)²
struct Quadratic {
  static constexpr int n_params = 0;
  template <class T> static T eval(const T& s, const T& r, const T*) {
    const T d = s - r;
    return d * d;
  }
};

/// ℓ = β(s − r)² + (1 − β) r²,  p = (β)
struct QuadraticQuadraticEffort {
  static constexpr int n_params = 1;
  template <class T> static T eval(const T& s, const T& r, const T* p) {
    const T d = s - r;
    return p[0] * d * d + (1.0f - p[0]) * r * r;
  }
};

/// ℓ = |s − r|
struct Absolute {
  static constexpr int n_params = 0;
  template <class T> static T eval(const T& s, const T& r, const T*) { return abs(s - r); }
};

/// ℓ = β|s − r| + (1 − β) r²,  p = (β)
struct AbsoluteQuadraticEffort {
  static constexpr int n_params = 1;
  template <class T> static T eval(const T& s, const T& r, const T* p) {
    return p[0] * abs(s - r) + (1.0f - p[0]) * r * r;
  }
};

/// ℓ = 2 |α − H(r − s)| (r − s)² with H(0) = 1,  p = (α)
struct AsymmetricQuadratic {
  static constexpr int n_params = 1;
  template <class T> static T eval(const T& s, const T& r, const T* p) {
    const T d = r - s;
    const T w = select(r >= s, 1.0f - p[0], p[0]);
    return 2.0f * w * d * d;
  }
};

/// ℓ = b (exp(c(r − s)) − c(r − s) − 1) with b = 2/c²,  p = (c).
/// exp(x) is continued linearly (C¹) beyond x = 10, so that float training cannot overflow on
/// the rare huge motor draws (E exp(c r) is infinite for log-normal r); the ground truth uses
/// the same function.
struct Linex {
  static constexpr int n_params = 1;
  static constexpr float x_max = 10.0f;
  template <class T> static T eval(const T& s, const T& r, const T* p) {
    const T& c = p[0];
    const T x = c * (r - s);
    const T xc = select(x > T(x_max), T(x_max), x);
    const T full = exp(xc) * (1.0f + x - xc) - x - 1.0f;
    if constexpr (computes_in_double<T>::value) {
      return (2.0f / (c * c)) * full;
    } else {
      // In float exp(x) - x - 1 cancels to nothing where |x| is small (c small, or r near s),
      // even below 0, and the trainer's log of the expected cost failed (training Linex under
      // gaussian motor noise, step 37,772 at seed 2): its Taylor series to x^6 there (|x| < 0.1:
      // within 4e-9 relative, float's own precision; double keeps the direct formula).
      const T series = x * x * (0.5f + x * (1.0f / 6 + x * (1.0f / 24 + x * (1.0f / 120 + x * (1.0f / 720)))));
      return (2.0f / (c * c)) * select(abs(x) < T(0.1f), series, full);
    }
  }
};

/// ℓ = 1 − exp(−(s − r)² / (2γ²)),  p = (γ)
struct InvertedGaussian {
  static constexpr int n_params = 1;
  template <class T> static T eval(const T& s, const T& r, const T* p) {
    const T d = s - r;
    return 1.0f - exp(-(d * d) / (2.0f * p[0] * p[0]));
  }
};

} // namespace bactor::costfn
