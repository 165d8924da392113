// SPDX-License-Identifier: MIT
// Hierarchical cohorts (models/hierarchical.hpp): a simulated duration-reproduction cohort
// (50 subjects x 250 trials, stimuli 0.3-16 s, closed-form QuadraticCost actor, exact
// marginal) fitted jointly with NUTS, 4 chains x (1,000 + 1,000), in the aligned coordinates
// (diagonal and dense metric), the centred-mu0 variant and the naive non-centred coordinates; and the same cohort fitted subject by subject (ActorModel, default
// priors, same NUTS settings). Per run: wall and CPU time, leapfrogs per iteration, divergences,
// min bulk ESS over the parameter columns and per CPU second. Also the cost of one gradient
// against the number of subjects (sufficient statistics: O(subjects), not O(trials)).
//
//   bench_hierarchical [subjects] [trials] [joint|gradient]   (defaults 50 and 250; joint: skip
//                                  the subject-by-subject fits; gradient: the gradient timings only)
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bench/bench_util.hpp"
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/hierarchical.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>

namespace {

using namespace bactor;

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

Cohort cohort(std::size_t J, std::size_t trials) {
  CohortSpec cs;
  cs.base.cost = &find_cost("QuadraticCost");
  cs.base.values = {{"sigma", 0.15}, {"sigma_0", 0.35}, {"mu_0", 3.0}, {"sigma_r", 0.12}};
  cs.base.trials = trials;
  cs.base.s_lo = 0.3;
  cs.base.s_hi = 16.0;
  cs.base.seed = 2026;
  cs.subjects = J;
  cs.spread = {{"sigma", 0.3}, {"sigma_0", 0.3}, {"mu_0", 0.2}, {"sigma_r", 0.3}};
  return simulate_cohort(cs);
}

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

/// One gradient of the QuadraticCost cohort model of `d` (J subjects; the parameters of
/// `per_condition` pooled per condition), timed: a JSON line.
void time_gradient(const Dataset& d, std::size_t J, const std::set<std::string>& per_condition) {
  HierarchicalSpec spec;
  spec.cost = &find_cost("QuadraticCost");
  spec.log_lik = false;
  spec.per_condition = per_condition;
  HierarchicalModel m(d, spec);
  auto q = m.initial_point();
  std::vector<double> g(q.size());
  const auto t = bench::time_it([&] {
    q[0] += 1e-12;
    bench::do_not_optimize(m.log_density(q, g));
    bench::clobber_memory();
  }, bench::calibrate([&] { bench::do_not_optimize(m.log_density(q, g)); }));
  bench::JsonLine("hierarchical_gradient", 1)
      .add("subjects", J)
      .add("conditions", d.conditions())
      .add("trials", d.size())
      .add("dim", m.dim())
      .timing(t)
      .add("us_per_subject", t.median_us / double(J))
      .print();
}

} // namespace

int main(int argc, char** argv) {
  const std::size_t J = argc > 1 ? std::size_t(std::atol(argv[1])) : 50;
  const std::size_t trials = argc > 2 ? std::size_t(std::atol(argv[2])) : 250;
  const int threads = std::min(2, bench::max_threads());
  const Cohort c = cohort(J, trials);
  NutsSettings ns;
  ns.chains = 4;
  ns.warmup = 1000;
  ns.samples = 1000;
  ns.threads = threads;
  ns.seed = 1;

  // 1. One gradient against the number of subjects (closed form, aligned).
  for (std::size_t j : {std::size_t(10), J / 2, J}) {
    Dataset d = c.data;
    std::size_t n = 0;
    while (n < d.size() && std::stoul(d.subject[n]) <= j) ++n;
    d.s.resize(n), d.r.resize(n), d.cond.resize(n), d.subject.resize(n), d.line.resize(n);
    time_gradient(d, j, {});
  }
  // A blocked cohort: the same subjects in two conditions (the second block's stimuli 1.5x
  // longer), mu_0 and sigma_0 pooled per condition (aligned coordinates).
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
    time_gradient(d, J, {"mu_0", "sigma_0"});
  }
  if (argc > 3 && std::string(argv[3]) == "gradient") return 0;
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

  if (argc > 3 && std::string(argv[3]) == "joint") return 0;
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
