// SPDX-License-Identifier: MIT
// A forward-mode dual number a + b·ε (ε² = 0) over a scalar or an xsimd batch, and the small
// set of generic operations the cost functions of models/cost_functions.hpp are written with.
// Instantiating a cost with Dual<V> seeded as (r, 1) yields (ℓ, dℓ/dr) with no hand-written
// derivative.
#pragma once

#include <cmath>

#include <xsimd/xsimd.hpp>

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

/// The generic operations cost functions may use, for double, float, xsimd batches and Dual.
namespace gen {
inline double exp(double x) { return std::exp(x); }
inline float exp(float x) { return std::exp(x); }
inline double abs(double x) { return std::abs(x); }
inline float abs(float x) { return std::abs(x); }
inline double select(bool c, double a, double b) { return c ? a : b; }
inline float select(bool c, float a, float b) { return c ? a : b; }

template <class A> xsimd::batch<float, A> exp(const xsimd::batch<float, A>& x) { return xsimd::exp(x); }
template <class A> xsimd::batch<float, A> abs(const xsimd::batch<float, A>& x) { return xsimd::abs(x); }
template <class A> xsimd::batch<double, A> exp(const xsimd::batch<double, A>& x) { return xsimd::exp(x); }
template <class A> xsimd::batch<double, A> abs(const xsimd::batch<double, A>& x) { return xsimd::abs(x); }
template <class T, class A>
xsimd::batch<T, A> select(const xsimd::batch_bool<T, A>& c, const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& b) {
  return xsimd::select(c, a, b);
}

/// exp(x + x'ε) = exp(x) + exp(x) x' ε.
template <class V> Dual<V> exp(const Dual<V>& x) {
  const V e = gen::exp(x.v);
  return {e, e * x.d};
}
/// |x + x'ε| = |x| + sign(x) x' ε (derivative +x' at 0).
template <class V> Dual<V> abs(const Dual<V>& x) {
  return {gen::abs(x.v), gen::select(x.v < V(0), -x.d, x.d)};
}
template <class C, class V> Dual<V> select(const C& c, const Dual<V>& a, const Dual<V>& b) {
  return {gen::select(c, a.v, b.v), gen::select(c, a.d, b.d)};
}
} // namespace gen

} // namespace bactor
