// SPDX-License-Identifier: MIT
// Transcendental elementwise kernels, instantiated for float and double.
#include "engine/kernels.hpp"

#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

namespace bactor::simd {

namespace detail {

// Double-precision exp and log for normal arguments using only integer operations AVX2 has
// (64-bit add, and, logical shifts): xsimd's generic versions convert between int64 and
// double and shift int64 arithmetically, which AVX2 lacks and emulates lane by lane. A batch
// with any argument outside the fast range (overflow, underflow, subnormal, inf, NaN,
// x <= 0) goes through xsimd, so special values behave exactly as before.
using BD = Batch<double>;
using BI = xsimd::batch<std::int64_t, BD::arch_type>;
using BU = xsimd::batch<std::uint64_t, BD::arch_type>;

// exp: x = k ln2 + r with |r| <= ln2/2 (k by the 1.5 * 2^52 rounding trick, r by Cody-Waite
// in two FMAs), exp(r) by its degree-13 Taylor polynomial (truncation < 5e-18 relative; no
// division), and 2^k added to the exponent field. Fast range |x| <= 708: result normal.
inline BD exp_normal(const BD& x) {
  const BD shift(0x1.8p52);
  const BD t = xsimd::fma(x, BD(1.4426950408889634074), shift);  // 1/ln2
  const BD k = t - shift;
  BD r = xsimd::fnma(k, BD(6.93147180369123816490e-01), x);  // ln2 high part (exact k * hi)
  r = xsimd::fnma(k, BD(1.90821492927058770002e-10), r);     // ln2 low part
  // Terms 3..13 by Estrin's scheme (short dependency chains: the loop is latency-bound at
  // n ~ 60), the leading 1 + r + r^2/2 by Horner for accuracy.
  const BD r2 = r * r, r4 = r2 * r2;
  const BD c34 = xsimd::fma(r, BD(1.0 / 24.0), BD(1.0 / 6.0));
  const BD c56 = xsimd::fma(r, BD(1.0 / 720.0), BD(1.0 / 120.0));
  const BD c78 = xsimd::fma(r, BD(1.0 / 40320.0), BD(1.0 / 5040.0));
  const BD c910 = xsimd::fma(r, BD(1.0 / 3628800.0), BD(1.0 / 362880.0));
  const BD c1112 = xsimd::fma(r, BD(1.0 / 479001600.0), BD(1.0 / 39916800.0));
  const BD c13 = BD(1.0 / 6227020800.0);
  const BD lo = xsimd::fma(r2, c56, c34);                             // terms 3..6 / r^3
  const BD hi = xsimd::fma(r4, c13, xsimd::fma(r2, c1112, c910));     // terms 9..13 / r^9
  const BD q = xsimd::fma(r4, xsimd::fma(r2, hi, c78), lo);           // terms 3..13 / r^3
  BD p = xsimd::fma(q, r, BD(0.5));
  p = xsimd::fma(p, r, BD(1.0));
  p = xsimd::fma(p, r, BD(1.0));
  // The low bits of t hold k (two's complement): shifting them into the exponent field and
  // adding multiplies p by 2^k.
  const BI scale = xsimd::bitwise_cast<BI>(t) << 52;
  return xsimd::bitwise_cast<BD>(xsimd::bitwise_cast<BI>(p) + scale);
}
inline BD exp(const BD& x) {
  if (xsimd::all(xsimd::abs(x) <= BD(708.0))) return exp_normal(x);
  return xsimd::exp(x);
}

// log: fdlibm's e_log.c (as in xsimd) on 64-bit lanes: x = 2^k (1 + f) with
// 1 + f in [sqrt(2)/2, sqrt(2)), s = f / (2 + f), log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)).
// Fast range: x normal, positive and finite.
inline BD log_normal(const BD& x) {
  // Adding (1 - sqrt(2)/2)'s offset to the high word moves mantissas >= sqrt(2) into the next
  // binade, so that k counts them and the rebuilt 1 + f lies in [sqrt(2)/2, sqrt(2)).
  const BI hx = xsimd::bitwise_cast<BI>(x) + BI(std::int64_t(0x3ff00000 - 0x3fe6a09e) << 32);
  // Biased exponent; an unsigned (logical) shift: AVX2 has no 64-bit arithmetic shift.
  const BI e = xsimd::bitwise_cast<BI>(xsimd::bitwise_cast<BU>(hx) >> 52);
  const BD dk = xsimd::bitwise_cast<BD>(e | BI(0x4330000000000000)) - BD(0x1p52 + 1023.0);
  const BD m = xsimd::bitwise_cast<BD>((hx & BI(0x000fffffffffffff)) + BI(std::int64_t(0x3fe6a09e) << 32));
  const BD f = m - BD(1.0);
  const BD hfsq = BD(0.5) * f * f;
  const BD s = f / (BD(2.0) + f);
  const BD z = s * s;
  const BD w = z * z;
  const BD t1 = w * xsimd::fma(xsimd::fma(w, BD(1.531383769920937332e-01), BD(2.222219843214978396e-01)), w,
                               BD(3.999999999940941908e-01));
  const BD t2 = z * xsimd::fma(xsimd::fma(xsimd::fma(w, BD(1.479819860511658591e-01), BD(1.818357216161805012e-01)),
                                          w, BD(2.857142874366239149e-01)),
                               w, BD(6.666666666666735130e-01));
  const BD R = t2 + t1;
  return xsimd::fma(dk, BD(6.93147180369123816490e-01),
                    xsimd::fma(s, hfsq + R, dk * BD(1.90821492927058770002e-10)) - hfsq + f);
}
inline BD log(const BD& x) {
  if (xsimd::all((x >= BD(std::numeric_limits<double>::min())) & (x <= BD(std::numeric_limits<double>::max()))))
    return log_normal(x);
  return xsimd::log(x);
}

} // namespace detail

template <class T>
void exp_forward(std::size_t n, const T* x, T* y) {
  if constexpr (std::is_same_v<T, double>)
    map(n, x, y, [](auto v) { return detail::exp(v); });
  else
    map(n, x, y, [](auto v) { return xsimd::exp(v); });
}
template <class T>
void exp_backward(std::size_t n, const T* y, const T* dy, T* dx) {
  map_acc(n, y, dy, dx, [](auto v, auto g) { return g * v; });
}
template <class T>
void log_forward(std::size_t n, const T* x, T* y) {
  if constexpr (std::is_same_v<T, double>)
    map(n, x, y, [](auto v) { return detail::log(v); });
  else
    map(n, x, y, [](auto v) { return xsimd::log(v); });
}
template <class T>
void log_backward(std::size_t n, const T* x, const T* dy, T* dx) {
  map_acc(n, x, dy, dx, [](auto v, auto g) { return g / v; });
}
template <class T>
void log1p_forward(std::size_t n, const T* x, T* y) {
  map(n, x, y, [](auto v) { return xsimd::log1p(v); });
}
template <class T>
void log1p_backward(std::size_t n, const T* x, const T* dy, T* dx) {
  map_acc(n, x, dy, dx, [](auto v, auto g) { return g / (decltype(v)(T(1)) + v); });
}
template <class T>
void expm1_forward(std::size_t n, const T* x, T* y) {
  map(n, x, y, [](auto v) { return xsimd::expm1(v); });
}
template <class T>
void expm1_backward(std::size_t n, const T* y, const T* dy, T* dx) {
  map_acc(n, y, dy, dx, [](auto v, auto g) { return g * (v + decltype(v)(T(1))); });
}
template <class T>
void sqrt_forward(std::size_t n, const T* x, T* y) {
  map(n, x, y, [](auto v) { return xsimd::sqrt(v); });
}
template <class T>
void sqrt_backward(std::size_t n, const T* y, const T* dy, T* dx) {
  map_acc(n, y, dy, dx, [](auto v, auto g) { return decltype(v)(T(0.5)) * g / v; });
}
template <class T>
void softplus_forward(std::size_t n, const T* x, T* y) {
  map(n, x, y, [](auto v) { return softplus(v); });
}
template <class T>
void softplus_backward(std::size_t n, const T* x, const T* dy, T* dx) {
  map_acc(n, x, dy, dx, [](auto v, auto g) { return g * sigmoid(v); });
}
template <class T>
void sigmoid_forward(std::size_t n, const T* x, T* y) {
  map(n, x, y, [](auto v) { return sigmoid(v); });
}
template <class T>
void sigmoid_backward(std::size_t n, const T* y, const T* dy, T* dx) {
  map_acc(n, y, dy, dx, [](auto v, auto g) { return g * v * (decltype(v)(T(1)) - v); });
}
template <class T>
void swish_forward(std::size_t n, const T* x, T* y) {
  map(n, x, y, [](auto v) { return v * sigmoid(v); });
}
template <class T>
void swish_backward(std::size_t n, const T* x, const T* dy, T* dx) {
  map_acc(n, x, dy, dx, [](auto v, auto g) {
    using B = decltype(v);
    const B s = sigmoid(v);
    return g * xsimd::fma(v * s, B(T(1)) - s, s);
  });
}
template <class T>
void softplus_forward(std::size_t n, const T* x, T* y, T* s) {
  map2(n, x, y, s, [](auto v) {
    using B = decltype(v);
    const B e = xsimd::exp(-xsimd::abs(v));
    const B r = B(T(1)) / (B(T(1)) + e);
    return std::pair{xsimd::max(v, B(T(0))) + log1p_nonneg(e), xsimd::select(v >= B(T(0)), r, e * r)};
  });
}
template <class T>
void softplus_backward_saved(std::size_t n, const T* s, const T* dy, T* dx) {
  map_acc(n, s, dy, dx, [](auto v, auto g) { return g * v; });
}
template <class T>
void swish_forward(std::size_t n, const T* x, T* y, T* s) {
  map2(n, x, y, s, [](auto v) {
    const auto sg = sigmoid(v);
    return std::pair{v * sg, sg};
  });
}
template <class T>
void swish_backward_saved(std::size_t n, const T* y, const T* s, const T* dy, T* dx) {
  using B = Batch<T>;
  constexpr std::size_t w = B::size;
  std::size_t i = 0;
  for (; i + w <= n; i += w) {
    const B sv = B::load_unaligned(s + i), yv = B::load_unaligned(y + i);
    const B d = xsimd::fma(yv, B(T(1)) - sv, sv);
    xsimd::fma(B::load_unaligned(dy + i), d, B::load_unaligned(dx + i)).store_unaligned(dx + i);
  }
  for (; i < n; ++i) dx[i] += dy[i] * (s[i] + y[i] * (T(1) - s[i]));
}
template <class T>
void tanh_forward(std::size_t n, const T* x, T* y) {
  map(n, x, y, [](auto v) { return xsimd::tanh(v); });
}
template <class T>
void tanh_backward(std::size_t n, const T* y, const T* dy, T* dx) {
  map_acc(n, y, dy, dx, [](auto v, auto g) { return g * (decltype(v)(T(1)) - v * v); });
}
template <class T>
void log_sigmoid_forward(std::size_t n, const T* x, T* y) {
  map(n, x, y, [](auto v) { return -softplus(-v); });
}
template <class T>
void log_sigmoid_backward(std::size_t n, const T* x, const T* dy, T* dx) {
  map_acc(n, x, dy, dx, [](auto v, auto g) { return g * sigmoid(-v); });
}

#define BACTOR_INSTANTIATE(T)                                                           \
  template void exp_forward<T>(std::size_t, const T*, T*);                             \
  template void exp_backward<T>(std::size_t, const T*, const T*, T*);                  \
  template void log_forward<T>(std::size_t, const T*, T*);                             \
  template void log_backward<T>(std::size_t, const T*, const T*, T*);                  \
  template void log1p_forward<T>(std::size_t, const T*, T*);                           \
  template void log1p_backward<T>(std::size_t, const T*, const T*, T*);                \
  template void expm1_forward<T>(std::size_t, const T*, T*);                           \
  template void expm1_backward<T>(std::size_t, const T*, const T*, T*);                \
  template void sqrt_forward<T>(std::size_t, const T*, T*);                            \
  template void sqrt_backward<T>(std::size_t, const T*, const T*, T*);                 \
  template void softplus_forward<T>(std::size_t, const T*, T*);                        \
  template void softplus_backward<T>(std::size_t, const T*, const T*, T*);             \
  template void sigmoid_forward<T>(std::size_t, const T*, T*);                         \
  template void sigmoid_backward<T>(std::size_t, const T*, const T*, T*);              \
  template void swish_forward<T>(std::size_t, const T*, T*);                           \
  template void swish_backward<T>(std::size_t, const T*, const T*, T*);                \
  template void softplus_forward<T>(std::size_t, const T*, T*, T*);                    \
  template void softplus_backward_saved<T>(std::size_t, const T*, const T*, T*);       \
  template void swish_forward<T>(std::size_t, const T*, T*, T*);                       \
  template void swish_backward_saved<T>(std::size_t, const T*, const T*, const T*, T*); \
  template void tanh_forward<T>(std::size_t, const T*, T*);                            \
  template void tanh_backward<T>(std::size_t, const T*, const T*, T*);                 \
  template void log_sigmoid_forward<T>(std::size_t, const T*, T*);                     \
  template void log_sigmoid_backward<T>(std::size_t, const T*, const T*, T*);

BACTOR_INSTANTIATE(float)
BACTOR_INSTANTIATE(double)
#undef BACTOR_INSTANTIATE

} // namespace bactor::simd
