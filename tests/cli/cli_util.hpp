// SPDX-License-Identifier: MIT
// Shared by the end-to-end CLI tests: run the `bactor` program (path in BACTOR_EXE), capture
// its output and exit code; per-process scratch directories.
#pragma once

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bactor::testing {

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr
};

inline std::string bactor_exe() {
  const char* e = std::getenv("BACTOR_EXE");
  REQUIRE_MESSAGE(e, "BACTOR_EXE is not set (run through meson test)");
  return e;
}

/// Starts `bactor args...` without waiting, stdout and stderr to the file `log`; with
/// `own_group`, in a process group of its own (so that a group signal reaches it alone).
inline pid_t spawn_bactor(std::vector<std::string> args, const std::string& log, bool own_group = false) {
  args.insert(args.begin(), bactor_exe());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (own_group) {
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
  }
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return pid;
}

/// Runs the shell command `cmd`, stdout and stderr together (the caller adds `2>&1`).
inline Result run_command(const std::string& cmd) {
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) r.out += buf;
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

/// Runs `bactor ARGS` through the shell, stdout and stderr together.
inline Result run_bactor(const std::string& args) { return run_command(bactor_exe() + " " + args + " 2>&1"); }

/// Runs `bactor ARGS` through the shell with stdout and stderr apart (stderr via a temp file).
struct SplitResult {
  int code = -1;
  std::string out, err;
};
inline SplitResult run_bactor_split(const std::string& args) {
  const std::string err_path =
      (std::filesystem::temp_directory_path() / ("bactor_stderr_" + std::to_string(::getpid()) + ".txt")).string();
  const std::string cmd = bactor_exe() + " " + args + " 2>" + err_path;
  SplitResult s;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) s.out += buf;
  const int status = pclose(p);
  s.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (FILE* f = std::fopen(err_path.c_str(), "r")) {
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.err.append(buf, n);
    std::fclose(f);
  }
  std::remove(err_path.c_str());
  return s;
}

/// A fresh path `name` under a per-process temporary directory (`name` itself not created).
/// The whole text of a file (empty when it cannot be read).
inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::filesystem::path scratch_path(const std::string& stem, const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / (stem + std::to_string(::getpid())) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir.parent_path());
  return dir;
}

/// A simulated QuadraticCost cohort (`subjects` x `trials`, stimuli 0.3-16 s, every parameter
/// spread over subjects) written by `bactor simulate` to DIR/cohort.csv; returns the path.
inline std::string simulated_cohort(const std::filesystem::path& dir, int subjects, int trials, int seed) {
  std::filesystem::create_directories(dir);
  const std::string data = (dir / "cohort.csv").string();
  const Result r = run_bactor("simulate --cost QuadraticCost --set mu_0=3,sigma_0=0.35,sigma=0.15,sigma_r=0.12 --subjects " +
                              std::to_string(subjects) + " --spread mu_0=0.2,sigma=0.3,sigma_0=0.3,sigma_r=0.3 --trials " +
                              std::to_string(trials) + " --stimuli 0.3:16 --seed " + std::to_string(seed) + " --out " + data);
  INFO(r.out);
  REQUIRE(r.code == 0);
  return data;
}

/// A draws file's lines without the elapsed-time lines (which differ between any two runs).
inline std::vector<std::string> draws_lines(const std::filesystem::path& p) {
  std::ifstream in(p);
  REQUIRE(in);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (line.find("Elapsed Time") == std::string::npos && line.find("seconds (") == std::string::npos) lines.push_back(line);
  return lines;
}

/// Rows of a CSV file (comma-separated, first line the header) as column -> value maps.
inline std::vector<std::map<std::string, std::string>> read_csv(const std::filesystem::path& p) {
  std::ifstream in(p);
  REQUIRE(in);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  {
    std::stringstream ss(line);
    std::string c;
    while (std::getline(ss, c, ',')) header.push_back(c);
  }
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string c;
    std::map<std::string, std::string> row;
    for (const auto& h : header) {
      if (!std::getline(ss, c, ',')) c.clear();
      row[h] = c;
    }
    rows.push_back(row);
  }
  return rows;
}

} // namespace bactor::testing
