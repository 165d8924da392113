// SPDX-License-Identifier: MIT
// Data IO: parsing, error messages naming file/line/column, round trip, subject split.
#include <bactor/engine/errors.hpp>
#include <bactor/models/data.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>

using namespace bactor;

namespace {
Dataset parse(const std::string& text) {
  std::istringstream in(text);
  return parse_dataset(in, "t.csv");
}
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}
} // namespace

TEST_CASE("data: parses s, r, ignores extra columns, no cond means one condition") {
  const Dataset d = parse("x,s,r,notes\n9,1.5,2.0,a\n9,0.5,0.25,b\n");
  REQUIRE(d.size() == 2);
  CHECK(d.s[0] == 1.5);
  CHECK(d.r[1] == 0.25);
  CHECK(d.conditions() == 1);
  CHECK(d.cond[1] == 0);
  CHECK_FALSE(d.has_subjects());
  CHECK(d.line[1] == 3);
}

TEST_CASE("data: integer conditions ordered numerically, names by first appearance") {
  const Dataset d = parse("cond,s,r\n10,1,1\n2,1,1\n10,2,2\n");
  REQUIRE(d.conditions() == 2);
  CHECK(d.cond_labels[0] == "2");
  CHECK(d.cond_labels[1] == "10");
  CHECK(d.cond[0] == 1);
  CHECK(d.cond[1] == 0);
  const Dataset e = parse("s,r,cond\n1,1,low\n1,1,high\n1,1,low\n");
  CHECK(e.cond_labels[0] == "low");
  CHECK(e.cond[1] == 1);
}

TEST_CASE("data: bad input gives one line naming file, line and column") {
  CHECK(error_of("") == "t.csv:1: empty file (expected a header with columns s,r)");
  CHECK(error_of("s,x\n1,2\n") == "t.csv:1: missing column 'r' in the header");
  CHECK(error_of("s,r\n") == "t.csv:2: no trials after the header");
  CHECK(error_of("s,r\n1,2\n1,-3\n") == "t.csv:3: column 'r': value -3 is not positive");
  CHECK(error_of("s,r\n0,2\n") == "t.csv:2: column 's': value 0 is not positive");
  CHECK(error_of("s,r\n1,inf\n") == "t.csv:2: column 'r': value inf is not finite");
  CHECK(error_of("s,r\n1,nan\n") == "t.csv:2: column 'r': value nan is not finite");
  CHECK(error_of("s,r\n1,\n") == "t.csv:2: column 'r': missing value");
  CHECK(error_of("s,r\n1\n") == "t.csv:2: column 'r': missing value");
  CHECK(error_of("s,r\n1,abc\n") == "t.csv:2: column 'r': 'abc' is not a number");
  CHECK(error_of("s,r,cond\n1,2,\n") == "t.csv:2: column 'cond': missing value");
  CHECK(error_of("s,r,s\n1,2,3\n") == "t.csv:1: column 's' appears twice in the header");
  CHECK_THROWS_AS(read_dataset("/nonexistent/file.csv"), std::invalid_argument);
}

TEST_CASE("data: write/read round trip is exact and subjects split with re-indexed conditions") {
  const Dataset d = parse("subject,cond,s,r\nA,1,0.1234567890123,2\nB,2,3,4\nA,2,5,6\n");
  const auto path = (std::filesystem::temp_directory_path() / "bactor_test_data.csv").string();
  write_dataset(path, d);
  const Dataset e = read_dataset(path);
  std::remove(path.c_str());
  REQUIRE(e.size() == 3);
  CHECK(e.s[0] == d.s[0]);
  CHECK(e.subject[2] == "A");
  CHECK(e.cond == d.cond);
  const auto parts = split_subjects(e);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].first == "A");
  CHECK(parts[0].second.size() == 2);
  CHECK(parts[0].second.conditions() == 2);
  CHECK(parts[1].first == "B");
  REQUIRE(parts[1].second.conditions() == 1);
  CHECK(parts[1].second.cond_labels[0] == "2");
  CHECK(parts[1].second.cond[0] == 0);
}

TEST_CASE("data: the reference files parse") {
  const char* dir = std::getenv("BACTOR_REFERENCE_DIR");
  if (!dir) return;
  const Dataset q = read_dataset(std::string(dir) + "/quadratic_n60.csv");
  CHECK(q.size() == 60);
  const Dataset e = read_dataset(std::string(dir) + "/effort_two_noise.csv");
  CHECK(e.size() == 90);
  CHECK(e.conditions() == 2);
}

TEST_CASE("data: a UTF-8 byte-order mark (Excel's \"CSV UTF-8\") before the header is skipped") {
  const Dataset d = parse("\xEF\xBB\xBFs,r\r\n1.5,2.0\r\n0.5,0.25\r\n");
  REQUIRE(d.size() == 2);
  CHECK(d.s[0] == 1.5);
  CHECK(d.r[1] == 0.25);
  const Dataset q = parse("\xEF\xBB\xBF\"cond\",\"s\",\"r\"\n1,1.5,2.0\n");  // quoted names too
  CHECK(q.size() == 1);
  // A mark alone on the first line leaves a blank line: the header is the next one.
  CHECK(parse("\xEF\xBB\xBF\n\ns,r\n1,2\n").size() == 1);
}

namespace {
Dataset parse_mapped(const std::string& text, const std::string& map) {
  std::istringstream in(text);
  return parse_dataset(in, "t.csv", parse_column_map(map));
}
// The error of parsing `text` with the column map `map` ("ARGUMENT: reason" for ArgumentError).
std::string mapped_error_of(const std::string& text, const std::string& map) {
  try {
    parse_mapped(text, map);
  } catch (const ArgumentError& e) {
    return e.argument() + ": " + e.reason();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}
} // namespace

TEST_CASE("data: a column map reads the file's own column names, in any order") {
  const std::string own = "\xEF\xBB\xBFnotes,reproduction,sub,duration,block\nx,2,A,1.5,low\ny,0.25,B,0.5,high\n";
  const Dataset d = parse_mapped(own, "s=duration,r=reproduction,subject=sub,cond=block");
  const Dataset e = parse("subject,cond,s,r\nA,low,1.5,2\nB,high,0.5,0.25\n");
  CHECK(d.s == e.s);
  CHECK(d.r == e.r);
  CHECK(d.cond == e.cond);
  CHECK(d.cond_labels == e.cond_labels);
  CHECK(d.subject == e.subject);
  CHECK(d.line == e.line);
  // Roles not mapped keep their own names and stay optional; other columns are ignored.
  const Dataset f = parse_mapped("s,duration,r\n9,1,2\n", "s=duration");
  CHECK(f.s[0] == 1);
  CHECK(f.conditions() == 1);
  CHECK_FALSE(f.has_subjects());
  // The map's text form lists every role and reads back.
  const ColumnMap m = parse_column_map(" s = duration ,r=reproduction,subject=sub,cond=block");
  CHECK(to_string(m) == "s=duration,r=reproduction,cond=block,subject=sub");
  CHECK(parse_column_map(to_string(m)) == m);
  CHECK(to_string(ColumnMap{}) == "s=s,r=r,cond=cond,subject=subject");
  CHECK(parse_column_map("") == ColumnMap{});
}

TEST_CASE("data: a bad column map is an ArgumentError 'columns' naming the user's column") {
  const std::string own = "duration,reproduction\n1,2\n1,-3\n";
  CHECK(mapped_error_of(own, "stim=duration") == "columns: unknown role 'stim' in 'stim=duration' (roles: s, r, cond, subject)");
  CHECK(mapped_error_of(own, "s=duration,r=duration") == "columns: column 'duration' is mapped to both s and r");
  CHECK(mapped_error_of(own, "s=r") == "columns: column 'r' is mapped to both s and r (r by default: map it to another column)");
  CHECK(mapped_error_of(own, "s=duration,s=reproduction") == "columns: role s given twice");
  CHECK(mapped_error_of(own, "s=") == "columns: empty column name in 's='");
  CHECK(mapped_error_of(own, "duration") == "columns: expected ROLE=COLUMN, got 'duration'");
  // A mapped column the header lacks: file, line, the user's column and its role.
  CHECK(mapped_error_of(own, "s=duration,r=reproduction,cond=block") ==
        "columns: t.csv:1: missing column 'block' (mapped to cond)");
  CHECK(mapped_error_of(own, "s=dur,r=reproduction") == "columns: t.csv:1: missing column 'dur' (mapped to s)");
  // Values and the header are the file's faults: named by the file's own column.
  CHECK(mapped_error_of(own, "s=duration,r=reproduction") == "t.csv:3: column 'reproduction': value -3 is not positive");
  CHECK(mapped_error_of("duration,reproduction\nabc,1\n", "s=duration,r=reproduction") ==
        "t.csv:2: column 'duration': 'abc' is not a number");
  CHECK(mapped_error_of("duration,reproduction,sub\n1,1,\n", "s=duration,r=reproduction,subject=sub") ==
        "t.csv:2: column 'sub': missing value");
  CHECK(mapped_error_of("duration,reproduction,duration\n1,1,1\n", "s=duration,r=reproduction") ==
        "t.csv:1: column 'duration' appears twice in the header");
  // Without the map the file's own names are not read: the standard message.
  CHECK(error_of(own) == "t.csv:1: missing column 's' in the header");
  // A map built in code is checked too; a bad map is reported before a missing file.
  ColumnMap twice;
  twice.cond = "s";
  std::istringstream in("s,r\n1,1\n");
  CHECK_THROWS_AS(parse_dataset(in, "t.csv", twice), ArgumentError);
  CHECK_THROWS_AS(read_dataset("/nonexistent/file.csv", twice), ArgumentError);
}
