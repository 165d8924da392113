// SPDX-License-Identifier: MIT
// libFuzzer harness: the CmdStan CSV reader either returns a rectangular table or throws
// std::invalid_argument.
#include <bactor/samplers/cmdstan_csv.hpp>
#include "tests/fuzz/fuzz_util.hpp"

#include <cstdlib>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = bactor::fuzz::scratch_file("cmdstan", data, size);
  try {
    const bactor::ChainResult c = bactor::read_cmdstan_csv(path);
    if (c.columns.empty() || c.draws.size() % c.columns.size() != 0) std::abort();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
