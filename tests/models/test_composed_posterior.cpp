// SPDX-License-Identifier: MIT
// Posterior tests of the combinations the composed likelihood (models/likelihood.hpp) opened:
// each fit is compared with a fit of the same model by another route whose posterior is the
// same, so the criterion is a difference of two Monte Carlo estimates:
//   - lapses with sampled latents against lapses with the measurement integrated out (the
//     latents' marginal is the same mixture per trial);
//   - the exact action with lapses against the closed form with lapses on the quadratic-effort
//     cost (whose exact action is the closed form);
//   - a hierarchical fit with the exact action against the closed-form hierarchical fit.
// Criterion: every mean within 4 combined MCSE, every sd within the larger of 10% and 4 combined
// standard errors of the sd, R-hat < 1.02 for both (1.05 for the short exact-action runs),
// divergences at most 1% of the draws (a rate: a trajectory's exact path differs between CPUs).
#include <bactor/models/costs.hpp>
#include <bactor/models/hierarchical.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <utility>

using namespace bactor;

namespace {

Summary run(const std::function<std::unique_ptr<Model>()>& make, const std::vector<std::string>& names, int chains,
            int warmup, int samples, std::uint64_t seed) {
  NutsSettings ns;
  ns.chains = chains;
  ns.warmup = warmup;
  ns.samples = samples;
  ns.seed = seed;
  ns.delta = 0.9;
  return summarize(run_nuts(make, ns), names);
}

/// max_rhat: 1.02, or for the short exact-action runs (4 x 250 draws, bulk-ESS ~200-400, where
/// R-hat's own sampling noise is of order 1/ESS) 1.05.
void check_same(const Summary& a, const Summary& b, double max_rhat = 1.02) {
  for (const Summary* s : {&a, &b}) {
    INFO("divergences " << s->divergences << " of " << s->draws);
    CHECK(double(s->divergences) <= 0.01 * double(s->draws));
  }
  REQUIRE(a.params.size() == b.params.size());
  for (std::size_t k = 0; k < a.params.size(); ++k) {
    const ParamSummary &p = a.params[k], &q = b.params[k];
    REQUIRE(p.name == q.name);
    const double tol = 4 * std::hypot(p.mcse_mean, q.mcse_mean);
    const double sd_tol = std::max(0.10, 4 * std::hypot(p.mcse_sd, q.mcse_sd) / q.sd);
    INFO(p.name << ": mean " << p.mean << " vs " << q.mean << " (tol " << tol << "), sd " << p.sd << " vs " << q.sd
                << " (relative tol " << sd_tol << "), rhat " << p.rhat << " / " << q.rhat);
    CHECK(std::abs(p.mean - q.mean) <= tol);
    CHECK(std::abs(p.sd / q.sd - 1) <= sd_tol);
    CHECK(p.rhat < max_rhat);
    CHECK(q.rhat < max_rhat);
  }
}

Dataset lapse_data(const CostInfo& cost, std::size_t n, std::uint64_t seed) {
  SimulationSpec sim;
  sim.cost = &cost;
  sim.values = {{"sigma", 0.15}, {"sigma_0", 0.2}, {"mu_0", 1.5}, {"sigma_r", 0.12}};
  if (!cost.params.empty()) sim.values[cost.params[0].name] = 0.85;
  sim.trials = n;
  sim.seed = seed;
  sim.lapse = 0.05;
  return simulate(sim);
}

} // namespace

namespace {

/// The closed-form fit of `d` with lapses (sigma fixed) and the same fit changed by `vary`:
/// their summaries (the changed one from `chains` x (`warmup` + `samples`)).
std::pair<Summary, Summary> lapse_pair(const CostInfo& cost, const Dataset& d, const std::function<void(InferenceSpec&)>& vary,
                                       int chains, int warmup, int samples, std::uint64_t seed) {
  InferenceSpec spec;
  spec.cost = &cost;
  spec.lapse = true;
  spec.fixed["sigma"] = 0.15;
  spec.log_lik = false;
  ActorModel probe(d, spec);
  const auto names = probe.free_names();
  const Summary base = run([&] { return std::make_unique<ActorModel>(d, spec); }, names, 4, 500, 1000, seed);
  vary(spec);
  const Summary other = run([&] { return std::make_unique<ActorModel>(d, spec); }, names, chains, warmup, samples, seed + 1);
  return {other, base};
}

} // namespace

TEST_CASE("composed posterior: lapses with sampled latents equal lapses with the marginal") {
  const CostInfo& cost = find_cost("QuadraticCost");
  const auto [sampled, marginal] =
      lapse_pair(cost, lapse_data(cost, 60, 4), [](InferenceSpec& s) { s.latent = LatentMode::sampled; }, 4, 700, 1500, 11);
  check_same(sampled, marginal);
}

// The two exact-action comparisons take about 2 min of CPU each (every gradient solves for the
// action): skipped in make test, run by hand with
//   build/tests/models/test_models -tc="composed posterior*" --no-skip
// (both passed on the 2-core machine on 2026-12-06, 248 s CPU for the three cases).
TEST_CASE("composed posterior: the exact action with lapses equals the closed form with lapses" * doctest::skip()) {
  const CostInfo& cost = find_cost("QuadraticCostQuadraticEffort");
  // Short: every gradient solves for the action (about 0.1 s of CPU per draw here).
  const auto [exact, closed] =
      lapse_pair(cost, lapse_data(cost, 16, 5), [](InferenceSpec& s) { s.exact_action = true; }, 4, 150, 250, 13);
  check_same(exact, closed, 1.05);
}

TEST_CASE("composed posterior: a hierarchical fit with the exact action equals the closed-form one" * doctest::skip()) {
  const CostInfo& cost = find_cost("QuadraticCost");
  Dataset d;
  for (int j = 0; j < 3; ++j) {
    SimulationSpec sim;
    sim.cost = &cost;
    sim.values = {{"sigma", 0.15}, {"sigma_0", 0.2 + 0.03 * j}, {"mu_0", 1.3 + 0.1 * j}, {"sigma_r", 0.12}};
    sim.trials = 8;
    sim.seed = 20 + std::uint64_t(j);
    const Dataset s = simulate(sim);
    for (std::size_t i = 0; i < s.size(); ++i) {
      d.s.push_back(s.s[i]);
      d.r.push_back(s.r[i]);
      d.cond.push_back(0);
      d.subject.push_back("s" + std::to_string(j));
    }
  }
  d.cond_labels = {"1"};
  d.source = "hierarchical exact test";
  HierarchicalSpec hs;
  hs.cost = &cost;
  hs.fixed["sigma"] = 0.15;
  hs.log_lik = false;
  // Non-centred coordinates: the aligned default diverges on a cohort this small (about 2% of
  // transitions here), which would test the coordinates rather than the likelihood.
  hs.parameterisation = HierParameterisation::noncentred;
  const Summary closed = run([&] { return std::make_unique<HierarchicalModel>(d, hs); }, {}, 4, 500, 1000, 15);
  hs.exact_action = true;
  const Summary exact = run([&] { return std::make_unique<HierarchicalModel>(d, hs); }, {}, 4, 150, 250, 16);
  check_same(exact, closed, 1.05);
}
