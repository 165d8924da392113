// SPDX-License-Identifier: MIT
// Posterior accuracy of the inference model under NUTS (fixed seeds): agreement with the Stan
// reference posteriors of tests/reference/README.md (criterion of its README: each mean within
// 3 combined Monte Carlo standard errors or 2% of the posterior sd, whichever is larger, and
// each sd within 5%), for both latent modes, with the closed forms and with trained networks
// (posterior head, whose log-action error near these posteriors is ~1e-4; the criterion needs
// below ~3e-4, which the power head's ~1e-3 misses); and a parameter-recovery study.
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/data.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/train.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>

#include <doctest/doctest.h>

#include "tests/models/posterior_test_util.hpp"

#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

using namespace bactor;

namespace {

using testing::check_against;
using testing::effort_ref;
using testing::quadratic_ref;
using testing::Ref;
using testing::reference_dir;

/// A network trained with the defaults (seed 1), once per (cost, steps) in this test program.
std::shared_ptr<const ActionNetwork> trained_network(const std::string& cost, std::size_t steps) {
  static std::map<std::pair<std::string, std::size_t>, std::shared_ptr<const ActionNetwork>> cache;
  if (auto it = cache.find({cost, steps}); it != cache.end()) return it->second;
  TrainSettings ts;
  ts.cost = cost;
  ts.steps = steps;
  ts.seed = 1;
  auto net = std::make_shared<const ActionNetwork>(train(ts).network);
  REQUIRE(net->head() == NetworkHead::posterior);  // what --head auto picks for these costs
  cache[{cost, steps}] = net;
  return net;
}

/// The priors of Stan's reference runs (tests/reference/README.md): bactor's defaults then, with
/// mu_0 ~ U(0.1, 5) in the data's units (today's default for mu_0 is relative to the stimuli).
InferenceSpec stan_spec(const char* cost) {
  InferenceSpec spec;
  spec.cost = &find_cost(cost);
  spec.priors["mu_0"] = Prior{Prior::Kind::uniform, 0.1, 5.0};
  return spec;
}

} // namespace

TEST_CASE("posterior: quadratic_n60, sigma fixed at 0.2, closed form, marginal latent agrees with Stan") {
  const Dataset d = read_dataset(reference_dir() + "/quadratic_n60.csv");
  InferenceSpec spec = stan_spec("QuadraticCost");
  spec.fixed["sigma"] = 0.2;
  spec.latent = LatentMode::marginal;
  check_against(testing::run_posterior(d, spec, 4, 1000, 2000, 11), quadratic_ref);
}

TEST_CASE("posterior: quadratic_n60, sigma fixed at 0.2, closed form, sampled latents agree with Stan") {
  const Dataset d = read_dataset(reference_dir() + "/quadratic_n60.csv");
  InferenceSpec spec = stan_spec("QuadraticCost");
  spec.fixed["sigma"] = 0.2;
  spec.latent = LatentMode::sampled;
  check_against(testing::run_posterior(d, spec, 4, 1000, 3000, 12), quadratic_ref);
}

TEST_CASE("posterior: effort_two_noise, every parameter free, one sigma per condition, agrees with the exact reference") {
  const Dataset d = read_dataset(reference_dir() + "/effort_two_noise.csv");
  InferenceSpec spec = stan_spec("QuadraticCostQuadraticEffort");
  spec.latent = LatentMode::marginal;
  check_against(testing::run_posterior(d, spec, 4, 1000, 4000, 13), effort_ref);
}

TEST_CASE("posterior: recovery study, 40 data sets x 200 trials from the evaluation prior, network: R^2 >= 0.95") {
  // Issue #5's target for mu_0 and sigma_0 (sigma fixed at its true value). With fewer trials per
  // data set the posterior means carry less information, closed form and network alike (README):
  // R^2 ~0.94 / 0.90 with 60 trials, 0.94-0.97 with 120 depending on the data sets.
  const CostInfo& cost = find_cost("QuadraticCost");
  const auto net = trained_network("QuadraticCost", 20000);
  std::vector<double> t_mu, m_mu, t_s0, m_s0;
  int covered = 0, intervals = 0;
  for (int k = 0; k < 40; ++k) {
    Rng rng(99, k);
    std::map<std::string, double> truth{{"sigma", rng.uniform(0.1, 0.25)}, {"sigma_0", rng.uniform(0.1, 0.25)},
                                        {"sigma_r", rng.uniform(0.1, 0.25)}, {"mu_0", rng.uniform(2, 5)}};
    SimulationSpec sim;
    sim.cost = &cost;
    sim.values = truth;
    sim.trials = 200;
    sim.seed = 500 + k;
    const Dataset d = simulate(sim);
    InferenceSpec spec;
    spec.cost = &cost;
    spec.network = net;
    spec.fixed["sigma"] = truth["sigma"];
    spec.log_lik = false;  // summaries only (as `bactor recover`)
    // The study's inference prior (as `bactor recover`): mu_0 ~ U(0.1, 5), the default before
    // priors became unit-free. The default log(mu_0 / S) ~ N(0, 1) shrinks these truths
    // (U(2, 5), S ~ 2) towards S: R^2 0.92 for mu_0 with the same coverage (110 of 120).
    spec.priors["mu_0"] = Prior{Prior::Kind::uniform, 0.1, 5.0};
    const Summary s = testing::run_posterior(d, spec, 4, 500, 1000, 40 + k);
    for (const auto& p : s.params) {
      if (p.name == "mu_0") t_mu.push_back(truth["mu_0"]), m_mu.push_back(p.mean);
      if (p.name == "sigma_0") t_s0.push_back(truth["sigma_0"]), m_s0.push_back(p.mean);
      covered += p.q5 <= truth[p.name] && truth[p.name] <= p.q95;
      ++intervals;
    }
  }
  auto r2 = [](const std::vector<double>& t, const std::vector<double>& m) {
    double tm = 0, res = 0, tot = 0;
    for (double v : t) tm += v / static_cast<double>(t.size());
    for (std::size_t i = 0; i < t.size(); ++i) res += (m[i] - t[i]) * (m[i] - t[i]), tot += (t[i] - tm) * (t[i] - tm);
    return 1 - res / tot;
  };
  REQUIRE(t_mu.size() == 40);
  MESSAGE("R^2 mu_0 " << r2(t_mu, m_mu) << ", sigma_0 " << r2(t_s0, m_s0) << "; 90% intervals cover " << covered
                      << " of " << intervals);
  CHECK(r2(t_mu, m_mu) >= 0.95);
  CHECK(r2(t_s0, m_s0) >= 0.95);
  // 120 intervals (mu_0, sigma_0, sigma_r): 108 expected, binomial sd 3.3.
  CHECK(covered >= 98);
  CHECK(covered <= 118);
}

TEST_CASE("posterior: quadratic_n60, sigma fixed at 0.2, network (40k training steps) agrees with Stan") {
  const Dataset d = read_dataset(reference_dir() + "/quadratic_n60.csv");
  InferenceSpec spec = stan_spec("QuadraticCost");
  spec.network = trained_network("QuadraticCost", 40000);
  spec.fixed["sigma"] = 0.2;
  check_against(testing::run_posterior(d, spec, 4, 1000, 10000, 14), quadratic_ref);
}

TEST_CASE("posterior: effort_two_noise, every parameter free, network (30k training steps) agrees with the exact reference") {
  const Dataset d = read_dataset(reference_dir() + "/effort_two_noise.csv");
  InferenceSpec spec = stan_spec("QuadraticCostQuadraticEffort");
  spec.network = trained_network("QuadraticCostQuadraticEffort", 30000);
  check_against(testing::run_posterior(d, spec, 4, 1000, 6000, 15), effort_ref);
}
