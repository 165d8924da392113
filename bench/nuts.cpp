// SPDX-License-Identifier: MIT
// NUTS: ESS per second and per gradient on Gaussians, and the sampler's own cost per leapfrog
// step exclusive of the model (trivial model: total time minus model time, over gradients).
#include <chrono>
#include <ctime>
#include <cmath>
#include <memory>
#include <vector>

#include "bench/bench_util.hpp"
#include <bactor/engine/rng.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>

namespace {

using namespace bactor;

class DiagGaussian final : public Model {
public:
  explicit DiagGaussian(std::vector<double> scale) : inv_var_(scale.size()) {
    for (std::size_t i = 0; i < scale.size(); ++i) inv_var_[i] = 1.0 / (scale[i] * scale[i]);
  }
  std::size_t dim() const override { return inv_var_.size(); }
  double log_density(std::span<const double> q, std::span<double> g) override {
    double lp = 0;
    for (std::size_t i = 0; i < q.size(); ++i) {
      g[i] = -q[i] * inv_var_[i];
      lp += q[i] * g[i];
    }
    return 0.5 * lp;
  }

private:
  std::vector<double> inv_var_;
};

class CorrGaussian2 final : public Model {
public:
  std::size_t dim() const override { return 2; }
  double log_density(std::span<const double> q, std::span<double> g) override {
    const double r = 0.99, c = 1.0 / (1.0 - r * r);
    g[0] = -c * (q[0] - r * q[1]);
    g[1] = -c * (q[1] - r * q[0]);
    return -0.5 * c * (q[0] * q[0] - 2 * r * q[0] * q[1] + q[1] * q[1]);
  }
};

/// CPU time of this process (robust to other jobs on the shared machine).
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Runs NUTS `reps` times; prints wall time, gradients, min bulk-ESS over parameters, ESS/s and ESS/gradient.
void ess_bench(const char* name, const ModelFactory& f, NutsSettings s, int reps, bool dense = false) {
  s.dense_metric = dense;
  std::vector<double> wall;
  std::vector<ChainResult> chains;
  for (int r = 0; r < reps; ++r) {
    s.seed = std::uint64_t(r + 1);
    const auto t0 = std::chrono::steady_clock::now();
    chains = run_nuts(f, s);
    wall.push_back(seconds_since(t0));
  }
  std::sort(wall.begin(), wall.end());
  const Summary sum = summarize(chains);
  double min_ess = 1e300;
  for (const auto& p : sum.params) min_ess = std::min(min_ess, p.ess_bulk);
  std::size_t grads = 0;
  for (const auto& c : chains) grads += c.gradient_evaluations;
  const double med = wall[wall.size() / 2];
  bench::JsonLine("nuts", s.threads)
      .add("case", name)
      .add("metric", dense ? "dense" : "diag")
      .add("chains", s.chains)
      .add("warmup", s.warmup)
      .add("samples", s.samples)
      .add("median_s", med)
      .add("min_s", wall.front())
      .add("reps", reps)
      .add("gradients", grads)
      .add("min_ess_bulk", min_ess)
      .add("min_ess_per_s", min_ess / med)
      .add("min_ess_per_1000_grad", 1000.0 * min_ess / double(grads))
      .add("divergences", sum.divergences)
      .print();
}

} // namespace

int main() {
  using namespace bactor;
  const int threads = std::min(2, bench::max_threads());
  NutsSettings base;
  base.threads = threads;

  // 1. Sampler overhead per leapfrog step: trivial 60-D model; subtract the model's own time.
  for (std::size_t dim : {1, 10, 60, 100}) {
    NutsSettings s = base;
    s.chains = 1;
    s.threads = 1;
    s.warmup = 500;
    s.samples = 2000;
    std::vector<double> run_s;
    std::size_t grads = 0;
    for (int r = 0; r < 7; ++r) {
      s.seed = 1;  // same seed: identical work in every repetition
      const double t0 = cpu_seconds();
      const auto res = run_nuts([dim] { return std::make_unique<DiagGaussian>(std::vector<double>(dim, 1.0)); }, s);
      run_s.push_back(cpu_seconds() - t0);
      grads = res[0].gradient_evaluations;
    }
    std::sort(run_s.begin(), run_s.end());
    DiagGaussian m(std::vector<double>(dim, 1.0));
    std::vector<double> q(dim), g(dim);
    Rng rng(1, 1);
    rng.fill_normal(q);
    const auto tm = bench::time_it(
        [&] {
          q[0] += 1e-9;
          bench::do_not_optimize(m.log_density(q, g));
          bench::clobber_memory();
        },
        bench::calibrate([&] { bench::do_not_optimize(m.log_density(q, g)); }));
    const double per_grad_us = 1e6 * run_s[run_s.size() / 2] / double(grads);
    const double per_grad_min_us = 1e6 * run_s.front() / double(grads);
    bench::JsonLine("nuts_overhead", 1)
        .add("dim", dim)
        .add("gradients", grads)
        .add("total_per_leapfrog_median_us", per_grad_us)
        .add("total_per_leapfrog_min_us", per_grad_min_us)
        .add("model_per_gradient_us", tm.median_us)
        .add("sampler_overhead_per_leapfrog_us", per_grad_us - tm.median_us)
        .add("clock", "process CPU time (sampler), wall (model baseline)")
        .add("baseline", "model.log_density alone (model_per_gradient_us)")
        .print();
  }

  // 2. ESS per second and per gradient on the Gaussians of the tests.
  NutsSettings s = base;
  ess_bench("normal_100d", [] { return std::make_unique<DiagGaussian>(std::vector<double>(100, 1.0)); }, s, 5);
  std::vector<double> scales(100);
  for (std::size_t i = 0; i < 100; ++i) scales[i] = std::pow(10.0, -2.0 + 4.0 * double(i) / 99.0);
  ess_bench("scales_0.01_to_100_100d", [scales] { return std::make_unique<DiagGaussian>(scales); }, s, 5);
  ess_bench("corr_0.99_2d", [] { return std::make_unique<CorrGaussian2>(); }, s, 5);
  ess_bench("corr_0.99_2d", [] { return std::make_unique<CorrGaussian2>(); }, s, 5, true);

  // 3. Issue #5 shape: 4 chains x 7,500 iterations (2,500 warm-up + 5,000) of a 60-D model.
  NutsSettings big = base;
  big.warmup = 2500;
  big.samples = 5000;
  ess_bench("normal_60d_4x7500", [] { return std::make_unique<DiagGaussian>(std::vector<double>(60, 1.0)); }, big, 3);
  return 0;
}
