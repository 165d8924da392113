// SPDX-License-Identifier: MIT
// End-to-end tests of --columns: data files with their own column names (issue 16, item 4).
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

using ::bactor::testing::Result;

fs::path scratch(const std::string& name) { return ::bactor::testing::scratch_path("bactor_cli_columns_", name); }

std::string reference(const std::string& file) {
  const char* dir = std::getenv("BACTOR_REFERENCE_DIR");
  REQUIRE_MESSAGE(dir, "BACTOR_REFERENCE_DIR is not set");
  return std::string(dir) + "/" + file;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

/// The lines of a draws file that are not comments: the header and the draws.
std::string draws_only(const fs::path& p) {
  std::istringstream in(slurp(p));
  std::string line, out;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') out += line + "\n";
  return out;
}

/// effort_two_noise.csv (cond,s,r) as two files with the same trials: the standard names
/// (subject,cond,s,r) and the user's own (a UTF-8 byte-order mark, CRLF, other order, an extra column).
void write_both(const fs::path& dir) {
  std::istringstream in(slurp(reference("effort_two_noise.csv")));
  std::string line;
  std::getline(in, line);
  std::string standard = "subject,cond,s,r\n", own = "\xEF\xBB\xBFnotes,reproduction,sub,duration,block\r\n";
  int i = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto c1 = line.find(','), c2 = line.find(',', c1 + 1);
    const std::string cond = line.substr(0, c1), s = line.substr(c1 + 1, c2 - c1 - 1), r = line.substr(c2 + 1);
    const std::string sub = i++ % 2 ? "B" : "A";
    standard += sub + "," + cond + "," + s + "," + r + "\n";
    own += "trial " + std::to_string(i) + "," + r + "," + sub + "," + s + "," + cond + "\r\n";
  }
  write(dir / "standard.csv", standard);
  write(dir / "own.csv", own);
}

const std::string own_map = "s=duration,r=reproduction,subject=sub,cond=block";
const std::string settings = " --cost QuadraticCost --closed-form --chains 2 --warmup 150 --samples 100 --seed 11";

/// Exactly one non-empty line of output.
bool one_line(const std::string& out) {
  const auto end = out.find_last_not_of('\n');
  return end != std::string::npos && out.substr(0, end + 1).find('\n') == std::string::npos;
}

} // namespace

TEST_CASE("cli columns: a file with its own column names and a BOM gives the same draws as the standard names") {
  const fs::path dir = scratch("same");
  write_both(dir);
  const Result a = ::bactor::testing::run_bactor("infer --data " + (dir / "standard.csv").string() + settings + " --out " +
                                                 (dir / "a").string());
  INFO(a.out);
  REQUIRE(a.code == 0);
  const Result b = ::bactor::testing::run_bactor("infer --data " + (dir / "own.csv").string() + " --columns " + own_map +
                                                 settings + " --out " + (dir / "b").string());
  INFO(b.out);
  REQUIRE(b.code == 0);
  for (const std::string sub : {"subject-A", "subject-B"})
    for (const std::string chain : {"chain-1.csv", "chain-2.csv"}) {
      const std::string x = draws_only(dir / "a" / sub / chain), y = draws_only(dir / "b" / sub / chain);
      REQUIRE(x.size() > 1000);
      CHECK_MESSAGE(x == y, sub << "/" << chain << " differs");
    }
  // The draws files record the map: all four roles, the standard one without --columns.
  CHECK(slurp(dir / "b" / "subject-A" / "chain-1.csv").find("# columns = s=duration,r=reproduction,cond=block,subject=sub\n") !=
        std::string::npos);
  CHECK(slurp(dir / "a" / "subject-B" / "chain-2.csv").find("# columns = s=s,r=r,cond=cond,subject=subject\n") !=
        std::string::npos);
  // Both runs see two conditions with the same labels.
  CHECK(slurp(dir / "b" / "subject-A" / "chain-1.csv").find("# conditions = 1=1,2=2\n") != std::string::npos);
}

TEST_CASE("cli columns: a bad map or bad value exits 2 with one line naming the user's column, writing nothing") {
  const fs::path dir = scratch("errors");
  write_both(dir);
  write(dir / "neg.csv", "duration,reproduction\n1,2\n1,-3\n");
  write(dir / "twice.csv", "duration,reproduction,duration\n1,2,3\n");
  const std::string own = (dir / "own.csv").string(), out = (dir / "out").string();
  const std::string own_header = "'notes', 'reproduction', 'sub', 'duration', 'block'";
  struct Case {
    std::string data, columns, expected;
  };
  const std::vector<Case> cases = {
      {own, "stim=duration,r=reproduction",
       "bactor infer: error: --columns: unknown role 'stim' in 'stim=duration' (roles: s, r, cond, subject)"},
      {own, "s=duration,r=duration", "bactor infer: error: --columns: column 'duration' is mapped to both s and r"},
      {own, "s=duration,r=reproduction,cond=condition",
       "bactor infer: error: --columns: " + own + ":1: missing column 'condition' (mapped to cond); the header has " +
           own_header},
      {(dir / "neg.csv").string(), "s=duration,r=reproduction",
       "bactor infer: error: " + (dir / "neg.csv").string() + ":3: column 'reproduction': value -3 is not positive"},
      {(dir / "twice.csv").string(), "s=duration,r=reproduction",
       "bactor infer: error: " + (dir / "twice.csv").string() + ":1: column 'duration' appears twice in the header"},
      // A bad map is reported even before a missing file.
      {(dir / "nosuch.csv").string(), "s=duration,s=x", "bactor infer: error: --columns: role s given twice"},
  };
  for (const auto& c : cases) {
    const Result r = ::bactor::testing::run_bactor("infer --data " + c.data + " --columns " + c.columns + settings +
                                                   " --out " + out);
    INFO(c.columns << "\n" << r.out);
    CHECK(r.code == 2);
    CHECK(one_line(r.out));
    CHECK(r.out == c.expected + "\n");
    CHECK_FALSE(fs::exists(out));
  }
  // Without --columns the file's own names are not guessed: the standard message.
  const Result r = ::bactor::testing::run_bactor("infer --data " + own + settings + " --out " + out);
  CHECK(r.code == 2);
  CHECK(r.out == "bactor infer: error: " + own + ":1: missing column 's' in the header; the header has " + own_header +
                     " (name the columns s and r, or map the roles to your columns, e.g. s=duration,r=reproduction)\n");
  // --help lists the option.
  CHECK(::bactor::testing::run_bactor("infer --help").out.find("--columns") != std::string::npos);
}
