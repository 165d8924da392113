// SPDX-License-Identifier: MIT
// bactor simulate: a synthetic data set from known actor parameters.
#include <algorithm>
#include "cli/command.hpp"
#include "cli/options.hpp"
#include "cli/out_dir.hpp"
#include <bactor/models/costs.hpp>
#include "cli/cost_options.hpp"
#include <bactor/models/data.hpp>
#include <bactor/models/hierarchical.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>

#include <fstream>
#include <iostream>
#include <memory>
#include <numbers>
#include <sstream>

namespace {

/// A cohort in conditions: each subject's values of the --set parameters drawn as
/// simulate_cohort draws them (same streams, so the subjects are those of the same command
/// without --conditions), the condition-varying values the same for every subject, and each
/// subject's trials simulated in every condition (seed + 1 + j, as simulate_cohort).
bactor::Cohort simulate_blocked_cohort(const bactor::CohortSpec& spec) {
  for (const auto& [name, sd] : spec.spread)
    if (spec.base.condition_values.count(name) || (name == "sigma" && !spec.base.condition_sigmas.empty()))
      throw bactor::cli::UsageError("--spread: '" + name + "' varies by condition (--conditions); it is the same for every subject");
  // The subjects' values: simulate_cohort on one condition whose varying parameters take their
  // first condition's value (those values are not spread, so they come back unchanged).
  bactor::CohortSpec one = spec;
  one.base.condition_values.clear();
  one.base.condition_sigmas.clear();
  one.base.trials = 1;
  for (const auto& [name, values] : spec.base.condition_values) one.base.values[name] = values.at(0);
  if (!spec.base.condition_sigmas.empty()) one.base.values["sigma"] = spec.base.condition_sigmas.at(0);
  const bactor::Cohort drawn = bactor::simulate_cohort(one);
  bactor::Cohort out;
  out.data.source = "simulated";
  for (std::size_t j = 0; j < spec.subjects; ++j) {
    bactor::SimulationSpec sub = spec.base;
    sub.seed = spec.base.seed + 1 + j;
    for (auto& [name, v] : sub.values) v = drawn.truth.at(j).at(name);
    if (const auto l = drawn.truth.at(j).find("lapse"); l != drawn.truth.at(j).end()) sub.lapse = l->second;  // (--spread lapse=)
    const bactor::Dataset d = bactor::simulate(sub);
    if (out.data.cond_labels.empty()) out.data.cond_labels = d.cond_labels;
    std::map<std::string, double> truth = sub.values;
    if (sub.lapse > 0) truth["lapse"] = sub.lapse;
    for (const auto& [name, values] : spec.base.condition_values)
      for (std::size_t k = 0; k < values.size(); ++k) truth[name + "." + std::to_string(k + 1)] = values[k];
    for (std::size_t k = 0; k < spec.base.condition_sigmas.size(); ++k) truth["sigma." + std::to_string(k + 1)] = spec.base.condition_sigmas[k];
    out.truth.push_back(std::move(truth));
    const std::string id = std::to_string(j + 1);
    for (std::size_t i = 0; i < d.size(); ++i) {
      out.data.s.push_back(d.s[i]);
      out.data.r.push_back(d.r[i]);
      out.data.cond.push_back(d.cond[i]);
      out.data.subject.push_back(id);
      out.data.line.push_back(out.data.s.size() + 1);
    }
  }
  return out;
}

int run_simulate(int argc, char** argv) {
  CLI::App app{"Simulate trials (s, r) of a Bayesian actor with known parameters"};
  std::string cost, set, stimuli = "0.1:5", conditions, network, out, spread, truth;
  std::size_t trials = 60, subjects = 0;
  std::uint64_t seed = 1;
  double lapse = 0;
  app.add_option("--cost", cost, "cost family (bactor costs lists them), or give --formula");
  bactor::cli::CostOptions cost_opts;
  bactor::cli::add_formula_options(app, cost_opts);
  app.add_option("--set", set, "true values, e.g. mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1[,beta=0.9] (leave out the parameters --conditions gives)")->required();
  app.add_option("--trials", trials, "trials per condition")->capture_default_str();
  app.add_option("--stimuli", stimuli, "stimulus range LO:HI, s ~ U(LO, HI) (--perception vonmises: angles, default -pi:pi)")->capture_default_str();
  app.add_option("--conditions", conditions, "parameters that vary by condition, one value per condition, e.g. sigma=0.1,0.2 or "
                 "\"mu_0=1,2,4;sigma_0=0.1,0.15,0.2\" (NAME=LIST separated by ';', every LIST the same length; a bare LIST is sigma's; "
                 "same stimuli in every condition; leave these parameters out of --set)");
  app.add_option("--subjects", subjects, "a cohort of this many subjects (subject column): each subject's values drawn "
                 "around --set's (the population medians) with --spread's sds; with --conditions every subject in every "
                 "condition (the condition-varying values the same for all)");
  app.add_option("--spread", spread, "with --subjects: sd of each parameter's log (logit for a bounded cost parameter, and for "
                 "lapse with --lapse; mu_0 itself, in radians and wrapped, under --perception vonmises) across subjects, e.g. "
                 "sigma=0.3,mu_0=0.2 (missing: the same value for every subject)");
  app.add_option("--truth", truth, "with --subjects: write each subject's true values to this CSV");
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--lapse", lapse, "lapse probability: each trial's response comes with this probability from the contaminant "
                 "log r ~ U(log min s - 1, log max s + 1) of the simulated stimuli, the range infer --lapse uses by default "
                 "(with --motor gaussian r ~ U over that range; the other trials as without lapses)")
      ->capture_default_str();
  app.add_option("--network", network, "use this trained network's action instead of the closed form / numerical optimum");
  std::string motor = "lognormal";
  bool offset = false;
  bactor::cli::add_motor_option(app, motor,
                 "motor noise: lognormal (sigma_r), generalized (sigma_r and sigma_a) or gaussian (sigma_a; responses "
                 "may come out <= 0); sigma_a in the stimuli's units, given in --set; vonmises (sigma_r) with --perception vonmises, "
                 "where it is the default");
  app.add_flag("--offset", offset, "add an uncompensated response offset r = offset + r_motor (give offset=VALUE > 0 in --set)");
  std::string perception = "lognormal";
  bactor::cli::add_perception_option(app, perception, "how the actor perceives the stimulus");
  app.add_option("--out", out, "output CSV (columns [cond,]s,r)")->required();
  if (!bactor::cli::parse(app, argc, argv)) return 0;
  bactor::cli::check_output_file(out, "--out");
  if (!truth.empty()) bactor::cli::check_output_file(truth, "--truth");

  bactor::SimulationSpec spec;
  spec.perception = bactor::cli::perception_option(perception);
  spec.motor = bactor::MotorSpec{bactor::cli::motor_option(motor, spec.perception), offset};
  spec.cost = &bactor::cli::resolve_cost(cost, cost_opts, network);
  cost = spec.cost->name;
  spec.values = bactor::cli::parse_assignments(set, "--set");
  std::size_t n_cond = 1;
  if (!conditions.empty()) {
    // "NAME=LIST;NAME=LIST..." (a bare LIST is sigma's, as before).
    const auto set_text = bactor::cli::parse_string_assignments(set, "--set");
    std::string first_name;
    std::size_t start = 0;
    for (;;) {
      const auto semi = conditions.find(';', start);
      std::string item = conditions.substr(start, semi == std::string::npos ? std::string::npos : semi - start);
      std::string name = "sigma", list = item;
      const auto eq = item.find('=');
      if (eq != std::string::npos) {
        name = item.substr(0, eq);
        list = item.substr(eq + 1);
      }
      if (name.empty()) throw bactor::cli::UsageError("--conditions: '" + item + "' has no parameter name (NAME=LIST)");
      if (spec.condition_values.count(name))
        throw bactor::cli::UsageError("--conditions: '" + name + "' given twice");
      const auto names = bactor::theta_names(*spec.cost, spec.motor);
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        std::string known;
        for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
        throw bactor::cli::UsageError("--conditions: unknown parameter '" + name + "' for cost " + cost + " (known: " + known + ")");
      }
      auto values = bactor::cli::parse_number_list(list, "--conditions");
      if (!first_name.empty() && values.size() != n_cond)
        throw bactor::cli::UsageError("--conditions: " + name + " has " + std::to_string(values.size()) + " values, " + first_name +
                                      " " + std::to_string(n_cond) + " (every parameter needs one value per condition)");
      if (first_name.empty()) first_name = name, n_cond = values.size();
      if (spec.values.count(name))
        throw bactor::cli::UsageError("--set " + name + "=" + set_text.at(name) + " conflicts with --conditions " + name + "=" + list +
                                      " (" + name + " varies by condition: leave it out of --set)");
      spec.condition_values[name] = std::move(values);
      if (semi == std::string::npos) break;
      start = semi + 1;
    }
  }
  if (trials == 0) throw bactor::cli::UsageError("--trials must be positive");
  // Absurd sizes fail here with a message, not with std::bad_alloc after minutes.
  if (trials > 10000000 || trials * n_cond > 10000000)
    throw bactor::cli::UsageError("--trials: at most 10000000 trials in all (got " + std::to_string(trials) + " per condition)");
  spec.trials = trials;
  if (spec.perception == bactor::PerceptionModel::vonmises) {  // angles: s ~ U(LO, HI) within [-pi, pi], default the circle
    std::string range = app.count("--stimuli") ? stimuli : "-3.141592653589793:3.141592653589793";
    std::replace(range.begin(), range.end(), ':', ',');  // LO:HI, either may be negative
    const auto parts = bactor::cli::parse_number_list(range, "--stimuli");
    if (parts.size() != 2 || !(parts[0] >= -std::numbers::pi && parts[0] < parts[1] && parts[1] <= std::numbers::pi))
      throw bactor::cli::UsageError("--stimuli: under --perception vonmises give angles LO:HI in radians, -pi <= LO < HI <= pi");
    spec.s_lo = parts[0];
    spec.s_hi = parts[1];
  } else {
    const bool linear = spec.perception == bactor::PerceptionModel::gaussian;  // stimuli of any sign
    const auto [lo, hi] = bactor::cli::parse_range(stimuli, "--stimuli", linear);
    if (!(lo > 0) && !linear) throw bactor::cli::UsageError("--stimuli: LO must be positive");
    spec.s_lo = lo;
    spec.s_hi = hi;
  }
  spec.seed = seed;
  if (!(lapse >= 0 && lapse < 1)) {
    std::ostringstream os;
    os << "--lapse: the probability must be in [0, 1), got " << lapse;
    throw bactor::cli::UsageError(os.str());
  }
  spec.lapse = lapse;
  if (!network.empty()) spec.network = std::make_shared<const bactor::ActionNetwork>(bactor::ActionNetwork::load(network));
  if (subjects == 0 && (!spread.empty() || !truth.empty())) throw bactor::cli::UsageError("--spread and --truth need --subjects");
  if (subjects > 0) {
    if (subjects > 100000 || trials * n_cond * subjects > 10000000)
      throw bactor::cli::UsageError("--subjects: at most 10000000 trials in all");
    bactor::CohortSpec cs;
    cs.base = spec;
    cs.subjects = subjects;
    cs.spread = bactor::cli::parse_assignments(spread, "--spread");
    bactor::Cohort c;
    if (n_cond == 1) {
      c = bactor::simulate_cohort(cs);
    } else {
      c = simulate_blocked_cohort(cs);
    }
    bactor::write_dataset(out, c.data);
    if (!truth.empty()) {
      std::ofstream t(truth);
      t.precision(17);
      t << "subject";
      for (const auto& [name, v] : c.truth.at(0)) t << "," << name;
      t << "\n";
      for (std::size_t j = 0; j < c.truth.size(); ++j) {
        t << j + 1;
        for (const auto& [name, v] : c.truth[j]) t << "," << v;
        t << "\n";
      }
      if (!t) throw std::invalid_argument(truth + ": cannot write");
    }
    std::cerr << "wrote " << c.data.size() << " trials of " << subjects << " subjects"
              << (n_cond > 1 ? " in " + std::to_string(n_cond) + " conditions" : std::string()) << " (action: "
              << bactor::simulation_action_source(spec)
              // The response family, as a single data set's line says it (not for today's default).
              << (spec.perception == bactor::PerceptionModel::vonmises ? ", motor noise vonmises"
                  : spec.motor.plain()                                 ? ""
                                                                       : ", motor noise " + spec.motor.name())
              << (spec.perception == bactor::PerceptionModel::lognormal ? "" : ", " + perception + " perception")
              << ", seed " << seed << ") to " << out << "\n";
    return 0;
  }
  std::vector<std::size_t> lapsed;
  const bactor::Dataset d = bactor::simulate(spec, &lapsed);
  bactor::write_dataset(out, d);
  std::cerr << "wrote " << d.size() << " trials (" << d.conditions() << " condition" << (d.conditions() > 1 ? "s" : "")
            << ", action: " << bactor::simulation_action_source(spec) << ", motor noise " << (spec.perception == bactor::PerceptionModel::vonmises ? "vonmises" : spec.motor.name())
            << (spec.perception == bactor::PerceptionModel::lognormal ? "" : ", " + perception + " perception") << ", seed " << seed;
  if (lapse > 0) std::cerr << ", " << lapsed.size() << " lapse" << (lapsed.size() == 1 ? "" : "s");
  std::cerr << ") to " << out << "\n";
  return 0;
}

} // namespace

BACTOR_COMMAND("simulate", "simulate a data set from known actor parameters", run_simulate);
