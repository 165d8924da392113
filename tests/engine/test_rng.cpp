// SPDX-License-Identifier: MIT
// Rng: moments and Kolmogorov–Smirnov tests of the normal and uniform draws (scalar and
// vectorised fills, float and double), stream independence, replay. Fixed seeds; bounds in
// Monte Carlo standard errors (5 SE: a correct generator fails with probability < 1e-6 per check).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <bactor/engine/rng.hpp>

using bactor::Rng;

namespace {

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// Kolmogorov–Smirnov statistic sqrt(n) D_n of a sample against a continuous CDF.
template <class T, class Cdf>
double ks_statistic(std::vector<T> x, Cdf cdf) {
  std::sort(x.begin(), x.end());
  const double n = double(x.size());
  double d = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double f = cdf(double(x[i]));
    d = std::max({d, double(i + 1) / n - f, f - double(i) / n});
  }
  return std::sqrt(n) * d;
}
// P(sqrt(n) D_n > 1.95) ~ 0.001 (Kolmogorov distribution).
constexpr double ks_critical = 1.95;

template <class T>
void check_standard_normal(const std::vector<T>& x) {
  const double n = double(x.size());
  double m = 0;
  for (T v : x) m += double(v);
  m /= n;
  double m2 = 0, m3 = 0, m4 = 0;
  for (T v : x) {
    const double d = double(v) - m;
    m2 += d * d, m3 += d * d * d, m4 += d * d * d * d;
  }
  m2 /= n, m3 /= n, m4 /= n;
  const double skew = m3 / std::pow(m2, 1.5), exkurt = m4 / (m2 * m2) - 3;
  CHECK(std::abs(m) < 5 * std::sqrt(1 / n));
  CHECK(std::abs(m2 - 1) < 5 * std::sqrt(2 / n));
  CHECK(std::abs(skew) < 5 * std::sqrt(6 / n));
  CHECK(std::abs(exkurt) < 5 * std::sqrt(24 / n));
  std::size_t tail = 0;  // P(|z| > 3) = 0.0026998
  for (T v : x) tail += std::abs(double(v)) > 3;
  const double p = 0.0026998;
  CHECK(std::abs(double(tail) / n - p) < 5 * std::sqrt(p * (1 - p) / n));
  CHECK(ks_statistic(x, normal_cdf) < ks_critical);
}

} // namespace

TEST_CASE("normal(): moments and KS") {
  Rng rng(20261125, 0);
  std::vector<double> x(200000);
  for (auto& v : x) v = rng.normal();
  check_standard_normal(x);
}

TEST_CASE_TEMPLATE("fill_normal: moments and KS (large and small fills)", T, float, double) {
  Rng rng(42, 3);
  std::vector<T> x(200000);
  rng.fill_normal(std::span<T>(x));  // one vectorised fill
  check_standard_normal(x);
  // Many fills of awkward sizes: small ones take the scalar path, others the SIMD path with tails.
  std::vector<T> y;
  const std::size_t sizes[] = {1, 7, 63, 64, 65, 100, 1000, 4097};
  while (y.size() < 200000)
    for (std::size_t s : sizes) {
      std::vector<T> part(s);
      rng.fill_normal(std::span<T>(part));
      y.insert(y.end(), part.begin(), part.end());
    }
  check_standard_normal(y);
}

TEST_CASE_TEMPLATE("fill_uniform: in (0, 1), moments and KS", T, float, double) {
  Rng rng(7, 11);
  std::vector<T> x(200000);
  rng.fill_uniform(std::span<T>(x));
  const double n = double(x.size());
  double m = 0, m2 = 0;
  for (T v : x) {
    CHECK_UNARY(v > T(0) && v < T(1));
    m += double(v);
  }
  m /= n;
  for (T v : x) m2 += (double(v) - m) * (double(v) - m);
  m2 /= n;
  CHECK(std::abs(m - 0.5) < 5 * std::sqrt(1.0 / 12 / n));
  CHECK(std::abs(m2 - 1.0 / 12) < 5 * std::sqrt(1.0 / 180 / n));  // var of (U-1/2)^2 is 1/180
  CHECK(ks_statistic(x, [](double u) { return u; }) < ks_critical);
}

TEST_CASE("streams are uncorrelated") {
  // Correlation of paired draws between streams of one seed, and between neighbouring seeds:
  // under independence r has SE 1/sqrt(n).
  const std::size_t n = 100000;
  auto draws = [&](std::uint64_t seed, std::uint64_t stream, bool bulk) {
    Rng rng(seed, stream);
    std::vector<double> x(n);
    if (bulk) rng.fill_normal(std::span<double>(x));
    else
      for (auto& v : x) v = rng.normal();
    return x;
  };
  auto corr = [&](const std::vector<double>& a, const std::vector<double>& b) {
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (std::size_t i = 0; i < n; ++i) ma += a[i], mb += b[i];
    ma /= double(n), mb /= double(n);
    for (std::size_t i = 0; i < n; ++i)
      sab += (a[i] - ma) * (b[i] - mb), saa += (a[i] - ma) * (a[i] - ma), sbb += (b[i] - mb) * (b[i] - mb);
    return sab / std::sqrt(saa * sbb);
  };
  for (bool bulk : {false, true}) {
    const auto s0 = draws(1, 0, bulk), s1 = draws(1, 1, bulk), s2 = draws(2, 0, bulk), s3 = draws(0, 1, bulk);
    const double bound = 5 / std::sqrt(double(n));
    CHECK(std::abs(corr(s0, s1)) < bound);
    CHECK(std::abs(corr(s0, s2)) < bound);
    CHECK(std::abs(corr(s1, s3)) < bound);  // (seed 1, stream 1) vs (seed 0, stream 1)
    CHECK(std::abs(corr(s2, s3)) < bound);
  }
}

TEST_CASE("replay: same seed, stream and call sequence give the same numbers") {
  auto sequence = [](std::uint64_t seed, std::uint64_t stream) {
    Rng rng(seed, stream);
    std::vector<double> out;
    std::vector<double> d(1000);
    std::vector<float> f(333);
    out.push_back(rng.normal());
    rng.fill_normal(std::span<double>(d));
    out.insert(out.end(), d.begin(), d.end());
    rng.fill_normal(std::span<float>(f));
    out.insert(out.end(), f.begin(), f.end());
    rng.fill_uniform(std::span<float>(f));
    out.insert(out.end(), f.begin(), f.end());
    out.push_back(rng.uniform());
    out.push_back(double(rng.below(1000)));
    return out;
  };
  const auto a = sequence(5, 2), b = sequence(5, 2), c = sequence(5, 3), d = sequence(6, 2);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(a != d);
  Rng r1(9, 9), r2(1, 1);
  r2.reseed(9, 9);
  CHECK(r1.next_u64() == r2.next_u64());
  CHECK(r2.seed() == 9);
  CHECK(r2.stream() == 9);
}

TEST_CASE("below(n) is uniform over 0..n-1") {
  Rng rng(3, 0);
  const std::size_t n = 7, draws = 70000;
  std::vector<std::size_t> count(n, 0);
  for (std::size_t i = 0; i < draws; ++i) {
    const auto k = rng.below(n);
    REQUIRE(k < n);
    ++count[k];
  }
  const double p = 1.0 / double(n);
  for (auto c : count) CHECK(std::abs(double(c) / double(draws) - p) < 5 * std::sqrt(p * (1 - p) / double(draws)));
}
