// SPDX-License-Identifier: MIT
// The power-law output heads, power a = exp(x0) m^sigmoid(x1) and posterior a = exp(x0 + mu_post):
// formulas, file round trip, the choice of `--head auto`, the inference log-density with such
// networks (the marginal likelihood equals the exact log-normal marginal of a power law). Their
// posteriors against the Stan references: test_inference_posterior.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <filesystem>
#include <memory>
#include <numbers>
#include <vector>
#include <nlohmann/json.hpp>

#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/data.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/safetensors.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/engine/errors.hpp>
#include <bactor/models/train.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>
#include "tests/models/inference_test_util.hpp"

using namespace bactor;

namespace {

std::shared_ptr<const ActionNetwork> random_power_network(const CostInfo& cost, std::uint64_t seed,
                                                          NetworkHead head = NetworkHead::power) {
  return bactor::testing::random_network(cost, seed, head);
}

std::string temp_path(const char* name) { return (std::filesystem::temp_directory_path() / name).string(); }

} // namespace

TEST_CASE("power head: a = exp(x0) m^sigmoid(x1), x2 unused") {
  const double x[3] = {0.3, -0.4, 7.0};
  const double m = 2.5, w = 1 / (1 + std::exp(0.4));
  CHECK(ActionNetwork::action(NetworkHead::power, std::span<const double, 3>(x), m) ==
        doctest::Approx(std::exp(0.3) * std::pow(m, w)).epsilon(1e-14));
  CHECK(parse_network_head("power") == NetworkHead::power);
  CHECK(parse_network_head("posterior") == NetworkHead::posterior);
  CHECK(parse_network_head("softplus") == NetworkHead::softplus);
  CHECK_THROWS_AS(parse_network_head("linear"), std::invalid_argument);
}

TEST_CASE("posterior head: a = exp(x0 + mu_post) for any measurement; power form from forward()") {
  // With the MLP output x0 fixed, log a - mu_post(m) is the same at every m, and the power form
  // (x0 + w_0 log mu_0, logit w_m) gives the same action.
  const auto net = random_power_network(find_cost("QuadraticCost"), 7, NetworkHead::posterior);
  const std::vector<double> theta{0.25, 0.12, 2.2, 0.1};
  ActionNetwork::Workspace ws;
  double x[3];
  net->forward(theta, std::span<double, 3>(x), ws);
  const double s2 = 0.25 * 0.25, s02 = 0.12 * 0.12, wm = s02 / (s2 + s02), w0 = s2 / (s2 + s02);
  CHECK(1 / (1 + std::exp(-x[1])) == doctest::Approx(wm).epsilon(1e-14));
  double first = NAN;
  for (double m : {0.3, 1.0, 2.2, 6.5}) {
    const double mu_post = w0 * std::log(2.2) + wm * std::log(m);
    const double c = std::log(net->action(theta, m)) - mu_post;
    if (std::isnan(first)) first = c;
    CHECK(c == doctest::Approx(first).epsilon(1e-12));
  }
  // The MLP sees (sigma_post, sigma_r) only: theta with the same sigma_post gives the same c.
  const double sp = std::sqrt(s2 * s02 / (s2 + s02));
  const double sig2 = 0.2, sig02 = sp * sig2 / std::sqrt(sig2 * sig2 - sp * sp);  // same sigma_post
  const std::vector<double> theta2{sig2, sig02, 3.0, 0.1};
  const double w0b = sig2 * sig2 / (sig2 * sig2 + sig02 * sig02);
  const double mu_post2 = w0b * std::log(3.0) + (1 - w0b) * std::log(1.4);
  CHECK(std::log(net->action(theta2, 1.4)) - mu_post2 == doctest::Approx(first).epsilon(1e-12));
  // Training it for a cost whose optimum is not c exp(mu_post) is refused.
  TrainSettings ts;
  ts.cost = "Linex";
  ts.head = "posterior";
  CHECK_THROWS_WITH_AS(Trainer{ts}, doctest::Contains("needs a cost homogeneous in (s, r)"), bactor::ArgumentError);
}

TEST_CASE("--head auto: posterior exactly for the costs homogeneous in (s, r)") {
  CHECK(std::string(default_head_name(find_cost("QuadraticCost"))) == "posterior");
  CHECK(std::string(default_head_name(find_cost("QuadraticCostQuadraticEffort"))) == "posterior");
  CHECK(std::string(default_head_name(find_cost("AbsoluteCost"))) == "posterior");
  CHECK(std::string(default_head_name(find_cost("AsymmetricQuadratic"))) == "posterior");
  CHECK(std::string(default_head_name(find_cost("AbsoluteCostQuadraticEffort"))) == "mupost");
  CHECK(std::string(default_head_name(find_cost("Linex"))) == "mupost");
  CHECK(std::string(default_head_name(find_cost("InvertedGaussian"))) == "mupost");
  // Homogeneity, checked on the registry's own loss: l(c s, c r) = c^p l(s, r).
  for (const auto& cost : cost_families()) {
    if (!cost.homogeneous()) continue;
    CAPTURE(cost.name);
    const double p[1] = {0.7};
    for (double c : {0.3, 2.0, 7.5})
      CHECK(cost.loss(c * 1.3, c * 0.8, p) ==
            doctest::Approx(std::pow(c, cost.homogeneity_degree) * cost.loss(1.3, 0.8, p)).epsilon(1e-12));
  }
}

TEST_CASE("power-law heads: save -> load keeps the head; unknown heads are rejected; old files are softplus") {
  const std::string path = temp_path("bactor_power_head.safetensors");
  for (NetworkHead head : {NetworkHead::posterior, NetworkHead::power}) {
    const auto net = random_power_network(find_cost("QuadraticCost"), 3, head);
    net->save(path);
    const ActionNetwork back = ActionNetwork::load(path);
    CHECK(back.head() == head);
    CHECK(back.n_features() == net->n_features());
    const std::vector<double> theta{0.2, 0.15, 1.5, 0.1};
    CHECK(back.action(theta, 1.7) == net->action(theta, 1.7));
  }

  SafetensorsContent c = read_safetensors(path);
  auto arch = nlohmann::json::parse(c.metadata["architecture"]);
  arch["head"] = "relu(x0)";
  c.metadata["architecture"] = arch.dump();
  write_safetensors(path, c);
  CHECK_THROWS_WITH_AS(ActionNetwork::load(path), doctest::Contains("unknown output head 'relu(x0)'"),
                       std::invalid_argument);
  arch.erase("head");
  c.metadata["architecture"] = arch.dump();
  write_safetensors(path, c);
  CHECK(ActionNetwork::load(path).head() == NetworkHead::softplus);
  std::remove(path.c_str());
}

TEST_CASE("inference with a power-law-head network: the marginal likelihood is the exact power-law marginal") {
  // (Its gradient is checked with the softplus head's in test_inference.cpp.)
  Rng rng(12, 0);
  for (const char* name : {"QuadraticCost", "QuadraticCostQuadraticEffort", "AbsoluteCost"})
    for (NetworkHead head : {NetworkHead::power, NetworkHead::posterior}) {
      CAPTURE(name);
      CAPTURE(to_string(head));
      const CostInfo& cost = find_cost(name);
      SimulationSpec sim;
      sim.cost = &find_cost("QuadraticCost");
      sim.values = {{"sigma", 0.2}, {"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}};
      sim.condition_sigmas = {0.1, 0.25};
      sim.trials = 12;
      sim.seed = 4;
      const Dataset d = simulate(sim);
      InferenceSpec spec;
      spec.cost = &cost;
      spec.network = random_power_network(cost, 9, head);
      spec.scale = 1;  // compared with a hand computation in the data's units (S = 1)
      ActorModel m(d, spec);
      for (int rep = 0; rep < 3; ++rep) {
        auto q = m.unconstrain({{"sigma", 0.2}, {"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}});
        for (auto& v : q) v += 0.3 * rng.normal();
        // log r ~ N(log k + w log s, sqrt(sigma_r^2 + w^2 sigma^2)) with (log k, w) from the head.
        std::vector<double> ll(d.size());
        m.trial_loglik(q, ll);
        const auto names = m.all_names();
        const auto vals = m.constrain(q);
        auto value = [&](const std::string& n) {
          for (std::size_t i = 0; i < names.size(); ++i)
            if (names[i] == n) return vals[i];
          FAIL("no parameter " << n);
          return 0.0;
        };
        for (std::size_t k = 0; k < d.size(); ++k) {
          const int c = d.cond[k];
          const double sig = value("sigma." + std::to_string(c + 1)), sr = value("sigma_r");
          std::vector<double> theta{sig, value("sigma_0"), value("mu_0"), sr};
          for (const auto& p : cost.params) theta.push_back(value(p.name));
          ActionNetwork::Workspace ws;
          double x[3];
          spec.network->forward(theta, std::span<double, 3>(x), ws);
          const double w = 1 / (1 + std::exp(-x[1]));
          const double sd = std::sqrt(sr * sr + w * w * sig * sig);
          const double z = (std::log(d.r[k]) - x[0] - w * std::log(d.s[k])) / sd;
          const double exact = -0.5 * z * z - std::log(sd) - 0.5 * std::log(2 * std::numbers::pi) - std::log(d.r[k]);
          CHECK(ll[k] == doctest::Approx(exact).epsilon(1e-10));
        }
      }
    }
}
