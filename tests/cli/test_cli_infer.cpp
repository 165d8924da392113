// SPDX-License-Identifier: MIT
// End-to-end tests of the inference commands: run the `bactor` program (path in BACTOR_EXE)
// and check exit codes, messages and the files written.
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

using ::bactor::testing::Result;

Result run_cli(const std::string& args) { return ::bactor::testing::run_bactor(args); }

fs::path scratch(const std::string& name) { return ::bactor::testing::scratch_path("bactor_cli_test_", name); }

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

} // namespace

TEST_CASE("cli: simulate then infer (closed form) writes chains and summary") {
  const fs::path dir = scratch("sim_infer");
  fs::create_directories(dir);
  const std::string data = (dir / "data.csv").string();
  Result s = run_cli("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --trials 40 --seed 3 --out " + data);
  INFO(s.out);
  REQUIRE(s.code == 0);
  Result r = run_cli("infer --data " + data + " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 2 --warmup 200 --samples 300 --seed 5 --out " +
                    (dir / "post").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(fs::exists(dir / "post" / "chain-1.csv"));
  CHECK(fs::exists(dir / "post" / "chain-2.csv"));
  CHECK(fs::exists(dir / "post" / "summary.csv"));
  CHECK(r.out.find("mu_0") != std::string::npos);
  std::ifstream chain(dir / "post" / "chain-1.csv");
  std::stringstream ss;
  ss << chain.rdbuf();
  CHECK(ss.str().find("QuadraticCost") != std::string::npos);
  CHECK(ss.str().find("log_lik.40") != std::string::npos);
  CHECK(ss.str().find("metric = diag_e") != std::string::npos);
  // --metric dense: Stan's dense_e, recorded with the full inverse metric (3 x 3 here);
  // --no-log-lik: no log_lik columns.
  Result d = run_cli("infer --data " + data + " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 2 --warmup 200 --samples 300 --seed 5 --metric dense --no-log-lik --out " +
                     (dir / "dense").string());
  INFO(d.out);
  REQUIRE(d.code == 0);
  std::ifstream dchain(dir / "dense" / "chain-1.csv");
  std::stringstream ds;
  ds << dchain.rdbuf();
  CHECK(ds.str().find("metric = dense_e") != std::string::npos);
  CHECK(ds.str().find("# Elements of inverse mass matrix:") != std::string::npos);
  CHECK(ds.str().find("log_lik = false") != std::string::npos);
  CHECK(ds.str().find("log_lik.") == std::string::npos);
}

TEST_CASE("cli: bad data exits 2 naming file, line and column, and writes nothing") {
  const fs::path dir = scratch("bad_data");
  write(dir / "bad.csv", "s,r\n1,2\n1,-1\n");
  Result r = run_cli("infer --data " + (dir / "bad.csv").string() + " --cost QuadraticCost --closed-form --out " + (dir / "out").string());
  CHECK(r.code == 2);
  CHECK(r.out.find("bad.csv:3: column 'r'") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "out"));
  write(dir / "empty.csv", "");
  CHECK(run_cli("infer --data " + (dir / "empty.csv").string() + " --cost QuadraticCost --closed-form --out " + (dir / "out").string()).code == 2);
  CHECK_FALSE(fs::exists(dir / "out"));
}

TEST_CASE("cli: bad options exit 2") {
  const fs::path dir = scratch("bad_opts");
  write(dir / "d.csv", "s,r\n1,2\n2,2\n");
  const std::string base = "infer --data " + (dir / "d.csv").string() + " --cost QuadraticCost --out " + (dir / "o").string();
  CHECK(run_cli(base).code == 2);  // neither --network nor --closed-form
  Result u = run_cli(base + " --closed-form --fix bogus=1");
  CHECK(u.code == 2);
  CHECK(u.out.find("unknown parameter 'bogus'") != std::string::npos);
  CHECK(run_cli(base + " --closed-form --latent banana").code == 2);
  CHECK(run_cli(base + " --closed-form --prior mu_0=uniform:5:1").code == 2);
  CHECK(run_cli("infer --data " + (dir / "d.csv").string() + " --cost NoSuchCost --closed-form --out " + (dir / "o").string()).code == 2);
  CHECK(run_cli("simulate --cost QuadraticCost --set mu_0=1.5 --out " + (dir / "x.csv").string()).code == 2);
  CHECK_FALSE(fs::exists(dir / "o"));
}

TEST_CASE("cli: a subject column gives one posterior per subject") {
  const fs::path dir = scratch("subjects");
  std::string text = "subject,s,r\n";
  for (int i = 0; i < 20; ++i) text += (i % 2 ? "A," : "B,") + std::to_string(0.2 + 0.2 * i) + "," + std::to_string(0.3 + 0.15 * i) + "\n";
  write(dir / "d.csv", text);
  Result r = run_cli("infer --data " + (dir / "d.csv").string() + " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 1 --warmup 100 --samples 100 --out " +
                    (dir / "o").string());
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(fs::exists(dir / "o" / "subject-A" / "chain-1.csv"));
  CHECK(fs::exists(dir / "o" / "subject-B" / "summary.csv"));
}

TEST_CASE("cli: subject ids become safe folder names, mapped in subjects.csv, and compare/check/report use the map") {
  // Ids that name other places (../x, a/b, . and ..), markup, unicode, and two that differ
  // only in case (the same folder on a case-insensitive file system).
  const fs::path dir = scratch("ids");
  const std::vector<std::string> ids = {"../x", "a/b", ".", "..", "%2F", "\xC3\xA9t\xC3\xA9", "Ab", "aB", "s<b>1</b>"};
  const std::vector<std::string> folders = {"subject-..%2Fx", "subject-a%2Fb", "subject-%2E", "subject-.%2E", "subject-%252F",
                                            "subject-%C3%A9t%C3%A9", "subject-Ab", "subject-aB~2", "subject-s%3Cb%3E1%3C%2Fb%3E"};
  std::string text = "subject,s,r\n";
  for (const auto& id : ids)
    for (int i = 0; i < 8; ++i) text += id + "," + std::to_string(0.3 + 0.4 * i) + "," + std::to_string(0.35 + 0.37 * i) + "\n";
  write(dir / "d.csv", text);
  const fs::path out = dir / "deep" / "o";
  const Result r = run_cli("infer --data " + (dir / "d.csv").string() + " --cost QuadraticCost --closed-form --fix sigma=0.2 "
                           "--chains 1 --warmup 60 --samples 60 --out " + out.string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  // Nothing outside --out: only o/ under deep/, and o/ holds the map and one folder per subject.
  CHECK_FALSE(fs::exists(dir / "deep" / "x"));
  std::size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir / "deep")) {
    ++entries;
    CHECK(e.path().filename() == "o");
  }
  CHECK(entries == 1);
  std::set<std::string> present;
  for (const auto& e : fs::directory_iterator(out)) present.insert(e.path().filename().string());
  std::set<std::string> expected(folders.begin(), folders.end());
  expected.insert("subjects.csv");
  CHECK(present == expected);
  for (const auto& f : folders) CHECK(fs::exists(out / f / "chain-1.csv"));
  // The map: index (order of first appearance), id, folder.
  std::ifstream map(out / "subjects.csv");
  std::string line, all;
  while (std::getline(map, line)) all += line + "\n";
  for (std::size_t j = 0; j < ids.size(); ++j) {
    CAPTURE(ids[j]);
    CHECK(all.find("\n" + std::to_string(j + 1) + "," + ids[j] + "," + folders[j] + "\n") != std::string::npos);
  }
  CHECK(all.find("# complete = 1\n") != std::string::npos);
  CHECK(all.find("# subjects_total = 9\n") != std::string::npos);
  // check reads every subject through the map, under its own id.
  const Result c = run_cli("check " + out.string() + " --draws 10 --out " + (dir / "check.csv").string());
  INFO(c.out);
  CHECK(c.code == 0);
  std::set<std::string> checked;
  for (const auto& row : ::bactor::testing::read_csv(dir / "check.csv")) checked.insert(row.at("subject"));
  CHECK(checked == std::set<std::string>(ids.begin(), ids.end()));
  // compare pools all nine subjects (each with 8 trials).
  const Result cmp = run_cli("compare " + out.string() + " " + out.string() + " --names one,two");
  INFO(cmp.out);
  CHECK(cmp.code == 0);
  // report lists them (escaped as HTML).
  const Result rep = run_cli("report " + out.string() + " --no-check --out " + (dir / "r.html").string());
  INFO(rep.out);
  CHECK(rep.code == 0);
  // A map edited to point outside the fit is refused, naming the file and line.
  {
    std::ofstream edit(out / "subjects.csv", std::ios::app);
    edit << "10,evil,../../x\n";
  }
  const Result bad = run_cli("check " + out.string() + " --draws 10");
  INFO(bad.out);
  CHECK(bad.code == 2);
  CHECK(bad.out.find((out / "subjects.csv").string() + ":") != std::string::npos);
  CHECK(bad.out.find("is not a subject folder name") != std::string::npos);
}

TEST_CASE("cli: infer --per-condition (issue 15): names, priors and fixing by NAME and NAME.c, recorded; bad names") {
  const fs::path dir = scratch("per_condition");
  fs::create_directories(dir);
  const std::string data = (dir / "blocks.csv").string();
  Result s = run_cli("simulate --cost QuadraticCost --set sigma=0.2,sigma_r=0.1 --trials 30 --seed 4 "
                     "--conditions \"mu_0=1,2,4;sigma_0=0.1,0.15,0.2\" --out " + data);
  INFO(s.out);
  REQUIRE(s.code == 0);
  const std::string base = "infer --data " + data + " --cost QuadraticCost --closed-form --chains 1 --warmup 100 --samples 50 --seed 2 ";
  Result r = run_cli(base + "--per-condition mu_0,sigma_0 --prior mu_0=uniform:0.2:6,mu_0.3=uniform:1:8 --fix sigma_0.2=0.15 --out " +
                     (dir / "post").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  std::ifstream chain(dir / "post" / "chain-1.csv");
  std::stringstream ss;
  ss << chain.rdbuf();
  const std::string text = ss.str();
  CHECK(text.find("# per_condition = mu_0,sigma_0") != std::string::npos);
  CHECK(text.find("# priors = mu_0.1=uniform:0.2:6,mu_0.2=uniform:0.2:6,mu_0.3=uniform:1:8,sigma_0.1=halfnormal:0.25,"
                  "sigma_0.3=halfnormal:0.25,sigma_r=halfnormal:0.25,sigma=halfnormal:0.25\n") != std::string::npos);
  CHECK(text.find("# fixed = sigma_0.2=0.15") != std::string::npos);
  CHECK(text.find("\nlp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,mu_0.1,mu_0.2,mu_0.3,"
                  "sigma_0.1,sigma_0.3,sigma_r,sigma,log_lik.1,") != std::string::npos);
  // check reads the per-condition model back from the draws file.
  Result c = run_cli("check " + (dir / "post").string() + " --data " + data + " --draws 20 --out " + (dir / "check.csv").string());
  INFO(c.out);
  CHECK(c.code == 0);
  // Bad names: one line naming the option.
  Result b = run_cli(base + "--per-condition mu_0,beta --out " + (dir / "bad").string());
  CHECK(b.code == 2);
  CHECK(b.out.find("--per-condition: unknown parameter 'beta' for cost QuadraticCost") != std::string::npos);
  Result e = run_cli(base + "--per-condition mu_0,,sigma --out " + (dir / "bad").string());
  CHECK(e.code == 2);
  CHECK(e.out.find("--per-condition: empty name") != std::string::npos);
  Result f = run_cli(base + "--fix mu_0.2=1 --out " + (dir / "bad").string());  // mu_0 shared by default
  CHECK(f.code == 2);
  CHECK(f.out.find("--fix: unknown parameter 'mu_0.2'") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "bad"));
}

TEST_CASE("cli: infer --exact-action (issue 17): exclusive with --network/--closed-form, recorded, check reads it; study --cost") {
  const fs::path dir = scratch("exact_action");
  fs::create_directories(dir);
  const std::string data = (dir / "data.csv").string();
  Result s = run_cli("simulate --cost Linex --set mu_0=1.5,sigma_0=0.2,sigma=0.2,sigma_r=0.15,c=1 --trials 12 --seed 3 --out " + data);
  INFO(s.out);
  REQUIRE(s.code == 0);
  // Exclusive action sources, each pair refused with exit 2 and a message naming both.
  for (const char* other : {"--closed-form", "--network x.safetensors"}) {
    Result r = run_cli("infer --data " + data + " --cost Linex --exact-action " + other + " --out " + (dir / "no").string());
    INFO(r.out);
    CHECK(r.code == 2);
    CHECK(r.out.find("--exact-action") != std::string::npos);
    CHECK(!fs::exists(dir / "no"));
  }
  Result none = run_cli("infer --data " + data + " --cost Linex --out " + (dir / "no").string());
  CHECK(none.code == 2);
  CHECK(none.out.find("--exact-action") != std::string::npos);
  // A short run: the action source is recorded, and check simulates from it.
  // (Kept tiny: each gradient solves for the action at ~16 points; deep trees early in warm-up.)
  Result r = run_cli("infer --data " + data + " --cost Linex --exact-action --fix sigma=0.2,sigma_0=0.2 --chains 1 "
                     "--warmup 20 --samples 10 --max-depth 4 --init-radius 0.5 --seed 5 --out " + (dir / "post").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  std::ifstream chain(dir / "post" / "chain-1.csv");
  std::stringstream ss;
  ss << chain.rdbuf();
  CHECK(ss.str().find("# action = exact") != std::string::npos);
  CHECK(ss.str().find("# init = 0.5\n") != std::string::npos);
  Result c = run_cli("check " + (dir / "post").string() + " --draws 10");
  INFO(c.out);
  CHECK(c.code == 0);
  // study disentangle --cost: a cost without a closed form needs --network or --exact-action;
  // one without a parameter is refused.
  Result st = run_cli("study disentangle --cost Linex --out " + (dir / "study").string());
  CHECK(st.code == 2);
  CHECK(st.out.find("--cost Linex has no closed form: give --network FILE or --exact-action") != std::string::npos);
  Result sq = run_cli("study disentangle --cost QuadraticCost --out " + (dir / "study").string());
  CHECK(sq.code == 2);
  CHECK(sq.out.find("needs a cost with one parameter") != std::string::npos);
}
