// SPDX-License-Identifier: MIT
// infer --hierarchical with the fused gradient split over threads (at least 4 blocks of 64
// subjects a thread): the draws are bit for bit those of one thread (docs/hierarchical.md, "The gradient").
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

namespace fs = std::filesystem;
using bactor::testing::Result;

TEST_CASE("cli: infer --hierarchical gives the same draws with 1 and 2 threads") {
  const fs::path dir = bactor::testing::scratch_path("bactor_hier_threads_", "cohort");
  const std::string data = bactor::testing::simulated_cohort(dir, 600, 5, 4);  // 10 blocks of 64: two threads share them
  // One chain, so that the gradient (not the chains) gets the threads; short trajectories: the
  // test is of identity, not of mixing.
  const std::string fit = "infer --data " + data + " --cost QuadraticCost --closed-form --hierarchical --chains 1 "
                          "--warmup 40 --samples 40 --max-depth 4 --seed 2 --no-log-lik --out ";
  for (const char* threads : {"1", "2"}) {
    const Result r = bactor::testing::run_bactor(fit + (dir / (std::string("t") + threads)).string() + " --threads " + threads);
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("fused gradient") != std::string::npos);  // the path that uses the threads
  }
  const auto a = bactor::testing::draws_lines(dir / "t1" / "chain-1.csv"), b = bactor::testing::draws_lines(dir / "t2" / "chain-1.csv");
  REQUIRE(a.size() > 40);
  CHECK(a == b);
}
