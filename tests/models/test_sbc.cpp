// SPDX-License-Identifier: MIT
// Simulation-based calibration (issue 24 part 3; Talts et al. 2018): data sets drawn from the
// inference model's own prior and likelihood, each fitted by NUTS; the rank of the true value
// among (thinned) posterior draws is uniform when inference is calibrated. Here: the closed-form
// QuadraticCost actor with lapses (the contaminant that `simulate --lapse` draws from and that
// `infer --lapse` assumes by default, stimulus_lapse_range) and sigma per condition (two
// conditions). Every quantity's ranks go into 10 bins; the criterion is Pearson's chi^2 (9 dof)
// of each below 27.88, its 99.9% quantile (six quantities: a calibrated model fails with
// probability about 0.6%). Fixed seeds; the chi^2 statistics are Monte Carlo quantities, so
// another CPU's trajectories give other values from the same distribution. Measured: chi^2 3.9
// (lapse) to 15.6 (mu_0); 29 of the 200 data sets had a response outside the stimuli's lapse
// range (inference then widens it); 5 divergent of 158,400 draws; 13 s of CPU, so it runs in
// make test.
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/data.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/simulate.hpp>
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

namespace {

/// Beta(2, 50) as the 2nd smallest of 51 uniforms (the order statistic of integer shapes).
double beta_2_50(Rng& rng) {
  double a = 1, b = 1;  // the two smallest
  for (int k = 0; k < 51; ++k) {
    const double u = rng.uniform();
    if (u < a) b = a, a = u;
    else if (u < b) b = u;
  }
  return b;
}

} // namespace

TEST_CASE("sbc: closed-form actor with lapses and sigma per condition: ranks of the truth are uniform") {
  const CostInfo& cost = find_cost("QuadraticCost");
  constexpr int sets = 200, bins = 10, kept = 99;  // 99 thinned draws: ranks 0..99, 10 per bin
  const std::vector<std::string> names = {"sigma.1", "sigma.2", "sigma_0", "mu_0", "sigma_r", "lapse"};
  std::map<std::string, bactor::testing::RankHistogram> hist;
  for (const auto& n : names) hist.emplace(n, bactor::testing::RankHistogram(bins, kept));
  int widened = 0, divergent = 0, draws_total = 0;
  for (int k = 0; k < sets; ++k) {
    // The truth from the inference model's default priors (scale 1: mu_0 ~ LogNormal(0, 1)).
    Rng prior(2400 + std::uint64_t(k), 7);
    std::map<std::string, double> truth;
    truth["sigma.1"] = std::abs(0.25 * prior.normal());
    truth["sigma.2"] = std::abs(0.25 * prior.normal());
    truth["sigma_0"] = std::abs(0.25 * prior.normal());
    truth["mu_0"] = std::exp(prior.normal());
    truth["sigma_r"] = std::abs(0.25 * prior.normal());
    truth["lapse"] = beta_2_50(prior);
    SimulationSpec sim;
    sim.cost = &cost;
    sim.values = {{"sigma_0", truth["sigma_0"]}, {"mu_0", truth["mu_0"]}, {"sigma_r", truth["sigma_r"]}};
    sim.condition_sigmas = {truth["sigma.1"], truth["sigma.2"]};
    sim.trials = 25;
    sim.s_lo = 0.5, sim.s_hi = 2;
    sim.seed = 2400 + std::uint64_t(k);
    sim.lapse = truth["lapse"];
    const Dataset d = simulate(sim);
    InferenceSpec spec;
    spec.cost = &cost;
    spec.scale = 1;
    spec.lapse = true;
    spec.log_lik = false;
    if (lapse_range(d, spec) != stimulus_lapse_range(d.s)) ++widened;
    NutsSettings ns;
    ns.chains = 2;
    ns.warmup = 300;
    ns.samples = 396;  // 2 x 396 = 792 draws, every 8th kept: 99
    ns.seed = 5000 + std::uint64_t(k);
    ns.delta = 0.9;
    const auto chains = run_nuts([&] { return std::make_unique<ActorModel>(d, spec); }, ns);
    for (const auto& n : names) hist.at(n).add(bactor::testing::sbc_rank(chains, n, truth[n], kept, 8));
    divergent += int(bactor::testing::divergent_draws(chains));
    for (const auto& c : chains) draws_total += int(c.rows());
  }
  std::ostringstream msg;
  msg << sets << " data sets (" << widened << " with a response outside the stimulus lapse range), " << divergent
      << " divergent of " << draws_total << " draws; chi^2 (9 dof, bound 27.88):";
  for (const auto& n : names) {
    const double chi2 = hist.at(n).chi2();
    msg << "\n  " << n << ": " << hist.at(n).text();
    INFO(n << " chi^2 " << chi2);
    CHECK(chi2 < bactor::testing::chi2_999_dof9);
  }
  MESSAGE(msg.str());
}
