// SPDX-License-Identifier: MIT
#include "models/exact_action.hpp"

#include "models/chebyshev.hpp"
#include "models/exact_linear.hpp"

#include <bactor/models/actor.hpp>
#include <bactor/engine/errors.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

namespace bactor::detail {

namespace {

/// F_y of the ground truth's quadrature; the motor noise's sr replaced by the argument sr.
struct Foc {
  const CostInfo& cost;
  const GroundTruthOptions& quad;
  int* count;
  MotorNoise mn;
  double operator()(double y, double mu, double sp, double sr, const double* p) const {
    double g = 0;
    MotorNoise m = mn;
    m.sigma_r = sr;
    expected_cost_posterior(cost, mu, sp, m, p, y, &g, quad);
    ++*count;
    return g;
  }
};

/// Illinois (regula falsi) on a bracket of a sign change of F_y from − to +: the fallback when
/// Newton's curvature is not positive or it does not converge.
double bracketed_root(const Foc& fy, double y0, double mu, double sp, double sr, const double* p) {
  double a = y0, fa = fy(a, mu, sp, sr, p);
  if (fa == 0) return a;
  double step = 0.25, b = a, fb = fa;
  for (int it = 0;; ++it) {
    b = fa > 0 ? a - step : a + step;
    fb = fy(b, mu, sp, sr, p);
    if ((fa > 0) != (fb > 0) || fb == 0) break;
    if (it > 40)
      throw std::domain_error("exact action: no minimum of the expected cost found (mu " + std::to_string(mu) + ", sp " +
                              std::to_string(sp) + ", sr " + std::to_string(sr) + ", p " +
                              std::to_string(p ? p[0] : 0.0) + ")");
    a = b;
    fa = fb;
    step *= 2;
  }
  int side = 0;
  for (int it = 0; it < 200 && std::abs(b - a) > 1e-14 * (1 + std::abs(a)); ++it) {
    const double c = (a * fb - b * fa) / (fb - fa), fc = fy(c, mu, sp, sr, p);
    if (fc == 0) return c;
    if ((fc > 0) == (fb > 0)) {
      b = c;
      fb = fc;
      if (side == -1) fa *= 0.5;
      side = -1;
    } else {
      a = c;
      fa = fc;
      if (side == 1) fb *= 0.5;
      side = 1;
    }
  }
  return 0.5 * (a + b);
}

} // namespace

ExactLogAction exact_log_action(const CostInfo& cost, double mu, double sp, const MotorNoise& mn, const double* p,
                                const GroundTruthOptions& quad, double y_start, double curvature,
                                PerceptionModel perception) {
  if (perception == PerceptionModel::gaussian) {  // y = a in linear space (models/exact_linear.hpp)
    BACTOR_ASSERT(mn.model == MotorModel::gaussian);
    return linear_action_solve(cost, mu, sp, mn.sigma_a, p, quad, y_start);
  }
  ExactLogAction r;
  const double sr = mn.sigma_r;
  const Foc fy{cost, quad, &r.evaluations, mn};
  const std::size_t np = cost.params.size();
  BACTOR_ASSERT(np <= exact_max_cost_params);
  const double hy = 1e-4;
  auto fyy_at = [&](double y) { return (fy(y + hy, mu, sp, sr, p) - fy(y - hy, mu, sp, sr, p)) / (2 * hy); };
  // One Newton step with a central-difference curvature, then secant steps (superlinear, one
  // F_y each); steps limited to 1 in log a; Illinois on a bracket if the slope is not positive.
  double y0 = y_start, g0 = fy(y0, mu, sp, sr, p);
  const double curv = curvature > 0 ? curvature : fyy_at(y0);
  bool converged = false;
  double y = y0;
  if (curv > 0) {
    double y1 = y0 - std::clamp(g0 / curv, -1.0, 1.0);
    for (int it = 0; it < 60; ++it) {
      const double g1 = fy(y1, mu, sp, sr, p);
      if (g1 == 0 || std::abs(y1 - y0) <= 1e-13 * (1 + std::abs(y1))) {
        y = y1;
        converged = true;
        break;
      }
      const double slope = (g1 - g0) / (y1 - y0);
      if (!(slope > 0)) break;
      const double y2 = y1 - std::clamp(g1 / slope, -1.0, 1.0);
      y0 = y1;
      g0 = g1;
      y1 = y2;
    }
  }
  if (!converged) y = bracketed_root(fy, y_start, mu, sp, sr, p);
  r.y = y;
  // The implicit function theorem with central differences of F_y.
  const double fyy = r.fyy = fyy_at(y);
  if (!(fyy > 0))
    throw std::domain_error("exact action: the expected cost is not convex at its stationary point (mu " +
                            std::to_string(mu) + ", sp " + std::to_string(sp) + ", sr " + std::to_string(sr) + ")");
  auto partial = [&](double h, auto shifted) { return -(shifted(h) - shifted(-h)) / (2 * h) / fyy; };
  r.d_mu = partial(1e-4, [&](double h) { return fy(y, mu + h, sp, sr, p); });
  r.d_sp = partial(1e-4 * sp, [&](double h) { return fy(y, mu, sp + h, sr, p); });
  if (mn.model != MotorModel::gaussian) r.d_sr = partial(1e-4 * sr, [&](double h) { return fy(y, mu, sp, sr + h, p); });
  if (mn.model != MotorModel::lognormal) {
    const Foc fa{cost, quad, &r.evaluations, mn};
    r.d_sa = partial(1e-4 * mn.sigma_a, [&](double h) {
      Foc f = fa;
      f.mn.sigma_a = mn.sigma_a + h;
      return f(y, mu, sp, sr, p);
    });
  }
  for (std::size_t k = 0; k < np; ++k) {
    std::array<double, exact_max_cost_params> q{};
    for (std::size_t i = 0; i < np; ++i) q[i] = p[i];
    r.d_p[k] = partial(1e-4 * std::max(std::abs(p[k]), 1e-3), [&](double h) {
      q[k] = p[k] + h;
      return fy(y, mu, sp, sr, q.data());
    });
  }
  return r;
}

ExactHead::ExactHead(const CostInfo& cost, std::span<const double> theta, double u_lo, double u_hi,
                     const ExactActionOptions& opt, MotorModel motor, PerceptionModel perception)
    : cost_(&cost), opt_(&opt), motor_(motor), perception_(perception), np_(cost.params.size()),
      sa_at_(theta_size(cost)) {
  BACTOR_ASSERT(np_ <= exact_max_cost_params);  // the likelihood's plan refuses more (ArgumentError)
  BACTOR_ASSERT(theta.size() == action_theta_size(cost, MotorSpec{motor, false}) && theta.size() <= std::size_t(n_params));
  std::copy(theta.begin(), theta.end(), theta_.begin());
  const double s = theta[0], s0 = theta[1], mu0 = theta[2];
  const double v = s * s + s0 * s0;
  sp_ = s * s0 / std::sqrt(v);  // (1/s0^2 + 1/s^2)^(-1/2)
  wm_ = s0 * s0 / v;
  const bool linear = perception == PerceptionModel::gaussian;
  BACTOR_ASSERT(!linear || motor == MotorModel::gaussian);
  lm0_ = linear ? mu0 : std::log(mu0);
  dlm0_ = linear ? 1.0 : 1.0 / mu0;
  dsp_ds_ = sp_ * sp_ * sp_ / (s * s * s);
  dsp_ds0_ = sp_ * sp_ * sp_ / (s0 * s0 * s0);
  dwm_ds_ = -2 * s * s0 * s0 / (v * v);
  dwm_ds0_ = 2 * s0 * s * s / (v * v);
  lo_ = std::min(mu_of(u_lo), mu_of(u_hi));
  hi_ = std::max(mu_of(u_lo), mu_of(u_hi));
  if (hi_ - lo_ < 1e-3) {  // a (near-)constant measurement range: widen to keep the basis sound
    const double mid = 0.5 * (lo_ + hi_);
    lo_ = mid - 5e-4;
    hi_ = mid + 5e-4;
  }
  if (opt.interpolation_nodes < 4)
    throw ArgumentError("interpolation_nodes", "needs at least 4, got " + std::to_string(opt.interpolation_nodes));
  const int n0 = std::max(1, int(std::ceil((hi_ - lo_) / opt.max_piece)));
  double y_start = linear ? lo_ : lo_ + 0.5 * sp_ * sp_;  // (log) E[s | m] at the low end
  for (int k = 0; k < n0; ++k)
    y_start = build(lo_ + (hi_ - lo_) * k / n0, k + 1 == n0 ? hi_ : lo_ + (hi_ - lo_) * (k + 1) / n0, y_start, 0,
                    INFINITY);
}

double ExactHead::build(double lo, double hi, double y_start, int depth, double parent_tail) {
  const int K = opt_->interpolation_nodes;
  const std::size_t nk = std::size_t(K);
  std::vector<double> fy(nk), fmu(nk), fsp(nk), fsr(nk), fsa(nk);
  std::array<std::vector<double>, exact_max_cost_params> fp;
  for (std::size_t j = 0; j < np_; ++j) fp[j].resize(nk);
  const double mid = 0.5 * (lo + hi), half = 0.5 * (hi - lo);
  // Points in increasing mu (k = K-1 .. 0), each solve started from the previous one's
  // first-order prediction.
  double prev_mu = lo, prev_y = y_start, prev_d = 0, prev_fyy = 0;
  for (int k = K - 1; k >= 0; --k) {
    const double mu = mid + half * std::cos(std::numbers::pi * (k + 0.5) / K);
    const ExactLogAction a = solve(mu, prev_y + prev_d * (mu - prev_mu), prev_fyy);
    const std::size_t i = std::size_t(k);
    fy[i] = a.y;
    fmu[i] = a.d_mu;
    fsp[i] = a.d_sp;
    fsr[i] = a.d_sr;
    for (std::size_t j = 0; j < np_; ++j) fp[j][i] = a.d_p[j];
    fsa[i] = a.d_sa;
    prev_mu = mu;
    prev_y = a.y;
    prev_d = a.d_mu;
    prev_fyy = a.fyy;
  }
  Piece piece;
  piece.lo = lo;
  piece.hi = hi;
  piece.y = cheb_coeffs(fy);
  const double tail = std::max(std::abs(piece.y[nk - 1]), std::abs(piece.y[nk - 2]));
  // At the solver's noise floor (the expected cost's quadrature loses digits where the cost is
  // steep over the posterior, e.g. Linex with c s >> 1: y* noisy at 1e-7..1e-5) halving does
  // not shrink the tail; such a piece is kept rather than halved down to max_halvings.
  const bool noise_floor = tail < opt_->noise_cap && tail > 0.3 * parent_tail;
  if (tail > opt_->tail_tolerance && depth < opt_->max_halvings && !noise_floor) {
    const double y_mid = build(lo, mid, y_start, depth + 1, tail);
    return build(mid, hi, y_mid, depth + 1, tail);
  }
  piece.mu = cheb_coeffs(fmu);
  piece.sp = cheb_coeffs(fsp);
  piece.sr = cheb_coeffs(fsr);
  for (std::size_t j = 0; j < np_; ++j) piece.p[j] = cheb_coeffs(fp[j]);
  piece.sa = cheb_coeffs(fsa);
  piece.mumu = cheb_derivative(piece.mu);
  for (double& c : piece.mumu) c /= half;
  pieces_.push_back(std::move(piece));
  return prev_y + prev_d * (hi - prev_mu);
}

const ExactHead::Piece* ExactHead::find(double mu) const {
  if (!(mu >= lo_ && mu <= hi_)) return nullptr;
  // First piece whose hi is >= mu (pieces are contiguous and sorted).
  auto it = std::lower_bound(pieces_.begin(), pieces_.end(), mu, [](const Piece& p, double m) { return p.hi < m; });
  return it == pieces_.end() ? &pieces_.back() : &*it;
}

ExactLogAction ExactHead::solve(double mu, double y_start, double curvature) const {
  const double* p = theta_.data() + theta_index::first_cost_param;
  const MotorNoise mn{motor_, motor_ == MotorModel::gaussian ? 0.0 : theta_[theta_index::sigma_r],
                      motor_ == MotorModel::lognormal ? 0.0 : theta_[sa_at_]};
  ExactLogAction a = exact_log_action(*cost_, mu, sp_, mn, p, opt_->quadrature, y_start, curvature, perception_);
  ++solves_;
  evaluations_ += a.evaluations;
  return a;
}

double ExactHead::eval(double u, double& dla_du, double* dp) const {
  const double mu = mu_of(u);
  double y, ymu, ysp, ysr, ysa;
  double* yp = dp + theta_index::first_cost_param;  // d y* / d p_k straight into their theta slots
  if (const Piece* pc = find(mu)) {
    const double t = pc->t(mu);
    y = cheb_eval(pc->y, t);
    ymu = cheb_eval(pc->mu, t);
    ysp = cheb_eval(pc->sp, t);
    ysr = cheb_eval(pc->sr, t);
    for (std::size_t j = 0; j < np_; ++j) yp[j] = cheb_eval(pc->p[j], t);
    ysa = cheb_eval(pc->sa, t);
  } else {  // outside the interpolant: solve directly, started from the nearer end's tangent
    const Piece& end_piece = mu < lo_ ? pieces_.front() : pieces_.back();
    const double end = mu < lo_ ? lo_ : hi_, t = mu < lo_ ? -1.0 : 1.0;
    const ExactLogAction a = solve(mu, cheb_eval(end_piece.y, t) + cheb_eval(end_piece.mu, t) * (mu - end));
    y = a.y;
    ymu = a.d_mu;
    ysp = a.d_sp;
    ysr = a.d_sr;
    std::copy(a.d_p.begin(), a.d_p.begin() + std::ptrdiff_t(np_), yp);
    ysa = a.d_sa;
  }
  // mu = lm0 + wm (u - lm0); sp depends on (sigma, sigma_0).
  const double du = u - lm0_;
  dla_du = ymu * wm_;
  dp[0] = ymu * dwm_ds_ * du + ysp * dsp_ds_;
  dp[1] = ymu * dwm_ds0_ * du + ysp * dsp_ds0_;
  dp[2] = ymu * (1 - wm_) * dlm0_;
  dp[3] = ysr;
  std::fill(yp + np_, dp + n_params, 0.0);  // yp = dp + 4: the cost parameters, above
  if (motor_ != MotorModel::lognormal) dp[sa_at_] = ysa;  // sigma_a after the cost parameters
  return y;
}

double ExactHead::curvature(double u) const {
  const double mu = mu_of(u);
  const Piece* pc = find(mu);
  return pc ? cheb_eval(pc->mumu, pc->t(mu)) * wm_ * wm_ : 0.0;
}

bool ExactHead::inverse(double y, double& u, double& slope) const {
  const double mc = 0.5 * (lo_ + hi_);
  const Piece* pc = find(mc);
  const double yc = cheb_eval(pc->y, pc->t(mc)), ymu = cheb_eval(pc->mu, pc->t(mc));
  if (!(ymu > 1e-3) || !(wm_ > 0)) return false;
  const double mu = mc + (y - yc) / ymu;
  u = lm0_ + (mu - lm0_) / wm_;
  slope = ymu * wm_;
  return std::isfinite(u);
}

void exact_action_range(std::span<const double> x, double sigma, const ExactActionOptions& opt, double& u_lo,
                        double& u_hi) {
  const auto [mn, mx] = std::minmax_element(x.begin(), x.end());
  u_lo = *mn - opt.range_sds * sigma;
  u_hi = *mx + opt.range_sds * sigma;
}

} // namespace bactor::detail
