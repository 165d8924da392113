// SPDX-License-Identifier: MIT
// The fused training kernel (DESIGN.md §4, steps 4–5) as a template over the generic cost
// function. Included only where families are registered (models/costs.cpp), which
// instantiates it once per family.
//
// For each sample b of a chunk and draws k = 1..K (8 float lanes at a time):
//   e, u ~ N(0, 1) (vectorised xoshiro128+ lanes and Box–Muller, generated in registers),
//   s' = exp(mu_post + sigma_post e),  r = a exp(sigma_r u),
//   (ℓ, dℓ/dr) from Fn::eval on Dual<batch<float>>,
// reduced to loss_b = mean_k ℓ and dloss/da_b = mean_k dℓ/dr · r / a_b. Nothing of size n×K
// is stored.
#pragma once

#include <cstdint>
#include <numbers>

#include <xsimd/xsimd.hpp>

#include "engine/rng.hpp"
#include "models/costs.hpp"
#include "models/dual.hpp"

namespace bactor::detail {

using fbatch = xsimd::batch<float>;
using ubatch = xsimd::batch<std::uint32_t>;
using ibatch = xsimd::batch<std::int32_t>;
inline constexpr std::size_t flanes = fbatch::size;

/// xoshiro128+ (Blackman & Vigna) running independently in every SIMD lane.
class LaneRng {
public:
  LaneRng(std::uint64_t seed, std::uint64_t stream) {
    alignas(64) std::uint32_t st[4][flanes];
    std::uint64_t x = mix64(seed + 0x9e3779b97f4a7c15ULL) ^ mix64(mix64(stream) + 0x632be59bd9b4e019ULL);
    for (std::size_t l = 0; l < flanes; ++l)
      for (int w = 0; w < 4; w += 2) {
        x += 0x9e3779b97f4a7c15ULL;
        const std::uint64_t z = mix64(x);
        st[w][l] = std::uint32_t(z);
        st[w + 1][l] = std::uint32_t(z >> 32) | 1u;  // never an all-zero state
      }
    for (int w = 0; w < 4; ++w) s_[w] = ubatch::load_aligned(st[w]);
  }
  /// 8 independent 32-bit outputs (use the high bits).
  ubatch next() {
    const ubatch result = s_[0] + s_[3];
    const ubatch t = s_[1] << 9;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = (s_[3] << 11) | (s_[3] >> 21);
    return result;
  }
  /// Uniforms on the open interval (0, 1) from the top 24 bits.
  fbatch uniform() {
    const ibatch top = xsimd::bitwise_cast<ibatch>(next() >> 8);
    return xsimd::to_float(top) * fbatch(0x1.0p-24f) + fbatch(0x1.0p-25f);
  }
  /// Two independent standard-normal batches (Box–Muller).
  void normal2(fbatch& z0, fbatch& z1) {
    const fbatch u1 = uniform(), u2 = uniform();
    const fbatch radius = xsimd::sqrt(fbatch(-2.0f) * xsimd::log(u1));
    const auto sc = xsimd::sincos(fbatch(float(2.0 * std::numbers::pi)) * u2);
    z0 = radius * sc.second;
    z1 = radius * sc.first;
  }

  /// n pairs of normal batches, the same numbers as n calls of normal2.
  template <std::size_t n>
  void normal2_block(fbatch* z0, fbatch* z1) {
    fbatch u1[n], u2[n];
    for (std::size_t q = 0; q < n; ++q) {
      u1[q] = uniform();
      u2[q] = uniform();
    }
    for (std::size_t q = 0; q < n; ++q) {
      const fbatch radius = xsimd::sqrt(fbatch(-2.0f) * xsimd::log(u1[q]));
      const auto sc = xsimd::sincos(fbatch(float(2.0 * std::numbers::pi)) * u2[q]);
      z0[q] = radius * sc.second;
      z1[q] = radius * sc.first;
    }
  }

private:
  static std::uint64_t mix64(std::uint64_t z) { return bactor::detail::mix64(z); }
  ubatch s_[4];
};

template <class Fn>
void fused_kernel(const FusedArgs& g) {
  using D = Dual<fbatch>;
  LaneRng rng(g.seed, g.stream);
  const std::size_t K = g.K;
  const std::size_t full = K - K % flanes;
  alignas(64) float lane_index[flanes];
  for (std::size_t l = 0; l < flanes; ++l) lane_index[l] = float(l);
  const fbatch lane = fbatch::load_aligned(lane_index);
  for (std::size_t b = 0; b < g.n; ++b) {
    const fbatch mu(g.mu_post[b]), sp(g.sigma_post[b]), sr(g.sigma_r[b]);
    const float a = g.a[b];
    const fbatch log_a(std::log(a));
    D p[Fn::n_params > 0 ? Fn::n_params : 1];
    for (int j = 0; j < Fn::n_params; ++j) p[j] = D(fbatch(g.params[std::size_t(j) * g.n + b]), fbatch(0.0f));
    fbatch sum_l(0.0f), sum_g(0.0f);
    const bool clamp = g.u_clamp > 0.0f;
    const fbatch ucl(g.u_clamp);
    auto body = [&](const fbatch& e, const fbatch& u_raw, const auto& mask_fn) {
      const fbatch u = clamp ? xsimd::min(xsimd::max(u_raw, -ucl), ucl) : u_raw;
      const fbatch s = xsimd::exp(xsimd::fma(sp, e, mu));
      const fbatch r = xsimd::exp(xsimd::fma(sr, u, log_a));
      const D l = Fn::eval(D(s, fbatch(0.0f)), D(r, fbatch(1.0f)), static_cast<const D*>(p));
      sum_l += mask_fn(l.v);
      sum_g += mask_fn(l.d * r);
    };
    auto all = [](const fbatch& x) { return x; };
    if (g.e_fixed) {
      const float* eb = g.e_fixed + b * K;
      const float* ub = g.u_fixed + b * K;
      for (std::size_t k = 0; k < full; k += flanes)
        body(fbatch::load_unaligned(eb + k), fbatch::load_unaligned(ub + k), all);
      if (full < K) {
        alignas(64) float te[flanes] = {}, tu[flanes] = {};
        for (std::size_t k = full; k < K; ++k) te[k - full] = eb[k], tu[k - full] = ub[k];
        const auto mask = lane < fbatch(float(K - full));
        body(fbatch::load_aligned(te), fbatch::load_aligned(tu),
             [&](const fbatch& x) { return xsimd::select(mask, x, fbatch(0.0f)); });
      }
    } else {
      // Blocks of `blk` independent batches: the log/sincos/exp chains of one batch are
      // long, so generating several at once lets their latencies overlap. Same draws, same
      // summation order as one batch at a time.
      constexpr std::size_t blk = 4;
      std::size_t k = 0;
      for (; k + blk * flanes <= full; k += blk * flanes) {
        fbatch e[blk], u[blk];
        rng.normal2_block<blk>(e, u);
        for (std::size_t q = 0; q < blk; ++q) body(e[q], u[q], all);
      }
      for (; k < full; k += flanes) {
        fbatch e, u;
        rng.normal2(e, u);
        body(e, u, all);
      }
      if (full < K) {
        fbatch e, u;
        rng.normal2(e, u);
        const auto mask = lane < fbatch(float(K - full));
        body(e, u, [&](const fbatch& x) { return xsimd::select(mask, x, fbatch(0.0f)); });
      }
    }
    const float inv_k = 1.0f / float(K);
    g.loss[b] = xsimd::hadd(sum_l) * inv_k;
    g.dloss_da[b] = xsimd::hadd(sum_g) * inv_k / a;
  }
}

} // namespace bactor::detail
