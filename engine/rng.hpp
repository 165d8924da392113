// SPDX-License-Identifier: MIT
// Random numbers with independent, replayable streams.
//
// xoshiro256++ (Blackman & Vigna) whose 256-bit state is derived from (seed, stream) by
// SplitMix64 mixing, so every (seed, stream) pair is its own reproducible sequence: chains,
// threads and training batches take their own stream id instead of sharing a global RNG.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>

namespace bactor {

namespace detail {
/// SplitMix64 finaliser: a bijective 64-bit mixer.
constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
} // namespace detail

class Rng {
public:
  /// Stream `stream` of the generator seeded with `seed`.
  explicit Rng(std::uint64_t seed = 0, std::uint64_t stream = 0) noexcept { reseed(seed, stream); }

  void reseed(std::uint64_t seed, std::uint64_t stream) noexcept {
    seed_ = seed;
    stream_ = stream;
    // Mix seed and stream separately before combining so that (seed, stream) and
    // (seed + 1, stream - 1) do not collide.
    std::uint64_t x = detail::mix64(seed + 0x9e3779b97f4a7c15ULL) ^
                      detail::mix64(detail::mix64(stream) + 0x632be59bd9b4e019ULL);
    for (auto& w : s_) {
      x += 0x9e3779b97f4a7c15ULL;
      w = detail::mix64(x);
    }
    has_spare_ = false;
  }

  std::uint64_t seed() const noexcept { return seed_; }
  std::uint64_t stream() const noexcept { return stream_; }

  /// Next raw 64-bit output.
  std::uint64_t next_u64() noexcept {
    const std::uint64_t result = detail::rotl(s_[0] + s_[3], 23) + s_[0];
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = detail::rotl(s_[3], 45);
    return result;
  }

  /// Uniform on the open interval (0, 1): 53 random bits, never exactly 0 or 1.
  double uniform() noexcept { return (static_cast<double>(next_u64() >> 11) + 0.5) * 0x1.0p-53; }

  /// Uniform on (lo, hi).
  double uniform(double lo, double hi) noexcept { return lo + (hi - lo) * uniform(); }

  /// Uniform integer in [0, n) (n > 0), by Lemire's multiply-shift (bias below 2^-64 n).
  std::uint64_t below(std::uint64_t n) noexcept {
    __extension__ using u128 = unsigned __int128;
    return static_cast<std::uint64_t>((static_cast<u128>(next_u64()) * n) >> 64);
  }

  /// Standard normal by the Box–Muller transform (the second value is kept for the next call).
  double normal() noexcept {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = uniform(), u2 = uniform();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

  /// Fills `out` with uniforms on (0, 1). Vectorised; same numbers on every run.
  void fill_uniform(std::span<double> out) noexcept;
  void fill_uniform(std::span<float> out) noexcept;
  /// Fills `out` with standard normals. Vectorised; same numbers on every run.
  void fill_normal(std::span<double> out) noexcept;
  void fill_normal(std::span<float> out) noexcept;

private:
  std::uint64_t s_[4];
  std::uint64_t seed_ = 0, stream_ = 0;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

} // namespace bactor
