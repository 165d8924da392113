// SPDX-License-Identifier: MIT
#include <bactor/models/marginal.hpp>

#include <Eigen/Eigenvalues>

#include <cmath>
#include <numbers>
#include <stdexcept>

namespace bactor {

GaussHermite::GaussHermite(int n) {
  if (n < 1 || n > 200) throw std::invalid_argument("Gauss-Hermite node count must be in 1..200, got " + std::to_string(n));
  // Nodes: Golub–Welsch, the eigenvalues of the symmetric tridiagonal Jacobi matrix of the
  // Hermite recurrence (off-diagonal sqrt(k/2)), polished by Newton steps on psi_n.
  // Weights: Christoffel numbers, w_j e^{t_j^2} = 1 / sum_{k<n} psi_k(t_j)^2 with the
  // orthonormal Hermite functions psi_k(t) = p_k(t) e^{-t^2/2} (stable three-term recurrence).
  // (The eigenvectors' first components give the weights only to absolute accuracy: the outer
  // weights of a 61-node rule, ~1e-40, came out orders of magnitude too large.)
  Eigen::MatrixXd J = Eigen::MatrixXd::Zero(n, n);
  for (int k = 1; k < n; ++k) J(k, k - 1) = J(k - 1, k) = std::sqrt(0.5 * k);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(J, Eigen::EigenvaluesOnly);
  t.resize(n);
  log_w.resize(n);
  // psi_0..psi_n at x; returns psi_n, sets psi_{n-1} and sum_{k<n} psi_k^2.
  auto hermite = [n](double x, double& prev, double& sum2) {
    double pm = 0, p = std::pow(std::numbers::pi, -0.25) * std::exp(-0.5 * x * x);
    sum2 = 0;
    for (int k = 0; k < n; ++k) {
      sum2 += p * p;
      const double next = std::sqrt(2.0 / (k + 1)) * x * p - std::sqrt(double(k) / (k + 1)) * pm;
      pm = p;
      p = next;
    }
    prev = pm;
    return p;
  };
  for (int j = 0; j < n; ++j) {
    double x = eig.eigenvalues()(j), prev, sum2;
    for (int it = 0; it < 3; ++it) {
      const double pn = hermite(x, prev, sum2);
      const double dpn = std::sqrt(2.0 * n) * prev - x * pn;  // psi_n' = sqrt(2n) psi_{n-1} - x psi_n
      if (dpn != 0) x -= pn / dpn;
    }
    if (n % 2 == 1 && j == n / 2) x = 0.0;  // exactly the centre
    t[j] = x;
    hermite(x, prev, sum2);
    log_w[j] = -std::log(sum2);
  }
}

GaussHermiteSet::GaussHermiteSet(int fixed, const int* counts) : fixed_(fixed), counts_(counts) {
  if (fixed != -1) {
    if (fixed < 1 || fixed > 200)
      throw std::invalid_argument("Gauss-Hermite node count must be -1 (chosen by sigma) or in 1..200, got " +
                                  std::to_string(fixed));
    GaussHermite rule(fixed);
    rules_.resize(std::size_t(fixed) + 1, GaussHermite(1));
    rules_[std::size_t(fixed)] = std::move(rule);
    return;
  }
  for (std::size_t b = 0; b < std::size(quadrature_node_counts); ++b) {
    const int n = counts_[b];
    if (rules_.size() <= std::size_t(n)) rules_.resize(std::size_t(n) + 1, GaussHermite(1));
    rules_[std::size_t(n)] = GaussHermite(n);
  }
}

const GaussHermite& GaussHermiteSet::for_sigma(double sigma) const {
  const std::size_t n = std::size_t(fixed_ > 0 ? fixed_ : quadrature_nodes_for(sigma, counts_));
  if (n >= rules_.size() || rules_[n].size() != int(n))
    throw std::logic_error("GaussHermiteSet: no " + std::to_string(n) + "-node rule was built");
  return rules_[n];
}

} // namespace bactor
