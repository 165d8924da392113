// SPDX-License-Identifier: MIT
#include <bactor/models/ground_truth.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <numbers>
#include <stdexcept>
#include <vector>

#include <Eigen/Eigenvalues>

#include <bactor/models/actor.hpp>
#include "models/kink_split.hpp"

namespace bactor {

namespace {

using Rule = detail::GaussRule;

/// Golub–Welsch: nodes are the eigenvalues of the Jacobi matrix of the three-term recurrence,
/// weights the squared first eigenvector components times the total mass.
Rule golub_welsch(int n, bool hermite) {
  Eigen::MatrixXd J = Eigen::MatrixXd::Zero(n, n);
  for (int k = 1; k < n; ++k) {
    // probabilists' Hermite: beta_k = sqrt(k); Legendre: k / sqrt(4k^2 - 1)
    const double b = hermite ? std::sqrt(double(k)) : double(k) / std::sqrt(4.0 * k * k - 1.0);
    J(k, k - 1) = J(k - 1, k) = b;
  }
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(J);
  Rule r;
  const double mass = hermite ? 1.0 : 2.0;
  for (int i = 0; i < n; ++i) {
    r.x.push_back(es.eigenvalues()(i));
    const double v = es.eigenvectors()(0, i);
    r.w.push_back(mass * v * v);
  }
  return r;
}

/// Cached rules (Hermite for N(0,1) weights summing to 1; Legendre on [-1, 1]).
const Rule& rule(int n, bool hermite) {
  static std::mutex mu;
  static std::map<std::pair<int, bool>, Rule> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find({n, hermite});
  if (it == cache.end()) it = cache.emplace(std::make_pair(n, hermite), golub_welsch(n, hermite)).first;
  return it->second;
}

} // namespace

const detail::GaussRule& detail::gauss_rule(int n, bool hermite) { return rule(n, hermite); }

namespace {

void check_theta(const CostInfo& cost, std::span<const double> theta, double m) {
  if (theta.size() != theta_size(cost))
    throw std::invalid_argument("theta has " + std::to_string(theta.size()) + " entries, cost '" + cost.name +
                                "' needs " + std::to_string(theta_size(cost)));
  for (std::size_t i = 0; i < theta.size(); ++i)
    if (!std::isfinite(theta[i])) throw std::invalid_argument("theta[" + std::to_string(i) + "] is not finite");
  if (!(m > 0) || !std::isfinite(m)) throw std::invalid_argument("measurement m must be positive and finite");
}

} // namespace

double expected_cost(const CostInfo& cost, std::span<const double> theta, double m, double log_a, double* dfdy,
                     const GroundTruthOptions& opt) {
  const auto post = actor_posterior(m, theta[0], theta[1], theta[2]);
  return expected_cost_posterior(cost, post.mu_post, post.sigma_post, theta[3], theta.data() + 4, log_a, dfdy, opt);
}

double expected_cost_posterior(const CostInfo& cost, double mu, double sp, double sr, const double* p, double log_a,
                               double* dfdy, const GroundTruthOptions& opt) {
  return expected_cost_posterior(cost, mu, sp, MotorNoise{MotorModel::lognormal, sr, 0.0}, p, log_a, dfdy, opt);
}

double expected_cost_posterior(const CostInfo& cost, double mu, double sp, const MotorNoise& mn, const double* p,
                               double log_a, double* dfdy, const GroundTruthOptions& opt) {
  const double inv_sqrt_2pi = 1.0 / std::sqrt(2.0 * std::numbers::pi);
  double f = 0.0, g = 0.0;
  // With a block evaluator (formula costs) the points are collected and evaluated together at
  // the end; the sums run in the same order either way.
  const bool block = bool(cost.loss_dr_n);
  std::vector<double> bs, br, bd, bw;
  // One point (s, r) with dr/d log a = drdy and quadrature weight w.
  auto add = [&](double s, double r, double drdy, double w) {
    if (block) {
      bs.push_back(s);
      br.push_back(r);
      bd.push_back(drdy);
      bw.push_back(w);
      return;
    }
    double d = 0.0;
    f += w * cost.loss_dr(s, r, p, &d);
    g += w * d * drdy;
  };
  auto flush = [&] {
    if (!block) return;
    std::vector<double> l(bs.size()), d(bs.size());
    cost.loss_dr_n(bs.size(), bs.data(), br.data(), p, l.data(), d.data());
    for (std::size_t i = 0; i < bs.size(); ++i) {
      f += bw[i] * l[i];
      g += bw[i] * d[i] * bd[i];
    }
  };
  // s at the nodes of a Gauss–Hermite rule in e (the branches where s depends on e alone).
  auto s_at = [&](const Rule& ge) {
    std::vector<double> sv(ge.x.size());
    for (std::size_t i = 0; i < sv.size(); ++i) sv[i] = std::exp(mu + sp * ge.x[i]);
    return sv;
  };
  const Rule& gl = rule(opt.inner_nodes, false);
  const double L = opt.tail;
  if (cost.kink_at_s_equals_r && mn.model == MotorModel::gaussian) {
    // r = a + sa u: for each posterior node s_i the kink sits at u* = (s_i - a) / sa; the u-line
    // is cut there. After the u-integral the posterior integrand still bends sharply where the
    // median response crosses s, at e0 = (log a - mu) / sp (over a width sa / (a sp) in e), so
    // the e-line is cut at e0 too: 3/4 outer_nodes Gauss–Legendre nodes per piece of e, graded
    // towards e0, inner_nodes per piece of u, both in the logistic scale of models/kink_split.hpp
    // (a Gauss–Hermite rule in e erred by up to 3% in AbsoluteCostQuadraticEffort's action
    // where sa << a sp; docs/families.md). With 1/2 outer_nodes per piece the derivative (the
    // nodes held) and the finite differences of the value (the cuts moving with a) differed by
    // up to 3e-5, with 3/4 by 7e-7 (test_motor.cpp asks 2e-6).
    const double a = std::exp(log_a);
    const int ne = std::max(1, 3 * opt.outer_nodes / 4);
    const Rule& gle = rule(ne, false);
    double ve, cve;
    detail::kink_split_point((log_a - mu) / sp, ve, cve);
    for (int se = 0; se < 2; ++se)
      for (int i = 0; i < ne; ++i) {
        const double t = 0.5 * (1 + gle.x[std::size_t(i)]);  // t^2: graded towards e0
        double we;
        const double e = detail::kink_split_node(se, ve, cve, t * t, we);
        we *= 0.5 * gle.w[std::size_t(i)] * 2 * t;
        const double s = std::exp(mu + sp * e);
        double vu, cvu;
        detail::kink_split_point((s - a) / mn.sigma_a, vu, cvu);
        for (int su = 0; su < 2; ++su)
          for (std::size_t j = 0; j < gl.x.size(); ++j) {
            double wu;
            const double u = detail::kink_split_node(su, vu, cvu, 0.5 * (1 + gl.x[j]), wu);
            add(s, a + mn.sigma_a * u, a, we * wu * 0.5 * gl.w[j]);
          }
      }
  } else if (cost.kink_at_s_equals_r) {
    // Log-normal motor noise of scale sr (generalized: sr_eff = sqrt(sr^2 + sa^2/a^2), which
    // depends on log a: dr/dy = r (1 - u q / sr_eff) with q = sa^2/a^2 and u the motor draw).
    // Rotate (e, u) to z = (sp e - sr u)/tau, w = (sr e + sp u)/tau (independent N(0,1)):
    // log s - log r = mu - log a + tau z, so the kink sits at a fixed z* for every w. Split the
    // z-line there (Gauss–Legendre on each piece), Gauss–Hermite over w.
    const bool gen = mn.model == MotorModel::generalized;
    const double q = gen ? mn.sigma_a * mn.sigma_a * std::exp(-2 * log_a) : 0.0;
    const double sr = std::sqrt(mn.sigma_r * mn.sigma_r + q);
    const double tau = std::hypot(sp, sr);
    const double kink = std::clamp((log_a - mu) / tau, -L, L);
    const Rule& outer = rule(opt.outer_nodes, true);
    // log s = mu + sp (sp z + sr w)/tau and log r = log a + sr (sp w - sr z)/tau are sums of a
    // z-part and a w-part, so s and r are products of factors computed once per node.
    std::vector<double> sw(outer.x.size()), rw(outer.x.size());
    for (std::size_t j = 0; j < outer.x.size(); ++j) {
      sw[j] = std::exp(sp * sr * outer.x[j] / tau);
      rw[j] = std::exp(sr * sp * outer.x[j] / tau);
    }
    for (const auto& [lo, hi] : {std::pair{-L, kink}, std::pair{kink, L}}) {
      if (hi - lo < 1e-12) continue;
      const double half = 0.5 * (hi - lo), mid = 0.5 * (hi + lo);
      for (std::size_t i = 0; i < gl.x.size(); ++i) {
        const double z = mid + half * gl.x[i];
        const double wz = gl.w[i] * half * inv_sqrt_2pi * std::exp(-0.5 * z * z);
        const double sz = std::exp(mu + sp * sp * z / tau), rz = std::exp(log_a - sr * sr * z / tau);
        for (std::size_t j = 0; j < outer.x.size(); ++j) {
          const double r = rz * rw[j];
          const double drdy = gen ? r * (1 - (sp * outer.x[j] - sr * z) / tau * q / sr) : r;
          add(sz * sw[j], r, drdy, wz * outer.w[j]);
        }
      }
    }
  } else if (cost.motor_truncation > 0) {
    // Motor draws clamped to [-T, T]: Gauss–Legendre over the normal density on [-T, T] plus
    // point masses P(u > T) at +T and -T; posterior by Gauss–Hermite (cut at a seam, below).
    const double T = cost.motor_truncation;
    const Rule& gh = rule(opt.inner_nodes, true);
    const Rule& glu = rule(opt.outer_nodes, false);
    const double tail_mass = 0.5 * std::erfc(T / std::sqrt(2.0));
    const std::vector<double> sv = s_at(gh);
    // A cost with a seam (CostInfo::seam, Linex): where the seam of r, s* = r - seam / c, lies
    // within [-tail, tail] posterior sds, the e-line is cut there and each piece takes
    // inner_nodes Gauss–Legendre nodes (Gauss–Hermite across the seam erred by up to 0.5% in
    // Linex's optimal action, docs/families.md, Accuracy). The integrand is continuous at the
    // cut, so F' is the nodes' sum with them held.
    const detail::SeamCut<double> seam(cost.seam, cost.seam > 0 ? p[0] : 0.0, mu, sp, L);
    auto over_e = [&](double u, double wu) {
      double drdy;
      const double r = motor_response(mn, log_a, u, &drdy);
      if (!seam.cuts(r)) {
        for (std::size_t i = 0; i < gh.x.size(); ++i) add(sv[i], r, drdy, wu * gh.w[i]);
        return;
      }
      const double ec = seam.cut(r);
      for (const auto& [lo, hi] : {std::pair{-L, ec}, std::pair{ec, L}}) {
        const double half = 0.5 * (hi - lo), mid = 0.5 * (hi + lo);
        for (std::size_t i = 0; i < gl.x.size(); ++i) {
          const double e = mid + half * gl.x[i];
          add(std::exp(mu + sp * e), r, drdy, wu * gl.w[i] * half * inv_sqrt_2pi * std::exp(-0.5 * e * e));
        }
      }
    };
    // The motor line has the seam too (for each s, where r = s + seam / c), which a narrow
    // posterior hardly smooths: where the largest response's seam falls within the range (r is
    // increasing in u), 4 equal panels of outer_nodes over [-T, T] (one panel erred by up to 0.3%
    // in Linex's optimal action where sigma_post is small); elsewhere no node is cut.
    const int panels = seam.reached_by(motor_response(mn, log_a, T, nullptr)) ? 4 : 1;
    const double hp = 2 * T / panels;
    for (int k = 0; k < panels; ++k)
      for (std::size_t j = 0; j < glu.x.size(); ++j) {
        const double u = -T + hp * (k + 0.5 * (1 + glu.x[j]));
        over_e(u, glu.w[j] * 0.5 * hp * inv_sqrt_2pi * std::exp(-0.5 * u * u));
      }
    over_e(T, tail_mass);
    over_e(-T, tail_mass);
  } else {
    const Rule& gu = rule(opt.outer_nodes, true);
    const Rule& ge = rule(opt.inner_nodes, true);
    const std::vector<double> sv = s_at(ge);
    for (std::size_t j = 0; j < gu.x.size(); ++j) {
      double drdy;
      const double r = motor_response(mn, log_a, gu.x[j], &drdy);
      for (std::size_t i = 0; i < ge.x.size(); ++i) add(sv[i], r, drdy, gu.w[j] * ge.w[i]);
    }
  }
  flush();
  if (dfdy) *dfdy = g;
  return f;
}

double numerical_action(const CostInfo& cost, std::span<const double> theta, double m,
                        const GroundTruthOptions& opt) {
  check_theta(cost, theta, m);
  return numerical_action(cost, MotorNoise{MotorModel::lognormal, theta[3], 0.0}, theta, m, opt);
}

double numerical_action(const CostInfo& cost, const MotorNoise& mn, std::span<const double> theta, double m,
                        const GroundTruthOptions& opt) {
  if (!(m > 0) || !std::isfinite(m)) throw std::invalid_argument("measurement m must be positive and finite");
  const auto post = actor_posterior(m, theta[0], theta[1], theta[2]);
  auto grad = [&](double y) {
    double g = 0.0;
    expected_cost_posterior(cost, post.mu_post, post.sigma_post, mn, theta.data() + 4, y, &g, opt);
    return g;
  };
  // Bracket a sign change of F' from - to + starting at log E[s|m].
  double y0 = post.mu_post + 0.5 * post.sigma_post * post.sigma_post;
  double g0 = grad(y0);
  if (g0 == 0.0) return std::exp(y0);
  double step = 0.25;
  double y1 = y0, g1 = g0;
  for (int it = 0;; ++it) {
    y1 = g0 > 0 ? y0 - step : y0 + step;
    g1 = grad(y1);
    if ((g0 > 0) != (g1 > 0) || g1 == 0.0) break;
    if (it > 40) throw std::domain_error("numerical_action: no minimum found for cost '" + cost.name + "'");
    y0 = y1;
    g0 = g1;
    step *= 2.0;
  }
  // Brent's root finder on F' over [a, b] (Brent 1973, ch. 4).
  double a = y0, b = y1, fa = g0, fb = g1;
  double c = a, fc = fa, d = b - a, e = d;
  for (int it = 0; it < 200; ++it) {
    if ((fb > 0) == (fc > 0)) {
      c = a;
      fc = fa;
      d = e = b - a;
    }
    if (std::abs(fc) < std::abs(fb)) {
      a = b; b = c; c = a;
      fa = fb; fb = fc; fc = fa;
    }
    const double tol = 2.0 * 1e-16 * std::abs(b) + 0.5 * opt.tol;
    const double xm = 0.5 * (c - b);
    if (std::abs(xm) <= tol || fb == 0.0) return std::exp(b);
    if (std::abs(e) >= tol && std::abs(fa) > std::abs(fb)) {
      const double s = fb / fa;
      double pp, q;
      if (a == c) {
        pp = 2.0 * xm * s;
        q = 1.0 - s;
      } else {
        const double qq = fa / fc, r = fb / fc;
        pp = s * (2.0 * xm * qq * (qq - r) - (b - a) * (r - 1.0));
        q = (qq - 1.0) * (r - 1.0) * (s - 1.0);
      }
      if (pp > 0) q = -q;
      pp = std::abs(pp);
      if (2.0 * pp < std::min(3.0 * xm * q - std::abs(tol * q), std::abs(e * q))) {
        e = d;
        d = pp / q;
      } else {
        d = xm;
        e = d;
      }
    } else {
      d = xm;
      e = d;
    }
    a = b;
    fa = fb;
    b += std::abs(d) > tol ? d : (xm > 0 ? tol : -tol);
    fb = grad(b);
  }
  return std::exp(b);
}

double numerical_action(const CostInfo& cost, std::span<const double> theta, double m) {
  return numerical_action(cost, theta, m, GroundTruthOptions{});
}

} // namespace bactor
