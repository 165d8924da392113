// SPDX-License-Identifier: MIT
// Issue 24, part 2, end to end: classes of bad input that gave a silent wrong answer now give a
// one-line message naming the user's file or option and what would be accepted, exit 2, and
// write nothing (docs/bad-input.md states the rules).
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using bactor::testing::Result;
using bactor::testing::run_bactor;
using bactor::testing::run_bactor_split;

namespace {

fs::path scratch(const std::string& name) { return bactor::testing::scratch_path("bactor_cli_bad_", name); }

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool one_line(const std::string& s) { return !s.empty() && s.find('\n') == s.size() - 1; }

// Replaces the value in column `col` of post-warm-up draw `draw` (0-based) of a draws file.
void damage(const fs::path& p, const std::string& col, int draw, const std::string& value) {
  std::istringstream in(slurp(p));
  std::string line, out;
  int index = -1, row = -1;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#') {
      std::vector<std::string> f;
      std::stringstream ss(line);
      std::string c;
      while (std::getline(ss, c, ',')) f.push_back(c);
      if (index < 0) {
        for (std::size_t k = 0; k < f.size(); ++k)
          if (f[k] == col) index = static_cast<int>(k);
        REQUIRE(index >= 0);
      } else if (++row == draw) {
        f[static_cast<std::size_t>(index)] = value;
        line.clear();
        for (std::size_t k = 0; k < f.size(); ++k) line += (k ? "," : "") + f[k];
      }
    }
    out += line + "\n";
  }
  write(p, out);
}

const std::string fit_args = " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 2 --warmup 150 --samples 100 --seed 3";

} // namespace

TEST_CASE("cli bad input: data files that used to be misread are refused with a hint, nothing written") {
  const fs::path dir = scratch("data");
  fs::create_directories(dir);
  struct Case {
    std::string file, text, expected;
  };
  const std::vector<Case> cases = {
      {"rownames.csv", "\"s\",\"r\"\n\"1\",0.5,0.6\n\"2\",0.7,0.8\n", ":2: 3 fields but the header names 2 columns"},
      {"semicolon.csv", "s;r\n1;2\n", "the file looks separated by ';'"},
      {"tabs.csv", "s\tr\n1\t2\n", "the file looks separated by tabs"},
      {"upper.csv", "S,R\n1,2\n", "the header has 'S': names are case-sensitive"},
      {"labels.csv", "cond,s,r\nlow,1,1\nLow,2,2\n", ":3: conditions 'low' (line 2) and 'Low' differ only in case"},
      {"huge.csv", "s,r\n1,2\n1,1e300\n", ":3: column 'r': value 1e300 is outside 1e-100..1e100"},
      {"ratio.csv", "s,r\n1,2\n1,9e6\n", ":3: column 'r': response 9e6 is 9000000 times the stimulus 1"},
      {"spread.csv", "s,r\n0.1,0.1\n1e6,1e6\n", ":3: column 's': stimulus 1000000 is 10000000 times the smallest"},
  };
  for (const auto& c : cases) {
    const fs::path data = dir / c.file, out = dir / "out";
    write(data, c.text);
    const Result r = run_bactor("infer --data " + data.string() + fit_args + " --out " + out.string());
    INFO(c.file << ": " << r.out);
    CHECK(r.code == 2);
    CHECK(one_line(r.out));
    CHECK(r.out.rfind("bactor infer: error: " + data.string(), 0) == 0);  // names the file as given
    CHECK(r.out.find(c.expected) != std::string::npos);
    CHECK(r.out.find("--columns") == std::string::npos);  // no option the user did not give
    CHECK_FALSE(fs::exists(out));
  }
}

TEST_CASE("cli bad input: condition labels 1, 01, 1.0 are one condition, and infer says which label each sigma.k is") {
  const fs::path dir = scratch("labels");
  fs::create_directories(dir);
  std::string text = "cond,s,r\n";
  const char* spell[] = {"1", "01", "1.0", "2", "2.0"};
  for (int i = 0; i < 40; ++i) {
    const double s = 0.5 + 0.1 * i;
    text += std::string(spell[i % 5]) + "," + std::to_string(s) + "," + std::to_string(s * (i % 5 < 3 ? 1.05 : 0.95)) + "\n";
  }
  write(dir / "d.csv", text);
  const auto r = run_bactor_split("infer --data " + (dir / "d.csv").string() +
                                  " --cost QuadraticCost --closed-form --chains 1 --warmup 100 --samples 50 --out " +
                                  (dir / "fit").string());
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.err.find("2 condition(s)") != std::string::npos);
  CHECK(r.err.find("conditions: sigma.1 = label '1' (24 trials); sigma.2 = label '2' (16 trials)") != std::string::npos);
  const Result s = run_bactor("summary " + (dir / "fit" / "chain-1.csv").string());
  INFO(s.out);
  CHECK(s.out.find("conditions (index=label, the k of NAME.k): 1=1,2=2") != std::string::npos);
}

TEST_CASE("cli bad input: non-finite or missing draws: summary says n/a and warns, check and compare refuse") {
  const fs::path dir = scratch("draws");
  fs::create_directories(dir);
  const fs::path data = dir / "d.csv", fit = dir / "fit";
  REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.2,sigma=0.2,sigma_r=0.1 --trials 40 --seed 2 --out " +
                     data.string()).code == 0);
  REQUIRE(run_bactor("infer --data " + data.string() + fit_args + " --out " + fit.string()).code == 0);
  const fs::path chain = fit / "chain-1.csv";
  damage(chain, "mu_0", 7, "nan");
  damage(chain, "sigma_r", 3, "inf");
  const Result s = run_bactor("summary " + chain.string() + " " + (fit / "chain-2.csv").string());
  INFO(s.out);
  CHECK(s.code == 0);
  CHECK(s.out.find("mu_0            n/a        n/a") != std::string::npos);
  CHECK(s.out.find("WARNING: mu_0 has 1 non-finite draws (nan or inf) of 200") != std::string::npos);
  CHECK(s.out.find("WARNING: sigma_r has 1 non-finite draws") != std::string::npos);
  CHECK(s.out.find(" nan ") == std::string::npos);  // no nan printed as a statistic
  CHECK(s.out.find("-nan") == std::string::npos);
  // sigma_0 is untouched: its statistics are numbers.
  CHECK(s.out.find("sigma_0         n/a") == std::string::npos);
  for (const std::string& cmd : {"check " + fit.string(), "compare " + fit.string() + " " + fit.string() + " --names a,b"}) {
    const Result r = run_bactor(cmd);
    INFO(cmd << "\n" << r.out);
    CHECK(r.code == 2);
    CHECK(one_line(r.out));
    CHECK(r.out.find(chain.string() + ": column 'mu_0', draw 8 after warm-up, is nan") != std::string::npos);
  }
  // A header without draws: refused, naming the file, not a table of nan.
  std::istringstream in(slurp(fit / "chain-2.csv"));
  std::string line, header_only;
  while (std::getline(in, line)) {
    header_only += line + "\n";
    if (line.rfind("lp__", 0) == 0) break;
  }
  write(dir / "empty.csv", header_only);
  const Result e = run_bactor("summary " + (dir / "empty.csv").string());
  INFO(e.out);
  CHECK(e.code == 2);
  CHECK(one_line(e.out));
  CHECK(e.out.find((dir / "empty.csv").string() + ": no draws after warm-up") != std::string::npos);
  CHECK(e.out.find("nan") == std::string::npos);
}

TEST_CASE("cli bad input: --scale far from the stimuli is refused naming --scale") {
  const fs::path dir = scratch("scale");
  fs::create_directories(dir);
  const char* ref = std::getenv("BACTOR_REFERENCE_DIR");
  REQUIRE(ref);
  const std::string data = std::string(ref) + "/quadratic_n60.csv";
  for (const char* scale : {"1e-300", "1e300", "1e7"}) {
    const Result r = run_bactor("infer --data " + data + fit_args + " --scale " + scale + " --out " + (dir / "o").string());
    INFO(r.out);
    CHECK(r.code == 2);
    CHECK(one_line(r.out));
    CHECK(r.out.rfind("bactor infer: error: --scale: ", 0) == 0);
    CHECK(r.out.find("is not within a factor 1e6 of the stimuli's geometric mean") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "o"));
  }
  CHECK(run_bactor("infer --data " + data + fit_args + " --scale 1 --out " + (dir / "ok").string()).code == 0);
}

TEST_CASE("cli bad input: simulate --lapse and infer --lapse use one contaminant range, recorded; a short range says what to give") {
  const fs::path dir = scratch("lapse");
  fs::create_directories(dir);
  const fs::path data = dir / "d.csv";
  REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=3,sigma_0=0.3,sigma=0.2,sigma_r=0.15 --trials 60 "
                     "--stimuli 0.5:8 --lapse 0.05 --seed 5 --out " + data.string()).code == 0);
  // The stimuli's range widened by e, as simulate drew the lapses from.
  std::istringstream in(slurp(data));
  std::string line;
  std::getline(in, line);
  double smin = 1e300, smax = 0, rmin = 1e300, rmax = 0;
  while (std::getline(in, line)) {
    const double s = std::stod(line.substr(0, line.find(','))), r = std::stod(line.substr(line.find(',') + 1));
    smin = std::min(smin, s), smax = std::max(smax, s), rmin = std::min(rmin, r), rmax = std::max(rmax, r);
  }
  REQUIRE(rmin >= smin / std::exp(1.0));
  REQUIRE(rmax <= smax * std::exp(1.0));
  REQUIRE(run_bactor("infer --data " + data.string() + fit_args + " --lapse --out " + (dir / "fit").string()).code == 0);
  const std::string head = slurp(dir / "fit" / "chain-1.csv");
  const auto at = head.find("# lapse_range = ");
  REQUIRE(at != std::string::npos);
  const std::string range = head.substr(at + 16, head.find('\n', at) - at - 16);
  const double lo = std::stod(range.substr(0, range.find(':'))), hi = std::stod(range.substr(range.find(':') + 1));
  CHECK(lo == doctest::Approx(smin / std::exp(1.0)).epsilon(1e-12));
  CHECK(hi == doctest::Approx(smax * std::exp(1.0)).epsilon(1e-12));
  const Result r = run_bactor("infer --data " + data.string() + fit_args + " --lapse --lapse-range 1:2 --out " +
                              (dir / "bad").string());
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK(one_line(r.out));
  CHECK(r.out.find("--lapse-range: " + data.string()) != std::string::npos);
  CHECK(r.out.find("the range must hold every response: give ") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "bad"));
}

TEST_CASE("cli bad input: check names the draws file when a recorded setting is damaged, not an option") {
  const fs::path dir = scratch("settings");
  fs::create_directories(dir);
  const char* ref = std::getenv("BACTOR_REFERENCE_DIR");
  REQUIRE(ref);
  const fs::path fit = dir / "fit";
  REQUIRE(run_bactor("infer --data " + std::string(ref) + "/quadratic_n60.csv" + fit_args + " --out " + fit.string()).code == 0);
  for (const fs::path& chain : {fit / "chain-1.csv", fit / "chain-2.csv"}) {
    std::istringstream in(slurp(chain));
    std::string line, out;
    while (std::getline(in, line)) out += (line.rfind("# priors = ", 0) == 0 ? "# priors = sigma_r=bogus:1" : line) + "\n";
    write(chain, out);
  }
  const Result r = run_bactor("check " + fit.string());
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK(one_line(r.out));
  CHECK(r.out.rfind("bactor check: error: " + (fit / "chain-1.csv").string() + ": the settings it records: prior 'bogus:1'", 0) == 0);
  CHECK(r.out.find("--prior") == std::string::npos);
}

TEST_CASE("cli bad input: the exact action refuses a stimulus far from the unit S instead of running for minutes") {
  const fs::path dir = scratch("exact");
  fs::create_directories(dir);
  std::string text = "s,r\n";
  for (int i = 0; i < 20; ++i) text += std::to_string(0.5 + 0.1 * i) + "," + std::to_string(0.5 + 0.1 * i) + "\n";
  write(dir / "far.csv", text + "1e5,1e5\n");
  const Result r = run_bactor("infer --data " + (dir / "far.csv").string() + " --cost Linex --exact-action --out " +
                              (dir / "o").string());
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK(one_line(r.out));
  CHECK(r.out.rfind("bactor infer: error: --exact-action: " + (dir / "far.csv").string() + ":22: s = 100000 is not within a "
                    "factor 1e3 of the unit S", 0) == 0);
  CHECK_FALSE(fs::exists(dir / "o"));
}

TEST_CASE("cli bad input: an output path that is not a regular file, or in a missing folder, is refused before any work") {
  // Each writer renames a finished FILE.tmp onto its file: onto /dev/stdout (a link) or a device
  // that would replace it, run as root. Missing folders are found before training, not after.
  const fs::path dir = scratch("outputs");
  fs::create_directories(dir);
  const std::string set = " --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1";
  for (const std::string& bad : {std::string("/dev/stdout"), std::string("/dev/null"), std::string("/proc/self/fd/1")}) {
    const Result r = run_bactor("simulate" + set + " --out " + bad);
    INFO(bad << ": " << r.out);
    CHECK(r.code == 2);
    CHECK(r.out.find("--out " + bad + ": is not a regular file") != std::string::npos);
  }
  CHECK(fs::is_symlink("/dev/stdout"));
  const std::string missing = (dir / "no-such-folder" / "net.safetensors").string();
  const Result t = run_bactor("train --cost QuadraticCost --steps 100000 --out " + missing);
  INFO(t.out);
  CHECK(t.code == 2);
  CHECK(t.out.find("does not exist") != std::string::npos);
  CHECK(t.out.find("step") == std::string::npos);  // refused before the first training step
  const Result c = run_bactor("compare " + dir.string() + " --csv /dev/full");
  CHECK(c.code == 2);
  CHECK(c.out.find("--csv /dev/full: is not a regular file") != std::string::npos);
}
