// SPDX-License-Identifier: MIT
#include "cli/cost_options.hpp"

#include <cmath>
#include <cstdio>
#include <map>

#include "cli/command.hpp"
#include <bactor/models/formula.hpp>
#include <bactor/models/network.hpp>

namespace bactor::cli {

void add_formula_options(CLI::App& app, CostOptions& o) {
  auto* f = app.add_option("--formula", o.formula,
                           "your own cost l(s, r) instead of --cost, e.g. \"beta*(s-r)^2 + (1-beta)*r^2\": numbers, s, r, "
                           "the --params, + - * / ^, exp log sqrt abs sin cos min max, < <= > >= == !=, if(c, a, b)");
  auto* p = app.add_option("--params", o.params, "with --formula: its parameters and their priors, e.g. "
                           "beta=uniform:0.5:1,c=lognormal:-0.69:1 (lognormal:LOC:SCALE, LOC on the log scale)");
  auto* k = app.add_flag("--kink", o.kink, "with --formula: l has a kink or a sharp peak at s = r (the ground truth "
                         "then splits its quadrature there; detected when not given)");
  auto* t = app.add_option("--motor-truncation", o.motor_truncation, "with --formula: clamp the motor draws u to [-T, T] "
                           "in training and in the ground truth (as Linex, whose expected cost is infinite otherwise)");
  auto* is = app.add_option("--motor-importance-scale", o.motor_importance_scale, "with --formula and "
                            "--motor-truncation: draw u from N(0, X^2) in training, importance-weighted (Linex: 1.5)");
  for (auto* opt : {p, k, t, is}) opt->needs(f);
}

const CostInfo& resolve_cost(const std::string& cost_name, const CostOptions& o, const std::string& network_file) {
  if (!o.formula.empty()) {
    if (!cost_name.empty()) throw UsageError("give --cost or --formula, not both");
    // The library names its own arguments (FormulaSpec's fields); say which option set them.
    static const std::map<std::string, std::string> option = {
        {"formula", "--formula"}, {"params", "--params"}, {"kink", "--kink"},
        {"motor_truncation", "--motor-truncation"}, {"motor_importance_scale", "--motor-importance-scale"}};
    try {
      FormulaSpec spec;
      spec.expression = o.formula;
      spec.params = parse_param_priors(o.params);
      spec.kink = o.kink;
      spec.motor_truncation = o.motor_truncation;
      spec.motor_importance_scale = o.motor_importance_scale;
      return register_formula_cost(spec);
    } catch (const FormulaError& e) {
      // The formula with a caret under the column.
      throw UsageError("--formula: " + e.reason() + "\n  " + o.formula + "\n  " + std::string(e.column() - 1, ' ') + "^");
    } catch (const ArgumentError& e) {
      const auto it = option.find(e.argument());
      throw UsageError((it != option.end() ? it->second : e.argument()) + ": " + e.reason());
    }
  }
  std::string name = cost_name;
  if (!network_file.empty()) {
    // Loading registers a formula network's cost (from its metadata).
    const std::string net_cost = ActionNetwork::load(network_file).cost_name();
    if (name.empty()) name = net_cost;
  }
  if (name.empty()) throw UsageError("give --cost NAME (bactor costs lists them) or --formula EXPR");
  return find_cost(name);
}

std::vector<std::pair<std::string, std::string>> formula_settings(const CostInfo& cost) {
  if (cost.expression.empty()) return {};
  char buf[2][32];
  std::snprintf(buf[0], sizeof buf[0], "%.17g", cost.motor_truncation);
  std::snprintf(buf[1], sizeof buf[1], "%.17g", cost.motor_importance_scale);
  return {{"formula_params", to_string(cost.params)},
          {"formula_kink", cost.kink_at_s_equals_r ? "true" : "false"},
          {"formula_motor_truncation", buf[0]},
          {"formula_motor_importance_scale", buf[1]}};
}

const CostInfo& recorded_cost(const std::string& name, const std::function<std::string(const std::string&)>& setting) {
  const std::string prefix = "formula:";
  if (name.rfind(prefix, 0) != 0 || (setting("formula_params").empty() && setting("formula_kink").empty()))
    return find_cost(name);
  FormulaSpec spec;
  spec.expression = name.substr(prefix.size());
  spec.params = parse_param_priors(setting("formula_params"));
  spec.kink = setting("formula_kink") == "true";
  if (const std::string t = setting("formula_motor_truncation"); !t.empty()) spec.motor_truncation = std::stod(t);
  if (const std::string t = setting("formula_motor_importance_scale"); !t.empty()) spec.motor_importance_scale = std::stod(t);
  return register_formula_cost(spec);
}

std::string describe_cost(const CostInfo& c) {
  std::string out;
  auto line = [&](const std::string& a, const std::string& b) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%-30s ", a.c_str());
    out += buf + b + "\n";
  };
  if (c.name.size() > 30) {
    out += c.name + "\n";
    line("", "l(s,r) = " + c.formula);
  } else {
    line(c.name, "l(s,r) = " + c.formula);
  }
  std::string settings = std::string("optimal action: ") + (c.closed_form ? "closed form" : "numerical") + "; " +
                         (c.homogeneous() ? "homogeneous of degree " + std::to_string(c.homogeneity_degree)
                                          : std::string("not homogeneous")) +
                         "; network head (train --head auto): " + default_head_name(c);
  line("", settings);
  std::string extra;
  if (c.kink_at_s_equals_r) extra += "kink or sharp peak at s = r (ground truth split there)";
  if (c.motor_truncation > 0) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%smotor draws clamped to [-%g, %g]", extra.empty() ? "" : "; ", c.motor_truncation,
                  c.motor_truncation);
    extra += buf;
    if (c.motor_importance_scale > 0) {
      std::snprintf(buf, sizeof buf, ", importance scale %g in training", c.motor_importance_scale);
      extra += buf;
    }
  }
  if (!extra.empty()) line("", extra);
  for (const auto& p : c.params) {
    char buf[160];
    if (p.kind == ParamPrior::Kind::uniform)
      std::snprintf(buf, sizeof buf, "%s ~ Uniform(%g, %g)", p.name.c_str(), p.a, p.b);
    else
      std::snprintf(buf, sizeof buf, "%s ~ LogNormal(log %g, %g)", p.name.c_str(), std::exp(p.a), p.b);
    line("", buf);
  }
  return out;
}

} // namespace bactor::cli
