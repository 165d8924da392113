// SPDX-License-Identifier: MIT
// libFuzzer harness for the column map (--columns) with the reader: the input's first line is
// the map's text ("s=duration,r=reproduction,cond=block"), the rest the CSV. parse_column_map
// and parse_dataset must either throw std::invalid_argument (ArgumentError is one) or give a data
// set that satisfies dataset_invariants; a valid map must also read back from to_string.
#include <bactor/models/data.hpp>

#include "tests/fuzz/data_invariants.hpp"

#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = text.find('\n');
  const std::string map_text = text.substr(0, nl);
  std::istringstream in(nl == std::string::npos ? std::string() : text.substr(nl + 1));
  try {
    const bactor::ColumnMap map = bactor::parse_column_map(map_text);
    if (!(bactor::parse_column_map(bactor::to_string(map)) == map)) std::abort();
    const bactor::Dataset d = bactor::parse_dataset(in, "fuzz.csv", map);
    if (!bactor::fuzz::dataset_invariants(d, "/tmp/bactor-fuzz-columns-" + std::to_string(::getpid()))) std::abort();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
