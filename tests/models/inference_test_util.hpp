// SPDX-License-Identifier: MIT
// Shared by the models tests: random action networks and the finite-difference check of a
// model's gradient.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/train.hpp>
#include <bactor/samplers/model.hpp>

namespace bactor::testing {

/// A small randomly initialised action network for `cost` (weights ~ N(0, 0.3^2)).
inline std::shared_ptr<const ActionNetwork> random_network(const CostInfo& cost, std::uint64_t seed,
                                                           NetworkHead head = NetworkHead::softplus) {
  const auto names = theta_names(cost);
  const int n_feat = static_cast<int>(head_input_count(head, names.size()));
  const std::vector<int> sizes{n_feat, 16, 64, 16, 8, 3};
  std::vector<float> params(MlpLayout{sizes}.n_params());
  Rng rng(seed, 0);
  for (auto& p : params) p = static_cast<float>(0.3 * rng.normal());
  return std::make_shared<ActionNetwork>(cost.name, names, sizes, params, std::vector<InputScaling>(std::size_t(n_feat)),
                                         bactor::NetworkMetadata{}, head);
}

/// A network as the trainer builds it (its architecture and input scaling) for `cost` and
/// `head` (and motor model), with weights ~ N(0, sd^2), by default 0.5: larger than the init, so
/// every layer matters in checks.
inline ActionNetwork trainer_random_network(const std::string& cost, std::uint64_t seed, const char* head = "softplus",
                                            MotorModel motor = MotorModel::lognormal, double sd = 0.5) {
  TrainSettings s;
  s.cost = cost;
  s.head = head;
  s.motor = motor;
  s.batch = 32;
  s.steps = 10;
  s.eval_points = 8;
  s.seed = seed;
  Trainer tr(s);
  Rng rng(seed, 3);
  for (auto& w : tr.parameters()) w = float(rng.normal() * sd);
  return tr.network();
}

/// Max over coordinates of |analytic - FD| / max(1, |FD|) at q (central differences, h = 1e-6).
inline double gradient_error(Model& model, const std::vector<double>& q) {
  std::vector<double> g(model.dim()), dummy(model.dim());
  const double lp = model.log_density(q, g);
  REQUIRE(std::isfinite(lp));
  double worst = 0;
  for (std::size_t i = 0; i < q.size(); ++i) {
    const double h = 1e-6;
    auto qp = q, qm = q;
    qp[i] += h;
    qm[i] -= h;
    const double fd = (model.log_density(qp, dummy) - model.log_density(qm, dummy)) / (2 * h);
    worst = std::max(worst, std::abs(g[i] - fd) / std::max(1.0, std::abs(fd)));
  }
  return worst;
}

} // namespace bactor::testing
