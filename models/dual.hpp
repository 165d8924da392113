// SPDX-License-Identifier: MIT
// The dual numbers and generic cost operations of <bactor/models/cost_math.hpp>, plus their
// xsimd batch overloads (private: installed headers include no third-party header). The
// trainer instantiates a cost with Dual<batch<float>> seeded as (r, 1) to get (ℓ, dℓ/dr).
#pragma once

#include <xsimd/xsimd.hpp>

#include <bactor/models/cost_math.hpp>

namespace bactor::gen {
template <class T, class A> xsimd::batch<T, A> exp(const xsimd::batch<T, A>& x) { return xsimd::exp(x); }
template <class T, class A> xsimd::batch<T, A> log(const xsimd::batch<T, A>& x) { return xsimd::log(x); }
template <class T, class A> xsimd::batch<T, A> sqrt(const xsimd::batch<T, A>& x) { return xsimd::sqrt(x); }
template <class T, class A> xsimd::batch<T, A> abs(const xsimd::batch<T, A>& x) { return xsimd::abs(x); }
template <class T, class A> xsimd::batch<T, A> sin(const xsimd::batch<T, A>& x) { return xsimd::sin(x); }
template <class T, class A> xsimd::batch<T, A> cos(const xsimd::batch<T, A>& x) { return xsimd::cos(x); }
template <class T, class A>
xsimd::batch<T, A> select(const xsimd::batch_bool<T, A>& c, const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& b) {
  return xsimd::select(c, a, b);
}
} // namespace bactor::gen
