// SPDX-License-Identifier: MIT
// bactor's front door: the whole public API in one include.
//
//   #include <bactor/bactor.hpp>
//
// engine/    the reverse-mode autodiff tape and its ops, RNG streams, optimisers
// models/    the Bayesian actor, cost families, action networks and their training, data IO,
//            simulation and the inference log-density (ActorModel)
// samplers/  NUTS with Stan's warm-up adaptation, diagnostics, CmdStan CSV
// The headers below may also be included one by one as <bactor/engine/tape.hpp> etc.
#pragma once

#include <bactor/engine/aligned.hpp>
#include <bactor/engine/autodiff.hpp>
#include <bactor/engine/errors.hpp>
#include <bactor/engine/optim.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/engine/version.hpp>

#include <bactor/models/actor.hpp>
#include <bactor/models/cost_math.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/custom_cost.hpp>
#include <bactor/models/formula.hpp>
#include <bactor/models/data.hpp>
#include <bactor/models/ground_truth.hpp>
#include <bactor/models/hierarchical.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/motor.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/network_node.hpp>
#include <bactor/models/perception.hpp>
#include <bactor/models/safetensors.hpp>
#include <bactor/models/simulate.hpp>
#include <bactor/models/train.hpp>

#include <bactor/samplers/cmdstan_csv.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/loo.hpp>
#include <bactor/samplers/model.hpp>
#include <bactor/samplers/nuts.hpp>
#include <bactor/samplers/tape_model.hpp>
