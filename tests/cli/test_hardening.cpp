// SPDX-License-Identifier: MIT
// Hardening tests of the `bactor` program (path in BACTOR_EXE): byte-identical draws for the
// same seed (and thread count), N = 1 and N = 100,000 trials, SIGINT during `infer`, bad input.
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace fs = std::filesystem;

namespace {

using ::bactor::testing::Result;

std::string exe() { return ::bactor::testing::bactor_exe(); }

std::string reference(const std::string& name) {
  const char* dir = std::getenv("BACTOR_REFERENCE_DIR");
  REQUIRE_MESSAGE(dir, "BACTOR_REFERENCE_DIR is not set (run through meson test)");
  return std::string(dir) + "/" + name;
}

Result run(const std::string& args) { return ::bactor::testing::run_bactor(args); }

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("bactor_hardening_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::vector<std::string> lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Every line except the '#  Elapsed Time' block (wall-clock seconds necessarily differ).
std::vector<std::string> comparable_lines(const fs::path& p) {
  std::vector<std::string> out;
  bool timing = false;
  for (const auto& l : lines(p)) {
    if (l.rfind("#  Elapsed Time", 0) == 0) timing = true;
    if (timing && l.rfind("#", 0) == 0) continue;
    timing = false;
    out.push_back(l);
  }
  return out;
}

std::size_t draw_rows(const fs::path& p) {
  std::size_t n = 0;
  bool header = false;
  for (const auto& l : lines(p)) {
    if (l.empty() || l[0] == '#') continue;
    if (!header) { header = true; continue; }
    ++n;
  }
  return n;
}

std::string infer_args(const std::string& data, const fs::path& out, const std::string& extra) {
  return "infer --data " + data + " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 2 --warmup 100 --samples 50 --out " +
         out.string() + " " + extra;
}

} // namespace

TEST_CASE("hardening: same command, seed and threads give byte-identical draws (timing lines aside)") {
  const std::string data = reference("quadratic_n60.csv");
  const fs::path a = scratch("det_a"), b = scratch("det_b"), c = scratch("det_c");
  REQUIRE(run(infer_args(data, a, "--seed 7 --threads 2")).code == 0);
  REQUIRE(run(infer_args(data, b, "--seed 7 --threads 2")).code == 0);
  REQUIRE(run(infer_args(data, c, "--seed 7 --threads 1")).code == 0);
  for (const char* f : {"chain-1.csv", "chain-2.csv"}) {
    CAPTURE(f);
    const auto la = comparable_lines(a / f), lb = comparable_lines(b / f), lc = comparable_lines(c / f);
    REQUIRE(la.size() > 60);
    CHECK(la == lb);
    CHECK(la == lc);  // NutsSettings promises identical results for any thread count
    CHECK(lines(a / f).size() == lines(b / f).size());  // only the timing lines differ
  }
  // ...and a different seed gives different draws (the comparison above can fail).
  const fs::path d = scratch("det_d");
  REQUIRE(run(infer_args(data, d, "--seed 8 --threads 2")).code == 0);
  CHECK(comparable_lines(a / "chain-1.csv") != comparable_lines(d / "chain-1.csv"));
}

TEST_CASE("hardening: a single trial is enough to run inference") {
  const fs::path dir = scratch("n1");
  { std::ofstream(dir / "one.csv") << "s,r\n2.5,2.1\n"; }
  const Result r = run(infer_args((dir / "one.csv").string(), dir / "out", "--seed 3"));
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(draw_rows(dir / "out" / "chain-1.csv") == 50);
  CHECK(fs::exists(dir / "out" / "summary.csv"));
  CHECK(r.out.find("nan") == std::string::npos);
}

TEST_CASE("hardening: 100,000 trials simulate and infer (closed form, few draws)") {
  const fs::path dir = scratch("n100k");
  const Result s = run("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --trials 100000 --seed 5 --out " +
                       (dir / "big.csv").string());
  INFO(s.out);
  REQUIRE(s.code == 0);
  CHECK(lines(dir / "big.csv").size() == 100001);
  const Result r = run("infer --data " + (dir / "big.csv").string() +
                       " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 1 --warmup 60 --samples 20 --seed 2 --out " +
                       (dir / "out").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(draw_rows(dir / "out" / "chain-1.csv") == 20);
}

namespace {

struct Interrupted {
  bool marker_seen = false, ended = false;
  int status = 0;
  std::string log;
};

/// Runs `bactor args...` with stdout and stderr in `log`, waits (at most 20 s) until the log
/// contains `marker`, sends SIGINT 300 ms later and waits (at most 30 s) for the exit.
Interrupted interrupt_run(std::vector<std::string> args, const std::string& log, const std::string& marker) {
  const pid_t pid = ::bactor::testing::spawn_bactor(std::move(args), log);
  auto read_log = [&] {
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  Interrupted r;
  // Up to 60 s for the marker: on a loaded 2-core machine the first progress line took 26 s
  // (the wait ends as soon as it appears).
  for (int i = 0; i < 600 && !r.marker_seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    r.marker_seen = read_log().find(marker) != std::string::npos;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(pid, SIGINT);
  // The run must end by itself soon after the signal; never hang.
  for (int i = 0; i < 300 && !r.ended; ++i) {
    r.ended = ::waitpid(pid, &r.status, WNOHANG) == pid;
    if (!r.ended) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!r.ended) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &r.status, 0);
  }
  r.log = read_log();
  return r;
}

} // namespace

TEST_CASE("hardening: SIGINT during infer stops cleanly and keeps the chains") {
  const fs::path dir = scratch("sigint");
  const std::string out = (dir / "out").string();
  const Interrupted run_ = interrupt_run({"infer", "--data", reference("quadratic_n60.csv"), "--cost", "QuadraticCost",
                                          "--closed-form", "--chains", "2", "--threads", "2", "--warmup", "200",
                                          "--samples", "1000000", "--delta", "0.95", "--out", out},
                                         (dir / "log.txt").string(), "(sampling)");
  const int status = run_.status;
  INFO(run_.log);
  REQUIRE(run_.marker_seen);
  REQUIRE(run_.ended);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) != 0);  // an interrupted run is not a success
  // Says in one line what was kept: the same number of draws of every chain.
  const auto said = run_.log.find("interrupted: kept ");
  REQUIRE(said != std::string::npos);
  const std::string line = run_.log.substr(said, run_.log.find('\n', said) - said);
  CHECK(line.find(" of chains 1, 2 in ") != std::string::npos);
  CHECK(line.find("marked complete = 0") != std::string::npos);
  const std::size_t kept = std::stoul(line.substr(18));
  for (const char* f : {"chain-1.csv", "chain-2.csv"}) {
    CAPTURE(f);
    REQUIRE(fs::exists(fs::path(out) / f));
    CHECK_FALSE(fs::exists(fs::path(out) / (std::string(f) + ".tmp")));
    const auto l = lines(fs::path(out) / f);
    // "complete = 0" once (it used to say complete twice), num_samples = the draws kept.
    CHECK(std::count_if(l.begin(), l.end(), [](const std::string& x) { return x.find("complete") != std::string::npos; }) == 1);
    CHECK(std::count(l.begin(), l.end(), "# complete = 0") == 1);
    CHECK(std::count(l.begin(), l.end(), "#     num_samples = " + std::to_string(kept)) == 1);
    CHECK(std::count(l.begin(), l.end(), "# requested_samples = 1000000") == 1);
    CHECK(draw_rows(fs::path(out) / f) == kept);  // equal lengths: ArviZ reads them
    CHECK(draw_rows(fs::path(out) / f) > 0);
    CHECK(draw_rows(fs::path(out) / f) < 1000000u);
  }
  CHECK(run_.log.find("nan") == std::string::npos);
  // The kept draws are readable by `bactor summary`.
  const Result s = run("summary " + out + "/chain-1.csv " + out + "/chain-2.csv");
  INFO(s.out);
  CHECK(s.code == 0);
  CHECK(s.out.find(std::to_string(2 * kept) + " draws in 2 chains") != std::string::npos);
  CHECK(s.out.find("nan") == std::string::npos);
}

TEST_CASE("hardening: SIGINT before some chains start: those are not written, the others kept") {
  // One thread, three chains: chains 2 and 3 start after chain 1, so they have no draws yet.
  const fs::path dir = scratch("sigint_empty");
  const std::string out = (dir / "out").string();
  const Interrupted r = interrupt_run({"infer", "--data", reference("quadratic_n60.csv"), "--cost", "QuadraticCost",
                                       "--closed-form", "--chains", "3", "--threads", "1", "--warmup", "200",
                                       "--samples", "1000000", "--out", out},
                                      (dir / "log.txt").string(), "(sampling)");
  INFO(r.log);
  REQUIRE(r.marker_seen);
  REQUIRE(r.ended);
  REQUIRE(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 1);
  CHECK(r.log.find(" of chain 1 in ") != std::string::npos);
  CHECK(r.log.find("chains 2, 3 had no draws after warm-up, not written") != std::string::npos);
  CHECK(r.log.find("nan") == std::string::npos);
  CHECK(r.log.find("E-BFMI: ") != std::string::npos);
  CHECK(fs::exists(fs::path(out) / "chain-1.csv"));
  CHECK_FALSE(fs::exists(fs::path(out) / "chain-2.csv"));
  CHECK_FALSE(fs::exists(fs::path(out) / "chain-3.csv"));
  const Result s = run("summary " + out + "/chain-1.csv");
  INFO(s.out);
  CHECK(s.code == 0);
}

TEST_CASE("hardening: SIGINT during train writes the partial network, marked as such") {
  const fs::path dir = scratch("sigint_train");
  const std::string net = (dir / "net.safetensors").string();
  const Interrupted r = interrupt_run({"train", "--cost", "QuadraticCost", "--steps", "100000000", "--out", net},
                                      (dir / "log.txt").string(), "step ");
  INFO(r.log);
  REQUIRE(r.marker_seen);
  REQUIRE(r.ended);
  REQUIRE(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 1);
  CHECK(r.log.find("interrupted: stopped after ") != std::string::npos);
  CHECK(r.log.find("interrupted=1") != std::string::npos);
  REQUIRE(fs::exists(net));
  CHECK_FALSE(fs::exists(net + ".tmp"));
  // infer says the network is partial.
  const Result inf = run("infer --data " + reference("quadratic_n60.csv") + " --cost QuadraticCost --network " + net +
                         " --fix sigma=0.2 --chains 1 --warmup 50 --samples 50 --out " + (dir / "inf").string());
  INFO(inf.out);
  CHECK(inf.code == 0);
  CHECK(inf.out.find("is a partially trained network (stopped after ") != std::string::npos);
}

TEST_CASE("hardening: bad input exits 2 with a one-line message naming the culprit") {
  const fs::path dir = scratch("bad");
  struct Case { std::string file, text, expect; };
  const std::vector<Case> cases{
      {"empty.csv", "", "empty.csv:1"},
      {"nan.csv", "s,r\n1,2\n1,nan\n", "nan.csv:3"},
      {"zero.csv", "s,r\n0,2\n", "zero.csv:2"},
      {"text.csv", "s,r\n1,x\n", "text.csv:2"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.file);
    { std::ofstream(dir / c.file) << c.text; }
    const Result r = run("infer --data " + (dir / c.file).string() + " --cost QuadraticCost --closed-form --out " + (dir / "o").string());
    CHECK(r.code == 2);
    CHECK(r.out.find(c.expect) != std::string::npos);
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
    CHECK_FALSE(fs::exists(dir / "o"));
  }
  { std::ofstream(dir / "net.safetensors") << std::string("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":", 13); }
  const Result n = run("infer --data " + reference("quadratic_n60.csv") + " --cost QuadraticCost --network " +
                       (dir / "net.safetensors").string() + " --out " + (dir / "o").string());
  CHECK(n.code == 2);
  CHECK(n.out.find("net.safetensors") != std::string::npos);
  for (const std::string bad : {"--chains 0", "--samples -5", "--samples 1e12", "--thin 0", "--delta 1.5", "--chains 100000",
                                 "--samples 100000000", "--max-depth 0", "--threads -1", "--quadrature-nodes 0",
                                 "--quadrature-nodes 201", "--metric full", "--init-radius -1", "--init-radius nan"}) {
    CAPTURE(bad);
    const Result r = run("infer --data " + reference("quadratic_n60.csv") + " --cost QuadraticCost --closed-form " + bad +
                         " --out " + (dir / "o").string());
    CHECK(r.code == 2);
    CHECK(r.out.find(bad.substr(0, bad.find(' '))) != std::string::npos);  // names the option
    CHECK_FALSE(fs::exists(dir / "o"));
  }
  // A number the option's type cannot hold is said to be out of range, not "could not convert".
  for (const auto& [bad, expect] : {std::pair<std::string, std::string>{"--samples 1e12", "--samples: '1e12' is out of range"},
                                    {"--samples abc", "--samples: 'abc' is not a whole number"},
                                    {"--chains 2.5", "--chains: '2.5' is not a whole number"}}) {
    CAPTURE(bad);
    const Result r = run("infer --data " + reference("quadratic_n60.csv") + " --cost QuadraticCost --closed-form " + bad +
                         " --out " + (dir / "o").string());
    CHECK(r.code == 2);
    CHECK(r.out.find(expect) != std::string::npos);
  }
  // A head that cannot represent the cost's optimal action is refused before training.
  const Result h = run("train --cost Linex --head posterior --steps 10 --out " + (dir / "n.safetensors").string());
  CHECK(h.code == 2);
  CHECK(h.out.find("--head: the posterior head needs a cost homogeneous in (s, r)") != std::string::npos);
  CHECK(std::count(h.out.begin(), h.out.end(), '\n') == 1);
  CHECK_FALSE(fs::exists(dir / "n.safetensors"));
  // Absurd sizes are refused up front (they used to run out of memory after a while).
  const Result t = run("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --trials 1000000000000 --out " +
                       (dir / "s.csv").string());
  CHECK(t.code == 2);
  CHECK(t.out.find("--trials") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "s.csv"));
}

TEST_CASE("hardening: SIGINT during warm-up writes no draws files and says so") {
  const fs::path dir = scratch("sigint_warmup");
  const std::string out = (dir / "out").string();
  const Interrupted r = interrupt_run({"infer", "--data", reference("quadratic_n60.csv"), "--cost", "QuadraticCost",
                                      "--closed-form", "--chains", "2", "--threads", "2", "--warmup", "40000000",
                                      "--samples", "10", "--out", out},
                                     (dir / "log.txt").string(), "(warm-up)");
  INFO(r.log);
  REQUIRE(r.marker_seen);
  REQUIRE(r.ended);
  REQUIRE(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 1);
  CHECK(r.log.find("interrupted before any draw after warm-up: no draws files written") != std::string::npos);
  CHECK_FALSE(fs::exists(fs::path(out) / "chain-1.csv"));
  CHECK_FALSE(fs::exists(fs::path(out) / "summary.csv"));
  CHECK(r.log.find("nan") == std::string::npos);
}

// ---- Rough edges a new user hits (issue 13, section 4) -----------------------------------

namespace {

using ::bactor::testing::run_bactor_split;
using ::bactor::testing::SplitResult;

std::string source_file(const std::string& rel) {
  const char* src = std::getenv("BACTOR_SOURCE_DIR");
  REQUIRE_MESSAGE(src, "BACTOR_SOURCE_DIR is not set (run through meson test)");
  return std::string(src) + "/" + rel;
}

std::size_t count_lines(const std::string& text) { return std::size_t(std::count(text.begin(), text.end(), '\n')); }

} // namespace

TEST_CASE("rough edges: a data CSV saved as Excel's \"CSV UTF-8\" (byte-order mark, CRLF) is read") {
  const fs::path dir = scratch("bom");
  std::string text = "\xEF\xBB\xBFs,r\r\n";
  for (const auto& l : lines(reference("quadratic_n60.csv"))) {
    if (l.rfind("s,", 0) == 0) continue;
    text += l + "\r\n";
  }
  { std::ofstream(dir / "excel.csv", std::ios::binary) << text; }
  const Result r = run(infer_args((dir / "excel.csv").string(), dir / "out", "--seed 3"));
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("missing column") == std::string::npos);
  CHECK(r.out.find("inference: 60 trials") != std::string::npos);
  CHECK(draw_rows(dir / "out" / "chain-1.csv") == 50);
}

TEST_CASE("rough edges: summary reads rstan/PyStan CSV files and leaves the per-trial columns out unless --all") {
  // Two chains in rstan's sample_file layout (tests/samplers/stan_files/README.md says how they were made).
  const std::string files = source_file("tests/samplers/stan_files/rstan_actor_1.csv") + " " +
                            source_file("tests/samplers/stan_files/rstan_actor_2.csv");
  const SplitResult s = run_bactor_split("summary " + files);
  INFO(s.out << s.err);
  REQUIRE(s.code == 0);
  CHECK(s.err.empty());
  for (const char* p : {"\nmu_0 ", "\nsigma_0 ", "\nsigma_r ", "\nlp__ "}) CHECK(s.out.find(p) != std::string::npos);
  CHECK(s.out.find("log_lik.1 ") == std::string::npos);
  CHECK(s.out.find("r_rep.1 ") == std::string::npos);
  CHECK(s.out.find("200 draws in 2 chains") != std::string::npos);  // warm-up rows (save_warmup=1) left out
  CHECK(s.out.find("left out 4 log_lik and 4 r_rep columns (per trial; --all shows them") != std::string::npos);
  const SplitResult all = run_bactor_split("summary --all " + files);
  INFO(all.out);
  CHECK(all.code == 0);
  CHECK(all.out.find("\nlog_lik.1 ") != std::string::npos);
  CHECK(all.out.find("\nr_rep.4 ") != std::string::npos);
  CHECK(all.out.find("left out") == std::string::npos);
  const SplitResult one = run_bactor_split("summary --vars mu_0 r_rep.2 -- " + files);
  INFO(one.out << one.err);
  CHECK(one.code == 0);
  CHECK(one.out.find("\nmu_0 ") != std::string::npos);
  CHECK(one.out.find("\nr_rep.2 ") != std::string::npos);
  CHECK(one.out.find("\nsigma_0 ") == std::string::npos);
  CHECK(one.out.find("left out") == std::string::npos);
  const SplitResult bad = run_bactor_split("summary --vars nope -- " + files);
  CHECK(bad.code == 2);
  CHECK(bad.err.find("bactor summary: error: --vars: no column 'nope'") == 0);
  CHECK(count_lines(bad.err) == 1);
  // A CSV with lp__ but without the sampler columns is not a sampling file.
  const fs::path dir = scratch("summary_notsampling");
  { std::ofstream(dir / "opt.csv") << "# Point Estimate Generated by Stan\nlp__,mu\n-1,2\n"; }
  const SplitResult opt = run_bactor_split("summary " + (dir / "opt.csv").string());
  CHECK(opt.code == 2);
  CHECK(opt.err.find("opt.csv:1: not a Stan sampling file") != std::string::npos);
  CHECK(count_lines(opt.err) == 1);
}

TEST_CASE("rough edges: --help goes to stdout with exit 0; train, evaluate and study disentangle show their own defaults") {
  const SplitResult h = run_bactor_split("--help");
  CHECK(h.code == 0);
  CHECK(h.err.empty());
  CHECK(h.out.find("usage: bactor <command>") == 0);
  CHECK(h.out.find("  summary ") != std::string::npos);
  const SplitResult none = run_bactor_split("");  // no command: the usage is an error message
  CHECK(none.code == 2);
  CHECK(none.out.empty());
  CHECK(none.err.find("usage: bactor <command>") == 0);
  const SplitResult t = run_bactor_split("train --help");
  INFO(t.out);
  CHECK(t.code == 0);
  for (const char* d : {"default 60000", "=256", "=128", "=0.003", "=adam", "=cosine", "=0.01", "=16,64,16,8", "=auto", "=2000"})
    CHECK_MESSAGE(t.out.find(d) != std::string::npos, d);
  const SplitResult e = run_bactor_split("evaluate --help");
  INFO(e.out);
  CHECK(e.code == 0);
  CHECK(e.out.find("=2000") != std::string::npos);
  CHECK(e.out.find("=20250") != std::string::npos);
  const SplitResult st = run_bactor_split("study --help");
  const SplitResult sd = run_bactor_split("study disentangle --help");
  INFO(st.out << "----\n" << sd.out);
  CHECK(st.code == 0);
  CHECK(sd.code == 0);
  CHECK(st.out.find("disentangle") != std::string::npos);
  CHECK(sd.out.find("Usage: study disentangle [OPTIONS]") != std::string::npos);
  CHECK(sd.out.find("--trials UINT=45") != std::string::npos);
  CHECK(sd.out.find("--out") != std::string::npos);
  CHECK(st.out != sd.out);
  const SplitResult unknown = run_bactor_split("study nope --out x");
  CHECK(unknown.code == 2);
  CHECK(unknown.err == "bactor study: error: unknown study 'nope' (known: disentangle, misspecification)\n");
}

TEST_CASE("rough edges: the ESS warning states the rule, 100 per chain times the number of chains") {
  const fs::path dir = scratch("ess_rule");
  const Result r = run(infer_args(reference("quadratic_n60.csv"), dir / "out", "--seed 3"));  // 2 x 50 draws
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(r.out.find(" < 200 = 100 per chain x 2 chains") != std::string::npos);
  CHECK(r.out.find("< 100 per chain\n") == std::string::npos);
}

TEST_CASE("rough edges: simulate refuses --set of a parameter that --conditions varies, and names what may vary") {
  const fs::path dir = scratch("sim_conditions");
  const std::string out = (dir / "s.csv").string();
  const SplitResult c = run_bactor_split("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 "
                                         "--conditions sigma=0.1,0.25 --out " + out);
  CHECK(c.code == 2);
  CHECK(c.err == "bactor simulate: error: --set sigma=0.2 conflicts with --conditions sigma=0.1,0.25 (sigma varies by "
                 "condition: leave it out of --set)\n");
  CHECK_FALSE(fs::exists(out));
  // Any parameter may vary (issue 15), but a name the cost does not have is refused, as are
  // lists of different lengths and a parameter in both --set and --conditions.
  const SplitResult v = run_bactor_split("simulate --cost QuadraticCost --set mu_0=1.5,sigma=0.2,sigma_r=0.1 "
                                         "--conditions \"sigma_0=0.1,0.25;beta=0.5,0.9\" --out " + out);
  CHECK(v.code == 2);
  CHECK(v.err.find("bactor simulate: error: --conditions: unknown parameter 'beta' for cost QuadraticCost (known: "
                   "sigma, sigma_0, mu_0, sigma_r)") == 0);
  CHECK(count_lines(v.err) == 1);
  const SplitResult n = run_bactor_split("simulate --cost QuadraticCost --set sigma=0.2,sigma_r=0.1 "
                                         "--conditions \"mu_0=1,2,4;sigma_0=0.1,0.25\" --out " + out);
  CHECK(n.code == 2);
  CHECK(n.err == "bactor simulate: error: --conditions: sigma_0 has 2 values, mu_0 3 (every parameter needs one value "
                 "per condition)\n");
  const SplitResult m = run_bactor_split("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.1,sigma=0.2,sigma_r=0.1 "
                                         "--conditions \"mu_0=1,2,4\" --out " + out);
  CHECK(m.code == 2);
  CHECK(m.err == "bactor simulate: error: --set mu_0=1.5 conflicts with --conditions mu_0=1,2,4 (mu_0 varies by "
                 "condition: leave it out of --set)\n");
  CHECK_FALSE(fs::exists(out));
  // Several parameters: one value each per condition.
  const SplitResult ok3 = run_bactor_split("simulate --cost QuadraticCost --set sigma=0.2,sigma_r=0.1 --trials 4 "
                                           "--conditions \"mu_0=1,2,4;sigma_0=0.1,0.15,0.2\" --out " + out);
  INFO(ok3.err);
  CHECK(ok3.code == 0);
  CHECK(ok3.err.find("3 conditions") != std::string::npos);
  CHECK(lines(out).size() == 13);
  // Without sigma in --set both spellings work: one condition per noise level.
  for (const std::string cond : {"sigma=0.1,0.25", "0.1,0.25"}) {
    CAPTURE(cond);
    const SplitResult ok = run_bactor_split("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma_r=0.1 "
                                            "--trials 5 --conditions " + cond + " --out " + out);
    INFO(ok.err);
    CHECK(ok.code == 0);
    CHECK(ok.err.find("2 conditions") != std::string::npos);
    CHECK(lines(out).size() == 11);
  }
}

TEST_CASE("rough edges: infer --help lists every default prior; draws files record the priors used") {
  const SplitResult h = run_bactor_split("infer --help");
  INFO(h.out);
  CHECK(h.code == 0);
  for (const char* p : {"sigma=halfnormal:0.25", "sigma_0=halfnormal:0.25", "mu_0=lognormal:log(S):1", "sigma_r=halfnormal:0.25",
                        "QuadraticCostQuadraticEffort: beta=uniform:0.5:1", "AbsoluteCostQuadraticEffort: beta=uniform:0.5:1",
                        "AsymmetricQuadratic: alpha=uniform:0.1:0.9", "Linex: c=lognormal:", "InvertedGaussian: gamma=lognormal:"})
    CHECK_MESSAGE(h.out.find(p) != std::string::npos, p);
  const fs::path dir = scratch("priors");
  const Result r = run("infer --data " + reference("effort_two_noise.csv") +
                       " --cost QuadraticCostQuadraticEffort --closed-form --fix sigma_r=0.13 --prior sigma=halfnormal:0.5,beta=uniform:0.6:1"
                       " --chains 1 --warmup 50 --samples 20 --out " + (dir / "out").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  const auto l = lines(dir / "out" / "chain-1.csv");
  // Free parameters in column order; the fixed sigma_r is under "fixed", not here. mu_0's
  // default is relative to the fit's unit S, the geometric mean of the stimuli (recorded as
  // `scale`): lognormal:log(S):1 in the data's units.
  double mean_log_s = 0;
  const auto data = lines(reference("effort_two_noise.csv"));
  for (std::size_t i = 1; i < data.size(); ++i)
    mean_log_s += std::log(std::stod(data[i].substr(data[i].find(',') + 1))) / double(data.size() - 1);
  const std::string head = "# priors = mu_0=lognormal:",
                    tail = ":1,sigma_0=halfnormal:0.25,sigma.1=halfnormal:0.5,sigma.2=halfnormal:0.5,beta=uniform:0.6:1";
  const auto prior_line = std::find_if(l.begin(), l.end(), [&](const std::string& t) { return t.rfind(head, 0) == 0; });
  REQUIRE(prior_line != l.end());
  CHECK(prior_line->substr(prior_line->size() - tail.size()) == tail);
  CHECK(std::stod(prior_line->substr(head.size())) == doctest::Approx(mean_log_s).epsilon(1e-8));
  const auto scale_line = std::find_if(l.begin(), l.end(), [](const std::string& t) { return t.rfind("# scale = ", 0) == 0; });
  REQUIRE(scale_line != l.end());
  CHECK(std::log(std::stod(scale_line->substr(10))) == doctest::Approx(mean_log_s).epsilon(1e-8));
  CHECK(std::count(l.begin(), l.end(), "# fixed = sigma_r=0.13") == 1);
}

TEST_CASE("units: infer --scale is recorded, a bad one names the flag, and the seconds/milliseconds fits agree") {
  const fs::path dir = scratch("scale");
  const Result bad = run("infer --data " + reference("quadratic_n60.csv") + " --cost QuadraticCost --closed-form --scale 0 --out " +
                         (dir / "bad").string());
  CHECK(bad.code == 2);
  CHECK(bad.out.find("--scale") != std::string::npos);
  CHECK(!fs::exists(dir / "bad"));
  const Result one = run("infer --data " + reference("quadratic_n60.csv") +
                         " --cost QuadraticCost --closed-form --scale 1 --chains 1 --warmup 50 --samples 20 --out " + (dir / "one").string());
  REQUIRE(one.code == 0);
  const auto l = lines(dir / "one" / "chain-1.csv");
  CHECK(std::count(l.begin(), l.end(), "# scale = 1") == 1);
  // With --scale 1 the default prior of mu_0 is lognormal:0:1 in the data's own units.
  CHECK(std::any_of(l.begin(), l.end(), [](const std::string& t) { return t.rfind("# priors = mu_0=lognormal:0:1,", 0) == 0; }));
}

TEST_CASE("per condition: --per-condition on data with one condition says it changes nothing") {
  const fs::path dir = scratch("one-cond");
  const Result r = run("infer --data " + reference("quadratic_n60.csv") +
                       " --cost QuadraticCost --closed-form --per-condition mu_0 --chains 1 --warmup 30 --samples 10 --out " +
                       (dir / "out").string());
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("has one condition (no 'cond' column, or one label), so --per-condition mu_0 changes nothing") != std::string::npos);
}
