// SPDX-License-Identifier: MIT
// Log-densities: values against the textbook formulas evaluated with std::, gradients against
// finite differences for every broadcast combination, -infinity outside the support.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "tests/engine/gradcheck.hpp"

using namespace bactor;
using bactor::testing::gradcheck;

namespace {
constexpr double pi = std::numbers::pi;
std::vector<double> spread(std::size_t n, double lo, double hi) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = lo + (hi - lo) * (double(i) + 0.37) / double(n);
  return v;
}
double normal_ref(double x, double m, double s) {
  return -0.5 * std::pow((x - m) / s, 2) - std::log(s * std::sqrt(2 * pi));
}
const double neg_inf = -std::numeric_limits<double>::infinity();
} // namespace

TEST_CASE("normal and lognormal lpdf: values and gradients with broadcasting") {
  for (std::size_t n : {1u, 5u, 60u}) {
    const auto x = spread(n, 0.2, 4.0), mu = spread(n, -0.5, 1.0), sigma = spread(n, 0.3, 2.0);
    double ln = 0, lln = 0;
    for (std::size_t i = 0; i < n; ++i) {
      ln += normal_ref(x[i], mu[i], sigma[i]);
      lln += normal_ref(std::log(x[i]), mu[i], sigma[i]) - std::log(x[i]);
    }
    INFO("n=" << n);
    auto r = gradcheck([](std::span<const Var> in) { return normal_lpdf(in[0], in[1], in[2]); }, {x, mu, sigma});
    CHECK_MESSAGE(r.ok, r.report);
    CHECK(r.value == doctest::Approx(ln).epsilon(1e-13));
    r = gradcheck([](std::span<const Var> in) { return lognormal_lpdf(in[0], in[1], in[2]); }, {x, mu, sigma});
    CHECK_MESSAGE(r.ok, r.report);
    CHECK(r.value == doctest::Approx(lln).epsilon(1e-13));
    // Scalar location and scale broadcast over x.
    r = gradcheck([](std::span<const Var> in) { return normal_lpdf(in[0], in[1], in[2]); }, {x, {0.4}, {1.3}});
    CHECK_MESSAGE(r.ok, r.report);
    r = gradcheck([](std::span<const Var> in) { return lognormal_lpdf(in[0], in[1], in[2]); }, {x, mu, {0.2}});
    CHECK_MESSAGE(r.ok, r.report);
    // Scalar x against vector parameters.
    r = gradcheck([](std::span<const Var> in) { return normal_lpdf(in[0], in[1], in[2]); }, {{0.3}, mu, sigma});
    CHECK_MESSAGE(r.ok, r.report);
  }
}

TEST_CASE("half-normal and uniform lpdf: values and gradients") {
  for (std::size_t n : {1u, 7u}) {
    const auto x = spread(n, 0.01, 1.0), sigma = spread(n, 0.1, 0.5);
    double lh = 0;
    for (std::size_t i = 0; i < n; ++i)
      lh += std::log(2.0) + normal_ref(x[i], 0.0, sigma[i]);  // twice the normal density
    INFO("n=" << n);
    auto r = gradcheck([](std::span<const Var> in) { return half_normal_lpdf(in[0], in[1]); }, {x, sigma});
    CHECK_MESSAGE(r.ok, r.report);
    CHECK(r.value == doctest::Approx(lh).epsilon(1e-13));
    r = gradcheck([](std::span<const Var> in) { return half_normal_lpdf(in[0], in[1]); }, {x, {0.25}});
    CHECK_MESSAGE(r.ok, r.report);
    const auto u = spread(n, 0.6, 0.9);
    r = gradcheck([](std::span<const Var> in) { return uniform_lpdf(in[0], in[1], in[2]); }, {u, {0.5}, {1.0}});
    CHECK_MESSAGE(r.ok, r.report);
    CHECK(r.value == doctest::Approx(-double(n) * std::log(0.5)).epsilon(1e-14));
    for (double g : r.tape[0]) CHECK(g == 0.0);
  }
}

TEST_CASE("densities outside the support are -inf with zero gradient") {
  Tape::Scope scope;
  const std::vector<double> xs = {0.5, -0.1};
  Var x = variable(xs);
  Var s = variable(0.3);
  CHECK(half_normal_lpdf(x, s).value() == neg_inf);
  CHECK(lognormal_lpdf(x, 0.0, 1.0).value() == neg_inf);
  CHECK(uniform_lpdf(x, 0.0, 1.0).value() == neg_inf);
  CHECK(normal_lpdf(x, 0.0, -1.0).value() == neg_inf);
  Var bad = normal_lpdf(x, constant(0.0), s * -1.0);
  CHECK(bad.value() == neg_inf);
  backward(bad);
  CHECK(s.adjoint() == 0.0);
  CHECK(x.adjoint(0) == 0.0);
  CHECK(normal_lpdf(x, 0.0, 1.0).value() == doctest::Approx(normal_ref(0.5, 0, 1) + normal_ref(-0.1, 0, 1)));
  const std::vector<double> three = {1, 2, 3};
  CHECK_THROWS_AS(normal_lpdf(x, constant(three), s), std::invalid_argument);
}

TEST_CASE("a number wherever a Var goes: mixed density arguments, values and FD-checked gradients") {
  const double x = 1.3, mu = 0.4, sigma = 0.7, a = 0.5, b = 2.0;
  const double ln = normal_ref(x, mu, sigma), lln = normal_ref(std::log(x), mu, sigma) - std::log(x);
  // Each combination with at least one Var: the Vars are the gradcheck inputs, numbers stay numbers.
  auto check = [](const char* what, auto f, std::vector<std::vector<double>> in, double want) {
    INFO(what);
    const auto r = gradcheck(f, in);
    CHECK_MESSAGE(r.ok, r.report);
    CHECK(r.value == doctest::Approx(want).epsilon(1e-14));
  };
  check("normal(V, V, d)", [&](std::span<const Var> v) { return normal_lpdf(v[0], v[1], sigma); }, {{x}, {mu}}, ln);
  check("normal(V, d, V)", [&](std::span<const Var> v) { return normal_lpdf(v[0], mu, v[1]); }, {{x}, {sigma}}, ln);
  check("normal(d, V, V)", [&](std::span<const Var> v) { return normal_lpdf(x, v[0], v[1]); }, {{mu}, {sigma}}, ln);
  check("normal(d, V, d)", [&](std::span<const Var> v) { return normal_lpdf(x, v[0], sigma); }, {{mu}}, ln);
  check("normal(d, d, V)", [&](std::span<const Var> v) { return normal_lpdf(x, mu, v[0]); }, {{sigma}}, ln);
  check("normal(V, int, d)", [&](std::span<const Var> v) { return normal_lpdf(v[0], 0, 1.0); }, {{x}}, normal_ref(x, 0, 1));
  check("lognormal(V, V, d)", [&](std::span<const Var> v) { return lognormal_lpdf(v[0], v[1], sigma); }, {{x}, {mu}}, lln);
  check("lognormal(d, V, V)", [&](std::span<const Var> v) { return lognormal_lpdf(x, v[0], v[1]); }, {{mu}, {sigma}}, lln);
  check("lognormal(V, d, V)", [&](std::span<const Var> v) { return lognormal_lpdf(v[0], mu, v[1]); }, {{x}, {sigma}}, lln);
  check("half_normal(d, V)", [&](std::span<const Var> v) { return half_normal_lpdf(0.3, v[0]); }, {{sigma}},
        std::log(2.0) + normal_ref(0.3, 0, sigma));
  check("uniform(V, d, V)", [&](std::span<const Var> v) { return uniform_lpdf(v[0], a, v[1]); }, {{x}, {b}}, -std::log(b - a));
  check("uniform(d, V, d)", [&](std::span<const Var> v) { return uniform_lpdf(x, v[0], b); }, {{a}}, -std::log(b - a));
  // A vector Var with number parameters still broadcasts; outside the support -infinity.
  check("normal(vector V, d, V)", [&](std::span<const Var> v) { return normal_lpdf(v[0], mu, v[1]); }, {{0.1, 0.9}, {sigma}},
        normal_ref(0.1, mu, sigma) + normal_ref(0.9, mu, sigma));
  Tape::Scope scope;
  CHECK(uniform_lpdf(3.0, constant(0.0), 1.0).value() == neg_inf);
}
