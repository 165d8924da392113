// SPDX-License-Identifier: MIT
#include <bactor/models/perception.hpp>

#include <bactor/engine/errors.hpp>
#include <bactor/models/network.hpp>

namespace bactor {

PerceptionModel parse_perception_model(const std::string& text) {
  if (text == "lognormal") return PerceptionModel::lognormal;
  if (text == "gaussian") return PerceptionModel::gaussian;
  if (text == "vonmises") return PerceptionModel::vonmises;
  throw ArgumentError("perception", "'" + text + "' (expected lognormal, gaussian or vonmises)");
}

const char* to_string(PerceptionModel model) {
  switch (model) {
  case PerceptionModel::lognormal: return "lognormal";
  case PerceptionModel::gaussian: return "gaussian";
  case PerceptionModel::vonmises: return "vonmises";
  }
  return "?";
}

PerceptionModel network_perception(const ActionNetwork& net) {
  const auto it = net.metadata().find("perception");
  return it == net.metadata().end() ? PerceptionModel::lognormal : parse_perception_model(it->second);
}

void check_network_perception(const ActionNetwork& net, PerceptionModel model) {
  const PerceptionModel trained = network_perception(net);
  if (trained != model)
    throw ArgumentError("network", std::string("was trained for ") + to_string(trained) + " perception, not " + to_string(model));
}

} // namespace bactor
