// SPDX-License-Identifier: MIT
// bactor study misspecification (cli/study_misspecification.hpp): simulate from each family,
// fit every family, compare by PSIS-LOO, and score the shared parameters.
#include "cli/study_misspecification.hpp"

#include "cli/command.hpp"
#include "cli/fit_dir.hpp"
#include "cli/options.hpp"
#include "cli/out_dir.hpp"
#include <bactor/engine/rng.hpp>
#include <bactor/engine/version.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/samplers/loo.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace bactor::cli {
namespace {

// ---- The families: one row each ------------------------------------------------------------

/// One family of the study: the response model, the perception model and the action source
/// (the cost's closed form, or a network trained for the family). A perception family is a row
/// with another `perception`; sim_spec() and fit_spec() are where the row becomes a model.
struct Family {
  std::string name;
  MotorSpec motor;
  PerceptionModel perception = PerceptionModel::lognormal;
  std::shared_ptr<const ActionNetwork> network;  // null: the closed form
};

/// Every family uses the quadratic cost, whose optimal action has a closed form under
/// log-normal and gaussian motor noise (± offset) and under gaussian perception with gaussian
/// motor noise (`linear`: a = mu_post, r | s normal); the generalized family needs a network.
constexpr const char* study_cost = "QuadraticCost";

std::vector<Family> study_families(const std::shared_ptr<const ActionNetwork>& generalized) {
  constexpr auto log_space = PerceptionModel::lognormal;
  std::vector<Family> f = {{"lognormal", {MotorModel::lognormal, false}, log_space, nullptr},
                           {"lognormal+offset", {MotorModel::lognormal, true}, log_space, nullptr},
                           {"gaussian", {MotorModel::gaussian, false}, log_space, nullptr},
                           {"gaussian+offset", {MotorModel::gaussian, true}, log_space, nullptr},
                           {"linear", {MotorModel::gaussian, false}, PerceptionModel::gaussian, nullptr}};
  if (generalized) f.push_back({"generalized", {MotorModel::generalized, false}, log_space, generalized});
  return f;
}

/// The true values are drawn uniformly from these ranges (data units for mu_0, sigma_a and the
/// offset, and for sigma and sigma_0 under gaussian perception, log units otherwise; the stimuli
/// are s ~ U(stimulus_lo, stimulus_hi)): moderate values, well inside the default priors. A
/// family draws the parameters it has.
struct TruthRange {
  const char* name;
  double lo, hi;
};
constexpr TruthRange truth_ranges[] = {{"sigma", 0.1, 0.25},   {"sigma_0", 0.1, 0.3}, {"mu_0", 1.0, 2.5},
                                       {"sigma_r", 0.05, 0.15}, {"sigma_a", 0.05, 0.2}, {"offset", 0.1, 0.3}};
constexpr double stimulus_lo = 0.5, stimulus_hi = 3.0;
constexpr int max_redraws = 1000;

/// The parameter names of a family (theta order; the gaussian model has no sigma_r).
std::vector<std::string> family_params(const Family& f) {
  auto names = theta_names(find_cost(study_cost), f.motor);
  if (!f.motor.has_sigma_r()) names.erase(std::find(names.begin(), names.end(), "sigma_r"));
  return names;
}

std::map<std::string, double> draw_truth(const Family& f, Rng& rng) {
  std::map<std::string, double> truth;
  for (const auto& name : family_params(f)) {
    const auto* r = std::find_if(std::begin(truth_ranges), std::end(truth_ranges),
                                 [&](const TruthRange& t) { return name == t.name; });
    if (r == std::end(truth_ranges)) throw std::logic_error("misspecification study: no range for '" + name + "'");
    truth[name] = rng.uniform(r->lo, r->hi);
  }
  return truth;
}

SimulationSpec sim_spec(const Family& f, const std::map<std::string, double>& truth, std::size_t trials,
                        std::uint64_t seed) {
  SimulationSpec sim;
  sim.cost = &find_cost(study_cost);
  sim.motor = f.motor;
  sim.perception = f.perception;
  sim.values = truth;
  sim.trials = trials;
  sim.s_lo = stimulus_lo;
  sim.s_hi = stimulus_hi;
  sim.seed = seed;
  sim.network = f.network;
  return sim;
}

/// sigma is fixed at its true value in every fit (as in the reference study: with one noise
/// level sigma and sigma_0 trade off); everything else has the default priors.
InferenceSpec fit_spec(const Family& f, double sigma) {
  InferenceSpec spec;
  spec.cost = &find_cost(study_cost);
  spec.motor = f.motor;
  spec.perception = f.perception;
  spec.network = f.network;
  spec.fixed["sigma"] = sigma;
  spec.log_lik = true;
  return spec;
}

// ---- One data set and its fits ----------------------------------------------------------------

/// The value sigma is fixed at when family `fit` is fitted to data of family `gen`: the truth,
/// carried into the fitted perception model's units where they differ (the measurement noise at
/// the stimuli's geometric mean G: log-normal sigma is a CV, gaussian sigma = CV x G).
double fixed_sigma(const Family& gen, const Family& fit, double sigma, const Dataset& data) {
  if (gen.perception == fit.perception) return sigma;
  const double g = geometric_mean_stimulus(data);
  return fit.perception == PerceptionModel::gaussian ? sigma * g : sigma / g;
}

/// Whether a parameter means the same in the generating and the fitted family (its bias can be
/// scored): sigma_0 is a log-scale spread under log-normal perception, in data units under gaussian.
bool comparable(const std::string& name, const Family& gen, const Family& fit) {
  return has_data_units(name, gen.perception) == has_data_units(name, fit.perception);
}

struct DataSet {
  std::size_t gen = 0, index = 0;
  std::map<std::string, double> truth;
  std::uint64_t sim_seed = 0;
  int redraws = 0;  // data sets drawn again because a response was <= 0
  Dataset data;
};

struct FitRecord {
  std::size_t gen = 0, index = 0, fit = 0;
  LooResult loo;
  std::vector<ParamSummary> params;  // the free parameters
  std::size_t divergences = 0, draws = 0;
  double max_rhat = 0, seconds = 0;
};

/// Data set `index` of family `gen`: its own random stream (seed, hash of the family's name), so
/// a family's data sets do not depend on which other rows the table holds. The log-normal
/// families cannot fit a response <= 0 (gaussian noise can give one): such data sets are drawn
/// again, and counted.
DataSet make_data_set(const std::vector<Family>& families, std::size_t gen, std::size_t index,
                      const MisspecificationOptions& o) {
  Rng rng(o.seed, fnv1a64(families[gen].name) + index);
  DataSet d;
  d.gen = gen;
  d.index = index;
  for (;; ++d.redraws) {
    if (d.redraws > max_redraws)
      throw std::runtime_error("misspecification study: family " + families[gen].name + " gave responses <= 0 in " +
                               std::to_string(max_redraws) + " data sets in a row");
    d.truth = draw_truth(families[gen], rng);
    d.sim_seed = rng.next_u64() >> 1;
    d.data = simulate(sim_spec(families[gen], d.truth, o.trials, d.sim_seed));
    if (std::all_of(d.data.r.begin(), d.data.r.end(), [](double r) { return r > 0; })) break;
  }
  d.data.source = "simulated:" + families[gen].name + "-" + std::to_string(index + 1);
  return d;
}

/// Fits family `fit` to `d`; draws == 0 in the record when the run was interrupted.
FitRecord fit_data_set(const std::vector<Family>& families, const DataSet& d, std::size_t fit,
                       const MisspecificationOptions& o) {
  NutsSettings ns;
  ns.chains = o.chains;
  ns.warmup = o.warmup;
  ns.samples = o.samples;
  ns.threads = o.threads;
  ns.delta = 0.9;  // offsets and sigma_0 make narrow ridges; fewer divergences at a small cost
  ns.seed = Rng(o.seed, fnv1a64(families[d.gen].name + "|" + families[fit].name) + d.index).next_u64() >> 1;
  const double sigma = fixed_sigma(families[d.gen], families[fit], d.truth.at("sigma"), d.data);
  const PosteriorRun run = run_posterior(d.data, fit_spec(families[fit], sigma), ns, false);
  FitRecord r;
  r.gen = d.gen;
  r.index = d.index;
  r.fit = fit;
  if (!run.complete) return r;
  r.loo = psis_loo(indexed_columns(run.chains, "log_lik"), relative_efficiency(run.chains, run.params));
  r.params = run.summary.params;
  r.divergences = run.summary.divergences;
  r.draws = run.summary.draws;
  for (const auto& p : r.params) r.max_rhat = std::max(r.max_rhat, p.rhat);
  r.seconds = run.wall_seconds;
  return r;
}

// ---- Aggregates ---------------------------------------------------------------------------

/// (a) Of the fits to generating family g's data sets: how often family f has the best elpd, and
/// f's elpd minus the generating family's (mean over data sets, and the mean of the pointwise se).
struct Preference {
  int wins = 0, sets = 0;
  double mean_diff = 0, sd_diff = 0, mean_dse = 0;
};

/// (b) A parameter shared by the generating and the fitted family: relative bias (posterior
/// mean / truth - 1, averaged) and how often the central 90% interval holds the truth.
struct ParamScore {
  int sets = 0, covered = 0;
  double mean_rel_bias = 0;
};

struct Results {
  std::vector<Family> families;
  std::vector<DataSet> sets;
  std::vector<FitRecord> fits;  // per data set, one per family, in table order
  const FitRecord& at(std::size_t set, std::size_t fit) const { return fits[set * families.size() + fit]; }
};

std::vector<std::vector<Preference>> preferences(const Results& res) {
  const std::size_t F = res.families.size();
  std::vector<std::vector<Preference>> p(F, std::vector<Preference>(F));
  std::vector<std::vector<std::vector<double>>> diffs(F, std::vector<std::vector<double>>(F));
  for (std::size_t s = 0; s < res.sets.size(); ++s) {
    const std::size_t g = res.sets[s].gen;
    std::size_t best = 0;
    for (std::size_t f = 1; f < F; ++f)
      if (res.at(s, f).loo.elpd_loo > res.at(s, best).loo.elpd_loo) best = f;
    ++p[g][best].wins;
    for (std::size_t f = 0; f < F; ++f) {
      ++p[g][f].sets;
      diffs[g][f].push_back(res.at(s, f).loo.elpd_loo - res.at(s, g).loo.elpd_loo);
      if (f != g) p[g][f].mean_dse += elpd_difference(res.at(s, f).loo, res.at(s, g).loo).se;
    }
  }
  for (std::size_t g = 0; g < F; ++g)
    for (std::size_t f = 0; f < F; ++f) {
      auto& c = p[g][f];
      const auto& d = diffs[g][f];
      if (d.empty()) continue;
      for (double x : d) c.mean_diff += x / double(d.size());
      for (double x : d) c.sd_diff += (x - c.mean_diff) * (x - c.mean_diff);
      c.sd_diff = d.size() > 1 ? std::sqrt(c.sd_diff / double(d.size() - 1)) : 0.0;
      c.mean_dse /= double(d.size());
    }
  return p;
}

/// Scores by (generating family, fitted family, parameter).
using ScoreTable = std::map<std::tuple<std::size_t, std::size_t, std::string>, ParamScore>;

ScoreTable parameter_scores(const Results& res) {
  ScoreTable t;
  for (std::size_t s = 0; s < res.sets.size(); ++s)
    for (std::size_t f = 0; f < res.families.size(); ++f)
      for (const auto& p : res.at(s, f).params) {
        const auto it = res.sets[s].truth.find(p.name);
        if (it == res.sets[s].truth.end()) continue;  // not a parameter of the generating family
        if (!comparable(p.name, res.families[res.sets[s].gen], res.families[f])) continue;
        ParamScore& c = t[{res.sets[s].gen, f, p.name}];
        ++c.sets;
        c.covered += p.q5 <= it->second && it->second <= p.q95;
        c.mean_rel_bias += p.mean / it->second - 1;
      }
  for (auto& [key, c] : t) c.mean_rel_bias /= double(c.sets);
  return t;
}

/// The shared parameters in a fixed order (those some generating and fitted family have in common).
std::vector<std::string> scored_names(const ScoreTable& t) {
  std::vector<std::string> names;
  for (const auto& r : truth_ranges)
    for (const auto& [key, c] : t)
      if (std::get<2>(key) == r.name) {
        names.push_back(r.name);
        break;
      }
  return names;
}

// ---- Printing ----------------------------------------------------------------------------

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::size_t name_width(const std::vector<Family>& families) {
  std::size_t w = 10;
  for (const auto& f : families) w = std::max(w, f.name.size());
  return w;
}

void print_preferences(const Results& res, const std::vector<std::vector<Preference>>& p) {
  const std::size_t F = res.families.size();
  const int w = int(name_width(res.families));
  std::printf("\n(a) PSIS-LOO preference. Rows: the family that generated the data; columns: the family fitted.\n"
              "    Cell: how often the fitted family had the best elpd_loo, and its elpd_loo minus the generating\n"
              "    family's (mean over data sets; in brackets the mean standard error of that difference).\n");
  std::printf("%-*s", w + 2, "data \\ fit");
  for (const auto& f : res.families) std::printf(" %21s", f.name.c_str());
  std::printf("\n");
  for (std::size_t g = 0; g < F; ++g) {
    std::printf("%-*s", w + 2, res.families[g].name.c_str());
    for (std::size_t f = 0; f < F; ++f) {
      const auto& c = p[g][f];
      const std::string cell = std::to_string(c.wins) + "/" + std::to_string(c.sets) + " " +
                               (f == g ? std::string("0 (-)") : fmt("%+.1f", c.mean_diff) + " (" + fmt("%.1f", c.mean_dse) + ")");
      std::printf(" %21s", cell.c_str());
    }
    std::printf("\n");
  }
}

void print_scores(const Results& res, const ScoreTable& t) {
  const auto names = scored_names(t);
  const int w = int(name_width(res.families));
  std::printf("\n(b) Shared parameters: relative bias (posterior mean / truth - 1, mean over data sets) and the\n"
              "    share of data sets whose central 90%% interval holds the truth (sigma is fixed at its truth;\n"
              "    sigma_0 is not compared across perception models, whose units differ).\n");
  std::printf("%-*s %-*s", w, "data", w, "fit");
  for (const auto& n : names) std::printf(" %15s", n.c_str());
  std::printf("\n");
  for (std::size_t g = 0; g < res.families.size(); ++g)
    for (std::size_t f = 0; f < res.families.size(); ++f) {
      std::printf("%-*s %-*s", w, res.families[g].name.c_str(), w, res.families[f].name.c_str());
      for (const auto& n : names) {
        const auto it = t.find({g, f, n});
        const std::string cell = it == t.end() ? "-"
                                                : fmt("%+.0f%%", 100 * it->second.mean_rel_bias) + " " +
                                                      fmt("%.2f", double(it->second.covered) / it->second.sets);
        std::printf(" %15s", cell.c_str());
      }
      std::printf("\n");
    }
  std::printf("\n90%% coverage, right family vs wrong family (pooled over data sets):\n");
  for (const auto& n : names) {
    int sets[2] = {0, 0}, cov[2] = {0, 0};
    double bias[2] = {0, 0};
    for (const auto& [key, c] : t) {
      if (std::get<2>(key) != n) continue;
      const int wrong = std::get<0>(key) != std::get<1>(key);
      sets[wrong] += c.sets;
      cov[wrong] += c.covered;
      bias[wrong] += std::abs(c.mean_rel_bias) * c.sets;
    }
    std::printf("  %-8s right %s (%d fits, mean |bias| %s)   wrong %s (%d fits, mean |bias| %s)\n", n.c_str(),
                sets[0] ? fmt("%.2f", double(cov[0]) / sets[0]).c_str() : "-", sets[0],
                sets[0] ? fmt("%.0f%%", 100 * bias[0] / sets[0]).c_str() : "-",
                sets[1] ? fmt("%.2f", double(cov[1]) / sets[1]).c_str() : "-", sets[1],
                sets[1] ? fmt("%.0f%%", 100 * bias[1] / sets[1]).c_str() : "-");
  }
}

/// Lists the fits that did not converge (R-hat above 1.1 or more than 1% divergent draws): their
/// elpd enters the means of table (a) as it is, and a lost chain can dominate a mean.
void print_unconverged(const Results& res) {
  std::vector<std::string> lines;
  for (std::size_t s = 0; s < res.sets.size(); ++s)
    for (std::size_t f = 0; f < res.families.size(); ++f) {
      const FitRecord& r = res.at(s, f);
      if (!(r.max_rhat > 1.1 || double(r.divergences) > 0.01 * double(r.draws))) continue;
      lines.push_back("  data " + res.families[res.sets[s].gen].name + " #" + std::to_string(res.sets[s].index + 1) +
                      ", fit " + res.families[f].name + ": R-hat " + fmt("%.2f", r.max_rhat) + ", " +
                      std::to_string(r.divergences) + " divergent of " + std::to_string(r.draws) + " draws, elpd_loo " +
                      fmt("%.1f", r.loo.elpd_loo));
    }
  if (lines.empty()) return;
  std::printf("\nFits that did not converge (R-hat > 1.1 or > 1%% divergent draws; their elpd is in the means of (a)):\n");
  for (const auto& l : lines) std::printf("%s\n", l.c_str());
}

// ---- Files ----------------------------------------------------------------------------------

std::string json_number(double v) { return std::isfinite(v) ? number(v) : "null"; }
std::string json_string(const std::string& s) { return "\"" + s + "\""; }  // names hold no quotes

void write_fits_csv(const std::string& path, const Results& res) {
  std::ostringstream out;
  out << "data_family,dataset,fit_family,elpd_loo,se,p_loo,elpd_diff,dse,best,k_over_threshold,divergences,draws,"
         "max_rhat,seconds\n";
  for (std::size_t s = 0; s < res.sets.size(); ++s) {
    const std::size_t g = res.sets[s].gen;
    std::size_t best = 0;
    for (std::size_t f = 1; f < res.families.size(); ++f)
      if (res.at(s, f).loo.elpd_loo > res.at(s, best).loo.elpd_loo) best = f;
    for (std::size_t f = 0; f < res.families.size(); ++f) {
      const FitRecord& r = res.at(s, f);
      const ElpdDiff d = f == g ? ElpdDiff{} : elpd_difference(r.loo, res.at(s, g).loo);
      std::size_t over = 0;
      for (double k : r.loo.pareto_k) over += !(k <= r.loo.good_k);
      out << res.families[g].name << ',' << res.sets[s].index + 1 << ',' << res.families[f].name << ','
          << number(r.loo.elpd_loo) << ',' << number(r.loo.se) << ',' << number(r.loo.p_loo) << ',' << number(d.diff)
          << ',' << number(d.se) << ',' << (f == best) << ',' << over << ',' << r.divergences << ',' << r.draws << ','
          << number(r.max_rhat) << ',' << number(r.seconds) << '\n';
    }
  }
  write_file_atomically(path, out.str());
}

void write_parameters_csv(const std::string& path, const Results& res) {
  std::ostringstream out;
  out << "data_family,dataset,fit_family,parameter,truth,mean,sd,q5,q50,q95,covered,rel_bias,rhat,ess_bulk\n";
  for (std::size_t s = 0; s < res.sets.size(); ++s)
    for (std::size_t f = 0; f < res.families.size(); ++f)
      for (const auto& p : res.at(s, f).params) {
        const auto it = res.sets[s].truth.find(p.name);
        const bool shared = it != res.sets[s].truth.end() &&
                            comparable(p.name, res.families[res.sets[s].gen], res.families[f]);
        const double truth = shared ? it->second : NAN;
        out << res.families[res.sets[s].gen].name << ',' << res.sets[s].index + 1 << ',' << res.families[f].name << ','
            << p.name << ',' << (shared ? number(truth) : "") << ',' << number(p.mean) << ',' << number(p.sd) << ','
            << number(p.q5) << ',' << number(p.q50) << ',' << number(p.q95) << ','
            << (shared ? std::to_string(int(p.q5 <= truth && truth <= p.q95)) : "") << ','
            << (shared ? number(p.mean / truth - 1) : "") << ',' << number(p.rhat) << ',' << number(p.ess_bulk) << '\n';
      }
  write_file_atomically(path, out.str());
}

void write_datasets_csv(const std::string& path, const Results& res) {
  std::ostringstream out;
  out << "data_family,dataset,file,simulation_seed,redraws";
  for (const auto& r : truth_ranges) out << ',' << r.name;
  out << '\n';
  for (const auto& d : res.sets) {
    out << res.families[d.gen].name << ',' << d.index + 1 << ",data/" << res.families[d.gen].name << '-' << d.index + 1
        << ".csv," << d.sim_seed << ',' << d.redraws;
    for (const auto& r : truth_ranges) {
      const auto it = d.truth.find(r.name);
      out << ',' << (it == d.truth.end() ? "" : number(it->second));
    }
    out << '\n';
  }
  write_file_atomically(path, out.str());
}

void write_json(const std::string& path, const Results& res, const MisspecificationOptions& o,
                const std::vector<std::vector<Preference>>& pref, const ScoreTable& scores) {
  std::ostringstream j;
  j << "{\n  \"study\": \"misspecification\",\n  \"version\": " << json_string(version())
    << ",\n  \"seed\": " << o.seed << ",\n  \"threads\": " << o.threads << ",\n  \"trials\": " << o.trials
    << ",\n  \"datasets\": " << o.datasets << ",\n  \"chains\": " << o.chains << ",\n  \"warmup\": " << o.warmup
    << ",\n  \"samples\": " << o.samples << ",\n  \"delta\": 0.9,\n  \"cost\": " << json_string(study_cost)
    << ",\n  \"fixed\": \"sigma at its true value (across perception models: times or over the stimuli's geometric "
       "mean)\",\n  \"stimuli\": [" << stimulus_lo << ", " << stimulus_hi
    << "],\n  \"truth_ranges\": {";
  for (std::size_t i = 0; i < std::size(truth_ranges); ++i)
    j << (i ? ", " : "") << json_string(truth_ranges[i].name) << ": [" << truth_ranges[i].lo << ", " << truth_ranges[i].hi
      << "]";
  j << "},\n  \"families\": [";
  for (std::size_t f = 0; f < res.families.size(); ++f) {
    const Family& fam = res.families[f];
    j << (f ? ", " : "") << "{\"name\": " << json_string(fam.name) << ", \"motor\": " << json_string(fam.motor.name())
      << ", \"perception\": " << json_string(to_string(fam.perception))
      << ", \"action\": " << json_string(fam.network ? "network:" + o.generalized_network : "closed-form") << "}";
  }
  j << "],\n  \"preference\": [";
  bool first = true;
  for (std::size_t g = 0; g < res.families.size(); ++g)
    for (std::size_t f = 0; f < res.families.size(); ++f) {
      const auto& c = pref[g][f];
      j << (first ? "" : ",") << "\n    {\"data\": " << json_string(res.families[g].name)
        << ", \"fit\": " << json_string(res.families[f].name) << ", \"wins\": " << c.wins << ", \"datasets\": " << c.sets
        << ", \"mean_elpd_diff\": " << json_number(c.mean_diff) << ", \"sd_elpd_diff\": " << json_number(c.sd_diff)
        << ", \"mean_dse\": " << json_number(c.mean_dse) << "}";
      first = false;
    }
  j << "\n  ],\n  \"parameters\": [";
  first = true;
  for (const auto& [key, c] : scores) {
    j << (first ? "" : ",") << "\n    {\"data\": " << json_string(res.families[std::get<0>(key)].name)
      << ", \"fit\": " << json_string(res.families[std::get<1>(key)].name)
      << ", \"parameter\": " << json_string(std::get<2>(key)) << ", \"datasets\": " << c.sets
      << ", \"mean_rel_bias\": " << json_number(c.mean_rel_bias) << ", \"coverage90\": "
      << json_number(double(c.covered) / c.sets) << "}";
    first = false;
  }
  j << "\n  ]\n}\n";
  write_file_atomically(path, j.str());
}

std::shared_ptr<const ActionNetwork> load_generalized(const std::string& path) {
  if (path.empty()) return nullptr;
  auto net = std::make_shared<const ActionNetwork>(ActionNetwork::load(path));
  if (net->cost_name() != study_cost)
    throw UsageError("--generalized-network " + path + ": trained for cost " + net->cost_name() + ", the study uses " +
                     study_cost);
  if (network_motor(*net) != MotorModel::generalized)
    throw UsageError("--generalized-network " + path + ": trained for " + to_string(network_motor(*net)) +
                     " motor noise, not generalized");
  return net;
}

} // namespace

void add_misspecification_options(CLI::App& study, MisspecificationOptions& o) {
  study.add_option("--trials", o.trials, "trials per data set")->capture_default_str();
  study.add_option("--datasets", o.datasets, "data sets per generating family")->capture_default_str();
  study.add_option("--seed", o.seed, "seed of the whole study (data and fits)")->capture_default_str();
  study.add_option("--threads", o.threads, "threads (0: all; results do not depend on it)")->capture_default_str();
  study.add_option("--chains", o.chains, "chains per fit")->capture_default_str();
  study.add_option("--warmup", o.warmup, "warm-up iterations per chain")->capture_default_str();
  study.add_option("--samples", o.samples, "draws per chain")->capture_default_str();
  study.add_option("--generalized-network", o.generalized_network,
                   "a QuadraticCost network trained with --motor generalized: adds the generalized family");
  study.add_option("--out", o.out, "folder for fits.csv, parameters.csv, datasets.csv, study.json and data/")->required();
}

int run_misspecification(const MisspecificationOptions& o) {
  if (o.trials < 5) throw UsageError("--trials must be at least 5 (PSIS-LOO needs trials)");
  if (o.datasets < 1) throw UsageError("--datasets must be positive");
  if (o.chains < 1) throw UsageError("--chains must be positive");
  if (o.warmup < 1) throw UsageError("--warmup must be positive");
  if (o.samples < 20) throw UsageError("--samples must be at least 20 (PSIS-LOO smooths the largest draws' weights)");
  // Absurd sizes fail here with a message naming the option, before anything is written, not
  // with std::bad_alloc or days of fitting (as infer and simulate do). A negative count given to
  // an unsigned option arrives wrapped (-1 as 2^64 - 1), so the upper bounds catch it too.
  auto too_large = [](const char* option, std::size_t value, std::size_t max, const char* what) {
    throw UsageError(std::string(option) + ": at most " + std::to_string(max) + " " + what + " (got " +
                     std::to_string(value) + (value > std::size_t(1) << 62 ? ", a negative number?" : "") + ")");
  };
  if (o.trials > 10'000'000) too_large("--trials", o.trials, 10'000'000, "trials per data set");
  if (o.datasets > 10'000) too_large("--datasets", o.datasets, 10'000, "data sets per family");
  if (o.chains > 1024) throw UsageError("--chains: at most 1024 (got " + std::to_string(o.chains) + ")");
  if (double(o.chains) * double(o.samples) > 5e7)
    throw UsageError("--chains x --samples: at most 50000000 draws are kept in memory");
  if (o.threads < 0) throw UsageError("--threads must be >= 0 (0: all)");
  if (std::error_code ec; std::filesystem::exists(o.out, ec) && !std::filesystem::is_directory(o.out, ec))
    throw UsageError("--out " + o.out + ": exists and is not a folder (give a new or existing folder)");
  Results res;
  res.families = study_families(load_generalized(o.generalized_network));
  if (o.generalized_network.empty())
    std::cerr << "misspecification study: the generalized family is left out (it has no closed form; give "
                 "--generalized-network FILE, trained by `bactor train --cost QuadraticCost --motor generalized`)\n";
  std::filesystem::create_directories(o.out + "/data");
  install_stop_handlers();
  const std::size_t F = res.families.size(), total = F * o.datasets * F;
  std::printf("misspecification study: cost %s; %zu families; %zu data sets x %zu trials per family, s ~ U(%g, %g); "
              "seed %llu; %d chains x (%d + %d) draws per fit; sigma fixed at its truth\n",
              study_cost, F, o.datasets, o.trials, stimulus_lo, stimulus_hi, (unsigned long long)o.seed, o.chains,
              o.warmup, o.samples);
  std::fflush(stdout);  // before the progress lines on stderr
  for (std::size_t g = 0; g < F; ++g)
    for (std::size_t k = 0; k < o.datasets; ++k) {
      res.sets.push_back(make_data_set(res.families, g, k, o));
      const DataSet& d = res.sets.back();
      write_dataset(o.out + "/data/" + res.families[g].name + "-" + std::to_string(k + 1) + ".csv", d.data);
      for (std::size_t f = 0; f < F; ++f) {
        res.fits.push_back(fit_data_set(res.families, d, f, o));
        const FitRecord& r = res.fits.back();
        if (r.draws == 0) {
          std::fprintf(stderr, "interrupted\n");
          return exit_failure;
        }
        std::fprintf(stderr, "[%zu/%zu] data %s #%zu, fit %s: elpd_loo %.1f, %zu divergent, %.1f s\n", res.fits.size(),
                     total, res.families[g].name.c_str(), k + 1, res.families[f].name.c_str(), r.loo.elpd_loo,
                     r.divergences, r.seconds);
      }
    }
  const auto pref = preferences(res);
  const auto scores = parameter_scores(res);
  print_preferences(res, pref);
  print_scores(res, scores);
  print_unconverged(res);
  write_fits_csv(o.out + "/fits.csv", res);
  write_parameters_csv(o.out + "/parameters.csv", res);
  write_datasets_csv(o.out + "/datasets.csv", res);
  write_json(o.out + "/study.json", res, o, pref, scores);
  std::printf("\nfiles: %s/fits.csv, parameters.csv, datasets.csv, study.json, data/\n", o.out.c_str());
  return exit_ok;
}

} // namespace bactor::cli
