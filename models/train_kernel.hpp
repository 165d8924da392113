// SPDX-License-Identifier: MIT
// The fused training kernel (docs/training.md, the objective) as a template over a tile
// evaluator of the cost: a cost struct's generic eval (StructTiles, the built-ins), a formula's
// program (models/formula.cpp) or an embedding program's block function (models/custom_cost.cpp).
// Private: instantiated only inside the library.
//
// For each sample b of a chunk and draws k = 1..K (8 float lanes at a time):
//   e, u ~ N(0, 1) (vectorised xoshiro128+ lanes and Box–Muller, generated in registers),
//   s' = exp(mu_post + sigma_post e),  r = a exp(sigma_r u) (or the motor model's r, FusedArgs::motor),
//   (ℓ, dℓ/dr) from Fn::eval on Dual<batch<float>>,
// reduced to loss_b = mean_k ℓ and dloss/da_b = mean_k dℓ/dr · dr/da_b. Nothing of size n×K
// is stored. With a product Gauss–Hermite rule (FusedArgs::u_nodes, e_nodes; the trainer's
// choice under every motor model, product_rule_sample; r = a + sigma_a u under gaussian motor
// noise) or, under gaussian motor noise
// for a cost with a kink at r = s, the split rule (gaussian_split_sample) the nodes replace the draws.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <numbers>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include "models/dual.hpp"
#include "models/kink_split.hpp"
#include "engine/simd_math.hpp"  // exp_fast

namespace bactor::detail {

using simd::exp_fast;
using fbatch = xsimd::batch<float>;
using ubatch = xsimd::batch<std::uint32_t>;
using ibatch = xsimd::batch<std::int32_t>;
inline constexpr std::size_t flanes = fbatch::size;

/// log(x) for positive normal finite x (the generator's uniforms in [2^-25, 1), the split
/// rule's probability ratios): no special cases. x = 2^k (1 + f) with 1 + f in
/// [sqrt(1/2), sqrt(2)), then Cephes' logf polynomial (error about 1 ulp).
inline fbatch log_positive(const fbatch& x) {
  ibatch ix = xsimd::bitwise_cast<ibatch>(x) + ibatch(0x3f800000 - 0x3f3504f3);
  const fbatch k = xsimd::to_float((ix >> 23) - ibatch(0x7f));
  ix = (ix & ibatch(0x007fffff)) + ibatch(0x3f3504f3);
  const fbatch f = xsimd::bitwise_cast<fbatch>(ix) - fbatch(1.0f);
  const fbatch z = f * f;
  fbatch p(7.0376836292e-2f);
  for (float c : {-1.1514610310e-1f, 1.1676998740e-1f, -1.2420140846e-1f, 1.4249322787e-1f, -1.6668057665e-1f,
                  2.0000714765e-1f, -2.4999993993e-1f, 3.3333331174e-1f})
    p = xsimd::fma(p, f, fbatch(c));
  fbatch y = xsimd::fma(p * f, z, k * fbatch(-2.12194440e-4f));
  y = xsimd::fnma(fbatch(0.5f), z, y);
  return xsimd::fma(k, fbatch(0.693359375f), f + y);
}

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
  fbatch uniform() { return unit(next()); }
  /// Two independent standard-normal batches (Box–Muller, see box_muller()).
  void normal2(fbatch& z0, fbatch& z1) {
    const ubatch w1 = next(), w2 = next();
    box_muller(w1, w2, z0, z1);
  }
  /// n pairs of normal batches, the same numbers as n calls of normal2. Generated together
  /// so that the latency chains of the n transforms overlap.
  template <std::size_t n>
  void normal2_block(fbatch* z0, fbatch* z1) {
    ubatch w1[n], w2[n];
    for (std::size_t q = 0; q < n; ++q) {
      w1[q] = next();
      w2[q] = next();
    }
    for (std::size_t q = 0; q < n; ++q) box_muller(w1[q], w2[q], z0[q], z1[q]);
  }

private:
  static fbatch unit(const ubatch& w) {
    const ibatch top = xsimd::bitwise_cast<ibatch>(w >> 8);
    return xsimd::to_float(top) * fbatch(0x1.0p-24f) + fbatch(0x1.0p-25f);
  }
  /// Box–Muller from two 32-bit words (top 24 bits of each):
  ///   radius sqrt(-2 log u), u = (top 24 bits of w1 + 1/2) 2^-24 in (0, 1);
  ///   angle uniform on the circle, built without a general sincos: 21 bits of w2 give
  ///   phi in (-pi/4, pi/4) (cos and sin by short polynomials), bit 29 swaps cos and sin
  ///   (phi -> pi/2 - phi), bits 31 and 30 are the signs of z0 and z1. The four sectors
  ///   around ±x, ±y are equally likely and the angle is uniform within each, so this is
  ///   exactly Box–Muller with a 24-bit angle (the resolution of 2 pi u2 from 24 bits).
  static void box_muller(const ubatch& w1, const ubatch& w2, fbatch& z0, fbatch& z1) {
    const fbatch radius = xsimd::sqrt(fbatch(-2.0f) * log_positive(unit(w1)));
    const ibatch t = xsimd::bitwise_cast<ibatch>((w2 >> 8) & ubatch(0x1fffffu)) - ibatch(0x100000);
    const fbatch phi = (xsimd::to_float(t) + fbatch(0.5f)) * fbatch(float(std::numbers::pi / 2) * 0x1.0p-21f);
    const fbatch z = phi * phi;
    // Cephes sinf/cosf polynomials on [-pi/4, pi/4] (relative error < 2^-23).
    const fbatch sn = xsimd::fma(
        xsimd::fma(xsimd::fma(fbatch(-1.9515295891e-4f), z, fbatch(8.3321608736e-3f)), z, fbatch(-1.6666654611e-1f)) * z,
        phi, phi);
    const fbatch cs = xsimd::fma(
        xsimd::fma(xsimd::fma(fbatch(2.443315711809948e-5f), z, fbatch(-1.388731625493765e-3f)), z,
                   fbatch(4.166664568298827e-2f)) * z,
        z, xsimd::fnma(fbatch(0.5f), z, fbatch(1.0f)));
    const fbatch swap = xsimd::bitwise_cast<fbatch>(xsimd::bitwise_cast<ibatch>(w2 << 2) >> 31);  // all ones if bit 29
    const fbatch diff = (cs ^ sn) & swap;
    const fbatch sign0 = xsimd::bitwise_cast<fbatch>(w2 & ubatch(0x80000000u));
    const fbatch sign1 = xsimd::bitwise_cast<fbatch>((w2 << 1) & ubatch(0x80000000u));
    z0 = (radius * (cs ^ diff)) ^ sign0;
    z1 = (radius * (sn ^ diff)) ^ sign1;
  }
  static std::uint64_t mix64(std::uint64_t z) { return bactor::detail::mix64(z); }
  ubatch s_[4];
};

/// Batches per tile: the normals of a tile are generated together (their long transform
/// chains overlap), then the cost is evaluated on the whole tile.
inline constexpr std::size_t fused_tile = 16;
/// The product rule's largest log r: far below the optimum (a << sigma_a early in training) the
/// generalized model's log-scale sd = sqrt(sr^2 + sa^2/a^2) is huge and r = a e^{sd u} overflows
/// float, so a cost growing like r^2 gave inf and the log objective NaN. e^40 ~ 2e17 (r^2 ~ 5e34)
/// keeps every node finite and still dwarfs any action the training prior asks for.
inline constexpr float rule_log_r_max = 40.0f;

/// The split rule's logarithm and exponential in the kernel: the fast float versions.
struct FastKinkSplitMath {
  static fbatch log(const fbatch& x) { return log_positive(x); }
  static fbatch exp(const fbatch& x) { return exp_fast(x); }
};

/// Sample b of the fused kernel with the expectation as a product Gauss–Hermite rule instead of
/// draws (FusedArgs::u_nodes J > 0, e_nodes > 0; log-normal r only: r_j = a exp(sd x_j) with
/// sd = sr, or the generalized model's sqrt(sr^2 + sa^2/a^2) and dsv = dsd/dlog a):
///   loss_b = sum_i sum_j v_i w_j ℓ(s_i, r_j),  s_i = exp(mu_post + sigma_post e_i),
///   dloss/da_b = sum_i sum_j v_i w_j dℓ/dr(s_i, r_j) r_j (1 + dsv x_j) / a.
/// Deterministic: under the generalized model the motor noise's log-scale sd reaches about 1
/// near the optimum (sigma_a/a up to 1), where e^{2 sd u} makes Monte Carlo draws of a cost
/// growing like r^2 heavy-tailed (docs/training.md, docs/families.md "Accuracy").
/// With `linear` (gaussian motor noise, a smooth or truncated cost): r_j = a + sd x_j (sd = sigma_a),
/// dloss/da_b = sum_i sum_j v_i w_j dℓ/dr(s_i, r_j) (no rotation: u_split is 0 there).
template <bool linear = false, class Eval>
void product_rule_sample(const FusedArgs& g, Eval& ev, std::size_t b, const fbatch& mu, const fbatch& sp, float a,
                         float sd, float dsv) {
  const std::size_t J = g.u_nodes, n_eb = (g.e_nodes + flanes - 1) / flanes;
  const float log_a = std::log(a);
  // The motor node's response (the log-normal families' log r capped at rule_log_r_max).
  auto response = [&](float u) { return linear ? a + sd * u : std::exp(std::clamp(log_a + sd * u, -87.0f, rule_log_r_max)); };
  // FusedArgs::seam: with c = params[0] the motor nodes whose seam falls inside the posterior.
  const bool seam_on = g.seam > 0.0f && g.seam_nodes > 0 && !(g.u_split > 0.0f);
  const SeamCut<float> seam(seam_on ? g.seam : 0.0f, seam_on ? g.params[b] : 0.0f, g.mu_post[b], g.sigma_post[b],
                            seam_split_range);
  std::uint64_t cut = 0;  // bit j: motor node j is cut (J <= seam_max_motor_nodes, expected_cost checks)
  fbatch s[fused_tile], r[fused_tile], l[fused_tile], dl[fused_tile], w[fused_tile], x[fused_tile];
  fbatch sum_l(0.0f), sum_g(0.0f), sum_gx(0.0f);
  std::size_t nb = 0;
  auto flush = [&] {
    ev(nb, s, r, l, dl);
    for (std::size_t q = 0; q < nb; ++q) {
      const fbatch wg = linear ? w[q] * dl[q] : w[q] * dl[q] * r[q];
      sum_l = xsimd::fma(w[q], l[q], sum_l);
      sum_g += wg;
      sum_gx = xsimd::fma(wg, x[q], sum_gx);
    }
    nb = 0;
  };
  for (std::size_t eb = 0; eb < n_eb; ++eb) {
    const fbatch se = exp_fast(xsimd::fma(sp, fbatch::load_unaligned(g.e_node + eb * flanes), mu));
    const fbatch ve = fbatch::load_unaligned(g.e_weight + eb * flanes);  // zero on the padding
    if (!linear && g.u_split > 0.0f) {
      // A kink at r = s: rotate (e, u) to z = (sd u - sp e) / tau, w = (sp u + sd e) / tau,
      // tau^2 = sd^2 + sp^2 (independent standard normals), where log r - log s = log a - mu +
      // tau z has its kink at one z_k = (mu - log a) / tau for every w. The e nodes serve as w's
      // Gauss–Hermite nodes (lanes), the rule on [0, 1] (graded towards 0) over [z_k, -L] and
      // [z_k, L] in z, from the kink outwards, with the normal density in its weights. The nodes move with a, but the integrand is continuous
      // at z_k, so the boundary terms cancel: the derivative is the nodes' sum with them held.
      const float spb = g.sigma_post[b], tau = std::sqrt(sd * sd + spb * spb), L = g.u_split;
      const float zk = std::clamp((g.mu_post[b] - log_a) / tau, -L, L);
      const fbatch wn = fbatch::load_unaligned(g.e_node + eb * flanes);
      for (int piece = 0; piece < 2; ++piece) {
        const float len = piece ? L - zk : zk + L, dir = piece ? len : -len;  // from z_k outwards
        for (std::size_t j = 0; j < J; ++j) {
          const float z = zk + dir * g.u_node[j];
          const fbatch e = (fbatch(sd / tau) * wn - fbatch(spb * z / tau));
          const fbatch u = (fbatch(spb / tau) * wn + fbatch(sd * z / tau));
          s[nb] = exp_fast(xsimd::fma(fbatch(spb), e, mu));
          r[nb] = exp_fast(xsimd::min(xsimd::fma(fbatch(sd), u, fbatch(log_a)), fbatch(rule_log_r_max)));
          w[nb] = ve * fbatch(len * g.u_weight[j] * 0.3989422804014327f * std::exp(-0.5f * z * z));
          x[nb] = u;
          if (++nb == fused_tile) flush();
        }
      }
      continue;
    }
    for (std::size_t j = 0; j < J; ++j) {
      const float rj = response(g.u_node[j]);
      if (seam.on) {  // a node cut at its seam is summed below
        if (eb == 0 && seam.cuts(rj)) cut |= std::uint64_t(1) << j;
        if (cut >> j & 1) continue;
      }
      s[nb] = se;
      r[nb] = fbatch(rj);
      w[nb] = ve * fbatch(g.u_weight[j]);
      x[nb] = fbatch(g.u_node[j]);
      if (++nb == fused_tile) flush();
    }
  }
  // The motor nodes whose seam falls inside the posterior (FusedArgs::seam): the e-line cut at
  // e* = (log s* - mu) / sp, each piece by the seam rule in the logistic scale of
  // models/kink_split.hpp. The nodes move with a, but the integrand is continuous at the cut
  // (the cost is C^1 there), so the derivative is the nodes' sum with them held.
  for (std::uint64_t left = cut; left; left &= left - 1) {
    const std::size_t j = std::size_t(std::countr_zero(left));
    const float rj = response(g.u_node[j]);
    float v, cv;
    kink_split_point(seam.cut(rj), v, cv);
    for (int side = 0; side < 2; ++side)
      for (std::size_t pb = 0; pb < g.seam_nodes; pb += flanes) {
        fbatch wq;
        const fbatch e = kink_split_node<fbatch, FastKinkSplitMath>(side, fbatch(v), fbatch(cv),
                                                                    fbatch::load_unaligned(g.seam_node + pb), wq);
        s[nb] = exp_fast(xsimd::fma(sp, e, mu));
        r[nb] = fbatch(rj);
        w[nb] = fbatch(g.u_weight[j]) * wq * fbatch::load_unaligned(g.seam_weight + pb);  // zero on the padding
        x[nb] = fbatch(g.u_node[j]);
        if (++nb == fused_tile) flush();
      }
  }
  if (nb) flush();
  g.loss[b] = xsimd::hadd(sum_l);
  g.dloss_da[b] = linear ? xsimd::hadd(sum_g) : (xsimd::hadd(sum_g) + dsv * xsimd::hadd(sum_gx)) / a;
}

/// Sample b of the fused kernel under gaussian motor noise (r = a + sa u) for a cost with a kink
/// at r = s, by the split rule of models/kink_split.hpp instead of draws (FusedArgs: e_node,
/// e_weight with e_nodes entries and u_node, u_weight with u_nodes, rules on [0, 1] per piece):
/// the posterior line cut at e0 = (log a - mu) / sp, for each of its nodes s_i the motor line
/// cut at u* = (s_i - a) / sa, u nodes in the lanes;
///   loss_b = sum_i sum_j v_i w_ij ℓ(s_i, a + sa u_ij),  dloss/da_b = sum_i sum_j v_i w_ij dℓ/dr.
/// The nodes move with a, but the integrand is continuous at both cuts, so the derivative is
/// the nodes' sum with them held (the boundary terms cancel).
template <class Eval>
void gaussian_split_sample(const FusedArgs& g, Eval& ev, std::size_t b, float a, float sa) {
  const std::size_t n_ub = g.u_nodes / flanes;  // u rule padded to whole batches
  const float mu = g.mu_post[b], sp = g.sigma_post[b];
  fbatch s[fused_tile], r[fused_tile], l[fused_tile], dl[fused_tile], w[fused_tile];
  fbatch sum_l(0.0f), sum_g(0.0f);
  std::size_t nb = 0;
  auto flush = [&] {
    ev(nb, s, r, l, dl);
    for (std::size_t q = 0; q < nb; ++q) {
      sum_l = xsimd::fma(w[q], l[q], sum_l);
      sum_g = xsimd::fma(w[q], dl[q], sum_g);
    }
    nb = 0;
  };
  float ve, cve;
  kink_split_point((std::log(a) - mu) / sp, ve, cve);
  for (int se = 0; se < 2; ++se)
    for (std::size_t i = 0; i < g.e_nodes; ++i) {
      float we;
      const float e = kink_split_node(se, ve, cve, g.e_node[i], we);
      const float sv = std::exp(std::clamp(mu + sp * e, -87.0f, 88.0f));
      const fbatch sb(sv), web(we * g.e_weight[i]);
      const float uk = (sv - a) / sa;
      float vu, cvu;
      kink_split_point(uk, vu, cvu);
      for (int su = 0; su < 2; ++su) {
        // A piece beyond |u| = 6 holds a normal mass below 1e-9: left out (the other piece,
        // which then holds the whole line, keeps its full rule).
        if (su == 0 ? uk < -kink_split_skip : uk > kink_split_skip) continue;
        for (std::size_t ub = 0; ub < n_ub; ++ub) {
          fbatch wu;
          const fbatch u = kink_split_node<fbatch, FastKinkSplitMath>(su, fbatch(vu), fbatch(cvu),
                                                                      fbatch::load_unaligned(g.u_node + ub * flanes), wu);
          s[nb] = sb;
          r[nb] = xsimd::fma(fbatch(sa), u, fbatch(a));
          w[nb] = web * wu * fbatch::load_unaligned(g.u_weight + ub * flanes);  // zero on the padding
          if (++nb == fused_tile) flush();
        }
      }
    }
  if (nb) flush();
  g.loss[b] = xsimd::hadd(sum_l);
  g.dloss_da[b] = xsimd::hadd(sum_g);
}

/// The fused kernel of one motor model over a tile evaluator `ev`: ev.set_params(p) with this sample's
/// ev.n_params() cost parameters, then ev(nb, s, r, l, dl) for tiles of nb <= fused_tile batches of (s, r),
/// writing ℓ and dℓ/dr. Draws, summation order and results do not depend on the evaluator.
template <int motor, class Eval>
[[gnu::flatten]] void fused_kernel_motor(const FusedArgs& g, Eval& ev) {
  LaneRng rng(g.seed, g.stream);
  const std::size_t K = g.K;
  const std::size_t full = K - K % flanes;
  alignas(64) float lane_index[flanes];
  for (std::size_t l = 0; l < flanes; ++l) lane_index[l] = float(l);
  const fbatch lane = fbatch::load_aligned(lane_index);
  const auto tail_mask = lane < fbatch(float(K - full));
  const bool clamp = g.u_clamp > 0.0f;
  const fbatch ucl(g.u_clamp);
  // With truncated motor noise (Linex) the expected cost is dominated by rare draws near the
  // truncation; u is then drawn from N(0, IS^2) instead (importance sampling: u' = IS u,
  // weight N(u'; 0, 1) / N(u'; 0, IS^2) = IS exp(-u^2 (IS^2 - 1) / 2)) and clamped after.
  const float is_scale = g.u_scale > 0.0f ? g.u_scale : 1.0f;
  const fbatch isb(is_scale), is_k(-0.5f * (is_scale * is_scale - 1.0f));
  float pb[max_cost_params > 0 ? max_cost_params : 1];
  for (std::size_t b = 0; b < g.n; ++b) {
    const float a = g.a[b];
    float sr_b = g.sigma_r[b], dsv = 0.0f;
    const float sa_b = motor != 0 ? g.sigma_a[b] : 0.0f;
    if constexpr (motor == 1) {
      // log r = log a + sd u with sd = sqrt(sr^2 + q), q = sa^2/a^2: dr/dlog a = r (1 + u dsd/dlog a),
      // dsd/dlog a = -q / sd.
      const float q = sa_b * sa_b / (a * a);
      sr_b = std::sqrt(sr_b * sr_b + q);
      dsv = -q / sr_b;
    }
    const fbatch mu(g.mu_post[b]), sp(g.sigma_post[b]), sr(sr_b), sab(sa_b), ab(a);
    const fbatch log_a(std::log(a));
    for (std::size_t j = 0; j < ev.n_params(); ++j) pb[j] = g.params[j * g.n + b];
    ev.set_params(pb);
    if (g.u_nodes > 0) {
      if constexpr (motor == 2) {
        if (g.split_lines) gaussian_split_sample(g, ev, b, a, sa_b);
        else product_rule_sample<true>(g, ev, b, mu, sp, a, sa_b, 0.0f);
      }
      else product_rule_sample(g, ev, b, mu, sp, a, sr_b, dsv);
      continue;
    }
    fbatch sum_l(0.0f), sum_g(0.0f), sum_gu(0.0f);
    // nb batches of draws (e, u0); with `tail`, the last batch's lanes >= K % flanes are unused.
    // exp arguments beyond [-87, 88] saturate (exp_fast).
    auto tile_body = [&](std::size_t nb, const fbatch* e, const fbatch* u0, bool tail) {
      fbatch s[fused_tile], r[fused_tile], w[fused_tile], l[fused_tile], dl[fused_tile], uu[fused_tile];
      for (std::size_t q = 0; q < nb; ++q) {
        fbatch u = u0[q];
        w[q] = fbatch(1.0f);
        if (clamp) {
          if (is_scale != 1.0f) {
            w[q] = isb * exp_fast(is_k * u0[q] * u0[q]);
            u = isb * u0[q];
          }
          u = xsimd::min(xsimd::max(u, -ucl), ucl);
        }
        s[q] = exp_fast(xsimd::fma(sp, e[q], mu));
        if constexpr (motor == 2) r[q] = xsimd::fma(sab, u, ab);
        else r[q] = exp_fast(xsimd::fma(sr, u, log_a));
        if constexpr (motor == 1) uu[q] = u;
      }
      ev(nb, s, r, l, dl);
      for (std::size_t q = 0; q < nb; ++q) {
        // d r / d log a: r (log-normal families; generalized adds dsv u r below), a (gaussian).
        fbatch wl = w[q] * l[q], wg = motor == 2 ? w[q] * dl[q] : w[q] * dl[q] * r[q];
        if (tail && q + 1 == nb) {
          wl = xsimd::select(tail_mask, wl, fbatch(0.0f));
          wg = xsimd::select(tail_mask, wg, fbatch(0.0f));
        }
        sum_l += wl;
        sum_g += wg;
        if constexpr (motor == 1) sum_gu = xsimd::fma(wg, uu[q], sum_gu);
      }
    };
    fbatch e[fused_tile], u[fused_tile];
    if (g.e_fixed) {
      const float* eb = g.e_fixed + b * K;
      const float* ub = g.u_fixed + b * K;
      std::size_t k = 0;
      while (k < K) {
        std::size_t nb = 0;
        bool tail = false;
        for (; nb < fused_tile && k < K; ++nb, k += flanes) {
          if (k < full) {
            e[nb] = fbatch::load_unaligned(eb + k);
            u[nb] = fbatch::load_unaligned(ub + k);
          } else {
            alignas(64) float te[flanes] = {}, tu[flanes] = {};
            for (std::size_t kk = k; kk < K; ++kk) te[kk - k] = eb[kk], tu[kk - k] = ub[kk];
            e[nb] = fbatch::load_aligned(te);
            u[nb] = fbatch::load_aligned(tu);
            tail = true;
          }
        }
        tile_body(nb, e, u, tail);
      }
    } else {
      std::size_t k = 0;
      while (k < K) {
        const std::size_t nb = std::min(fused_tile, (K - k + flanes - 1) / flanes);
        for (std::size_t q = 0; q < nb; ++q) rng.normal2(e[q], u[q]);
        k += nb * flanes;
        tile_body(nb, e, u, k > K);
      }
    }
    const float inv_k = 1.0f / float(K);
    g.loss[b] = xsimd::hadd(sum_l) * inv_k;
    if constexpr (motor == 2) g.dloss_da[b] = xsimd::hadd(sum_g) * inv_k;
    else if constexpr (motor == 1) g.dloss_da[b] = (xsimd::hadd(sum_g) + dsv * xsimd::hadd(sum_gu)) * inv_k / a;
    else g.dloss_da[b] = xsimd::hadd(sum_g) * inv_k / a;
  }
}

/// The fused kernel over a tile evaluator `ev` (see fused_kernel_motor), the motor model
/// (FusedArgs::motor) a compile-time constant of the loop: the log-normal loop has nothing
/// added to it.
/// Each body is flattened (everything it calls inlined into it): with three instantiations in
/// one translation unit the inliner's budget otherwise ran out and left the RNG and the tile
/// evaluator as calls, and the log-normal kernel took 1.2x as long as the single-model one
/// (1.4x with all three inlined into the dispatch). Measured in docs/families.md.
template <int motor, class Eval>
[[gnu::noinline]] void fused_kernel_motor_outlined(const FusedArgs& g, Eval& ev) {
  fused_kernel_motor<motor>(g, ev);
}
template <class Eval>
void fused_kernel_tiles(const FusedArgs& g, Eval& ev) {
  if (g.motor == 1) return fused_kernel_motor_outlined<1>(g, ev);
  if (g.motor == 2) return fused_kernel_motor_outlined<2>(g, ev);
  fused_kernel_motor<0>(g, ev);
}

/// Tile evaluator of a cost struct Fn (n_params, static eval) on dual SIMD batches.
template <class Fn>
struct StructTiles {
  using D = Dual<fbatch>;
  D p[Fn::n_params > 0 ? Fn::n_params : 1];
  static constexpr std::size_t n_params() { return Fn::n_params; }
  void set_params(const float* pf) {
    for (int j = 0; j < Fn::n_params; ++j) p[j] = D(fbatch(pf[j]), fbatch(0.0f));
  }
  void operator()(std::size_t nb, const fbatch* s, const fbatch* r, fbatch* l, fbatch* dl) const {
    for (std::size_t q = 0; q < nb; ++q) {
      const D v = Fn::eval(D(s[q], fbatch(0.0f)), D(r[q], fbatch(1.0f)), static_cast<const D*>(p));
      l[q] = v.v;
      dl[q] = v.d;
    }
  }
};

/// The fused kernel of a cost struct Fn (the built-ins).
template <class Fn>
void fused_kernel(const void*, const FusedArgs& g) {
  StructTiles<Fn> ev;
  fused_kernel_tiles(g, ev);
}

} // namespace bactor::detail
