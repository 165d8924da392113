// SPDX-License-Identifier: MIT
// ActionNetwork <-> .safetensors: tensors "layers.<l>.weight" [out, in] and "layers.<l>.bias"
// [out]; metadata (all strings) cost, param_names, architecture, input_scaling, cost_formula
// (for a formula cost: its expression, priors and settings as JSON), and whatever the trainer recorded (training settings, seed, eval RMSE, bactor version).
#include <cmath>
#include <stdexcept>
#include <nlohmann/json.hpp>

#include <bactor/engine/version.hpp>

#include <bactor/models/costs.hpp>
#include <bactor/models/formula.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/motor.hpp>
#include <bactor/models/safetensors.hpp>


namespace bactor {

void ActionNetwork::save(const std::string& path) const {
  SafetensorsContent c;
  for (std::size_t l = 0; l < layout_.n_layers(); ++l) {
    const int in = layout_.sizes[l], out = layout_.sizes[l + 1];
    const float* w = params_.data() + layout_.weight_offset(l);
    const float* b = params_.data() + layout_.bias_offset(l);
    c.tensors.push_back({"layers." + std::to_string(l) + ".weight", {out, in},
                         std::vector<float>(w, w + std::size_t(out) * std::size_t(in))});
    c.tensors.push_back({"layers." + std::to_string(l) + ".bias", {out}, std::vector<float>(b, b + out)});
  }
  c.metadata = metadata_;
  c.metadata["cost"] = cost_name_;
  c.metadata["param_names"] = nlohmann::json(param_names_).dump();
  // A formula cost is recorded whole, so that loading the file registers it again.
  if (cost_ && !cost_->expression.empty())
    c.metadata["cost_formula"] = nlohmann::json{{"expression", cost_->expression},
                                                {"params", to_string(cost_->params)},
                                                {"kink", cost_->kink_at_s_equals_r},
                                                {"motor_truncation", cost_->motor_truncation},
                                                {"motor_importance_scale", cost_->motor_importance_scale},
                                                {"homogeneity_degree", cost_->homogeneity_degree}}.dump();
  // "inputs" documents what the first layer sees (read back only through the head).
  std::vector<std::string> inputs = param_names_;
  if (head_ == NetworkHead::posterior || head_ == NetworkHead::mupost) {
    inputs = {"sigma_post", "sigma_r"};
    if (head_ == NetworkHead::mupost && cost_ && cost_->log_scale) {
      if (param_names_.size() > 4 + cost_->params.size()) inputs.push_back("sigma_a/scale");
      inputs.push_back("mu_post-log_scale");
    } else {
      inputs.insert(inputs.end(), param_names_.begin() + 4, param_names_.end());
      if (head_ == NetworkHead::mupost) inputs.push_back("mu_post");
    }
  }
  c.metadata["architecture"] = nlohmann::json{{"sizes", layout_.sizes}, {"hidden_activation", "swish"},
                                              {"head", head_formula(head_)}, {"inputs", inputs}}.dump();
  nlohmann::json sc = nlohmann::json::array();
  for (const auto& s : scaling_) sc.push_back({{"log", s.log}, {"shift", s.shift}, {"scale", s.scale}});
  c.metadata["input_scaling"] = sc.dump();
  if (!c.metadata.count("bactor_version")) c.metadata["bactor_version"] = version();
  c.metadata["format"] = "bactor-action-network-1";
  write_safetensors(path, c);
}

ActionNetwork ActionNetwork::load(const std::string& path) {
  const SafetensorsContent c = read_safetensors(path);
  auto fail = [&](const std::string& what) { return std::invalid_argument(path + ": " + what); };
  auto meta = [&](const std::string& key) -> const std::string& {
    auto it = c.metadata.find(key);
    if (it == c.metadata.end()) throw fail("metadata lacks '" + key + "'");
    return it->second;
  };
  auto parse = [&](const std::string& key) {
    try {
      return nlohmann::json::parse(meta(key));
    } catch (const nlohmann::json::exception&) {
      throw fail("metadata '" + key + "' is not valid JSON");
    }
  };
  const std::string cost = meta("cost");
  const CostInfo* info = nullptr;
  if (c.metadata.count("cost_formula")) {
    FormulaSpec fs;
    try {
      const auto f = parse("cost_formula");
      fs.expression = f.at("expression").get<std::string>();
      fs.params = parse_param_priors(f.at("params").get<std::string>());
      fs.kink = f.at("kink").get<bool>();
      fs.motor_truncation = f.at("motor_truncation").get<double>();
      fs.motor_importance_scale = f.at("motor_importance_scale").get<double>();
      fs.homogeneity_degree = f.at("homogeneity_degree").get<int>();
    } catch (const nlohmann::json::exception& e) {
      throw fail(std::string("bad metadata 'cost_formula': ") + e.what());
    } catch (const std::invalid_argument& e) {
      throw fail(std::string("bad metadata 'cost_formula': ") + e.what());
    }
    fs.name = cost;
    try {
      info = &register_formula_cost(fs);
    } catch (const std::invalid_argument& e) {
      throw fail(std::string("metadata 'cost_formula': ") + e.what());
    }
  }
  try {
    if (!info) info = &find_cost(cost);
  } catch (const std::invalid_argument& e) {
    throw fail(e.what());
  }
  std::vector<std::string> names;
  std::vector<int> sizes;
  std::vector<InputScaling> scaling;
  NetworkHead head = NetworkHead::softplus;
  try {
    names = parse("param_names").get<std::vector<std::string>>();
    const auto arch = parse("architecture");
    sizes = arch.at("sizes").get<std::vector<int>>();
    // Files without a head entry predate the power head: softplus.
    if (arch.contains("head")) {
      const std::string formula = arch.at("head").get<std::string>();
      if (formula == head_formula(NetworkHead::power))
        head = NetworkHead::power;
      else if (formula == head_formula(NetworkHead::posterior))
        head = NetworkHead::posterior;
      else if (formula == head_formula(NetworkHead::mupost))
        head = NetworkHead::mupost;
      else if (formula != head_formula(NetworkHead::softplus))
        throw fail("unknown output head '" + formula + "'");
    }
    for (const auto& s : parse("input_scaling"))
      scaling.push_back({s.at("log").get<bool>(), s.at("shift").get<double>(), s.at("scale").get<double>()});
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("bad metadata: ") + e.what());
  }
  // Networks for the generalized and gaussian motor models (metadata "motor") take sigma_a last.
  MotorSpec motor;
  if (c.metadata.count("motor")) {
    try {
      motor.model = parse_motor_model(c.metadata.at("motor"));
    } catch (const std::invalid_argument& e) {
      throw fail(std::string("bad metadata 'motor': ") + e.what());
    }
  }
  if (names != theta_names(*info, motor)) throw fail("param_names do not match cost '" + cost + "'");
  const std::size_t n_feat = head_input_count(head, names.size(), info);
  if (sizes.size() < 2 || std::size_t(sizes.front()) != n_feat || sizes.back() != 3)
    throw fail("architecture sizes do not match " + std::to_string(n_feat) + " inputs and 3 outputs");
  for (int s : sizes)
    if (s < 1 || s > 4096) throw fail("architecture has a layer of size " + std::to_string(s));
  if (scaling.size() != n_feat) throw fail("input_scaling has the wrong length");
  for (const auto& s : scaling)
    if (!std::isfinite(s.shift) || !std::isfinite(s.scale) || s.scale == 0.0) throw fail("bad input_scaling");
  MlpLayout lay{sizes};
  std::vector<float> params(lay.n_params());
  std::size_t expected = 0;
  for (std::size_t l = 0; l < lay.n_layers(); ++l) {
    const std::int64_t in = sizes[l], out = sizes[l + 1];
    for (int which = 0; which < 2; ++which) {
      const std::string name = "layers." + std::to_string(l) + (which ? ".bias" : ".weight");
      const F32Tensor* t = c.find(name);
      if (!t) throw fail("missing tensor '" + name + "'");
      const std::vector<std::int64_t> want = which ? std::vector<std::int64_t>{out} : std::vector<std::int64_t>{out, in};
      if (t->shape != want) throw fail("tensor '" + name + "' has a shape inconsistent with the architecture");
      std::copy(t->data.begin(), t->data.end(), params.begin() + std::ptrdiff_t(which ? lay.bias_offset(l) : lay.weight_offset(l)));
      ++expected;
    }
  }
  if (c.tensors.size() != expected) throw fail("unexpected extra tensors");
  return ActionNetwork(cost, names, sizes, std::move(params), std::move(scaling), std::move(c.metadata), head);
}

} // namespace bactor
