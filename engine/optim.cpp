// SPDX-License-Identifier: MIT
// Vectorised optimiser updates (xsimd), instantiated for float and double.
#include <bactor/engine/optim.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include <xsimd/xsimd.hpp>

namespace bactor {

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

template <class T>
void Adam<T>::step(std::span<T> x, std::span<const T> g, double lr) {
  using B = xsimd::batch<T>;
  ++t_;
  const double c1 = 1.0 - std::pow(beta1_, double(t_));
  const double c2 = 1.0 - std::pow(beta2_, double(t_));
  const T b1 = T(beta1_), b2 = T(beta2_), a = T(lr / c1), ic2 = T(1.0 / c2), e = T(eps_), clamp = clamp_;
  detail::for_each_batch(x.size(), x.data(), g.data(), m_.data(), v_.data(), [&](T* xp, const T* gp, T* mp, T* vp) {
    const B gv = detail::clamped(B::load_unaligned(gp), clamp);
    const B mv = xsimd::fma(B(b1), B::load_unaligned(mp), B(T(1) - b1) * gv);
    const B vv = xsimd::fma(B(b2), B::load_unaligned(vp), B(T(1) - b2) * gv * gv);
    mv.store_unaligned(mp);
    vv.store_unaligned(vp);
    (B::load_unaligned(xp) - B(a) * mv / (xsimd::sqrt(vv * B(ic2)) + B(e))).store_unaligned(xp);
  });
}

template <class T>
void RmsProp<T>::step(std::span<T> x, std::span<const T> g, double lr) {
  using B = xsimd::batch<T>;
  ++t_;
  const T r = T(rho_), a = T(lr), e = T(eps_), clamp = clamp_;
  detail::for_each_batch(x.size(), x.data(), g.data(), static_cast<T*>(nullptr), v_.data(), [&](T* xp, const T* gp, T*, T* vp) {
    const B gv = detail::clamped(B::load_unaligned(gp), clamp);
    const B vv = xsimd::fma(B(r), B::load_unaligned(vp), B(T(1) - r) * gv * gv);
    vv.store_unaligned(vp);
    (B::load_unaligned(xp) - B(a) * gv / (xsimd::sqrt(vv) + B(e))).store_unaligned(xp);
  });
}

template class Adam<float>;
template class Adam<double>;
template class RmsProp<float>;
template class RmsProp<double>;

} // namespace bactor
