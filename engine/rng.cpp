// SPDX-License-Identifier: MIT
// Bulk draws for Rng, vectorised.
//
// A bulk fill of at least `simd_min` values seeds eight xoshiro256++ lanes from the parent
// generator (32 parent outputs, each passed through the SplitMix64 mixer with its lane
// index), steps the eight lanes together (plain loops over fixed-size arrays, which the
// compiler vectorises), and converts blocks of lane outputs with a vectorised Box–Muller
// transform (xsimd log, sqrt and sincos). The lane count and block layout are fixed, so the
// numbers are a deterministic function of (seed, stream, sequence of calls), independent of
// the SIMD width (but, through the 32-bit halves of the words, of the byte order: the
// machines we build for are little-endian). Shorter fills use the scalar generator.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

#include <xsimd/xsimd.hpp>

#include <bactor/engine/rng.hpp>

namespace bactor {

namespace {

constexpr std::size_t lanes = 8;
constexpr std::size_t simd_min = 64;

using U64 = xsimd::batch<std::uint64_t>;
constexpr std::size_t lane_batches = lanes / U64::size;
static_assert(lanes % U64::size == 0, "lane count must be a multiple of the 64-bit batch size");

inline U64 rotl(const U64& x, int k) { return (x << k) | (x >> (64 - k)); }

// Eight xoshiro256++ generators stepped together, held in SIMD registers.
struct LaneState {
  U64 s0[lane_batches], s1[lane_batches], s2[lane_batches], s3[lane_batches];

  explicit LaneState(Rng& parent) {
    alignas(64) std::uint64_t w[4][lanes];
    for (std::size_t j = 0; j < lanes; ++j)
      for (auto& word : w) word[j] = detail::mix64(parent.next_u64() + 0x9e3779b97f4a7c15ULL * (j + 1));
    for (std::size_t b = 0; b < lane_batches; ++b) {
      s0[b] = U64::load_aligned(w[0] + b * U64::size);
      s1[b] = U64::load_aligned(w[1] + b * U64::size);
      s2[b] = U64::load_aligned(w[2] + b * U64::size);
      s3[b] = U64::load_aligned(w[3] + b * U64::size);
    }
  }

  // One xoshiro256++ step in every lane; out[j] is lane j's output.
  void next(std::uint64_t* out) {
    for (std::size_t b = 0; b < lane_batches; ++b) {
      const U64 result = rotl(s0[b] + s3[b], 23) + s0[b];
      const U64 t = s1[b] << 17;
      s2[b] ^= s0[b];
      s3[b] ^= s1[b];
      s1[b] ^= s2[b];
      s0[b] ^= s3[b];
      s2[b] ^= t;
      s3[b] = rotl(s3[b], 45);
      result.store_aligned(out + b * U64::size);
    }
  }
};

// Uniform (0, 1) conversions, strictly inside the interval (values centred in their cells):
// double from the top 52 bits through the exponent trick (1 + k 2^-52) - 1 + 2^-53;
// float from 24 bits of each 32-bit half of a word (two floats per 64-bit output).
template <std::size_t m>
void to_double(const std::uint64_t* u, double* out) {
  using D = xsimd::batch<double>;
  static_assert(D::size == U64::size);
  if constexpr (m % U64::size == 0) {
    for (std::size_t k = 0; k < m; k += U64::size) {
      const U64 bits = (U64::load_aligned(u + k) >> 12) | U64(0x3ff0000000000000ULL);
      (xsimd::bitwise_cast<D>(bits) - D(1.0) + D(0x1.0p-53)).store_aligned(out + k);
    }
  } else {
    for (std::size_t k = 0; k < m; ++k) {
      const std::uint64_t bits = (u[k] >> 12) | 0x3ff0000000000000ULL;
      double d;
      std::memcpy(&d, &bits, sizeof d);
      out[k] = d - 1.0 + 0x1.0p-53;
    }
  }
}
// m floats from the m 32-bit words at w.
template <std::size_t m>
void to_float(const std::uint32_t* w, float* out) {
  using I = xsimd::batch<std::int32_t>;
  using U = xsimd::batch<std::uint32_t>;
  using F = xsimd::batch<float>;
  if constexpr (m % F::size == 0) {
    for (std::size_t k = 0; k < m; k += F::size) {
      const I top = xsimd::bitwise_cast<I>(U::load_aligned(w + k) >> 8);  // < 2^24: exact as float
      ((xsimd::batch_cast<float>(top) + F(0.5f)) * F(0x1.0p-24f)).store_aligned(out + k);
    }
  } else {
    for (std::size_t k = 0; k < m; ++k) out[k] = (float(w[k] >> 8) + 0.5f) * 0x1.0p-24f;
  }
}

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
    alignas(64) double d[lanes];
    st.next(u);
    to_double<lanes>(u, d);
    std::copy(d, d + lanes, o);
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
    alignas(64) std::uint32_t w[2 * lanes];
    alignas(64) float f[2 * lanes];
    st.next(u);
    std::memcpy(w, u, sizeof u);  // the 32-bit halves of the words (no aliasing cast)
    to_float<2 * lanes>(w, f);
    std::copy(f, f + 2 * lanes, o);
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
    to_double<lanes>(u, un);
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
    alignas(64) std::uint32_t w[2 * lanes];
    alignas(64) float un[2 * lanes];
    st.next(u);
    std::memcpy(w, u, sizeof u);
    to_float<2 * lanes>(w, un);
    box_muller<float, lanes>(un, un + lanes, o);
  });
}

} // namespace bactor
