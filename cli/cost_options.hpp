// SPDX-License-Identifier: MIT
// The options that choose a cost: --cost NAME, or --formula EXPR --params NAME=PRIOR,... with
// its declared settings (--kink, --motor-truncation, --motor-importance-scale). Shared by
// train, evaluate, costs, simulate and infer (docs/custom-costs.md).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <bactor/models/costs.hpp>

namespace CLI {
class App;
}

namespace bactor::cli {

struct CostOptions {
  std::string formula, params;
  bool kink = false;
  double motor_truncation = 0.0, motor_importance_scale = 0.0;
};

/// Adds --formula, --params, --kink, --motor-truncation and --motor-importance-scale to a
/// command (its --cost option stays its own).
void add_formula_options(CLI::App& app, CostOptions& o);

/// The cost the options name: --formula (compiled and registered here; not with --cost), else
/// --cost NAME, else the cost of `network_file` (a network's formula comes from its metadata).
/// A network file, when given, is read first so that its formula cost is known. Throws
/// UsageError when nothing names a cost, FormulaError (exit 2, with the column) for a bad formula.
const CostInfo& resolve_cost(const std::string& cost_name, const CostOptions& o, const std::string& network_file = "");

/// For a formula cost, the settings a draws file records so that `check` and `report` can
/// compile it again in another process (formula_params, formula_kink, formula_motor_truncation,
/// formula_motor_importance_scale); nothing for a built-in cost.
std::vector<std::pair<std::string, std::string>> formula_settings(const CostInfo& cost);
/// The cost a draws file names: a registered cost, or a formula ("formula:EXPR") compiled from
/// the recorded settings (`setting(key)` returns "" for a missing one).
const CostInfo& recorded_cost(const std::string& name, const std::function<std::string(const std::string&)>& setting);

/// What `bactor costs` prints about one cost (formula, settings, detection, priors).
std::string describe_cost(const CostInfo& cost);

} // namespace bactor::cli
