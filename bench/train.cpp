// SPDX-License-Identifier: MIT
// Training throughput (steps/s) of the trainer (network and expected cost on the tape),
// B=256, K=128, hidden 16-64-16-8, QuadraticCost, for 1 and 2 threads; baseline: a scalar loop
// doing the same number of Box–Muller normal pairs and cost evaluations in double (no
// network), timed in the same run. Then the same cost as a formula and as a registered C++
// struct beside the built-in QuadraticCostQuadraticEffort (`bench_train --custom-cost`: only
// that); `bench_train --motor`: QuadraticCost's mupost network under log-normal and generalized
// motor noise, the latter with draws and with the product rule, and AbsoluteCostQuadraticEffort's
// under gaussian motor noise with draws and with the split rule; `bench_train --linear`: gaussian
// perception's objective rule before and now, and its trainer; `bench_train --budget`: the
// projected time of `bactor train`'s defaults for every cost x motor noise (and the
// gaussian-perception networks) on 2 threads; `bench_train --accuracy [SEED] [COST]`: the same
// defaults trained in full and evaluated (time and accuracy; minutes). `bench_train --steps HEAD N [COST]`: only N steps of one head on one thread. (Commit 7aac3c5 timed the hand-written trainer the tape
// replaced beside it: README, Benchmarks.)
#include <cmath>
#include <ctime>
#include <cstdio>
#include <algorithm>
#include <chrono>
#include <utility>
#include <fstream>
#include <memory>
#include <numbers>

#include "bench/bench_util.hpp"
#include <bactor/engine/rng.hpp>
#include <bactor/models/custom_cost.hpp>
#include <bactor/models/ground_truth.hpp>
#include <bactor/models/formula.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/train.hpp>
#include "models/exact_linear.hpp"
#include "models/train_linear.hpp"

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
/// A trainer's settings for timing steps (more steps than are taken, a small evaluation set).
bactor::TrainSettings timed_settings(const std::string& cost, const std::string& head, int threads) {
  bactor::TrainSettings s;
  s.cost = cost;
  s.head = head;
  s.steps = 1000000;
  s.threads = threads;
  s.eval_points = 64;
  return s;
}

/// QuadraticCostQuadraticEffort as an embedding program's struct (register_cost<Fn>).
struct EffortStruct {
  static constexpr int n_params = 1;
  template <class T> static T eval(const T& s, const T& r, const T* p) {
    const T d = s - r;
    return p[0] * d * d + (1.0f - p[0]) * r * r;
  }
};

/// Steps/s of the built-in QuadraticCostQuadraticEffort, the same cost as a formula and as a
/// registered C++ struct, same head (posterior), same seed, timed in turns in one run.
void formula_vs_builtin() {
  using namespace bactor;
  FormulaSpec fs;
  fs.expression = "beta*(s-r)^2 + (1-beta)*r^2";
  fs.params = {{"beta", ParamPrior::Kind::uniform, 0.5, 1.0}};
  const CostInfo& formula = register_formula_cost(fs);
  CostSpec cs;
  cs.name = "EffortStruct";
  cs.params = fs.params;
  const CostInfo& structured = register_cost<EffortStruct>(cs);
  for (int threads : {1, 2}) {
    std::vector<std::string> names{"QuadraticCostQuadraticEffort", formula.name, structured.name};
    std::vector<double> median(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
      TrainSettings s;
      s.cost = names[i];
      s.head = "posterior";
      s.steps = 1000000;
      s.threads = threads;
      s.eval_points = 64;
      Trainer tr(s);
      auto t = bench::time_it([&] { tr.step(); }, 200, 9, 1);
      median[i] = 1e6 / t.median_us;
      bench::JsonLine("train_custom_cost", threads)
          .add("cost", names[i])
          .add("kind", i == 0 ? "built-in" : i == 1 ? "formula" : "C++ struct (register_cost)")
          .add("head", s.head)
          .timing(t, "step_")
          .add("steps_per_s_median", median[i])
          .add("ratio_to_builtin", median[i] / median[0])
          .add("loadavg_1min", load_average())
          .print();
    }
  }
  // The ground truth (double and dual evaluators: evaluate, --exact-action) on 40 fixed points.
  std::vector<std::vector<double>> thetas;
  std::vector<double> ms;
  Rng rng(3, 3);
  for (int i = 0; i < 40; ++i) {
    std::vector<double> th(5);
    double m = 0;
    sample_training_point(formula, TrainingPrior{}, rng, th, m);
    thetas.push_back(th);
    ms.push_back(m);
  }
  const CostInfo* costs[] = {&find_cost("QuadraticCostQuadraticEffort"), &formula, &structured};
  double base = 0;
  for (int i = 0; i < 3; ++i) {
    double sink = 0;
    auto t = bench::time_it(
        [&] {
          for (std::size_t j = 0; j < ms.size(); ++j) sink += numerical_action(*costs[i], thetas[j], ms[j]);
        },
        1, 5, 1);
    bench::do_not_optimize(sink);
    if (i == 0) base = t.median_us;
    bench::JsonLine("ground_truth_custom_cost", 1)
        .add("cost", costs[i]->name)
        .add("kind", i == 0 ? "built-in" : i == 1 ? "formula" : "C++ struct (register_cost)")
        .add("points", long(ms.size()))
        .timing(t, "points40_")
        .add("time_ratio_to_builtin", t.median_us / base)
        .print();
  }
}

/// Steps/s of QuadraticCost's mupost network under log-normal motor noise (draws) and under
/// generalized motor noise with draws and with the product Gauss–Hermite rule (the trainer's
/// choice there, docs/training.md), and of AbsoluteCostQuadraticEffort's under gaussian motor
/// noise with draws and with the split rule at the kink, and Linex's under generalized noise with
/// the product rule cut at its seam and uncut (as before); timed in turns in one run, each ratio
/// to its cost's first case.
void motor_expectation() {
  using namespace bactor;
  struct Case {
    const char* name;
    const char* cost;
    MotorModel motor;
    bool quadrature;
    std::size_t base;  // the case the ratio is taken to
  };
  const Case cases[] = {{"lognormal, draws", "QuadraticCost", MotorModel::lognormal, true, 0},
                        {"generalized, draws", "QuadraticCost", MotorModel::generalized, false, 0},
                        {"generalized, product rule", "QuadraticCost", MotorModel::generalized, true, 0},
                        {"gaussian, draws", "AbsoluteCostQuadraticEffort", MotorModel::gaussian, false, 3},
                        {"gaussian, split rule", "AbsoluteCostQuadraticEffort", MotorModel::gaussian, true, 3},
                        {"generalized, product rule, seam uncut", "Linex (seam uncut)", MotorModel::generalized, true, 5},
                        {"generalized, product rule, cut at the seam", "Linex", MotorModel::generalized, true, 5}};
  // Linex as before its seam was cut (CostInfo::seam = 0), registered under another name.
  if (!std::any_of(cost_families().begin(), cost_families().end(),
                   [](const CostInfo& c) { return c.name == "Linex (seam uncut)"; })) {
    CostInfo uncut = find_cost("Linex");
    uncut.name = "Linex (seam uncut)";
    uncut.seam = 0;
    register_cost(uncut);
  }
  for (int threads : {1, 2}) {
    std::vector<std::unique_ptr<Trainer>> trainers;
    for (const Case& c : cases) {
      TrainSettings s;
      s.cost = c.cost;
      s.head = "mupost";
      s.motor = c.motor;
      s.quadrature = c.quadrature;
      s.steps = 1000000;
      s.threads = threads;
      s.eval_points = 64;
      trainers.push_back(std::make_unique<Trainer>(s));
      for (int k = 0; k < 100; ++k) trainers.back()->step();  // warm-up
    }
    // Rounds of 200 steps of each in turn, so that the machine's load drifts alike for all.
    std::vector<std::vector<double>> us(trainers.size());
    for (int round = 0; round < 9; ++round)
      for (std::size_t i = 0; i < trainers.size(); ++i) {
        const auto t = bench::time_it([&] { trainers[i]->step(); }, 200, 1, 0);
        us[i].push_back(t.median_us);
      }
    std::vector<double> med(trainers.size());
    for (std::size_t i = 0; i < trainers.size(); ++i) {
      std::sort(us[i].begin(), us[i].end());
      med[i] = us[i][us[i].size() / 2];
      bench::JsonLine("train_motor_expectation", threads)
          .add("cost", cases[i].cost)
          .add("head", "mupost")
          .add("case", cases[i].name)
          .add("rounds", 9L)
          .add("steps_per_round", 200L)
          .add("step_us_median", med[i])
          .add("steps_per_s_median", 1e6 / med[i])
          .add("time_ratio_to_base", med[i] / med[cases[i].base])
          .add("base", cases[cases[i].base].name)
          .add("loadavg_1min", load_average())
          .print();
    }
  }
}
/// Gaussian perception (docs/training.md): the objective's expected cost with its derivative at
/// 256 training points of AbsoluteCostQuadraticEffort under the training rule and under the
/// rule before it (4 panels over +-7 times 8 Gauss–Hermite nodes in w), in turns in one run;
/// then the trainer's steps/s (network, rule, Adam) on 1 and 2 threads.
void linear_objective() {
  using namespace bactor;
  const CostInfo& cost = find_cost("AbsoluteCostQuadraticEffort");
  const std::size_t nt = theta_size(cost, MotorSpec{MotorModel::gaussian, false}), n = 256;
  std::vector<double> mu(n), sp(n), sa(n), p(n), a(n), th(nt);
  Rng rng(5, 1);
  for (std::size_t i = 0; i < n; ++i) {
    double m;
    detail::sample_linear_training_point(cost, TrainingPrior{}, rng, th, m);
    const double w = th[1] * th[1] / (th[0] * th[0] + th[1] * th[1]);
    mu[i] = w * m + (1 - w) * th[2];
    sp[i] = th[0] * th[1] / std::hypot(th[0], th[1]);
    sa[i] = th[nt - 1];
    p[i] = th[4];
    a[i] = mu[i] + 0.3 * rng.normal() * (sp[i] + sa[i]);
  }
  const detail::LinearRule before{{8, 8, 7.0, 1e-10}, 4};
  const detail::LinearRule* rules[] = {&before, &detail::linear_training_rule(cost)};
  const char* names[] = {"4 panels +-7 x 8 (before)", "training rule"};
  std::vector<double> us[2];
  double sink = 0;
  for (int round = 0; round < 9; ++round)
    for (int k = 0; k < 2; ++k) {
      const auto t = bench::time_it(
          [&] {
            for (std::size_t i = 0; i < n; ++i) {
              double g;
              sink += detail::expected_cost_linear(cost, mu[i], sp[i], sa[i], &p[i], a[i], &g, rules[k]->opt, rules[k]->panels) + g;
            }
          },
          20, 1, 1);
      us[k].push_back(t.median_us);
    }
  bench::do_not_optimize(sink);
  for (int k = 0; k < 2; ++k) {
    std::sort(us[k].begin(), us[k].end());
    bench::JsonLine("train_linear_objective", 1)
        .add("cost", cost.name)
        .add("rule", names[k])
        .add("points", long(n))
        .add("batch_us_median", us[k][4])
        .add("time_ratio_to_before", us[k][4] / us[0][4])
        .add("loadavg_1min", load_average())
        .print();
  }
  for (int threads : {1, 2}) {
    TrainSettings s = timed_settings(cost.name, "mupost", threads);
    s.motor = MotorModel::gaussian;
    s.perception = PerceptionModel::gaussian;
    s.hidden.assign(std::begin(detail::linear_hidden), std::end(detail::linear_hidden));  // bactor train's default here
    Trainer tr(s);
    auto t = bench::time_it([&] { tr.step(); }, 200, 9, 1);
    bench::JsonLine("train_linear", threads)
        .add("cost", cost.name)
        .add("batch", long(s.batch))
        .add("hidden", "32,64,16,8")
        .timing(t, "step_")
        .add("steps_per_s_median", 1e6 / t.median_us)
        .add("loadavg_1min", load_average())
        .print();
  }
}
/// The (motor noise, perception) pairs `bactor train` trains networks for.
constexpr std::pair<bactor::MotorModel, bactor::PerceptionModel> default_combinations[] = {
    {bactor::MotorModel::lognormal, bactor::PerceptionModel::lognormal},
    {bactor::MotorModel::generalized, bactor::PerceptionModel::lognormal},
    {bactor::MotorModel::gaussian, bactor::PerceptionModel::lognormal},
    {bactor::MotorModel::gaussian, bactor::PerceptionModel::gaussian}};

/// Completes `s` as `bactor train` would for the pair with no options (default head and hidden
/// sizes); false where the command refuses the combination.
bool cli_like_settings(const bactor::CostInfo& cost, bactor::MotorModel motor, bactor::PerceptionModel perception,
                       bactor::TrainSettings& s) {
  using namespace bactor;
  s.motor = motor;
  s.perception = perception;
  if (perception == PerceptionModel::gaussian) s.hidden.assign(std::begin(detail::linear_hidden), std::end(detail::linear_hidden));
  try {
    s.head = default_head_name(cost, motor);
    check_head(cost, parse_network_head(s.head), motor);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

/// CPU time of the process (all its threads), microseconds.
double process_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return 1e6 * double(ts.tv_sec) + 1e-3 * double(ts.tv_nsec);
}

/// The training budget of `bactor train`'s defaults (<= 60 s on 2 threads, docs/training.md):
/// every built-in cost under each motor noise model (log-normal perception), and the costs a
/// gaussian-perception network is trained for, each built as `bactor train` builds it (default
/// head, hidden sizes and objective rule); cases the command refuses are skipped. Rounds of 100
/// steps of each case in turn on 2 threads (the machine's load drifts alike for all); per case
/// the median step's wall and process-CPU time, and the default run's projected time: steps x
/// wall, and steps x CPU / threads (what an idle machine's wall time would be).
void families_budget() {
  using namespace bactor;
  constexpr int threads = 2;
  struct Case {
    std::string cost;
    MotorModel motor;
    PerceptionModel perception;
    std::unique_ptr<Trainer> trainer;
  };
  std::vector<Case> cases;
  for (const CostInfo& cost : cost_families())
    for (auto [motor, perception] : default_combinations) {
      TrainSettings s = timed_settings(cost.name, "auto", threads);
      if (!cli_like_settings(cost, motor, perception, s)) continue;
      auto tr = std::make_unique<Trainer>(s);
      for (int k = 0; k < 50; ++k) tr->step();  // warm-up
      cases.push_back({cost.name, motor, perception, std::move(tr)});
    }
  constexpr int rounds = 7, per_round = 100;
  std::vector<std::vector<double>> wall(cases.size()), cpu(cases.size());
  for (int round = 0; round < rounds; ++round)
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const double c0 = process_cpu_us();
      const auto t = bench::time_it([&] { cases[i].trainer->step(); }, per_round, 1, 0);
      cpu[i].push_back((process_cpu_us() - c0) / per_round);
      wall[i].push_back(t.median_us);
    }
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const double steps = double(default_training_steps(find_cost(cases[i].cost), cases[i].motor, cases[i].perception));
    std::sort(wall[i].begin(), wall[i].end());
    std::sort(cpu[i].begin(), cpu[i].end());
    const double w = wall[i][wall[i].size() / 2], c = cpu[i][cpu[i].size() / 2];
    bench::JsonLine("train_default_budget", threads)
        .add("cost", cases[i].cost)
        .add("motor", to_string(cases[i].motor))
        .add("perception", to_string(cases[i].perception))
        .add("head", cases[i].trainer->settings().head)
        .add("rounds", long(rounds))
        .add("steps_per_round", long(per_round))
        .add("step_us_median", w)
        .add("step_cpu_us_median", c)
        .add("default_steps", long(steps))
        .add("projected_s", steps * w * 1e-6)
        .add("projected_idle_s", steps * c * 1e-6 / threads)
        .add("loadavg_1min", load_average())
        .print();
  }
}
/// `bactor train`'s defaults, trained in full and evaluated like `bactor evaluate` (2,000 points,
/// its seed) for every built-in cost under each motor noise model (log-normal perception) and
/// under gaussian perception: wall and process-CPU seconds of the run on 2 threads, and the
/// accuracy against the targets (0.1% mean, 2% max relative error, docs/families.md). One
/// training seed (`bench_train --accuracy [SEED] [COST]`). Takes minutes.
void families_accuracy(std::uint64_t seed, const std::string& only) {
  using namespace bactor;
  constexpr int threads = 2;
  for (const CostInfo& cost : cost_families()) {
    if (!only.empty() && cost.name != only) continue;
    for (auto [motor, perception] : default_combinations) {
      TrainSettings s;
      s.cost = cost.name;
      s.seed = seed;
      s.threads = threads;
      if (!cli_like_settings(cost, motor, perception, s)) continue;
      const double c0 = process_cpu_us();
      const auto t0 = std::chrono::steady_clock::now();
      const TrainResult r = train(s);
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double cpu = (process_cpu_us() - c0) * 1e-6;
      const NetworkAccuracy acc = evaluate_network(r.network, cost, 2000, 20250);
      bench::JsonLine("train_default_accuracy", threads)
          .add("cost", cost.name)
          .add("motor", to_string(motor))
          .add("perception", to_string(perception))
          .add("head", s.head)
          .add("seed", long(seed))
          .add("steps", long(r.steps))
          .add("train_s", wall)
          .add("train_cpu_s", cpu)
          .add("mean_rel_error", acc.mean_rel)
          .add("max_rel_error", acc.max_rel)
          .add("mean_motor_scaled_error", acc.mean_motor_rel)
          .add("max_motor_scaled_error", acc.max_motor_rel)
          .add("points", long(acc.points))
          .add("dropped", long(acc.dropped))
          .add("loadavg_1min", load_average())
          .print();
      std::fflush(stdout);
    }
  }
}
} // namespace

int main(int argc, char** argv) {
  using namespace bactor;
  if (argc > 1 && std::string(argv[1]) == "--custom-cost") {
    formula_vs_builtin();
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "--linear") {
    linear_objective();
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "--accuracy") {
    families_accuracy(argc > 2 ? std::stoull(argv[2]) : 1, argc > 3 ? argv[3] : "");
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "--budget") {
    families_budget();
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "--motor") {
    motor_expectation();
    return 0;
  }
  if (argc > 3 && std::string(argv[1]) == "--steps") {
    // bench_train --steps HEAD N [COST]: N steps of one head on one thread, one JSON line (for
    // instruction counts: valgrind --tool=callgrind --toggle-collect='bactor::Trainer::step*').
    TrainSettings s;
    s.cost = argc > 4 ? argv[4] : "QuadraticCost";
    s.head = argv[2];
    s.steps = 1000000;
    s.threads = 1;
    s.eval_points = 64;
    Trainer tr(s);
    const long n = std::stol(argv[3]);
    auto t = bench::time_it([&] { tr.step(); }, n, 1, 1);
    bench::JsonLine("train", 1).add("cost", s.cost).add("head", s.head).add("steps", n).timing(t, "step_").print();
    return 0;
  }
  const std::string cost = argc > 1 ? argv[1] : "QuadraticCost";
  for (const char* head : {"auto", "power", "softplus"})
  for (int threads : {1, 2}) {
    TrainSettings s = timed_settings(cost, head, threads);
    if (s.head == "auto") s.head = default_head_name(find_cost(cost));
    Trainer tr(s);
    auto t = bench::time_it([&] { tr.step(); }, 200, 9, 1);
    bench::JsonLine("train", threads)
        .add("cost", cost)
        .add("batch", long(s.batch))
        .add("mc", long(s.mc))
        .add("hidden", "16,64,16,8")
        .add("head", s.head)
        .timing(t, "step_")
        .add("steps_per_s_median", 1e6 / t.median_us)
        .add("steps_per_s_best", 1e6 / t.min_us)
        .add("cost_evals_per_s_median", 1e6 / t.median_us * double(s.batch * s.mc))
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
  formula_vs_builtin();
  return 0;
}
