// SPDX-License-Identifier: MIT
// Lapses in hierarchical cohorts (HierarchicalSpec::lapse, docs/hierarchical.md): every trial's
// log_lik equals a one-subject ActorModel fit with lapses at that subject's theta and lapse
// probability (its own contaminant range, or the given one), the gradient against finite
// differences (pooled, shared and fixed lapse probabilities, three response models), the default
// population prior against Beta(2, 50)'s logit moments by quadrature, argument errors, and a fast
// recovery of a cohort's lapse rate (a longer one with several cohorts runs by hand).
#include <bactor/models/hierarchical.hpp>

#include <bactor/engine/errors.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>
#include "tests/models/hierarchical_test_util.hpp"
#include "tests/models/inference_test_util.hpp"
#include "tests/stat_criteria.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace bactor;

namespace {

/// The small cohort with lapses: 3 subjects x 30 trials (stimuli 0.5-3), each with its own lapse
/// probability around 0.08 (and its own mu_0).
Cohort lapse_cohort(const MotorSpec& motor) { return bactor::testing::small_motor_cohort(motor, 0.08, 30); }

std::vector<double> jittered_start(const HierarchicalModel& model, std::uint64_t seed) {
  auto q = model.initial_point();
  Rng rng(seed, 0);
  for (auto& v : q) v += 0.2 * rng.normal();
  return q;
}

} // namespace

TEST_CASE("hierarchical: lapses — names, gradient, and each trial's density as a one-subject fit's") {
  for (const std::string name : {"lognormal", "gaussian", "lognormal+offset"}) {
    CAPTURE(name);
    const MotorSpec motor = parse_motor_spec(name);
    const Cohort cohort = lapse_cohort(motor);
    HierarchicalSpec spec;
    spec.cost = &find_cost("QuadraticCost");
    spec.motor = motor;
    spec.lapse = true;
    spec.quadrature_nodes = 15;  // one rule for every sigma: no node-count step inside the differences
    {
      HierarchicalModel model(cohort.data, spec);  // lapse pooled (the default): lapse.pop, lapse.sd, lapse.sJ
      const auto names = model.output_names();
      auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
      CHECK(has("lapse.pop"));
      CHECK(has("lapse.sd"));
      CHECK(has("lapse.s3"));
      CHECK_FALSE(model.fused());  // the fused node covers no lapses
      CHECK(model.coordinates().at("lapse") == "noncentred");
      const auto q = jittered_start(model, 31);
      CHECK(bactor::testing::gradient_error(model, q) < 1e-5);
      bactor::testing::check_trials_against_single_fits(model, cohort.data, spec, q);
    }
    {  // shared (one lapse probability for every subject, prior beta:2:50) and a given contaminant range
      HierarchicalSpec shared = spec;
      shared.pooled = {"mu_0", "sigma", "sigma_0"};
      shared.lapse_lo = 0.05;
      shared.lapse_hi = 60;
      HierarchicalModel model(cohort.data, shared);
      const auto names = model.output_names();
      CHECK(std::find(names.begin(), names.end(), "lapse") != names.end());
      CHECK(model.shared_priors().back().first == "lapse");
      CHECK(to_string(model.shared_priors().back().second) == "beta:2:50");
      const auto q = jittered_start(model, 32);
      CHECK(bactor::testing::gradient_error(model, q) < 1e-5);
      bactor::testing::check_trials_against_single_fits(model, cohort.data, shared, q);
    }
  }
}

TEST_CASE("hierarchical: lapses in a blocked cohort — one population per condition with per_condition lapse") {
  Cohort cohort = lapse_cohort(MotorSpec{});
  cohort.data.cond_labels = {"a", "b"};
  for (std::size_t i = 0; i < cohort.data.size(); ++i) cohort.data.cond[i] = int(i % 2);
  HierarchicalSpec spec;
  spec.cost = &find_cost("QuadraticCost");
  spec.lapse = true;
  spec.per_condition = {"sigma", "lapse"};
  HierarchicalModel model(cohort.data, spec);
  const auto names = model.output_names();
  for (const char* n : {"lapse.1.pop", "lapse.2.sd", "lapse.2.s3", "sigma.1.pop"})
    CHECK_MESSAGE(std::find(names.begin(), names.end(), n) != names.end(), n);
  CHECK(bactor::testing::gradient_error(model, jittered_start(model, 33)) < 1e-5);
  // One contaminant range per subject over all its conditions, as a single fit of its trials takes it.
  CHECK(model.lapse_ranges().size() == 3);
}

TEST_CASE("hierarchical: lapses fixed at 0 give the model without lapses; a fixed rate in every subject") {
  const Cohort cohort = lapse_cohort(MotorSpec{});
  HierarchicalSpec plain;
  plain.cost = &find_cost("QuadraticCost");
  plain.fused = false;
  HierarchicalSpec zero = plain;
  zero.lapse = true;
  zero.fixed["lapse"] = 0;
  HierarchicalModel a(cohort.data, plain), b(cohort.data, zero);
  REQUIRE(a.dim() == b.dim());
  const auto q = jittered_start(a, 7);
  const auto oa = bactor::testing::outputs_at(a, q), ob = bactor::testing::outputs_at(b, q);
  REQUIRE(oa.size() == ob.size());
  for (std::size_t i = 0; i < oa.size(); ++i) CHECK(ob[i] == doctest::Approx(oa[i]).epsilon(1e-10));
  std::vector<double> ga(a.dim()), gb(b.dim());
  CHECK(b.log_density(q, gb) == doctest::Approx(a.log_density(q, ga)).epsilon(1e-10));
  for (std::size_t i = 0; i < ga.size(); ++i) CHECK(gb[i] == doctest::Approx(ga[i]).epsilon(1e-9).scale(1e-9));
  // A fixed rate: every subject's row holds it.
  HierarchicalSpec fixed = zero;
  fixed.fixed["lapse"] = 0.03;
  HierarchicalModel c(cohort.data, fixed);
  const auto theta = c.subject_theta(q);
  const std::size_t nt = theta_names(*plain.cost).size() + 1;
  for (std::size_t j = 0; j < 3; ++j) CHECK(theta[j * nt + nt - 1] == 0.03);
  CHECK(bactor::testing::gradient_error(c, q) < 1e-5);
}

TEST_CASE("hierarchical: the lapse population prior has Beta(2, 50)'s logit location and spread") {
  // A subject's logit lambda = m + tau z with m ~ N(loc, scale), tau ~ HalfNormal(sd_scale): mean
  // loc, variance scale^2 + sd_scale^2. Beta(2, 50)'s logit: its mean and variance by the
  // midpoint rule over (0, 1) in 200,000 steps (density x (1 - x)^49 x 2550).
  double m1 = 0, m2 = 0, mass = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double x = (i + 0.5) / n, w = 2550.0 * x * std::pow(1 - x, 49) / n, l = std::log(x / (1 - x));
    mass += w;
    m1 += w * l;
    m2 += w * l * l;
  }
  const double mean = m1 / mass, var = m2 / mass - mean * mean;
  CHECK(mass == doctest::Approx(1).epsilon(1e-6));
  const PopulationPrior p = default_population_prior(find_cost("QuadraticCost"), "lapse", 1.0);
  MESSAGE("Beta(2, 50) logit: mean " << mean << ", sd " << std::sqrt(var) << "; population prior " << to_string(p));
  CHECK(p.loc == doctest::Approx(mean).epsilon(0.002));
  CHECK(p.scale * p.scale + p.sd_scale * p.sd_scale == doctest::Approx(var).epsilon(0.005));
}

TEST_CASE("hierarchical: lapse errors name the argument") {
  const Cohort cohort = lapse_cohort(MotorSpec{});
  HierarchicalSpec spec;
  spec.cost = &find_cost("QuadraticCost");
  spec.lapse = true;
  auto throws = [&](HierarchicalSpec s, const std::string& what) {
    CHECK_THROWS_WITH_AS(HierarchicalModel(cohort.data, s), doctest::Contains(what.c_str()), ArgumentError);
  };
  HierarchicalSpec s = spec;
  s.fixed["lapse"] = 1;
  throws(s, "outside the support of its prior beta:2:50");
  s = spec;
  s.pooled = {"mu_0"};
  s.priors["lapse"] = Prior{Prior::Kind::lognormal, 0, 1};
  throws(s, "the lapse probability needs a prior on (0, 1)");
  s = spec;
  s.lapse_lo = 1;
  s.lapse_hi = 2;
  throws(s, "is below the contaminant's range 1:2");
  s = spec;
  s.lapse = false;
  s.lapse_lo = 0.1;
  s.lapse_hi = 10;
  throws(s, "lapses are off");
  s = spec;
  s.lapse = false;
  s.fixed["lapse"] = 0.1;
  throws(s, "'lapse' is a parameter only with lapses");
  s = spec;
  s.pooled = {"mu_0"};
  s.population["lapse"] = PopulationPrior{};
  throws(s, "'lapse' is not pooled");
}

namespace {

using LapseRecovery = bactor::testing::PopulationRecovery;

/// A cohort of J subjects x `trials` trials with lapse probability 0.06 at the population median
/// (spread 0.4 on the logit scale), fitted at chains x (warmup + samples); the 90% intervals of
/// lapse.pop, mu_0.pop and sigma_r.pop against the truth.
void recover(LapseRecovery& r, std::size_t J, std::size_t trials, std::uint64_t seed, int chains, int warmup, int samples) {
  CohortSpec cs;
  cs.base.cost = &find_cost("QuadraticCost");
  cs.base.values = {{"mu_0", 2.0}, {"sigma_0", 0.25}, {"sigma", 0.15}, {"sigma_r", 0.12}};
  cs.base.lapse = 0.06;
  cs.base.trials = trials;
  cs.base.s_lo = 0.5;
  cs.base.s_hi = 6.0;
  cs.base.seed = seed;
  cs.subjects = J;
  cs.spread = {{"mu_0", 0.15}, {"sigma", 0.2}, {"sigma_r", 0.2}, {"lapse", 0.4}};
  const Cohort cohort = simulate_cohort(cs);
  HierarchicalSpec spec;
  spec.cost = cs.base.cost;
  spec.lapse = true;
  spec.log_lik = false;
  NutsSettings ns;
  ns.chains = chains;
  ns.warmup = warmup;
  ns.samples = samples;
  ns.seed = seed;
  const auto chains_out = run_nuts([&] { return std::make_unique<HierarchicalModel>(cohort.data, spec); }, ns);
  const Summary s = summarize(chains_out);
  r.add(s, {{"lapse.pop", 0.06}, {"mu_0.pop", 2.0}, {"sigma_r.pop", 0.12}}, seed);
  // The subjects' lapse probabilities: the posterior mean of their average within 4 posterior sds
  // of the truths' average (sd bounded by the root mean square of the subjects' sds, whatever
  // their correlation).
  double truth_avg = 0;
  for (const auto& t : cohort.truth) truth_avg += t.at("lapse") / double(J);
  double post_avg = 0, post_var = 0;
  for (std::size_t j = 0; j < J; ++j)
    for (const auto& ps : s.params)
      if (ps.name == "lapse.s" + std::to_string(j + 1)) post_avg += ps.mean / double(J), post_var += ps.sd * ps.sd / double(J * J);
  MESSAGE(seed << " average lapse probability: truth " << truth_avg << ", posterior mean " << post_avg);
  CHECK(std::abs(post_avg - truth_avg) < 4 * std::sqrt(post_var * double(J)));  // sd of the average, no independence assumed
}

} // namespace

TEST_CASE("hierarchical: lapses — a cohort's lapse rate is recovered (fast)") {
  // One cohort of 8 subjects x 100 trials (about 48 lapses in all), 4 chains x (250 + 250).
  // The 90% intervals of lapse.pop, mu_0.pop and sigma_r.pop cover their truths (fixed seed; at
  // most one of three may miss), R-hat < 1.1 (short chains: mu_0.pop's bulk ESS was 127, R-hat
  // 1.03), divergences in at most 1% of the draws. About 1.5 s of CPU.
  LapseRecovery r;
  recover(r, 8, 100, 11, 4, 250, 250);
  CHECK(r.covered >= 2);
  CHECK(r.max_rhat < 1.1);
  bactor::testing::check_divergence_rate(r.divergent, r.draws);
}

TEST_CASE("hierarchical: lapses — recovery over five cohorts (run by hand: --no-skip)" * doctest::skip()) {
  // Five cohorts of 20 subjects x 120 trials, 4 chains x (1,000 + 1,000): 15 intervals; Binomial(15, 0.9)'s
  // lower 1% tail is P(X <= 10) = 0.0127, P(X <= 9) = 0.0022, so at least 10 of 15 must cover.
  LapseRecovery r;
  for (std::uint64_t seed : {21, 22, 23, 24, 25}) recover(r, 20, 120, seed, 4, 1000, 1000);
  MESSAGE(r.covered << " of " << r.total << " intervals cover, " << r.divergent << " divergences");
  CHECK(r.covered >= 10);
  CHECK(r.max_rhat < 1.05);
  bactor::testing::check_divergence_rate(r.divergent, r.draws);
}
