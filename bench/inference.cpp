// SPDX-License-Identifier: MIT
// Inference hot path: the log-density gradient of the actor model at N = 60, 600, 6000 trials
// for each action source (closed form, network) and latent mode (marginal, sampled; the network
// marginal with the node count by sigma and with a fixed 16-node rule). Baselines
// in the same run: one network forward+backward alone, a plain scalar log-normal
// log-likelihood loop over the N trials, and (issue 14) the hand-written gradient the tape
// replaced (bench/inference_legacy.hpp), timed interleaved with the tape-driven one:
// `legacy_median_us` and `ratio` (median over repetitions of tape time / legacy time in the same
// repetition) on each gradient line.
// Then whole posterior runs, each with the tape-driven gradient and with the legacy one
// (ess_per_cpu_ratio): the reference synthetic study (N = 60, sigma fixed, 4 chains x
// (2,500 warm-up + 5,000 draws), network action; the network from BACTOR_BENCH_NETWORK or a
// 4,000-step one trained here) and the closed-form marginal on effort_two_noise.csv (every
// parameter free), reporting wall time and min bulk-ESS per CPU second (CPU = warm-up +
// sampling time summed over chains, as Stan's get_elapsed_time; Stan: 272 and 1,450).
#include "bench/bench_util.hpp"
#include "bench/inference_legacy.hpp"
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/models/train.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/model.hpp>
#include <bactor/samplers/nuts.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <utility>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace bactor;

namespace {

/// Times f and g interleaved (alternating which goes first), `inner` calls per repetition:
/// both see the same machine load, so their ratio is meaningful on a busy machine. `ratio` is
/// the median over repetitions of f's time / g's time in the same repetition (adjacent in time).
struct PairTiming {
  bench::Timing f, g;
  double ratio = 0;
};
template <class F, class G>
PairTiming time_pair(F&& f, G&& g, long inner, int reps = 101, int warmup = 2) {
  using clock = std::chrono::steady_clock;
  for (int w = 0; w < warmup; ++w)
    for (long i = 0; i < inner; ++i) f(), g();
  std::vector<double> tf(static_cast<std::size_t>(reps)), tg(tf.size()), r(tf.size());
  auto run = [&](auto& h) {
    const auto t0 = clock::now();
    for (long i = 0; i < inner; ++i) h();
    return std::chrono::duration<double, std::micro>(clock::now() - t0).count() / double(inner);
  };
  for (std::size_t k = 0; k < tf.size(); ++k) {
    if (k % 2 == 0) tf[k] = run(f), tg[k] = run(g);
    else tg[k] = run(g), tf[k] = run(f);
    r[k] = tf[k] / tg[k];
  }
  auto median = [](std::vector<double>& t) {
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  PairTiming p;
  p.ratio = median(r);
  p.f = bench::Timing{median(tf), tf.front(), reps, inner};
  p.g = bench::Timing{median(tg), tg.front(), reps, inner};
  return p;
}

std::shared_ptr<const ActionNetwork> bench_network(const CostInfo& cost, NetworkHead head = NetworkHead::softplus) {
  const auto names = theta_names(cost);
  const std::size_t n_feat = head_input_count(head, names.size());
  std::vector<int> sizes{static_cast<int>(n_feat), 16, 64, 16, 8, 3};
  MlpLayout layout{sizes};
  std::vector<float> params(layout.n_params());
  Rng rng(1, 0);
  for (auto& p : params) p = static_cast<float>(0.2 * rng.normal());
  return std::make_shared<ActionNetwork>(cost.name, names, sizes, params, std::vector<InputScaling>(n_feat),
                                         bactor::NetworkMetadata{}, head);
}

Dataset bench_data(const CostInfo& cost, std::size_t n) {
  SimulationSpec spec;
  spec.cost = &cost;
  spec.values = {{"sigma", 0.2}, {"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}};
  spec.trials = n;
  spec.seed = 7;
  return simulate(spec);
}

/// ActorModel with log_density from the hand-written legacy path (outputs from ActorModel),
/// for the same-run NUTS comparison of issue 14.
class LegacyActorModel final : public Model {
public:
  LegacyActorModel(const Dataset& d, const InferenceSpec& spec) : outputs_(d, spec), old_(d, spec) {}
  std::size_t dim() const override { return old_.dim(); }
  double log_density(std::span<const double> q, std::span<double> grad) override { return old_.log_density(q, grad); }
  std::vector<std::string> output_names() const override { return outputs_.output_names(); }
  void write_outputs(std::span<const double> q, Rng& rng, std::span<double> out) override {
    outputs_.write_outputs(q, rng, out);
  }

private:
  ActorModel outputs_;
  legacy::ActorModel old_;
};

struct RunResult {
  double wall = 0, cpu = 0, min_ess = INFINITY;
  std::size_t grads = 0, divergences = 0;
  double ess_per_cpu() const { return min_ess / cpu; }
};

RunResult nuts_run(const Dataset& d, const InferenceSpec& spec, int warmup, int samples, bool legacy_path) {
  NutsSettings ns;
  ns.chains = 4;
  ns.warmup = warmup;
  ns.samples = samples;
  ns.seed = 1;
  ns.threads = 2;
  ActorModel probe(d, spec);
  const auto names = probe.free_names();
  const auto t0 = std::chrono::steady_clock::now();
  const auto chains = run_nuts(
      [&]() -> std::unique_ptr<Model> {
        if (legacy_path) return std::make_unique<LegacyActorModel>(d, spec);
        return std::make_unique<ActorModel>(d, spec);
      },
      ns);
  RunResult r;
  r.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Summary s = summarize(chains, names);
  for (const auto& c : chains) r.cpu += c.warmup_seconds + c.sampling_seconds, r.grads += c.gradient_evaluations;
  for (const auto& p : s.params) r.min_ess = std::min(r.min_ess, p.ess_bulk);
  r.divergences = s.divergences;
  return r;
}

/// One posterior run with the tape-driven gradient and one with the legacy gradient, twice in
/// the order tape, legacy, legacy, tape (so that drifting machine load meets both alike),
/// after a short discarded run (the first run in a process was up to 1.3x slower);
/// the line reports the tape's first run and the ratio of the means.
void report_run(const char* name, const Dataset& d, const InferenceSpec& spec, const char* action, int warmup = 2500,
                int samples = 5000) {
  (void)nuts_run(d, spec, 500, 500, false);
  const RunResult r = nuts_run(d, spec, warmup, samples, false);
  const RunResult l1 = nuts_run(d, spec, warmup, samples, true);
  const RunResult l2 = nuts_run(d, spec, warmup, samples, true);
  const RunResult r2 = nuts_run(d, spec, warmup, samples, false);
  const double tape_rate = 0.5 * (r.ess_per_cpu() + r2.ess_per_cpu());
  const double legacy_rate = 0.5 * (l1.ess_per_cpu() + l2.ess_per_cpu());
  bench::JsonLine("inference", 2)
      .add("case", name)
      .add("action", action)
      .add("head", spec.network ? to_string(spec.network->head()) : "closed_form")
      .add("latent", to_string(spec.latent))
      .add("n", d.size())
      .add("chains", 4)
      .add("warmup", warmup)
      .add("samples", samples)
      .add("wall_s", r.wall)
      .add("cpu_s", r.cpu)
      .add("gradients", r.grads)
      .add("min_ess_bulk", r.min_ess)
      .add("min_ess_per_cpu_s", r.ess_per_cpu())
      .add("divergences", r.divergences)
      .add("cpu_s_2", r2.cpu)
      .add("min_ess_per_cpu_s_2", r2.ess_per_cpu())
      .add("legacy_cpu_s", l1.cpu)
      .add("legacy_cpu_s_2", l2.cpu)
      .add("legacy_gradients", l1.grads)
      .add("legacy_min_ess_bulk", l1.min_ess)
      .add("legacy_min_ess_per_cpu_s", l1.ess_per_cpu())
      .add("legacy_min_ess_per_cpu_s_2", l2.ess_per_cpu())
      .add("legacy_divergences", l1.divergences)
      .add("ess_per_cpu_ratio", tape_rate / legacy_rate)
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

} // namespace

int main(int argc, char** argv) {
  // --gradients-only: skip the (minutes-long) posterior runs; --posteriors-only: only those.
  // --only HEAD/LATENT[/N]: only the gradient cases whose "head/latent/n" starts with that
  // (e.g. closed_form/marginal/60).
  bool posteriors = true, gradients = true;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--gradients-only") posteriors = false;
    else if (a == "--posteriors-only") gradients = false;
    else if (a == "--only" && i + 1 < argc) only = argv[++i], posteriors = false;
  }
  if (!gradients) {
    posterior_runs();
    return 0;
  }
  const CostInfo& cost = find_cost("QuadraticCost");
  const auto net = bench_network(cost);
  const auto power_net = bench_network(cost, NetworkHead::power);
  const auto posterior_net = bench_network(cost, NetworkHead::posterior);

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
    // Action sources: the closed form, a softplus-head network (marginal by quadrature) and
    // power- and posterior-head networks (exact marginal).
    for (const auto& source : {std::shared_ptr<const ActionNetwork>(), net, power_net, posterior_net})
      for (LatentMode mode : {LatentMode::marginal, LatentMode::sampled})
        // The softplus network's marginal also with a fixed 16-node rule (the former default)
        // as the comparison for the node count by sigma (quadrature_nodes_for(0.2) = 9 here).
        for (int nodes : {default_quadrature_nodes, 16}) {
          const bool use_net = source != nullptr;
          const bool quadrature = source == net && mode == LatentMode::marginal;
          if (nodes != default_quadrature_nodes && !quadrature) continue;
          const std::string key = std::string(use_net ? to_string(source->head()) : "closed_form") + "/" +
                                  to_string(mode) + "/" + std::to_string(n);
          if (key.rfind(only, 0) != 0) continue;
          InferenceSpec spec;
          spec.cost = &cost;
          spec.latent = mode;
          spec.fixed["sigma"] = 0.2;
          spec.quadrature_nodes = nodes;
          if (use_net) spec.network = source;
          ActorModel m(d, spec);
          legacy::ActorModel old(d, spec);
          auto q = m.unconstrain({{"sigma_0", 0.15}, {"mu_0", 1.5}, {"sigma_r", 0.1}});
          std::vector<double> g(m.dim()), g_old(old.dim());
          auto f = [&] {
            bench::do_not_optimize(m.log_density(q, g));
            bench::clobber_memory();
          };
          auto f_old = [&] {
            bench::do_not_optimize(old.log_density(q, g_old));
            bench::clobber_memory();
          };
          // Same value and gradient (to rounding) before timing.
          const double lp = m.log_density(q, g), lp_old = old.log_density(q, g_old);
          double gdiff = 0;
          for (std::size_t i = 0; i < g.size(); ++i)
            gdiff = std::max(gdiff, std::abs(g[i] - g_old[i]) / std::max(1.0, std::abs(g_old[i])));
          bench::JsonLine line("inference");
          line.add("case", "log_density_gradient")
              .add("action", use_net ? "network" : "closed_form")
              .add("head", use_net ? to_string(source->head()) : "closed_form")
              .add("latent", to_string(mode))
              .add("n", n)
              .add("dim", m.dim());
          if (quadrature)
            line.add("quadrature_nodes", nodes > 0 ? nodes : quadrature_nodes_for(0.2))
                .add("node_rule", nodes > 0 ? "fixed" : "by_sigma");
          const PairTiming t = time_pair(f, f_old, bench::calibrate(f, 4000.0));
          line.timing(t.f)
              .timing(t.g, "legacy_")
              .add("ratio", t.ratio)
              .add("ratio_min", t.f.min_us / t.g.min_us)
              .add("lp_diff", std::abs(lp - lp_old) / std::max(1.0, std::abs(lp_old)))
              .add("grad_diff", gdiff)
              .print();
        }
  }
  if (posteriors) posterior_runs();
  return 0;
}
