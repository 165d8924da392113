// SPDX-License-Identifier: MIT
// The trainer: gradient of the fused objective against finite differences (fixed draws),
// a short training run lowering loss and RMSE, reproducibility across thread counts
// (bitwise, including more threads than cores); the expected-cost tape node of every cost
// family against double finite differences.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <bactor/engine/rng.hpp>
#include <bactor/models/train.hpp>

#include "tests/engine/tensor_gradcheck.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

using namespace bactor;

TEST_CASE("fused objective gradient w.r.t. the weights matches finite differences (fixed draws)") {
  // "auto" gives the posterior head (and the scale weights) to the homogeneous costs.
  const std::pair<const char*, const char*> cases[] = {
      {"QuadraticCost", "auto"}, {"QuadraticCost", "softplus"}, {"QuadraticCostQuadraticEffort", "auto"},
      {"Linex", "auto"},         {"InvertedGaussian", "auto"},  {"AsymmetricQuadratic", "auto"},
      {"Linex", "power"},        {"Linex", "softplus"},         {"AbsoluteCostQuadraticEffort", "auto"}};
  for (const auto& [cost, head] : cases) {
    CAPTURE(cost);
    CAPTURE(head);
    TrainSettings s;
    s.cost = cost;
    s.head = head;
    s.batch = 64;
    s.mc = 24;
    s.eval_points = 8;
    Trainer tr(s);
    Rng rng(9, 1);
    auto params = tr.parameters();
    for (auto& w : params) w += float(0.2 * rng.normal());
    std::vector<float> e(s.batch * s.mc), u(e.size());
    for (auto& x : e) x = float(rng.normal());
    for (auto& x : u) x = float(rng.normal());
    std::vector<float> g(params.size()), scratch(params.size());
    tr.objective(3, e, u, g);
    // Directional derivative along random directions (all weights at once), central differences.
    for (int trial = 0; trial < 3; ++trial) {
      std::vector<float> dir(params.size());
      double gd = 0;
      for (std::size_t i = 0; i < dir.size(); ++i) {
        dir[i] = float(rng.normal());
        gd += double(dir[i]) * g[i];
      }
      const std::vector<float> base(params.begin(), params.end());
      auto f = [&](double h) {
        for (std::size_t i = 0; i < dir.size(); ++i) params[i] = float(base[i] + h * dir[i]);
        const double l = tr.objective(3, e, u, scratch);
        std::copy(base.begin(), base.end(), params.begin());
        return l;
      };
      const double h = 3e-3;
      const double fd = (f(h) - f(-h)) / (2 * h);
      CHECK(gd == doctest::Approx(fd).epsilon(2e-2));
    }
    // And a few single weights with the largest gradients.
    std::vector<std::size_t> idx(g.size());
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::partial_sort(idx.begin(), idx.begin() + 4, idx.end(),
                      [&](std::size_t a, std::size_t b) { return std::abs(g[a]) > std::abs(g[b]); });
    for (int k = 0; k < 4; ++k) {
      const std::size_t i = idx[std::size_t(k)];
      const float w0 = params[i];
      const double h = 1e-2 * std::max(0.1, double(std::abs(w0)));
      params[i] = float(w0 + h);
      const double lp = tr.objective(3, e, u, scratch);
      params[i] = float(w0 - h);
      const double lm = tr.objective(3, e, u, scratch);
      params[i] = w0;
      const double hh = (double(float(w0 + h)) - double(float(w0 - h))) / 2;
      CHECK(g[i] == doctest::Approx((lp - lm) / (2 * hh)).epsilon(2e-2));
    }
  }
}

TEST_CASE("a short training run lowers the loss and the evaluation RMSE") {
  // The posterior head starts at a = exp(mu_post), already close to the optimum, so its loss
  // has less to lose than the softplus head's.
  for (const auto& [head, loss_factor] : {std::pair<std::string, double>{"softplus", 0.8}, {"posterior", 0.95}}) {
    TrainSettings s;
    s.cost = "QuadraticCostQuadraticEffort";
    s.head = head;
    s.batch = 64;
    s.mc = 32;
    s.steps = 1500;
    s.eval_points = 300;
    Trainer tr(s);
    const double rmse0 = tr.eval_rmse();
    double first = 0, last = 0;
    for (std::size_t i = 0; i < s.steps; ++i) {
      const double l = tr.step();
      if (i < 100) first += l;
      if (i >= s.steps - 100) last += l;
    }
    const double rmse1 = tr.eval_rmse();
    CAPTURE(head);
    CHECK(last < loss_factor * first);
    CHECK(rmse1 < 0.5 * rmse0);
    MESSAGE(head << ": loss " << first / 100 << " -> " << last / 100 << ", rmse " << rmse0 << " -> " << rmse1);
  }
}

TEST_CASE("training is reproducible for a seed, and independent of the thread count") {
  auto run = [](int threads, std::size_t batch = 96, int steps = 20) {
    TrainSettings s;
    s.cost = "AbsoluteCost";
    s.batch = batch;
    s.mc = 16;
    s.steps = std::size_t(steps);
    s.eval_points = 8;
    s.threads = threads;
    Trainer tr(s);
    for (int i = 0; i < steps; ++i) tr.step();
    return std::vector<float>(tr.parameters().begin(), tr.parameters().end());
  };
#if defined(_OPENMP)
  const int max_threads = omp_get_max_threads();
#endif
  const auto a = run(1), b = run(1), c = run(2);
  CHECK(a == b);
  CHECK(a == c);
  // More threads than chunks' worth of cores: workers get descheduled mid-step, so the
  // caller also computes late chunks itself (the first published copy is used).
  CHECK(run(3) == a);
  const auto d = run(1, 256, 200);
  CHECK(run(4, 256, 200) == d);
  CHECK(run(8, 256, 200) == d);
#if defined(_OPENMP)
  // The trainer leaves the process-wide OpenMP thread count alone (an embedding program's).
  CHECK(omp_get_max_threads() == max_threads);
  {
    const int before = omp_get_max_threads();
    TrainSettings s;
    s.cost = "QuadraticCost";
    s.batch = 64;
    s.eval_points = 40;
    s.threads = before == 1 ? 2 : 1;
    Trainer tr(s);
    tr.step();
    tr.eval_rmse();
    CHECK(omp_get_max_threads() == before);
  }
#endif
}

TEST_CASE("expected-cost node (fused kernel) of every cost family against double finite differences") {
  // n = 37 samples (a SIMD tail), K = 21 fixed draws (a tail of the draw loop); actions around
  // the posterior's scale, with the double reference mean_k cost(exp(mu + sp e), a exp(sr u)).
  const std::size_t n = 37, K = 21;
  Rng rng(4, 2);
  for (const CostInfo& cost : cost_families()) {
    CAPTURE(cost.name);
    const std::size_t np = cost.params.size();
    std::vector<float> mu(n), sp(n), sr(n), par(std::max<std::size_t>(np, 1) * n), e(n * K), u(n * K), w(n);
    std::vector<double> a0(n);
    for (std::size_t b = 0; b < n; ++b) {
      mu[b] = float(rng.uniform(-0.5, 1.2));
      sp[b] = float(rng.uniform(0.05, 0.2));
      sr[b] = float(rng.uniform(0.05, 0.25));
      a0[b] = std::exp(double(mu[b]) + rng.uniform(-0.2, 0.2));
      w[b] = float(rng.uniform(0.5, 1.5));
      for (std::size_t j = 0; j < np; ++j) par[j * n + b] = float(sample_prior(cost.params[j], rng));
    }
    for (auto& x : e) x = float(rng.normal());
    for (auto& x : u) x = float(rng.normal());
    ExpectedCostInputs in;
    in.mu_post = mu.data();
    in.sigma_post = sp.data();
    in.sigma_r = sr.data();
    in.params = par.data();
    in.mc = K;
    in.e = e.data();
    in.u = u.data();
    auto tape_fn = [&](std::span<const Tensor> x) { return dot(expected_cost(cost, x[0], in), tensor_constant(w, 1, n)); };
    auto ref_fn = [&](const std::vector<std::vector<double>>& x) {
      const double T = cost.motor_truncation;
      double total = 0;
      std::vector<double> p(std::max<std::size_t>(np, 1));
      for (std::size_t b = 0; b < n; ++b) {
        for (std::size_t j = 0; j < np; ++j) p[j] = double(par[j * n + b]);
        double sum = 0;
        for (std::size_t k = 0; k < K; ++k) {
          double uk = double(u[b * K + k]), wk = 1.0;
          const double c = cost.motor_importance_scale;  // importance-sampled motor draws (Linex)
          if (T > 0 && c > 0) {
            wk = c * std::exp(-0.5 * uk * uk * (c * c - 1.0));
            uk *= c;
          }
          if (T > 0) uk = std::clamp(uk, -T, T);
          const double s = std::exp(double(mu[b]) + double(sp[b]) * double(e[b * K + k]));
          sum += wk * cost.loss(s, x[0][b] * std::exp(double(sr[b]) * uk), p.data());
        }
        total += double(w[b]) * sum / double(K);
      }
      return total;
    };
    testing::TensorCheckOptions opt;
    opt.rtol = 1e-3;
    opt.atol = 1e-4;
    opt.value_rtol = 1e-4;
    auto r = testing::tensor_gradcheck(tape_fn, ref_fn, {{a0, 1, n}}, opt);
    CHECK_MESSAGE(r.ok, r.report);
  }
}
