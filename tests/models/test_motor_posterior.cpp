// SPDX-License-Identifier: MIT
// Recovery under the motor noise families (docs/families.md): data simulated from each motor
// model are fitted with the same model (closed form where there is one; a network trained here
// for the generalized model), and the posterior must contain the truth. Criterion per free
// parameter: |posterior mean - truth| <= 4 posterior sds (a wrong likelihood -- a missing
// Jacobian, a motor density of the wrong family, an offset with the wrong sign -- moves the means
// by many sds), R-hat < 1.05 (short runs) and divergences at most 1% of the draws. make test runs
// one data set of 150 trials per model (about 40 s in all); the skipped "long" cases three data
// sets of 300 trials each (about 6 min), and the accuracy of the generalized model's network at
// the default training length (run by hand with --no-skip).
#include <bactor/models/costs.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/motor.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/models/train.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>
#include "tests/models/posterior_test_util.hpp"
#include "tests/stat_criteria.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>

using namespace bactor;

namespace {

/// Fits three data sets simulated at `truth` (seeds 1..3) and checks recovery.
struct Design {
  std::uint64_t sets = 1;
  std::size_t trials = 150;
  int warmup = 250, samples = 250;
};
const Design fast{}, slow{3, 300, 400, 400};

/// `fix`: parameters fixed at their true values besides sigma; truth["lapse"] > 0: data with
/// lapses (the contaminant of simulate) fitted with lapses.
void check_recovery(const Design& design, const char* cost, const MotorSpec& motor, std::map<std::string, double> truth,
                    std::shared_ptr<const ActionNetwork> net = nullptr, const std::vector<std::string>& fix = {},
                    LatentMode latent = LatentMode::marginal) {
  const double lapse = truth.count("lapse") ? truth.at("lapse") : 0.0;
  for (std::uint64_t seed = 1; seed <= design.sets; ++seed) {
    SimulationSpec sim;
    sim.cost = &find_cost(cost);
    sim.motor = motor;
    sim.values = truth;
    sim.values.erase("lapse");
    sim.lapse = lapse;
    sim.network = net;
    sim.trials = design.trials;
    sim.s_lo = 0.5;
    sim.s_hi = 6.0;
    sim.seed = seed;
    const Dataset data = simulate(sim);
    InferenceSpec spec;
    spec.cost = sim.cost;
    spec.motor = motor;
    spec.network = net;
    spec.lapse = lapse > 0;
    spec.latent = latent;
    spec.fixed["sigma"] = truth.at("sigma");  // as in the reference study: sigma and sigma_0 trade off
    for (const auto& name : fix) spec.fixed[name] = truth.at(name);
    const Summary s = bactor::testing::run_posterior(data, spec, 2, design.warmup, design.samples, 10 + seed, 0.9);
    bactor::testing::check_divergence_rate(s.divergences, s.draws);
    for (const auto& p : s.params) {
      INFO(std::string(cost) << ", " << motor.name() << ", latent " << to_string(latent) << ", data set " << seed << ": " << p.name << " mean " << p.mean << " sd "
                << p.sd << " truth " << truth.at(p.name) << ", rhat " << p.rhat);
      CHECK(std::abs(p.mean - truth.at(p.name)) <= 4 * p.sd);
      CHECK(p.rhat < 1.05);
    }
  }
}

TrainSettings generalized_settings(std::size_t steps, const char* cost = "QuadraticCost") {
  TrainSettings s;
  s.cost = cost;
  s.motor = MotorModel::generalized;
  s.steps = steps;
  s.threads = 2;
  s.seed = 7;
  return s;
}

} // namespace

void gaussian_case(const Design& d) {
  check_recovery(d, "QuadraticCost", {MotorModel::gaussian, false},
                 {{"sigma", 0.2}, {"sigma_0", 0.2}, {"mu_0", 1.5}, {"sigma_a", 0.15}});
}
// The offset trades off with the prior's pull (mu_0, sigma_0): sigma_0 is fixed too, so that
// short runs mix (with it free, 2 x 250 draws gave R-hat 1.05 on mu_0 and the offset).
void offset_cases(const Design& d) {
  check_recovery(d, "QuadraticCost", {MotorModel::lognormal, true},
                 {{"sigma", 0.2}, {"sigma_0", 0.2}, {"mu_0", 1.5}, {"sigma_r", 0.1}, {"offset", 0.2}}, nullptr, {"sigma_0"});
  check_recovery(d, "QuadraticCostQuadraticEffort", {MotorModel::gaussian, true},
                 {{"sigma", 0.2}, {"sigma_0", 0.2}, {"mu_0", 1.5}, {"beta", 0.8}, {"sigma_a", 0.1}, {"offset", 0.2}}, nullptr,
                 {"sigma_0"});
}
// Lapses with motor models: the contaminant is uniform in r under gaussian motor noise, in log r
// under the log-normal families (what simulate draws).
void lapse_cases(const Design& d) {
  check_recovery(d, "QuadraticCost", {MotorModel::gaussian, false},
                 {{"sigma", 0.2}, {"sigma_0", 0.2}, {"mu_0", 1.5}, {"sigma_a", 0.15}, {"lapse", 0.08}});
  check_recovery(d, "QuadraticCost", {MotorModel::lognormal, true},
                 {{"sigma", 0.2}, {"sigma_0", 0.2}, {"mu_0", 1.5}, {"sigma_r", 0.1}, {"offset", 0.2}, {"lapse", 0.08}},
                 nullptr, {"sigma_0"});
}
// Sampled latents (the measurements as parameters) instead of the marginal.
void sampled_cases(const Design& d) {
  check_recovery(d, "QuadraticCost", {MotorModel::gaussian, false},
                 {{"sigma", 0.2}, {"sigma_0", 0.2}, {"mu_0", 1.5}, {"sigma_a", 0.15}, {"lapse", 0.08}}, nullptr, {},
                 LatentMode::sampled);
}
void generalized_case(const Design& d, std::size_t steps) {
  const TrainResult tr = train(generalized_settings(steps));
  const auto net = std::make_shared<const ActionNetwork>(tr.network);
  CHECK(net->metadata().at("motor") == "generalized");
  MESSAGE(steps << "-step network: eval RMSE " << tr.eval_rmse << ", " << tr.seconds << " s");
  check_recovery(d, "QuadraticCost", {MotorModel::generalized, false},
                 {{"sigma", 0.2}, {"sigma_0", 0.2}, {"mu_0", 1.5}, {"sigma_r", 0.08}, {"sigma_a", 0.15}}, net);
}

TEST_CASE("motor recovery: gaussian motor noise, closed form (quadratic cost: a = E[s | m])") { gaussian_case(fast); }
TEST_CASE("motor recovery: log-normal and gaussian motor noise with an offset, closed form") { offset_cases(fast); }
TEST_CASE("motor recovery: lapses with gaussian motor noise and with a log-normal offset, closed form") { lapse_cases(fast); }
TEST_CASE("motor recovery: sampled latents, gaussian motor noise with lapses, closed form") { sampled_cases(fast); }
TEST_CASE("motor recovery: generalized motor noise with a network trained for it (8k steps)") { generalized_case(fast, 8000); }
TEST_CASE("motor recovery, long: three data sets of 300 trials per model" * doctest::skip()) {
  gaussian_case(slow);
  offset_cases(slow);
  lapse_cases(slow);
  sampled_cases(slow);
  generalized_case(slow, 20000);
}

namespace {
/// Mean and max relative error of a QuadraticCost x generalized network trained `steps` steps
/// against the ground truth (numerical quadrature over the generalized motor noise) on the
/// 2,000 points `bactor evaluate` draws.
std::pair<double, double> generalized_accuracy(std::size_t steps, const char* cost = "QuadraticCost", std::size_t seed = 7) {
  TrainSettings set = generalized_settings(steps, cost);
  set.seed = seed;
  Trainer tr(set);
  for (std::size_t k = 0; k < steps; ++k) tr.step();
  const EvalSet e = make_eval_set(find_cost(cost), MotorModel::generalized, 2000, 20250, 0x7777);
  std::vector<double> a(e.size());
  tr.actions(e.theta, e.m, a);
  double mean_rel = 0, max_rel = 0;
  for (std::size_t i = 0; i < e.size(); ++i) {
    const double rel = std::abs(a[i] - e.a_star[i]) / e.a_star[i];
    mean_rel += rel / double(e.size());
    max_rel = std::max(max_rel, rel);
  }
  MESSAGE(std::string(cost) << ", " << steps << " steps: mean relative error " << mean_rel << ", max " << max_rel);
  return {mean_rel, max_rel};
}
} // namespace

TEST_CASE("motor accuracy: QuadraticCost x generalized at the default training length meets the accuracy targets" *
          doctest::skip()) {
  // docs/accuracy.md's targets: mean relative error <= 0.1%, max relative error <= 2%. Skipped
  // (20 s); by hand (AVX2): mean 7.8e-5, max 2.5e-3 (with Monte Carlo draws it was 2.2e-3, 2.3e-2;
  // docs/families.md, Accuracy).
  const auto [mean_rel, max_rel] = generalized_accuracy(default_training_steps(find_cost("QuadraticCost"), MotorModel::generalized, PerceptionModel::lognormal));
  CHECK(mean_rel <= 0.001);
  CHECK(max_rel <= 0.02);
}

TEST_CASE("motor accuracy, fast: an 8k-step QuadraticCost x generalized network within 0.25% mean, 5% max") {
  // The product rule's log objective (docs/training.md) gave 0.081% and 1.8% at 8k steps (AVX2);
  // Monte Carlo draws 1.2% and 11%, the rule without the log 8.4% and 59%.
  const auto [mean_rel, max_rel] = generalized_accuracy(8000);
  CHECK(mean_rel <= 0.0025);
  CHECK(max_rel <= 0.05);
}

TEST_CASE("motor accuracy: Linex x generalized (mupost head, truncated product rule) at the default training length" *
          doctest::skip()) {
  // Skipped (60 s); by hand (AVX2, seed 1), the posterior line cut at Linex's seam and the ground
  // truth cut too, at 60,000 steps: mean 0.071%, max 1.7% (seeds 1-5, 8: max 1.25-1.75%; seed 7:
  // 2.2%, a fit error of its network at one point, docs/families.md "Linex's seam"); at the
  // default 120,000 (default_training_steps) `bactor train` gave max 1.39%, 1.01%, 1.18%, 1.27% at
  // seeds 1, 2, 3, 7 (2,000 points of bactor evaluate). Before the cut, 8
  // posterior nodes: 0.071%, 1.6%; 4 nodes: 0.084%, 2.3% (the softplus head with Monte Carlo
  // draws, the default before: 2.7% and 87%).
  const auto [mean_rel, max_rel] = generalized_accuracy(default_training_steps(find_cost("Linex"), MotorModel::generalized, PerceptionModel::lognormal), "Linex", 1);
  CHECK(mean_rel <= 0.001);
  CHECK(max_rel <= 0.02);
}

TEST_CASE("motor accuracy, fast: an 8k-step Linex x generalized network within 1% mean, 30% max") {
  // Measured at 8k steps (seed 1, AVX2): 0.38% and 17% with the mupost head and the truncated
  // product rule (16% with 4 posterior nodes); the softplus head (the default before) 3.0% and
  // 42% with the rule of 4 posterior nodes.
  const auto [mean_rel, max_rel] = generalized_accuracy(8000, "Linex", 1);
  CHECK(mean_rel <= 0.01);
  CHECK(max_rel <= 0.3);
}

TEST_CASE("motor accuracy, fast: an 8k-step AsymmetricQuadratic x generalized network (the kink's split rule) within 1% "
          "mean, 10% max") {
  // Measured at 8k steps (seed 1, AVX2): 0.25% and 2.6% with the rule split at the kink; with
  // Monte Carlo draws (before) 2.9% and 28%. At 60k steps 0.038% and 0.55% (draws: 0.46%, 5.2%).
  const auto [mean_rel, max_rel] = generalized_accuracy(8000, "AsymmetricQuadratic", 1);
  CHECK(mean_rel <= 0.01);
  CHECK(max_rel <= 0.1);
}
