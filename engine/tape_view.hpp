// SPDX-License-Identifier: MIT
// Leaves over caller memory (private header, header-only): a variable whose values are read
// from the caller's array and whose adjoint buffer IS the caller's gradient array, so that a
// model evaluating thousands of gradients per second copies neither its point onto the tape
// nor the gradient off it (with 6,000 latents that was three 48 KB copies per gradient).
//
//   bactor::Tape::Scope scope;
//   bactor::Var x = bactor::variable_view(q, grad);   // no copy
//   bactor::backward(f(x));
//   bactor::finish_view(x);                           // grad[i] = df/dq_i (zeros if unreached)
//
// As for constant_view, the memory must outlive the node (the Scope); the values must not
// change while the node is in use, and `adjoints` must not alias anything else on the tape.
#pragma once

#include <bactor/engine/tape.hpp>

#include <algorithm>
#include <span>
#include <stdexcept>
#include <string>

namespace bactor {

/// A variable leaf viewing `values` (not copied) with `adjoints` (same size) as its adjoint
/// buffer. Like every adjoint it is zeroed lazily: after the reverse pass call finish_view(),
/// which zeroes it when no gradient reached the leaf.
inline Var variable_view(std::span<const double> values, std::span<double> adjoints) {
  if (values.empty() || adjoints.size() != values.size())
    throw std::invalid_argument("variable_view: " + std::to_string(values.size()) + " values, " +
                                std::to_string(adjoints.size()) + " adjoints");
  // A node with empty buffers whose pointers are redirected to the caller's memory.
  Node* n = Tape::current().make_node(0, 0, true, nullptr);
  n->rows = static_cast<std::uint32_t>(values.size());
  n->cols = 1;
  n->val = const_cast<double*>(values.data());  // leaves have no backward: never written
  n->adj = adjoints.data();
  return Var(n);
}

/// After the reverse pass: zeroes a variable_view's adjoint buffer if no gradient reached it
/// (its lazily-zeroed adjoint was never set); otherwise it already holds the gradient.
inline void finish_view(Var v) noexcept {
  Node* n = v.node();
  if (n->adj && !n->adj_set) std::fill(n->adj, n->adj + n->size(), 0.0);
}

} // namespace bactor
