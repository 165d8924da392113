// SPDX-License-Identifier: MIT
// The fused hierarchical node (models/hierarchical_fused.hpp): its value and gradient against
// the generic path (population node + composed likelihood) at random points; its gradient
// against finite differences (one group, and two population groups in one node); the same bits
// for any thread count and any split of the subjects over "processes" (an in-process
// SubjectExchange that computes the pieces in several ranges, as the MPI ranks do); which specs
// it covers; and the posterior with the fused path against the generic one in MCSE terms.
#include <bactor/models/hierarchical.hpp>
#include "models/hierarchical_fused.hpp"
#include "models/hierarchical_node.hpp"
#include "models/likelihood_plan.hpp"

#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>
#include "tests/engine/gradcheck.hpp"
#include "tests/models/cohort_test_util.hpp"
#include "tests/models/inference_test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

using namespace bactor;
namespace d = bactor::detail;

namespace {

/// Subjects whose trials tell their mu_0 apart (spread 0.8), so that the aligned default samples
/// log mu_0 through the intercept; the non-centred log mu_0 has its own case below.
Cohort cohort_of(std::size_t J, std::size_t trials, std::uint64_t seed) {
  return bactor::testing::duration_cohort(J, trials, seed, 0.8);
}

HierarchicalSpec quadratic_spec(bool fused, int threads = 1,
                                HierParameterisation par = HierParameterisation::aligned) {
  HierarchicalSpec spec;
  spec.parameterisation = par;
  spec.cost = &find_cost("QuadraticCost");
  spec.log_lik = false;
  spec.fused = fused;
  spec.threads = threads;
  return spec;
}

/// The initial point moved by sd * N(0, 1) in every coordinate.
std::vector<double> near_start(const HierarchicalModel& m, double sd, std::uint64_t seed) {
  auto q = m.initial_point();
  Rng rng(seed, 0);
  for (auto& v : q) v += sd * rng.normal();
  return q;
}

/// Value and gradient at q.
struct Eval {
  double lp = 0;
  std::vector<double> g;
};
Eval eval(Model& m, const std::vector<double>& q) {
  Eval e{0, std::vector<double>(q.size())};
  e.lp = m.log_density(q, e.g);
  return e;
}
bool same_bits(const Eval& a, const Eval& b) {
  return std::memcmp(&a.lp, &b.lp, sizeof(double)) == 0 && a.g.size() == b.g.size() &&
         std::memcmp(a.g.data(), b.g.data(), a.g.size() * sizeof(double)) == 0;
}

/// The fused model's value and gradient at q equal the generic one's (1e-12 relative; the
/// gradient relative to its largest entry, since one coordinate's entry can cancel to ~0).
void check_same_as_generic(Model& fused, Model& generic, const std::vector<double>& q) {
  const Eval a = eval(fused, q), b = eval(generic, q);
  REQUIRE(std::isfinite(b.lp));
  CHECK(a.lp == doctest::Approx(b.lp).epsilon(1e-12));
  double gmax = 0;
  for (double v : b.g) gmax = std::max(gmax, std::abs(v));
  for (std::size_t i = 0; i < q.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(a.g[i] - b.g[i]) <= 1e-12 * std::max(1.0, gmax));
  }
}

/// The blocks computed in ranges of `chunk` blocks, one call each, as processes would.
class SplitExchange final : public d::SubjectExchange {
public:
  explicit SplitExchange(std::size_t chunk) : chunk_(chunk) {}
  void attach(const d::FusedCohort&) override { ++attached; }
  void evaluate(const d::FusedCohort& c, const double* q, double* pieces, double* sums) override {
    for (std::size_t b = 0; b < c.blocks(); b += chunk_) c.blocks(q, b, std::min(c.blocks(), b + chunk_), pieces, sums);
  }
  int attached = 0;

private:
  std::size_t chunk_;
};

} // namespace

TEST_CASE("hierarchical fused: value and gradient equal the generic path") {
  // 7 subjects: one full SIMD batch and a padded one on AVX2 (4 lanes) and SSE2 (2 lanes).
  // (The 600-subject case below covers several blocks.)
  const Cohort c = cohort_of(7, 40, 5);
  for (auto par : {HierParameterisation::aligned, HierParameterisation::centred_mu0}) {
    const std::string coordinates = to_string(par);
    CAPTURE(coordinates);
    HierarchicalModel fused(c.data, quadratic_spec(true, 1, par)), generic(c.data, quadratic_spec(false, 1, par));
    REQUIRE(fused.coordinates().at("mu_0") == (par == HierParameterisation::aligned ? "intercept" : "centred"));
    REQUIRE(fused.fused());
    REQUIRE(!generic.fused());
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
      CAPTURE(seed);
      check_same_as_generic(fused, generic, near_start(fused, seed <= 3 ? 0.3 : 1.0, seed));
    }
  }
}

TEST_CASE("hierarchical fused: gradient matches finite differences") {
  const Cohort c = cohort_of(5, 30, 6);
  for (auto par : {HierParameterisation::aligned, HierParameterisation::centred_mu0}) {
    HierarchicalModel m(c.data, quadratic_spec(true, 1, par));
    REQUIRE(m.fused());
    for (std::uint64_t seed : {11, 12}) CHECK(bactor::testing::gradient_error(m, near_start(m, 0.5, seed)) < 1e-6);
  }
}

TEST_CASE("hierarchical fused: log mu_0 non-centred (no spread of mu_0 in the data)") {
  // Subjects simulated with one mu_0: their trials do not tell their mu_0 apart, so the aligned
  // default samples log mu_0 non-centred (m + tau z); the fused node covers that too. Value and
  // gradient against the generic path and finite differences, 7 subjects (a padded batch).
  CohortSpec cs;
  cs.base.cost = &find_cost("QuadraticCost");
  cs.base.values = {{"sigma", 0.15}, {"sigma_0", 0.35}, {"mu_0", 3.0}, {"sigma_r", 0.12}};
  cs.base.trials = 30;
  cs.base.s_lo = 0.3;
  cs.base.s_hi = 16.0;
  cs.base.seed = 21;
  cs.subjects = 7;
  cs.spread = {{"sigma", 0.3}, {"sigma_0", 0.3}, {"sigma_r", 0.3}};
  const Dataset data = simulate_cohort(cs).data;
  HierarchicalModel fused(data, quadratic_spec(true)), generic(data, quadratic_spec(false));
  REQUIRE(fused.coordinates().at("mu_0") == "noncentred");
  REQUIRE(generic.coordinates().at("mu_0") == "noncentred");
  REQUIRE(fused.fused());
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    CAPTURE(seed);
    const auto q = near_start(fused, seed <= 2 ? 0.3 : 1.0, seed);
    check_same_as_generic(fused, generic, q);
    CHECK(bactor::testing::gradient_error(fused, q) < 1e-6);
  }
  // With a spread of mu_0 and enough trials the default keeps log mu_0 through the intercept.
  CHECK(HierarchicalModel(cohort_of(7, 40, 5).data, quadratic_spec(true)).coordinates().at("mu_0") == "intercept");
}

TEST_CASE("hierarchical fused: two population groups in one node") {
  // Subjects 0..2 in group 0, 3..6 in group 1, each group with its own population block: the
  // node's value is the sum of the two groups' own cohorts (each fused alone), and its gradient
  // passes finite differences.
  const Cohort c = cohort_of(7, 30, 8);
  const HierarchicalModel whole(c.data, quadratic_spec(false));
  // Build the plan as HierarchicalModel does, through a model per group.
  auto subset = [&](std::size_t j0, std::size_t j1) {
    Dataset s;
    s.source = "subset";
    s.cond_labels = {"1"};
    for (std::size_t i = 0; i < c.data.size(); ++i) {
      const std::size_t j = std::stoul(c.data.subject[i]) - 1;
      if (j < j0 || j >= j1) continue;
      s.s.push_back(c.data.s[i]), s.r.push_back(c.data.r[i]), s.cond.push_back(0);
      s.subject.push_back(c.data.subject[i]), s.line.push_back(i + 2);
    }
    return s;
  };
  const Dataset a = subset(0, 3), b = subset(3, 7);
  // The two-group node over one q: [pop a (8), pop b (8), subjects 0..6 (4 each)], built from
  // a plan over all 7 subjects whose population priors are group a's = group b's (same S:
  // priors are taken from the whole cohort's plan, and each group's own model is built with the
  // same population priors below).
  HierarchicalSpec spec = quadratic_spec(true);
  for (const auto& [name, p] : whole.population_priors()) spec.population[name] = p;
  HierarchicalModel ma2(a, spec), mb2(b, spec);
  REQUIRE((ma2.fused() && mb2.fused()));
  REQUIRE(ma2.coordinates().at("mu_0") == "intercept");  // as the plan below
  REQUIRE(mb2.coordinates().at("mu_0") == "intercept");
  d::LikelihoodPlan lik(find_cost("QuadraticCost"), nullptr, false, LatentMode::marginal, false, default_quadrature_nodes);
  // The plan of the 7-subject model, rebuilt here: the same as the generic model's.
  d::PopulationPlan plan;
  plan.J = 7;
  plan.nt = 4;
  const auto pri = whole.population_priors();
  for (const auto& [t, name] : std::vector<std::pair<std::size_t, std::string>>{{2, "mu_0"}, {1, "sigma_0"}, {3, "sigma_r"}, {0, "sigma"}}) {
    d::PooledSpec s;
    s.theta = t;
    s.loc = pri.at(name).loc;
    s.scale = pri.at(name).scale;
    s.sd_scale = pri.at(name).sd_scale;
    plan.pooled.push_back(s);
  }
  bactor::testing::align_quadratic_plan(plan);
  std::vector<PowerStats> stats(7);
  for (std::size_t i = 0; i < c.data.size(); ++i)
    stats[std::stoul(c.data.subject[i]) - 1].add(std::log(c.data.s[i]), std::log(c.data.r[i]));
  for (const auto& st : stats) {
    const double vx = st.sxx / st.n - (st.sx / st.n) * (st.sx / st.n);
    plan.intercept_w.push_back(std::clamp((st.sxy / st.n - st.sx * st.sy / (st.n * st.n)) / vx, 0.05, 0.95));
  }
  plan.validate();
  d::FusedLayout layout;
  layout.group = {0, 0, 0, 1, 1, 1, 1};
  layout.group_q = {0, 8};
  for (std::size_t j = 0; j < 7; ++j) layout.subject_q.push_back(16 + 4 * j);
  layout.n_q = 16 + 28;
  auto two = d::FusedCohort::make(plan, lik, stats, 1, nullptr, layout);
  REQUIRE(two);
  CHECK(two->groups() == 2);
  const auto qa = near_start(ma2, 0.4, 3), qb = near_start(mb2, 0.4, 4);
  std::vector<double> q(layout.n_q);
  std::copy(qa.begin(), qa.begin() + 8, q.begin());
  std::copy(qb.begin(), qb.begin() + 8, q.begin() + 8);
  std::copy(qa.begin() + 8, qa.end(), q.begin() + 16);
  std::copy(qb.begin() + 8, qb.end(), q.begin() + 16 + 12);
  const Eval ea = eval(ma2, qa), eb = eval(mb2, qb);
  std::vector<double> g(q.size());
  const double lp = two->log_density(q, g);
  CHECK(lp == doctest::Approx(ea.lp + eb.lp).epsilon(1e-12));
  for (std::size_t i = 0; i < 8; ++i) {
    CHECK(g[i] == doctest::Approx(ea.g[i]).epsilon(1e-12));
    CHECK(g[8 + i] == doctest::Approx(eb.g[i]).epsilon(1e-12));
  }
  for (std::size_t i = 0; i < 12; ++i) CHECK(g[16 + i] == doctest::Approx(ea.g[8 + i]).epsilon(1e-12));
  for (std::size_t i = 0; i < 16; ++i) CHECK(g[28 + i] == doctest::Approx(eb.g[8 + i]).epsilon(1e-12));
  const auto r = bactor::testing::gradcheck([&](std::span<const Var> in) { return d::fused_node(in[0], *two); }, {q});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("hierarchical fused: the same bits for any threads and any split of the subjects") {
  // 600 subjects: 10 blocks, enough that two threads share them (FusedCohort::blocks gives a
  // thread at least 4 blocks).
  const Cohort c = cohort_of(600, 8, 9);
  HierarchicalModel one(c.data, quadratic_spec(true, 1)), two(c.data, quadratic_spec(true, 2));
  HierarchicalSpec split_spec = quadratic_spec(true, 1);
  auto ex = std::make_shared<SplitExchange>(1);  // a "rank" per block
  split_spec.exchange = ex;
  HierarchicalModel split(c.data, split_spec);
  CHECK(ex->attached == 1);
  HierarchicalSpec uneven_spec = quadratic_spec(true, 2);
  uneven_spec.exchange = std::make_shared<SplitExchange>(3);  // 3, 3, 3 and 1 blocks
  HierarchicalModel uneven(c.data, uneven_spec);
  for (std::uint64_t seed : {1, 2, 3}) {
    const auto q = near_start(one, 0.4, seed);
    const Eval a = eval(one, q);
    REQUIRE(std::isfinite(a.lp));
    CHECK(same_bits(a, eval(two, q)));
    CHECK(same_bits(a, eval(split, q)));
    CHECK(same_bits(a, eval(uneven, q)));
  }
}

TEST_CASE("hierarchical fused: which specs it covers") {
  const Cohort c = cohort_of(4, 20, 10);
  CHECK(HierarchicalModel(c.data, quadratic_spec(true)).fused());
  HierarchicalSpec spec = quadratic_spec(true);
  spec.parameterisation = HierParameterisation::noncentred;
  CHECK(!HierarchicalModel(c.data, spec).fused());
  spec.parameterisation = HierParameterisation::centred_mu0;
  CHECK(HierarchicalModel(c.data, spec).fused());
  spec = quadratic_spec(true);
  spec.pooled = {"mu_0", "sigma", "sigma_0"};  // sigma_r shared
  CHECK(!HierarchicalModel(c.data, spec).fused());
  spec.exchange = std::make_shared<SplitExchange>(4);
  CHECK_THROWS_WITH_AS(HierarchicalModel(c.data, spec), doctest::Contains("needs the fused gradient"), std::invalid_argument);
  spec = quadratic_spec(true);
  spec.cost = &find_cost("QuadraticCostQuadraticEffort");
  CHECK(!HierarchicalModel(c.data, spec).fused());
  // Far outside the exponentials' range: NaN (a divergence) with a zero gradient.
  HierarchicalModel m(c.data, quadratic_spec(true));
  auto q = m.initial_point();
  q[8 + 3] = 1e4;  // subject 1's z_sigma
  std::vector<double> g(q.size(), 1.0);
  CHECK(std::isnan(m.log_density(q, g)));
  for (double v : g) CHECK(v == 0.0);
}

TEST_CASE("hierarchical fused: the posterior equals the generic path's (MCSE)") {
  // 8 subjects x 100 trials, 2 chains x (400 + 400) each way, different seeds: every
  // population column's posterior mean within 4 combined Monte Carlo standard errors.
  const Cohort c = cohort_of(8, 100, 12);
  NutsSettings ns;
  ns.chains = 2;
  ns.warmup = 400;
  ns.samples = 400;
  ns.threads = 1;
  ns.seed = 3;
  const Summary a = summarize(run_nuts([&] { return std::make_unique<HierarchicalModel>(c.data, quadratic_spec(true)); }, ns));
  ns.seed = 4;
  const Summary b = summarize(run_nuts([&] { return std::make_unique<HierarchicalModel>(c.data, quadratic_spec(false)); }, ns));
  REQUIRE(a.params.size() == b.params.size());
  int checked = 0;
  for (std::size_t i = 0; i < a.params.size(); ++i) {
    const auto &pa = a.params[i], &pb = b.params[i];
    if (pa.name.find(".s") != std::string::npos && pa.name.find(".sd") == std::string::npos) continue;
    CAPTURE(pa.name);
    CHECK(std::abs(pa.mean - pb.mean) <= 4 * std::hypot(pa.mcse_mean, pb.mcse_mean));
    ++checked;
  }
  CHECK(checked == 8);
}
