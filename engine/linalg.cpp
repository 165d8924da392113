// SPDX-License-Identifier: MIT
// Small products hand-vectorised (dot / axpy per row: MLP layers are 3..64 wide, where
// library dispatch costs more than the arithmetic); general products through Eigen maps.
#include <bactor/engine/linalg.hpp>

#include <string>

// Tape products run inside callers' threads (chains, batches): no nested OpenMP in Eigen.
#define EIGEN_DONT_PARALLELIZE
#include <Eigen/Core>

#include "engine/kernels.hpp"
#include "engine/simd_math.hpp"

namespace bactor {

namespace {

using MatR = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapR = Eigen::Map<MatR, Eigen::Unaligned>;
using CMapR = Eigen::Map<const MatR, Eigen::Unaligned>;
using CVec = Eigen::Map<const Eigen::VectorXd>;
using Vec = Eigen::Map<Eigen::VectorXd>;

std::string shape(const Node* n) { return std::to_string(n->rows) + "x" + std::to_string(n->cols); }

using B = simd::Batch<double>;
constexpr std::size_t W = B::size;

// y_i (+)= W_i . x for the m rows of W (m x k, row-major). W rows at a time, each with its
// own accumulator, reduced together by haddp (one horizontal step per W rows).
void rows_dot(std::size_t m, std::size_t k, const double* w, const double* x, double* y, bool accumulate) {
  const std::size_t kv = k - k % W;
  std::size_t i = 0;
  for (; i + W <= m; i += W) {
    B acc[W];
    for (std::size_t r = 0; r < W; ++r) acc[r] = B(0.0);
    for (std::size_t j = 0; j < kv; j += W) {
      const B xv = B::load_unaligned(x + j);
      for (std::size_t r = 0; r < W; ++r) acc[r] = xsimd::fma(B::load_unaligned(w + (i + r) * k + j), xv, acc[r]);
    }
    B sums = simd::haddp(acc);
    if (kv < k) {
      alignas(64) double tail[W];
      for (std::size_t r = 0; r < W; ++r) {
        double t = 0;
        for (std::size_t j = kv; j < k; ++j) t += w[(i + r) * k + j] * x[j];
        tail[r] = t;
      }
      sums += B::load_aligned(tail);
    }
    if (accumulate) sums += B::load_unaligned(y + i);
    sums.store_unaligned(y + i);
  }
  for (; i < m; ++i) {
    const double d = simd::dot(k, w + i * k, x);
    y[i] = accumulate ? y[i] + d : d;
  }
}

// dx (+)= W^T dy: column blocks of W lanes kept in registers while the rows stream past.
// accumulate = false stores W^T dy (dx needs no zeroing).
void rows_transpose_acc(std::size_t m, std::size_t k, const double* w, const double* dy, double* dx,
                        bool accumulate) {
  std::size_t j = 0;
  for (; j + 2 * W <= k; j += 2 * W) {
    B a0 = accumulate ? B::load_unaligned(dx + j) : B(0.0);
    B a1 = accumulate ? B::load_unaligned(dx + j + W) : B(0.0);
    for (std::size_t i = 0; i < m; ++i) {
      const B g(dy[i]);
      a0 = xsimd::fma(g, B::load_unaligned(w + i * k + j), a0);
      a1 = xsimd::fma(g, B::load_unaligned(w + i * k + j + W), a1);
    }
    a0.store_unaligned(dx + j);
    a1.store_unaligned(dx + j + W);
  }
  for (; j + W <= k; j += W) {
    B a0 = accumulate ? B::load_unaligned(dx + j) : B(0.0);
    for (std::size_t i = 0; i < m; ++i) a0 = xsimd::fma(B(dy[i]), B::load_unaligned(w + i * k + j), a0);
    a0.store_unaligned(dx + j);
  }
  for (; j < k; ++j) {
    double a = accumulate ? dx[j] : 0.0;
    for (std::size_t i = 0; i < m; ++i) a += dy[i] * w[i * k + j];
    dx[j] = a;
  }
}

// Backward of y = W x (+ b): dW_i += dy_i x, dx += W^T dy, db += dy.
void vector_layer_backward(Node* w, Node* x, Node* b, const double* dy) {
  const std::size_t m = w->rows, k = w->cols;
  if (x->adj) rows_transpose_acc(m, k, w->val, dy, x->adj, !x->claim_adjoint());
  if (w->adj)
    for (std::size_t i = 0; i < m; ++i) simd::axpy(k, dy[i], x->val, w->grad() + i * k);
  if (b && b->adj) {
    double* db = b->grad();
    for (std::size_t i = 0; i < m; ++i) db[i] += dy[i];
  }
}

void matvec_backward(Node& y) { vector_layer_backward(y.in[0], y.in[1], nullptr, y.adj); }

void matmul_backward(Node& y) {
  Node* a = y.in[0];
  Node* b = y.in[1];
  const CMapR dY(y.adj, y.rows, y.cols);
  if (a->adj) MapR(a->grad(), a->rows, a->cols).noalias() += dY * CMapR(b->val, b->rows, b->cols).transpose();
  if (b->adj) MapR(b->grad(), b->rows, b->cols).noalias() += CMapR(a->val, a->rows, a->cols).transpose() * dY;
}

void affine_backward(Node& y) {
  Node* w = y.in[0];
  Node* x = y.in[1];
  Node* b = y.in[2];
  if (y.cols == 1 && x->size() == w->cols) {
    vector_layer_backward(w, x, b, y.adj);
    return;
  }
  const CMapR dY(y.adj, y.rows, y.cols);  // B x m
  if (x->adj) MapR(x->grad(), x->rows, x->cols).noalias() += dY * CMapR(w->val, w->rows, w->cols);
  if (w->adj) MapR(w->grad(), w->rows, w->cols).noalias() += dY.transpose() * CMapR(x->val, x->rows, x->cols);
  if (b->adj) Vec(b->grad(), b->size()) += dY.colwise().sum().transpose();
}

} // namespace

Var matvec(Var w, Var x) {
  Node* nw = w.node();
  Node* nx = x.node();
  if (nx->size() != nw->cols)
    throw std::invalid_argument("matvec: matrix " + shape(nw) + " times vector of size " +
                                std::to_string(nx->size()));
  Node* y = Tape::current().make_node(nw->rows, 1, nw->adj || nx->adj, &matvec_backward);
  y->in[0] = nw;
  y->in[1] = nx;
  rows_dot(nw->rows, nw->cols, nw->val, nx->val, y->val, false);
  return Var(y);
}

Var matmul(Var a, Var b) {
  Node* na = a.node();
  Node* nb = b.node();
  if (na->cols != nb->rows)
    throw std::invalid_argument("matmul: shapes " + shape(na) + " and " + shape(nb) + " do not chain");
  Node* y = Tape::current().make_node(na->rows, nb->cols, na->adj || nb->adj, &matmul_backward);
  y->in[0] = na;
  y->in[1] = nb;
  MapR(y->val, y->rows, y->cols).noalias() =
      CMapR(na->val, na->rows, na->cols) * CMapR(nb->val, nb->rows, nb->cols);
  return Var(y);
}

Var affine(Var w, Var x, Var b) {
  Node* nw = w.node();
  Node* nx = x.node();
  Node* nb = b.node();
  const std::size_t m = nw->rows, k = nw->cols;
  if (nb->size() != m)
    throw std::invalid_argument("affine: bias of size " + std::to_string(nb->size()) + " for a " +
                                shape(nw) + " weight matrix");
  const bool vector_input = nx->cols == 1 && nx->rows == k;
  if (!vector_input && nx->cols != k)
    throw std::invalid_argument("affine: input " + shape(nx) + " for a " + shape(nw) +
                                " weight matrix (expected a vector of size " + std::to_string(k) +
                                " or rows of size " + std::to_string(k) + ")");
  const bool grad = nw->adj || nx->adj || nb->adj;
  Node* y;
  if (vector_input) {
    y = Tape::current().make_node(m, 1, grad, &affine_backward);
    std::copy(nb->val, nb->val + m, y->val);
    rows_dot(m, k, nw->val, nx->val, y->val, true);
  } else {
    const std::size_t batch = nx->rows;
    y = Tape::current().make_node(batch, m, grad, &affine_backward);
    MapR Y(y->val, batch, m);
    Y.noalias() = CMapR(nx->val, batch, k) * CMapR(nw->val, m, k).transpose();
    Y.rowwise() += CVec(nb->val, m).transpose();
  }
  y->in[0] = nw;
  y->in[1] = nx;
  y->in[2] = nb;
  return Var(y);
}

} // namespace bactor
