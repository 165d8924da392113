// SPDX-License-Identifier: MIT
// Your own cost, end to end, with no library source change (docs/custom-costs.md): a cost
// written as a C++ struct (and one as a formula) is registered through the public API, then
// the library trains its action network, checks it against the ground-truth solver, simulates
// an observer with it, and infers the observer's parameters back with NUTS, both through the
// network and through the exact optimal action. Small budgets: a few seconds on two cores.
//
// The cost: undershooting the stimulus costs w times more than overshooting,
//   l(s, r) = w (s - r)^2 if r < s, else (s - r)^2,   w ~ Uniform(1, 4).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>

#include <bactor/bactor.hpp>

using namespace bactor;

namespace {

struct Undershoot {
  static constexpr int n_params = 1;
  // T is double, float, or a dual number of those (for dl/dr); select(c, a, b) picks per value.
  template <class T> static T eval(const T& s, const T& r, const T* p) {
    const T d = s - r;
    return gen::select(r < s, p[0], T(1.0f)) * d * d;
  }
};

void print_cost(const CostInfo& c) {
  std::printf("%s: l(s,r) = %s; %s; kink at s = r: %s; network head (auto): %s\n", c.name.c_str(), c.formula.c_str(),
              c.homogeneous() ? ("homogeneous of degree " + std::to_string(c.homogeneity_degree)).c_str()
                              : "not homogeneous",
              c.kink_at_s_equals_r ? "yes" : "no", default_head_name(c));
}

double posterior_mean(const std::vector<ChainResult>& chains, const std::string& name) {
  const Summary s = summarize(chains);
  for (const auto& p : s.params)
    if (p.name == name) return p.mean;
  return NAN;
}

int run() {
  // 1. Register: the struct with its parameter's prior (homogeneity and the kink are detected).
  CostSpec spec;
  spec.name = "Undershoot";
  spec.formula = "w*(s-r)^2 if r < s, else (s-r)^2";
  spec.params = {{"w", ParamPrior::Kind::uniform, 1.0, 4.0}};
  const CostInfo& cost = register_cost<Undershoot>(spec);
  // The same cost as a formula (the command line's --formula is this call).
  FormulaSpec fs;
  fs.expression = "if(r < s, w, 1)*(s-r)^2";
  fs.params = parse_param_priors("w=uniform:1:4");
  const CostInfo& formula = register_formula_cost(fs);
  print_cost(cost);
  print_cost(formula);
  std::printf("registered costs:");
  for (const auto& c : cost_families()) std::printf(" %s;", c.name.c_str());
  std::printf("\n");

  // 2. Train its action network (auto head: the posterior head for a homogeneous cost).
  TrainSettings ts;
  ts.cost = "Undershoot";
  ts.head = default_head_name(find_cost("Undershoot"));
  ts.steps = 3000;
  ts.eval_points = 300;
  const TrainResult tr = train(ts);
  std::printf("trained %zu steps in %.1f s (%.0f steps/s), eval RMSE %.4f\n", tr.steps, tr.seconds, tr.steps_per_s,
              tr.eval_rmse);

  // 3. Evaluate against the ground truth (the numerical solver) on fresh points.
  const EvalSet es = make_eval_set(cost, 200, 99, 0x7777);
  ActionNetwork::Workspace ws;
  double sum_rel = 0;
  for (std::size_t i = 0; i < es.size(); ++i) {
    double x[3];
    tr.network.forward({es.theta.data() + i * es.n_inputs, es.n_inputs}, es.m[i], x, ws);
    sum_rel += std::abs(tr.network.action(std::span<const double, 3>(x), es.m[i]) / es.a_star[i] - 1);
  }
  std::printf("network vs ground truth: mean relative error %.4f on %zu points\n", sum_rel / double(es.size()),
              es.size());

  // 4. Simulate an observer with w = 2.5 (numerical optimal actions).
  SimulationSpec sim;
  sim.cost = &cost;
  sim.values = {{"sigma", 0.2}, {"sigma_0", 0.3}, {"mu_0", 1.5}, {"sigma_r", 0.1}, {"w", 2.5}};
  sim.trials = 40;
  sim.seed = 5;
  const Dataset data = simulate(sim);

  // 5. Infer the parameters back (sigma fixed), through the network and the exact action.
  auto network = std::make_shared<const ActionNetwork>(tr.network);
  for (bool exact : {false, true}) {
    InferenceSpec spec;
    spec.cost = &cost;
    spec.fixed = {{"sigma", 0.2}};
    spec.log_lik = false;
    if (exact) spec.exact_action = true;
    else spec.network = network;
    NutsSettings ns;
    // The exact action solves for the optimum inside every gradient: a short run here.
    ns.chains = exact ? 1 : 2;
    ns.warmup = exact ? 50 : 300;
    ns.samples = exact ? 50 : 300;
    ns.seed = 11;
    const auto t0 = std::chrono::steady_clock::now();
    const auto chains = run_nuts([&] { return std::make_unique<ActorModel>(data, spec); }, ns);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("posterior mean (%s, %zu + %zu draws x %d chains, %.1f s): w %.2f (true 2.5), sigma_r %.3f (true 0.1)\n",
                exact ? "exact action" : "network", std::size_t(ns.warmup), std::size_t(ns.samples), ns.chains, secs,
                posterior_mean(chains, "w"), posterior_mean(chains, "sigma_r"));
  }
  return 0;
}

} // namespace

int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "example_custom_cost: %s\n", e.what());
    return 1;
  }
}
