// SPDX-License-Identifier: MIT
// End-to-end tests of lapses (issue 15 part 2): simulate --lapse, infer --lapse / --lapse-range
// (names, priors, fixing, per-condition lapse, the settings recorded), check and report on a
// lapse fit, and the errors of the new options.
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace fs = std::filesystem;

namespace {

using ::bactor::testing::Result;

Result run_cli(const std::string& args) { return ::bactor::testing::run_bactor(args); }

fs::path scratch(const std::string& name) { return ::bactor::testing::scratch_path("bactor_cli_lapse_", name); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

TEST_CASE("cli lapse: simulate --lapse is deterministic, changes only the lapsed trials, and checks its value") {
  const fs::path dir = scratch("simulate");
  fs::create_directories(dir);
  const std::string base = "simulate --cost QuadraticCost --set mu_0=3,sigma_0=0.3,sigma=0.2,sigma_r=0.15 --trials 300 "
                           "--stimuli 0.3:16 --seed 5 ";
  Result a = run_cli(base + "--lapse 0.05 --out " + (dir / "a.csv").string());
  INFO(a.out);
  REQUIRE(a.code == 0);
  CHECK(a.out.find(" lapses) to ") != std::string::npos);
  REQUIRE(run_cli(base + "--lapse 0.05 --out " + (dir / "b.csv").string()).code == 0);
  REQUIRE(run_cli(base + "--out " + (dir / "clean.csv").string()).code == 0);
  REQUIRE(run_cli(base + "--lapse 0 --out " + (dir / "zero.csv").string()).code == 0);
  CHECK(slurp(dir / "a.csv") == slurp(dir / "b.csv"));
  CHECK(slurp(dir / "zero.csv") == slurp(dir / "clean.csv"));
  const auto rows = ::bactor::testing::read_csv(dir / "a.csv"), clean = ::bactor::testing::read_csv(dir / "clean.csv");
  REQUIRE(rows.size() == 300);
  REQUIRE(clean.size() == 300);
  int changed = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(rows[i].at("s") == clean[i].at("s"));
    if (rows[i].at("r") != clean[i].at("r")) {
      ++changed;
      const double r = std::stod(rows[i].at("r"));
      CHECK(r >= 0.3 / 2.7182818);
      CHECK(r <= 16 * 2.7182818);
    }
  }
  // Binomial(300, 0.05): mean 15, sd 3.8; the message states the count.
  CHECK(changed >= 4);
  CHECK(changed <= 26);
  CHECK(a.out.find(", " + std::to_string(changed) + " lapses)") != std::string::npos);
  for (const char* bad : {"1", "-0.1", "x"}) {
    Result e = run_cli(base + "--lapse " + bad + " --out " + (dir / "bad.csv").string());
    INFO(e.out);
    CHECK(e.code == 2);
    CHECK(e.out.find("--lapse") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(dir / "bad.csv"));
}

TEST_CASE("cli lapse: infer --lapse records the mixture; priors, fixing, per-condition lapse; check and report read it") {
  const fs::path dir = scratch("infer");
  fs::create_directories(dir);
  const std::string data = (dir / "d.csv").string(), two = (dir / "two.csv").string();
  REQUIRE(run_cli("simulate --cost QuadraticCost --set mu_0=3,sigma_0=0.3,sigma=0.2,sigma_r=0.15 --trials 80 "
                  "--stimuli 0.3:16 --lapse 0.05 --seed 6 --out " + data).code == 0);
  REQUIRE(run_cli("simulate --cost QuadraticCost --set mu_0=3,sigma_0=0.3,sigma_r=0.15 --conditions 0.1,0.25 --trials 40 "
                  "--stimuli 0.3:16 --lapse 0.05 --seed 7 --out " + two).code == 0);
  const std::string base = "infer --cost QuadraticCost --closed-form --chains 2 --warmup 150 --samples 100 --seed 3 ";
  Result r = run_cli(base + "--data " + data + " --lapse --out " + (dir / "fit").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("\nlapse ") != std::string::npos);  // a summary row
  std::string text = slurp(dir / "fit" / "chain-1.csv");
  CHECK(text.find("# lapse = true\n") != std::string::npos);
  CHECK(text.find("# lapse_range = ") != std::string::npos);
  // (mu_0's default follows the stimuli: lognormal:log(S):1, S recorded as `scale`.)
  CHECK(text.find("# priors = mu_0=lognormal:") != std::string::npos);
  CHECK(text.find(":1,sigma_0=halfnormal:0.25,sigma_r=halfnormal:0.25,sigma=halfnormal:0.25,lapse=beta:2:50\n") != std::string::npos);
  CHECK(text.find(",sigma_r,sigma,lapse,log_lik.1,") != std::string::npos);
  // check and report simulate from the mixture with the recorded range.
  Result c = run_cli("check " + (dir / "fit").string() + " --draws 50 --out " + (dir / "check.csv").string());
  INFO(c.out);
  CHECK(c.code == 0);
  Result h = run_cli("report " + (dir / "fit").string() + " --out " + (dir / "report.html").string());
  INFO(h.out);
  CHECK(h.code == 0);
  const std::string html = slurp(dir / "report.html");
  CHECK(html.find("posterior of lapse") != std::string::npos);
  CHECK(html.find("prior beta:2:50") != std::string::npos);
  CHECK(html.find("lapse contaminant") != std::string::npos);

  // A given range, a prior, and fixing; without --lapse the file says so.
  r = run_cli(base + "--data " + data + " --lapse --lapse-range 0.05:60 --prior lapse=beta:1:20 --out " + (dir / "range").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  text = slurp(dir / "range" / "chain-1.csv");
  CHECK(text.find("# lapse_range = 0.05:60\n") != std::string::npos);
  CHECK(text.find(",lapse=beta:1:20\n") != std::string::npos);
  r = run_cli(base + "--data " + data + " --lapse --fix sigma=0.2,lapse=0.02 --out " + (dir / "fixed").string());
  REQUIRE(r.code == 0);
  text = slurp(dir / "fixed" / "chain-1.csv");
  CHECK(text.find("# fixed = lapse=0.02,sigma=0.2\n") != std::string::npos);
  CHECK(text.find(",sigma_r,log_lik.1,") != std::string::npos);  // no lapse column
  r = run_cli(base + "--data " + data + " --out " + (dir / "plain").string());
  REQUIRE(r.code == 0);
  text = slurp(dir / "plain" / "chain-1.csv");
  CHECK(text.find("# lapse = false\n") != std::string::npos);
  CHECK(text.find("# lapse_range") == std::string::npos);

  // Conditions: lapse shared by default, one per condition with --per-condition.
  r = run_cli(base + "--data " + two + " --lapse --out " + (dir / "shared").string());
  REQUIRE(r.code == 0);
  CHECK(slurp(dir / "shared" / "chain-1.csv").find(",sigma.1,sigma.2,lapse,log_lik.1,") != std::string::npos);
  r = run_cli(base + "--data " + two + " --lapse --per-condition sigma,lapse --fix lapse.2=0.01 --out " + (dir / "each").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  text = slurp(dir / "each" / "chain-1.csv");
  CHECK(text.find(",sigma.1,sigma.2,lapse.1,log_lik.1,") != std::string::npos);
  CHECK(text.find("# per_condition = lapse,sigma\n") != std::string::npos);
  c = run_cli("check " + (dir / "each").string() + " --draws 50 --out " + (dir / "check2.csv").string());
  INFO(c.out);
  CHECK(c.code == 0);
}

TEST_CASE("cli lapse: bad lapse options exit 2 with one line naming the option, writing nothing") {
  const fs::path dir = scratch("errors");
  fs::create_directories(dir);
  const std::string data = (dir / "d.csv").string();
  REQUIRE(run_cli("simulate --cost QuadraticCost --set mu_0=3,sigma_0=0.3,sigma=0.2,sigma_r=0.15 --trials 30 "
                  "--stimuli 0.3:16 --seed 8 --out " + data).code == 0);
  const std::string base = "infer --data " + data + " --cost QuadraticCost --closed-form --chains 1 --warmup 50 --samples 20 --out " +
                           (dir / "bad").string() + " ";
  const std::pair<const char*, const char*> cases[] = {
      {"--lapse-range 0.01:100", "--lapse-range needs --lapse"},
      {"--lapse --lapse-range 0:100", "--lapse-range: LO must be positive"},
      {"--lapse --lapse-range 5:100", "is below the contaminant's range 5:100; the range must hold every response: give "},
      {"--lapse --lapse-range 100:5", "--lapse-range: need 0 <= LO < HI"},
      {"--fix lapse=0.02", "--fix: 'lapse' is a parameter only with lapses (--lapse)"},
      {"--prior lapse=beta:2:50", "--prior: 'lapse' is a parameter only with lapses (--lapse)"},
      {"--per-condition lapse", "--per-condition: 'lapse' is a parameter only with lapses (--lapse)"},
      {"--lapse --fix lapse=1", "--fix: lapse=1 is outside the support of its prior beta:2:50"},
      {"--lapse --prior lapse=beta:0:3", "prior 'beta:0:3': shapes A and B must be positive"},
      {"--lapse --prior lapse=halfnormal:0.1", "--prior: lapse=halfnormal:0.1: the lapse probability needs a prior on (0, 1)"},
      {"--lapse --prior lapse=uniform:0:2", "--prior: lapse=uniform:0:2: the lapse probability needs a prior on (0, 1)"},
  };
  for (const auto& [args, message] : cases) {
    Result r = run_cli(base + args);
    INFO(std::string(args) << "\n" << r.out);
    CHECK(r.code == 2);
    CHECK(r.out.find(message) != std::string::npos);
    CHECK(r.out.find('\n') == r.out.size() - 1);  // one line
  }
  CHECK_FALSE(fs::exists(dir / "bad"));
}
