// SPDX-License-Identifier: MIT
// The exact-action likelihood (models/exact_action.hpp): the solver against the ground truth
// and the closed forms, its implicit-function-theorem partials against finite differences of
// the solver, the per-condition interpolant against direct solves, and the tape node's gradient
// against central finite differences (tests/engine/gradcheck.hpp); the same for a formula with
// two cost parameters (its closed form), and the refusal of more than exact_max_cost_params.
#include "models/exact_action.hpp"
#include "models/likelihood_plan.hpp"

#include <bactor/engine/rng.hpp>
#include <bactor/models/actor.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/ground_truth.hpp>
#include <bactor/models/data.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/engine/errors.hpp>
#include "tests/engine/gradcheck.hpp"
#include "tests/models/inference_test_util.hpp"
#include "tests/models/linear_test_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <span>
#include <string>
#include <cmath>
#include <vector>

using namespace bactor;
using bactor::testing::gradcheck;
using bactor::testing::GradCheckOptions;
namespace d = bactor::detail;

namespace {

/// A theta inside the training prior for each cost (sigma, sigma_0, mu_0, sigma_r, param).
std::vector<double> theta_for(const CostInfo& cost) {
  std::vector<double> t{0.2, 0.25, 1.8, 0.12};
  if (cost.name == "QuadraticCostQuadraticEffort" || cost.name == "AbsoluteCostQuadraticEffort") t.push_back(0.8);
  else if (cost.name == "Linex") t.push_back(0.6);
  else if (cost.name == "InvertedGaussian") t.push_back(2.0);
  else if (cost.name == "AsymmetricQuadratic") t.push_back(0.3);
  return t;
}

const char* const tested_costs[] = {"QuadraticCost", "QuadraticCostQuadraticEffort", "AbsoluteCostQuadraticEffort",
                                    "Linex", "InvertedGaussian"};

} // namespace

TEST_CASE("exact action: the solver agrees with the ground truth and the closed forms") {
  for (const char* name : tested_costs) {
    const CostInfo& cost = find_cost(name);
    INFO(name);
    const auto theta = theta_for(cost);
    for (double m : {0.3, 1.0, 2.5, 6.0}) {
      const auto post = actor_posterior(m, theta[0], theta[1], theta[2]);
      const d::ExactActionOptions opt;
      const auto a = d::exact_log_action(cost, post.mu_post, post.sigma_post, theta[3], theta.data() + 4,
                                         opt.quadrature, post.mu_post);
      const double ref = std::log(numerical_action(cost, theta, m));
      CHECK(std::abs(a.y - ref) < 1e-8);
      if (cost.closed_form) CHECK(std::abs(a.y - std::log(closed_form_action(cost, theta, m))) < 1e-9);
    }
  }
}

TEST_CASE("exact action: implicit-function partials equal finite differences of the solver") {
  const d::ExactActionOptions opt;
  for (const char* name : tested_costs) {
    const CostInfo& cost = find_cost(name);
    INFO(name);
    const auto theta = theta_for(cost);
    const double mu = 0.4, sp = 0.15, sr = theta[3];
    std::vector<double> p(theta.begin() + 4, theta.end());
    auto solve = [&](double m_, double sp_, double sr_, const std::vector<double>& p_) {
      return d::exact_log_action(cost, m_, sp_, sr_, p_.data(), opt.quadrature, m_).y;
    };
    const auto a = d::exact_log_action(cost, mu, sp, sr, p.data(), opt.quadrature, mu);
    const double h = 1e-5;
    CHECK(a.d_mu == doctest::Approx((solve(mu + h, sp, sr, p) - solve(mu - h, sp, sr, p)) / (2 * h)).epsilon(1e-6));
    CHECK(a.d_sp == doctest::Approx((solve(mu, sp + h, sr, p) - solve(mu, sp - h, sr, p)) / (2 * h)).epsilon(1e-5));
    CHECK(a.d_sr == doctest::Approx((solve(mu, sp, sr + h, p) - solve(mu, sp, sr - h, p)) / (2 * h)).epsilon(1e-5));
    if (!p.empty()) {
      auto pp = p, pm = p;
      pp[0] += h;
      pm[0] -= h;
      CHECK(a.d_p[0] == doctest::Approx((solve(mu, sp, sr, pp) - solve(mu, sp, sr, pm)) / (2 * h)).epsilon(1e-5));
    }
  }
}

TEST_CASE("exact action: the per-condition interpolant equals direct solves") {
  const d::ExactActionOptions opt;
  Rng rng(5, 0);
  for (const char* name : tested_costs) {
    const CostInfo& cost = find_cost(name);
    INFO(name);
    const auto theta = theta_for(cost);
    // Stimuli 0.1..5 (log range 3.9), sigma 0.2: the range of the reference data sets.
    const double u_lo = std::log(0.1) - opt.range_sds * theta[0], u_hi = std::log(5.0) + opt.range_sds * theta[0];
    const auto t0 = std::chrono::steady_clock::now();
    const d::ExactHead head(cost, theta, u_lo, u_hi, opt);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE(name << ": " << head.solves() << " solves, " << head.evaluations() << " F_y evaluations, " << ms << " ms");
    double worst = 0, worst_d = 0;
    for (int k = 0; k < 40; ++k) {
      const double u = rng.uniform(u_lo, u_hi);
      double dla, dp[d::ExactHead::n_params];
      const double la = head.eval(u, dla, dp);
      const auto post = actor_posterior(std::exp(u), theta[0], theta[1], theta[2]);
      const auto a = d::exact_log_action(cost, post.mu_post, post.sigma_post, theta[3], theta.data() + 4,
                                         opt.quadrature, post.mu_post);
      worst = std::max(worst, std::abs(la - a.y));
      worst_d = std::max(worst_d, std::abs(dla - a.d_mu * post.w_m));
    }
    MESSAGE(name << ": interpolation error " << worst << " (d/du " << worst_d << ")");
    CHECK(worst < 3e-7);
    CHECK(worst_d < 3e-5);
  }
}

TEST_CASE("exact action: the likelihood node's gradient against finite differences") {
  // Two conditions' thetas in one node value (as the model's constrain node lays them out),
  // one likelihood node per condition; trials from the exact actor itself.
  for (const char* name : {"QuadraticCostQuadraticEffort", "AbsoluteCostQuadraticEffort", "Linex", "InvertedGaussian"}) {
    const CostInfo& cost = find_cost(name);
    INFO(name);
    const auto theta = theta_for(cost);
    const std::size_t nt = theta.size();
    std::vector<double> v(theta);
    v.insert(v.end(), theta.begin(), theta.end());
    v[nt] = 0.1;  // condition 2's sigma
    Rng rng(17, 0);
    std::vector<double> x, y;
    for (int i = 0; i < 8; ++i) {
      const double s = rng.uniform(0.3, 5.0), m = s * std::exp(0.2 * rng.normal());
      x.push_back(std::log(s));
      y.push_back(std::log(numerical_action(cost, theta, m)) + theta[3] * rng.normal());
    }
    for (double range_sds : {12.0, 0.5}) {  // 0.5: most nodes outside the interpolant, solved directly
      INFO("range_sds " << range_sds);
      // The composed likelihood (models/likelihood_plan.hpp) with the exact action, one row per
      // condition, 4 trials each, the running sum in another node.
      d::LikelihoodPlan plan(cost, nullptr, true, LatentMode::marginal, false, 41);
      plan.exact_opt.range_sds = range_sds;
      plan.trials.resize(2);
      for (std::size_t c = 0; c < 2; ++c) {
        plan.trials[c].x.assign(x.begin() + std::ptrdiff_t(4 * c), x.begin() + std::ptrdiff_t(4 * c + 4));
        plan.trials[c].y.assign(y.begin() + std::ptrdiff_t(4 * c), y.begin() + std::ptrdiff_t(4 * c + 4));
      }
      plan.finish();
      std::vector<d::RowRef> rows(2);
      for (std::size_t c = 0; c < 2; ++c) rows[c].theta_at = c * nt, rows[c].trials = &plan.trials[c];
      auto r = gradcheck(
          [&](std::span<const Var> in) {
            return d::add_likelihood(plan, in[0], rows, d::Elem{in[1], 0});
          },
          {v, {0.3}}, GradCheckOptions{1e-5, 1e-5, 1e-6});
      CHECK_MESSAGE(r.ok, r.report);
      // The per-trial values add up to the node's, and equal the quadrature with the head
      // built directly.
      std::vector<double> ll(8);
      std::vector<double*> out{ll.data(), ll.data() + 4};
      d::likelihood_values(plan, v.data(), rows, nullptr, out);
      double u_lo, u_hi;
      d::exact_action_range({x.data(), 4}, theta[0], plan.exact_opt, u_lo, u_hi);
      const d::ExactHead head(cost, theta, u_lo, u_hi, plan.exact_opt);
      for (std::size_t i = 0; i < 4; ++i) {
        TrialGrad<d::ExactHead> g{};
        CHECK(ll[i] == doctest::Approx(gh_trial_loglik(head, x[i], y[i], theta[0], theta[3], plan.rules.for_sigma(theta[0]), g))
                           .epsilon(1e-12));
      }
      Tape::Scope scope;
      const Var vv = constant(std::span<const double>(v), v.size(), 1);
      auto rr = rows;
      double sum = 0;
      for (double l : ll) sum += l;
      CHECK(d::add_likelihood(plan, vv, rr, d::Elem{}).value() == doctest::Approx(sum).epsilon(1e-12));
    }
  }
}

namespace {
std::string reference_dir() {
  const char* dir = std::getenv("BACTOR_REFERENCE_DIR");  // tests/reference, set by meson test
  REQUIRE_MESSAGE(dir, "BACTOR_REFERENCE_DIR is not set (run through meson test)");
  return dir;
}
} // namespace

TEST_CASE("exact action: ActorModel's log-density and gradient equal the closed form's on the closed-form costs") {
  // The exact action equals the closed form to ~1e-12 (first test case); what differs is the
  // marginal: exact for the closed form, adaptive Gauss–Hermite here (~1e-6 relative per trial).
  struct Case {
    const char* file;
    const char* cost;
    bool fix_sigma;
  };
  for (const Case& c : {Case{"quadratic_n60.csv", "QuadraticCost", true},
                        Case{"effort_two_noise.csv", "QuadraticCostQuadraticEffort", false}}) {
    INFO(c.file);
    const Dataset data = read_dataset(reference_dir() + "/" + c.file);
    InferenceSpec spec;
    spec.cost = &find_cost(c.cost);
    if (c.fix_sigma) spec.fixed["sigma"] = 0.2;
    ActorModel closed(data, spec);
    spec.exact_action = true;
    ActorModel exact(data, spec);
    REQUIRE(exact.free_names() == closed.free_names());
    Rng rng(23, 0);
    const auto q0 = closed.unconstrain({{"mu_0", 1.45}, {"sigma_0", 0.2}, {"sigma_r", 0.12}, {"beta", 0.9}});
    for (int k = 0; k < 3; ++k) {
      auto q = q0;
      for (auto& v : q) v += 0.3 * rng.normal();
      std::vector<double> gc(q.size()), ge(q.size());
      const double lc = closed.log_density(q, gc), le = exact.log_density(q, ge);
      CHECK(le == doctest::Approx(lc).epsilon(1e-6));
      for (std::size_t i = 0; i < q.size(); ++i) CHECK(ge[i] == doctest::Approx(gc[i]).epsilon(1e-4).scale(1.0));
      std::vector<double> tc(data.size()), te(data.size());
      closed.trial_loglik(q, tc);
      exact.trial_loglik(q, te);
      for (std::size_t i = 0; i < data.size(); ++i) CHECK(te[i] == doctest::Approx(tc[i]).epsilon(1e-6));
    }
  }
}

TEST_CASE("exact action: argument errors") {
  const Dataset data = read_dataset(reference_dir() + "/quadratic_n60.csv");
  InferenceSpec spec;
  spec.cost = &find_cost("QuadraticCost");
  spec.exact_action = true;
  spec.network = bactor::testing::random_network(*spec.cost, 1);
  CHECK_THROWS_WITH_AS(ActorModel(data, spec), doctest::Contains("excludes a network"), ArgumentError);
  // Every latent mode and lapses are accepted (the composed likelihood, test_likelihood.cpp).
  spec.network = nullptr;
  spec.latent = LatentMode::sampled;
  spec.lapse = true;
  CHECK_NOTHROW(ActorModel(data, spec));
}

// ---- several cost parameters (up to detail::exact_max_cost_params) ---------------------------

namespace {

/// beta (s - r)^2 + k r^2 under log-normal perception and motor noise: E = beta (E s^2 - 2 a E s
/// e^{sr^2/2}) + (beta + k) a^2 e^{2 sr^2}, so log a* = log(beta / (beta + k)) + mu + sp^2 / 2 - 3/2 sr^2.
const CostInfo& two_param_cost() { return bactor::testing::formula_cost("beta*(s-r)^2 + k*r^2", "beta=uniform:0.5:1,k=lognormal:-1:1"); }

double two_param_log_action(std::span<const double> th, double u) {  // theta: sigma, sigma_0, mu_0, sigma_r, beta, k
  const auto post = actor_posterior(std::exp(u), th[0], th[1], th[2]);
  return std::log(th[4] / (th[4] + th[5])) + post.mu_post + 0.5 * post.sigma_post * post.sigma_post - 1.5 * th[3] * th[3];
}

} // namespace

TEST_CASE("exact action: two cost parameters, the action and its partials against the closed form and finite differences") {
  const CostInfo& cost = two_param_cost();
  REQUIRE(cost.params.size() == 2);
  const d::ExactActionOptions opt;
  const double beta = 0.8, k = 0.3, sr = 0.12;
  const std::vector<double> p{beta, k};
  for (double mu : {-0.7, 0.4, 1.6}) {
    INFO("mu " << mu);
    const double sp = 0.15;
    const auto a = d::exact_log_action(cost, mu, sp, sr, p.data(), opt.quadrature, mu);
    CHECK(a.y == doctest::Approx(std::log(beta / (beta + k)) + mu + 0.5 * sp * sp - 1.5 * sr * sr).epsilon(1e-9));
    CHECK(a.d_mu == doctest::Approx(1.0).epsilon(1e-6));
    CHECK(a.d_sp == doctest::Approx(sp).epsilon(1e-5));
    CHECK(a.d_sr == doctest::Approx(-3 * sr).epsilon(1e-5));
    CHECK(a.d_p[0] == doctest::Approx(k / (beta * (beta + k))).epsilon(1e-6));
    CHECK(a.d_p[1] == doctest::Approx(-1 / (beta + k)).epsilon(1e-6));
    // And against central differences of the solver itself, parameter by parameter.
    const double h = 1e-5;
    for (std::size_t j = 0; j < 2; ++j) {
      auto pp = p, pm = p;
      pp[j] += h;
      pm[j] -= h;
      const double fd = (d::exact_log_action(cost, mu, sp, sr, pp.data(), opt.quadrature, mu).y -
                         d::exact_log_action(cost, mu, sp, sr, pm.data(), opt.quadrature, mu).y) /
                        (2 * h);
      INFO("parameter " << j);
      CHECK(a.d_p[j] == doctest::Approx(fd).epsilon(1e-5));
    }
  }
  // The interpolated head: log a(u) and d log a / d theta in theta's slots (sigma, sigma_0, mu_0,
  // sigma_r, beta, k), the rest 0, against central differences of the closed form in theta.
  const std::vector<double> theta{0.2, 0.25, 1.8, sr, beta, k};
  const double u_lo = std::log(0.3) - opt.range_sds * theta[0], u_hi = std::log(5.0) + opt.range_sds * theta[0];
  const d::ExactHead head(cost, theta, u_lo, u_hi, opt);
  for (double u : {std::log(0.4), 0.3, 1.2}) {
    INFO("u " << u);
    double dla, dp[d::ExactHead::n_params];
    CHECK(head.eval(u, dla, dp) == doctest::Approx(two_param_log_action(theta, u)).epsilon(1e-7));
    for (std::size_t j = 0; j < theta.size(); ++j) {
      const double h = 1e-6;
      auto tp = theta, tm = theta;
      tp[j] += h;
      tm[j] -= h;
      INFO("theta " << j);
      CHECK(dp[j] == doctest::Approx((two_param_log_action(tp, u) - two_param_log_action(tm, u)) / (2 * h)).epsilon(1e-5));
    }
    for (std::size_t j = theta.size(); j < std::size_t(d::ExactHead::n_params); ++j) CHECK(dp[j] == 0.0);
  }
}

TEST_CASE("exact action: two cost parameters, the likelihood's gradient against finite differences") {
  // The node (theta-level, both parameters; two conditions in one node value) as in the
  // single-parameter case above, on a cost whose parameters the data tell apart: beta (s - r)^2 +
  // k r^4 (no closed form; a kinked cost such as beta |r - s| + k r^2 takes 5x longer per
  // gradient); then the model's gradient in the unconstrained space.
  const CostInfo& cost = bactor::testing::formula_cost("beta*(s-r)^2 + k*r^4", "beta=uniform:0.5:1,k=lognormal:-1:1");
  const std::vector<double> theta{0.2, 0.25, 1.8, 0.12, 0.8, 0.3};
  const std::size_t nt = theta.size();
  std::vector<double> v(theta);
  v.insert(v.end(), theta.begin(), theta.end());
  v[nt] = 0.1;  // condition 2's sigma
  Rng rng(19, 0);
  d::LikelihoodPlan plan(cost, nullptr, true, LatentMode::marginal, false, 41);
  plan.trials.resize(2);
  for (std::size_t c = 0; c < 2; ++c)
    for (int i = 0; i < 3; ++i) {
      const double s = rng.uniform(0.3, 3.0), m = s * std::exp(0.2 * rng.normal());
      plan.trials[c].x.push_back(std::log(s));
      plan.trials[c].y.push_back(std::log(numerical_action(cost, theta, m)) + theta[3] * rng.normal());
    }
  plan.finish();
  std::vector<d::RowRef> rows(2);
  for (std::size_t c = 0; c < 2; ++c) rows[c].theta_at = c * nt, rows[c].trials = &plan.trials[c];
  auto r = gradcheck([&](std::span<const Var> in) { return d::add_likelihood(plan, in[0], rows, d::Elem{in[1], 0}); },
                     {v, {0.3}}, GradCheckOptions{1e-5, 1e-5, 1e-6});
  CHECK_MESSAGE(r.ok, r.report);
  // Generalized motor noise: sigma_a's slot after both cost parameters (theta[6]); condition 1's
  // trials, the tolerances of test_motor.cpp's exact-action motor forms.
  d::LikelihoodPlan gplan(cost, nullptr, true, LatentMode::marginal, false, 41, MotorSpec{MotorModel::generalized, false});
  gplan.trials.assign(1, plan.trials[0]);
  gplan.finish();
  std::vector<double> gv(theta);
  gv.push_back(0.1);  // sigma_a
  std::vector<d::RowRef> grows(1);
  grows[0].theta_at = 0, grows[0].trials = &gplan.trials[0];
  auto gr = gradcheck([&](std::span<const Var> in) { return d::add_likelihood(gplan, in[0], grows, d::Elem{in[1], 0}); },
                      {gv, {0.3}}, GradCheckOptions{1e-6, 1e-4, 1e-6});
  CHECK_MESSAGE(gr.ok, gr.report);

  // The model: both parameters free, their priors from the formula's --params.
  SimulationSpec sim;
  sim.cost = &two_param_cost();
  sim.values = {{"mu_0", 1.5}, {"sigma_0", 0.3}, {"sigma", 0.2}, {"sigma_r", 0.12}, {"beta", 0.8}, {"k", 0.3}};
  sim.trials = 6;
  sim.s_lo = 0.5;
  sim.s_hi = 3.0;
  sim.seed = 4;
  const Dataset data = simulate(sim);
  InferenceSpec spec;
  spec.cost = sim.cost;
  spec.exact_action = true;
  ActorModel model(data, spec);
  const auto names = model.free_names();
  CHECK(std::find(names.begin(), names.end(), "beta") != names.end());
  CHECK(std::find(names.begin(), names.end(), "k") != names.end());
  const auto q = model.unconstrain(sim.values);
  const double err = testing::gradient_error(model, q);
  MESSAGE("largest relative gradient error " << err);
  CHECK(err < 1e-5);
}

TEST_CASE("exact action: more cost parameters than it supports are refused by name") {
  const Dataset data = read_dataset(reference_dir() + "/quadratic_n60.csv");
  InferenceSpec spec;
  spec.exact_action = true;
  spec.cost = &bactor::testing::formula_cost("b1*(r-s)^2 + b2*r^2 + b3*s^2*r^2 + b4*r^4",
                                             "b1=uniform:0.5:1,b2=uniform:0.1:1,b3=uniform:0.1:1,b4=uniform:0.1:1");
  CHECK_NOTHROW(ActorModel(data, spec));  // 4: the most
  spec.cost = &bactor::testing::formula_cost("b1*(r-s)^2 + b2*r^2 + b3*s^2*r^2 + b4*r^4 + b5*abs(r-s)",
                                             "b1=uniform:0.5:1,b2=uniform:0.1:1,b3=uniform:0.1:1,b4=uniform:0.1:1,b5=uniform:0.1:1");
  CHECK_THROWS_WITH_AS(ActorModel(data, spec),
                       doctest::Contains("exact_action: supports at most 4 cost parameters; cost") , ArgumentError);
  spec.perception = PerceptionModel::gaussian;  // the same limit in linear space
  spec.motor = MotorSpec{MotorModel::gaussian, false};
  CHECK_THROWS_WITH_AS(ActorModel(data, spec), doctest::Contains("supports at most 4 cost parameters"), ArgumentError);
}
