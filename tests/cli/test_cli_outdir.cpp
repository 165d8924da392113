// SPDX-License-Identifier: MIT
// The fit folder (issue 24, output folders): infer refuses a non-empty --out unless --overwrite,
// which removes only what bactor wrote; a lock file keeps a second writer out; report --out onto
// a folder or an empty name leaves no .tmp behind.
#include "tests/cli/cli_util.hpp"
#include "cli/fit_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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

TEST_CASE("outdir: subject folder names: one safe path component each, one-to-one, unique ignoring case") {
  using bactor::cli::subject_folders;
  const std::vector<std::string> ids = {"7", "../x", "a/b", ".", "..", "...", "x.", "%", "~", "a b", "\\", "C:",
                                        "\xC3\xA9", "Ab", "aB", "AB", "ab~2"};
  const auto f = subject_folders(ids);
  REQUIRE(f.size() == ids.size());
  const std::vector<std::string> expected = {"subject-7", "subject-..%2Fx", "subject-a%2Fb", "subject-%2E", "subject-.%2E",
                                             "subject-..%2E", "subject-x%2E", "subject-%25", "subject-%7E", "subject-a%20b",
                                             "subject-%5C", "subject-C%3A", "subject-%C3%A9", "subject-Ab", "subject-aB~2",
                                             "subject-AB~3", "subject-ab%7E2"};
  for (std::size_t j = 0; j < ids.size(); ++j) {
    CAPTURE(ids[j]);
    CHECK(f[j] == expected[j]);
  }
  // Long ids are cut at 200 encoded bytes, never inside a %XX; ids equal up to there get ~2.
  const std::string long_a(300, 'x'), long_b = std::string(299, 'x') + "y";
  std::string accents;
  for (int i = 0; i < 100; ++i) accents += "\xC3\xA9";
  const auto g = subject_folders({long_a, long_b, accents});
  CHECK(g[0] == "subject-" + std::string(200, 'x'));
  CHECK(g[1] == "subject-" + std::string(200, 'x') + "~2");
  CHECK(g[2].size() == 8 + 198);  // 33 characters of 6 bytes each ("%C3%A9")
  CHECK(g[2].substr(g[2].size() - 6) == "%C3%A9");
  // A map whose folder would leave the fit folder is refused.
  const fs::path dir = scratch("map");
  fs::create_directories(dir);
  for (const std::string folder : {"../x", "subject-a/../../x", "subject-..", "x", "subject-", "subject-a\\b"}) {
    CAPTURE(folder);
    std::ofstream(dir / "subjects.csv") << bactor::cli::subjects_file_first_line << "\n# complete = 1\nindex,subject,folder\n1,a,"
                                        << folder << "\n";
    CHECK_THROWS_AS(bactor::cli::read_subject_map((dir / "subjects.csv").string()), std::invalid_argument);
  }
  // Ids with commas and quotes round-trip.
  bactor::cli::SubjectMap m;
  m.settings = {{"complete", "1"}, {"network", ""}};
  m.subjects = {{1, "a,b", "subject-a%2Cb"}, {2, "say \"hi\"", "subject-say%20%22hi%22"}, {3, " x", "subject-%20x"}};
  bactor::cli::write_subject_map(dir.string(), m);
  const auto back = bactor::cli::read_subject_map((dir / "subjects.csv").string());
  REQUIRE(back.subjects.size() == 3);
  for (std::size_t j = 0; j < 3; ++j) CHECK(back.subjects[j].id == m.subjects[j].id);
  CHECK(back.settings == m.settings);
  // A row cut by a crash while appending (no line end) is not read from an incomplete map, and
  // makes a complete one an error.
  m.settings = {{"complete", "0"}};
  m.subjects.resize(1);
  bactor::cli::write_subject_map(dir.string(), m);
  bactor::cli::append_subject(dir.string(), {2, "b", "subject-b"});
  std::ofstream(dir / "subjects.csv", std::ios::app) << "3,c,subj";
  CHECK(bactor::cli::read_subject_map((dir / "subjects.csv").string()).subjects.size() == 2);
  m.settings = {{"complete", "1"}};
  bactor::cli::write_subject_map(dir.string(), m);
  std::ofstream(dir / "subjects.csv", std::ios::app) << "3,c,subj";
  CHECK_THROWS_AS(bactor::cli::read_subject_map((dir / "subjects.csv").string()), std::invalid_argument);
}
