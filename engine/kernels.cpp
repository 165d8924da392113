// SPDX-License-Identifier: MIT
// Transcendental elementwise kernels, instantiated for float and double.
#include "engine/kernels.hpp"
#include "engine/simd_math.hpp"

#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

namespace bactor::simd {

namespace detail {

// Double-precision exp and log: the fast versions of engine/simd_math.hpp for normal
// arguments; a batch with any argument outside the fast range (overflow, underflow,
// subnormal, inf, NaN, x <= 0) goes through xsimd, so special values behave exactly as xsimd.
using BD = Batch<double>;

inline BD exp(const BD& x) {
  if (xsimd::all(xsimd::abs(x) <= BD(708.0))) return simd::exp_in_range(x);
  return xsimd::exp(x);
}

inline BD log(const BD& x) {
  if (xsimd::all((x >= BD(std::numeric_limits<double>::min())) & (x <= BD(std::numeric_limits<double>::max()))))
    return simd::log_normal(x);
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
  template void tanh_forward<T>(std::size_t, const T*, T*);                            \
  template void tanh_backward<T>(std::size_t, const T*, const T*, T*);                 \
  template void log_sigmoid_forward<T>(std::size_t, const T*, T*);                     \
  template void log_sigmoid_backward<T>(std::size_t, const T*, const T*, T*);

BACTOR_INSTANTIATE(float)
BACTOR_INSTANTIATE(double)
#undef BACTOR_INSTANTIATE

} // namespace bactor::simd
