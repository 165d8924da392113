// SPDX-License-Identifier: MIT
// Training throughput (steps/s) of the fused trainer, B=256, K=128, hidden 16-64-16-8,
// QuadraticCost, for 1 and 2 threads; baseline: a scalar loop doing the same number of
// Box–Muller normal pairs and cost evaluations in double (no network), timed in the same run.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <numbers>

#include "bench/bench_util.hpp"
#include "bench/legacy_train.hpp"
#include <bactor/engine/rng.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/train.hpp>

#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace {
// 1-minute load average (Linux; -1 elsewhere): on a shared 2-core machine the 2-thread
// figure depends on it, so it goes into the JSON line.
double load_average() {
  std::ifstream f("/proc/loadavg");
  double l = -1.0;
  f >> l;
  return l;
}
// CPU time of the whole process (all threads), seconds.
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}
} // namespace

int main(int argc, char** argv) {
  using namespace bactor;
  const std::string cost = argc > 1 ? argv[1] : "QuadraticCost";
  // TEMPORARY (issue 14): main's trainer before the change (bench/legacy_train.cpp) timed
  // beside the current one, repetitions of 100 steps interleaved so that load changes hit
  // both alike.
  const int reps = argc > 2 ? std::atoi(argv[2]) : 21;
  for (const char* head : {"auto", "power", "softplus"})
  for (int threads : {1, 2}) {
    TrainSettings s;
    s.cost = cost;
    s.head = head;
    if (s.head == "auto") s.head = default_head_name(find_cost(cost));
    s.steps = 1000000;
    s.threads = threads;
    s.eval_points = 64;
    // Same seed: after 20 steps, do both trainers hold the same weights (bitwise)?
    bool same = true;
    {
      Trainer a(s);
      legacy::Trainer b(s);
      for (int i = 0; i < 20; ++i) a.step(), b.step();
      same = std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin());
    }
    Trainer tr(s);
    legacy::Trainer old(s);
    const int inner = 100;
    // Per repetition: wall-clock and process CPU time per step of each trainer. At 1 thread the
    // CPU time leaves out the time the process waits for a core on a busy machine.
    std::vector<double> t_new, t_old, c_new, c_old;
    auto time_steps = [&](auto& trainer, std::vector<double>& wall, std::vector<double>& cpu) {
      const double c0 = process_cpu_seconds();
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < inner; ++i) trainer.step();
      wall.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / inner);
      cpu.push_back((process_cpu_seconds() - c0) * 1e6 / inner);
    };
    std::vector<double> scratch;
    for (int w = 0; w < 2; ++w) time_steps(tr, scratch, scratch), time_steps(old, scratch, scratch);
    for (int r = 0; r < reps; ++r) {
      if (r % 2) {
        time_steps(tr, t_new, c_new);
        time_steps(old, t_old, c_old);
      } else {
        time_steps(old, t_old, c_old);
        time_steps(tr, t_new, c_new);
      }
    }
    auto summary = [&](std::vector<double> t) {
      std::sort(t.begin(), t.end());
      return bench::Timing{t[t.size() / 2], t.front(), int(t.size()), inner};
    };
    // Median over repetitions of (before's time / new time): > 1 means the new trainer is faster.
    auto paired = [](const std::vector<double>& before, const std::vector<double>& now) {
      std::vector<double> r(now.size());
      for (std::size_t i = 0; i < r.size(); ++i) r[i] = before[i] / now[i];
      std::sort(r.begin(), r.end());
      return r[r.size() / 2];
    };
    const bench::Timing tn = summary(t_new), to = summary(t_old), cn = summary(c_new), co = summary(c_old);
    bench::JsonLine("train", threads)
        .add("cost", cost)
        .add("batch", long(s.batch))
        .add("mc", long(s.mc))
        .add("hidden", "16,64,16,8")
        .add("head", s.head)
        .timing(tn, "step_")
        .add("steps_per_s_median", 1e6 / tn.median_us)
        .add("steps_per_s_best", 1e6 / tn.min_us)
        .add("cost_evals_per_s_median", 1e6 / tn.median_us * double(s.batch * s.mc))
        .add("before_steps_per_s_median", 1e6 / to.median_us)
        .add("before_steps_per_s_best", 1e6 / to.min_us)
        .add("speed_ratio_median", to.median_us / tn.median_us)
        .add("speed_ratio_of_paired_reps_median", paired(t_old, t_new))
        .add("cpu_us_per_step_median", cn.median_us)
        .add("before_cpu_us_per_step_median", co.median_us)
        .add("cpu_speed_ratio_of_paired_reps_median", paired(c_old, c_new))
        .add("same_weights_as_before_after_20_steps", same ? "yes" : "no")
        .add("loadavg_1min", load_average())
        .print();
  }
#if defined(_OPENMP)
  omp_set_num_threads(1);
#endif
  // ActionNetwork (double): one forward + backward for one theta (the inference hot path).
  {
    TrainSettings s;
    s.cost = "QuadraticCostQuadraticEffort";
    s.batch = 32;
    s.eval_points = 8;
    Trainer tr(s);
    const ActionNetwork net = tr.network();
    ActionNetwork::Workspace ws;
    std::vector<double> th{0.2, 0.3, 2.0, 0.15, 0.8}, g(5);
    double x[3];
    const double dx[3] = {0.1, 0.2, 0.3};
    auto t = bench::time_it(
        [&] {
          th[2] += 1e-9;
          net.forward(th, x, ws);
          net.backward(std::span<const double, 3>(dx), g, ws);
          bench::do_not_optimize(g[0]);
        },
        20000, 11, 1);
    auto tf = bench::time_it(
        [&] {
          th[2] += 1e-9;
          net.forward(th, x, ws);
          bench::do_not_optimize(x[0]);
        },
        20000, 11, 1);
    bench::JsonLine("action_network_double", 1)
        .add("sizes", "5-16-64-16-8-3")
        .timing(t, "fwd_bwd_")
        .timing(tf, "fwd_")
        .print();
  }
  // Baseline: scalar double Box–Muller + exp + quadratic cost and derivative, B*K per "step".
  Rng rng(1, 2);
  double sink = 0.0;
  auto tb = bench::time_it(
      [&] {
        double acc = 0.0;
        for (int i = 0; i < 256 * 128; ++i) {
          const double u1 = rng.uniform(), u2 = rng.uniform();
          const double rad = std::sqrt(-2.0 * std::log(u1)), ang = 2.0 * std::numbers::pi * u2;
          const double s = std::exp(0.3 * rad * std::cos(ang)), r = std::exp(0.2 * rad * std::sin(ang));
          acc += 2.0 * (r - s) * r;
        }
        sink += acc;
      },
      5, 7, 1);
  bench::do_not_optimize(sink);
  bench::JsonLine("train_baseline_scalar", 1)
      .add("what", "scalar double normals+exp+dcost, B*K=32768 per step, no network")
      .timing(tb, "step_")
      .add("steps_per_s_median", 1e6 / tb.median_us)
      .print();
  return 0;
}
