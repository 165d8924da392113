// SPDX-License-Identifier: MIT
// Shared by the models tests: random action networks, the finite-difference check of a
// model's gradient, and the per-trial log-likelihood a hierarchical fit must report.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/hierarchical.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/marginal.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/train.hpp>
#include <bactor/samplers/model.hpp>

namespace bactor::testing {

/// A mupost network's backward pass against central finite differences of its output x0 at
/// (theta, m): d x0 / d theta_i (step 1e-6 (|theta_i| or at least `floor`)) and the
/// measurement's derivative, in m itself (`linear`, a gaussian-perception network) or in log m.
/// x1 must stay 0 (the mupost head's power form). Returns x0.
inline double check_mupost_backward(const ActionNetwork& net, const std::vector<double>& th, double m, bool linear,
                                    double floor = 0.0) {
  ActionNetwork::Workspace ws;
  auto x0 = [&](const std::vector<double>& t, double mm) {
    double x[3];
    net.forward(t, mm, x, ws);
    CHECK(x[1] == 0.0);
    return x[0];
  };
  double x[3];
  net.forward(th, m, x, ws);
  std::vector<double> g(th.size());
  double dm = NAN;
  const double dx[3] = {1.0, 0.0, 0.0};
  net.backward(dx, g, ws, &dm);
  const double value = x[0];
  for (std::size_t i = 0; i < th.size(); ++i) {
    const double h = 1e-6 * std::max(floor, std::abs(th[i]));
    auto tp = th, tm = th;
    tp[i] += h;
    tm[i] -= h;
    CHECK(g[i] == doctest::Approx((x0(tp, m) - x0(tm, m)) / (2 * h)).epsilon(1e-6).scale(1.0));
  }
  const double h = 1e-6;
  const double fd = linear ? (x0(th, m + h) - x0(th, m - h)) / (2 * h) : (x0(th, m * std::exp(h)) - x0(th, m * std::exp(-h))) / (2 * h);
  CHECK(dm == doctest::Approx(fd).epsilon(1e-6).scale(1.0));
  return value;
}

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

/// A small trainer (batch 32) for `cost` and `head` whose weights are drawn ~ N(0, scale^2)
/// from `rng`.
inline std::unique_ptr<Trainer> random_weight_trainer(const std::string& cost, const char* head, std::uint64_t seed,
                                                      double scale, Rng& rng, MotorModel motor = MotorModel::lognormal) {
  TrainSettings s;
  s.cost = cost;
  s.head = head;
  s.motor = motor;
  s.batch = 32;
  s.steps = 10;
  s.eval_points = 8;
  s.seed = seed;
  auto tr = std::make_unique<Trainer>(s);
  for (auto& w : tr->parameters()) w = float(rng.normal() * scale);
  return tr;
}

/// A network as the trainer builds it (its architecture and input scaling) for `cost` and
/// `head` (and motor model), with weights ~ N(0, sd^2), by default 0.5: larger than the init, so
/// every layer matters in checks.
inline ActionNetwork trainer_random_network(const std::string& cost, std::uint64_t seed, const char* head = "softplus",
                                            MotorModel motor = MotorModel::lognormal, double sd = 0.5) {
  Rng rng(seed, 3);
  return random_weight_trainer(cost, head, seed, sd, rng, motor)->network();
}

/// The actions of a trainer with random weights ~ N(0, 0.3^2) at n training points: the
/// trainer's own (float, the head on the tape) as `first`, ActionNetwork's (double, from the same
/// weights) as `second`.
inline std::vector<std::pair<double, double>> float_double_actions(const std::string& cost_name, const char* head,
                                                                   std::uint64_t seed, std::size_t n) {
  Rng rng(seed, 3);
  const auto tr = random_weight_trainer(cost_name, head, seed, 0.3, rng);
  const ActionNetwork net = tr->network();
  const CostInfo& cost = find_cost(cost_name);
  const std::size_t d = theta_size(cost);
  std::vector<double> theta(n * d), m(n), a(n);
  for (std::size_t i = 0; i < n; ++i) sample_training_point(cost, TrainingPrior{}, rng, {theta.data() + i * d, d}, m[i]);
  tr->actions(theta, m, a);
  std::vector<std::pair<double, double>> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = {a[i], net.action({theta.data() + i * d, d}, m[i])};
  return out;
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

/// A model's outputs (write_outputs) at q.
inline std::vector<double> outputs_at(Model& model, std::span<const double> q) {
  std::vector<double> out(model.output_names().size());
  Rng rng(1, 0);
  model.write_outputs(q, rng, out);
  return out;
}

/// Each trial's exact marginal log-likelihood under a QuadraticCost cohort model's theta of its
/// subject in its condition at q (subject_theta), in file order: what log_lik.i must be.
inline std::vector<double> quadratic_cohort_loglik(const HierarchicalModel& model, const Dataset& data, std::span<const double> q) {
  const auto theta = model.subject_theta(q);
  const auto& ids = model.subject_ids();
  const std::size_t C = std::max<std::size_t>(1, data.conditions());
  std::vector<double> out;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const std::size_t j = std::size_t(std::find(ids.begin(), ids.end(), data.subject[i]) - ids.begin());
    const std::span<const double> th(&theta[(j * C + std::size_t(data.cond[i])) * 4], 4);
    const PowerHead h = closed_form_head(find_cost("QuadraticCost"), th);
    out.push_back(power_trial_loglik(h, std::log(data.s[i]), std::log(data.r[i]), th[0], th[3]));
  }
  return out;
}

} // namespace bactor::testing
