// SPDX-License-Identifier: MIT
#include <bactor/engine/tape.hpp>

#include <algorithm>

namespace bactor {

std::size_t Arena::bytes_used() const noexcept {
  std::size_t s = off_;
  for (std::size_t b = 0; b < cur_ && b < blocks_.size(); ++b) s += blocks_[b].size;
  return s;
}

std::size_t Arena::capacity() const noexcept {
  std::size_t s = 0;
  for (const auto& b : blocks_) s += b.size;
  return s;
}

void* Arena::allocate_slow(std::size_t bytes) {
  // Move to the next retained block if it is large enough; otherwise insert a fresh block
  // there (at least twice the largest so far, so the number of blocks stays logarithmic).
  // Note: the unused tail of the current block is skipped (and counted in bytes_used).
  const std::size_t next = blocks_.empty() ? 0 : cur_ + 1;
  if (next < blocks_.size() && bytes <= blocks_[next].size) {
    cur_ = next;
    off_ = bytes;
    return blocks_[cur_].data;
  }
  std::size_t largest = first_ / 2;
  for (const auto& b : blocks_) largest = std::max(largest, b.size);
  const std::size_t size = std::max(2 * largest, bytes);
  owned_.emplace_back(static_cast<std::byte*>(::operator new[](size, std::align_val_t(64))));
  blocks_.insert(blocks_.begin() + static_cast<std::ptrdiff_t>(next), Block{owned_.back().get(), size});
  cur_ = next;
  off_ = bytes;
  return blocks_[cur_].data;
}

namespace detail {
Tape& make_thread_tape() {
  thread_local Tape tape;
  tls_tape = &tape;
  return tape;
}
} // namespace detail

Tape::Tape() { nodes_.reserve(4096); }

Tape::~Tape() {
  if (detail::tls_tape == this) detail::tls_tape = nullptr;
}

void Tape::backward(Var y) {
  if (!y.node()) throw std::invalid_argument("backward: empty Var");
  if (y.size() != 1)
    throw std::invalid_argument("backward: output must be a scalar, got " + std::to_string(y.rows()) +
                                "x" + std::to_string(y.cols()));
  Node* out = y.node();
  BACTOR_ASSERT(out->index < nodes_.size() && nodes_[out->index] == out);
  if (out->index < scope_begin_)
    throw std::invalid_argument("backward: y was created outside the current Tape::Scope (a nested "
                                "pass runs only the current scope's nodes; call backward after "
                                "the inner scope has ended)");
  if (!out->adj) return;  // y does not depend on any variable
  out->grad()[0] += 1.0;
  sweep(out->index + 1);
}

void Tape::propagate() { sweep(nodes_.size()); }

void Tape::sweep(std::size_t end) const {
  // Nodes [scope_begin_, end) in reverse order. A node whose adjoint was never set received
  // no gradient: its backward would add zeros.
  // (Counting down to 0 from the scope's base keeps the loop as tight as a whole-tape sweep.)
  Node* const* base = nodes_.data() + scope_begin_;
  for (std::size_t i = end - scope_begin_; i-- > 0;) {
    Node* n = base[i];
    if (n->adj_set && n->backward) n->backward(*n);
  }
}

void Tape::zero_adjoints() noexcept {
  for (std::size_t i = scope_begin_; i < nodes_.size(); ++i) nodes_[i]->adj_set = false;
}

void Tape::zero_all_adjoints() noexcept {
  for (Node* n : nodes_) n->adj_set = false;
}

namespace {
Var leaf(std::span<const double> values, std::size_t rows, std::size_t cols, bool grad, const char* what) {
  if (values.size() != rows * cols)
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(values.size()) +
                                " values for a " + std::to_string(rows) + "x" + std::to_string(cols) +
                                " array");
  if (rows == 0 || cols == 0) throw std::invalid_argument(std::string(what) + ": empty array");
  Node* n = Tape::current().make_node(rows, cols, grad, nullptr);
  std::memcpy(n->val, values.data(), values.size() * sizeof(double));
  return Var(n);
}
} // namespace

Var variable(double value) { return leaf({&value, 1}, 1, 1, true, "variable"); }
Var variable(std::span<const double> values) { return leaf(values, values.size(), 1, true, "variable"); }
Var variable(std::span<const double> values, std::size_t rows, std::size_t cols) {
  return leaf(values, rows, cols, true, "variable");
}
Var constant(double value) { return leaf({&value, 1}, 1, 1, false, "constant"); }
Var constant(std::span<const double> values) { return leaf(values, values.size(), 1, false, "constant"); }
Var constant(std::span<const double> values, std::size_t rows, std::size_t cols) {
  return leaf(values, rows, cols, false, "constant");
}
Var constant_view(std::span<const double> values, std::size_t rows, std::size_t cols) {
  if (values.size() != rows * cols || values.empty())
    throw std::invalid_argument("constant_view: " + std::to_string(values.size()) + " values for a " +
                                std::to_string(rows) + "x" + std::to_string(cols) + " array");
  // A node with an empty value buffer whose pointer is redirected to the caller's memory.
  Node* n = Tape::current().make_node(0, 0, false, nullptr);
  n->rows = static_cast<std::uint32_t>(rows);
  n->cols = static_cast<std::uint32_t>(cols);
  n->val = const_cast<double*>(values.data());  // never written: constants have no backward
  return Var(n);
}

} // namespace bactor
