// SPDX-License-Identifier: MIT
// matvec, matmul and affine (vector and batched rows): values against naive loops and
// gradients against finite differences (gradcheck defaults), over several shapes.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "tests/engine/gradcheck.hpp"

using namespace bactor;
using bactor::testing::gradcheck;
using bactor::testing::reduce;

namespace {
std::vector<double> filled(std::size_t n, double salt) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::sin(salt + 1.7 * double(i)) * 0.8;
  return v;
}
const std::pair<std::size_t, std::size_t> shapes[] = {{1, 1}, {3, 5}, {16, 5}, {64, 16}, {3, 8}, {7, 9}};
} // namespace

TEST_CASE("matvec: values and gradients") {
  for (auto [m, k] : shapes) {
    const auto w = filled(m * k, 0.1), x = filled(k, 0.7);
    auto r = gradcheck([](std::span<const Var> in) { return reduce(matvec(in[0], in[1])); }, {w, x}, {},
                       {{m, k}, {k, 1}});
    INFO("shape " << m << "x" << k);
    CHECK_MESSAGE(r.ok, r.report);
    Tape::Scope scope;
    Var y = matvec(constant(w, m, k), constant(x));
    for (std::size_t i = 0; i < m; ++i) {
      double s = 0;
      for (std::size_t j = 0; j < k; ++j) s += w[i * k + j] * x[j];
      CHECK(y.value(i) == doctest::Approx(s).epsilon(1e-14).scale(1));
    }
  }
}

TEST_CASE("matmul: values and gradients") {
  for (auto [m, k] : shapes) {
    const std::size_t n = (m + k) % 4 + 1;
    const auto a = filled(m * k, 0.3), b = filled(k * n, 1.1);
    auto r = gradcheck([](std::span<const Var> in) { return reduce(matmul(in[0], in[1])); }, {a, b}, {},
                       {{m, k}, {k, n}});
    INFO("shape " << m << "x" << k << "x" << n);
    CHECK_MESSAGE(r.ok, r.report);
    Tape::Scope scope;
    Var y = matmul(constant(a, m, k), constant(b, k, n));
    CHECK(y.rows() == m);
    CHECK(y.cols() == n);
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        double s = 0;
        for (std::size_t l = 0; l < k; ++l) s += a[i * k + l] * b[l * n + j];
        CHECK(y.value(i * n + j) == doctest::Approx(s).epsilon(1e-14).scale(1));
      }
  }
}

TEST_CASE("affine: vector input and batched rows") {
  for (auto [m, k] : shapes) {
    const auto w = filled(m * k, 0.5), b = filled(m, 2.0);
    INFO("shape " << m << "x" << k);
    // Vector input, followed by swish as in the MLP.
    auto r = gradcheck([](std::span<const Var> in) { return reduce(swish(affine(in[0], in[1], in[2]))); },
                       {w, filled(k, 0.9), b}, {}, {{m, k}, {k, 1}, {m, 1}});
    CHECK_MESSAGE(r.ok, r.report);
    // Batch of 4 rows.
    const auto xb = filled(4 * k, 1.3);
    r = gradcheck([](std::span<const Var> in) { return reduce(tanh(affine(in[0], in[1], in[2]))); },
                  {w, xb, b}, {}, {{m, k}, {4, k}, {m, 1}});
    CHECK_MESSAGE(r.ok, r.report);
    Tape::Scope scope;
    Var y = affine(constant(w, m, k), constant(xb, 4, k), constant(b));
    REQUIRE(y.rows() == 4);
    REQUIRE(y.cols() == m);
    for (std::size_t row = 0; row < 4; ++row)
      for (std::size_t i = 0; i < m; ++i) {
        double s = b[i];
        for (std::size_t j = 0; j < k; ++j) s += w[i * k + j] * xb[row * k + j];
        CHECK(y.value(row * m + i) == doctest::Approx(s).epsilon(1e-14).scale(1));
      }
  }
}

TEST_CASE("products reject mismatched shapes") {
  Tape::Scope scope;
  const std::vector<double> v(12, 1.0);
  Var w = variable(v, 3, 4);
  CHECK_THROWS_AS(matvec(w, variable(std::span<const double>(v.data(), 3))), std::invalid_argument);
  CHECK_THROWS_AS(matmul(w, variable(v, 3, 4)), std::invalid_argument);
  CHECK_THROWS_AS(affine(w, variable(std::span<const double>(v.data(), 4)), variable(std::span<const double>(v.data(), 4))),
                  std::invalid_argument);
  CHECK_THROWS_AS(affine(w, variable(v, 2, 6), variable(std::span<const double>(v.data(), 3))),
                  std::invalid_argument);
}
