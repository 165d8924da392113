// SPDX-License-Identifier: MIT
// Parameters that vary by condition (InferenceSpec::per_condition, issue 15 part 1): names,
// priors and fixing by NAME and NAME.c, errors; the log-density's gradient vs finite
// differences with per-condition mu_0 and sigma_0 (closed forms; networks: posterior head,
// exact marginal, softplus head, quadrature marginal; both latent modes); per-trial log_lik of
// each condition equals a one-condition model at that condition's values; simulate() with any
// parameter by condition; and recovery of blocked priors under NUTS.
#include <bactor/models/inference.hpp>

#include <bactor/engine/errors.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>
#include "tests/models/inference_test_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace bactor;
using bactor::testing::gradient_error;
using bactor::testing::random_network;

namespace {

/// Three blocks with their own mu_0 and sigma_0; sigma and sigma_r shared.
const std::vector<double> block_mu0{1.0, 2.0, 4.0}, block_sigma0{0.1, 0.15, 0.25};

Dataset blocked_data(const CostInfo& cost, std::size_t trials, std::uint64_t seed) {
  SimulationSpec spec;
  spec.cost = &cost;
  spec.values = {{"sigma", 0.2}, {"sigma_r", 0.1}};
  for (const auto& p : cost.params) spec.values[p.name] = 0.9;
  spec.condition_values = {{"mu_0", block_mu0}, {"sigma_0", block_sigma0}};
  spec.trials = trials;
  spec.seed = seed;
  return simulate(spec);
}

InferenceSpec per_block_spec(const CostInfo& cost) {
  InferenceSpec spec;
  spec.cost = &cost;
  spec.per_condition = {"mu_0", "sigma_0"};
  return spec;
}

std::vector<double> random_point(const ActorModel& m, Rng& rng) {
  auto q = m.unconstrain({{"sigma", 0.2}, {"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}});
  for (auto& v : q) v += 0.3 * rng.normal();
  return q;
}

std::size_t index_of(const std::vector<std::string>& names, const std::string& n) {
  return std::size_t(std::find(names.begin(), names.end(), n) - names.begin());
}

} // namespace

TEST_CASE("per condition: names, priors by NAME and NAME.c, fixing, errors") {
  const CostInfo& cost = find_cost("QuadraticCost");
  const Dataset d = blocked_data(cost, 10, 1);
  REQUIRE(d.conditions() == 3);
  {
    ActorModel m(d, per_block_spec(cost));
    CHECK(m.free_names() == std::vector<std::string>{"mu_0.1", "mu_0.2", "mu_0.3", "sigma_0.1", "sigma_0.2", "sigma_0.3",
                                                     "sigma_r", "sigma"});
    const auto out = m.output_names();
    CHECK(out.size() == 8 + d.size());
    CHECK(out[8] == "log_lik.1");
  }
  {  // the default: only sigma varies, as before
    InferenceSpec spec;
    spec.cost = &cost;
    ActorModel m(d, spec);
    CHECK(m.free_names() == std::vector<std::string>{"mu_0", "sigma_0", "sigma_r", "sigma.1", "sigma.2", "sigma.3"});
  }
  {  // one condition: no suffix
    const Dataset one = blocked_data(cost, 10, 1);
    Dataset d1 = one;
    d1.s.resize(10), d1.r.resize(10), d1.cond.resize(10), d1.line.resize(10), d1.cond_labels.resize(1);
    ActorModel m(d1, per_block_spec(cost));
    CHECK(m.free_names() == std::vector<std::string>{"mu_0", "sigma_0", "sigma_r", "sigma"});
  }
  {  // default_priors follows per_condition
    const auto dp = default_priors(cost, 2, {"mu_0", "sigma_r"});
    std::vector<std::string> names;
    for (const auto& np : dp) names.push_back(np.first);
    CHECK(names == std::vector<std::string>{"sigma", "sigma_0", "mu_0.1", "mu_0.2", "sigma_r.1", "sigma_r.2"});
    CHECK(dp[2].second.kind == Prior::Kind::lognormal);  // of mu_0 / S
  }
  {  // "mu_0" sets every mu_0.c, "mu_0.2" one (the unconstrain default is the uniform's midpoint)
    InferenceSpec spec = per_block_spec(cost);
    spec.priors["mu_0"] = parse_prior("uniform:0.5:3");
    spec.priors["mu_0.2"] = parse_prior("uniform:1:2");
    ActorModel m(d, spec);
    const auto v = m.constrain(m.unconstrain({}));
    const auto names = m.all_names();
    CHECK(v[index_of(names, "mu_0.1")] == doctest::Approx(1.75));
    CHECK(v[index_of(names, "mu_0.2")] == doctest::Approx(1.5));
    CHECK(v[index_of(names, "mu_0.3")] == doctest::Approx(1.75));
  }
  {  // fixing: "mu_0" all, "sigma_0.2" one
    InferenceSpec spec = per_block_spec(cost);
    spec.fixed["mu_0"] = 1.5;
    spec.fixed["sigma_0.2"] = 0.2;
    ActorModel m(d, spec);
    CHECK(m.free_names() == std::vector<std::string>{"sigma_0.1", "sigma_0.3", "sigma_r", "sigma"});
    CHECK(m.all_names().size() == 8);
    const auto v = m.constrain(m.unconstrain({}));
    CHECK(v[index_of(m.all_names(), "mu_0.3")] == 1.5);
    CHECK(v[index_of(m.all_names(), "sigma_0.2")] == 0.2);
  }
  // Errors name the argument.
  auto argument_of = [&](const InferenceSpec& spec) {
    try {
      ActorModel m(d, spec);
    } catch (const ArgumentError& e) {
      return e.argument() + ": " + e.reason();
    }
    return std::string("no error");
  };
  InferenceSpec bad = per_block_spec(cost);
  bad.per_condition = {"mu_0", "beta"};
  CHECK(argument_of(bad).rfind("per_condition: unknown parameter 'beta'", 0) == 0);
  bad = per_block_spec(cost);
  bad.fixed["sigma.2"] = 0.2;  // sigma is shared here
  CHECK(argument_of(bad).rfind("fixed: unknown parameter 'sigma.2'", 0) == 0);
  bad = per_block_spec(cost);
  bad.priors["mu_0.4"] = parse_prior("uniform:1:2");
  CHECK(argument_of(bad).rfind("priors: unknown parameter 'mu_0.4'", 0) == 0);
  bad = per_block_spec(cost);
  bad.priors["mu_0"] = parse_prior("uniform:0.1:5");
  bad.fixed["mu_0.1"] = 7;  // outside U(0.1, 5)
  CHECK(argument_of(bad).rfind("fixed: mu_0.1=7 is outside the support of its prior uniform:0.1:5", 0) == 0);
  CHECK_THROWS_AS(default_priors(cost, 2, {"nope"}), ArgumentError);
  // The cost's parameters may vary too.
  InferenceSpec effort = per_block_spec(find_cost("QuadraticCostQuadraticEffort"));
  effort.per_condition = {"beta", "sigma_r"};
  ActorModel me(blocked_data(find_cost("QuadraticCostQuadraticEffort"), 10, 2), effort);
  CHECK(me.free_names() == std::vector<std::string>{"mu_0", "sigma_0", "sigma_r.1", "sigma_r.2", "sigma_r.3", "sigma",
                                                    "beta.1", "beta.2", "beta.3"});
}

TEST_CASE("per condition: simulate() with any parameter by condition") {
  const CostInfo& cost = find_cost("QuadraticCost");
  const Dataset d = blocked_data(cost, 400, 3);
  REQUIRE(d.conditions() == 3);
  REQUIRE(d.size() == 1200);
  // The mean log response at s = mu_0 ... cruder: the mean log r per block rises with mu_0
  // (the same stimuli in every block).
  std::vector<double> mean(3, 0.0);
  for (std::size_t i = 0; i < d.size(); ++i) mean[std::size_t(d.cond[i])] += std::log(d.r[i]) / 400.0;
  CHECK(mean[0] < mean[1]);
  CHECK(mean[1] < mean[2]);
  SimulationSpec bad;
  bad.cost = &cost;
  bad.values = {{"sigma", 0.2}, {"sigma_r", 0.1}, {"sigma_0", 0.1}};
  bad.condition_values = {{"mu_0", {1, 2, 4}}, {"sigma_0", {0.1, 0.2}}};  // lengths differ (sigma_0 in values is replaced)
  CHECK_THROWS_AS(simulate(bad), ArgumentError);
  bad.condition_values = {{"mu_0", {1, 2}}};
  bad.condition_sigmas = {0.1, 0.2};  // the old field still works alongside
  CHECK(simulate(bad).conditions() == 2);
  bad.condition_values = {{"bogus", {1, 2}}};
  CHECK_THROWS_AS(simulate(bad), std::invalid_argument);
}

TEST_CASE("per condition: log-density gradient vs finite differences, per-condition mu_0 and sigma_0") {
  Rng rng(15, 0);
  SUBCASE("closed forms, both latent modes") {
    for (const char* name : {"QuadraticCost", "QuadraticCostQuadraticEffort"})
      for (LatentMode mode : {LatentMode::marginal, LatentMode::sampled})
        for (int variant = 0; variant < 2; ++variant) {
          const CostInfo& cost = find_cost(name);
          InferenceSpec spec = per_block_spec(cost);
          spec.latent = mode;
          if (variant == 1) {  // more varying, one fixed per-condition value
            spec.per_condition = {"mu_0", "sigma_0", "sigma", "sigma_r"};
            spec.fixed["sigma_0.2"] = 0.15;
          }
          ActorModel m(blocked_data(cost, 12, 5), spec);
          for (int rep = 0; rep < 3; ++rep) {
            INFO(name << " mode=" << to_string(mode) << " variant=" << variant);
            CHECK(gradient_error(m, random_point(m, rng)) < 1e-6);
          }
        }
  }
  SUBCASE("networks: posterior head (exact marginal), softplus head (quadrature marginal), both latent modes") {
    for (const char* name : {"QuadraticCost", "QuadraticCostQuadraticEffort"})
      for (LatentMode mode : {LatentMode::marginal, LatentMode::sampled})
        for (NetworkHead head : {NetworkHead::posterior, NetworkHead::softplus}) {
          const CostInfo& cost = find_cost(name);
          InferenceSpec spec = per_block_spec(cost);
          spec.latent = mode;
          spec.network = random_network(cost, 9, head);
          ActorModel m(blocked_data(find_cost("QuadraticCost"), 10, 6), spec);
          for (int rep = 0; rep < 3; ++rep) {
            INFO(name << " mode=" << to_string(mode) << " head=" << to_string(head));
            CHECK(gradient_error(m, random_point(m, rng)) < 2e-6);
          }
        }
  }
}

TEST_CASE("per condition: each condition's log_lik equals a one-condition model at that condition's values") {
  const CostInfo& cost = find_cost("QuadraticCost");
  const Dataset d = blocked_data(cost, 8, 7);
  for (int with_net = 0; with_net < 2; ++with_net) {
    InferenceSpec spec = per_block_spec(cost);
    if (with_net) spec.network = random_network(cost, 3, NetworkHead::softplus);
    ActorModel m(d, spec);
    std::map<std::string, double> at{{"sigma", 0.2}, {"sigma_r", 0.12}};
    for (int c = 0; c < 3; ++c) {
      at["mu_0." + std::to_string(c + 1)] = block_mu0[std::size_t(c)];
      at["sigma_0." + std::to_string(c + 1)] = block_sigma0[std::size_t(c)];
    }
    std::vector<double> ll(d.size());
    m.trial_loglik(m.unconstrain(at), ll);
    Rng rng(1, 0);
    std::vector<double> out(m.output_names().size());
    m.write_outputs(m.unconstrain(at), rng, out);
    for (std::size_t i = 0; i < d.size(); ++i) CHECK(out[8 + i] == doctest::Approx(ll[i]).epsilon(1e-12));
    for (int c = 0; c < 3; ++c) {
      Dataset dc;
      dc.source = "block";
      dc.cond_labels = {"1"};
      std::vector<std::size_t> idx;
      for (std::size_t i = 0; i < d.size(); ++i)
        if (d.cond[i] == c) dc.s.push_back(d.s[i]), dc.r.push_back(d.r[i]), dc.cond.push_back(0), dc.line.push_back(i + 2), idx.push_back(i);
      InferenceSpec one;
      one.cost = &cost;
      one.network = spec.network;
      ActorModel mc(dc, one);
      std::vector<double> llc(dc.size());
      mc.trial_loglik(mc.unconstrain({{"sigma", 0.2}, {"sigma_r", 0.12}, {"mu_0", block_mu0[std::size_t(c)]},
                                      {"sigma_0", block_sigma0[std::size_t(c)]}}),
                      llc);
      for (std::size_t k = 0; k < idx.size(); ++k) CHECK(ll[idx[k]] == doctest::Approx(llc[k]).epsilon(1e-10));
    }
  }
}

TEST_CASE("per condition: blocked priors recovered (90% intervals cover), a single-prior fit misses them") {
  // Three blocks (mu_0 = 1, 2, 4; sigma_0 = 0.1, 0.15, 0.25; sigma = 0.2 and sigma_r = 0.1
  // shared), 150 trials per block, QuadraticCost closed form, marginal latent; R = 20 data sets
  // (seeds 1500 + k), NUTS 4 chains x (300 + 300).
  // (1) per_condition {mu_0, sigma_0}: of the 120 90%-intervals of the six per-block
  //     parameters, the number that cover the truth is within 3 binomial sd of 108
  //     (sd = sqrt(120 * 0.9 * 0.1) = 3.29): 99..117.
  // (2) the default per_condition (sigma.1..3; one mu_0 and sigma_0 for all blocks): its mu_0
  //     interval excludes at least two of the three block values in at least 18 of the 20
  //     data sets.
  const CostInfo& cost = find_cost("QuadraticCost");
  const int R = 20;
  int covered = 0, intervals = 0, missed = 0, divergences = 0;
  for (int k = 0; k < R; ++k) {
    const Dataset d = blocked_data(cost, 150, 1500 + std::uint64_t(k));
    NutsSettings ns;
    ns.chains = 4;
    ns.warmup = 300;
    ns.samples = 300;
    ns.seed = 70 + std::uint64_t(k);
    InferenceSpec spec = per_block_spec(cost);
    spec.log_lik = false;
    {
      const auto names = ActorModel(d, spec).free_names();
      const Summary s = summarize(run_nuts([&] { return std::make_unique<ActorModel>(d, spec); }, ns), names);
      divergences += int(s.divergences);
      for (const auto& p : s.params)
        for (int c = 0; c < 3; ++c) {
          const std::string suffix = "." + std::to_string(c + 1);
          double truth = 0;
          if (p.name == "mu_0" + suffix) truth = block_mu0[std::size_t(c)];
          else if (p.name == "sigma_0" + suffix) truth = block_sigma0[std::size_t(c)];
          else continue;
          covered += p.q5 <= truth && truth <= p.q95;
          ++intervals;
        }
    }
    InferenceSpec single;
    single.cost = &cost;
    single.log_lik = false;
    // the default per_condition: one sigma per block, one mu_0 and sigma_0 for all
    {
      const auto names = ActorModel(d, single).free_names();
      const Summary s = summarize(run_nuts([&] { return std::make_unique<ActorModel>(d, single); }, ns), names);
      for (const auto& p : s.params)
        if (p.name == "mu_0") {
          int excluded = 0;
          for (double t : block_mu0) excluded += t < p.q5 || t > p.q95;
          missed += excluded >= 2;
        }
    }
  }
  MESSAGE("per-block fits: " << covered << " of " << intervals << " 90% intervals cover (" << divergences
                             << " divergences); single-prior fits: mu_0 interval excludes >= 2 block values in " << missed
                             << " of " << R);
  REQUIRE(intervals == 6 * R);
  CHECK(covered >= 99);
  CHECK(covered <= 117);
  CHECK(missed >= 18);
}
