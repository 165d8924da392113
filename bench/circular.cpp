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
//
// `bench_circular mu0` (not part of the default run; minutes): an experiment on mu_0's
// parameterisation. NUTS on 200 simulated trials (sigma = 0.2 fixed, sigma_r = 0.15, mu_0 = 1),
// mu_0 sampled as the angle on the line (the library's way) against a 2-D vector (x, y) with
// mu_0 = atan2(y, x) and an independent radius r ~ N(1, 0.1^2) (density in (x, y): the
// posterior's times N(r; 1, 0.1^2) / r, so mu_0's marginal is unchanged), for a well-identified
// case (sigma_0 = 1.5, default prior) and a weak prior belief (sigma_0 = 4 with prior
// halfnormal:3: mu_0 nearly flat on the circle). Per run: wall seconds, mean tree depth, draws at
// the maximum depth, leapfrog steps per draw, divergences, bulk-ESS and ESS/s per parameter.
#include "bench/bench_util.hpp"
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/formula.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>
#include "models/circular.hpp"

#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>

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

/// mu_0 as a 2-D vector (x, y) around an ActorModel whose first free coordinate is mu_0.
class VectorMu0 final : public Model {
public:
  explicit VectorMu0(std::unique_ptr<ActorModel> m) : m_(std::move(m)), q_(m_->dim()), g_(m_->dim()) {}
  std::size_t dim() const override { return m_->dim() + 1; }
  double log_density(std::span<const double> Q, std::span<double> G) override {
    const double x = Q[0], y = Q[1], r2 = x * x + y * y, r = std::sqrt(r2), s = 0.1;
    if (!(r > 0)) return -INFINITY;
    to_inner(Q);
    const double lp = m_->log_density(q_, G.empty() ? std::span<double>() : std::span<double>(g_));
    if (!G.empty()) {  // d mu_0 / dx = -y / r^2, d mu_0 / dy = x / r^2
      const double dr = -(r - 1) / (s * s) - 1 / r;
      G[0] = -g_[0] * y / r2 + dr * x / r;
      G[1] = g_[0] * x / r2 + dr * y / r;
      for (std::size_t i = 1; i < q_.size(); ++i) G[i + 1] = g_[i];
    }
    return lp - 0.5 * (r - 1) * (r - 1) / (s * s) - std::log(r);
  }
  std::vector<std::string> output_names() const override { return m_->output_names(); }
  void write_outputs(std::span<const double> Q, Rng& rng, std::span<double> out) override {
    to_inner(Q);
    m_->write_outputs(q_, rng, out);
  }

private:
  void to_inner(std::span<const double> Q) {
    q_[0] = std::atan2(Q[1], Q[0]);
    for (std::size_t i = 1; i < q_.size(); ++i) q_[i] = Q[i + 1];
  }
  std::unique_ptr<ActorModel> m_;
  std::vector<double> q_, g_;
};

void mu0_experiment() {
  for (const auto& [label, sigma_0, prior] : {std::tuple{"identified", 1.5, ""}, std::tuple{"weak_prior", 4.0, "halfnormal:3"}}) {
    SimulationSpec sim;
    sim.cost = &find_cost("QuadraticCost");
    sim.perception = PerceptionModel::vonmises;
    sim.values = {{"sigma", 0.2}, {"sigma_0", sigma_0}, {"mu_0", 1.0}, {"sigma_r", 0.15}};
    sim.s_lo = -std::numbers::pi, sim.s_hi = std::numbers::pi;
    sim.trials = 200;
    sim.seed = 9;
    const Dataset data = simulate(sim);
    InferenceSpec spec;
    spec.cost = sim.cost;
    spec.perception = PerceptionModel::vonmises;
    spec.fixed["sigma"] = 0.2;
    spec.log_lik = false;
    if (*prior) spec.priors["sigma_0"] = parse_prior(prior);
    for (const char* param : {"angle_on_line", "vector_xy"}) {
      NutsSettings ns;
      ns.chains = 2, ns.warmup = 200, ns.samples = 200, ns.seed = 1, ns.threads = 1;
      const auto t0 = std::chrono::steady_clock::now();
      const auto chains = run_nuts(
          [&]() -> std::unique_ptr<Model> {
            auto m = std::make_unique<ActorModel>(data, spec);
            if (std::strcmp(param, "vector_xy") == 0) return std::make_unique<VectorMu0>(std::move(m));
            return m;
          },
          ns);
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      double depth = 0, leapfrog = 0, divergent = 0, at_max = 0, draws = 0;
      for (const auto& c : chains)
        for (std::size_t r = 0; r < c.rows(); ++r) {
          const double* row = c.draws.data() + r * c.columns.size();  // treedepth__, n_leapfrog__, divergent__
          depth += row[3], leapfrog += row[4], divergent += row[5], at_max += row[3] >= ns.max_depth, draws += 1;
        }
      bench::JsonLine line("circular_mu0");
      line.add("case", label).add("parameterisation", param).add("seconds", sec).add("mean_tree_depth", depth / draws);
      line.add("draws_at_max_depth", at_max).add("leapfrog_per_draw", leapfrog / draws).add("divergent", divergent);
      for (const auto& p : summarize(chains).params)
        if (p.name != "lp__") line.add("ess_" + p.name, p.ess_bulk).add("ess_per_s_" + p.name, p.ess_bulk / sec);
      line.print();
    }
  }
}

} // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "mu0") == 0) {
    mu0_experiment();
    return 0;
  }
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
