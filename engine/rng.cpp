// SPDX-License-Identifier: MIT
// Bulk draws for Rng. (Scalar reference versions; the engine owner vectorises them.)
#include "engine/rng.hpp"

namespace bactor {

void Rng::fill_uniform(std::span<double> out) noexcept {
  for (auto& v : out) v = uniform();
}
void Rng::fill_uniform(std::span<float> out) noexcept {
  // 24 random bits, centred in their cell: strictly inside (0, 1) in float.
  for (auto& v : out) v = (static_cast<float>(next_u64() >> 40) + 0.5f) * 0x1.0p-24f;
}
void Rng::fill_normal(std::span<double> out) noexcept {
  for (auto& v : out) v = normal();
}
void Rng::fill_normal(std::span<float> out) noexcept {
  for (auto& v : out) v = static_cast<float>(normal());
}

} // namespace bactor
