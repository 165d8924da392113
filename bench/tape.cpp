// SPDX-License-Identifier: MIT
// Tape overhead: gradients of (1) a 60-element vector expression of 15 ops and (2) a
// 5-16-64-16-8-3 swish MLP on one input, in double, single thread. Baselines timed in the
// same run: the plain-loop forward value of (1), and a hand-written forward+backward of (2).
#include <cmath>
#include <string>
#include <vector>

#include "bench/bench_util.hpp"
#include <bactor/engine/autodiff.hpp>
#include <bactor/engine/rng.hpp>

using namespace bactor;
namespace bb = bactor::bench;

namespace {

// The expression of tests/engine/test_ops.cpp ("a 15-op vector expression").
Var expression(Var a, Var b) {
  Var t = softplus(a * b - 0.5) + sigmoid(a) * log(b);
  Var u = swish(t) / (1.0 + square(a));
  return log_sum_exp(u) + mean(tanh(u * b)) + dot(exp(-abs(a)), sqrt(b));
}

// An arithmetic-heavy expression of 15 ops (two transcendental): tape overhead per op.
Var light_expression(Var a, Var b) {
  Var d = a - b;
  Var r = (d * d) / (b + 1.0);
  Var t = exp(-(r * 0.5 + a));
  Var u = t * b - a * 0.25;
  return sum(u * u) + dot(a, b) + mean(log(b));
}

double light_plain(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0, d = 0, l = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double di = a[i] - b[i];
    const double r = di * di / (b[i] + 1.0);
    const double u = std::exp(-(r * 0.5 + a[i])) * b[i] - a[i] * 0.25;
    s += u * u, d += a[i] * b[i], l += std::log(b[i]);
  }
  return s + d + l / double(a.size());
}

double expression_plain(const std::vector<double>& a, const std::vector<double>& b, std::vector<double>& u) {
  const std::size_t n = a.size();
  double m = -INFINITY, mt = 0, d = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double z = a[i] * b[i] - 0.5;
    const double t = std::max(z, 0.0) + std::log1p(std::exp(-std::abs(z))) + std::log(b[i]) / (1 + std::exp(-a[i]));
    u[i] = t / (1 + std::exp(-t)) / (1.0 + a[i] * a[i]);
    m = std::max(m, u[i]);
    mt += std::tanh(u[i] * b[i]);
    d += std::exp(-std::abs(a[i])) * std::sqrt(b[i]);
  }
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += std::exp(u[i] - m);
  return m + std::log(s) + mt / double(n) + d;
}

const std::size_t widths[] = {5, 16, 64, 16, 8, 3};
constexpr int layers = 5;

struct Mlp {
  std::vector<double> w[layers], b[layers];
};

Mlp make_mlp() {
  Mlp m;
  Rng rng(7, 0);
  for (int l = 0; l < layers; ++l) {
    m.w[l].resize(widths[l + 1] * widths[l]);
    m.b[l].resize(widths[l + 1]);
    for (auto& v : m.w[l]) v = rng.normal() / std::sqrt(double(widths[l]));
    for (auto& v : m.b[l]) v = 0.1 * rng.normal();
  }
  return m;
}

// Scalar output: sum of the 3 outputs weighted (1, -0.5, 0.25).
Var mlp_tape(const Mlp& m, Var x, bool weights_are_variables) {
  const double head[3] = {1.0, -0.5, 0.25};
  Var h = x;
  for (int l = 0; l < layers; ++l) {
    const std::size_t o = widths[l + 1], i = widths[l];
    Var w = weights_are_variables ? variable(m.w[l], o, i) : constant_view(m.w[l], o, i);
    Var b = weights_are_variables ? variable(m.b[l]) : constant_view(m.b[l], o, 1);
    h = affine(w, h, b);
    if (l + 1 < layers) h = swish(h);
  }
  return dot(h, constant_view(head, 3, 1));
}

// Hand-written forward + backward (input gradient only), plain loops: the baseline.
struct MlpManual {
  std::vector<double> z[layers], a[layers + 1], g[layers + 1];
  explicit MlpManual() {
    for (int l = 0; l <= layers; ++l) {
      a[l].resize(widths[l]);
      g[l].resize(widths[l]);
      if (l < layers) z[l].resize(widths[l + 1]);
    }
  }
  double run(const Mlp& m, const double* x, double* dx) {
    std::copy(x, x + widths[0], a[0].begin());
    for (int l = 0; l < layers; ++l) {
      const std::size_t o = widths[l + 1], in = widths[l];
      for (std::size_t r = 0; r < o; ++r) {
        double s = m.b[l][r];
        for (std::size_t c = 0; c < in; ++c) s += m.w[l][r * in + c] * a[l][c];
        z[l][r] = s;
        a[l + 1][r] = l + 1 < layers ? s / (1 + std::exp(-s)) : s;
      }
    }
    const double head[3] = {1.0, -0.5, 0.25};
    const double y = head[0] * a[layers][0] + head[1] * a[layers][1] + head[2] * a[layers][2];
    for (int r = 0; r < 3; ++r) g[layers][r] = head[r];
    for (int l = layers - 1; l >= 0; --l) {
      const std::size_t o = widths[l + 1], in = widths[l];
      std::fill(g[l].begin(), g[l].end(), 0.0);
      for (std::size_t r = 0; r < o; ++r) {
        double gz = g[l + 1][r];
        if (l + 1 < layers) {
          const double s = 1 / (1 + std::exp(-z[l][r]));
          gz *= s * (1 + z[l][r] * (1 - s));
        }
        for (std::size_t c = 0; c < in; ++c) g[l][c] += gz * m.w[l][r * in + c];
      }
    }
    std::copy(g[0].begin(), g[0].end(), dx);
    return y;
  }
};

} // namespace

int main(int argc, char** argv) {
  // Optional argument: "vector" or "mlp" runs only those cases, "light" only the
  // arithmetic-heavy vector expression (for profiling).
  const std::string only = argc > 1 ? argv[1] : "";
  // (1) vector expression
  if (only.empty() || only == "vector" || only == "light") {
    const std::size_t n = 60;
    std::vector<double> a(n), b(n), ga(n), gb(n), u(n);
    for (std::size_t i = 0; i < n; ++i) {
      a[i] = -2 + 4 * (i + 0.3) / n;
      b[i] = 0.5 + 2.5 * (i + 0.7) / n;
    }
    auto grad = [&] {
      Tape::Scope scope;
      Var va = variable(a), vb = variable(b);
      Var y = expression(va, vb);
      backward(y);
      for (std::size_t i = 0; i < n; ++i) ga[i] = va.adjoint(i), gb[i] = vb.adjoint(i);
      bb::do_not_optimize(y.value());
    };
    auto plain = [&] { bb::do_not_optimize(expression_plain(a, b, u)); };
    grad();
    const std::size_t cap = Tape::current().arena_capacity();
    // One JSON line per expression: its gradient timing and the plain forward loop's.
    auto expression_line = [&](bb::JsonLine& line, const char* name, const bb::Timing& t,
                               const bb::Timing& tb) -> bb::JsonLine& {
      return line.add("case", name).add("n", n).add("ops", 15).timing(t).timing(tb, "baseline_forward_plain_");
    };
    if (only != "light") {
      const auto t = bb::time_it(grad, bb::calibrate(grad));
      const auto tb = bb::time_it(plain, bb::calibrate(plain));
      bb::JsonLine line("tape");
      expression_line(line, "vector_expression_grad", t, tb)
          .add("arena_capacity_bytes", Tape::current().arena_capacity())
          .add("arena_grew", Tape::current().arena_capacity() != cap ? 1 : 0)
          .print();
    }
    auto light = [&] {
      Tape::Scope scope;
      Var va = variable(a), vb = variable(b);
      Var y = light_expression(va, vb);
      backward(y);
      for (std::size_t i = 0; i < n; ++i) ga[i] = va.adjoint(i), gb[i] = vb.adjoint(i);
      bb::do_not_optimize(y.value());
    };
    auto light_base = [&] { bb::do_not_optimize(light_plain(a, b)); };
    const auto tl = bb::time_it(light, bb::calibrate(light));
    const auto tlb = bb::time_it(light_base, bb::calibrate(light_base));
    bb::JsonLine line("tape");
    expression_line(line, "light_vector_expression_grad", tl, tlb).print();
  }
  // (2) MLP
  if (only.empty() || only == "mlp") {
    const Mlp m = make_mlp();
    const double x[5] = {0.2, 0.15, 1.5, 0.1, 0.8};
    double gx[5];
    for (int mode = 0; mode < 2; ++mode) {
      const bool all = mode == 1;
      auto grad = [&] {
        Tape::Scope scope;
        Var vx = variable(std::span<const double>(x, 5));
        Var y = mlp_tape(m, vx, all);
        backward(y);
        for (int i = 0; i < 5; ++i) gx[i] = vx.adjoint(i);
        bb::do_not_optimize(gx[0]);
      };
      const auto t = bb::time_it(grad, bb::calibrate(grad));
      bb::JsonLine("tape")
          .add("case", all ? "mlp_grad_input_and_weights" : "mlp_grad_input")
          .add("layers", "5-16-64-16-8-3 swish")
          .timing(t)
          .print();
    }
    MlpManual manual;
    auto base = [&] { bb::do_not_optimize(manual.run(m, x, gx)); };
    const auto tb = bb::time_it(base, bb::calibrate(base));
    bb::JsonLine("tape").add("case", "mlp_grad_input_handwritten_baseline").timing(tb).print();
  }
  return 0;
}
