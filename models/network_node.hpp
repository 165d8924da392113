// SPDX-License-Identifier: MIT
// An action network as one tape node (engine/tape.hpp): a user's log-density written with
// tape ops (e.g. for samplers/tape_model.hpp) can put a trained network inside its likelihood
// and get the gradient through it from the reverse pass.
#pragma once

#include <bactor/engine/errors.hpp>
#include <bactor/engine/tape.hpp>
#include <bactor/models/network.hpp>

namespace bactor {

/// x = (x0, x1, x2), the network's head outputs at theta (ActionNetwork::forward: for the
/// power and posterior heads the power form, log a = x0 + sigmoid(x1) log m; see
/// models/network.hpp). `theta` is a vector Var of net.n_inputs() entries in the order of
/// net.param_names() (sigma, sigma_0, mu_0, sigma_r, cost parameters...).
/// Derivative: dtheta += (dx/dtheta)^T dx_adjoint, by ActionNetwork::backward.
/// The activations are kept in a per-thread workspace and recomputed in the reverse pass when
/// another network node's forward pass has used the workspace since (several nodes per tape
/// are fine). `net` must outlive the node. Throws ArgumentError("theta", ...) (a
/// std::invalid_argument) when theta's size is not net.n_inputs().
Var network_outputs(const ActionNetwork& net, Var theta);

/// The same node with theta = theta_v[offset .. offset + net.n_inputs()) read in place, and the
/// activations kept in the caller's workspace `ws`, which must see no other forward() until
/// the reverse pass has run (give each network node alive on the tape its own). No forward
/// pass is repeated in the reverse pass: the form for several network nodes per gradient on a
/// hot path (the inference log-density has one per condition). `net` and `ws` must outlive
/// the node. Throws ArgumentError("theta", ...) when theta_v is shorter than offset + n_inputs().
Var network_outputs(const ActionNetwork& net, Var theta_v, std::size_t offset, ActionNetwork::Workspace& ws);

} // namespace bactor
