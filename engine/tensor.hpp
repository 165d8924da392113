// SPDX-License-Identifier: MIT
// Float32 tensors on the tape: batched dense nodes for training networks.
//
// A Tensor is a node of the calling thread's tape (engine/tape.hpp) that holds a rows x cols
// float32 array (row-major, 64-byte aligned) and, when it depends on a variable, a float32
// adjoint. It follows the tape's rules: ops append nodes, `Tape::Scope` frees them, adjoints
// are zeroed lazily (Node::adj_set), and `backward(y)` from a scalar Var runs every node's
// backward function in reverse order. Tensors and double Vars meet in the reductions (sum, dot),
// whose result is a scalar Var. (The double node under a Tensor is 0x0: its float buffers live in
// TensorData, reached through Node::data; Var and Tensor are distinct types.)
//
// Batched layout: features x samples, one row per feature with the samples contiguous, so
// elementwise kernels and the affine map run along SIMD lanes over samples:
//
//   {
//     bactor::Tape::Scope scope;
//     auto x = bactor::tensor_view(inputs, n_in, batch);             // constant, no copy
//     auto h = bactor::swish(bactor::affine(W1, x, b1));             // W1, b1: parameter()s
//     auto y = bactor::affine(W2, h, b2);
//     auto loss = bactor::sum(bactor::square(y - target));           // scalar (double) Var
//     bactor::backward(loss);                                        // gradients in W1, b1, ...
//   }
//
// Every op states its value and the derivative its backward adds (dy: the result's adjoint).
// Shapes must match exactly unless stated; mismatches throw std::invalid_argument.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include <bactor/engine/aligned.hpp>
#include <bactor/engine/tape.hpp>

namespace bactor {

/// Buffers of a tensor node (at Node::data).
struct TensorData {
  float* val = nullptr;
  float* adj = nullptr;            // nullptr when no gradient flows here
  std::uint32_t rows = 0, cols = 0;
  void* op = nullptr;              // op-specific data (saved values, custom callables)
  std::size_t size() const noexcept { return std::size_t(rows) * cols; }
};

/// Handle to a float tensor node on the current thread's tape (a pointer: cheap to copy).
/// Invalid once the Scope that was open at its creation has ended.
class Tensor {
public:
  Tensor() = default;
  explicit Tensor(Node* n) noexcept : n_(n) {}
  Node* node() const noexcept { return n_; }
  TensorData& data() const noexcept { return *static_cast<TensorData*>(n_->data); }
  std::size_t rows() const noexcept { return data().rows; }
  std::size_t cols() const noexcept { return data().cols; }
  std::size_t size() const noexcept { return data().size(); }
  /// True when gradients flow into this tensor (it depends on a variable or parameter).
  bool needs_grad() const noexcept { return n_->adj != nullptr; }
  float value(std::size_t i = 0) const noexcept { return data().val[i]; }
  std::span<const float> values() const noexcept { return {data().val, size()}; }
  /// Mutable values: only for leaves, before they are used by an op.
  std::span<float> mutable_values() const noexcept { return {data().val, size()}; }
  /// True when a gradient reached this tensor in the last reverse pass (else it is zero).
  bool adjoint_set() const noexcept { return n_->adj_set; }
  /// d(output)/d(element i) after backward(); zero for constants.
  float adjoint(std::size_t i = 0) const noexcept { return n_->adj_set ? data().adj[i] : 0.0f; }
  /// Adjoint buffer to ADD into (zeroed on first use), empty when no gradient flows here: for
  /// custom backward kernels.
  std::span<float> adjoints() const noexcept;

private:
  Node* n_ = nullptr;
};

// ---- leaves --------------------------------------------------------------------------------

/// Constant (no gradient), values copied onto the tape.
Tensor tensor_constant(std::span<const float> values, std::size_t rows, std::size_t cols);
/// Constant that refers to caller memory (no copy); the memory must outlive the node.
Tensor tensor_view(const float* values, std::size_t rows, std::size_t cols);
/// Independent variable (values copied; its adjoint lives on the tape).
Tensor tensor_variable(std::span<const float> values, std::size_t rows, std::size_t cols);
/// Parameter leaf on caller memory: values are read from `values` (no copy) and the reverse
/// pass writes the gradient into `grad` (rows * cols floats): its first contribution is
/// stored, later ones added, so `grad`'s previous content does not matter; when no gradient
/// reaches the leaf, `grad` is left as it was and adjoint_set() is false.
Tensor parameter(const float* values, float* grad, std::size_t rows, std::size_t cols);

/// A flat float32 parameter vector (64-byte aligned) cut into blocks (matrices, bias vectors)
/// numbered in the order they are added: the storage an optimiser (engine/optim.hpp) updates.
/// Blocks are laid out in order, without padding, so the vector can be saved as is.
class ParameterSet {
public:
  /// Appends a rows x cols block (zero-initialised); returns its index.
  std::size_t add(std::size_t rows, std::size_t cols);
  std::size_t blocks() const noexcept { return blocks_.size(); }
  std::size_t size() const noexcept { return values_.size(); }
  std::size_t offset(std::size_t block) const { return blocks_.at(block).offset; }
  std::size_t rows(std::size_t block) const { return blocks_.at(block).rows; }
  std::size_t cols(std::size_t block) const { return blocks_.at(block).cols; }
  std::span<float> values() noexcept { return values_; }
  std::span<const float> values() const noexcept { return values_; }
  std::span<float> block(std::size_t b) { return {values_.data() + offset(b), rows(b) * cols(b)}; }
  /// Leaf of block b on the current tape reading `values` (the set's own values or a
  /// snapshot of them, size()) and writing its gradient to grad + offset(b) (see parameter()).
  /// With grad == nullptr, a constant view (forward passes only).
  Tensor leaf(std::size_t b, const float* values, float* grad) const;
  Tensor leaf(std::size_t b, float* grad) const { return leaf(b, values_.data(), grad); }

private:
  struct Block {
    std::size_t offset, rows, cols;
  };
  std::vector<Block> blocks_;
  std::vector<float, AlignedAllocator<float>> values_;
};

// ---- elementwise (equal shapes; a float operand is a constant) ----------------------------

/// y = a + b;  da += dy, db += dy.
Tensor operator+(Tensor a, Tensor b);
/// y = a - b;  da += dy, db -= dy.
Tensor operator-(Tensor a, Tensor b);
/// y = a * b;  da += dy b, db += dy a.
Tensor operator*(Tensor a, Tensor b);
/// y = x + c;  dx += dy.
Tensor operator+(Tensor x, float c);
/// y = c x;  dx += c dy.
Tensor operator*(Tensor x, float c);
Tensor operator*(float c, Tensor x);
/// y = -x;  dx -= dy.
Tensor operator-(Tensor x);
/// y = exp(x);  dx += dy y.
Tensor exp(Tensor x);
/// y = log(x);  dx += dy / x.
Tensor log(Tensor x);
/// y = x^2;  dx += 2 x dy.
Tensor square(Tensor x);
/// y = log(1 + exp(x)) (no overflow);  dx += dy sigmoid(x).
Tensor softplus(Tensor x);
/// y = 1 / (1 + exp(-x));  dx += dy y (1 - y).
Tensor sigmoid(Tensor x);
/// y = x s, s = sigmoid(x) (swish / SiLU; s saved);  dx += dy s (1 + x (1 - s)).
/// exp is evaluated without special cases (saturating beyond |x| ~ 87).
Tensor swish(Tensor x);
/// y = tanh(x);  dx += dy (1 - y^2).
Tensor tanh(Tensor x);
/// y = min(max(x, lo), hi);  dx += dy where lo < x < hi (0 where clipped).
Tensor clip(Tensor x, float lo, float hi);

// ---- batched matrix ops --------------------------------------------------------------------

/// y = W x + b 1^T: W out x in, x in x n (n samples), b out x 1; y out x n.
///   dW += dy x^T,  db += dy 1 (row sums),  dx += W^T dy.
/// SIMD over blocks of 32 samples (a last partial block through a zero-padded copy).
Tensor affine(Tensor W, Tensor x, Tensor b);
/// Row i of x (1 x cols);  dx_row_i += dy.
Tensor row(Tensor x, std::size_t i);

// ---- reductions to a double scalar ---------------------------------------------------------

/// y = sum_i x_i (accumulated in double);  dx_i += dy.
Var sum(Tensor x);
/// y = sum_i a_i b_i (accumulated in double; equal sizes);  da += dy b, db += dy a.
Var dot(Tensor a, Tensor b);

// ---- custom nodes --------------------------------------------------------------------------

namespace detail {
/// New tensor node with a value buffer and, when `grad`, an adjoint and backward function
/// (op implementers; operands go into Node::in).
Node* make_tensor_node(std::size_t rows, std::size_t cols, bool grad, void (*backward)(Node&));
template <class Bwd>
void tensor_custom_backward(Node& n) {
  auto& d = *static_cast<TensorData*>(n.data);
  auto& f = *static_cast<Bwd*>(d.op);
  f(std::span<const float>(d.val, d.size()), std::span<const float>(d.adj, d.size()));
}
} // namespace detail

/// Custom tensor node whose forward and backward are caller kernels (e.g. a fused SIMD
/// Monte Carlo loss).
///   `forward(std::span<float> y)` is called now and fills the rows x cols value;
///   `backward(std::span<const float> y, std::span<const float> dy)` runs in the reverse pass and
///   must ADD dy-weighted partial derivatives into the inputs' adjoints (`input.adjoints()`,
///   empty for inputs that need no gradient).
/// The backward callable is copied onto the arena and never destroyed, so it must be trivially
/// destructible (capture Tensors, pointers and numbers, not containers).
template <class Fwd, class Bwd>
Tensor tensor_custom(std::initializer_list<Tensor> inputs, std::size_t rows, std::size_t cols, Fwd&& forward,
                     Bwd backward) {
  static_assert(std::is_trivially_destructible_v<Bwd>,
                "tensor_custom(): the backward callable must be trivially destructible");
  static_assert(alignof(Bwd) <= 64, "tensor_custom(): over-aligned backward callable");
  bool grad = false;
  for (const Tensor& t : inputs) grad = grad || t.needs_grad();
  Node* n = detail::make_tensor_node(rows, cols, grad, &detail::tensor_custom_backward<Bwd>);
  auto& d = *static_cast<TensorData*>(n->data);
  if (grad) d.op = ::new (Tape::current().allocate(sizeof(Bwd))) Bwd(std::move(backward));
  forward(std::span<float>(d.val, d.size()));
  return Tensor(n);
}

} // namespace bactor
