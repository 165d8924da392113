// SPDX-License-Identifier: MIT
// Every SIMD kernel against the scalar std:: function on a dense grid, in float and double;
// the dense layers' kernels (swish with saved sigmoid, the one-sample affine) against scalar loops.
// The reference is evaluated in long double. Tolerance: |simd - ref| <= ulps * eps * |ref|
// + eps * scale, with `ulps` per function below (xsimd's functions are accurate to a few
// ulps; the composite ones — softplus, swish, sigmoid — add one or two roundings) and the
// absolute eps term covering results that are near zero by cancellation (log near 1).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "engine/aligned.hpp"
#include "engine/dense_kernels.hpp"
#include "engine/kernels.hpp"
#include "engine/simd_math.hpp"

namespace simd = bactor::simd;
using ld = long double;

namespace {

ld ref_sigmoid(ld x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }
ld ref_softplus(ld x) { return std::max(x, ld(0)) + std::log1p(std::exp(-std::abs(x))); }

template <class T>
struct KernelCase {
  std::string name;
  void (*fwd)(std::size_t, const T*, T*);
  void (*bwd)(std::size_t, const T*, const T*, T*);
  bool bwd_reads_y;                // backward kernel takes y instead of x
  std::function<ld(ld)> f, df;     // reference value and derivative
  double lo, hi;                   // grid range
  double ulps;                     // tolerance in ulps (relative)
};

template <class T>
std::vector<KernelCase<T>> cases() {
  return {
      {"exp", simd::exp_forward<T>, simd::exp_backward<T>, true, [](ld x) { return std::exp(x); },
       [](ld x) { return std::exp(x); }, -80, 80, 4},
      {"log", simd::log_forward<T>, simd::log_backward<T>, false, [](ld x) { return std::log(x); },
       [](ld x) { return 1 / x; }, 1e-3, 1e3, 4},
      {"log1p", simd::log1p_forward<T>, simd::log1p_backward<T>, false, [](ld x) { return std::log1p(x); },
       [](ld x) { return 1 / (1 + x); }, -0.99, 50, 4},
      {"expm1", simd::expm1_forward<T>, simd::expm1_backward<T>, true, [](ld x) { return std::expm1(x); },
       [](ld x) { return std::exp(x); }, -20, 20, 4},
      {"sqrt", simd::sqrt_forward<T>, simd::sqrt_backward<T>, true, [](ld x) { return std::sqrt(x); },
       [](ld x) { return 0.5L / std::sqrt(x); }, 1e-4, 1e4, 2},
      {"softplus", simd::softplus_forward<T>, simd::softplus_backward<T>, false, ref_softplus, ref_sigmoid,
       -60, 60, 6},
      {"sigmoid", simd::sigmoid_forward<T>, simd::sigmoid_backward<T>, true, ref_sigmoid,
       [](ld x) { return ref_sigmoid(x) * (1 - ref_sigmoid(x)); }, -60, 60, 6},
      {"swish", simd::swish_forward<T>, simd::swish_backward<T>, false, [](ld x) { return x * ref_sigmoid(x); },
       [](ld x) {
         const ld s = ref_sigmoid(x);
         return s + x * s * (1 - s);
       },
       -40, 40, 8},
      {"tanh", simd::tanh_forward<T>, simd::tanh_backward<T>, true, [](ld x) { return std::tanh(x); },
       [](ld x) { return 1 - std::tanh(x) * std::tanh(x); }, -10, 10, 4},
      {"log_sigmoid", simd::log_sigmoid_forward<T>, simd::log_sigmoid_backward<T>, false,
       [](ld x) { return -ref_softplus(-x); }, [](ld x) { return ref_sigmoid(-x); }, -60, 60, 6},
  };
}

} // namespace

TEST_CASE_TEMPLATE("SIMD kernels match std:: on a dense grid", T, float, double) {
  const double eps = std::numeric_limits<T>::epsilon();
  const std::size_t n = 20003;  // not a multiple of the batch size: the tail path is covered
  for (const auto& c : cases<T>()) {
    std::vector<T> x(n), y(n), dy(n), dx(n);
    for (std::size_t i = 0; i < n; ++i) {
      x[i] = T(c.lo + (c.hi - c.lo) * double(i) / double(n - 1));
      dy[i] = T(0.5 + double(i % 7) / 7.0);
      dx[i] = T(0.25);  // backward accumulates into dx
    }
    c.fwd(n, x.data(), y.data());
    c.bwd(n, c.bwd_reads_y ? y.data() : x.data(), dy.data(), dx.data());
    double worst_f = 0, worst_d = 0;  // in units of the tolerance
    for (std::size_t i = 0; i < n; ++i) {
      const ld r = c.f(ld(x[i]));
      const double tol_f = c.ulps * eps * double(std::abs(r)) + eps;
      worst_f = std::max(worst_f, double(std::abs(ld(y[i]) - r)) / tol_f);
      // Derivative: the backward reads a rounded y for some kernels, so it inherits its error.
      const ld rd = ld(0.25) + ld(dy[i]) * c.df(ld(x[i]));
      const double tol_d = 2 * c.ulps * eps * double(std::abs(rd)) + 2 * eps;
      worst_d = std::max(worst_d, double(std::abs(ld(dx[i]) - rd)) / tol_d);
    }
    INFO(c.name << " worst forward error / tolerance = " << worst_f << ", backward " << worst_d);
    CHECK(worst_f <= 1.0);
    CHECK(worst_d <= 1.0);
  }
}

TEST_CASE_TEMPLATE("reductions and axpy match scalar loops", T, float, double) {
  for (std::size_t n : {0u, 1u, 5u, 16u, 17u, 1001u}) {
    std::vector<T> x(n), y(n), z(n);
    ld s = 0, d = 0;
    for (std::size_t i = 0; i < n; ++i) {
      x[i] = T(std::sin(double(i)) + 0.1);
      y[i] = T(std::cos(0.3 * double(i)));
      z[i] = y[i];
      s += x[i];
      d += ld(x[i]) * y[i];
    }
    const double eps = std::numeric_limits<T>::epsilon();
    CHECK(double(simd::sum(n, x.data())) == doctest::Approx(double(s)).epsilon(4 * eps * double(n + 1)).scale(1));
    CHECK(double(simd::dot(n, x.data(), y.data())) ==
          doctest::Approx(double(d)).epsilon(4 * eps * double(n + 1)).scale(1));
    simd::axpy(n, T(0.5), x.data(), z.data());
    for (std::size_t i = 0; i < n; ++i) CHECK(z[i] == doctest::Approx(y[i] + 0.5 * x[i]).epsilon(2 * eps));
  }
}

TEST_CASE_TEMPLATE("haddp: lane q holds the sum of batch q (every SIMD width)", T, float, double) {
  // xsimd 8.1's own AVX-512 float haddp permutes its lanes; simd::haddp must not.
  using B = xsimd::batch<T>;
  B rows[B::size];
  for (std::size_t q = 0; q < B::size; ++q) {
    alignas(64) T v[B::size];
    for (std::size_t k = 0; k < B::size; ++k) v[k] = T(100 * q + k);
    rows[q] = B::load_aligned(v);
  }
  alignas(64) T out[B::size];
  simd::haddp(rows).store_aligned(out);
  for (std::size_t q = 0; q < B::size; ++q) {
    const double n = double(B::size);
    CHECK(double(out[q]) == 100.0 * double(q) * n + n * (n - 1) / 2);
  }
}

TEST_CASE("exp and log kernels (double): whole range and special values") {
  // The double kernels have a fast path (exp: |x| <= 708; log: x normal, positive, finite),
  // checked against std:: to 2 ulps, and fall back to xsimd for a batch holding any other
  // argument: those must equal xsimd's own results (which flush subnormal exp results to 0).
  // Both kinds of arguments are mixed in one array so that every batch layout occurs.
  const double eps = std::numeric_limits<double>::epsilon();
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> ex = {0.0, -0.0, 1e-300, -1e-300, 1.0, -1.0, 700.0, 708.0, 708.5, 709.7, 710.0, -708.0,
                            -708.5, -720.0, -745.0, -746.0, 1e4, -1e4, inf, -inf, nan};
  for (int i = 0; i <= 4000; ++i) ex.push_back(-745.0 + 1455.0 * i / 4000.0);
  std::vector<double> lx = {0.0, -0.0, -1.0, 4.9e-324, 1e-310, 2.2250738585072014e-308, 1.0, 1.0 + eps,
                            1.0 - eps / 2, 0.7071067811865476, 1.4142135623730951, 1.7976931348623157e308,
                            inf, -inf, nan};
  for (int i = 0; i <= 4000; ++i) lx.push_back(std::pow(10.0, -307.0 + 615.0 * i / 4000.0));
  for (int i = 0; i <= 1000; ++i) lx.push_back(0.5 + 1.5 * i / 1000.0);
  auto close = [&](double got, double want) {
    if (want == 0.0) return got == 0.0;
    return std::abs(got - want) <= 2 * eps * std::abs(want);
  };
  auto same = [](double got, double want) { return std::isnan(want) ? std::isnan(got) : got == want; };
  std::vector<double> y(ex.size());
  simd::exp_forward(ex.size(), ex.data(), y.data());
  for (std::size_t i = 0; i < ex.size(); ++i) {
    const double x = ex[i];
    const bool fast = std::abs(x) <= 708.0;
    const double want = fast ? std::exp(x) : xsimd::exp(simd::Batch<double>(x)).get(0);
    INFO("exp(" << x << ") = " << y[i] << ", expected " << want);
    CHECK((fast ? close(y[i], want) : same(y[i], want)));
  }
  y.resize(lx.size());
  simd::log_forward(lx.size(), lx.data(), y.data());
  for (std::size_t i = 0; i < lx.size(); ++i) {
    const double x = lx[i];
    const bool fast = x >= std::numeric_limits<double>::min() && x <= std::numeric_limits<double>::max();
    const double want = fast ? std::log(x) : xsimd::log(simd::Batch<double>(x)).get(0);
    INFO("log(" << x << ") = " << y[i] << ", expected " << want);
    CHECK((fast ? close(y[i], want) : same(y[i], want)));
  }
}

TEST_CASE_TEMPLATE("dense swish (saved sigmoid): value, saved s and both backward modes match std:: on a grid", T, float,
                   double) {
  // The activation of the network's hidden layers, shared by the float tape, the double tape
  // and ActionNetwork. Float uses the fast exp (inputs clamped to [-87, 88]): compared on
  // [-80, 80]; the gradient dx = dy s (1 + x (1 - s)) is stored or added.
  const double eps = std::numeric_limits<T>::epsilon(), ulps = 8;
  const std::size_t n = 20003;  // a tail that is not a whole batch
  std::vector<T> x(n), y(n), y1(n), s(n), dy(n), dx(n), da(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = T(-80.0 + 160.0 * double(i) / double(n - 1));
    dy[i] = T(0.5 + double(i % 7) / 7.0);
    da[i] = T(0.25);
  }
  bactor::dense::swish_forward(n, x.data(), y.data(), s.data());
  bactor::dense::swish_forward(n, x.data(), y1.data());
  bactor::dense::swish_backward(n, x.data(), s.data(), dy.data(), dx.data(), true);
  bactor::dense::swish_backward(n, x.data(), s.data(), dy.data(), da.data(), false);
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const ld sg = ref_sigmoid(ld(x[i])), r = ld(x[i]) * sg, rd = ld(dy[i]) * (sg + ld(x[i]) * sg * (1 - sg));
    CHECK(y1[i] == y[i]);  // the value-only pass is the same arithmetic
    worst = std::max(worst, double(std::abs(ld(y[i]) - r)) / (ulps * eps * double(std::abs(r)) + eps));
    worst = std::max(worst, double(std::abs(ld(s[i]) - sg)) / (ulps * eps * double(sg) + eps));
    // swish' = s (1 + x (1 - s)) from the rounded s: 1 - s carries s's absolute rounding, which
    // x multiplies (and the sum cancels near x = -1.28), so the error scales with |dy| s (1 + |x|).
    const double mag = double(std::abs(ld(dy[i])) * sg * (1 + std::abs(ld(x[i]))));
    worst = std::max(worst, double(std::abs(ld(dx[i]) - rd)) / (2 * ulps * eps * mag + 2 * eps));
    worst = std::max(worst, double(std::abs(ld(da[i]) - (rd + 0.25L))) / (2 * ulps * eps * (mag + 0.25) + 2 * eps));
  }
  INFO("worst error / tolerance = " << worst);
  CHECK(worst <= 1.0);
}

TEST_CASE("dense column_accumulate: the one-sample affine layer and its input gradient against scalar loops") {
  // y[0..width) += sum_i x[i] m[i*stride + j] with float weights widened to double: exact
  // products, so the only difference from the long-double sum is the rounding of the sums.
  using bactor::dense::column_accumulate;
  constexpr std::size_t W = xsimd::batch<double>::size;
  for (std::size_t n : {1u, 3u, 8u, 16u, 17u, 64u}) {
    for (std::size_t width : {W, 2 * W, 4 * W, 9 * W, 17 * W}) {  // 17 W: more than one block of 8 batches
      const std::size_t stride = width + W;                     // padded rows, as ActionNetwork's
      std::vector<float, bactor::AlignedAllocator<float>> m(n * stride);
      std::vector<double, bactor::AlignedAllocator<double>> x(n), y(width);
      for (std::size_t i = 0; i < n; ++i) x[i] = std::sin(0.7 * double(i) + 0.1);
      for (std::size_t k = 0; k < m.size(); ++k) m[k] = float(std::cos(0.37 * double(k)));
      for (std::size_t j = 0; j < width; ++j) y[j] = 0.1 * double(j);
      std::vector<double, bactor::AlignedAllocator<double>> y0 = y;
      column_accumulate(n, x.data(), m.data(), stride, width, y.data());
      for (std::size_t j = 0; j < width; ++j) {
        ld r = y0[j], mag = std::abs(ld(y0[j]));
        for (std::size_t i = 0; i < n; ++i) {
          r += ld(x[i]) * ld(m[i * stride + j]);
          mag += std::abs(ld(x[i]) * ld(m[i * stride + j]));
        }
        CAPTURE(n);
        CAPTURE(width);
        CAPTURE(j);
        CHECK(std::abs(double(ld(y[j]) - r)) <= 4 * double(n + 1) * 1.1e-16 * double(mag));
      }
    }
  }
}
