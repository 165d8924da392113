// SPDX-License-Identifier: MIT
// infer --shard K/N and bactor merge (issue 26 part 1): N shards run as separate processes and
// merged give the single run's fit folder byte for byte (the elapsed-time lines aside); merge
// refuses missing, repeated, incomplete and differently-set shards.
#include "tests/cli/cli_util.hpp"
#include "cli/fit_dir.hpp"

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

Result run_cli(const std::string& args) { return ::bactor::testing::run_bactor(args); }

fs::path scratch(const std::string& name) { return ::bactor::testing::scratch_path("bactor_merge_test_", name); }

/// Every file under `root` (relative path -> content), with the elapsed-time lines of draws
/// files left out: they are the only lines that differ between two runs of one command.
std::map<std::string, std::string> tree(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::string line, text;
    bool elapsed = false;
    while (std::getline(in, line)) {
      if (line.rfind("#  Elapsed Time:", 0) == 0) elapsed = true;
      else if (elapsed && line.rfind("#                ", 0) == 0) continue;
      else elapsed = false;
      if (!elapsed) text += line + "\n";
    }
    out[fs::relative(e.path(), root).string()] = text;
  }
  return out;
}

/// Seven subjects (ids of all kinds) with 12 trials each, at different truths.
std::string write_data(const fs::path& dir) {
  const std::vector<std::string> ids = {"7", "a/b", "../up", "s3", "S3", "x y", "10"};
  std::string text = "subject,s,r\n";
  for (std::size_t j = 0; j < ids.size(); ++j)
    for (int i = 0; i < 12; ++i)
      text += ids[j] + "," + std::to_string(0.4 + 0.3 * i) + "," + std::to_string((0.5 + 0.1 * double(j)) * (0.4 + 0.3 * i) + 0.2) + "\n";
  fs::create_directories(dir);
  const fs::path p = dir / "d.csv";
  std::ofstream(p) << text;
  return p.string();
}

std::string infer_args(const std::string& data) {
  return "infer --data " + data + " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 2 --threads 1 "
         "--warmup 80 --samples 60 --seed 11 ";
}

} // namespace

TEST_CASE("merge: N shards run as separate processes give the single run's folder byte for byte") {
  const fs::path dir = scratch("identity");
  const std::string data = write_data(dir);
  const Result single = run_cli(infer_args(data) + "--out " + (dir / "single").string());
  INFO(single.out);
  REQUIRE(single.code == 0);
  // Three shards at once, each its own process (as a Slurm job array runs them).
  std::string script;
  for (int k = 1; k <= 3; ++k)
    script += ::bactor::testing::bactor_exe() + " " + infer_args(data) + "--shard " + std::to_string(k) + "/3 --out " +
              (dir / ("shard-" + std::to_string(k))).string() + " > " + (dir / ("log-" + std::to_string(k))).string() + " 2>&1 & ";
  script += "wait";
  REQUIRE(std::system(("sh -c '" + script + "'").c_str()) == 0);
  std::size_t subjects = 0;
  for (int k = 1; k <= 3; ++k) {
    const fs::path shard = dir / ("shard-" + std::to_string(k));
    REQUIRE(fs::exists(shard / "subjects.csv"));
    CHECK(tree(shard).at("subjects.csv").find("# shard = " + std::to_string(k) + "/3\n") != std::string::npos);
    for (const auto& e : fs::directory_iterator(shard)) subjects += e.is_directory();
  }
  CHECK(subjects == 7);  // disjoint, and together all of them
  const Result m = run_cli("merge " + (dir / "shard-2").string() + " " + (dir / "shard-1").string() + " " +
                           (dir / "shard-3").string() + " --out " + (dir / "merged").string());
  INFO(m.out);
  REQUIRE(m.code == 0);
  CHECK(m.out.find("merged 3 shards, 7 subjects") != std::string::npos);
  const auto a = tree(dir / "single"), b = tree(dir / "merged");
  CHECK(a.size() == 1 + 7 * 3);  // subjects.csv, and chain-1, chain-2 and summary per subject
  REQUIRE(a.size() == b.size());
  for (const auto& [path, text] : a) {
    CAPTURE(path);
    REQUIRE(b.count(path) == 1);
    CHECK(b.at(path) == text);
  }
  // check reads the merged fit as usual.
  const Result c = run_cli("check " + (dir / "merged").string() + " --draws 10");
  INFO(c.out);
  CHECK(c.code == 0);
  CHECK(c.out.find("subject a/b") != std::string::npos);
}

TEST_CASE("merge: refuses missing, repeated, incomplete and differently-set shards, and --shard without subjects") {
  const fs::path dir = scratch("refuse");
  const std::string data = write_data(dir);
  auto shard = [&](int k, const std::string& name, const std::string& extra = "") {
    const Result r = run_cli(infer_args(data) + extra + "--shard " + std::to_string(k) + "/2 --out " + (dir / name).string());
    INFO(r.out);
    REQUIRE(r.code == 0);
    return (dir / name).string();
  };
  const std::string s1 = shard(1, "s1"), s2 = shard(2, "s2"), other = shard(2, "other", "--delta 0.9 ");
  const std::string out = " --out " + (dir / "m").string();
  Result r = run_cli("merge " + s1 + out);
  CHECK(r.code == 2);
  CHECK(r.out.find("shard 2 of 2 missing") != std::string::npos);
  r = run_cli("merge " + s1 + " " + s1 + " " + s2 + out);
  CHECK(r.code == 2);
  CHECK(r.out.find("shard 1/2 given twice") != std::string::npos);
  r = run_cli("merge " + s1 + " " + other + out);
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK(r.out.find("delta = 0.9 but " + s1 + " has delta = 0.8") != std::string::npos);
  // A shard that was stopped (complete = 0).
  fs::copy(s2, dir / "stopped", fs::copy_options::recursive);
  {
    std::ifstream in(dir / "stopped" / "subjects.csv");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string t = ss.str();
    t.replace(t.find("# complete = 1"), 14, "# complete = 0");
    std::ofstream(dir / "stopped" / "subjects.csv") << t;
  }
  r = run_cli("merge " + s1 + " " + (dir / "stopped").string() + out);
  CHECK(r.code == 2);
  CHECK(r.out.find("is incomplete") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "m"));  // nothing written by a refused merge
  r = run_cli("merge " + s1 + " " + s2 + " --out " + s1);
  CHECK(r.code == 2);
  // --shard: K/N checked; data without subjects, or --hierarchical, refused.
  r = run_cli(infer_args(data) + "--shard 3/2 --out " + (dir / "x").string());
  CHECK(r.code == 2);
  CHECK(r.out.find("--shard: expected K/N with 1 <= K <= N") != std::string::npos);
  std::ofstream(dir / "one.csv") << "s,r\n1,1.1\n2,2.2\n3,2.9\n";
  r = run_cli(infer_args((dir / "one.csv").string()) + "--shard 1/2 --out " + (dir / "x").string());
  CHECK(r.code == 2);
  CHECK(r.out.find("has no subject column") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "x"));
  // The merge of the right two works.
  r = run_cli("merge " + s1 + " " + s2 + out);
  INFO(r.out);
  CHECK(r.code == 0);
}

TEST_CASE("merge: the shard of an id is FNV-1a 64 mod N plus 1, as docs/cluster.md states") {
  // The published FNV-1a 64-bit test vectors (Fowler, Noll, Vo: "FNV hash" test suite).
  CHECK(bactor::cli::fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(bactor::cli::fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(bactor::cli::fnv1a64("foobar") == 0x85944171f73967e8ULL);
  CHECK(bactor::cli::subject_shard("a", 7) == int(0xaf63dc4c8601ec8cULL % 7) + 1);
  // Every shard of 1..N, and about 1/N of many ids each (binomial sd about 30 of 2,000 here).
  std::vector<int> count(5, 0);
  for (int i = 0; i < 10000; ++i) {
    const int k = bactor::cli::subject_shard("subject" + std::to_string(i), 5);
    REQUIRE(k >= 1);
    REQUIRE(k <= 5);
    ++count[std::size_t(k - 1)];
  }
  for (int c : count) CHECK(std::abs(c - 2000) < 200);
  CHECK(bactor::cli::subject_shard("anything", 1) == 1);
}
