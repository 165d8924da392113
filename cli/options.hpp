// SPDX-License-Identifier: MIT
// Shared by several commands: option parsing ("k=v,k=v" assignments, number lists, ranges)
// and running the inference model with NUTS (stop flag, progress, draws by column).
#pragma once

#include <bactor/models/data.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace bactor::cli {

/// Parses "k=v,k=v,..." into name -> number; `option` names the option in error messages.
/// Throws std::invalid_argument for a missing '=', an empty name, a non-finite number or a
/// repeated name.
std::map<std::string, double> parse_assignments(const std::string& text, const std::string& option);

/// Parses "k=SPEC,k=SPEC" into name -> raw string (e.g. priors "mu_0=uniform:0.1:5").
std::map<std::string, std::string> parse_string_assignments(const std::string& text, const std::string& option);

/// Parses "a,b,c" into numbers.
std::vector<double> parse_number_list(const std::string& text, const std::string& option);
/// --per-condition: "mu_0,sigma_0" (names; "none" or "": no parameter varies). Throws
/// bactor::ArgumentError("per_condition", ...) on an empty or repeated name.
std::set<std::string> parse_per_condition(const std::string& text);
/// "mu_0,sigma_0", or "none" for an empty set (as parse_per_condition reads it back).
std::string join_per_condition(const std::set<std::string>& names);

/// Parses "LO:HI" (0 <= LO < HI; with any_sign, LO < HI).
std::pair<double, double> parse_range(const std::string& text, const std::string& option, bool any_sign = false);

/// Parses one finite number.
double parse_number(const std::string& text, const std::string& option);

/// Joins "k=v" pairs with commas (for config lines).
std::string join_assignments(const std::map<std::string, double>& values);

/// Adds `--columns ROLE=COLUMN,...` (the data file's own column names, e.g.
/// s=duration,r=reproduction,subject=sub,cond=block) to a command that reads a data CSV.
void add_columns_option(CLI::App& app, std::string& text);
/// The library's column map for the text of --columns (empty: the standard names s, r, cond,
/// subject). A bad map throws ArgumentError "columns", which main() reports as --columns; pass
/// the result to read_dataset, and record to_string(map) as the `columns` setting.
ColumnMap columns_option(const std::string& text);

/// Adds `--perception NAME` (lognormal, gaussian or vonmises; default lognormal) to a command;
/// `what` says what the option means for that command.
void add_perception_option(CLI::App& app, std::string& text, const std::string& what);
/// The perception model of --perception's text; one this build does not implement is a usage
/// error "--perception NAME: not supported yet".
PerceptionModel perception_option(const std::string& text);
/// Adds `--motor NAME` (`help` says what it means for the command): the library's motor models
/// and `vonmises`, the circular response noise that --perception vonmises always has (accepted
/// only with it, see motor_option).
void add_motor_option(CLI::App& app, std::string& text, const std::string& help);
/// The motor model of --motor's text under `perception`: `vonmises` is a usage error without
/// --perception vonmises and otherwise the default (the circular model has its own noise).
MotorModel motor_option(const std::string& text, PerceptionModel perception);
/// The `motor` setting a draws file records: `vonmises` under von Mises perception (its own
/// response noise), else the motor spec's name (`gaussian+offset`, ...).
std::string motor_setting(const MotorSpec& motor, PerceptionModel perception);
/// A draws file's `motor` setting read back (`vonmises`: the circular model's, MotorSpec{}).
MotorSpec motor_from_setting(const std::string& text);

} // namespace bactor::cli

// ---- Running the inference model (shared by infer, demo, recover, study) ----------------
namespace bactor::cli {

/// The stop flag set by SIGINT/SIGTERM once install_stop_handlers() has run.
std::atomic<bool>& stop_flag();
/// Installs SIGINT/SIGTERM handlers that set stop_flag() (cli/signals.hpp: repeats within 1 s are one request; a later SIGINT exits at once).
void install_stop_handlers();

/// Result of one posterior run.
struct PosteriorRun {
  std::vector<ChainResult> chains;
  Summary summary;                    // over the free parameters
  std::vector<std::string> params;    // free parameter names (output order)
  double wall_seconds = 0;
  bool complete = true;               // false when stopped early
  // When stopped early (complete == false), `chains` holds only the chains with post-warm-up
  // draws, each cut to the same number of them (ArviZ and cmdstanpy need equal lengths):
  std::size_t kept_draws = 0;         // post-warm-up draws per kept chain
  std::vector<int> empty_chains;      // ids of the chains left out (no draws after warm-up)
  std::vector<int> cut_chains;        // ids of the chains cut to kept_draws
};

/// One line naming the label of each condition, with the parameters indexed by it, e.g.
/// "conditions: sigma.1 = label '0.1' (45 trials); sigma.2 = label '0.25' (45 trials)" (empty
/// with one condition). `params`: the model's free parameter names.
std::string condition_legend(const Dataset& data, const std::vector<std::string>& params);

/// Runs NUTS on the ActorModel for `data` (one model per chain). `progress`: print chain
/// progress lines and, with several conditions, condition_legend() on stderr. A stopped run keeps the common part of its chains (see
/// PosteriorRun) and summarises it when each chain has at least 4 draws.
PosteriorRun run_posterior(const Dataset& data, const InferenceSpec& spec, NutsSettings settings, bool progress);
/// Refuses (ArgumentError "offset", naming the file and line) an offset under log-normal or
/// generalized motor noise that no chain can start below the smallest response (run_posterior
/// calls it; infer before it writes anything).
void check_offset_start(const Dataset& data, const InferenceSpec& spec, const NutsSettings& settings);
/// The same for any model: `params` are the columns summarised (a validated model's names).
PosteriorRun run_posterior(const ModelFactory& factory, std::vector<std::string> params, NutsSettings settings,
                           bool progress);

/// Of stopped chains, keeps those with post-warm-up draws, cut to the shortest one's number of
/// draws, all marked incomplete; fills run.kept_draws, run.empty_chains and run.cut_chains.
void keep_common_draws(PosteriorRun& run);

/// What `check` and `compare` need of draws read back from files: every chain has draws after
/// warm-up and every post-warm-up value of the `columns` (all non-sampler columns when empty) is
/// finite. Throws std::invalid_argument naming the file (files[k] for chains[k]), the column, the
/// draw and what to do.
void require_finite_draws(const std::vector<std::string>& files, const std::vector<ChainResult>& chains,
                          const std::string& purpose);

/// Posterior means of each column name, over all kept draws of all chains.
std::map<std::string, double> posterior_means(const PosteriorRun& run);
/// All draws of one column (chains concatenated).
std::vector<double> column_draws(const PosteriorRun& run, const std::string& name);

} // namespace bactor::cli
