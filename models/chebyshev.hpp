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
//
// Deferred gradient (the quadrature's hook, models/marginal.hpp): the interpolated d log a/dtheta
// is linear in the pieces' coefficients, so a weighted sum over nodes is
//   Σ_j w_j dp_j[s] = Σ_pieces Σ_k c_piece[k][s] (Σ_{j in piece} w_j T_k(t_j)).
// At a quadrature node only the value series is evaluated (node_value) and w_j T_k(t_j) is added
// to its piece's pending sums (add_node); flush() contracts them with the d/dtheta series once,
// after a trial or a whole row. The sum is the same function as through eval(), in another order.
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
  static constexpr std::size_t max_points = cheb_max_points;
  static_assert(std::size_t(n_params) <= max_points);  // NodeEval::T holds a direct node's dp

  HeadTable(const Head& head, std::size_t n_used, double u_lo, double u_hi, const HeadTableOptions& opt = {})
      : head_(head), n_used_(n_used), stride_(2 + n_used <= 8 ? 8 : 16), K_(opt.points), Kp_((opt.points + 3) / 4 * 4),
        opt_(opt) {
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
    touched_list_.reserve(pieces_.size());
  }

  double eval(double u, double& dla_du, double* dp) const {
    const Piece* pc = find(u);
    if (!pc || !finite_) {
      ++direct_;
      return head_.eval(u, dla_du, dp);
    }
    // T_j(t) once, then every series at once: out[s] = Σ_j T_j c[j][s] over the interleaved
    // coefficients (a stride of 8 or 16 doubles, which the compiler vectorises).
    alignas(32) double T[max_points];
    with_points([&]<int K>() { basis<K>(coordinate(*pc, u), T); });
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

  // ---- the deferred gradient (see the file comment) ----
  /// What a quadrature node keeps for its gradient: its piece and T_k(t) there, or (piece -1,
  /// a node outside the table) the head's d log a/dtheta in T.
  struct NodeEval {
    int piece;  // set by node_value (not initialised: gh_trial_loglik keeps up to 200 of these)
    alignas(32) double T[max_points];
  };
  /// log a(u) and d log a/du (the Newton steps' evaluation: no d/dtheta series).
  double value_du(double u, double& dla_du) const {
    const Piece* pc = find(u);
    if (!pc || !finite_) {
      ++direct_;
      double dp[n_params];
      return head_.eval(u, dla_du, dp);
    }
    return with_points([&]<int K>() {
      double T[K], la, dla;
      basis_dot<K>(coordinate(*pc, u), pc->cv.data(), pc->cd.data(), T, la, dla);
      dla_du = dla * 2 / (pc->hi - pc->lo);
      return la;
    });
  }
  /// log a(u) alone, keeping in `e` what add_node needs.
  double node_value(double u, NodeEval& e) const {
    const Piece* pc = find(u);
    if (!pc || !finite_) {
      ++direct_;
      e.piece = -1;
      double dla;
      return head_.eval(u, dla, e.T);
    }
    e.piece = int(pc - pieces_.data());
    return with_points([&]<int K>() {
      double la, unused;
      basis_dot<K>(coordinate(*pc, u), pc->cv.data(), nullptr, e.T, la, unused);
      return la;
    });
  }
  /// a += w d log a/dtheta at the node of `e`: at once outside the table, else pending in the
  /// table until flush(a). Not thread-safe (a table belongs to one row of one thread).
  void add_node(Adjoint& a, const NodeEval& e, double w) const {
    if (e.piece < 0) {
      Head::add(a, e.T, w);
      return;
    }
    double* acc = pending_.data() + std::size_t(e.piece) * std::size_t(Kp_);
    if (!touched_[std::size_t(e.piece)]) {
      touched_[std::size_t(e.piece)] = 1;
      touched_list_.push_back(e.piece);
    }
    for (int k = 0; k < Kp_; ++k) acc[k] += w * e.T[k];
  }
  /// Adds the pending sums' d/dtheta to a: Σ_s a[s] += Σ_k pending[k] c[k][2 + s]; clears them.
  void flush(Adjoint& a) const {
    double dp[n_params] = {};
    for (int p : touched_list_) {
      double* acc = pending_.data() + std::size_t(p) * std::size_t(Kp_);
      const double* c = pieces_[std::size_t(p)].c.data();
      if (stride_ == 8) contract<8>(c, acc, dp);
      else contract<16>(c, acc, dp);
      std::fill(acc, acc + Kp_, 0.0);
      touched_[std::size_t(p)] = 0;
    }
    touched_list_.clear();
    Head::add(a, dp, 1.0);
  }

  /// Head evaluations spent on the table, and on nodes outside it so far.
  int table_evaluations() const { return table_evals_; }
  int direct_evaluations() const { return direct_; }
  std::size_t pieces() const { return pieces_.size(); }

private:
  // A piece's series, interleaved: c[j * stride + s] is coefficient j of series s, the series
  // being log a, its t-derivative, then dp[0 .. n_used) (padding 0).
  // cv and cd: the value's and the u-derivative's coefficients again, contiguous and padded to
  // Kp_ with zeros (the node's and the Newton steps' dot products).
  struct Piece {
    double lo = 0, hi = 0;
    std::vector<double> c, cv, cd;
  };

  /// u's coordinate t in [-1, 1] on its piece.
  static double coordinate(const Piece& pc, double u) { return (2 * u - pc.lo - pc.hi) / (pc.hi - pc.lo); }
  /// T_j(t), j < K, with T_0 halved (the series convention). T_j by T_2k = 2 T_k^2 - 1,
  /// T_2k+1 = 2 T_k T_k+1 - t: a dependency chain of depth log2 K instead of the three-term
  /// recurrence's K (which dominated the time per node).
  template <int K>
  static void basis(double t, double* T) {
    T[0] = 1;
    T[1] = t;
#pragma GCC unroll 32
    for (int j = 2; j < K; ++j) {
      const int k = j / 2;
      T[j] = j % 2 ? 2 * T[k] * T[k + 1] - t : 2 * T[k] * T[k] - 1;
    }
    T[0] = 0.5;
  }
  /// T = basis<K>(t), la = Σ_j cv[j] T_j and (cd given) dla = Σ_j cd[j] T_j. K is a compile-time
  /// constant so that the loops unroll and T stays in registers: a loop over the stored T read
  /// it back through vector loads of scalar stores, which the CPU cannot forward (a stall per
  /// node). Four partial sums: a single one would be a chain of K dependent additions.
  template <int K>
  static void basis_dot(double t, const double* cv, const double* cd, double* T, double& la, double& dla) {
    double b[K];
    basis<K>(t, b);
    double s[4] = {0, 0, 0, 0}, e[4] = {0, 0, 0, 0};
#pragma GCC unroll 32
    for (int j = 0; j < K; ++j) s[j % 4] += cv[j] * b[j];
    la = (s[0] + s[2]) + (s[1] + s[3]);
    if (cd) {
#pragma GCC unroll 32
      for (int j = 0; j < K; ++j) e[j % 4] += cd[j] * b[j];
      dla = (e[0] + e[2]) + (e[1] + e[3]);
    }
#pragma GCC unroll 32
    for (int j = 0; j < K; ++j) T[j] = b[j];
  }
  /// f.template operator()<Kp_>() for the runtime Kp_ (a multiple of 4 up to max_points).
  template <class F>
  decltype(auto) with_points(F&& f) const {
    switch (Kp_) {
    case 4: return f.template operator()<4>();
    case 8: return f.template operator()<8>();
    case 12: return f.template operator()<12>();
    case 16: return f.template operator()<16>();
    case 20: return f.template operator()<20>();
    case 24: return f.template operator()<24>();
    case 28: return f.template operator()<28>();
    default: return f.template operator()<32>();
    }
  }
  /// dp[s] += Σ_k acc[k] c[k][2 + s] over one piece's interleaved coefficients.
  template <int W>
  void contract(const double* c, const double* acc, double* dp) const {
    double out[W] = {};
    for (int k = 0; k < K_; ++k)
      for (int s = 0; s < W; ++s) out[s] += acc[k] * c[k * W + s];
    for (std::size_t s = 0; s < n_used_; ++s) dp[s] += out[2 + s];
  }

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
    const std::vector<double> dy = cheb_derivative(y);
    put(0, y);
    put(1, dy);
    for (std::size_t j = 0; j < n_used_; ++j) put(2 + j, cheb_coeffs(f[1 + j]));
    piece.cv.assign(std::size_t(Kp_), 0.0);
    piece.cd.assign(std::size_t(Kp_), 0.0);
    std::copy(y.begin(), y.end(), piece.cv.begin());
    std::copy(dy.begin(), dy.end(), piece.cd.begin());
    pieces_.push_back(std::move(piece));
    pending_.resize(pieces_.size() * std::size_t(Kp_), 0.0);
    touched_.resize(pieces_.size(), 0);
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
  int Kp_;  // K_ rounded up to a multiple of 4 (the padded value series and node bases)
  HeadTableOptions opt_;
  double lo_ = 0, hi_ = 0;
  bool finite_ = false;  // a non-finite value anywhere (theta far outside the network's range): no table
  std::vector<Piece> pieces_;
  int table_evals_ = 0;
  mutable int direct_ = 0;
  // The deferred gradient's pending sums (pieces x Kp_) and which pieces hold any.
  mutable std::vector<double> pending_;
  mutable std::vector<char> touched_;
  mutable std::vector<int> touched_list_;
};

} // namespace bactor::detail
