// SPDX-License-Identifier: MIT
// Forward-mode dual numbers a + b·ε (ε² = 0) and the generic operations a cost function
// ℓ(s, r; p) may be written with (public: embedding programs write their costs with these).
//
// A cost is a struct with `static constexpr int n_params` and
//   template <class T> static T eval(const T& s, const T& r, const T* p);
// written with +, -, *, / and bactor::gen::{exp, log, sqrt, abs, min, max, sin, cos, select}
// (and plain float/double literals). The library instantiates it on double, float and
// Dual<double> / Dual<float> (and, for its own costs, on SIMD batches): evaluating on a Dual
// seeded as (r, 1) yields (ℓ, dℓ/dr) with no hand-written derivative.
// No third-party header: the SIMD overloads live in the library's private models/dual.hpp and
// are found by argument-dependent lookup.
#pragma once

#include <cmath>
#include <type_traits>

namespace bactor {

template <class V>
struct Dual {
  V v{}, d{};
  Dual() = default;
  Dual(V value, V deriv) : v(value), d(deriv) {}
  // Constants (derivative 0) from anything V can be made of (double, float, V).
  template <class S>
    requires std::is_arithmetic_v<S>
  Dual(S value) : v(V(value)), d(V(0)) {}
  Dual(V value) requires(!std::is_arithmetic_v<V>) : v(value), d(V(0)) {}
};

// Arithmetic: (a + a'ε)(b + b'ε) = ab + (a'b + ab')ε, 1/(b + b'ε) = 1/b − b'/b² ε.
template <class V> Dual<V> operator+(const Dual<V>& x, const Dual<V>& y) { return {x.v + y.v, x.d + y.d}; }
template <class V> Dual<V> operator-(const Dual<V>& x, const Dual<V>& y) { return {x.v - y.v, x.d - y.d}; }
template <class V> Dual<V> operator-(const Dual<V>& x) { return {-x.v, -x.d}; }
template <class V> Dual<V> operator*(const Dual<V>& x, const Dual<V>& y) { return {x.v * y.v, x.d * y.v + x.v * y.d}; }
template <class V> Dual<V> operator/(const Dual<V>& x, const Dual<V>& y) {
  const V q = x.v / y.v;
  return {q, (x.d - q * y.d) / y.v};
}
template <class V, class S> requires std::is_arithmetic_v<S>
Dual<V> operator+(const Dual<V>& x, S y) { return {x.v + V(y), x.d}; }
template <class V, class S> requires std::is_arithmetic_v<S>
Dual<V> operator+(S y, const Dual<V>& x) { return {x.v + V(y), x.d}; }
template <class V, class S> requires std::is_arithmetic_v<S>
Dual<V> operator-(const Dual<V>& x, S y) { return {x.v - V(y), x.d}; }
template <class V, class S> requires std::is_arithmetic_v<S>
Dual<V> operator-(S y, const Dual<V>& x) { return {V(y) - x.v, -x.d}; }
template <class V, class S> requires std::is_arithmetic_v<S>
Dual<V> operator*(const Dual<V>& x, S y) { return {x.v * V(y), x.d * V(y)}; }
template <class V, class S> requires std::is_arithmetic_v<S>
Dual<V> operator*(S y, const Dual<V>& x) { return {x.v * V(y), x.d * V(y)}; }
template <class V, class S> requires std::is_arithmetic_v<S>
Dual<V> operator/(const Dual<V>& x, S y) { return {x.v / V(y), x.d / V(y)}; }
template <class V, class S> requires std::is_arithmetic_v<S>
Dual<V> operator/(S y, const Dual<V>& x) { return Dual<V>(V(y)) / x; }
// Comparisons look at values only (used for kinks such as H(r − s)).
template <class V> auto operator<(const Dual<V>& x, const Dual<V>& y) { return x.v < y.v; }
template <class V> auto operator<=(const Dual<V>& x, const Dual<V>& y) { return x.v <= y.v; }
template <class V> auto operator>(const Dual<V>& x, const Dual<V>& y) { return x.v > y.v; }
template <class V> auto operator>=(const Dual<V>& x, const Dual<V>& y) { return x.v >= y.v; }
template <class V> auto operator==(const Dual<V>& x, const Dual<V>& y) { return x.v == y.v; }
template <class V> auto operator!=(const Dual<V>& x, const Dual<V>& y) { return x.v != y.v; }

/// The generic operations cost functions may use, for double, float and Dual (the library adds
/// its SIMD batches). Inside the Dual overloads the value-level call is unqualified after
/// `using std::f`, so that a batch type's own functions are found by argument-dependent lookup.
namespace gen {
inline double select(bool c, double a, double b) { return c ? a : b; }
inline float select(bool c, float a, float b) { return c ? a : b; }
#define BACTOR_GEN_SCALAR(f)                          \
  inline double f(double x) { return std::f(x); }     \
  inline float f(float x) { return std::f(x); }
BACTOR_GEN_SCALAR(exp)
BACTOR_GEN_SCALAR(log)
BACTOR_GEN_SCALAR(sqrt)
BACTOR_GEN_SCALAR(abs)
BACTOR_GEN_SCALAR(sin)
BACTOR_GEN_SCALAR(cos)
#undef BACTOR_GEN_SCALAR

/// exp(x + x'ε) = exp(x) + exp(x) x' ε.
template <class V> Dual<V> exp(const Dual<V>& x) {
  using std::exp;
  const V e = exp(x.v);
  return {e, e * x.d};
}
/// log(x + x'ε) = log(x) + x'/x ε.
template <class V> Dual<V> log(const Dual<V>& x) {
  using std::log;
  return {log(x.v), x.d / x.v};
}
/// sqrt(x + x'ε) = sqrt(x) + x'/(2 sqrt(x)) ε.
template <class V> Dual<V> sqrt(const Dual<V>& x) {
  using std::sqrt;
  const V q = sqrt(x.v);
  return {q, x.d / (V(2) * q)};
}
/// sin(x + x'ε) = sin(x) + cos(x) x' ε.
template <class V> Dual<V> sin(const Dual<V>& x) {
  using std::cos;
  using std::sin;
  return {sin(x.v), cos(x.v) * x.d};
}
/// cos(x + x'ε) = cos(x) − sin(x) x' ε.
template <class V> Dual<V> cos(const Dual<V>& x) {
  using std::cos;
  using std::sin;
  return {cos(x.v), -(sin(x.v) * x.d)};
}
/// select(c, a, b): a where c holds, else b (value and derivative alike).
template <class C, class V> Dual<V> select(const C& c, const Dual<V>& a, const Dual<V>& b) {
  return {select(c, a.v, b.v), select(c, a.d, b.d)};
}
/// |x + x'ε| = |x| + sign(x) x' ε (derivative +x' at 0).
template <class V> Dual<V> abs(const Dual<V>& x) {
  using std::abs;
  return {abs(x.v), select(x.v < V(0), -x.d, x.d)};
}
/// min and max take the derivative of the argument they return (the first one on a tie).
template <class T> T min(const T& a, const T& b) { return select(b < a, b, a); }
template <class T> T max(const T& a, const T& b) { return select(b > a, b, a); }
} // namespace gen

} // namespace bactor
