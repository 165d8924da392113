// SPDX-License-Identifier: MIT
// Tape mechanics: scopes rewind the arena, repeated gradients do not grow it, nested scopes
// (scope-local passes; outer adjoints accumulate and are carried on by an outer pass),
// constants carry no gradient, custom nodes, value_and_gradient, one tape per thread.
#include <doctest/doctest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "tests/engine/gradcheck.hpp"

using namespace bactor;

namespace {

// A small MLP-shaped gradient (weights as constants, input as variable).
double mlp_gradient(std::span<const double> x, std::span<double> g) {
  static const std::vector<double> w1 = [] {
    std::vector<double> w(16 * 5);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::sin(double(i));
    return w;
  }();
  static const std::vector<double> b1(16, 0.1), w2(16, 0.3);
  return value_and_gradient(
      [&](Var xv) {
        Var h = swish(affine(constant_view(w1, 16, 5), xv, constant_view(b1, 16, 1)));
        return dot(h, constant(w2)) + normal_lpdf(xv, 0.0, 1.0);
      },
      x, g);
}

} // namespace

TEST_CASE("repeated gradient evaluations do not grow the arena") {
  Tape& tape = Tape::current();
  const std::vector<double> x = {0.1, -0.2, 0.3, 0.4, -0.5};
  std::vector<double> g(5);
  const std::size_t bytes0 = tape.arena_bytes(), nodes0 = tape.num_nodes();
  mlp_gradient(x, g);  // warm-up: may allocate blocks
  const std::size_t capacity = tape.arena_capacity(), blocks = tape.arena_blocks();
  CHECK(capacity > 0);
  for (int rep = 0; rep < 5000; ++rep) mlp_gradient(x, g);
  CHECK(tape.arena_capacity() == capacity);
  CHECK(tape.arena_blocks() == blocks);
  CHECK(tape.arena_bytes() == bytes0);  // the scope rewound everything
  CHECK(tape.num_nodes() == nodes0);
}

TEST_CASE("large arrays spill into new blocks that are then reused") {
  Tape& tape = Tape::current();
  std::vector<double> big(300000, 1.0);  // 2.4 MB, larger than the first block
  std::size_t capacity = 0;
  for (int rep = 0; rep < 3; ++rep) {
    Tape::Scope scope;
    Var v = variable(big);
    Var y = sum(exp(v * 0.5));
    backward(y);
    CHECK(v.adjoint(7) == doctest::Approx(0.5 * std::exp(0.5)));
    if (rep == 0) capacity = tape.arena_capacity();
    CHECK(tape.arena_capacity() == capacity);
  }
}

TEST_CASE("nested scopes; outer variables keep their gradients") {
  Tape::Scope outer;
  Var x = variable(2.0);
  Var y = square(x);  // outer node
  const std::size_t nodes = Tape::current().num_nodes();
  {
    Tape::Scope inner;
    Var z = y * 3.0 + x;  // dz/dx = 6x + 1 = 13
    backward(z);
    // The inner pass reaches the outer nodes z uses, but does not run y's backward.
    CHECK(y.adjoint() == 3.0);
    CHECK(x.adjoint() == 1.0);
  }
  CHECK(Tape::current().num_nodes() == nodes);
  Tape::current().propagate();  // the outer pass carries y's adjoint into x
  CHECK(x.adjoint() == doctest::Approx(13.0));
  Tape::current().zero_adjoints();
  CHECK(x.adjoint() == 0.0);
  backward(y);  // the outer expression still works
  CHECK(x.adjoint() == doctest::Approx(4.0));
}

TEST_CASE("nested passes run only the current scope's nodes (issue 14's example)") {
  // u = x^2 outside; k inner scopes each run backward(sum(3 u)). Each inner pass adds 3 to
  // u's adjoint and must not run u's backward (sweeping the whole tape did, re-propagating
  // earlier passes: x read 12, 36, 72). One outer pass then gives d/dx of k * 3u = 12 k.
  for (int k = 1; k <= 3; ++k) {
    Tape::Scope outer;
    Var x = variable(2.0);
    Var u = square(x);
    for (int pass = 1; pass <= k; ++pass) {
      Tape::Scope inner;
      backward(sum(u * 3.0));
      CHECK(u.adjoint() == 3.0 * pass);
      CHECK(x.adjoint() == 0.0);
    }
    Tape::current().propagate();
    CHECK(x.adjoint() == 12.0 * k);  // 12, 24, 36
    CHECK(u.adjoint() == 3.0 * k);
  }
  // Instead of propagate(), a backward pass from an outer output carries the inner passes'
  // adjoints along with its own: d(u + 3 k u)/dx = 4 + 12 k.
  for (int k = 1; k <= 3; ++k) {
    Tape::Scope outer;
    Var x = variable(2.0);
    Var u = square(x);
    for (int pass = 1; pass <= k; ++pass) {
      Tape::Scope inner;
      backward(sum(u * 3.0));
    }
    backward(u);
    CHECK(x.adjoint() == 4.0 + 12.0 * k);
  }
}

TEST_CASE("nested passes: scopes within scopes, zeroing, outer outputs") {
  const std::vector<double> xv = {0.3, -0.7};
  Tape::Scope l0;
  Var x = variable(xv);
  Var u = square(x);  // level 0
  const std::size_t begin0 = Tape::current().scope_begin();
  {
    Tape::Scope l1;
    CHECK(Tape::current().scope_begin() == Tape::current().num_nodes());
    Var v = exp(u);  // level 1
    Var sv = sum(v);
    for (int rep = 0; rep < 2; ++rep) {
      Tape::Scope l2;
      Var y = sum(v * 2.0 + u);
      backward(y);  // level 2 only: v += 2, u += 1 per pass
      for (std::size_t i = 0; i < 2; ++i) {
        CHECK(v.adjoint(i) == 2.0 * (rep + 1));
        CHECK(u.adjoint(i) == 1.0 * (rep + 1));
        CHECK(x.adjoint(i) == 0.0);
      }
      // zero_adjoints() clears this scope's nodes only; a rerun over them adds again.
      Tape::current().zero_adjoints();
      CHECK(y.adjoint() == 0.0);
      CHECK(v.adjoint(0) == 2.0 * (rep + 1));
      // An output created in an outer scope cannot seed a pass here.
      CHECK_THROWS_AS(backward(sv), std::invalid_argument);
    }
    // Undo the second inner pass: this level's adjoints are cleared, level 0's are not.
    Tape::current().zero_adjoints();
    CHECK(v.adjoint(0) == 0.0);
    CHECK(u.adjoint(0) == 2.0);
    {
      Tape::Scope l2;
      backward(sum(v * 2.0));  // v += 2
    }
    Tape::current().propagate();  // level 1: v's backward adds 2 exp(u) to u
    for (std::size_t i = 0; i < 2; ++i) {
      CHECK(u.adjoint(i) == doctest::Approx(2.0 + 2.0 * std::exp(xv[i] * xv[i])).epsilon(1e-15));
      CHECK(x.adjoint(i) == 0.0);
    }
  }
  CHECK(Tape::current().scope_begin() == begin0);
  Tape::current().propagate();  // level 0: u's backward
  for (std::size_t i = 0; i < 2; ++i) {
    const double s = xv[i] * xv[i];
    CHECK(x.adjoint(i) == doctest::Approx(2.0 * xv[i] * (2.0 + 2.0 * std::exp(s))).epsilon(1e-14));
  }
  // zero_all_adjoints() clears every scope.
  {
    Tape::Scope l1;
    Tape::current().zero_all_adjoints();
    CHECK(x.adjoint(0) == 0.0);
    CHECK(u.adjoint(1) == 0.0);
  }
}

TEST_CASE("non-nested passes are unchanged: one scope, or no scope at all") {
  // With a single scope (or none), backward sweeps every node up to y, as before nesting
  // was scope-aware; checked against the closed form and against gradcheck's differences.
  auto f = [](std::span<const Var> in) { return sum(exp(in[0] * in[1]) + square(in[0])); };
  const auto r = bactor::testing::gradcheck(f, {{0.2, -0.4, 1.1}, {0.5, 0.9, -0.3}});
  CHECK_MESSAGE(r.ok, r.report);
  // A fresh thread's tape with no Scope open: its scope is the whole tape (the values are
  // checked on the main thread).
  std::size_t begin = 1;
  double g1 = 0, g0 = 1, g2 = 0;
  std::thread t([&] {
    Tape& tape = Tape::current();
    begin = tape.scope_begin();
    Var a = variable(1.5);
    Var b = exp(a);
    Var y = b * a;  // dy/da = e^a (1 + a)
    backward(y);
    g1 = a.adjoint();
    tape.zero_adjoints();
    g0 = a.adjoint();
    backward(y);
    g2 = a.adjoint();
  });
  t.join();
  CHECK(begin == 0);
  CHECK(g1 == doctest::Approx(std::exp(1.5) * 2.5).epsilon(1e-15));
  CHECK(g0 == 0.0);
  CHECK(g2 == g1);
}

TEST_CASE("constants carry no gradient; ops on constants record no backward") {
  Tape::Scope scope;
  const std::vector<double> c = {1.0, 2.0, 3.0};
  Var k = constant(c);
  Var e = exp(k) * 2.0;
  CHECK_FALSE(k.needs_grad());
  CHECK_FALSE(e.needs_grad());
  CHECK_UNARY(e.node()->backward == nullptr);
  CHECK(e.adjoints().empty());
  Var x = variable(0.5);
  Var y = sum(e * x);
  CHECK(y.needs_grad());
  backward(y);
  CHECK(x.adjoint() == doctest::Approx(2.0 * (std::exp(1.0) + std::exp(2.0) + std::exp(3.0))));
  CHECK(k.adjoint(0) == 0.0);
}

TEST_CASE("leaf construction validates shapes") {
  Tape::Scope scope;
  const std::vector<double> v(6, 1.0);
  CHECK_THROWS_AS(variable(v, 4, 2), std::invalid_argument);
  CHECK_THROWS_AS(constant_view(v, 2, 2), std::invalid_argument);
  CHECK_THROWS_AS(variable(std::span<const double>()), std::invalid_argument);
  Var m = variable(v, 2, 3);
  CHECK(m.rows() == 2);
  CHECK(m.cols() == 3);
  std::vector<double> g(2);
  CHECK_THROWS_AS(value_and_gradient([](Var x) { return sum(x); }, std::span<const double>(v), g),
                  std::invalid_argument);
}

namespace {
// Custom node: y = sum_i w_i x_i^3 + c * sum_i x_i, forward and backward as user kernels.
Var cubic(Var x, Var c, std::span<const double> w) {
  return custom(
      {x, c}, 1, 1,
      [&](std::span<double> y) {
        double s = 0, t = 0;
        for (std::size_t i = 0; i < x.size(); ++i) s += w[i] * std::pow(x.value(i), 3), t += x.value(i);
        y[0] = s + c.value() * t;
      },
      [x, c, w](std::span<const double>, std::span<const double> dy) {
        double t = 0;
        for (std::size_t i = 0; i < x.size(); ++i) t += x.value(i);
        if (x.needs_grad())
          for (std::size_t i = 0; i < x.size(); ++i)
            x.adjoints()[i] += dy[0] * (3 * w[i] * x.value(i) * x.value(i) + c.value());
        if (c.needs_grad()) c.adjoints()[0] += dy[0] * t;
      });
}
} // namespace

TEST_CASE("custom node: finite differences and agreement with composed ops") {
  const std::vector<double> w = {0.5, -1.0, 2.0, 0.25};
  auto r = bactor::testing::gradcheck(
      [&](std::span<const Var> in) { return log(1.0 + square(cubic(exp(in[0]), in[1], w))); },
      {{0.1, -0.3, 0.2, 0.05}, {0.7}});
  CHECK_MESSAGE(r.ok, r.report);
  auto composed = bactor::testing::gradcheck(
      [&](std::span<const Var> in) {
        Var ex = exp(in[0]);
        Var y = dot(pow(ex, 3.0), constant(w)) + in[1] * sum(ex);
        return log(1.0 + square(y));
      },
      {{0.1, -0.3, 0.2, 0.05}, {0.7}});
  CHECK(r.value == doctest::Approx(composed.value).epsilon(1e-14));
  for (int j = 0; j < 2; ++j)
    for (std::size_t i = 0; i < r.tape[j].size(); ++i)
      CHECK(r.tape[j][i] == doctest::Approx(composed.tape[j][i]).epsilon(1e-12));
  // With constant inputs the node records no backward.
  Tape::Scope scope;
  Var y = cubic(constant(std::span<const double>(w)), constant(1.0), w);
  CHECK_FALSE(y.needs_grad());
}

TEST_CASE("value_and_gradient and one tape per thread") {
  const std::vector<double> x = {0.3, -0.1, 0.7, 0.2, -0.4};
  std::vector<double> g_main(5);
  const double v_main = mlp_gradient(x, g_main);
  std::vector<std::vector<double>> g(2, std::vector<double>(5));
  std::vector<double> v(2);
  std::vector<const Tape*> tapes(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 2000; ++rep) v[t] = mlp_gradient(x, g[t]);
      tapes[t] = &Tape::current();
    });
  for (auto& th : threads) th.join();
  CHECK(tapes[0] != tapes[1]);
  CHECK(tapes[0] != &Tape::current());
  for (int t = 0; t < 2; ++t) {
    CHECK(v[t] == v_main);
    CHECK(g[t] == g_main);
  }
  // And the gradient itself is right (central differences of the value).
  std::vector<double> xp = x, scratch(5);
  for (std::size_t i = 0; i < 5; ++i) {
    const double h = 1e-6;
    xp[i] = x[i] + h;
    const double fp = mlp_gradient(xp, scratch);
    xp[i] = x[i] - h;
    const double fm = mlp_gradient(xp, scratch);
    xp[i] = x[i];
    CHECK(g_main[i] == doctest::Approx((fp - fm) / (2 * h)).epsilon(1e-6));
  }
}

TEST_CASE("backward from a value that needs no gradient is a no-op") {
  Tape::Scope scope;
  Var c = constant(3.0);
  Var y = c * 2.0;
  CHECK_NOTHROW(backward(y));
  CHECK(y.adjoint() == 0.0);
}

TEST_CASE("lazy adjoints: unreached nodes read zero, second passes, shared operands") {
  // Adjoints are zeroed lazily (the first contribution is stored): check the cases where
  // that could leak stale values: a node backward() never reaches, zero_adjoints() and a
  // second pass over the same nodes, an operand used by both sides of an op and by several
  // ops (stores then adds), and custom nodes whose inputs have not received a gradient yet.
  Tape::Scope scope;
  const std::vector<double> av = {0.5, -1.0, 2.0}, bv = {1.5, 0.25, -0.75};
  Var a = variable(av), b = variable(bv);
  Var unused = exp(a) * b;          // on the tape before y, not an ancestor of y
  Var p = a * a;                    // same operand on both sides: dp/da = 2a
  Var q = (a - b) / (b * b + 1.0);  // a and b feed several ops
  Var y = sum(p + q * a);
  backward(y);
  for (std::size_t i = 0; i < 3; ++i) {
    const double d = av[i] - bv[i], s = bv[i] * bv[i] + 1.0;
    const double dya = 2 * av[i] + d / s + av[i] / s;
    const double dyb = -av[i] / s - av[i] * d * 2 * bv[i] / (s * s);
    CHECK(a.adjoint(i) == doctest::Approx(dya).epsilon(1e-14));
    CHECK(b.adjoint(i) == doctest::Approx(dyb).epsilon(1e-14));
    CHECK(unused.adjoint(i) == 0.0);
  }
  // A second pass over the same nodes after zero_adjoints() gives the same gradient.
  const double a0 = a.adjoint(0);
  Tape::current().zero_adjoints();
  CHECK(a.adjoint(0) == 0.0);
  CHECK(unused.adjoint(1) == 0.0);
  backward(y);
  CHECK(a.adjoint(0) == doctest::Approx(a0).epsilon(1e-14));
  // Now from the node that was unreachable before: y's nodes keep their values, a and b add.
  Tape::current().zero_adjoints();
  backward(sum(unused));
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(a.adjoint(i) == doctest::Approx(std::exp(av[i]) * bv[i]).epsilon(1e-14));
    CHECK(b.adjoint(i) == doctest::Approx(std::exp(av[i])).epsilon(1e-14));
    CHECK(p.adjoint(i) == 0.0);
  }
  // A custom node adds into an input adjoint that nothing has set yet: it reads as zero.
  Tape::current().zero_adjoints();
  Var c = custom(
      {a}, 1, 1, [&](std::span<double> out) { out[0] = 3 * a.value(0); },
      [a](std::span<const double>, std::span<const double> dy) { a.adjoints()[0] += 3 * dy[0]; });
  backward(c);
  CHECK(a.adjoint(0) == 3.0);
  CHECK(a.adjoint(1) == 0.0);
}
