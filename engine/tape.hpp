// SPDX-License-Identifier: MIT
// Reverse-mode automatic differentiation on an arena-backed tape.
//
// A node is a dense array (scalar, vector or row-major matrix) with contiguous value and
// adjoint buffers, operand pointers and a backward function; nodes and their buffers live in
// a bump arena. Ops (engine/ops.hpp, engine/linalg.hpp, engine/densities.hpp) append nodes
// to the calling thread's tape; `backward(y)` seeds dy/dy = 1 and runs the backward functions
// in reverse order. A `Tape::Scope` rewinds the arena and the node list on exit, so that a
// sampler evaluating thousands of gradients per second allocates nothing after the first.
//
//   {
//     bactor::Tape::Scope scope;                    // everything below is freed on exit
//     auto x = bactor::variable(std::span<const double>(theta));
//     auto y = bactor::sum(bactor::square(x - 1.0));
//     bactor::backward(y);                          // x.adjoint(i) = dy/dx_i
//   }
//
// Nested scopes (the semantics of Stan's nested reverse mode). Scopes nest like blocks; the
// innermost open one is the *current* scope (with no Scope open, the whole tape is). A reverse
// pass — backward(y) or Tape::propagate() — runs the backward functions of the current
// scope's nodes only. Adjoints still flow into the outer nodes (created before the scope
// opened) that those nodes use, and accumulate there across inner passes, but the outer
// nodes' own backward functions are not run, so nothing is propagated twice. An outer leaf
// (variable) used directly by inner nodes thus reads the sum of the inner passes' gradients;
// an outer leaf reached only through outer intermediate nodes reads nothing yet. To carry the
// accumulated outer adjoints down, run ONE pass in the outer scope once the inner scopes have
// ended: Tape::propagate() (from the adjoints as they stand), or backward(z) for an outer
// output z (which adds dz/d(node) on top of them). Like any two passes over the same nodes,
// a second outer pass without zero_adjoints() in between propagates the same adjoints again.
// Example, with x = 2:
//
//   bactor::Tape::Scope outer;
//   auto x = bactor::variable(2.0);
//   auto u = bactor::square(x);                  // outer node
//   for (int k = 0; k < 3; ++k) {
//     bactor::Tape::Scope inner;
//     bactor::backward(bactor::sum(u * 3.0));     // inner nodes only: u.adjoint() += 3
//   }                                             // u.adjoint() == 9, x.adjoint() == 0
//   bactor::Tape::current().propagate();          // runs u's backward: x.adjoint() == 2x*9 == 36
//
// zero_adjoints() likewise clears the current scope's adjoints only (zero_all_adjoints()
// clears every node's), so an inner scope can rerun its own pass over its nodes without
// losing what earlier passes accumulated in the outer nodes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace bactor {

/// Always-on internal invariant check (throws std::logic_error; never used in backward passes).
#define BACTOR_ASSERT(cond)                                                                  \
  do {                                                                                       \
    if (!(cond)) throw std::logic_error(std::string("internal error: ") + #cond + " at " +  \
                                        __FILE__ + ":" + std::to_string(__LINE__));         \
  } while (false)

/// Bump allocator made of retained blocks; rewinding keeps the memory for reuse.
class Arena {
public:
  struct Mark {
    std::size_t block = 0, offset = 0;
  };
  explicit Arena(std::size_t first_block_bytes = std::size_t(1) << 16) : first_(first_block_bytes) {}
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  /// `bytes` of uninitialised memory aligned to 64 bytes, valid until a rewind past it.
  void* allocate(std::size_t bytes) {
    bytes = (bytes + 63) & ~std::size_t(63);
    if (cur_ < blocks_.size() && off_ + bytes <= blocks_[cur_].size) {
      void* p = blocks_[cur_].data + off_;
      off_ += bytes;
      return p;
    }
    return allocate_slow(bytes);
  }
  Mark mark() const noexcept { return {cur_, off_}; }
  void rewind(Mark m) noexcept {
    cur_ = m.block;
    off_ = m.offset;
  }
  /// Bytes handed out since construction or the last rewind to the start.
  std::size_t bytes_used() const noexcept;
  /// Bytes reserved from the system (never shrinks).
  std::size_t capacity() const noexcept;
  /// Number of system allocations made so far (blocks).
  std::size_t blocks() const noexcept { return blocks_.size(); }

private:
  struct Block {
    std::byte* data = nullptr;
    std::size_t size = 0;
  };
  struct Free {
    void operator()(std::byte* p) const noexcept { ::operator delete[](p, std::align_val_t(64)); }
  };
  void* allocate_slow(std::size_t bytes);
  std::vector<Block> blocks_;
  std::vector<std::unique_ptr<std::byte[], Free>> owned_;
  std::size_t cur_ = 0, off_ = 0, first_;
};

/// One tape entry: a dense rows x cols array (row-major) with value and adjoint buffers.
///
/// Adjoints are zeroed lazily: a new node's adjoint buffer is uninitialised and `adj_set` is
/// false, meaning "all zero". The first backward function that propagates into it either
/// stores (instead of adding) its contribution, via `claim_adjoint()`, or asks for a zeroed
/// buffer with `grad()`. Nodes no gradient reached are skipped by the reverse pass, so only
/// the adjoints actually used are ever written.
struct Node {
  double* val = nullptr;  // rows * cols values
  double* adj = nullptr;  // rows * cols adjoints (nullptr when the node needs no gradient)
  std::uint32_t rows = 1, cols = 1;
  std::uint32_t index = 0;             // position on the tape
  bool adj_set = false;                // adj holds values (false: the adjoint is all zero)
  void (*backward)(Node&) = nullptr;   // propagates adj into the operands' adj (null: leaf)
  Node* in[3] = {nullptr, nullptr, nullptr};  // operands
  double k = 0;                        // op constant (e.g. the exponent of pow)
  void* data = nullptr;                // op-specific arena data (custom nodes, saved values)
  std::size_t size() const noexcept { return std::size_t(rows) * cols; }
  bool needs_grad() const noexcept { return adj != nullptr; }
  /// Adjoint buffer to ADD into (zeroed on first use); nullptr when no gradient is needed.
  double* grad() noexcept {
    if (adj && !adj_set) {
      std::memset(adj, 0, size() * sizeof(double));
      adj_set = true;
    }
    return adj;
  }
  /// For backward functions that write the whole adjoint: true when it is still all zero
  /// (the caller then STORES its contribution instead of adding it); marks it as set.
  /// Call only on a node that needs a gradient, right before writing every element.
  bool claim_adjoint() noexcept {
    const bool fresh = !adj_set;
    adj_set = true;
    return fresh;
  }
};

/// Handle to a node on the current thread's tape (a pointer: cheap to copy, trivially
/// destructible). Invalid once the Scope that was open at its creation has ended.
class Var {
public:
  Var() = default;
  explicit Var(Node* n) noexcept : n_(n) {}
  Node* node() const noexcept { return n_; }
  std::size_t size() const noexcept { return n_->size(); }
  std::size_t rows() const noexcept { return n_->rows; }
  std::size_t cols() const noexcept { return n_->cols; }
  bool is_scalar() const noexcept { return n_->size() == 1; }
  /// True when gradients flow into this node (it depends on a variable).
  bool needs_grad() const noexcept { return n_->adj != nullptr; }
  /// First (for scalars: the) value.
  double value() const noexcept { return n_->val[0]; }
  double value(std::size_t i) const noexcept { return n_->val[i]; }
  std::span<const double> values() const noexcept { return {n_->val, n_->size()}; }
  /// Mutable values: only for leaves, before they are used by an op.
  std::span<double> mutable_values() const noexcept { return {n_->val, n_->size()}; }
  /// d(output)/d(this) after backward(); zero for constants.
  double adjoint(std::size_t i = 0) const noexcept { return n_->adj_set ? n_->adj[i] : 0.0; }
  /// Adjoint buffer (empty for constants); custom backward kernels add into it.
  std::span<double> adjoints() const noexcept { return {n_->grad(), n_->adj ? n_->size() : 0}; }

private:
  Node* n_ = nullptr;
};

class Tape;
namespace detail {
inline thread_local Tape* tls_tape = nullptr;
Tape& make_thread_tape();
} // namespace detail

/// The tape of the calling thread. Not copyable; obtained with Tape::current().
class Tape {
public:
  /// This thread's tape (created on first use).
  static Tape& current() {
    if (Tape* t = detail::tls_tape) return *t;
    return detail::make_thread_tape();
  }
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;
  ~Tape();

  /// Opens a nested scope on this thread's tape: the nodes created while it is the innermost
  /// open scope belong to it, reverse passes run only them (see the header comment), and its
  /// destructor rewinds the tape (nodes and arena) to its state at construction. Scopes must
  /// end in reverse order of creation (automatic variables do).
  class Scope {
  public:
    Scope()
        : tape_(Tape::current()), mark_(tape_.arena_.mark()), nodes_(tape_.nodes_.size()),
          outer_begin_(tape_.scope_begin_) {
      tape_.scope_begin_ = nodes_;
    }
    ~Scope() {
      tape_.rewind(mark_, nodes_);
      tape_.scope_begin_ = outer_begin_;
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

  private:
    Tape& tape_;
    Arena::Mark mark_;
    std::size_t nodes_;
    std::size_t outer_begin_;  // first node of the enclosing scope
  };

  /// New node of shape rows x cols with an uninitialised value buffer and, when
  /// `needs_grad`, a (lazily zeroed, see Node) adjoint buffer and the given backward function
  /// (op implementers).
  Node* make_node(std::size_t rows, std::size_t cols, bool needs_grad, void (*backward)(Node&)) {
    const std::size_t n = rows * cols;
    const std::size_t buf = (n * sizeof(double) + 63) & ~std::size_t(63);
    constexpr std::size_t head = (sizeof(Node) + 63) & ~std::size_t(63);
    auto* mem = static_cast<std::byte*>(arena_.allocate(head + (needs_grad ? 2 : 1) * buf));
    Node* node = ::new (mem) Node;
    node->val = reinterpret_cast<double*>(mem + head);
    if (needs_grad) {
      node->adj = reinterpret_cast<double*>(mem + head + buf);
      node->backward = backward;
    }
    node->rows = static_cast<std::uint32_t>(rows);
    node->cols = static_cast<std::uint32_t>(cols);
    node->index = static_cast<std::uint32_t>(nodes_.size());
    nodes_.push_back(node);
    return node;
  }
  /// Scratch memory valid as long as the nodes created now (op implementers).
  void* allocate(std::size_t bytes) { return arena_.allocate(bytes); }

  /// Reverse pass from scalar `y`: adj(y) += 1, then every node of the current scope
  /// recorded up to y, in reverse order, adds its adjoint times its partial derivatives to
  /// its operands' adjoints (operands in outer scopes receive them; their backward functions
  /// are not run: see the header comment). Adjoints add up over passes: to rerun a pass over
  /// the same nodes, zero_adjoints() first. Throws std::invalid_argument when `y` is empty,
  /// not a scalar, or was created outside the current scope.
  void backward(Var y);
  /// Reverse pass over all nodes of the current scope from the adjoints they hold, without a
  /// seed (Stan's grad()): after inner scopes have ended, carries the adjoints they
  /// accumulated in this scope's nodes down to this scope's leaves and outer operands.
  void propagate();
  /// Sets the adjoints of the current scope's nodes to zero (lazily: marks them unset); outer
  /// scopes' nodes keep theirs. With no Scope open: every node.
  void zero_adjoints() noexcept;
  /// Sets every adjoint on the tape to zero, in all scopes.
  void zero_all_adjoints() noexcept;
  /// Index of the first node of the current scope (0 with no Scope open).
  std::size_t scope_begin() const noexcept { return scope_begin_; }

  std::size_t num_nodes() const noexcept { return nodes_.size(); }
  std::size_t arena_bytes() const noexcept { return arena_.bytes_used(); }
  std::size_t arena_capacity() const noexcept { return arena_.capacity(); }
  std::size_t arena_blocks() const noexcept { return arena_.blocks(); }

private:
  friend Tape& detail::make_thread_tape();
  Tape();
  void rewind(Arena::Mark m, std::size_t nodes) noexcept {
    arena_.rewind(m);
    nodes_.resize(nodes);
  }
  void sweep(std::size_t end) const;
  Arena arena_;
  std::vector<Node*> nodes_;
  std::size_t scope_begin_ = 0;  // first node of the innermost open Scope
};

/// Independent variable (a leaf that receives gradients): scalar, vector, or rows x cols
/// matrix from row-major values.
Var variable(double value);
Var variable(std::span<const double> values);
Var variable(std::span<const double> values, std::size_t rows, std::size_t cols);
/// Constant (no gradient): scalar, vector, matrix. Values are copied onto the tape.
Var constant(double value);
Var constant(std::span<const double> values);
Var constant(std::span<const double> values, std::size_t rows, std::size_t cols);
/// Constant that refers to caller memory (no copy); the memory must outlive the node.
Var constant_view(std::span<const double> values, std::size_t rows, std::size_t cols);

/// Reverse pass from scalar y over the current scope of the thread's tape (see Tape::backward):
/// afterwards x.adjoint(i) holds dy/dx_i (added to what it held) for every x that y uses.
inline void backward(Var y) { Tape::current().backward(y); }

namespace detail {
template <class Bwd>
void custom_backward(Node& n) {
  auto& f = *static_cast<Bwd*>(n.data);
  f(std::span<const double>(n.val, n.size()), std::span<const double>(n.adj, n.size()));
}
} // namespace detail

/// Custom node: one tape entry whose forward and backward are user kernels (for fused hot
/// computations such as a whole likelihood).
///   `forward(std::span<double> y)` is called now and fills the rows x cols value;
///   `backward(std::span<const double> y, std::span<const double> dy)` runs in the reverse pass
///   and must ADD dy-weighted partial derivatives into the adjoints of the inputs
///   (`input.adjoints()`, empty for inputs that need no gradient).
/// `inputs` lists the Vars the node depends on (it needs a gradient if any of them does).
/// The backward callable is copied onto the arena and never destroyed, so it must be
/// trivially destructible: capture Vars, pointers, spans and numbers, not containers.
template <class Fwd, class Bwd>
Var custom(std::initializer_list<Var> inputs, std::size_t rows, std::size_t cols, Fwd&& forward,
           Bwd backward) {
  static_assert(std::is_trivially_destructible_v<Bwd>,
                "custom(): the backward callable must be trivially destructible");
  static_assert(alignof(Bwd) <= 64, "custom(): over-aligned backward callable");
  bool grad = false;
  for (const Var& v : inputs) grad = grad || v.needs_grad();
  Tape& tape = Tape::current();
  Node* n = tape.make_node(rows, cols, grad, &detail::custom_backward<Bwd>);
  // The callable is stored before forward() runs, so the node is complete even if it throws.
  if (grad) n->data = ::new (tape.allocate(sizeof(Bwd))) Bwd(std::move(backward));
  forward(std::span<double>(n->val, n->size()));
  return Var(n);
}

/// f(x) and its gradient for a scalar function built on the tape from one vector variable:
/// `f(Var x) -> Var` (scalar). Runs inside its own Scope, so repeated calls reuse memory.
template <class F>
double value_and_gradient(F&& f, std::span<const double> x, std::span<double> grad) {
  if (grad.size() != x.size())
    throw std::invalid_argument("value_and_gradient: grad has size " + std::to_string(grad.size()) +
                                ", expected " + std::to_string(x.size()));
  Tape::Scope scope;
  Var xv = variable(x);
  Var y = f(xv);
  backward(y);
  for (std::size_t i = 0; i < x.size(); ++i) grad[i] = xv.adjoint(i);
  return y.value();
}

} // namespace bactor
