// SPDX-License-Identifier: MIT
// The inference model's log-density: hand-written gradients vs central finite differences for
// every action source (both closed forms, a network) and latent mode; closed-form heads vs the
// cost registry; validation of fixed parameters, priors and the network's metadata.
#include <bactor/models/inference.hpp>

#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>
#include "tests/models/inference_test_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numbers>
#include <stdexcept>
#include <vector>

using namespace bactor;
using bactor::testing::gradient_error;
using bactor::testing::random_network;

namespace {

Dataset small_data(const CostInfo& cost, int conditions, std::size_t trials, std::uint64_t seed) {
  SimulationSpec spec;
  spec.cost = &cost;
  spec.values = {{"sigma", 0.2}, {"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}};
  for (const auto& p : cost.params) spec.values[p.name] = 0.9;
  if (conditions > 1) spec.condition_sigmas = {0.1, 0.25};
  spec.trials = trials;
  spec.seed = seed;
  return simulate(spec);
}

/// The softplus head a network gives at theta (as the inference model builds it).
SoftplusHead softplus_head_at(const ActionNetwork& net, const std::vector<double>& theta, ActionNetwork::Workspace& ws) {
  double x3[3];
  net.forward(theta, std::span<double, 3>(x3), ws);
  return SoftplusHead{softplus(x3[0]), sigmoid(x3[1]), x3[2]};
}

std::vector<double> random_point(const ActorModel& m, Rng& rng) {
  auto q = m.unconstrain({{"sigma", 0.2}, {"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}});
  for (auto& v : q) v += 0.3 * rng.normal();
  return q;
}

} // namespace

TEST_CASE("inference: closed-form power-law head equals the registry's closed-form action, jacobian vs FD") {
  for (const char* name : {"QuadraticCost", "QuadraticCostQuadraticEffort"}) {
    const CostInfo& cost = find_cost(name);
    std::vector<double> theta{0.23, 0.17, 1.7, 0.12};
    if (cost.params.size() == 1) theta.push_back(0.8);
    std::vector<double> jac(2 * theta.size());
    const PowerHead h = closed_form_head(cost, theta, jac.data());
    for (double m : {0.3, 1.0, 4.2})
      CHECK(std::exp(h.log_k + h.w * std::log(m)) == doctest::Approx(closed_form_action(cost, theta, m)).epsilon(1e-12));
    for (std::size_t t = 0; t < theta.size(); ++t) {
      auto tp = theta, tm = theta;
      tp[t] += 1e-6;
      tm[t] -= 1e-6;
      const PowerHead hp = closed_form_head(cost, tp), hm = closed_form_head(cost, tm);
      CHECK(jac[t] == doctest::Approx((hp.log_k - hm.log_k) / 2e-6).epsilon(1e-6));
      CHECK(jac[theta.size() + t] == doctest::Approx((hp.w - hm.w) / 2e-6).epsilon(1e-6));
    }
  }
  CHECK_THROWS_AS(closed_form_head(find_cost("AbsoluteCost"), std::vector<double>{0.2, 0.2, 1, 0.1}), std::invalid_argument);
}

TEST_CASE("inference: log-density gradient vs finite differences, closed forms, both latent modes") {
  Rng rng(5, 0);
  for (const char* name : {"QuadraticCost", "QuadraticCostQuadraticEffort"})
    for (int conds : {1, 2})
      for (LatentMode mode : {LatentMode::marginal, LatentMode::sampled})
        for (bool fix_sigma : {false, true}) {
          const CostInfo& cost = find_cost(name);
          const Dataset d = small_data(cost, conds, 15, 3);
          InferenceSpec spec;
          spec.cost = &cost;
          spec.latent = mode;
          if (fix_sigma) spec.fixed["sigma"] = 0.2;
          ActorModel m(d, spec);
          CHECK(m.dim() == m.n_free() + (mode == LatentMode::sampled ? d.size() : 0));
          for (int rep = 0; rep < 3; ++rep) {
            const double err = gradient_error(m, random_point(m, rng));
            INFO(name << " conds=" << conds << " mode=" << to_string(mode) << " fix=" << fix_sigma);
            CHECK(err < 1e-6);
          }
        }
}

TEST_CASE("inference: log-density gradient vs finite differences, network action (every head), both latent modes") {
  Rng rng(6, 0);
  for (const char* name : {"QuadraticCost", "QuadraticCostQuadraticEffort", "AbsoluteCost"})
    for (LatentMode mode : {LatentMode::marginal, LatentMode::sampled})
    for (NetworkHead head : {NetworkHead::softplus, NetworkHead::power, NetworkHead::posterior}) {
      const CostInfo& cost = find_cost(name);
      const Dataset d = small_data(find_cost("QuadraticCost"), 2, 12, 4);
      InferenceSpec spec;
      spec.cost = &cost;
      spec.network = random_network(cost, 9, head);
      spec.latent = mode;
      ActorModel m(d, spec);
      for (int rep = 0; rep < 3; ++rep) {
        INFO(name << " mode=" << to_string(mode) << " head=" << to_string(head));
        CHECK(gradient_error(m, random_point(m, rng)) < 2e-6);
      }
    }
}

TEST_CASE("inference: marginal closed form equals the integral of the sampled model (log_lik per trial)") {
  // The exact marginal per trial vs the Gauss–Hermite marginal of a network-free model is
  // tested in test_marginal.cpp; here: the sampled model's log_lik at z = 0 is the
  // conditional density, and the marginal log_lik sums to the likelihood part of lp.
  const CostInfo& cost = find_cost("QuadraticCost");
  const Dataset d = small_data(cost, 1, 20, 8);
  InferenceSpec spec;
  spec.cost = &cost;
  spec.fixed["sigma"] = 0.2;
  spec.priors["mu_0"] = Prior{Prior::Kind::uniform, 0.1, 5.0};
  spec.scale = 1;  // compared with hand computations in the data's units (S = 1)
  ActorModel m(d, spec);
  auto q = m.unconstrain({{"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}});
  std::vector<double> ll(d.size()), g(m.dim());
  m.trial_loglik(q, ll);
  double sum = 0;
  for (double v : ll) sum += v;
  // lp = likelihood + priors + log-Jacobians; compute the latter by hand.
  const double s0 = 0.15, mu0 = 1.5, sr = 0.1;
  const double prior = -0.5 * s0 * s0 / 0.0625 - 0.5 * sr * sr / 0.0625 + std::log(s0) + std::log(sr) +
                       std::log(4.9) + std::log((mu0 - 0.1) / 4.9) + std::log((5 - mu0) / 4.9);
  CHECK(m.log_density(q, g) == doctest::Approx(sum + prior).epsilon(1e-10));
}

TEST_CASE("inference: names, fixed parameters and validation") {
  const CostInfo& cost = find_cost("QuadraticCostQuadraticEffort");
  const Dataset d = small_data(cost, 2, 5, 1);
  InferenceSpec spec;
  spec.cost = &cost;
  spec.predict = true;
  {
    ActorModel m(d, spec);
    const auto names = m.output_names();
    REQUIRE(names.size() == 6 + 2 * d.size());
    CHECK(names[0] == "mu_0");
    CHECK(names[1] == "sigma_0");
    CHECK(names[2] == "sigma_r");
    CHECK(names[3] == "sigma.1");
    CHECK(names[4] == "sigma.2");
    CHECK(names[5] == "beta");
    CHECK(names[6] == "log_lik.1");
    CHECK(names.back() == "r_rep." + std::to_string(d.size()));
    Rng rng(1, 1);
    std::vector<double> out(names.size());
    const auto q = m.unconstrain({{"mu_0", 2.0}, {"beta", 0.7}, {"sigma.2", 0.3}});
    m.write_outputs(q, rng, out);
    CHECK(out[0] == doctest::Approx(2.0));
    CHECK(out[4] == doctest::Approx(0.3));
    CHECK(out[5] == doctest::Approx(0.7));
    for (std::size_t i = 0; i < d.size(); ++i) CHECK(out[6 + d.size() + i] > 0);
  }
  spec.fixed = {{"sigma.2", 0.25}, {"beta", 0.9}};
  {
    ActorModel m(d, spec);
    CHECK(m.free_names() == std::vector<std::string>{"mu_0", "sigma_0", "sigma_r", "sigma.1"});
    CHECK(m.n_free() == 4);
  }
  spec.fixed = {{"beta", 1.5}};
  CHECK_THROWS_AS(ActorModel(d, spec), std::invalid_argument);
  spec.fixed = {{"bogus", 1.0}};
  CHECK_THROWS_WITH_AS(ActorModel(d, spec), doctest::Contains("unknown parameter 'bogus'"), std::invalid_argument);
  spec.fixed.clear();
  spec.priors["mu_0"] = parse_prior("uniform:0.5:3");
  CHECK_NOTHROW(ActorModel(d, spec));
  CHECK_THROWS_AS(parse_prior("uniform:3:1"), std::invalid_argument);
  CHECK_THROWS_AS(parse_prior("gamma:1"), std::invalid_argument);
  // Numbers no data set can have: the sampler's transforms overflow (mu_0 at 5e305).
  CHECK_THROWS_WITH_AS(parse_prior("lognormal:1000:1"), doctest::Contains("need |LOC| <= 230"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_prior("uniform:0:1e300"), doctest::Contains("within 1e100"), std::invalid_argument);
  CHECK_THROWS_AS(parse_prior("halfnormal:1e308"), std::invalid_argument);
  CHECK_NOTHROW(parse_prior("lognormal:-200:5"));
  CHECK(to_string(parse_prior("lognormal:-0.5:1")) == "lognormal:-0.5:1");
  // Network metadata must match the cost.
  InferenceSpec bad;
  bad.cost = &cost;
  bad.network = random_network(find_cost("QuadraticCost"), 1);
  CHECK_THROWS_WITH_AS(ActorModel(d, bad), doctest::Contains("trained for cost 'QuadraticCost'"), std::invalid_argument);
  // No closed form without a network.
  InferenceSpec nocf;
  nocf.cost = &find_cost("AbsoluteCost");
  CHECK_THROWS_AS(ActorModel(d, nocf), std::invalid_argument);
}

TEST_CASE("inference: network marginal per-trial log-likelihood vs brute force over a theta grid") {
  // The heads a network actually produces across the priors (sigma up to 0.7, sigma_r down to
  // 0.03), through the model's own path (trial_loglik: rule by sigma, Newton from the inverse
  // guess), against a dense trapezoid in u = log m; relative error < 1e-6.
  const CostInfo& cost = find_cost("QuadraticCost");
  const Dataset d = small_data(cost, 1, 12, 21);
  InferenceSpec spec;
  spec.cost = &cost;
  spec.network = random_network(cost, 9);
  spec.scale = 1;  // compared with hand computations in the data's units (S = 1)
  ActorModel m(d, spec);
  ActionNetwork::Workspace ws;
  std::vector<double> ll(d.size());
  double worst = 0;
  for (double sigma : {0.05, 0.2, 0.45, 0.7})
    for (double s0 : {0.1, 0.4})
      for (double mu0 : {0.5, 2.5, 4.5})
        for (double sr : {0.03, 0.15, 0.5}) {
          const auto q = m.unconstrain({{"sigma", sigma}, {"sigma_0", s0}, {"mu_0", mu0}, {"sigma_r", sr}});
          m.trial_loglik(q, ll);
          const std::vector<double> theta{sigma, s0, mu0, sr};
          const SoftplusHead h = softplus_head_at(*spec.network, theta, ws);
          for (std::size_t i = 0; i < d.size(); ++i) {
            const double x = std::log(d.s[i]), y = std::log(d.r[i]);
            const int n = 20001;
            const double lo = x - 12 * sigma - 0.5, hi = x + 12 * sigma + 0.5, du = (hi - lo) / (n - 1);
            std::vector<double> f(n);
            double mx = -INFINITY;
            for (int j = 0; j < n; ++j) {
              const double u = lo + j * du;
              double dla, dp[3];
              const double e = y - h.eval(u, dla, dp);
              f[j] = -0.5 * (u - x) * (u - x) / (sigma * sigma) - 0.5 * e * e / (sr * sr);
              mx = std::max(mx, f[j]);
            }
            double s = 0;
            for (int j = 0; j < n; ++j) s += (j == 0 || j == n - 1 ? 0.5 : 1.0) * std::exp(f[j] - mx);
            const double brute = mx + std::log(s * du) - std::log(2 * std::numbers::pi * sigma * sr) - y;
            worst = std::max(worst, std::abs(ll[i] - brute) / std::max(1.0, std::abs(brute)));
          }
        }
  MESSAGE("worst relative error of the network marginal over the theta grid: " << worst);
  CHECK(worst < 1e-6);
}

TEST_CASE("inference: network marginal log_lik per trial (vectorised kernel) equals the scalar quadrature") {
  // trial_loglik takes the SIMD kernel; gh_trial_loglik is the scalar statement of the same
  // rule and Newton steps. Two conditions, 13 and 13 trials (padding lanes in each).
  const CostInfo& cost = find_cost("QuadraticCost");
  const Dataset d = small_data(cost, 2, 13, 5);
  InferenceSpec spec;
  spec.cost = &cost;
  spec.network = random_network(cost, 4);
  spec.scale = 1;  // compared with hand computations in the data's units (S = 1)
  ActorModel m(d, spec);
  ActionNetwork::Workspace ws;
  const GaussHermiteSet rules;
  std::vector<double> ll(d.size());
  for (double sr : {0.05, 0.3}) {
    const double sig[2] = {0.12, 0.35};
    const auto q = m.unconstrain({{"sigma.1", sig[0]}, {"sigma.2", sig[1]}, {"sigma_0", 0.3}, {"mu_0", 1.2}, {"sigma_r", sr}});
    m.trial_loglik(q, ll);
    for (std::size_t i = 0; i < d.size(); ++i) {
      const int c = d.cond[i];
      const std::vector<double> theta{sig[c], 0.3, 1.2, sr};
      const SoftplusHead h = softplus_head_at(*spec.network, theta, ws);
      TrialGrad<SoftplusHead> g;
      const double scalar = gh_trial_loglik(h, std::log(d.s[i]), std::log(d.r[i]), sig[c], sr, rules.for_sigma(sig[c]), g);
      INFO("trial " << i << " sigma_r " << sr);
      CHECK(ll[i] == doctest::Approx(scalar).epsilon(1e-11));
    }
  }
}
