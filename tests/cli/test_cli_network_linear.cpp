// SPDX-License-Identifier: MIT
// End-to-end: a network under gaussian perception (docs/network.md, "The linear head"), tiny sizes:
// train -> evaluate -> simulate --network -> infer --network, and the refusals of a network
// trained for another perception model.
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

namespace fs = std::filesystem;
using bactor::testing::Result;
using bactor::testing::read_text;
using bactor::testing::run_bactor;

TEST_CASE("cli network linear: train -> evaluate -> simulate -> infer under gaussian perception; refusals") {
  const fs::path dir = bactor::testing::scratch_path("bactor_cli_network_linear_", "round_trip");
  fs::create_directories(dir);
  const std::string net = (dir / "lin.safetensors").string(), data = (dir / "d.csv").string();
  const std::string cost = "--cost AbsoluteCostQuadraticEffort --perception gaussian --motor gaussian";
  Result t = run_bactor("train " + cost + " --steps 300 --batch 64 --eval-points 16 --threads 1 --out " + net);
  INFO(t.out);
  REQUIRE(t.code == 0);
  Result ev = run_bactor("evaluate --network " + net + " --points 20");
  INFO(ev.out);
  REQUIRE(ev.code == 0);
  CHECK(ev.out.find("exact linear action") != std::string::npos);
  CHECK(ev.out.find("mean_rel_error=") != std::string::npos);
  Result s = run_bactor("simulate " + cost + " --network " + net +
                        " --set mu_0=0.2,sigma_0=1,sigma=0.3,sigma_a=0.25,beta=0.7 --stimuli=0.3:1.5 --trials 30 --seed 3 --out " + data);
  INFO(s.out);
  REQUIRE(s.code == 0);
  CHECK(s.out.find("action: network") != std::string::npos);
  const std::string fit = (dir / "fit").string();
  Result f = run_bactor("infer --data " + data + " " + cost + " --network " + net +
                        " --fix sigma=0.3 --chains 1 --warmup 30 --samples 20 --seed 2 --out " + fit);
  INFO(f.out);
  REQUIRE(f.code == 0);
  CHECK(read_text(dir / "fit" / "chain-1.csv").find("perception = gaussian") != std::string::npos);
  // The same network under log-normal perception (positive stimuli, which that model reads), and a
  // log-normal network under gaussian perception.
  Result wrong = run_bactor("infer --data " + data + " --cost AbsoluteCostQuadraticEffort --motor gaussian --network " + net +
                            " --chains 1 --warmup 10 --samples 10 --out " + (dir / "wrong").string());
  CHECK(wrong.code != 0);
  CHECK(wrong.out.find("gaussian perception") != std::string::npos);
  const std::string lognormal_net = (dir / "log.safetensors").string();
  REQUIRE(run_bactor("train --cost AbsoluteCostQuadraticEffort --motor gaussian --steps 5 --batch 32 --eval-points 8 --threads 1 --out " +
                     lognormal_net).code == 0);
  Result wrong2 = run_bactor("infer --data " + data + " " + cost + " --network " + lognormal_net +
                             " --chains 1 --warmup 10 --samples 10 --out " + (dir / "wrong2").string());
  CHECK(wrong2.code != 0);
  CHECK(wrong2.out.find("lognormal perception") != std::string::npos);
}
