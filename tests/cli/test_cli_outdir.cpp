// SPDX-License-Identifier: MIT
// The fit folder (issue 24, output folders): infer refuses a non-empty --out unless --overwrite,
// which removes only what bactor wrote; a lock file keeps a second writer out; report --out onto
// a folder or an empty name leaves no .tmp behind.
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

using ::bactor::testing::Result;

Result run_cli(const std::string& args) { return ::bactor::testing::run_bactor(args); }

fs::path scratch(const std::string& name) { return ::bactor::testing::scratch_path("bactor_outdir_test_", name); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A small data file (40 trials of one actor) and the infer command line for it, without --out.
std::string infer_args(const fs::path& dir, int chains) {
  const std::string data = (dir / "data.csv").string();
  if (!fs::exists(data)) {
    fs::create_directories(dir);
    const Result s = run_cli("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --trials 40 "
                             "--seed 3 --out " + data);
    REQUIRE(s.code == 0);
  }
  return "infer --data " + data + " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains " + std::to_string(chains) +
         " --warmup 100 --samples 100 --seed 5 ";
}

std::string host() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

} // namespace

TEST_CASE("outdir: infer refuses a non-empty --out; --overwrite removes the earlier fit's files and keeps the user's") {
  const fs::path dir = scratch("overwrite");
  const fs::path out = dir / "fit";
  Result r = run_cli(infer_args(dir, 4) + "--out " + out.string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  REQUIRE(fs::exists(out / "chain-4.csv"));
  CHECK_FALSE(fs::exists(out / ".bactor.lock"));  // removed at exit
  std::ofstream(out / "notes.txt") << "mine\n";
  const std::string chain1 = slurp(out / "chain-1.csv");

  // Again into the same folder: refused, one line naming --out, the folder and what to do; nothing changed.
  r = run_cli(infer_args(dir, 2) + "--delta 0.9 --out " + out.string());
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK(r.out.find("--out " + out.string() + ": is not empty") != std::string::npos);
  CHECK(r.out.find("--overwrite") != std::string::npos);
  CHECK(slurp(out / "chain-1.csv") == chain1);
  CHECK(fs::exists(out / "chain-4.csv"));
  CHECK_FALSE(fs::exists(out / ".bactor.lock"));

  // --overwrite with 2 chains: chains 3 and 4 of the earlier fit are gone, notes.txt is kept.
  r = run_cli(infer_args(dir, 2) + "--delta 0.9 --overwrite --out " + out.string());
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(fs::exists(out / "chain-2.csv"));
  CHECK_FALSE(fs::exists(out / "chain-3.csv"));
  CHECK_FALSE(fs::exists(out / "chain-4.csv"));
  CHECK(slurp(out / "notes.txt") == "mine\n");
  CHECK(r.out.find("kept " + (out / "notes.txt").string()) != std::string::npos);
  CHECK(slurp(out / "chain-1.csv") != chain1);
  // check reads the new fit (two chains) without complaint.
  const Result c = run_cli("check " + out.string() + " --draws 10");
  INFO(c.out);
  CHECK(c.code == 0);
}

TEST_CASE("outdir: --overwrite refuses when a draws file bactor did not write would stay in the fit") {
  const fs::path dir = scratch("foreign");
  const fs::path out = dir / "fit";
  fs::create_directories(out);
  std::ofstream(out / "chain-9.csv") << "lp__,x\n1,2\n";  // not bactor's: kept, and it would be read as chain 9
  const Result r = run_cli(infer_args(dir, 1) + "--overwrite --out " + out.string());
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK(r.out.find((out / "chain-9.csv").string()) != std::string::npos);
  CHECK(fs::exists(out / "chain-9.csv"));
  CHECK_FALSE(fs::exists(out / "chain-1.csv"));
  CHECK_FALSE(fs::exists(out / ".bactor.lock"));
  // A file where the folder should be.
  std::ofstream(dir / "file") << "x";
  const Result f = run_cli(infer_args(dir, 1) + "--out " + (dir / "file").string());
  CHECK(f.code == 2);
  CHECK(f.out.find("is not a folder") != std::string::npos);
}

TEST_CASE("outdir: the lock keeps a second writer out; a lock of an ended process is taken over") {
  const fs::path dir = scratch("lock");
  const fs::path out = dir / "fit";
  fs::create_directories(out);
  // A live process holds it (this test's own pid, on this host).
  std::ofstream(out / ".bactor.lock") << "pid=" << ::getpid() << "\nhost=" << host() << "\n";
  Result r = run_cli(infer_args(dir, 1) + "--out " + out.string());
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK(r.out.find("another bactor (pid " + std::to_string(::getpid())) != std::string::npos);
  CHECK(fs::exists(out / ".bactor.lock"));  // not ours to remove
  CHECK_FALSE(fs::exists(out / "chain-1.csv"));
  // A process that has ended: its lock is stale.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  std::ofstream(out / ".bactor.lock") << "pid=" << child << "\nhost=" << host() << "\n";
  r = run_cli(infer_args(dir, 1) + "--out " + out.string());
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("which has ended: taken over") != std::string::npos);
  CHECK(fs::exists(out / "chain-1.csv"));
  CHECK_FALSE(fs::exists(out / ".bactor.lock"));
}

TEST_CASE("outdir: report --out onto a folder or an empty name is refused before any work, leaving no .tmp") {
  const fs::path dir = scratch("report");
  const fs::path fit = dir / "fit";
  REQUIRE(run_cli(infer_args(dir, 1) + "--out " + fit.string()).code == 0);
  fs::create_directories(dir / "folder");
  Result r = run_cli("report " + fit.string() + " --no-check --out " + (dir / "folder").string());
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK(r.out.find("is a folder") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "folder.tmp"));
  r = run_cli("report " + fit.string() + " --no-check --out ''");
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK(r.out.find("--out: empty file name") != std::string::npos);
  CHECK_FALSE(fs::exists(".tmp"));
  // A folder that does not exist: the write fails and removes its .tmp.
  r = run_cli("report " + fit.string() + " --no-check --out " + (dir / "none" / "r.html").string());
  CHECK(r.code != 0);
  CHECK_FALSE(fs::exists(dir / "none" / "r.html.tmp"));
  r = run_cli("report " + fit.string() + " --no-check --out " + (dir / "r.html").string());
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(fs::exists(dir / "r.html"));
  CHECK_FALSE(fs::exists(dir / "r.html.tmp"));
}
