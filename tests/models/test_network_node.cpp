// SPDX-License-Identifier: MIT
// network_outputs: the action network as a tape node. Gradient against finite differences for
// each head, several nodes on one tape (the shared workspace is recomputed in the reverse
// pass), agreement with ActionNetwork::forward, argument checks.
#include <doctest/doctest.h>

#include <stdexcept>
#include <vector>

#include <bactor/engine/autodiff.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/models/network_node.hpp>
#include <bactor/models/train.hpp>

#include "tests/engine/gradcheck.hpp"
#include "tests/models/inference_test_util.hpp"

using namespace bactor;
using bactor::testing::trainer_random_network;

namespace {


} // namespace

TEST_CASE("network_outputs: values are ActionNetwork::forward's, gradient matches finite differences") {
  const std::vector<std::pair<const char*, const char*>> cases{
      {"QuadraticCost", "softplus"}, {"Linex", "softplus"}, {"QuadraticCost", "power"},
      {"QuadraticCostQuadraticEffort", "power"}, {"QuadraticCost", "posterior"},
      {"QuadraticCostQuadraticEffort", "posterior"}};
  for (const auto& [cost, head] : cases) {
    INFO(cost << " " << head);
    const ActionNetwork net = trainer_random_network(cost, 4, head);
    std::vector<double> th{0.2, 0.3, 2.0, 0.15};
    if (net.n_inputs() == 5) th.push_back(0.7);
    {
      Tape::Scope scope;
      const Var x = network_outputs(net, constant(th));
      double ref[3];
      ActionNetwork::Workspace ws;
      net.forward(th, ref, ws);
      for (std::size_t k = 0; k < 3; ++k) CHECK(x.value(k) == ref[k]);
      CHECK_FALSE(x.needs_grad());
    }
    const auto r = bactor::testing::gradcheck(
        [&](std::span<const Var> in) { return bactor::testing::reduce(network_outputs(net, in[0])); }, {th});
    CHECK_MESSAGE(r.ok, r.report);
  }
}

TEST_CASE("network_outputs: several nodes on one tape, composed with other ops") {
  // Three subjects' thetas built from shared and per-subject variables, two networks; the
  // reverse pass meets the nodes in the opposite order of their forward passes.
  const ActionNetwork a = trainer_random_network("QuadraticCost", 5, "posterior");
  const ActionNetwork b = trainer_random_network("QuadraticCost", 6, "power");
  auto f = [&](std::span<const Var> in) {
    Var shared = in[0];  // (sigma, sigma_0)
    Var total = constant(0.0);
    for (std::size_t j = 0; j < 3; ++j) {
      Var theta = concat(shared, concat(element(in[1], j), element(in[2], 0)));  // mu_0_j, sigma_r
      Var x = network_outputs(j == 1 ? b : a, theta);
      total = total + element(x, 0) * (1.0 + double(j)) + square(element(x, 1)) + sigmoid(element(x, 2));
    }
    return total;
  };
  const auto r = bactor::testing::gradcheck(f, {{0.2, 0.3}, {1.5, 2.5, 4.0}, {0.12}});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("network_outputs: argument checks") {
  const ActionNetwork net = trainer_random_network("QuadraticCost", 7, "power");
  Tape::Scope scope;
  CHECK_THROWS_AS(network_outputs(net, variable(std::vector<double>{0.2, 0.3, 2.0})), std::invalid_argument);
  CHECK_THROWS_AS(network_outputs(net, Var()), std::invalid_argument);
  // A mupost network's outputs depend on the measurement: no node over theta alone (the
  // likelihood tabulates it per trial, models/marginal.hpp).
  const ActionNetwork mu = trainer_random_network("QuadraticCostQuadraticEffort", 7, "mupost");
  CHECK_THROWS_AS(network_outputs(mu, variable(std::vector<double>{0.2, 0.3, 2.0, 0.15, 0.7})), std::invalid_argument);
  // The workspace form reads theta at an offset: entries 1..4 of a 5-vector fit, 2..5 do not.
  ActionNetwork::Workspace ws;
  const Var t5 = variable(std::vector<double>{9.0, 0.2, 0.15, 1.5, 0.1});
  CHECK_NOTHROW(network_outputs(net, t5, 1, ws));
  CHECK_THROWS_AS(network_outputs(net, t5, 2, ws), ArgumentError);
}
