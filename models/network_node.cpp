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

Var network_outputs(const ActionNetwork& net, Var theta_v, std::size_t offset, ActionNetwork::Workspace& ws) {
  const std::size_t n = net.n_inputs();
  if (!theta_v.node()) throw ArgumentError("theta", "network_outputs got an empty Var");
  if (theta_v.size() < offset + n)
    throw ArgumentError("theta", "network_outputs needs entries " + std::to_string(offset) + ".." +
                                     std::to_string(offset + n - 1) + " for the " + net.cost_name() +
                                     " network; theta has " + std::to_string(theta_v.size()));
  double* dtheta = theta_v.needs_grad() ? static_cast<double*>(Tape::current().allocate(n * sizeof(double))) : nullptr;
  auto forward = [&](std::span<double> x) {
    net.forward(std::span<const double>(theta_v.values().data() + offset, n), std::span<double, 3>(x.data(), 3), ws);
  };
  auto backward = [netp = &net, wsp = &ws, theta_v, offset, dtheta, n](std::span<const double>,
                                                                       std::span<const double> dx) {
    double* a = theta_v.node()->grad();
    if (!a) return;
    netp->backward(std::span<const double, 3>(dx.data(), 3), std::span<double>(dtheta, n), *wsp);
    a += offset;
    for (std::size_t t = 0; t < n; ++t) a[t] += dtheta[t];
  };
  return custom({theta_v}, 3, 1, forward, backward);
}

} // namespace bactor
