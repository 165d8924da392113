// SPDX-License-Identifier: MIT
// Gaussian perception in linear space (docs/families.md, "Perception"; models/perception_linear.hpp):
// the affine optimal action of every cost that has one, checked against a brute-force minimiser
// of the expected cost; its Jacobian and AsymmetricQuadratic's implicit derivative against finite
// differences; the likelihood's gradient against finite differences; each trial's value against a
// brute-force integral over m and, for QuadraticCost, the closed-form marginal
// r | s ~ N(w s + (1 - w) mu_0 + delta, w^2 sigma^2 + sigma_a^2); units; recovery by NUTS;
// the data reader's signs and the refusals.
#include <doctest/doctest.h>

#include "inference_test_util.hpp"
#include "linear_test_util.hpp"
#include "models/perception_linear.hpp"
#include "models/shift_solve.hpp"
#include "tests/stat_criteria.hpp"

#include <bactor/engine/errors.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/data.hpp>
#include <bactor/models/formula.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>

#include <cmath>
#include <iomanip>
#include <map>
#include <memory>
#include <numbers>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

using namespace bactor;
using detail::LinearAction;
using testing::check_recovered;
using testing::fit_summary;
using testing::formula_cost;
using testing::gauss;
using testing::gauss_offset;
using testing::linear_data;
using testing::normal_pdf;

namespace {


/// theta laid out as theta_names(cost, motor): sigma, sigma_0, mu_0, (sigma_r), cost params, sigma_a[, offset].
std::vector<double> theta_of(const CostInfo& cost, const MotorSpec& motor, double param, double offset = 0.0) {
  std::map<std::string, double> v{{"sigma", 0.6}, {"sigma_0", 1.3}, {"mu_0", -0.7}, {"sigma_a", 0.45}};
  for (const auto& p : cost.params) v[p.name] = param;
  if (motor.offset) v["offset"] = offset;
  return theta_from_values(cost, motor, v, PerceptionModel::gaussian);
}

/// E over s ~ N(mu_post, sigma_post^2) and r ~ N(a, sigma_a^2) of the cost, as E over d = r - s ~
/// N(a - mu_post, tau^2) for costs of d alone (s at mu_post + ... does not matter for them); for
/// QuadraticCostQuadraticEffort as a 2-D sum. Trapezoid rule over +-10 sd.
double expected_cost(const CostInfo& cost, const double* params, double a, double mu_post, double sd_post, double sa) {
  const int n = 801;
  double sum = 0;
  if (cost.name == "QuadraticCostQuadraticEffort") {
    for (int i = 0; i < n; ++i) {
      const double e = -10 + 20.0 * i / (n - 1), s = mu_post + sd_post * e;
      for (int j = 0; j < n; ++j) {
        const double u = -10 + 20.0 * j / (n - 1), r = a + sa * u;
        sum += normal_pdf(e, 0, 1) * normal_pdf(u, 0, 1) * cost.loss(s, r, params);
      }
    }
    return sum * (20.0 / (n - 1)) * (20.0 / (n - 1));
  }
  const double tau = std::sqrt(sd_post * sd_post + sa * sa), m0 = a - mu_post;
  for (int i = 0; i < n; ++i) {
    const double z = -10 + 20.0 * i / (n - 1), d = m0 + tau * z;
    sum += normal_pdf(z, 0, 1) * cost.loss(mu_post, mu_post + d, params);
  }
  return sum * 20.0 / (n - 1);
}

Dataset linear_data(const char* cost, const MotorSpec& motor, std::map<std::string, double> values, std::size_t trials,
                    std::uint64_t seed, double s_lo = -3, double s_hi = 5) {
  return testing::linear_data(find_cost(cost), motor, std::move(values), trials, seed, s_lo, s_hi);
}

InferenceSpec linear_spec(const CostInfo& cost, const MotorSpec& motor) {
  InferenceSpec spec;
  spec.cost = &cost;
  spec.motor = motor;
  spec.perception = PerceptionModel::gaussian;
  return spec;
}
InferenceSpec linear_spec(const char* cost, const MotorSpec& motor) { return linear_spec(find_cost(cost), motor); }

/// argmin_d of E l(d + tau z) = ∫ l(x) N(x; d, tau^2) dx by golden-section search, the integral
/// by a 20,001-point trapezoid rule on a fixed grid of x with a node at the kink x = 0 (so E(d)
/// is smooth in d and second-order accurate); independent of the solver's Gauss-Legendre panels,
/// its integration by parts and its Newton iteration.
double brute_shift(const CostInfo& cost, const double* p, double tau, double lo, double hi) {
  const double xr = std::max(std::abs(lo), std::abs(hi)) + 12 * tau, hx = 2 * xr / 20000;
  std::vector<double> l(20001);
  for (int i = 0; i <= 20000; ++i) l[std::size_t(i)] = cost.loss(0.0, -xr + hx * i, p);
  auto e = [&](double d) {
    double sum = 0;
    for (int i = 0; i <= 20000; ++i)
      sum += (i == 0 || i == 20000 ? 0.5 : 1.0) * normal_pdf(-xr + hx * i, d, tau) * l[std::size_t(i)];
    return sum;
  };
  const double g = (std::sqrt(5.0) - 1) / 2;
  double a = lo, b = hi, c = b - g * (b - a), d = a + g * (b - a), fc = e(c), fd = e(d);
  while (b - a > 1e-9 * tau) {
    if (fc < fd) {
      b = d, d = c, fd = fc, c = b - g * (b - a), fc = e(c);
    } else {
      a = c, c = d, fc = fd, d = a + g * (b - a), fd = e(d);
    }
  }
  return 0.5 * (a + b);
}

detail::ShiftSolution solve_formula(const CostInfo& cost, const double* p, double tau) {
  const detail::CostOfDifference c{&cost, p};
  const double kink = 0;
  return detail::solve_shift(detail::GaussianShiftNoise{tau}, c, std::span<const double>(&kink, c.kink() ? 1 : 0));
}

} // namespace

TEST_CASE("shift: the Gauss-Legendre rule integrates degree 15 exactly") {
  const auto& gl = detail::gauss_legendre8();
  double s14 = 0, s15 = 0, s0 = 0;
  for (int i = 0; i < gl.n; ++i) {
    s0 += gl.w[i];
    s14 += gl.w[i] * std::pow(gl.x[i], 14);
    s15 += gl.w[i] * std::pow(gl.x[i], 14) * (gl.x[i] + 1);
  }
  CHECK(s0 == doctest::Approx(2.0).epsilon(1e-15));
  CHECK(s14 == doctest::Approx(2.0 / 15).epsilon(1e-14));
  CHECK(s15 == doctest::Approx(2.0 / 15).epsilon(1e-14));  // x^15 + x^14: the x^15 part exactly 0
}

TEST_CASE("shift: the solver's d* against a brute-force minimiser, the closed forms, and its implicit derivatives") {
  struct Case {
    const char* formula;
    const char* priors;
    double param;
  };
  const Case cases[] = {
      {"abs(r - s)^1.5", "", 0},                                               // symmetric: d* = 0
      {"exp(c*(r - s)) - c*(r - s) - 1", "c=uniform:0.1:2", 0.8},              // Linex: d* = -c tau^2 / 2
      {"2*if(r >= s, 1 - alpha, alpha)*(r - s)^2", "alpha=uniform:0.1:0.9", 0.3},  // tau t*(alpha)
      {"if(r >= s, q*(r - s), (1 - q)*(s - r))", "q=uniform:0.1:0.9", 0.3},    // pinball: tau Phi^-1(1 - q)
      {"abs(r - s)^1.5*if(r >= s, g, 1)", "g=uniform:0.5:3", 2.0},          // asymmetric power
  };
  for (const Case& c : cases) {
    const CostInfo& cost = formula_cost(c.formula, c.priors);
    const double* p = &c.param;
    for (double tau : {0.05, 0.4, 1.0, 2.5}) {
      INFO(std::string(c.formula) << ", tau " << tau);
      const detail::ShiftSolution s = solve_formula(cost, p, tau);
      REQUIRE(s.ok);
      CHECK(s.evaluations < 30);
      const double brute = brute_shift(cost, p, tau, -6 * tau - 2, 6 * tau + 2);
      CHECK(s.d == doctest::Approx(brute).epsilon(1e-6).scale(tau));
      const std::size_t k = std::size_t(&c - cases);
      if (k == 0) CHECK(std::abs(s.d) < 1e-12 * tau);
      // The closed forms (the quadrature's error with 16 panels: ~1e-9 of tau on kinked costs).
      if (k == 1) CHECK(s.d == doctest::Approx(-0.5 * c.param * tau * tau).epsilon(1e-9));
      if (k == 2) CHECK(s.d == doctest::Approx(tau * detail::asymmetric_shift(c.param)).epsilon(1e-8));
      if (k == 3) CHECK(0.5 * std::erfc(s.d / (tau * std::sqrt(2.0))) == doctest::Approx(c.param).epsilon(1e-8));
      if (k == 4) CHECK(s.d_noise[0] == doctest::Approx(s.d / tau).epsilon(1e-7));  // homogeneous: d* = tau t*
      // The implicit derivatives against central differences of the solve itself.
      const double h = 1e-5 * tau;
      const double fd_tau = (solve_formula(cost, p, tau + h).d - solve_formula(cost, p, tau - h).d) / (2 * h);
      CHECK(s.d_noise[0] == doctest::Approx(fd_tau).epsilon(1e-6).scale(1));
      if (!cost.params.empty()) {
        const double hp = 1e-5, pp = c.param + hp, pm = c.param - hp;
        const double fd_p = (solve_formula(cost, &pp, tau).d - solve_formula(cost, &pm, tau).d) / (2 * hp);
        CHECK(s.d_param[0] == doctest::Approx(fd_p).epsilon(1e-6).scale(tau));
      }
    }
  }
  // Asymmetric quadratic's reference derivative in alpha, tau dt*/dalpha.
  const CostInfo& aq = formula_cost("2*if(r >= s, 1 - alpha, alpha)*(r - s)^2", "alpha=uniform:0.1:0.9");
  const double alpha = 0.7;
  double dt = 0;
  detail::asymmetric_shift(alpha, &dt);
  CHECK(solve_formula(aq, &alpha, 0.6).d_param[0] == doctest::Approx(0.6 * dt).epsilon(1e-6));
}

TEST_CASE("shift: the table of d*(tau) of a cost without parameters against the solver, in any call order") {
  // An asymmetric kinked cost that is not homogeneous (d*/tau moves with tau), and Linex with c
  // fixed (d* = -c tau^2 / 2; beyond c tau ~ 20 the solver's window cannot follow: no table there).
  const CostInfo& kinked = formula_cost("if(r >= s, (r - s)^2, 3*abs(r - s)^1.5)");
  const CostInfo& linex = formula_cost("exp(0.7*(r - s)) - 0.7*(r - s) - 1");
  const double none = 0;
  for (const CostInfo* cost : {&kinked, &linex}) {
    INFO(cost->expression);
    const detail::CostOfDifference c{cost, nullptr};
    const double kink = 0;
    const detail::ShiftTable table([&](double) { return c; }, std::span<const double>(&kink, c.kink() ? 1 : 0));
    CHECK(table.pieces_ok() >= (cost == &kinked ? 14 : 9));
    // 97 taus from 1e-3.5 to 1e3.5 (off the table's nodes, and beyond its range at both ends).
    std::vector<double> taus, d_fwd, s_fwd;
    for (int i = 0; i <= 96; ++i) taus.push_back(std::exp(-8.0 + 16.0 * i / 96 + 1e-3));
    int used = 0;
    for (double tau : taus) {
      double d = NAN, d_tau = NAN, d_p = NAN;
      const bool ok = table.eval(tau, 0.0, d, d_tau, d_p);
      d_fwd.push_back(d), s_fwd.push_back(d_tau);
      if (!ok) {
        CHECK((tau < 1e-3 || tau > 2.0));  // only off the range, or Linex's large tau
        continue;
      }
      ++used;
      const detail::ShiftSolution sol = solve_formula(*cost, &none, tau);
      REQUIRE(sol.ok);
      INFO("tau " << tau);
      CHECK(std::abs(d - sol.d) <= detail::ShiftTable::check_d * tau);
      CHECK(std::abs(d_tau - sol.d_noise[0]) <= detail::ShiftTable::check_slope * (1 + std::abs(sol.d_noise[0])));
      if (cost == &linex) CHECK(d == doctest::Approx(-0.35 * tau * tau).epsilon(1e-9));
    }
    CHECK(used >= (cost == &kinked ? 80 : 55));
    // Reverse order: the same numbers (a function of tau alone).
    for (std::size_t i = taus.size(); i-- > 0;) {
      double d = NAN, d_tau = NAN, d_p = NAN;
      table.eval(taus[i], 0.0, d, d_tau, d_p);
      CHECK((std::isnan(d_fwd[i]) ? std::isnan(d) : d == d_fwd[i]));
      CHECK((std::isnan(s_fwd[i]) ? std::isnan(d_tau) : d_tau == s_fwd[i]));
    }
  }
  // One parameter of a uniform prior: d*(tau, alpha) of the asymmetric quadratic over alpha's
  // range (tau t*(alpha) exactly, t* by asymmetric_shift), its derivatives against the solver's,
  // and nothing outside the range.
  const CostInfo& asym = formula_cost("2*if(r >= s, 1 - alpha, alpha)*(r - s)^2", "alpha=uniform:0.1:0.9");
  auto alpha_at = std::make_shared<double>(0.0);
  const double kink = 0;
  const detail::ShiftTable table(
      [&](double a) {
        *alpha_at = a;
        return detail::CostOfDifference{&asym, alpha_at.get()};
      },
      std::span<const double>(&kink, 1), true, 0.1, 0.9);
  CHECK(table.pieces_ok() == (detail::ShiftTable::u_max - detail::ShiftTable::u_min) * detail::ShiftTable::p_pieces);
  for (int i = 0; i <= 30; ++i)
    for (double alpha : {0.1, 0.137, 0.5, 0.71, 0.9}) {
      const double tau = std::exp(-6.9 + 13.8 * i / 30);
      double d = NAN, d_tau = NAN, d_p = NAN;
      REQUIRE(table.eval(tau, alpha, d, d_tau, d_p));
      INFO("tau " << tau << ", alpha " << alpha);
      const detail::ShiftSolution sol = solve_formula(asym, &alpha, tau);
      CHECK(std::abs(d - sol.d) <= detail::ShiftTable::check_d * tau);
      CHECK(d == doctest::Approx(tau * detail::asymmetric_shift(alpha)).epsilon(1e-8));
      CHECK(std::abs(d_tau - sol.d_noise[0]) <= detail::ShiftTable::check_slope * (1 + std::abs(sol.d_noise[0])));
      CHECK(std::abs(d_p - sol.d_param[0]) <= detail::ShiftTable::check_slope * (1 + std::abs(sol.d_param[0])));
    }
  double d, d_tau, d_p;
  CHECK_FALSE(table.eval(0.5, 0.05, d, d_tau, d_p));
  CHECK_FALSE(table.eval(0.5, 0.95, d, d_tau, d_p));
  CHECK_FALSE(table.eval(1e-4, 0.5, d, d_tau, d_p));

  // Through the head (which reads the table): log_k = (1 - w) mu_0 + d*(tau) as the solver has it,
  // and the Jacobian in sigma_a against a central difference.
  const std::vector<double> theta = theta_of(kinked, gauss, 0.0);
  const std::size_t n = theta.size(), sa_at = theta_size(kinked);
  std::vector<double> jac(2 * n);
  const PowerHead h = detail::linear_closed_form_head(kinked, LinearAction::shift, theta, sa_at, jac.data());
  const double s2 = theta[0] * theta[0], s02 = theta[1] * theta[1], sa = theta[sa_at];
  const double tau = std::sqrt(s2 * s02 / (s2 + s02) + sa * sa);
  CHECK(h.log_k == doctest::Approx((1 - h.w) * theta[2] + solve_formula(kinked, &none, tau).d).epsilon(1e-10));
  std::vector<double> tp = theta, tm = theta;
  tp[sa_at] += 1e-6, tm[sa_at] -= 1e-6;
  const double fd = (detail::linear_closed_form_head(kinked, LinearAction::shift, tp, sa_at).log_k -
                     detail::linear_closed_form_head(kinked, LinearAction::shift, tm, sa_at).log_k) / 2e-6;
  CHECK(jac[sa_at] == doctest::Approx(fd).epsilon(1e-6));
}

TEST_CASE("shift: a cost whose mass leaves the window widens it (Linex with c tau up to 7)") {
  // exp(c x) moves the integrand's mass c tau sd away from d*: beyond the +-10 tau window for
  // c tau > 5 unless it widens.
  const CostInfo& linex = formula_cost("exp(c*(r - s)) - c*(r - s) - 1", "c=uniform:0.1:2");
  for (const auto& [c, tau] : {std::pair{1.8, 2.5}, std::pair{2.0, 3.5}}) {
    const detail::ShiftSolution s = solve_formula(linex, &c, tau);
    INFO("c " << c << ", tau " << tau);
    REQUIRE(s.ok);
    CHECK(s.d == doctest::Approx(-0.5 * c * tau * tau).epsilon(1e-9));
    CHECK(s.d_noise[0] == doctest::Approx(-c * tau).epsilon(1e-7));
    CHECK(s.d_param[0] == doctest::Approx(-0.5 * tau * tau).epsilon(1e-6));
  }
}

TEST_CASE("shift: a cost without a finite minimiser fails the solve") {
  const double none = 0;
  CHECK_FALSE(solve_formula(formula_cost("-abs(r - s)"), &none, 0.5).ok);         // decreasing in |d|
  CHECK_FALSE(solve_formula(formula_cost("r - s"), &none, 0.5).ok);               // no minimum
  CHECK_FALSE(solve_formula(formula_cost("exp(-(r - s)^2)"), &none, 0.5).ok);     // a maximum at 0
}

TEST_CASE("shift: formula costs under gaussian perception: the head against the closed forms and its Jacobian against FD") {
  // Formulas that are the built-ins' twins up to a factor (argmin unchanged): the same head.
  const CostInfo& linex = formula_cost("exp(c*(r - s)) - c*(r - s) - 1", "c=uniform:0.1:2");
  const CostInfo& asym = formula_cost("2*if(r >= s, 1 - alpha, alpha)*(r - s)^2", "alpha=uniform:0.1:0.9");
  // Two parameters, kinked, asymmetric.
  const CostInfo& two = formula_cost("abs(r - s)^p*if(r >= s, g, 1)", "p=uniform:1.2:3,g=uniform:0.5:3");
  CHECK(detail::linear_action_of(linex) == LinearAction::shift);
  CHECK(detail::linear_action_of(two) == LinearAction::shift);
  for (const MotorSpec& motor : {gauss, gauss_offset}) {
    for (const auto& [twin, builtin, param] : {std::tuple{&linex, "Linex", 0.8}, std::tuple{&asym, "AsymmetricQuadratic", 0.3}}) {
      const std::vector<double> theta = theta_of(*twin, motor, param, -0.3);
      const std::size_t n = theta.size(), sa_at = theta_size(*twin);
      std::vector<double> jf(2 * n), jb(2 * n);
      const PowerHead hf = detail::linear_closed_form_head(*twin, LinearAction::shift, theta, sa_at, jf.data());
      const CostInfo& b = find_cost(builtin);
      const PowerHead hb = detail::linear_closed_form_head(b, detail::linear_action_of(b), theta, sa_at, jb.data());
      INFO(builtin << " motor " << motor.name());
      CHECK(hf.log_k == doctest::Approx(hb.log_k).epsilon(1e-8));
      CHECK(hf.w == hb.w);
      for (std::size_t k = 0; k < 2 * n; ++k) CHECK(jf[k] == doctest::Approx(jb[k]).epsilon(1e-6).scale(1));
    }
    std::vector<double> theta = theta_of(two, motor, 1.6, -0.3);
    theta[theta_index::first_cost_param] = 1.6;
    theta[theta_index::first_cost_param + 1] = 2.2;
    const std::size_t n = theta.size(), sa_at = theta_size(two);
    std::vector<double> jac(2 * n);
    const PowerHead h = detail::linear_closed_form_head(two, LinearAction::shift, theta, sa_at, jac.data());
    CHECK(h.log_k != doctest::Approx(theta[2] * (1 - h.w)).epsilon(1e-3));  // the shift is not 0
    for (std::size_t k = 0; k < n; ++k) {
      if (k == theta_index::sigma_r) continue;
      std::vector<double> tp = theta, tm = theta;
      const double hh = 1e-6 * std::max(1.0, std::abs(theta[k]));
      tp[k] += hh;
      tm[k] -= hh;
      const PowerHead hp = detail::linear_closed_form_head(two, LinearAction::shift, tp, sa_at);
      const PowerHead hm = detail::linear_closed_form_head(two, LinearAction::shift, tm, sa_at);
      INFO("two-parameter formula, motor " << motor.name() << ", theta[" << k << "]");
      CHECK(jac[k] == doctest::Approx((hp.log_k - hm.log_k) / (2 * hh)).epsilon(1e-6).scale(1));
      CHECK(jac[n + k] == doctest::Approx((hp.w - hm.w) / (2 * hh)).epsilon(1e-6).scale(1));
    }
  }
}

TEST_CASE("shift: formula costs under gaussian perception: gradient against FD, each trial against an integral over m") {
  const CostInfo& two = formula_cost("abs(r - s)^p*if(r >= s, g, 1)", "p=uniform:1.2:3,g=uniform:0.5:3");
  std::map<std::string, double> v{{"mu_0", 0.4}, {"sigma_0", 1.5}, {"sigma", 0.5}, {"sigma_a", 0.3}, {"p", 1.7}, {"g", 2.0},
                                  {"offset", -0.2}};
  const Dataset d = linear_data(two, gauss_offset, v, 30, 4, -3, 4);
  ActorModel model(d, linear_spec(two, gauss_offset));
  for (std::uint64_t seed : {1u, 2u}) {
    Rng rng(seed, 0);
    std::vector<double> q(model.dim());
    for (auto& x : q) x = 0.4 * rng.normal();
    CHECK(testing::gradient_error(model, q) < 1e-5);
  }
  // Each trial: p(r | s) = ∫ N(m; s, sigma^2) N(r; offset + a(m), sigma_a^2) dm, a(m) in data units
  // from the head in units of S (the cost parameters are read in units of S).
  const auto q = model.unconstrain(v);
  std::vector<double> ll(d.size());
  model.trial_loglik(q, ll);
  const double S = model.scale();
  std::map<std::string, double> scaled = v;
  for (const char* name : {"mu_0", "sigma_0", "sigma", "sigma_a", "offset"}) scaled[name] /= S;
  const std::vector<double> theta = theta_from_values(two, gauss_offset, scaled, PerceptionModel::gaussian);
  const PowerHead hs = detail::linear_closed_form_head(two, LinearAction::shift, theta, theta_size(two));
  for (std::size_t i = 0; i < d.size(); ++i) {
    double sum = 0;
    const int n = 8001;
    const double sg = v["sigma"], lo = d.s[i] - 10 * sg, step = 20 * sg / (n - 1);
    for (int k = 0; k < n; ++k) {
      const double m = lo + step * k, a = S * (hs.log_k + hs.w * m / S);
      sum += (k == 0 || k == n - 1 ? 0.5 : 1.0) * normal_pdf(m, d.s[i], sg) * normal_pdf(d.r[i], v["offset"] + a, v["sigma_a"]);
    }
    CHECK(ll[i] == doctest::Approx(std::log(sum * step)).epsilon(1e-8));
  }
}

TEST_CASE("shift: refusals under gaussian perception (not a function of r - s, no unique finite minimiser)") {
  auto refused = [](const std::string& f, const std::string& priors = "") {
    try {
      detail::linear_action_of(formula_cost(f, priors));
    } catch (const ArgumentError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(refused("(r - s)^2 + 0.1*r^2").find("not a function of r - s alone") != std::string::npos);
  CHECK(refused("-abs(r - s)").find("no finite minimum") != std::string::npos);
  CHECK(refused("r - s").find("no finite minimum") != std::string::npos);
  // Bounded with a tilt: a local minimum near 0 at small tau, but unbounded below as d -> -inf.
  CHECK(refused("1 - exp(-(r - s)^2/2) + 0.05*(r - s)").find("gaussian: cost") != std::string::npos);
  // At the prior's end k = 3 the cost decreases in |d| (k - 2 < 0 multiplies it).
  CHECK(refused("(k - 2)*(r - s)^2", "k=uniform:1:3").find("k = ") != std::string::npos);
  CHECK(refused("abs(r - s)^1.5") == "");
  CHECK(refused("1 - exp(-(r - s)^2/(2*g^2))", "g=uniform:0.5:2") == "");
}

TEST_CASE("shift: NUTS recovers a formula cost's parameter under gaussian perception") {
  // Pinball cost: d* = tau Phi^-1(1 - q). sigma and mu_0 fixed: the slope gives sigma_0, the
  // residual variance sigma_a and the intercept the shift, so q.
  const CostInfo& pin = formula_cost("if(r >= s, q*(r - s), (1 - q)*(s - r))", "q=uniform:0.1:0.9");
  const std::map<std::string, double> truth{{"mu_0", 0.5}, {"sigma_0", 1.5}, {"sigma", 0.6}, {"sigma_a", 0.4}, {"q", 0.25}};
  const Dataset d = linear_data(pin, gauss, truth, 300, 17, -3, 3);
  InferenceSpec spec = linear_spec(pin, gauss);
  spec.scale = 1;  // q is then read in the data's units (it is unit-free anyway for this homogeneous cost)
  spec.fixed["sigma"] = 0.6;
  spec.fixed["mu_0"] = 0.5;
  const Summary sum = fit_summary(d, spec, 5);
  CHECK(sum.params.size() == 3);  // sigma_0, q, sigma_a
  check_recovered(sum, truth);
  for (const auto& p : sum.params)
    if (p.name == "q") CHECK(p.sd < 0.08);  // informative, not the prior (sd 0.23)
}

TEST_CASE("perception linear lapses: gradient against FD, each trial against the mixture, the default range") {
  // The default contaminant range: the stimuli's range widened by half its width each side,
  // stretched to hold the responses with a quarter of the width beyond.
  const auto r0 = detail::linear_lapse_range({-2.0, 1.0, 2.0});
  CHECK(r0.first == doctest::Approx(-4.0));
  CHECK(r0.second == doctest::Approx(4.0));
  const std::vector<double> resp{-5.0, 0.0};
  const auto r1 = detail::linear_lapse_range({-2.0, 2.0}, &resp);
  CHECK(r1.first == doctest::Approx(-6.0));
  CHECK(r1.second == doctest::Approx(4.0));
  CHECK(detail::linear_lapse_range({3.0}).first == doctest::Approx(2.0));
  const CostInfo& two = formula_cost("abs(r - s)^p*if(r >= s, g, 1)", "p=uniform:1.2:3,g=uniform:0.5:3");
  for (const CostInfo* cost : {&find_cost("QuadraticCost"), &find_cost("Linex"), &two}) {
    for (const MotorSpec& motor : {gauss, gauss_offset}) {
      std::map<std::string, double> v{{"mu_0", 0.8}, {"sigma_0", 1.5}, {"sigma", 0.5}, {"sigma_a", 0.3}};
      if (motor.offset) v["offset"] = -0.4;
      for (const auto& p : cost->params) v[p.name] = p.name == "c" ? 0.5 : p.name == "p" ? 1.6 : 2.0;
      const Dataset d = linear_data(*cost, motor, v, 40, 11, -3, 5, 0.1);
      InferenceSpec spec = linear_spec(*cost, motor);
      spec.lapse = true;
      ActorModel model(d, spec);
      INFO(cost->name << " motor " << motor.name());
      for (std::uint64_t seed : {1u, 2u}) {
        Rng rng(seed, 0);
        std::vector<double> q(model.dim());
        for (auto& x : q) x = 0.5 * rng.normal();
        CHECK(testing::gradient_error(model, q) < 1e-5);
      }
      if (cost->name != "QuadraticCost") continue;
      // Each trial: log((1 - eps) N(r; w s + (1 - w) mu_0 + offset, w^2 sigma^2 + sigma_a^2) + eps / (hi - lo)).
      v["lapse"] = 0.07;
      const auto q = model.unconstrain(v);
      std::vector<double> ll(d.size());
      model.trial_loglik(q, ll);
      const auto [lo, hi] = lapse_range(d, spec);
      CHECK(lo < *std::min_element(d.r.begin(), d.r.end()));
      const double w = 1.5 * 1.5 / (1.5 * 1.5 + 0.25), off = motor.offset ? -0.4 : 0.0, sd = std::sqrt(w * w * 0.25 + 0.09);
      for (std::size_t i = 0; i < d.size(); ++i)
        CHECK(ll[i] == doctest::Approx(std::log(0.93 * normal_pdf(d.r[i], w * d.s[i] + (1 - w) * 0.8 + off, sd) + 0.07 / (hi - lo)))
                           .epsilon(1e-10));
    }
  }
}

TEST_CASE("perception linear lapses: NUTS recovers the lapse rate") {
  const std::map<std::string, double> truth{{"mu_0", 0.5}, {"sigma_0", 1.5}, {"sigma", 0.6}, {"sigma_a", 0.3}};
  std::vector<std::size_t> lapsed;
  const Dataset d = linear_data(find_cost("QuadraticCost"), gauss, truth, 400, 9, -3, 3, 0.1, &lapsed);
  InferenceSpec spec = linear_spec("QuadraticCost", gauss);
  spec.lapse = true;
  spec.fixed["sigma"] = 0.6;
  const Summary sum = fit_summary(d, spec, 4);
  std::map<std::string, double> with_lapse = truth;
  with_lapse["lapse"] = double(lapsed.size()) / double(d.size());  // the realised rate
  check_recovered(sum, with_lapse);
  for (const auto& p : sum.params)
    if (p.name == "lapse") CHECK(p.sd < 0.03);  // informative (the prior beta(2, 50) has mean 0.04)
}

TEST_CASE("perception linear: AsymmetricQuadratic's shift minimises the expected cost; its derivative by the IFT") {
  for (double alpha : {0.1, 0.3, 0.5, 0.72, 0.9}) {
    double dt = 0;
    const double t = detail::asymmetric_shift(alpha, &dt);
    // The expected cost over d ~ N(t, 1), by the trapezoid rule, is least at t.
    auto cost = [&](double m0) {
      double sum = 0;
      for (int i = 0; i < 4001; ++i) {
        const double z = -12 + 24.0 * i / 4000, d = m0 + z;
        sum += normal_pdf(z, 0, 1) * 2 * std::abs(alpha - (d >= 0 ? 1.0 : 0.0)) * d * d;
      }
      return sum * 24.0 / 4000;
    };
    INFO("alpha = " << alpha << ", t* = " << t);
    CHECK(cost(t) < cost(t - 1e-3));
    CHECK(cost(t) < cost(t + 1e-3));
    const double h = 1e-6;
    const double fd = (detail::asymmetric_shift(alpha + h) - detail::asymmetric_shift(alpha - h)) / (2 * h);
    CHECK(dt == doctest::Approx(fd).epsilon(1e-6));
  }
  CHECK(detail::asymmetric_shift(0.5) == doctest::Approx(0.0).epsilon(1e-14));
}

TEST_CASE("perception linear: every affine action minimises its expected cost; Jacobian against finite differences") {
  struct Case {
    const char* cost;
    double param;
  };
  for (const Case& c : {Case{"QuadraticCost", 0}, Case{"AbsoluteCost", 0}, Case{"InvertedGaussian", 1.7}, Case{"Linex", 0.8},
                        Case{"AsymmetricQuadratic", 0.25}, Case{"QuadraticCostQuadraticEffort", 0.8}}) {
    const CostInfo& cost = find_cost(c.cost);
    const LinearAction kind = detail::linear_action_of(cost);
    for (const MotorSpec& motor : {gauss, gauss_offset}) {
      const std::vector<double> theta = theta_of(cost, motor, c.param, -0.3);
      const std::size_t n = theta.size(), sa_at = theta_size(cost);
      std::vector<double> jac(2 * n);
      const PowerHead h = detail::linear_closed_form_head(cost, kind, theta, sa_at, jac.data());
      INFO(c.cost << " motor " << motor.name());
      // The action at m minimises the expected cost over the linear posterior and the motor noise.
      const double s = theta[0], s0 = theta[1], mu0 = theta[2], sa = theta[sa_at];
      const double w = s0 * s0 / (s0 * s0 + s * s), sd_post = std::sqrt(w) * s;
      for (double m : {-2.0, 0.4, 3.0}) {
        const double a = h.log_k + h.w * m, mu_post = w * m + (1 - w) * mu0;
        const double* p = theta.data() + theta_index::first_cost_param;
        const double e0 = expected_cost(cost, p, a, mu_post, sd_post, sa);
        CHECK(e0 <= expected_cost(cost, p, a - 0.02, mu_post, sd_post, sa));
        CHECK(e0 <= expected_cost(cost, p, a + 0.02, mu_post, sd_post, sa));
      }
      for (std::size_t k = 0; k < n; ++k) {
        if (k == theta_index::sigma_r) continue;  // unused slot of the gaussian motor model
        std::vector<double> tp = theta, tm = theta;
        const double hh = 1e-6 * std::max(1.0, std::abs(theta[k]));
        tp[k] += hh;
        tm[k] -= hh;
        const PowerHead hp = detail::linear_closed_form_head(cost, kind, tp, sa_at), hm = detail::linear_closed_form_head(cost, kind, tm, sa_at);
        INFO("theta[" << k << "]");
        CHECK(jac[k] == doctest::Approx((hp.log_k - hm.log_k) / (2 * hh)).epsilon(1e-6).scale(1));
        CHECK(jac[n + k] == doctest::Approx((hp.w - hm.w) / (2 * hh)).epsilon(1e-6).scale(1));
      }
    }
  }
  CHECK_THROWS_AS(detail::linear_action_of(find_cost("AbsoluteCostQuadraticEffort")), ArgumentError);
}

TEST_CASE("perception linear: the log density's gradient against finite differences (every parameter free)") {
  for (const char* cost : {"QuadraticCost", "Linex", "AsymmetricQuadratic", "QuadraticCostQuadraticEffort"}) {
    for (const MotorSpec& motor : {gauss, gauss_offset}) {
      std::map<std::string, double> v{{"mu_0", 0.8}, {"sigma_0", 1.5}, {"sigma", 0.5}, {"sigma_a", 0.3}};
      if (motor.offset) v["offset"] = -0.4;
      for (const auto& p : find_cost(cost).params) v[p.name] = p.name == "c" ? 0.5 : p.name == "beta" ? 0.8 : 0.3;
      const Dataset d = linear_data(cost, motor, v, 40, 11);
      ActorModel model(d, linear_spec(cost, motor));
      INFO(cost << " motor " << motor.name());
      for (std::uint64_t seed : {1u, 2u, 3u}) {
        Rng rng(seed, 0);
        std::vector<double> q(model.dim());
        for (auto& x : q) x = 0.5 * rng.normal();
        CHECK(testing::gradient_error(model, q) < 1e-5);
      }
    }
  }
}

TEST_CASE("perception linear: each trial's density against the closed-form marginal and a brute-force integral over m") {
  const std::map<std::string, double> truth{{"mu_0", -0.5}, {"sigma_0", 1.2}, {"sigma", 0.4}, {"sigma_a", 0.25}, {"offset", 0.3}};
  const Dataset d = linear_data("QuadraticCost", gauss_offset, truth, 25, 5);
  CHECK(*std::min_element(d.s.begin(), d.s.end()) < 0);
  CHECK(*std::min_element(d.r.begin(), d.r.end()) < 0);
  for (const char* cost : {"QuadraticCost", "Linex"}) {
    const CostInfo& info = find_cost(cost);
    std::map<std::string, double> values = truth;
    if (info.name == "Linex") values["c"] = 0.7;
    ActorModel model(d, linear_spec(cost, gauss_offset));
    const auto q = model.unconstrain(values);
    std::vector<double> ll(d.size());
    model.trial_loglik(q, ll);
    // The fit works in units of S (the cost parameter c too): a(m) = S a_S(m / S).
    const double S = model.scale();
    std::map<std::string, double> scaled = values;
    for (auto& [name, v] : scaled)
      if (name != "c") v /= S;
    const std::vector<double> theta = theta_from_values(info, gauss_offset, scaled, PerceptionModel::gaussian);
    const PowerHead hs = detail::linear_closed_form_head(info, detail::linear_action_of(info), theta, theta_size(info));
    const PowerHead h{S * hs.log_k, hs.w};
    const double s = values["sigma"], s0 = values["sigma_0"], mu0 = values["mu_0"], sa = values["sigma_a"], off = values["offset"];
    const double w = s0 * s0 / (s0 * s0 + s * s);
    for (std::size_t i = 0; i < d.size(); ++i) {
      INFO(cost << " trial " << i << ": s = " << d.s[i] << ", r = " << d.r[i]);
      // Brute force: p(r | s) = ∫ N(m; s, sigma^2) N(r; offset + a(m), sigma_a^2) dm.
      double sum = 0;
      const int n = 8001;
      const double lo = d.s[i] - 10 * s, step = 20 * s / (n - 1);
      for (int k = 0; k < n; ++k) {
        const double m = lo + step * k;
        sum += (k == 0 || k == n - 1 ? 0.5 : 1.0) * normal_pdf(m, d.s[i], s) * normal_pdf(d.r[i], off + h.log_k + h.w * m, sa);
      }
      CHECK(ll[i] == doctest::Approx(std::log(sum * step)).epsilon(1e-8));
      if (info.name == "QuadraticCost") {  // DESIGN.md §9's closed-form reference
        const double mean = w * d.s[i] + (1 - w) * mu0 + off, sd = std::sqrt(w * w * s * s + sa * sa);
        CHECK(ll[i] == doctest::Approx(std::log(normal_pdf(d.r[i], mean, sd))).epsilon(1e-10));
      }
    }
  }
}

TEST_CASE("perception linear: the same data in two units give the same log density up to a constant (all scaled)") {
  const std::map<std::string, double> truth{{"mu_0", 0.6}, {"sigma_0", 1.4}, {"sigma", 0.5}, {"sigma_a", 0.3}, {"offset", -0.2}};
  const Dataset d = linear_data("Linex", gauss_offset, [&] {
    auto v = truth;
    v["c"] = 0.5;
    return v;
  }(), 50, 8);
  Dataset k = d;
  for (auto& v : k.s) v *= 1000;
  for (auto& v : k.r) v *= 1000;
  ActorModel a(d, linear_spec("Linex", gauss_offset)), b(k, linear_spec("Linex", gauss_offset));
  CHECK(b.scale() == doctest::Approx(1000 * a.scale()).epsilon(1e-12));
  CHECK(a.scale() == doctest::Approx(rms_stimulus(d)));
  // At the same point in each one's units (everything but c in data units; c in units of S):
  // equal log densities (the unconstrained coordinates are unit-free) and gradients.
  std::map<std::string, double> va{{"mu_0", 0.6}, {"sigma_0", 1.4}, {"sigma", 0.5}, {"sigma_a", 0.3}, {"offset", -0.2}, {"c", 0.5}};
  std::map<std::string, double> vb = va;
  for (const char* n : {"mu_0", "sigma_0", "sigma", "sigma_a", "offset"}) vb[n] *= 1000;
  const auto qa = a.unconstrain(va), qb = b.unconstrain(vb);
  for (std::size_t i = 0; i < qa.size(); ++i) CHECK(qb[i] == doctest::Approx(qa[i]).epsilon(1e-9).scale(1));
  std::vector<double> ga(qa.size()), gb(qb.size());
  CHECK(b.log_density(qb, gb) == doctest::Approx(a.log_density(qa, ga)).epsilon(1e-9));
  for (std::size_t i = 0; i < ga.size(); ++i) CHECK(gb[i] == doctest::Approx(ga[i]).epsilon(1e-7).scale(1));
  // The densities of r in data units differ by log 1000 per trial.
  std::vector<double> la(d.size()), lb(d.size());
  a.trial_loglik(qa, la);
  b.trial_loglik(qb, lb);
  for (std::size_t i = 0; i < d.size(); ++i) CHECK(lb[i] == doctest::Approx(la[i] - std::log(1000.0)).epsilon(1e-9));
  // Outputs in data units: the constrained values scale.
  const auto ca = a.constrain(qa), cb = b.constrain(qb);
  const auto names = a.all_names();
  for (std::size_t i = 0; i < names.size(); ++i)
    CHECK(cb[i] == doctest::Approx(names[i] == "c" ? ca[i] : 1000 * ca[i]).epsilon(1e-9));
}

TEST_CASE("perception linear: NUTS recovers the parameters from negative stimuli and responses") {
  // sigma fixed (as in the reference study): slope, intercept and residual variance then
  // identify sigma_0, mu_0 and sigma_a. (Not Linex with c free: its action's shift -c tau^2 / 2
  // moves the intercept as mu_0 does, so the two are a ridge that only the priors bound, and
  // whether NUTS crosses it cleanly depended on the CPU's rounding: 15% divergent, R-hat 1.5 in
  // the portable build. Linex's gradient and every trial are checked above.)
  const std::map<std::string, double> truth{{"mu_0", -1.0}, {"sigma_0", 1.0}, {"sigma", 0.8}, {"sigma_a", 0.3}};
  const Dataset d = linear_data("QuadraticCost", gauss, truth, 200, 21, -4, 3);
  InferenceSpec spec = linear_spec("QuadraticCost", gauss);
  spec.fixed["sigma"] = 0.8;
  const Summary sum = fit_summary(d, spec, 3, 400, 600);
  CHECK(sum.params.size() == 3);  // mu_0, sigma_0, sigma_a
  check_recovered(sum, truth);
}

TEST_CASE("perception linear: data of any sign, and the refusals") {
  const std::string csv = "s,r\n-1.5,-0.2\n0,0.4\n2,-3\n1e-9,0\n";
  std::istringstream in1(csv);
  const Dataset d = parse_dataset(in1, "neg.csv", {}, ValueDomain::any);
  CHECK(d.size() == 4);
  CHECK(d.s[0] == -1.5);
  std::istringstream in2(csv);
  CHECK_THROWS_WITH(parse_dataset(in2, "neg.csv", {}, ValueDomain::positive), doctest::Contains("neg.csv:2: column 's'"));
  std::istringstream in3("s,r\n1.5,-0.2\n2,0\n");
  CHECK(parse_dataset(in3, "r.csv", {}, ValueDomain::positive_stimuli).size() == 2);
  std::istringstream in4("s,r\n1.5,-0.2\n-2,1\n");
  CHECK_THROWS_WITH(parse_dataset(in4, "r.csv", {}, ValueDomain::positive_stimuli), doctest::Contains("r.csv:3: column 's'"));
  InferenceSpec spec = linear_spec("QuadraticCost", gauss);
  CHECK(value_domain(spec) == ValueDomain::any);
  spec.perception = PerceptionModel::lognormal;
  CHECK(value_domain(spec) == ValueDomain::positive_stimuli);
  // Refused under gaussian perception: motor noise that needs a > 0, costs that are not
  // functions of r - s, sampled latents; a normal prior elsewhere; a lapse range without a response.
  const Dataset lin = linear_data("QuadraticCost", gauss, {{"mu_0", 0.5}, {"sigma_0", 1}, {"sigma", 0.5}, {"sigma_a", 0.3}}, 20, 1);
  InferenceSpec bad = linear_spec("QuadraticCost", MotorSpec{});
  CHECK_THROWS_WITH(ActorModel(lin, bad), doctest::Contains("needs gaussian motor noise"));
  bad = linear_spec("AbsoluteCostQuadraticEffort", gauss);
  CHECK_THROWS_WITH(ActorModel(lin, bad), doctest::Contains("is not a function of r - s alone"));
  bad = linear_spec("QuadraticCost", gauss);
  bad.lapse = true;
  bad.lapse_lo = 2;  // a given range must hold every response
  bad.lapse_hi = 5;
  CHECK_THROWS_WITH(ActorModel(lin, bad), doctest::Contains("is below the contaminant's range"));
  bad = linear_spec("QuadraticCost", gauss);
  bad.latent = LatentMode::sampled;
  CHECK_THROWS_WITH(ActorModel(lin, bad), doctest::Contains("marginal latent mode"));
  bad = linear_spec("QuadraticCost", gauss);
  bad.priors["sigma_0"] = parse_prior("normal:0:1");
  CHECK_THROWS_WITH(ActorModel(lin, bad), doctest::Contains("normal prior"));
  // Log-normal perception with gaussian motor noise: responses <= 0 are fitted (the motor form reads r).
  SimulationSpec sim;
  sim.cost = &find_cost("QuadraticCost");
  sim.motor = gauss;
  sim.values = {{"mu_0", 0.3}, {"sigma_0", 0.2}, {"sigma", 0.2}, {"sigma_a", 0.4}};
  sim.s_lo = 0.1;
  sim.s_hi = 0.8;
  sim.trials = 60;
  const Dataset small = simulate(sim);
  CHECK(*std::min_element(small.r.begin(), small.r.end()) <= 0);
  InferenceSpec ln;
  ln.cost = sim.cost;
  ln.motor = gauss;
  ActorModel m(small, ln);
  const auto q = m.unconstrain(sim.values);
  std::vector<double> ll(small.size());
  m.trial_loglik(q, ll);
  for (double v : ll) CHECK(std::isfinite(v));
}
