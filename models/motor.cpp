// SPDX-License-Identifier: MIT
#include <bactor/models/motor.hpp>

#include <bactor/engine/errors.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/ground_truth.hpp>
#include <bactor/models/network.hpp>

#include <vector>

namespace bactor {

MotorModel parse_motor_model(const std::string& text) {
  if (text == "lognormal") return MotorModel::lognormal;
  if (text == "generalized") return MotorModel::generalized;
  if (text == "gaussian") return MotorModel::gaussian;
  throw ArgumentError("motor", "'" + text + "' (expected lognormal, generalized or gaussian)");
}

const char* to_string(MotorModel model) {
  switch (model) {
  case MotorModel::lognormal: return "lognormal";
  case MotorModel::generalized: return "generalized";
  case MotorModel::gaussian: return "gaussian";
  }
  return "?";
}

std::vector<std::string> MotorSpec::param_names() const {
  std::vector<std::string> n;
  if (has_sigma_a()) n.push_back("sigma_a");
  if (offset) n.push_back("offset");
  return n;
}

std::string MotorSpec::name() const { return std::string(to_string(model)) + (offset ? "+offset" : ""); }

MotorSpec parse_motor_spec(const std::string& text) {
  MotorSpec m;
  const std::string suffix = "+offset";
  std::string base = text;
  if (base.size() > suffix.size() && base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0) {
    m.offset = true;
    base.resize(base.size() - suffix.size());
  }
  m.model = parse_motor_model(base);
  return m;
}

std::size_t theta_size(const CostInfo& cost, const MotorSpec& motor) {
  return theta_size(cost) + motor.param_names().size();
}

std::vector<std::string> theta_names(const CostInfo& cost, const MotorSpec& motor) {
  auto n = theta_names(cost);
  for (auto& p : motor.param_names()) n.push_back(std::move(p));
  return n;
}

MotorNoise motor_noise(const CostInfo& cost, const MotorSpec& motor, std::span<const double> theta) {
  MotorNoise mn;
  mn.model = motor.model;
  mn.sigma_r = motor.has_sigma_r() ? theta[3] : 0.0;
  mn.sigma_a = motor.has_sigma_a() ? theta[theta_size(cost)] : 0.0;
  return mn;
}

MotorModel network_motor(const ActionNetwork& net) {
  const auto it = net.metadata().find("motor");
  return it == net.metadata().end() ? MotorModel::lognormal : parse_motor_model(it->second);
}

bool has_closed_form(const CostInfo& cost, const MotorSpec& motor) {
  return cost.closed_form && motor.model != MotorModel::generalized;
}

double optimal_action(const CostInfo& cost, const MotorSpec& motor, std::span<const double> theta, double m) {
  if (theta.size() != theta_size(cost, motor))
    throw std::invalid_argument("theta has " + std::to_string(theta.size()) + " entries, cost '" + cost.name +
                                "' with motor noise " + motor.name() + " needs " + std::to_string(theta_size(cost, motor)));
  const std::span<const double> base = theta.first(theta_size(cost));
  if (motor.model == MotorModel::lognormal) return optimal_action(cost, base, m);
  if (has_closed_form(cost, motor)) {
    // Gaussian motor noise: E (s - a - sa u)^2 = E (s - a)^2 + sa^2, so the closed forms hold with
    // their log-normal motor factor exp(-3/2 sigma_r^2) set to 1.
    std::vector<double> t(base.begin(), base.end());
    t[3] = 0.0;
    return closed_form_action(cost, t, m);
  }
  return numerical_action(cost, motor_noise(cost, motor, theta), base, m);
}

} // namespace bactor
