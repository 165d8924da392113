// SPDX-License-Identifier: MIT
// Elementwise SIMD kernels (xsimd) as forward/backward pairs over (n, pointers).
//
// Forward kernels write y[i] = f(x[i]); backward kernels ACCUMULATE dx[i] += dy[i] * f'(x[i]),
// reading whichever of x (input) or y (output) makes the derivative cheapest. The heavy ones
// (transcendental functions) are compiled once in kernels.cpp for float and double; the
// generic helpers `map` / `map_acc` below let callers write new kernels with a generic lambda
// that works on both xsimd batches and the padded tail.
#pragma once

#include <algorithm>
#include <cstddef>

#include <xsimd/xsimd.hpp>

namespace bactor::simd {

/// The SIMD batch of the architecture the library was compiled for.
template <class T>
using Batch = xsimd::batch<T>;

/// y[i] = f(x[i]) for i < n; f takes and returns Batch<T>. The tail is computed in a padded
/// batch (padding 1), so every element goes through the same SIMD code.
template <class T, class F>
inline void map(std::size_t n, const T* x, T* y, F f) {
  constexpr std::size_t w = Batch<T>::size;
  std::size_t i = 0;
  for (; i + w <= n; i += w) f(Batch<T>::load_unaligned(x + i)).store_unaligned(y + i);
  if (i < n) {
    alignas(64) T buf[w];
    std::fill(buf, buf + w, T(1));
    std::copy(x + i, x + n, buf);
    f(Batch<T>::load_aligned(buf)).store_aligned(buf);
    std::copy(buf, buf + (n - i), y + i);
  }
}

/// acc[i] += f(a[i], b[i]) for i < n (f on batches; padded tail as in map).
template <class T, class F>
inline void map_acc(std::size_t n, const T* a, const T* b, T* acc, F f) {
  constexpr std::size_t w = Batch<T>::size;
  std::size_t i = 0;
  for (; i + w <= n; i += w) {
    const auto r = Batch<T>::load_unaligned(acc + i) +
                   f(Batch<T>::load_unaligned(a + i), Batch<T>::load_unaligned(b + i));
    r.store_unaligned(acc + i);
  }
  if (i < n) {
    alignas(64) T ba[w], bb[w], bc[w];
    std::fill(ba, ba + w, T(1));
    std::fill(bb, bb + w, T(1));
    std::fill(bc, bc + w, T(0));
    std::copy(a + i, a + n, ba);
    std::copy(b + i, b + n, bb);
    std::copy(acc + i, acc + n, bc);
    (Batch<T>::load_aligned(bc) + f(Batch<T>::load_aligned(ba), Batch<T>::load_aligned(bb)))
        .store_aligned(bc);
    std::copy(bc, bc + (n - i), acc + i);
  }
}

/// y[i], s[i] = f(x[i]) for i < n, f returning a pair of batches (padded tail as in map).
template <class T, class F>
inline void map2(std::size_t n, const T* x, T* y, T* s, F f) {
  constexpr std::size_t w = Batch<T>::size;
  std::size_t i = 0;
  for (; i + w <= n; i += w) {
    const auto [a, b] = f(Batch<T>::load_unaligned(x + i));
    a.store_unaligned(y + i);
    b.store_unaligned(s + i);
  }
  if (i < n) {
    alignas(64) T buf[w], bs[w];
    std::fill(buf, buf + w, T(1));
    std::copy(x + i, x + n, buf);
    const auto [a, b] = f(Batch<T>::load_aligned(buf));
    a.store_aligned(buf);
    b.store_aligned(bs);
    std::copy(buf, buf + (n - i), y + i);
    std::copy(bs, bs + (n - i), s + i);
  }
}

/// Sum of x[0..n) with SIMD partial sums combined in a fixed order (deterministic).
template <class T>
inline T sum(std::size_t n, const T* x) {
  constexpr std::size_t w = Batch<T>::size;
  Batch<T> a0(T(0)), a1(T(0));
  std::size_t i = 0;
  for (; i + 2 * w <= n; i += 2 * w) {
    a0 += Batch<T>::load_unaligned(x + i);
    a1 += Batch<T>::load_unaligned(x + i + w);
  }
  for (; i + w <= n; i += w) a0 += Batch<T>::load_unaligned(x + i);
  T s = xsimd::hadd(a0 + a1);
  for (; i < n; ++i) s += x[i];
  return s;
}

/// Dot product of x[0..n) and y[0..n) (fixed summation order).
template <class T>
inline T dot(std::size_t n, const T* x, const T* y) {
  constexpr std::size_t w = Batch<T>::size;
  Batch<T> a0(T(0)), a1(T(0));
  std::size_t i = 0;
  for (; i + 2 * w <= n; i += 2 * w) {
    a0 = xsimd::fma(Batch<T>::load_unaligned(x + i), Batch<T>::load_unaligned(y + i), a0);
    a1 = xsimd::fma(Batch<T>::load_unaligned(x + i + w), Batch<T>::load_unaligned(y + i + w), a1);
  }
  for (; i + w <= n; i += w)
    a0 = xsimd::fma(Batch<T>::load_unaligned(x + i), Batch<T>::load_unaligned(y + i), a0);
  T s = xsimd::hadd(a0 + a1);
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

/// y[i] += a * x[i].
template <class T>
inline void axpy(std::size_t n, T a, const T* x, T* y) {
  constexpr std::size_t w = Batch<T>::size;
  const Batch<T> av(a);
  std::size_t i = 0;
  for (; i + w <= n; i += w)
    xsimd::fma(av, Batch<T>::load_unaligned(x + i), Batch<T>::load_unaligned(y + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] += a * x[i];
}

// Kernel arguments: n = element count, x = inputs, y = outputs, dy = adjoint of y,
// dx = adjoint of x (accumulated into). Each pair computes f and f'.

/// y = exp(x);  dx += dy * y.
template <class T> void exp_forward(std::size_t n, const T* x, T* y);
template <class T> void exp_backward(std::size_t n, const T* y, const T* dy, T* dx);
/// y = log(x);  dx += dy / x.
template <class T> void log_forward(std::size_t n, const T* x, T* y);
template <class T> void log_backward(std::size_t n, const T* x, const T* dy, T* dx);
/// y = log(1 + x) (accurate near 0);  dx += dy / (1 + x).
template <class T> void log1p_forward(std::size_t n, const T* x, T* y);
template <class T> void log1p_backward(std::size_t n, const T* x, const T* dy, T* dx);
/// y = exp(x) - 1 (accurate near 0);  dx += dy * (y + 1).
template <class T> void expm1_forward(std::size_t n, const T* x, T* y);
template <class T> void expm1_backward(std::size_t n, const T* y, const T* dy, T* dx);
/// y = sqrt(x);  dx += dy / (2 y).
template <class T> void sqrt_forward(std::size_t n, const T* x, T* y);
template <class T> void sqrt_backward(std::size_t n, const T* y, const T* dy, T* dx);
/// y = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)) (no overflow);  dx += dy * sigmoid(x).
template <class T> void softplus_forward(std::size_t n, const T* x, T* y);
template <class T> void softplus_backward(std::size_t n, const T* x, const T* dy, T* dx);
/// y = 1 / (1 + exp(-x)) (evaluated from exp(-|x|));  dx += dy * y (1 - y).
template <class T> void sigmoid_forward(std::size_t n, const T* x, T* y);
template <class T> void sigmoid_backward(std::size_t n, const T* y, const T* dy, T* dx);
/// y = x sigmoid(x) (swish / SiLU);  dx += dy * (s + x s (1 - s)), s = sigmoid(x).
template <class T> void swish_forward(std::size_t n, const T* x, T* y);
template <class T> void swish_backward(std::size_t n, const T* x, const T* dy, T* dx);
/// A variant that saves s = sigmoid(x) in the forward pass so the backward needs no exp:
/// softplus: dx += dy * s. (Swish's, the dense layers' activation, is in engine/dense_kernels.hpp.)
template <class T> void softplus_forward(std::size_t n, const T* x, T* y, T* s);
template <class T> void softplus_backward_saved(std::size_t n, const T* s, const T* dy, T* dx);
/// y = tanh(x);  dx += dy * (1 - y^2).
template <class T> void tanh_forward(std::size_t n, const T* x, T* y);
template <class T> void tanh_backward(std::size_t n, const T* y, const T* dy, T* dx);
/// y = log(sigmoid(x)) = -softplus(-x);  dx += dy * (1 - sigmoid(x)).
template <class T> void log_sigmoid_forward(std::size_t n, const T* x, T* y);
template <class T> void log_sigmoid_backward(std::size_t n, const T* x, const T* dy, T* dx);

/// log(1 + e) for e >= 0 by Kahan's trick: with u = fl(1 + e), log(u) * e / (u - 1) is
/// accurate to a few ulps (and exactly e when u rounds to 1); cheaper than a full log1p.
template <class B>
inline B log1p_nonneg(const B& e) {
  const B u = B(1) + e;
  const B d = u - B(1);
  return xsimd::select(d == B(0), e, xsimd::log(u) * (e / d));
}

/// Batch versions of the numerically stable scalar functions used above.
template <class B>
inline B softplus(const B& x) {
  return xsimd::max(x, B(0)) + log1p_nonneg(xsimd::exp(-xsimd::abs(x)));
}
template <class B>
inline B sigmoid(const B& x) {
  const B e = xsimd::exp(-xsimd::abs(x));
  const B r = B(1) / (B(1) + e);
  return xsimd::select(x >= B(0), r, e * r);
}

} // namespace bactor::simd
