// SPDX-License-Identifier: MIT
// End-to-end tests of the perception families (docs/families.md, "Perception"): the
// --perception option of train, simulate, infer and evaluate, what networks and fits record, and
// the refusals (an unknown name, a model not implemented yet, a network trained for another).
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

namespace fs = std::filesystem;
using bactor::testing::Result;
using bactor::testing::read_text;
using bactor::testing::run_bactor;

namespace {
fs::path scratch(const std::string& name) { return bactor::testing::scratch_path("bactor_cli_perception_", name); }
const std::string lognormal_set = "--set mu_0=1.5,sigma_0=0.2,sigma=0.2,sigma_r=0.1";
} // namespace

TEST_CASE("cli perception: option parsing, unknown names and models not supported yet") {
  const fs::path dir = scratch("parse");
  fs::create_directories(dir);
  const std::string data = (dir / "d.csv").string();
  Result bad = run_bactor("simulate --cost QuadraticCost --perception normal " + lognormal_set + " --out " + data);
  CHECK(bad.code == 2);
  CHECK(bad.out.find("--perception") != std::string::npos);
  CHECK_FALSE(fs::exists(data));
  // lognormal (the default) given explicitly: the same as without the option.
  Result ok = run_bactor("simulate --cost QuadraticCost --perception lognormal " + lognormal_set + " --trials 20 --out " + data);
  INFO(ok.out);
  REQUIRE(ok.code == 0);
  // vonmises (tests/cli/test_cli_circular.cpp has its round trip): positive data beyond pi are
  // refused as angles, and there is no network to train.
  Result i = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --perception vonmises --out " + (dir / "f").string());
  CHECK(i.code == 2);
  CHECK(i.out.find("is outside (-pi, pi]") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "f" / "chain-1.csv"));
  Result t = run_bactor("train --cost QuadraticCost --perception vonmises --steps 5 --out " + (dir / "n.safetensors").string());
  CHECK(t.code == 2);
  CHECK(t.out.find("no network to train") != std::string::npos);
  Result h = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --hierarchical --perception gaussian --out " +
                        (dir / "h").string());
  CHECK(h.code == 2);
  CHECK(h.out.find("--perception gaussian cannot be combined with --hierarchical") != std::string::npos);
}

TEST_CASE("cli perception: a network and a fit record their perception model") {
  const fs::path dir = scratch("record");
  fs::create_directories(dir);
  const std::string net = (dir / "q.safetensors").string();
  Result t = run_bactor("train --cost QuadraticCost --steps 20 --batch 32 --eval-points 16 --threads 1 --out " + net);
  INFO(t.out);
  REQUIRE(t.code == 0);
  CHECK(read_text(net).find("\"perception\":\"lognormal\"") != std::string::npos);
  Result ev = run_bactor("evaluate --network " + net + " --points 10 --perception vonmises");
  CHECK(ev.code == 2);
  CHECK(ev.out.find("--perception") != std::string::npos);
  const std::string data = (dir / "d.csv").string();
  REQUIRE(run_bactor("simulate --cost QuadraticCost " + lognormal_set + " --trials 20 --out " + data).code == 0);
  Result f = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 1 --warmup 30 "
                        "--samples 30 --out " + (dir / "fit").string());
  INFO(f.out);
  REQUIRE(f.code == 0);
  CHECK(read_text(dir / "fit" / "chain-1.csv").find("perception = lognormal") != std::string::npos);
}
