// SPDX-License-Identifier: MIT
// ActionNetwork: double forward/backward against finite differences for every head, agreement
// with the trainer's float network for every head, head formulas.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <bactor/engine/rng.hpp>
#include <bactor/models/actor.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/train.hpp>

#include "tests/models/inference_test_util.hpp"

using namespace bactor;
using bactor::testing::trainer_random_network;


TEST_CASE("head: a = softplus(softplus(x0) m^sigmoid(x1) + x2)") {
  const double x[3] = {0.3, -0.4, 0.2};
  const double m = 2.5;
  const double k = std::log1p(std::exp(0.3)), w = 1 / (1 + std::exp(0.4));
  CHECK(ActionNetwork::action(NetworkHead::softplus, std::span<const double, 3>(x), m) ==
        doctest::Approx(std::log1p(std::exp(k * std::pow(m, w) + 0.2))).epsilon(1e-14));
}

TEST_CASE("ActionNetwork backward (double) matches central finite differences, every head") {
  // The posterior and mupost heads' backward takes the derivatives of their features and
  // closed-form parts from models/network_heads.hpp in forward mode; mupost with and without a
  // cost length scale (Linex, InvertedGaussian; QuadraticCostQuadraticEffort), also d log a/d log m.
  const std::vector<std::pair<const char*, const char*>> cases{
      {"QuadraticCost", "softplus"},  {"Linex", "softplus"},
      {"QuadraticCost", "power"},     {"QuadraticCost", "posterior"},
      {"QuadraticCostQuadraticEffort", "posterior"}, {"QuadraticCostQuadraticEffort", "mupost"},
      {"Linex", "mupost"},            {"InvertedGaussian", "mupost"}};
  struct Case {
    const char* cost;
    const char* head;
    MotorModel motor = MotorModel::lognormal;
  };
  std::vector<Case> all;
  for (const auto& [cost, head] : cases) all.push_back({cost, head});
  // With sigma_a (generalized, gaussian motor noise): the mupost head of a cost with a length
  // scale sees sigma_a / kappa, a function of the cost parameter too.
  for (MotorModel motor : {MotorModel::generalized, MotorModel::gaussian})
    for (const char* cost : {"Linex", "InvertedGaussian", "AbsoluteCostQuadraticEffort"}) all.push_back({cost, "mupost", motor});
  all.push_back({"QuadraticCost", "mupost", MotorModel::generalized});
  for (const auto& [cost, head, motor] : all) {
    const ActionNetwork net = trainer_random_network(cost, 4, head, motor);
    std::vector<double> th{0.2, 0.3, 2.0, 0.15};
    if (find_cost(cost).params.size() == 1) th.push_back(0.7);
    if (motor != MotorModel::lognormal) th.push_back(0.35);  // sigma_a
    REQUIRE(th.size() == net.n_inputs());
    const double m = 1.7;
    ActionNetwork::Workspace ws;
    const double dx[3] = {0.7, -1.3, 0.4};
    auto loss = [&](const std::vector<double>& t, double mm) {
      double y[3];
      ActionNetwork::Workspace w2;
      net.forward(t, mm, y, w2);
      return dx[0] * y[0] + dx[1] * y[1] + dx[2] * y[2];
    };
    double x[3];
    net.forward(th, m, x, ws);
    std::vector<double> g(th.size());
    double dlm = NAN;
    net.backward(std::span<const double, 3>(dx), g, ws, &dlm);
    CAPTURE(cost);
    CAPTURE(head);
    CAPTURE(to_string(motor));
    for (std::size_t i = 0; i < th.size(); ++i) {
      const double h = 1e-6 * std::max(1.0, std::abs(th[i]));
      auto tp = th, tm = th;
      tp[i] += h;
      tm[i] -= h;
      const double fd = (loss(tp, m) - loss(tm, m)) / (2 * h);
      CAPTURE(i);
      CHECK(g[i] == doctest::Approx(fd).epsilon(1e-6).scale(1e-8));
    }
    if (net.head() == NetworkHead::mupost) {  // d log a / d log m (log a = x0)
      const double h = 1e-6;
      const double fd = (loss(th, m * std::exp(h)) - loss(th, m * std::exp(-h))) / (2 * h) / dx[0];
      CHECK(dlm == doctest::Approx(fd).epsilon(1e-6).scale(1e-8));
    }
  }
}

TEST_CASE("trainer float network and ActionNetwork double agree, every head") {
  // The trainer evaluates the head on the tape in float (heads::action on Tensors); ActionNetwork
  // in double from the power form: the same templates, so the actions agree to float precision.
  const std::vector<std::pair<const char*, const char*>> cases{{"AsymmetricQuadratic", "softplus"},
                                                               {"QuadraticCost", "power"},
                                                               {"QuadraticCostQuadraticEffort", "posterior"},
                                                               {"QuadraticCostQuadraticEffort", "mupost"}};
  // (the mupost head of the three costs with a length scale: tests/models/test_mupost.cpp)
  for (const auto& [cost_name, head] : cases) {
    CAPTURE(cost_name);
    CAPTURE(head);
    for (const auto& [af, ad] : bactor::testing::float_double_actions(cost_name, head, 2, 70))
      CHECK(af == doctest::Approx(ad).epsilon(1e-4).scale(1e-3));
  }
}

TEST_CASE("heads::action: each head's formula, in double from the power form") {
  // ActionNetwork::action reads the power form: exp(x0) m^sigmoid(x1) for power and posterior
  // (posterior: x0 holds w_0 log mu_0, x1 logit w), exp(x0) for mupost, the softplus formula.
  const double x[3] = {0.3, -0.4, 0.2}, m = 2.5, w = 1 / (1 + std::exp(0.4));
  const std::span<const double, 3> xs(x);
  CHECK(ActionNetwork::action(NetworkHead::power, xs, m) == doctest::Approx(std::exp(0.3) * std::pow(m, w)).epsilon(1e-14));
  CHECK(ActionNetwork::action(NetworkHead::posterior, xs, m) ==
        doctest::Approx(std::exp(0.3) * std::pow(m, w)).epsilon(1e-14));
  CHECK(ActionNetwork::action(NetworkHead::mupost, xs, m) == doctest::Approx(std::exp(0.3)).epsilon(1e-14));
  // The posterior head's power form is exp(x0_mlp + mu_post): check against actor_posterior.
  const ActionNetwork net = trainer_random_network("QuadraticCost", 9, "posterior");
  const std::vector<double> th{0.2, 0.3, 2.0, 0.15};
  double y[3];
  ActionNetwork::Workspace ws;
  net.forward(th, y, ws);
  const double x0_mlp = ws.act.back()[0];
  const auto post = actor_posterior(m, th[0], th[1], th[2]);
  CHECK(net.action(std::span<const double, 3>(y), m) == doctest::Approx(std::exp(x0_mlp + post.mu_post)).epsilon(1e-13));
}

TEST_CASE("ActionNetwork forward (double, SIMD) equals a plain scalar forward pass") {
  // Reference: the MlpLayout definition evaluated with std::exp, one weight at a time; for the
  // posterior head on the features (sigma_post, sigma_r, cost params), then its power form; for
  // the mupost head on (sigma_post, sigma_r, cost params, mu_post), then log a = mu_post + x0.
  const std::vector<std::pair<const char*, const char*>> cases{
      {"QuadraticCost", "softplus"}, {"Linex", "softplus"}, {"QuadraticCostQuadraticEffort", "posterior"},
      {"QuadraticCostQuadraticEffort", "mupost"}};
  for (const auto& [cost, head] : cases) {
    const ActionNetwork net = trainer_random_network(cost, 5, head);
    const bool posterior = net.head() == NetworkHead::posterior, mupost = net.head() == NetworkHead::mupost;
    const double m = 1.3;
    const auto& sizes = net.layout().sizes;
    const auto params = net.parameters();
    Rng rng(8, 1);
    ActionNetwork::Workspace ws;
    for (int rep = 0; rep < 20; ++rep) {
      std::vector<double> th{rng.uniform(0.01, 0.8), rng.uniform(0.01, 0.8), rng.uniform(0.1, 5), rng.uniform(0.01, 0.8)};
      if (net.n_inputs() == 5) th.push_back(rng.uniform(0.1, 2));
      std::vector<double> f = th;
      const double w0 = th[0] * th[0] / (th[0] * th[0] + th[1] * th[1]);  // the prior's weight
      const double mu_post = w0 * std::log(th[2]) + (1 - w0) * std::log(m);
      if (posterior || mupost) {  // (sigma_post, sigma_r, beta[, mu_post])
        f = {th[0] * th[1] / std::sqrt(th[0] * th[0] + th[1] * th[1]), th[3]};
        if (th.size() == 5) f.push_back(th[4]);
        if (mupost) f.push_back(mu_post);
      }
      REQUIRE(f.size() == net.n_features());
      std::vector<double> a(f.size());
      for (std::size_t i = 0; i < f.size(); ++i) {
        const auto& sc = net.scaling()[i];
        a[i] = ((sc.log ? std::log(f[i]) : f[i]) - sc.shift) / sc.scale;
      }
      for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
        const std::size_t in = std::size_t(sizes[l]), out = std::size_t(sizes[l + 1]);
        const float* w = params.data() + net.layout().weight_offset(l);
        const float* b = params.data() + net.layout().bias_offset(l);
        std::vector<double> z(out);
        for (std::size_t j = 0; j < out; ++j) {
          double s = b[j];
          for (std::size_t i = 0; i < in; ++i) s += double(w[j * in + i]) * a[i];
          z[j] = l + 2 < sizes.size() ? s / (1 + std::exp(-s)) : s;  // swish on hidden layers
        }
        a = z;
      }
      if (posterior)  // log k = x0 + w_0 log mu_0, logit w = log(sigma_0^2 / sigma^2)
        a = {a[0] + w0 * std::log(th[2]), std::log(th[1] * th[1] / (th[0] * th[0])), 0.0};
      if (mupost) a = {a[0] + mu_post, 0.0, 0.0};  // log a = mu_post + g
      double x[3];
      net.forward(th, m, x, ws);
      CAPTURE(head);
      for (int k = 0; k < 3; ++k) CHECK(x[k] == doctest::Approx(a[k]).epsilon(1e-13).scale(1e-13));
    }
  }
}

TEST_CASE("one Workspace shared by networks of different shapes gives the results of fresh ones") {
  const ActionNetwork a = trainer_random_network("QuadraticCostQuadraticEffort", 6, "posterior");  // 3 inputs
  const ActionNetwork b = trainer_random_network("QuadraticCostQuadraticEffort", 7, "softplus");   // 5 inputs
  const std::vector<double> th{0.2, 0.3, 2.0, 0.15, 0.8};
  ActionNetwork::Workspace shared;
  for (const ActionNetwork* net : {&a, &b, &a, &b}) {
    double x[3], y[3];
    ActionNetwork::Workspace fresh;
    net->forward(th, x, shared);
    net->forward(th, y, fresh);
    for (int k = 0; k < 3; ++k) CHECK(x[k] == y[k]);
    std::vector<double> g1(th.size()), g2(th.size());
    const double dx[3] = {0.3, -0.2, 0.1};
    net->backward(std::span<const double, 3>(dx), g1, shared);
    net->backward(std::span<const double, 3>(dx), g2, fresh);
    CHECK(g1 == g2);
  }
}
