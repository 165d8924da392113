// SPDX-License-Identifier: MIT
// Lapses (InferenceSpec::lapse, issue 15 part 2): the beta prior's transform; the lapse
// mixture's tape nodes (closed forms, power-law network heads, the softplus quadrature) against
// finite differences and against per-trial sums; ActorModel with lapses (names, priors, fixing,
// per-condition lapse, errors, gradient, log_lik, predictions); simulate() with lapses; and
// interval coverage under NUTS on data with 3% lapses, with and without the mixture.
#include "models/inference_nodes.hpp"

#include "models/inference_kernels.hpp"
#include <bactor/engine/errors.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>
#include "tests/engine/gradcheck.hpp"
#include "tests/models/inference_test_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

using namespace bactor;
using bactor::testing::gradcheck;
using bactor::testing::gradient_error;
using bactor::testing::GradCheckOptions;
using bactor::testing::random_network;
using bactor::testing::reduce;
namespace d = bactor::detail;

namespace {

/// log((1 - eps) e^ll + eps / (width r)) at y = log r.
double mix(double ll, double y, double eps, double log_width) {
  return std::log((1 - eps) * std::exp(ll) + eps * std::exp(-log_width - y));
}

Dataset study(const CostInfo& cost, std::size_t n, int conditions, std::uint64_t seed = 11, double lapse = 0.1) {
  SimulationSpec spec;
  spec.cost = &cost;
  spec.values = {{"sigma", 0.2}, {"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}};
  for (const auto& p : cost.params) spec.values[p.name] = 0.9;
  if (conditions > 1) spec.condition_sigmas = {0.1, 0.25};
  spec.trials = n;
  spec.seed = seed;
  spec.lapse = lapse;
  return simulate(spec);
}

std::size_t index_of(const std::vector<std::string>& names, const std::string& n) {
  return std::size_t(std::find(names.begin(), names.end(), n) - names.begin());
}

} // namespace

TEST_CASE("lapse: the beta prior (parse, print, density) and its logit transform in constrain_node vs finite differences") {
  const Prior p = parse_prior("beta:2:50");
  CHECK(p.kind == Prior::Kind::beta);
  CHECK(to_string(p) == "beta:2:50");
  CHECK(to_string(lapse_prior()) == "beta:2:50");
  CHECK(p.in_support(0.03));
  CHECK_FALSE(p.in_support(0.0));
  CHECK_FALSE(p.in_support(1.0));
  CHECK_THROWS_AS(parse_prior("beta:0:3"), std::invalid_argument);
  CHECK_THROWS_AS(parse_prior("beta:2"), std::invalid_argument);
  CHECK(p.log_density(0.1) - p.log_density(0.02) ==
        doctest::Approx(std::log(0.1 / 0.02) + 49 * std::log(0.9 / 0.98)).epsilon(1e-13));
  // A plan with a beta slot beside the others; both branches of the sigmoid.
  d::ConstrainPlan plan;
  plan.slots = {{Prior{Prior::Kind::half_normal, 0.25, 0}}, {p}, {Prior{Prior::Kind::uniform, 0.1, 5.0}},
                {Prior{Prior::Kind::beta, 0.7, 3.0}}};
  for (int s = 0; s < 4; ++s) plan.slots[std::size_t(s)].q = s;
  plan.layout = {0, 1, 2, 3, 1};  // the lapse slot used twice (two conditions sharing it)
  plan.n_free = 4;
  plan.prepare();
  for (double x : {-4.0, -0.3, 0.0, 2.5}) {
    const std::vector<double> q{-1.5, x, 0.4, -x};
    auto r = gradcheck([&](std::span<const Var> in) { return reduce(d::constrain_node(in[0], plan)); }, {q});
    CHECK_MESSAGE(r.ok, r.report);
    Tape::Scope scope;
    const Var V = d::constrain_node(constant(q), plan);
    const double v1 = 1 / (1 + std::exp(-x)), v3 = 1 / (1 + std::exp(x));
    CHECK(V.value(1) == doctest::Approx(v1).epsilon(1e-14));
    CHECK(V.value(4) == V.value(1));
    // log prior + log|Jacobian| = Prior::log_density + log(v (1 - v)) (+ the others').
    double lp = 0, vv, dv, dlp;
    for (int s = 0; s < 4; ++s) {
      const auto& sl = plan.slots[std::size_t(s)];
      d::constrain_slot(sl, q[std::size_t(s)], vv, dv, dlp);
      lp += sl.prior.log_density(vv) + std::log(dv);
    }
    CHECK(V.value(5) == doctest::Approx(lp).epsilon(1e-12));
    CHECK(V.value(3) == doctest::Approx(v3).epsilon(1e-14));
  }
}

TEST_CASE("lapse: ActorModel names, priors, fixing, per-condition lapse and errors") {
  const CostInfo& cost = find_cost("QuadraticCost");
  const Dataset two = study(cost, 30, 2);
  InferenceSpec spec;
  spec.cost = &cost;
  spec.lapse = true;
  {
    ActorModel m(two, spec);
    CHECK(m.free_names() == std::vector<std::string>{"mu_0", "sigma_0", "sigma_r", "sigma.1", "sigma.2", "lapse"});
  }
  {
    InferenceSpec s = spec;
    s.per_condition = {"sigma", "lapse"};
    s.fixed = {{"lapse.2", 0.02}};
    s.priors = {{"lapse", parse_prior("beta:1:10")}};
    ActorModel m(two, s);
    CHECK(m.free_names() == std::vector<std::string>{"mu_0", "sigma_0", "sigma_r", "sigma.1", "sigma.2", "lapse.1"});
    const auto all = m.all_names();
    CHECK(all.back() == "lapse.2");
    const auto v = m.constrain(m.unconstrain({}));
    CHECK(v.back() == 0.02);
    CHECK(v[index_of(all, "lapse.1")] == doctest::Approx(1.0 / 11));  // the prior mean as default
  }
  // Default priors and their record.
  const auto dp = default_priors(cost, 2, {"sigma"}, true);
  CHECK(dp.back().first == "lapse");
  CHECK(to_string(dp.back().second) == "beta:2:50");
  // Errors, each naming its argument.
  auto arg_of = [&](const InferenceSpec& s, const Dataset& data) {
    try {
      ActorModel m(data, s);
    } catch (const ArgumentError& e) {
      return e.argument() + ": " + e.reason();
    }
    return std::string("no error");
  };
  InferenceSpec off;
  off.cost = &cost;
  off.fixed = {{"lapse", 0.02}};
  CHECK(arg_of(off, two).rfind("fixed: 'lapse' is a parameter only with lapses", 0) == 0);
  off.fixed.clear();
  off.per_condition = {"lapse"};
  CHECK(arg_of(off, two).rfind("per_condition: 'lapse'", 0) == 0);
  off.per_condition = {"sigma"};
  off.lapse_lo = 0.01, off.lapse_hi = 100;
  CHECK(arg_of(off, two).rfind("lapse_range:", 0) == 0);
  InferenceSpec s = spec;
  s.fixed = {{"lapse", 1.0}};
  CHECK(arg_of(s, two).rfind("fixed: lapse=1 is outside", 0) == 0);
  s = spec;
  s.priors = {{"lapse", parse_prior("lognormal:-3:1")}};
  CHECK(arg_of(s, two).rfind("priors: lapse=lognormal:-3:1: the lapse probability needs a prior on (0, 1)", 0) == 0);
  s.priors = {{"lapse", parse_prior("uniform:0:0.2")}};  // allowed: inside (0, 1)
  CHECK(arg_of(s, two) == "no error");
  s = spec;
  const auto [lo, hi] = lapse_range(two, spec);
  double rmin = 1e300, rmax = 0;
  for (double r : two.r) rmin = std::min(rmin, r), rmax = std::max(rmax, r);
  // The default is simulate's contaminant (the stimuli's range widened by e), widened to
  // e^lapse_margin beyond a response outside it.
  const auto [slo, shi] = stimulus_lapse_range(two.s);
  CHECK(lo == doctest::Approx(std::min(slo, rmin * std::exp(-lapse_margin))));
  CHECK(hi == doctest::Approx(std::max(shi, rmax * std::exp(lapse_margin))));
  CHECK(lo <= rmin);
  CHECK(hi >= rmax);
  s.lapse_lo = rmin * 1.01, s.lapse_hi = rmax * 2;  // the smallest response is outside
  CHECK(arg_of(s, two).find("is below the contaminant's range") != std::string::npos);
  s.lapse_lo = 2, s.lapse_hi = 1;
  CHECK(arg_of(s, two).rfind("lapse_range: need 0 < LO < HI", 0) == 0);
  // Each end finite but the width not: the contaminant's density would be 0.
  s.perception = PerceptionModel::gaussian;
  s.lapse_lo = -1e308, s.lapse_hi = 1e308;
  CHECK_THROWS_WITH_AS(lapse_range(two, s), doctest::Contains("lapse_range: need LO < HI with HI - LO finite"), ArgumentError);
}

TEST_CASE("lapse: ActorModel gradient vs finite differences, log_lik is the mixture, lapse = 0 is the plain model") {
  const CostInfo& cost = find_cost("QuadraticCostQuadraticEffort");
  const Dataset data = study(cost, 37, 2, 12, 0.15);
  for (int source = 0; source < 3; ++source) {
    InferenceSpec spec;
    spec.cost = &cost;
    spec.lapse = true;
    spec.per_condition = {"sigma", "lapse"};
    if (source > 0) spec.network = random_network(cost, 4, source == 1 ? NetworkHead::softplus : NetworkHead::posterior);
    INFO("source " << source);
    ActorModel m(data, spec);
    Rng rng(3, 0);
    for (int rep = 0; rep < 3; ++rep) {
      auto q = m.unconstrain({{"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}, {"beta", 0.9}});
      for (auto& v : q) v += 0.3 * rng.normal();
      CHECK(gradient_error(m, q) < (source == 1 ? 1e-5 : 1e-6));
      // log_lik: the plain model's per-trial densities at the same values, mixed.
      const auto names = m.all_names();
      const auto vals = m.constrain(q);
      InferenceSpec plain = spec;
      plain.lapse = false;
      plain.per_condition = {"sigma"};
      ActorModel p(data, plain);
      std::map<std::string, double> byname;
      for (std::size_t k = 0; k < names.size(); ++k) byname[names[k]] = vals[k];
      std::vector<double> ll(data.size()), ll0(data.size());
      m.trial_loglik(q, ll);
      p.trial_loglik(p.unconstrain(byname), ll0);
      const auto [lo, hi] = lapse_range(data, spec);
      const double lw = std::log(std::log(hi / lo));
      for (std::size_t i = 0; i < data.size(); ++i) {
        const double eps = byname.at("lapse." + std::to_string(data.cond[i] + 1));
        CHECK(ll[i] == doctest::Approx(mix(ll0[i], std::log(data.r[i]), eps, lw)).epsilon(1e-10));
      }
    }
  }
  // lapse fixed at 0: the same per-trial densities and log-density as without lapses.
  InferenceSpec spec;
  spec.cost = &cost;
  spec.lapse = true;
  spec.fixed = {{"lapse", 0.0}};
  InferenceSpec plain;
  plain.cost = &cost;
  ActorModel m(data, spec), p(data, plain);
  const auto q = p.unconstrain({{"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}, {"beta", 0.9}});
  std::vector<double> g(q.size()), g0(q.size()), ll(data.size()), ll0(data.size());
  CHECK(m.log_density(q, g) == doctest::Approx(p.log_density(q, g0)).epsilon(1e-12));
  for (std::size_t k = 0; k < q.size(); ++k) CHECK(g[k] == doctest::Approx(g0[k]).epsilon(1e-10));
  m.trial_loglik(q, ll);
  p.trial_loglik(q, ll0);
  for (std::size_t i = 0; i < data.size(); ++i) CHECK(ll[i] == doctest::Approx(ll0[i]).epsilon(1e-12));
}

TEST_CASE("lapse: posterior-predictive draws from the mixture") {
  // lapse fixed at 0.3: a replicated response is a contaminant draw (log r uniform over the
  // range) in 30% of trials. With sigma_r tiny the actor's responses sit at the actor's action,
  // so a draw more than 0.2 off it in log r is a lapse (up to the share of the contaminant's
  // mass within 0.2 of the action, computed here): the share of such draws over 400 x 60 trials
  // is within 4 binomial sd of its expectation.
  const CostInfo& cost = find_cost("QuadraticCost");
  const Dataset data = study(cost, 60, 1, 5, 0.0);
  InferenceSpec spec;
  spec.cost = &cost;
  spec.lapse = true;
  spec.predict = true;
  spec.log_lik = false;
  spec.fixed = {{"lapse", 0.3}, {"sigma", 1e-6}, {"sigma_r", 1e-6}};
  ActorModel m(data, spec);
  const auto q = m.unconstrain({{"sigma_0", 0.15}, {"mu_0", 1.5}});
  std::vector<double> out(m.output_names().size());
  const std::size_t off = out.size() - data.size();
  const auto [lo, hi] = lapse_range(data, spec);
  const double width = std::log(hi / lo);
  // The actor's responses without lapses, and the expected share of draws off them.
  InferenceSpec plain = spec;
  plain.lapse = false;
  plain.fixed.erase("lapse");
  ActorModel p(data, plain);
  std::vector<double> act(p.output_names().size());
  Rng r0(1, 0);
  p.write_outputs(q, r0, act);
  double expect = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const double la = std::log(act[off + i]);
    const double near = std::min(la + 0.2, std::log(hi)) - std::max(la - 0.2, std::log(lo));
    expect += 0.3 * (1 - std::max(near, 0.0) / width);
  }
  expect /= double(data.size());
  Rng rng(2, 0);
  std::size_t off_actor = 0, total = 0, outside = 0;
  for (int rep = 0; rep < 400; ++rep) {
    m.write_outputs(q, rng, out);
    for (std::size_t i = 0; i < data.size(); ++i, ++total) {
      const double lr = std::log(out[off + i]);
      const bool lapsed = std::abs(lr - std::log(act[off + i])) > 0.2;
      off_actor += lapsed;
      outside += lapsed && (out[off + i] < lo || out[off + i] > hi);  // a lapse is inside the range
    }
  }
  const double share = double(off_actor) / double(total), sd = std::sqrt(expect * (1 - expect) / double(total));
  MESSAGE("predictive lapses: " << share << " of draws off the actor, expected " << expect);
  CHECK(std::abs(share - expect) < 4 * sd);
  CHECK(outside == 0);
}

TEST_CASE("lapse: simulate() with lapses (deterministic, the other trials unchanged, contaminant range)") {
  const CostInfo& cost = find_cost("QuadraticCost");
  SimulationSpec spec;
  spec.cost = &cost;
  spec.values = {{"sigma", 0.2}, {"sigma_0", 0.3}, {"mu_0", 3.0}, {"sigma_r", 0.15}};
  spec.s_lo = 0.3, spec.s_hi = 16;
  spec.trials = 2000;
  spec.seed = 4;
  const Dataset clean = simulate(spec);
  spec.lapse = 0.03;
  std::vector<std::size_t> lapsed, again;
  const Dataset a = simulate(spec, &lapsed), b = simulate(spec, &again);
  CHECK(a.r == b.r);
  CHECK(lapsed == again);
  // Binomial(2000, 0.03): mean 60, sd 7.6.
  CHECK(lapsed.size() >= 30);
  CHECK(lapsed.size() <= 90);
  std::size_t k = 0;
  // Lapses come from the contaminant inference assumes by default: the stimuli's range widened by e.
  const auto [clo, chi] = stimulus_lapse_range(a.s);
  CHECK(clo == doctest::Approx(*std::min_element(a.s.begin(), a.s.end()) * std::exp(-lapse_stimulus_margin)));
  InferenceSpec with_lapse;
  with_lapse.cost = spec.cost;
  with_lapse.lapse = true;
  const auto [ilo, ihi] = lapse_range(a, with_lapse);
  CHECK(ilo <= clo);
  CHECK(ihi >= chi);
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a.s[i] == clean.s[i]);
    if (k < lapsed.size() && lapsed[k] == i) {
      ++k;
      CHECK(a.r[i] >= clo);
      CHECK(a.r[i] <= chi);
    } else {
      CHECK(a.r[i] == clean.r[i]);
    }
  }
  spec.lapse = 1.0;
  CHECK_THROWS_AS(simulate(spec), ArgumentError);
}

TEST_CASE("lapse: with 3% lapses the mixture's 90% intervals of sigma_r and mu_0 cover the truth; without it they do not") {
  // A duration-reproduction design: s ~ U(0.3, 16) s, mu_0 = 3, sigma_0 = 0.3, sigma = 0.2
  // (fixed at the truth), sigma_r = 0.15, QuadraticCost closed form, exact marginal, 100 trials
  // with 3% lapses (simulate's contaminant); R = 20 data sets (seeds 900 + k), NUTS 4 chains x
  // (300 + 300).
  // (1) with --lapse: of the 40 90%-intervals of sigma_r and mu_0, the number covering the
  //     truth is within 3 binomial sd of 36 (sd = sqrt(40 * 0.9 * 0.1) = 1.9): at least 31.
  // (2) without: sigma_r's interval covers in at most 10 of the 20 data sets (less than half:
  //     a single lapse widens the residuals far beyond sigma_r = 0.15), and the 40 intervals of
  //     both cover at most 24 times (well below 31).
  const CostInfo& cost = find_cost("QuadraticCost");
  const int R = 20;
  int cover_mix = 0, cover_plain = 0, cover_plain_sr = 0, lapses = 0;
  for (int k = 0; k < R; ++k) {
    SimulationSpec sim;
    sim.cost = &cost;
    sim.values = {{"sigma", 0.2}, {"sigma_0", 0.3}, {"mu_0", 3.0}, {"sigma_r", 0.15}};
    sim.s_lo = 0.3, sim.s_hi = 16;
    sim.trials = 100;
    sim.seed = 900 + std::uint64_t(k);
    sim.lapse = 0.03;
    std::vector<std::size_t> lapsed;
    const Dataset data = simulate(sim, &lapsed);
    lapses += int(lapsed.size());
    NutsSettings ns;
    ns.chains = 4;
    ns.warmup = 300;
    ns.samples = 300;
    ns.seed = 40 + std::uint64_t(k);
    for (bool lapse : {true, false}) {
      InferenceSpec spec;
      spec.cost = &cost;
      spec.lapse = lapse;
      spec.log_lik = false;
      spec.fixed = {{"sigma", 0.2}};
      const auto names = ActorModel(data, spec).free_names();
      const Summary s = summarize(run_nuts([&] { return std::make_unique<ActorModel>(data, spec); }, ns), names);
      for (const auto& p : s.params) {
        double truth;
        if (p.name == "mu_0") truth = 3.0;
        else if (p.name == "sigma_r") truth = 0.15;
        else continue;
        const bool in = p.q5 <= truth && truth <= p.q95;
        (lapse ? cover_mix : cover_plain) += in;
        if (!lapse && p.name == "sigma_r") cover_plain_sr += in;
      }
    }
  }
  MESSAGE("3% lapses (" << lapses << " in " << R << " data sets of 100 trials): 90% intervals of sigma_r and mu_0 cover "
                        << cover_mix << " of " << 2 * R << " with the mixture, " << cover_plain << " without (sigma_r "
                        << cover_plain_sr << " of " << R << ")");
  CHECK(cover_mix >= 31);
  CHECK(cover_plain_sr <= 10);
  CHECK(cover_plain <= 24);
}
