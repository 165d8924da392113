// SPDX-License-Identifier: MIT
// Matrix-vector and matrix-matrix products on the tape (row-major matrices).
#pragma once

#include <bactor/engine/tape.hpp>

namespace bactor {

/// y = W x for W (m x k) and x of size k; y is an m-vector.
/// dW += dy x^T, dx += W^T dy.
Var matvec(Var w, Var x);

/// Y = A B for A (m x k) and B (k x n) (Eigen);  dA += dY B^T, dB += A^T dY.
Var matmul(Var a, Var b);

/// Dense layer. x a k-vector: y = W x + b (an m-vector, W is m x k, b has size m).
/// x a batch of rows (B x k): Y = X W^T + 1 b^T (B x m), one row per input row.
/// dW += dY^T X, dX += dY W, db += column sums of dY.
Var affine(Var w, Var x, Var b);

} // namespace bactor
