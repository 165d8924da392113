// SPDX-License-Identifier: MIT
// Circular (von Mises) perception and motor noise (models/circular.hpp, docs/families.md):
//   - log I0 e^{-kappa} and I1/I0 against std::cyl_bessel_i on a grid (to kappa = 700, where
//     I0 is still finite), and log_i0e's derivative against finite differences;
//   - the posterior's kappa_post / mu_post against a directly normalised grid posterior;
//   - the von Mises sampler's mean resultant length against A(kappa) (Monte Carlo SE);
//   - each trial's likelihood against a brute-force 20,001-node integral over m, and its
//     normalisation over r;
//   - the likelihood node's gradient against finite differences (two rows, acc);
//   - which costs are accepted (symmetric, periodic, no parameters) and which refused.
#include "models/circular.hpp"

#include <bactor/engine/errors.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/formula.hpp>
#include "tests/engine/gradcheck.hpp"

#include <doctest/doctest.h>

#include <cmath>
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
    const double total = d::circular_row_loglik(theta.data(), t, nullptr, ll.data());
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
    d::circular_row_loglik(theta.data(), over_r, nullptr, lr.data());
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
          return d::circular_likelihood_node(in[0], rows, d::Elem{in[0], 8});
        },
        {v}, GradCheckOptions{1e-6, 1e-6, 1e-7});
    CHECK_MESSAGE(r.ok, r.report);
  }
  // Outside the support: -inf, no NaN gradient.
  std::vector<double> bad{-0.2, 0.5, 0.3, 0.1};
  std::vector<double> g(4, 0.0);
  CHECK(d::circular_row_loglik(bad.data(), a, g.data(), nullptr) == -INFINITY);
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

TEST_CASE("circular: which costs have the action mu_post") {
  CHECK_NOTHROW(check_circular_cost(find_cost("QuadraticCost")));
  CHECK_NOTHROW(check_circular_cost(find_cost("AbsoluteCost")));
  auto refused = [](const CostInfo& c, const std::string& part) {
    try {
      check_circular_cost(c);
      FAIL("accepted " << c.name);
    } catch (const ArgumentError& e) {
      CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos, e.what());
    }
  };
  refused(find_cost("QuadraticCostQuadraticEffort"), "parameters");
  refused(find_cost("Linex"), "parameters");
  FormulaSpec f;
  f.expression = "1 - cos(r - s)";
  CHECK_NOTHROW(check_circular_cost(make_formula_cost(f)));
  f.expression = "(1 - cos(r - s)) * (1 - cos(r - s))";
  CHECK_NOTHROW(check_circular_cost(make_formula_cost(f)));
  f.expression = "(r - s) * (r - s)";
  refused(make_formula_cost(f), "not a function of the wrapped difference");
  f.expression = "1 - cos(r - s) + 0.2 * sin(r - s)";
  refused(make_formula_cost(f), "not symmetric");
  f.expression = "cos(r - s)";
  refused(make_formula_cost(f), "decreases");
}
