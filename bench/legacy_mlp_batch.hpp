// SPDX-License-Identifier: MIT
// TEMPORARY (bench only): models/mlp_batch.hpp as it was on main before issue 14 (its kernels
// now serve the tape's affine node, engine/dense_kernels.hpp), for bench/legacy_train.cpp.
// Float MLP kernels over a chunk of C = 32 samples stored feature-major (unit j of a layer
// occupies floats [j*C, (j+1)*C)), the layout of the trainer's hot path. Weights row-major
// W[j*n_in + i]. Written with xsimd; each forward has its backward next to it.
#pragma once

#include <cstddef>
#include <cstdint>

#include <xsimd/xsimd.hpp>

#include "engine/simd_math.hpp"

namespace bactor::legacy_detail {

inline constexpr std::size_t chunk = 32;  // samples per chunk
using cbatch = xsimd::batch<float>;
inline constexpr std::size_t cvec = chunk / cbatch::size;
static_assert(chunk % cbatch::size == 0);

/// exp(x) by xsimd's float algorithm (Cody–Waite reduction by ln 2, degree-5 polynomial)
/// without its overflow/underflow selects: x is clamped to [-87, 88] instead, where the
/// result is a normal float. Equal to xsimd::exp bit for bit inside that range.
inline cbatch exp_fast(cbatch x) {
  x = xsimd::min(xsimd::max(x, cbatch(-87.0f)), cbatch(88.0f));
  const cbatch k = xsimd::nearbyint(cbatch(1.442695040888963407359924681001892137426645954152986f) * x);
  cbatch r = xsimd::fnma(k, cbatch(0x1.63p-1f), x);   // ln 2, high part (0x3f318000)
  r = xsimd::fnma(k, cbatch(-0x1.bd0106p-13f), r);     // ln 2, low part (0xb95e8083)
  cbatch y = xsimd::fma(cbatch(0x1.6ef19ep-10f), r, cbatch(0x1.131b16p-7f));
  y = xsimd::fma(y, r, cbatch(0x1.5552aep-5f));
  y = xsimd::fma(y, r, cbatch(0x1.55534ap-3f));
  y = xsimd::fma(y, r, cbatch(0.5f));
  y = xsimd::fma(y, r * r, r) + cbatch(1.0f);
  using ib = xsimd::batch<std::int32_t>;
  return y * xsimd::bitwise_cast<cbatch>((xsimd::to_int(k) + ib(127)) << 23);
}

/// sigmoid(x) = 1 / (1 + exp(-x)).
inline cbatch sigmoid_fast(const cbatch& x) { return cbatch(1.0f) / (cbatch(1.0f) + exp_fast(-x)); }

namespace mlp_detail {
/// Pre-activations of units j0 .. j0 + nb - 1 into acc[q][v]. Several units at once: their
/// nb * cvec accumulation chains are independent, enough to keep both FMA pipes busy, and
/// each load of x serves nb units.
template <std::size_t nb>
inline void units_forward(std::size_t n_in, std::size_t j0, const float* W, const float* b, const float* x,
                          cbatch (&acc)[nb][cvec]) {
  for (std::size_t q = 0; q < nb; ++q)
    for (std::size_t v = 0; v < cvec; ++v) acc[q][v] = cbatch(b[j0 + q]);
  for (std::size_t i = 0; i < n_in; ++i) {
    const float* xi = x + i * chunk;
    cbatch xv[cvec];
    for (std::size_t v = 0; v < cvec; ++v) xv[v] = cbatch::load_aligned(xi + v * cbatch::size);
    for (std::size_t q = 0; q < nb; ++q) {
      const cbatch w(W[(j0 + q) * n_in + i]);
      for (std::size_t v = 0; v < cvec; ++v) acc[q][v] = xsimd::fma(w, xv[v], acc[q][v]);
    }
  }
}

/// dx rows i0 .. i0 + nb - 1 of W^T dy (blocked like units_forward).
template <std::size_t nb>
inline void rows_backward(std::size_t n_in, std::size_t n_out, std::size_t i0, const float* W, const float* dy,
                          float* dx) {
  cbatch acc[nb][cvec];
  for (std::size_t q = 0; q < nb; ++q)
    for (std::size_t v = 0; v < cvec; ++v) acc[q][v] = cbatch(0.0f);
  for (std::size_t j = 0; j < n_out; ++j) {
    const float* dyj = dy + j * chunk;
    cbatch dv[cvec];
    for (std::size_t v = 0; v < cvec; ++v) dv[v] = cbatch::load_aligned(dyj + v * cbatch::size);
    for (std::size_t q = 0; q < nb; ++q) {
      const cbatch w(W[j * n_in + i0 + q]);
      for (std::size_t v = 0; v < cvec; ++v) acc[q][v] = xsimd::fma(w, dv[v], acc[q][v]);
    }
  }
  for (std::size_t q = 0; q < nb; ++q)
    for (std::size_t v = 0; v < cvec; ++v) acc[q][v].store_aligned(dx + (i0 + q) * chunk + v * cbatch::size);
}
} // namespace mlp_detail

/// y = W x + b for n_out units (x: n_in x C). Hidden layers (swish) also keep pre-activation
/// and sigmoid for the backward pass: act = pre * sigmoid(pre).
inline void dense_forward(std::size_t n_in, std::size_t n_out, const float* W, const float* b, const float* x,
                          float* pre, float* sig, float* act, bool swish) {
  auto store = [&](std::size_t j, cbatch* acc) {
    for (std::size_t v = 0; v < cvec; ++v) {
      const std::size_t o = j * chunk + v * cbatch::size;
      if (swish) {
        const cbatch s = sigmoid_fast(acc[v]);
        acc[v].store_aligned(pre + o);
        s.store_aligned(sig + o);
        (acc[v] * s).store_aligned(act + o);
      } else {
        acc[v].store_aligned(act + o);
      }
    }
  };
  constexpr std::size_t nb = 2;
  std::size_t j = 0;
  for (; j + nb <= n_out; j += nb) {
    cbatch acc[nb][cvec];
    mlp_detail::units_forward<nb>(n_in, j, W, b, x, acc);
    for (std::size_t q = 0; q < nb; ++q) store(j + q, acc[q]);
  }
  for (; j < n_out; ++j) {
    cbatch acc[1][cvec];
    mlp_detail::units_forward<1>(n_in, j, W, b, x, acc);
    store(j, acc[0]);
  }
}

/// Backward of dense_forward given dy = dL/d(pre) (n_out x C): accumulates dW += dy x^T,
/// db += sum_c dy, and (when dx is not null) writes dx = W^T dy (n_in x C).
inline void dense_backward(std::size_t n_in, std::size_t n_out, const float* W, const float* x, const float* dy,
                           float* dW, float* db, float* dx) {
  for (std::size_t j = 0; j < n_out; ++j) {
    const float* dyj = dy + j * chunk;
    cbatch dyv[cvec];
    cbatch sum(0.0f);
    for (std::size_t v = 0; v < cvec; ++v) {
      dyv[v] = cbatch::load_aligned(dyj + v * cbatch::size);
      sum += dyv[v];
    }
    db[j] += xsimd::hadd(sum);
    float* dWj = dW + j * n_in;
    std::size_t i = 0;
    // cbatch::size weights at a time: that many dot products reduced together by haddp.
    for (; i + cbatch::size <= n_in; i += cbatch::size) {
      cbatch dots[cbatch::size];
      for (std::size_t q = 0; q < cbatch::size; ++q) {
        const float* xi = x + (i + q) * chunk;
        cbatch acc = dyv[0] * cbatch::load_aligned(xi);
        for (std::size_t v = 1; v < cvec; ++v) acc = xsimd::fma(dyv[v], cbatch::load_aligned(xi + v * cbatch::size), acc);
        dots[q] = acc;
      }
      (cbatch::load_unaligned(dWj + i) + simd::haddp(dots)).store_unaligned(dWj + i);
    }
    for (; i < n_in; ++i) {
      const float* xi = x + i * chunk;
      cbatch acc = dyv[0] * cbatch::load_aligned(xi);
      for (std::size_t v = 1; v < cvec; ++v) acc = xsimd::fma(dyv[v], cbatch::load_aligned(xi + v * cbatch::size), acc);
      dWj[i] += xsimd::hadd(acc);
    }
  }
  if (!dx) return;
  constexpr std::size_t nb = 2;
  std::size_t i = 0;
  for (; i + nb <= n_in; i += nb) mlp_detail::rows_backward<nb>(n_in, n_out, i, W, dy, dx);
  for (; i < n_in; ++i) mlp_detail::rows_backward<1>(n_in, n_out, i, W, dy, dx);
}

/// dx *= swish'(pre) = sigmoid (1 + pre (1 - sigmoid)), for n units x C.
inline void swish_backward(std::size_t n, const float* pre, const float* sig, float* dx) {
  for (std::size_t o = 0; o < n * chunk; o += cbatch::size) {
    const cbatch p = cbatch::load_aligned(pre + o), s = cbatch::load_aligned(sig + o);
    const cbatch d = cbatch::load_aligned(dx + o) * s * (cbatch(1.0f) + p * (cbatch(1.0f) - s));
    d.store_aligned(dx + o);
  }
}

} // namespace bactor::legacy_detail
