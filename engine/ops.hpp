// SPDX-License-Identifier: MIT
// Elementwise arithmetic, math functions, reductions and indexing on the tape.
//
// Shapes: binary ops take equal shapes or broadcast a scalar (1x1) over the other operand;
// the adjoint of a broadcast scalar is the sum over the elements it was used for. Every op
// states its value and its derivative (what its backward function adds to the operands'
// adjoints, with dy the adjoint of the result). Mismatched shapes throw std::invalid_argument.
#pragma once

#include <cstddef>

#include <bactor/engine/tape.hpp>

namespace bactor {

// ---- arithmetic (a scalar operand is broadcast) ------------------------------------------

/// y = a + b;  da += dy, db += dy.
Var operator+(Var a, Var b);
/// y = a - b;  da += dy, db -= dy.
Var operator-(Var a, Var b);
/// y = a * b (elementwise);  da += dy b, db += dy a.
Var operator*(Var a, Var b);
/// y = a / b;  da += dy / b, db -= dy a / b^2.
Var operator/(Var a, Var b);
/// y = -x;  dx -= dy.
Var operator-(Var x);
/// With a constant c: y = x + c, c + x, x - c, c - x, x * c, c * x, x / c, c / x
/// (derivatives as above with dc dropped: d(c/x)/dx = -c/x^2).
Var operator+(Var x, double c);
Var operator+(double c, Var x);
Var operator-(Var x, double c);
Var operator-(double c, Var x);
Var operator*(Var x, double c);
Var operator*(double c, Var x);
Var operator/(Var x, double c);
Var operator/(double c, Var x);

// ---- elementwise functions (SIMD kernels of engine/kernels.hpp) ---------------------------

/// y = exp(x);  dx += dy y.
Var exp(Var x);
/// y = log(x);  dx += dy / x.
Var log(Var x);
/// y = log(1 + x), accurate for small x;  dx += dy / (1 + x).
Var log1p(Var x);
/// y = exp(x) - 1, accurate for small x;  dx += dy (y + 1).
Var expm1(Var x);
/// y = sqrt(x);  dx += dy / (2 y).
Var sqrt(Var x);
/// y = x^2;  dx += 2 x dy.
Var square(Var x);
/// y = |x|;  dx += sign(x) dy (0 at x = 0).
Var abs(Var x);
/// y = x^p for a constant p;  dx += dy p x^(p-1).
Var pow(Var x, double p);
/// y = a^b (a > 0; scalars broadcast);  da += dy b a^(b-1), db += dy y log(a).
Var pow(Var a, Var b);
/// y = log(1 + exp(x)), evaluated as max(x, 0) + log1p(exp(-|x|));  dx += dy sigmoid(x).
Var softplus(Var x);
/// y = 1 / (1 + exp(-x)), overflow-free;  dx += dy y (1 - y).
Var sigmoid(Var x);
/// y = log(sigmoid(x)) = -softplus(-x);  dx += dy (1 - sigmoid(x)).
Var log_sigmoid(Var x);
/// y = x sigmoid(x) (swish, SiLU);  dx += dy (s + x s (1 - s)), s = sigmoid(x).
Var swish(Var x);
/// y = tanh(x);  dx += dy (1 - y^2).
Var tanh(Var x);

// ---- reductions (scalar results) ---------------------------------------------------------

/// y = sum_i x_i;  dx_i += dy.
Var sum(Var x);
/// y = (1/n) sum_i x_i;  dx_i += dy / n.
Var mean(Var x);
/// y = sum_i a_i b_i (equal sizes);  da += dy b, db += dy a.
Var dot(Var a, Var b);
/// y = log sum_i exp(x_i), evaluated as m + log sum exp(x_i - m) with m = max x;
/// dx_i += dy exp(x_i - y) (the softmax).
Var log_sum_exp(Var x);

// ---- indexing ----------------------------------------------------------------------------

/// y = x_i (scalar; row-major index);  dx_i += dy.
Var element(Var x, std::size_t i);
/// y = (x_start, ..., x_{start+len-1}) as a vector;  dx_{start+j} += dy_j.
Var slice(Var x, std::size_t start, std::size_t len);
/// y = (a, b) concatenated as a vector of size |a| + |b|;  da += dy_head, db += dy_tail.
Var concat(Var a, Var b);

} // namespace bactor
