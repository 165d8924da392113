// SPDX-License-Identifier: MIT
// bactor compare end to end: the true cost is preferred where the costs are distinguishable,
// no false preference for the larger model where they are not, per-subject blocks, the ArviZ
// fixture's numbers through the command, bad input.
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

using ::bactor::testing::Result;
using ::bactor::testing::read_csv;
using ::bactor::testing::run_bactor;

fs::path scratch(const std::string& name) { return ::bactor::testing::scratch_path("bactor_cli_compare_", name); }


std::string infer_args(const fs::path& data, const std::string& cost, const fs::path& out) {
  return "infer --data " + data.string() + " --cost " + cost + " --closed-form --chains 2 --warmup 300 --samples 500 --seed 1 --out " +
         out.string();
}

} // namespace

TEST_CASE("cli compare: the generating cost wins where the costs are distinguishable") {
  // QuadraticCostQuadraticEffort with beta = 0.6 (far from QuadraticCost's beta = 1) under two
  // noise levels (with one, mu_0 absorbs beta and the costs predict alike). Criterion: the effort
  // model ranks first, by more than 4 elpd and more than 2 standard errors of the difference.
  const fs::path dir = scratch("distinguishable");
  fs::create_directories(dir);
  const fs::path data = dir / "effort.csv";
  Result s = run_bactor("simulate --cost QuadraticCostQuadraticEffort --set mu_0=1.5,sigma_0=0.2,sigma_r=0.1,beta=0.6 "
                        "--conditions sigma=0.1,0.3 --trials 60 --seed 3 --out " + data.string());
  REQUIRE(s.code == 0);
  REQUIRE(run_bactor(infer_args(data, "QuadraticCostQuadraticEffort", dir / "effort")).code == 0);
  REQUIRE(run_bactor(infer_args(data, "QuadraticCost", dir / "quad")).code == 0);
  Result c = run_bactor("compare " + (dir / "quad").string() + " " + (dir / "effort").string() + " --csv " + (dir / "cmp.csv").string() +
                        " --pointwise " + (dir / "pw.csv").string());
  INFO(c.out);
  REQUIRE(c.code == 0);
  CHECK(c.out.find("elpd_loo") != std::string::npos);
  CHECK(c.out.find("'quad' predicts worse than 'effort'") != std::string::npos);
  const auto rows = read_csv(dir / "cmp.csv");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].at("model") == "effort");
  CHECK(rows[0].at("rank") == "0");
  CHECK(rows[1].at("model") == "quad");
  const double diff = std::stod(rows[1].at("elpd_diff")), dse = std::stod(rows[1].at("dse"));
  MESSAGE("effort data: elpd_diff(quad) = " << diff << ", dse = " << dse);
  CHECK(diff > 4);
  CHECK(diff > 2 * dse);
  CHECK(std::stoi(rows[0].at("trials")) == 120);
  CHECK(std::stoi(rows[0].at("draws")) == 1000);
  CHECK(read_csv(dir / "pw.csv").size() == 240);  // 2 models x 120 trials
}

TEST_CASE("cli compare: no false preference for the larger model on QuadraticCost data") {
  // The effort cost contains QuadraticCost (beta -> 1); on data from QuadraticCost the smaller
  // model must not lose by more than 2 standard errors (it usually wins by p_loo's difference).
  const fs::path dir = scratch("nested");
  fs::create_directories(dir);
  const fs::path data = dir / "quad.csv";
  REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.2,sigma_r=0.1 --conditions sigma=0.1,0.3 "
                     "--trials 60 --seed 4 --out " + data.string()).code == 0);
  REQUIRE(run_bactor(infer_args(data, "QuadraticCostQuadraticEffort", dir / "effort")).code == 0);
  REQUIRE(run_bactor(infer_args(data, "QuadraticCost", dir / "quad")).code == 0);
  Result c = run_bactor("compare " + (dir / "quad").string() + " " + (dir / "effort").string() + " --csv " + (dir / "cmp.csv").string());
  INFO(c.out);
  REQUIRE(c.code == 0);
  const auto rows = read_csv(dir / "cmp.csv");
  REQUIRE(rows.size() == 2);
  const double diff = std::stod(rows[1].at("elpd_diff")), dse = std::stod(rows[1].at("dse"));
  if (rows[0].at("model") == "effort") CHECK(diff < 2 * dse);
  CHECK(diff < 4);
}

TEST_CASE("cli compare: per subject, pooled, and the ArviZ fixture through the command") {
  const fs::path dir = scratch("subjects");
  fs::create_directories(dir);
  // Two subjects: simulate each, prepend a subject column.
  std::string merged = "subject,s,r\n";
  for (int subj : {1, 2}) {
    const fs::path p = dir / (std::to_string(subj) + "_data.csv");
    REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --trials 30 --seed " +
                       std::to_string(10 + subj) + " --out " + p.string()).code == 0);
    std::ifstream in(p);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) merged += std::to_string(subj) + "," + line + "\n";
  }
  std::ofstream(dir / "subjects.csv") << merged;
  const fs::path data = dir / "subjects.csv";
  for (const char* cost : {"QuadraticCost", "QuadraticCostQuadraticEffort"})
    REQUIRE(run_bactor("infer --data " + data.string() + " --cost " + cost + " --closed-form --fix sigma=0.2 --chains 2 --warmup 200 "
                       "--samples 200 --seed 2 --out " + (dir / cost).string()).code == 0);
  Result c = run_bactor("compare " + (dir / "QuadraticCost").string() + " " + (dir / "QuadraticCostQuadraticEffort").string() +
                        " --names quad,effort --csv " + (dir / "cmp.csv").string());
  INFO(c.out);
  REQUIRE(c.code == 0);
  CHECK(c.out.find("PSIS-LOO subject 1: 30 trials") != std::string::npos);
  CHECK(c.out.find("PSIS-LOO subject 2: 30 trials") != std::string::npos);
  CHECK(c.out.find("all subjects") != std::string::npos);
  const auto rows = read_csv(dir / "cmp.csv");
  REQUIRE(rows.size() == 6);  // (2 subjects + pooled) x 2 models
  std::map<std::string, double> sum;
  for (const auto& r : rows)
    if (r.at("subject") != "all") sum[r.at("model")] += std::stod(r.at("elpd_loo"));
  for (const auto& r : rows)
    if (r.at("subject") == "all") {
      CHECK(std::stoi(r.at("trials")) == 60);
      CHECK(std::stod(r.at("elpd_loo")) == doctest::Approx(sum[r.at("model")]).epsilon(1e-12));
    }

  // The fixture ArviZ was run on: the command prints its numbers (rounded to 2 decimals).
  const char* src = std::getenv("BACTOR_SOURCE_DIR");
  REQUIRE(src);
  const fs::path fx = fs::path(src) / "tests" / "fixtures" / "loo";
  Result f = run_bactor("compare " + (fx / "quad").string() + " " + (fx / "effort").string());
  INFO(f.out);
  REQUIRE(f.code == 0);
  CHECK(f.out.find("effort    0       4.66     2.27       0.00") != std::string::npos);
  CHECK(f.out.find("quad      1       4.12     2.68       0.53") != std::string::npos);
  CHECK(f.out.find("WARNING: effort: 1 trial with Pareto k > 0.57") != std::string::npos);
  CHECK(f.out.find("trial 9 (k = 0.83)") != std::string::npos);
}

TEST_CASE("cli compare: bad input") {
  const fs::path dir = scratch("bad");
  fs::create_directories(dir);
  const fs::path data = dir / "d.csv";
  REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --trials 20 --seed 1 --out " +
                     data.string()).code == 0);
  REQUIRE(run_bactor("infer --data " + data.string() + " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 2 --warmup 100 "
                     "--samples 100 --no-log-lik --out " + (dir / "nolik").string()).code == 0);
  Result r = run_bactor("compare " + (dir / "nolik").string());
  CHECK(r.code == 2);
  CHECK(r.out.find("no log_lik.i columns") != std::string::npos);
  CHECK(r.out.find("--no-log-lik") != std::string::npos);
  r = run_bactor("compare " + (dir / "nosuch").string());
  CHECK(r.code == 2);
  CHECK(r.out.find("not a directory") != std::string::npos);
  r = run_bactor("compare " + dir.string());  // a folder without chains
  CHECK(r.code == 2);
  CHECK(r.out.find("no chain-*.csv files") != std::string::npos);
  // Different numbers of trials.
  const fs::path d2 = dir / "d2.csv";
  REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --trials 25 --seed 1 --out " +
                     d2.string()).code == 0);
  for (const auto& [d, out] : {std::pair{data, dir / "a"}, std::pair{d2, dir / "b"}})
    REQUIRE(run_bactor("infer --data " + d.string() + " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 2 --warmup 100 "
                       "--samples 100 --out " + out.string()).code == 0);
  r = run_bactor("compare " + (dir / "a").string() + " " + (dir / "b").string());
  CHECK(r.code == 2);
  CHECK(r.out.find("same trials") != std::string::npos);
  r = run_bactor("compare " + (dir / "a").string() + " " + (dir / "a").string());
  CHECK(r.code == 2);
  CHECK(r.out.find("not unique") != std::string::npos);
  r = run_bactor("compare " + (dir / "a").string() + " --names x,y");
  CHECK(r.code == 2);
}
