// SPDX-License-Identifier: MIT
#include "models/marginal.hpp"

#include <Eigen/Eigenvalues>

#include <stdexcept>

namespace bactor {

GaussHermite::GaussHermite(int n) {
  if (n < 1 || n > 200) throw std::invalid_argument("Gauss-Hermite node count must be in 1..200, got " + std::to_string(n));
  // Golub–Welsch: the nodes are the eigenvalues of the symmetric tridiagonal Jacobi matrix of
  // the Hermite recurrence (off-diagonal sqrt(k/2)); weight_j = sqrt(pi) * v_j[0]^2.
  Eigen::MatrixXd J = Eigen::MatrixXd::Zero(n, n);
  for (int k = 1; k < n; ++k) J(k, k - 1) = J(k - 1, k) = std::sqrt(0.5 * k);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(J);
  t.resize(n);
  log_w.resize(n);
  for (int j = 0; j < n; ++j) {
    t[j] = eig.eigenvalues()(j);
    const double v0 = eig.eigenvectors()(0, j);
    log_w[j] = 0.5 * std::log(std::numbers::pi) + 2 * std::log(std::abs(v0)) + t[j] * t[j];
  }
  if (n % 2 == 1) t[n / 2] = 0.0;  // exactly the centre (the eigenvalue is ~1e-17)
}

GaussHermiteSet::GaussHermiteSet(int fixed) : fixed_(fixed) {
  if (fixed != -1) {
    if (fixed < 1 || fixed > 200)
      throw std::invalid_argument("Gauss-Hermite node count must be -1 (chosen by sigma) or in 1..200, got " +
                                  std::to_string(fixed));
    GaussHermite rule(fixed);
    rules_.resize(std::size_t(fixed) + 1, GaussHermite(1));
    rules_[std::size_t(fixed)] = std::move(rule);
    return;
  }
  for (double s : {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0}) {
    const int n = quadrature_nodes_for(s);
    if (rules_.size() <= std::size_t(n)) rules_.resize(std::size_t(n) + 1, GaussHermite(1));
    rules_[std::size_t(n)] = GaussHermite(n);
  }
}

const GaussHermite& GaussHermiteSet::for_sigma(double sigma) const {
  return rules_[std::size_t(fixed_ > 0 ? fixed_ : quadrature_nodes_for(sigma))];
}

} // namespace bactor
