// SPDX-License-Identifier: MIT
// Double-precision exp and log for batches, division-free exp, using only the integer
// operations AVX2 has (64-bit add, and, logical shifts): xsimd's generic versions convert
// between int64 and double and shift int64 arithmetically, which AVX2 lacks and emulates lane
// by lane. Shared by the engine's elementwise kernels, the action network's swish and the
// inference kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <xsimd/xsimd.hpp>

namespace bactor::simd {

/// Horizontal sums of B::size batches at once: lane q of the result is the sum of row[q]'s
/// lanes (xsimd::haddp). xsimd 8.1's AVX-512 float haddp returns the sums permuted (lanes
/// 2-5 and 10-13 swapped), so that case reduces batch by batch.
template <class B>
inline B haddp(const B* row) {
  if constexpr (B::size == 16 && std::is_same_v<typename B::value_type, float>) {
    alignas(64) typename B::value_type sums[B::size];
    for (std::size_t q = 0; q < B::size; ++q) sums[q] = xsimd::hadd(row[q]);
    return B::load_aligned(sums);
  } else {
    return xsimd::haddp(row);
  }
}

/// e^x lane-wise for -708 <= x <= 709 (result normal), ~1 ulp: x = k ln2 + r with |r| <= ln2/2 (k by
/// the 1.5 * 2^52 rounding trick, r by Cody-Waite in two FMAs), e^r by its degree-13 Taylor
/// polynomial (truncation < 5e-18 relative; terms 3..13 by Estrin's scheme for short
/// dependency chains, the leading 1 + r + r^2/2 by Horner for accuracy), and 2^k added to the
/// exponent field. Outside the range the result is garbage: see exp_clamped.
inline xsimd::batch<double> exp_in_range(const xsimd::batch<double>& x) {
  using B = xsimd::batch<double>;
  using I = xsimd::batch<std::int64_t>;
  const B shift(0x1.8p52);
  const B t = xsimd::fma(x, B(1.4426950408889634074), shift);  // 1/ln2
  const B k = t - shift;
  B r = xsimd::fnma(k, B(6.93147180369123816490e-01), x);  // ln2 high part (exact k * hi)
  r = xsimd::fnma(k, B(1.90821492927058770002e-10), r);    // ln2 low part
  const B r2 = r * r, r4 = r2 * r2;
  const B c34 = xsimd::fma(r, B(1.0 / 24.0), B(1.0 / 6.0));
  const B c56 = xsimd::fma(r, B(1.0 / 720.0), B(1.0 / 120.0));
  const B c78 = xsimd::fma(r, B(1.0 / 40320.0), B(1.0 / 5040.0));
  const B c910 = xsimd::fma(r, B(1.0 / 3628800.0), B(1.0 / 362880.0));
  const B c1112 = xsimd::fma(r, B(1.0 / 479001600.0), B(1.0 / 39916800.0));
  const B c13 = B(1.0 / 6227020800.0);
  const B lo = xsimd::fma(r2, c56, c34);                          // terms 3..6 / r^3
  const B hi = xsimd::fma(r4, c13, xsimd::fma(r2, c1112, c910));  // terms 9..13 / r^9
  const B q = xsimd::fma(r4, xsimd::fma(r2, hi, c78), lo);        // terms 3..13 / r^3
  B p = xsimd::fma(q, r, B(0.5));
  p = xsimd::fma(p, r, B(1.0));
  p = xsimd::fma(p, r, B(1.0));
  // The low bits of t hold k (two's complement): shifting them into the exponent field and
  // adding multiplies p by 2^k.
  const I scale = xsimd::bitwise_cast<I>(t) << 52;
  return xsimd::bitwise_cast<B>(xsimd::bitwise_cast<I>(p) + scale);
}

/// e^x lane-wise for any x but NaN: 0 below -708, e^709 above 709 (callers that could overflow
/// must not rely on the value there).
inline xsimd::batch<double> exp_clamped(const xsimd::batch<double>& x) {
  using B = xsimd::batch<double>;
  const B e = exp_in_range(xsimd::min(xsimd::max(x, B(-708.0)), B(709.0)));
  return xsimd::select(x < B(-708.0), B(0.0), e);
}

/// log x lane-wise for positive normal finite x, ~1 ulp: fdlibm's e_log.c on 64-bit lanes,
/// x = 2^k (1 + f) with 1 + f in [sqrt(2)/2, sqrt(2)), s = f / (2 + f),
/// log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)). Other inputs give finite garbage.
inline xsimd::batch<double> log_normal(const xsimd::batch<double>& x) {
  using B = xsimd::batch<double>;
  using I = xsimd::batch<std::int64_t>;
  using U = xsimd::batch<std::uint64_t>;
  // Adding (1 - sqrt(2)/2)'s offset to the high word moves mantissas >= sqrt(2) into the next
  // binade, so that k counts them and the rebuilt 1 + f lies in [sqrt(2)/2, sqrt(2)).
  const I hx = xsimd::bitwise_cast<I>(x) + I(std::int64_t(0x3ff00000 - 0x3fe6a09e) << 32);
  // Biased exponent; an unsigned (logical) shift: AVX2 has no 64-bit arithmetic shift.
  const I e = xsimd::bitwise_cast<I>(xsimd::bitwise_cast<U>(hx) >> 52);
  const B dk = xsimd::bitwise_cast<B>(e | I(0x4330000000000000)) - B(0x1p52 + 1023.0);
  const B m = xsimd::bitwise_cast<B>((hx & I(0x000fffffffffffff)) + I(std::int64_t(0x3fe6a09e) << 32));
  const B f = m - B(1.0);
  const B hfsq = B(0.5) * f * f;
  const B s = f / (B(2.0) + f);
  const B z = s * s;
  const B w = z * z;
  const B t1 = w * xsimd::fma(xsimd::fma(w, B(1.531383769920937332e-01), B(2.222219843214978396e-01)), w,
                              B(3.999999999940941908e-01));
  const B t2 = z * xsimd::fma(xsimd::fma(xsimd::fma(w, B(1.479819860511658591e-01), B(1.818357216161805012e-01)),
                                         w, B(2.857142874366239149e-01)),
                              w, B(6.666666666666735130e-01));
  const B R = t2 + t1;
  return xsimd::fma(dk, B(6.93147180369123816490e-01),
                    xsimd::fma(s, hfsq + R, dk * B(1.90821492927058770002e-10)) - hfsq + f);
}

/// e^x for float batches by xsimd's float algorithm (Cody–Waite reduction by ln 2, degree-5
/// polynomial) without its overflow/underflow selects: x is clamped to [-87, 88] instead,
/// where the result is a normal float. Equal to xsimd::exp bit for bit inside that range.
inline xsimd::batch<float> exp_fast(xsimd::batch<float> x) {
  using B = xsimd::batch<float>;
  x = xsimd::min(xsimd::max(x, B(-87.0f)), B(88.0f));
  const B k = xsimd::nearbyint(B(1.442695040888963407359924681001892137426645954152986f) * x);
  B r = xsimd::fnma(k, B(0x1.63p-1f), x);    // ln 2, high part (0x3f318000)
  r = xsimd::fnma(k, B(-0x1.bd0106p-13f), r);  // ln 2, low part (0xb95e8083)
  B y = xsimd::fma(B(0x1.6ef19ep-10f), r, B(0x1.131b16p-7f));
  y = xsimd::fma(y, r, B(0x1.5552aep-5f));
  y = xsimd::fma(y, r, B(0x1.55534ap-3f));
  y = xsimd::fma(y, r, B(0.5f));
  y = xsimd::fma(y, r * r, r) + B(1.0f);
  using I = xsimd::batch<std::int32_t>;
  return y * xsimd::bitwise_cast<B>((xsimd::to_int(k) + I(127)) << 23);
}

/// sigmoid(x) = 1 / (1 + exp_fast(-x)) for float batches.
inline xsimd::batch<float> sigmoid_fast(const xsimd::batch<float>& x) {
  using B = xsimd::batch<float>;
  return B(1.0f) / (B(1.0f) + exp_fast(-x));
}

} // namespace bactor::simd
