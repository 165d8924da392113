// SPDX-License-Identifier: MIT
// Gaussian perception with the exact action (models/exact_linear.hpp; docs/families.md, "Gaussian
// perception (linear space)"): costs that are not functions of r - s. The expected cost and the
// action against analytic references and a brute-force minimiser; the solver's implicit
// derivatives and the interpolated head's against finite differences of direct solves; the
// likelihood's gradient against finite differences; each trial's density against a fine
// integral over m; QuadraticCostQuadraticEffort's exact action against its closed form beta mu_post;
// simulate with such a cost.
#include <doctest/doctest.h>

#include "inference_test_util.hpp"
#include "linear_test_util.hpp"
#include "models/exact_action.hpp"
#include "models/exact_linear.hpp"
#include "models/perception_linear.hpp"

#include <bactor/engine/errors.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/formula.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/simulate.hpp>

#include <cmath>
#include <map>
#include <numbers>
#include <string>
#include <tuple>
#include <vector>

using namespace bactor;
using namespace bactor::testing;  // linear_test_util.hpp: gauss, linear_data, formula_cost, normal_pdf

namespace {

const GroundTruthOptions quad{20, 20, 8.5, 1e-12};

double Phi(double z) { return 0.5 * std::erfc(-z / std::numbers::sqrt2); }

/// The root of an increasing function by bisection on [lo, hi] to 1e-14.
template <class F>
double bisect(F f, double lo, double hi) {
  while (hi - lo > 1e-14 * (1 + std::abs(lo))) {
    const double mid = 0.5 * (lo + hi);
    (f(mid) > 0 ? hi : lo) = mid;
  }
  return 0.5 * (lo + hi);
}

/// argmin_a of E g(r - s) + E h(r) for a cost g(r - s) + h(r) (s ~ N(mu, sp^2), r ~ N(a, sa^2), so
/// r - s ~ N(a - mu, tau^2)) by golden-section search, each expectation by a 40,001-point trapezoid
/// rule on a fixed grid with a node at the kink 0: independent of the solver's rotation,
/// Gauss rules and Newton steps.
template <class G, class H>
double brute_action(G g, H h, double mu, double sp, double sa, double lo, double hi) {
  const double tau = std::hypot(sp, sa), xr = std::max(std::abs(lo), std::abs(hi)) + std::abs(mu) + 12 * tau;
  const int n = 40000;
  const double hx = 2 * xr / n;
  auto e = [&](double a) {
    double sum = 0;
    for (int i = 0; i <= n; ++i) {
      const double x = -xr + hx * i, wt = (i == 0 || i == n ? 0.5 : 1.0) * hx;
      sum += wt * (normal_pdf(x, a - mu, tau) * g(x) + normal_pdf(x, a, sa) * h(x));
    }
    return sum;
  };
  const double gr = (std::sqrt(5.0) - 1) / 2;
  double a = lo, b = hi, c = b - gr * (b - a), d = a + gr * (b - a), fc = e(c), fd = e(d);
  while (b - a > 1e-9) {
    if (fc < fd) b = d, d = c, fd = fc, c = b - gr * (b - a), fc = e(c);
    else a = c, c = d, fc = fd, d = a + gr * (b - a), fd = e(d);
  }
  return 0.5 * (a + b);
}

/// theta laid out as theta_names(cost, motor) under gaussian perception.
std::vector<double> theta_of(const CostInfo& cost, const MotorSpec& motor, std::map<std::string, double> v) {
  return theta_from_values(cost, motor, v, PerceptionModel::gaussian);
}

InferenceSpec exact_spec(const CostInfo& cost, const MotorSpec& motor, bool exact = true) {
  InferenceSpec spec;
  spec.cost = &cost;
  spec.motor = motor;
  spec.perception = PerceptionModel::gaussian;
  spec.exact_action = exact;
  return spec;
}

} // namespace

TEST_CASE("perception linear exact: the expected cost and the action against analytic references and a brute-force minimiser") {
  const double sp = 0.4, sa = 0.3, tau = std::hypot(sp, sa);
  const CostInfo& abs_effort = find_cost("AbsoluteCostQuadraticEffort");
  const CostInfo& effort = find_cost("QuadraticCostQuadraticEffort");
  // Not separable: E = (a - mu)^2 + sp^2 + sa^2 + k (a^2 + sa^2)(mu^2 + sp^2), a* = mu / (1 + k (mu^2 + sp^2)).
  const CostInfo& product = formula_cost("(r - s)^2 + k*(r*s)^2", "k=uniform:0.05:0.5");
  const CostInfo& power = formula_cost("abs(r - s)^1.5 + k*r^2", "k=uniform:0.05:0.5");
  CHECK(power.kink_at_s_equals_r);
  for (double mu : {-1.5, 0.3, 2.0}) {
    INFO("mu_post " << mu);
    // AbsoluteCostQuadraticEffort: E|d| for d ~ N(m0, tau^2) is tau sqrt(2/pi) e^{-m0^2/(2 tau^2)} + m0 (2 Phi(m0/tau) - 1).
    const double beta = 0.8;
    for (double a : {-1.0, 0.2, 0.9}) {
      const double m0 = a - mu;
      const double f_ref = beta * (tau * std::sqrt(2 / std::numbers::pi) * std::exp(-0.5 * m0 * m0 / (tau * tau)) +
                                   m0 * (2 * Phi(m0 / tau) - 1)) +
                           (1 - beta) * (a * a + sa * sa);
      const double g_ref = beta * (2 * Phi(m0 / tau) - 1) + 2 * (1 - beta) * a;
      double g = 0;
      CHECK(detail::expected_cost_linear(abs_effort, mu, sp, sa, &beta, a, &g, quad) == doctest::Approx(f_ref).epsilon(1e-10));
      CHECK(g == doctest::Approx(g_ref).epsilon(1e-10).scale(1));
    }
    auto solve = [&](const CostInfo& cost, double p, double y0 = 0) {
      return detail::exact_log_action(cost, mu, sp, MotorNoise{MotorModel::gaussian, 0.0, sa}, &p, quad, y0, 0,
                                      PerceptionModel::gaussian);
    };
    const double abs_ref = bisect([&](double a) { return beta * (2 * Phi((a - mu) / tau) - 1) + 2 * (1 - beta) * a; }, -5, 5);
    CHECK(solve(abs_effort, beta).y == doctest::Approx(abs_ref).epsilon(1e-10).scale(1));
    CHECK(solve(effort, 0.7, mu).y == doctest::Approx(0.7 * mu).epsilon(1e-10).scale(1));
    const double k = 0.2;
    CHECK(solve(product, k, mu).y == doctest::Approx(mu / (1 + k * (mu * mu + sp * sp))).epsilon(1e-10).scale(1));
    const double brute = brute_action([](double d) { return std::pow(std::abs(d), 1.5); }, [&](double r) { return k * r * r; },
                                      mu, sp, sa, -4, 4);
    CHECK(solve(power, k, mu).y == doctest::Approx(brute).epsilon(1e-7).scale(1));  // measured <= 2e-8 (the trapezoid's error at the kink)
    // The implicit derivatives against central differences of the solve, for each cost.
    for (const auto& [cost, p] : {std::pair{&abs_effort, beta}, std::pair{&product, k}, std::pair{&power, k}}) {
      INFO(cost->name);
      const MotorNoise mn{MotorModel::gaussian, 0.0, sa};
      const auto at = [&](double m, double s, double a_sd, double q) {
        return detail::exact_log_action(*cost, m, s, MotorNoise{MotorModel::gaussian, 0.0, a_sd}, &q, quad, mu, 0,
                                        PerceptionModel::gaussian)
            .y;
      };
      const auto r = detail::exact_log_action(*cost, mu, sp, mn, &p, quad, mu, 0, PerceptionModel::gaussian);
      const double h = 1e-5;
      CHECK(r.d_mu == doctest::Approx((at(mu + h, sp, sa, p) - at(mu - h, sp, sa, p)) / (2 * h)).epsilon(1e-6).scale(1));
      CHECK(r.d_sp == doctest::Approx((at(mu, sp + h, sa, p) - at(mu, sp - h, sa, p)) / (2 * h)).epsilon(1e-6).scale(1));
      CHECK(r.d_sa == doctest::Approx((at(mu, sp, sa + h, p) - at(mu, sp, sa - h, p)) / (2 * h)).epsilon(1e-6).scale(1));
      CHECK(r.d_p[0] == doctest::Approx((at(mu, sp, sa, p + h) - at(mu, sp, sa, p - h)) / (2 * h)).epsilon(1e-6).scale(1));
    }
  }
}

TEST_CASE("perception linear exact: the interpolated head against direct solves; its derivatives against finite differences") {
  const CostInfo& cost = find_cost("AbsoluteCostQuadraticEffort");
  const std::vector<double> theta =
      theta_of(cost, gauss, {{"sigma", 0.5}, {"sigma_0", 1.2}, {"mu_0", -0.4}, {"sigma_a", 0.25}, {"beta", 0.75}});
  const std::span<const double> th(theta.data(), action_theta_size(cost, gauss));
  const detail::ExactActionOptions opt;
  const detail::ExactHead head(cost, th, -4, 5, opt, MotorModel::gaussian, PerceptionModel::gaussian);
  double da = 0, dp[detail::ExactHead::n_params];
  for (double m : {-3.5, -1.0, 0.0, 0.7, 2.2, 4.8}) {
    INFO("m " << m);
    const double a = head.eval(m, da, dp);
    CHECK(a == doctest::Approx(detail::linear_exact_action(cost, th, m)).epsilon(1e-7).scale(1));
    const double h = 1e-5;
    CHECK(da == doctest::Approx((detail::linear_exact_action(cost, th, m + h) - detail::linear_exact_action(cost, th, m - h)) /
                                (2 * h))
                    .epsilon(1e-5)
                    .scale(1));
    for (std::size_t k = 0; k < th.size(); ++k) {
      if (k == theta_index::sigma_r) continue;  // unused under gaussian motor noise
      std::vector<double> tp(th.begin(), th.end()), tm = tp;
      tp[k] += h;
      tm[k] -= h;
      const double fd = (detail::linear_exact_action(cost, tp, m) - detail::linear_exact_action(cost, tm, m)) / (2 * h);
      INFO("theta " << k);
      CHECK(dp[k] == doctest::Approx(fd).epsilon(1e-5).scale(1));
    }
  }
}

TEST_CASE("perception linear exact: QuadraticCostQuadraticEffort's exact action gives the closed form's likelihood") {
  const CostInfo& effort = find_cost("QuadraticCostQuadraticEffort");
  const std::map<std::string, double> v{{"mu_0", 0.5}, {"sigma_0", 1.1}, {"sigma", 0.45}, {"sigma_a", 0.3}, {"beta", 0.8},
                                        {"offset", -0.3}};
  const Dataset d = linear_data(effort, gauss_offset, v, 30, 2, -2, 3);
  ActorModel exact(d, exact_spec(effort, gauss_offset)), closed(d, exact_spec(effort, gauss_offset, false));
  const auto q = exact.unconstrain(v);
  std::vector<double> le(d.size()), lc(d.size());
  exact.trial_loglik(q, le);
  closed.trial_loglik(q, lc);
  for (std::size_t i = 0; i < d.size(); ++i) CHECK(le[i] == doctest::Approx(lc[i]).epsilon(1e-7));
  std::vector<double> ge(exact.dim()), gc(closed.dim());
  CHECK(exact.log_density(q, ge) == doctest::Approx(closed.log_density(q, gc)).epsilon(1e-8));
  for (std::size_t k = 0; k < ge.size(); ++k) CHECK(ge[k] == doctest::Approx(gc[k]).epsilon(1e-5).scale(1));
}

TEST_CASE("perception linear exact: the log density's gradient against finite differences (offset, lapses)") {
  const CostInfo& abs_effort = find_cost("AbsoluteCostQuadraticEffort");
  const CostInfo& product = formula_cost("(r - s)^2 + k*(r*s)^2", "k=uniform:0.05:0.5");
  for (const auto& [cost, pname, pval, lapse] : {std::tuple{&abs_effort, "beta", 0.75, true}, std::tuple{&product, "k", 0.2, false}}) {
    INFO(cost->name << (lapse ? " with lapses" : ""));
    std::map<std::string, double> v{{"mu_0", 0.3}, {"sigma_0", 1.2}, {"sigma", 0.5}, {"sigma_a", 0.3}, {"offset", 0.2}};
    v[pname] = pval;
    const Dataset d = linear_data(*cost, gauss_offset, v, 20, 5, -2, 3, lapse ? 0.1 : 0.0);
    InferenceSpec spec = exact_spec(*cost, gauss_offset);
    spec.lapse = lapse;
    ActorModel model(d, spec);
    Rng rng(3, 0);
    std::vector<double> q(model.dim());
    for (auto& x : q) x = 0.4 * rng.normal();
    // The exact action comes from iterative solves and an interpolant along m, whose rounding
    // the finite differences (h = 1e-6) amplify: up to 1.2e-5 measured (-Dnative=false; below
    // 1e-5 on AVX2), so the bound leaves room for other rounding.
    CHECK(testing::gradient_error(model, q) < 1e-4);
  }
}

TEST_CASE("perception linear exact: each trial's density against a fine integral over m") {
  const CostInfo& cost = find_cost("AbsoluteCostQuadraticEffort");
  const std::map<std::string, double> v{{"mu_0", 0.3}, {"sigma_0", 1.0}, {"sigma", 0.4}, {"sigma_a", 0.2}, {"beta", 0.7},
                                        {"offset", 0.1}};
  const Dataset d = linear_data(cost, gauss_offset, v, 4, 8, -2, 3);
  ActorModel model(d, exact_spec(cost, gauss_offset, true));
  std::vector<double> ll(d.size());
  model.trial_loglik(model.unconstrain(v), ll);
  // The fit's unit S: a(m) in data units is S a_S(m / S), theta in units of S (beta is unit-free,
  // but the effort term is not homogeneous: the actor plans in units of S).
  const double S = model.scale();
  std::map<std::string, double> scaled = v;
  for (auto& [name, x] : scaled)
    if (name != "beta") x /= S;
  const std::vector<double> theta = theta_of(cost, gauss_offset, scaled);
  const std::span<const double> th(theta.data(), action_theta_size(cost, gauss_offset));
  for (std::size_t i = 0; i < d.size(); ++i) {
    // p(r | s) = ∫ N(m; s, sigma^2) N(r; offset + a(m), sigma_a^2) dm: a trapezoid rule over
    // s +- 7 sigma (spectrally accurate for this smooth, decaying integrand), a(m) by direct solves.
    const int n = 281;
    const double sg = v.at("sigma"), lo = d.s[i] - 7 * sg, step = 14 * sg / (n - 1);
    double sum = 0;
    for (int k = 0; k < n; ++k) {
      const double m = lo + step * k, a = S * detail::linear_exact_action(cost, th, m / S);
      sum += (k == 0 || k == n - 1 ? 0.5 : 1.0) * normal_pdf(m, d.s[i], sg) * normal_pdf(d.r[i], v.at("offset") + a, v.at("sigma_a"));
    }
    INFO("trial " << i << ": s = " << d.s[i] << ", r = " << d.r[i]);
    CHECK(ll[i] == doctest::Approx(std::log(sum * step)).epsilon(1e-6));
  }
}

TEST_CASE("perception linear exact: simulate and the refusals") {
  const CostInfo& cost = find_cost("AbsoluteCostQuadraticEffort");
  std::map<std::string, double> v{{"mu_0", 0.3}, {"sigma_0", 1.0}, {"sigma", 0.4}, {"sigma_a", 0.2}, {"beta", 0.7}};
  SimulationSpec sim;
  sim.cost = &cost;
  sim.motor = gauss;
  sim.perception = PerceptionModel::gaussian;
  sim.values = v;
  CHECK(simulation_action_source(sim) == "numerical");
  sim.cost = &find_cost("QuadraticCostQuadraticEffort");
  CHECK(simulation_action_source(sim) == "closed-form");
  // The responses are the exact action plus motor noise: their mean at m = s is near a*(s).
  const Dataset d = linear_data(cost, gauss, v, 400, 3, -2, 3);
  const std::vector<double> theta = theta_of(cost, gauss, v);
  double resid = 0;
  for (std::size_t i = 0; i < d.size(); ++i) resid += d.r[i] - detail::linear_exact_action(cost, theta, d.s[i]);
  // r - a*(s) has mean ~0 up to the curvature of a* over m's noise; sd <= sqrt(sigma_a^2 + sigma^2).
  CHECK(std::abs(resid / double(d.size())) < 4 * std::hypot(0.2, 0.4) / std::sqrt(400.0));
  // Without the exact action, a cost that is not a function of r - s is refused with a pointer to it.
  CHECK_THROWS_WITH(ActorModel(d, exact_spec(cost, gauss, false)), doctest::Contains("--exact-action"));
  // Two cost parameters: simulate solves the action per trial (a value-only solve, any number of
  // parameters), the fit takes up to 4 (test_exact_action.cpp: 5 are refused).
  const CostInfo& two = formula_cost("(r - s)^2 + k*r^2 + j*s^2*r^2", "k=uniform:0.05:0.5,j=uniform:0.05:0.5");
  sim.cost = &two;
  sim.values = {{"mu_0", 0.3}, {"sigma_0", 1.0}, {"sigma", 0.4}, {"sigma_a", 0.2}, {"k", 0.2}, {"j", 0.1}};
  sim.trials = 5;
  const Dataset d2 = simulate(sim);
  CHECK(d2.size() == 5);
  CHECK_NOTHROW(ActorModel(d2, exact_spec(two, gauss)));
  InferenceSpec sampled = exact_spec(cost, gauss);
  sampled.latent = LatentMode::sampled;
  CHECK_THROWS_WITH(ActorModel(d, sampled), doctest::Contains("marginal latent mode"));
}

TEST_CASE("perception linear exact: two cost parameters, the action, its partials and the likelihood's gradient") {
  // beta (s - r)^2 + k r^2: E = beta ((a - mu)^2 + sp^2 + sa^2) + k (a^2 + sa^2), a* = beta mu / (beta + k).
  const CostInfo& cost = formula_cost("beta*(s-r)^2 + k*r^2", "beta=uniform:0.5:1,k=lognormal:-1:1");
  const double beta = 0.8, k = 0.3, sp = 0.4, sa = 0.3;
  const std::vector<double> p{beta, k};
  const auto at = [&](double mu, const std::vector<double>& q) {
    return detail::exact_log_action(cost, mu, sp, MotorNoise{MotorModel::gaussian, 0.0, sa}, q.data(), quad, mu, 0,
                                    PerceptionModel::gaussian);
  };
  for (double mu : {-1.5, 0.3, 2.0}) {
    INFO("mu_post " << mu);
    const auto r = at(mu, p);
    const double b = beta + k;
    CHECK(r.y == doctest::Approx(beta * mu / b).epsilon(1e-10).scale(1));
    CHECK(r.d_mu == doctest::Approx(beta / b).epsilon(1e-8));
    CHECK(r.d_p[0] == doctest::Approx(mu * k / (b * b)).epsilon(1e-6).scale(1));
    CHECK(r.d_p[1] == doctest::Approx(-mu * beta / (b * b)).epsilon(1e-6).scale(1));
    for (std::size_t j = 0; j < 2; ++j) {
      const double h = 1e-5;
      auto pp = p, pm = p;
      pp[j] += h;
      pm[j] -= h;
      INFO("parameter " << j);
      CHECK(r.d_p[j] == doctest::Approx((at(mu, pp).y - at(mu, pm).y) / (2 * h)).epsilon(1e-6).scale(1));
    }
  }
  // The model's gradient, both parameters free, with an offset.
  const std::map<std::string, double> v{{"mu_0", 0.3}, {"sigma_0", 1.2}, {"sigma", 0.5}, {"sigma_a", 0.3},
                                        {"offset", 0.2}, {"beta", beta}, {"k", k}};
  const Dataset d = linear_data(cost, gauss_offset, v, 12, 5, -2, 3);
  ActorModel model(d, exact_spec(cost, gauss_offset));
  Rng rng(3, 0);
  std::vector<double> q(model.dim());
  for (auto& x : q) x = 0.4 * rng.normal();
  const double err = testing::gradient_error(model, q);
  MESSAGE("largest relative gradient error " << err);
  CHECK(err < 1e-4);  // the bound of the one-parameter case above
}

TEST_CASE("perception linear exact: NUTS recovers AbsoluteCostQuadraticEffort's beta (long, by hand)" * doctest::skip()) {
  // 409 s on two threads at load 8 (30-60 ms per gradient): run with -tc="perception linear exact: NUTS*" --no-skip.
  // Measured: beta 0.6997 +- 0.0089, sigma_a 0.205 +- 0.026, mu_0 0.98 +- 0.55, sigma_0 1.30 +- 0.42, R-hat <= 1.008.
  const CostInfo& cost = find_cost("AbsoluteCostQuadraticEffort");
  const std::map<std::string, double> truth{{"mu_0", 0.3}, {"sigma_0", 1.0}, {"sigma", 0.4}, {"sigma_a", 0.2}, {"beta", 0.7}};
  const Dataset d = linear_data(cost, gauss, truth, 100, 6, -2, 3);
  InferenceSpec spec = exact_spec(cost, gauss);
  spec.scale = 1;  // the data's own units, as simulate plans (the effort term is not homogeneous)
  spec.fixed["sigma"] = 0.4;
  const Summary sum = fit_summary(d, spec, 7, 200, 200, 2);
  for (const auto& p : sum.params) MESSAGE(p.name << ": " << p.mean << " +- " << p.sd << " (R-hat " << p.rhat << ")");
  check_recovered(sum, truth);
}
