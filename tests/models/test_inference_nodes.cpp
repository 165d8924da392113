// SPDX-License-Identifier: MIT
// The inference log-density's tape nodes (models/inference_nodes.hpp): each node's gradient
// against central finite differences (tests/engine/gradcheck.hpp), with its operands read at
// offsets of larger nodes and its adjoints both stored fresh and added to earlier ones; the
// caller-memory leaves of engine/tape_view.hpp; and ActorModel on the tape: one Scope per call
// (the arena does not grow over repeated gradients), value-only calls, and one tape per thread
// (concurrent models give the single-threaded results bit for bit).
#include "models/inference_nodes.hpp"

#include "engine/tape_view.hpp"
#include "models/inference_kernels.hpp"
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/network_node.hpp>
#include <bactor/models/simulate.hpp>
#include "tests/engine/gradcheck.hpp"
#include "tests/models/inference_test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <thread>
#include <vector>

using namespace bactor;
using bactor::testing::gradcheck;
using bactor::testing::GradCheckOptions;
using bactor::testing::reduce;
namespace d = bactor::detail;

namespace {

/// A plan over slots sigma.1, sigma.2, sigma_0, mu_0, sigma_r, beta (two conditions, theta of
/// 5), with the given fixed slots; q in output order of the free ones.
d::ConstrainPlan two_condition_plan(std::vector<int> fixed = {}) {
  d::ConstrainPlan plan;
  const Prior half{Prior::Kind::half_normal, 0.25, 0}, unif{Prior::Kind::uniform, 0.1, 5.0},
      logn{Prior::Kind::lognormal, -0.1, 0.5};
  for (const Prior& p : {half, half, half, unif, half, logn}) plan.slots.push_back({p});
  for (int s : fixed) plan.slots[std::size_t(s)].fixed = true, plan.slots[std::size_t(s)].value = 0.3;
  int q = 0;
  for (auto& s : plan.slots)
    if (!s.fixed) s.q = q++;
  plan.n_free = std::size_t(q);
  const int C = 2;
  for (int c = 0; c < C; ++c)
    for (int t = 0; t < 5; ++t) plan.layout.push_back(t == 0 ? c : C + t - 1);
  plan.prepare();
  return plan;
}

} // namespace

TEST_CASE("inference nodes: constrain_node (transforms, priors, log-Jacobians) vs finite differences") {
  SUBCASE("two conditions (a layout that repeats slots), every prior kind, one slot fixed") {
    const auto plan = two_condition_plan({1});
    CHECK_FALSE(plan.identity);
    const std::vector<double> q{0.3, -1.2, -1.9, 0.4, -1.6};  // mu_0 (logit), sigma_0, sigma_r, sigma.1, beta
    auto r = gradcheck([&](std::span<const Var> in) { return reduce(d::constrain_node(in[0], plan)); }, {q});
    CHECK_MESSAGE(r.ok, r.report);
    // The adjoint of q added to an earlier contribution (a node created later runs first).
    r = gradcheck(
        [&](std::span<const Var> in) { return reduce(d::constrain_node(in[0], plan)) + sum(in[0] * 0.3); }, {q});
    CHECK_MESSAGE(r.ok, r.report);
    // q read from a larger node (latents after it): its adjoint is added, not claimed.
    std::vector<double> qz = q;
    qz.push_back(0.7);
    r = gradcheck(
        [&](std::span<const Var> in) { return reduce(d::constrain_node(in[0], plan)) + sum(slice(in[0], 5, 1)); },
        {qz});
    CHECK_MESSAGE(r.ok, r.report);
  }
  SUBCASE("one condition (identity layout), nothing fixed") {
    d::ConstrainPlan plan;
    plan.slots = {{Prior{Prior::Kind::half_normal, 0.25, 0}}, {Prior{Prior::Kind::half_normal, 0.4, 0}},
                  {Prior{Prior::Kind::uniform, 0.1, 5.0}}, {Prior{Prior::Kind::half_normal, 0.25, 0}}};
    for (int s = 0; s < 4; ++s) plan.slots[std::size_t(s)].q = 3 - s;
    plan.layout = {0, 1, 2, 3};
    plan.n_free = 4;
    plan.prepare();
    CHECK(plan.identity);
    for (double x : {-2.5, 0.0, 3.0}) {  // both branches of the logit transform's sigmoid
      const std::vector<double> q{-1.7, x, -0.9, -1.4};
      auto r = gradcheck([&](std::span<const Var> in) { return reduce(d::constrain_node(in[0], plan)); }, {q});
      CHECK_MESSAGE(r.ok, r.report);
    }
  }
  SUBCASE("values: the transforms, and the priors + log-Jacobian of Prior::log_density") {
    const auto plan = two_condition_plan();
    const std::vector<double> q{0.3, -1.2, -1.9, 0.4, -1.1, -0.2};
    Tape::Scope scope;
    const Var V = d::constrain_node(constant(q), plan);
    // slots: sigma.1 (q 3), sigma.2 (q 4), sigma_0 (q 1), mu_0 (q 0), sigma_r (q 2), beta (q 5)
    double lp = 0;
    std::vector<double> v(6);
    for (std::size_t s = 0; s < 6; ++s) {
      const auto& sl = plan.slots[s];
      const double x = q[std::size_t(sl.q)];
      double lj;
      if (sl.prior.kind == Prior::Kind::uniform) {
        const double sg = 1 / (1 + std::exp(-x)), span = sl.prior.b - sl.prior.a;
        v[s] = sl.prior.a + span * sg;
        lj = std::log(span * sg * (1 - sg));
      } else {
        v[s] = std::exp(x);
        lj = x;
      }
      lp += sl.prior.log_density(v[s]) + lj;
    }
    for (std::size_t j = 0; j < plan.layout.size(); ++j)
      CHECK(V.value(j) == doctest::Approx(v[std::size_t(plan.layout[j])]).epsilon(1e-14));
    CHECK(V.value(plan.layout.size()) == doctest::Approx(lp).epsilon(1e-13));
  }
}

TEST_CASE("inference nodes: network_outputs read at an offset of a larger node equals the plain node") {
  // The likelihood's network rows (models/likelihood_plan.hpp) read theta in place; the
  // composed node's gradient through them is checked in test_likelihood.cpp.
  const CostInfo& cost = find_cost("QuadraticCost");
  for (NetworkHead head : {NetworkHead::softplus, NetworkHead::power, NetworkHead::posterior}) {
    INFO("head " << to_string(head));
    const auto net = bactor::testing::random_network(cost, 3, head);
    const std::vector<double> v{9.0, 0.21, 0.17, 1.6, 0.12, 0.33, 0.17, 1.6, 0.12};
    std::vector<ActionNetwork::Workspace> ws(2);
    Tape::Scope scope;
    const std::vector<double> theta(v.begin() + 5, v.end());
    const Var a = variable(v), b = variable(theta);
    const Var xa = network_outputs(*net, a, 5, ws[0]), xb = network_outputs(*net, b);
    for (std::size_t k = 0; k < 3; ++k) CHECK(xa.value(k) == xb.value(k));
    backward(reduce(xa) + reduce(xb));
    for (std::size_t k = 0; k < 4; ++k) CHECK(a.adjoint(5 + k) == doctest::Approx(b.adjoint(k)).epsilon(1e-15));
  }
}

TEST_CASE("tape_view: a variable over caller memory; its adjoint buffer is the caller's gradient") {
  const std::vector<double> x{0.5, -1.0, 2.0};
  std::vector<double> g(3, 99.0), g2(3, 99.0);
  {
    Tape::Scope scope;
    const Var v = variable_view(x, g);
    CHECK(v.values().data() == x.data());  // not copied
    const Var u = variable_view(x, g2);    // not reached by the pass
    backward(sum(square(v)) + element(v, 1));
    finish_view(v);
    finish_view(u);
  }
  CHECK(g == std::vector<double>{1.0, -1.0, 4.0});
  CHECK(g2 == std::vector<double>{0.0, 0.0, 0.0});
  Tape::Scope scope;
  CHECK_THROWS_AS(variable_view(x, std::span<double>(g.data(), 2)), std::invalid_argument);
}

namespace {
Dataset study(const CostInfo& cost, std::size_t n, int conditions) {
  SimulationSpec spec;
  spec.cost = &cost;
  spec.values = {{"sigma", 0.2}, {"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}};
  for (const auto& p : cost.params) spec.values[p.name] = 0.9;
  if (conditions > 1) spec.condition_sigmas = {0.1, 0.25};
  spec.trials = n;
  spec.seed = 11;
  return simulate(spec);
}

/// Every action source and latent mode, two conditions.
std::vector<InferenceSpec> every_model(const CostInfo& cost) {
  std::vector<InferenceSpec> specs;
  for (LatentMode mode : {LatentMode::marginal, LatentMode::sampled})
    for (int source = 0; source < 4; ++source) {
      InferenceSpec s;
      s.cost = &cost;
      s.latent = mode;
      if (source > 0)
        s.network = bactor::testing::random_network(
            cost, 2, source == 1 ? NetworkHead::softplus : source == 2 ? NetworkHead::power : NetworkHead::posterior);
      specs.push_back(s);
    }
  return specs;
}
} // namespace

TEST_CASE("inference on the tape: one Scope per log_density (no arena growth), value-only calls, one tape per thread") {
  const CostInfo& cost = find_cost("QuadraticCost");
  const Dataset data = study(cost, 40, 2);
  for (const InferenceSpec& spec : every_model(cost)) {
    INFO("latent " << to_string(spec.latent) << " head " << (spec.network ? to_string(spec.network->head()) : "closed form"));
    ActorModel m(data, spec);
    Rng rng(9, 0);
    std::vector<double> q = m.unconstrain({{"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}});
    for (auto& v : q) v += 0.2 * rng.normal();
    std::vector<double> g(m.dim()), g2(m.dim());
    Tape& tape = Tape::current();
    const std::size_t nodes0 = tape.num_nodes(), bytes0 = tape.arena_bytes();
    const double lp = m.log_density(q, g);  // warm-up: may reserve arena blocks
    const std::size_t capacity = tape.arena_capacity(), blocks = tape.arena_blocks();
    for (int i = 0; i < 200; ++i) CHECK(m.log_density(q, g2) == lp);
    CHECK(g2 == g);
    CHECK(tape.arena_capacity() == capacity);
    CHECK(tape.arena_blocks() == blocks);
    CHECK(tape.num_nodes() == nodes0);
    CHECK(tape.arena_bytes() == bytes0);
    // Without a gradient: the same value from constants, and the gradient buffer untouched.
    CHECK(m.log_density(q, {}) == lp);
    // Called inside a caller's open scope with nodes of its own: same value and gradient.
    {
      Tape::Scope outer;
      const Var a = variable(1.5);
      const Var b = square(a);
      CHECK(m.log_density(q, g2) == lp);
      CHECK(g2 == g);
      backward(b);
      CHECK(a.adjoint() == 3.0);
    }
    // Two chains on two threads, each with its own model and (thread-local) tape.
    std::vector<double> lp_t(2), out(2 * m.dim());
    std::vector<std::thread> threads;
    for (int k = 0; k < 2; ++k)
      threads.emplace_back([&, k] {
        ActorModel mk(data, spec);
        std::vector<double> gk(mk.dim());
        for (int i = 0; i < 100; ++i) lp_t[std::size_t(k)] = mk.log_density(q, gk);
        std::copy(gk.begin(), gk.end(), out.begin() + std::ptrdiff_t(k * m.dim()));
      });
    for (auto& t : threads) t.join();
    for (int k = 0; k < 2; ++k) {
      CHECK(lp_t[std::size_t(k)] == lp);
      CHECK(std::equal(g.begin(), g.end(), out.begin() + std::ptrdiff_t(k * m.dim())));
    }
  }
}

TEST_CASE("inference on the tape: a point outside the support gives -inf and a zero gradient") {
  const CostInfo& cost = find_cost("QuadraticCost");
  const Dataset data = study(cost, 10, 1);
  InferenceSpec spec;
  spec.cost = &cost;
  ActorModel m(data, spec);
  std::vector<double> q = m.unconstrain({}), g(m.dim(), 5.0);
  q[1] = 800;  // sigma_0 = e^800 overflows
  const double lp = m.log_density(q, g);
  CHECK_FALSE(std::isfinite(lp));
  for (double v : g) CHECK(v == 0.0);
}
