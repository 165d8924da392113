// SPDX-License-Identifier: MIT
// Simulation-based calibration per response family (issue 23 part 3; Talts et al. 2018; the
// helpers in sbc_util.hpp): theta from the inference model's default priors (scale 1: mu_0 ~
// LogNormal(0, 1), sigma_0, sigma_r, sigma_a, offset ~ HalfNormal(0.25)), 25 trials with s ~
// U(0.5, 2), a NUTS fit, the rank of the truth among thinned draws. sigma is drawn from its prior
// too and fixed at that value in the fit: the calibration of the conditional posterior of the
// others (with one noise level sigma and sigma_0 trade off, as in the reference study). The
// log-normal families' likelihood cannot hold a response <= 0, which gaussian noise can give: a
// data set with one is drawn again (theta and data); SBC stays exact, because conditioning the
// joint of (theta, data) on an event of the data alone leaves p(theta | data) unchanged.
//
// Families: gaussian and gaussian+offset (closed form, the composed quadrature likelihood) and,
// by hand, generalized with a network trained here (data simulated with that network, so the
// test checks inference, not the network's accuracy). Criterion: Pearson's chi^2 of each
// parameter's rank histogram below its 99.9% quantile, divergences at most 1% of the draws.
// make test runs gaussian+offset with 30 data sets and 5 bins (chi^2 with 4 dof below 18.47),
// and shows that the test can fail: 15 such data sets fitted without the offset give rank
// histograms far from uniform. The full runs (200 data
// sets, 10 bins per family) are skipped cases: build/tests/models/test_models -tc="sbc families*"
// --no-skip. Measured numbers: docs/families.md ("Calibration").
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/models/train.hpp>
#include <bactor/samplers/nuts.hpp>
#include "tests/models/sbc_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace bactor;
using bactor::testing::RankHistogram;

namespace {

/// How many data sets, how the ranks are binned, the NUTS run per data set.
struct SbcDesign {
  int sets = 200, bins = 10, kept = 99, thin = 8;
  int warmup = 300, samples = 396;  // 2 chains x 396 = 792 draws, every 8th kept: 99
  std::size_t trials = 25;
  double bound = bactor::testing::chi2_999_dof9;
};
const SbcDesign full{};
// make test: 30 data sets of 20 trials, 2 x 150 draws, every 6th kept: 49, ranks in 5 bins.
const SbcDesign fast{30, 5, 49, 6, 200, 150, 20, bactor::testing::chi2_999_dof4};

/// The generating and the fitted model (the same for a calibration check).
struct SbcCase {
  MotorSpec simulate, fit;
  std::shared_ptr<const ActionNetwork> network;
  std::uint64_t seed = 2300;
};

/// A draw of every parameter of `motor` from the default priors (scale 1).
std::map<std::string, double> prior_draw(const MotorSpec& motor, Rng& rng) {
  std::map<std::string, double> truth;
  for (const auto& name : theta_names(find_cost("QuadraticCost"), motor)) {
    if (name == "sigma_r" && !motor.has_sigma_r()) continue;
    truth[name] = name == "mu_0" ? std::exp(rng.normal()) : std::abs(0.25 * rng.normal());
  }
  return truth;
}

struct SbcResult {
  std::map<std::string, RankHistogram> hist;
  int redrawn = 0;
  std::size_t divergent = 0, draws = 0;
};

SbcResult run_sbc(const SbcCase& c, const SbcDesign& d) {
  const CostInfo& cost = find_cost("QuadraticCost");
  SbcResult res;
  for (int k = 0; k < d.sets; ++k) {
    Rng prior(c.seed + std::uint64_t(k), 7);
    std::map<std::string, double> truth;
    Dataset data;
    for (;;) {
      truth = prior_draw(c.simulate, prior);
      SimulationSpec sim;
      sim.cost = &cost;
      sim.motor = c.simulate;
      sim.network = c.network;
      sim.values = truth;
      sim.trials = d.trials;
      sim.s_lo = 0.5, sim.s_hi = 2;
      sim.seed = prior.next_u64() >> 1;
      data = simulate(sim);
      if (std::all_of(data.r.begin(), data.r.end(), [](double r) { return r > 0; })) break;
      ++res.redrawn;
    }
    InferenceSpec spec;
    spec.cost = &cost;
    spec.motor = c.fit;
    spec.network = c.network;
    spec.scale = 1;
    spec.log_lik = false;
    spec.fixed["sigma"] = truth.at("sigma");
    NutsSettings ns;
    ns.chains = 2;
    ns.warmup = d.warmup;
    ns.samples = d.samples;
    ns.seed = 6000 + c.seed + std::uint64_t(k);
    ns.delta = 0.9;
    const auto chains = run_nuts([&] { return std::make_unique<ActorModel>(data, spec); }, ns);
    for (const auto& name : ActorModel(data, spec).free_names()) {
      if (!truth.count(name)) continue;  // a parameter the generating model does not have
      res.hist.try_emplace(name, d.bins, d.kept);
      res.hist.at(name).add(bactor::testing::sbc_rank(chains, name, truth.at(name), d.kept, d.thin));
    }
    res.divergent += bactor::testing::divergent_draws(chains);
    for (const auto& ch : chains) res.draws += ch.rows();
  }
  return res;
}

std::string describe(const SbcResult& r, const SbcDesign& d) {
  std::ostringstream msg;
  msg << d.sets << " data sets (" << r.redrawn << " redrawn for a response <= 0), " << r.divergent << " divergent of "
      << r.draws << " draws; chi^2 (" << d.bins - 1 << " dof, bound " << d.bound << "):";
  for (const auto& [name, h] : r.hist) msg << "\n  " << name << ": " << h.text();
  return msg.str();
}

/// Every parameter's histogram within the bound, divergences at most 1% of the draws.
void check_calibrated(const SbcCase& c, const SbcDesign& d) {
  const SbcResult r = run_sbc(c, d);
  MESSAGE(c.fit.name() << ": " << describe(r, d));
  CHECK(r.hist.size() >= 3);
  for (const auto& [name, h] : r.hist) {
    INFO(name << " " << h.text());
    CHECK(h.chi2() < d.bound);
  }
  CHECK(double(r.divergent) <= 0.01 * double(r.draws));
}

std::shared_ptr<const ActionNetwork> generalized_network(std::size_t steps) {
  TrainSettings s;
  s.cost = "QuadraticCost";
  s.motor = MotorModel::generalized;
  s.steps = steps;
  s.threads = 2;
  s.seed = 23;
  return std::make_shared<const ActionNetwork>(train(s).network);
}

const MotorSpec gaussian{MotorModel::gaussian, false}, gaussian_offset{MotorModel::gaussian, true};

} // namespace

TEST_CASE("sbc families (fast): gaussian+offset motor noise (closed form) is calibrated") {
  check_calibrated({gaussian_offset, gaussian_offset, nullptr}, fast);
}

TEST_CASE("sbc families (fast): the rank test fails for a wrong model (gaussian+offset data fitted without the offset)") {
  SbcDesign d = fast;
  d.sets = 15;  // measured with 40: mu_0's ranks [36 1 3 0 0], chi^2 123; 15 are plenty
  const SbcResult r = run_sbc({gaussian_offset, gaussian, nullptr}, d);
  MESSAGE("gaussian+offset data, gaussian fit: " << describe(r, d));
  double worst = 0;
  for (const auto& [name, h] : r.hist) worst = std::max(worst, h.chi2());
  CHECK(worst > d.bound);
}

TEST_CASE("sbc families: gaussian motor noise (closed form), 200 data sets" * doctest::skip()) {
  check_calibrated({gaussian, gaussian, nullptr}, full);
}

TEST_CASE("sbc families: gaussian+offset motor noise (closed form), 200 data sets" * doctest::skip()) {
  check_calibrated({gaussian_offset, gaussian_offset, nullptr}, full);
}

TEST_CASE("sbc families: generalized motor noise with a trained network, 200 data sets" * doctest::skip()) {
  const MotorSpec generalized{MotorModel::generalized, false};
  check_calibrated({generalized, generalized, generalized_network(8000)}, full);
}
