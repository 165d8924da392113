// SPDX-License-Identifier: MIT
// End-to-end test of `bactor study misspecification` with tiny sizes: the tables, the files and
// their settings, reproducibility for a seed at different thread counts, and the usage errors.
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <string>

namespace fs = std::filesystem;
using bactor::testing::read_csv;
using bactor::testing::read_text;
using bactor::testing::Result;
using bactor::testing::run_bactor;

namespace {
fs::path scratch(const std::string& name) { return bactor::testing::scratch_path("bactor_cli_study_", name); }
const std::string tiny = "study misspecification --trials 30 --datasets 1 --chains 2 --warmup 150 --samples 100 --seed 3";
} // namespace

TEST_CASE("cli study misspecification: tables, files, and the same numbers for 1 and 2 threads") {
  const fs::path a = scratch("a"), b = scratch("b");
  const Result r = run_bactor(tiny + " --threads 2 --out " + a.string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("generalized family is left out") != std::string::npos);
  CHECK(r.out.find("(a) PSIS-LOO preference") != std::string::npos);
  CHECK(r.out.find("(b) Shared parameters") != std::string::npos);
  CHECK(r.out.find("[19/25] data gaussian+offset #1, fit gaussian+offset") != std::string::npos);
  CHECK(r.out.find("[25/25] data linear #1, fit linear") != std::string::npos);

  // One row per (data set, fitted family): 5 generating families x 1 data set x 5 fits; in each
  // data set exactly one best fit; the generating family's own row has elpd_diff 0.
  const auto fits = read_csv(a / "fits.csv");
  REQUIRE(fits.size() == 25);
  std::set<std::string> families;
  int best = 0;
  for (const auto& row : fits) {
    families.insert(row.at("fit_family"));
    best += row.at("best") == "1";
    if (row.at("fit_family") == row.at("data_family")) CHECK(row.at("elpd_diff") == "0");
    CHECK(std::isfinite(std::stod(row.at("elpd_loo"))));
    // A fit that did not converge is listed after the tables.
    if (std::stod(row.at("max_rhat")) > 1.1 || std::stod(row.at("divergences")) > 0.01 * std::stod(row.at("draws")))
      CHECK(r.out.find("data " + row.at("data_family") + " #1, fit " + row.at("fit_family") + ": R-hat") != std::string::npos);
  }
  CHECK(families == std::set<std::string>{"lognormal", "lognormal+offset", "gaussian", "gaussian+offset", "linear"});
  CHECK(best == 5);
  // Parameters: sigma is fixed (absent); the offset scored only against data that have one;
  // sigma_0 (log units under log-normal perception, data units under gaussian) and mu_0 (data
  // units in both) scored across perception models only where their units agree.
  int linear_rows = 0;
  for (const auto& row : read_csv(a / "parameters.csv")) {
    CHECK(row.at("parameter") != "sigma");
    if (row.at("parameter") == "offset") CHECK((row.at("truth").empty() == (row.at("data_family").find("offset") == std::string::npos)));
    const bool cross = (row.at("data_family") == "linear") != (row.at("fit_family") == "linear");
    if (row.at("parameter") == "sigma_0") CHECK(row.at("truth").empty() == cross);
    if (row.at("parameter") == "mu_0") CHECK(!row.at("truth").empty());
    linear_rows += row.at("fit_family") == "linear";
  }
  CHECK(linear_rows == 5 * 3);  // sigma_0, mu_0, sigma_a per data set
  CHECK(read_csv(a / "datasets.csv").size() == 5);
  CHECK(fs::exists(a / "data" / "gaussian+offset-1.csv"));
  const std::string json = read_text(a / "study.json");
  CHECK(json.find("\"seed\": 3") != std::string::npos);
  CHECK(json.find("\"preference\"") != std::string::npos);

  const Result r1 = run_bactor(tiny + " --threads 1 --out " + b.string());
  REQUIRE(r1.code == 0);
  CHECK(read_text(a / "parameters.csv") == read_text(b / "parameters.csv"));
  CHECK(read_text(a / "datasets.csv") == read_text(b / "datasets.csv"));
}

TEST_CASE("cli study misspecification: usage errors exit 2 and name the option") {
  const std::string out = scratch("bad").string();
  Result r = run_bactor("study misspecification --trials 2 --out " + out);
  CHECK(r.code == 2);
  CHECK(r.out.find("--trials") != std::string::npos);
  r = run_bactor("study misspecification --datasets 0 --out " + out);
  CHECK(r.code == 2);
  CHECK(r.out.find("--datasets") != std::string::npos);
  r = run_bactor("study misspecification --trials 20");
  CHECK(r.code == 2);
  CHECK(r.out.find("--out") != std::string::npos);
  r = run_bactor("study misspecification --generalized-network /nonexistent.safetensors --out " + out);
  CHECK(r.code == 2);
  CHECK(r.out.find("nonexistent") != std::string::npos);
  r = run_bactor("study nosuch --out " + out);
  CHECK(r.code == 2);
  CHECK(r.out.find("misspecification") != std::string::npos);
}

TEST_CASE("cli study misspecification: absurd sizes and negative counts are refused before anything is written") {
  // Issue #23: --trials 1e11 and --samples 2e9 ended in std::bad_alloc (exit 1) after the output
  // folder was made, --datasets -1 wrapped to 2^64 - 1 and ran on, --chains 100000 ran, and
  // --threads -3 was refused by the sampler after the first data set was written.
  const fs::path out = scratch("sizes");
  const std::pair<const char*, const char*> cases[] = {
      {"--trials 100000000000", "--trials: at most 10000000"},
      {"--trials -1", "a negative number?"},
      {"--datasets -1", "--datasets: at most 10000 data sets per family (got 18446744073709551615, a negative number?)"},
      {"--chains 2000", "--chains: at most 1024"},
      {"--samples 2000000000", "--chains x --samples: at most 50000000 draws"},
      {"--threads -3", "--threads must be >= 0"}};
  for (const auto& [option, message] : cases) {
    Result r = run_bactor(std::string("study misspecification ") + option + " --out " + out.string());
    INFO(option, "\n", r.out);
    CHECK(r.code == 2);
    CHECK(r.out.find(message) != std::string::npos);
    CHECK_FALSE(fs::exists(out));
  }
}
