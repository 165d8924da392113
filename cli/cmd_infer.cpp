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
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

/// The default priors of every parameter, for --help (from the library's own table).
std::string default_priors_help() {
  std::ostringstream os;
  os << "Default priors (--prior NAME=SPEC overrides them; SPEC is halfnormal:SCALE, uniform:LO:HI or\n"
        "lognormal:LOC:SCALE with LOC on the log scale; with several conditions a parameter of --per-condition, e.g. sigma,\n"
        "stands for all of sigma.1, sigma.2, ..., and sigma.2 for one of them; --fix likewise):\n"
        "  every cost:";
  const auto& families = bactor::cost_families();
  const auto common = bactor::default_priors(families.front());
  const std::size_t n_common = common.size() - families.front().params.size();
  for (std::size_t k = 0; k < n_common; ++k)
    os << (k ? ", " : " ") << common[k].first << "=" << bactor::to_string(common[k].second);
  os << "\n";
  for (const auto& cost : families) {
    const auto priors = bactor::default_priors(cost);
    if (priors.size() == n_common) continue;
    os << "  " << cost.name << ":";
    for (std::size_t k = n_common; k < priors.size(); ++k) {
      const auto& [name, p] = priors[k];
      os << (k > n_common ? ", " : " ") << name << "=" << bactor::to_string(p);
      if (p.kind == bactor::Prior::Kind::lognormal) {
        char buf[96];
        std::snprintf(buf, sizeof buf, " (median %.4g)", std::exp(p.a));
        os << buf;
      }
    }
    os << "\n";
  }
  os << "Every draws file records the priors of its free parameters (# priors = ...).";
  return os.str();
}

/// "name=spec,..." of the priors of the free parameters `names`, defaults with --prior applied
/// ("mu_0" sets every mu_0.c; a std::map visits it before mu_0.2).
std::string priors_used(const bactor::InferenceSpec& spec, std::size_t conditions, const std::vector<std::string>& names) {
  std::map<std::string, bactor::Prior> prior;
  for (const auto& [name, p] : bactor::default_priors(*spec.cost, conditions, spec.per_condition)) prior[name] = p;
  for (const auto& [name, p] : spec.priors)
    for (auto& [slot, q] : prior)
      if (slot == name || (spec.per_condition.count(name) && slot.rfind(name + ".", 0) == 0)) q = p;
  std::string out;
  for (const auto& name : names)
    if (prior.count(name)) out += (out.empty() ? "" : ",") + name + "=" + bactor::to_string(prior.at(name));
  return out;
}

int run_infer(int argc, char** argv) {
  CLI::App app{"Posterior of the actor's parameters given trials (s, r) in a CSV file"};
  std::string data_path, columns, cost, network, fix, prior, latent = "marginal", out, metric = "diag", per_condition = "sigma";
  bool closed_form = false, exact_action = false, predict = false, no_log_lik = false;
  bactor::NutsSettings ns;
  ns.warmup = 2500;
  ns.samples = 5000;
  int nodes = bactor::default_quadrature_nodes;
  app.add_option("--data", data_path, "CSV with columns s,r [,cond] [,subject]")->required();
  bactor::cli::add_columns_option(app, columns);
  app.add_option("--cost", cost, "cost family")->required();
  auto* net_opt = app.add_option("--network", network, "trained action network (.safetensors)");
  auto* cf_opt = app.add_flag("--closed-form", closed_form, "use the cost's closed-form action");
  auto* exact_opt = app.add_flag("--exact-action", exact_action,
                                 "the optimal action by the ground-truth solver inside the likelihood (any cost; slow: "
                                 "the reference posterior)");
  net_opt->excludes(cf_opt);
  exact_opt->excludes(net_opt)->excludes(cf_opt);
  app.add_option("--fix", fix, "fixed parameters, e.g. sigma=0.2 or sigma.1=0.1,beta=0.9");
  app.add_option("--prior", prior, "prior overrides, e.g. mu_0=uniform:0.5:3,sigma=halfnormal:0.5 (defaults below)");
  app.add_option("--per-condition", per_condition, "parameters with one value per condition (NAME.1, NAME.2, ...), e.g. "
                 "mu_0,sigma_0: any of mu_0, sigma_0, sigma, sigma_r and the cost's parameters; none: every parameter shared")
      ->capture_default_str();
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
  app.footer(default_priors_help());
  if (!bactor::cli::parse(app, argc, argv)) return 0;

  // Validate everything before writing anything.
  if (network.empty() && !closed_form && !exact_action)
    throw bactor::cli::UsageError("give --network FILE, --closed-form or --exact-action");
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
  const bactor::ColumnMap column_map = bactor::cli::columns_option(columns);
  bactor::InferenceSpec spec;
  spec.cost = &bactor::find_cost(cost);
  spec.latent = bactor::parse_latent_mode(latent);
  spec.exact_action = exact_action;
  spec.predict = predict;
  spec.log_lik = !no_log_lik;
  if (nodes != -1 && (nodes < 1 || nodes > 200))
    throw std::invalid_argument("--quadrature-nodes: must be -1 (chosen by sigma) or in 1..200, got " +
                                std::to_string(nodes));
  spec.quadrature_nodes = nodes;
  spec.per_condition = bactor::cli::parse_per_condition(per_condition);
  bactor::check_per_condition(*spec.cost, spec.per_condition);
  spec.fixed = bactor::cli::parse_assignments(fix, "--fix");
  for (const auto& [k, v] : bactor::cli::parse_string_assignments(prior, "--prior")) spec.priors[k] = bactor::parse_prior(v);
  if (!network.empty()) {
    spec.network = std::make_shared<const bactor::ActionNetwork>(bactor::ActionNetwork::load(network));
    const auto& meta = spec.network->metadata();
    if (meta.count("interrupted"))
      std::cerr << "WARNING: " << network << " is a partially trained network ("
                << meta.at("interrupted") << ")\n";
  }
  const bactor::Dataset data = bactor::read_dataset(data_path, column_map);
  const auto subjects = bactor::split_subjects(data);
  for (const auto& [id, d] : subjects) bactor::ActorModel probe(d, spec);  // throws on bad spec

  bactor::cli::install_stop_handlers();
  int status = 0;
  for (const auto& [id, d] : subjects) {
    const std::string dir = id.empty() ? out : out + "/subject-" + id;
    std::filesystem::create_directories(dir);
    if (!id.empty()) std::cout << "== subject " << id << " (" << d.size() << " trials) ==\n";
    std::cerr << "inference: " << d.size() << " trials, " << d.conditions() << " condition(s), cost " << cost << ", "
              << (spec.network ? "network " + network : std::string(exact_action ? "exact action" : "closed form"))
              << ", latent " << latent << "\n";
    const auto run = bactor::cli::run_posterior(d, spec, ns, true);
    std::vector<std::pair<std::string, std::string>> config{
        {"data_file", data_path}, {"columns", bactor::to_string(column_map)}, {"cost", cost},
        {"action", spec.network ? "network" : (exact_action ? "exact" : "closed-form")}, {"network", network}, {"latent", latent},
        {"per_condition", bactor::cli::join_per_condition(spec.per_condition)}, {"fixed", bactor::cli::join_assignments(spec.fixed)},
        {"priors", priors_used(spec, d.conditions(), run.params)}, {"trials", std::to_string(d.size())},
        {"log_lik", spec.log_lik ? "true" : "false"},
        {"predict", predict ? "true" : "false"}};
    if (!id.empty()) config.emplace_back("subject", id);
    std::string conds;
    for (std::size_t c = 0; c < d.cond_labels.size(); ++c) conds += (c ? "," : "") + std::to_string(c + 1) + "=" + d.cond_labels[c];
    config.emplace_back("conditions", conds);
    const std::string model_name = "bactor_actor_" + cost + "_" + latent;
    // A stopped run keeps the chains' common draws (run_posterior): num_samples then says how
    // many there are (cmdstanpy checks it), requested_samples what was asked for; the writer
    // adds "complete = 0".
    bactor::NutsSettings written = ns;
    if (!run.complete) {
      written.samples = static_cast<int>(run.kept_draws) * ns.thin;
      config.emplace_back("requested_samples", std::to_string(ns.samples));
    }
    for (const auto& chain : run.chains)
      bactor::write_cmdstan_csv(dir + "/chain-" + std::to_string(chain.chain_id) + ".csv", chain, written, model_name,
                                config);
    if (run.summary.draws > 0) {
      bactor::write_summary_csv(dir + "/summary.csv", run.summary);
      std::cout << bactor::format_summary(run.summary);
    }
    if (run.complete || !run.chains.empty())
      std::cout << "wall time " << run.wall_seconds << " s; draws in " << dir << "/chain-*.csv\n";
    if (!run.complete) {
      // One line: what was kept, in a form ArviZ, cmdstanpy and `bactor summary` read.
      auto ids = [](const std::vector<int>& v) {
        std::string t;
        for (int id : v) t += (t.empty() ? "" : ", ") + std::to_string(id);
        return t;
      };
      std::vector<int> kept;
      for (const auto& chain : run.chains) kept.push_back(chain.chain_id);
      if (kept.empty()) {
        std::cerr << "interrupted before any draw after warm-up: no draws files written in " << dir << "\n";
      } else {
        std::cerr << "interrupted: kept " << run.kept_draws << " draw" << (run.kept_draws == 1 ? "" : "s")
                  << " of chain" << (kept.size() == 1 ? " " : "s ") << ids(kept) << " in " << dir
                  << "/chain-*.csv, marked complete = 0";
        if (!run.cut_chains.empty())
          std::cerr << "; chain" << (run.cut_chains.size() == 1 ? " " : "s ") << ids(run.cut_chains)
                    << " cut to that length";
        if (!run.empty_chains.empty())
          std::cerr << "; chain" << (run.empty_chains.size() == 1 ? " " : "s ") << ids(run.empty_chains)
                    << " had no draws after warm-up, not written";
        if (run.summary.draws == 0) std::cerr << "; too few draws to summarise";
        std::cerr << "\n";
      }
      status = bactor::cli::exit_failure;
      break;
    }
  }
  return status;
}

} // namespace

BACTOR_COMMAND("infer", "posterior of actor parameters given a data file (NUTS)", run_infer);
