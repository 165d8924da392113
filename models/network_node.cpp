// SPDX-License-Identifier: MIT
#include <bactor/models/network_node.hpp>

#include <algorithm>
#include <string>

#include <bactor/engine/errors.hpp>

namespace bactor {

namespace {

/// The calling thread's workspace and which network and theta its activations belong to.
struct NetworkScratch {
  const ActionNetwork* net = nullptr;
  ActionNetwork::Workspace ws;
};

NetworkScratch& scratch() {
  thread_local NetworkScratch s;
  return s;
}

/// Runs forward() on the thread's workspace unless it already holds net's activations at theta.
ActionNetwork::Workspace& activations(const ActionNetwork& net, std::span<const double> theta, double* x) {
  NetworkScratch& s = scratch();
  const bool current = s.net == &net && s.ws.theta.size() == theta.size() &&
                       std::equal(theta.begin(), theta.end(), s.ws.theta.begin());
  if (!current || x) {
    double y[3];
    s.net = nullptr;  // stays null if forward() throws
    net.forward(theta, std::span<double, 3>(x ? x : y, 3), s.ws);
    s.net = &net;
  }
  return s.ws;
}

} // namespace

Var network_outputs(const ActionNetwork& net, Var theta) {
  if (!theta.node()) throw ArgumentError("theta", "network_outputs got an empty Var");
  if (theta.size() != net.n_inputs())
    throw ArgumentError("theta", "network_outputs got " + std::to_string(theta.size()) + " entries; the " +
                                     net.cost_name() + " network takes " + std::to_string(net.n_inputs()));
  const std::size_t n = theta.size();
  double* dtheta = theta.needs_grad() ? static_cast<double*>(Tape::current().allocate(n * sizeof(double))) : nullptr;
  auto forward = [&](std::span<double> x) { activations(net, theta.values(), x.data()); };
  auto backward = [netp = &net, theta, dtheta, n](std::span<const double>, std::span<const double> dx) {
    ActionNetwork::Workspace& ws = activations(*netp, theta.values(), nullptr);
    netp->backward(std::span<const double, 3>(dx.data(), 3), std::span<double>(dtheta, n), ws);
    double* a = theta.adjoints().data();
    for (std::size_t i = 0; i < n; ++i) a[i] += dtheta[i];
  };
  return custom({theta}, 3, 1, forward, backward);
}

} // namespace bactor
