// SPDX-License-Identifier: MIT
// Cost of one log-density gradient with the exact action (infer --exact-action,
// models/exact_action.hpp) against the other action sources, in the same run: on a
// 2-condition, 120-trial data set (sigma 0.1 and 0.2, every parameter free, measurement
// integrated out), for QuadraticCostQuadraticEffort the closed form, a softplus-head network
// (adaptive Gauss–Hermite marginal) and the exact action; for the three non-homogeneous costs
// of issue 17 the network and the exact action. Each line has the median time per gradient and
// the ratio to the network's in this run. For those three costs also the mupost-head network
// (`--head auto`'s choice): "mupost" is the inference path (the network tabulated along u per
// condition, models/chebyshev.hpp), "mupost_per_node" the same quadrature with the network run
// at every node of every trial (the path before the table), value and gradient.
// Two formula cases give the cost of a second cost parameter: "beta*(s-r)^2 + (1-beta)*r^2"
// (QuadraticCostQuadraticEffort as a formula, beta 0.9) and "beta*(s-r)^2 + k*r^2" (beta 0.9,
// k 0.1: the same action, log a* = log(beta / (beta + k)) + ..., with two parameters to
// differentiate), the network and the exact action each.
#include "bench/bench_util.hpp"
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/formula.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/models/train.hpp>
#include "models/inference_nodes.hpp"

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
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

/// A mupost-head network trained briefly (3,000 steps: the shape of g a trained network has,
/// which sets how many pieces the table needs; random weights would not).
std::shared_ptr<const ActionNetwork> trained_mupost_network(const CostInfo& cost) {
  TrainSettings s;
  s.cost = cost.name;
  s.head = "mupost";
  s.steps = 3000;
  s.seed = 1;
  s.progress_seconds = 1e9;
  return std::make_shared<const ActionNetwork>(train(s).network);
}

/// The mupost quadrature with the network at every node: Σ over conditions and trials of
/// gh_trial_loglik with MupostHead at the model's theta, and its theta-gradient.
double per_node_loglik(const ActionNetwork& net, const Dataset& d, const std::vector<double>& sigmas,
                       const std::map<std::string, double>& at, const char* param, ActionNetwork::Workspace& ws) {
  const CostInfo& cost = find_cost(net.cost_name());
  const GaussHermiteSet rules(default_quadrature_nodes,
                              cost.action_kink ? mupost_kink_quadrature_node_counts : mupost_quadrature_node_counts);
  double ll = 0;
  for (std::size_t c = 0; c < sigmas.size(); ++c) {
    const std::vector<double> th{sigmas[c], at.at("sigma_0"), at.at("mu_0"), at.at("sigma_r"), at.at(param)};
    const detail::MupostHead h{&net, th.data(), &ws};
    TrialGrad<detail::MupostHead> g;
    const GaussHermite& rule = rules.for_sigma(sigmas[c]);
    for (std::size_t i = 0; i < d.size(); ++i)
      if (d.cond[i] == int(c)) ll += gh_trial_loglik(h, std::log(d.s[i]), std::log(d.r[i]), sigmas[c], th[3], rule, g);
  }
  return ll;
}

struct CostCase {
  const char* cost;    // a built-in's name, or a formula's expression (priors non-null)
  const char* priors;  // the formula's --params
  std::vector<std::pair<std::string, double>> values;  // the cost parameters' true values
};

} // namespace

int main(int argc, char** argv) {
  // --only SOURCE[,SOURCE...]: only those action sources' lines (network, closed_form, mupost,
  // mupost_per_node, exact), e.g. --only network,mupost for the mupost rows and their baseline.
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--only" && i + 1 < argc) only = "," + std::string(argv[++i]) + ",";
    else {
      std::fprintf(stderr, "bench_exact_action: unknown argument '%s' (usage: [--only SOURCE[,SOURCE...]])\n", a.c_str());
      return 2;
    }
  }
  const CostCase cases[] = {{"QuadraticCostQuadraticEffort", nullptr, {{"beta", 0.9}}},
                            {"AbsoluteCostQuadraticEffort", nullptr, {{"beta", 0.9}}},
                            {"Linex", nullptr, {{"c", 1.0}}},
                            {"InvertedGaussian", nullptr, {{"gamma", 1.5}}},
                            {"beta*(s-r)^2 + (1-beta)*r^2", "beta=uniform:0.5:1", {{"beta", 0.9}}},
                            {"beta*(s-r)^2 + k*r^2", "beta=uniform:0.5:1,k=lognormal:-1:1", {{"beta", 0.9}, {"k", 0.1}}}};
  for (const CostCase& cc : cases) {
    FormulaSpec fs;
    if (cc.priors) fs.expression = cc.cost, fs.params = parse_param_priors(cc.priors);
    const CostInfo& cost = cc.priors ? register_formula_cost(fs) : find_cost(cc.cost);
    const char* param = cc.values[0].first.c_str();
    SimulationSpec sim;
    sim.cost = &cost;
    sim.values = {{"mu_0", 1.5}, {"sigma_0", 0.2}, {"sigma_r", 0.15}};
    for (const auto& [name, value] : cc.values) sim.values[name] = value;
    sim.condition_sigmas = {0.1, 0.2};
    sim.trials = 60;
    sim.s_lo = 0.25;
    sim.s_hi = 5.0;
    sim.seed = 3;
    const Dataset d = simulate(sim);
    std::map<std::string, double> at{{"mu_0", 1.5}, {"sigma_0", 0.2}, {"sigma_r", 0.15}, {"sigma.1", 0.1}, {"sigma.2", 0.2}};
    for (const auto& [name, value] : cc.values) at[name] = value;
    double network_us = 0;
    std::shared_ptr<const ActionNetwork> mupost_net;
    for (const std::string source : {"network", "closed_form", "mupost", "mupost_per_node", "exact"}) {
      if (source == "closed_form" && !cost.closed_form) continue;
      if (source.starts_with("mupost") && (cost.homogeneous() || cc.priors)) continue;
      if (!only.empty() && only.find("," + source + ",") == std::string::npos) continue;
      InferenceSpec spec;
      spec.cost = &cost;
      spec.scale = 1;
      if (source == "network") spec.network = random_network(cost);
      if (source.starts_with("mupost")) spec.network = mupost_net ? mupost_net : (mupost_net = trained_mupost_network(cost));
      spec.exact_action = source == "exact";
      ActorModel m(d, spec);
      const auto q = m.unconstrain(at);
      std::vector<double> g(m.dim());
      ActionNetwork::Workspace ws;
      auto f = [&] {
        if (source == "mupost_per_node")
          bench::do_not_optimize(per_node_loglik(*spec.network, d, sim.condition_sigmas, at, param, ws));
        else
          bench::do_not_optimize(m.log_density(q, g));
        bench::clobber_memory();
      };
      const bool slow = spec.exact_action || source == "mupost_per_node";
      const bench::Timing t = bench::time_it(f, slow ? 1 : bench::calibrate(f), slow ? 7 : 21, 1);
      if (source == "network") network_us = t.median_us;
      bench::JsonLine line("exact_action");
      line.add("case", "log_density_gradient")
          .add("cost", cost.name)
          .add("action", source)
          .add("n", d.size())
          .add("conditions", d.conditions())
          .add("dim", m.dim())
          .timing(t);
      if (network_us > 0) line.add("ratio_to_network", t.median_us / network_us);
      line.print();
    }
  }
  return 0;
}
