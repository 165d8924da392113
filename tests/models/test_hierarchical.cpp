// SPDX-License-Identifier: MIT
// Hierarchical cohorts (models/hierarchical.hpp): the population node's gradient against finite
// differences (both parameterisations, shared, fixed and logit-scale parameters); the aligned
// coordinates give the non-centred posterior (their log-densities differ by the exact
// log-Jacobian); the whole model's gradient with the closed form and with networks; per-trial
// log_lik in file order; argument errors; and recovery of a known population from 30 simulated
// subjects (coverage in a binomial band, divergences in at most 1% of the draws at default settings).
#include <bactor/models/hierarchical.hpp>
#include "models/hierarchical_node.hpp"

#include <bactor/engine/errors.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/network.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>
#include "tests/engine/gradcheck.hpp"
#include "tests/models/cohort_test_util.hpp"
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
using bactor::testing::gradcheck;
using bactor::testing::reduce;
namespace d = bactor::detail;

namespace {

/// A plan over QuadraticCostQuadraticEffort's theta (sigma, sigma_0, mu_0, sigma_r, beta) for
/// J subjects: sigma, sigma_0, mu_0 and beta (logit scale) pooled, sigma_r shared or fixed.
d::PopulationPlan effort_plan(std::size_t J, bool aligned, bool shared_sigma_r) {
  d::PopulationPlan plan;
  plan.J = J;
  plan.nt = 5;
  auto pooled = [&](std::size_t t, double loc, double scale, double sd) {
    d::PooledSpec s;
    s.theta = t;
    s.loc = loc;
    s.scale = scale;
    s.sd_scale = sd;
    plan.pooled.push_back(s);
  };
  pooled(2, 0.3, 1.0, 0.5);    // mu_0
  pooled(1, -1.5, 0.8, 0.4);   // sigma_0
  pooled(0, -1.9, 1.2, 0.6);   // sigma
  pooled(4, 0.0, 1.5, 0.5);    // beta on (0.5, 1)
  plan.pooled[3].logit = true;
  plan.pooled[3].lo = 0.5;
  plan.pooled[3].hi = 1.0;
  if (aligned) {
    plan.pooled[0].coord = d::PooledCoord::centred;
    plan.pooled[2].coord = d::PooledCoord::ridge;
    plan.pooled[2].partner = 1;
    plan.pooled[1].coord = d::PooledCoord::difference;
    plan.pooled[1].partner = 2;
  }
  if (shared_sigma_r) {
    d::SlotSpec sl{Prior{Prior::Kind::half_normal, 0.25, 0}};
    sl.q = 8;
    sl.inv_scale2 = 1.0 / (0.25 * 0.25);
    plan.shared.push_back(sl);
    plan.shared_theta.push_back(3);
  } else {
    plan.fixed.emplace_back(3, 0.12);
  }
  plan.validate();
  return plan;
}

/// A plan over QuadraticCost's theta (sigma, sigma_0, mu_0, sigma_r), all pooled: non-centred,
/// or aligned (mu_0 through the intercept, the sigma / sigma_0 pair, sigma_r non-centred).
d::PopulationPlan quadratic_plan(std::size_t J, bool aligned) {
  d::PopulationPlan plan;
  plan.J = J;
  plan.nt = 4;
  for (std::size_t t : {2, 1, 3, 0}) {  // output order: mu_0, sigma_0, sigma_r, sigma
    d::PooledSpec s;
    s.theta = t;
    s.loc = t == 2 ? 1.1 : -1.8;
    s.scale = t == 2 ? 1.0 : 0.9;
    s.sd_scale = 0.5;
    plan.pooled.push_back(s);
  }
  if (aligned) {
    bactor::testing::align_quadratic_plan(plan);
    for (std::size_t j = 0; j < J; ++j) plan.intercept_w.push_back(0.6 + 0.1 * double(j % 3));
  }
  plan.validate();
  return plan;
}

std::vector<double> random_q(std::size_t n, std::uint64_t seed) {
  Rng rng(seed, 0);
  std::vector<double> q(n);
  for (auto& v : q) v = 0.7 * rng.normal();
  return q;
}

/// A cohort like a duration-reproduction study (stimuli 0.3-16 s) from a known population.
Cohort quadratic_cohort(std::size_t J, std::size_t trials, std::uint64_t seed) {
  return bactor::testing::duration_cohort(J, trials, seed);
}

} // namespace

TEST_CASE("hierarchical: the population node's gradient matches finite differences") {
  for (bool aligned : {false, true})
    for (bool shared : {false, true}) {
      CAPTURE(aligned);
      CAPTURE(shared);
      const d::PopulationPlan plan = effort_plan(3, aligned, shared);
      const auto q = random_q(plan.n_q(), 11 + aligned + 2 * shared);
      const auto r = gradcheck([&](std::span<const Var> in) { return reduce(d::population_node(in[0], plan)); }, {q});
      CHECK_MESSAGE(r.ok, r.report);
      // Value-only path: the same numbers.
      std::vector<double> V(plan.J * plan.nt + 1);
      d::population_values(plan, q.data(), V.data());
      Tape::Scope scope;
      const Var node = d::population_node(constant(q), plan);
      for (std::size_t i = 0; i < V.size(); ++i) CHECK(node.value(i) == doctest::Approx(V[i]).epsilon(1e-14));
    }
}

TEST_CASE("hierarchical: the population node with mu_0 through the intercept") {
  for (bool aligned : {false, true}) {
    CAPTURE(aligned);
    const d::PopulationPlan plan = quadratic_plan(3, aligned);
    const auto q = random_q(plan.n_q(), 41 + aligned);
    const auto r = gradcheck([&](std::span<const Var> in) { return reduce(d::population_node(in[0], plan)); }, {q});
    CHECK_MESSAGE(r.ok, r.report);
  }
  // The same posterior: at the same (m, tau, theta_j) the log-densities differ by the
  // log-Jacobians, up to the constant Σ_j log(1 / (1 - w_hat_j)) of kappa -> log mu_0: aligned
  // minus non-centred = -J (log T + log tau_mu0) (the pair, and the non-centred mu_0's tau).
  const std::size_t J = 3;
  const d::PopulationPlan nc = quadratic_plan(J, false), al = quadratic_plan(J, true);
  const std::size_t P = 4;
  Rng rng(8, 0);
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<double> qn(nc.n_q()), qa(al.n_q());
    for (std::size_t i = 0; i < 2 * P; ++i) qn[i] = qa[i] = 0.5 * rng.normal();
    std::vector<double> m(P), tau(P);
    for (std::size_t k = 0; k < P; ++k) {
      m[k] = d::population_mean(nc, qn.data(), k);
      tau[k] = nc.pooled[k].sd_scale * std::exp(qn[P + k]);
    }
    for (std::size_t k = 0; k < P; ++k) qa[k] = d::population_mean_coordinate(al, m.data(), k);
    for (std::size_t j = 0; j < J; ++j) {
      std::vector<double> th(P);  // mu_0, sigma_0, sigma_r, sigma (log)
      for (std::size_t k = 0; k < P; ++k) th[k] = m[k] + tau[k] * rng.normal();
      for (std::size_t k = 0; k < P; ++k) qn[nc.subject_q(j, k)] = (th[k] - m[k]) / tau[k];
      const double dd = th[1] - th[3];
      qa[al.subject_q(j, 1)] = dd - (al.pooled[1].loc - al.pooled[3].loc);
      const double T2 = tau[1] * tau[1] + tau[3] * tau[3], c = tau[3] * tau[3] / T2, S = tau[1] * tau[3] / std::sqrt(T2);
      qa[al.subject_q(j, 3)] = (th[3] - (m[3] - c * (dd - m[1] + m[3]))) / S;
      qa[al.subject_q(j, 2)] = qn[nc.subject_q(j, 2)];
      const double s2 = std::exp(2 * th[3]), s02 = std::exp(2 * th[1]), r2 = std::exp(2 * th[2]), w = s02 / (s2 + s02);
      qa[al.subject_q(j, 0)] = (1 - al.intercept_w[j]) * th[0] + 0.5 * w * s2 - 1.5 * r2 - al.pooled[0].loc;
    }
    std::vector<double> Vn(J * 4 + 1), Va(J * 4 + 1);
    d::population_values(nc, qn.data(), Vn.data());
    d::population_values(al, qa.data(), Va.data());
    for (std::size_t i = 0; i < J * 4; ++i) CHECK(Va[i] == doctest::Approx(Vn[i]).epsilon(1e-12));
    const double T = std::hypot(tau[1], tau[3]);
    CHECK(Va[J * 4] - Vn[J * 4] == doctest::Approx(-double(J) * (std::log(T) + std::log(tau[0]))).epsilon(1e-10));
  }
}

TEST_CASE("hierarchical: aligned and non-centred coordinates give the same posterior") {
  // At the same population (m, tau) and subject values theta_j, the two log-densities differ
  // by the log-Jacobians: non-centred log Π_j Π_k tau_k; aligned log Π_j tau_beta S with
  // S = tau_sigma tau_sigma0 / T (pair) and 1 for the centred mu_0. So lp_al - lp_nc =
  // -J (log T + log tau_mu0), T^2 = tau_sigma^2 + tau_sigma0^2.
  const std::size_t J = 4;
  const d::PopulationPlan nc = effort_plan(J, false, true), al = effort_plan(J, true, true);
  Rng rng(5, 0);
  const std::size_t P = nc.P();
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<double> qn(nc.n_q()), qa(al.n_q());
    for (std::size_t i = 0; i < 2 * P + 1; ++i) qn[i] = qa[i] = 0.5 * rng.normal();  // m, tau, shared
    std::vector<double> m(P), tau(P);
    for (std::size_t k = 0; k < P; ++k) {
      m[k] = nc.pooled[k].loc + nc.pooled[k].scale * qn[k];
      tau[k] = nc.pooled[k].sd_scale * std::exp(qn[P + k]);
    }
    // aligned: sigma_0's population mean relative to sigma's.
    qa[1] = (m[1] - m[2] - (al.pooled[1].loc - al.pooled[2].loc)) / std::hypot(al.pooled[1].scale, al.pooled[2].scale);
    for (std::size_t k = 0; k < P; ++k) CHECK(d::population_mean(al, qa.data(), k) == doctest::Approx(m[k]).epsilon(1e-13));
    for (std::size_t k = 0; k < P; ++k) CHECK(d::population_mean_coordinate(al, m.data(), k) == doctest::Approx(qa[k]).epsilon(1e-13));
    for (std::size_t j = 0; j < J; ++j) {
      std::vector<double> th(P);
      for (std::size_t k = 0; k < P; ++k) th[k] = m[k] + tau[k] * rng.normal();
      for (std::size_t k = 0; k < P; ++k) qn[nc.subject_q(j, k)] = (th[k] - m[k]) / tau[k];
      // aligned: mu_0 (k 0) centred; sigma_0 (k 1) the difference d; sigma (k 2) given d.
      qa[al.subject_q(j, 0)] = th[0] - al.pooled[0].loc;
      const double dd = th[1] - th[2];
      qa[al.subject_q(j, 1)] = dd - (al.pooled[1].loc - al.pooled[2].loc);
      const double T2 = tau[1] * tau[1] + tau[2] * tau[2], c = tau[2] * tau[2] / T2, S = tau[1] * tau[2] / std::sqrt(T2);
      qa[al.subject_q(j, 2)] = (th[2] - (m[2] - c * (dd - m[1] + m[2]))) / S;
      qa[al.subject_q(j, 3)] = qn[nc.subject_q(j, 3)];
    }
    std::vector<double> Vn(J * 5 + 1), Va(J * 5 + 1);
    d::population_values(nc, qn.data(), Vn.data());
    d::population_values(al, qa.data(), Va.data());
    for (std::size_t i = 0; i < J * 5; ++i) CHECK(Va[i] == doctest::Approx(Vn[i]).epsilon(1e-12));
    const double T = std::hypot(tau[1], tau[2]);
    CHECK(Va[J * 5] - Vn[J * 5] == doctest::Approx(-double(J) * (std::log(T) + std::log(tau[0]))).epsilon(1e-10));
  }
}

TEST_CASE("hierarchical: model gradient (closed form and networks) matches finite differences") {
  const Cohort cohort = quadratic_cohort(4, 30, 3);
  for (auto par : {HierParameterisation::aligned, HierParameterisation::centred_mu0, HierParameterisation::noncentred}) {
    HierarchicalSpec spec;
    spec.cost = &find_cost("QuadraticCost");
    spec.parameterisation = par;
    HierarchicalModel model(cohort.data, spec);
    CHECK(model.dim() == 8 + 4 * 4);
    const auto q = random_q(model.dim(), 21);
    CHECK(bactor::testing::gradient_error(model, q) < 1e-5);
    // sigma_r shared, beta-free cost: one shared coordinate.
    spec.pooled = {"mu_0", "sigma", "sigma_0"};
    HierarchicalModel shared(cohort.data, spec);
    CHECK(shared.dim() == 6 + 1 + 4 * 3);
    CHECK(shared.shared_names() == std::vector<std::string>{"sigma_r"});
    // The initial point puts every subject at the population medians given.
    const auto q0 = model.initial_point({{"mu_0", 2.5}, {"sigma", 0.2}}, {{"sigma", 0.4}});
    const auto th = model.subject_theta(q0);
    for (std::size_t j = 0; j < 4; ++j) {
      CHECK(th[j * 4 + 2] == doctest::Approx(2.5));
      CHECK(th[j * 4 + 0] == doctest::Approx(0.2));
    }
    CHECK(bactor::testing::gradient_error(shared, random_q(shared.dim(), 22)) < 1e-5);
  }
  for (const char* head : {"posterior", "softplus"}) {
    CAPTURE(head);
    HierarchicalSpec spec;
    spec.cost = &find_cost("QuadraticCost");
    spec.network = std::make_shared<const ActionNetwork>(bactor::testing::trainer_random_network("QuadraticCost", 7, head));
    spec.quadrature_nodes = 15;  // one rule for every sigma: no node-count step inside the differences
    HierarchicalModel model(cohort.data, spec);
    auto q = model.initial_point();
    Rng rng(23, 0);
    for (auto& v : q) v += 0.2 * rng.normal();
    CHECK(bactor::testing::gradient_error(model, q) < 1e-5);
  }
}

TEST_CASE("hierarchical: outputs, per-trial log_lik in file order, and errors") {
  Cohort cohort = quadratic_cohort(3, 20, 4);
  // Interleave the subjects' trials: log_lik.i must follow the file, not the subjects.
  Dataset mixed = cohort.data;
  for (std::size_t i = 0; i + 1 < mixed.size(); i += 7) {
    std::swap(mixed.s[i], mixed.s[mixed.size() - 1 - i]);
    std::swap(mixed.r[i], mixed.r[mixed.size() - 1 - i]);
    std::swap(mixed.subject[i], mixed.subject[mixed.size() - 1 - i]);
  }
  HierarchicalSpec spec;
  spec.cost = &find_cost("QuadraticCost");
  HierarchicalModel model(mixed, spec);
  const auto names = model.output_names();
  REQUIRE(names.size() == 8 + 4 * 3 + mixed.size());
  CHECK(names[0] == "mu_0.pop");
  CHECK(names[1] == "mu_0.sd");
  CHECK(names[8] == "mu_0.s1");
  CHECK(names[20] == "log_lik.1");
  const auto q = random_q(model.dim(), 31);
  const auto out = bactor::testing::outputs_at(model, q);
  // log_lik.i against each trial's own exact marginal under its subject's theta.
  const auto theta = model.subject_theta(q);
  const auto expected = bactor::testing::quadratic_cohort_loglik(model, mixed, q);
  for (std::size_t i = 0; i < mixed.size(); ++i) CHECK(out[20 + i] == doctest::Approx(expected[i]).epsilon(1e-12));
  // The per-subject values in the outputs are the theta rows.
  for (std::size_t j = 0; j < 3; ++j) CHECK(out[8 + j] == doctest::Approx(theta[j * 4 + 2]));

  Dataset no_subject = cohort.data;
  no_subject.subject.clear();
  CHECK_THROWS_WITH_AS(HierarchicalModel(no_subject, spec), doctest::Contains("no subject column"), std::invalid_argument);
  spec.pooled = {"mu_O"};
  CHECK_THROWS_WITH_AS(HierarchicalModel(cohort.data, spec), doctest::Contains("pooled: unknown parameter 'mu_O'"),
                       ArgumentError);
  spec.pooled = {"mu_0"};
  spec.priors["mu_0"] = Prior{Prior::Kind::uniform, 0.1, 9};
  CHECK_THROWS_WITH_AS(HierarchicalModel(cohort.data, spec), doctest::Contains("priors: 'mu_0' is pooled"), ArgumentError);
  spec.priors.clear();
  spec.population["sigma"] = PopulationPrior{};
  CHECK_THROWS_WITH_AS(HierarchicalModel(cohort.data, spec), doctest::Contains("population: 'sigma' is not pooled"),
                       ArgumentError);
  CHECK_THROWS_AS(parse_population_prior("0:1"), ArgumentError);
  CHECK_THROWS_AS(parse_hier_parameterisation("intercept"), ArgumentError);
  CHECK(parse_hier_parameterisation("centred-mu0") == HierParameterisation::centred_mu0);
}

TEST_CASE("hierarchical: 30 simulated subjects recover the population (coverage, divergence rate)") {
  // Three cohorts of 30 subjects x 250 trials from one known population (quadratic_cohort);
  // each fitted at the library's default settings (aligned coordinates; NutsSettings: 4 chains
  // x (1,000 + 1,000), delta 0.8, diagonal metric), 90% central intervals of the 8 population
  // quantities (the median and sd of each of mu_0, sigma_0, sigma_r, sigma). Truths are fixed
  // rather than drawn from the prior, so nominal coverage is approximate; the band is
  // Binomial(24, 0.9)'s lower 1% tail: P(X <= 17) = 0.0075, so at least 18 of 24 must be
  // covered. (Measured: 24 of 24, and 0 divergences in each cohort; about 19 s of CPU.)
  const std::map<std::string, double> median{{"sigma", 0.15}, {"sigma_0", 0.35}, {"mu_0", 3.0}, {"sigma_r", 0.12}};
  const std::map<std::string, double> sd{{"sigma", 0.3}, {"sigma_0", 0.3}, {"mu_0", 0.2}, {"sigma_r", 0.3}};
  int covered = 0, total = 0;
  std::size_t divergent = 0, draws = 0;
  for (std::uint64_t seed : {101, 202, 303}) {
    const Cohort cohort = quadratic_cohort(30, 250, seed);
    HierarchicalSpec spec;
    spec.cost = &find_cost("QuadraticCost");
    spec.log_lik = false;
    NutsSettings ns;  // the defaults: 4 chains x (1,000 + 1,000), delta 0.8, diagonal metric
    ns.seed = seed;
    const auto chains = run_nuts([&] { return std::make_unique<HierarchicalModel>(cohort.data, spec); }, ns);
    const Summary s = summarize(chains);
    divergent += s.divergences;
    draws += s.draws;
    MESSAGE(seed << ": " << s.divergences << " divergences");
    for (const auto& [name, v] : median)
      for (const bool is_sd : {false, true}) {
        const std::string col = name + (is_sd ? ".sd" : ".pop");
        const double truth = is_sd ? sd.at(name) : v;
        const ParamSummary* p = nullptr;
        for (const auto& ps : s.params)
          if (ps.name == col) p = &ps;
        REQUIRE(p != nullptr);
        const bool in = p->q5 <= truth && truth <= p->q95;
        MESSAGE(seed << " " << col << " truth " << truth << " 90% [" << p->q5 << ", " << p->q95 << "]"
                     << (in ? std::string() : std::string("  NOT COVERED")) << " ess_bulk " << p->ess_bulk);
        covered += in;
        ++total;
        CHECK(p->rhat < 1.05);
      }
  }
  MESSAGE(covered << " of " << total << " intervals cover, " << divergent << " divergences");
  CHECK(total == 24);
  CHECK(covered >= 18);
  bactor::testing::check_divergence_rate(divergent, draws);  // 0 measured; a rate holds on any CPU
}

TEST_CASE("hierarchical: motor models (sigma_a, an offset) — names, gradient, and each trial's density as a one-subject fit's") {
  // A cohort per response model; the hierarchical log_lik.i of every trial against ActorModel on
  // that subject's trials with its theta (data units, S = 1), which computes the same density by
  // the single-subject path.
  for (const std::string name : {"gaussian", "lognormal+offset", "gaussian+offset"}) {
    CAPTURE(name);
    const MotorSpec motor = parse_motor_spec(name);
    const Cohort cohort = bactor::testing::small_motor_cohort(motor);
    HierarchicalSpec spec;
    spec.cost = &find_cost("QuadraticCost");
    spec.motor = motor;
    spec.quadrature_nodes = 15;  // one rule for every sigma: no node-count step inside the differences
    HierarchicalModel model(cohort.data, spec);
    const auto names = model.output_names();
    auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
    CHECK(has("sigma_r.pop") == motor.has_sigma_r());
    CHECK(has("sigma_a.pop") == motor.has_sigma_a());
    CHECK(has("offset.s3") == motor.offset);
    CHECK_FALSE(model.fused());
    auto q = model.initial_point();
    Rng rng(31, 0);
    for (auto& v : q) v += 0.2 * rng.normal();
    CHECK(bactor::testing::gradient_error(model, q) < 1e-5);
    bactor::testing::check_trials_against_single_fits(model, cohort.data, spec, q);
    if (!motor.has_sigma_r()) {
      spec.fixed["sigma_r"] = 0.1;
      CHECK_THROWS_WITH_AS(HierarchicalModel(cohort.data, spec), doctest::Contains("not a parameter of the gaussian motor model"),
                           ArgumentError);
      spec.fixed.clear();
    }
    // A cohort's conditions vary the actor's parameters, not the motor model's: sigma_a or the
    // offset per condition is refused naming the single-subject fit that takes it (it listed
    // sigma_r, not sigma_a, before).
    for (const char* motor_param : {"sigma_a", "offset"}) {
      spec.per_condition = {motor_param};
      const bool has = std::string(motor_param) == "offset" ? motor.offset : motor.has_sigma_a();
      CHECK_THROWS_WITH_AS(HierarchicalModel(cohort.data, spec),
                           doctest::Contains(has ? "single-subject fit" : "unknown parameter"), ArgumentError);
    }
    spec.per_condition.clear();
  }
}
