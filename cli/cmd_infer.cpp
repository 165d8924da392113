// SPDX-License-Identifier: MIT
// bactor infer: posterior of the actor's parameters given a data file (NUTS, CmdStan CSV).
#include "cli/command.hpp"
#include "cli/fit_dir.hpp"
#include "cli/out_dir.hpp"
#include "cli/options.hpp"
#include <bactor/engine/errors.hpp>
#include <bactor/engine/version.hpp>
#include <bactor/models/costs.hpp>
#include "cli/cost_options.hpp"
#include <bactor/models/data.hpp>
#include <bactor/models/hierarchical.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/network.hpp>
#include "models/circular.hpp"
#include "models/perception_linear.hpp"
#include <bactor/samplers/cmdstan_csv.hpp>
#if BACTOR_MPI
#include "models/mpi_exchange.hpp"
#endif

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
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
        "lognormal:LOC:SCALE with LOC on the log scale, beta:A:B on (0, 1), or vonmises:LOC:KAPPA for an angle (mu_0 under\n"
        "--perception vonmises; default vonmises:0:0, uniform on the circle); with several conditions a parameter of --per-condition, e.g. sigma,\n"
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
  os << "  with --perception gaussian (linear space; S: the root mean square of the stimuli; sigma and sigma_0 in data units):\n"
        "  sigma=halfnormal:0.25 S, sigma_0=halfnormal:1 S, mu_0=normal:0:S, sigma_a=halfnormal:0.25 S, offset=normal:0:0.25 S\n";
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

/// The shard of `--shard K/N`: {K, N}, or {0, 0} when `text` is empty.
std::pair<int, int> parse_shard(const std::string& text) {
  if (text.empty()) return {0, 0};
  const auto slash = text.find('/');
  auto whole = [](const std::string& t, int& v) {
    if (t.empty() || t.size() > 6 || t.find_first_not_of("0123456789") != std::string::npos) return false;
    v = std::stoi(t);
    return true;
  };
  int k = 0, n = 0;
  if (slash == std::string::npos || !whole(text.substr(0, slash), k) || !whole(text.substr(slash + 1), n) || k < 1 ||
      k > n || n > 100000)
    throw bactor::cli::UsageError("--shard: expected K/N with 1 <= K <= N <= 100000, e.g. 2/8 (got '" + text + "')");
  return {k, n};
}

/// 64-bit FNV-1a of a file's bytes, as 16 hex digits (the data a shard fitted, for merge).
std::string file_fingerprint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(bactor::cli::fnv1a64(bytes)));
  return buf;
}

/// "1=label,2=label,..." of a data set's conditions.
std::string condition_labels(const bactor::Dataset& d) {
  std::string conds;
  for (std::size_t c = 0; c < d.cond_labels.size(); ++c) conds += (c ? "," : "") + std::to_string(c + 1) + "=" + d.cond_labels[c];
  return conds;
}

/// Writes one run's chains (settings `ns`, bactor's own settings `config`), summary and
/// messages to `dir`; false when the run was stopped.
bool write_run(const std::string& dir, const bactor::cli::PosteriorRun& run, const bactor::NutsSettings& ns,
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
}

/// The options of `bactor infer`, as given.
struct InferArgs {
  std::string data_path, columns, cost, network, fix, prior, latent = "marginal", out, metric = "diag",
      per_condition = "sigma", lapse_range, pooled, parameterisation = "auto", population, scale = "auto", shard_text,
      motor = "lognormal", perception = "lognormal", mu0_coordinates = "angle";
  bool offset = false;
  bool closed_form = false, exact_action = false, predict = false, no_log_lik = false, lapse = false,
       hierarchical = false, overwrite = false;
  bactor::NutsSettings ns;
  int nodes = bactor::default_quadrature_nodes;
  bactor::cli::CostOptions cost_opts;  // --formula, --params, ...
  // Derived after parsing.
  bool per_condition_given = false, pooled_given = false;
  int shard_k = 0, shard_n = 0;
  InferArgs() {
    ns.warmup = 2500;
    ns.samples = 5000;
  }
};

void add_infer_options(CLI::App& app, InferArgs& a) {
  app.add_option("--data", a.data_path, "CSV with columns s,r [,cond] [,subject]")->required();
  bactor::cli::add_columns_option(app, a.columns);
  app.add_option("--cost", a.cost, "cost family, or give --formula (with --network: the network's cost)");
  bactor::cli::add_formula_options(app, a.cost_opts);
  auto* net_opt = app.add_option("--network", a.network, "trained action network (.safetensors)");
  auto* cf_opt = app.add_flag("--closed-form", a.closed_form, "use the cost's closed-form action");
  auto* exact_opt = app.add_flag("--exact-action", a.exact_action,
                                 "the optimal action by the ground-truth solver inside the likelihood (any cost of up to 4 parameters; slow: "
                                 "the reference posterior; under --perception gaussian the way to fit a cost that is not a "
                                 "function of r - s, e.g. AbsoluteCostQuadraticEffort)");
  net_opt->excludes(cf_opt);
  exact_opt->excludes(net_opt)->excludes(cf_opt);
  app.add_option("--fix", a.fix, "fixed parameters, e.g. sigma=0.2 or sigma.1=0.1,beta=0.9");
  app.add_option("--prior", a.prior, "prior overrides, e.g. mu_0=uniform:0.5:3,sigma=halfnormal:0.5 (defaults below)");
  app.add_option("--per-condition", a.per_condition, "parameters with one value per condition (NAME.1, NAME.2, ...), e.g. "
                 "mu_0,sigma_0: any of mu_0, sigma_0, sigma, sigma_r and the cost's parameters; none: every parameter shared")
      ->capture_default_str();
  app.add_flag("--hierarchical", a.hierarchical, "one joint fit of all subjects (needs a subject column): each pooled parameter "
               "drawn from a population whose median and sd are inferred with them; with conditions (a blocked cohort) a "
               "parameter of --per-condition has one population per condition; takes --motor, --offset, --lapse and "
               "--perception gaussian or vonmises (docs/hierarchical.md)");
  app.add_option("--pooled", a.pooled, "with --hierarchical: the parameters drawn from the population, e.g. "
                                    "mu_0,sigma_0 (default: every free parameter); the others are shared by all subjects");
  app.add_option("--parameterisation", a.parameterisation, "with --hierarchical: the sampling coordinates, "
                                 "auto (aligned; under --perception vonmises centred or noncentred, chosen from the data), "
                                 "aligned (logit w and the intercept centred, the sigma/sigma_0 ridge non-centred), "
                                 "centred-mu0 (aligned with log mu_0 itself centred), centred (von Mises: each subject's "
                                 "mu_0 its own angle) or noncentred")->capture_default_str();
  app.add_option("--population", a.population, "with --hierarchical: population priors NAME=LOC:SCALE:SD_SCALE, "
                                 "mean ~ Normal(LOC, SCALE) on the log (logit; under --perception gaussian for mu_0 and "
                                 "offset their own) scale, sd ~ HalfNormal(SD_SCALE); under --perception vonmises mu_0's "
                                 "mean angle ~ VonMises(LOC, 1/SCALE^2), SCALE inf (the default) uniform on the circle");
  app.add_option("--mu0-coordinates", a.mu0_coordinates, "with --perception vonmises (not --hierarchical, see "
                 "--parameterisation): how mu_0 is sampled, angle (the angle itself, kept in (-pi, pi] by the sampler, its warm-up "
                 "variance measured on the circle) or vector (the direction of a 2-D vector; an alternative where trees on "
                 "the angle still reach --max-depth)")
      ->capture_default_str();
  app.add_option("--latent", a.latent, "marginal (integrate the measurement out) or sampled")->capture_default_str();
  bactor::cli::add_motor_option(app, a.motor, "motor noise: lognormal, generalized (adds sigma_a) or gaussian (sigma_a instead of "
                 "sigma_r); a network must have been trained for the same (docs/families.md); vonmises (sigma_r) with "
                 "--perception vonmises, where it is the default");
  app.add_flag("--offset", a.offset, "an uncompensated response offset r = offset + r_motor (parameter offset, data units, "
               "prior halfnormal:0.25 S)");
  bactor::cli::add_perception_option(app, a.perception, "how the actor perceives the stimulus; a network must have been "
                                     "trained for the same (gaussian: --closed-form for costs of r - s and "
                                     "QuadraticCostQuadraticEffort, --exact-action for any cost)");
  app.add_flag("--lapse", a.lapse, "lapse mixture: with probability lapse (a parameter, prior beta:2:50) a response comes from a "
               "contaminant, log r uniform over the stimuli's range widened by a factor e at each end (further, to e^0.5 beyond, "
               "where a response lies outside it; or --lapse-range); with --motor gaussian r itself is uniform over that range; "
               "with --hierarchical a lapse probability per subject, pooled on the logit scale, and each subject's own range");
  app.add_option("--lapse-range", a.lapse_range, "the contaminant's range of r, LO:HI (data units; it must hold every response; "
                 "with --hierarchical every subject's)");
  app.add_flag("--predict", a.predict, "write posterior-predictive responses r_rep.i");
  app.add_flag("--no-log-lik", a.no_log_lik, "do not write the per-trial log-likelihoods log_lik.i");
  app.add_option("--chains", a.ns.chains, "chains")->capture_default_str();
  app.add_option("--warmup", a.ns.warmup, "warm-up iterations per chain")->capture_default_str();
  app.add_option("--samples", a.ns.samples, "draws per chain")->capture_default_str();
  app.add_option("--thin", a.ns.thin, "keep every n-th draw")->capture_default_str();
  app.add_option("--seed", a.ns.seed, "random seed (chain c uses stream c)")->capture_default_str();
  app.add_option("--threads", a.ns.threads, "threads (0: all)")->capture_default_str();
  app.add_option("--delta", a.ns.delta, "target acceptance statistic")->capture_default_str();
  app.add_option("--max-depth", a.ns.max_depth, "maximum tree depth")->capture_default_str();
  app.add_option("--init-radius", a.ns.init_radius, "initial values uniform(-R, R) on the unconstrained scale (0: every "
                 "chain starts at its centre, e.g. sigma = 1, a uniform prior's midpoint)")->capture_default_str();
  app.add_option("--metric", a.metric, "diag or dense (inverse metric adapted in warm-up)")->capture_default_str();
  app.add_option("--quadrature-nodes", a.nodes, "Gauss-Hermite nodes (softplus-head network, marginal latent); -1: chosen by sigma")->capture_default_str();
  app.add_option("--scale", a.scale, "the unit S the fit works in: auto (the geometric mean of the stimuli), 1 (the data's own "
                 "units) or a positive number; mu_0's default prior and the cost parameters are in units of S")
      ->capture_default_str();
  app.add_option("--out", a.out, "output directory (chain-1.csv ..., summary.csv); a new or empty one, or see --overwrite")->required();
  app.add_flag("--overwrite", a.overwrite, "replace the fit in a non-empty --out: first remove the files bactor wrote there "
               "(draws, summaries, subjects.csv, check.csv), keeping any other file");
  app.add_option("--shard", a.shard_text, "K/N: fit only the subjects of shard K of N (subject id hashed, docs/cluster.md); "
                 "bactor merge joins the N outputs");
}

/// Usage errors found from the options alone, before anything is read or written.
void validate_infer_args(const CLI::App& app, InferArgs& a) {
  if (a.network.empty() && !a.closed_form && !a.exact_action)
    throw bactor::cli::UsageError("give --network FILE, --closed-form or --exact-action");
  if (a.ns.chains < 1 || a.ns.samples < 1 || a.ns.warmup < 0 || a.ns.thin < 1) throw bactor::cli::UsageError("--chains, --samples and --thin must be positive, --warmup >= 0");
  if (!(a.ns.delta > 0 && a.ns.delta < 1)) throw bactor::cli::UsageError("--delta must be in (0, 1)");
  // Absurd sizes fail here with a message, not with std::bad_alloc or hours of sampling.
  if (a.ns.chains > 1024) throw bactor::cli::UsageError("--chains: at most 1024 (got " + std::to_string(a.ns.chains) + ")");
  if (double(a.ns.chains) * (double(a.ns.samples) / a.ns.thin + (a.ns.save_warmup ? double(a.ns.warmup) / a.ns.thin : 0.0)) > 5e7)
    throw bactor::cli::UsageError("--chains x --samples / --thin: at most 50000000 draws are kept in memory");
  if (a.ns.max_depth < 1 || a.ns.max_depth > 30) throw bactor::cli::UsageError("--max-depth must be in 1..30");
  if (!(a.ns.init_radius >= 0 && a.ns.init_radius <= 100))
    throw bactor::cli::UsageError("--init-radius must be in [0, 100] (got " + std::to_string(a.ns.init_radius) + ")");
  if (a.ns.threads < 0) throw bactor::cli::UsageError("--threads must be >= 0 (0: all)");
  if (a.metric != "diag" && a.metric != "dense") throw bactor::cli::UsageError("--metric must be diag or dense (got '" + a.metric + "')");
  a.ns.dense_metric = a.metric == "dense";
  if (!a.hierarchical)
    for (const char* o : {"--pooled", "--parameterisation", "--population"})
      if (app.count(o) > 0) throw bactor::cli::UsageError(std::string(o) + " needs --hierarchical");
  std::tie(a.shard_k, a.shard_n) = parse_shard(a.shard_text);
#if BACTOR_MPI
  if (bactor::mpi::world_size() > 1 && !a.hierarchical)
    throw bactor::cli::UsageError("under mpirun only `infer --hierarchical` runs (its subjects are split over the ranks)");
#endif
  if (a.hierarchical) {
    if (a.shard_n > 0) throw bactor::cli::UsageError("--shard cannot be combined with --hierarchical (one joint posterior of all subjects)");
    if (a.latent != "marginal") throw bactor::cli::UsageError("--hierarchical integrates the measurement out: --latent marginal only");
    if (a.predict) throw bactor::cli::UsageError("--predict cannot be combined with --hierarchical (not supported yet)");
    if (a.scale != "auto") throw bactor::cli::UsageError("--scale cannot be combined with --hierarchical (a hierarchical fit works in the data's units; docs/hierarchical.md)");
  }
  if (a.hierarchical && app.count("--mu0-coordinates") > 0)
    throw bactor::cli::UsageError("--mu0-coordinates does not apply with --hierarchical: a cohort's mu_0 angles take "
                                  "--parameterisation (its population mean is a 2-D vector already)");
  a.per_condition_given = app.count("--per-condition") > 0;
  a.pooled_given = app.count("--pooled") > 0;
}

/// A von Mises fit records the coordinates of its mu_0 (`mu0_coordinates = angle|vector`, after
/// `perception`); the other perception models have none to record.
void add_mu0_setting(std::vector<std::pair<std::string, std::string>>& settings, const bactor::InferenceSpec& spec) {
  if (spec.perception != bactor::PerceptionModel::vonmises) return;
  const auto at = std::find_if(settings.begin(), settings.end(), [](const auto& kv) { return kv.first == "perception"; });
  settings.insert(at == settings.end() ? at : at + 1, {"mu0_coordinates", to_string(spec.mu0_coordinates)});
}

/// The inference settings (and the network, loaded) from the options.
bactor::InferenceSpec build_spec(const InferArgs& a) {
  bactor::InferenceSpec spec;
  spec.cost = &bactor::cli::resolve_cost(a.cost, a.cost_opts, a.network);
  spec.latent = bactor::parse_latent_mode(a.latent);
  spec.perception = bactor::cli::perception_option(a.perception);
  spec.motor = bactor::MotorSpec{bactor::cli::motor_option(a.motor, spec.perception), a.offset};
  spec.exact_action = a.exact_action;
  spec.mu0_coordinates = bactor::parse_mu0_coordinates(a.mu0_coordinates);
  if (spec.mu0_coordinates != bactor::Mu0Coordinates::angle && spec.perception != bactor::PerceptionModel::vonmises)
    throw bactor::cli::UsageError("--mu0-coordinates " + a.mu0_coordinates + " needs --perception vonmises (mu_0 an angle); "
                                  "under --perception " + a.perception + " mu_0 is sampled on its own scale");
  if (spec.mu0_coordinates == bactor::Mu0Coordinates::vector && !(a.ns.init_radius > 0))
    throw bactor::cli::UsageError("--mu0-coordinates vector needs --init-radius > 0: at 0 every chain starts mu_0's vector "
                                  "at the origin, where its direction is undefined");
  spec.predict = a.predict;
  spec.log_lik = !a.no_log_lik;
  if (a.nodes != -1 && (a.nodes < 1 || a.nodes > 200))
    throw std::invalid_argument("--quadrature-nodes: must be -1 (chosen by sigma) or in 1..200, got " +
                                std::to_string(a.nodes));
  spec.quadrature_nodes = a.nodes;
  if (a.scale != "auto") {
    spec.scale = bactor::cli::parse_number(a.scale, "--scale");
    if (!(spec.scale > 0)) throw bactor::cli::UsageError("--scale: must be auto or a positive number (got '" + a.scale + "')");
  }
  spec.per_condition = bactor::cli::parse_per_condition(a.per_condition);
  spec.lapse = a.lapse;
  if (!a.lapse_range.empty()) {
    if (!a.lapse) throw bactor::cli::UsageError("--lapse-range needs --lapse");
    if (spec.perception == bactor::PerceptionModel::vonmises)
      throw bactor::cli::UsageError("--lapse-range does not apply under --perception vonmises: a lapse is uniform on the "
                                    "whole circle");
    const bool any_sign = spec.perception == bactor::PerceptionModel::gaussian;  // r of any sign there
    const auto [lo, hi] = bactor::cli::parse_range(a.lapse_range, "--lapse-range", any_sign);
    if (!(lo > 0) && !any_sign) throw bactor::cli::UsageError("--lapse-range: LO must be positive, got '" + a.lapse_range + "'");
    spec.lapse_lo = lo;
    spec.lapse_hi = hi;
  }
  // (The fit checks --per-condition against its motor model's parameters, sigma_a and the offset
  // too: ActorModel's default priors; a cohort against the cost's: HierarchicalModel.)
  spec.fixed = bactor::cli::parse_assignments(a.fix, "--fix");
  for (const auto& [k, v] : bactor::cli::parse_string_assignments(a.prior, "--prior")) spec.priors[k] = bactor::parse_prior(v);
  if (!a.network.empty()) {
    spec.network = std::make_shared<const bactor::ActionNetwork>(bactor::ActionNetwork::load(a.network));
    const auto& meta = spec.network->metadata();
    if (meta.count("interrupted"))
      std::cerr << "WARNING: " << a.network << " is a partially trained network ("
                << meta.at("interrupted") << ")\n";
  }
  return spec;
}

/// Where the fit's action comes from, for the progress line: a network, the exact action, a
/// closed form, or a numerical shift of mu_post (costs of r - s under gaussian perception,
/// asymmetric or parameterised costs of the wrapped error under von Mises perception).
std::string action_text(const InferArgs& a, const bactor::InferenceSpec& spec) {
  if (spec.network) return "network " + a.network;
  if (a.exact_action) return "exact action";
  const bool shifted =
      (spec.perception == bactor::PerceptionModel::vonmises &&
       bactor::check_circular_cost(*spec.cost) == bactor::CircularAction::shifted) ||
      (spec.perception == bactor::PerceptionModel::gaussian &&
       bactor::detail::linear_action_of(*spec.cost) == bactor::detail::LinearAction::shift);
  return shifted ? "shifted action (a numerical solve of mu_post + d*)" : "closed form";
}

/// The coordinates a hierarchical fit uses, as printed and recorded: their name and, where
/// `auto` chose them under von Mises perception, "(auto, spread ratio R)" (docs/formats.md).
std::string parameterisation_setting(const bactor::HierarchicalSpec& hs, const bactor::HierarchicalModel& probe) {
  std::string text = to_string(probe.parameterisation());
  if (hs.parameterisation == bactor::HierParameterisation::automatic && hs.perception == bactor::PerceptionModel::vonmises) {
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, "%.3g", probe.angle_spread_ratio());
    text += std::string(" (auto, spread ratio ") + ratio + ")";
  }
  return text;
}

/// One joint hierarchical fit of every subject.
int run_hierarchical_fit(const InferArgs& a, const bactor::InferenceSpec& spec, const bactor::Dataset& data,
                         const bactor::ColumnMap& column_map) {
  bactor::HierarchicalSpec hs;
  hs.cost = spec.cost;
  hs.network = spec.network;
  if (spec.network) bactor::check_network_perception(*spec.network, spec.perception);
  hs.exact_action = spec.exact_action;
  hs.motor = spec.motor;
  hs.lapse = spec.lapse;
  hs.perception = spec.perception;
  hs.lapse_lo = spec.lapse_lo;
  hs.lapse_hi = spec.lapse_hi;
  hs.per_condition = spec.per_condition;
  hs.fixed = spec.fixed;
  hs.priors = spec.priors;
  hs.log_lik = spec.log_lik;
  hs.quadrature_nodes = spec.quadrature_nodes;
  hs.parameterisation = bactor::parse_hier_parameterisation(a.parameterisation);
  for (std::size_t start = 0; a.pooled_given;) {  // NAME,NAME,...
    const auto comma = a.pooled.find(',', start);
    const std::string name = a.pooled.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (name.empty() || !hs.pooled.insert(name).second)
      throw bactor::ArgumentError("pooled", "'" + a.pooled + "': expected distinct parameter names separated by commas");
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  for (const auto& [k, v] : bactor::cli::parse_string_assignments(a.population, "--population"))
    hs.population[k] = bactor::parse_population_prior(v);
  hs.threads = a.ns.threads;  // the gradient's too (0: all; the results are bitwise the same for any)
#if BACTOR_MPI
  // Under mpirun: the subjects over the ranks (docs/cluster.md); rank 0 samples and writes, the
  // others compute their subjects' pieces of each gradient until rank 0 is done.
  std::shared_ptr<bactor::mpi::Exchange> exchange;
  if (bactor::mpi::world_size() > 1) hs.exchange = exchange = std::make_shared<bactor::mpi::Exchange>();
  if (exchange && !exchange->leader()) {
    const bactor::HierarchicalModel worker(data, hs);
    exchange->serve();
    return 0;
  }
#endif
  const bactor::HierarchicalModel probe(data, hs);  // throws on a bad spec
  if (a.per_condition_given && data.conditions() == 1 && !spec.per_condition.empty())
    std::cerr << "note: " << a.data_path << " has one condition, so --per-condition " << a.per_condition << " changes nothing\n";
  std::string ranks;
#if BACTOR_MPI
  if (exchange) ranks = ", subjects over " + std::to_string(bactor::mpi::world_size()) + " MPI ranks";
#endif
  // Under the aligned default, say where log mu_0 is non-centred (the trials do not tell the
  // subjects' mu_0 apart, docs/hierarchical.md); under von Mises perception what `auto` chose.
  std::string mu0_nc;
  const std::string coords = parameterisation_setting(hs, probe);
  if (probe.parameterisation() == bactor::HierParameterisation::aligned)
    for (const auto& [name, coord] : probe.coordinates())
      if (name.rfind("mu_0", 0) == 0 && coord == "noncentred") mu0_nc += (mu0_nc.empty() ? "" : ", ") + name;
  if (!mu0_nc.empty()) mu0_nc = " (" + mu0_nc + " non-centred)";
  std::cerr << "hierarchical inference: " << probe.subject_ids().size() << " subjects, " << data.size() << " trials"
            << (data.conditions() > 1 ? " in " + std::to_string(data.conditions()) + " conditions" : std::string()) << ", cost "
            << a.cost << ", " << action_text(a, spec)
            << (hs.lapse ? ", lapses" : "") << ", "
            << coords << " coordinates" << mu0_nc << (probe.fused() ? ", fused gradient" : "") << ranks << "\n";
  const auto lock = bactor::cli::prepare_fit_dir(a.out, "--out", a.overwrite);
  const auto run = bactor::cli::run_posterior(
      [&]() -> std::unique_ptr<bactor::Model> { return std::make_unique<bactor::HierarchicalModel>(data, hs); },
      probe.parameter_names(), a.ns, true);
#if BACTOR_MPI
  if (exchange) exchange->stop();
#endif
  std::string ids, pops, shared_priors;
  for (std::size_t j = 0; j < probe.subject_ids().size(); ++j)
    ids += (j ? "," : "") + std::to_string(j + 1) + "=" + probe.subject_ids()[j];
  for (const auto& [name, p] : probe.population_priors()) pops += (pops.empty() ? "" : ",") + name + "=" + bactor::to_string(p);
  for (const auto& [name, p] : probe.shared_priors())  // as the model takes them (data units)
    shared_priors += (shared_priors.empty() ? "" : ",") + name + "=" + bactor::to_string(p);
  std::string pooled_list;
  for (const auto& name : probe.pooled_names()) pooled_list += (pooled_list.empty() ? "" : ",") + name;
  std::vector<std::pair<std::string, std::string>> config{{"data_file", a.data_path}, {"columns", bactor::to_string(column_map)}, {"cost", a.cost},
                        {"action", spec.network ? "network" : (a.exact_action ? "exact" : "closed-form")}, {"network", a.network}, {"latent", a.latent},
                        {"motor", bactor::cli::motor_setting(spec.motor, spec.perception)}, {"perception", to_string(spec.perception)}, {"hierarchical", "true"},
                        {"parameterisation", coords},
                        {"pooled", pooled_list}, {"per_condition", bactor::cli::join_per_condition(spec.per_condition)},
                        {"population", pops}, {"stimulus_scale", bactor::cli::number(probe.stimulus_scale())},
                        {"fixed", bactor::cli::join_assignments(spec.fixed)}, {"priors", shared_priors},
                        {"trials", std::to_string(data.size())}, {"subjects", ids},
                        {"log_lik", spec.log_lik ? "true" : "false"}, {"predict", "false"}, {"conditions", condition_labels(data)},
                        {"lapse", hs.lapse ? "true" : "false"}};
  if (hs.lapse) {  // each subject's contaminant range (by subject number, as `subjects`), and the given one if any
    std::string ranges;
    const auto lr = probe.lapse_ranges();
    for (std::size_t j = 0; j < lr.size(); ++j)
      ranges += (j ? "," : "") + std::to_string(j + 1) + "=" + bactor::cli::number(lr[j].first) + ":" + bactor::cli::number(lr[j].second);
    config.emplace_back("lapse_range", a.lapse_range.empty() ? "per subject (lapse_ranges)" : a.lapse_range);
    config.emplace_back("lapse_ranges", ranges);
  }
  for (auto& kv : bactor::cli::formula_settings(*spec.cost)) config.push_back(std::move(kv));
  const bool ok = write_run(a.out, run, a.ns, config, "bactor_hierarchical_" + a.cost + "_" + to_string(probe.parameterisation()));
  return ok ? 0 : bactor::cli::exit_failure;
}

/// One fit per subject (or one fit of the whole file), each in its folder of --out.
int run_separate_fits(const InferArgs& a, const bactor::InferenceSpec& spec, const bactor::Dataset& data,
                      const bactor::ColumnMap& column_map) {
  const auto subjects = bactor::split_subjects(data);
  for (const auto& [id, d] : subjects) {
    bactor::ActorModel probe(d, spec);  // throws on bad spec (--per-condition's names too)
    bactor::cli::check_offset_start(d, spec, a.ns);
  }
  // --per-condition given for data with one condition: every parameter is one parameter anyway.
  if (a.per_condition_given && data.conditions() == 1 && !spec.per_condition.empty())
    std::cerr << "note: " << a.data_path << " has one condition (no '" << column_map.cond
              << "' column, or one label), so --per-condition " << a.per_condition << " changes nothing\n";
  const auto lock = bactor::cli::prepare_fit_dir(a.out, "--out", a.overwrite);
  // With subjects: subjects.csv maps each id to its folder (names safe whatever the id,
  // chosen over all subjects of the file, so that every shard names them as one run does); a
  // row is appended after each subject, so it always lists exactly the folders on disk.
  std::vector<std::string> ids;
  for (const auto& [id, d] : subjects) ids.push_back(id);
  const auto folders = bactor::cli::subject_folders(ids);
  bactor::cli::SubjectMap map;
  if (a.shard_n > 0) map.settings.emplace_back("shard", std::to_string(a.shard_k) + "/" + std::to_string(a.shard_n));
  map.settings.emplace_back("complete", "0");
  const std::size_t complete_at = map.settings.size() - 1;
  map.settings.emplace_back("subjects_total", std::to_string(subjects.size()));
  for (auto& kv : std::vector<std::pair<std::string, std::string>>{
           {"data_file", a.data_path}, {"data_fnv1a64", file_fingerprint(a.data_path)}, {"columns", bactor::to_string(column_map)},
           {"cost", a.cost}, {"action", spec.network ? "network" : (a.exact_action ? "exact" : "closed-form")}, {"network", a.network},
           {"network_fnv1a64", a.network.empty() ? "" : file_fingerprint(a.network)}, {"latent", a.latent},
           {"motor", bactor::cli::motor_setting(spec.motor, spec.perception)}, {"perception", to_string(spec.perception)},
           {"per_condition", bactor::cli::join_per_condition(spec.per_condition)},
           {"fixed", bactor::cli::join_assignments(spec.fixed)}, {"prior", a.prior}, {"scale", a.scale},
           {"lapse", a.lapse ? "true" : "false"}, {"lapse_range", a.lapse_range}, {"log_lik", spec.log_lik ? "true" : "false"},
           {"predict", a.predict ? "true" : "false"}, {"quadrature_nodes", std::to_string(a.nodes)},
           {"chains", std::to_string(a.ns.chains)}, {"warmup", std::to_string(a.ns.warmup)},
           {"samples", std::to_string(a.ns.samples)}, {"thin", std::to_string(a.ns.thin)}, {"seed", std::to_string(a.ns.seed)},
           {"delta", fmt_g(a.ns.delta)}, {"max_depth", std::to_string(a.ns.max_depth)}, {"init_radius", fmt_g(a.ns.init_radius)},
           {"metric", a.metric}, {"bactor_version", bactor::version()}})
    map.settings.push_back(std::move(kv));
  add_mu0_setting(map.settings, spec);
  if (data.has_subjects()) {
    bactor::cli::write_subject_map(a.out, map);
    if (a.shard_n > 0) {
      std::size_t mine = 0;
      for (const auto& id : ids) mine += bactor::cli::subject_shard(id, a.shard_n) == a.shard_k;
      std::cerr << "shard " << a.shard_k << "/" << a.shard_n << ": " << mine << " of the " << ids.size()
                << " subjects (by a hash of the id, docs/cluster.md)\n";
    }
  }
  for (std::size_t j = 0; j < subjects.size(); ++j) {
    const auto& [id, d] = subjects[j];
    if (a.shard_n > 0 && bactor::cli::subject_shard(id, a.shard_n) != a.shard_k) continue;
    const std::string dir = id.empty() ? a.out : a.out + "/" + folders[j];
    std::filesystem::create_directories(dir);
    if (!id.empty()) std::cout << "== subject " << id << " (" << d.size() << " trials) ==\n";
    std::cerr << "inference: " << d.size() << " trials, " << d.conditions() << " condition(s), cost " << a.cost << ", "
              << action_text(a, spec) << ", latent " << a.latent << (spec.motor.plain() ? "" : ", motor noise " + spec.motor.name())
              << (spec.perception == bactor::PerceptionModel::lognormal ? "" : ", " + a.perception + " perception") << "\n";
    const bactor::ActorModel model(d, spec);
    if (spec.perception == bactor::PerceptionModel::vonmises)
      std::cerr << "units: radians (angles in (-pi, pi]; mu_0 an angle, its draws wrapped around its prior's location)\n";
    else
      std::cerr << "units: S = " << model.scale()
              << (spec.scale > 0                                            ? " (--scale)"
                  : spec.perception == bactor::PerceptionModel::gaussian ? " (the root mean square of the stimuli)"
                                                                         : " (the geometric mean of the stimuli)")
              << "; mu_0 in the data's units, cost parameters in units of S\n";
    const auto run = bactor::cli::run_posterior(d, spec, a.ns, true);
    if (spec.network) report_training_region(model, run);
    std::vector<std::pair<std::string, std::string>> config{
        {"data_file", a.data_path}, {"columns", bactor::to_string(column_map)}, {"cost", a.cost},
        {"action", spec.network ? "network" : (a.exact_action ? "exact" : "closed-form")}, {"network", a.network}, {"latent", a.latent},
        {"motor", bactor::cli::motor_setting(spec.motor, spec.perception)}, {"perception", to_string(spec.perception)},
        {"per_condition", bactor::cli::join_per_condition(spec.per_condition)}, {"fixed", bactor::cli::join_assignments(spec.fixed)},
        {"priors", priors_used(model)}, {"scale", fmt_g(model.scale())}, {"trials", std::to_string(d.size())},
        {"log_lik", spec.log_lik ? "true" : "false"},
        {"predict", a.predict ? "true" : "false"}, {"lapse", a.lapse ? "true" : "false"}};
    add_mu0_setting(config, spec);
    for (auto& kv : bactor::cli::formula_settings(*spec.cost)) config.push_back(std::move(kv));
    if (a.lapse) {  // the contaminant's range used (from this subject's data unless --lapse-range)
      const auto [lo, hi] = bactor::lapse_range(d, spec);
      config.emplace_back("lapse_range", bactor::cli::number(lo) + ":" + bactor::cli::number(hi));
    }
    if (!id.empty()) config.emplace_back("subject", id);
    config.emplace_back("conditions", condition_labels(d));
    const bool ok = write_run(dir, run, a.ns, std::move(config), "bactor_actor_" + a.cost + "_" + a.latent);
    if (!id.empty() && !run.chains.empty()) {
      map.subjects.push_back({j + 1, id, folders[j]});
      bactor::cli::append_subject(a.out, map.subjects.back());
    }
    if (!ok) return bactor::cli::exit_failure;
  }
  if (data.has_subjects()) {
    map.settings[complete_at].second = "1";
    bactor::cli::write_subject_map(a.out, map);
  }
  return 0;
}

int run_infer(int argc, char** argv) {
  CLI::App app{"Posterior of the actor's parameters given trials (s, r) in a CSV file"};
  InferArgs a;
  add_infer_options(app, a);
  app.footer(default_priors_help());
  if (!bactor::cli::parse(app, argc, argv)) return 0;
  validate_infer_args(app, a);
  const bactor::ColumnMap column_map = bactor::cli::columns_option(a.columns);
  const bactor::InferenceSpec spec = build_spec(a);
  a.cost = spec.cost->name;
  const bactor::Dataset data = bactor::read_dataset(a.data_path, column_map, bactor::value_domain(spec));
  if (a.shard_n > 0 && !data.has_subjects())
    throw bactor::cli::UsageError("--shard: " + a.data_path + " has no subject column ('" + column_map.subject +
                                  "'), so there is one fit to run; leave --shard out");
  bactor::cli::install_stop_handlers();
  return a.hierarchical ? run_hierarchical_fit(a, spec, data, column_map) : run_separate_fits(a, spec, data, column_map);
}

} // namespace

BACTOR_COMMAND("infer", "posterior of actor parameters given a data file (NUTS)", run_infer);
