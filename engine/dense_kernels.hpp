// SPDX-License-Identifier: MIT
// The dense layers of the action network, shared by the trainer's tape (float tensors,
// engine/tensor.cpp) and ActionNetwork's double-precision inference pass (models/network.cpp):
//   - the swish activation, forward and backward, one template over the scalar (float, double);
//   - the affine layer y = W x + b over a block of C = 32 samples (training: the tape's affine
//     node) and over one sample (inference: a column, weights kept in float and widened).
// Block layout: feature-major, feature i of the block occupies [i*ld, i*ld + C) for a row
// stride ld (the tensor's column count). Weights row-major W[j*n_in + i]. Written with xsimd
// for any batch width dividing C. Template parameter LD: the row stride when known at compile
// time (LD = C, a tensor of one block: simpler addressing, ~15% fewer instructions), 0 to use
// the run-time ld arguments.
#pragma once

#include <algorithm>
#include <cstddef>

#include <xsimd/xsimd.hpp>

#include "engine/simd_math.hpp"

namespace bactor::dense {

// ---- swish (SiLU), any scalar ----------------------------------------------------------------

/// sigmoid(x) = 1 / (1 + e^-x) lane-wise: float with the tape's exp_fast (inputs clamped to
/// [-87, 88]), double with the ~1 ulp exp_clamped (e^-x capped at e^709).
inline xsimd::batch<float> sigmoid(const xsimd::batch<float>& x) { return simd::sigmoid_fast(x); }
inline xsimd::batch<double> sigmoid(const xsimd::batch<double>& x) {
  using B = xsimd::batch<double>;
  return B(1.0) / (B(1.0) + simd::exp_clamped(-x));
}

namespace detail {
/// f over n elements in batches, the tail through a zero-padded copy: f(i, batch loader,
/// batch storer) with loads and stores at element i.
template <class T, class F>
inline void over_batches(std::size_t n, F f) {
  using B = xsimd::batch<T>;
  std::size_t i = 0;
  for (; i + B::size <= n; i += B::size) f(i, B::size);
  if (i < n) f(i, n - i);
}
template <class T>
inline xsimd::batch<T> load_n(const T* p, std::size_t k) {
  using B = xsimd::batch<T>;
  if (k == B::size) return B::load_unaligned(p);
  alignas(64) T buf[B::size] = {};
  std::copy(p, p + k, buf);
  return B::load_aligned(buf);
}
template <class T>
inline void store_n(const xsimd::batch<T>& v, T* p, std::size_t k) {
  using B = xsimd::batch<T>;
  if (k == B::size) return v.store_unaligned(p);
  alignas(64) T buf[B::size];
  v.store_aligned(buf);
  std::copy(buf, buf + k, p);
}
} // namespace detail

/// y = x s with s = sigmoid(x) saved for the backward pass (x: n pre-activations).
template <class T>
inline void swish_forward(std::size_t n, const T* x, T* y, T* s) {
  detail::over_batches<T>(n, [&](std::size_t i, std::size_t k) {
    const auto v = detail::load_n(x + i, k);
    const auto sv = sigmoid(v);
    detail::store_n(v * sv, y + i, k);
    detail::store_n(sv, s + i, k);
  });
}

/// y = x sigmoid(x) alone (no gradient to follow).
template <class T>
inline void swish_forward(std::size_t n, const T* x, T* y) {
  detail::over_batches<T>(n, [&](std::size_t i, std::size_t k) {
    const auto v = detail::load_n(x + i, k);
    detail::store_n(v * sigmoid(v), y + i, k);
  });
}

/// swish'(x) = s (1 + x (1 - s)): dx = dy swish'(x) when `store`, else dx += dy swish'(x)
/// (x, s: the forward pass's input and saved sigmoid; dx may be dy).
template <class T>
inline void swish_backward(std::size_t n, const T* x, const T* s, const T* dy, T* dx, bool store) {
  using B = xsimd::batch<T>;
  detail::over_batches<T>(n, [&](std::size_t i, std::size_t k) {
    const B sv = detail::load_n(s + i, k);
    const B g = detail::load_n(dy + i, k) * sv * (B(T(1)) + detail::load_n(x + i, k) * (B(T(1)) - sv));
    detail::store_n(store ? g : detail::load_n(dx + i, k) + g, dx + i, k);
  });
}

// ---- the affine layer over one sample (a column) ---------------------------------------------

namespace detail {
using db = xsimd::batch<double>;
/// db::size floats from p (aligned to their size in bytes), widened to double (exact).
inline db load_widen(const float* p) {
#if defined(__AVX512F__)
  if constexpr (db::size == 8) return db(_mm512_cvtps_pd(_mm256_load_ps(p)));
#elif defined(__AVX__)
  if constexpr (db::size == 4) return db(_mm256_cvtps_pd(_mm_load_ps(p)));
#endif
  alignas(64) double t[db::size];
  for (std::size_t k = 0; k < db::size; ++k) t[k] = double(p[k]);
  return db::load_aligned(t);
}

/// y[0..NB*W) += sum_i x[i] * m[i*stride + (0..NB*W)], with S partial sums per output batch
/// (rows i = s mod S) so that NB*S >= 8 FMA chains are in flight: a 64->16 layer would
/// otherwise be one 64-long dependency chain per register (latency- not throughput-bound).
template <std::size_t NB>
void column_block(std::size_t n, const double* x, const float* m, std::size_t stride, double* y) {
  constexpr std::size_t S = NB >= 8 ? 1 : 8 / NB;
  db acc[S][NB];
#pragma GCC unroll 8
  for (std::size_t v = 0; v < NB; ++v) {
    acc[0][v] = db::load_aligned(y + v * db::size);
#pragma GCC unroll 8
    for (std::size_t s = 1; s < S; ++s) acc[s][v] = db(0.0);
  }
  std::size_t i = 0;
  for (; i + S <= n; i += S)
#pragma GCC unroll 8
    for (std::size_t s = 0; s < S; ++s) {
      const db xi(x[i + s]);
      const float* row = m + (i + s) * stride;
#pragma GCC unroll 8
      for (std::size_t v = 0; v < NB; ++v) acc[s][v] = xsimd::fma(xi, load_widen(row + v * db::size), acc[s][v]);
    }
  for (; i < n; ++i) {
    const db xi(x[i]);
    const float* row = m + i * stride;
#pragma GCC unroll 8
    for (std::size_t v = 0; v < NB; ++v) acc[0][v] = xsimd::fma(xi, load_widen(row + v * db::size), acc[0][v]);
  }
#pragma GCC unroll 8
  for (std::size_t v = 0; v < NB; ++v) {
    db t = acc[0][v];
#pragma GCC unroll 8
    for (std::size_t s = 1; s < S; ++s) t += acc[s][v];
    t.store_aligned(y + v * db::size);
  }
}
} // namespace detail

/// y[0..width) += sum_i x[i] m[i*stride + (0..width)] in double with float weights m (64-byte
/// aligned rows; width a multiple of the double batch size). With m = W^T (in x out, padded)
/// it is the affine layer's forward pass for one sample (y starting at b); with m = W (out x in,
/// padded) and x = dy, its input gradient W^T dy.
inline void column_accumulate(std::size_t n, const double* x, const float* m, std::size_t stride, std::size_t width,
                              double* y) {
  using detail::db;
  constexpr std::size_t max_nb = 8;
  for (std::size_t off = 0; off < width; off += max_nb * db::size) {
    const std::size_t nb = std::min(max_nb, (width - off) / db::size);
    switch (nb) {
    case 1: detail::column_block<1>(n, x, m + off, stride, y + off); break;
    case 2: detail::column_block<2>(n, x, m + off, stride, y + off); break;
    case 3: detail::column_block<3>(n, x, m + off, stride, y + off); break;
    case 4: detail::column_block<4>(n, x, m + off, stride, y + off); break;
    case 5: detail::column_block<5>(n, x, m + off, stride, y + off); break;
    case 6: detail::column_block<6>(n, x, m + off, stride, y + off); break;
    case 7: detail::column_block<7>(n, x, m + off, stride, y + off); break;
    default: detail::column_block<8>(n, x, m + off, stride, y + off); break;
    }
  }
}

// ---- the affine layer over a block of samples (float) -----------------------------------------

inline constexpr std::size_t block = 32;  // samples per block
using fb = xsimd::batch<float>;
inline constexpr std::size_t nvec = block / fb::size;
static_assert(block % fb::size == 0);

namespace detail {
/// Pre-activations of units j0 .. j0 + nb - 1 into acc[q][v]. Several units at once: their
/// nb * nvec accumulation chains are independent, enough to keep both FMA pipes busy, and
/// each load of x serves nb units.
template <std::size_t nb, std::size_t LD>
[[gnu::always_inline]] inline void units_forward(std::size_t n_in, std::size_t j0, const float* W, const float* b, const float* x,
                          std::size_t ldx_, fb (&acc)[nb][nvec]) {
  const std::size_t ldx = LD ? LD : ldx_;
  for (std::size_t q = 0; q < nb; ++q)
    for (std::size_t v = 0; v < nvec; ++v) acc[q][v] = fb(b[j0 + q]);
  for (std::size_t i = 0; i < n_in; ++i) {
    const float* xi = x + i * ldx;
    fb xv[nvec];
    for (std::size_t v = 0; v < nvec; ++v) xv[v] = fb::load_unaligned(xi + v * fb::size);
    for (std::size_t q = 0; q < nb; ++q) {
      const fb w(W[(j0 + q) * n_in + i]);
      for (std::size_t v = 0; v < nvec; ++v) acc[q][v] = xsimd::fma(w, xv[v], acc[q][v]);
    }
  }
}

/// dx rows i0 .. i0 + nb - 1 of W^T dy (blocked like units_forward); added to dx when `add`.
template <std::size_t nb, std::size_t LD>
[[gnu::always_inline]] inline void rows_backward(std::size_t n_in, std::size_t n_out, std::size_t i0, const float* W, const float* dy,
                          std::size_t ldy_, float* dx, std::size_t ldx_, bool add) {
  const std::size_t ldy = LD ? LD : ldy_, ldx = LD ? LD : ldx_;
  fb acc[nb][nvec];
  for (std::size_t q = 0; q < nb; ++q)
    for (std::size_t v = 0; v < nvec; ++v) acc[q][v] = fb(0.0f);
  for (std::size_t j = 0; j < n_out; ++j) {
    const float* dyj = dy + j * ldy;
    fb dv[nvec];
    for (std::size_t v = 0; v < nvec; ++v) dv[v] = fb::load_unaligned(dyj + v * fb::size);
    for (std::size_t q = 0; q < nb; ++q) {
      const fb w(W[j * n_in + i0 + q]);
      for (std::size_t v = 0; v < nvec; ++v) acc[q][v] = xsimd::fma(w, dv[v], acc[q][v]);
    }
  }
  for (std::size_t q = 0; q < nb; ++q)
    for (std::size_t v = 0; v < nvec; ++v) {
      float* p = dx + (i0 + q) * ldx + v * fb::size;
      (add ? fb::load_unaligned(p) + acc[q][v] : acc[q][v]).store_unaligned(p);
    }
}
} // namespace detail

/// y = W x + b for one block (x: n_in rows of stride ldx; y: n_out rows of stride ldy).
template <std::size_t LD = 0>
inline void affine_forward(std::size_t n_in, std::size_t n_out, const float* W, const float* b, const float* x,
                           std::size_t ldx, float* y, std::size_t ldy_) {
  const std::size_t ldy = LD ? LD : ldy_;
  auto store = [&](std::size_t j, const fb* acc) {
    for (std::size_t v = 0; v < nvec; ++v) acc[v].store_unaligned(y + j * ldy + v * fb::size);
  };
  constexpr std::size_t nb = 2;
  std::size_t j = 0;
  for (; j + nb <= n_out; j += nb) {
    fb acc[nb][nvec];
    detail::units_forward<nb, LD>(n_in, j, W, b, x, ldx, acc);
    for (std::size_t q = 0; q < nb; ++q) store(j + q, acc[q]);
  }
  for (; j < n_out; ++j) {
    fb acc[1][nvec];
    detail::units_forward<1, LD>(n_in, j, W, b, x, ldx, acc);
    store(j, acc[0]);
  }
}

/// Parameter gradients of affine_forward for one block given dy = dL/dy: dW += dy x^T,
/// db += sum over the block's samples of dy (either may be null: not needed); with `store_W`
/// / `store_b`, dW / db are stored instead of added to.
template <std::size_t LD = 0>
inline void affine_backward_params(std::size_t n_in, std::size_t n_out, const float* x, std::size_t ldx_,
                                   const float* dy, std::size_t ldy_, float* dW, float* db, bool store_W = false,
                                   bool store_b = false) {
  const std::size_t ldx = LD ? LD : ldx_, ldy = LD ? LD : ldy_;
  for (std::size_t j = 0; j < n_out; ++j) {
    const float* dyj = dy + j * ldy;
    fb dyv[nvec];
    fb sum(0.0f);
    for (std::size_t v = 0; v < nvec; ++v) {
      dyv[v] = fb::load_unaligned(dyj + v * fb::size);
      sum += dyv[v];
    }
    if (db) db[j] = store_b ? xsimd::hadd(sum) : db[j] + xsimd::hadd(sum);
    if (!dW) continue;
    float* dWj = dW + j * n_in;
    std::size_t i = 0;
    // fb::size weights at a time: that many dot products reduced together by haddp.
    for (; i + fb::size <= n_in; i += fb::size) {
      fb dots[fb::size];
      for (std::size_t q = 0; q < fb::size; ++q) {
        const float* xi = x + (i + q) * ldx;
        fb acc = dyv[0] * fb::load_unaligned(xi);
        for (std::size_t v = 1; v < nvec; ++v) acc = xsimd::fma(dyv[v], fb::load_unaligned(xi + v * fb::size), acc);
        dots[q] = acc;
      }
      const fb d = simd::haddp(dots);
      (store_W ? d : fb::load_unaligned(dWj + i) + d).store_unaligned(dWj + i);
    }
    for (; i < n_in; ++i) {
      const float* xi = x + i * ldx;
      fb acc = dyv[0] * fb::load_unaligned(xi);
      for (std::size_t v = 1; v < nvec; ++v) acc = xsimd::fma(dyv[v], fb::load_unaligned(xi + v * fb::size), acc);
      dWj[i] = store_W ? xsimd::hadd(acc) : dWj[i] + xsimd::hadd(acc);
    }
  }
}

/// Input gradient of affine_forward for one block: dx = W^T dy (stored), or dx += W^T dy when
/// `add`.
template <std::size_t LD = 0>
inline void affine_backward_input(std::size_t n_in, std::size_t n_out, const float* W, const float* dy,
                                  std::size_t ldy, float* dx, std::size_t ldx, bool add) {
  constexpr std::size_t nb = 2;
  std::size_t i = 0;
  for (; i + nb <= n_in; i += nb) detail::rows_backward<nb, LD>(n_in, n_out, i, W, dy, ldy, dx, ldx, add);
  for (; i < n_in; ++i) detail::rows_backward<1, LD>(n_in, n_out, i, W, dy, ldy, dx, ldx, add);
}

} // namespace bactor::dense
