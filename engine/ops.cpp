// SPDX-License-Identifier: MIT
// Forward and backward functions of engine/ops.hpp.
#include <bactor/engine/ops.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "engine/dense_kernels.hpp"
#include "engine/kernels.hpp"

namespace bactor {

namespace {

std::string shape(const Node* n) { return std::to_string(n->rows) + "x" + std::to_string(n->cols); }

Tape& tape() { return Tape::current(); }

// ---- binary ops with scalar broadcasting ---------------------------------------------------
// Each Op has f(a, b) (forward), and da(a, b, y), db(a, b, y): the partial derivatives.

struct AddOp {
  static double f(double a, double b) { return a + b; }
  static double da(double, double, double) { return 1.0; }
  static double db(double, double, double) { return 1.0; }
};
struct SubOp {
  static double f(double a, double b) { return a - b; }
  static double da(double, double, double) { return 1.0; }
  static double db(double, double, double) { return -1.0; }
};
struct MulOp {
  static double f(double a, double b) { return a * b; }
  static double da(double, double b, double) { return b; }
  static double db(double a, double, double) { return a; }
};
struct DivOp {
  static double f(double a, double b) { return a / b; }
  static double da(double, double b, double) { return 1.0 / b; }
  // -y * (1 / b) rather than -y / b: in the fused backward loop 1 / b is then one division.
  static double db(double, double b, double y) { return -y * (1.0 / b); }
};
struct PowOp {
  static double f(double a, double b) { return std::pow(a, b); }
  static double da(double a, double b, double) { return b == 0.0 ? 0.0 : b * std::pow(a, b - 1.0); }
  static double db(double a, double, double y) { return y == 0.0 ? 0.0 : y * std::log(a); }
};

// Calls fn(integral_constant<bool, SA>, integral_constant<bool, SB>) for the broadcast case.
template <class Fn>
void dispatch(bool sa, bool sb, Fn&& fn) {
  using T = std::true_type;
  using F = std::false_type;
  if (sa) fn(T{}, F{});
  else if (sb) fn(F{}, T{});
  else fn(F{}, F{});
}

// dx[i] (+)= g(i) for i < n: stores when x's adjoint is still unset (lazy zeroing, see Node),
// so the adjoint needs no memset and the first contribution no load.
template <class G>
inline void accumulate(Node* x, std::size_t n, G&& g) {
  double* dx = x->adj;
  if (x->claim_adjoint())
    for (std::size_t i = 0; i < n; ++i) dx[i] = g(i);
  else
    for (std::size_t i = 0; i < n; ++i) dx[i] += g(i);
}
// dx[0] (+)= s.
inline void accumulate_scalar(Node* x, double s) {
  if (x->claim_adjoint()) x->adj[0] = s;
  else x->adj[0] += s;
}

// da (+)= dy Op::da, db (+)= dy Op::db in one pass over dy (a, b distinct, same size n);
// StoreA / StoreB: the adjoint was unset, so store instead of adding.
template <class Op, bool StoreA, bool StoreB>
void binary_backward_fused(std::size_t n, const double* __restrict av, const double* __restrict bv,
                           const double* __restrict yv, const double* __restrict dy, double* __restrict da,
                           double* __restrict db) {
  for (std::size_t i = 0; i < n; ++i) {
    const double ga = dy[i] * Op::da(av[i], bv[i], yv[i]);
    const double gb = dy[i] * Op::db(av[i], bv[i], yv[i]);
    da[i] = StoreA ? ga : da[i] + ga;
    db[i] = StoreB ? gb : db[i] + gb;
  }
}

template <class Op>
void binary_backward(Node& y) {
  Node* a = y.in[0];
  Node* b = y.in[1];
  const std::size_t n = y.size();
  const double* __restrict yv = y.val;
  const double* __restrict dy = y.adj;
  if (a == b) {  // y = op(x, x): dx (+)= dy (Op::da + Op::db)
    const double* __restrict xv = a->val;
    accumulate(a, n, [&](std::size_t i) {
      return dy[i] * (Op::da(xv[i], xv[i], yv[i]) + Op::db(xv[i], xv[i], yv[i]));
    });
    return;
  }
  if (a->adj && b->adj && a->size() == n && b->size() == n) {
    const bool store_a = a->claim_adjoint(), store_b = b->claim_adjoint();
    auto run = [&](auto SA, auto SB) {
      binary_backward_fused<Op, decltype(SA)::value, decltype(SB)::value>(n, a->val, b->val, yv, dy, a->adj, b->adj);
    };
    using T = std::true_type;
    using F = std::false_type;
    if (store_a) store_b ? run(T{}, T{}) : run(T{}, F{});
    else store_b ? run(F{}, T{}) : run(F{}, F{});
    return;
  }
  const bool sa = a->size() == 1 && n > 1, sb = b->size() == 1 && n > 1;
  dispatch(sa, sb, [&](auto SA, auto SB) {
    const double* __restrict av = a->val;
    const double* __restrict bv = b->val;
    if (a->adj) {
      if constexpr (SA) {
        double s = 0;
        for (std::size_t i = 0; i < n; ++i) s += dy[i] * Op::da(av[0], bv[i], yv[i]);
        accumulate_scalar(a, s);
      } else {
        accumulate(a, n, [&](std::size_t i) { return dy[i] * Op::da(av[i], bv[SB ? 0 : i], yv[i]); });
      }
    }
    if (b->adj) {
      if constexpr (SB) {
        double s = 0;
        for (std::size_t i = 0; i < n; ++i) s += dy[i] * Op::db(av[i], bv[0], yv[i]);
        accumulate_scalar(b, s);
      } else {
        accumulate(b, n, [&](std::size_t i) { return dy[i] * Op::db(av[SA ? 0 : i], bv[i], yv[i]); });
      }
    }
  });
}

template <class Op>
Var binary(Var a, Var b, const char* name) {
  Node* na = a.node();
  Node* nb = b.node();
  const std::size_t sa = na->size(), sb = nb->size();
  const bool same = na->rows == nb->rows && na->cols == nb->cols;
  if (!same && sa != 1 && sb != 1)
    throw std::invalid_argument(std::string(name) + ": shapes " + shape(na) + " and " + shape(nb) +
                                " do not match (only scalars broadcast)");
  const Node* big = (sa == 1 && !same) ? nb : na;
  Node* y = tape().make_node(big->rows, big->cols, na->adj || nb->adj, &binary_backward<Op>);
  y->in[0] = na;
  y->in[1] = nb;
  const std::size_t n = y->size();
  dispatch(sa == 1 && n > 1, sb == 1 && n > 1, [&](auto SA, auto SB) {
    // y's buffer is new: it aliases neither operand.
    const double* __restrict av = na->val;
    const double* __restrict bv = nb->val;
    double* __restrict yv = y->val;
    for (std::size_t i = 0; i < n; ++i) yv[i] = Op::f(av[SA ? 0 : i], bv[SB ? 0 : i]);
  });
  return Var(y);
}

// ---- ops with a constant operand c (stored in Node::k) ------------------------------------
// f(x, c) and dfdx(x, c, y).

struct AddC {
  static double f(double x, double c) { return x + c; }
  static double d(double, double, double) { return 1.0; }
};
struct MulC {
  static double f(double x, double c) { return x * c; }
  static double d(double, double c, double) { return c; }
};
struct DivC {  // x / c
  static double f(double x, double c) { return x / c; }
  static double d(double, double c, double) { return 1.0 / c; }
};
struct RSubC {  // c - x
  static double f(double x, double c) { return c - x; }
  static double d(double, double, double) { return -1.0; }
};
struct RDivC {  // c / x
  static double f(double x, double c) { return c / x; }
  static double d(double x, double, double y) { return -y / x; }
};
struct PowC {  // x^c
  static double f(double x, double c) { return std::pow(x, c); }
  static double d(double x, double c, double) { return c == 0.0 ? 0.0 : c * std::pow(x, c - 1.0); }
};
struct Neg {
  static double f(double x, double) { return -x; }
  static double d(double, double, double) { return -1.0; }
};
struct Square {
  static double f(double x, double) { return x * x; }
  static double d(double x, double, double) { return 2.0 * x; }
};
struct Abs {
  static double f(double x, double) { return std::abs(x); }
  static double d(double x, double, double) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }
};

template <class Op>
void with_constant_backward(Node& y) {
  const Node* x = y.in[0];
  const std::size_t n = y.size();
  const double c = y.k;
  const double* __restrict xv = x->val;
  const double* __restrict yv = y.val;
  const double* __restrict dy = y.adj;
  accumulate(y.in[0], n, [&](std::size_t i) { return dy[i] * Op::d(xv[i], c, yv[i]); });
}

template <class Op>
Var with_constant(Var x, double c) {
  Node* nx = x.node();
  Node* y = tape().make_node(nx->rows, nx->cols, nx->adj != nullptr, &with_constant_backward<Op>);
  y->in[0] = nx;
  y->k = c;
  const std::size_t n = y->size();
  const double* __restrict xv = nx->val;
  double* __restrict yv = y->val;
  for (std::size_t i = 0; i < n; ++i) yv[i] = Op::f(xv[i], c);
  return Var(y);
}

// ---- unary ops backed by the SIMD kernels --------------------------------------------------

using Fwd = void (*)(std::size_t, const double*, double*);
using Bwd = void (*)(std::size_t, const double*, const double*, double*);

// UsesY: the backward kernel reads the output y instead of the input x.
template <Bwd B, bool UsesY>
void kernel_backward(Node& y) {
  Node* x = y.in[0];
  B(y.size(), UsesY ? y.val : x->val, y.adj, x->grad());
}

template <Fwd F, Bwd B, bool UsesY>
Var kernel_unary(Var x) {
  Node* nx = x.node();
  Node* y = tape().make_node(nx->rows, nx->cols, nx->adj != nullptr, &kernel_backward<B, UsesY>);
  y->in[0] = nx;
  F(y->size(), nx->val, y->val);
  return Var(y);
}

} // namespace

Var operator+(Var a, Var b) { return binary<AddOp>(a, b, "operator+"); }
Var operator-(Var a, Var b) { return binary<SubOp>(a, b, "operator-"); }
Var operator*(Var a, Var b) { return binary<MulOp>(a, b, "operator*"); }
Var operator/(Var a, Var b) { return binary<DivOp>(a, b, "operator/"); }
Var pow(Var a, Var b) { return binary<PowOp>(a, b, "pow"); }

Var operator-(Var x) { return with_constant<Neg>(x, 0.0); }
Var operator+(Var x, double c) { return with_constant<AddC>(x, c); }
Var operator+(double c, Var x) { return with_constant<AddC>(x, c); }
Var operator-(Var x, double c) { return with_constant<AddC>(x, -c); }
Var operator-(double c, Var x) { return with_constant<RSubC>(x, c); }
Var operator*(Var x, double c) { return with_constant<MulC>(x, c); }
Var operator*(double c, Var x) { return with_constant<MulC>(x, c); }
Var operator/(Var x, double c) { return with_constant<DivC>(x, c); }
Var operator/(double c, Var x) { return with_constant<RDivC>(x, c); }
Var pow(Var x, double p) { return with_constant<PowC>(x, p); }
Var square(Var x) { return with_constant<Square>(x, 0.0); }
Var abs(Var x) { return with_constant<Abs>(x, 0.0); }

Var exp(Var x) { return kernel_unary<simd::exp_forward<double>, simd::exp_backward<double>, true>(x); }
Var log(Var x) { return kernel_unary<simd::log_forward<double>, simd::log_backward<double>, false>(x); }
Var log1p(Var x) { return kernel_unary<simd::log1p_forward<double>, simd::log1p_backward<double>, false>(x); }
Var expm1(Var x) { return kernel_unary<simd::expm1_forward<double>, simd::expm1_backward<double>, true>(x); }
Var sqrt(Var x) { return kernel_unary<simd::sqrt_forward<double>, simd::sqrt_backward<double>, true>(x); }
namespace {
// softplus and swish save sigmoid(x) (in Node::data) when a gradient is needed.
void softplus_saved_backward(Node& y) {
  simd::softplus_backward_saved(y.size(), static_cast<const double*>(y.data), y.adj, y.in[0]->grad());
}
void swish_saved_backward(Node& y) {  // the dense layers' swish (engine/dense_kernels.hpp)
  Node* x = y.in[0];
  const bool store = x->claim_adjoint();
  dense::swish_backward(y.size(), x->val, static_cast<const double*>(y.data), y.adj, x->adj, store);
}
template <void (*Fwd)(std::size_t, const double*, double*),
          void (*FwdSave)(std::size_t, const double*, double*, double*), void (*Bwd)(Node&)>
Var saving_unary(Var x) {
  Node* nx = x.node();
  if (!nx->adj) {
    Node* y = tape().make_node(nx->rows, nx->cols, false, nullptr);
    Fwd(y->size(), nx->val, y->val);
    return Var(y);
  }
  Tape& t = tape();
  Node* y = t.make_node(nx->rows, nx->cols, true, Bwd);
  y->in[0] = nx;
  auto* s = static_cast<double*>(t.allocate(y->size() * sizeof(double)));
  y->data = s;
  FwdSave(y->size(), nx->val, y->val, s);
  return Var(y);
}
} // namespace

Var softplus(Var x) {
  return saving_unary<simd::softplus_forward<double>, simd::softplus_forward<double>, softplus_saved_backward>(x);
}
Var sigmoid(Var x) {
  return kernel_unary<simd::sigmoid_forward<double>, simd::sigmoid_backward<double>, true>(x);
}
Var log_sigmoid(Var x) {
  return kernel_unary<simd::log_sigmoid_forward<double>, simd::log_sigmoid_backward<double>, false>(x);
}
Var swish(Var x) {
  return saving_unary<dense::swish_forward<double>, dense::swish_forward<double>, swish_saved_backward>(x);
}
Var tanh(Var x) { return kernel_unary<simd::tanh_forward<double>, simd::tanh_backward<double>, true>(x); }

// ---- reductions ---------------------------------------------------------------------------

namespace {
void sum_backward(Node& y) {
  Node* x = y.in[0];
  const double g = y.adj[0] * y.k;  // k = 1 for sum, 1/n for mean
  accumulate(x, x->size(), [g](std::size_t) { return g; });
}
Var sum_scaled(Var x, double scale) {
  Node* nx = x.node();
  Node* y = tape().make_node(1, 1, nx->adj != nullptr, &sum_backward);
  y->in[0] = nx;
  y->k = scale;
  y->val[0] = simd::sum(nx->size(), nx->val) * scale;
  return Var(y);
}

void dot_backward(Node& y) {
  Node* a = y.in[0];
  Node* b = y.in[1];
  const double g = y.adj[0];
  const double* av = a->val;
  const double* bv = b->val;
  if (a->adj) accumulate(a, a->size(), [&](std::size_t i) { return g * bv[i]; });
  if (b->adj) accumulate(b, b->size(), [&](std::size_t i) { return g * av[i]; });
}

void lse_backward(Node& y) {
  // data holds exp(x_i - m) from the forward pass and k = sum_i exp(x_i - m), so the
  // softmax is data / k.
  Node* x = y.in[0];
  if (!std::isfinite(y.val[0])) return;
  simd::axpy(x->size(), y.adj[0] / y.k, static_cast<const double*>(y.data), x->grad());
}

void element_backward(Node& y) {
  Node* x = y.in[0];
  const std::size_t start = static_cast<std::size_t>(y.k);
  const std::size_t n = y.size();
  double* dx = x->grad();
  for (std::size_t j = 0; j < n; ++j) dx[start + j] += y.adj[j];
}

void concat_backward(Node& y) {
  Node* a = y.in[0];
  Node* b = y.in[1];
  const std::size_t na = a->size();
  if (a->adj) accumulate(a, na, [&](std::size_t i) { return y.adj[i]; });
  if (b->adj) accumulate(b, b->size(), [&](std::size_t i) { return y.adj[na + i]; });
}
} // namespace

Var sum(Var x) { return sum_scaled(x, 1.0); }
Var mean(Var x) { return sum_scaled(x, 1.0 / double(x.size())); }

Var dot(Var a, Var b) {
  if (a.size() != b.size())
    throw std::invalid_argument("dot: sizes " + std::to_string(a.size()) + " and " +
                                std::to_string(b.size()) + " differ");
  Node* y = tape().make_node(1, 1, a.needs_grad() || b.needs_grad(), &dot_backward);
  y->in[0] = a.node();
  y->in[1] = b.node();
  y->val[0] = simd::dot(a.size(), a.node()->val, b.node()->val);
  return Var(y);
}

Var log_sum_exp(Var x) {
  Node* nx = x.node();
  const std::size_t n = nx->size();
  Tape& t = tape();
  Node* y = t.make_node(1, 1, nx->adj != nullptr, &lse_backward);
  y->in[0] = nx;
  double* tmp = static_cast<double*>(t.allocate(n * sizeof(double)));
  y->data = tmp;
  const double m = *std::max_element(nx->val, nx->val + n);
  if (!std::isfinite(m)) {
    // All -inf (or a +inf / NaN present): the shifted form would give NaN; the value is m.
    y->val[0] = m;
    return Var(y);
  }
  for (std::size_t i = 0; i < n; ++i) tmp[i] = nx->val[i] - m;
  simd::exp_forward(n, tmp, tmp);
  y->k = simd::sum(n, tmp);
  y->val[0] = m + std::log(y->k);
  return Var(y);
}

Var element(Var x, std::size_t i) { return slice(x, i, 1); }

Var slice(Var x, std::size_t start, std::size_t len) {
  if (len == 0 || start + len > x.size())
    throw std::invalid_argument("slice: elements [" + std::to_string(start) + ", " +
                                std::to_string(start + len) + ") of an array of size " +
                                std::to_string(x.size()));
  Node* y = tape().make_node(len, 1, x.needs_grad(), &element_backward);
  y->in[0] = x.node();
  y->k = double(start);
  std::copy(x.node()->val + start, x.node()->val + start + len, y->val);
  return Var(y);
}

Var concat(Var a, Var b) {
  const std::size_t na = a.size(), nb = b.size();
  Node* y = tape().make_node(na + nb, 1, a.needs_grad() || b.needs_grad(), &concat_backward);
  y->in[0] = a.node();
  y->in[1] = b.node();
  std::copy(a.node()->val, a.node()->val + na, y->val);
  std::copy(b.node()->val, b.node()->val + nb, y->val + na);
  return Var(y);
}

} // namespace bactor
