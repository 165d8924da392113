// SPDX-License-Identifier: MIT
// Multinomial NUTS with Stan's trajectory rules (see docs/sampler.md). All vectors of a chain
// live in one preallocated buffer, so a transition allocates nothing.
#include <bactor/samplers/nuts.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>

#include <Eigen/Dense>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include <bactor/engine/rng.hpp>
#include "samplers/adaptation.hpp"

namespace bactor {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMaxDeltaH = 1000.0;

inline double log_sum_exp(double a, double b) {
  if (a == -kInf) return b;
  if (b == -kInf) return a;
  const double m = a > b ? a : b;
  return m + std::log1p(std::exp(-std::fabs(a - b)));
}

/// x . y with two 4-wide vector accumulators (GCC vector extension; a scalar accumulator
/// serialises on the FP-add latency). Deterministic: the summation order is fixed.
using V4 = double __attribute__((vector_size(32)));

inline V4 load4(const double* p) {
  V4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline double dot(std::size_t n, const double* x, const double* y) {
  V4 a0 = {0, 0, 0, 0}, a1 = {0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    a0 += load4(x + i) * load4(y + i);
    a1 += load4(x + i + 4) * load4(y + i + 4);
  }
  for (; i + 4 <= n; i += 4) a0 += load4(x + i) * load4(y + i);
  const V4 a = a0 + a1;
  double s = (a[0] + a[1]) + (a[2] + a[3]);
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

} // namespace

/// A phase-space point: position, momentum, gradient of log p, log p.
struct PsPoint {
  double* q = nullptr;
  double* p = nullptr;
  double* g = nullptr;
  double lp = 0;
};

struct NutsChain::Impl {
  Model& model;
  Rng& rng;
  std::size_t n;
  int max_depth;
  bool dense;
  double eps = 1.0;
  std::size_t grad_evals = 0;
  std::vector<std::size_t> angles;  // Model::angle_coordinates: kept in (-pi, pi]
  bool divergent = false;

  std::vector<double> buf;
  std::vector<double> minv;        // n or n*n
  std::vector<double> sqrt_m;      // diagonal: 1 / sqrt(minv)
  Eigen::MatrixXd chol_u;          // dense: upper Cholesky factor of minv
  Eigen::VectorXd tmp_dense;

  PsPoint z, z_fwd, z_bck, z_sample, z_propose, z_init;
  // top-level vectors
  double *p_fwd_fwd, *ps_fwd_fwd, *p_fwd_bck, *ps_fwd_bck, *p_bck_fwd, *ps_bck_fwd, *p_bck_bck,
      *ps_bck_bck, *rho, *rho_fwd, *rho_bck, *rho_ext;
  // per-level scratch for build_tree at depth d (d = 1..max_depth)
  struct Level {
    double *p_init_end, *ps_init_end, *rho_init, *p_final_beg, *ps_final_beg, *rho_final, *rho_sub,
        *rho_ext;
    PsPoint z_propose_final;
  };
  std::vector<Level> levels;

  Impl(Model& m, Rng& r, int depth, bool is_dense)
      : model(m), rng(r), n(m.dim()), max_depth(depth), dense(is_dense), angles(m.angle_coordinates()) {
    for (std::size_t a : angles)
      if (a >= n)
        throw std::invalid_argument("NUTS: the model names coordinate " + std::to_string(a) +
                                    " an angle but has dimension " + std::to_string(n));
    const std::size_t n_points = 6, per_point = 3, n_top = 12, per_level = 8 + 3;
    buf.assign(n * (n_points * per_point + n_top + per_level * std::size_t(max_depth + 1)), 0.0);
    double* cur = buf.data();
    auto take = [&] {
      double* r = cur;
      cur += n;
      return r;
    };
    auto point = [&](PsPoint& pt) {
      pt.q = take();
      pt.p = take();
      pt.g = take();
    };
    point(z), point(z_fwd), point(z_bck), point(z_sample), point(z_propose), point(z_init);
    p_fwd_fwd = take(), ps_fwd_fwd = take(), p_fwd_bck = take(), ps_fwd_bck = take();
    p_bck_fwd = take(), ps_bck_fwd = take(), p_bck_bck = take(), ps_bck_bck = take();
    rho = take(), rho_fwd = take(), rho_bck = take(), rho_ext = take();
    levels.resize(std::size_t(max_depth + 1));
    for (auto& l : levels) {
      l.p_init_end = take(), l.ps_init_end = take(), l.rho_init = take();
      l.p_final_beg = take(), l.ps_final_beg = take(), l.rho_final = take();
      l.rho_sub = take(), l.rho_ext = take();
      point(l.z_propose_final);
    }
    if (dense) {
      minv.assign(n * n, 0.0);
      for (std::size_t i = 0; i < n; ++i) minv[i * n + i] = 1.0;
      chol_u = Eigen::MatrixXd::Identity(Eigen::Index(n), Eigen::Index(n));
      tmp_dense.resize(Eigen::Index(n));
    } else {
      minv.assign(n, 1.0);
      sqrt_m.assign(n, 1.0);
    }
  }

  void copy(PsPoint& dst, const PsPoint& src) const {
    std::copy(src.q, src.q + n, dst.q);
    std::copy(src.p, src.p + n, dst.p);
    std::copy(src.g, src.g + n, dst.g);
    dst.lp = src.lp;
  }

  /// out = M^{-1} p (the "sharp" momentum, dtau/dp).
  void sharp(const double* p, double* out) const {
    if (!dense) {
      for (std::size_t i = 0; i < n; ++i) out[i] = minv[i] * p[i];
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        const double* row = minv.data() + i * n;
        out[i] = dot(n, row, p);
      }
    }
  }

  /// Hamiltonian -lp + p' M^{-1} p / 2; NaN becomes +inf.
  double hamiltonian(const PsPoint& pt, const double* p_sharp) const {
    const double h = -pt.lp + 0.5 * dot(n, pt.p, p_sharp);
    return std::isnan(h) ? kInf : h;
  }
  double hamiltonian(const PsPoint& pt) {
    if (!dense) {
      double k0 = 0, k1 = 0;
      std::size_t i = 0;
      for (; i + 2 <= n; i += 2) {
        k0 += minv[i] * pt.p[i] * pt.p[i];
        k1 += minv[i + 1] * pt.p[i + 1] * pt.p[i + 1];
      }
      for (; i < n; ++i) k0 += minv[i] * pt.p[i] * pt.p[i];
      const double h = -pt.lp + 0.5 * (k0 + k1);
      return std::isnan(h) ? kInf : h;
    }
    sharp(pt.p, rho_ext);  // rho_ext is free outside the tree merge checks
    return hamiltonian(pt, rho_ext);
  }

  void sample_momentum(PsPoint& pt) {
    if (!dense) {
      rng.fill_normal(std::span<double>(pt.p, n));
      for (std::size_t i = 0; i < n; ++i) pt.p[i] *= sqrt_m[i];
    } else {
      for (std::size_t i = 0; i < n; ++i) tmp_dense[Eigen::Index(i)] = rng.normal();
      // p ~ N(0, M) with M^{-1} = U'U: p = U^{-1} u.
      chol_u.triangularView<Eigen::Upper>().solveInPlace(tmp_dense);
      for (std::size_t i = 0; i < n; ++i) pt.p[i] = tmp_dense[Eigen::Index(i)];
    }
  }

  /// Wraps the angles of q into (-pi, pi]. The target is 2 pi-periodic in each, so the NUTS
  /// transition from q + 2 pi k is the one from q shifted by 2 pi k (same momentum and random
  /// choices): wrapping between transitions leaves the chain on the circle unchanged, and the
  /// log density and gradient at q stand for the wrapped point.
  void wrap_angles(double* q) const {
    for (std::size_t a : angles) q[a] = detail::wrap_angle(q[a]);
  }

  void eval(PsPoint& pt) {
    pt.lp = model.log_density(std::span<const double>(pt.q, n), std::span<double>(pt.g, n));
    ++grad_evals;
  }

  /// One leapfrog step of size e on pt (uses rho_ext of level 0 as scratch for dense q-update).
  void leapfrog(PsPoint& pt, double e) {
    const double half = 0.5 * e;
    for (std::size_t i = 0; i < n; ++i) pt.p[i] += half * pt.g[i];
    if (!dense) {
      for (std::size_t i = 0; i < n; ++i) pt.q[i] += e * minv[i] * pt.p[i];
    } else {
      double* v = levels[0].rho_ext;
      sharp(pt.p, v);
      for (std::size_t i = 0; i < n; ++i) pt.q[i] += e * v[i];
    }
    eval(pt);
    for (std::size_t i = 0; i < n; ++i) pt.p[i] += half * pt.g[i];
  }

  bool criterion(const double* ps_minus, const double* ps_plus, const double* r) const {
    return dot(n, ps_plus, r) > 0 && dot(n, ps_minus, r) > 0;
  }

  /// Builds a subtree of 2^depth leapfrog steps from z in direction sign (Stan's build_tree).
  bool build_tree(int depth, PsPoint& propose, double* ps_beg, double* ps_end, double* r,
                  double* p_beg, double* p_end, double h0, double sign, int& n_leapfrog,
                  double& log_sum_weight, double& sum_metro_prob) {
    if (depth == 0) {
      ++n_leapfrog;
      double h;
      if (!dense) {
        // Leapfrog with the last half-kick fused with the leaf bookkeeping (diagonal metric).
        const double e = sign * eps, half = 0.5 * e;
        double* q = z.q;
        double* p = z.p;
        const double* g = z.g;
        const double* mi = minv.data();
        for (std::size_t i = 0; i < n; ++i) {
          p[i] += half * g[i];
          q[i] += e * mi[i] * p[i];
        }
        eval(z);
        for (std::size_t i = 0; i < n; ++i) {
          const double pi = p[i] + half * g[i];
          const double ps = mi[i] * pi;
          p[i] = pi;
          ps_beg[i] = ps;
          ps_end[i] = ps;
          r[i] += pi;
          p_beg[i] = pi;
          p_end[i] = pi;
        }
        h = -z.lp + 0.5 * dot(n, p, ps_beg);
        if (std::isnan(h)) h = kInf;
      } else {
        leapfrog(z, sign * eps);
        sharp(z.p, ps_beg);
        h = hamiltonian(z, ps_beg);
        std::copy(ps_beg, ps_beg + n, ps_end);
        for (std::size_t i = 0; i < n; ++i) r[i] += z.p[i];
        std::copy(z.p, z.p + n, p_beg);
        std::copy(z.p, z.p + n, p_end);
      }
      if (h - h0 > kMaxDeltaH) divergent = true;
      log_sum_weight = log_sum_exp(log_sum_weight, h0 - h);
      sum_metro_prob += h0 - h > 0 ? 1.0 : std::exp(h0 - h);
      copy(propose, z);
      return !divergent;
    }
    Level& L = levels[std::size_t(depth)];
    double lsw_init = -kInf;
    std::fill(L.rho_init, L.rho_init + n, 0.0);
    if (!build_tree(depth - 1, propose, ps_beg, L.ps_init_end, L.rho_init, p_beg, L.p_init_end,
                    h0, sign, n_leapfrog, lsw_init, sum_metro_prob))
      return false;

    double lsw_final = -kInf;
    std::fill(L.rho_final, L.rho_final + n, 0.0);
    if (!build_tree(depth - 1, L.z_propose_final, L.ps_final_beg, ps_end, L.rho_final,
                    L.p_final_beg, p_end, h0, sign, n_leapfrog, lsw_final, sum_metro_prob))
      return false;

    // Uniform progressive sampling inside subtrees.
    const double lsw_sub = log_sum_exp(lsw_init, lsw_final);
    log_sum_weight = log_sum_exp(log_sum_weight, lsw_sub);
    if (lsw_final > lsw_sub) {
      copy(propose, L.z_propose_final);
    } else if (rng.uniform() < std::exp(lsw_final - lsw_sub)) {
      copy(propose, L.z_propose_final);
    }

    for (std::size_t i = 0; i < n; ++i) {
      L.rho_sub[i] = L.rho_init[i] + L.rho_final[i];
      r[i] += L.rho_sub[i];
    }
    bool persist = criterion(ps_beg, ps_end, L.rho_sub);
    for (std::size_t i = 0; i < n; ++i) L.rho_ext[i] = L.rho_init[i] + L.p_final_beg[i];
    persist = persist && criterion(ps_beg, L.ps_final_beg, L.rho_ext);
    for (std::size_t i = 0; i < n; ++i) L.rho_ext[i] = L.rho_final[i] + L.p_init_end[i];
    persist = persist && criterion(L.ps_init_end, ps_end, L.rho_ext);
    return persist;
  }

  TransitionInfo transition() {
    sample_momentum(z);
    copy(z_fwd, z);
    copy(z_bck, z);
    copy(z_sample, z);
    copy(z_propose, z);

    std::copy(z.p, z.p + n, p_fwd_fwd);
    sharp(z.p, ps_fwd_fwd);
    std::copy(z.p, z.p + n, p_fwd_bck);
    std::copy(ps_fwd_fwd, ps_fwd_fwd + n, ps_fwd_bck);
    std::copy(z.p, z.p + n, p_bck_fwd);
    std::copy(ps_fwd_fwd, ps_fwd_fwd + n, ps_bck_fwd);
    std::copy(z.p, z.p + n, p_bck_bck);
    std::copy(ps_fwd_fwd, ps_fwd_fwd + n, ps_bck_bck);
    std::copy(z.p, z.p + n, rho);

    double log_sum_weight = 0;
    const double h0 = hamiltonian(z, ps_fwd_fwd);
    int n_leapfrog = 0;
    double sum_metro_prob = 0;
    int depth = 0;
    divergent = false;

    while (depth < max_depth) {
      std::fill(rho_fwd, rho_fwd + n, 0.0);
      std::fill(rho_bck, rho_bck + n, 0.0);
      bool valid = false;
      double lsw_sub = -kInf;
      if (rng.uniform() > 0.5) {
        copy(z, z_fwd);
        std::copy(rho, rho + n, rho_bck);
        // The old trajectory becomes the backward subtree: its forward end is the old
        // trajectory's forward end.
        std::copy(p_fwd_fwd, p_fwd_fwd + n, p_bck_fwd);
        std::copy(ps_fwd_fwd, ps_fwd_fwd + n, ps_bck_fwd);
        eps = std::fabs(eps);
        valid = build_tree(depth, z_propose, ps_fwd_bck, ps_fwd_fwd, rho_fwd, p_fwd_bck, p_fwd_fwd,
                           h0, 1.0, n_leapfrog, lsw_sub, sum_metro_prob);
        copy(z_fwd, z);
      } else {
        copy(z, z_bck);
        std::copy(rho, rho + n, rho_fwd);
        // The old trajectory becomes the forward subtree: its backward end is the old
        // trajectory's backward end.
        std::copy(p_bck_bck, p_bck_bck + n, p_fwd_bck);
        std::copy(ps_bck_bck, ps_bck_bck + n, ps_fwd_bck);
        eps = std::fabs(eps);
        valid = build_tree(depth, z_propose, ps_bck_fwd, ps_bck_bck, rho_bck, p_bck_fwd, p_bck_bck,
                           h0, -1.0, n_leapfrog, lsw_sub, sum_metro_prob);
        copy(z_bck, z);
      }
      if (!valid) break;
      ++depth;

      // Biased progressive sampling at the top level.
      if (lsw_sub > log_sum_weight) {
        copy(z_sample, z_propose);
      } else if (rng.uniform() < std::exp(lsw_sub - log_sum_weight)) {
        copy(z_sample, z_propose);
      }
      log_sum_weight = log_sum_exp(log_sum_weight, lsw_sub);

      for (std::size_t i = 0; i < n; ++i) rho[i] = rho_bck[i] + rho_fwd[i];
      bool persist = criterion(ps_bck_bck, ps_fwd_fwd, rho);
      for (std::size_t i = 0; i < n; ++i) rho_ext[i] = rho_bck[i] + p_fwd_bck[i];
      persist = persist && criterion(ps_bck_bck, ps_fwd_bck, rho_ext);
      for (std::size_t i = 0; i < n; ++i) rho_ext[i] = rho_fwd[i] + p_bck_fwd[i];
      persist = persist && criterion(ps_bck_fwd, ps_fwd_fwd, rho_ext);
      if (!persist) break;
    }

    TransitionInfo info;
    info.n_leapfrog = n_leapfrog;
    info.tree_depth = depth;
    info.divergent = divergent;
    info.accept_stat = n_leapfrog > 0 ? sum_metro_prob / double(n_leapfrog) : 0.0;
    copy(z, z_sample);
    wrap_angles(z.q);
    info.energy = hamiltonian(z);
    info.lp = z.lp;
    return info;
  }

  /// One leapfrog step from z_init with fresh momentum; returns H0 - H.
  double one_step_delta() {
    copy(z, z_init);
    sample_momentum(z);
    const double h0 = hamiltonian(z);
    leapfrog(z, eps);
    const double h = hamiltonian(z);
    return h0 - h;
  }

  void init_step_size() {
    if (eps == 0 || eps > 1e7 || std::isnan(eps)) return;
    copy(z_init, z);
    const double log08 = std::log(0.8);
    const int direction = one_step_delta() > log08 ? 1 : -1;
    for (;;) {
      const double dh = one_step_delta();
      if (direction == 1 && !(dh > log08)) break;
      if (direction == -1 && !(dh < log08)) break;
      eps = direction == 1 ? 2 * eps : 0.5 * eps;
      if (eps > 1e7) {
        copy(z, z_init);
        throw std::runtime_error("NUTS: the posterior is improper (step size grew beyond 1e7); "
                                 "check the model");
      }
      if (eps == 0) {
        copy(z, z_init);
        throw std::runtime_error("NUTS: no acceptably small step size could be found; is the "
                                 "log density continuous?");
      }
    }
    copy(z, z_init);
  }

  void set_inv_metric(std::span<const double> m) {
    if (!dense) {
      if (m.size() != n) throw std::invalid_argument("NUTS: diagonal inverse metric needs dim entries");
      for (double v : m)
        if (!(v > 0) || !std::isfinite(v))
          throw std::invalid_argument("NUTS: inverse metric entries must be positive and finite");
      std::copy(m.begin(), m.end(), minv.begin());
      for (std::size_t i = 0; i < n; ++i) sqrt_m[i] = 1.0 / std::sqrt(minv[i]);
      return;
    }
    if (m.size() != n * n) throw std::invalid_argument("NUTS: dense inverse metric needs dim*dim entries");
    Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> mat(
        m.data(), Eigen::Index(n), Eigen::Index(n));
    Eigen::LLT<Eigen::MatrixXd> llt(mat);
    if (llt.info() != Eigen::Success)
      throw std::invalid_argument("NUTS: dense inverse metric is not positive definite");
    chol_u = llt.matrixU();
    std::copy(m.begin(), m.end(), minv.begin());
  }
};

NutsChain::NutsChain(Model& model, Rng& rng, int max_depth, bool dense)
    : impl_(new Impl(model, rng, max_depth, dense)) {
  if (max_depth < 1) {
    delete impl_;
    throw std::invalid_argument("NUTS: max_depth must be >= 1, got " + std::to_string(max_depth));
  }
}
NutsChain::~NutsChain() { delete impl_; }
std::size_t NutsChain::dim() const { return impl_->n; }
double NutsChain::set_position(std::span<const double> q) {
  if (q.size() != impl_->n) throw std::invalid_argument("NUTS: position has wrong size");
  std::copy(q.begin(), q.end(), impl_->z.q);
  impl_->wrap_angles(impl_->z.q);
  impl_->eval(impl_->z);
  return impl_->z.lp;
}
std::span<const double> NutsChain::position() const { return {impl_->z.q, impl_->n}; }
double NutsChain::log_density() const { return impl_->z.lp; }
std::span<const double> NutsChain::gradient() const { return {impl_->z.g, impl_->n}; }
void NutsChain::set_step_size(double eps) { impl_->eps = eps; }
double NutsChain::step_size() const { return impl_->eps; }
void NutsChain::set_inv_metric(std::span<const double> m) { impl_->set_inv_metric(m); }
std::span<const double> NutsChain::inv_metric() const { return impl_->minv; }
TransitionInfo NutsChain::transition() { return impl_->transition(); }
void NutsChain::init_step_size() { impl_->init_step_size(); }
std::size_t NutsChain::gradient_evaluations() const { return impl_->grad_evals; }

// ---------------------------------------------------------------------------------------------

namespace {

const char* const kSamplerColumns[] = {"lp__",        "accept_stat__", "stepsize__", "treedepth__",
                                       "n_leapfrog__", "divergent__",  "energy__"};

void validate(const NutsSettings& s) {
  auto bad = [](const std::string& what) { throw std::invalid_argument("NUTS settings: " + what); };
  if (s.chains < 1) bad("chains must be >= 1, got " + std::to_string(s.chains));
  if (s.warmup < 0) bad("warmup must be >= 0, got " + std::to_string(s.warmup));
  if (s.samples < 0) bad("samples must be >= 0, got " + std::to_string(s.samples));
  if (s.thin < 1) bad("thin must be >= 1, got " + std::to_string(s.thin));
  if (!(s.delta > 0 && s.delta < 1)) bad("delta must be in (0, 1), got " + std::to_string(s.delta));
  if (s.max_depth < 1 || s.max_depth > 30) bad("max_depth must be in [1, 30], got " + std::to_string(s.max_depth));
  if (!(s.init_radius >= 0) || !std::isfinite(s.init_radius))
    bad("init_radius must be finite and >= 0, got " + std::to_string(s.init_radius));
  if (s.threads < 0) bad("threads must be >= 0, got " + std::to_string(s.threads));
}

bool all_finite(std::span<const double> v) {
  for (double x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

void initialise(NutsChain& chain, Rng& rng, const NutsSettings& s, int chain_id) {
  const std::size_t n = chain.dim();
  if (!s.init.empty()) {
    if (s.init.size() != n)
      throw std::invalid_argument("NUTS: init has " + std::to_string(s.init.size()) +
                                  " values but the model has dimension " + std::to_string(n));
    const double lp = chain.set_position(s.init);
    if (!std::isfinite(lp) || !all_finite(chain.gradient()))
      throw std::runtime_error("NUTS chain " + std::to_string(chain_id) +
                               ": the log density or its gradient is not finite at the given init");
    return;
  }
  std::vector<double> q(n);
  for (int attempt = 0; attempt < 100; ++attempt) {
    for (auto& x : q) x = rng.uniform(-s.init_radius, s.init_radius);
    const double lp = chain.set_position(q);
    if (std::isfinite(lp) && all_finite(chain.gradient())) return;
  }
  throw std::runtime_error("NUTS chain " + std::to_string(chain_id) +
                           ": no initial point with finite log density and gradient in 100 "
                           "attempts (uniform(-" + std::to_string(s.init_radius) + ", " +
                           std::to_string(s.init_radius) + ") on the unconstrained scale); "
                           "check the model or give an init");
}

ChainResult run_chain(const ModelFactory& factory, const NutsSettings& s, int chain_id) {
  using clock = std::chrono::steady_clock;
  auto model = factory();
  if (!model) throw std::runtime_error("NUTS: model factory returned null");
  const std::size_t n = model->dim();
  Rng rng(s.seed, std::uint64_t(chain_id));

  ChainResult res;
  res.chain_id = chain_id;
  res.max_depth = s.max_depth;
  for (const char* c : kSamplerColumns) res.columns.emplace_back(c);
  const auto out_names = model->output_names();
  for (const auto& name : out_names) res.columns.push_back(name);
  const std::size_t ncol = res.columns.size();
  const std::size_t n_out = out_names.size();

  NutsChain chain(*model, rng, s.max_depth, s.dense_metric);
  initialise(chain, rng, s, chain_id);

  const auto t_start = clock::now();
  chain.set_step_size(1.0);
  chain.init_step_size();
  // As Stan: mu = log(10 * initial step size) where the initial step size is 1.
  detail::DualAveraging da(s.delta);
  da.mu = std::log(10.0 * 1.0);
  detail::WindowedAdaptation windows(s.warmup);
  detail::WelfordEstimator est(n, s.dense_metric, model->angle_coordinates());
  std::vector<double> metric = std::vector<double>(chain.inv_metric().begin(), chain.inv_metric().end());

  const int total = s.warmup + s.samples;
  const int kept_warmup = s.save_warmup ? (s.warmup + s.thin - 1) / s.thin : 0;
  const int kept_samples = (s.samples + s.thin - 1) / s.thin;
  res.draws.reserve(std::size_t(kept_warmup + kept_samples) * ncol);
  const int progress_every = std::max(1, total / 100);
  std::vector<double> row(ncol);
  bool complete = true;
  auto t_warm_end = t_start;
  if (s.warmup == 0) t_warm_end = clock::now();

  for (int it = 0; it < total; ++it) {
    if (s.stop && s.stop->load(std::memory_order_relaxed)) {
      complete = false;
      break;
    }
    const double eps_used = chain.step_size();
    const TransitionInfo info = chain.transition();
    const bool warm = it < s.warmup;
    if (warm) {
      double eps = eps_used;
      da.learn(eps, info.accept_stat);
      chain.set_step_size(eps);
      if (windows.learn(est, chain.position(), metric)) {
        chain.set_inv_metric(metric);
        chain.init_step_size();
        da.mu = std::log(10.0 * chain.step_size());
        da.restart();
      }
      if (it == s.warmup - 1) {
        chain.set_step_size(da.final_step_size());
        t_warm_end = clock::now();
      }
    }
    const int kept_it = warm ? it : it - s.warmup;
    if ((!warm || s.save_warmup) && kept_it % s.thin == 0) {
      row[0] = info.lp;
      row[1] = info.accept_stat;
      row[2] = eps_used;
      row[3] = info.tree_depth;
      row[4] = info.n_leapfrog;
      row[5] = info.divergent ? 1.0 : 0.0;
      row[6] = info.energy;
      model->write_outputs(chain.position(), rng, std::span<double>(row.data() + 7, n_out));
      res.draws.insert(res.draws.end(), row.begin(), row.end());
      if (warm) ++res.warmup_draws_saved;
    }
    if (s.progress && ((it + 1) % progress_every == 0 || it + 1 == total))
      s.progress(chain_id, it + 1, total);
  }
  const auto t_end = clock::now();
  if (!complete && t_warm_end == t_start && s.warmup > 0) t_warm_end = t_end;
  res.complete = complete;
  res.step_size = chain.step_size();
  res.inv_metric.assign(chain.inv_metric().begin(), chain.inv_metric().end());
  res.warmup_seconds = std::chrono::duration<double>(t_warm_end - t_start).count();
  res.sampling_seconds = std::chrono::duration<double>(t_end - t_warm_end).count();
  res.gradient_evaluations = chain.gradient_evaluations();
  return res;
}

} // namespace

std::vector<ChainResult> run_nuts(const ModelFactory& factory, const NutsSettings& settings) {
  validate(settings);
  if (!factory) throw std::invalid_argument("NUTS: empty model factory");
  const int nc = settings.chains;
  // Models are made serially (the factory need not be thread-safe).
  std::vector<std::unique_ptr<Model>> models(static_cast<std::size_t>(nc));
  for (int c = 0; c < nc; ++c) {
    models[std::size_t(c)] = factory();
    if (!models[std::size_t(c)]) throw std::runtime_error("NUTS: model factory returned null");
  }
  std::vector<ChainResult> results(static_cast<std::size_t>(nc));
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(nc));
#if defined(_OPENMP)
  const int threads = settings.threads > 0 ? settings.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(std::min(threads, nc))
#endif
  for (int c = 0; c < nc; ++c) {
    try {
      Model* m = models[std::size_t(c)].release();
      std::unique_ptr<Model> owned(m);
      bool used = false;
      const ModelFactory one = [&]() -> std::unique_ptr<Model> {
        if (used) return nullptr;
        used = true;
        return std::move(owned);
      };
      results[std::size_t(c)] = run_chain(one, settings, c + 1);
    } catch (...) {
      errors[std::size_t(c)] = std::current_exception();
    }
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return results;
}

} // namespace bactor
