// SPDX-License-Identifier: MIT
// A hierarchical model of several subjects whose likelihood runs through a trained action
// network, written with tape ops and sampled by NUTS through bactor::TapeModel: the library's
// pieces (training, simulation, the network as a tape node, NUTS, diagnostics) composed by a
// user program.
//
// Each subject j is a Bayesian actor (models/actor.hpp) with its own prior mean mu_0,j,
// log mu_0,j ~ N(m, tau) around a population mean, and a shared prior width sigma_0 and motor
// noise sigma_r; the measurement noise sigma is known. The actor's action comes from a
// QuadraticCost network with the posterior head, log a = x0 + w log m, w = sigmoid(x1), so the
// response marginalised over the measurement m ~ LogNormal(log s, sigma) is exact:
//   log r ~ N(x0 + w log s, sqrt(sigma_r^2 + w^2 sigma^2)).
//
//   example_hierarchical_actor [network.safetensors]   (default: trains one, 4,000 steps)
#include <cmath>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <bactor/bactor.hpp>

using namespace bactor;

namespace {

constexpr std::size_t J = 4;    // subjects
constexpr double sigma = 0.3;   // measurement noise (known)

struct Subject {
  std::vector<double> log_s, log_r;  // per trial
};

// q = (log sigma_0, log sigma_r, m, log tau, z_1..z_J), log mu_0,j = m + tau z_j (non-centred).
struct LogPosterior {
  const ActionNetwork* net;
  const std::vector<Subject>* subjects;

  Var operator()(Var q) const {
    Var log_sigma_0 = element(q, 0), log_sigma_r = element(q, 1), m = element(q, 2), log_tau = element(q, 3);
    Var sigma_0 = exp(log_sigma_0), sigma_r = exp(log_sigma_r), tau = exp(log_tau);
    Var z = slice(q, 4, J);
    // Priors, on the log scale; log tau ~ N(log 0.3, 0.5) keeps tau off 0, where 4 subjects
    // would leave a funnel.
    Var lp = normal_lpdf(log_sigma_0, std::log(0.25), 0.5) + normal_lpdf(log_sigma_r, std::log(0.1), 0.5) +
             normal_lpdf(m, std::log(2.0), 1.0) + normal_lpdf(log_tau, std::log(0.3), 0.5) +
             normal_lpdf(z, 0.0, 1.0);
    for (std::size_t j = 0; j < J; ++j) {
      const Subject& sub = (*subjects)[j];
      const std::size_t n = sub.log_s.size();
      Var mu_0 = exp(m + tau * element(z, j));
      Var theta = concat(concat(constant(sigma), sigma_0), concat(mu_0, sigma_r));  // the network's order
      Var x = network_outputs(*net, theta);  // log a = x0 + w log m
      Var w = sigmoid(element(x, 1));
      Var mean = element(x, 0) + w * constant_view(sub.log_s, n, 1);
      Var sd = sqrt(square(sigma_r) + square(w) * (sigma * sigma));  // exact marginal over m
      lp = lp + normal_lpdf(constant_view(sub.log_r, n, 1), mean, sd);
    }
    return lp;
  }
};

void outputs(std::span<const double> q, Rng&, std::span<double> out) {
  out[0] = std::exp(q[0]);  // sigma_0
  out[1] = std::exp(q[1]);  // sigma_r
  out[2] = std::exp(q[2]);  // population median of mu_0
  out[3] = std::exp(q[3]);  // tau
  for (std::size_t j = 0; j < J; ++j) out[4 + j] = std::exp(q[2] + out[3] * q[4 + j]);  // mu_0,j
}

int run(int argc, char** argv) {
  // 1. The action network: loaded, or trained here (about a second on two cores).
  ActionNetwork net;
  if (argc > 1) {
    net = ActionNetwork::load(argv[1]);
  } else {
    TrainSettings ts;
    ts.cost = "QuadraticCost";
    ts.head = "posterior";
    ts.steps = 4000;
    ts.eval_points = 500;
    const TrainResult tr = train(ts);
    std::printf("trained %zu steps in %.1f s, eval RMSE %.4f\n", tr.steps, tr.seconds, tr.eval_rmse);
    net = tr.network;
  }
  if (net.n_inputs() != 4 || !power_law_head(net.head())) {
    std::fprintf(stderr, "need a network with a power-law head and theta = (sigma, sigma_0, mu_0, sigma_r); "
                         "got %s with the %s head\n", net.cost_name().c_str(), to_string(net.head()));
    return 2;
  }

  // 2. Simulated subjects: mu_0,j around a population median of 2.5 (closed-form actions).
  const double sigma_0 = 0.25, sigma_r = 0.1;
  Rng rng(2024, 0);
  std::vector<Subject> subjects(J);
  std::vector<double> mu_0(J);
  for (std::size_t j = 0; j < J; ++j) {
    mu_0[j] = std::exp(std::log(2.5) + 0.4 * rng.normal());
    SimulationSpec spec;
    spec.cost = &find_cost(net.cost_name());
    spec.values = {{"sigma", sigma}, {"sigma_0", sigma_0}, {"mu_0", mu_0[j]}, {"sigma_r", sigma_r}};
    spec.trials = 40;
    spec.seed = 100 + j;
    const Dataset d = simulate(spec);
    for (std::size_t i = 0; i < d.size(); ++i) {
      subjects[j].log_s.push_back(std::log(d.s[i]));
      subjects[j].log_r.push_back(std::log(d.r[i]));
    }
  }

  // 3. The posterior, sampled by NUTS (one model copy per chain).
  std::vector<std::string> names{"sigma_0", "sigma_r", "mu_0_pop", "tau"};
  for (std::size_t j = 1; j <= J; ++j) names.push_back("mu_0." + std::to_string(j));
  const TapeModel model(4 + J, LogPosterior{&net, &subjects}, names, outputs);
  NutsSettings settings;
  settings.seed = 7;
  const auto chains = run_nuts([&] { return std::make_unique<TapeModel>(model); }, settings);
  const Summary summary = summarize(chains);
  std::fputs(format_summary(summary).c_str(), stdout);

  std::map<std::string, double> truth{{"sigma_0", sigma_0}, {"sigma_r", sigma_r}};
  for (std::size_t j = 0; j < J; ++j) truth["mu_0." + std::to_string(j + 1)] = mu_0[j];
  for (const auto& p : summary.params)
    if (truth.count(p.name))
      std::printf("%-8s true %.3f   posterior %.3f, 90%% interval [%.3f, %.3f]\n", p.name.c_str(),
                  truth[p.name], p.mean, p.q5, p.q95);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "example_hierarchical_actor: %s\n", e.what());
    return 1;
  }
}
