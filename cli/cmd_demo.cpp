// SPDX-License-Identifier: MIT
// bactor demo: the reference synthetic study end to end. Simulate N = 60 trials, train (or
// reuse a cached) QuadraticCost action network, infer with the network and with the closed
// form, and print both posteriors side by side with their agreement and the true values.
#include "cli/command.hpp"
#include "cli/options.hpp"
#include <bactor/models/costs.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/models/train.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

namespace {

std::string default_cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/bactor";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/bactor";
  return "bactor-cache";
}

/// A cached network is used when it loads, is for QuadraticCost with the expected inputs and
/// the head `train --head auto` picks (posterior), was trained with at least `steps` steps and
/// its recorded evaluation RMSE is below `max_rmse`.
std::shared_ptr<const bactor::ActionNetwork> load_cached(const std::string& path, std::size_t steps, double max_rmse,
                                                         std::string& why) {
  if (!std::filesystem::exists(path)) {
    why = "no cached network";
    return nullptr;
  }
  try {
    auto net = std::make_shared<const bactor::ActionNetwork>(bactor::ActionNetwork::load(path));
    const auto& cost = bactor::find_cost("QuadraticCost");
    if (net->cost_name() != cost.name || net->param_names() != bactor::theta_names(cost)) {
      why = "cached network is for another cost";
      return nullptr;
    }
    if (net->head() != bactor::parse_network_head(bactor::default_head_name(cost))) {
      why = std::string("cached network has the ") + bactor::to_string(net->head()) + " head (the demo trains the " +
            bactor::default_head_name(cost) + " head)";
      return nullptr;
    }
    const auto& meta = net->metadata();
    const double rmse = meta.count("eval_rmse") ? std::atof(meta.at("eval_rmse").c_str()) : INFINITY;
    std::size_t trained = 0;
    if (meta.count("training")) {
      const auto tr = nlohmann::json::parse(meta.at("training"), nullptr, false);
      if (tr.is_object() && tr.contains("steps")) trained = tr["steps"].get<std::size_t>();
    }
    if (trained < steps || !(rmse < max_rmse)) {
      why = "cached network fails validation (steps " + std::to_string(trained) + ", eval RMSE " + std::to_string(rmse) + ")";
      return nullptr;
    }
    return net;
  } catch (const std::exception& e) {
    why = std::string("cached network unreadable: ") + e.what();
    return nullptr;
  }
}

int run_demo(int argc, char** argv) {
  CLI::App app{"Reference synthetic study: simulate, train a QuadraticCost network, infer with network and closed form"};
  std::string cache = default_cache_dir();
  std::size_t steps = 40000;
  std::string network_file, latent = "marginal";
  double max_rmse = 0.05;
  bool retrain = false, closed_only = false;
  bactor::NutsSettings ns;
  ns.warmup = 2500;
  ns.samples = 5000;
  ns.seed = 2024;
  std::uint64_t data_seed = 7;
  app.add_option("--cache", cache, "directory of the cached network")->capture_default_str();
  app.add_option("--train-steps", steps, "training steps when no valid cached network exists")->capture_default_str();
  app.add_option("--max-rmse", max_rmse, "largest acceptable evaluation RMSE of a cached network")->capture_default_str();
  app.add_flag("--retrain", retrain, "ignore the cache");
  app.add_option("--network", network_file, "use this QuadraticCost network instead of the cache");
  app.add_option("--latent", latent,
                 "marginal (measurement integrated out: exact for the closed form and the power-law-head networks) or sampled (non-centred latents)")
      ->capture_default_str();
  app.add_flag("--closed-form-only", closed_only, "skip the network");
  app.add_option("--chains", ns.chains, "chains")->capture_default_str();
  app.add_option("--warmup", ns.warmup, "warm-up iterations per chain")->capture_default_str();
  app.add_option("--samples", ns.samples, "draws per chain")->capture_default_str();
  app.add_option("--seed", ns.seed, "sampler seed")->capture_default_str();
  app.add_option("--data-seed", data_seed, "simulation seed")->capture_default_str();
  app.add_option("--threads", ns.threads, "threads (0: all)")->capture_default_str();
  if (!bactor::cli::parse(app, argc, argv)) return 0;
  const bactor::LatentMode latent_mode = bactor::parse_latent_mode(latent);
  bactor::cli::install_stop_handlers();
  const auto t_start = std::chrono::steady_clock::now();

  const auto& cost = bactor::find_cost("QuadraticCost");
  const std::map<std::string, double> truth{{"mu_0", 1.5}, {"sigma_0", 0.15}, {"sigma", 0.2}, {"sigma_r", 0.1}};
  bactor::SimulationSpec sim;
  sim.cost = &cost;
  sim.values = truth;
  sim.trials = 60;
  sim.s_lo = 0.1;
  sim.s_hi = 5.0;
  sim.seed = data_seed;
  const bactor::Dataset data = bactor::simulate(sim);
  std::printf("bactor demo: reference synthetic study, QuadraticCost, N = %zu, s ~ U(0.1, 5), seed %llu\n", data.size(),
              static_cast<unsigned long long>(data_seed));
  std::printf("true values: mu_0 = 1.5, sigma_0 = 0.15, sigma = 0.2 (fixed in inference), sigma_r = 0.1\n");

  std::shared_ptr<const bactor::ActionNetwork> net;
  std::string net_note;
  if (!closed_only) {
    const std::string path = cache + "/QuadraticCost-demo.safetensors";
    std::string why;
    if (!network_file.empty()) {
      net = std::make_shared<const bactor::ActionNetwork>(bactor::ActionNetwork::load(network_file));
      if (net->cost_name() != cost.name) throw std::invalid_argument("--network: " + network_file + " is for cost " + net->cost_name());
      net_note = "network " + network_file;
    } else if (!retrain) {
      net = load_cached(path, steps, max_rmse, why);
    }
    if (net && !network_file.empty()) {
    } else if (net) {
      net_note = "cached network " + path + " (eval RMSE " + net->metadata().at("eval_rmse") + ")";
    } else {
      std::fprintf(stderr, "%s; training a QuadraticCost network (%zu steps)...\n", retrain ? "--retrain" : why.c_str(), steps);
      bactor::TrainSettings ts;
      ts.cost = cost.name;
      ts.steps = steps;
      ts.seed = 1;
      ts.threads = ns.threads;
      const auto r = bactor::train(ts, [](const bactor::TrainProgress& p) {
        std::fprintf(stderr, "  step %zu/%zu  loss %.5g  eval RMSE %.5f  %.1f s\n", p.step, p.steps, p.loss, p.eval_rmse, p.seconds);
      });
      net = std::make_shared<const bactor::ActionNetwork>(r.network);
      net_note = "network trained now: " + std::to_string(r.steps) + " steps in " + std::to_string(r.seconds).substr(0, 5) +
                 " s, eval RMSE " + std::to_string(r.eval_rmse);
      try {
        std::filesystem::create_directories(cache);
        r.network.save(path);
        net_note += ", cached in " + path;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "warning: could not cache the network: %s\n", e.what());
      }
    }
    std::printf("%s\n", net_note.c_str());
  } else {
    std::printf("network skipped (--closed-form-only): closed-form posterior only\n");
  }

  bactor::InferenceSpec spec;
  spec.cost = &cost;
  spec.fixed["sigma"] = 0.2;
  spec.latent = latent_mode;
  std::fprintf(stderr, "closed-form inference...\n");
  const auto cf = bactor::cli::run_posterior(data, spec, ns, false);
  bactor::cli::PosteriorRun nr;
  if (net) {
    std::fprintf(stderr, "network inference...\n");
    spec.network = net;
    nr = bactor::cli::run_posterior(data, spec, ns, false);
  }
  if (!cf.complete || (net && !nr.complete)) {
    std::fprintf(stderr, "interrupted\n");
    return bactor::cli::exit_failure;
  }
  std::printf("\nposterior (%d chains x %d draws after %d warm-up; latent measurements %s)\n", ns.chains, ns.samples,
              ns.warmup, latent == "sampled" ? "sampled (non-centred)" : "integrated out");
  std::printf("%-8s %6s | %-22s | %-22s | %s\n", "param", "true", "closed form mean (sd)", net ? "network mean (sd)" : "-",
              net ? "agreement (|dmean|/tol, sd ratio)" : "");
  bool all_agree = true;
  for (std::size_t k = 0; k < cf.summary.params.size(); ++k) {
    const auto& a = cf.summary.params[k];
    char left[64], right[64] = "", agree[96] = "";
    std::snprintf(left, sizeof left, "%.4f (%.4f)", a.mean, a.sd);
    if (net) {
      const auto& b = nr.summary.params[k];
      std::snprintf(right, sizeof right, "%.4f (%.4f)", b.mean, b.sd);
      // Agreement criterion of the reference README: means within 3 combined MCSE or 2% of
      // the sd, whichever is larger; sds within 5%.
      const double tol = std::max(3 * std::hypot(a.mcse_mean, b.mcse_mean), 0.02 * a.sd);
      const double dm = std::abs(a.mean - b.mean) / tol, ratio = b.sd / a.sd;
      const bool ok = dm <= 1 && std::abs(ratio - 1) <= 0.05;
      all_agree = all_agree && ok;
      std::snprintf(agree, sizeof agree, "%.2f, %.3f %s", dm, ratio, ok ? "ok" : "DIFFERENT");
    }
    std::printf("%-8s %6.3f | %-22s | %-22s | %s\n", a.name.c_str(), truth.at(a.name), left, right, agree);
  }
  auto diag = [](const char* label, const bactor::cli::PosteriorRun& r) {
    double min_ess = INFINITY, max_rhat = 0;
    for (const auto& p : r.summary.params) {
      min_ess = std::min(min_ess, p.ess_bulk);
      max_rhat = std::max(max_rhat, p.rhat);
    }
    std::printf("%-12s divergences %zu, max R-hat %.4f, min bulk-ESS %.0f, sampling %.2f s wall\n", label,
                r.summary.divergences, max_rhat, min_ess, r.wall_seconds);
  };
  diag("closed form:", cf);
  if (net) {
    diag("network:", nr);
    std::printf("%s\n", all_agree ? "network and closed-form posteriors agree (README criterion)"
                                  : "WARNING: network and closed-form posteriors differ beyond the README criterion");
  }
  std::printf("total %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count());
  return 0;
}

} // namespace

BACTOR_COMMAND("demo", "reference study: simulate, train a network, infer with network and closed form", run_demo);
