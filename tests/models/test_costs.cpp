// SPDX-License-Identifier: MIT
// Actor posterior, generic cost derivatives, fused kernel vs scalar code, ground truth vs
// closed forms and Monte Carlo.
#include "tests/models/fused_test_util.hpp"
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <bactor/engine/rng.hpp>
#include <bactor/models/actor.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/ground_truth.hpp>
#include <bactor/models/train.hpp>

using namespace bactor;

TEST_CASE("actor posterior matches the conjugate normal formulas on the log scale") {
  const double m = 2.3, sigma = 0.2, sigma_0 = 0.3, mu_0 = 1.5;
  const auto p = actor_posterior(m, sigma, sigma_0, mu_0);
  // precision-weighted mean of log m and log mu_0
  const double pm = 1 / (sigma * sigma), p0 = 1 / (sigma_0 * sigma_0);
  CHECK(p.sigma_post == doctest::Approx(1 / std::sqrt(pm + p0)).epsilon(1e-14));
  CHECK(p.mu_post == doctest::Approx((pm * std::log(m) + p0 * std::log(mu_0)) / (pm + p0)).epsilon(1e-14));
  CHECK(p.w_m + p.w_0 == doctest::Approx(1.0).epsilon(1e-14));
}

TEST_CASE("registry: seven families, lookup and unknown names") {
  CHECK(cost_families().size() >= 7);
  CHECK(find_cost("Linex").params.size() == 1);
  CHECK_THROWS_WITH_AS(find_cost("Quadratic"), doctest::Contains("unknown cost 'Quadratic'"), std::invalid_argument);
  CHECK(theta_names(find_cost("InvertedGaussian")).back() == "gamma");
}

static std::vector<double> param_values(const CostInfo& c) {
  std::vector<double> p;
  for (const auto& pr : c.params) p.push_back(pr.kind == ParamPrior::Kind::uniform ? 0.3 * pr.a + 0.7 * pr.b : std::exp(pr.a + 0.4));
  return p;
}

TEST_CASE("dual-number dl/dr of every cost matches central finite differences") {
  for (const auto& c : cost_families()) {
    CAPTURE(c.name);
    const auto p = param_values(c);
    for (double s : {0.3, 1.0, 4.0})
      for (double rr : {0.2, 0.9, 1.7, 5.5}) {
        if (std::abs(s - rr) < 0.05) continue;  // stay off the kink at r = s
        double d = 0.0;
        const double l = c.loss_dr(s, rr, p.data(), &d);
        CHECK(l == doctest::Approx(c.loss(s, rr, p.data())).epsilon(1e-14));
        const double h = 1e-6 * rr;
        const double fd = (c.loss(s, rr + h, p.data()) - c.loss(s, rr - h, p.data())) / (2 * h);
        CHECK(d == doctest::Approx(fd).epsilon(1e-6).scale(1e-6));
      }
  }
}

TEST_CASE("fused SIMD kernel equals a scalar double loop with the same draws, every cost") {
  const std::size_t n = 5, K = 21;  // K not a multiple of the SIMD width: exercises the tail
  Rng rng(3, 1);
  std::vector<float> mu(n), sp(n), a(n), sr(n), e(n * K), u(n * K), loss(n), dl(n);
  for (std::size_t b = 0; b < n; ++b) {
    mu[b] = float(rng.uniform(-1, 1.5));
    sp[b] = float(rng.uniform(0.01, 0.4));
    a[b] = float(std::exp(mu[b]) * rng.uniform(0.7, 1.3));
    sr[b] = float(rng.uniform(0.01, 0.5));
  }
  for (auto& x : e) x = float(rng.normal());
  for (auto& x : u) x = float(rng.normal());
  for (const auto& c : cost_families()) {
    CAPTURE(c.name);
    const auto pv = param_values(c);
    std::vector<float> params(std::max<std::size_t>(pv.size(), 1) * n);
    for (std::size_t j = 0; j < pv.size(); ++j)
      for (std::size_t b = 0; b < n; ++b) params[j * n + b] = float(pv[j]);
    detail::FusedArgs g = bactor::testing::fused_args(K, mu, sp, a, sr, params);
    g.e_fixed = e.data();
    g.u_fixed = u.data();
    g.loss = loss.data();
    g.dloss_da = dl.data();
    c.fused(g);
    for (std::size_t b = 0; b < n; ++b) {
      double L = 0, G = 0;
      for (std::size_t k = 0; k < K; ++k) {
        const double s = std::exp(double(mu[b]) + double(sp[b]) * e[b * K + k]);
        const double r = double(a[b]) * std::exp(double(sr[b]) * u[b * K + k]);
        double d = 0;
        L += c.loss_dr(s, r, pv.data(), &d);
        G += d * r / double(a[b]);
      }
      CHECK(loss[b] == doctest::Approx(L / K).epsilon(2e-4).scale(1e-4));
      CHECK(dl[b] == doctest::Approx(G / K).epsilon(2e-3).scale(1e-4));
    }
  }
}

TEST_CASE("fused kernel's own normal draws: quadratic expected cost within 4 Monte Carlo SE") {
  // E (s - r)^2 with s ~ LN(mu, sp), r ~ LN(log a, sr): E s^2 - 2 E s E r + E r^2 in closed form.
  const CostInfo& c = find_cost("QuadraticCost");
  const std::size_t n = 64, K = 256;
  std::vector<float> mu(n, 0.2f), sp(n, 0.3f), a(n, 1.1f), sr(n, 0.25f), loss(n), dl(n), params(1);
  detail::FusedArgs g = bactor::testing::fused_args(K, mu, sp, a, sr, params);
  g.seed = 11;
  g.stream = 4;
  g.loss = loss.data();
  g.dloss_da = dl.data();
  c.fused(g);
  const double m1s = std::exp(0.2 + 0.045), m2s = std::exp(0.4 + 0.18);
  const double m1r = 1.1 * std::exp(0.25 * 0.25 / 2), m2r = 1.21 * std::exp(2 * 0.0625);
  const double exact = m2s - 2 * m1s * m1r + m2r;
  double mean = 0, var = 0;
  for (float l : loss) mean += l;
  mean /= double(n);
  for (float l : loss) var += (l - mean) * (l - mean);
  const double se = std::sqrt(var / double(n - 1) / double(n));
  CHECK(std::abs(mean - exact) < 4 * se);
}

static std::vector<double> theta_for(const CostInfo& c, Rng& rng, double& m) {
  std::vector<double> th(theta_size(c));
  sample_training_point(c, TrainingPrior{}, rng, th, m);
  return th;
}

TEST_CASE("numerical ground truth reproduces both closed forms to 1e-6 relative") {
  for (const char* name : {"QuadraticCost", "QuadraticCostQuadraticEffort"}) {
    const CostInfo& c = find_cost(name);
    Rng rng(5, 9);
    for (int i = 0; i < 40; ++i) {
      double m;
      const auto th = theta_for(c, rng, m);
      CAPTURE(name);
      CAPTURE(m);
      const double exact = closed_form_action(c, th, m);
      const double num = numerical_action(c, th, m);
      CHECK(std::abs(num / exact - 1) < 1e-6);
    }
  }
}

TEST_CASE("ground truth is converged in the node counts for every cost (kinked ones included)") {
  for (const auto& c : cost_families()) {
    Rng rng(8, 2);
    for (int i = 0; i < 6; ++i) {
      double m;
      const auto th = theta_for(c, rng, m);
      CAPTURE(c.name);
      const double a1 = numerical_action(c, th, m);
      GroundTruthOptions fine;
      fine.outer_nodes = 96;
      fine.inner_nodes = 96;
      const double a2 = numerical_action(c, th, m, fine);
      CHECK(std::abs(a1 / a2 - 1) < 1e-6);
    }
  }
}

TEST_CASE("expected absolute cost by quadrature agrees with brute-force Monte Carlo (4 SE)") {
  const CostInfo& c = find_cost("AsymmetricQuadratic");
  const std::vector<double> th{0.3, 0.2, 2.0, 0.3, 0.25};
  const double m = 1.7, log_a = 0.4;
  const double q = expected_cost(c, th, m, log_a, nullptr);
  const auto post = actor_posterior(m, th[0], th[1], th[2]);
  Rng rng(1, 77);
  const int N = 200000;
  double sum = 0, sum2 = 0;
  for (int i = 0; i < N; ++i) {
    const double s = std::exp(post.mu_post + post.sigma_post * rng.normal());
    const double r = std::exp(log_a + th[3] * rng.normal());
    const double l = c.loss(s, r, th.data() + 4);
    sum += l;
    sum2 += l * l;
  }
  const double mean = sum / N, se = std::sqrt((sum2 / N - mean * mean) / N);
  CHECK(std::abs(q - mean) < 4 * se);
}

TEST_CASE("numerical action is a minimum: derivative zero, cost lower than nearby actions") {
  for (const auto& c : cost_families()) {
    Rng rng(21, 3);
    double m;
    const auto th = theta_for(c, rng, m);
    CAPTURE(c.name);
    const double a = numerical_action(c, th, m);
    double g = 1;
    const double f0 = expected_cost(c, th, m, std::log(a), &g);
    const double f_lo = expected_cost(c, th, m, std::log(a) - 0.01, nullptr);
    const double f_hi = expected_cost(c, th, m, std::log(a) + 0.01, nullptr);
    CHECK(f0 < f_lo);
    CHECK(f0 < f_hi);
    const double curvature = (f_lo + f_hi - 2 * f0) / (0.01 * 0.01);
    CHECK(std::abs(g) < 1e-6 * curvature);
  }
}

TEST_CASE("closed_form_action rejects families without one and wrong theta sizes") {
  CHECK_THROWS_AS(closed_form_action(find_cost("Linex"), std::vector<double>{0.1, 0.1, 1, 0.1, 0.5}, 1.0),
                  std::invalid_argument);
  CHECK_THROWS_AS(closed_form_action(find_cost("QuadraticCost"), std::vector<double>{0.1, 0.1, 1}, 1.0),
                  std::invalid_argument);
}
