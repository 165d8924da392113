// SPDX-License-Identifier: MIT
// bactor infer: posterior of the actor's parameters given a data file (NUTS, CmdStan CSV).
#include "cli/command.hpp"
#include "cli/options.hpp"
#include <bactor/models/costs.hpp>
#include <bactor/models/data.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/network.hpp>
#include <bactor/samplers/cmdstan_csv.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

namespace {

int run_infer(int argc, char** argv) {
  CLI::App app{"Posterior of the actor's parameters given trials (s, r) in a CSV file"};
  std::string data_path, cost, network, fix, prior, latent = "marginal", out, metric = "diag";
  bool closed_form = false, predict = false, no_log_lik = false;
  bactor::NutsSettings ns;
  ns.warmup = 2500;
  ns.samples = 5000;
  int nodes = bactor::default_quadrature_nodes;
  app.add_option("--data", data_path, "CSV with columns s,r [,cond] [,subject]")->required();
  app.add_option("--cost", cost, "cost family")->required();
  auto* net_opt = app.add_option("--network", network, "trained action network (.safetensors)");
  auto* cf_opt = app.add_flag("--closed-form", closed_form, "use the cost's closed-form action");
  net_opt->excludes(cf_opt);
  app.add_option("--fix", fix, "fixed parameters, e.g. sigma=0.2 or sigma.1=0.1,beta=0.9");
  app.add_option("--prior", prior, "prior overrides, e.g. mu_0=uniform:0.1:5,sigma=halfnormal:0.25");
  app.add_option("--latent", latent, "marginal (integrate the measurement out) or sampled")->capture_default_str();
  app.add_flag("--predict", predict, "write posterior-predictive responses r_rep.i");
  app.add_flag("--no-log-lik", no_log_lik, "do not write the per-trial log-likelihoods log_lik.i");
  app.add_option("--chains", ns.chains, "chains")->capture_default_str();
  app.add_option("--warmup", ns.warmup, "warm-up iterations per chain")->capture_default_str();
  app.add_option("--samples", ns.samples, "draws per chain")->capture_default_str();
  app.add_option("--thin", ns.thin, "keep every n-th draw")->capture_default_str();
  app.add_option("--seed", ns.seed, "random seed (chain c uses stream c)")->capture_default_str();
  app.add_option("--threads", ns.threads, "threads (0: all)")->capture_default_str();
  app.add_option("--delta", ns.delta, "target acceptance statistic")->capture_default_str();
  app.add_option("--max-depth", ns.max_depth, "maximum tree depth")->capture_default_str();
  app.add_option("--metric", metric, "diag or dense (inverse metric adapted in warm-up)")->capture_default_str();
  app.add_option("--quadrature-nodes", nodes, "Gauss-Hermite nodes (softplus-head network, marginal latent); -1: chosen by sigma")->capture_default_str();
  app.add_option("--out", out, "output directory (chain-1.csv ..., summary.csv)")->required();
  if (!bactor::cli::parse(app, argc, argv)) return 0;

  // Validate everything before writing anything.
  if (network.empty() && !closed_form) throw bactor::cli::UsageError("give --network FILE or --closed-form");
  if (ns.chains < 1 || ns.samples < 1 || ns.warmup < 0 || ns.thin < 1) throw bactor::cli::UsageError("--chains, --samples and --thin must be positive, --warmup >= 0");
  if (!(ns.delta > 0 && ns.delta < 1)) throw bactor::cli::UsageError("--delta must be in (0, 1)");
  // Absurd sizes fail here with a message, not with std::bad_alloc or hours of sampling.
  if (ns.chains > 1024) throw bactor::cli::UsageError("--chains: at most 1024 (got " + std::to_string(ns.chains) + ")");
  if (double(ns.chains) * (double(ns.samples) / ns.thin + (ns.save_warmup ? double(ns.warmup) / ns.thin : 0.0)) > 5e7)
    throw bactor::cli::UsageError("--chains x --samples / --thin: at most 50000000 draws are kept in memory");
  if (ns.max_depth < 1 || ns.max_depth > 30) throw bactor::cli::UsageError("--max-depth must be in 1..30");
  if (ns.threads < 0) throw bactor::cli::UsageError("--threads must be >= 0 (0: all)");
  if (metric != "diag" && metric != "dense") throw bactor::cli::UsageError("--metric must be diag or dense (got '" + metric + "')");
  ns.dense_metric = metric == "dense";
  bactor::InferenceSpec spec;
  spec.cost = &bactor::find_cost(cost);
  spec.latent = bactor::parse_latent_mode(latent);
  spec.predict = predict;
  spec.log_lik = !no_log_lik;
  if (nodes != -1 && (nodes < 1 || nodes > 200))
    throw std::invalid_argument("--quadrature-nodes: must be -1 (chosen by sigma) or in 1..200, got " +
                                std::to_string(nodes));
  spec.quadrature_nodes = nodes;
  spec.fixed = bactor::cli::parse_assignments(fix, "--fix");
  for (const auto& [k, v] : bactor::cli::parse_string_assignments(prior, "--prior")) spec.priors[k] = bactor::parse_prior(v);
  if (!network.empty()) {
    spec.network = std::make_shared<const bactor::ActionNetwork>(bactor::ActionNetwork::load(network));
    const auto& meta = spec.network->metadata();
    if (meta.count("interrupted"))
      std::cerr << "WARNING: " << network << " is a partially trained network ("
                << meta.at("interrupted") << ")\n";
  }
  const bactor::Dataset data = bactor::read_dataset(data_path);
  const auto subjects = bactor::split_subjects(data);
  for (const auto& [id, d] : subjects) bactor::ActorModel probe(d, spec);  // throws on bad spec

  bactor::cli::install_stop_handlers();
  int status = 0;
  for (const auto& [id, d] : subjects) {
    const std::string dir = id.empty() ? out : out + "/subject-" + id;
    std::filesystem::create_directories(dir);
    if (!id.empty()) std::cout << "== subject " << id << " (" << d.size() << " trials) ==\n";
    std::cerr << "inference: " << d.size() << " trials, " << d.conditions() << " condition(s), cost " << cost << ", "
              << (spec.network ? "network " + network : std::string("closed form")) << ", latent " << latent << "\n";
    const auto run = bactor::cli::run_posterior(d, spec, ns, true);
    std::vector<std::pair<std::string, std::string>> config{
        {"data_file", data_path}, {"cost", cost}, {"action", spec.network ? "network" : "closed-form"},
        {"network", network}, {"latent", latent}, {"fixed", bactor::cli::join_assignments(spec.fixed)},
        {"priors", prior}, {"trials", std::to_string(d.size())}, {"log_lik", spec.log_lik ? "true" : "false"},
        {"predict", predict ? "true" : "false"}};
    if (!id.empty()) config.emplace_back("subject", id);
    std::string conds;
    for (std::size_t c = 0; c < d.cond_labels.size(); ++c) conds += (c ? "," : "") + std::to_string(c + 1) + "=" + d.cond_labels[c];
    config.emplace_back("conditions", conds);
    const std::string model_name = "bactor_actor_" + cost + "_" + latent;
    for (const auto& chain : run.chains) {
      auto cfg = config;
      cfg.emplace_back("complete", chain.complete ? "true" : "false");
      bactor::write_cmdstan_csv(dir + "/chain-" + std::to_string(chain.chain_id) + ".csv", chain, ns, model_name, cfg);
    }
    if (run.summary.draws > 0) {
      bactor::write_summary_csv(dir + "/summary.csv", run.summary);
      std::cout << bactor::format_summary(run.summary);
    }
    std::cout << "wall time " << run.wall_seconds << " s; draws in " << dir << "/chain-*.csv\n";
    if (!run.complete) {
      std::cerr << "interrupted: kept";
      for (const auto& chain : run.chains)
        std::cerr << (chain.chain_id > 1 ? ", " : " ") << "chain " << chain.chain_id << " "
                  << (chain.rows() - std::size_t(chain.warmup_draws_saved)) << " draws";
      std::cerr << " in " << dir << "/chain-*.csv (partial chains are marked complete = false)\n";
      status = bactor::cli::exit_failure;
      break;
    }
  }
  return status;
}

} // namespace

BACTOR_COMMAND("infer", "posterior of actor parameters given a data file (NUTS)", run_infer);
