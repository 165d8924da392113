// SPDX-License-Identifier: MIT
// Shared finite-difference gradient checker for tape expressions (usable by every test).
//
//   auto r = bactor::testing::gradcheck(
//       [](std::span<const bactor::Var> in) { return bactor::sum(bactor::exp(in[0]) * in[1]); },
//       {{0.1, 0.2, 0.3}, {1.0, 2.0, 3.0}});
//   CHECK_MESSAGE(r.ok, r.report);
//
// The function receives the inputs as tape variables and returns a scalar Var. Its gradient
// from the tape is compared with central differences f(x + h e_i) - f(x - h e_i) / 2h,
// h = step * max(1, |x_i|), elementwise with
//   |tape - fd| <= atol + rtol * max(|tape|, |fd|) + 10 eps max(1, |f|) / h,
// the last term being the rounding error of the difference quotient (eps = 2.2e-16).
// With step 1e-6 in double the truncation error is ~1e-12 relative for smooth functions,
// so the default rtol 1e-6 / atol 1e-8 leaves room without hiding a wrong derivative.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include <bactor/engine/autodiff.hpp>

namespace bactor::testing {

struct GradCheckOptions {
  double step = 1e-6;
  double rtol = 1e-6;
  double atol = 1e-8;
};

struct GradCheckResult {
  bool ok = true;
  double value = 0;                 // f at the inputs
  double max_abs_error = 0;         // max |tape - fd|
  std::vector<std::vector<double>> tape, fd;  // per input, per element
  std::string report;               // first offending elements (empty when ok)
};

/// A fixed pseudo-random weight vector of size n in [0.5, 1.5] (distinct per element), to
/// reduce a vector output to a scalar that exercises every output adjoint differently.
inline std::vector<double> weights(std::size_t n, unsigned salt = 1) {
  std::vector<double> w(n);
  for (std::size_t i = 0; i < n; ++i) w[i] = 0.5 + std::fmod(0.6180339887 * double(i + 1) * salt, 1.0);
  return w;
}

/// sum_i w_i y_i with w = weights(y.size()): a scalar for checking vector-valued ops.
inline Var reduce(Var y) {
  const auto w = weights(y.size());
  return dot(y, constant(std::span<const double>(w), y.rows(), y.cols()));
}

template <class F>
double evaluate(F& f, const std::vector<std::vector<double>>& inputs,
                const std::vector<std::pair<std::size_t, std::size_t>>& shapes) {
  Tape::Scope scope;
  std::vector<Var> vars;
  for (std::size_t j = 0; j < inputs.size(); ++j)
    vars.push_back(constant(std::span<const double>(inputs[j]), shapes[j].first, shapes[j].second));
  return f(std::span<const Var>(vars)).value();
}

/// Compares the tape gradient of f with central differences. `shapes` (optional) gives
/// rows x cols per input; by default each input is a column vector.
template <class F>
GradCheckResult gradcheck(F&& f, std::vector<std::vector<double>> inputs, GradCheckOptions opt = {},
                          std::vector<std::pair<std::size_t, std::size_t>> shapes = {}) {
  if (shapes.empty())
    for (const auto& in : inputs) shapes.emplace_back(in.size(), 1);
  GradCheckResult r;
  {
    Tape::Scope scope;
    std::vector<Var> vars;
    for (std::size_t j = 0; j < inputs.size(); ++j)
      vars.push_back(variable(std::span<const double>(inputs[j]), shapes[j].first, shapes[j].second));
    Var y = f(std::span<const Var>(vars));
    r.value = y.value();
    backward(y);
    for (auto& v : vars) {
      r.tape.emplace_back(v.size());
      for (std::size_t i = 0; i < v.size(); ++i) r.tape.back()[i] = v.adjoint(i);
    }
  }
  int reported = 0;
  for (std::size_t j = 0; j < inputs.size(); ++j) {
    r.fd.emplace_back(inputs[j].size());
    for (std::size_t i = 0; i < inputs[j].size(); ++i) {
      const double x0 = inputs[j][i];
      const double h = opt.step * std::max(1.0, std::abs(x0));
      inputs[j][i] = x0 + h;
      const double fp = evaluate(f, inputs, shapes);
      inputs[j][i] = x0 - h;
      const double fm = evaluate(f, inputs, shapes);
      inputs[j][i] = x0;
      const double fd = (fp - fm) / (2 * h);
      r.fd[j][i] = fd;
      const double t = r.tape[j][i];
      const double err = std::abs(t - fd);
      r.max_abs_error = std::max(r.max_abs_error, err);
      const double rounding = 10 * 2.2e-16 * std::max(1.0, std::abs(r.value)) / h;
      if (!(err <= opt.atol + rounding + opt.rtol * std::max(std::abs(t), std::abs(fd)))) {
        r.ok = false;
        if (reported++ < 5) {
          char buf[200];
          std::snprintf(buf, sizeof buf, "input %zu element %zu (x = %.6g): tape %.10g, fd %.10g\n", j, i,
                        x0, t, fd);
          r.report += buf;
        }
      }
    }
  }
  return r;
}

} // namespace bactor::testing
