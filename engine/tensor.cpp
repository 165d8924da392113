// SPDX-License-Identifier: MIT
// Forward and backward functions of engine/tensor.hpp.
#include <bactor/engine/tensor.hpp>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include <xsimd/xsimd.hpp>

#include "engine/dense_kernels.hpp"
#include "engine/kernels.hpp"
#include "engine/simd_math.hpp"

namespace bactor {

namespace {

using fb = xsimd::batch<float>;

TensorData& td(Node* n) { return *static_cast<TensorData*>(n->data); }

std::string shape(Tensor t) { return std::to_string(t.rows()) + "x" + std::to_string(t.cols()); }

/// Adjoint of tensor node n to ADD into, zeroed when it was still unset (lazy zeroing, see
/// Node); nullptr when n needs no gradient.
float* grad_of(Node* n) {
  if (!n->adj) return nullptr;
  TensorData& d = td(n);
  if (!n->adj_set) {
    std::memset(d.adj, 0, d.size() * sizeof(float));
    n->adj_set = true;
  }
  return d.adj;
}

constexpr std::size_t round64(std::size_t bytes) { return (bytes + 63) & ~std::size_t(63); }

Node* unary_node(Tensor x, void (*bwd)(Node&)) {
  Node* n = detail::make_tensor_node(x.rows(), x.cols(), x.needs_grad(), bwd);
  n->in[0] = x.node();
  return n;
}

void check_same(Tensor a, Tensor b, const char* what) {
  if (a.rows() != b.rows() || a.cols() != b.cols())
    throw std::invalid_argument(std::string(what) + ": shapes " + shape(a) + " and " + shape(b) + " differ");
}

/// y[i] = f(a[i], b[i]) (f on batches; the tail through a padded batch, as simd::map).
template <class F>
void map_binary(std::size_t n, const float* a, const float* b, float* y, F f) {
  constexpr std::size_t w = fb::size;
  std::size_t i = 0;
  for (; i + w <= n; i += w) f(fb::load_unaligned(a + i), fb::load_unaligned(b + i)).store_unaligned(y + i);
  if (i < n) {
    alignas(64) float ba[w], bb[w];
    std::fill(ba, ba + w, 1.0f);
    std::fill(bb, bb + w, 1.0f);
    std::copy(a + i, a + n, ba);
    std::copy(b + i, b + n, bb);
    f(fb::load_aligned(ba), fb::load_aligned(bb)).store_aligned(ba);
    std::copy(ba, ba + (n - i), y + i);
  }
}

/// Scratch for the padded last block of affine (per thread, grows as needed).
float* scratch(std::size_t floats) {
  thread_local std::vector<float, xsimd::aligned_allocator<float, 64>> buf;
  if (buf.size() < floats) buf.resize(floats);
  return buf.data();
}

} // namespace

std::span<float> Tensor::adjoints() const noexcept {
  float* g = grad_of(n_);
  return {g, g ? size() : 0};
}

namespace detail {
Node* make_tensor_node(std::size_t rows, std::size_t cols, bool grad, void (*backward)(Node&)) {
  Tape& tape = Tape::current();
  Node* n = tape.make_node(0, 0, grad, backward);
  const std::size_t buf = round64(rows * cols * sizeof(float));
  constexpr std::size_t head = round64(sizeof(TensorData));
  auto* mem = static_cast<std::byte*>(tape.allocate(head + (grad ? 2 : 1) * buf));
  auto* d = ::new (mem) TensorData;
  d->val = reinterpret_cast<float*>(mem + head);
  if (grad) d->adj = reinterpret_cast<float*>(mem + head + buf);
  d->rows = static_cast<std::uint32_t>(rows);
  d->cols = static_cast<std::uint32_t>(cols);
  n->data = d;
  return n;
}
} // namespace detail

// ---- leaves --------------------------------------------------------------------------------

namespace {
void check_leaf(std::size_t values, std::size_t rows, std::size_t cols, const char* what) {
  if (rows == 0 || cols == 0) throw std::invalid_argument(std::string(what) + ": empty tensor");
  if (values != rows * cols)
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(values) + " values for a " +
                                std::to_string(rows) + "x" + std::to_string(cols) + " tensor");
}
Tensor copy_leaf(std::span<const float> values, std::size_t rows, std::size_t cols, bool grad, const char* what) {
  check_leaf(values.size(), rows, cols, what);
  Node* n = detail::make_tensor_node(rows, cols, grad, nullptr);
  std::memcpy(td(n).val, values.data(), values.size() * sizeof(float));
  return Tensor(n);
}
/// Leaf whose buffers are caller memory (adj == nullptr: a constant).
Tensor view_leaf(const float* values, float* adj, std::size_t rows, std::size_t cols, const char* what) {
  check_leaf(rows * cols, rows, cols, what);
  Tape& tape = Tape::current();
  Node* n = tape.make_node(0, 0, adj != nullptr, nullptr);
  auto* d = ::new (tape.allocate(sizeof(TensorData))) TensorData;
  d->val = const_cast<float*>(values);  // never written: leaves have no forward
  d->adj = adj;
  d->rows = static_cast<std::uint32_t>(rows);
  d->cols = static_cast<std::uint32_t>(cols);
  n->data = d;
  return Tensor(n);
}
} // namespace

Tensor tensor_constant(std::span<const float> values, std::size_t rows, std::size_t cols) {
  return copy_leaf(values, rows, cols, false, "tensor_constant");
}
Tensor tensor_variable(std::span<const float> values, std::size_t rows, std::size_t cols) {
  return copy_leaf(values, rows, cols, true, "tensor_variable");
}
Tensor tensor_view(const float* values, std::size_t rows, std::size_t cols) {
  return view_leaf(values, nullptr, rows, cols, "tensor_view");
}
Tensor parameter(const float* values, float* grad, std::size_t rows, std::size_t cols) {
  if (!grad) throw std::invalid_argument("parameter: null gradient buffer");
  return view_leaf(values, grad, rows, cols, "parameter");
}

std::size_t ParameterSet::add(std::size_t rows, std::size_t cols) {
  if (rows == 0 || cols == 0) throw std::invalid_argument("ParameterSet::add: empty block");
  blocks_.push_back({values_.size(), rows, cols});
  values_.resize(values_.size() + rows * cols, 0.0f);
  return blocks_.size() - 1;
}

Tensor ParameterSet::leaf(std::size_t b, const float* values, float* grad) const {
  const Block& k = blocks_.at(b);
  if (!grad) return tensor_view(values + k.offset, k.rows, k.cols);
  return parameter(values + k.offset, grad + k.offset, k.rows, k.cols);
}

// ---- elementwise ---------------------------------------------------------------------------

namespace {
// The backward functions: y is the node, x = y.in[0] (b = y.in[1] for binary ops).
#define BACTOR_TENSOR_UNARY_BWD(name, expr)                                         \
  void name(Node& y) {                                                              \
    Node* xn = y.in[0];                                                             \
    const TensorData& Y = td(&y);                                                   \
    const float* xv = td(xn).val;                                                   \
    (void)xv;                                                                       \
    expr;                                                                           \
  }

BACTOR_TENSOR_UNARY_BWD(exp_bwd, simd::exp_backward<float>(Y.size(), Y.val, Y.adj, grad_of(xn)))
BACTOR_TENSOR_UNARY_BWD(log_bwd, simd::log_backward<float>(Y.size(), xv, Y.adj, grad_of(xn)))
BACTOR_TENSOR_UNARY_BWD(sigmoid_bwd, simd::sigmoid_backward<float>(Y.size(), Y.val, Y.adj, grad_of(xn)))
BACTOR_TENSOR_UNARY_BWD(tanh_bwd, simd::tanh_backward<float>(Y.size(), Y.val, Y.adj, grad_of(xn)))
BACTOR_TENSOR_UNARY_BWD(softplus_bwd,
                        simd::softplus_backward_saved<float>(Y.size(), static_cast<const float*>(Y.op), Y.adj,
                                                             grad_of(xn)))
BACTOR_TENSOR_UNARY_BWD(square_bwd, simd::map_acc<float>(Y.size(), xv, Y.adj, grad_of(xn),
                                                         [](auto x, auto d) { return (x + x) * d; }))
BACTOR_TENSOR_UNARY_BWD(neg_bwd, simd::map_acc<float>(Y.size(), Y.adj, Y.adj, grad_of(xn),
                                                      [](auto d, auto) { return -d; }))
BACTOR_TENSOR_UNARY_BWD(identity_bwd, simd::map_acc<float>(Y.size(), Y.adj, Y.adj, grad_of(xn),
                                                           [](auto d, auto) { return d; }))
#undef BACTOR_TENSOR_UNARY_BWD

void scale_bwd(Node& y) {
  const TensorData& Y = td(&y);
  const float c = float(y.k);
  simd::map_acc<float>(Y.size(), Y.adj, Y.adj, grad_of(y.in[0]), [c](auto d, auto) { return d * decltype(d)(c); });
}

// clip: lo in Node::k, hi in the op data.
void clip_bwd(Node& y) {
  const TensorData& Y = td(&y);
  const float lo = float(y.k), hi = *static_cast<const float*>(Y.op);
  simd::map_acc<float>(Y.size(), td(y.in[0]).val, Y.adj, grad_of(y.in[0]), [lo, hi](auto x, auto d) {
    using B = decltype(x);
    return xsimd::select((x > B(lo)) & (x < B(hi)), d, B(0.0f));
  });
}

// swish with saved s = sigmoid(x) in the op data; dx (+)= dy s (1 + x (1 - s)), stored when
// dx is still unset.
void swish_bwd(Node& y) {
  const TensorData& Y = td(&y);
  Node* xn = y.in[0];
  const bool store = xn->claim_adjoint();
  dense::swish_backward(Y.size(), td(xn).val, static_cast<const float*>(Y.op), Y.adj, td(xn).adj, store);
}

// Binary ops: a = in[0], b = in[1] (possibly the same node: contributions add up).
void add_bwd(Node& y) {
  const TensorData& Y = td(&y);
  for (int k = 0; k < 2; ++k)
    if (float* g = grad_of(y.in[k]))
      simd::map_acc<float>(Y.size(), Y.adj, Y.adj, g, [](auto d, auto) { return d; });
}
void sub_bwd(Node& y) {
  const TensorData& Y = td(&y);
  if (float* g = grad_of(y.in[0])) simd::map_acc<float>(Y.size(), Y.adj, Y.adj, g, [](auto d, auto) { return d; });
  if (float* g = grad_of(y.in[1])) simd::map_acc<float>(Y.size(), Y.adj, Y.adj, g, [](auto d, auto) { return -d; });
}
void mul_bwd(Node& y) {
  const TensorData& Y = td(&y);
  auto prod = [](auto d, auto o) { return d * o; };
  if (float* g = grad_of(y.in[0])) simd::map_acc<float>(Y.size(), Y.adj, td(y.in[1]).val, g, prod);
  if (float* g = grad_of(y.in[1])) simd::map_acc<float>(Y.size(), Y.adj, td(y.in[0]).val, g, prod);
}

template <class F>
Tensor binary(Tensor a, Tensor b, const char* what, void (*bwd)(Node&), F f) {
  check_same(a, b, what);
  Node* n = detail::make_tensor_node(a.rows(), a.cols(), a.needs_grad() || b.needs_grad(), bwd);
  n->in[0] = a.node();
  n->in[1] = b.node();
  map_binary(a.size(), a.data().val, b.data().val, td(n).val, f);
  return Tensor(n);
}
} // namespace

Tensor operator+(Tensor a, Tensor b) {
  return binary(a, b, "operator+", &add_bwd, [](fb x, fb y) { return x + y; });
}
Tensor operator-(Tensor a, Tensor b) {
  return binary(a, b, "operator-", &sub_bwd, [](fb x, fb y) { return x - y; });
}
Tensor operator*(Tensor a, Tensor b) {
  return binary(a, b, "operator*", &mul_bwd, [](fb x, fb y) { return x * y; });
}
Tensor operator+(Tensor x, float c) {
  Node* n = unary_node(x, &identity_bwd);
  simd::map<float>(x.size(), x.data().val, td(n).val, [c](auto v) { return v + decltype(v)(c); });
  return Tensor(n);
}
Tensor operator*(Tensor x, float c) {
  Node* n = unary_node(x, &scale_bwd);
  n->k = c;
  simd::map<float>(x.size(), x.data().val, td(n).val, [c](auto v) { return v * decltype(v)(c); });
  return Tensor(n);
}
Tensor operator*(float c, Tensor x) { return x * c; }
Tensor operator-(Tensor x) {
  Node* n = unary_node(x, &neg_bwd);
  simd::map<float>(x.size(), x.data().val, td(n).val, [](auto v) { return -v; });
  return Tensor(n);
}

Tensor exp(Tensor x) {
  Node* n = unary_node(x, &exp_bwd);
  simd::exp_forward<float>(x.size(), x.data().val, td(n).val);
  return Tensor(n);
}
Tensor log(Tensor x) {
  Node* n = unary_node(x, &log_bwd);
  simd::log_forward<float>(x.size(), x.data().val, td(n).val);
  return Tensor(n);
}
Tensor square(Tensor x) {
  Node* n = unary_node(x, &square_bwd);
  simd::map<float>(x.size(), x.data().val, td(n).val, [](auto v) { return v * v; });
  return Tensor(n);
}
Tensor softplus(Tensor x) {
  Node* n = unary_node(x, &softplus_bwd);
  TensorData& Y = td(n);
  auto* s = static_cast<float*>(Tape::current().allocate(round64(x.size() * sizeof(float))));
  simd::softplus_forward<float>(x.size(), x.data().val, Y.val, s);
  Y.op = s;
  return Tensor(n);
}
Tensor sigmoid(Tensor x) {
  Node* n = unary_node(x, &sigmoid_bwd);
  simd::sigmoid_forward<float>(x.size(), x.data().val, td(n).val);
  return Tensor(n);
}
Tensor tanh(Tensor x) {
  Node* n = unary_node(x, &tanh_bwd);
  simd::tanh_forward<float>(x.size(), x.data().val, td(n).val);
  return Tensor(n);
}
Tensor swish(Tensor x) {
  Node* n = unary_node(x, &swish_bwd);
  TensorData& Y = td(n);
  auto* s = static_cast<float*>(Tape::current().allocate(round64(x.size() * sizeof(float))));
  dense::swish_forward(x.size(), x.data().val, Y.val, s);
  Y.op = s;
  return Tensor(n);
}
Tensor clip(Tensor x, float lo, float hi) {
  if (!(lo <= hi)) throw std::invalid_argument("clip: need lo <= hi");
  Node* n = unary_node(x, &clip_bwd);
  n->k = lo;
  auto* h = static_cast<float*>(Tape::current().allocate(sizeof(float)));
  *h = hi;
  td(n).op = h;
  simd::map<float>(x.size(), x.data().val, td(n).val, [lo, hi](auto v) {
    using B = decltype(v);
    return xsimd::min(xsimd::max(v, B(lo)), B(hi));
  });
  return Tensor(n);
}

// ---- batched matrix ops --------------------------------------------------------------------

namespace {
// y = W x + b: W = in[0], x = in[1], b = in[2].
void affine_bwd(Node& y) {
  using dense::block;
  Node* Wn = y.in[0];
  Node* xn = y.in[1];
  Node* bn = y.in[2];
  const TensorData& Y = td(&y);
  const TensorData& X = td(xn);
  const std::size_t n_out = Y.rows, n_in = X.rows, n = Y.cols, full = n - n % block;
  const float* W = td(Wn).val;
  // Unset parameter adjoints are stored by the first block instead of zeroed and added to.
  float* dW = Wn->adj ? td(Wn).adj : nullptr;
  float* db = bn->adj ? td(bn).adj : nullptr;
  bool store_W = dW && Wn->claim_adjoint(), store_b = db && bn->claim_adjoint();
  if (dW || db) {
    if (n == block)
      dense::affine_backward_params<block>(n_in, n_out, X.val, n, Y.adj, n, dW, db, store_W, store_b);
    else
      for (std::size_t c = 0; c < full; c += block) {
        dense::affine_backward_params(n_in, n_out, X.val + c, n, Y.adj + c, n, dW, db, store_W, store_b);
        store_W = store_b = false;
      }
    if (full < n) {  // last partial block: zero-padded copies of x and dy
      const std::size_t r = n - full;
      float* px = scratch((n_in + n_out) * block);
      float* pdy = px + n_in * block;
      std::fill(px, px + (n_in + n_out) * block, 0.0f);
      for (std::size_t i = 0; i < n_in; ++i) std::copy_n(X.val + i * n + full, r, px + i * block);
      for (std::size_t j = 0; j < n_out; ++j) std::copy_n(Y.adj + j * n + full, r, pdy + j * block);
      dense::affine_backward_params<block>(n_in, n_out, px, block, pdy, block, dW, db, store_W, store_b);
    }
  }
  if (xn->adj) {
    const bool add = !xn->claim_adjoint();
    if (n == block)
      dense::affine_backward_input<block>(n_in, n_out, W, Y.adj, n, X.adj, n, add);
    else
      for (std::size_t c = 0; c < full; c += block)
        dense::affine_backward_input(n_in, n_out, W, Y.adj + c, n, X.adj + c, n, add);
    if (full < n) {
      const std::size_t r = n - full;
      float* pdy = scratch((n_in + n_out) * block);
      float* pdx = pdy + n_out * block;
      std::fill(pdy, pdy + n_out * block, 0.0f);
      for (std::size_t j = 0; j < n_out; ++j) std::copy_n(Y.adj + j * n + full, r, pdy + j * block);
      dense::affine_backward_input<block>(n_in, n_out, W, pdy, block, pdx, block, false);
      for (std::size_t i = 0; i < n_in; ++i)
        for (std::size_t k = 0; k < r; ++k) {
          float& d = X.adj[i * n + full + k];
          d = add ? d + pdx[i * block + k] : pdx[i * block + k];
        }
    }
  }
}

void row_bwd(Node& y) {
  const TensorData& Y = td(&y);
  float* g = grad_of(y.in[0]);
  const std::size_t i = std::size_t(y.k);
  simd::map_acc<float>(Y.size(), Y.adj, Y.adj, g + i * Y.cols, [](auto d, auto) { return d; });
}
} // namespace

Tensor affine(Tensor W, Tensor x, Tensor b) {
  using dense::block;
  if (W.cols() != x.rows() || b.size() != W.rows() || (b.rows() != 1 && b.cols() != 1))
    throw std::invalid_argument("affine: W " + shape(W) + ", x " + shape(x) + ", b " + shape(b) +
                                " (need W out x in, x in x n, b out x 1)");
  const std::size_t n_out = W.rows(), n_in = W.cols(), n = x.cols(), full = n - n % block;
  Node* node = detail::make_tensor_node(n_out, n, W.needs_grad() || x.needs_grad() || b.needs_grad(), &affine_bwd);
  node->in[0] = W.node();
  node->in[1] = x.node();
  node->in[2] = b.node();
  const float* Wv = W.data().val;
  const float* bv = b.data().val;
  const float* xv = x.data().val;
  float* yv = td(node).val;
  if (n == block)  // one block: the row stride known at compile time
    dense::affine_forward<block>(n_in, n_out, Wv, bv, xv, n, yv, n);
  else
    for (std::size_t c = 0; c < full; c += block) dense::affine_forward(n_in, n_out, Wv, bv, xv + c, n, yv + c, n);
  if (full < n) {  // last partial block through a zero-padded copy
    const std::size_t r = n - full;
    float* px = scratch((n_in + n_out) * block);
    float* py = px + n_in * block;
    std::fill(px, px + n_in * block, 0.0f);
    for (std::size_t i = 0; i < n_in; ++i) std::copy_n(xv + i * n + full, r, px + i * block);
    dense::affine_forward<block>(n_in, n_out, Wv, bv, px, block, py, block);
    for (std::size_t j = 0; j < n_out; ++j) std::copy_n(py + j * block, r, yv + j * n + full);
  }
  return Tensor(node);
}

Tensor row(Tensor x, std::size_t i) {
  if (i >= x.rows())
    throw std::invalid_argument("row: index " + std::to_string(i) + " out of range for " + shape(x));
  Node* n = detail::make_tensor_node(1, x.cols(), x.needs_grad(), &row_bwd);
  n->in[0] = x.node();
  n->k = double(i);
  std::copy_n(x.data().val + i * x.cols(), x.cols(), td(n).val);
  return Tensor(n);
}

// ---- reductions ----------------------------------------------------------------------------

namespace {
// Scalar double node y over tensor inputs: dy = y.adj[0].
void sum_bwd(Node& y) {
  const float d = float(y.adj[0]);
  Node* xn = y.in[0];
  simd::map_acc<float>(td(xn).size(), td(xn).val, td(xn).val, grad_of(xn),
                       [d](auto x, auto) { return decltype(x)(d); });
}
void dot_bwd(Node& y) {
  const float d = float(y.adj[0]);
  auto f = [d](auto o, auto) { return o * decltype(o)(d); };
  Node* a = y.in[0];
  Node* b = y.in[1];
  const std::size_t n = td(a).size();
  if (float* g = grad_of(a)) simd::map_acc<float>(n, td(b).val, td(b).val, g, f);
  if (float* g = grad_of(b)) simd::map_acc<float>(n, td(a).val, td(a).val, g, f);
}
} // namespace

Var sum(Tensor x) {
  Node* n = Tape::current().make_node(1, 1, x.needs_grad(), &sum_bwd);
  n->in[0] = x.node();
  double s = 0.0;
  for (float v : x.values()) s += double(v);
  n->val[0] = s;
  return Var(n);
}

Var dot(Tensor a, Tensor b) {
  if (a.size() != b.size())
    throw std::invalid_argument("dot: sizes " + std::to_string(a.size()) + " and " + std::to_string(b.size()) +
                                " differ");
  Node* n = Tape::current().make_node(1, 1, a.needs_grad() || b.needs_grad(), &dot_bwd);
  n->in[0] = a.node();
  n->in[1] = b.node();
  const float* av = a.data().val;
  const float* bv = b.data().val;
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += double(av[i]) * double(bv[i]);
  n->val[0] = s;
  return Var(n);
}

} // namespace bactor
