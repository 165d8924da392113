// SPDX-License-Identifier: MIT
#include <bactor/samplers/tape_model.hpp>

#include <string>
#include <utility>

#include <bactor/engine/errors.hpp>

namespace bactor {

TapeModel::TapeModel(std::size_t dim, LogDensity log_p, std::vector<std::string> names, Outputs outputs)
    : dim_(dim), log_p_(std::move(log_p)), names_(std::move(names)), outputs_(std::move(outputs)) {
  if (dim_ == 0) throw ArgumentError("dim", "TapeModel needs at least one coordinate");
  if (!log_p_) throw ArgumentError("log_p", "TapeModel needs a log-density function (got an empty one)");
  if (outputs_) {
    if (names_.empty())
      throw ArgumentError("names", "TapeModel with `outputs` needs one name per value it writes (got none)");
  } else if (names_.empty()) {
    for (std::size_t i = 1; i <= dim_; ++i) names_.push_back("q." + std::to_string(i));
  } else if (names_.size() != dim_) {
    throw ArgumentError("names", "TapeModel got " + std::to_string(names_.size()) + " names for dim = " +
                                     std::to_string(dim_) + " (or pass `outputs` to write other columns)");
  }
}

double TapeModel::log_density(std::span<const double> q, std::span<double> grad) {
  if (q.size() != dim_)
    throw ArgumentError("q", "TapeModel::log_density got " + std::to_string(q.size()) +
                                 " coordinates, expected " + std::to_string(dim_));
  if (grad.size() != dim_)
    throw ArgumentError("grad", "TapeModel::log_density got " + std::to_string(grad.size()) +
                                    " entries, expected " + std::to_string(dim_));
  Tape::Scope scope;
  const Var qv = variable(q);
  const Var lp = log_p_(qv);
  if (!lp.node() || !lp.is_scalar())
    throw ArgumentError("log_p", "must return a scalar Var, returned " +
                                     (lp.node() ? "a " + std::to_string(lp.rows()) + "x" + std::to_string(lp.cols()) + " array"
                                                : std::string("an empty Var")));
  backward(lp);
  for (std::size_t i = 0; i < dim_; ++i) grad[i] = qv.adjoint(i);
  return lp.value();
}

std::vector<std::string> TapeModel::output_names() const { return names_; }

void TapeModel::write_outputs(std::span<const double> q, Rng& rng, std::span<double> out) {
  if (outputs_) {
    outputs_(q, rng, out);
    return;
  }
  for (std::size_t i = 0; i < dim_; ++i) out[i] = q[i];
}

} // namespace bactor
