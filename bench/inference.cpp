// SPDX-License-Identifier: MIT
// Inference hot path: the log-density gradient of the actor model (built from tape nodes,
// models/inference_nodes.hpp) at N = 60, 600, 6000 trials for each action source (closed form,
// network) and latent mode (marginal, sampled; the network marginal with the node count by
// sigma and with a fixed 16-node rule). Baselines in the same run: one network
// forward+backward alone, and a plain scalar log-normal log-likelihood loop over the N trials.
// (The comparison with the hand-written gradient the tape replaced, issue 14, is in README's
// Benchmarks; the bench that made it is at commit 204eb7d.)
// Then whole posterior runs: the reference synthetic study (N = 60, sigma fixed, 4 chains x
// (2,500 warm-up + 5,000 draws), network action; the network from BACTOR_BENCH_NETWORK or a
// 4,000-step one trained here) and the closed-form marginal on effort_two_noise.csv (every
// parameter free), reporting wall time and min bulk-ESS per CPU second (CPU = warm-up +
// sampling time summed over chains, as Stan's get_elapsed_time; Stan: 272 and 1,450).
#include "bench/bench_util.hpp"
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/formula.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/motor.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/models/train.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace bactor;

namespace {

std::shared_ptr<const ActionNetwork> bench_network(const CostInfo& cost, NetworkHead head = NetworkHead::softplus,
                                                   MotorModel motor = MotorModel::lognormal) {
  const auto names = theta_names(cost, MotorSpec{motor, false});
  const std::size_t n_feat = head_input_count(head, names.size());
  std::vector<int> sizes{static_cast<int>(n_feat), 16, 64, 16, 8, 3};
  MlpLayout layout{sizes};
  std::vector<float> params(layout.n_params());
  Rng rng(1, 0);
  for (auto& p : params) p = static_cast<float>(0.2 * rng.normal());
  bactor::NetworkMetadata meta;
  if (motor != MotorModel::lognormal) meta["motor"] = to_string(motor);
  return std::make_shared<ActionNetwork>(cost.name, names, sizes, params, std::vector<InputScaling>(n_feat), meta, head);
}

Dataset bench_data(const CostInfo& cost, std::size_t n) {
  SimulationSpec spec;
  spec.cost = &cost;
  spec.values = {{"sigma", 0.2}, {"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}};
  spec.trials = n;
  spec.seed = 7;
  return simulate(spec);
}

void report_run(const char* name, const Dataset& d, const InferenceSpec& spec, const char* action, int warmup = 2500,
                int samples = 5000) {
  NutsSettings ns;
  ns.chains = 4;
  ns.warmup = warmup;
  ns.samples = samples;
  ns.seed = 1;
  ns.threads = 2;
  ActorModel probe(d, spec);
  const auto names = probe.free_names();
  const auto t0 = std::chrono::steady_clock::now();
  const auto chains = run_nuts([&] { return std::make_unique<ActorModel>(d, spec); }, ns);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Summary s = summarize(chains, names);
  double cpu = 0, min_ess = INFINITY;
  std::size_t grads = 0;
  for (const auto& c : chains) cpu += c.warmup_seconds + c.sampling_seconds, grads += c.gradient_evaluations;
  for (const auto& p : s.params) min_ess = std::min(min_ess, p.ess_bulk);
  bench::JsonLine("inference", 2)
      .add("case", name)
      .add("action", action)
      .add("head", spec.network ? to_string(spec.network->head()) : "closed_form")
      .add("latent", to_string(spec.latent))
      .add("n", d.size())
      .add("chains", 4)
      .add("warmup", warmup)
      .add("samples", samples)
      .add("wall_s", wall)
      .add("cpu_s", cpu)
      .add("gradients", grads)
      .add("min_ess_bulk", min_ess)
      .add("min_ess_per_cpu_s", min_ess / cpu)
      .add("divergences", s.divergences)
      .print();
}

void posterior_runs() {
  const CostInfo& cost = find_cost("QuadraticCost");
  std::shared_ptr<const ActionNetwork> net;
  std::string source;
  if (const char* path = std::getenv("BACTOR_BENCH_NETWORK"); path && *path) {
    net = std::make_shared<const ActionNetwork>(ActionNetwork::load(path));
    source = path;
  } else {
    TrainSettings ts;
    ts.cost = cost.name;
    ts.steps = 4000;
    net = std::make_shared<const ActionNetwork>(train(ts).network);
    source = "trained-4000-steps";
  }
  SimulationSpec sim;
  sim.cost = &cost;
  sim.values = {{"sigma", 0.2}, {"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}};
  sim.trials = 60;
  sim.seed = 7;
  const Dataset d = simulate(sim);
  InferenceSpec spec;
  spec.cost = &cost;
  spec.fixed["sigma"] = 0.2;
  report_run("reference_study_closed_form_baseline", d, spec, "closed_form");
  spec.network = net;
  for (LatentMode mode : {LatentMode::sampled, LatentMode::marginal}) {
    spec.latent = mode;
    report_run("reference_study", d, spec, ("network:" + source).c_str());
  }
  const char* dir = std::getenv("BACTOR_REFERENCE_DIR");  // tests/reference, set by meson benchmark
  if (!dir) throw std::runtime_error("BACTOR_REFERENCE_DIR is not set (run through make bench)");
  const Dataset e = read_dataset(std::string(dir) + "/effort_two_noise.csv");
  // Stan's run length for this data set (reference README: 4 x (5,000 + 25,000)), so that the
  // min-ESS per CPU second (warm-up included, as Stan's get_elapsed_time sum) compares like
  // with like.
  constexpr int stan_warmup = 5000, stan_samples = 25000;
  InferenceSpec es;
  es.cost = &find_cost("QuadraticCostQuadraticEffort");
  es.log_lik = false;  // Stan's reference model has no generated quantities either
  es.priors["mu_0"] = Prior{Prior::Kind::uniform, 0.1, 5.0};  // Stan's prior (reference README)
  report_run("effort_two_noise_all_free", e, es, "closed_form", stan_warmup, stan_samples);
  // Networks for the effort cost (30k steps): the posterior head (exact marginal) and the
  // softplus head of docs/network.md (marginal by Gauss-Hermite quadrature).
  for (const char* head : {"posterior", "softplus"}) {
    TrainSettings ts;
    ts.cost = es.cost->name;
    ts.steps = 30000;
    ts.head = head;
    es.network = std::make_shared<const ActionNetwork>(train(ts).network);
    report_run("effort_two_noise_all_free", e, es, "network:trained-30000-steps", stan_warmup, stan_samples);
  }
}

/// True when `only` is empty or the first path components of `key` ("closed_form/marginal/60"
/// is selected by "closed_form", "closed_form/marginal" and itself, not by "closed_form/marg"
/// nor, for n = 600, by "closed_form/marginal/60").
bool selected(const std::string& key, const std::string& only) {
  return only.empty() || (key.rfind(only, 0) == 0 && (key.size() == only.size() || key[only.size()] == '/'));
}

/// --calls K: each timed kernel runs 3 warm-up calls, then K calls inside one of these named
/// frames, for instruction counts per call that exclude one-time set-up (quadrature rules,
/// arena blocks): valgrind --tool=callgrind --collect-atstart=no
/// --toggle-collect='*counted_gradients*' bench_inference --calls K --only KEY.
long fixed_calls = 0;
template <class F>
[[gnu::noinline]] void counted_gradients(F& f, long k) {
  for (long i = 0; i < k; ++i) f();
}
template <class F>
[[gnu::noinline]] void counted_values(F& f, long k) {
  for (long i = 0; i < k; ++i) f();
}
template <class F>
[[gnu::noinline]] void counted_network(F& f, long k) {
  for (long i = 0; i < k; ++i) f();
}
/// Times f (median of repetitions), or in --calls mode runs it through `counted` and reports
/// the call count.
template <class F, class C>
void measure(bench::JsonLine& line, F& f, C counted) {
  if (fixed_calls > 0) {
    for (int i = 0; i < 3; ++i) f();
    counted(f, fixed_calls);
    line.add("calls", fixed_calls);
    return;
  }
  line.timing(bench::time_it(f, bench::calibrate(f)));
}

/// The log density's gradient of `m` timed (median of repetitions) at the simulation's true
/// values, sigma left out (the benches fix it).
bench::Timing time_gradient(ActorModel& m, std::map<std::string, double> at) {
  at.erase("sigma");
  auto q = m.unconstrain(at);
  std::vector<double> g(m.dim());
  auto f = [&] {
    bench::do_not_optimize(m.log_density(q, g));
    bench::clobber_memory();
  };
  return bench::time_it(f, bench::calibrate(f));
}

} // namespace

int main(int argc, char** argv) {
  // --gradients-only: skip the (minutes-long) posterior runs; --posteriors-only: only those.
  // --only HEAD[/LATENT[/N]]: only the gradient cases whose "head/latent/n" begins with those
  // components (e.g. closed_form/marginal/60; latent marginal, marginal_lapse, sampled or, for
  // the softplus head's fixed 16-node rule, marginal_fixed16), or network/HEAD: only that
  // head's network baseline, or motor[/MODEL[/N]] (MODEL as MotorSpec::name, e.g. gaussian+offset):
  // the motor forms' cases.
  // --calls K: instruction-count mode (see counted_gradients).
  bool posteriors = true, gradients = true;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--gradients-only") posteriors = false;
    else if (a == "--posteriors-only") gradients = false;
    else if (a == "--only" && i + 1 < argc) only = argv[++i], posteriors = false;
    else if (a == "--calls" && i + 1 < argc) fixed_calls = std::stol(argv[++i]), posteriors = false;
  }
  if (!gradients) {
    posterior_runs();
    return 0;
  }
  const CostInfo& cost = find_cost("QuadraticCost");
  const auto net = bench_network(cost);
  const auto power_net = bench_network(cost, NetworkHead::power);
  const auto posterior_net = bench_network(cost, NetworkHead::posterior);

  // Baseline 1: one network forward + backward per head (the posterior and mupost heads add
  // their input features and closed-form parts; mupost at one measurement).
  for (NetworkHead head : {NetworkHead::softplus, NetworkHead::power, NetworkHead::posterior, NetworkHead::mupost}) {
    if (!selected(std::string("network/") + to_string(head), only)) continue;
    const auto hnet = bench_network(cost, head);
    ActionNetwork::Workspace ws;
    std::vector<double> theta{0.2, 0.15, 1.5, 0.1}, dtheta(4);
    std::array<double, 3> x{}, dx{0.1, 0.2, 0.3};
    auto f = [&] {
      hnet->forward(theta, 1.3, std::span<double, 3>(x), ws);
      hnet->backward(std::span<const double, 3>(dx), dtheta, ws);
      bench::do_not_optimize(dtheta[0]);
    };
    bench::JsonLine line("inference");
    line.add("case", "baseline_network_forward_backward").add("head", to_string(head));
    measure(line, f, [](auto& g, long k) { counted_network(g, k); });
    line.print();
  }

  for (std::size_t n : {60, 600, 6000}) {
    const Dataset d = bench_data(cost, n);
    if (fixed_calls == 0) {  // Baseline 2: scalar log-normal log-likelihood of N responses with its mean gradient.
      std::vector<double> y(n), mu(n);
      for (std::size_t i = 0; i < n; ++i) y[i] = std::log(d.r[i]), mu[i] = std::log(d.s[i]);
      double sr = 0.1;
      auto f = [&] {
        double ll = 0, g = 0;
        for (std::size_t i = 0; i < n; ++i) {
          const double e = y[i] - std::log(std::exp(mu[i]));
          ll -= 0.5 * e * e / (sr * sr);
          g += e;
        }
        bench::do_not_optimize(ll);
        bench::do_not_optimize(g);
      };
      bench::JsonLine("inference").add("case", "baseline_scalar_lognormal_loop").add("n", n).timing(bench::time_it(f, bench::calibrate(f))).print();
    }
    // Action sources: the closed form, a softplus-head network (marginal by quadrature) and
    // power- and posterior-head networks (exact marginal).
    for (const auto& source : {std::shared_ptr<const ActionNetwork>(), net, power_net, posterior_net})
      for (LatentMode mode : {LatentMode::marginal, LatentMode::sampled})
        // The softplus network's marginal also with a fixed 16-node rule (the former default)
        // as the comparison for the node count by sigma (quadrature_nodes_for(0.2) = 9 here).
        // The marginal also with lapses (InferenceSpec::lapse; latent "marginal_lapse"), whose
        // nodes run over the trials where the plain exact marginal uses sufficient statistics.
        for (int nodes : {default_quadrature_nodes, 16})
        for (bool lapse : {false, true}) {
          const bool use_net = source != nullptr;
          const bool quadrature = source == net && mode == LatentMode::marginal;
          if (nodes != default_quadrature_nodes && !quadrature) continue;
          if (lapse && (mode != LatentMode::marginal || nodes != default_quadrature_nodes)) continue;
          const std::string key = std::string(use_net ? to_string(source->head()) : "closed_form") + "/" +
                                  to_string(mode) + (lapse ? "_lapse" : "") +
                                  (nodes != default_quadrature_nodes ? "_fixed16/" : "/") + std::to_string(n);
          if (!selected(key, only)) continue;
          InferenceSpec spec;
          spec.cost = &cost;
          spec.latent = mode;
          spec.fixed["sigma"] = 0.2;
          spec.quadrature_nodes = nodes;
          spec.lapse = lapse;
          if (use_net) spec.network = source;
          ActorModel m(d, spec);
          auto q = m.unconstrain({{"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}});
          std::vector<double> g(m.dim());
          auto f = [&] {
            bench::do_not_optimize(m.log_density(q, g));
            bench::clobber_memory();
          };
          bench::JsonLine line("inference");
          line.add("case", "log_density_gradient")
              .add("action", use_net ? "network" : "closed_form")
              .add("head", use_net ? to_string(source->head()) : "closed_form")
              .add("latent", to_string(mode))
              .add("lapse", lapse ? "true" : "false")
              .add("n", n)
              .add("dim", m.dim());
          if (quadrature)
            line.add("quadrature_nodes", nodes > 0 ? nodes : quadrature_nodes_for(0.2))
                .add("node_rule", nodes > 0 ? "fixed" : "by_sigma");
          measure(line, f, [](auto& g, long k) { counted_gradients(g, k); });
          line.print();
          // The value-only path the draws files' log_lik.i and LOO use: every trial's
          // log-likelihood at one draw.
          std::vector<double> ll(n);
          auto v = [&] {
            m.trial_loglik(q, ll);
            bench::do_not_optimize(ll[0]);
            bench::clobber_memory();
          };
          bench::JsonLine vline("inference");
          vline.add("case", "trial_loglik")
              .add("head", use_net ? to_string(source->head()) : "closed_form")
              .add("latent", to_string(mode))
              .add("lapse", lapse ? "true" : "false")
              .add("n", n);
          if (quadrature) vline.add("node_rule", nodes > 0 ? "fixed" : "by_sigma");
          measure(vline, v, [](auto& g, long k) { counted_values(g, k); });
          vline.print();
        }
  }
  // Motor noise families (docs/families.md): the quadrature marginal of MotorForm, closed form
  // (gaussian motor noise, an offset) and a softplus network (generalized), beside the
  // log-normal cases above (closed_form/marginal, softplus/marginal) of the same run.
  const auto gen_net = bench_network(cost, NetworkHead::softplus, MotorModel::generalized);
  for (std::size_t n : {60, 600, 6000})
    for (const MotorSpec& motor : {MotorSpec{MotorModel::gaussian, false}, MotorSpec{MotorModel::lognormal, true},
                                   MotorSpec{MotorModel::gaussian, true}, MotorSpec{MotorModel::generalized, false}}) {
      const bool use_net = motor.model == MotorModel::generalized;
      const std::string key = "motor/" + motor.name() + "/" + std::to_string(n);
      if (!selected(key, only)) continue;
      SimulationSpec sim;
      sim.cost = &cost;
      sim.motor = motor;
      sim.values = {{"sigma", 0.2}, {"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_a", 0.1}, {"offset", 0.05}};
      if (motor.has_sigma_r()) sim.values["sigma_r"] = 0.1;
      if (!motor.has_sigma_a()) sim.values.erase("sigma_a");
      if (!motor.offset) sim.values.erase("offset");
      sim.network = use_net ? gen_net : nullptr;
      sim.trials = n;
      sim.seed = 7;
      const Dataset d = simulate(sim);
      InferenceSpec spec;
      spec.cost = &cost;
      spec.motor = motor;
      spec.network = sim.network;
      spec.fixed["sigma"] = 0.2;
      ActorModel m(d, spec);
      std::map<std::string, double> at{{"sigma_0", 0.15}, {"mu_0", 1.5}};
      for (const auto& [k, v] : sim.values)
        if (k != "sigma") at[k] = v;
      auto q = m.unconstrain(at);
      std::vector<double> g(m.dim());
      auto f = [&] {
        bench::do_not_optimize(m.log_density(q, g));
        bench::clobber_memory();
      };
      bench::JsonLine line("inference");
      line.add("case", "log_density_gradient")
          .add("action", use_net ? "network" : "closed_form")
          .add("head", use_net ? "softplus" : "closed_form")
          .add("latent", "marginal")
          .add("motor", motor.name())
          .add("n", n)
          .add("dim", m.dim());
      measure(line, f, [](auto& g, long k) { counted_gradients(g, k); });
      line.print();
    }
  // Perception families (docs/families.md, "Perception"): gaussian perception's closed-form
  // marginal (linear space, gaussian motor noise, with and without an offset) beside the
  // log-normal closed-form marginal, timed one after the other in the same run; each gaussian line
  // carries its median's ratio to the log-normal one's. The last two gaussian cases are
  // AsymmetricQuadratic in closed form (t*(alpha) by asymmetric_shift) and the same cost as a
  // formula (d*(tau, alpha) from the checked table of models/shift_solve.hpp, ShiftTable, made on
  // first use: no solve), an asymmetric formula without parameters, "if(r >= s, (r - s)^2,
  // 3*abs(r - s)^1.5)" (its table d*(tau)), and a formula with two parameters (not tabulated: the
  // generic shift solver, one solve per gradient). Then the
  // exact action (models/exact_linear.hpp: a*(mu_post) solved at Chebyshev points per gradient,
  // m integrated per trial by Gauss-Hermite): QuadraticCostQuadraticEffort, whose closed form
  // beta mu_post is timed beside it, and AbsoluteCostQuadraticEffort, which has no closed form.
  FormulaSpec fs;
  fs.expression = "2*if(r >= s, 1 - alpha, alpha)*(r - s)^2";
  fs.params = parse_param_priors("alpha=uniform:0.1:0.9");
  const CostInfo& asym_formula = register_formula_cost(fs);
  FormulaSpec fk;
  fk.expression = "if(r >= s, (r - s)^2, 3*abs(r - s)^1.5)";
  const CostInfo& table_formula = register_formula_cost(fk);
  FormulaSpec f2;
  f2.expression = "2*if(r >= s, 1 - alpha, alpha)*(r - s)^2 + b*(r - s)^4";
  f2.params = parse_param_priors("alpha=uniform:0.1:0.9,b=uniform:0:1");
  const CostInfo& solver_formula = register_formula_cost(f2);
  const CostInfo& asym = find_cost("AsymmetricQuadratic");
  const CostInfo& effort = find_cost("QuadraticCostQuadraticEffort");
  const CostInfo& abs_effort = find_cost("AbsoluteCostQuadraticEffort");
  for (std::size_t n : {60, 600, 6000}) {
    const std::string key = "perception/" + std::to_string(n);
    if (key.rfind(only, 0) != 0) continue;
    struct Case {
      PerceptionModel perception;
      MotorSpec motor;
      const CostInfo* cost;
      bool exact = false;
    };
    double lognormal_median = 0, effort_closed_median = 0;
    const MotorSpec gm{MotorModel::gaussian, false};
    for (const Case& c : {Case{PerceptionModel::lognormal, MotorSpec{}, &cost}, Case{PerceptionModel::gaussian, gm, &cost},
                          Case{PerceptionModel::gaussian, MotorSpec{MotorModel::gaussian, true}, &cost},
                          Case{PerceptionModel::gaussian, gm, &asym}, Case{PerceptionModel::gaussian, gm, &asym_formula},
                          Case{PerceptionModel::gaussian, gm, &table_formula}, Case{PerceptionModel::gaussian, gm, &solver_formula},
                          Case{PerceptionModel::gaussian, gm, &effort}, Case{PerceptionModel::gaussian, gm, &effort, true},
                          Case{PerceptionModel::gaussian, gm, &abs_effort, true}}) {
      const bool linear = c.perception == PerceptionModel::gaussian;
      SimulationSpec sim;
      sim.cost = c.cost;
      sim.motor = c.motor;
      sim.perception = c.perception;
      sim.values = {{"sigma", 0.2}, {"sigma_0", linear ? 1.5 : 0.15}, {"mu_0", linear ? -0.5 : 1.5}};
      if (linear) sim.values["sigma_a"] = 0.3;
      else sim.values["sigma_r"] = 0.1;
      if (c.motor.offset) sim.values["offset"] = 0.2;
      for (const auto& p : c.cost->params) sim.values[p.name] = p.name == "beta" ? 0.8 : 0.3;
      sim.s_lo = linear ? -3.0 : 0.1;
      sim.trials = n;
      sim.seed = 7;
      const Dataset d = simulate(sim);
      InferenceSpec spec;
      spec.cost = c.cost;
      spec.motor = c.motor;
      spec.perception = c.perception;
      spec.fixed["sigma"] = 0.2;
      spec.exact_action = c.exact;
      ActorModel m(d, spec);
      const auto t = time_gradient(m, sim.values);
      bench::JsonLine line("inference");
      line.add("case", "log_density_gradient")
          .add("action", c.exact                     ? "exact"
                         : c.cost == &asym_formula || c.cost == &table_formula ? "shift_table"
                         : c.cost == &solver_formula                            ? "shift_solver"
                                                                                : "closed_form")
          .add("cost", c.cost == &asym_formula ? "AsymmetricQuadratic (formula)" : c.cost->name)
          .add("latent", "marginal")
          .add("perception", to_string(c.perception))
          .add("motor", c.motor.name())
          .add("n", n)
          .add("dim", m.dim());
      if (!linear) lognormal_median = t.median_us;
      else line.add("ratio_to_lognormal", t.median_us / lognormal_median);
      // The exact action of QuadraticCostQuadraticEffort beside its own closed form (timed just before).
      if (c.cost == &effort && !c.exact) effort_closed_median = t.median_us;
      if (c.cost == &effort && c.exact) line.add("ratio_to_closed_form", t.median_us / effort_closed_median);
      line.timing(t).print();
    }
  }
  // Networks under gaussian perception (docs/network.md, "The linear head"): the log density's
  // gradient with a trained linear network (MupostSource tabulated along m, integrated by
  // LinearForm's quadrature) beside the exact action (Newton solves at Chebyshev points per
  // gradient) on the same data, for AbsoluteCostQuadraticEffort and the formula (r - s)^2 + k r^2;
  // each network line carries its median's ratio to the exact action's (timed just before).
  FormulaSpec effort_fs;
  effort_fs.expression = "(r - s)^2 + k*r^2";
  effort_fs.params = parse_param_priors("k=uniform:0.05:0.5");
  const CostInfo& effort_formula = register_formula_cost(effort_fs);
  for (const CostInfo* c : {&abs_effort, &effort_formula}) {
    const std::vector<std::size_t> sizes{60, 600};
    if (std::none_of(sizes.begin(), sizes.end(), [&](std::size_t n) { return selected("linear_network/" + std::to_string(n), only); }))
      continue;
    TrainSettings ts;
    ts.cost = c->name;
    ts.motor = MotorModel::gaussian;
    ts.perception = PerceptionModel::gaussian;
    ts.steps = 20000;
    ts.threads = 2;
    ts.progress_seconds = 1e9;
    const TrainResult trained = train(ts);
    const auto net = std::make_shared<const ActionNetwork>(trained.network);
    for (std::size_t n : sizes) {
      if (!selected("linear_network/" + std::to_string(n), only)) continue;
      const MotorSpec gm{MotorModel::gaussian, false};
      SimulationSpec sim;
      sim.cost = c;
      sim.motor = gm;
      sim.perception = PerceptionModel::gaussian;
      sim.values = {{"sigma", 0.2}, {"sigma_0", 1.0}, {"mu_0", -0.3}, {"sigma_a", 0.3}};
      for (const auto& p : c->params) sim.values[p.name] = p.name == "beta" ? 0.7 : 0.2;
      sim.s_lo = -1.5;
      sim.s_hi = 1.5;
      sim.trials = n;
      sim.seed = 7;
      const Dataset d = simulate(sim);
      double exact_median = 0;
      for (const bool with_net : {false, true}) {
        InferenceSpec spec;
        spec.cost = c;
        spec.motor = gm;
        spec.perception = PerceptionModel::gaussian;
        spec.fixed["sigma"] = 0.2;
        spec.exact_action = !with_net;
        if (with_net) spec.network = net;
        ActorModel m(d, spec);
        const auto t = time_gradient(m, sim.values);
        bench::JsonLine line("inference");
        line.add("case", "log_density_gradient")
            .add("action", with_net ? "network (linear mupost head)" : "exact")
            .add("cost", c->name)
            .add("latent", "marginal")
            .add("perception", "gaussian")
            .add("motor", gm.name())
            .add("n", n)
            .add("dim", m.dim());
        if (with_net) line.add("ratio_to_exact", t.median_us / exact_median).add("training_seconds", trained.seconds);
        else exact_median = t.median_us;
        line.timing(t).print();
      }
    }
  }
  if (posteriors) posterior_runs();
  return 0;
}
