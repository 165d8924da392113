// SPDX-License-Identifier: MIT
// Embedding the autodiff tape: the gradient of a normal log-likelihood with respect to
// (mu, log sigma), using only the installed public headers.
//
//   build: c++ -std=c++20 embed_tape.cpp $(pkg-config --cflags --libs bactor)
#include <cstdio>
#include <vector>

#include <bactor/engine/autodiff.hpp>

int main() {
  const std::vector<double> data = {1.2, 0.7, 2.1, 1.6, 0.9};
  const std::vector<double> theta = {1.0, 0.0};  // mu, log sigma
  std::vector<double> grad(2);

  // value_and_gradient opens a Tape::Scope, makes theta a variable, runs the reverse pass.
  const double lp = bactor::value_and_gradient(
      [&](bactor::Var th) {
        bactor::Var mu = bactor::element(th, 0);
        bactor::Var sigma = bactor::exp(bactor::element(th, 1));
        bactor::Var x = bactor::constant(data);
        return bactor::normal_lpdf(x, mu, sigma) + bactor::normal_lpdf(th, 0.0, 10.0);
      },
      theta, grad);

  std::printf("log density %.6f\n", lp);
  std::printf("d/d mu        %.6f\n", grad[0]);
  std::printf("d/d log sigma %.6f\n", grad[1]);

  // The same by hand, with an explicit scope (what value_and_gradient does).
  {
    bactor::Tape::Scope scope;  // rewinds the thread's tape on exit
    bactor::Var th = bactor::variable(theta);
    bactor::Var z = (bactor::constant(data) - bactor::element(th, 0)) / bactor::exp(bactor::element(th, 1));
    bactor::Var y = -0.5 * bactor::sum(bactor::square(z));
    bactor::backward(y);
    std::printf("d/d mu of -sum(z^2)/2 = %.6f (= sum(x - mu) = %.6f)\n", th.adjoint(0), 6.5 - 5.0);
  }
  return 0;
}
