// SPDX-License-Identifier: MIT
// Von Mises perception in hierarchical cohorts (HierarchicalSpec::perception, docs/hierarchical.md,
// "Von Mises perception"): every trial's log_lik equals a one-subject ActorModel fit's at that
// subject's theta (QuadraticCost, a formula with lapses, a shifted action with a pooled cost
// parameter); the gradient against finite differences (population terms, the angle's 2-D mean,
// a blocked cohort with two angles, centred and non-centred); the wrapped normal density against a
// long sum; the model's invariance under a rotation of every angle
// (mu_0's population mean uniform on the circle); the default population priors of sigma,
// sigma_0 and sigma_r against HalfNormal(0.25)'s log moments by quadrature; argument errors; the
// choice of `auto` (centred or non-centred angles by the data's spread ratio) on two constructed
// cohorts; and a fast recovery of a small cohort whose mu_0 lies across the seam at pi (a longer
// one by hand).
#include <bactor/models/hierarchical.hpp>

#include <bactor/engine/errors.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/formula.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>
#include "models/circular.hpp"
#include "models/hierarchical_node.hpp"
#include "tests/models/hierarchical_test_util.hpp"
#include "tests/models/inference_test_util.hpp"
#include "tests/stat_criteria.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

using namespace bactor;

namespace {

constexpr double pi = std::numbers::pi;

/// A formula cost, not registered (the registry is global; other tests iterate over it).
const CostInfo& one_minus_cos() {
  static const CostInfo c = [] {
    FormulaSpec f;
    f.expression = "1 - cos(r - s)";
    return make_formula_cost(f);
  }();
  return c;
}
/// An asymmetric cost with a parameter: the shifted action mu_post + d*(c).
const CostInfo& skewed() {
  static const CostInfo c = [] {
    FormulaSpec f;
    f.expression = "(1 - cos(r - s)) * (1 + c*sin(r - s))";
    f.params = parse_param_priors("c=uniform:-0.9:0.9");
    return make_formula_cost(f);
  }();
  return c;
}

/// J subjects x `trials` trials, stimuli on the whole circle: mu_0 around `mu_0` (wrapped normal,
/// sd 0.4), sigma 0.25, sigma_0 0.6, sigma_r 0.15 (log-scale spreads 0.2), c = 0.4 for the skewed
/// cost, lapses where asked.
Cohort circular_cohort(const CostInfo& cost, double lapse, std::size_t J = 3, std::size_t trials = 30, std::uint64_t seed = 5,
                       double mu_0 = 2.9) {
  CohortSpec cs;
  cs.base.cost = &cost;
  cs.base.perception = PerceptionModel::vonmises;
  cs.base.values = {{"mu_0", mu_0}, {"sigma_0", 0.6}, {"sigma", 0.25}, {"sigma_r", 0.15}};
  if (!cost.params.empty()) cs.base.values["c"] = 0.4;
  cs.base.lapse = lapse;
  cs.base.trials = trials;
  cs.base.s_lo = -pi;
  cs.base.s_hi = pi;
  cs.base.seed = seed;
  cs.subjects = J;
  cs.spread = {{"mu_0", 0.4}, {"sigma", 0.2}, {"sigma_0", 0.2}, {"sigma_r", 0.2}};
  if (lapse > 0) cs.spread["lapse"] = 0.5;
  return simulate_cohort(cs);
}

/// Centred angles unless a case says otherwise (the default `automatic` chooses from the data;
/// the test "hierarchical vonmises: auto ..." checks its choice).
HierarchicalSpec circular_spec(const CostInfo& cost, bool lapse) {
  HierarchicalSpec spec;
  spec.cost = &cost;
  spec.perception = PerceptionModel::vonmises;
  spec.lapse = lapse;
  spec.parameterisation = HierParameterisation::centred;
  return spec;
}

std::vector<double> jittered_start(const HierarchicalModel& model, std::uint64_t seed) {
  auto q = model.initial_point({{"mu_0", 2.5}});
  Rng rng(seed, 0);
  for (auto& v : q) v += 0.2 * rng.normal();
  return q;
}

bool has(const std::vector<std::string>& names, const std::string& n) {
  return std::find(names.begin(), names.end(), n) != names.end();
}

} // namespace

TEST_CASE("hierarchical vonmises: names, gradient, and each trial's density as a one-subject fit's") {
  struct Case {
    const CostInfo* cost;
    bool lapse;
  };
  for (const Case& c : {Case{&find_cost("QuadraticCost"), false}, Case{&one_minus_cos(), true}, Case{&skewed(), false}}) {
    CAPTURE(c.cost->name);
    CAPTURE(c.lapse);
    const Cohort cohort = circular_cohort(*c.cost, c.lapse ? 0.08 : 0.0);
    CHECK(*std::min_element(cohort.data.s.begin(), cohort.data.s.end()) < 0);  // angles on the whole circle
    const HierarchicalSpec spec = circular_spec(*c.cost, c.lapse);
    HierarchicalModel model(cohort.data, spec);
    const auto names = model.output_names();
    for (const char* n : {"mu_0.pop", "mu_0.sd", "mu_0.s3", "sigma.pop", "sigma_0.sd", "sigma_r.s1"}) CHECK_MESSAGE(has(names, n), n);
    if (c.lapse) CHECK(has(names, "lapse.pop"));
    if (!c.cost->params.empty()) CHECK(has(names, "c.s2"));
    CHECK_FALSE(model.fused());
    CHECK(model.stimulus_scale() == 1);
    CHECK(model.coordinates().at("mu_0") == "centred");
    CHECK(model.coordinates().at("sigma") == "ridge");  // the sigma / sigma_0 pair as under log-normal perception
    // Extra coordinates: the second components of the mean angle's vector and the subjects'.
    const std::size_t P = model.pooled_names().size(), J = 3;
    CHECK(model.dim() == 2 * P + J * P + 1 + J);
    const auto q = jittered_start(model, 31);
    CHECK(bactor::testing::gradient_error(model, q) < 1e-5);
    bactor::testing::check_trials_against_single_fits(model, cohort.data, spec, q);
    {  // non-centred: mu_0_j = m + tau z_j
      HierarchicalSpec nc = spec;
      nc.parameterisation = HierParameterisation::noncentred;
      HierarchicalModel m2(cohort.data, nc);
      CHECK(m2.coordinates().at("mu_0") == "noncentred");
      CHECK(m2.dim() == 2 * P + J * P + 1);
      const auto q2 = jittered_start(m2, 32);
      CHECK(bactor::testing::gradient_error(m2, q2) < 1e-5);
      bactor::testing::check_trials_against_single_fits(m2, cohort.data, nc, q2);
    }
    if (c.lapse)
      for (const auto& r : model.lapse_ranges()) CHECK((r.first == -pi && r.second == pi));
    // Angles are written wrapped into (-pi, pi].
    const auto out = bactor::testing::outputs_at(model, q);
    for (std::size_t i = 0; i < names.size(); ++i)
      if (names[i].rfind("mu_0.s", 0) == 0 || names[i] == "mu_0.pop") CHECK((out[i] > -pi && out[i] <= pi));
  }
}

TEST_CASE("hierarchical vonmises: shared, fixed and per-condition mu_0, a von Mises prior on the mean angle") {
  const Cohort cohort = circular_cohort(find_cost("QuadraticCost"), 0.0);
  {  // mu_0 shared: one angle with the single-subject prior (identity on the real line), written wrapped
    HierarchicalSpec spec = circular_spec(find_cost("QuadraticCost"), false);
    spec.pooled = {"sigma", "sigma_0", "sigma_r"};
    spec.priors["mu_0"] = parse_prior("vonmises:2:0.5");
    HierarchicalModel model(cohort.data, spec);
    CHECK(model.shared_names() == std::vector<std::string>{"mu_0"});
    auto q = jittered_start(model, 41);
    CHECK(bactor::testing::gradient_error(model, q) < 1e-5);
    q[2 * model.pooled_names().size()] = 2 + 7.0;  // the shared angle, one turn on
    const auto names = model.output_names();
    const auto out = bactor::testing::outputs_at(model, q);
    const auto at = std::size_t(std::find(names.begin(), names.end(), "mu_0") - names.begin());
    CHECK(out[at] == doctest::Approx(2 + 7.0 - 2 * pi));  // into (LOC - pi, LOC + pi]
  }
  {  // fixed
    HierarchicalSpec spec = circular_spec(find_cost("QuadraticCost"), false);
    spec.fixed["mu_0"] = -3.0;
    HierarchicalModel model(cohort.data, spec);
    const auto theta = model.subject_theta(model.initial_point());
    for (std::size_t j = 0; j < 3; ++j) CHECK(theta[j * 4 + theta_index::mu_0] == -3.0);
    CHECK(bactor::testing::gradient_error(model, jittered_start(model, 42)) < 1e-5);
  }
  {  // a von Mises prior on the population mean angle (SCALE 0.5: kappa_m = 4)
    HierarchicalSpec spec = circular_spec(find_cost("QuadraticCost"), false);
    spec.population["mu_0"] = parse_population_prior("3:0.5:0.3");
    HierarchicalModel model(cohort.data, spec);
    CHECK(bactor::testing::gradient_error(model, jittered_start(model, 43)) < 1e-5);
    CHECK(to_string(model.population_priors().at("mu_0")) == "3:0.5:0.3");
  }
  {  // a blocked cohort: mu_0 and sigma per condition, two angles (two extra coordinates)
    Cohort blocked = cohort;
    blocked.data.cond_labels = {"a", "b"};
    for (std::size_t i = 0; i < blocked.data.size(); ++i) blocked.data.cond[i] = int(i % 2);
    HierarchicalSpec spec = circular_spec(find_cost("QuadraticCost"), false);
    spec.per_condition = {"sigma", "mu_0"};
    HierarchicalModel model(blocked.data, spec);
    const auto names = model.output_names();
    for (const char* n : {"mu_0.1.pop", "mu_0.2.sd", "mu_0.2.s3", "sigma.1.pop"}) CHECK_MESSAGE(has(names, n), n);
    const std::size_t P = model.pooled_names().size();
    CHECK(model.dim() == 2 * P + 3 * P + 2 * (1 + 3));
    CHECK(bactor::testing::gradient_error(model, jittered_start(model, 44)) < 1e-5);
  }
}

TEST_CASE("hierarchical vonmises: rotating every angle leaves the log density unchanged (the mean angle uniform)") {
  // The likelihood depends on s, r and mu_0 through their differences only, and the population
  // mean's prior is uniform on the circle: stimuli and responses turned by alpha, with the mean's
  // 2-D vector (and, centred, each subject's) turned by alpha, give the same log density
  // (non-centred: the subjects' offsets z unchanged).
  const Cohort cohort = circular_cohort(one_minus_cos(), 0.05);
  for (const auto par : {HierParameterisation::aligned, HierParameterisation::noncentred}) {
    CAPTURE(to_string(par));
    HierarchicalSpec spec = circular_spec(one_minus_cos(), true);
    spec.parameterisation = par;
    HierarchicalModel model(cohort.data, spec);
    const auto q = jittered_start(model, 51);
    std::vector<double> g(model.dim());
    const double lp = model.log_density(q, g);
    const auto pooled = model.pooled_names();
    const std::size_t P = pooled.size(), k_mu = std::size_t(std::find(pooled.begin(), pooled.end(), "mu_0") - pooled.begin());
    const std::size_t extra = 2 * P + 3 * P;  // no shared parameters: after the 3 subjects' coordinates
    // (first, second) coordinate pairs of the vectors to turn
    std::vector<std::pair<std::size_t, std::size_t>> vectors{{k_mu, extra}};
    if (par == HierParameterisation::aligned)
      for (std::size_t j = 0; j < 3; ++j) vectors.emplace_back(2 * P + j * P + k_mu, extra + 1 + j);
    for (double alpha : {0.7, -2.0, 3.0}) {
      CAPTURE(alpha);
      Dataset turned = cohort.data;
      for (std::size_t i = 0; i < turned.size(); ++i) {
        turned.s[i] = wrap_angle(turned.s[i] + alpha);
        turned.r[i] = wrap_angle(turned.r[i] + alpha);
      }
      HierarchicalModel rotated(turned, spec);
      auto qr = q;
      for (const auto& [a, b] : vectors) {
        qr[a] = std::cos(alpha) * q[a] - std::sin(alpha) * q[b];
        qr[b] = std::sin(alpha) * q[a] + std::cos(alpha) * q[b];
      }
      CHECK(rotated.log_density(qr, g) == doctest::Approx(lp).epsilon(1e-9));
    }
  }
}

TEST_CASE("hierarchical vonmises: the population priors of sigma, sigma_0, sigma_r have HalfNormal(0.25)'s log moments") {
  // A subject's log sigma = m + tau z with m ~ N(loc, scale), tau ~ HalfNormal(sd_scale): mean
  // loc, variance scale^2 + sd_scale^2. HalfNormal(0.25)'s log: mean and variance by the midpoint
  // rule in u = log x over (-30, 3) (density of log x: 2 x phi(x / 0.25) / 0.25).
  double m1 = 0, m2 = 0, mass = 0;
  const int n = 400000;
  const double lo = -30, hi = 3, h = (hi - lo) / n;
  for (int i = 0; i < n; ++i) {
    const double u = lo + (i + 0.5) * h, x = std::exp(u), z = x / 0.25;
    const double w = h * x * 2 * std::exp(-0.5 * z * z) / (0.25 * std::sqrt(2 * pi));
    mass += w;
    m1 += w * u;
    m2 += w * u * u;
  }
  const double mean = m1 / mass, var = m2 / mass - mean * mean;
  CHECK(mass == doctest::Approx(1).epsilon(1e-6));
  for (const char* name : {"sigma", "sigma_0", "sigma_r"}) {
    const PopulationPrior p = default_population_prior(find_cost("QuadraticCost"), name, 1.0, PerceptionModel::vonmises);
    MESSAGE(name << ": HalfNormal(0.25) log: mean " << mean << ", sd " << std::sqrt(var) << "; population prior " << to_string(p));
    CHECK(p.loc == doctest::Approx(mean).epsilon(1e-4));
    CHECK(p.scale * p.scale + p.sd_scale * p.sd_scale == doctest::Approx(var).epsilon(1e-3));
  }
  const PopulationPrior mu = default_population_prior(find_cost("QuadraticCost"), "mu_0", 1.0, PerceptionModel::vonmises);
  CHECK(std::isinf(mu.scale));  // uniform on the circle, as the single-subject prior vonmises:0:0
  CHECK(to_string(mu) == "0:inf:0.5");
  CHECK(std::isinf(parse_population_prior(to_string(mu)).scale));  // what the fit records reads back
}

TEST_CASE("hierarchical vonmises: the wrapped normal density (a centred angle's population) against a long sum") {
  // Brute force: the sum over windings k = -60..60 of N(d + 2 pi k; 0, tau); both branches
  // (tau <= 1.5 windings, above it the Fourier series) and their join; the derivatives against
  // central differences; and the density's integral over one turn (trapezoid, 2,000 points) is 1.
  for (double tau : {0.05, 0.4, 1.2, 1.4999, 1.5001, 2.5, 6.0}) {
    CAPTURE(tau);
    for (double d : {-3.1, -1.0, 0.0, 0.3, 2.9, 3.14159}) {
      CAPTURE(d);
      double sum = 0;
      for (int k = -60; k <= 60; ++k) {
        const double x = d + 2 * pi * k;
        sum += std::exp(-0.5 * x * x / (tau * tau)) / (tau * std::sqrt(2 * pi));
      }
      double dd, dt;
      const double l = detail::wrapped_normal_log(d, tau, dd, dt);
      if (sum > 1e-280) CHECK(l == doctest::Approx(std::log(sum)).epsilon(1e-12));
      const double h = 1e-6;
      double a, b;
      const double fd_d = (detail::wrapped_normal_log(d + h, tau, a, b) - detail::wrapped_normal_log(d - h, tau, a, b)) / (2 * h);
      const double fd_t = (detail::wrapped_normal_log(d, tau + h, a, b) - detail::wrapped_normal_log(d, tau - h, a, b)) / (2 * h);
      CHECK(dd == doctest::Approx(fd_d).epsilon(1e-6).scale(1));
      CHECK(dt == doctest::Approx(fd_t).epsilon(1e-6).scale(1));
    }
    double mass = 0;
    const int n = 2000;
    for (int i = 0; i < n; ++i) {
      double a, b;
      mass += std::exp(detail::wrapped_normal_log(-pi + 2 * pi * i / n, tau, a, b)) * 2 * pi / n;
    }
    CHECK(mass == doctest::Approx(1).epsilon(1e-9));
  }
}

TEST_CASE("hierarchical vonmises: errors name the argument") {
  const Cohort cohort = circular_cohort(find_cost("QuadraticCost"), 0.0);
  auto refused = [&](const HierarchicalSpec& spec, const std::string& arg, const std::string& part, const Dataset* data = nullptr) {
    try {
      HierarchicalModel m(data ? *data : cohort.data, spec);
      FAIL("accepted");
    } catch (const ArgumentError& e) {
      CHECK(e.argument() == arg);
      CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos, std::string(e.what()));
    } catch (const std::invalid_argument& e) {
      CHECK(arg.empty());
      CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos, std::string(e.what()));
    }
  };
  HierarchicalSpec spec = circular_spec(find_cost("QuadraticCost"), false);
  HierarchicalSpec s = spec;
  s.cost = &find_cost("Linex");
  refused(s, "cost", "not supported");
  s = spec;
  s.motor = MotorSpec{MotorModel::generalized, false};
  refused(s, "motor", "von Mises motor noise");
  s = spec;
  s.population["sigma"] = parse_population_prior("0:inf:0.5");
  refused(s, "population", "an angle's population mean only");
  s = spec;
  s.pooled = {"sigma", "sigma_0", "sigma_r"};
  s.priors["mu_0"] = parse_prior("uniform:-3:3");
  refused(s, "priors", "an angle needs a prior on the circle");
  s = spec;
  s.pooled = {"mu_0", "sigma_0", "sigma_r"};
  s.priors["sigma"] = parse_prior("vonmises:0:1");
  refused(s, "priors", "a vonmises prior is for an angle");
  Dataset outside = cohort.data;
  outside.r[4] = 3.5;
  refused(spec, "", "outside (-pi, pi]", &outside);
}

namespace {

/// J subjects x `trials` trials on the whole circle whose trials tell mu_0 apart (the posterior
/// weight of the measurement about 0.75): mu_0 around `mu_0` (sd 0.3), sigma 0.3, sigma_0 0.5,
/// sigma_r 0.2 (log-scale spreads 0.2).
Cohort recovery_cohort(std::size_t J, std::size_t trials, std::uint64_t seed, double mu_0) {
  CohortSpec cs;
  cs.base.cost = &find_cost("QuadraticCost");
  cs.base.perception = PerceptionModel::vonmises;
  cs.base.values = {{"mu_0", mu_0}, {"sigma_0", 0.5}, {"sigma", 0.3}, {"sigma_r", 0.2}};
  cs.base.trials = trials;
  cs.base.s_lo = -pi;
  cs.base.s_hi = pi;
  cs.base.seed = seed;
  cs.subjects = J;
  cs.spread = {{"mu_0", 0.3}, {"sigma", 0.2}, {"sigma_r", 0.2}};
  return simulate_cohort(cs);
}

/// One cohort's fit: the population's 90% intervals of sigma.pop and sigma_r.pop against their
/// truths, and of mu_0.pop by its circular distance to the truth (the interval of the draws
/// unwrapped about the truth); divergences and R-hat.
void recover(bactor::testing::PopulationRecovery& r, std::size_t J, std::size_t trials, std::uint64_t seed, int chains, int warmup,
             int samples, HierParameterisation par) {
  const double mu_0 = 3.0;  // near the seam: subjects on both sides of pi
  const Cohort cohort = recovery_cohort(J, trials, seed, mu_0);
  HierarchicalSpec spec = circular_spec(find_cost("QuadraticCost"), false);
  spec.log_lik = false;
  spec.parameterisation = par;
  NutsSettings ns;
  ns.chains = chains;
  ns.warmup = warmup;
  ns.samples = samples;
  ns.seed = seed;
  auto chains_out = run_nuts([&] { return std::make_unique<HierarchicalModel>(cohort.data, spec); }, ns);
  // mu_0.pop unwrapped about the truth (its interval then reads as on the line).
  for (auto& ch : chains_out) {
    const auto col = std::size_t(std::find(ch.columns.begin(), ch.columns.end(), "mu_0.pop") - ch.columns.begin());
    REQUIRE(col < ch.columns.size());
    for (std::size_t i = 0; i < ch.rows(); ++i) {
      double& v = ch.draws[i * ch.columns.size() + col];
      v = mu_0 + wrap_angle(v - mu_0);
    }
  }
  const Summary s = summarize(chains_out);
  r.add(s, {{"mu_0.pop", mu_0}, {"sigma.pop", 0.3}, {"sigma_r.pop", 0.2}}, seed);
}

} // namespace

TEST_CASE("hierarchical vonmises: auto chooses centred or non-centred angles from the data") {
  // Two constructed cohorts of QuadraticCost actors, stimuli on the whole circle, sigma 0.3,
  // sigma_0 0.5, sigma_r 0.2: 6 subjects x 80 trials whose mu_0 spread by 0.8 rad (each
  // subject's trials fix its mu_0 to about 0.1 rad: the ratio of the between-subject variance to
  // a subject's sampling variance is large, centred), and 6 x 8 trials with a spread of 0.02
  // (the subjects' estimates differ by their noise alone: a ratio below the threshold 4, non-centred).
  auto cohort = [](std::size_t trials, double spread) {
    CohortSpec cs;
    cs.base.cost = &find_cost("QuadraticCost");
    cs.base.perception = PerceptionModel::vonmises;
    cs.base.values = {{"mu_0", 2.0}, {"sigma_0", 0.5}, {"sigma", 0.3}, {"sigma_r", 0.2}};
    cs.base.trials = trials;
    cs.base.s_lo = -pi;
    cs.base.s_hi = pi;
    cs.base.seed = 3;
    cs.subjects = 6;
    cs.spread = {{"mu_0", spread}};
    return simulate_cohort(cs).data;
  };
  HierarchicalSpec spec = circular_spec(find_cost("QuadraticCost"), false);
  spec.parameterisation = HierParameterisation::automatic;
  const Dataset wide = cohort(80, 0.8), narrow = cohort(8, 0.02);
  const HierarchicalModel a(wide, spec), b(narrow, spec);
  MESSAGE("spread ratios: " << a.angle_spread_ratio() << " (80 trials, spread 0.8), " << b.angle_spread_ratio() << " (8 trials, spread 0.02)");
  CHECK(a.angle_spread_ratio() > 10);
  CHECK(a.parameterisation() == HierParameterisation::centred);
  CHECK(a.coordinates().at("mu_0") == "centred");
  CHECK(a.coordinates().at("sigma") == "ridge");
  CHECK(b.angle_spread_ratio() < 4);  // the threshold (measured: docs/hierarchical.md)
  CHECK(b.parameterisation() == HierParameterisation::noncentred);
  CHECK(b.coordinates().at("mu_0") == "noncentred");
  CHECK(b.coordinates().at("sigma") == "noncentred");
  {  // the statistic turns with the data: every angle turned by 1.3 gives the same ratio
    Dataset turned = wide;
    for (std::size_t i = 0; i < turned.size(); ++i) {
      turned.s[i] = wrap_angle(turned.s[i] + 1.3);
      turned.r[i] = wrap_angle(turned.r[i] + 1.3);
    }
    CHECK(HierarchicalModel(turned, spec).angle_spread_ratio() == doctest::Approx(a.angle_spread_ratio()).epsilon(1e-9));
  }
  // A given parameterisation is kept (aligned and centred-mu0 mean centred here).
  for (const auto par : {HierParameterisation::centred, HierParameterisation::aligned, HierParameterisation::centred_mu0}) {
    spec.parameterisation = par;
    CHECK(HierarchicalModel(narrow, spec).parameterisation() == HierParameterisation::centred);
  }
  spec.parameterisation = HierParameterisation::noncentred;
  CHECK(HierarchicalModel(wide, spec).parameterisation() == HierParameterisation::noncentred);
  CHECK(std::isnan(HierarchicalModel(wide, spec).angle_spread_ratio()) == false);  // computed whatever the choice
  // mu_0 shared: no population of angles, nothing to choose.
  spec.parameterisation = HierParameterisation::automatic;
  spec.pooled = {"sigma", "sigma_0", "sigma_r"};
  const HierarchicalModel shared(wide, spec);
  CHECK(shared.parameterisation() == HierParameterisation::centred);
  CHECK(std::isnan(shared.angle_spread_ratio()));
  CHECK(parse_hier_parameterisation("auto") == HierParameterisation::automatic);
  CHECK(std::string(to_string(HierParameterisation::centred)) == "centred");
  {  // log-normal perception: auto is aligned, `centred` (the angles') refused
    const Cohort lognormal = bactor::testing::small_motor_cohort(MotorSpec{});
    HierarchicalSpec ls;
    ls.cost = &find_cost("QuadraticCost");
    CHECK(HierarchicalModel(lognormal.data, ls).parameterisation() == HierParameterisation::aligned);
    ls.parameterisation = HierParameterisation::centred;
    CHECK_THROWS_WITH_AS(HierarchicalModel(lognormal.data, ls), doctest::Contains("'centred' is for von Mises perception"), ArgumentError);
  }
}

TEST_CASE("hierarchical vonmises: a small cohort's population is recovered (fast)") {
  // One cohort of 4 subjects x 25 trials whose mu_0 straddle the seam at pi, 2 chains x (200 +
  // 150), non-centred (few trials per subject: the centred angles' funnel gave 23 divergent draws
  // of 300): the 90% intervals of mu_0.pop, sigma.pop and sigma_r.pop cover their truths (fixed
  // seed; at most one of three may miss), R-hat < 1.1, divergences in at most 4% of the draws.
  // Why 4% and not the usual 1%: at 300 draws the count is small and clusters in one chain.
  // Measured with seeds 11-16 and warm-ups of 200 and 400 (12 runs of 300 draws per build,
  // 2026-12-06): native 10 of 3,600 draws (0.28%, at most 3 per run), -Dnative=false 27 of 3,600
  // (0.75%), at most 9 per run (seed 11, which this case uses); the centred funnel's 23 of 300
  // (7.7%) still fails the bound.
  bactor::testing::PopulationRecovery r;
  recover(r, 4, 25, 11, 2, 200, 150, HierParameterisation::noncentred);
  CHECK(r.covered >= 2);
  CHECK(r.max_rhat < 1.1);
  bactor::testing::check_divergence_rate(r.divergent, r.draws, 0.04);
}

TEST_CASE("hierarchical vonmises: recovery over five cohorts (run by hand: --no-skip)" * doctest::skip()) {
  // Five cohorts of 10 subjects x 60 trials, centred, 4 chains x (400 + 400): 15 intervals;
  // Binomial(15, 0.9)'s lower 1% tail is P(X <= 10) = 0.0127, P(X <= 9) = 0.0022, so at least 10
  // of 15 must cover. Measured: 15 of 15, 20 of 8,000 draws divergent, R-hat <= 1.006, 552 s CPU.
  bactor::testing::PopulationRecovery r;
  for (std::uint64_t seed : {21, 22, 23, 24, 25}) recover(r, 10, 60, seed, 4, 400, 400, HierParameterisation::aligned);
  MESSAGE(r.covered << " of " << r.total << " intervals cover, " << r.divergent << " divergences in " << r.draws << " draws");
  CHECK(r.covered >= 10);
  CHECK(r.max_rhat < 1.05);
  bactor::testing::check_divergence_rate(r.divergent, r.draws);
}
