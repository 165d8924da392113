// SPDX-License-Identifier: MIT
#include "models/network.hpp"

#include <cmath>
#include <stdexcept>

namespace bactor {

std::size_t MlpLayout::weight_offset(std::size_t l) const {
  std::size_t off = 0;
  for (std::size_t i = 0; i < l; ++i) off += std::size_t(sizes[i + 1]) * std::size_t(sizes[i] + 1);
  return off;
}

ActionNetwork::ActionNetwork(std::string cost_name, std::vector<std::string> param_names,
                             std::vector<int> sizes, std::vector<float> params,
                             std::vector<InputScaling> scaling, nlohmann::json metadata)
    : cost_name_(std::move(cost_name)), param_names_(std::move(param_names)), layout_{std::move(sizes)},
      params_(std::move(params)), scaling_(std::move(scaling)), metadata_(std::move(metadata)) {
  if (layout_.sizes.size() < 2 || layout_.sizes.back() != 3)
    throw std::invalid_argument("action network: the output layer must have 3 units");
  if (std::size_t(layout_.sizes.front()) != param_names_.size() || scaling_.size() != param_names_.size())
    throw std::invalid_argument("action network: input size does not match the parameter names");
  if (params_.size() != layout_.n_params())
    throw std::invalid_argument("action network: " + std::to_string(params_.size()) +
                                " weights given, the architecture needs " + std::to_string(layout_.n_params()));
  for (std::size_t l = 0; l < layout_.n_layers(); ++l) {
    const int in = layout_.sizes[l], out = layout_.sizes[l + 1];
    auto& w = w_.emplace_back(out, in);
    auto& b = b_.emplace_back(out);
    const float* pw = params_.data() + layout_.weight_offset(l);
    const float* pb = params_.data() + layout_.bias_offset(l);
    for (int i = 0; i < out; ++i) {
      for (int j = 0; j < in; ++j) w(i, j) = double(pw[std::size_t(i) * std::size_t(in) + std::size_t(j)]);
      b(i) = double(pb[i]);
    }
  }
}

namespace {
void ensure(ActionNetwork::Workspace& ws, const MlpLayout& lay) {
  if (ws.act.size() == lay.sizes.size()) return;
  ws.pre.assign(lay.sizes.size(), {});
  ws.sig.assign(lay.sizes.size(), {});
  ws.theta.resize(lay.sizes[0]);
  ws.act.assign(lay.sizes.size(), {});
  ws.grad.assign(lay.sizes.size(), {});
  for (std::size_t l = 0; l < lay.sizes.size(); ++l) {
    ws.pre[l].resize(lay.sizes[l]);
    ws.sig[l].resize(lay.sizes[l]);
    ws.act[l].resize(lay.sizes[l]);
    ws.grad[l].resize(lay.sizes[l]);
  }
}
} // namespace

void ActionNetwork::forward(std::span<const double> theta, std::span<double, 3> x, Workspace& ws) const {
  ensure(ws, layout_);
  const std::size_t n_in = n_inputs();
  for (std::size_t i = 0; i < n_in; ++i) {
    const auto& sc = scaling_[i];
    ws.theta(Eigen::Index(i)) = theta[i];
    const double t = sc.log ? std::log(theta[i]) : theta[i];
    ws.act[0](Eigen::Index(i)) = (t - sc.shift) / sc.scale;
  }
  const std::size_t L = layout_.n_layers();
  for (std::size_t l = 0; l < L; ++l) {
    auto& pre = ws.pre[l + 1];
    pre.noalias() = w_[l] * ws.act[l];
    pre += b_[l];
    if (l + 1 < L) {
      // swish(x) = x sigmoid(x)
      ws.sig[l + 1] = 1.0 / (1.0 + (-pre.array()).exp());
      ws.act[l + 1] = pre.array() * ws.sig[l + 1].array();
    } else {
      ws.act[l + 1] = pre;
    }
  }
  for (int k = 0; k < 3; ++k) x[std::size_t(k)] = ws.act[L](k);
}

void ActionNetwork::backward(std::span<const double, 3> dx, std::span<double> dtheta, Workspace& ws) const {
  const std::size_t L = layout_.n_layers();
  for (int k = 0; k < 3; ++k) ws.grad[L](k) = dx[std::size_t(k)];
  for (std::size_t l = L; l-- > 0;) {
    if (l + 1 < L) {
      // swish'(x) = sigmoid(x) (1 + x (1 - sigmoid(x)))
      const auto p = ws.pre[l + 1].array();
      const auto sg = ws.sig[l + 1].array();
      ws.grad[l + 1].array() *= sg * (1.0 + p * (1.0 - sg));
    }
    ws.grad[l].noalias() = w_[l].transpose() * ws.grad[l + 1];
  }
  const std::size_t n_in = n_inputs();
  for (std::size_t i = 0; i < n_in; ++i) {
    const auto& sc = scaling_[i];
    const double dz = ws.grad[0](Eigen::Index(i)) / sc.scale;
    dtheta[i] = sc.log ? dz / ws.theta(Eigen::Index(i)) : dz;
  }
}

double ActionNetwork::action(std::span<const double, 3> x, double m) {
  const double k = softplus(x[0]);
  const double w = sigmoid(x[1]);
  return softplus(k * std::pow(m, w) + x[2]);
}

double ActionNetwork::action(std::span<const double> theta, double m) const {
  Workspace ws;
  double x[3];
  forward(theta, x, ws);
  return action(std::span<const double, 3>(x), m);
}

} // namespace bactor
