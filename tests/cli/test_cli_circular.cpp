// SPDX-License-Identifier: MIT
// End-to-end tests of von Mises perception (docs/families.md, "Circular tasks"): simulate ->
// infer -> summary round trips with a built-in cost and a formula, what the fit records, and the
// refusals (angles outside (-pi, pi] with file, line and column; costs, options and commands that
// do not apply or are not supported yet).
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <sstream>
#include <string>

namespace fs = std::filesystem;
using bactor::testing::Result;
using bactor::testing::read_text;
using bactor::testing::run_bactor;

namespace {
fs::path scratch(const std::string& name) { return bactor::testing::scratch_path("bactor_cli_circular_", name); }

/// mean and sd of a parameter in a fit's summary.csv (name,mean,sd,...).
std::pair<double, double> mean_sd(const fs::path& summary, const std::string& name) {
  std::istringstream in(read_text(summary));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + ",", 0) == 0) {
      std::istringstream f(line.substr(name.size() + 1));
      std::string m, s;
      std::getline(f, m, ',');
      std::getline(f, s, ',');
      return {std::stod(m), std::stod(s)};
    }
  return {NAN, NAN};
}
} // namespace

TEST_CASE("cli circular: simulate -> infer -> summary round trip (QuadraticCost and the formula 1 - cos(r - s))") {
  const fs::path dir = scratch("roundtrip");
  fs::create_directories(dir);
  const std::string data = (dir / "vm.csv").string();
  Result s = run_bactor("simulate --perception vonmises --cost QuadraticCost --set mu_0=2.8,sigma_0=0.5,sigma=0.2,sigma_r=0.1 "
                        "--trials 400 --seed 5 --out " + data);
  INFO(s.out);
  REQUIRE(s.code == 0);
  CHECK(s.out.find("motor noise vonmises, vonmises perception") != std::string::npos);
  {  // every angle in (-pi, pi]
    std::ifstream in(data);
    std::string line;
    std::getline(in, line);
    CHECK(line == "s,r");
    int n = 0, high = 0;
    while (std::getline(in, line)) {
      const double sv = std::stod(line.substr(0, line.find(','))), rv = std::stod(line.substr(line.find(',') + 1));
      CHECK((sv > -std::numbers::pi && sv <= std::numbers::pi && rv > -std::numbers::pi && rv <= std::numbers::pi));
      high += rv > 2.5 || rv < -2.5;  // the prior's mean near pi: responses wrap across it
      ++n;
    }
    CHECK(n == 400);
    CHECK(high > 0);
  }
  // mu_0 = 2.8 near the seam at pi: its draws are wrapped; the truth within 4 posterior sd.
  const fs::path fit = dir / "fit";
  Result f = run_bactor("infer --perception vonmises --motor vonmises --data " + data + " --cost QuadraticCost --closed-form --fix sigma=0.2 "
                        "--chains 2 --warmup 300 --samples 300 --seed 3 --out " + fit.string());
  INFO(f.out);
  REQUIRE(f.code == 0);
  const std::string chain = read_text(fit / "chain-1.csv");
  CHECK(chain.find("perception = vonmises") != std::string::npos);
  CHECK(chain.find("motor = vonmises") != std::string::npos);  // its own response noise, as `--motor vonmises` names it
  CHECK(chain.find("mu_0=vonmises:0:0") != std::string::npos);  // uniform on the circle
  for (const auto& [name, truth] : {std::pair{"sigma_0", 0.5}, std::pair{"sigma_r", 0.1}}) {
    const auto [m, sd] = mean_sd(fit / "summary.csv", name);
    INFO(name << " mean " << m << " sd " << sd);
    CHECK(std::abs(m - truth) <= 4 * sd);
  }
  {  // mu_0's draws: wrapped into (-pi, pi], circular distance to the truth within 4 circular sd
    std::istringstream in(chain);
    std::string line;
    int col = -1;
    double c = 0, sn = 0, n = 0;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream f(line);
      std::string cell;
      int k = 0;
      if (col < 0) {
        while (std::getline(f, cell, ',')) {
          if (cell == "mu_0") col = k;
          ++k;
        }
        continue;
      }
      while (std::getline(f, cell, ',') && k < col) ++k;
      const double v = std::stod(cell);
      CHECK((v > -std::numbers::pi && v <= std::numbers::pi));
      c += std::cos(v), sn += std::sin(v), n += 1;
    }
    REQUIRE(n > 0);
    const double rbar = std::hypot(c, sn) / n, mean = std::atan2(sn, c), csd = std::sqrt(-2 * std::log(rbar));
    const double dist = std::abs(std::remainder(mean - 2.8, 2 * std::numbers::pi));
    INFO("mu_0 circular mean " << mean << " sd " << csd);
    CHECK(dist <= 4 * csd);
  }
  Result sum = run_bactor("summary " + (fit / "chain-1.csv").string() + " " + (fit / "chain-2.csv").string());
  INFO(sum.out);
  CHECK(sum.code == 0);
  CHECK(sum.out.find("sigma_r") != std::string::npos);
  // The fit's folder stands for its chain files: the same table.
  Result sum_dir = run_bactor("summary " + fit.string());
  CHECK(sum_dir.code == 0);
  CHECK(sum_dir.out == sum.out);
  // A formula cost symmetric in the wrapped difference: the same action, the same likelihood.
  const fs::path fit2 = dir / "fit_formula";
  Result g = run_bactor("infer --perception vonmises --data " + data + " --formula \"1 - cos(r - s)\" --closed-form --fix sigma=0.2 "
                        "--chains 1 --warmup 100 --samples 100 --seed 3 --out " + fit2.string());
  INFO(g.out);
  CHECK(g.code == 0);
  // check works on angles (its circular statistics: tests/cli/test_cli_check.cpp).
  Result ck = run_bactor("check " + fit.string());
  INFO(ck.out);
  CHECK(ck.code == 0);
  CHECK(ck.out.find("circ. sd d") != std::string::npos);
}

TEST_CASE("cli circular: refusals") {
  const fs::path dir = scratch("refusals");
  fs::create_directories(dir);
  const std::string data = (dir / "bad.csv").string();
  {
    std::ofstream out(data);
    out << "s,r\n0.5,0.4\n-3.0,3.1\n1.0,3.3\n";
  }
  const std::string fit = " --chains 1 --warmup 10 --samples 10 --out " + (dir / "f").string();
  Result r = run_bactor("infer --perception vonmises --data " + data + " --cost QuadraticCost --closed-form" + fit);
  CHECK(r.code == 2);
  CHECK(r.out.find("bad.csv:4: column 'r': value 3.3 is outside (-pi, pi] (angles in radians)") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "f" / "chain-1.csv"));
  {
    std::ofstream out(data);
    out << "s,r\n0.5,0.4\n-3.0,3.1\n1.0,-0.3\n";
  }
  auto refused = [&](const std::string& args, const std::string& part) {
    Result x = run_bactor(args);
    INFO(args << "\n" << x.out);
    CHECK(x.code == 2);
    CHECK(x.out.find(part) != std::string::npos);
  };
  refused("infer --perception vonmises --data " + data + " --cost Linex --closed-form" + fit, "is not supported");
  refused("infer --perception vonmises --data " + data + " --formula \"c * (1 - cos(r - s))\" --params c=uniform:0.5:2 --closed-form" +
              fit,
          "its parameters would not change the action");
  refused("infer --perception vonmises --data " + data + " --formula \"(r - s) * (r - s)\" --closed-form" + fit,
          "not a function of the wrapped difference");
  refused("infer --perception vonmises --data " + data + " --cost QuadraticCost --closed-form --motor gaussian" + fit,
          "--motor and --offset do not apply");
  refused("infer --data " + data + " --cost QuadraticCost --closed-form --motor vonmises" + fit,
          "--motor vonmises: von Mises response noise is the circular model's; give it with --perception vonmises");
  refused("simulate --motor vonmises --cost QuadraticCost --set mu_0=1,sigma_0=0.5,sigma=0.2,sigma_r=0.1 --out " + data + ".x",
          "give it with --perception vonmises");
  refused("infer --perception vonmises --data " + data + " --cost QuadraticCost --closed-form --lapse --lapse-range 0.1:2" + fit,
          "uniform on the whole circle");
  refused("infer --perception vonmises --data " + data + " --cost QuadraticCost --closed-form --lapse --lapse-range=-1:1" + fit,
          "uniform on the whole circle");  // (an angle range; it said 'LO must be positive')
  refused("infer --perception vonmises --data " + data + " --cost QuadraticCost --closed-form --prior mu_0=lognormal:0:1" + fit,
          "an angle needs a prior on the circle");
  refused("simulate --perception vonmises --cost QuadraticCost --set mu_0=1,sigma_0=0.5,sigma=0.2,sigma_r=0.1 --stimuli 0.5:4 --out " +
              (dir / "x.csv").string(),
          "-pi <= LO < HI <= pi");
}

TEST_CASE("cli circular: --mu0-coordinates vector (accepted and recorded; refused outside single-subject von Mises fits)") {
  const fs::path dir = scratch("mu0_vector");
  fs::create_directories(dir);
  const std::string data = (dir / "vm.csv").string();
  Result s = run_bactor("simulate --perception vonmises --cost QuadraticCost --set mu_0=-1,sigma_0=0.5,sigma=0.2,sigma_r=0.1 "
                        "--trials 30 --seed 5 --out " + data);
  REQUIRE(s.code == 0);
  const fs::path fit = dir / "fit";
  Result f = run_bactor("infer --perception vonmises --data " + data + " --cost QuadraticCost --closed-form --fix sigma=0.2 "
                        "--mu0-coordinates vector --chains 1 --warmup 60 --samples 40 --seed 3 --out " + fit.string());
  INFO(f.out);
  REQUIRE(f.code == 0);
  const std::string chain = read_text(fit / "chain-1.csv");
  CHECK(chain.find("mu0_coordinates = vector") != std::string::npos);
  const auto [m, sd] = mean_sd(fit / "summary.csv", "mu_0");  // the angle, as with angle coordinates
  CHECK((m > -std::numbers::pi && m <= std::numbers::pi));
  CHECK(chain.find("mu_0,sigma_0,sigma_r") != std::string::npos);  // no extra column for the vector
  Result plain = run_bactor("infer --perception vonmises --data " + data + " --cost QuadraticCost --closed-form --fix sigma=0.2 "
                            "--chains 1 --warmup 20 --samples 10 --seed 3 --out " + (dir / "plain").string());
  REQUIRE(plain.code == 0);
  CHECK(read_text(dir / "plain" / "chain-1.csv").find("mu0_coordinates = angle") != std::string::npos);
  auto refused = [&](const std::string& args, const std::string& part) {
    Result x = run_bactor(args);
    INFO(args << "\n" << x.out);
    CHECK(x.code == 2);
    CHECK(x.out.find(part) != std::string::npos);
  };
  const std::string tail = " --chains 1 --warmup 10 --samples 10 --out " + (dir / "no").string();
  refused("infer --data " + data + " --cost QuadraticCost --closed-form --mu0-coordinates vector" + tail, "needs --perception vonmises");
  refused("infer --perception vonmises --data " + data + " --cost QuadraticCost --closed-form --mu0-coordinates polar" + tail,
          "'polar' (expected angle or vector)");
  refused("infer --perception vonmises --data " + data + " --cost QuadraticCost --closed-form --mu0-coordinates vector --init-radius 0" +
              tail,
          "needs --init-radius > 0");
  refused("infer --perception vonmises --hierarchical --data " + data + " --cost QuadraticCost --closed-form --mu0-coordinates vector" +
              tail,
          "--mu0-coordinates does not apply with --hierarchical");
  CHECK_FALSE(fs::exists(dir / "no" / "chain-1.csv"));
}
