// SPDX-License-Identifier: MIT
// libFuzzer harness: loading a network file either yields a network whose forward pass is
// finite at a typical theta, or throws std::invalid_argument.
#include <bactor/models/network.hpp>
#include "tests/fuzz/fuzz_util.hpp"

#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = bactor::fuzz::scratch_file("network", data, size);
  try {
    const auto net = bactor::ActionNetwork::load(path);
    std::vector<double> theta(net.n_inputs(), 0.2);
    bactor::ActionNetwork::Workspace ws;
    double x[3];
    net.forward(theta, std::span<double, 3>(x, 3), ws);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
