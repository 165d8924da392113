// SPDX-License-Identifier: MIT
// Circular (von Mises) perception and motor noise (models/circular.hpp, docs/families.md):
//   - log I0 e^{-kappa} and I1/I0 against std::cyl_bessel_i on a grid (to kappa = 700, where
//     I0 is still finite), and log_i0e's derivative against finite differences;
//   - the posterior's kappa_post / mu_post against a directly normalised grid posterior;
//   - the von Mises sampler's mean resultant length against A(kappa) (Monte Carlo SE);
//   - each trial's likelihood against a brute-force 20,001-node integral over m, and its
//     normalisation over r;
//   - the likelihood node's gradient against finite differences (two rows, acc);
//   - which costs are accepted (symmetric, periodic, no parameters) and which refused;
//   - ActorModel under vonmises: layout, gradient against finite differences, periodicity in
//     mu_0 and wrapped outputs; recovery of simulated truth by NUTS;
//   - mu_0 as the direction of a 2-D vector (InferenceSpec::mu0_coordinates): the vector-angle
//     node and the length's term against finite differences; the log density equal to the angle
//     model's at atan2(y, x) plus the length's term, its gradient, mu_0's marginal by quadrature
//     over the length; the same posterior both ways (means and sds within 4 combined MCSE).
#include "models/circular.hpp"
#include "models/inference_nodes.hpp"
#include "models/shift_solve.hpp"

#include <bactor/engine/errors.hpp>
#include <bactor/engine/ops.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/formula.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/simulate.hpp>
#include "tests/engine/gradcheck.hpp"
#include "tests/models/posterior_test_util.hpp"
#include "tests/stat_criteria.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <numbers>
#include <string>
#include <vector>

using namespace bactor;
using bactor::testing::gradcheck;
using bactor::testing::GradCheckOptions;
namespace d = bactor::detail;

namespace {
const double pi = std::numbers::pi;

/// p(r | s) by the trapezoid rule on `n` nodes over m, written from the definitions alone.
double brute_force_loglik(double s, double r, const double* theta, int n) {
  const CircularParams p = CircularParams::of(theta);
  double sum = 0;
  for (int j = 0; j < n; ++j) {
    const double m = -pi + 2 * pi * j / n;
    const double a = vonmises_posterior(p.mu_0, p.kappa_0, m, p.kappa).mu;
    sum += std::exp(vonmises_logpdf(m, s, p.kappa) + vonmises_logpdf(r, a, p.kappa_r));
  }
  return std::log(sum * 2 * pi / n);
}

const d::CircularModel& quadratic() {
  static const d::CircularModel m = d::CircularModel::of(find_cost("QuadraticCost"));
  return m;
}

/// theta sets: broad to sharp perception, prior and motor noise, mu_0 anywhere on the line.
const std::vector<std::vector<double>> theta_sets = {
    {0.2, 0.5, 0.3, 0.1}, {0.05, 0.3, -2.0, 0.05}, {0.6, 0.4, 3.0, 0.3}, {1.2, 1.5, 7.5, 0.8}, {0.3, 0.1, -0.5, 0.2},
};
} // namespace

TEST_CASE("circular: log I0 e^-kappa and I1/I0 against std::cyl_bessel_i") {
  for (double k = 0; k <= 700; k += (k < 40 ? 0.37 : 7.3)) {
    INFO("kappa = " << k);
    const double i0 = std::cyl_bessel_i(0.0, k), i1 = std::cyl_bessel_i(1.0, k);
    CHECK(log_i0e(k) == doctest::Approx(std::log(i0) - k).epsilon(1e-13).scale(1.0));
    CHECK(bessel_ratio(k) == doctest::Approx(i1 / i0).epsilon(1e-13));
  }
  // Far beyond overflow: log I0(k) - k -> -log(2 pi k) / 2 + log(1 + 1/(8k)), A -> 1 - 1/(2k) - 1/(8k^2).
  CHECK(log_i0e(1e8) == doctest::Approx(-0.5 * std::log(2 * pi * 1e8) + std::log1p(1 / 8e8)).epsilon(1e-14));
  CHECK(bessel_ratio(1e6) == doctest::Approx(1 - 0.5e-6 - 0.125e-12).epsilon(1e-14));
  // d/dk log_i0e = A - 1, on both sides of the series/asymptotic switch.
  for (double k : {0.01, 0.8, 5.0, 29.9, 30.1, 80.0, 2000.0}) {
    const double h = 1e-5 * std::max(1.0, k);
    const double fd = (log_i0e(k + h) - log_i0e(k - h)) / (2 * h);
    CHECK(fd == doctest::Approx(bessel_ratio(k) - 1).epsilon(1e-7).scale(1.0));
  }
}

TEST_CASE("circular: wrap_angle") {
  CHECK(wrap_angle(0.5) == 0.5);
  CHECK(wrap_angle(pi) == doctest::Approx(pi));
  CHECK(wrap_angle(-pi) == doctest::Approx(pi));
  CHECK(wrap_angle(3 * pi / 2) == doctest::Approx(-pi / 2));
  CHECK(wrap_angle(-7.0) == doctest::Approx(-7.0 + 2 * pi));
  for (double x = -20; x < 20; x += 0.1) {
    const double w = wrap_angle(x);
    CHECK((w > -pi && w <= pi));
    CHECK(std::cos(w) == doctest::Approx(std::cos(x)).epsilon(1e-12).scale(1.0));
  }
}

TEST_CASE("circular: the posterior against direct numerical normalisation") {
  const int n = 20000;
  for (const auto& [mu0, k0, m, k] : std::vector<std::array<double, 4>>{
           {0.3, 4.0, 1.2, 25.0}, {-2.8, 10.0, 2.9, 3.0}, {1.0, 0.5, -1.0, 0.7}, {0.0, 100.0, 0.4, 400.0}}) {
    INFO(mu0 << " " << k0 << " " << m << " " << k);
    // p(s | m) ∝ VM(s; mu_0, kappa_0) VM(m; s, kappa), normalised on the grid.
    std::vector<double> lp(n);
    double mx = -INFINITY;
    for (int j = 0; j < n; ++j) {
      const double s = -pi + 2 * pi * j / n;
      lp[j] = vonmises_logpdf(s, mu0, k0) + vonmises_logpdf(m, s, k);
      mx = std::max(mx, lp[j]);
    }
    double z = 0, c = 0, sn = 0;
    for (int j = 0; j < n; ++j) {
      const double s = -pi + 2 * pi * j / n, w = std::exp(lp[j] - mx);
      z += w;
      c += w * std::cos(s);
      sn += w * std::sin(s);
    }
    const VonMisesPosterior post = vonmises_posterior(mu0, k0, m, k);
    // The grid's circular mean is mu_post; its mean resultant length is A(kappa_post).
    CHECK(std::atan2(sn, c) == doctest::Approx(post.mu).epsilon(1e-10));
    CHECK(std::hypot(c, sn) / z == doctest::Approx(bessel_ratio(post.kappa)).epsilon(1e-10));
    // And the normalised density itself is VM(mu_post, kappa_post) at every grid point.
    const double log_z = mx + std::log(z * 2 * pi / n);
    for (int j = 0; j < n; j += 997) {
      const double s = -pi + 2 * pi * j / n;
      CHECK(lp[j] - log_z == doctest::Approx(vonmises_logpdf(s, post.mu, post.kappa)).epsilon(1e-9).scale(1.0));
    }
  }
}

TEST_CASE("circular: the von Mises sampler's mean resultant length (4 Monte Carlo SE)") {
  Rng rng(11, 0);
  const int n = 20000;
  for (const auto& [mu, k] : std::vector<std::pair<double, double>>{{0.0, 0.3}, {2.5, 4.0}, {-3.0, 60.0}, {1.0, 3e4}}) {
    INFO("mu " << mu << " kappa " << k);
    double sc = 0, sc2 = 0, ss = 0, ss2 = 0;
    for (int i = 0; i < n; ++i) {
      const double x = sample_vonmises(rng, mu, k);
      REQUIRE((x > -pi && x <= pi));
      const double c = std::cos(x - mu), s = std::sin(x - mu);
      sc += c, sc2 += c * c, ss += s, ss2 += s * s;
    }
    const double mc = sc / n, ms = ss / n;
    const double se_c = std::sqrt((sc2 / n - mc * mc) / n), se_s = std::sqrt((ss2 / n - ms * ms) / n);
    CHECK(std::abs(mc - bessel_ratio(k)) <= 4 * se_c + 1e-12);
    CHECK(std::abs(ms) <= 4 * se_s + 1e-12);
  }
}

TEST_CASE("circular: each trial's likelihood against a brute-force integral, and its normalisation") {
  Rng rng(5, 0);
  for (const auto& theta : theta_sets) {
    INFO("theta " << theta[0] << " " << theta[1] << " " << theta[2] << " " << theta[3]);
    d::CircularTrials t;
    for (int i = 0; i < 12; ++i) {
      const double s = rng.uniform(-pi, pi);
      t.add(s, i % 3 == 2 ? rng.uniform(-pi, pi) : simulate_circular_response(CircularParams::of(theta.data()), s, rng));
    }
    std::vector<double> ll(t.size());
    const double total = d::circular_row_loglik(quadratic(), theta.data(), nullptr, t, nullptr, ll.data());
    double sum = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
      CHECK(ll[i] == doctest::Approx(brute_force_loglik(t.s[i], t.r[i], theta.data(), 20001)).epsilon(1e-9).scale(1.0));
      sum += ll[i];
    }
    CHECK(total == doctest::Approx(sum).epsilon(1e-12));
    // ∫ p(r | s) dr = 1 (the node's rule at 400 responses; periodic, so the trapezoid is exact to rounding).
    d::CircularTrials over_r;
    for (int j = 0; j < 400; ++j) over_r.add(0.7, -pi + 2 * pi * j / 400);
    std::vector<double> lr(400);
    d::circular_row_loglik(quadratic(), theta.data(), nullptr, over_r, nullptr, lr.data());
    double mass = 0;
    for (double v : lr) mass += std::exp(v) * 2 * pi / 400;
    CHECK(mass == doctest::Approx(1.0).epsilon(1e-9));
  }
}

TEST_CASE("circular: the likelihood node's gradient against finite differences") {
  Rng rng(8, 0);
  d::CircularTrials a, b;
  for (int i = 0; i < 9; ++i) {
    const double s = rng.uniform(-pi, pi);
    a.add(s, wrap_angle(s + 0.3 * rng.normal()));
    b.add(s, rng.uniform(-pi, pi));
  }
  const std::vector<d::CircularRow> rows{{0, &a}, {4, &b}};
  for (std::size_t k = 0; k + 1 < theta_sets.size(); ++k) {
    std::vector<double> v = theta_sets[k];
    v.insert(v.end(), theta_sets[k + 1].begin(), theta_sets[k + 1].end());
    v.push_back(0.25);  // acc's element
    INFO("theta sets " << k << ", " << k + 1);
    auto r = gradcheck(
        [&](std::span<const Var> in) {
          return d::circular_likelihood_node(in[0], quadratic(), rows, d::Elem{in[0], 8});
        },
        {v}, GradCheckOptions{1e-6, 1e-6, 1e-7});
    CHECK_MESSAGE(r.ok, r.report);
  }
  // Outside the support: -inf, no NaN gradient.
  std::vector<double> bad{-0.2, 0.5, 0.3, 0.1};
  std::vector<double> g(4, 0.0);
  CHECK(d::circular_row_loglik(quadratic(), bad.data(), nullptr, a, g.data(), nullptr) == -INFINITY);
  for (double x : g) CHECK(x == 0.0);
}

TEST_CASE("circular: node counts grow with the concentrations") {
  CHECK(circular_nodes(CircularParams::of(std::vector<double>{2.0, 1.0, 0.0, 2.0}.data())) == 40);
  const int n1 = circular_nodes(CircularParams::of(std::vector<double>{0.2, 0.5, 0.0, 0.1}.data()));
  const int n2 = circular_nodes(CircularParams::of(std::vector<double>{0.05, 0.5, 0.0, 0.05}.data()));
  CHECK(n1 % 8 == 0);
  CHECK(n2 > n1);
  CHECK(circular_nodes(CircularParams::of(std::vector<double>{1e-5, 0.5, 0.0, 0.1}.data())) == circular_max_nodes);
}

TEST_CASE("circular: which costs have the action mu_post, which a shifted one, which are refused") {
  CHECK(check_circular_cost(find_cost("QuadraticCost")) == CircularAction::mu_post);
  CHECK(check_circular_cost(find_cost("AbsoluteCost")) == CircularAction::mu_post);
  auto refused = [](const CostInfo& c, const std::string& part) {
    try {
      check_circular_cost(c);
      FAIL("accepted " << c.name);
    } catch (const ArgumentError& e) {
      CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos, e.what());
    }
  };
  refused(find_cost("QuadraticCostQuadraticEffort"), "not supported");
  refused(find_cost("Linex"), "not supported");
  FormulaSpec f;
  f.expression = "1 - cos(r - s)";
  CHECK(check_circular_cost(make_formula_cost(f)) == CircularAction::mu_post);
  f.expression = "(1 - cos(r - s)) * (1 - cos(r - s))";
  CHECK(check_circular_cost(make_formula_cost(f)) == CircularAction::mu_post);
  f.expression = "(r - s) * (r - s)";
  refused(make_formula_cost(f), "not a function of the wrapped difference");
  f.expression = "1 - cos(r - s) + 0.2 * sin(r - s)";
  CHECK(check_circular_cost(make_formula_cost(f)) == CircularAction::shifted);
  f.expression = "cos(r - s)";
  refused(make_formula_cost(f), "decreases");
  // With parameters: shifted when they make it asymmetric, refused when it stays symmetric.
  f.expression = "1 - cos(r - s) + c*sin(r - s)";
  f.params = parse_param_priors("c=uniform:-1:1");
  CHECK(check_circular_cost(make_formula_cost(f)) == CircularAction::shifted);
  f.expression = "c*(1 - cos(r - s))";
  f.params = parse_param_priors("c=uniform:0.5:2");
  refused(make_formula_cost(f), "symmetric in r - s, so its parameters");
}

TEST_CASE("circular: ActorModel under von Mises perception (layout, gradient against finite differences, wrapped outputs)") {
  SimulationSpec sim;
  sim.cost = &find_cost("QuadraticCost");
  sim.perception = PerceptionModel::vonmises;
  sim.values = {{"sigma", 0.2}, {"sigma_0", 0.5}, {"mu_0", -1.0}, {"sigma_r", 0.1}};
  sim.condition_values = {{"sigma", {0.15, 0.3}}};
  sim.values.erase("sigma");
  sim.trials = 40;
  sim.s_lo = -pi, sim.s_hi = pi;
  sim.seed = 2;
  const Dataset data = simulate(sim);
  REQUIRE(data.size() == 80);
  InferenceSpec spec;
  spec.cost = sim.cost;
  spec.perception = PerceptionModel::vonmises;
  spec.priors["mu_0"] = parse_prior("vonmises:0.5:2");
  ActorModel model(data, spec);
  CHECK(model.scale() == 1.0);
  const auto names = model.free_names();
  CHECK(names == std::vector<std::string>{"mu_0", "sigma_0", "sigma_r", "sigma.1", "sigma.2"});
  // mu_0's coordinate is the angle itself, anywhere on the line: 7 is 7 - 2 pi on the circle.
  std::vector<double> q = model.unconstrain({{"mu_0", 7.0}, {"sigma_0", 0.4}, {"sigma_r", 0.12}, {"sigma", 0.25}});
  CHECK(q[0] == 7.0);
  CHECK(model.constrain(q)[0] == doctest::Approx(7.0 - 2 * pi));
  std::vector<double> g(q.size());
  const double lp = model.log_density(q, g);
  REQUIRE(std::isfinite(lp));
  for (std::size_t k = 0; k < q.size(); ++k) {
    const double h = 1e-6;
    std::vector<double> a = q, b = q, none;
    a[k] += h, b[k] -= h;
    const double fd = (model.log_density(a, none) - model.log_density(b, none)) / (2 * h);
    CHECK(g[k] == doctest::Approx(fd).epsilon(1e-6).scale(1.0));
  }
  // The density is periodic in mu_0: HMC on the line is HMC on the circle.
  std::vector<double> q2 = q, none;
  q2[0] -= 2 * pi;
  CHECK(model.log_density(q2, none) == doctest::Approx(lp).epsilon(1e-12));
  // Per-trial values sum to the likelihood part: the difference of two q is the same.
  std::vector<double> ll(data.size()), ll2(data.size());
  model.trial_loglik(q, ll);
  q2 = q;
  q2[1] += 0.1;
  model.trial_loglik(q2, ll2);
  double d_ll = 0;
  for (std::size_t i = 0; i < ll.size(); ++i) d_ll += ll2[i] - ll[i];
  CHECK(std::isfinite(d_ll));
}

TEST_CASE("circular: recovery on simulated data (truth within 4 posterior sd, divergences <= 1%)") {
  SimulationSpec sim;
  sim.cost = &find_cost("QuadraticCost");
  sim.perception = PerceptionModel::vonmises;
  sim.values = {{"sigma", 0.2}, {"sigma_0", 0.5}, {"mu_0", -1.0}, {"sigma_r", 0.1}};
  sim.trials = 300;
  sim.s_lo = -pi, sim.s_hi = pi;
  sim.seed = 9;
  const Dataset data = simulate(sim);
  InferenceSpec spec;
  spec.cost = sim.cost;
  spec.perception = PerceptionModel::vonmises;
  spec.fixed["sigma"] = 0.2;  // sigma and sigma_r trade off (as in the reference study, which fixes sigma)
  const Summary s = bactor::testing::run_posterior(data, spec, 2, 300, 300, 4);
  bactor::testing::check_divergence_rate(s.divergences, s.draws);
  for (const auto& p : s.params) {
    INFO(p.name << " mean " << p.mean << " sd " << p.sd << " truth " << sim.values.at(p.name) << " rhat " << p.rhat);
    CHECK(std::abs(p.mean - sim.values.at(p.name)) <= 4 * p.sd);
    CHECK(p.rhat < 1.05);
  }
}

// ---- mu_0 as the direction of a 2-D vector (InferenceSpec::mu0_coordinates = vector) ----

namespace {
/// A small von Mises data set (two conditions), as the layout test's.
Dataset small_circular_data(std::size_t trials, std::uint64_t seed, double sigma_0) {
  SimulationSpec sim;
  sim.cost = &find_cost("QuadraticCost");
  sim.perception = PerceptionModel::vonmises;
  sim.values = {{"sigma", 0.2}, {"sigma_0", sigma_0}, {"mu_0", -1.0}, {"sigma_r", 0.1}};
  sim.trials = trials;
  sim.s_lo = -pi, sim.s_hi = pi;
  sim.seed = seed;
  return simulate(sim);
}
/// log N(rho; 1, 0.1^2) - log rho (up to its constant): the vector's length given its direction.
double length_term(double x, double y) {
  const double rho = std::hypot(x, y), e = (rho - 1) / 0.1;
  return -0.5 * e * e - std::log(rho);
}
} // namespace

TEST_CASE("circular: the vector-angle node and the length's log density against finite differences") {
  // q = (x1, a, x2, y1, y2): two angles (x at 0 and 2, y at 3 and 4), a passed through; the
  // output weighted so that every entry's adjoint differs. Across the seam (x < 0, y near 0) too.
  const std::vector<d::VectorAngle> angles{{0, 3}, {2, 4}};
  const std::vector<double> w{0.7, -1.3, 0.4};
  for (const auto& q : {std::vector<double>{0.8, 0.3, -1.1, 0.5, 0.02}, std::vector<double>{-0.9, -2.0, 0.3, -0.01, 1.2}}) {
    auto r = gradcheck(
        [&](std::span<const Var> in) {
          const Var out = d::vector_angles_node(in[0], 3, angles);
          return sum(out * constant(w)) + d::vector_length_log_density(in[0], angles);
        },
        {q});
    CHECK_MESSAGE(r.ok, r.report);
    std::vector<double> inner(3);
    const double lp = d::vector_angles_values(q, 3, angles, inner);
    CHECK(inner[0] == std::atan2(q[3], q[0]));
    CHECK(inner[1] == q[1]);
    CHECK(inner[2] == std::atan2(q[4], q[2]));
    CHECK(lp == doctest::Approx(r.value - (w[0] * inner[0] + w[1] * inner[1] + w[2] * inner[2])).epsilon(1e-12));
  }
}

TEST_CASE("circular: mu_0 as a 2-D vector (log density = the angle's at atan2 plus the length's, gradient, marginal)") {
  const Dataset data = small_circular_data(30, 4, 0.5);
  for (const bool per_condition : {false, true}) {
    INFO("mu_0 per condition: " << per_condition);
    InferenceSpec spec;
    spec.cost = &find_cost("QuadraticCost");
    spec.perception = PerceptionModel::vonmises;
    spec.priors["mu_0"] = parse_prior("vonmises:0.5:2");  // a prior that is not flat: its term counts
    // Two conditions by relabelling (every other trial): mu_0.1, mu_0.2 are two vectors.
    Dataset d = data;
    if (per_condition) {
      for (std::size_t i = 0; i < d.size(); ++i) d.cond[i] = int(i % 2);
      d.cond_labels = {"a", "b"};
      spec.per_condition = {"mu_0"};
    }
    ActorModel angle(d, spec);
    spec.mu0_coordinates = Mu0Coordinates::vector;
    ActorModel vec(d, spec);
    const std::size_t n_angles = per_condition ? 2 : 1;
    REQUIRE(vec.dim() == angle.dim() + n_angles);
    CHECK(vec.n_free() == angle.n_free());
    CHECK(vec.free_names() == angle.free_names());
    CHECK(vec.output_names() == angle.output_names());
    // unconstrain puts the unit vector at the angle.
    const std::vector<double> qa0 = angle.unconstrain({{"mu_0", 2.5}, {"sigma_0", 0.4}, {"sigma_r", 0.12}, {"sigma", 0.25}});
    std::vector<double> qv = vec.unconstrain({{"mu_0", 2.5}, {"sigma_0", 0.4}, {"sigma_r", 0.12}, {"sigma", 0.25}});
    const std::size_t n = angle.n_free();
    CHECK(qv[0] == doctest::Approx(std::cos(2.5)));
    CHECK(qv[n] == doctest::Approx(std::sin(2.5)));
    // Off the unit circle: lengths 1.2 and 0.85, directions 2.9 and -2.0 (the seam between).
    const double dirs[2] = {2.9, -2.0}, lens[2] = {1.2, 0.85};
    std::vector<double> qa = qa0;
    double length_lp = 0;
    for (std::size_t a = 0; a < n_angles; ++a) {
      qv[a] = lens[a] * std::cos(dirs[a]), qv[n + a] = lens[a] * std::sin(dirs[a]);
      qa[a] = std::atan2(qv[n + a], qv[a]);  // dirs[a], to the last bit the vector model reads
      length_lp += length_term(qv[a], qv[n + a]);
    }
    std::vector<double> none, g(qv.size());
    const double lp_v = vec.log_density(qv, g), lp_a = angle.log_density(qa, none);
    REQUIRE(std::isfinite(lp_v));
    CHECK(lp_v == doctest::Approx(lp_a + length_lp).epsilon(1e-12));
    CHECK(vec.constrain(qv) == angle.constrain(qa));
    std::vector<double> ll_v(d.size()), ll_a(d.size());
    vec.trial_loglik(qv, ll_v);
    angle.trial_loglik(qa, ll_a);
    CHECK(ll_v == ll_a);
    for (std::size_t k = 0; k < qv.size(); ++k) {
      const double h = 1e-6;
      std::vector<double> u = qv, w = qv;
      u[k] += h, w[k] -= h;
      const double fd = (vec.log_density(u, none) - vec.log_density(w, none)) / (2 * h);
      INFO("coordinate " << k);
      CHECK(g[k] == doctest::Approx(fd).epsilon(1e-6).scale(1.0));
    }
  }
  // mu_0's marginal is the angle model's: integrating the vector's density over its length
  // (rho d rho, the polar area) at two directions gives the angle model's density ratio.
  InferenceSpec spec;
  spec.cost = &find_cost("QuadraticCost");
  spec.perception = PerceptionModel::vonmises;
  spec.priors["mu_0"] = parse_prior("vonmises:0.5:2");
  ActorModel angle(data, spec);
  spec.mu0_coordinates = Mu0Coordinates::vector;
  ActorModel vec(data, spec);
  std::vector<double> qa = angle.unconstrain({{"sigma_0", 0.4}, {"sigma_r", 0.12}, {"sigma", 0.25}}), none;
  std::vector<double> qv = vec.unconstrain({{"sigma_0", 0.4}, {"sigma_r", 0.12}, {"sigma", 0.25}});
  const std::size_t n = angle.n_free();
  auto radial = [&](double dir) {  // ∫ rho exp(lp_v) d rho by Simpson's rule over 1 +- 8 sd
    const int m = 800;
    const double lo = 0.2, hi = 1.8, h = (hi - lo) / m;
    double sum = 0;
    for (int i = 0; i <= m; ++i) {
      const double rho = lo + i * h;
      qv[0] = rho * std::cos(dir), qv[n] = rho * std::sin(dir);
      sum += (i == 0 || i == m ? 1 : i % 2 ? 4 : 2) * rho * std::exp(vec.log_density(qv, none));
    }
    return sum * h / 3;
  };
  const double d1 = -1.0, d2 = 2.0;
  qa[0] = d1;
  const double la1 = angle.log_density(qa, none);
  qa[0] = d2;
  const double la2 = angle.log_density(qa, none);
  CHECK(std::log(radial(d1) / radial(d2)) == doctest::Approx(la1 - la2).epsilon(1e-8));
  CHECK(radial(d1) / std::exp(la1) == doctest::Approx(std::sqrt(2 * pi) * 0.1).epsilon(1e-8));  // N's normaliser
}

TEST_CASE("circular: mu_0 coordinates other than angle are refused outside von Mises perception") {
  SimulationSpec sim;
  sim.cost = &find_cost("QuadraticCost");
  sim.values = {{"sigma", 0.2}, {"sigma_0", 0.3}, {"mu_0", 1.0}, {"sigma_r", 0.1}};
  sim.trials = 10;
  const Dataset data = simulate(sim);
  InferenceSpec spec;
  spec.cost = sim.cost;
  spec.mu0_coordinates = Mu0Coordinates::vector;
  CHECK_THROWS_AS(ActorModel(data, spec), ArgumentError);
  CHECK(parse_mu0_coordinates("vector") == Mu0Coordinates::vector);
  CHECK(std::string(to_string(parse_mu0_coordinates("angle"))) == "angle");
  CHECK_THROWS_AS(parse_mu0_coordinates("polar"), ArgumentError);
}

TEST_CASE("circular: mu_0 as an angle and as a vector give the same posterior (means within 4 combined MCSE)") {
  // A data set where mu_0 is identified (sigma_0 = 0.5, 60 trials; a weak mu_0 makes the angle's
  // fit take a minute: the case the vector is for), fitted both ways with the same seed: mu_0
  // (wrapped about 0; its posterior far from the seam at +-pi), sigma_0 and sigma_r. sigma is
  // fixed (it trades off with sigma_r), and the other sigmas have log-normal priors about their
  // truths, as in the SBC of tests/models/test_sbc_families.cpp: HalfNormal(0.25) lets sigma_r
  // reach toward 0, where the quadrature needs many nodes (seconds per fit) and the funnel diverges.
  const Dataset data = small_circular_data(60, 12, 0.5);
  InferenceSpec spec;
  spec.cost = &find_cost("QuadraticCost");
  spec.perception = PerceptionModel::vonmises;
  spec.fixed["sigma"] = 0.2;
  spec.priors["sigma_0"] = parse_prior("lognormal:" + std::to_string(std::log(0.5)) + ":0.3");
  spec.priors["sigma_r"] = parse_prior("lognormal:" + std::to_string(std::log(0.1)) + ":0.25");
  spec.log_lik = false;
  const Summary a = bactor::testing::run_posterior(data, spec, 2, 200, 400, 7);
  spec.mu0_coordinates = Mu0Coordinates::vector;
  const Summary v = bactor::testing::run_posterior(data, spec, 2, 200, 400, 7);
  bactor::testing::check_divergence_rate(a.divergences, a.draws);
  bactor::testing::check_divergence_rate(v.divergences, v.draws);
  REQUIRE(a.params.size() == v.params.size());
  for (std::size_t k = 0; k < a.params.size(); ++k) {
    const auto &pa = a.params[k], &pv = v.params[k];
    INFO(pa.name << ": angle " << pa.mean << " (sd " << pa.sd << ", mcse " << pa.mcse_mean << "), vector " << pv.mean << " (sd "
                 << pv.sd << ", mcse " << pv.mcse_mean << ")");
    CHECK(pa.name == pv.name);
    CHECK(std::abs(pa.mean - pv.mean) <= 4 * std::hypot(pa.mcse_mean, pv.mcse_mean));
    CHECK(std::abs(pa.sd - pv.sd) <= 4 * std::hypot(pa.mcse_sd, pv.mcse_sd));
    CHECK(pv.rhat < 1.05);
  }
}

// ---- asymmetric costs and costs with parameters: the shifted action (models/circular_shift.hpp) ----

namespace {
/// A formula cost (params: "NAME=PRIOR,...", or empty), not registered: the registry is global,
/// and other tests iterate over every registered cost as a cost of the log-normal actor.
CostInfo formula_cost(const char* expression, const char* params) {
  FormulaSpec f;
  f.expression = expression;
  f.params = parse_param_priors(params);
  return make_formula_cost(f);
}
/// Asymmetric circular costs of the tests: a skewed 1 - cos (two harmonics), a circular Linex
/// (all harmonics), and a fixed skew without parameters.
const CostInfo& skewed_cost() {
  static const CostInfo c = formula_cost("(1 - cos(r - s)) * (1 + c*sin(r - s))", "c=uniform:-0.9:0.9");
  return c;
}
const CostInfo& circular_linex() {
  static const CostInfo c = formula_cost("exp(c*sin(r - s)) - c*sin(r - s) - cos(r - s)", "c=uniform:-2:2");
  return c;
}
const CostInfo& fixed_skew() {
  static const CostInfo c = formula_cost("1 - cos(r - s) + 0.3*sin(r - s)", "");
  return c;
}

/// E(delta) = ∫ g(delta + x) p_e(x) dx by brute force, written from the definitions: p_e the
/// density of u - v (u ~ VM(0, kappa_r), v ~ VM(0, kappa_p)) as a 1-D trapezoid convolution on
/// K points, then a trapezoid in x.
struct BruteExpectedCost {
  const CostInfo* cost;
  const double* c;
  int K = 360;
  std::vector<double> pe;
  BruteExpectedCost(const CostInfo& cost_, const double* c_, double kp, double kr) : cost(&cost_), c(c_), pe(K) {
    const double h = 2 * pi / K;
    for (int i = 0; i < K; ++i) {
      double sum = 0;
      for (int j = 0; j < K; ++j) sum += std::exp(vonmises_logpdf(i * h + j * h, 0, kr) + vonmises_logpdf(j * h, 0, kp));
      pe[i] = sum * h;
    }
  }
  double operator()(double delta) const {
    const double h = 2 * pi / K;
    double e = 0;
    for (int i = 0; i < K; ++i) e += cost->loss(0.0, wrap_angle(delta + i * h), c) * pe[i];
    return e * h;
  }
  /// argmin over the circle: a 120-point grid, then golden section on the best cells.
  double argmin() const {
    double best = INFINITY, x0 = 0;
    for (int k = 0; k < 120; ++k) {
      const double x = -pi + 2 * pi * k / 120, e = (*this)(x);
      if (e < best) best = e, x0 = x;
    }
    double lo = x0 - 2 * pi / 120, hi = x0 + 2 * pi / 120;
    const double gr = (std::sqrt(5.0) - 1) / 2;
    for (int it = 0; it < 50; ++it) {
      const double a = hi - gr * (hi - lo), b = lo + gr * (hi - lo);
      if ((*this)(a) < (*this)(b)) hi = b;
      else lo = a;
    }
    return 0.5 * (lo + hi);
  }
};

/// d* at (kp, kr, c) by the library's series and solver.
d::CircularShift library_shift(const CostInfo& cost, const double* c, double kp, double kr) {
  d::CircularCostSeries series;
  d::circular_cost_series(cost, c, d::circular_terms(kp, kr), series);
  d::CircularShiftSolver solver(series, kr);
  return solver.solve(kp);
}

const std::vector<std::pair<double, double>> concentrations = {{25, 100}, {3, 10}, {0.5, 4}, {200, 400}, {40, 3}};
} // namespace

TEST_CASE("circular shift: A_n = I_n / I_0 against std::cyl_bessel_i") {
  for (double k : {0.05, 1.0, 7.5, 60.0, 400.0}) {
    std::vector<double> A(41);
    d::bessel_ratios(k, 40, A.data());
    const double i0 = std::cyl_bessel_i(0.0, k);
    for (int n = 0; n <= 40; ++n) {
      const double ref = std::cyl_bessel_i(double(n), k) / i0;
      INFO("kappa " << k << " n " << n);
      if (ref > 1e-250) CHECK(A[std::size_t(n)] == doctest::Approx(ref).epsilon(1e-12));
    }
    CHECK(A[1] == doctest::Approx(bessel_ratio(k)).epsilon(1e-13));
  }
}

TEST_CASE("circular shift: A_n at large kappa (the forward recurrence) against the backward one started far up") {
  // The reference: the backward recurrence started sqrt(n_max^2 + 60 kappa) terms up, the start's
  // error decayed below e^{-60} (the algorithm checked against std::cyl_bessel_i above).
  auto reference = [](double kappa, int n_max) {
    const int start = int(std::sqrt(double(n_max) * n_max + 60 * kappa)) + 10;
    std::vector<double> A(std::size_t(n_max) + 1, 1.0);
    double r = 0;
    for (int n = start; n >= 1; --n) {
      r = 1 / (2 * n / kappa + r);
      if (n <= n_max) A[std::size_t(n)] = r;
    }
    for (int n = 1; n <= n_max; ++n) A[std::size_t(n)] *= A[std::size_t(n) - 1];
    return A;
  };
  for (const auto& [kappa, n_max] : std::vector<std::pair<double, int>>{{900.0, 30}, {4e4, 200}, {4.2e6, 2049}, {1e9, 2049}, {1e11, 80}}) {
    std::vector<double> A(std::size_t(n_max) + 1);
    d::bessel_ratios(kappa, n_max, A.data());
    const auto ref = reference(kappa, n_max);
    for (int n = 0; n <= n_max; ++n) {
      INFO("kappa " << kappa << " n " << n);
      CHECK(A[std::size_t(n)] == doctest::Approx(ref[std::size_t(n)]).epsilon(1e-13));
    }
  }
  // Beyond the reference's reach (and int's, for the backward start): decreasing in n, in (0, 1],
  // A_n ~ exp(-n^2 / (2 kappa)); and the limit at kappa = inf.
  for (double kappa : {1e17, 1e300, HUGE_VAL}) {
    std::vector<double> A(2051);
    d::bessel_ratios(kappa, 2050, A.data());
    for (int n = 1; n <= 2050; ++n) {
      INFO("kappa " << kappa << " n " << n);
      CHECK(A[std::size_t(n)] <= A[std::size_t(n) - 1]);
      CHECK(A[std::size_t(n)] == doctest::Approx(std::exp(-0.5 * n * n / kappa)).epsilon(1e-12));
    }
  }
}

TEST_CASE("circular shift: the expected cost's series and d* against brute force") {
  const double c_skew = 0.6, c_linex = 1.5;
  const std::vector<std::pair<const CostInfo*, const double*>> costs = {
      {&skewed_cost(), &c_skew}, {&circular_linex(), &c_linex}, {&fixed_skew(), nullptr}};
  for (const auto& [cost, c] : costs)
    for (const auto& [kp, kr] : concentrations) {
      INFO(cost->expression << " kappa_post " << kp << " kappa_r " << kr);
      const BruteExpectedCost brute(*cost, c, kp, kr);
      d::CircularCostSeries series;
      d::circular_cost_series(*cost, c, d::circular_terms(kp, kr), series);
      d::CircularShiftSolver solver(series, kr);
      for (double delta : {-2.5, -0.3, 0.0, 0.7, 3.0})
        CHECK(solver.expected_cost(kp, delta) + series.a[0] == doctest::Approx(brute(delta)).epsilon(1e-10));
      const d::CircularShift sh = solver.solve(kp);
      CHECK(sh.d == doctest::Approx(brute.argmin()).epsilon(1e-7).scale(1.0));
      CHECK(sh.curvature > 0);
      // From a start nearby (the likelihood's continuation) the same minimum.
      const double start = sh.d + 0.2;
      CHECK(solver.solve(kp, &start).d == doctest::Approx(sh.d).epsilon(1e-12).scale(1.0));
    }
  // Symmetric costs: d* = 0 (the mu_post fast path's action) through the same solver.
  for (const char* e : {"1 - cos(r - s)", "(1 - cos(r - s)) * (1 - cos(r - s))"}) {
    const CostInfo sym = formula_cost(e, "");
    for (const auto& [kp, kr] : concentrations) CHECK(std::abs(library_shift(sym, nullptr, kp, kr).d) < 1e-12);
  }
}

TEST_CASE("circular shift: d*'s implicit derivatives against finite differences") {
  for (const CostInfo* cost : {&skewed_cost(), &circular_linex()})
    for (const auto& [kp, kr] : concentrations) {
      const double c = cost == &skewed_cost() ? -0.45 : 0.8;
      INFO(cost->expression << " kappa_post " << kp << " kappa_r " << kr);
      const d::CircularShift sh = library_shift(*cost, &c, kp, kr);
      auto fd = [&](auto f, double x) {
        const double h = 1e-5 * std::max(1.0, std::abs(x));
        return (f(x + h) - f(x - h)) / (2 * h);
      };
      CHECK(sh.d_kp == doctest::Approx(fd([&](double x) { return library_shift(*cost, &c, x, kr).d; }, kp)).epsilon(1e-6).scale(1e-3));
      CHECK(sh.d_kr == doctest::Approx(fd([&](double x) { return library_shift(*cost, &c, kp, x).d; }, kr)).epsilon(1e-6).scale(1e-3));
      CHECK(sh.d_c[0] == doctest::Approx(fd([&](double x) { return library_shift(*cost, &x, kp, kr).d; }, c)).epsilon(1e-6).scale(1e-3));
    }
}

namespace {
/// p(r | s) with the actor's action (CircularActor: its own solve per measurement) by the
/// trapezoid rule on `n` nodes over m.
double brute_force_actor_loglik(const CircularActor& actor, double s, double r, int n) {
  const CircularParams& p = actor.params();
  double sum = 0;
  for (int j = 0; j < n; ++j) {
    const double m = -pi + 2 * pi * j / n;
    sum += std::exp(vonmises_logpdf(m, s, p.kappa) + vonmises_logpdf(r, actor.action(m), p.kappa_r));
  }
  return std::log(sum * 2 * pi / n);
}
/// theta sets with the skewed cost's parameter c.
const std::vector<std::vector<double>> shifted_theta_sets = {
    {0.2, 0.5, 0.3, 0.1, 0.6}, {0.6, 0.4, 3.0, 0.3, -0.8}, {0.3, 0.1, -0.5, 0.2, 0.4}, {1.2, 1.5, 7.5, 0.8, 0.9}};
} // namespace

TEST_CASE("circular shift: each trial's likelihood (with and without lapses) against a brute-force integral") {
  const d::CircularModel model = d::CircularModel::of(skewed_cost());
  REQUIRE(model.shifted);
  Rng rng(6, 0);
  for (const auto& theta : shifted_theta_sets) {
    INFO("theta " << theta[0] << " " << theta[1] << " " << theta[2] << " " << theta[3] << " " << theta[4]);
    const CircularActor actor(skewed_cost(), theta.data());
    d::CircularTrials t;
    for (int i = 0; i < 6; ++i) {
      const double s = rng.uniform(-pi, pi);
      t.add(s, i % 3 == 2 ? rng.uniform(-pi, pi) : actor.respond(s, rng));
    }
    std::vector<double> ll(t.size()), ll_lapse(t.size());
    d::circular_row_loglik(model, theta.data(), nullptr, t, nullptr, ll.data());
    const double eps = 0.1;
    d::circular_row_loglik(model, theta.data(), &eps, t, nullptr, ll_lapse.data());
    for (std::size_t i = 0; i < t.size(); ++i) {
      const double ref = brute_force_actor_loglik(actor, t.s[i], t.r[i], 8001);
      CHECK(ll[i] == doctest::Approx(ref).epsilon(1e-9).scale(1.0));
      CHECK(ll_lapse[i] == doctest::Approx(std::log(0.9 * std::exp(ref) + 0.1 / (2 * pi))).epsilon(1e-9).scale(1.0));
    }
    // The shift moves the responses: the actor's mean error has the sign of -c (skewed cost).
    CHECK(std::sin(actor.action(0.0) - CircularActor(find_cost("QuadraticCost"), theta.data()).action(0.0)) * theta[4] < 0);
  }
}

TEST_CASE("circular shift: the likelihood node's gradient (shifted action, lapses) against finite differences") {
  const d::CircularModel model = d::CircularModel::of(skewed_cost());
  Rng rng(12, 0);
  d::CircularTrials a, b;
  for (int i = 0; i < 7; ++i) {
    const double s = rng.uniform(-pi, pi);
    a.add(s, wrap_angle(s + 0.3 * rng.normal()));
    b.add(s, rng.uniform(-pi, pi));
  }
  // V: two rows' theta (5 each), their lapse probabilities, acc.
  const std::vector<d::CircularRow> rows{{0, &a, 10}, {5, &b, 11}};
  for (std::size_t k = 0; k + 1 < shifted_theta_sets.size(); ++k) {
    std::vector<double> v = shifted_theta_sets[k];
    v.insert(v.end(), shifted_theta_sets[k + 1].begin(), shifted_theta_sets[k + 1].end());
    v.push_back(0.05);
    v.push_back(0.2);
    v.push_back(0.25);  // acc
    INFO("theta sets " << k << ", " << k + 1);
    auto r = gradcheck([&](std::span<const Var> in) { return d::circular_likelihood_node(in[0], model, rows, d::Elem{in[0], 12}); },
                       {v}, GradCheckOptions{1e-6, 1e-6, 1e-7});
    CHECK_MESSAGE(r.ok, r.report);
  }
}

TEST_CASE("circular shift: ActorModel with a formula cost's parameter and lapses (gradient against finite differences)") {
  SimulationSpec sim;
  sim.cost = &skewed_cost();
  sim.perception = PerceptionModel::vonmises;
  sim.values = {{"sigma", 0.2}, {"sigma_0", 0.6}, {"mu_0", 1.0}, {"sigma_r", 0.15}, {"c", 0.5}};
  sim.trials = 40;
  sim.s_lo = -pi, sim.s_hi = pi;
  sim.lapse = 0.1;
  sim.seed = 4;
  std::vector<std::size_t> lapsed;
  const Dataset data = simulate(sim, &lapsed);
  CHECK(!lapsed.empty());
  CHECK(lapsed.size() < 15);
  InferenceSpec spec;
  spec.cost = sim.cost;
  spec.perception = PerceptionModel::vonmises;
  spec.lapse = true;
  ActorModel model(data, spec);
  CHECK(model.free_names() == std::vector<std::string>{"mu_0", "sigma_0", "sigma_r", "sigma", "c", "lapse"});
  const std::vector<double> q =
      model.unconstrain({{"mu_0", 0.8}, {"sigma_0", 0.5}, {"sigma_r", 0.2}, {"sigma", 0.25}, {"c", 0.3}, {"lapse", 0.08}});
  std::vector<double> g(q.size()), none;
  REQUIRE(std::isfinite(model.log_density(q, g)));
  for (std::size_t k = 0; k < q.size(); ++k) {
    const double h = 1e-6;
    std::vector<double> a = q, b = q;
    a[k] += h, b[k] -= h;
    const double fd = (model.log_density(a, none) - model.log_density(b, none)) / (2 * h);
    INFO("coordinate " << model.free_names()[k]);
    CHECK(g[k] == doctest::Approx(fd).epsilon(1e-6).scale(1.0));
  }
  // mu_0 is an angle the sampler may wrap (docs/sampler.md, "Angles"): the log density and its
  // gradient are the same 3 turns away (to rounding), with the shifted action and lapses.
  REQUIRE(model.angle_coordinates() == std::vector<std::size_t>{0});
  std::vector<double> q3 = q, g3(q.size());
  q3[0] += 6 * pi;
  CHECK(model.log_density(q3, g3) == doctest::Approx(model.log_density(q, g)).epsilon(1e-12));
  for (std::size_t k = 0; k < q.size(); ++k) CHECK(g3[k] == doctest::Approx(g[k]).epsilon(1e-9).scale(1.0));
}

TEST_CASE("circular: ActorModel names its free mu_0 coordinates angles (per condition; not as vectors, fixed, or off the circle)") {
  Dataset d = small_circular_data(20, 4, 0.5);
  for (std::size_t i = 0; i < d.size(); ++i) d.cond[i] = int(i % 2);
  d.cond_labels = {"a", "b"};
  InferenceSpec spec;
  spec.cost = &find_cost("QuadraticCost");
  spec.perception = PerceptionModel::vonmises;
  CHECK(ActorModel(d, spec).angle_coordinates() == std::vector<std::size_t>{0});
  spec.per_condition = {"mu_0", "sigma"};
  const ActorModel two(d, spec);
  REQUIRE(two.free_names().at(0) == "mu_0.1");
  REQUIRE(two.free_names().at(1) == "mu_0.2");
  CHECK(two.angle_coordinates() == std::vector<std::size_t>{0, 1});
  spec.fixed["mu_0.1"] = 0.3;
  CHECK(ActorModel(d, spec).angle_coordinates() == std::vector<std::size_t>{0});  // mu_0.2 is now the first free
  spec.fixed.clear();
  spec.mu0_coordinates = Mu0Coordinates::vector;
  CHECK(ActorModel(d, spec).angle_coordinates().empty());
  SimulationSpec sim;
  sim.cost = &find_cost("QuadraticCost");
  sim.values = {{"sigma", 0.2}, {"sigma_0", 0.3}, {"mu_0", 1.0}, {"sigma_r", 0.1}};
  sim.trials = 10;
  InferenceSpec lognormal;
  lognormal.cost = sim.cost;
  CHECK(ActorModel(simulate(sim), lognormal).angle_coordinates().empty());
}

namespace {
/// The wrapped difference y = u - v of the test's concentrations as a noise of the shared shift
/// solver (models/shift_solve.hpp): its density from the Fourier series on [-pi, pi] (the loss is
/// periodic, so the integral over one period is E(d)); eta = (kappa_post, kappa_r).
struct CircularDifferenceNoise {
  static constexpr std::size_t n_params = 2;
  std::vector<double> rho, drho_p, drho_r;
  CircularDifferenceNoise(double kp, double kr, int N) : rho(std::size_t(N) + 1), drho_p(rho.size()), drho_r(rho.size()) {
    std::vector<double> ap(std::size_t(N) + 2), ar(std::size_t(N) + 2);
    d::bessel_ratios(kp, N + 1, ap.data());
    d::bessel_ratios(kr, N + 1, ar.data());
    for (std::size_t n = 1; n <= std::size_t(N); ++n) {
      rho[n] = ap[n] * ar[n];
      drho_p[n] = (0.5 * (ap[n - 1] + ap[n + 1]) - ap[1] * ap[n]) * ar[n];
      drho_r[n] = ap[n] * (0.5 * (ar[n - 1] + ar[n + 1]) - ar[1] * ar[n]);
    }
  }
  double lo() const { return -pi; }
  double hi() const { return pi; }
  void density(std::size_t m, const double* y, double* p, double* p_y, double* const* p_eta) const {
    for (std::size_t i = 0; i < m; ++i) {
      double v = 1, v_y = 0, e0 = 0, e1 = 0;
      for (std::size_t n = 1; n < rho.size(); ++n) {
        const double c = std::cos(double(n) * y[i]), s = std::sin(double(n) * y[i]);
        v += 2 * rho[n] * c;
        v_y -= 2 * double(n) * rho[n] * s;
        e0 += 2 * drho_p[n] * c;
        e1 += 2 * drho_r[n] * c;
      }
      p[i] = v / (2 * pi), p_y[i] = v_y / (2 * pi);
      if (p_eta) p_eta[0][i] = e0 / (2 * pi), p_eta[1][i] = e1 / (2 * pi);
    }
  }
};
} // namespace

TEST_CASE("circular shift: d* and its derivatives agree with the shared shift solver's quadrature") {
  // Concentrations where its fixed rule over [-pi, pi] (16 panels of 8 Gauss-Legendre nodes)
  // resolves the density of u - v; the brute-force test above covers sharper ones.
  for (const CostInfo* cost : {&skewed_cost(), &circular_linex()})
    for (const auto& [kp, kr] : std::vector<std::pair<double, double>>{{3, 10}, {0.5, 4}, {25, 100}}) {
      const double c = cost == &skewed_cost() ? 0.7 : -1.2;
      INFO(cost->expression << " kappa_post " << kp << " kappa_r " << kr);
      const d::CircularShift mine = library_shift(*cost, &c, kp, kr);
      const CircularDifferenceNoise noise(kp, kr, d::circular_terms(kp, kr));
      const d::CostOfDifference l{cost, &c};
      const d::ShiftSolution ref = d::solve_shift(noise, l, std::span<const double>{}, 0.0, [] {
        d::ShiftOptions o;
        o.panels = 24;
        o.max_widening = 1;  // the circle: the density's support is the whole window
        return o;
      }());
      REQUIRE(ref.ok);
      CHECK(wrap_angle(ref.d) == doctest::Approx(mine.d).epsilon(1e-8).scale(1.0));
      CHECK(ref.d_noise[0] == doctest::Approx(mine.d_kp).epsilon(1e-6).scale(1e-4));
      CHECK(ref.d_noise[1] == doctest::Approx(mine.d_kr).epsilon(1e-6).scale(1e-4));
      CHECK(ref.d_param[0] == doctest::Approx(mine.d_c[0]).epsilon(1e-6).scale(1e-4));
    }
}

namespace {
/// NUTS on data simulated from the skewed cost (c = 0.6) with lapses (0.1), sigma and sigma_r
/// fixed (they trade off, and a chain wandering to small sigma_r needs thousands of nodes; the
/// recovery test above frees sigma_r): every free parameter within 4 posterior sd of its truth,
/// R-hat, divergences <= 1% of the draws.
void check_shift_and_lapse_recovery(std::size_t trials, int chains, int warmup, int draws) {
  SimulationSpec sim;
  sim.cost = &skewed_cost();
  sim.perception = PerceptionModel::vonmises;
  sim.values = {{"sigma", 0.2}, {"sigma_0", 0.5}, {"mu_0", -1.0}, {"sigma_r", 0.15}, {"c", 0.6}};
  sim.trials = trials;
  sim.s_lo = -pi, sim.s_hi = pi;
  sim.lapse = 0.1;
  sim.seed = 13;
  const Dataset data = simulate(sim);
  InferenceSpec spec;
  spec.cost = sim.cost;
  spec.perception = PerceptionModel::vonmises;
  spec.lapse = true;
  spec.fixed["sigma"] = 0.2;
  spec.fixed["sigma_r"] = 0.15;
  const Summary s = bactor::testing::run_posterior(data, spec, chains, warmup, draws, 4);
  bactor::testing::check_divergence_rate(s.divergences, s.draws);
  std::map<std::string, double> truth = sim.values;
  truth["lapse"] = sim.lapse;
  for (const auto& p : s.params) {
    INFO(p.name << " mean " << p.mean << " sd " << p.sd << " truth " << truth.at(p.name) << " rhat " << p.rhat);
    CHECK(std::abs(p.mean - truth.at(p.name)) <= 4 * p.sd);
    CHECK(p.rhat < 1.05);
  }
}
} // namespace

TEST_CASE("circular shift: recovery of a cost parameter and the lapse rate (fast variant)") {
  check_shift_and_lapse_recovery(150, 2, 150, 150);
}

TEST_CASE("circular shift: recovery of a cost parameter and the lapse rate (long)" * doctest::skip()) {
  check_shift_and_lapse_recovery(1000, 4, 1000, 1000);
}

TEST_CASE("circular shift: kappa_post -> 0 (kappa = kappa_0, m opposite mu_0) has the first harmonic's minimum as its limit") {
  const double c = 0.7;
  d::CircularCostSeries series;
  d::circular_cost_series(skewed_cost(), &c, d::circular_terms(10, 30), series);
  d::CircularShiftSolver solver(series, 30);
  const double limit = solver.solve(0.0).d;
  CHECK(std::isfinite(limit));
  CHECK(solver.solve(1e-6).d == doctest::Approx(limit).epsilon(1e-5).scale(1.0));
  // The likelihood at kappa = kappa_0 (a node sits at kappa_post = 0) is finite and continuous.
  const d::CircularModel model = d::CircularModel::of(skewed_cost());
  d::CircularTrials t;
  t.add(0.4, 0.1);
  t.add(-2.0, -1.5);
  const std::vector<double> at{0.5, 0.5, 0.3, 0.2, c}, near{0.5, 0.5 + 1e-7, 0.3, 0.2, c};
  const double l0 = d::circular_row_loglik(model, at.data(), nullptr, t, nullptr, nullptr);
  CHECK(std::isfinite(l0));
  CHECK(d::circular_row_loglik(model, near.data(), nullptr, t, nullptr, nullptr) == doctest::Approx(l0).epsilon(1e-5));
}
