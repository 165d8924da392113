// SPDX-License-Identifier: MIT
// A user's log-density written with tape ops, as a Model for NUTS: the program writes only
// log p(q); the gradient comes from the tape (engine/autodiff.hpp).
//
//   bactor::TapeModel model(2, [](bactor::Var q) {
//     bactor::Var mu = bactor::element(q, 0), sigma = bactor::exp(bactor::element(q, 1));
//     return bactor::normal_lpdf(bactor::constant_view(data, data.size(), 1), mu, sigma)
//            + bactor::element(q, 1);                   // + log |d sigma / d log sigma|
//   }, {"mu", "log_sigma"});
//   auto chains = bactor::run_nuts([&] { return std::make_unique<bactor::TapeModel>(model); }, s);
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <bactor/engine/autodiff.hpp>
#include <bactor/engine/errors.hpp>
#include <bactor/samplers/model.hpp>

namespace bactor {

/// A Model whose log-density is a function written with tape ops,
///   Var log_p(Var q)
/// where q is the vector of the dim() unconstrained coordinates (one tape variable; take its
/// parts with element/slice) and the result is the scalar log p(q) up to a constant, including
/// the log-Jacobians of any constraining transforms. log_density(q, grad) calls log_p inside
/// a Tape::Scope on the calling thread's tape and writes grad_i = d log p / d q_i from one
/// reverse pass: repeated evaluations allocate nothing after the first, and chains running on
/// different threads use different tapes. log_p is called on the sampler's threads, so it must
/// be safe to call concurrently (read shared data, e.g. through constant_view, but do not
/// modify it) and must not use Vars created outside the call.
///
/// Copyable: run_nuts([&] { return std::make_unique<TapeModel>(model); }, settings) gives
/// each chain its own copy.
class TapeModel final : public Model {
public:
  using LogDensity = std::function<Var(Var q)>;
  /// Values of the output columns at q (`out` has one entry per name); `rng` is the chain's
  /// stream, for generated quantities such as posterior-predictive draws.
  using Outputs = std::function<void(std::span<const double> q, Rng& rng, std::span<double> out)>;

  /// `names`: the CSV column names. Without `outputs` the columns are q itself, and `names`
  /// has dim entries (empty: q.1 ... q.dim); with `outputs` (e.g. constrained parameters and
  /// generated quantities) one name per value it writes. Throws ArgumentError (a
  /// std::invalid_argument naming the argument) for dim 0, an empty log_p, or names of the
  /// wrong length.
  TapeModel(std::size_t dim, LogDensity log_p, std::vector<std::string> names = {}, Outputs outputs = {});

  std::size_t dim() const override { return dim_; }
  /// log p(q) and grad = d log p / dq from the tape. Throws ArgumentError when q or
  /// grad do not have dim() entries or log_p does not return a scalar.
  double log_density(std::span<const double> q, std::span<double> grad) override;
  std::vector<std::string> output_names() const override;
  void write_outputs(std::span<const double> q, Rng& rng, std::span<double> out) override;

private:
  std::size_t dim_;
  LogDensity log_p_;
  std::vector<std::string> names_;
  Outputs outputs_;
};

} // namespace bactor
