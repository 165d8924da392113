// SPDX-License-Identifier: MIT
// Training points and the fixed evaluation set: theta and m drawn from the training prior
// (docs/training.md), the input scaling derived from it, and optimal actions for evaluation.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include <bactor/engine/rng.hpp>
#include <bactor/models/motor.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/train.hpp>
#include "models/exact_linear.hpp"
#include "models/train_linear.hpp"

namespace bactor {

void sample_training_point(const CostInfo& cost, const TrainingPrior& prior, Rng& rng, std::span<double> theta,
                           double& m) {
  sample_training_point(cost, MotorModel::lognormal, prior, rng, theta, m);
}

void sample_training_point(const CostInfo& cost, MotorModel motor, const TrainingPrior& prior, Rng& rng,
                           std::span<double> theta, double& m) {
  theta[0] = rng.uniform(prior.noise_lo, prior.noise_hi);
  theta[1] = rng.uniform(prior.noise_lo, prior.noise_hi);
  theta[2] = rng.uniform(prior.mu0_lo, prior.mu0_hi);
  theta[3] = rng.uniform(prior.noise_lo, prior.noise_hi);
  for (std::size_t j = 0; j < cost.params.size(); ++j) theta[4 + j] = sample_prior(cost.params[j], rng);
  const double s = rng.uniform(prior.s_lo, prior.s_hi);
  m = std::exp(std::log(s) + theta[0] * rng.normal());
  if (motor == MotorModel::gaussian) theta[3] = unused_sigma_r;
  if (motor != MotorModel::lognormal) theta[theta_size(cost)] = rng.uniform(prior.sigma_a_lo, prior.sigma_a_hi);
}

std::vector<InputScaling> training_input_scaling(const CostInfo& cost, const TrainingPrior& prior, NetworkHead head,
                                                 MotorModel motor) {
  auto uni = [](double lo, double hi) { return InputScaling{false, 0.5 * (lo + hi), 0.5 * (hi - lo)}; };
  std::vector<InputScaling> s;
  if (head == NetworkHead::mupost && cost.log_scale) {
    // (sigma_post, sigma_r[, sigma_a / kappa], mu_post - log kappa): the last ones' maps from
    // their spread under the training prior (fixed draws; sigma_a / kappa on the log scale):
    // median to 0, the central 95% to about [-1, 1].
    s = {uni(prior.noise_lo / std::sqrt(2.0), prior.noise_hi / std::sqrt(2.0)), uni(prior.noise_lo, prior.noise_hi)};
    const bool sa = motor != MotorModel::lognormal;
    Rng rng(0x5ca1e, 0);
    std::vector<double> theta(theta_size(cost, MotorSpec{motor, false})), f(sa ? 4 : 3);
    std::vector<std::vector<double>> t(f.size() - 2, std::vector<double>(4001));
    for (std::size_t i = 0; i < 4001; ++i) {
      double m;
      sample_training_point(cost, motor, prior, rng, theta, m);
      head_features(head, theta, f, m, &cost);
      t[0][i] = sa ? std::log(f[2]) : f[2];
      if (sa) t[1][i] = f[3];
    }
    for (std::size_t k = 0; k < t.size(); ++k) {
      std::sort(t[k].begin(), t[k].end());
      const double lo = t[k][100], med = t[k][2000], hi = t[k][3900];
      s.push_back({sa && k == 0, med, 0.5 * (hi - lo)});
    }
    return s;
  }
  if (head == NetworkHead::posterior || head == NetworkHead::mupost)  // sigma_post = sigma sigma_0 / sqrt(sigma^2 + sigma_0^2), sigma_r
    s = {uni(prior.noise_lo / std::sqrt(2.0), prior.noise_hi / std::sqrt(2.0)), uni(prior.noise_lo, prior.noise_hi)};
  else
    s = {uni(prior.noise_lo, prior.noise_hi), uni(prior.noise_lo, prior.noise_hi), uni(prior.mu0_lo, prior.mu0_hi),
         uni(prior.noise_lo, prior.noise_hi)};
  for (const auto& p : cost.params)
    s.push_back(p.kind == ParamPrior::Kind::uniform ? uni(p.a, p.b) : InputScaling{true, p.a, p.b});
  // mupost: mu_post, a weighted mean of log m and log mu_0, mostly within [log s_lo, log s_hi].
  // sigma_a (theta's last entry) on the log scale: for a cost homogeneous in (s, r) the action is
  // exp(mu_post) g(..., sigma_a e^{-mu_post}), a function of log sigma_a - mu_post, which the
  // MLP then gets as a linear combination of two inputs.
  if (motor != MotorModel::lognormal) {
    const double lo = std::log(prior.sigma_a_lo), hi = std::log(prior.sigma_a_hi);
    s.push_back(InputScaling{true, 0.5 * (lo + hi), 0.5 * (hi - lo)});
  }
  if (head == NetworkHead::mupost) s.push_back(uni(std::log(prior.s_lo), std::log(prior.s_hi)));
  return s;
}

EvalSet make_eval_set(const CostInfo& cost, std::size_t n, std::uint64_t seed, std::uint64_t stream,
                      const TrainingPrior& prior, int threads) {
  return make_eval_set(cost, MotorModel::lognormal, n, seed, stream, prior, threads);
}

namespace {
/// n points drawn by sample(rng, theta row, m) with their optimal actions solve(theta row, m),
/// solved in parallel on `threads` OpenMP threads; points where keep(a*) fails or the solve
/// throws are dropped.
template <class Sample, class Solve, class Keep>
EvalSet solved_eval_set(std::size_t n, std::size_t d, std::uint64_t seed, std::uint64_t stream, int threads,
                        Sample sample, Solve solve, Keep keep) {
  std::vector<double> theta(n * d), m(n), a(n);
  Rng rng(seed, stream);
  for (std::size_t i = 0; i < n; ++i) sample(rng, std::span<double>(theta.data() + i * d, d), m[i]);
#if defined(_OPENMP)
  if (threads <= 0) threads = omp_get_max_threads();
#else
  threads = 1;
#endif
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads)
  for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(n); ++i) {
    try {
      a[std::size_t(i)] = solve(std::span<const double>(theta.data() + std::size_t(i) * d, d), m[std::size_t(i)]);
    } catch (const std::exception&) {
      a[std::size_t(i)] = NAN;  // dropped below
    }
  }
  EvalSet e;
  e.n_inputs = d;
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(a[i]) || !keep(a[i])) continue;
    e.theta.insert(e.theta.end(), theta.begin() + std::ptrdiff_t(i * d), theta.begin() + std::ptrdiff_t((i + 1) * d));
    e.m.push_back(m[i]);
    e.a_star.push_back(a[i]);
  }
  return e;
}
} // namespace

EvalSet make_eval_set(const CostInfo& cost, MotorModel motor, std::size_t n, std::uint64_t seed, std::uint64_t stream,
                      const TrainingPrior& prior, int threads) {
  const MotorSpec ms{motor, false};
  return solved_eval_set(
      n, action_theta_size(cost, ms), seed, stream, threads,
      [&](Rng& rng, std::span<double> th, double& m) { sample_training_point(cost, motor, prior, rng, th, m); },
      [&](std::span<const double> th, double m) { return optimal_action(cost, ms, th, m); },
      [](double a) { return a > 0.0 && a < 1e6; });
}

NetworkAccuracy evaluate_network(const ActionNetwork& net, const CostInfo& cost, std::size_t n, std::uint64_t seed,
                                 const TrainingPrior& prior) {
  const EvalSet e = net.linear() ? detail::make_linear_eval_set(cost, n, seed, 0x7777, prior, 0)
                                 : make_eval_set(cost, network_motor(net), n, seed, 0x7777, prior);
  const std::size_t d = e.n_inputs;
  std::vector<double> err(e.size());
#pragma omp parallel
  {
    ActionNetwork::Workspace ws;
#pragma omp for schedule(static)
    for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(e.size()); ++i) {
      double x[3];
      net.forward({e.theta.data() + std::size_t(i) * d, d}, e.m[std::size_t(i)], x, ws);
      err[std::size_t(i)] = net.action(std::span<const double, 3>(x), e.m[std::size_t(i)]) - e.a_star[std::size_t(i)];
    }
  }
  NetworkAccuracy acc;
  acc.points = e.size();
  acc.dropped = n - e.size();
  const bool motor_scale = !net.linear() && network_motor(net) == MotorModel::gaussian;  // sigma_a last in theta
  double ss = 0, sum_rel = 0, sum_motor = 0;
  for (std::size_t i = 0; i < e.size(); ++i) {
    ss += err[i] * err[i];
    acc.max_abs = std::max(acc.max_abs, std::abs(err[i]));
    const double scale =
        net.linear() ? detail::linear_error_scale({e.theta.data() + i * d, d}, d - 1, e.a_star[i]) : e.a_star[i];
    const double motor = motor_scale ? std::abs(e.a_star[i]) + e.theta[i * d + d - 1] : scale;
    acc.max_rel = std::max(acc.max_rel, std::abs(err[i]) / scale);
    acc.max_motor_rel = std::max(acc.max_motor_rel, std::abs(err[i]) / motor);
    sum_rel += std::abs(err[i]) / scale;
    sum_motor += std::abs(err[i]) / motor;
  }
  if (e.size() > 0) {
    acc.rmse = std::sqrt(ss / double(e.size()));
    acc.mean_rel = sum_rel / double(e.size());
    acc.mean_motor_rel = sum_motor / double(e.size());
  }
  return acc;
}

namespace detail {

void sample_linear_training_point(const CostInfo& cost, const TrainingPrior& prior, Rng& rng, std::span<double> theta,
                                  double& m) {
  theta[0] = rng.uniform(prior.noise_lo, prior.noise_hi);
  theta[1] = rng.uniform(prior.noise_lo, linear_sigma0_hi);
  theta[2] = rng.normal();
  theta[3] = unused_sigma_r;
  for (std::size_t j = 0; j < cost.params.size(); ++j) theta[4 + j] = sample_prior(cost.params[j], rng);
  theta[theta_size(cost)] = rng.uniform(prior.sigma_a_lo, prior.sigma_a_hi);
  m = rng.uniform(-linear_s_range, linear_s_range) + theta[0] * rng.normal();
}

std::vector<InputScaling> linear_input_scaling(const CostInfo& cost, const TrainingPrior& prior) {
  const std::size_t nt = theta_size(cost, MotorSpec{MotorModel::gaussian, false});
  const std::size_t nf = head_input_count(NetworkHead::mupost, nt, &cost);
  constexpr std::size_t n = 4001;
  Rng rng(0x5ca1e, 1);
  std::vector<double> theta(nt), f(nf);
  std::vector<std::vector<double>> t(nf, std::vector<double>(n));
  for (std::size_t i = 0; i < n; ++i) {
    double m;
    sample_linear_training_point(cost, prior, rng, theta, m);
    head_features(NetworkHead::mupost, theta, f, m, &cost, true);
    for (std::size_t k = 0; k < nf; ++k) t[k][i] = f[k];
  }
  // A positive feature spanning more than a factor 10 (sigma_post, sigma_a, their ratios to kappa,
  // a cost parameter) on the log scale: with a length scale kappa up to ~50 (beta near 1) the
  // ratios reach 1e-3, where the action still depends on them.
  std::vector<InputScaling> s;
  for (auto& v : t) {
    std::sort(v.begin(), v.end());
    const bool log = v.front() > 0 && v.back() > 10 * v.front();
    if (log)
      for (double& x : v) x = std::log(x);
    const double lo = v[100], med = v[2000], hi = v[3900];
    s.push_back({log, med, hi > lo ? 0.5 * (hi - lo) : 1.0});
  }
  return s;
}

EvalSet make_linear_eval_set(const CostInfo& cost, std::size_t n, std::uint64_t seed, std::uint64_t stream,
                             const TrainingPrior& prior, int threads) {
  return solved_eval_set(
      n, theta_size(cost, MotorSpec{MotorModel::gaussian, false}), seed, stream, threads,
      [&](Rng& rng, std::span<double> th, double& m) { sample_linear_training_point(cost, prior, rng, th, m); },
      [&](std::span<const double> th, double m) { return linear_exact_action(cost, th, m); }, [](double) { return true; });
}

std::string linear_rule_text(const CostInfo& cost) {
  const LinearRule& r = linear_training_rule(cost);
  const std::string w = std::to_string(r.opt.outer_nodes);
  if (!cost.kink_at_s_equals_r) return "log of gauss-hermite " + std::to_string(r.opt.inner_nodes) + "x" + w + " (expected_cost_linear)";
  char tail[32];
  std::snprintf(tail, sizeof tail, "%g", r.opt.tail);
  return "log of " + std::to_string(r.panels) + " gauss-legendre panels of 8 over +-" + tail +
         " anchored at the kink x gauss-hermite " + w + " (expected_cost_linear)";
}

double linear_error_scale(std::span<const double> theta, std::size_t sa_at, double a_star) {
  const double s = theta[theta_index::sigma], s0 = theta[theta_index::sigma_0];
  return std::abs(a_star) + s * s0 / std::hypot(s, s0) + theta[sa_at];
}

} // namespace detail

} // namespace bactor
