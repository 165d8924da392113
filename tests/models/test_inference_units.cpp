// SPDX-License-Identifier: MIT
// Unit-free inference (docs/inference.md, "Units"): the same data in seconds and in
// milliseconds give the same posterior, with mu_0 scaled by 1000; priors, fixed values and
// outputs are in the data's units; the training-region check of a network fit.
#include <doctest/doctest.h>

#include "inference_test_util.hpp"
#include "tests/stat_criteria.hpp"

#include <bactor/engine/errors.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>

#include <cmath>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace bactor;

namespace {

Dataset seconds_data(const char* cost, std::uint64_t seed, std::map<std::string, double> extra = {}) {
  SimulationSpec sim;
  sim.cost = &find_cost(cost);
  sim.values = {{"mu_0", 2.5}, {"sigma_0", 0.3}, {"sigma", 0.15}, {"sigma_r", 0.1}};
  for (const auto& [k, v] : extra) sim.values[k] = v;
  sim.trials = 80;
  sim.s_lo = 0.3;
  sim.s_hi = 8.0;
  sim.seed = seed;
  return simulate(sim);
}

Dataset times(const Dataset& d, double k) {
  Dataset out = d;
  for (auto& v : out.s) v *= k;
  for (auto& v : out.r) v *= k;
  return out;
}

Summary sample(const Dataset& d, const InferenceSpec& spec, std::uint64_t seed) {
  NutsSettings ns;
  ns.chains = 2;
  ns.warmup = 400;
  ns.samples = 800;
  ns.seed = seed;
  ns.threads = 1;
  const auto chains = run_nuts([&] { return std::make_unique<ActorModel>(d, spec); }, ns);
  return summarize(chains);
}

} // namespace

TEST_CASE("units: seconds and milliseconds give the same log density, gradient and outputs (mu_0 x 1000)") {
  struct Case {
    const char* cost;
    NetworkHead head;
    bool network;
  };
  // The closed form, and networks of both kinds of head for a cost that is not homogeneous in
  // (s, r) (its parameter is read in units of S, so it is unit-free too).
  for (const Case& c : {Case{"QuadraticCost", NetworkHead::softplus, false},
                        Case{"QuadraticCostQuadraticEffort", NetworkHead::posterior, true},
                        Case{"Linex", NetworkHead::softplus, true}}) {
    CAPTURE(c.cost);
    const Dataset s = seconds_data(c.network ? "QuadraticCost" : c.cost, 3);
    const Dataset ms = times(s, 1000);
    InferenceSpec spec;
    spec.cost = &find_cost(c.cost);
    if (c.network) spec.network = testing::random_network(*spec.cost, 5, c.head);
    ActorModel a(s, spec), b(ms, spec);
    CHECK(b.scale() == doctest::Approx(1000 * a.scale()).epsilon(1e-12));
    REQUIRE(a.dim() == b.dim());
    Rng rng(8, 1);
    for (int k = 0; k < 5; ++k) {
      std::vector<double> q(a.dim());
      for (auto& v : q) v = 0.5 * rng.normal();
      std::vector<double> ga(a.dim()), gb(b.dim());
      const double la = a.log_density(q, ga), lb = b.log_density(q, gb);
      CHECK(lb == doctest::Approx(la).epsilon(1e-10));
      for (std::size_t i = 0; i < q.size(); ++i) CHECK(gb[i] == doctest::Approx(ga[i]).epsilon(1e-8).scale(1));
      const auto va = a.constrain(q), vb = b.constrain(q);
      const auto names = a.all_names();
      for (std::size_t i = 0; i < names.size(); ++i)
        CHECK(vb[i] == doctest::Approx(va[i] * (names[i] == "mu_0" ? 1000.0 : 1.0)).epsilon(1e-10));
      // Per-trial log-likelihoods are densities of r in the data's units: r in ms is 1000 r in s.
      std::vector<double> lla(s.size()), llb(s.size());
      a.trial_loglik(q, lla);
      b.trial_loglik(q, llb);
      for (std::size_t i = 0; i < s.size(); ++i) CHECK(llb[i] == doctest::Approx(lla[i] - std::log(1000.0)).epsilon(1e-9));
    }
  }
}

TEST_CASE("units: a homogeneous cost's closed form is the same model at any scale S (per-trial log_lik in the data's units)") {
  // The optimal action of a cost homogeneous in (s, r) scales with the stimuli, so S only moves
  // lp__ by the constant N log S; the per-trial log-likelihoods (densities of r in the data's
  // units) agree, and so do the gradients.
  for (const char* name : {"QuadraticCost", "QuadraticCostQuadraticEffort"}) {
    CAPTURE(name);
    const Dataset d = std::string(name) == "QuadraticCost" ? seconds_data(name, 9) : seconds_data(name, 9, {{"beta", 0.8}});
    InferenceSpec spec;
    spec.cost = &find_cost(name);
    spec.priors["mu_0"] = Prior{Prior::Kind::uniform, 0.2, 9.0};
    InferenceSpec one = spec;
    one.scale = 1;
    ActorModel a(d, spec), b(d, one);
    REQUIRE(a.scale() > 2);  // stimuli in [0.3, 8]
    Rng rng(4, 2);
    for (int k = 0; k < 4; ++k) {
      std::vector<double> q(a.dim());
      for (auto& v : q) v = 0.4 * rng.normal();
      std::vector<double> ga(a.dim()), gb(b.dim()), la(d.size()), lb(d.size());
      const double lpa = a.log_density(q, ga), lpb = b.log_density(q, gb);
      // Constants: N log S from the likelihood (densities of r / S), -log S from the uniform
      // prior's log-Jacobian log((hi - lo) / S).
      CHECK(lpa - double(d.size() - 1) * std::log(a.scale()) == doctest::Approx(lpb).epsilon(1e-10));
      for (std::size_t i = 0; i < q.size(); ++i) CHECK(ga[i] == doctest::Approx(gb[i]).epsilon(1e-8).scale(1));
      a.trial_loglik(q, la);
      b.trial_loglik(q, lb);
      for (std::size_t i = 0; i < d.size(); ++i) CHECK(la[i] == doctest::Approx(lb[i]).epsilon(1e-10));
      const auto va = a.constrain(q), vb = b.constrain(q);
      for (std::size_t i = 0; i < va.size(); ++i) CHECK(va[i] == doctest::Approx(vb[i]).epsilon(1e-12));
    }
  }
}

TEST_CASE("units: NUTS on seconds and on milliseconds, same seed: the same posterior, mu_0 x 1000") {
  const Dataset s = seconds_data("QuadraticCost", 4);
  const Dataset ms = times(s, 1000);
  InferenceSpec spec;
  spec.cost = &find_cost("QuadraticCost");
  spec.log_lik = false;
  const Summary a = sample(s, spec, 21), b = sample(ms, spec, 21);
  REQUIRE(a.params.size() == b.params.size());
  for (std::size_t k = 0; k < a.params.size(); ++k) {
    const auto& pa = a.params[k];
    const auto& pb = b.params[k];
    CAPTURE(pa.name);
    const double f = pa.name == "mu_0" ? 1000.0 : 1.0;
    // Identical up to rounding in practice; the tolerance allows chains that part ways after a
    // rounding difference (then the two runs are independent: 3 combined Monte Carlo errors).
    const double tol = 3 * std::hypot(pa.mcse_mean, pb.mcse_mean / f);
    CHECK(std::abs(pb.mean / f - pa.mean) <= tol);
    CHECK(pb.sd / f == doctest::Approx(pa.sd).epsilon(0.1));
  }
  bactor::testing::check_divergence_rate(a.divergences, a.draws);
}

TEST_CASE("units: priors and fixed values are in the data's units; the default prior of mu_0 follows the stimuli") {
  const Dataset s = seconds_data("QuadraticCost", 6);
  const Dataset ms = times(s, 1000);
  InferenceSpec spec;
  spec.cost = &find_cost("QuadraticCost");
  ActorModel a(s, spec), b(ms, spec);
  auto prior_of = [](const ActorModel& m, const std::string& name) {
    for (const auto& [n, p] : m.free_priors())
      if (n == name) return p;
    FAIL("no prior for " << name);
    return Prior{};
  };
  // log(mu_0 / S) ~ N(0, 1): lognormal:log(S):1 in the data's units.
  const Prior pa = prior_of(a, "mu_0"), pb = prior_of(b, "mu_0");
  CHECK(pa.kind == Prior::Kind::lognormal);
  CHECK(pa.a == doctest::Approx(std::log(geometric_mean_stimulus(s))));
  CHECK(pb.a == doctest::Approx(pa.a + std::log(1000.0)));
  CHECK(pa.b == 1.0);
  CHECK(prior_of(a, "sigma_r").a == prior_of(b, "sigma_r").a);  // unit-free

  // A user prior in seconds and the same prior in milliseconds: the same model.
  InferenceSpec us = spec, ums = spec;
  us.priors["mu_0"] = Prior{Prior::Kind::uniform, 0.1, 5.0};
  ums.priors["mu_0"] = Prior{Prior::Kind::uniform, 100.0, 5000.0};
  us.fixed["sigma"] = 0.15;
  ums.fixed["sigma"] = 0.15;
  ActorModel c(s, us), d(ms, ums);
  CHECK(prior_of(d, "mu_0").a == doctest::Approx(100.0));
  REQUIRE(c.dim() == d.dim());
  std::vector<double> q(c.dim(), 0.2), g(c.dim());
  CHECK_THROWS_AS(a.log_density(q, g), std::invalid_argument);  // a has sigma free: one more coordinate
  CHECK(d.log_density(q, g) == doctest::Approx(c.log_density(q, g)).epsilon(1e-10));
  // A fixed mu_0 is in the data's units too, and checked against the prior in those units.
  InferenceSpec fx = ums;
  fx.fixed["mu_0"] = 2500.0;
  ActorModel e(ms, fx);
  CHECK(e.constrain(std::vector<double>(e.dim(), 0.0))[0] == doctest::Approx(2500.0));
  fx.fixed["mu_0"] = 2.5;  // seconds given for millisecond data: outside U(100, 5000)
  CHECK_THROWS_AS(ActorModel(ms, fx), ArgumentError);
  // unconstrain takes data units.
  const auto q0 = e.unconstrain({{"sigma_0", 0.3}});
  CHECK(e.constrain(q0)[1] == doctest::Approx(0.3));

  // --scale 1: the data's own units (the old behaviour); a bad scale names the argument.
  InferenceSpec one = spec;
  one.scale = 1;
  CHECK(ActorModel(ms, one).scale() == 1.0);
  one.scale = -2;
  try {
    ActorModel bad(ms, one);
    FAIL("no error");
  } catch (const ArgumentError& err) {
    CHECK(std::string(err.argument()) == "scale");
  }
}

TEST_CASE("units: the training-region check counts draws and stimuli outside the network's training priors") {
  const Dataset s = seconds_data("QuadraticCost", 7);
  // Softplus head: every theta entry and the stimuli are compared (in units of S).
  InferenceSpec spec;
  spec.cost = &find_cost("QuadraticCost");
  spec.network = std::make_shared<const ActionNetwork>(testing::trainer_random_network("QuadraticCost", 3, "softplus"));
  spec.fixed["sigma"] = 0.15;
  ActorModel m(s, spec);
  const auto names = m.free_names();  // mu_0, sigma_0, sigma_r
  REQUIRE(names.size() == 3);
  const double S = m.scale();
  // Training priors (TrainingPrior defaults): sigmas in [0.01, 0.5], mu_0 / S in [0.1, 7].
  std::vector<std::vector<double>> draws;
  for (int k = 0; k < 100; ++k) {
    const double mu0 = (k < 10 ? 8.0 : 2.0) * S;     // 10% outside
    const double sr = k >= 90 ? 0.7 : 0.2;           // another 10% outside
    draws.push_back({mu0, 0.3, sr});
  }
  const auto rc = m.training_region(draws);
  CHECK(rc.checked);
  CHECK(rc.exact_note.empty());
  CHECK(rc.draws_outside == doctest::Approx(0.2));
  REQUIRE(rc.by_parameter.size() == 2);
  CHECK(rc.by_parameter[0].first == "mu_0");
  CHECK(rc.by_parameter[0].second == doctest::Approx(0.1));
  CHECK(rc.by_parameter[1].first == "sigma_r");
  // The stimuli s / S: seconds_data has s in [0.3, 8], S ~ 3, so none below 0.1 or above 7.
  CHECK(rc.stimuli_outside == 0.0);
  const Dataset wide = [&] {
    Dataset d = s;
    d.s[0] = 40 * S;  // one stimulus far above the trained range
    return d;
  }();
  InferenceSpec at = spec;
  at.scale = S;
  CHECK(ActorModel(wide, at).training_region({}).stimuli_outside == doctest::Approx(1.0 / double(s.size())));

  // Posterior head (homogeneous cost): exact in mu_0 and the stimulus scale, so a mu_0 far away
  // does not count; sigma_post and sigma_r do.
  InferenceSpec ps = spec;
  ps.network = std::make_shared<const ActionNetwork>(testing::trainer_random_network("QuadraticCost", 3, "posterior"));
  ActorModel p(s, ps);
  const auto rp = p.training_region(draws);
  CHECK(!rp.exact_note.empty());
  CHECK(rp.draws_outside == doctest::Approx(0.1));
  REQUIRE(rp.by_parameter.size() == 1);
  CHECK(rp.by_parameter[0].first == "sigma_r");
  // Without a network there is nothing to check.
  InferenceSpec cf;
  cf.cost = spec.cost;
  CHECK(!ActorModel(s, cf).training_region(draws).checked);
}
