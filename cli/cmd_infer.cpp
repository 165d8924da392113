// SPDX-License-Identifier: MIT
// bactor infer: posterior of the actor's parameters given a data file (NUTS, CmdStan CSV).
#include "cli/command.hpp"
#include "cli/fit_dir.hpp"
#include "cli/fit_dir.hpp"
#include "cli/options.hpp"
#include <bactor/engine/errors.hpp>
#include <bactor/models/costs.hpp>
#include "cli/cost_options.hpp"
#include <bactor/models/data.hpp>
#include <bactor/models/hierarchical.hpp>
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
  os << "Default priors (--prior NAME=SPEC overrides them; SPEC is halfnormal:SCALE, uniform:LO:HI,\n"
        "lognormal:LOC:SCALE with LOC on the log scale, or beta:A:B on (0, 1); with several conditions a parameter of --per-condition, e.g. sigma,\n"
        "stands for all of sigma.1, sigma.2, ..., and sigma.2 for one of them; --fix likewise):\n"
        "  every cost:";
  const auto& families = bactor::cost_families();
  const auto common = bactor::default_priors(families.front());
  const std::size_t n_common = common.size() - families.front().params.size();
  for (std::size_t k = 0; k < n_common; ++k) {
    os << (k ? ", " : " ") << common[k].first << "=";
    // mu_0's default is relative to the fit's unit S: log(mu_0 / S) ~ N(0, 1).
    if (bactor::has_data_units(common[k].first)) os << "lognormal:log(S):1";
    else os << bactor::to_string(common[k].second);
  }
  os << "\n  S is the fit's unit (--scale; auto: the geometric mean of the stimuli); --prior and --fix values and the draws\n"
        "  are in the data's units, the cost parameters in units of S.\n";
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
  os << "  with --lapse: lapse=" << bactor::to_string(bactor::lapse_prior()) << " (mean 3.8%, 90% between 0.7% and 9.0%)\n";
  os << "Every draws file records the priors of its free parameters (# priors = ...).";
  return os.str();
}

/// "name=spec,..." of the priors of the free parameters, in the data's units, as the model uses them.
std::string priors_used(const bactor::ActorModel& model) {
  std::string out;
  for (const auto& [name, p] : model.free_priors()) out += (out.empty() ? "" : ",") + name + "=" + bactor::to_string(p);
  return out;
}

std::string fmt_g(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

std::string percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * share);
  return buf;
}

/// One WARNING when the data or the posterior draws leave the network's training region (in
/// units of S), else a line saying they stay inside; the posterior head's exactness is stated.
void report_training_region(const bactor::ActorModel& model, const bactor::cli::PosteriorRun& run) {
  std::vector<std::vector<double>> rows;
  const std::size_t n = model.free_names().size();
  for (const auto& chain : run.chains) {
    const std::size_t first = chain.columns.size() - model.output_names().size(), width = chain.columns.size();
    for (std::size_t r = std::size_t(chain.warmup_draws_saved); r < chain.rows(); ++r) {
      const auto row = chain.draws.begin() + std::ptrdiff_t(r * width + first);
      rows.emplace_back(row, row + std::ptrdiff_t(n));
    }
  }
  const auto rc = model.training_region(rows);
  if (!rc.checked) return;
  if (!rc.exact_note.empty()) std::cerr << "note: " << rc.exact_note << "\n";
  if (rc.stimuli_outside > 0 || rc.draws_outside > 0) {
    std::cerr << "WARNING: outside the network's training region (compared in units of S = " << model.scale() << "):";
    if (rc.stimuli_outside > 0) std::cerr << " " << percent(rc.stimuli_outside) << " of the stimuli s / S;";
    if (rc.draws_outside > 0) {
      std::cerr << " " << percent(rc.draws_outside) << " of the posterior draws (";
      for (std::size_t k = 0; k < rc.by_parameter.size(); ++k)
        std::cerr << (k ? ", " : "") << rc.by_parameter[k].first << " " << percent(rc.by_parameter[k].second);
      std::cerr << ")";
    }
    std::cerr << "; the network's actions there are extrapolations (train on a wider prior, or check with --closed-form where the cost has one)\n";
  } else {
    std::cerr << "training region: the stimuli and every posterior draw lie inside the network's training priors\n";
  }
}

int run_infer(int argc, char** argv) {
  CLI::App app{"Posterior of the actor's parameters given trials (s, r) in a CSV file"};
  std::string data_path, columns, cost, network, fix, prior, latent = "marginal", out, metric = "diag", per_condition = "sigma";
  bool closed_form = false, exact_action = false, predict = false, no_log_lik = false, lapse = false, hierarchical = false;
  std::string lapse_range, pooled, parameterisation = "aligned", population;
  bactor::NutsSettings ns;
  ns.warmup = 2500;
  ns.samples = 5000;
  int nodes = bactor::default_quadrature_nodes;
  std::string scale = "auto";
  app.add_option("--data", data_path, "CSV with columns s,r [,cond] [,subject]")->required();
  bactor::cli::add_columns_option(app, columns);
  app.add_option("--cost", cost, "cost family, or give --formula (with --network: the network's cost)");
  bactor::cli::CostOptions cost_opts;
  bactor::cli::add_formula_options(app, cost_opts);
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
  auto* per_cond_opt = app.get_option("--per-condition");
  app.add_flag("--hierarchical", hierarchical, "one joint fit of all subjects (needs a subject column, one condition): each "
               "pooled parameter drawn from a population whose median and sd are inferred with them (docs/hierarchical.md)");
  auto* pooled_opt = app.add_option("--pooled", pooled, "with --hierarchical: the parameters drawn from the population, e.g. "
                                    "mu_0,sigma_0 (default: every free parameter); the others are shared by all subjects");
  auto* par_opt = app.add_option("--parameterisation", parameterisation, "with --hierarchical: the sampling coordinates, "
                                 "aligned (logit w and the intercept centred, the sigma/sigma_0 ridge non-centred), "
                                 "centred-mu0 (aligned with log mu_0 itself centred) or noncentred")->capture_default_str();
  auto* pop_opt = app.add_option("--population", population, "with --hierarchical: population priors NAME=LOC:SCALE:SD_SCALE, "
                                 "mean ~ Normal(LOC, SCALE) on the log (logit) scale, sd ~ HalfNormal(SD_SCALE)");
  app.add_option("--latent", latent, "marginal (integrate the measurement out) or sampled")->capture_default_str();
  app.add_flag("--lapse", lapse, "lapse mixture: with probability lapse (a parameter, prior beta:2:50) a response comes from a "
               "contaminant, log r uniform over the responses' range widened by 0.5 in log r (a factor 1.65) at each end (or --lapse-range)");
  app.add_option("--lapse-range", lapse_range, "the contaminant's range of r, LO:HI (data units; it must hold every response)");
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
  app.add_option("--init-radius", ns.init_radius, "initial values uniform(-R, R) on the unconstrained scale (0: every "
                 "chain starts at its centre, e.g. sigma = 1, a uniform prior's midpoint)")->capture_default_str();
  app.add_option("--metric", metric, "diag or dense (inverse metric adapted in warm-up)")->capture_default_str();
  app.add_option("--quadrature-nodes", nodes, "Gauss-Hermite nodes (softplus-head network, marginal latent); -1: chosen by sigma")->capture_default_str();
  app.add_option("--scale", scale, "the unit S the fit works in: auto (the geometric mean of the stimuli), 1 (the data's own "
                 "units) or a positive number; mu_0's default prior and the cost parameters are in units of S")
      ->capture_default_str();
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
  if (!(ns.init_radius >= 0 && ns.init_radius <= 100))
    throw bactor::cli::UsageError("--init-radius must be in [0, 100] (got " + std::to_string(ns.init_radius) + ")");
  if (ns.threads < 0) throw bactor::cli::UsageError("--threads must be >= 0 (0: all)");
  if (metric != "diag" && metric != "dense") throw bactor::cli::UsageError("--metric must be diag or dense (got '" + metric + "')");
  ns.dense_metric = metric == "dense";
  if (!hierarchical)
    for (auto* o : {pooled_opt, par_opt, pop_opt})
      if (o->count() > 0) throw bactor::cli::UsageError(o->get_name() + " needs --hierarchical");
  if (hierarchical) {
    if (latent != "marginal") throw bactor::cli::UsageError("--hierarchical integrates the measurement out: --latent marginal only");
    if (predict) throw bactor::cli::UsageError("--predict cannot be combined with --hierarchical (not supported yet)");
    if (per_cond_opt->count() > 0) throw bactor::cli::UsageError("--per-condition cannot be combined with --hierarchical");
    if (lapse) throw bactor::cli::UsageError("--lapse cannot be combined with --hierarchical (not supported yet)");
    if (exact_action) throw bactor::cli::UsageError("--exact-action cannot be combined with --hierarchical (not supported yet)");
    if (scale != "auto") throw bactor::cli::UsageError("--scale cannot be combined with --hierarchical (a hierarchical fit works in the data's units; docs/hierarchical.md)");
  }
  const bactor::ColumnMap column_map = bactor::cli::columns_option(columns);
  bactor::InferenceSpec spec;
  spec.cost = &bactor::cli::resolve_cost(cost, cost_opts, network);
  cost = spec.cost->name;
  spec.latent = bactor::parse_latent_mode(latent);
  spec.exact_action = exact_action;
  spec.predict = predict;
  spec.log_lik = !no_log_lik;
  if (nodes != -1 && (nodes < 1 || nodes > 200))
    throw std::invalid_argument("--quadrature-nodes: must be -1 (chosen by sigma) or in 1..200, got " +
                                std::to_string(nodes));
  spec.quadrature_nodes = nodes;
  if (scale != "auto") {
    spec.scale = bactor::cli::parse_number(scale, "--scale");
    if (!(spec.scale > 0)) throw bactor::cli::UsageError("--scale: must be auto or a positive number (got '" + scale + "')");
  }
  spec.per_condition = bactor::cli::parse_per_condition(per_condition);
  spec.lapse = lapse;
  if (!lapse_range.empty()) {
    if (!lapse) throw bactor::cli::UsageError("--lapse-range needs --lapse");
    const auto [lo, hi] = bactor::cli::parse_range(lapse_range, "--lapse-range");
    if (!(lo > 0)) throw bactor::cli::UsageError("--lapse-range: LO must be positive, got '" + lapse_range + "'");
    spec.lapse_lo = lo;
    spec.lapse_hi = hi;
  }
  bactor::check_per_condition(*spec.cost, spec.per_condition, spec.lapse);
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
  auto conditions = [](const bactor::Dataset& d) {
    std::string conds;
    for (std::size_t c = 0; c < d.cond_labels.size(); ++c) conds += (c ? "," : "") + std::to_string(c + 1) + "=" + d.cond_labels[c];
    return conds;
  };
  // Writes one run's chains, summary and messages to `dir`; false when it was stopped.
  auto emit = [&](const std::string& dir, const bactor::cli::PosteriorRun& run,
                  std::vector<std::pair<std::string, std::string>> config, const std::string& model_name) {
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
      return false;
    }
    return true;
  };

  bactor::cli::install_stop_handlers();
  if (hierarchical) {
    bactor::HierarchicalSpec hs;
    hs.cost = spec.cost;
    hs.network = spec.network;
    hs.fixed = spec.fixed;
    hs.priors = spec.priors;
    hs.log_lik = spec.log_lik;
    hs.quadrature_nodes = spec.quadrature_nodes;
    hs.parameterisation = bactor::parse_hier_parameterisation(parameterisation);
    for (std::size_t start = 0; pooled_opt->count() > 0;) {  // NAME,NAME,...
      const auto comma = pooled.find(',', start);
      const std::string name = pooled.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (name.empty() || !hs.pooled.insert(name).second)
        throw bactor::ArgumentError("pooled", "'" + pooled + "': expected distinct parameter names separated by commas");
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    for (const auto& [k, v] : bactor::cli::parse_string_assignments(population, "--population"))
      hs.population[k] = bactor::parse_population_prior(v);
    const bactor::HierarchicalModel probe(data, hs);  // throws on a bad spec
    std::cerr << "hierarchical inference: " << probe.subject_ids().size() << " subjects, " << data.size() << " trials, cost "
              << cost << ", " << (spec.network ? "network " + network : std::string("closed form")) << ", "
              << to_string(hs.parameterisation) << " coordinates\n";
    std::filesystem::create_directories(out);
    const auto run = bactor::cli::run_posterior(
        [&]() -> std::unique_ptr<bactor::Model> { return std::make_unique<bactor::HierarchicalModel>(data, hs); },
        probe.parameter_names(), ns, true);
    std::string ids, pops, shared_priors;
    for (std::size_t j = 0; j < probe.subject_ids().size(); ++j)
      ids += (j ? "," : "") + std::to_string(j + 1) + "=" + probe.subject_ids()[j];
    for (const auto& [name, p] : probe.population_priors()) pops += (pops.empty() ? "" : ",") + name + "=" + bactor::to_string(p);
    std::map<std::string, bactor::Prior> prior;
    for (const auto& [name, p] : bactor::default_priors(*spec.cost)) prior[name] = p;
    prior["mu_0"] = bactor::prior_in_data_units(prior["mu_0"], probe.stimulus_scale());  // as the model takes it
    for (const auto& [name, p] : hs.priors) prior[name] = p;
    for (const auto& name : probe.shared_names())
      shared_priors += (shared_priors.empty() ? "" : ",") + name + "=" + bactor::to_string(prior[name]);
    std::string pooled_list;
    for (const auto& name : probe.pooled_names()) pooled_list += (pooled_list.empty() ? "" : ",") + name;
    const bool ok = emit(out, run,
                         {{"data_file", data_path}, {"columns", bactor::to_string(column_map)}, {"cost", cost},
                          {"action", spec.network ? "network" : "closed-form"}, {"network", network}, {"latent", latent},
                          {"hierarchical", "true"}, {"parameterisation", to_string(hs.parameterisation)},
                          {"pooled", pooled_list}, {"population", pops}, {"stimulus_scale", bactor::cli::number(probe.stimulus_scale())},
                          {"fixed", bactor::cli::join_assignments(spec.fixed)}, {"priors", shared_priors},
                          {"trials", std::to_string(data.size())}, {"subjects", ids},
                          {"log_lik", spec.log_lik ? "true" : "false"}, {"predict", "false"}, {"conditions", conditions(data)}},
                         "bactor_hierarchical_" + cost + "_" + to_string(hs.parameterisation));
    return ok ? 0 : bactor::cli::exit_failure;
  }

  const auto subjects = bactor::split_subjects(data);
  // --per-condition given for data with one condition: every parameter is one parameter anyway.
  if (app.count("--per-condition") && data.conditions() == 1 && !spec.per_condition.empty())
    std::cerr << "note: " << data_path << " has one condition (no '" << column_map.cond
              << "' column, or one label), so --per-condition " << per_condition << " changes nothing\n";
  for (const auto& [id, d] : subjects) bactor::ActorModel probe(d, spec);  // throws on bad spec
  for (const auto& [id, d] : subjects) {
    const std::string dir = id.empty() ? out : out + "/subject-" + id;
    std::filesystem::create_directories(dir);
    if (!id.empty()) std::cout << "== subject " << id << " (" << d.size() << " trials) ==\n";
    std::cerr << "inference: " << d.size() << " trials, " << d.conditions() << " condition(s), cost " << cost << ", "
              << (spec.network ? "network " + network : std::string(exact_action ? "exact action" : "closed form"))
              << ", latent " << latent << "\n";
    const bactor::ActorModel model(d, spec);
    std::cerr << "units: S = " << model.scale()
              << (spec.scale > 0 ? " (--scale)" : " (the geometric mean of the stimuli)") << "; mu_0 in the data's units, cost parameters in units of S\n";
    const auto run = bactor::cli::run_posterior(d, spec, ns, true);
    if (spec.network) report_training_region(model, run);
    std::vector<std::pair<std::string, std::string>> config{
        {"data_file", data_path}, {"columns", bactor::to_string(column_map)}, {"cost", cost},
        {"action", spec.network ? "network" : (exact_action ? "exact" : "closed-form")}, {"network", network}, {"latent", latent},
        {"per_condition", bactor::cli::join_per_condition(spec.per_condition)}, {"fixed", bactor::cli::join_assignments(spec.fixed)},
        {"priors", priors_used(model)}, {"scale", fmt_g(model.scale())}, {"trials", std::to_string(d.size())},
        {"log_lik", spec.log_lik ? "true" : "false"},
        {"predict", predict ? "true" : "false"}, {"lapse", lapse ? "true" : "false"}};
    if (lapse) {  // the contaminant's range used (from this subject's data unless --lapse-range)
      const auto [lo, hi] = bactor::lapse_range(d, spec);
      config.emplace_back("lapse_range", bactor::cli::number(lo) + ":" + bactor::cli::number(hi));
    }
    if (!id.empty()) config.emplace_back("subject", id);
    config.emplace_back("conditions", conditions(d));
    if (!emit(dir, run, std::move(config), "bactor_actor_" + cost + "_" + latent)) return bactor::cli::exit_failure;
  }
  return 0;
}

} // namespace

BACTOR_COMMAND("infer", "posterior of actor parameters given a data file (NUTS)", run_infer);
