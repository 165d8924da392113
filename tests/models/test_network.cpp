// SPDX-License-Identifier: MIT
// ActionNetwork: double forward/backward against finite differences, agreement with the
// trainer's float network, head formula.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <bactor/engine/rng.hpp>
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

TEST_CASE("ActionNetwork backward (double) matches central finite differences") {
  const std::vector<std::pair<const char*, const char*>> cases{
      {"QuadraticCost", "softplus"}, {"Linex", "softplus"},          {"QuadraticCost", "power"},
      {"QuadraticCost", "posterior"}, {"QuadraticCostQuadraticEffort", "posterior"}};
  for (const auto& [cost, head] : cases) {
    const ActionNetwork net = trainer_random_network(cost, 4, head);
    std::vector<double> th{0.2, 0.3, 2.0, 0.15};
    if (net.n_inputs() == 5) th.push_back(0.7);
    ActionNetwork::Workspace ws;
    const double dx[3] = {0.7, -1.3, 0.4};
    double x[3];
    net.forward(th, x, ws);
    std::vector<double> g(th.size());
    net.backward(std::span<const double, 3>(dx), g, ws);
    for (std::size_t i = 0; i < th.size(); ++i) {
      auto f = [&](double delta) {
        auto t = th;
        t[i] += delta;
        double y[3];
        ActionNetwork::Workspace w2;
        net.forward(t, y, w2);
        return dx[0] * y[0] + dx[1] * y[1] + dx[2] * y[2];
      };
      const double h = 1e-6 * std::max(1.0, std::abs(th[i]));
      const double fd = (f(h) - f(-h)) / (2 * h);
      CAPTURE(cost);
      CAPTURE(head);
      CAPTURE(i);
      CHECK(g[i] == doctest::Approx(fd).epsilon(1e-6).scale(1e-8));
    }
  }
}

TEST_CASE("trainer float network and ActionNetwork double agree") {
  TrainSettings s;
  s.cost = "AsymmetricQuadratic";
  s.batch = 32;
  s.steps = 10;
  s.eval_points = 8;
  Trainer tr(s);
  Rng rng(2, 2);
  for (auto& w : tr.parameters()) w = float(rng.normal() * 0.3);
  const ActionNetwork net = tr.network();
  const CostInfo& c = find_cost(s.cost);
  const std::size_t n = 70, d = theta_size(c);
  std::vector<double> th(n * d), m(n), a(n);
  for (std::size_t i = 0; i < n; ++i) sample_training_point(c, TrainingPrior{}, rng, {th.data() + i * d, d}, m[i]);
  tr.actions(th, m, a);
  for (std::size_t i = 0; i < n; ++i) {
    const double ad = net.action({th.data() + i * d, d}, m[i]);
    CHECK(a[i] == doctest::Approx(ad).epsilon(1e-4).scale(1e-3));
  }
}

TEST_CASE("ActionNetwork forward (double, SIMD) equals a plain scalar forward pass") {
  // Reference: the MlpLayout definition evaluated with std::exp, one weight at a time; for the
  // posterior head on the features (sigma_post, sigma_r, cost params), then its power form.
  const std::vector<std::pair<const char*, const char*>> cases{
      {"QuadraticCost", "softplus"}, {"Linex", "softplus"}, {"QuadraticCostQuadraticEffort", "posterior"}};
  for (const auto& [cost, head] : cases) {
    const ActionNetwork net = trainer_random_network(cost, 5, head);
    const bool posterior = net.head() == NetworkHead::posterior;
    const auto& sizes = net.layout().sizes;
    const auto params = net.parameters();
    Rng rng(8, 1);
    ActionNetwork::Workspace ws;
    for (int rep = 0; rep < 20; ++rep) {
      std::vector<double> th{rng.uniform(0.01, 0.8), rng.uniform(0.01, 0.8), rng.uniform(0.1, 5), rng.uniform(0.01, 0.8)};
      if (net.n_inputs() == 5) th.push_back(rng.uniform(0.1, 2));
      std::vector<double> f = th;
      if (posterior) {  // (sigma_post, sigma_r, beta)
        f = {th[0] * th[1] / std::sqrt(th[0] * th[0] + th[1] * th[1]), th[3]};
        if (th.size() == 5) f.push_back(th[4]);
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
      if (posterior) {  // log k = x0 + w_0 log mu_0, logit w = log(sigma_0^2 / sigma^2)
        const double w0 = th[0] * th[0] / (th[0] * th[0] + th[1] * th[1]);
        a = {a[0] + w0 * std::log(th[2]), std::log(th[1] * th[1] / (th[0] * th[0])), 0.0};
      }
      double x[3];
      net.forward(th, x, ws);
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
