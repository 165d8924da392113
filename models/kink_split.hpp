// SPDX-License-Identifier: MIT
// The split rule of a cost with a kink at r = s under gaussian motor noise (docs/training.md,
// "The objective"): s = exp(mu + sp e), r = a + sa u with e, u ~ N(0, 1). For each posterior
// node e_i the kink sits at the single point u* = (s_i - a) / sa, and the posterior line at
// e0 = (log a - mu) / sp (where the median response crosses s). Each line is cut at its point
// and integrated piece by piece in the logistic probability scale v = 1 / (1 + exp(-k x)),
// x = logit(v) / k: the pieces [0, v*] and [v*, 1] follow the normal mass wherever the point
// falls (far in a tail, one piece is nearly empty), and the normal density over the logistic
// one is smooth and vanishes at both ends, so Gauss–Legendre converges on each piece.
// The same pieces integrate a posterior line cut at a cost's seam (CostInfo::seam, Linex: where
// its exp is continued linearly), per motor node of the generalized-noise product rule
// (models/train_kernel.hpp, SeamCut): there the integrand is C^1 and its second derivative jumps.
// Shared by the ground truth (double) and the fused training kernel (SIMD float).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>

namespace bactor::detail {

/// k of the logistic scale: 0.8 (a logistic wider than the normal, sd pi / (k sqrt 3) = 2.3)
/// erred least among 0.6 ... 2.2 on AbsoluteCostQuadraticEffort's expected cost (1.3e-4 in
/// the expected cost against 1.9e-3 with k = 1.3 and 1.4e-2 with 1.7, 2 x 8 by 2 x 8 nodes).
inline constexpr double kink_split_scale = 0.8;

/// A cut beyond this many standard deviations leaves a piece of normal mass below 1e-9: the
/// training kernel skips that piece (its cost would be half the piece pair's).
inline constexpr float kink_split_skip = 6.0f;

/// The product rule cuts a motor node's posterior line at the cost's seam when the seam lies
/// within this many posterior sds of mu_post (farther out, the 8 Gauss–Hermite nodes, which reach
/// 3.8, see a smooth integrand): 1-2% of the motor nodes on Linex's training prior. The rule's
/// optimal action erred by up to 0.086% with 5, 0.36% with 4, 0.096% with 6 (docs/families.md,
/// "Linex's seam").
inline constexpr float seam_split_range = 5.0f;

/// A constant as T (a float or double, or a SIMD batch of them).
template <class T>
T kink_split_const(double c) {
  if constexpr (std::is_floating_point_v<T>) return T(c);
  else return T(static_cast<typename T::value_type>(c));
}

/// The cut point x* in the logistic scale: v* and 1 - v*, each without cancellation.
template <class T>
void kink_split_point(T x, T& v, T& cv) {
  using std::exp;
  const T k = kink_split_const<T>(kink_split_scale);
  v = kink_split_const<T>(1.0) / (kink_split_const<T>(1.0) + exp(-k * x));
  cv = kink_split_const<T>(1.0) / (kink_split_const<T>(1.0) + exp(k * x));
}

/// std::log and std::exp, or a SIMD batch's (found by argument-dependent lookup); the training
/// kernel passes its fast float versions instead.
struct KinkSplitMath {
  template <class T> static T log(const T& x) {
    using std::log;
    return log(x);
  }
  template <class T> static T exp(const T& x) {
    using std::exp;
    return exp(x);
  }
};

/// The node of a piece at the fraction t in (0, 1) from the cut outwards (side 0 towards
/// v = 0, side 1 towards v = 1), its x, and the factor turning the piece's rule weight on
/// [0, 1] into the weight of N(0, 1) mass: len phi(x) dx/dv with len = v* or 1 - v*.
/// x is clamped to +-40, where phi is 0: an empty piece (v* underflowed) gives weight 0.
template <class T, class Math = KinkSplitMath>
T kink_split_node(int side, T v, T cv, T t, T& weight) {
  using std::max;
  using std::min;
  const T one = kink_split_const<T>(1.0), k = kink_split_const<T>(kink_split_scale);
  // q = v at the node and cq = 1 - q, both from v*, 1 - v* without cancellation; len / q (side
  // 0) or len / cq (side 1) is 1 / (1 - t), so nothing divides by a vanishing len.
  const T q = side ? v + cv * t : v * (one - t);
  const T cq = side ? cv * (one - t) : cv + v * t;
  const T lim = kink_split_const<T>(40.0);
  const T x = min(max(Math::log(q / cq) / k, -lim), lim);
  weight = kink_split_const<T>(0.3989422804014327) * Math::exp(kink_split_const<T>(-0.5) * x * x) /
           (k * (one - t) * (side ? q : cq));
  return x;
}

/// The most motor nodes a product rule with a seam may have (the kernel marks the cut ones in a
/// 64-bit mask; Linex's rule has 42).
inline constexpr std::size_t seam_max_motor_nodes = 64;

/// The seam of a cost (CostInfo::seam) on the posterior line of one motor node r: with c > 0 the
/// cost's second derivative jumps at s* = r - seam / c, at e* = (log s* - mu) / sp. cuts(r): s*
/// lies within `range` posterior sds of mu (tested without a logarithm); cut(r): e*.
template <class T>
struct SeamCut {
  bool on = false;
  T offset = 0, lo = 0, hi = 0, mu = 0, sp = 1;
  SeamCut(T seam, T c, T mu_post, T sp_post, T range) : mu(mu_post), sp(sp_post) {
    using std::exp;
    if (!(seam > 0 && c > 0)) return;
    on = true;
    offset = seam / c;
    lo = exp(std::clamp(mu - range * sp, T(-87), T(88)));
    hi = exp(std::clamp(mu + range * sp, T(-87), T(88)));
  }
  bool cuts(T r) const { return on && r - offset > lo && r - offset < hi; }
  /// Whether some response up to r has its seam within the range.
  bool reached_by(T r) const { return on && r - offset > lo; }
  T cut(T r) const {
    using std::log;
    return (log(r - offset) - mu) / sp;
  }
};

} // namespace bactor::detail
