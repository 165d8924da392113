// SPDX-License-Identifier: MIT
#include <bactor/engine/densities.hpp>

#include <cmath>
#include <limits>
#include <numbers>
#include <string>

namespace bactor {

namespace {

constexpr double half_log_2pi = 0.91893853320467274178;  // log(2 pi) / 2
constexpr double inf = std::numeric_limits<double>::infinity();

// Common size of broadcast arguments (each of size 1 or n); throws naming the density.
std::size_t common_size(const char* name, std::initializer_list<const Node*> args) {
  std::size_t n = 1;
  for (const Node* a : args) n = std::max<std::size_t>(n, a->size());
  for (const Node* a : args)
    if (a->size() != 1 && a->size() != n)
      throw std::invalid_argument(std::string(name) + ": argument of size " + std::to_string(a->size()) +
                                  " does not broadcast to size " + std::to_string(n));
  return n;
}

Node* density_node(const char* name, void (*bw)(Node&), Node* a, Node* b, Node* c) {
  const std::size_t n = c ? common_size(name, {a, b, c}) : common_size(name, {a, b});
  Node* y = Tape::current().make_node(1, 1, a->adj || b->adj || (c && c->adj), bw);
  y->in[0] = a;
  y->in[1] = b;
  y->in[2] = c;
  y->k = double(n);
  return y;
}

// Element i of a broadcast argument.
inline double at(const Node* a, std::size_t i) { return a->val[a->size() == 1 ? 0 : i]; }
inline void add_adj(Node* a, std::size_t i, double g) {
  if (double* d = a->grad()) d[a->size() == 1 ? 0 : i] += g;
}

// In the backward passes below, a value of -inf means the point is outside the support
// (or the scale is invalid): the gradient is left at zero.

void normal_backward(Node& y) {
  if (!std::isfinite(y.val[0])) return;
  const std::size_t n = static_cast<std::size_t>(y.k);
  const double g = y.adj[0];
  for (std::size_t i = 0; i < n; ++i) {
    const double s = at(y.in[2], i);
    const double z = (at(y.in[0], i) - at(y.in[1], i)) / s;
    add_adj(y.in[0], i, -g * z / s);
    add_adj(y.in[1], i, g * z / s);
    add_adj(y.in[2], i, g * (z * z - 1.0) / s);
  }
}

void lognormal_backward(Node& y) {
  if (!std::isfinite(y.val[0])) return;
  const std::size_t n = static_cast<std::size_t>(y.k);
  const double g = y.adj[0];
  for (std::size_t i = 0; i < n; ++i) {
    const double x = at(y.in[0], i), s = at(y.in[2], i);
    const double z = (std::log(x) - at(y.in[1], i)) / s;
    add_adj(y.in[0], i, -g * (z / s + 1.0) / x);
    add_adj(y.in[1], i, g * z / s);
    add_adj(y.in[2], i, g * (z * z - 1.0) / s);
  }
}

void half_normal_backward(Node& y) {
  if (!std::isfinite(y.val[0])) return;
  const std::size_t n = static_cast<std::size_t>(y.k);
  const double g = y.adj[0];
  for (std::size_t i = 0; i < n; ++i) {
    const double x = at(y.in[0], i), s = at(y.in[1], i);
    add_adj(y.in[0], i, -g * x / (s * s));
    add_adj(y.in[1], i, g * (x * x / (s * s) - 1.0) / s);
  }
}

void uniform_backward(Node& y) {
  if (!std::isfinite(y.val[0])) return;
  const std::size_t n = static_cast<std::size_t>(y.k);
  const double g = y.adj[0];
  for (std::size_t i = 0; i < n; ++i) {
    const double w = at(y.in[2], i) - at(y.in[1], i);
    add_adj(y.in[1], i, g / w);
    add_adj(y.in[2], i, -g / w);
  }
}

} // namespace

Var normal_lpdf(Var x, Var mu, Var sigma) {
  Node* y = density_node("normal_lpdf", &normal_backward, x.node(), mu.node(), sigma.node());
  const std::size_t n = static_cast<std::size_t>(y->k);
  double lp = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double s = at(y->in[2], i);
    if (!(s > 0)) {
      lp = -inf;
      break;
    }
    const double z = (at(y->in[0], i) - at(y->in[1], i)) / s;
    lp += -0.5 * z * z - std::log(s) - half_log_2pi;
  }
  y->val[0] = lp;
  return Var(y);
}

Var lognormal_lpdf(Var x, Var mu, Var sigma) {
  Node* y = density_node("lognormal_lpdf", &lognormal_backward, x.node(), mu.node(), sigma.node());
  const std::size_t n = static_cast<std::size_t>(y->k);
  double lp = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double xi = at(y->in[0], i), s = at(y->in[2], i);
    if (!(s > 0) || !(xi > 0)) {
      lp = -inf;
      break;
    }
    const double lx = std::log(xi);
    const double z = (lx - at(y->in[1], i)) / s;
    lp += -0.5 * z * z - std::log(s) - half_log_2pi - lx;
  }
  y->val[0] = lp;
  return Var(y);
}

Var half_normal_lpdf(Var x, Var sigma) {
  Node* y = density_node("half_normal_lpdf", &half_normal_backward, x.node(), sigma.node(), nullptr);
  const std::size_t n = static_cast<std::size_t>(y->k);
  double lp = 0;
  const double half_log_2_over_pi = 0.5 * std::log(2.0 / std::numbers::pi);
  for (std::size_t i = 0; i < n; ++i) {
    const double xi = at(y->in[0], i), s = at(y->in[1], i);
    if (!(s > 0) || !(xi >= 0)) {
      lp = -inf;
      break;
    }
    const double z = xi / s;
    lp += half_log_2_over_pi - std::log(s) - 0.5 * z * z;
  }
  y->val[0] = lp;
  return Var(y);
}

Var uniform_lpdf(Var x, Var a, Var b) {
  Node* y = density_node("uniform_lpdf", &uniform_backward, x.node(), a.node(), b.node());
  const std::size_t n = static_cast<std::size_t>(y->k);
  double lp = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double xi = at(y->in[0], i), lo = at(y->in[1], i), hi = at(y->in[2], i);
    if (!(lo < hi) || !(xi >= lo && xi <= hi)) {
      lp = -inf;
      break;
    }
    lp -= std::log(hi - lo);
  }
  y->val[0] = lp;
  return Var(y);
}

Var normal_lpdf(Var x, double mu, double sigma) { return normal_lpdf(x, constant(mu), constant(sigma)); }
Var lognormal_lpdf(Var x, double mu, double sigma) {
  return lognormal_lpdf(x, constant(mu), constant(sigma));
}
Var half_normal_lpdf(Var x, double sigma) { return half_normal_lpdf(x, constant(sigma)); }
Var uniform_lpdf(Var x, double a, double b) { return uniform_lpdf(x, constant(a), constant(b)); }

} // namespace bactor
