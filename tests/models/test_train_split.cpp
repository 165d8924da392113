// SPDX-License-Identifier: MIT
// The split rule of costs with a kink at r = s under gaussian motor noise (models/kink_split.hpp,
// docs/training.md "The objective"): its expected cost and d/da against references that share
// none of its nodes, the tape node against finite differences, the ground truth's action, and a
// short training run. Then the same pieces cutting Linex's posterior line at its seam under
// generalized motor noise (models/train_kernel.hpp, product_rule_sample).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>
#include <vector>

#include <bactor/engine/rng.hpp>
#include <bactor/models/actor.hpp>
#include <bactor/models/ground_truth.hpp>
#include <bactor/models/motor.hpp>
#include <bactor/models/train.hpp>

#include "models/kink_split.hpp"
#include "tests/engine/tensor_gradcheck.hpp"

using namespace bactor;

namespace {

constexpr double inv_sqrt_2pi = 0.3989422804014327;
double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }

/// E f(e) over e ~ N(0, 1) with the line cut at e0: on each side of e0 out to +-12, `panels`
/// Gauss–Legendre panels of 8 nodes with e - e0 proportional to t^2 (dense at the cut).
double normal_expectation_cut(double e0, int panels, const std::function<double(double)>& f) {
  const auto& gl = detail::gauss_rule(8, false);
  const double L = 12.0, k = std::clamp(e0, -L, L);
  double sum = 0;
  for (const double end : {-L, L})
    for (int pn = 0; pn < panels; ++pn)
      for (std::size_t q = 0; q < gl.x.size(); ++q) {
        const double h = 1.0 / panels, t = h * (pn + 0.5 * (1 + gl.x[q]));
        const double e = k + (end - k) * t * t;
        sum += std::abs(end - k) * 2 * t * 0.5 * h * gl.w[q] * inv_sqrt_2pi * std::exp(-0.5 * e * e) * f(e);
      }
  return sum;
}

/// AbsoluteCostQuadraticEffort, l = beta |s - r| + (1 - beta) r^2, r = a + sa u: the motor
/// integral in closed form, E|s - a - sa u| = sa (2 phi(d) + d (2 Phi(d) - 1)) with
/// d = (s - a) / sa, d/da = 1 - 2 Phi(d), and E r^2 = a^2 + sa^2; the posterior integral by
/// normal_expectation_cut (120 panels per side). Returns E, and dE/da in *dda.
double abs_effort_reference(double mu, double sp, double sa, double beta, double a, double* dda) {
  const double e0 = (std::log(a) - mu) / sp;
  auto part = [&](double e, bool derivative) {
    const double d = (std::exp(mu + sp * e) - a) / sa;
    if (derivative) return beta * (1 - 2 * normal_cdf(d)) + 2 * (1 - beta) * a;
    return beta * sa * (2 * inv_sqrt_2pi * std::exp(-0.5 * d * d) + d * (2 * normal_cdf(d) - 1)) +
           (1 - beta) * (a * a + sa * sa);
  };
  if (dda) *dda = normal_expectation_cut(e0, 120, [&](double e) { return part(e, true); });
  return normal_expectation_cut(e0, 120, [&](double e) { return part(e, false); });
}

/// The rule with its cuts (and so its nodes) placed for the action a_nodes, the cost evaluated
/// at r = a + sa u: at a = a_nodes its value is rule_expected_cost's, and its a-derivative (in
/// *dda) is what the training kernel returns, the nodes' sum with them held.
double held_rule(const CostInfo& cost, const ObjectiveRule& rule, double mu, double sp, double sa, const double* p,
                 double a_nodes, double a, double* dda) {
  double e = 0, d = 0, ve, cve;
  detail::kink_split_point((std::log(a_nodes) - mu) / sp, ve, cve);
  for (int se = 0; se < 2; ++se)
    for (std::size_t i = 0; i < rule.e_nodes; ++i) {
      double we, vu, cvu;
      const double s = std::exp(mu + sp * detail::kink_split_node(se, ve, cve, double(rule.e_node[i]), we));
      const double uk = (s - a_nodes) / sa;
      detail::kink_split_point(uk, vu, cvu);
      for (int su = 0; su < 2; ++su) {
        if (su == 0 ? uk < -detail::kink_split_skip : uk > detail::kink_split_skip) continue;
        for (std::size_t j = 0; j < rule.u_node.size(); ++j) {
          double wu, dl;
          const double u = detail::kink_split_node(su, vu, cvu, double(rule.u_node[j]), wu);
          const double w = we * double(rule.e_weight[i]) * wu * double(rule.u_weight[j]);
          e += w * cost.loss_dr(s, a + sa * u, p, &dl);
          d += w * dl;
        }
      }
    }
  if (dda) *dda = d;
  return e;
}

/// argmin over a of a convex expected cost from its derivative: bisection on log a.
double argmin_from_derivative(const std::function<double(double)>& dda, double a0) {
  double lo = a0, hi = a0;
  while (dda(lo) > 0) lo *= 0.5;
  while (dda(hi) < 0) hi *= 2;
  for (int i = 0; i < 60; ++i) {
    const double mid = std::sqrt(lo * hi);
    (dda(mid) > 0 ? hi : lo) = mid;
  }
  return std::sqrt(lo * hi);
}

/// n samples for the expected-cost node: by default under gaussian motor noise, posteriors and
/// sigma_a over the training prior's range, actions around exp(mu_post) (the kink inside the
/// posterior's bulk); seam_case() below fills one under generalized noise.
struct NodeCase {
  std::size_t n, np;
  std::vector<float> mu, sp, sr, sa, par, w;
  std::vector<double> a0;
  MotorModel motor = MotorModel::gaussian;
  NodeCase(const CostInfo& cost, std::size_t n_, Rng& rng)
      : n(n_), np(cost.params.size()), mu(n), sp(n), sr(n, 0.0f), sa(n), par(std::max<std::size_t>(np, 1) * n), w(n),
        a0(n) {
    for (std::size_t b = 0; b < n; ++b) {
      mu[b] = float(rng.uniform(-1.0, 1.9));
      sp[b] = float(rng.uniform(0.01, 0.35));
      sa[b] = float(rng.uniform(0.01, 0.5));
      a0[b] = std::exp(double(mu[b]) + rng.uniform(-0.3, 0.3));
      w[b] = float(rng.uniform(0.5, 1.5));
      for (std::size_t j = 0; j < np; ++j) par[j * n + b] = float(sample_prior(cost.params[j], rng));
    }
  }
  /// The node (weighted sum over the samples) against sum_b w_b ref(b, a_b) and its finite
  /// differences.
  testing::TensorCheckResult check_node(const CostInfo& cost, const ObjectiveRule& rule,
                                        const std::function<double(std::size_t, double)>& ref,
                                        const testing::TensorCheckOptions& opt) const {
    auto tape_fn = [&](std::span<const Tensor> x) {
      return dot(expected_cost(cost, x[0], inputs(rule)), tensor_constant(w, 1, n));
    };
    auto ref_fn = [&](const std::vector<std::vector<double>>& x) {
      double total = 0;
      for (std::size_t b = 0; b < n; ++b) total += double(w[b]) * ref(b, x[0][b]);
      return total;
    };
    return testing::tensor_gradcheck(tape_fn, ref_fn, {{a0, 1, n}}, opt);
  }
  ExpectedCostInputs inputs(const ObjectiveRule& rule) const {
    ExpectedCostInputs in;
    in.mu_post = mu.data();
    in.sigma_post = sp.data();
    in.sigma_r = sr.data();
    in.params = par.data();
    in.motor = motor;
    in.sigma_a = sa.data();
    in.rule = &rule;
    return in;
  }
};

} // namespace

TEST_CASE("split rule under gaussian motor noise: which costs take it, and its size") {
  for (const CostInfo& cost : cost_families()) {
    CAPTURE(cost.name);
    const ObjectiveRule rule = objective_rule(cost, MotorModel::gaussian, 128);
    // The other costs (smooth, or truncated: Linex) take the product rule with r = a + sa u
    // instead (test_train.cpp).
    CHECK(rule.split_lines == (cost.kink_at_s_equals_r && !(cost.motor_truncation > 0)));
    if (!rule.split_lines) continue;
    CHECK(rule.motor == MotorModel::gaussian);
    CHECK(rule.e_nodes == 8);
    CHECK(rule.u_node.size() % 16 == 0);  // whole SIMD batches
    double we = 0, wu = 0;
    for (std::size_t i = 0; i < rule.e_nodes; ++i) we += double(rule.e_weight[i]);
    for (float x : rule.u_weight) wu += double(x);
    CHECK(we == doctest::Approx(1.0).epsilon(1e-6));  // rules on [0, 1]
    CHECK(wu == doctest::Approx(1.0).epsilon(1e-6));
  }
}

TEST_CASE("split rule under gaussian motor noise: AbsoluteCostQuadraticEffort's expected cost and d/da (the node) "
          "against the closed-form motor integral") {
  const CostInfo& cost = find_cost("AbsoluteCostQuadraticEffort");
  const ObjectiveRule rule = objective_rule(cost, MotorModel::gaussian, 128);
  REQUIRE(!rule.empty());
  Rng rng(21, 7);
  const NodeCase c(cost, 37, rng);  // 37 samples: the chunk loop's tail
  // The node's value and d/da (the nodes' sum with them held) against the exact expected cost
  // and its finite differences: within the rule's accuracy (measured, AVX2: values 8e-4, the
  // derivatives 1.9e-3 of the largest at worst; the root of d/da is what training finds, next case).
  testing::TensorCheckOptions opt;
  opt.rtol = 5e-3;
  opt.atol = 5e-3;
  opt.value_rtol = 3e-3;
  const auto r = c.check_node(cost, rule, [&](std::size_t b, double a) {
    return abs_effort_reference(double(c.mu[b]), double(c.sp[b]), double(c.sa[b]), double(c.par[b]), a, nullptr);
  }, opt);
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("split rule under gaussian motor noise: the optimal actions of the rule and of the ground truth against "
          "the closed-form motor integral's (AbsoluteCostQuadraticEffort, training prior)") {
  const CostInfo& cost = find_cost("AbsoluteCostQuadraticEffort");
  const ObjectiveRule rule = objective_rule(cost, MotorModel::gaussian, 128);
  const MotorSpec ms{MotorModel::gaussian, false};
  std::vector<double> th(action_theta_size(cost, ms));
  Rng rng(20, 3);
  double worst_rule = 0, worst_gt = 0, mean_rule = 0;
  const int n = 30;
  for (int k = 0; k < n; ++k) {
    double m;
    sample_training_point(cost, MotorModel::gaussian, TrainingPrior{}, rng, th, m);
    if (k % 3 == 0) th.back() = 0.01 + 0.02 * rng.uniform();  // sigma_a << a sigma_post: the posterior line's sharp bend
    const auto post = actor_posterior(m, th[0], th[1], th[2]);
    const double mu = post.mu_post, sp = post.sigma_post, sa = th.back(), beta = th[4];
    CAPTURE(mu);
    CAPTURE(sp);
    CAPTURE(sa);
    const double a_ref = argmin_from_derivative(
        [&](double a) {
          double d;
          abs_effort_reference(mu, sp, sa, beta, a, &d);
          return d;
        },
        std::exp(mu));
    // The root of the rule's d/da as the kernel computes it (nodes held), which training finds.
    const double a_rule = argmin_from_derivative(
        [&](double a) {
          double d;
          held_rule(cost, rule, mu, sp, sa, th.data() + 4, a, a, &d);
          return d;
        },
        std::exp(mu));
    const double a_gt = numerical_action(cost, MotorNoise{MotorModel::gaussian, 0.0, sa}, th, m);
    worst_rule = std::max(worst_rule, std::abs(a_rule / a_ref - 1));
    mean_rule += std::abs(a_rule / a_ref - 1) / n;
    worst_gt = std::max(worst_gt, std::abs(a_gt / a_ref - 1));
  }
  MESSAGE("optimal action, relative error: the rule mean " << mean_rule << " max " << worst_rule
                                                           << "; the ground truth max " << worst_gt);
  // Measured (AVX2): the rule mean 5.5e-5, max 2.9e-4 (a Gauss–Hermite rule in e with the u-line
  // cut per node, 8 x 2 x 8 nodes: 7% mean, 53% max on 100 training-prior points); the ground
  // truth max 3e-7 (before its posterior line was cut: 3.3% on 100 training-prior points).
  CHECK(worst_rule < 2e-3);
  CHECK(mean_rule < 3e-4);
  CHECK(worst_gt < 1e-4);
}

TEST_CASE("split rule under gaussian motor noise: every kinked cost's expected cost against a brute-force split "
          "quadrature, and the node against finite differences") {
  // The reference cuts both lines at the same points but with 24 plain panels of 8 nodes per side
  // over +-12 in e and in u (no logistic scale, no grading): 384 x 384 cost evaluations.
  const auto& gl = detail::gauss_rule(8, false);
  auto line = [&](double cut, const std::function<double(double)>& f) {
    const double L = 12.0, k = std::clamp(cut, -L, L);
    double sum = 0;
    for (const double end : {-L, L})
      for (int pn = 0; pn < 24; ++pn)
        for (std::size_t q = 0; q < gl.x.size(); ++q) {
          const double h = (end - k) / 24, x = k + h * (pn + 0.5 * (1 + gl.x[q]));
          sum += std::abs(h) * 0.5 * gl.w[q] * inv_sqrt_2pi * std::exp(-0.5 * x * x) * f(x);
        }
    return sum;
  };
  for (const char* name : {"AbsoluteCost", "AsymmetricQuadratic", "AbsoluteCostQuadraticEffort", "InvertedGaussian"}) {
    const CostInfo& cost = find_cost(name);
    CAPTURE(name);
    const ObjectiveRule rule = objective_rule(cost, MotorModel::gaussian, 128);
    REQUIRE(!rule.empty());
    Rng rng(22, 5);
    double worst = 0;
    for (int k = 0; k < 12; ++k) {
      const double mu = rng.uniform(-1.0, 1.9), sp = rng.uniform(0.01, 0.35), sa = rng.uniform(0.01, 0.5);
      const double a = std::exp(mu + rng.uniform(-0.3, 0.3));
      std::vector<double> p(cost.params.size());
      for (std::size_t j = 0; j < p.size(); ++j) p[j] = sample_prior(cost.params[j], rng);
      const double ref = line((std::log(a) - mu) / sp, [&](double e) {
        const double s = std::exp(mu + sp * e);
        return line((s - a) / sa, [&](double u) { return cost.loss(s, a + sa * u, p.data()); });
      });
      worst = std::max(worst, std::abs(rule_expected_cost(cost, rule, mu, sp, a, sa, p.data()) / ref - 1));
    }
    MESSAGE(std::string(name) << ": worst relative error of the rule's expected cost " << worst);
    // Measured (AVX2): AbsoluteCost 1.2e-3, AsymmetricQuadratic 3.5e-3, AbsoluteCostQuadraticEffort
    // 8.1e-4, InvertedGaussian 2.7e-3 (the log objective's value; its minimiser is checked above).
    CHECK(worst < 1e-2);
    // The node (float SIMD kernel) against the rule in double with its nodes held at the
    // action, and that function's finite differences.
    const NodeCase c(cost, 37, rng);
    testing::TensorCheckOptions opt;
    opt.rtol = 1e-3;
    opt.atol = 1e-4;
    opt.value_rtol = 1e-4;
    std::vector<double> p(std::max<std::size_t>(c.np, 1));
    const auto r = c.check_node(cost, rule, [&](std::size_t b, double a) {
      for (std::size_t j = 0; j < c.np; ++j) p[j] = double(c.par[j * c.n + b]);
      const double a_nodes = double(float(c.a0[b]));  // the checker rounds its inputs to float
      return held_rule(cost, rule, double(c.mu[b]), double(c.sp[b]), double(c.sa[b]), p.data(), a_nodes, a, nullptr);
    }, opt);
    CHECK_MESSAGE(r.ok, r.report);
  }
}

TEST_CASE("split rule under gaussian motor noise: a short AbsoluteCostQuadraticEffort training run learns the action") {
  // 1,500 steps of 64 samples on 1 thread (about 0.5 s), 200 evaluation points against the ground
  // truth; the untrained network is a = 1.7 exp(mu_post).
  TrainSettings s;
  s.cost = "AbsoluteCostQuadraticEffort";
  s.motor = MotorModel::gaussian;
  s.steps = 1500;
  s.batch = 64;
  s.eval_points = 200;
  s.threads = 1;
  s.seed = 5;
  s.progress_seconds = 1e9;
  Trainer tr(s);
  double rmse0, max_abs0, max_rel0, rmse, max_abs, max_rel;
  tr.eval_errors(rmse0, max_abs0, max_rel0);
  for (std::size_t i = 0; i < s.steps; ++i) tr.step();
  tr.eval_errors(rmse, max_abs, max_rel);
  MESSAGE("untrained: RMSE " << rmse0 << ", max relative error " << max_rel0 << "; after 1,500 steps: " << rmse << ", "
                             << max_rel);
  // Measured (AVX2): RMSE 5.1 -> 0.054, max relative error 19 -> 0.25.
  CHECK(rmse < 0.05 * rmse0);
  CHECK(max_rel < 0.5);
  const auto meta = tr.network().metadata();
  CHECK(meta.at("training").find("logistic scale") != std::string::npos);
}

// Linex's seam under generalized motor noise: its exp is continued linearly beyond c (r - s) = 10
// (CostInfo::seam), a jump in the second derivative. The product rule cuts a motor node's
// posterior line at its seam when the seam lies within seam_split_range posterior sds
// (models/kink_split.hpp), the ground truth whenever it lies within its range.
namespace {

/// E f(u) over u ~ N(0, 1) clamped to [-T, T]: `panels` Gauss–Legendre panels of 8 nodes over
/// [-T, T] and the masses P(|u| > T) at +-T.
double clamped_normal_expectation(double T, int panels, const std::function<double(double)>& f) {
  const auto& gl = detail::gauss_rule(8, false);
  const double h = 2 * T / panels;
  double sum = 0;
  for (int pn = 0; pn < panels; ++pn)
    for (std::size_t q = 0; q < gl.x.size(); ++q) {
      const double u = -T + h * (pn + 0.5 * (1 + gl.x[q]));
      sum += 0.5 * h * gl.w[q] * inv_sqrt_2pi * std::exp(-0.5 * u * u) * f(u);
    }
  return sum + 0.5 * std::erfc(T / std::numbers::sqrt2) * (f(T) + f(-T));
}

/// Linex's expected cost under generalized motor noise by brute force, sharing no node with the
/// rule: the motor line by 32 panels, for each motor draw r the posterior line cut at its seam
/// s* = r - seam / c by normal_expectation_cut (8 graded panels per side).
double linex_reference(const CostInfo& cost, double mu, double sp, double sr, double sa, double c, double a) {
  const double sd = std::sqrt(sr * sr + sa * sa / (a * a));
  return clamped_normal_expectation(cost.motor_truncation, 32, [&](double u) {
    const double r = a * std::exp(sd * u), s_seam = r - cost.seam / c;
    const double cut = s_seam > 0 ? (std::log(s_seam) - mu) / sp : -12.0;
    return normal_expectation_cut(cut, 8, [&](double e) { return cost.loss(std::exp(mu + sp * e), r, &c); });
  });
}

/// The product rule of a cost with a seam under generalized motor noise, r = a e^{sd(a) u} with
/// sd(a)^2 = sr^2 + sa^2 / a^2, its cuts (and so its nodes) placed for the action a_nodes and the
/// cost evaluated at a: at a = a_nodes rule_expected_cost's value, and its a-derivative (in
/// *dda) what the training kernel returns, the nodes' sum with them held.
double held_seam_rule(const CostInfo& cost, const ObjectiveRule& rule, double mu, double sp, double sr, double sa,
                      const double* p, double a_nodes, double a, double* dda) {
  const double q = sa * sa / (a * a), sd = std::sqrt(sr * sr + q), dsd = -q / sd;  // dsd / dlog a
  const double sd_nodes = std::sqrt(sr * sr + sa * sa / (a_nodes * a_nodes));
  const detail::SeamCut<double> seam(rule.seam, p[0], mu, sp, detail::seam_split_range);
  double e = 0, d = 0;
  auto add = [&](double w, double s, double u) {
    double dl;
    const double r = a * std::exp(sd * u);
    e += w * cost.loss_dr(s, r, p, &dl);
    d += w * dl * r / a * (1 + dsd * u);
  };
  for (std::size_t j = 0; j < rule.u_node.size(); ++j) {
    const double u = double(rule.u_node[j]), wu = double(rule.u_weight[j]), r_nodes = a_nodes * std::exp(sd_nodes * u);
    if (!seam.cuts(r_nodes)) {
      for (std::size_t i = 0; i < rule.e_nodes; ++i)
        add(wu * double(rule.e_weight[i]), std::exp(mu + sp * double(rule.e_node[i])), u);
      continue;
    }
    double v, cv;
    detail::kink_split_point(seam.cut(r_nodes), v, cv);
    for (int side = 0; side < 2; ++side)
      for (std::size_t k = 0; k < rule.seam_nodes; ++k) {
        double w;
        const double x = detail::kink_split_node(side, v, cv, double(rule.seam_node[k]), w);
        add(wu * w * double(rule.seam_weight[k]), std::exp(mu + sp * x), u);
      }
  }
  if (dda) *dda = d;
  return e;
}

/// argmin over a of f by golden-section search on log a in [a0 / 2, 2 a0] (f unimodal there;
/// a minimum at an end fails the check).
double argmin_golden(const std::function<double(double)>& f, double a0) {
  const double g = (std::sqrt(5.0) - 1) / 2;
  double lo = std::log(a0) - std::log(2.0), hi = std::log(a0) + std::log(2.0);
  double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo), f1 = f(std::exp(x1)), f2 = f(std::exp(x2));
  while (hi - lo > 1e-7) {
    if (f1 < f2) {
      hi = x2, x2 = x1, f2 = f1, x1 = hi - g * (hi - lo), f1 = f(std::exp(x1));
    } else {
      lo = x1, x1 = x2, f1 = f2, x2 = lo + g * (hi - lo), f2 = f(std::exp(x2));
    }
  }
  const double y = 0.5 * (lo + hi);
  CHECK(std::abs(y - std::log(a0)) < std::log(2.0) - 1e-3);
  return std::exp(y);
}

/// n samples for the node under generalized motor noise with Linex's seam inside the posterior:
/// c e^{mu_post} in [8, 60] (where the worst points of its networks lie), motor sd up to 0.8.
NodeCase seam_case(const CostInfo& cost, std::size_t n, Rng& rng) {
  NodeCase c(cost, n, rng);
  c.motor = MotorModel::generalized;
  for (std::size_t b = 0; b < n; ++b) {
    c.mu[b] = float(rng.uniform(-0.5, 1.5));
    c.sp[b] = float(rng.uniform(0.02, 0.35));
    c.sr[b] = float(rng.uniform(0.05, 0.3));
    c.a0[b] = std::exp(double(c.mu[b]) + rng.uniform(-0.3, 0.1));
    c.sa[b] = float(c.a0[b] * rng.uniform(0.0, 0.7));
    c.par[b] = float(rng.uniform(8.0, 60.0) * std::exp(-double(c.mu[b])));
  }
  return c;
}

} // namespace

TEST_CASE("seam cut of Linex under generalized motor noise: the rule's and the ground truth's optimal actions against "
          "a brute-force quadrature cut at the seam (training-prior points with c e^mu_post in [8, 60])") {
  const CostInfo& cost = find_cost("Linex");
  REQUIRE(cost.seam > 0);
  const ObjectiveRule rule = objective_rule(cost, MotorModel::generalized, 128);
  REQUIRE(rule.seam == float(cost.seam));
  REQUIRE(rule.seam_nodes == 8);
  REQUIRE(rule.seam_node.size() % 16 == 0);  // whole SIMD batches
  ObjectiveRule uncut = rule;  // Gauss–Hermite across the seam (the rule before), for comparison
  uncut.seam = 0;
  const MotorSpec ms{MotorModel::generalized, false};
  std::vector<double> th(action_theta_size(cost, ms));
  Rng rng(23, 1);
  double worst_rule = 0, worst_uncut = 0, worst_gt = 0;
  int n = 0;
  while (n < 12) {
    double m;
    sample_training_point(cost, MotorModel::generalized, TrainingPrior{}, rng, th, m);
    const auto post = actor_posterior(m, th[0], th[1], th[2]);
    const double mu = post.mu_post, sp = post.sigma_post, sr = th[3], c = th[4], sa = th[5];
    if (c * std::exp(mu) < 8 || c * std::exp(mu) > 60) continue;
    ++n;
    CAPTURE(mu);
    CAPTURE(sp);
    CAPTURE(c);
    const double a_gt = numerical_action(cost, MotorNoise{MotorModel::generalized, sr, sa}, th, m);
    // Searched around the ground truth's action (the optimum lies far below exp(mu_post) where c
    // e^mu_post is large).
    const double a_ref = argmin_golden([&](double a) { return linex_reference(cost, mu, sp, sr, sa, c, a); }, a_gt);
    // The root of the rule's d/da as the kernel computes it (nodes held), which training finds.
    auto rule_action = [&](const ObjectiveRule& r) {
      return argmin_from_derivative(
          [&](double a) {
            double d;
            held_seam_rule(cost, r, mu, sp, sr, sa, &c, a, a, &d);
            return d;
          },
          a_gt);
    };
    worst_rule = std::max(worst_rule, std::abs(rule_action(rule) / a_ref - 1));
    worst_uncut = std::max(worst_uncut, std::abs(rule_action(uncut) / a_ref - 1));
    worst_gt = std::max(worst_gt, std::abs(a_gt / a_ref - 1));
  }
  MESSAGE("optimal action, worst relative error: the rule " << worst_rule << " (uncut " << worst_uncut
                                                            << "), the ground truth " << worst_gt);
  // Measured (AVX2): the rule 1.8e-4 (uncut, Gauss–Hermite across the seam: 6.4e-3), the ground
  // truth 1.3e-8 (before its cut, on 2,000 evaluation points: up to 4.7e-3).
  CHECK(worst_rule < 1e-3);
  CHECK(worst_gt < 1e-4);
}

TEST_CASE("seam cut of Linex under generalized motor noise: the expected-cost node (fused kernel) against the rule "
          "with its nodes held, and that function's finite differences") {
  const CostInfo& cost = find_cost("Linex");
  const ObjectiveRule rule = objective_rule(cost, MotorModel::generalized, 128);
  Rng rng(24, 2);
  const NodeCase c = seam_case(cost, 37, rng);  // 37 samples: the chunk loop's tail
  // The cases cut some of their motor nodes at the seam, and the test's rule in double is the
  // library's (rule_expected_cost) at a = a_nodes.
  std::size_t cut = 0;
  for (std::size_t b = 0; b < c.n; ++b) {
    const double mu = c.mu[b], sp = c.sp[b], sr = c.sr[b], sa = c.sa[b], p = c.par[b], a = c.a0[b];
    const double sd = std::sqrt(sr * sr + sa * sa / (a * a));
    const detail::SeamCut<double> seam(rule.seam, p, mu, sp, detail::seam_split_range);
    for (float u : rule.u_node) cut += seam.cuts(a * std::exp(sd * double(u)));
    CHECK(held_seam_rule(cost, rule, mu, sp, sr, sa, &p, a, a, nullptr) ==
          doctest::Approx(rule_expected_cost(cost, rule, mu, sp, a, sd, &p)).epsilon(1e-12));
  }
  MESSAGE("motor nodes cut at the seam: " << cut << " of " << c.n * rule.u_node.size());
  CHECK(cut > c.n);
  testing::TensorCheckOptions opt;
  opt.rtol = 1e-3;
  opt.atol = 1e-4;
  opt.value_rtol = 1e-4;
  const auto r = c.check_node(cost, rule, [&](std::size_t b, double a) {
    const double p = double(c.par[b]), a_nodes = double(float(c.a0[b]));  // the checker rounds its inputs to float
    return held_seam_rule(cost, rule, double(c.mu[b]), double(c.sp[b]), double(c.sr[b]), double(c.sa[b]), &p, a_nodes, a,
                          nullptr);
  }, opt);
  CHECK_MESSAGE(r.ok, r.report);
}
