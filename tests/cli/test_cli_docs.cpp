// SPDX-License-Identifier: MIT
// The README as a front page: at most 300 lines, and every command of its command table exists
// (`bactor NAME --help` exits 0). docs/benchmarks.md is checked against its generator by the
// benchmarks_md test (bench/meson.build).
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

std::vector<std::string> readme_lines() {
  const char* src = std::getenv("BACTOR_SOURCE_DIR");
  REQUIRE_MESSAGE(src, "BACTOR_SOURCE_DIR is not set (run through meson test)");
  std::ifstream in(std::filesystem::path(src) / "README.md");
  REQUIRE(in);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

} // namespace

TEST_CASE("README: a front page of at most 300 lines whose command table names real commands") {
  const auto lines = readme_lines();
  CHECK(lines.size() <= 300);
  // The rows "| `bactor NAME ...` | ... |" of the table under "## Commands".
  std::vector<std::string> commands;
  bool in_section = false;
  for (const auto& l : lines) {
    if (l.rfind("## ", 0) == 0) in_section = l == "## Commands";
    if (!in_section || l.rfind("| `bactor ", 0) != 0) continue;
    const auto start = std::string("| `bactor ").size();
    const auto end = l.find_first_of(" `", start);
    commands.push_back(l.substr(start, end - start));
  }
  CHECK(commands.size() >= 10);
  for (const auto& c : commands) {
    const auto r = ::bactor::testing::run_bactor(c + " --help");
    INFO("bactor " << c << " --help: " << r.out);
    CHECK(r.code == 0);
  }
  // The quick start stays the two commands.
  bool demo = false, test = false;
  for (const auto& l : lines) demo = demo || l.rfind("make demo", 0) == 0, test = test || l.rfind("make test", 0) == 0;
  CHECK(demo);
  CHECK(test);
}
