// SPDX-License-Identifier: MIT
#include "cli/options.hpp"
#include "cli/command.hpp"
#include <bactor/engine/errors.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace bactor::cli {

namespace {
std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto pos = text.find(sep, start);
    out.push_back(text.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return out;
}
} // namespace

double parse_number(const std::string& text, const std::string& option) {
  double v = 0;
  const char* b = text.data();
  const char* e = b + text.size();
  if (b != e && *b == '+') ++b;
  auto [p, ec] = std::from_chars(b, e, v);
  if (text.empty() || ec != std::errc() || p != e || !std::isfinite(v))
    throw std::invalid_argument(option + ": '" + text + "' is not a finite number");
  return v;
}

std::map<std::string, std::string> parse_string_assignments(const std::string& text, const std::string& option) {
  std::map<std::string, std::string> out;
  if (text.empty()) return out;
  for (const auto& item : split(text, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::invalid_argument(option + ": expected NAME=VALUE, got '" + item + "'");
    const std::string name = item.substr(0, eq);
    if (!out.emplace(name, item.substr(eq + 1)).second)
      throw std::invalid_argument(option + ": '" + name + "' given twice");
  }
  return out;
}

void add_columns_option(CLI::App& app, std::string& text) {
  app.add_option("--columns", text,
                 "the data file's column names, ROLE=COLUMN for roles s, r, cond, subject "
                 "(e.g. s=duration,r=reproduction,subject=sub,cond=block; default: the roles' own names)");
}

ColumnMap columns_option(const std::string& text) { return parse_column_map(text); }

void add_perception_option(CLI::App& app, std::string& text, const std::string& what) {
  app.add_option("--perception", text, what + ": lognormal (stimuli > 0), gaussian (linear space) or vonmises (circular) "
                 "(docs/families.md)")
      ->capture_default_str()
      ->check(CLI::IsMember({"lognormal", "gaussian", "vonmises"}));
}

PerceptionModel perception_option(const std::string& text) {
  return parse_perception_model(text);
}

void add_motor_option(CLI::App& app, std::string& text, const std::string& help) {
  app.add_option("--motor", text, help)->capture_default_str()->check(CLI::IsMember({"lognormal", "generalized", "gaussian", "vonmises"}));
}

MotorModel motor_option(const std::string& text, PerceptionModel perception) {
  if (text != "vonmises") return parse_motor_model(text);
  if (perception != PerceptionModel::vonmises)
    throw UsageError("--motor vonmises: von Mises response noise is the circular model's; give it with --perception vonmises "
                     "(docs/families.md)");
  return MotorModel::lognormal;  // the default, which the circular model reads as its own von Mises noise
}

std::string motor_setting(const MotorSpec& motor, PerceptionModel perception) {
  return perception == PerceptionModel::vonmises ? "vonmises" : motor.name();
}

MotorSpec motor_from_setting(const std::string& text) { return text == "vonmises" ? MotorSpec{} : parse_motor_spec(text); }

std::map<std::string, double> parse_assignments(const std::string& text, const std::string& option) {
  std::map<std::string, double> out;
  for (const auto& [k, v] : parse_string_assignments(text, option)) out[k] = parse_number(v, option + " " + k);
  return out;
}

std::vector<double> parse_number_list(const std::string& text, const std::string& option) {
  std::vector<double> out;
  for (const auto& item : split(text, ',')) out.push_back(parse_number(item, option));
  return out;
}

std::pair<double, double> parse_range(const std::string& text, const std::string& option, bool any_sign) {
  const auto parts = split(text, ':');
  if (parts.size() != 2) throw std::invalid_argument(option + ": expected LO:HI, got '" + text + "'");
  const double lo = parse_number(parts[0], option), hi = parse_number(parts[1], option);
  if (!((lo >= 0 || any_sign) && hi > lo))
    throw std::invalid_argument(option + (any_sign ? ": need LO < HI, got '" : ": need 0 <= LO < HI, got '") + text + "'");
  return {lo, hi};
}

std::string join_assignments(const std::map<std::string, double>& values) {
  std::ostringstream os;
  os.precision(10);
  bool first = true;
  for (const auto& [k, v] : values) {
    os << (first ? "" : ",") << k << "=" << v;
    first = false;
  }
  return os.str();
}

} // namespace bactor::cli

// ---- Running the inference model --------------------------------------------------------

namespace bactor::cli {

// stop_flag() and install_stop_handlers() are defined in cli/signals.cpp.

std::string condition_legend(const Dataset& data, const std::vector<std::string>& params) {
  if (data.conditions() < 2) return "";
  std::vector<std::size_t> trials(data.conditions(), 0);
  for (int c : data.cond) ++trials[static_cast<std::size_t>(c)];
  std::string out = "conditions:";
  for (std::size_t k = 0; k < data.conditions(); ++k) {
    const std::string suffix = "." + std::to_string(k + 1);
    std::string names;
    for (const auto& p : params)
      if (p.size() > suffix.size() && p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0)
        names += (names.empty() ? "" : ", ") + p;
    out += (k ? "; " : " ") + (names.empty() ? "condition " + std::to_string(k + 1) : names) + " = label '" +
           data.cond_labels[k] + "' (" + std::to_string(trials[k]) + " trials)";
  }
  return out;
}

/// Under log-normal or generalized motor noise with an offset, every response exceeds the offset
/// (r - offset > 0), so the smallest response bounds it. NUTS starts each chain uniformly in
/// (-R, R) on the unconstrained scale, which puts the offset at S e^-R or above (default prior),
/// LO + (HI - LO) / (1 + e^R) or above (uniform:LO:HI): where even that lower end is above the
/// smallest response, no chain can start, and NUTS used to fail after 100 attempts with exit 1
/// ("check the model or give an init"). Data that bactor itself simulated (stimuli down to 0.08
/// with S = 2) did that. Refused here with the file, the line and the ways out. (With lapses
/// such a response is a lapse, and a chain can start.)
void check_offset_start(const Dataset& data, const InferenceSpec& spec, const NutsSettings& settings) {
  if (!spec.motor.offset || spec.motor.model == MotorModel::gaussian || spec.lapse ||
      spec.perception != PerceptionModel::lognormal || !settings.init.empty() || spec.fixed.count("offset") ||
      spec.per_condition.count("offset") || data.size() == 0)
    return;
  const double S = spec.scale > 0 ? spec.scale : default_scale(data, spec.perception);
  const double R = settings.init_radius;
  double start = S * std::exp(-R);  // the default prior's log transform (halfnormal, lognormal)
  if (const auto p = spec.priors.find("offset"); p != spec.priors.end()) {
    if (p->second.kind == Prior::Kind::uniform) start = p->second.a + (p->second.b - p->second.a) / (1 + std::exp(R));
    else if (p->second.kind != Prior::Kind::half_normal && p->second.kind != Prior::Kind::lognormal) return;
  }
  const std::size_t i = std::size_t(std::min_element(data.r.begin(), data.r.end()) - data.r.begin());
  if (data.r[i] > start) return;
  std::ostringstream os;
  os.precision(6);
  os << data.source << (i < data.line.size() ? ":" + std::to_string(data.line[i]) : "") << ": the smallest response, r = "
     << data.r[i] << ", bounds the offset below it (r - offset > 0 under " << to_string(spec.motor.model)
     << " motor noise), but every chain starts the offset at " << start << " or above (--init-radius " << R
     << "), so none can start: give it a prior below the responses (--prior offset=uniform:0:" << data.r[i]
     << "), fix it (--fix offset=VALUE), or check that trial";
  throw ArgumentError("offset", os.str());
}

PosteriorRun run_posterior(const Dataset& data, const InferenceSpec& spec, NutsSettings settings, bool progress) {
  check_offset_start(data, spec, settings);
  std::vector<std::string> params;
  {
    ActorModel probe(data, spec);  // validates before any chain starts
    params = probe.free_names();
  }
  // Which label each per-condition parameter's index is (labels that are numbers are ordered by
  // value, names by first appearance: the user should not have to guess).
  if (progress && data.conditions() > 1) std::cerr << condition_legend(data, params) << "\n";
  return run_posterior([&data, &spec]() -> std::unique_ptr<Model> { return std::make_unique<ActorModel>(data, spec); },
                       std::move(params), settings, progress);
}

PosteriorRun run_posterior(const ModelFactory& factory, std::vector<std::string> params, NutsSettings settings,
                           bool progress) {
  PosteriorRun run;
  run.params = std::move(params);
  settings.stop = &stop_flag();
  std::mutex mu;
  std::vector<int> last(settings.chains + 1, -1);
  if (progress)
    settings.progress = [&](int chain, int iteration, int total) {
      const int decile = total > 0 ? (10 * iteration) / total : 10;
      std::lock_guard<std::mutex> lock(mu);
      if (chain >= 0 && chain < static_cast<int>(last.size()) && decile != last[chain]) {
        last[chain] = decile;
        std::cerr << "chain " << chain << ": " << iteration << "/" << total
                  << (iteration <= settings.warmup ? " (warm-up)" : " (sampling)") << "\n";
      }
    };
  const auto t0 = std::chrono::steady_clock::now();
  run.chains = run_nuts(factory, settings);
  run.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& c : run.chains) run.complete = run.complete && c.complete;
  if (!run.complete) keep_common_draws(run);
  // Too few draws (a run stopped early) give no meaningful ESS, R-hat or E-BFMI.
  bool enough = !run.chains.empty();
  for (const auto& c : run.chains)
    enough = enough && c.rows() >= static_cast<std::size_t>(c.warmup_draws_saved) + 4;
  if (enough) run.summary = summarize(run.chains, run.params);
  return run;
}

void keep_common_draws(PosteriorRun& run) {
  auto post = [](const ChainResult& c) { return c.rows() - static_cast<std::size_t>(c.warmup_draws_saved); };
  std::vector<ChainResult> kept;
  run.empty_chains.clear();
  run.cut_chains.clear();
  for (auto& c : run.chains) {
    if (c.rows() <= static_cast<std::size_t>(c.warmup_draws_saved)) run.empty_chains.push_back(c.chain_id);
    else kept.push_back(std::move(c));
  }
  run.kept_draws = kept.empty() ? 0 : post(kept.front());
  for (const auto& c : kept) run.kept_draws = std::min(run.kept_draws, post(c));
  for (auto& c : kept) {
    if (post(c) > run.kept_draws) {
      run.cut_chains.push_back(c.chain_id);
      c.draws.resize((static_cast<std::size_t>(c.warmup_draws_saved) + run.kept_draws) * c.columns.size());
    }
    c.complete = false;
  }
  run.chains = std::move(kept);
  run.complete = false;
}

std::vector<double> column_draws(const PosteriorRun& run, const std::string& name) {
  std::vector<double> out;
  for (const auto& c : run.chains) {
    std::size_t col = c.columns.size();
    for (std::size_t k = 0; k < c.columns.size(); ++k)
      if (c.columns[k] == name) col = k;
    if (col == c.columns.size()) continue;
    for (std::size_t row = static_cast<std::size_t>(c.warmup_draws_saved); row < c.rows(); ++row)
      out.push_back(c.draws[row * c.columns.size() + col]);
  }
  return out;
}

void require_finite_draws(const std::vector<std::string>& files, const std::vector<ChainResult>& chains,
                          const std::string& purpose) {
  for (std::size_t k = 0; k < chains.size(); ++k) {
    const ChainResult& c = chains[k];
    const std::string file = k < files.size() ? files[k] : "chain " + std::to_string(c.chain_id);
    const auto first = static_cast<std::size_t>(c.warmup_draws_saved);
    if (c.rows() <= first)
      throw std::invalid_argument(file + ": no draws after warm-up, so no " + purpose +
                                  " (was the run stopped before sampling? rerun infer)");
    const std::size_t nc = c.columns.size();
    for (std::size_t j = 0; j < nc; ++j) {
      const std::string& name = c.columns[j];
      if (name.size() >= 2 && name.compare(name.size() - 2, 2, "__") == 0) continue;  // sampler columns
      for (std::size_t row = first; row < c.rows(); ++row)
        if (!std::isfinite(c.draws[row * nc + j]))
          throw std::invalid_argument(file + ": column '" + name + "', draw " + std::to_string(row - first + 1) +
                                      " after warm-up, is " + std::string(std::isnan(c.draws[row * nc + j]) ? "nan" : c.draws[row * nc + j] > 0 ? "inf" : "-inf") + ", so no " + purpose +
                                      " (a damaged draws file? rerun infer, or check that file)");
    }
  }
}

std::map<std::string, double> posterior_means(const PosteriorRun& run) {
  std::map<std::string, double> out;
  for (const auto& name : run.params) {
    const auto d = column_draws(run, name);
    double s = 0;
    for (double v : d) s += v;
    out[name] = d.empty() ? NAN : s / static_cast<double>(d.size());
  }
  return out;
}

} // namespace bactor::cli

namespace bactor::cli {

std::set<std::string> parse_per_condition(const std::string& text) {
  std::set<std::string> out;
  if (text == "none" || text.empty()) return out;
  std::size_t start = 0;
  for (;;) {
    const auto comma = text.find(',', start);
    const std::string name = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (name.empty()) throw bactor::ArgumentError("per_condition", "empty name in '" + text + "' (e.g. mu_0,sigma_0)");
    if (!out.insert(name).second) throw bactor::ArgumentError("per_condition", "'" + name + "' given twice");
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string join_per_condition(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out.empty() ? "none" : out;
}

} // namespace bactor::cli
