// SPDX-License-Identifier: MIT
// libFuzzer harness: the trial-data CSV reader must either return a data set that satisfies
// dataset_invariants (values, condition labels, a write/read round trip) or throw
// std::invalid_argument; anything else (crash, other exception, a broken invariant) is a bug.
#include <bactor/models/data.hpp>

#include "tests/fuzz/data_invariants.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  try {
    const bactor::Dataset d = bactor::parse_dataset(in, "fuzz.csv");
    if (!bactor::fuzz::dataset_invariants(d, "/tmp/bactor-fuzz-roundtrip-" + std::to_string(::getpid()))) std::abort();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
