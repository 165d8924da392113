// SPDX-License-Identifier: MIT
// Bulk draws for Rng, vectorised.
//
// A bulk fill of at least `simd_min` values seeds eight xoshiro256++ lanes from the parent
// generator (32 parent outputs, each passed through the SplitMix64 mixer with its lane
// index), steps the eight lanes together (plain loops over fixed-size arrays, which the
// compiler vectorises), and converts blocks of lane outputs with a vectorised Box–Muller
// transform (xsimd log, sqrt and sincos). The lane count and block layout are fixed, so the
// numbers are a deterministic function of (seed, stream, sequence of calls), independent of
// the SIMD width. Shorter fills use the scalar generator.
#include <algorithm>
#include <cmath>
#include <numbers>

#include <xsimd/xsimd.hpp>

#include "engine/rng.hpp"

namespace bactor {

namespace {

constexpr std::size_t lanes = 8;
constexpr std::size_t simd_min = 64;

struct alignas(64) LaneState {
  std::uint64_t s0[lanes], s1[lanes], s2[lanes], s3[lanes];

  explicit LaneState(Rng& parent) {
    std::uint64_t* words[4] = {s0, s1, s2, s3};
    for (std::size_t j = 0; j < lanes; ++j)
      for (auto* w : words) w[j] = detail::mix64(parent.next_u64() + 0x9e3779b97f4a7c15ULL * (j + 1));
  }

  // One xoshiro256++ step in every lane.
  void next(std::uint64_t* __restrict out) {
    for (std::size_t j = 0; j < lanes; ++j) {
      out[j] = detail::rotl(s0[j] + s3[j], 23) + s0[j];
      const std::uint64_t t = s1[j] << 17;
      s2[j] ^= s0[j];
      s3[j] ^= s1[j];
      s1[j] ^= s2[j];
      s0[j] ^= s3[j];
      s2[j] ^= t;
      s3[j] = detail::rotl(s3[j], 45);
    }
  }
};

// Uniform (0, 1) conversions: 53 bits for double, 24 bits for float (two per 64-bit word).
inline double to_double(std::uint64_t u) { return (double(u >> 11) + 0.5) * 0x1.0p-53; }
inline float to_float_hi(std::uint64_t u) { return (float(u >> 40) + 0.5f) * 0x1.0p-24f; }
inline float to_float_lo(std::uint64_t u) { return (float((u >> 8) & 0xffffffu) + 0.5f) * 0x1.0p-24f; }

// Box–Muller on m pairs: out[k] = r cos(2 pi u2), out[m + k] = r sin(2 pi u2),
// r = sqrt(-2 log u1), for k < m (m a multiple of the batch size, or scalar fallback).
template <class T, std::size_t m>
void box_muller(const T* u1, const T* u2, T* out) {
  using B = xsimd::batch<T>;
  constexpr T two_pi = T(2 * std::numbers::pi);
  if constexpr (m % B::size == 0) {
    for (std::size_t k = 0; k < m; k += B::size) {
      const B r = xsimd::sqrt(B(T(-2)) * xsimd::log(B::load_aligned(u1 + k)));
      const auto sc = xsimd::sincos(B(two_pi) * B::load_aligned(u2 + k));
      (r * sc.second).store_unaligned(out + k);
      (r * sc.first).store_unaligned(out + m + k);
    }
  } else {
    for (std::size_t k = 0; k < m; ++k) {
      const T r = std::sqrt(T(-2) * std::log(u1[k]));
      out[k] = r * std::cos(two_pi * u2[k]);
      out[m + k] = r * std::sin(two_pi * u2[k]);
    }
  }
}

// Block sizes: one lane step gives 8 doubles' worth of bits (4 normal pairs) or
// 16 floats (8 normal pairs).
constexpr std::size_t block_double = lanes, block_float = 2 * lanes;

// Fills out[0..n) block by block; `make(block_out)` writes one full block.
template <class T, std::size_t block, class Make>
void fill_blocks(std::span<T> out, Make&& make) {
  const std::size_t n = out.size();
  std::size_t i = 0;
  for (; i + block <= n; i += block) make(out.data() + i);
  if (i < n) {
    alignas(64) T buf[block];
    make(buf);
    std::copy(buf, buf + (n - i), out.data() + i);
  }
}

} // namespace

void Rng::fill_uniform(std::span<double> out) noexcept {
  if (out.size() < simd_min) {
    for (auto& v : out) v = uniform();
    return;
  }
  LaneState st(*this);
  fill_blocks<double, block_double>(out, [&](double* o) {
    alignas(64) std::uint64_t u[lanes];
    st.next(u);
    for (std::size_t j = 0; j < lanes; ++j) o[j] = to_double(u[j]);
  });
}

void Rng::fill_uniform(std::span<float> out) noexcept {
  if (out.size() < simd_min) {
    // 24 random bits, centred in their cell: strictly inside (0, 1) in float.
    for (auto& v : out) v = (static_cast<float>(next_u64() >> 40) + 0.5f) * 0x1.0p-24f;
    return;
  }
  LaneState st(*this);
  fill_blocks<float, block_float>(out, [&](float* o) {
    alignas(64) std::uint64_t u[lanes];
    st.next(u);
    for (std::size_t j = 0; j < lanes; ++j) {
      o[j] = to_float_hi(u[j]);
      o[lanes + j] = to_float_lo(u[j]);
    }
  });
}

void Rng::fill_normal(std::span<double> out) noexcept {
  if (out.size() < simd_min) {
    for (auto& v : out) v = normal();
    return;
  }
  LaneState st(*this);
  fill_blocks<double, block_double>(out, [&](double* o) {
    alignas(64) std::uint64_t u[lanes];
    alignas(64) double un[lanes];
    st.next(u);
    for (std::size_t j = 0; j < lanes; ++j) un[j] = to_double(u[j]);
    box_muller<double, lanes / 2>(un, un + lanes / 2, o);
  });
}

void Rng::fill_normal(std::span<float> out) noexcept {
  if (out.size() < simd_min) {
    for (auto& v : out) v = static_cast<float>(normal());
    return;
  }
  LaneState st(*this);
  fill_blocks<float, block_float>(out, [&](float* o) {
    alignas(64) std::uint64_t u[lanes];
    alignas(64) float u1[lanes], u2[lanes];
    st.next(u);
    for (std::size_t j = 0; j < lanes; ++j) {
      u1[j] = to_float_hi(u[j]);
      u2[j] = to_float_lo(u[j]);
    }
    box_muller<float, lanes>(u1, u2, o);
  });
}

} // namespace bactor
