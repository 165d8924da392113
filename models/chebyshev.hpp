// SPDX-License-Identifier: MIT
// Chebyshev interpolation on an interval, and a head of the quadrature marginal
// (models/marginal.hpp) tabulated along the measurement. Private header.
//
// Series convention: f(t) = c0/2 + Σ_{j>=1} c_j T_j(t) on t in [-1, 1], from values at the K
// points t_k = cos(π(k + ½)/K).
//
// HeadTable<Head>: for one condition's theta, a head's log a(u), d log a/du and d log a/dtheta
// are smooth functions of u = log m alone, so they are computed at the Chebyshev points of a few
// pieces covering the u range the condition's quadrature visits and interpolated there; a u
// outside the range is passed to the head itself. The pieces' points are fixed for a given
// range, so the interpolated d log a/dtheta is exactly the theta-derivative of the interpolated
// log a: the quadrature's gradient stays the gradient of the value it computes. Used for the
// mupost head, whose network would otherwise run at every quadrature node of every trial
// (models/inference_nodes.hpp).
#pragma once

#include <bactor/engine/errors.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <string>
#include <vector>

namespace bactor::detail {

/// The k-th of K Chebyshev points on [-1, 1] (decreasing in k).
inline double cheb_point(int k, int K) { return std::cos(std::numbers::pi * (k + 0.5) / K); }

/// The matrix cos(π j (k + ½) / K) (row j, column k) for K <= cheb_max_points, built once.
inline constexpr std::size_t cheb_max_points = 32;
inline const double* cheb_cosines(std::size_t K) {
  static const std::vector<std::vector<double>> tables = [] {
    std::vector<std::vector<double>> t(cheb_max_points + 1);
    for (std::size_t n = 1; n <= cheb_max_points; ++n) {
      t[n].resize(n * n);
      for (std::size_t j = 0; j < n; ++j)
        for (std::size_t k = 0; k < n; ++k)
          t[n][j * n + k] = std::cos(std::numbers::pi * double(j) * (double(k) + 0.5) / double(n));
    }
    return t;
  }();
  return tables[K].data();
}

/// Chebyshev coefficients from values at the K points cheb_point(k, K).
inline std::vector<double> cheb_coeffs(const std::vector<double>& f) {
  const std::size_t K = f.size();
  std::vector<double> c(K, 0.0);
  const double* cs = K <= cheb_max_points ? cheb_cosines(K) : nullptr;
  for (std::size_t j = 0; j < K; ++j) {
    double s = 0;
    for (std::size_t k = 0; k < K; ++k)
      s += f[k] * (cs ? cs[j * K + k] : std::cos(std::numbers::pi * double(j) * (double(k) + 0.5) / double(K)));
    c[j] = 2.0 * s / double(K);
  }
  return c;
}

/// Coefficients of the t-derivative of a Chebyshev series (same convention and length).
inline std::vector<double> cheb_derivative(const std::vector<double>& c) {
  const std::size_t K = c.size();
  std::vector<double> d(K + 1, 0.0);
  for (std::size_t j = K - 1; j >= 1; --j) d[j - 1] = (j + 1 < d.size() ? d[j + 1] : 0.0) + 2.0 * double(j) * c[j];
  d.resize(K);
  return d;
}

/// The series at t by Clenshaw's recurrence.
inline double cheb_eval(const std::vector<double>& c, double t) {
  double b1 = 0, b2 = 0;
  for (std::size_t j = c.size() - 1; j >= 1; --j) {
    const double b0 = c[j] + 2 * t * b1 - b2;
    b2 = b1;
    b1 = b0;
  }
  return 0.5 * c[0] + t * b1 - b2;
}

struct HeadTableOptions {
  int points = 16;               // Chebyshev points per piece
  double max_piece = 4.0;        // initial pieces at most this wide in u
  double tail_tolerance = 1e-8;  // a piece is halved while |c_{K-2}|, |c_{K-1}| of log a exceed this
  int max_halvings = 6;
  // A range wider than this many initial pieces (a sigma of several units, reached only in the
  // sampler's warm-up) is not tabulated: the head is evaluated directly.
  int max_pieces = 64;
};

/// A head (eval(u, dla_du, dp) with Head::n_params entries of dp, Head::Adjoint, Head::add)
/// interpolated on [u_lo, u_hi]; see the file comment. `n_used` of the head's dp entries are
/// interpolated (the rest are 0). No inverse and no curvature, like the mupost head it serves.
template <class Head>
class HeadTable {
public:
  static constexpr int n_params = Head::n_params;
  using Adjoint = typename Head::Adjoint;

  HeadTable(const Head& head, std::size_t n_used, double u_lo, double u_hi, const HeadTableOptions& opt = {})
      : head_(head), n_used_(n_used), stride_(2 + n_used <= 8 ? 8 : 16), K_(opt.points), opt_(opt) {
    if (opt.points < 4 || opt.points > int(max_points))
      throw ArgumentError("points", "a head table needs 4 to 32 points per piece, got " + std::to_string(opt.points));
    BACTOR_ASSERT(n_used <= std::size_t(n_params) && 2 + n_used <= 16 && u_hi > u_lo);
    lo_ = u_lo;
    hi_ = u_hi;
    const double n0d = std::ceil((hi_ - lo_) / opt.max_piece);
    if (!(n0d <= opt.max_pieces)) return;  // finite_ stays false: direct evaluation
    const int n0 = std::max(1, int(n0d));
    for (int k = 0; k < n0; ++k) build(lo_ + (hi_ - lo_) * k / n0, k + 1 == n0 ? hi_ : lo_ + (hi_ - lo_) * (k + 1) / n0, 0);
    finite_ = true;
    for (const Piece& p : pieces_)
      for (double c : p.c) finite_ = finite_ && std::isfinite(c);
  }

  double eval(double u, double& dla_du, double* dp) const {
    const Piece* pc = find(u);
    if (!pc || !finite_) {
      ++direct_;
      return head_.eval(u, dla_du, dp);
    }
    const double t = (2 * u - pc->lo - pc->hi) / (pc->hi - pc->lo);
    // T_j(t) once, then every series at once: out[s] = Σ_j T_j c[j][s] over the interleaved
    // coefficients (a stride of 8 or 16 doubles, which the compiler vectorises).
    // T_j by T_2k = 2 T_k^2 - 1, T_2k+1 = 2 T_k T_k+1 - t: a dependency chain of depth log2 K
    // instead of the three-term recurrence's K (which dominated the time per node).
    double T[max_points];
    T[0] = 1;
    T[1] = t;
    for (int j = 2; j < K_; ++j) {
      const int k = j / 2;
      T[j] = j % 2 ? 2 * T[k] * T[k + 1] - t : 2 * T[k] * T[k] - 1;
    }
    T[0] = 0.5;
    alignas(64) double out[16];
    if (stride_ == 8) dot_series<8>(pc->c.data(), T, out);
    else dot_series<16>(pc->c.data(), T, out);
    dla_du = out[1] * 2 / (pc->hi - pc->lo);
    for (std::size_t k = 0; k < n_used_; ++k) dp[k] = out[2 + k];
    for (std::size_t k = n_used_; k < std::size_t(n_params); ++k) dp[k] = 0.0;
    return out[0];
  }
  bool inverse(double, double&, double&) const { return false; }
  double curvature(double) const { return 0.0; }
  static void add(Adjoint& a, const double* dp, double g) { Head::add(a, dp, g); }

  /// Head evaluations spent on the table, and on nodes outside it so far.
  int table_evaluations() const { return table_evals_; }
  int direct_evaluations() const { return direct_; }
  std::size_t pieces() const { return pieces_.size(); }

private:
  static constexpr std::size_t max_points = cheb_max_points;
  // A piece's series, interleaved: c[j * stride + s] is coefficient j of series s, the series
  // being log a, its t-derivative, then dp[0 .. n_used) (padding 0).
  struct Piece {
    double lo = 0, hi = 0;
    std::vector<double> c;
  };

  template <int W>
  void dot_series(const double* c, const double* T, double* out) const {
    for (int s = 0; s < W; ++s) out[s] = 0;
    for (int j = 0; j < K_; ++j)
      for (int s = 0; s < W; ++s) out[s] += T[j] * c[j * W + s];
  }

  void build(double lo, double hi, int depth) {
    const std::size_t K = std::size_t(K_);
    std::vector<std::vector<double>> f(1 + n_used_, std::vector<double>(K));
    double dp[n_params];
    for (std::size_t k = 0; k < K; ++k) {
      const double u = 0.5 * (lo + hi) + 0.5 * (hi - lo) * cheb_point(int(k), K_);
      double dla;
      f[0][k] = head_.eval(u, dla, dp);
      for (std::size_t j = 0; j < n_used_; ++j) f[1 + j][k] = dp[j];
      ++table_evals_;
    }
    const std::vector<double> y = cheb_coeffs(f[0]);
    const double tail = std::max(std::abs(y[K - 1]), std::abs(y[K - 2]));
    if (tail > opt_.tail_tolerance && depth < opt_.max_halvings) {
      build(lo, 0.5 * (lo + hi), depth + 1);
      build(0.5 * (lo + hi), hi, depth + 1);
      return;
    }
    Piece piece;
    piece.lo = lo;
    piece.hi = hi;
    piece.c.assign(K * stride_, 0.0);
    auto put = [&](std::size_t s, const std::vector<double>& cs) {
      for (std::size_t j = 0; j < K; ++j) piece.c[j * stride_ + s] = cs[j];
    };
    put(0, y);
    put(1, cheb_derivative(y));
    for (std::size_t j = 0; j < n_used_; ++j) put(2 + j, cheb_coeffs(f[1 + j]));
    pieces_.push_back(std::move(piece));
  }

  const Piece* find(double u) const {
    if (!(u >= lo_ && u <= hi_)) return nullptr;
    auto it = std::lower_bound(pieces_.begin(), pieces_.end(), u, [](const Piece& p, double v) { return p.hi < v; });
    return it == pieces_.end() ? &pieces_.back() : &*it;
  }

  Head head_;
  std::size_t n_used_;
  std::size_t stride_;  // 8, or 16 when 2 + n_used > 8
  int K_;
  HeadTableOptions opt_;
  double lo_ = 0, hi_ = 0;
  bool finite_ = false;  // a non-finite value anywhere (theta far outside the network's range): no table
  std::vector<Piece> pieces_;
  int table_evals_ = 0;
  mutable int direct_ = 0;
};

} // namespace bactor::detail
