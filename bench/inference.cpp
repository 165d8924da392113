// SPDX-License-Identifier: MIT
// Inference hot path: the log-density gradient of the actor model at N = 60, 600, 6000 trials
// for each action source (closed form, network) and latent mode (marginal, sampled). Baselines
// in the same run: one network forward+backward alone, and a plain scalar log-normal
// log-likelihood loop over the N trials.
#include "bench/bench_util.hpp"
#include "engine/rng.hpp"
#include "models/costs.hpp"
#include "models/inference.hpp"
#include "models/network.hpp"
#include "models/simulate.hpp"

#include <cmath>
#include <memory>
#include <vector>

using namespace bactor;

namespace {

std::shared_ptr<const ActionNetwork> bench_network(const CostInfo& cost) {
  const auto names = theta_names(cost);
  std::vector<int> sizes{static_cast<int>(names.size()), 16, 64, 16, 8, 3};
  MlpLayout layout{sizes};
  std::vector<float> params(layout.n_params());
  Rng rng(1, 0);
  for (auto& p : params) p = static_cast<float>(0.2 * rng.normal());
  return std::make_shared<ActionNetwork>(cost.name, names, sizes, params, std::vector<InputScaling>(names.size()),
                                         nlohmann::json::object());
}

Dataset bench_data(const CostInfo& cost, std::size_t n) {
  SimulationSpec spec;
  spec.cost = &cost;
  spec.values = {{"sigma", 0.2}, {"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}};
  spec.trials = n;
  spec.seed = 7;
  return simulate(spec);
}

} // namespace

int main() {
  const CostInfo& cost = find_cost("QuadraticCost");
  const auto net = bench_network(cost);

  {  // Baseline 1: one network forward + backward.
    ActionNetwork::Workspace ws;
    std::vector<double> theta{0.2, 0.15, 1.5, 0.1}, dtheta(4);
    std::array<double, 3> x{}, dx{0.1, 0.2, 0.3};
    auto f = [&] {
      net->forward(theta, std::span<double, 3>(x), ws);
      net->backward(std::span<const double, 3>(dx), dtheta, ws);
      bench::do_not_optimize(dtheta[0]);
    };
    bench::JsonLine("inference").add("case", "baseline_network_forward_backward").timing(bench::time_it(f, bench::calibrate(f))).print();
  }

  for (std::size_t n : {60, 600, 6000}) {
    const Dataset d = bench_data(cost, n);
    {  // Baseline 2: scalar log-normal log-likelihood of N responses with its mean gradient.
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
    for (bool use_net : {false, true})
      for (LatentMode mode : {LatentMode::marginal, LatentMode::sampled}) {
        InferenceSpec spec;
        spec.cost = &cost;
        spec.latent = mode;
        spec.fixed["sigma"] = 0.2;
        if (use_net) spec.network = net;
        ActorModel m(d, spec);
        auto q = m.unconstrain({{"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}});
        std::vector<double> g(m.dim());
        auto f = [&] {
          bench::do_not_optimize(m.log_density(q, g));
          bench::clobber_memory();
        };
        bench::JsonLine("inference")
            .add("case", "log_density_gradient")
            .add("action", use_net ? "network" : "closed_form")
            .add("latent", to_string(mode))
            .add("n", n)
            .add("dim", m.dim())
            .timing(bench::time_it(f, bench::calibrate(f)))
            .print();
      }
  }
  return 0;
}
