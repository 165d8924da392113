// SPDX-License-Identifier: MIT
// Float kernels of the tape's affine node (engine/tensor.cpp) over one block of C = 32
// samples stored feature-major: feature i of the block occupies floats [i*ld, i*ld + C) for a
// row stride ld (the tensor's column count). Weights row-major W[j*n_in + i]. Written with
// xsimd for any batch width dividing C. Template parameter LD: the row stride when known at
// compile time (LD = C, a tensor of one block: simpler addressing, ~15% fewer instructions),
// 0 to use the run-time ld arguments.
#pragma once

#include <cstddef>

#include <xsimd/xsimd.hpp>

#include "engine/simd_math.hpp"

namespace bactor::dense {

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
