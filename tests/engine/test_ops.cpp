// SPDX-License-Identifier: MIT
// Every elementwise op, reduction and indexing op against finite differences (double),
// over several sizes (1, 3, 7 = SIMD tail, 60) and input ranges. Tolerances: gradcheck
// defaults (rtol 1e-6, atol 1e-8, step 1e-6) unless stated.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "tests/engine/gradcheck.hpp"

using namespace bactor;
using bactor::testing::gradcheck;
using bactor::testing::reduce;

namespace {

// n points spread over [lo, hi], shifted by `salt` so different inputs differ.
std::vector<double> grid(std::size_t n, double lo, double hi, double salt = 0.0) {
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double u = n == 1 ? 0.37 : (double(i) + 0.5 * std::fmod(salt + 0.3, 1.0)) / double(n);
    x[i] = lo + (hi - lo) * u;
  }
  return x;
}

const std::size_t sizes[] = {1, 3, 7, 60};

struct UnaryCase {
  std::string name;
  std::function<Var(Var)> op;
  double lo, hi;
  std::function<double(double)> reference;  // value check
};

void check_unary(const UnaryCase& c) {
  for (std::size_t n : sizes) {
    const auto x = grid(n, c.lo, c.hi);
    auto r = gradcheck([&](std::span<const Var> in) { return reduce(c.op(in[0])); }, {x});
    INFO(c.name << " n=" << n << " range [" << c.lo << ", " << c.hi << "]");
    CHECK_MESSAGE(r.ok, r.report);
    // Values against the scalar std:: reference.
    Tape::Scope scope;
    Var y = c.op(constant(std::span<const double>(x)));
    for (std::size_t i = 0; i < n; ++i)
      CHECK(y.value(i) == doctest::Approx(c.reference(x[i])).epsilon(1e-13).scale(1.0));
  }
}

double ref_softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }
double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

} // namespace

TEST_CASE("elementwise ops: gradients and values") {
  const std::vector<UnaryCase> cases = {
      {"exp", [](Var x) { return exp(x); }, -5, 5, [](double x) { return std::exp(x); }},
      {"log", [](Var x) { return log(x); }, 0.05, 20, [](double x) { return std::log(x); }},
      {"log1p", [](Var x) { return log1p(x); }, -0.9, 10, [](double x) { return std::log1p(x); }},
      {"log1p small", [](Var x) { return log1p(x); }, -1e-3, 1e-3, [](double x) { return std::log1p(x); }},
      {"expm1", [](Var x) { return expm1(x); }, -3, 3, [](double x) { return std::expm1(x); }},
      {"expm1 small", [](Var x) { return expm1(x); }, -1e-4, 1e-4, [](double x) { return std::expm1(x); }},
      {"sqrt", [](Var x) { return sqrt(x); }, 0.01, 50, [](double x) { return std::sqrt(x); }},
      {"square", [](Var x) { return square(x); }, -4, 4, [](double x) { return x * x; }},
      {"abs", [](Var x) { return abs(x); }, -3.1, 2.9, [](double x) { return std::abs(x); }},
      {"neg", [](Var x) { return -x; }, -3, 3, [](double x) { return -x; }},
      {"pow 2.5", [](Var x) { return pow(x, 2.5); }, 0.1, 4, [](double x) { return std::pow(x, 2.5); }},
      {"pow -1.5", [](Var x) { return pow(x, -1.5); }, 0.2, 4, [](double x) { return std::pow(x, -1.5); }},
      {"softplus", [](Var x) { return softplus(x); }, -30, 30, ref_softplus},
      {"softplus mid", [](Var x) { return softplus(x); }, -2, 2, ref_softplus},
      {"sigmoid", [](Var x) { return sigmoid(x); }, -20, 20, ref_sigmoid},
      {"log_sigmoid", [](Var x) { return log_sigmoid(x); }, -20, 20, [](double x) { return -ref_softplus(-x); }},
      {"swish", [](Var x) { return swish(x); }, -12, 12, [](double x) { return x * ref_sigmoid(x); }},
      {"tanh", [](Var x) { return tanh(x); }, -4, 4, [](double x) { return std::tanh(x); }},
      {"x + c", [](Var x) { return x + 1.25; }, -3, 3, [](double x) { return x + 1.25; }},
      {"c + x", [](Var x) { return 1.25 + x; }, -3, 3, [](double x) { return 1.25 + x; }},
      {"x - c", [](Var x) { return x - 0.5; }, -3, 3, [](double x) { return x - 0.5; }},
      {"c - x", [](Var x) { return 0.5 - x; }, -3, 3, [](double x) { return 0.5 - x; }},
      {"x * c", [](Var x) { return x * -2.5; }, -3, 3, [](double x) { return x * -2.5; }},
      {"c * x", [](Var x) { return -2.5 * x; }, -3, 3, [](double x) { return -2.5 * x; }},
      {"x / c", [](Var x) { return x / 3.0; }, -3, 3, [](double x) { return x / 3.0; }},
      {"c / x", [](Var x) { return 3.0 / x; }, 0.2, 3, [](double x) { return 3.0 / x; }},
  };
  for (const auto& c : cases) check_unary(c);
}

TEST_CASE("softplus and sigmoid stay finite at extreme arguments") {
  Tape::Scope scope;
  const std::vector<double> x = {-800.0, -40.0, 40.0, 800.0};
  Var v = variable(std::span<const double>(x));
  Var sp = softplus(v), sg = sigmoid(v), ls = log_sigmoid(v);
  CHECK(sp.value(0) == 0.0);  // exp(-800) underflows: value 0, not NaN
  CHECK(sp.value(3) == 800.0);
  CHECK(sg.value(0) == 0.0);
  CHECK(sg.value(3) == 1.0);
  CHECK(ls.value(0) == -800.0);
  CHECK(sp.value(1) == doctest::Approx(std::exp(-40.0)).epsilon(1e-12));
  backward(sum(sp) + sum(sg) + sum(ls));
  for (std::size_t i = 0; i < 4; ++i) CHECK(std::isfinite(v.adjoint(i)));
}

TEST_CASE("binary ops with broadcasting: gradients") {
  const std::vector<std::pair<std::string, std::function<Var(Var, Var)>>> ops = {
      {"+", [](Var a, Var b) { return a + b; }},
      {"-", [](Var a, Var b) { return a - b; }},
      {"*", [](Var a, Var b) { return a * b; }},
      {"/", [](Var a, Var b) { return a / b; }},
      {"pow", [](Var a, Var b) { return pow(a, b); }},
  };
  for (const auto& [name, op] : ops) {
    for (std::size_t n : sizes) {
      // vector-vector, vector-scalar, scalar-vector; a in (0.2, 3) so pow and / are smooth.
      const std::vector<std::pair<std::size_t, std::size_t>> shapes = {{n, n}, {n, 1}, {1, n}};
      for (auto [na, nb] : shapes) {
        auto r = gradcheck([&](std::span<const Var> in) { return reduce(op(in[0], in[1])); },
                           {grid(na, 0.2, 3.0, 0.1), grid(nb, 0.5, 2.5, 0.7)});
        INFO("op " << name << " sizes " << na << ", " << nb);
        CHECK_MESSAGE(r.ok, r.report);
      }
    }
  }
}

TEST_CASE("binary ops reject mismatched shapes") {
  Tape::Scope scope;
  const std::vector<double> a = {1, 2, 3}, b = {1, 2};
  Var va = variable(std::span<const double>(a)), vb = variable(std::span<const double>(b));
  CHECK_THROWS_AS(va + vb, std::invalid_argument);
  CHECK_THROWS_AS(dot(va, vb), std::invalid_argument);
  CHECK_THROWS_AS(slice(va, 2, 2), std::invalid_argument);
  CHECK_THROWS_AS(backward(va), std::invalid_argument);  // not a scalar
}

TEST_CASE("reductions and indexing: gradients and values") {
  for (std::size_t n : sizes) {
    const auto a = grid(n, -2, 3, 0.2), b = grid(n, -1, 2, 0.9);
    INFO("n=" << n);
    auto r = gradcheck([](std::span<const Var> in) { return sum(square(in[0])); }, {a});
    CHECK_MESSAGE(r.ok, r.report);
    double s = 0, ss = 0, d = 0;
    for (std::size_t i = 0; i < n; ++i) s += a[i], ss += a[i] * a[i], d += a[i] * b[i];
    CHECK(r.value == doctest::Approx(ss).epsilon(1e-14));
    r = gradcheck([](std::span<const Var> in) { return mean(exp(in[0])); }, {a});
    CHECK_MESSAGE(r.ok, r.report);
    r = gradcheck([](std::span<const Var> in) { return dot(in[0], in[1]); }, {a, b});
    CHECK_MESSAGE(r.ok, r.report);
    CHECK(r.value == doctest::Approx(d).epsilon(1e-14));
    // log_sum_exp: large offsets would overflow a naive exp.
    auto shifted = a;
    for (auto& v : shifted) v += 700.0;
    r = gradcheck([](std::span<const Var> in) { return log_sum_exp(in[0]); }, {shifted});
    CHECK_MESSAGE(r.ok, r.report);
    double m = a[0], acc = 0;
    for (double v : a) m = std::max(m, v);
    for (double v : a) acc += std::exp(v - m);
    CHECK(r.value == doctest::Approx(700.0 + m + std::log(acc)).epsilon(1e-14));
    r = gradcheck([n](std::span<const Var> in) { return element(in[0], n - 1) * element(in[0], 0); }, {a});
    CHECK_MESSAGE(r.ok, r.report);
    if (n >= 3) {
      r = gradcheck([](std::span<const Var> in) { return reduce(concat(slice(in[0], 1, 2), in[1])); }, {a, b});
      CHECK_MESSAGE(r.ok, r.report);
    }
  }
}

TEST_CASE("a 15-op vector expression: gradient") {
  const auto x = grid(60, -2, 2, 0.4), y = grid(60, 0.5, 3, 0.8);
  auto r = gradcheck(
      [](std::span<const Var> in) {
        Var a = in[0], b = in[1];
        Var t = softplus(a * b - 0.5) + sigmoid(a) * log(b);
        Var u = swish(t) / (1.0 + square(a));
        return log_sum_exp(u) + mean(tanh(u * b)) + dot(exp(-abs(a)), sqrt(b));
      },
      {x, y});
  CHECK_MESSAGE(r.ok, r.report);
}
