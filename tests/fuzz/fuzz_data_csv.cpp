// SPDX-License-Identifier: MIT
// libFuzzer harness: the trial-data CSV reader must either return a valid data set or throw
// std::invalid_argument; anything else (crash, other exception, invalid values) is a bug.
#include <bactor/models/data.hpp>

#include <cmath>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  try {
    const bactor::Dataset d = bactor::parse_dataset(in, "fuzz.csv");
    for (std::size_t i = 0; i < d.s.size(); ++i)
      if (!(d.s[i] > 0 && std::isfinite(d.s[i]) && d.r[i] > 0 && std::isfinite(d.r[i]))) std::abort();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
