// SPDX-License-Identifier: MIT
// Replays the crashing inputs found by the libFuzzer harnesses (tests/fuzz/regressions/<harness>/)
// through the normal build: each reader must return a valid result or throw
// std::invalid_argument, exactly the property the harnesses check.
#include <doctest/doctest.h>

#include <bactor/models/data.hpp>
#include <bactor/models/network.hpp>
#include <bactor/samplers/cmdstan_csv.hpp>

#include "tests/fuzz/data_invariants.hpp"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> regressions(const std::string& harness) {
  const char* src = std::getenv("BACTOR_SOURCE_DIR");
  REQUIRE_MESSAGE(src, "BACTOR_SOURCE_DIR is not set (run through meson test)");
  const fs::path dir = fs::path(src) / "tests" / "fuzz" / "regressions" / harness;
  REQUIRE_MESSAGE(fs::is_directory(dir), dir.string());
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') out.push_back(e.path());
  return out;
}

// "ok" (valid result), "rejected" (std::invalid_argument) or a description of the bug.
template <class F>
std::string outcome(F&& f) {
  try {
    return f() ? "ok" : "invalid result";
  } catch (const std::invalid_argument&) {
    return "rejected";
  } catch (const std::exception& e) {
    return std::string("other exception: ") + e.what();
  }
}

} // namespace

TEST_CASE("fuzz regressions: data CSV reader") {
  for (const auto& p : regressions("data_csv")) {
    CAPTURE(p.string());
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    std::istringstream in(ss.str());
    const std::string r = outcome([&] {
      const bactor::Dataset d = bactor::parse_dataset(in, "fuzz.csv");
      return bactor::fuzz::dataset_invariants(d, (fs::temp_directory_path() / "bactor_fuzz_replay.csv").string());
    });
    CHECK((r == "ok" || r == "rejected"));
  }
}

// The column-map harness (fuzz_data_columns): the first line is the map's text, the rest the file.
TEST_CASE("fuzz regressions: column map and condition labels") {
  const auto inputs = regressions("data_columns");
  CHECK(inputs.size() >= 6);
  int accepted = 0;
  for (const auto& p : inputs) {
    CAPTURE(p.string());
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string text = ss.str();
    const std::size_t nl = text.find('\n');
    std::istringstream in(nl == std::string::npos ? std::string() : text.substr(nl + 1));
    const std::string r = outcome([&] {
      const bactor::ColumnMap map = bactor::parse_column_map(text.substr(0, nl));
      if (!(bactor::parse_column_map(bactor::to_string(map)) == map)) return false;
      const bactor::Dataset d = bactor::parse_dataset(in, "fuzz.csv", map);
      return bactor::fuzz::dataset_invariants(d, (fs::temp_directory_path() / "bactor_fuzz_replay.csv").string());
    });
    CHECK((r == "ok" || r == "rejected"));
    accepted += r == "ok";
  }
  CHECK(accepted >= 1);  // the seeds include a valid file
}

TEST_CASE("fuzz regressions: network file reader") {
  for (const auto& p : regressions("network")) {
    CAPTURE(p.string());
    const std::string r = outcome([&] {
      const auto net = bactor::ActionNetwork::load(p.string());
      std::vector<double> theta(net.n_inputs(), 0.2);
      bactor::ActionNetwork::Workspace ws;
      double x[3];
      net.forward(theta, std::span<double, 3>(x, 3), ws);
      return true;
    });
    CHECK((r == "ok" || r == "rejected"));
  }
}

TEST_CASE("fuzz regressions: CmdStan CSV reader") {
  for (const auto& p : regressions("cmdstan_csv")) {
    CAPTURE(p.string());
    const std::string r = outcome([&] {
      const bactor::ChainResult c = bactor::read_cmdstan_csv(p.string());
      return !c.columns.empty() && c.draws.size() % c.columns.size() == 0;
    });
    CHECK((r == "ok" || r == "rejected"));
  }
}
