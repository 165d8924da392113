// SPDX-License-Identifier: MIT
// bactor simulate --subjects and bactor infer --hierarchical (issue 15 part 4): one draws file
// per chain with population and per-subject columns and per-trial log_lik in file order, the
// settings recorded, summary, compare and check reading it, report refusing it clearly, and
// usage errors; a blocked cohort (subjects in conditions) through the same commands; cohorts
// under gaussian and von Mises perception.
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
using bactor::testing::Result;
using bactor::testing::run_bactor;

namespace {

fs::path scratch(const std::string& name) { return bactor::testing::scratch_path("bactor_cli_hier_", name); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// `bactor simulate ARGS --subjects 4 ...` into DIR/cohort.csv with --truth DIR/truth.csv (DIR
/// created); the truth's rows, one per subject.
std::vector<std::map<std::string, std::string>> simulate_four(const fs::path& dir, const std::string& args, Result& r) {
  fs::create_directories(dir);
  r = run_bactor("simulate " + args + " --subjects 4 --out " + (dir / "cohort.csv").string() + " --truth " +
                 (dir / "truth.csv").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  auto truth = bactor::testing::read_csv(dir / "truth.csv");
  REQUIRE(truth.size() == 4);
  return truth;
}

/// `check` (one predictive check per subject) and `report` of a hierarchical fit of 4 subjects.
void check_and_report(const std::string& fit, const fs::path& dir) {
  Result r = run_bactor("check " + fit + " --draws 50");
  INFO(r.out);
  CHECK(r.code == 0);
  for (const char* s : {"subject 1, condition 1", "subject 4, condition 1"}) CHECK_MESSAGE(r.out.find(s) != std::string::npos, s);
  CHECK(r.out.find("statistics outside their 90% predictive intervals") != std::string::npos);
  r = run_bactor("report " + fit + " --no-check --out " + (dir / "r.html").string());
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(fs::exists(dir / "r.html"));
}

} // namespace

TEST_CASE("cli: simulate --subjects, infer --hierarchical, summary, compare, check, report") {
  const fs::path dir = scratch("cohort");
  const std::string data = (dir / "cohort.csv").string();
  Result r;
  const auto truth = simulate_four(dir, "--cost QuadraticCost --set mu_0=3,sigma_0=0.35,sigma=0.15,sigma_r=0.12 "
                                        "--spread mu_0=0.2,sigma=0.3 --trials 30 --stimuli 0.3:16 --seed 3", r);
  CHECK(r.out.find("wrote 120 trials of 4 subjects") != std::string::npos);
  CHECK(truth[0].at("sigma_0") == truth[1].at("sigma_0"));  // no spread: the same for all
  CHECK(truth[0].at("mu_0") != truth[1].at("mu_0"));

  const std::string fit = (dir / "fit").string();
  r = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --hierarchical --pooled mu_0,sigma,sigma_0 "
                 "--population mu_0=1:0.5:0.3 --chains 2 --warmup 200 --samples 200 --out " + fit);
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("hierarchical inference: 4 subjects, 120 trials") != std::string::npos);
  CHECK(r.out.find("mu_0.pop") != std::string::npos);
  const std::string chain = slurp(dir / "fit" / "chain-1.csv");
  for (const char* line : {"# hierarchical = true", "# parameterisation = aligned", "# pooled = mu_0,sigma_0,sigma",
                           "# population = mu_0=1:0.5:0.3,", "# priors = sigma_r=halfnormal:0.25",
                           "# subjects = 1=1,2=2,3=3,4=4", "# stimulus_scale = "})
    CHECK_MESSAGE(chain.find(line) != std::string::npos, line);
  const std::string header = chain.substr(chain.find("lp__"), chain.find('\n', chain.find("lp__")) - chain.find("lp__"));
  CHECK(header.find(",mu_0.pop,mu_0.sd,sigma_0.pop,sigma_0.sd,sigma.pop,sigma.sd,sigma_r,mu_0.s1,") != std::string::npos);
  CHECK(header.find(",sigma.s4,log_lik.1,") != std::string::npos);
  CHECK(header.find(",log_lik.120") != std::string::npos);

  r = run_bactor("summary " + fit + "/chain-1.csv " + fit + "/chain-2.csv");
  CHECK(r.code == 0);
  CHECK(r.out.find("sigma_0.s3") != std::string::npos);

  // compare: beside subject-by-subject fits it refuses with a message (not supported yet);
  // beside another hierarchical fit of the file it compares.
  const std::string sep = (dir / "sep").string();
  r = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --chains 2 --warmup 200 --samples 200 --out " + sep);
  REQUIRE(r.code == 0);
  r = run_bactor("compare " + fit + " " + sep);
  CHECK(r.code == 2);
  CHECK(r.out.find("differ from") != std::string::npos);
  r = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --hierarchical --parameterisation noncentred "
                 "--chains 2 --warmup 200 --samples 200 --out " + (dir / "fit2").string());
  REQUIRE(r.code == 0);
  r = run_bactor("compare " + fit + " " + (dir / "fit2").string());
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("PSIS-LOO: 120 trials") != std::string::npos);

  // check: one predictive check per subject from its NAME.sJ columns; report reads it too (its
  // pages: tests/cli/test_cli_report.cpp).
  check_and_report(fit, dir);
}

TEST_CASE("cli: a blocked cohort (simulate --subjects --conditions) through infer --hierarchical, summary, check, compare, report") {
  const fs::path dir = scratch("blocked");
  fs::create_directories(dir);
  const std::string data = (dir / "blocks.csv").string();
  Result r = run_bactor("simulate --cost QuadraticCost --set sigma=0.15,sigma_r=0.12 --conditions \"mu_0=1.5,6;sigma_0=0.2,0.3\" "
                        "--subjects 4 --spread sigma=0.3,sigma_r=0.3 --trials 30 --stimuli 0.5:8 --seed 3 --out " + data);
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("wrote 240 trials of 4 subjects in 2 conditions") != std::string::npos);

  // mu_0 and sigma_0 pooled per condition (one population each), sigma and sigma_r pooled once.
  const std::string fit = (dir / "fit").string();
  r = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --hierarchical --per-condition mu_0,sigma_0 "
                 "--population mu_0.2=1.8:0.5:0.3 --chains 2 --warmup 200 --samples 200 --out " + fit);
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("hierarchical inference: 4 subjects, 240 trials in 2 conditions") != std::string::npos);
  const std::string chain = slurp(dir / "fit" / "chain-1.csv");
  for (const char* line : {"# per_condition = mu_0,sigma_0", "# pooled = mu_0.1,mu_0.2,sigma_0.1,sigma_0.2,sigma_r,sigma",
                           "mu_0.2=1.8:0.5:0.3", "# conditions = 1=1,2=2"})
    CHECK_MESSAGE(chain.find(line) != std::string::npos, line);
  const std::string header = chain.substr(chain.find("lp__"), chain.find('\n', chain.find("lp__")) - chain.find("lp__"));
  CHECK(header.find(",mu_0.1.pop,mu_0.1.sd,mu_0.2.pop,mu_0.2.sd,sigma_0.1.pop,") != std::string::npos);
  CHECK(header.find(",mu_0.1.s1,mu_0.1.s2,mu_0.1.s3,mu_0.1.s4,mu_0.2.s1,") != std::string::npos);
  CHECK(header.find(",sigma.s4,log_lik.1,") != std::string::npos);
  CHECK(header.find(",log_lik.240") != std::string::npos);

  r = run_bactor("summary " + fit + "/chain-1.csv " + fit + "/chain-2.csv");
  CHECK(r.code == 0);
  CHECK(r.out.find("sigma_0.2.s3") != std::string::npos);

  // check: each subject in each of its conditions, from its NAME.c.sJ and NAME.sJ columns.
  r = run_bactor("check " + fit + " --draws 50");
  INFO(r.out);
  CHECK(r.code == 0);
  for (const char* s : {"subject 1, condition 1", "subject 4, condition 2", "statistics outside their 90% predictive intervals"})
    CHECK_MESSAGE(r.out.find(s) != std::string::npos, s);

  // compare against a blocked fit with fewer per-condition parameters (the same trials).
  const std::string fit2 = (dir / "fit2").string();
  r = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --hierarchical --per-condition mu_0 "
                 "--chains 2 --warmup 200 --samples 200 --out " + fit2);
  REQUIRE(r.code == 0);
  r = run_bactor("compare " + fit + " " + fit2);
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("PSIS-LOO: 240 trials") != std::string::npos);

  // report: the population per condition, the subjects' conditions side by side.
  r = run_bactor("report " + fit + " --out " + (dir / "r.html").string());
  INFO(r.out);
  CHECK(r.code == 0);
  const std::string html = slurp(dir / "r.html");
  for (const char* s : {"mu_0.2.pop", "population median, ", "A blocked cohort", "cohort-forest-mu_0"})
    CHECK_MESSAGE(html.find(s) != std::string::npos, s);

  // Names of a condition's own value follow --per-condition.
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"--per-condition mu_0 --fix sigma_0.2=0.3", "--fix: unknown parameter 'sigma_0.2'"},
           {"--per-condition mu_O", "--per-condition: unknown parameter 'mu_O'"},
           {"--per-condition mu_0 --population mu_0.3=1:1:1", "--population: unknown parameter 'mu_0.3'"}}) {
    r = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --hierarchical " + args +
                   " --chains 1 --warmup 10 --samples 10 --out " + (dir / "bad").string());
    INFO(args);
    INFO(r.out);
    CHECK(r.code == 2);
    CHECK(r.out.find(message) != std::string::npos);
  }
}

TEST_CASE("cli: infer --hierarchical usage errors") {
  const fs::path dir = scratch("errors");
  fs::create_directories(dir);
  std::ofstream(dir / "one.csv") << "s,r\n1,1.1\n2,1.9\n3,3.2\n";
  std::ofstream(dir / "two.csv") << "subject,s,r\na,1,1.1\na,2,1.9\nb,3,3.2\nb,2,2.1\n";
  const std::string base = " --cost QuadraticCost --closed-form --chains 1 --warmup 10 --samples 10 --out " + (dir / "o").string();
  struct Case {
    std::string args, message;
  };
  for (const Case& c : {
           Case{"--data " + (dir / "one.csv").string() + " --hierarchical", "no subject column"},
           Case{"--data " + (dir / "two.csv").string() + " --pooled mu_0", "--pooled needs --hierarchical"},
           Case{"--data " + (dir / "two.csv").string() + " --hierarchical --pooled mu_O", "--pooled: unknown parameter 'mu_O'"},
           Case{"--data " + (dir / "two.csv").string() + " --hierarchical --parameterisation centered",
                "--parameterisation: 'centered' (expected auto, aligned, centred-mu0, centred or noncentred)"},
           Case{"--data " + (dir / "two.csv").string() + " --hierarchical --parameterisation centred",
                "--parameterisation: 'centred' is for von Mises perception"},
           Case{"--data " + (dir / "two.csv").string() + " --hierarchical --population mu_0=1:2",
                "--population: '1:2': expected LOC:SCALE:SD_SCALE"},
           Case{"--data " + (dir / "two.csv").string() + " --hierarchical --prior mu_0=uniform:0.1:9", "--prior: 'mu_0' is pooled"},
           Case{"--data " + (dir / "two.csv").string() + " --hierarchical --latent sampled", "--latent marginal only"},
           Case{"--data " + (dir / "two.csv").string() + " --hierarchical --predict", "--predict cannot be combined"},
           Case{"--data " + (dir / "two.csv").string() + " --hierarchical --shard 1/2", "--shard cannot be combined with --hierarchical"},
       }) {
    const Result r = run_bactor("infer " + c.args + base);
    INFO(c.args);
    INFO(r.out);
    CHECK(r.code == 2);
    CHECK(r.out.find(c.message) != std::string::npos);
    CHECK(!fs::exists(dir / "o" / "chain-1.csv"));
  }
  // A hierarchical fit's folder is locked and guarded like any other: a second fit into it is
  // refused without --overwrite.
  const std::string args = "infer --data " + (dir / "two.csv").string() + " --hierarchical" + base;
  Result r = run_bactor(args);
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK_FALSE(fs::exists(dir / "o" / "subjects.csv"));  // one joint posterior: no subject folders
  r = run_bactor(args);
  CHECK(r.code == 2);
  CHECK(r.out.find("is not empty") != std::string::npos);
  r = run_bactor(args + " --overwrite");
  CHECK(r.code == 0);
  CHECK_FALSE(fs::exists(dir / "o" / ".bactor.lock"));
}

TEST_CASE("cli: a cohort with gaussian motor noise through simulate --subjects, infer --hierarchical and check") {
  const fs::path dir = scratch("motor");
  fs::create_directories(dir);
  const std::string data = (dir / "cohort.csv").string();
  Result r = run_bactor("simulate --cost QuadraticCost --motor gaussian --set mu_0=1.5,sigma_0=0.2,sigma=0.15,sigma_a=0.1 "
                        "--subjects 3 --spread mu_0=0.2 --trials 30 --stimuli 0.5:3 --seed 3 --out " + data);
  INFO(r.out);
  REQUIRE(r.code == 0);
  const std::string fit = (dir / "fit").string();
  r = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --motor gaussian --hierarchical "
                 "--chains 2 --warmup 150 --samples 150 --seed 4 --out " + fit);
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("sigma_a.pop") != std::string::npos);
  CHECK(r.out.find("sigma_r") == std::string::npos);  // the gaussian model has none
  CHECK(slurp(dir / "fit" / "chain-1.csv").find("# motor = gaussian") != std::string::npos);
  r = run_bactor("check " + fit);
  INFO(r.out);
  CHECK(r.code == 0);
  r = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --motor gaussian --hierarchical "
                 "--pooled mu_0,sigma_r --out " + (dir / "bad").string());
  CHECK(r.code != 0);
  CHECK(r.out.find("'sigma_r' is not a parameter of the gaussian motor model") != std::string::npos);
}

TEST_CASE("cli: a cohort with lapses through simulate --subjects --lapse, infer --hierarchical --lapse, check and report") {
  const fs::path dir = scratch("lapse");
  const std::string data = (dir / "cohort.csv").string();
  Result r;
  const auto truth = simulate_four(dir, "--cost QuadraticCost --set mu_0=1.5,sigma_0=0.2,sigma=0.15,sigma_r=0.1 --lapse 0.05 "
                                        "--spread mu_0=0.2,lapse=0.5 --trials 40 --stimuli 0.5:4 --seed 3", r);
  CHECK(truth[0].at("lapse") != truth[1].at("lapse"));  // each subject's own lapse probability
  const std::string fit = (dir / "fit").string();
  r = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --hierarchical --lapse "
                 "--chains 2 --warmup 150 --samples 150 --seed 4 --out " + fit);
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("hierarchical inference: 4 subjects, 160 trials, cost QuadraticCost, closed form, lapses,") != std::string::npos);
  CHECK(r.out.find("lapse.pop") != std::string::npos);
  const std::string chain = slurp(dir / "fit" / "chain-1.csv");
  for (const char* line : {"# lapse = true", "# lapse_range = per subject (lapse_ranges)", "# lapse_ranges = 1=", "lapse=-3.479:0.644:0.5"})
    CHECK_MESSAGE(chain.find(line) != std::string::npos, line);
  const std::string header = chain.substr(chain.find("lp__"), chain.find('\n', chain.find("lp__")) - chain.find("lp__"));
  CHECK(header.find(",lapse.pop,lapse.sd,") != std::string::npos);
  CHECK(header.find(",lapse.s4,log_lik.1,") != std::string::npos);
  check_and_report(fit, dir);  // check re-simulates each subject with lapses from its own contaminant range
  // One lapse probability for all (not pooled), and a given range that misses a response.
  r = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --hierarchical --lapse --pooled mu_0,sigma "
                 "--chains 1 --warmup 50 --samples 50 --out " + (dir / "shared").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  const std::string shared = slurp(dir / "shared" / "chain-1.csv");
  CHECK(shared.find("lapse=beta:2:50") != std::string::npos);
  CHECK(shared.find(",lapse,") != std::string::npos);
  r = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --hierarchical --lapse --lapse-range 1:2 "
                 "--out " + (dir / "bad").string());
  CHECK(r.code == 2);
  CHECK(r.out.find("--lapse-range: " + data + ":") != std::string::npos);
}

TEST_CASE("cli: a cohort with gaussian perception (linear space) through simulate --subjects, infer --hierarchical, check and report") {
  const fs::path dir = scratch("linear");
  const std::string data = (dir / "cohort.csv").string();
  Result r;
  const auto truth = simulate_four(dir, "--cost QuadraticCost --perception gaussian --motor gaussian --offset "
                                        "--set mu_0=-0.5,sigma_0=1,sigma=0.3,sigma_a=0.2,offset=0.2 --spread mu_0=0.3,offset=0.1 "
                                        "--trials 40 --stimuli -3:3 --seed 7", r);
  CHECK(truth[0].at("mu_0") != truth[1].at("mu_0"));
  const std::string fit = (dir / "fit").string();
  r = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --perception gaussian --motor gaussian --offset "
                 "--hierarchical --chains 2 --warmup 150 --samples 150 --seed 4 --out " + fit);
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("offset.pop") != std::string::npos);
  const std::string chain = slurp(dir / "fit" / "chain-1.csv");
  // mu_0's and the offset's populations on their own scale, centred at 0 (scales S and S / 4).
  for (const char* line : {"# perception = gaussian", "# motor = gaussian+offset", "mu_0=0:", "offset=0:"})
    CHECK_MESSAGE(chain.find(line) != std::string::npos, line);
  check_and_report(fit, dir);
  // Gaussian perception needs gaussian motor noise, as in a single fit.
  r = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --perception gaussian --hierarchical --out " +
                 (dir / "bad").string());
  CHECK(r.code == 2);
  CHECK(r.out.find("needs gaussian motor noise") != std::string::npos);
}

TEST_CASE("cli: a cohort under von Mises perception through simulate --subjects, infer --hierarchical, summary, check and report") {
  const fs::path dir = scratch("circular");
  const std::string data = (dir / "cohort.csv").string();
  Result r;
  // mu_0 near pi: the subjects' prior means on both sides of the seam.
  const auto truth = simulate_four(dir, "--cost QuadraticCost --perception vonmises --set mu_0=3,sigma_0=0.5,sigma=0.3,sigma_r=0.2 "
                                        "--spread mu_0=0.4,sigma=0.2 --trials 15 --seed 7", r);
  for (const auto& t : truth) {
    const double mu = std::stod(t.at("mu_0"));
    CHECK((mu > -3.14159266 && mu <= 3.14159266));  // wrapped
  }
  CHECK(truth[0].at("mu_0") != truth[1].at("mu_0"));
  CHECK(truth[0].at("sigma_0") == truth[1].at("sigma_0"));
  const std::string fit = (dir / "fit").string();
  // --population mu_0=3:inf:0.5: the mean angle uniform on the circle (SCALE inf), angles written
  // wrapped into (3 - pi, 3 + pi], off the seam.
  r = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --perception vonmises --hierarchical "
                 "--population mu_0=3:inf:0.5 --chains 2 --warmup 100 --samples 100 --seed 4 --out " + fit);
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("hierarchical inference: 4 subjects, 60 trials") != std::string::npos);
  const std::string chain = slurp(dir / "fit" / "chain-1.csv");
  {  // `auto` (the default) chose from the data: printed and recorded alike
    const auto at = r.out.find("centred (auto, spread ratio ");  // "..., closed form, [non]centred (auto, spread ratio R) coordinates"
    REQUIRE(at != std::string::npos);
    const auto from = r.out.rfind(' ', at) + 1, to = r.out.find(')', at) + 1;
    const std::string chosen = r.out.substr(from, to - from);
    CHECK_MESSAGE(chain.find("# parameterisation = " + chosen + "\n") != std::string::npos, chosen);
  }
  for (const char* line : {"# perception = vonmises", "mu_0=3:inf:0.5", "sigma=-2.0214769:0.9918:0.5", "# stimulus_scale = 1"})
    CHECK_MESSAGE(chain.find(line) != std::string::npos, line);
  {  // the draws (the lines that are not comments): header, then 100 rows
    std::istringstream in(chain);
    std::string line;
    std::vector<std::string> header;
    std::vector<std::size_t> at;
    int rows = 0;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::vector<std::string> f;
      std::stringstream ss(line);
      for (std::string c; std::getline(ss, c, ',');) f.push_back(c);
      if (header.empty()) {
        header = f;
        for (const char* col : {"mu_0.pop", "mu_0.s1", "mu_0.s4"})
          at.push_back(std::size_t(std::find(header.begin(), header.end(), col) - header.begin()));
        continue;
      }
      ++rows;
      for (std::size_t a : at) {
        REQUIRE(a < f.size());
        const double v = std::stod(f[a]);
        CHECK((v > 3 - 3.14159266 && v <= 3 + 3.14159266));
      }
    }
    CHECK(rows == 100);
  }
  r = run_bactor("summary " + fit);
  CHECK(r.code == 0);
  CHECK(r.out.find("mu_0.sd") != std::string::npos);
  check_and_report(fit, dir);
  // A flat population prior is an angle's only; angles outside (-pi, pi] name the file and line.
  r = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --perception vonmises --hierarchical "
                 "--population sigma=0:inf:0.5 --out " + (dir / "bad").string());
  CHECK(r.code == 2);
  CHECK(r.out.find("an angle's population mean only") != std::string::npos);
  std::ofstream(dir / "outside.csv") << "subject,s,r\na,0.5,0.4\na,1,3.5\nb,0.2,0.1\nb,2,2.1\n";
  r = run_bactor("infer --data " + (dir / "outside.csv").string() + " --cost QuadraticCost --closed-form --perception vonmises "
                 "--hierarchical --out " + (dir / "bad").string());
  CHECK(r.code == 2);
  CHECK(r.out.find("outside.csv:3") != std::string::npos);
}
