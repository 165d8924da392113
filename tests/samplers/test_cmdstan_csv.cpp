// SPDX-License-Identifier: MIT
// CmdStan CSV: round trip, Stan-written files (warm-up rows, dense metric), bad input.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <bactor/samplers/cmdstan_csv.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>
#include "tests/samplers/test_models.hpp"

using namespace bactor;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("bactor_test_" + name)).string();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string error_of(const std::string& path) {
  try {
    read_cmdstan_csv(path);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST_CASE("write -> read round trip is exact") {
  for (bool dense : {false, true})
    for (bool save_warmup : {false, true}) {
      NutsSettings s;
      s.chains = 2;
      s.warmup = 150;
      s.samples = 100;
      s.seed = 12;
      s.dense_metric = dense;
      s.save_warmup = save_warmup;
      const auto chains = run_nuts([] { return std::make_unique<test::EightSchools>(); }, s);
      for (const auto& c : chains) {
        const std::string path = temp_path("rt_" + std::to_string(c.chain_id) + ".csv");
        write_cmdstan_csv(path, c, s, "eight_schools", {{"data_file", "none"}});
        CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
        const ChainResult r = read_cmdstan_csv(path);
        CHECK(r.chain_id == c.chain_id);
        CHECK(r.columns == c.columns);
        CHECK(r.draws == c.draws);  // bit-exact: shortest round-trip formatting
        CHECK(r.step_size == c.step_size);
        CHECK(r.inv_metric == c.inv_metric);
        CHECK(r.warmup_draws_saved == c.warmup_draws_saved);
        CHECK(r.complete);
        CHECK(r.warmup_seconds == doctest::Approx(c.warmup_seconds).epsilon(1e-5));
        // integers are written as integers
        std::ifstream in(path);
        std::string line, body;
        while (std::getline(in, line))
          if (!line.empty() && line[0] != '#' && line[0] != 'l') {
            body = line;
            break;
          }
        std::size_t commas = 0, pos = 0;
        while (commas < 3) pos = body.find(',', pos) + 1, ++commas;
        const std::string depth = body.substr(pos, body.find(',', pos) - pos);
        CHECK(depth.find('.') == std::string::npos);
        std::remove(path.c_str());
      }
    }
}

TEST_CASE("reads a file written by CmdStan (save_warmup, Default markers, dense metric)") {
  const std::string path = temp_path("stan.csv");
  write_text(path,
             "# stan_version_major = 2\n# model = bernoulli_model\n# method = sample (Default)\n"
             "#   sample\n#     num_samples = 3\n#     num_warmup = 2\n#     save_warmup = 1\n"
             "# id = 3\n#   random\n#     seed = 42\n"
             "lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,theta,z.1\n"
             "-7.1,0.9,1.2,1,3,0,7.5,0.2,1\n"
             "-7.0,0.95,0.8,2,3,0,7.3,0.25,2\n"
             "# Adaptation terminated\n# Step size = 0.93\n# Elements of inverse mass matrix:\n"
             "# 0.5, 0.1\n# 0.1, 0.6\n"
             "-6.9,1,0.93,1,1,0,7.0,0.3,3\n-6.8,0.7,0.93,2,3,0,6.9,0.22,4\n-7.2,0.85,0.93,1,1,1,7.4,0.35,5\n"
             "# \n#  Elapsed Time: 0.01 seconds (Warm-up)\n#                0.02 seconds (Sampling)\n"
             "#                0.03 seconds (Total)\n# \n");
  const ChainResult r = read_cmdstan_csv(path);
  CHECK(r.chain_id == 3);
  CHECK(r.columns.size() == 9);
  CHECK(r.rows() == 5);
  CHECK(r.warmup_draws_saved == 2);
  CHECK(r.step_size == 0.93);
  CHECK(r.inv_metric == std::vector<double>{0.5, 0.1, 0.1, 0.6});
  CHECK(r.warmup_seconds == 0.01);
  CHECK(r.sampling_seconds == 0.02);
  CHECK(r.draws[2 * 9 + 7] == 0.3);
  std::remove(path.c_str());
}

TEST_CASE("bad CSV input names the file and line") {
  const std::string head =
      "# method = sample\nlp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,a\n";
  const std::string path = temp_path("bad.csv");
  CHECK(error_of(temp_path("does_not_exist.csv")).find("cannot open") != std::string::npos);

  write_text(path, head + "1,1,1,1,1,0,1,2\n1,1,1,1,1,0,1\n");
  CHECK(error_of(path) == path + ":4: expected 8 values, got 7");
  write_text(path, head + "1,1,1,1,1,0,1,2,3\n");
  CHECK(error_of(path) == path + ":3: too many values (expected 8)");
  write_text(path, head + "1,1,1,1,1,0,1,abc\n");
  CHECK(error_of(path) == path + ":3: bad number 'abc' in column 8 (a)");
  write_text(path, head + "1,1,1,1,1,0,1,\n");
  CHECK(error_of(path).find(path + ":3: bad number ''") == 0);
  write_text(path, "# method = sample\n");
  CHECK(error_of(path).find("no CSV header") != std::string::npos);
  write_text(path, "# method = sample\nx,y\n1,2\n");
  CHECK(error_of(path).find(path + ":2: expected a CmdStan header") == 0);
  write_text(path, "lp__,a\n1,2\n");
  CHECK(error_of(path).find("method = sample") != std::string::npos);
  write_text(path, head + "# Adaptation terminated\n# Step size = x\n");
  CHECK(error_of(path) == path + ":4: bad step size 'x'");
  write_text(path, "");
  CHECK(error_of(path).find(path + ":1:") == 0);
  std::remove(path.c_str());
}

TEST_CASE("no warm-up: the adaptation block is still written (cmdstanpy expects it)") {
  NutsSettings s;
  s.chains = 1;
  s.warmup = 0;
  s.samples = 20;
  const auto chains = run_nuts([] { return std::make_unique<test::DiagGaussian>(std::vector<double>{1.0, 2.0}); }, s);
  const std::string path = temp_path("nowarm.csv");
  write_cmdstan_csv(path, chains[0], s, "normal");
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text.find("\n# Adaptation terminated\n# Step size = ") != std::string::npos);
  CHECK(text.find("# Diagonal elements of inverse mass matrix:\n# 1, 1\n") != std::string::npos);
  const ChainResult r = read_cmdstan_csv(path);
  CHECK(r.warmup_draws_saved == 0);
  CHECK(r.rows() == 20);
  CHECK(r.draws == chains[0].draws);
  std::remove(path.c_str());
}

TEST_CASE("max_depth travels through the CSV and drives the saturation count") {
  NutsSettings s;
  s.chains = 2;
  s.warmup = 200;
  s.samples = 200;
  s.max_depth = 2;  // far too shallow for rho = 0.99 with a diagonal metric
  const auto chains = run_nuts([] { return std::make_unique<test::CorrGaussian2>(0.99); }, s);
  const Summary a = summarize(chains);
  CHECK(a.max_depth == 2);
  CHECK(a.max_depth_hits > 100);
  std::vector<ChainResult> back;
  for (const auto& c : chains) {
    const std::string path = temp_path("depth_" + std::to_string(c.chain_id) + ".csv");
    write_cmdstan_csv(path, c, s, "corr");
    back.push_back(read_cmdstan_csv(path));
    CHECK(back.back().max_depth == 2);
    std::remove(path.c_str());
  }
  const Summary b = summarize(back);
  CHECK(b.max_depth_hits == a.max_depth_hits);
  CHECK(format_summary(b).find("saturated the maximum tree depth 2") != std::string::npos);
}

namespace {
std::string source_file(const std::string& rel) {
  const char* src = std::getenv("BACTOR_SOURCE_DIR");
  REQUIRE_MESSAGE(src, "BACTOR_SOURCE_DIR is not set (run through meson test)");
  return std::string(src) + "/" + rel;
}
} // namespace

TEST_CASE("reads rstan/PyStan sample files: no '# method = sample', key=value arguments") {
  // tests/samplers/stan_files/README.md says how these two chains were made.
  const ChainResult r = read_cmdstan_csv(source_file("tests/samplers/stan_files/rstan_actor_2.csv"));
  CHECK(r.chain_id == 2);        // "# chain_id=2"
  CHECK(r.max_depth == 10);      // "# max_treedepth=10"
  REQUIRE(r.columns.size() == 18);
  CHECK(r.columns[1] == "accept_stat__");
  CHECK(r.columns[7] == "mu_0");
  CHECK(r.columns[17] == "r_rep.4");
  CHECK(r.warmup_draws_saved == 50);  // 100 warm-up iterations, thin 2, saved
  CHECK(r.rows() == 150);
  CHECK(r.step_size > 0);
  CHECK(r.inv_metric.size() == 3);
  CHECK(r.complete);
  const Summary s = summarize({read_cmdstan_csv(source_file("tests/samplers/stan_files/rstan_actor_1.csv")), r});
  CHECK(s.draws == 200);
  CHECK(s.chains == 2);
}

TEST_CASE("a file without '# method = sample' needs the sampler columns; a method other than sample is refused") {
  const std::string path = temp_path("nomethod.csv");
  write_text(path, "# Sample generated by Stan\n# chain_id=4\n"
                   "lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,a\n"
                   "-1,0.9,0.5,2,3,0,1.5,0.25\n-1.2,0.8,0.5,2,3,0,1.7,0.5\n");
  const ChainResult r = read_cmdstan_csv(path);
  CHECK(r.chain_id == 4);
  CHECK(r.rows() == 2);
  write_text(path, "# Sample generated by Stan\nlp__,a\n-1,0.25\n");  // no sampler columns
  CHECK(error_of(path) == path + ":1: not a Stan sampling file (no '# method = sample' line, and no sampler "
                                 "columns accept_stat__, stepsize__, ... after lp__ in the header)");
  write_text(path, "# method = optimize\nlp__,accept_stat__,a\n-1,1,0.25\n");
  CHECK(error_of(path).find("not a Stan sampling file") != std::string::npos);
  std::remove(path.c_str());
}

TEST_CASE("a UTF-8 byte-order mark before the first line is skipped") {
  const std::string path = temp_path("bom.csv");
  write_text(path, "\xEF\xBB\xBF# method = sample\n"
                   "lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,a\n"
                   "-1,0.9,0.5,2,3,0,1.5,0.25\n");
  CHECK(read_cmdstan_csv(path).rows() == 1);
  write_text(path, "\xEF\xBB\xBFlp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,a\n"
                   "-1,0.9,0.5,2,3,0,1.5,0.25\n");
  const ChainResult r = read_cmdstan_csv(path);
  CHECK(r.columns.front() == "lp__");
  std::remove(path.c_str());
}
