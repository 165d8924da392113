// SPDX-License-Identifier: MIT
// What a sampler needs from a model: a log-density with gradient on the unconstrained scale,
// and a map from an unconstrained point to the values written to the draws file.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace bactor {

class Rng;

/// A differentiable log-density. One instance is used by one chain (one thread) at a time,
/// so implementations may keep mutable scratch buffers.
class Model {
public:
  virtual ~Model() = default;

  /// Number of unconstrained coordinates.
  virtual std::size_t dim() const = 0;

  /// log p(q) up to a constant, and its gradient written to `grad` (size dim()). May return
  /// -inf or NaN outside the support; the sampler treats that as a divergence/rejection.
  virtual double log_density(std::span<const double> q, std::span<double> grad) = 0;

  /// Names of the columns written per draw (constrained parameters, then generated
  /// quantities), CmdStan style: "mu_0", "sigma.1", "log_lik.12". Default: q.1 … q.dim.
  virtual std::vector<std::string> output_names() const {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < dim(); ++i) names.push_back("q." + std::to_string(i + 1));
    return names;
  }

  /// Indices of the coordinates that are angles: log p is exactly 2 pi-periodic in each of them
  /// (p(q + 2 pi e_i) = p(q)). The sampler keeps them in (-pi, pi] (wrapping the position after
  /// each transition leaves the chain on the circle unchanged) and measures their warm-up
  /// variance around the circular mean (docs/sampler.md, "Angles"). Default: none.
  virtual std::vector<std::size_t> angle_coordinates() const { return {}; }

  /// Values of output_names() at q (`out` has output_names().size() entries). `rng` serves
  /// generated quantities such as posterior-predictive draws. Default: q itself.
  virtual void write_outputs(std::span<const double> q, Rng& rng, std::span<double> out) {
    (void)rng;
    for (std::size_t i = 0; i < q.size(); ++i) out[i] = q[i];
  }
};

/// Makes one independent Model instance per chain (called once per chain, serially).
using ModelFactory = std::function<std::unique_ptr<Model>()>;

/// Adapts a plain callback  double f(span<const double> q, span<double> grad)  to a Model.
class CallbackModel final : public Model {
public:
  using Fn = std::function<double(std::span<const double>, std::span<double>)>;
  CallbackModel(std::size_t dim, Fn fn) : dim_(dim), fn_(std::move(fn)) {}
  std::size_t dim() const override { return dim_; }
  double log_density(std::span<const double> q, std::span<double> grad) override { return fn_(q, grad); }

private:
  std::size_t dim_;
  Fn fn_;
};

} // namespace bactor
