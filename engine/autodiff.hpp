// SPDX-License-Identifier: MIT
// Umbrella header of the reverse-mode autodiff engine: tape, ops, products, log-densities.
#pragma once

#include "engine/densities.hpp"
#include "engine/linalg.hpp"
#include "engine/ops.hpp"
#include "engine/tape.hpp"
