// SPDX-License-Identifier: MIT
// Signals (issue 24): two SIGINTs milliseconds apart (GNU timeout signals the process and its
// group) are one request to stop cleanly; on SIGTERM the fit is written within seconds. The
// draws files left are complete CmdStan CSV (DESIGN.md section 8).
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
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

using Clock = std::chrono::steady_clock;

fs::path scratch(const std::string& name) { return ::bactor::testing::scratch_path("bactor_signals_test_", name); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Stopped {
  int status = -1;
  double seconds_to_exit = 0;  // from the first signal
  std::string log;
};

/// Starts `bactor args` in its own process group (so that a group signal reaches it alone),
/// stdout and stderr to `log`.
pid_t spawn(std::vector<std::string> args, const fs::path& log) {
  return ::bactor::testing::spawn_bactor(std::move(args), log.string(), true);
}

/// Waits (at most 30 s) until `log` contains `marker`.
bool wait_for(const fs::path& log, const std::string& marker) {
  for (int i = 0; i < 300; ++i) {
    if (slurp(log).find(marker) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

/// Waits at most `seconds` for the exit of `pid`; kills it after that (and returns false).
bool wait_exit(pid_t pid, double seconds, int& status) {
  const auto t0 = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - t0).count() < seconds) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return false;
}

/// Runs `bactor args`, waits until its log shows `marker`, then sends `sig` to the process
/// and, `gap_ms` later, to its group (as GNU timeout does), and waits for the exit (at most
/// 60 s; SIGKILL after that, a failure).
Stopped stop_run(std::vector<std::string> args, const fs::path& log, const std::string& marker, int sig, int gap_ms) {
  const pid_t pid = spawn(std::move(args), log);
  CHECK(wait_for(log, marker));
  Stopped r;
  const auto t0 = Clock::now();
  ::kill(pid, sig);
  std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
  ::kill(-pid, sig);
  CHECK(wait_exit(pid, 60, r.status));
  r.seconds_to_exit = std::chrono::duration<double>(Clock::now() - t0).count();
  r.log = slurp(log);
  return r;
}

/// A draws file as DESIGN.md section 8 describes it: the comment block with the model and
/// method, the header, the adaptation block, at least one draw with as many fields as the
/// header, and the elapsed-time lines at the end.
void check_complete_cmdstan_csv(const fs::path& p) {
  CAPTURE(p.string());
  REQUIRE(fs::exists(p));
  CHECK_FALSE(fs::exists(p.string() + ".tmp"));
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  REQUIRE(lines.size() > 10);
  CHECK(lines.front().rfind("# model = bactor_", 0) == 0);
  std::size_t header = 0;
  while (header < lines.size() && lines[header][0] == '#') ++header;
  REQUIRE(header < lines.size());
  CHECK(slurp(p).find("\n# method = sample") != std::string::npos);
  CHECK(lines[header].rfind("lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,", 0) == 0);
  const auto fields = [](const std::string& l) { return 1 + std::count(l.begin(), l.end(), ','); };
  std::size_t draws = 0;
  bool adapted = false;
  for (std::size_t i = header + 1; i < lines.size(); ++i) {
    if (lines[i] == "# Adaptation terminated") adapted = true;
    if (lines[i].empty() || lines[i][0] == '#') continue;
    CHECK(fields(lines[i]) == fields(lines[header]));
    ++draws;
  }
  CHECK(adapted);
  CHECK(draws > 0);
  const std::size_t n = lines.size();
  CHECK(lines[n - 4].rfind("#  Elapsed Time: ", 0) == 0);
  CHECK(lines[n - 4].find("seconds (Warm-up)") != std::string::npos);
  CHECK(lines[n - 3].find("seconds (Sampling)") != std::string::npos);
  CHECK(lines[n - 2].find("seconds (Total)") != std::string::npos);
}

std::vector<std::string> long_infer(const fs::path& data, const fs::path& out) {
  return {"infer", "--data", data.string(), "--cost", "QuadraticCost", "--closed-form", "--chains", "2", "--threads", "2",
          "--warmup", "100", "--samples", "1000000", "--no-log-lik", "--seed", "3", "--out", out.string()};
}

fs::path write_data(const fs::path& dir) {
  std::string text = "s,r\n";
  for (int i = 0; i < 30; ++i) text += std::to_string(0.4 + 0.1 * i) + "," + std::to_string(0.5 + 0.09 * i) + "\n";
  std::ofstream(dir / "d.csv") << text;
  return dir / "d.csv";
}

} // namespace

TEST_CASE("signals: two SIGINTs 5 ms apart (process, then group) are one request: the fit is written, exit 1") {
  const fs::path dir = scratch("sigint2");
  fs::create_directories(dir);
  const fs::path out = dir / "out";
  const Stopped r = stop_run(long_infer(write_data(dir), out), dir / "log.txt", "(sampling)", SIGINT, 5);
  INFO(r.log);
  REQUIRE(WIFEXITED(r.status));  // not killed by the signal, not _Exit(130)
  CHECK(WEXITSTATUS(r.status) == 1);
  CHECK(r.log.find("interrupted: kept ") != std::string::npos);
  for (const char* f : {"chain-1.csv", "chain-2.csv"}) check_complete_cmdstan_csv(out / f);
  CHECK(slurp(out / "chain-1.csv").find("# complete = 0") != std::string::npos);
  CHECK_FALSE(fs::exists(out / ".bactor.lock"));
  const auto s = ::bactor::testing::run_bactor("summary " + (out / "chain-1.csv").string() + " " + (out / "chain-2.csv").string());
  INFO(s.out);
  CHECK(s.code == 0);
}

TEST_CASE("signals: on SIGTERM (twice, 1 ms apart) the fit is written within seconds") {
  const fs::path dir = scratch("sigterm");
  fs::create_directories(dir);
  const fs::path out = dir / "out";
  const Stopped r = stop_run(long_infer(write_data(dir), out), dir / "log.txt", "(sampling)", SIGTERM, 1);
  INFO(r.log);
  REQUIRE(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 1);
  CHECK(r.seconds_to_exit < 10);  // Slurm sends SIGKILL 30 s after SIGTERM
  for (const char* f : {"chain-1.csv", "chain-2.csv"}) check_complete_cmdstan_csv(out / f);
}

TEST_CASE("signals: a stopped fit with subjects keeps a subjects.csv marked incomplete that lists the folders written") {
  const fs::path dir = scratch("subjects");
  fs::create_directories(dir);
  std::string text = "subject,s,r\n";
  for (const char* id : {"p1", "p2", "p3"})
    for (int i = 0; i < 20; ++i) text += std::string(id) + "," + std::to_string(0.4 + 0.1 * i) + "," + std::to_string(0.5 + 0.09 * i) + "\n";
  std::ofstream(dir / "d.csv") << text;
  const fs::path out = dir / "out";
  const Stopped r = stop_run(long_infer(dir / "d.csv", out), dir / "log.txt", "(sampling)", SIGINT, 3);
  INFO(r.log);
  REQUIRE(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 1);
  check_complete_cmdstan_csv(out / "subject-p1" / "chain-1.csv");
  CHECK_FALSE(fs::exists(out / "subject-p2"));  // not started
  const std::string map = slurp(out / "subjects.csv");
  CHECK(map.find("# complete = 0\n") != std::string::npos);
  CHECK(map.find("\n1,p1,subject-p1\n") != std::string::npos);
  CHECK(map.find("p2") == std::string::npos);
  // check reads the subject written, saying the fit is incomplete; merge refuses it as a shard.
  const auto c = ::bactor::testing::run_bactor("check " + out.string() + " --draws 10");
  INFO(c.out);
  CHECK(c.code == 0);
  CHECK(c.out.find("is an incomplete fit (" + (out / "subjects.csv").string() + ": complete = 0): 1 of 3 subjects") != std::string::npos);
  const auto m = ::bactor::testing::run_bactor("merge " + out.string() + " --out " + (dir / "m").string());
  CHECK(m.code == 2);
  CHECK(m.out.find("is incomplete") != std::string::npos);
}

TEST_CASE("signals: a SIGINT more than 1 s after the first signal ends the run at once (exit 130, lock removed); a later SIGTERM does not") {
  // The exact action on 10,000 trials: one warm-up iteration takes seconds, so the clean stop
  // the first signal asks for (at the next iteration) is still pending 1.3 s later.
  const fs::path dir = scratch("abort");
  fs::create_directories(dir);
  std::string text = "s,r\n";
  for (int i = 0; i < 10000; ++i) text += std::to_string(0.5 + 0.0003 * i) + "," + std::to_string(0.55 + 0.00028 * i + 0.05 * (i % 7)) + "\n";
  std::ofstream(dir / "d.csv") << text;
  const fs::path out = dir / "out", log = dir / "log.txt";
  const pid_t pid = spawn({"infer", "--data", (dir / "d.csv").string(), "--cost", "Linex", "--exact-action", "--chains", "1",
                           "--warmup", "100", "--samples", "10", "--seed", "1", "--out", out.string()},
                          log);
  REQUIRE(wait_for(log, "units: S = "));  // printed just before sampling starts
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(fs::exists(out / ".bactor.lock"));
  ::kill(pid, SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  int status = 0;
  REQUIRE_MESSAGE(::waitpid(pid, &status, WNOHANG) == 0, "the clean stop ended within 1.3 s: this test needs a slower iteration");
  // A later SIGTERM changes nothing (schedulers repeat it) ...
  ::kill(pid, SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(::waitpid(pid, &status, WNOHANG) == 0);
  // ... a later SIGINT ends the run at once.
  const auto t0 = Clock::now();
  ::kill(pid, SIGINT);
  REQUIRE(wait_exit(pid, 10, status));
  INFO(slurp(log));
  CHECK(std::chrono::duration<double>(Clock::now() - t0).count() < 2);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK_FALSE(fs::exists(out / ".bactor.lock"));
  CHECK_FALSE(fs::exists(out / "chain-1.csv"));
}

TEST_CASE("signals: a second infer into a folder another is writing is refused by the lock, naming that process") {
  const fs::path dir = scratch("concurrent");
  fs::create_directories(dir);
  const fs::path out = dir / "out", log = dir / "log.txt";
  const fs::path data = write_data(dir);
  const pid_t pid = spawn(long_infer(data, out), log);
  REQUIRE(wait_for(log, "(sampling)"));
  for (const char* extra : {"", " --overwrite"}) {
    const auto r = ::bactor::testing::run_bactor("infer --data " + data.string() + " --cost QuadraticCost --closed-form "
                                                 "--chains 1 --warmup 10 --samples 10 --out " + out.string() + extra);
    INFO(r.out);
    CHECK(r.code == 2);
    CHECK(r.out.find("another bactor (pid " + std::to_string(pid) + " on host ") != std::string::npos);
  }
  ::kill(pid, SIGINT);
  int status = 0;
  REQUIRE(wait_exit(pid, 60, status));
  CHECK(WIFEXITED(status));
  check_complete_cmdstan_csv(out / "chain-1.csv");  // the first run's fit, untouched by the second
  CHECK_FALSE(fs::exists(out / ".bactor.lock"));
}
