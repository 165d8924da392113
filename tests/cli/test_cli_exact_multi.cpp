// SPDX-License-Identifier: MIT
// infer --exact-action and simulate (no network) with a formula of several cost parameters
// (models/exact_action.hpp: up to detail::exact_max_cost_params = 4): a short NUTS run that
// records both parameters, simulate under both perception models, and the refusal of 5.
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <utility>

namespace fs = std::filesystem;
using bactor::testing::Result;
using bactor::testing::read_text;
using bactor::testing::run_bactor;

namespace {
fs::path scratch(const std::string& name) { return bactor::testing::scratch_path("bactor_cli_exact_multi_", name); }
const std::string two = "--formula \"beta*(s-r)^2 + k*r^2\" --params beta=uniform:0.5:1,k=lognormal:-1:1";
const std::string five = "--formula \"b1*(r-s)^2 + b2*r^2 + b3*s^2*r^2 + b4*r^4 + b5*abs(r-s)\" --params "
                         "b1=uniform:0.5:1,b2=uniform:0.1:1,b3=uniform:0.1:1,b4=uniform:0.1:1,b5=uniform:0.1:1";
} // namespace

TEST_CASE("cli: infer --exact-action and simulate with a two-parameter formula; five parameters refused") {
  const fs::path dir = scratch("two");
  fs::create_directories(dir);
  const std::string data = (dir / "d.csv").string();
  Result s = run_bactor("simulate " + two + " --set mu_0=1.5,sigma_0=0.3,sigma=0.2,sigma_r=0.12,beta=0.8,k=0.3 --trials 12 "
                        "--seed 3 --out " + data);
  INFO(s.out);
  REQUIRE(s.code == 0);
  CHECK(s.out.find("action: numerical") != std::string::npos);
  // A tiny NUTS run (each gradient solves the action at ~16 points per condition): it runs and
  // both cost parameters are sampled, recorded in the draws and summarised.
  Result r = run_bactor("infer --data " + data + " " + two + " --exact-action --fix sigma=0.2,sigma_0=0.3 --chains 1 "
                        "--warmup 8 --samples 4 --max-depth 3 --init-radius 0.5 --seed 5 --out " + (dir / "post").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  const std::string chain = read_text(dir / "post" / "chain-1.csv");
  CHECK(chain.find("# action = exact") != std::string::npos);
  CHECK(chain.find(",mu_0,sigma_r,beta,k,log_lik.1,") != std::string::npos);
  const std::string summary = read_text(dir / "post" / "summary.csv");
  CHECK(summary.find("\nbeta,") != std::string::npos);
  CHECK(summary.find("\nk,") != std::string::npos);
  // Five parameters: one line naming the option, exit 2, nothing written.
  Result f = run_bactor("infer --data " + data + " " + five + " --exact-action --out " + (dir / "five").string());
  CHECK(f.code == 2);
  CHECK(f.out.find("--exact-action: supports at most 4 cost parameters; cost") != std::string::npos);
  CHECK(f.out.find(" has 5 ") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "five"));
  // simulate under gaussian perception solves the action per trial for any number of parameters.
  for (const auto& [formula, set] : {std::pair{two, std::string("beta=0.8,k=0.3")},
                                             std::pair{five, std::string("b1=0.8,b2=0.3,b3=0.2,b4=0.1,b5=0.3")}}) {
    const std::string out = (dir / "g.csv").string();
    Result g = run_bactor("simulate " + formula + " --perception gaussian --motor gaussian --set mu_0=0.5,sigma_0=1,sigma=0.3,"
                          "sigma_a=0.2," + set + " --stimuli -2:3 --trials 10 --seed 3 --out " + out);
    INFO(g.out);
    CHECK(g.code == 0);
    CHECK(g.out.find("wrote 10 trials (1 condition, action: numerical") != std::string::npos);
  }
}
