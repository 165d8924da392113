// SPDX-License-Identifier: MIT
// Hierarchical cohorts (models/hierarchical.hpp): a simulated duration-reproduction cohort
// (50 subjects x 250 trials, stimuli 0.3-16 s, closed-form QuadraticCost actor, exact
// marginal) fitted jointly with NUTS, 4 chains x (1,000 + 1,000), in the aligned coordinates
// (diagonal and dense metric), the centred-mu0 variant and the naive non-centred coordinates; and the same cohort fitted subject by subject (ActorModel, default
// priors, same NUTS settings). Per run: wall and CPU time, leapfrogs per iteration, divergences,
// min bulk ESS over the parameter columns and per CPU second. Also the cost of one gradient
// against the number of subjects (sufficient statistics: O(subjects), not O(trials)), by the
// generic path and by the fused node (models/hierarchical_fused.hpp) in the same run; and the
// fused gradient of large cohorts at 1 and 2 threads and, under mpirun, over MPI ranks.
//
//   bench_hierarchical [subjects] [trials] [joint]   (defaults 50 and 250; joint: skip the
//                                                     subject-by-subject fits)
//   bench_hierarchical gradient [subjects] [trials]  (only the gradient timings, with a blocked
//                                                     cohort: the subjects in two conditions)
//   bench_hierarchical scale [J1,J2,...] [trials]    (large cohorts, default 1000,10000 x 250;
//                                                     mpirun -np P in an MPI build: P ranks)
//   bench_hierarchical circular [subjects] [trials]  (von Mises perception, default 10 x 100: the
//                                                     cohort's gradient against J single-subject ones)
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bench/bench_util.hpp"
#include "models/hierarchical_fused.hpp"
#include "tests/models/cohort_test_util.hpp"  // the simulated cohort (no test framework)
#if BACTOR_MPI
#include "models/mpi_exchange.hpp"
#endif
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/hierarchical.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>

#include <numbers>

namespace {

using namespace bactor;

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

Cohort cohort(std::size_t J, std::size_t trials) { return testing::duration_cohort(J, trials, 2026); }

struct RunStats {
  double wall = 0, cpu = 0, min_ess = 0, leapfrogs_per_iteration = 0;
  std::size_t divergences = 0, gradients = 0;
  std::string min_ess_name;
};

RunStats run(const ModelFactory& f, const NutsSettings& ns) {
  const double c0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  const auto chains = run_nuts(f, ns);
  RunStats r;
  r.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.cpu = cpu_seconds() - c0;
  const Summary s = summarize(chains);
  r.min_ess = 1e300;
  for (const auto& p : s.params)
    if (p.ess_bulk < r.min_ess) r.min_ess = p.ess_bulk, r.min_ess_name = p.name;
  r.divergences = s.divergences;
  for (const auto& c : chains) r.gradients += c.gradient_evaluations;
  r.leapfrogs_per_iteration = double(r.gradients) / double(ns.chains * (ns.warmup + ns.samples));
  return r;
}

/// The cohort's first j subjects.
Dataset first_subjects(const Dataset& all, std::size_t j) {
  Dataset d = all;
  std::size_t n = 0;
  while (n < d.size() && std::stoul(d.subject[n]) <= j) ++n;
  d.s.resize(n), d.r.resize(n), d.cond.resize(n), d.subject.resize(n), d.line.resize(n);
  return d;
}

struct GradientTiming {
  bench::Timing t;
  std::size_t dim = 0;
  double cpu_us = 0;  // this thread's CPU time per gradient (less sensitive to other jobs than wall time)
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

/// One gradient of the default hierarchical model of d (closed form, aligned; the parameters of
/// `per_condition` pooled per condition; with `lapse` a pooled lapse probability, which only the
/// generic path takes), the fused node or the generic path, with `threads` for the fused node's
/// subjects; `exchange` splits them over processes.
GradientTiming time_gradient(const Dataset& d, bool fused, int threads,
                             std::shared_ptr<detail::SubjectExchange> exchange = nullptr,
                             const std::set<std::string>& per_condition = {}, bool lapse = false) {
  HierarchicalSpec spec;
  spec.cost = &find_cost("QuadraticCost");
  spec.lapse = lapse;
  spec.log_lik = false;
  spec.per_condition = per_condition;
  spec.fused = fused;
  spec.threads = threads;
  spec.exchange = std::move(exchange);
  HierarchicalModel m(d, spec);
  if (m.fused() != fused) std::fprintf(stderr, "bench_hierarchical: the fused path does not cover the bench's model\n");
  auto q = m.initial_point();
  std::vector<double> g(q.size());
  const auto t = bench::time_it([&] {
    q[0] += 1e-12;
    bench::do_not_optimize(m.log_density(q, g));
    bench::clobber_memory();
  }, bench::calibrate([&] { bench::do_not_optimize(m.log_density(q, g)); }, 200000.0), 11);
  const long n = std::max(1L, t.inner * 5);
  const double c0 = thread_cpu_seconds();
  for (long i = 0; i < n; ++i) bench::do_not_optimize(m.log_density(q, g));
  return {t, m.dim(), 1e6 * (thread_cpu_seconds() - c0) / double(n)};
}

/// A gradient timing of the cohort d as a JSON line (the conditions only for a blocked cohort).
void print_gradient(const GradientTiming& t, bool fused, const Dataset& d, bool lapse = false) {
  std::set<std::string> ids(d.subject.begin(), d.subject.end());
  bench::JsonLine line("hierarchical_gradient", 1);
  line.add("path", fused ? "fused" : lapse ? "generic+lapse" : "generic").add("subjects", ids.size());
  if (d.conditions() > 1) line.add("conditions", d.conditions());
  line.add("trials", d.size())
      .add("dim", t.dim)
      .timing(t.t)
      .add("cpu_us", t.cpu_us)
      .add("ns_per_subject", 1e3 * t.t.median_us / double(ids.size()))
      .print();
}

/// Large cohorts (`subjects`, comma-separated, x `trials`): the fused gradient at 1 and 2
/// threads and, in an MPI build under mpirun, over the ranks (rank 0 times; the others serve).
int scale(const std::string& subjects, std::size_t trials) {
  std::vector<std::size_t> sizes;
  for (std::size_t a = 0; a < subjects.size();) {
    const std::size_t b = std::min(subjects.find(',', a), subjects.size());
    sizes.push_back(std::size_t(std::atol(subjects.substr(a, b - a).c_str())));
    a = b + 1;
  }
  int rank = 0, ranks = 1;
#if BACTOR_MPI
  rank = mpi::world_rank();
  ranks = mpi::world_size();
#endif
  for (std::size_t J : sizes) {
    const Cohort c = cohort(J, trials);
    for (int threads : {1, 2}) {
      std::shared_ptr<detail::SubjectExchange> exchange;
#if BACTOR_MPI
      std::shared_ptr<mpi::Exchange> ex;
      if (ranks > 1) exchange = ex = std::make_shared<mpi::Exchange>();
      if (ex && !ex->leader()) {  // serve rank 0's gradients for this configuration
        HierarchicalSpec spec;
        spec.cost = &find_cost("QuadraticCost");
        spec.log_lik = false;
        spec.threads = threads;
        spec.exchange = ex;
        const HierarchicalModel worker(c.data, spec);
        ex->serve();
        continue;
      }
#endif
      const GradientTiming t = time_gradient(c.data, true, threads, exchange);
#if BACTOR_MPI
      if (ex) ex->stop();
#endif
      if (rank != 0) continue;
      bench::JsonLine("hierarchical_scale", threads)
          .add("ranks", ranks)
          .add("subjects", J)
          .add("trials", c.data.size())
          .add("dim", t.dim)
          .timing(t.t)
          .add("cpu_us", t.cpu_us)
          .add("ns_per_subject", 1e3 * t.t.median_us / double(J))
          .print();
    }
  }
  return 0;
}

/// The median time of one gradient of `m` at q (calibrated inner loop, 11 repeats).
bench::Timing time_model_gradient(Model& m, std::vector<double> q) {
  std::vector<double> g(q.size());
  return bench::time_it([&] {
    q[0] += 1e-12;
    bench::do_not_optimize(m.log_density(q, g));
    bench::clobber_memory();
  }, bench::calibrate([&] { bench::do_not_optimize(m.log_density(q, g)); }, 200000.0), 11);
}

/// Von Mises perception (models/circular.hpp): a cohort of J subjects x `trials` (QuadraticCost,
/// stimuli on the whole circle), one gradient of the hierarchical model at its initial point
/// (each subject at the population medians) against one gradient of each subject's
/// single-subject ActorModel at the same theta, summed over the subjects: the likelihood is
/// the same per trial, so the ratio is the population level's and the one tape node's overhead.
int circular(std::size_t J, std::size_t trials) {
  CohortSpec cs;
  cs.base.cost = &find_cost("QuadraticCost");
  cs.base.perception = PerceptionModel::vonmises;
  cs.base.values = {{"mu_0", 1.0}, {"sigma_0", 0.5}, {"sigma", 0.3}, {"sigma_r", 0.2}};
  cs.base.trials = trials;
  cs.base.s_lo = -std::numbers::pi;
  cs.base.s_hi = std::numbers::pi;
  cs.base.seed = 2026;
  cs.subjects = J;
  cs.spread = {{"mu_0", 0.3}, {"sigma", 0.2}, {"sigma_r", 0.2}};
  const Cohort c = simulate_cohort(cs);
  HierarchicalSpec spec;
  spec.cost = cs.base.cost;
  spec.perception = PerceptionModel::vonmises;
  spec.log_lik = false;
  HierarchicalModel h(c.data, spec);
  const auto q = h.initial_point({{"mu_0", 1.0}, {"sigma_0", 0.5}, {"sigma", 0.3}, {"sigma_r", 0.2}});
  const auto theta = h.subject_theta(q);
  const bench::Timing th = time_model_gradient(h, q);
  double single_sum = 0, single_min_sum = 0;
  const auto subjects = split_subjects(c.data);
  for (std::size_t j = 0; j < J; ++j) {
    const auto it = std::find_if(subjects.begin(), subjects.end(), [&](const auto& sd) { return sd.first == h.subject_ids()[j]; });
    const Dataset& d = it->second;
    InferenceSpec is;
    is.cost = spec.cost;
    is.perception = PerceptionModel::vonmises;
    is.log_lik = false;
    ActorModel one(d, is);
    const double* t = theta.data() + j * 4;  // sigma, sigma_0, mu_0, sigma_r
    const auto q1 = one.unconstrain({{"sigma", t[0]}, {"sigma_0", t[1]}, {"mu_0", t[2]}, {"sigma_r", t[3]}});
    const bench::Timing ts = time_model_gradient(one, q1);
    single_sum += ts.median_us;
    single_min_sum += ts.min_us;
  }
  bench::JsonLine("hierarchical_circular_gradient", 1)
      .add("subjects", J)
      .add("trials", c.data.size())
      .add("dim", h.dim())
      .timing(th)
      .add("singles_median_us_sum", single_sum)
      .add("ns_per_subject", 1e3 * th.median_us / double(J))
      .add("hierarchical_over_singles", th.median_us / single_sum)
      .add("hierarchical_over_singles_min", th.min_us / single_min_sum)
      .print();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 && !std::isdigit(static_cast<unsigned char>(argv[1][0])) ? argv[1] : "";
#if BACTOR_MPI
  const mpi::Session session(argc, argv);
  if (session.size() > 1 && mode != "scale") {
    if (session.rank() == 0) std::fprintf(stderr, "bench_hierarchical: under mpirun only the scale mode runs\n");
    return 2;
  }
#endif
  if (mode == "circular")
    return circular(argc > 2 ? std::size_t(std::atol(argv[2])) : 10, argc > 3 ? std::size_t(std::atol(argv[3])) : 100);
  if (mode == "scale") return scale(argc > 2 ? argv[2] : "1000,10000", argc > 3 ? std::size_t(std::atol(argv[3])) : 250);
  const int a0 = mode.empty() ? 1 : 2;
  const std::size_t J = argc > a0 ? std::size_t(std::atol(argv[a0])) : 50;
  const std::size_t trials = argc > a0 + 1 ? std::size_t(std::atol(argv[a0 + 1])) : 250;
  const int threads = std::min(2, bench::max_threads());
  const Cohort c = cohort(J, trials);
  NutsSettings ns;
  ns.chains = 4;
  ns.warmup = 1000;
  ns.samples = 1000;
  ns.threads = threads;
  ns.seed = 1;

  // 1. One gradient against the number of subjects (closed form, aligned): the generic path
  // (population node + composed likelihood) and the fused node, at the same points, same run.
  std::vector<std::size_t> sizes{10, 20, J / 2, J};
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  for (std::size_t j : sizes) {
    if (j < 2 || j > J) continue;
    const Dataset d = first_subjects(c.data, j);
    double median[2] = {0, 0}, cpu[2] = {0, 0};
    for (const bool fused : {false, true}) {
      const GradientTiming t = time_gradient(d, fused, 1);
      median[fused] = t.t.median_us;
      print_gradient(t, fused, d);
      cpu[fused] = t.cpu_us;
    }
    // With lapses (per-trial mixtures: O(trials), not O(subjects)), same run.
    const GradientTiming tl = time_gradient(d, false, 1, nullptr, {}, true);
    print_gradient(tl, false, d, true);
    bench::JsonLine("hierarchical_gradient_ratio", 1)
        .add("subjects", j)
        .add("generic_over_fused", median[0] / median[1])
        .add("cpu_generic_over_fused", cpu[0] / cpu[1])
        .add("lapse_over_generic", tl.t.median_us / median[0])
        .add("cpu_lapse_over_generic", tl.cpu_us / cpu[0])
        .print();
  }
  // A blocked cohort: the same subjects in two conditions (the second block's stimuli 1.5x
  // longer), mu_0 and sigma_0 pooled per condition (aligned coordinates; the generic path).
  {
    Dataset d = c.data;
    d.cond_labels = {"1", "2"};
    for (std::size_t i = 0, n = c.data.size(); i < n; ++i) {
      d.s.push_back(1.5 * c.data.s[i]);
      d.r.push_back(1.5 * c.data.r[i]);
      d.cond.push_back(1);
      d.subject.push_back(c.data.subject[i]);
      d.line.push_back(d.s.size() + 1);
    }
    print_gradient(time_gradient(d, false, 1, nullptr, {"mu_0", "sigma_0"}), false, d);
  }
  if (mode == "gradient") return 0;

  // 2. The joint fit in both coordinates.
  for (int variant = 0; variant < 4; ++variant) {
    const auto par = variant == 2 ? HierParameterisation::centred_mu0
                                  : (variant == 3 ? HierParameterisation::noncentred : HierParameterisation::aligned);
    HierarchicalSpec spec;
    spec.cost = &find_cost("QuadraticCost");
    spec.log_lik = false;
    spec.parameterisation = par;
    NutsSettings nsv = ns;
    nsv.dense_metric = variant == 1;
    const RunStats r = run([&] { return std::make_unique<HierarchicalModel>(c.data, spec); }, nsv);
    bench::JsonLine("hierarchical_nuts", threads)
        .add("case", std::string("joint ") + to_string(par))
        .add("metric", nsv.dense_metric ? "dense" : "diag")
        .add("subjects", J)
        .add("trials_per_subject", trials)
        .add("chains", ns.chains)
        .add("warmup", ns.warmup)
        .add("samples", ns.samples)
        .add("wall_s", r.wall)
        .add("cpu_s", r.cpu)
        .add("leapfrogs_per_iteration", r.leapfrogs_per_iteration)
        .add("divergences", r.divergences)
        .add("min_ess_bulk", r.min_ess)
        .add("min_ess_param", r.min_ess_name)
        .add("min_ess_per_cpu_s", r.min_ess / r.cpu)
        .print();
  }

  if (mode == "joint" || (argc > 3 && std::string(argv[3]) == "joint")) return 0;
  // 3. Subject by subject (no pooling: each subject's own posterior under the default priors).
  RunStats all;
  all.min_ess = 1e300;
  for (const auto& [id, d] : split_subjects(c.data)) {
    InferenceSpec spec;
    spec.cost = &find_cost("QuadraticCost");
    spec.log_lik = false;
    const Dataset one = d;
    const RunStats r = run([&] { return std::make_unique<ActorModel>(one, spec); }, ns);
    all.wall += r.wall;
    all.cpu += r.cpu;
    all.gradients += r.gradients;
    all.divergences += r.divergences;
    if (r.min_ess < all.min_ess) all.min_ess = r.min_ess, all.min_ess_name = r.min_ess_name + " of subject " + id;
  }
  bench::JsonLine("hierarchical_nuts", threads)
      .add("case", "subject by subject")
      .add("subjects", J)
      .add("trials_per_subject", trials)
      .add("chains", ns.chains)
      .add("warmup", ns.warmup)
      .add("samples", ns.samples)
      .add("wall_s", all.wall)
      .add("cpu_s", all.cpu)
      .add("leapfrogs_per_iteration", double(all.gradients) / double(J * ns.chains * (ns.warmup + ns.samples)))
      .add("divergences", all.divergences)
      .add("min_ess_bulk", all.min_ess)
      .add("min_ess_param", all.min_ess_name)
      .add("min_ess_per_cpu_s", all.min_ess / all.cpu)
      .print();
  return 0;
}
