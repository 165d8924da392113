// SPDX-License-Identifier: MIT
// Von Mises perception (models/circular.hpp): the log-density gradient of ActorModel under
// --perception vonmises (closed-form action mu_post, the trapezoid rule over the measurement on
// the circle per trial) at N = 60, 600 trials; the same with an asymmetric formula cost with a
// free parameter (the shifted action mu_post + d*, solved at the rule's nodes:
// models/circular_shift.hpp) and with lapses; beside the log-normal closed-form marginal (the
// power-law shortcut: sufficient statistics, no per-trial work) and the log-normal actor with a
// gaussian motor model (the motor form's per-trial Gauss–Hermite quadrature), in the same run,
// three interleaved rounds. Each line: median/min µs per gradient and per trial, and the node
// count of the circular rule at the simulated truth.
#include "bench/bench_util.hpp"
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/formula.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/simulate.hpp>
#include "models/circular.hpp"

#include <map>
#include <numbers>
#include <string>
#include <vector>

using namespace bactor;

namespace {

struct Case {
  std::string name;
  Dataset data;
  InferenceSpec spec;
  std::map<std::string, double> truth;  // the gradient is taken there
};

Case make_case(const std::string& name, std::size_t n) {
  Case c;
  c.name = name;
  SimulationSpec sim;
  sim.cost = &find_cost("QuadraticCost");
  sim.trials = n;
  sim.seed = 7;
  c.spec.cost = sim.cost;
  if (name.rfind("vonmises", 0) == 0) {
    sim.perception = c.spec.perception = PerceptionModel::vonmises;
    sim.values = {{"sigma", 0.2}, {"sigma_0", 0.5}, {"mu_0", 0.3}, {"sigma_r", 0.1}};
    sim.s_lo = -std::numbers::pi, sim.s_hi = std::numbers::pi;
    if (name == "vonmises_shifted") {  // an asymmetric cost with a free parameter: a* = mu_post + d*
      FormulaSpec f;
      f.expression = "(1 - cos(r - s)) * (1 + c*sin(r - s))";
      f.params = parse_param_priors("c=uniform:-0.9:0.9");
      sim.cost = c.spec.cost = &register_formula_cost(f);
      sim.values["c"] = 0.6;
    }
    if (name == "vonmises_lapse") c.spec.lapse = true, sim.lapse = 0.05;
  } else if (name == "lognormal_gaussian_motor") {
    sim.motor = c.spec.motor = MotorSpec{MotorModel::gaussian, false};
    sim.values = {{"sigma", 0.2}, {"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_a", 0.1}};
  } else {
    sim.values = {{"sigma", 0.2}, {"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}};
  }
  c.data = simulate(sim);
  c.truth = sim.values;
  if (c.spec.lapse) c.truth["lapse"] = sim.lapse;
  return c;
}

} // namespace

int main() {
  for (std::size_t n : {std::size_t(60), std::size_t(600)}) {
    std::vector<Case> cases;
    for (const char* name : {"lognormal_closed_form", "lognormal_gaussian_motor", "vonmises", "vonmises_shifted", "vonmises_lapse"}) cases.push_back(make_case(name, n));
    for (int round = 1; round <= 3; ++round)
      for (Case& c : cases) {
        ActorModel model(c.data, c.spec);
        const std::vector<double> q = model.unconstrain(c.truth);
        std::vector<double> g(q.size());
        auto f = [&] {
          bench::do_not_optimize(model.log_density(q, g));
          bench::clobber_memory();
        };
        const bench::Timing t = bench::time_it(f, bench::calibrate(f));
        bench::JsonLine line("circular");
        line.add("case", c.name).add("n", n).add("round", round).timing(t);
        line.add("median_us_per_trial", t.median_us / double(n));
        if (c.spec.perception == PerceptionModel::vonmises)
          line.add("nodes", circular_nodes(CircularParams::of(std::vector<double>{0.2, 0.5, 0.3, 0.1}.data())));
        line.print();
      }
  }
  return 0;
}
