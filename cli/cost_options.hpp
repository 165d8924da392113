// SPDX-License-Identifier: MIT
// The options that choose a cost: --cost NAME, or --formula EXPR --params NAME=PRIOR,... with
// its declared settings (--kink, --motor-truncation, --motor-importance-scale). Shared by
// train, evaluate, costs, simulate and infer (docs/custom-costs.md).
#pragma once

#include <string>

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

/// What `bactor costs` prints about one cost (formula, settings, detection, priors).
std::string describe_cost(const CostInfo& cost);

} // namespace bactor::cli
