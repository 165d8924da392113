// SPDX-License-Identifier: MIT
// First-order optimisers over a flat parameter buffer, and learning-rate schedules.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <span>
#include <stdexcept>
#include <string>
#include <limits>
#include <vector>

#include <xsimd/xsimd.hpp>

namespace bactor {

/// Learning rate as a function of the step (0-based) out of `total` steps.
struct LrSchedule {
  enum class Kind { constant, cosine, exponential };
  Kind kind = Kind::constant;
  double base = 1e-3;
  double final_fraction = 0.0; // cosine: lr decays from base to base * final_fraction
  double decay = 1.0;          // exponential: lr = base * decay^(step / total)
  std::size_t total = 1;

  double at(std::size_t step) const {
    const double t = total > 1 ? std::min(1.0, double(step) / double(total - 1)) : 0.0;
    switch (kind) {
    case Kind::constant: return base;
    case Kind::cosine:
      return base * (final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + std::cos(std::numbers::pi * t)));
    case Kind::exponential: return base * std::pow(decay, t);
    }
    return base;
  }

  static Kind parse_kind(const std::string& name) {
    if (name == "constant") return Kind::constant;
    if (name == "cosine") return Kind::cosine;
    if (name == "exponential") return Kind::exponential;
    throw std::invalid_argument("unknown learning-rate schedule '" + name +
                                "' (expected constant, cosine or exponential)");
  }
};

namespace detail {
/// Runs body(x, g, m, v) (pointers to one SIMD batch each; m may be null) over [0, n); the
/// tail goes through zero-padded copies, so every element sees the same arithmetic.
template <class T, class Body>
void for_each_batch(std::size_t n, T* x, const T* g, T* m, T* v, Body&& body) {
  constexpr std::size_t W = xsimd::batch<T>::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W) body(x + i, g + i, m ? m + i : nullptr, v + i);
  if (i < n) {
    const std::size_t r = n - i;
    alignas(64) T tx[W] = {}, tg[W] = {}, tm[W] = {}, tv[W] = {};
    std::copy_n(x + i, r, tx);
    std::copy_n(g + i, r, tg);
    if (m) std::copy_n(m + i, r, tm);
    std::copy_n(v + i, r, tv);
    body(tx, tg, m ? tm : nullptr, tv);
    std::copy_n(tx, r, x + i);
    if (m) std::copy_n(tm, r, m + i);
    std::copy_n(tv, r, v + i);
  }
}
/// g clamped to [-clamp, clamp] when clamp is finite (NaN passes through otherwise).
template <class B>
B clamped(const B& g, typename B::value_type clamp) {
  if (!(clamp < std::numeric_limits<typename B::value_type>::infinity())) return g;
  return xsimd::min(xsimd::max(g, B(-clamp)), B(clamp));
}
} // namespace detail

/// Adam (Kingma & Ba 2015) with bias correction, vectorised:
///   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
///   x -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
/// `clamp` (default: none) bounds each gradient entry first, e.g. to keep g^2 finite in float.
template <class T>
class Adam {
public:
  explicit Adam(std::size_t n, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
                T clamp = std::numeric_limits<T>::infinity())
      : m_(n, T(0)), v_(n, T(0)), beta1_(beta1), beta2_(beta2), eps_(eps), clamp_(clamp) {}
  /// One update of `x` given its gradient `g` (both of the size given at construction).
  void step(std::span<T> x, std::span<const T> g, double lr) {
    using B = xsimd::batch<T>;
    ++t_;
    const double c1 = 1.0 - std::pow(beta1_, double(t_));
    const double c2 = 1.0 - std::pow(beta2_, double(t_));
    const T b1 = T(beta1_), b2 = T(beta2_), a = T(lr / c1), ic2 = T(1.0 / c2), e = T(eps_), clamp = clamp_;
    detail::for_each_batch(x.size(), x.data(), g.data(), m_.data(), v_.data(),
                           [&](T* xp, const T* gp, T* mp, T* vp) {
                             const B gv = detail::clamped(B::load_unaligned(gp), clamp);
                             const B mv = xsimd::fma(B(b1), B::load_unaligned(mp), B(T(1) - b1) * gv);
                             const B vv = xsimd::fma(B(b2), B::load_unaligned(vp), B(T(1) - b2) * gv * gv);
                             mv.store_unaligned(mp);
                             vv.store_unaligned(vp);
                             (B::load_unaligned(xp) - B(a) * mv / (xsimd::sqrt(vv * B(ic2)) + B(e))).store_unaligned(xp);
                           });
  }
  std::size_t steps() const { return t_; }

private:
  std::vector<T> m_, v_;
  double beta1_, beta2_, eps_;
  T clamp_;
  std::size_t t_ = 0;
};

/// RMSprop (Tieleman & Hinton), vectorised: v = rho v + (1-rho) g^2;  x -= lr g / (sqrt(v) + eps).
/// `clamp` as for Adam.
template <class T>
class RmsProp {
public:
  explicit RmsProp(std::size_t n, double rho = 0.99, double eps = 1e-8, T clamp = std::numeric_limits<T>::infinity())
      : v_(n, T(0)), rho_(rho), eps_(eps), clamp_(clamp) {}
  void step(std::span<T> x, std::span<const T> g, double lr) {
    using B = xsimd::batch<T>;
    ++t_;
    const T r = T(rho_), a = T(lr), e = T(eps_), clamp = clamp_;
    detail::for_each_batch(x.size(), x.data(), g.data(), static_cast<T*>(nullptr), v_.data(),
                           [&](T* xp, const T* gp, T*, T* vp) {
                             const B gv = detail::clamped(B::load_unaligned(gp), clamp);
                             const B vv = xsimd::fma(B(r), B::load_unaligned(vp), B(T(1) - r) * gv * gv);
                             vv.store_unaligned(vp);
                             (B::load_unaligned(xp) - B(a) * gv / (xsimd::sqrt(vv) + B(e))).store_unaligned(xp);
                           });
  }
  std::size_t steps() const { return t_; }

private:
  std::vector<T> v_;
  double rho_, eps_;
  T clamp_;
  std::size_t t_ = 0;
};

} // namespace bactor
