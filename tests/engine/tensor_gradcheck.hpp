// SPDX-License-Identifier: MIT
// Finite-difference check of float tensor graphs (engine/tensor.hpp) against the same function
// written in double:
//
//   auto r = bactor::testing::tensor_gradcheck(
//       [](std::span<const bactor::Tensor> in) { return bactor::sum(bactor::exp(in[0])); },
//       [](const std::vector<std::vector<double>>& in) { double s = 0; for (double x : in[0]) s += std::exp(x); return s; },
//       {{{0.1, 0.2, 0.3}, 3, 1}});
//   CHECK_MESSAGE(r.ok, r.report);
//
// The inputs are rounded to float first, so both functions see the same point. The float tape
// gradient is compared elementwise with central differences of the double function
// (h = step * max(1, |x|)):
//   |tape - fd| <= atol * G + rtol * max(|tape|, |fd|),   G = max(1, max |fd| over all inputs),
// float rounding being relative to the size of the terms rather than of each element. The value
// of the float graph must match the double function to `value_rtol`.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include <bactor/engine/tensor.hpp>

namespace bactor::testing {

struct TensorInput {
  std::vector<double> values;
  std::size_t rows = 1, cols = 1;
};

struct TensorCheckOptions {
  double step = 1e-6;
  double rtol = 2e-4;
  double atol = 2e-5;
  double value_rtol = 2e-5;
};

struct TensorCheckResult {
  bool ok = true;
  double value = 0, reference_value = 0;
  double max_abs_error = 0;
  std::string report;
};

/// f_tape(std::span<const Tensor>) -> Var (a scalar on the tape, inputs as tensor variables);
/// f_ref(const std::vector<std::vector<double>>&) -> double.
template <class FT, class FR>
TensorCheckResult tensor_gradcheck(FT&& f_tape, FR&& f_ref, std::vector<TensorInput> inputs,
                                   TensorCheckOptions opt = {}) {
  for (auto& in : inputs)
    for (auto& v : in.values) v = double(float(v));
  std::vector<std::vector<double>> x;
  for (const auto& in : inputs) x.push_back(in.values);
  TensorCheckResult r;
  std::vector<std::vector<double>> tape(inputs.size());
  {
    Tape::Scope scope;
    std::vector<Tensor> vars;
    for (const auto& in : inputs) {
      std::vector<float> f(in.values.begin(), in.values.end());
      vars.push_back(tensor_variable(f, in.rows, in.cols));
    }
    Var y = f_tape(std::span<const Tensor>(vars));
    r.value = y.value();
    backward(y);
    for (std::size_t j = 0; j < vars.size(); ++j)
      for (std::size_t i = 0; i < vars[j].size(); ++i) tape[j].push_back(double(vars[j].adjoint(i)));
  }
  r.reference_value = f_ref(x);
  if (!(std::abs(r.value - r.reference_value) <= opt.value_rtol * std::max(1.0, std::abs(r.reference_value)))) {
    r.ok = false;
    char buf[160];
    std::snprintf(buf, sizeof buf, "value: float graph %.9g, double reference %.9g\n", r.value, r.reference_value);
    r.report += buf;
  }
  std::vector<std::vector<double>> fd(inputs.size());
  double G = 1.0;
  for (std::size_t j = 0; j < x.size(); ++j)
    for (std::size_t i = 0; i < x[j].size(); ++i) {
      const double x0 = x[j][i];
      const double h = opt.step * std::max(1.0, std::abs(x0));
      x[j][i] = x0 + h;
      const double fp = f_ref(x);
      x[j][i] = x0 - h;
      const double fm = f_ref(x);
      x[j][i] = x0;
      fd[j].push_back((fp - fm) / (2 * h));
      G = std::max(G, std::abs(fd[j].back()));
    }
  int reported = 0;
  for (std::size_t j = 0; j < x.size(); ++j)
    for (std::size_t i = 0; i < x[j].size(); ++i) {
      const double t = tape[j][i], d = fd[j][i], err = std::abs(t - d);
      r.max_abs_error = std::max(r.max_abs_error, err);
      if (!(err <= opt.atol * G + opt.rtol * std::max(std::abs(t), std::abs(d)))) {
        r.ok = false;
        if (reported++ < 5) {
          char buf[200];
          std::snprintf(buf, sizeof buf, "input %zu element %zu (x = %.6g): tape %.9g, fd %.9g\n", j, i, x[j][i], t,
                        d);
          r.report += buf;
        }
      }
    }
  return r;
}

} // namespace bactor::testing
