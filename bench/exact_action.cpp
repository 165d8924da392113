// SPDX-License-Identifier: MIT
// Cost of one log-density gradient with the exact action (infer --exact-action,
// models/exact_action.hpp) against the other action sources, in the same run: on a
// 2-condition, 120-trial data set (sigma 0.1 and 0.2, every parameter free, measurement
// integrated out), for QuadraticCostQuadraticEffort the closed form, a softplus-head network
// (adaptive Gauss–Hermite marginal) and the exact action; for the three non-homogeneous costs
// of issue 17 the network and the exact action. Each line has the median time per gradient and
// the ratio to the network's in this run; the exact action's line also has its solves and F_y
// evaluations per gradient.
#include "bench/bench_util.hpp"
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace bactor;

namespace {

std::shared_ptr<const ActionNetwork> random_network(const CostInfo& cost) {
  const auto names = theta_names(cost);
  const std::size_t n_feat = head_input_count(NetworkHead::softplus, names.size());
  std::vector<int> sizes{static_cast<int>(n_feat), 16, 64, 16, 8, 3};
  std::vector<float> params(MlpLayout{sizes}.n_params());
  Rng rng(1, 0);
  for (auto& p : params) p = static_cast<float>(0.2 * rng.normal());
  return std::make_shared<ActionNetwork>(cost.name, names, sizes, params, std::vector<InputScaling>(n_feat),
                                         NetworkMetadata{}, NetworkHead::softplus);
}

struct CostCase {
  const char* cost;
  const char* param;
  double value;
};

} // namespace

int main() {
  const CostCase cases[] = {{"QuadraticCostQuadraticEffort", "beta", 0.9},
                            {"AbsoluteCostQuadraticEffort", "beta", 0.9},
                            {"Linex", "c", 1.0},
                            {"InvertedGaussian", "gamma", 1.5}};
  for (const CostCase& cc : cases) {
    const CostInfo& cost = find_cost(cc.cost);
    SimulationSpec sim;
    sim.cost = &cost;
    sim.values = {{"mu_0", 1.5}, {"sigma_0", 0.2}, {"sigma_r", 0.15}, {cc.param, cc.value}};
    sim.condition_sigmas = {0.1, 0.2};
    sim.trials = 60;
    sim.s_lo = 0.25;
    sim.s_hi = 5.0;
    sim.seed = 3;
    const Dataset d = simulate(sim);
    const std::map<std::string, double> at{{"mu_0", 1.5}, {"sigma_0", 0.2}, {"sigma_r", 0.15}, {"sigma.1", 0.1},
                                           {"sigma.2", 0.2}, {cc.param, cc.value}};
    double network_us = 0;
    for (const char* source : {"network", "closed_form", "exact"}) {
      if (std::string(source) == "closed_form" && !cost.closed_form) continue;
      InferenceSpec spec;
      spec.cost = &cost;
      if (std::string(source) == "network") spec.network = random_network(cost);
      spec.exact_action = std::string(source) == "exact";
      ActorModel m(d, spec);
      const auto q = m.unconstrain(at);
      std::vector<double> g(m.dim());
      auto f = [&] {
        bench::do_not_optimize(m.log_density(q, g));
        bench::clobber_memory();
      };
      const bool slow = spec.exact_action;
      const bench::Timing t = bench::time_it(f, slow ? 1 : bench::calibrate(f), slow ? 7 : 21, 1);
      if (std::string(source) == "network") network_us = t.median_us;
      bench::JsonLine line("exact_action");
      line.add("case", "log_density_gradient")
          .add("cost", cc.cost)
          .add("action", source)
          .add("n", d.size())
          .add("conditions", d.conditions())
          .add("dim", m.dim())
          .timing(t)
          .add("ratio_to_network", t.median_us / network_us);
      line.print();
    }
  }
  return 0;
}
