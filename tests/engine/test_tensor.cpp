// SPDX-License-Identifier: MIT
// Float tensor nodes (engine/tensor.hpp): every node type's float gradient against double
// finite differences of the same function (tests/engine/tensor_gradcheck.hpp), over shapes
// with SIMD tails and partial 32-sample blocks; parameter leaves, ParameterSet, custom nodes,
// lazy adjoints (an input used by several nodes, or twice by one), and arena reuse.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <bactor/engine/ops.hpp>
#include <bactor/engine/tensor.hpp>

#include "tests/engine/tensor_gradcheck.hpp"

using namespace bactor;
using bactor::testing::tensor_gradcheck;
using bactor::testing::TensorInput;

namespace {

using Vec = std::vector<double>;
using Inputs = std::vector<Vec>;

// Fixed weights in [0.5, 1.5], distinct per element: reduce a tensor output to a scalar that
// exercises every output adjoint differently.
Vec weights(std::size_t n, unsigned salt = 1) {
  Vec w(n);
  for (std::size_t i = 0; i < n; ++i) w[i] = 0.5 + std::fmod(0.6180339887 * double(i + 1) * salt, 1.0);
  return w;
}
Var reduce(Tensor y) {
  const Vec w = weights(y.size());
  std::vector<float> wf(w.begin(), w.end());
  return dot(y, tensor_constant(wf, y.rows(), y.cols()));
}
double reduce_ref(const Vec& y) {
  const Vec w = weights(y.size());
  double s = 0;
  for (std::size_t i = 0; i < y.size(); ++i) s += double(float(w[i])) * y[i];
  return s;
}

Vec grid(std::size_t n, double lo, double hi, double salt = 0.0) {
  Vec x(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double u = n == 1 ? 0.37 : (double(i) + 0.5 * std::fmod(salt + 0.3, 1.0)) / double(n);
    x[i] = lo + (hi - lo) * u;
  }
  return x;
}

// Shapes: one element, SIMD tails, several batches, a 32-sample block and a partial one.
const std::pair<std::size_t, std::size_t> shapes[] = {{1, 1}, {3, 7}, {2, 40}, {4, 32}, {1, 45}};

struct UnaryCase {
  std::string name;
  std::function<Tensor(Tensor)> op;
  double lo, hi;
  std::function<double(double)> ref;
};

double ref_softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }
double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

} // namespace

TEST_CASE("tensor elementwise nodes: float gradients against double finite differences") {
  const std::vector<UnaryCase> cases = {
      {"exp", [](Tensor x) { return exp(x); }, -4, 4, [](double x) { return std::exp(x); }},
      {"log", [](Tensor x) { return log(x); }, 0.05, 6, [](double x) { return std::log(x); }},
      {"square", [](Tensor x) { return square(x); }, -3, 3, [](double x) { return x * x; }},
      {"softplus", [](Tensor x) { return softplus(x); }, -12, 12, ref_softplus},
      {"sigmoid", [](Tensor x) { return sigmoid(x); }, -10, 10, ref_sigmoid},
      {"swish", [](Tensor x) { return swish(x); }, -9, 9, [](double x) { return x * ref_sigmoid(x); }},
      {"tanh", [](Tensor x) { return tanh(x); }, -4, 4, [](double x) { return std::tanh(x); }},
      {"clip", [](Tensor x) { return clip(x, -1.5f, 2.0f); }, -3, 3.3,
       [](double x) { return std::min(std::max(x, -1.5), 2.0); }},
      {"neg", [](Tensor x) { return -x; }, -3, 3, [](double x) { return -x; }},
      {"x + c", [](Tensor x) { return x + 1.25f; }, -3, 3, [](double x) { return x + 1.25; }},
      {"c * x", [](Tensor x) { return -0.75f * x; }, -3, 3, [](double x) { return -0.75 * x; }},
  };
  for (const auto& c : cases)
    for (auto [rows, cols] : shapes) {
      INFO(c.name << " " << rows << "x" << cols);
      auto r = tensor_gradcheck([&](std::span<const Tensor> in) { return reduce(c.op(in[0])); },
                                [&](const Inputs& in) {
                                  Vec y(in[0].size());
                                  for (std::size_t i = 0; i < y.size(); ++i) y[i] = c.ref(in[0][i]);
                                  return reduce_ref(y);
                                },
                                {{grid(rows * cols, c.lo, c.hi), rows, cols}});
      CHECK_MESSAGE(r.ok, r.report);
    }
}

TEST_CASE("tensor binary nodes, an input used twice, and reductions to double") {
  using Op = std::function<Tensor(Tensor, Tensor)>;
  using Ref = std::function<double(double, double)>;
  const std::vector<std::tuple<std::string, Op, Ref>> cases = {
      {"a + b", [](Tensor a, Tensor b) { return a + b; }, [](double a, double b) { return a + b; }},
      {"a - b", [](Tensor a, Tensor b) { return a - b; }, [](double a, double b) { return a - b; }},
      {"a * b", [](Tensor a, Tensor b) { return a * b; }, [](double a, double b) { return a * b; }},
  };
  for (const auto& [name, op, ref] : cases)
    for (auto [rows, cols] : shapes) {
      INFO(name << " " << rows << "x" << cols);
      const std::size_t n = rows * cols;
      auto r = tensor_gradcheck([&](std::span<const Tensor> in) { return reduce(op(in[0], in[1])); },
                                [&](const Inputs& in) {
                                  Vec y(n);
                                  for (std::size_t i = 0; i < n; ++i) y[i] = ref(in[0][i], in[1][i]);
                                  return reduce_ref(y);
                                },
                                {{grid(n, -2, 2), rows, cols}, {grid(n, -1.5, 2.5, 0.4), rows, cols}});
      CHECK_MESSAGE(r.ok, r.report);
      // The same tensor as both operands: both contributions reach it.
      auto r2 = tensor_gradcheck([&](std::span<const Tensor> in) { return reduce(op(in[0], in[0])); },
                                 [&](const Inputs& in) {
                                   Vec y(n);
                                   for (std::size_t i = 0; i < n; ++i) y[i] = ref(in[0][i], in[0][i]);
                                   return reduce_ref(y);
                                 },
                                 {{grid(n, -2, 2), rows, cols}});
      CHECK_MESSAGE(r2.ok, r2.report);
    }
  for (auto [rows, cols] : shapes) {
    const std::size_t n = rows * cols;
    auto rs = tensor_gradcheck([](std::span<const Tensor> in) { return sum(in[0]); },
                               [](const Inputs& in) {
                                 double s = 0;
                                 for (double v : in[0]) s += v;
                                 return s;
                               },
                               {{grid(n, -2, 3), rows, cols}});
    CHECK_MESSAGE(rs.ok, rs.report);
    auto rd = tensor_gradcheck([](std::span<const Tensor> in) { return dot(in[0], in[1]); },
                               [](const Inputs& in) {
                                 double s = 0;
                                 for (std::size_t i = 0; i < in[0].size(); ++i) s += in[0][i] * in[1][i];
                                 return s;
                               },
                               {{grid(n, -2, 3), rows, cols}, {grid(n, -1, 1, 0.7), rows, cols}});
    CHECK_MESSAGE(rd.ok, rd.report);
    // The reduction's result mixes with double ops: 3 sum(x)^2.
    auto rm = tensor_gradcheck([](std::span<const Tensor> in) { return 3.0 * square(sum(in[0])); },
                               [](const Inputs& in) {
                                 double s = 0;
                                 for (double v : in[0]) s += v;
                                 return 3.0 * s * s;
                               },
                               {{grid(n, -0.2, 0.3), rows, cols}});
    CHECK_MESSAGE(rm.ok, rm.report);
  }
}

namespace {
// y = W x + b (x: n_in x n feature-major) in double.
Vec affine_ref(const Vec& W, const Vec& x, const Vec& b, std::size_t n_in, std::size_t n_out, std::size_t n) {
  Vec y(n_out * n);
  for (std::size_t j = 0; j < n_out; ++j)
    for (std::size_t c = 0; c < n; ++c) {
      double s = b[j];
      for (std::size_t i = 0; i < n_in; ++i) s += W[j * n_in + i] * x[i * n + c];
      y[j * n + c] = s;
    }
  return y;
}
} // namespace

TEST_CASE("affine node: gradients w.r.t. W, x and b (blocks of 32 samples, partial blocks, haddp widths)") {
  // n_in up to 33 covers the 16-lane haddp path and its tail; odd n_out the 2-unit blocking;
  // n the full blocks and the zero-padded last one.
  const std::size_t dims[][3] = {{1, 1, 1}, {5, 3, 32}, {5, 3, 7}, {17, 4, 45}, {33, 5, 64}, {8, 16, 101}, {3, 1, 96}};
  for (const auto& d : dims) {
    const std::size_t n_in = d[0], n_out = d[1], n = d[2];
    INFO("W " << n_out << "x" << n_in << ", x " << n_in << "x" << n);
    const Vec W = grid(n_out * n_in, -1, 1, 0.1), x = grid(n_in * n, -2, 2, 0.5), b = grid(n_out, -0.5, 0.5);
    auto r = tensor_gradcheck(
        [&](std::span<const Tensor> in) { return reduce(affine(in[0], in[1], in[2])); },
        [&](const Inputs& in) { return reduce_ref(affine_ref(in[0], in[1], in[2], n_in, n_out, n)); },
        {{W, n_out, n_in}, {x, n_in, n}, {b, n_out, 1}});
    CHECK_MESSAGE(r.ok, r.report);
    // x feeds two affine nodes and an elementwise one: its adjoint is stored by the first
    // contribution and added to by the others.
    const Vec W2 = grid(n_out * n_in, -0.7, 1.2, 0.9);
    auto r2 = tensor_gradcheck(
        [&](std::span<const Tensor> in) {
          return reduce(affine(in[0], in[1], in[2]) * affine(in[3], in[1], in[2])) + sum(square(in[1]));
        },
        [&](const Inputs& in) {
          const Vec y1 = affine_ref(in[0], in[1], in[2], n_in, n_out, n);
          const Vec y2 = affine_ref(in[3], in[1], in[2], n_in, n_out, n);
          Vec y(y1.size());
          for (std::size_t i = 0; i < y.size(); ++i) y[i] = y1[i] * y2[i];
          double s = reduce_ref(y);
          for (double v : in[1]) s += v * v;
          return s;
        },
        {{W, n_out, n_in}, {x, n_in, n}, {b, n_out, 1}, {W2, n_out, n_in}});
    CHECK_MESSAGE(r2.ok, r2.report);
  }
  Tape::Scope scope;
  const std::vector<float> z(12, 1.0f);
  CHECK_THROWS_AS(affine(tensor_constant(z, 3, 4), tensor_constant(z, 3, 4), tensor_constant({z.data(), 3}, 3, 1)),
                  std::invalid_argument);
  CHECK_THROWS_AS(affine(tensor_constant(z, 3, 4), tensor_constant(z, 4, 3), tensor_constant({z.data(), 2}, 2, 1)),
                  std::invalid_argument);
  CHECK_THROWS_AS(tensor_constant(z, 5, 3) + tensor_constant(z, 3, 4), std::invalid_argument);
}

TEST_CASE("row node and a small network: swish MLP with a softplus-power head") {
  for (std::size_t n : {1, 7, 32, 45}) {
    INFO("n = " << n);
    auto r = tensor_gradcheck([](std::span<const Tensor> in) { return reduce(row(in[0], 1) * row(in[0], 2)); },
                              [n](const Inputs& in) {
                                Vec y(n);
                                for (std::size_t c = 0; c < n; ++c) y[c] = in[0][n + c] * in[0][2 * n + c];
                                return reduce_ref(y);
                              },
                              {{grid(3 * n, -2, 2), 3, n}});
    CHECK_MESSAGE(r.ok, r.report);
    // 2 inputs -> 6 swish -> 3, head a = softplus(softplus(x0) * exp(sigmoid(x1) * logm) + x2),
    // loss sum_c w_c (a_c - t_c)^2; gradient w.r.t. all weights and the inputs.
    const std::size_t h = 6;
    const Vec logm = grid(n, -1, 1.5, 0.2), target = grid(n, 0.5, 3, 0.6);
    auto net = [&](std::span<const Tensor> in) {
      const std::vector<float> lm(logm.begin(), logm.end()), t(target.begin(), target.end());
      Tensor z = affine(in[3], swish(affine(in[1], in[0], in[2])), in[4]);
      Tensor a = softplus(softplus(row(z, 0)) * exp(sigmoid(row(z, 1)) * tensor_constant(lm, 1, n)) + row(z, 2));
      return reduce(square(a - tensor_constant(t, 1, n)));
    };
    auto net_ref = [&](const Inputs& in) {
      Vec hid = affine_ref(in[1], in[0], in[2], 2, h, n);
      for (double& v : hid) v = v * ref_sigmoid(v);
      const Vec z = affine_ref(in[3], hid, in[4], h, 3, n);
      Vec y(n);
      for (std::size_t c = 0; c < n; ++c) {
        const double lm = double(float(logm[c])), t = double(float(target[c]));
        const double a = ref_softplus(ref_softplus(z[c]) * std::exp(ref_sigmoid(z[n + c]) * lm) + z[2 * n + c]);
        y[c] = (a - t) * (a - t);
      }
      return reduce_ref(y);
    };
    auto rn = tensor_gradcheck(net, net_ref,
                               {{grid(2 * n, -1, 1), 2, n},
                                {grid(h * 2, -1, 1, 0.3), h, 2},
                                {grid(h, -0.3, 0.3), h, 1},
                                {grid(3 * h, -0.8, 0.8, 0.8), 3, h},
                                {{0.2, 1.0, -0.1}, 3, 1}});
    CHECK_MESSAGE(rn.ok, rn.report);
  }
}

TEST_CASE("parameter leaves write their gradient into caller memory; ParameterSet") {
  ParameterSet ps;
  const std::size_t W = ps.add(2, 3), b = ps.add(2, 1);
  CHECK(ps.size() == 8);
  CHECK(ps.offset(W) == 0);
  CHECK(ps.offset(b) == 6);
  CHECK(ps.rows(W) == 2);
  CHECK(ps.cols(W) == 3);
  for (std::size_t i = 0; i < ps.size(); ++i) ps.values()[i] = 0.1f * float(i) - 0.3f;
  const std::vector<float> xv = {1, 2, 3, 4, 5, 6, 7, 8, 9};  // 3 x 3
  std::vector<float> grad(ps.size(), 123.0f);              // stale content: overwritten
  for (int twice = 0; twice < 2; ++twice) {
    Tape::Scope scope;
    Tensor Wt = ps.leaf(W, grad.data()), bt = ps.leaf(b, grad.data());
    Tensor x = tensor_view(xv.data(), 3, 3);
    Var y = sum(affine(Wt, x, bt));
    backward(y);
    CHECK(Wt.adjoint_set());
    // dy/dW_ji = sum_c x_ic; dy/db_j = 3.
    for (std::size_t j = 0; j < 2; ++j) {
      for (std::size_t i = 0; i < 3; ++i)
        CHECK(grad[j * 3 + i] == doctest::Approx(xv[i * 3] + xv[i * 3 + 1] + xv[i * 3 + 2]));
      CHECK(grad[6 + j] == doctest::Approx(3.0));
    }
  }
  {
    // A leaf used twice accumulates; a leaf no gradient reaches leaves its buffer alone.
    std::fill(grad.begin(), grad.end(), 7.0f);
    Tape::Scope scope;
    Tensor Wt = ps.leaf(W, grad.data()), bt = ps.leaf(b, grad.data());
    Var y = sum(Wt * Wt) + sum(Wt);
    backward(y);
    for (std::size_t i = 0; i < 6; ++i) CHECK(grad[i] == doctest::Approx(2 * ps.values()[i] + 1));
    CHECK_FALSE(bt.adjoint_set());
    CHECK(grad[6] == 7.0f);
    CHECK(bt.adjoint(0) == 0.0f);
  }
  {
    // Without a gradient buffer: a constant view.
    Tape::Scope scope;
    Tensor Wt = ps.leaf(W, nullptr);
    CHECK_FALSE(Wt.needs_grad());
    CHECK(Wt.value(4) == ps.values()[4]);
    Var y = sum(exp(Wt));
    CHECK_FALSE(y.needs_grad());
  }
  Tape::Scope scope;
  CHECK_THROWS_AS(parameter(ps.values().data(), nullptr, 2, 3), std::invalid_argument);
  CHECK_THROWS_AS(tensor_constant(xv, 2, 2), std::invalid_argument);
  CHECK_THROWS_AS(row(tensor_constant(xv, 3, 3), 3), std::invalid_argument);
}

TEST_CASE("custom tensor node: caller kernels for forward and backward") {
  // y_i = x_i^3 + c_i x_i with c a constant input (no gradient), via the custom node.
  auto cube = [](Tensor x, Tensor c) {
    return tensor_custom(
        {x, c}, x.rows(), x.cols(),
        [&](std::span<float> y) {
          for (std::size_t i = 0; i < y.size(); ++i) y[i] = x.value(i) * x.value(i) * x.value(i) + c.value(i) * x.value(i);
        },
        [x, c](std::span<const float>, std::span<const float> dy) {
          auto dx = x.adjoints();
          CHECK(c.adjoints().empty());
          for (std::size_t i = 0; i < dx.size(); ++i)
            dx[i] += dy[i] * (3 * x.value(i) * x.value(i) + c.value(i));
        });
  };
  for (auto [rows, cols] : shapes) {
    const std::size_t n = rows * cols;
    const Vec cv = grid(n, -1, 1, 0.5);
    auto r = tensor_gradcheck(
        [&](std::span<const Tensor> in) {
          const std::vector<float> cf(cv.begin(), cv.end());
          return reduce(exp(cube(in[0], tensor_constant(cf, rows, cols))));
        },
        [&](const Inputs& in) {
          Vec y(n);
          for (std::size_t i = 0; i < n; ++i) {
            const double x = in[0][i], c = double(float(cv[i]));
            y[i] = std::exp(x * x * x + c * x);
          }
          return reduce_ref(y);
        },
        {{grid(n, -1, 1), rows, cols}});
    CHECK_MESSAGE(r.ok, r.report);
  }
}

TEST_CASE("tensor graphs reuse the arena: repeated scopes allocate nothing new") {
  const std::vector<float> W(16 * 8, 0.1f), b(16, 0.0f), x(8 * 64, 0.5f);
  std::vector<float> g(W.size());
  auto run = [&] {
    Tape::Scope scope;
    Tensor Wt = parameter(W.data(), g.data(), 16, 8);
    Tensor y = swish(affine(Wt, tensor_view(x.data(), 8, 64), tensor_view(b.data(), 16, 1)));
    backward(sum(y));
  };
  run();
  const std::size_t blocks = Tape::current().arena_blocks(), nodes = Tape::current().num_nodes();
  for (int i = 0; i < 100; ++i) run();
  CHECK(Tape::current().arena_blocks() == blocks);
  CHECK(Tape::current().num_nodes() == nodes);
}
