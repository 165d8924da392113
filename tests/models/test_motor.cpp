// SPDX-License-Identifier: MIT
// Motor noise families (models/motor.hpp, docs/families.md):
//   - each density policy's derivatives against finite differences of its value, and its
//     normalisation (a density of r: it integrates to 1 over r, trapezoid);
//   - motor_response's dr/dlog a against finite differences;
//   - the ground truth's expected cost under every motor model against a brute-force 2-D
//     trapezoid over (e, u), its derivative against finite differences, and the gaussian
//     model's numerical action against the closed form E[s | m];
//   - the fused training kernel's loss and dloss/da against a double-precision evaluation of the
//     same Monte Carlo sum (fixed draws);
//   - the composed likelihood's motor forms: gradient against finite differences, value path,
//     each trial against an independent brute-force integral over the measurement, and the
//     log-normal form with a vanishing offset against the exact power-law marginal;
//   - ActorModel's parameters, gradients and refusals under motor models.
#include "models/likelihood_plan.hpp"
#include "models/motor_kernels.hpp"
#include "models/train_kernel.hpp"

#include <bactor/engine/errors.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/ground_truth.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/motor.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/models/train.hpp>
#include "tests/engine/gradcheck.hpp"
#include "tests/models/fused_test_util.hpp"
#include "tests/models/inference_test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <iomanip>
#include <numbers>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

using namespace bactor;
using bactor::testing::gradcheck;
using bactor::testing::GradCheckOptions;
namespace d = bactor::detail;

namespace {

const double pi = std::numbers::pi;

/// The motor densities written out directly (not through the policies): log p(r | log a = la).
double motor_logpdf(MotorModel model, double r, double la, double sr, double sa, double delta) {
  const double rr = r - delta;
  switch (model) {
  case MotorModel::gaussian: {
    const double e = rr - std::exp(la);
    return -0.5 * e * e / (sa * sa) - std::log(sa * std::sqrt(2 * pi));
  }
  case MotorModel::generalized:
  case MotorModel::lognormal: {
    if (!(rr > 0)) return -INFINITY;
    const double v = sr * sr + (model == MotorModel::generalized ? sa * sa * std::exp(-2 * la) : 0.0);
    const double e = std::log(rr) - la;
    return -0.5 * e * e / v - 0.5 * std::log(2 * pi * v) - std::log(rr);
  }
  }
  return NAN;
}

template <class M>
void check_policy(MotorModel model, const char* name) {
  INFO(std::string(name));
  Rng rng(3, 0);
  for (int k = 0; k < 40; ++k) {
    const MotorParams p{rng.uniform(0.05, 0.4), rng.uniform(0.05, 0.5), k % 2 ? rng.uniform(0.01, 0.2) : 0.0};
    const double la = rng.uniform(-1.0, 1.5);
    const double r = p.delta + std::exp(la + 0.3 * rng.normal());
    const MotorTrial t = M::prepare(r, p);
    const MotorEval v = M::eval(t, la, p);
    CHECK(v.l == doctest::Approx(motor_logpdf(model, r, la, p.sr, p.sa, p.delta)).epsilon(1e-12));
    const double h = 1e-6;
    auto l_at = [&](double la2, MotorParams q) { return M::eval(M::prepare(r, q), la2, q).l; };
    auto dl_at = [&](double la2) { return M::eval(t, la2, p).dl; };
    CHECK(v.dl == doctest::Approx((l_at(la + h, p) - l_at(la - h, p)) / (2 * h)).epsilon(1e-6));
    CHECK(v.d2l == doctest::Approx((dl_at(la + h) - dl_at(la - h)) / (2 * h)).epsilon(1e-6));
    MotorParams a = p, b = p;
    a.sr += h, b.sr -= h;
    CHECK(v.dsr == doctest::Approx((l_at(la, a) - l_at(la, b)) / (2 * h)).epsilon(1e-6).scale(1));
    a = p, b = p;
    a.sa += h, b.sa -= h;
    CHECK(v.dsa == doctest::Approx((l_at(la, a) - l_at(la, b)) / (2 * h)).epsilon(1e-6).scale(1));
    a = p, b = p;
    a.delta += h, b.delta -= h;
    CHECK(v.ddelta == doctest::Approx((l_at(la, a) - l_at(la, b)) / (2 * h)).epsilon(1e-6).scale(1));
    // A density of r: trapezoid over r (log-normal families on log r, the Jacobian r).
    double mass = 0;
    const int n = 40000;
    if (model == MotorModel::gaussian) {
      const double c = p.delta + std::exp(la), w = 12 * p.sa;
      for (int i = 0; i <= n; ++i) {
        const double rr = c - w + 2 * w * i / n;
        mass += (i == 0 || i == n ? 0.5 : 1.0) * std::exp(M::eval(M::prepare(rr, p), la, p).l) * 2 * w / n;
      }
    } else {
      const double w = 12 * std::sqrt(p.sr * p.sr + p.sa * p.sa * std::exp(-2 * la));
      for (int i = 0; i <= n; ++i) {
        const double y = la - w + 2 * w * i / n, rr = p.delta + std::exp(y);
        mass += (i == 0 || i == n ? 0.5 : 1.0) * std::exp(M::eval(M::prepare(rr, p), la, p).l + y) * 2 * w / n;
      }
    }
    CHECK(mass == doctest::Approx(1.0).epsilon(1e-8));
  }
}

/// theta for (cost, motor): the log-normal actor's entries, then sigma_a and the offset.
std::vector<double> theta_of(const CostInfo& cost, const MotorSpec& motor, double shift) {
  std::vector<double> t{0.17 + shift, 0.25 - 0.5 * shift, 1.8 + shift, motor.has_sigma_r() ? 0.12 + 0.2 * shift : unused_sigma_r};
  for (const auto& p : cost.params) t.push_back(p.kind == ParamPrior::Kind::uniform ? 0.5 * (p.a + p.b) : std::exp(p.a));
  if (motor.has_sigma_a()) t.push_back(0.15 + shift);
  if (motor.offset) t.push_back(0.05 + shift);
  return t;
}

/// A random network for (cost, motor) with the trainer's architecture and scaling.
std::shared_ptr<const ActionNetwork> motor_network(const char* cost, MotorModel motor, std::uint64_t seed, const char* head) {
  return std::make_shared<const ActionNetwork>(bactor::testing::trainer_random_network(cost, seed, head, motor, 0.3));
}

/// log a(u) of the plan's source at theta (brute-force reference's action).
double log_action(const d::LikelihoodPlan& plan, const double* theta, double u) {
  const std::size_t na = plan.n_action();
  const double m = std::exp(u);
  if (plan.net) {
    ActionNetwork::Workspace ws;
    double x[3];
    plan.net->forward({theta, na}, m, x, ws);
    return std::log(plan.net->action(std::span<const double, 3>(x), m));
  }
  return std::log(optimal_action(*plan.cost, MotorSpec{plan.motor.model, false}, {theta, na}, m));
}

/// Each row's trials simulated from the plan's own actor (data units = units of S here).
void fill_rows(d::LikelihoodPlan& plan, const std::vector<double>& v, std::size_t n0, std::size_t n1, std::uint64_t seed) {
  Rng rng(seed, 0);
  const std::size_t nt = plan.n_theta();
  plan.trials.resize(2);
  for (std::size_t r = 0; r < 2; ++r) {
    d::RowTrials& t = plan.trials[r];
    const double* th = v.data() + r * nt;
    const MotorNoise mn = motor_noise(*plan.cost, plan.motor, {th, nt});
    const double off = plan.motor.offset ? th[nt - 1] : 0.0;
    for (std::size_t i = 0; i < (r ? n1 : n0); ++i) {
      const double s = rng.uniform(0.5, 4.0), u = std::log(s) + th[0] * rng.normal();
      double resp = off + motor_response(mn, log_action(plan, th, u), rng.normal(), nullptr);
      if (!(resp > off)) resp = off + 0.05;  // the data reader's rule: positive responses
      t.x.push_back(std::log(s));
      t.y.push_back(std::log(resp));
    }
  }
  plan.finish();
}

std::vector<d::RowRef> rows_of(const d::LikelihoodPlan& plan, std::size_t nt) {
  std::vector<d::RowRef> rows(2);
  for (std::size_t r = 0; r < 2; ++r) {
    rows[r].theta_at = r * nt;
    rows[r].trials = &plan.trials[r];
  }
  return rows;
}

/// log p(r | s) by brute force: trapezoid over u in x +- 10 sigma (8001 points) of
/// N(u; x, sigma) p_motor(r | log a(u)).
double brute_trial(const d::LikelihoodPlan& plan, const double* th, double x, double r) {
  const std::size_t nt = plan.n_theta();
  const MotorNoise mn = motor_noise(*plan.cost, plan.motor, {th, nt});
  const double off = plan.motor.offset ? th[nt - 1] : 0.0, sig = th[0];
  const int n = 8000;
  double sum = 0;
  for (int i = 0; i <= n; ++i) {
    const double z = -10 + 20.0 * i / n, u = x + sig * z;
    const double p = std::exp(-0.5 * z * z) / std::sqrt(2 * pi) *
                     std::exp(motor_logpdf(mn.model, r, log_action(plan, th, u), mn.sigma_r, mn.sigma_a, off));
    sum += (i == 0 || i == n ? 0.5 : 1.0) * p * 20.0 / n;
  }
  return std::log(sum);
}

/// A head adjoint times w, and its entries as a list (power: log_k, w; softplus: k, w, x2).
template <class A>
A scaled_adjoint(A a, double w) {
  if constexpr (std::is_same_v<A, PowerHead::Adjoint>) a.log_k *= w, a.w *= w;
  else a.k *= w, a.w *= w, a.x2 *= w;
  return a;
}
inline std::vector<double> head_values(const PowerHead::Adjoint& a) { return {a.log_k, a.w}; }
inline std::vector<double> head_values(const SoftplusHead::Adjoint& a) { return {a.k, a.w, a.x2}; }

} // namespace

TEST_CASE("motor densities: derivatives against finite differences, and each a density of r") {
  check_policy<LognormalMotor>(MotorModel::lognormal, "lognormal");
  check_policy<GeneralizedMotor>(MotorModel::generalized, "generalized");
  check_policy<GaussianMotor>(MotorModel::gaussian, "gaussian");
  // An offset at or above a response: the log-normal families' density is 0.
  CHECK_FALSE(LognormalMotor::prepare(0.3, {0.1, 0, 0.3}).valid);
  CHECK_FALSE(GeneralizedMotor::prepare(0.3, {0.1, 0.1, 0.4}).valid);
  CHECK(GaussianMotor::prepare(-0.3, {0, 0.1, 0.0}).valid);
}

TEST_CASE("motor_response: dr/dlog a against finite differences; names and parsing") {
  for (MotorModel m : {MotorModel::lognormal, MotorModel::generalized, MotorModel::gaussian}) {
    const MotorNoise mn{m, 0.15, 0.3};
    for (double u : {-1.7, 0.0, 0.4, 2.2}) {
      double d0;
      motor_response(mn, 0.3, u, &d0);
      const double h = 1e-6;
      const double fd = (motor_response(mn, 0.3 + h, u, nullptr) - motor_response(mn, 0.3 - h, u, nullptr)) / (2 * h);
      CHECK(d0 == doctest::Approx(fd).epsilon(1e-7));
    }
    CHECK(parse_motor_model(to_string(m)) == m);
    const MotorSpec spec{m, true};
    CHECK(parse_motor_spec(spec.name()) == spec);
  }
  CHECK_THROWS_AS(parse_motor_model("normal"), ArgumentError);
  const CostInfo& effort = find_cost("QuadraticCostQuadraticEffort");
  CHECK(theta_names(effort, {MotorModel::generalized, true}) ==
        std::vector<std::string>{"sigma", "sigma_0", "mu_0", "sigma_r", "beta", "sigma_a", "offset"});
  CHECK(action_theta_size(effort, {MotorModel::gaussian, true}) == 6);
}

TEST_CASE("ground truth under motor noise: expected cost against a brute-force trapezoid, its derivative, the closed form") {
  const double mu = 0.4, sp = 0.2;
  for (const char* cname : {"QuadraticCost", "AbsoluteCost", "InvertedGaussian", "Linex"}) {
    const CostInfo& cost = find_cost(cname);
    std::vector<double> p;
    for (const auto& q : cost.params) p.push_back(q.kind == ParamPrior::Kind::uniform ? 0.5 * (q.a + q.b) : std::exp(q.a));
    for (MotorModel m : {MotorModel::generalized, MotorModel::gaussian, MotorModel::lognormal}) {
      INFO(std::string(cname) << ", " << to_string(m));
      const MotorNoise mn{m, 0.12, 0.35};
      for (double y : {0.2, 0.55}) {
        double g;
        const double f = expected_cost_posterior(cost, mu, sp, mn, p.data(), y, &g);
        const double h = 1e-5;
        const double fd = (expected_cost_posterior(cost, mu, sp, mn, p.data(), y + h, nullptr) -
                           expected_cost_posterior(cost, mu, sp, mn, p.data(), y - h, nullptr)) / (2 * h);
        CHECK(g == doctest::Approx(fd).epsilon(2e-6).scale(1e-3));
        if (cost.motor_truncation > 0) continue;  // the trapezoid below has no truncation
        // Brute force: trapezoid over (e, u) in [-9, 9]^2.
        const int n = 1200;
        double bf = 0;
        std::vector<double> wz(n + 1), z(n + 1);
        for (int i = 0; i <= n; ++i) {
          z[i] = -9 + 18.0 * i / n;
          wz[i] = (i == 0 || i == n ? 0.5 : 1.0) * 18.0 / n * std::exp(-0.5 * z[i] * z[i]) / std::sqrt(2 * pi);
        }
        for (int j = 0; j <= n; ++j) {
          const double r = motor_response(mn, y, z[j], nullptr);
          for (int i = 0; i <= n; ++i) bf += wz[i] * wz[j] * cost.loss(std::exp(mu + sp * z[i]), r, p.data());
        }
        CHECK(f == doctest::Approx(bf).epsilon(2e-5));
      }
    }
  }
  // Quadratic cost, gaussian motor noise: the optimal action is E[s | m] (closed form, exact).
  const CostInfo& quad = find_cost("QuadraticCost");
  const std::vector<double> theta{0.2, 0.3, 1.5, unused_sigma_r, 0.4};
  for (double m : {0.5, 1.3, 4.0}) {
    const double closed = optimal_action(quad, MotorSpec{MotorModel::gaussian, false}, theta, m);
    const auto post = actor_posterior(m, 0.2, 0.3, 1.5);
    CHECK(closed == doctest::Approx(std::exp(post.mu_post + 0.5 * post.sigma_post * post.sigma_post)).epsilon(1e-14));
    CHECK(numerical_action(quad, MotorNoise{MotorModel::gaussian, 0, 0.4}, theta, m) == doctest::Approx(closed).epsilon(1e-8));
  }
}

TEST_CASE("fused training kernel under every motor model: loss and dloss/da against a double evaluation of the same draws") {
  const std::size_t K = 37, n = 3;  // K not a multiple of the SIMD width: the tail is masked
  const std::vector<float> mu{0.1f, 0.6f, -0.3f}, sp{0.2f, 0.1f, 0.3f}, a{1.2f, 1.9f, 0.8f}, sr{0.1f, 0.2f, 0.15f},
      sa{0.3f, 0.1f, 0.2f};
  std::vector<float> e(n * K), u(n * K);
  Rng rng(8, 0);
  for (std::size_t i = 0; i < e.size(); ++i) e[i] = float(rng.normal()), u[i] = float(rng.normal());
  // Smooth costs (a finite difference of a Monte Carlo sum of a kinked cost jumps wherever a
  // draw crosses s = r).
  for (const char* cname : {"QuadraticCost", "InvertedGaussian"}) {
    const CostInfo& cost = find_cost(cname);
    for (int motor : {0, 1, 2}) {
      INFO(std::string(cname) << ", motor " << motor);
      std::vector<float> loss(n), dl(n);
      const std::vector<float> params(cost.params.size() * n, 1.5f);  // gamma = 1.5 (InvertedGaussian)
      const double p1 = 1.5;
      auto g = bactor::testing::fused_args(K, mu, sp, a, sr, params);
      g.e_fixed = e.data();
      g.u_fixed = u.data();
      g.motor = motor;
      g.sigma_a = sa.data();
      g.loss = loss.data();
      g.dloss_da = dl.data();
      cost.fused(g);
      for (std::size_t b = 0; b < n; ++b) {
        const MotorNoise mn{MotorModel(motor), sr[b], sa[b]};
        auto mean_cost = [&](double ab) {
          double s = 0;
          for (std::size_t k = 0; k < K; ++k)
            s += cost.loss(std::exp(mu[b] + double(sp[b]) * e[b * K + k]),
                           motor_response(mn, std::log(ab), u[b * K + k], nullptr), &p1);
          return s / double(K);
        };
        const double h = 1e-5 * a[b];
        CHECK(loss[b] == doctest::Approx(mean_cost(a[b])).epsilon(2e-5));
        CHECK(dl[b] == doctest::Approx((mean_cost(a[b] + h) - mean_cost(a[b] - h)) / (2 * h)).epsilon(1e-3).scale(1e-3));
      }
    }
  }
}

namespace {
/// A case of the composed node's tests: cost, motor model and action source.
struct FormCase {
  const char* cost;
  MotorSpec motor;
  const char* head;  // nullptr: the closed form (or the exact action)
};
/// theta of two rows (theta_of at shifts 0 and 0.06), one after the other.
std::vector<double> two_rows_theta(const CostInfo& cost, const MotorSpec& motor) {
  std::vector<double> v = theta_of(cost, motor, 0.0);
  const auto row1 = theta_of(cost, motor, 0.06);
  v.insert(v.end(), row1.begin(), row1.end());
  return v;
}
} // namespace

TEST_CASE("motor forms of the composed likelihood: finite differences, value path, brute-force integral") {
  const std::vector<FormCase> cases{
      {"QuadraticCost", {MotorModel::gaussian, false}, nullptr},
      {"QuadraticCostQuadraticEffort", {MotorModel::gaussian, true}, nullptr},
      {"QuadraticCost", {MotorModel::lognormal, true}, nullptr},
      {"QuadraticCost", {MotorModel::generalized, false}, "mupost"},
      {"QuadraticCostQuadraticEffort", {MotorModel::generalized, true}, "softplus"},
      {"AbsoluteCost", {MotorModel::gaussian, false}, "softplus"},
      {"QuadraticCost", {MotorModel::lognormal, true}, "softplus"},
  };
  for (const FormCase& c : cases) {
    const CostInfo& cost = find_cost(c.cost);
    INFO(std::string(c.cost) << ", " << c.motor.name() << ", " << (c.head ? c.head : "closed form"));
    const auto net = c.head ? motor_network(c.cost, c.motor.model, 5, c.head) : nullptr;
    d::LikelihoodPlan plan(cost, net, false, LatentMode::marginal, false, default_quadrature_nodes, c.motor);
    const std::size_t nt = plan.n_theta();
    std::vector<double> v = two_rows_theta(cost, c.motor);
    v.push_back(-2.5);  // acc
    fill_rows(plan, v, 2 * d::simd_lanes() + 3, 5, 17);
    const auto rows = rows_of(plan, nt);
    auto r = gradcheck(
        [&](std::span<const Var> in) { return d::add_likelihood(plan, in[0], rows, d::Elem{in[0], v.size() - 1}); },
        {v}, GradCheckOptions{1e-6, 5e-5, 1e-6});  // fixed nodes: the integral's gradient to quadrature accuracy
    CHECK_MESSAGE(r.ok, r.report);
    CHECK(std::isfinite(r.value));
    // Value path and the brute-force integral per trial.
    std::vector<double> each(plan.trials[0].size() + plan.trials[1].size());
    std::vector<double*> ptr{each.data(), each.data() + plan.trials[0].size()};
    d::likelihood_values(plan, v.data(), rows, nullptr, ptr);
    double sum = v.back();
    for (double l : each) sum += l;
    CHECK(r.value == doctest::Approx(sum).epsilon(1e-10));
    for (std::size_t row = 0, k = 0; row < 2; ++row)
      for (std::size_t i = 0; i < plan.trials[row].size(); ++i, ++k)
        CHECK(each[k] == doctest::Approx(brute_trial(plan, v.data() + row * nt, plan.trials[row].x[i],
                                                     plan.trials[row].r[i])).epsilon(1e-6));
  }
}

TEST_CASE("motor forms with lapses: finite differences, value path, each trial the mixture with the brute-force integral") {
  const std::vector<FormCase> cases{
      {"QuadraticCost", {MotorModel::gaussian, false}, nullptr},
      {"QuadraticCost", {MotorModel::lognormal, true}, nullptr},
      {"QuadraticCostQuadraticEffort", {MotorModel::generalized, true}, "softplus"},
      {"QuadraticCost", {MotorModel::generalized, false}, "mupost"},
      {"AbsoluteCost", {MotorModel::gaussian, true}, "softplus"},
  };
  for (const FormCase& c : cases) {
    const CostInfo& cost = find_cost(c.cost);
    INFO(std::string(c.cost) << ", " << c.motor.name() << ", " << (c.head ? c.head : "closed form"));
    const auto net = c.head ? motor_network(c.cost, c.motor.model, 5, c.head) : nullptr;
    // 31 nodes: the gradient is that of the quadrature sum with its nodes held fixed, which
    // differs from the finite difference (the nodes move with the parameters) by the rule's error
    // in the derivative; with the default 9 nodes at this sigma that reached 2e-4 relative (in
    // sigma_a, gaussian motor, eps near 0 as well), with 31 it is below the checker's tolerance.
    d::LikelihoodPlan plan(cost, net, false, LatentMode::marginal, true, 31, c.motor);
    // The contaminant on [0.05, 20]: uniform in r (gaussian), else in log r.
    const bool linear = c.motor.model == MotorModel::gaussian;
    const double lo = 0.05, hi = 20, width = linear ? hi - lo : std::log(hi / lo);
    plan.log_width = std::log(width);
    const std::size_t nt = plan.n_theta();
    std::vector<double> v = two_rows_theta(cost, c.motor);
    v.push_back(0.07);  // the rows' lapse probabilities
    v.push_back(0.2);
    v.push_back(-2.5);  // acc
    fill_rows(plan, v, 2 * d::simd_lanes() + 3, 5, 19);
    plan.trials[0].y[1] = std::log(15.0), plan.trials[0].r[1] = 15.0;  // a lapse far from the actor's responses
    plan.finish();
    auto rows = rows_of(plan, nt);
    rows[0].eps_at = 2 * nt, rows[1].eps_at = 2 * nt + 1;
    auto r = gradcheck(
        [&](std::span<const Var> in) { return d::add_likelihood(plan, in[0], rows, d::Elem{in[0], v.size() - 1}); },
        {v}, GradCheckOptions{1e-6, 5e-5, 1e-6});
    CHECK_MESSAGE(r.ok, r.report);
    std::vector<double> each(plan.trials[0].size() + plan.trials[1].size());
    std::vector<double*> ptr{each.data(), each.data() + plan.trials[0].size()};
    d::likelihood_values(plan, v.data(), rows, nullptr, ptr);
    double sum = v.back();
    for (double l : each) sum += l;
    CHECK(r.value == doctest::Approx(sum).epsilon(1e-10));
    for (std::size_t row = 0, k = 0; row < 2; ++row)
      for (std::size_t i = 0; i < plan.trials[row].size(); ++i, ++k) {
        const double resp = plan.trials[row].r[i], eps = v[2 * nt + row];
        const double actor = std::exp(brute_trial(plan, v.data() + row * nt, plan.trials[row].x[i], resp));
        const double cont = linear ? 1 / width : 1 / (width * resp);
        CHECK(each[k] == doctest::Approx(std::log((1 - eps) * actor + eps * cont)).epsilon(1e-6));
      }
  }
}

TEST_CASE("motor forms with sampled latents, with and without lapses: finite differences, value path, each trial's density") {
  const std::vector<FormCase> cases{
      {"QuadraticCost", {MotorModel::gaussian, false}, nullptr},
      {"QuadraticCost", {MotorModel::lognormal, true}, nullptr},
      {"QuadraticCostQuadraticEffort", {MotorModel::generalized, true}, "softplus"},
      {"QuadraticCost", {MotorModel::generalized, false}, "mupost"},
  };
  for (const FormCase& c : cases)
    for (const bool lapse : {false, true}) {
      const CostInfo& cost = find_cost(c.cost);
      INFO(std::string(c.cost) << ", " << c.motor.name() << ", " << (c.head ? c.head : "closed form") << (lapse ? ", lapses" : ""));
      const auto net = c.head ? motor_network(c.cost, c.motor.model, 5, c.head) : nullptr;
      d::LikelihoodPlan plan(cost, net, false, LatentMode::sampled, lapse, default_quadrature_nodes, c.motor);
      const bool linear = c.motor.model == MotorModel::gaussian;
      const double width = linear ? 20 - 0.05 : std::log(20 / 0.05);
      plan.log_width = std::log(width);
      const std::size_t nt = plan.n_theta();
      std::vector<double> v = two_rows_theta(cost, c.motor);
      if (lapse) v.push_back(0.07), v.push_back(0.2);
      v.push_back(-2.5);  // acc
      fill_rows(plan, v, 7, 5, 23);
      plan.trials[1].z_begin = plan.trials[0].size();
      auto rows = rows_of(plan, nt);
      rows[0].eps_at = 2 * nt, rows[1].eps_at = 2 * nt + 1;
      Rng rng(8, 0);
      std::vector<double> z(plan.trials[0].size() + plan.trials[1].size());
      for (double& x : z) x = rng.normal();
      auto r = gradcheck(
          [&](std::span<const Var> in) { return d::add_likelihood(plan, in[0], rows, d::Elem{in[0], v.size() - 1}, in[1]); },
          {v, z}, GradCheckOptions{1e-6, 1e-5, 1e-7});
      CHECK_MESSAGE(r.ok, r.report);
      std::vector<double> each(z.size());
      std::vector<double*> ptr{each.data(), each.data() + plan.trials[0].size()};
      d::likelihood_values(plan, v.data(), rows, z.data(), ptr);
      double sum = v.back();
      for (std::size_t k = 0; k < z.size(); ++k) sum += each[k] - 0.5 * z[k] * z[k];
      CHECK(r.value == doctest::Approx(sum).epsilon(1e-10));
      // Each trial: the motor density at the action of u = x + sigma z, written out directly.
      for (std::size_t row = 0, k = 0; row < 2; ++row) {
        const double* th = v.data() + row * nt;
        const MotorNoise mn = motor_noise(cost, c.motor, {th, nt});
        const double off = c.motor.offset ? th[nt - 1] : 0.0;
        for (std::size_t i = 0; i < plan.trials[row].size(); ++i, ++k) {
          const double resp = plan.trials[row].r[i];
          double ref = motor_logpdf(mn.model, resp, log_action(plan, th, plan.trials[row].x[i] + th[0] * z[k]), mn.sigma_r,
                                    mn.sigma_a, off);
          if (lapse) {
            const double eps = v[2 * nt + row], cont = linear ? 1 / width : 1 / (width * resp);
            ref = std::log((1 - eps) * std::exp(ref) + eps * cont);
          }
          CHECK(each[k] == doctest::Approx(ref).epsilon(1e-9));
        }
      }
    }
}

namespace {
/// The composed node with the exact action under motor models: gradient against finite
/// differences, each trial against the brute-force integral over the measurement with the
/// ground truth's action (optimal_action: for QuadraticCost x gaussian the closed form E[s | m],
/// which the solver must reproduce; numerical otherwise). Tolerance 1e-5 on log p: the solver's
/// 20 x 20 rule and its interpolant (3e-7 in log a) against the ground truth's 32 x 32 rule.
/// Not a kinked cost under gaussian noise: there the ground truth's own quadrature has not
/// converged at small sigma_a (docs/families.md).
void check_exact_motor(const std::vector<FormCase>& cases) {
  for (const FormCase& c : cases) {
    const CostInfo& cost = find_cost(c.cost);
    INFO(std::string(c.cost) << ", " << c.motor.name());
    d::LikelihoodPlan plan(cost, nullptr, true, LatentMode::marginal, false, default_quadrature_nodes, c.motor);
    const std::size_t nt = plan.n_theta();
    std::vector<double> v = two_rows_theta(cost, c.motor);
    v.push_back(-2.5);  // acc
    fill_rows(plan, v, 6, 3, 29);
    const auto rows = rows_of(plan, nt);
    auto r = gradcheck(
        [&](std::span<const Var> in) { return d::add_likelihood(plan, in[0], rows, d::Elem{in[0], v.size() - 1}); },
        {v}, GradCheckOptions{1e-6, 1e-4, 1e-6});  // the action's partials by the implicit function theorem
    CHECK_MESSAGE(r.ok, r.report);
    std::vector<double> each(plan.trials[0].size() + plan.trials[1].size());
    std::vector<double*> ptr{each.data(), each.data() + plan.trials[0].size()};
    d::likelihood_values(plan, v.data(), rows, nullptr, ptr);
    for (std::size_t row = 0, k = 0; row < 2; ++row)
      for (std::size_t i = 0; i < plan.trials[row].size(); ++i, ++k)
        CHECK(each[k] == doctest::Approx(brute_trial(plan, v.data() + row * nt, plan.trials[row].x[i],
                                                     plan.trials[row].r[i])).epsilon(1e-5));
  }
}
} // namespace

TEST_CASE("motor forms with the exact action: finite differences, brute-force integral (generalized, QuadraticCost)") {
  check_exact_motor({{"QuadraticCost", {MotorModel::generalized, false}, nullptr}});
}
TEST_CASE("motor forms with the exact action, more models and costs (slow: run with --no-skip)" * doctest::skip()) {
  check_exact_motor({{"QuadraticCost", {MotorModel::gaussian, true}, nullptr},
                     {"QuadraticCostQuadraticEffort", {MotorModel::generalized, true}, nullptr},
                     {"InvertedGaussian", {MotorModel::gaussian, false}, nullptr}});
}

TEST_CASE("motor forms: the log-normal form with a vanishing offset is the exact power-law marginal") {
  const CostInfo& quad = find_cost("QuadraticCost");
  const MotorSpec motor{MotorModel::lognormal, true};
  d::LikelihoodPlan plan(quad, nullptr, false, LatentMode::marginal, false, default_quadrature_nodes, motor);
  std::vector<double> v = theta_of(quad, motor, 0.0), row1 = theta_of(quad, motor, 0.05);
  v.insert(v.end(), row1.begin(), row1.end());
  fill_rows(plan, v, 12, 7, 2);
  v[4] = v[9] = 1e-13;  // the offsets
  const auto rows = rows_of(plan, 5);
  std::vector<double> each(19);
  std::vector<double*> ptr{each.data(), each.data() + 12};
  d::likelihood_values(plan, v.data(), rows, nullptr, ptr);
  for (std::size_t row = 0, k = 0; row < 2; ++row) {
    const PowerHead h = plan.power_head(v.data() + row * 5);
    for (std::size_t i = 0; i < plan.trials[row].size(); ++i, ++k)
      CHECK(each[k] == doctest::Approx(power_trial_loglik(h, plan.trials[row].x[i], plan.trials[row].y[i], v[row * 5],
                                                          v[row * 5 + 3])).epsilon(1e-7));
  }
}

namespace {
/// A point of the unconstrained space near the default priors' bulk (fixed draws).
std::vector<double> test_point(const ActorModel& m) {
  Rng rng(4, 0);
  std::vector<double> q(m.dim());
  for (double& x : q) x = -1.5 + 0.2 * rng.normal();
  return q;
}
/// The same data in units 1000 times smaller (stimuli and responses times 1000).
Dataset times_1000(Dataset d) {
  for (double& s : d.s) s *= 1000;
  for (double& r : d.r) r *= 1000;
  return d;
}
} // namespace

TEST_CASE("ActorModel under motor models: parameter names, gradient, and what is refused") {
  const CostInfo& quad = find_cost("QuadraticCost");
  SimulationSpec sim;
  sim.cost = &quad;
  sim.motor = {MotorModel::gaussian, true};
  sim.values = {{"sigma", 0.2}, {"sigma_0", 0.2}, {"mu_0", 2.0}, {"sigma_a", 0.2}, {"offset", 0.1}};
  sim.trials = 40;
  sim.s_lo = 0.5;
  sim.s_hi = 4;
  const Dataset data = simulate(sim);
  InferenceSpec spec;
  spec.cost = &quad;
  spec.motor = sim.motor;
  ActorModel m(data, spec);
  CHECK(m.free_names() == std::vector<std::string>{"mu_0", "sigma_0", "sigma", "sigma_a", "offset"});
  const std::vector<double> q = test_point(m);
  CHECK(bactor::testing::gradient_error(m, q) < 1e-5);
  // sigma_a and the offset are in data units: the same data in other units scale them.
  ActorModel mb(times_1000(data), spec);
  const auto c1 = m.constrain(q), c2 = mb.constrain(q);
  for (std::size_t k = 0; k < c1.size(); ++k) {
    const bool units = k == 0 || k == 3 || k == 4;
    CHECK(c2[k] == doctest::Approx(c1[k] * (units ? 1000.0 : 1.0)).epsilon(1e-12));
  }
  // Refusals: sigma_r is not a parameter of the gaussian model; a cost without a closed form
  // under the motor model and no network; a network of another motor model.
  InferenceSpec bad = spec;
  bad.fixed["sigma_r"] = 0.1;
  CHECK_THROWS_AS(ActorModel(data, bad), ArgumentError);
  bad = spec;
  bad.motor = {MotorModel::generalized, false};  // no closed form
  CHECK_THROWS_AS(ActorModel(data, bad), ArgumentError);
  bad.network = motor_network("QuadraticCost", MotorModel::gaussian, 2, "mupost");
  try {
    ActorModel mm(data, bad);
    FAIL("a gaussian-motor network accepted for generalized motor noise");
  } catch (const ArgumentError& e) {
    CHECK(std::string(e.what()).find("gaussian motor noise, not generalized") != std::string::npos);
  }
  bad.motor = {MotorModel::gaussian, false};
  ActorModel ok(data, bad);  // the same network for its own motor model
  CHECK(ok.free_names() == std::vector<std::string>{"mu_0", "sigma_0", "sigma", "sigma_a"});
}

TEST_CASE("ActorModel under gaussian motor noise reads responses <= 0 as themselves") {
  // Regression: the responses <= 0 were once patched into the rows after their padded SIMD copy
  // was made, so the kernels read every such response as r = S (e^0): two data sets that differ
  // only in one negative response gave the same log density. Now they differ, and the trial's
  // log-likelihood falls as the response moves away from the actor's.
  const CostInfo& quad = find_cost("QuadraticCost");
  SimulationSpec sim;
  sim.cost = &quad;
  sim.motor = {MotorModel::gaussian, false};
  sim.values = {{"sigma", 0.2}, {"sigma_0", 0.3}, {"mu_0", 1.0}, {"sigma_a", 0.5}};
  sim.trials = 2 * d::simd_lanes() + 3;  // full SIMD batches and a padded one
  sim.s_lo = 0.2;
  sim.s_hi = 2;
  Dataset a = simulate(sim);
  a.r[1] = -0.3;
  Dataset b = a;
  b.r[1] = -1.5;
  InferenceSpec spec;
  spec.cost = &quad;
  spec.motor = sim.motor;
  ActorModel ma(a, spec), mb(b, spec);
  const std::vector<double> q = test_point(ma);
  std::vector<double> ga(q.size()), gb(q.size());
  const double la = ma.log_density(q, ga), lb = mb.log_density(q, gb);
  REQUIRE(std::isfinite(la));
  REQUIRE(std::isfinite(lb));
  CHECK(la > lb + 1.0);  // -1.5 is far below the actor's responses (a > 0, sd 0.5 S or so)
  CHECK(bactor::testing::gradient_error(ma, q) < 1e-5);
}

TEST_CASE("ActorModel under motor models with lapses: gradient, and each trial a density of r in the data's units") {
  const CostInfo& quad = find_cost("QuadraticCost");
  for (const MotorSpec motor : {MotorSpec{MotorModel::gaussian, true}, MotorSpec{MotorModel::lognormal, true}}) {
    INFO(motor.name());
    SimulationSpec sim;
    sim.cost = &quad;
    sim.motor = motor;
    sim.values = {{"sigma", 0.2}, {"sigma_0", 0.2}, {"mu_0", 2.0}, {"offset", 0.1}};
    sim.values[motor.has_sigma_a() ? "sigma_a" : "sigma_r"] = 0.2;
    sim.trials = 40;
    sim.s_lo = 0.5;
    sim.s_hi = 4;
    sim.lapse = 0.1;
    const Dataset data = simulate(sim);
    InferenceSpec spec;
    spec.cost = &quad;
    spec.motor = motor;
    spec.lapse = true;
    ActorModel m(data, spec);
    CHECK(m.free_names().back() == "lapse");
    const std::vector<double> q = test_point(m);
    CHECK(bactor::testing::gradient_error(m, q) < 1e-5);
    // The same data in units 1000 times smaller (and the contaminant's range with them): every
    // trial's log-density drops by log 1000, the Jacobian of a density of r.
    ActorModel mb(times_1000(data), spec);
    std::vector<double> l1(data.size()), l2(data.size());
    m.trial_loglik(q, l1);
    mb.trial_loglik(q, l2);
    for (std::size_t i = 0; i < l1.size(); ++i) CHECK(l2[i] == doctest::Approx(l1[i] - std::log(1000.0)).epsilon(1e-9));
  }
}

namespace {

/// The fused SIMD kernel (motor_marginal, or the exact log-normal form) against the scalar
/// motor_trial_loglik trial by trial: values and the summed gradient, with weights (padding 0).
template <class Head, class Motor>
void check_kernel(const Head& h, const char* name, bool exact = false) {
  INFO(std::string(name));
  Rng rng(11, 0);
  const GaussHermiteSet rules;
  for (int rep = 0; rep < 6; ++rep) {
    const double sig = rng.uniform(0.03, 0.45);
    const MotorParams mp{rng.uniform(0.05, 0.4), rng.uniform(0.05, 0.6), rep % 2 ? rng.uniform(0.01, 0.3) : 0.0};
    const std::size_t n = 3 * d::simd_lanes() + (d::simd_lanes() > 1 ? 2 : 0), padded = 4 * d::simd_lanes();
    std::vector<double> x(padded), r(padded), wt(padded, 0.0), ll(padded);
    for (std::size_t i = 0; i < padded; ++i) {
      x[i] = std::log(rng.uniform(0.4, 5.0));
      r[i] = mp.delta + std::exp(x[i] + 0.4 * rng.normal());
      if (i < n) wt[i] = rng.uniform(0.5, 1.5);
    }
    if (rep == 5) r[1] = 0.5 * mp.delta;  // below the offset: density 0 in the log-normal families
    d::MotorSums s;
    const GaussHermite& rule = rules.for_sigma(sig);
    double total;
    if constexpr (std::is_same_v<Head, PowerHead> && std::is_same_v<Motor, LognormalMotor>)
      total = exact ? d::lognormal_offset_marginal(h, padded, x.data(), r.data(), wt.data(), sig, mp, s, ll.data())
                    : d::motor_marginal<Head, Motor>(h, padded, x.data(), r.data(), wt.data(), sig, mp, rule, s, ll.data());
    else
      total = d::motor_marginal<Head, Motor>(h, padded, x.data(), r.data(), wt.data(), sig, mp, rule, s, ll.data());
    TrialGrad<Head> tg{};
    d::MotorGrad mg;
    double ref = 0;
    for (std::size_t i = 0; i < n; ++i) {
      TrialGrad<Head> ti{};
      d::MotorGrad mi;
      const double li = d::motor_trial_loglik<Motor>(h, x[i], r[i], sig, mp, rule, ti, mi);
      if (std::isfinite(li)) CHECK(ll[i] == doctest::Approx(li).epsilon(exact ? 1e-9 : 1e-11));
      else CHECK(ll[i] == -INFINITY);
      ref += wt[i] * li;
      tg.sigma += wt[i] * ti.sigma, tg.sigma_r += wt[i] * ti.sigma_r;
      mg.sa += wt[i] * mi.sa, mg.delta += wt[i] * mi.delta;
      d::MarginalForm::add_adjoint(tg.head, scaled_adjoint(ti.head, wt[i]));
    }
    if (!std::isfinite(ref)) {
      CHECK(total == -INFINITY);
      continue;
    }
    const double tol = exact ? 1e-8 : 1e-10;
    CHECK(total == doctest::Approx(ref).epsilon(tol));
    CHECK(s.sigma == doctest::Approx(tg.sigma).epsilon(tol).scale(1));
    CHECK(s.sigma_r == doctest::Approx(tg.sigma_r).epsilon(tol).scale(1));
    CHECK(s.sa == doctest::Approx(mg.sa).epsilon(tol).scale(1));
    CHECK(s.delta == doctest::Approx(mg.delta).epsilon(tol).scale(1));
    const auto hv = head_values(tg.head);
    for (std::size_t k = 0; k < hv.size(); ++k) CHECK(s.head[k] == doctest::Approx(hv[k]).epsilon(tol).scale(1));
  }
}

} // namespace

TEST_CASE("motor kernels: the SIMD marginal and the exact log-normal form against the scalar quadrature per trial") {
  const PowerHead p{0.3, 0.7};
  const SoftplusHead sp{1.3, 0.8, 0.1};
  check_kernel<PowerHead, GaussianMotor>(p, "power x gaussian");
  check_kernel<PowerHead, GeneralizedMotor>(p, "power x generalized");
  check_kernel<PowerHead, LognormalMotor>(p, "power x lognormal (quadrature)");
  check_kernel<PowerHead, LognormalMotor>(p, "power x lognormal (exact)", true);
  check_kernel<SoftplusHead, GaussianMotor>(sp, "softplus x gaussian");
  check_kernel<SoftplusHead, GeneralizedMotor>(sp, "softplus x generalized");
  check_kernel<SoftplusHead, LognormalMotor>(sp, "softplus x lognormal");
}

namespace {

/// log p(r | s) of gaussian motor noise under a power-law action by brute force: trapezoid over
/// u in x +- 10 sigma (20,001 points) of N(u; x, sigma) N(r - delta; k e^{w u}, sa).
double brute_power_gaussian(const PowerHead& h, double x, double r, double sig, double sa) {
  const int n = 20000;
  double sum = 0;
  for (int i = 0; i <= n; ++i) {
    const double z = -10 + 20.0 * i / n, e = r - std::exp(h.log_k + h.w * (x + sig * z));
    sum += (i == 0 || i == n ? 0.5 : 1.0) * std::exp(-0.5 * z * z - 0.5 * e * e / (sa * sa)) * 20.0 / n;
  }
  return std::log(sum / (2 * pi * sa));
}

/// The worst error of log p (relative where |log p| > 1) of the SIMD kernel per sigma band and
/// node count, power-law head (the closed forms: log k ~ U(-1, 1.5), w ~ U(0.2, 1)) under
/// gaussian motor noise with sa ~ U(0.01, 0.6) in units of S, s ~ U(0.1, 5), responses from the
/// model and every other one 2 predictive sd off it. Returns the worst error with `rules` by band.
double power_gaussian_table(int cases, std::uint64_t seed, const int* scheduled, bool print) {
  std::vector<double> bands{0.0};
  for (double u : quadrature_band_upper) bands.push_back(u);
  const int counts[] = {3, 5, 7, 9, 11, 13, 15, 19};
  std::ostringstream table;
  table << "sigma band    ";
  for (int m : counts) table << std::setw(8) << m;
  table << "   scheduled\n";
  double worst_scheduled = 0;
  const std::size_t L = d::simd_lanes();
  auto kernel = [&](const PowerHead& h, double x, double r, double sig, double sa, const GaussHermite& rule) {
    std::vector<double> xs(L, x), rs(L, r), wt(L, 0.0);
    wt[0] = 1;
    d::MotorSums s;
    return d::motor_marginal<PowerHead, GaussianMotor>(h, L, xs.data(), rs.data(), wt.data(), sig, {0, sa, 0}, rule, s);
  };
  for (std::size_t b = 0; b + 1 < bands.size(); ++b) {
    Rng rng(seed + b, 3);
    struct C {
      PowerHead h;
      double x, r, sig, sa, ref;
    };
    std::vector<C> cs;
    for (int k = 0; k < cases; ++k) {
      const double sig = k == 0 ? bands[b + 1] : rng.uniform(std::max(bands[b], 0.01), bands[b + 1]);
      const PowerHead h{rng.uniform(-1.0, 1.5), rng.uniform(0.2, 1.0)};
      const double x = std::log(rng.uniform(0.1, 5.0)), sa = rng.uniform(0.01, 0.6);
      const double a = std::exp(h.log_k + h.w * (x + sig * rng.normal()));
      double r = a + sa * rng.normal();
      if (k % 2) r += 2 * std::sqrt(sa * sa + std::pow(a * h.w * sig, 2)) * (rng.uniform() < 0.5 ? -1 : 1);
      cs.push_back({h, x, r, sig, sa, brute_power_gaussian(h, x, r, sig, sa)});
    }
    table << std::fixed << std::setprecision(2) << bands[b] << "-" << bands[b + 1] << "     " << std::scientific
          << std::setprecision(0);
    for (int m : counts) {
      const GaussHermite rule(m);
      double worst = 0;
      for (const C& c : cs) worst = std::max(worst, std::abs(kernel(c.h, c.x, c.r, c.sig, c.sa, rule) - c.ref) / std::max(1.0, std::abs(c.ref)));
      table << std::setw(8) << worst;
    }
    const GaussHermite rule(scheduled[b]);
    double worst = 0;
    for (const C& c : cs) worst = std::max(worst, std::abs(kernel(c.h, c.x, c.r, c.sig, c.sa, rule) - c.ref) / std::max(1.0, std::abs(c.ref)));
    table << "   " << scheduled[b] << " nodes: " << worst << "\n";
    worst_scheduled = std::max(worst_scheduled, worst);
  }
  if (print) MESSAGE("power-law head x gaussian motor noise, worst error of log p per sigma band and node count, " << cases
                     << " cases per band:\n" << table.str() << "worst with the scheduled counts: " << worst_scheduled);
  return worst_scheduled;
}

} // namespace

TEST_CASE("motor kernels: error table of the power-law head under gaussian motor noise" * doctest::skip()) {
  power_gaussian_table(1000, 40, quadrature_node_counts, true);
}

TEST_CASE("offset sums: the tabulated log-normal-with-offset marginal equals the per-trial loop, value and gradient") {
  // Data sets of several sizes and shapes (one response far below the rest, responses in a narrow
  // band, weights and padding), offsets across the table (negative, 0, near the smallest
  // response) and outside it (where marginal() declines and the loop serves).
  Rng rng(17, 0);
  int served = 0, declined = 0;
  for (int rep = 0; rep < 12; ++rep) {
    const std::size_t n = rep < 4 ? 5 : (rep < 8 ? 150 : 1500), padded = (n + 7) / 8 * 8;
    std::vector<double> x(padded), r(padded), wt(padded, 0.0);
    for (std::size_t i = 0; i < padded; ++i) {
      x[i] = std::log(rng.uniform(0.3, 6.0));
      r[i] = 0.2 + std::exp(x[i] + (rep % 3 == 2 ? 0.01 : 0.4) * rng.normal());
      if (i < n) wt[i] = rep % 2 ? rng.uniform(0.5, 1.5) : 1.0;
    }
    if (rep % 4 == 1) r[0] = 1e-3;  // one response far below the others
    const d::OffsetSums table(padded, x.data(), r.data(), wt.data());
    REQUIRE(table.valid());
    double r_min = INFINITY;
    for (std::size_t i = 0; i < n; ++i) r_min = std::min(r_min, r[i]);
    const PowerHead h{rng.uniform(-0.3, 0.3), rng.uniform(0.3, 0.95)};
    const double sig = rng.uniform(0.05, 0.4);
    for (double frac : {-2.5, -0.5, 0.0, 0.3, 0.9, 0.999, 1 - 1e-6, 1 - 1e-9, -5.0}) {
      const MotorParams mp{rng.uniform(0.05, 0.4), 0.0, frac * r_min};
      CAPTURE(n);
      CAPTURE(frac);
      d::MotorSums st, sl;
      double ll_table = 0;
      const double ll_loop = d::lognormal_offset_marginal(h, padded, x.data(), r.data(), wt.data(), sig, mp, sl);
      if (!table.marginal(h, sig, mp, st, ll_table)) {
        ++declined;
        CHECK((frac < -3 || frac > 1 - 1.6e-8));  // only outside the tabulated range
        continue;
      }
      ++served;
      const double scale = std::abs(ll_loop) + 1;
      CHECK(ll_table == doctest::Approx(ll_loop).epsilon(1e-11 * scale / std::max(1.0, std::abs(ll_loop))).scale(1));
      CHECK(std::abs(ll_table - ll_loop) <= 1e-10 * scale);
      for (auto [a, b] : {std::pair{st.head[0], sl.head[0]}, {st.head[1], sl.head[1]}, {st.sigma, sl.sigma},
                          {st.sigma_r, sl.sigma_r}, {st.delta, sl.delta}})
        CHECK(std::abs(a - b) <= 1e-8 * (std::abs(b) + double(n)));
      // The offset derivative is the derivative of the tabulated value (central differences;
      // not within 1e-3 r_min of r_min, where the log-likelihood's size makes them inexact).
      if (frac > 0.999) continue;
      const double hstep = 1e-6 * (r_min - mp.delta);
      double lp = 0, lm = 0;
      d::MotorSums dummy;
      MotorParams p = mp, m = mp;
      p.delta += hstep, m.delta -= hstep;
      if (table.marginal(h, sig, p, dummy, lp) && table.marginal(h, sig, m, dummy, lm))
        CHECK((lp - lm) / (2 * hstep) == doctest::Approx(st.delta).epsilon(1e-5).scale(1));
    }
  }
  MESSAGE("offset sums: " << served << " served by the table, " << declined << " declined");
  CHECK(served >= 12 * 7);
  CHECK(declined >= 12);
}
