// SPDX-License-Identifier: MIT
// Umbrella header of the reverse-mode autodiff engine: tape, ops, products, log-densities,
// float tensors.
#pragma once

#include <bactor/engine/densities.hpp>
#include <bactor/engine/linalg.hpp>
#include <bactor/engine/ops.hpp>
#include <bactor/engine/tape.hpp>
#include <bactor/engine/tensor.hpp>
