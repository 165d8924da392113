// SPDX-License-Identifier: MIT
// Perception families (docs/families.md, "Perception"): how the actor perceives the stimulus.
//   lognormal  stimuli > 0; log m ~ N(log s, sigma^2), log s ~ N(log mu_0, sigma_0^2) (the default)
//   gaussian   linear space; m ~ N(s, sigma^2), s ~ N(mu_0, sigma_0^2); stimuli of any sign
//   vonmises   circular (radians); m ~ VM(s, 1/sigma^2), s ~ VM(mu_0, 1/sigma_0^2)
// The perception model is a setting of training (TrainSettings), simulation (SimulationSpec) and
// inference (InferenceSpec); a network records it in its metadata ("perception"; absent means
// lognormal) and is refused for another perception model.
#pragma once

#include <string>

namespace bactor {

class ActionNetwork;

enum class PerceptionModel { lognormal, gaussian, vonmises };

/// "lognormal" | "gaussian" | "vonmises"; ArgumentError("perception", ...) otherwise.
PerceptionModel parse_perception_model(const std::string& text);
const char* to_string(PerceptionModel model);

/// The perception model a network was trained for (its metadata "perception"; lognormal
/// without it). A malformed entry throws ArgumentError("perception", ...).
PerceptionModel network_perception(const ActionNetwork& net);
/// Throws ArgumentError("network", "was trained for X perception, not Y") when `net` was
/// trained for another perception model than `model`.
void check_network_perception(const ActionNetwork& net, PerceptionModel model);

} // namespace bactor
