// SPDX-License-Identifier: MIT
// Data IO: parsing, error messages naming file/line/column, round trip, subject split.
#include <bactor/engine/errors.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/models/data.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

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
  CHECK(error_of("s,x\n1,2\n") == "t.csv:1: missing column 'r' in the header; the header has 's', 'x' (name the "
                                   "columns s and r, or map the roles to your columns, e.g. s=duration,r=reproduction)");
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
        "columns: t.csv:1: missing column 'block' (mapped to cond); the header has 'duration', 'reproduction'");
  CHECK(mapped_error_of(own, "s=dur,r=reproduction") ==
        "columns: t.csv:1: missing column 'dur' (mapped to s); the header has 'duration', 'reproduction'");
  // Values and the header are the file's faults: named by the file's own column.
  CHECK(mapped_error_of(own, "s=duration,r=reproduction") == "t.csv:3: column 'reproduction': value -3 is not positive");
  CHECK(mapped_error_of("duration,reproduction\nabc,1\n", "s=duration,r=reproduction") ==
        "t.csv:2: column 'duration': 'abc' is not a number");
  CHECK(mapped_error_of("duration,reproduction,sub\n1,1,\n", "s=duration,r=reproduction,subject=sub") ==
        "t.csv:2: column 'sub': missing value");
  CHECK(mapped_error_of("duration,reproduction,duration\n1,1,1\n", "s=duration,r=reproduction") ==
        "t.csv:1: column 'duration' appears twice in the header");
  // Without the map the file's own names are not read: the standard message.
  CHECK(error_of(own).rfind("t.csv:1: missing column 's' in the header; the header has 'duration', 'reproduction' (name", 0) ==
        0);
  // A map built in code is checked too; a bad map is reported before a missing file.
  ColumnMap twice;
  twice.cond = "s";
  std::istringstream in("s,r\n1,1\n");
  CHECK_THROWS_AS(parse_dataset(in, "t.csv", twice), ArgumentError);
  CHECK_THROWS_AS(read_dataset("/nonexistent/file.csv", twice), ArgumentError);
}

// ---- Issue 24: silent misreads are refused or read as documented (docs/bad-input.md) ----

TEST_CASE("data: a row with more fields than the header is refused, naming R's row names") {
  // R's write.table(sep = ",") writes a row name first without naming it in the header.
  CHECK(error_of("\"s\",\"r\"\n\"1\",0.5,0.6\n") ==
        "t.csv:2: 3 fields but the header names 2 columns, so the values would be read shifted (a row name first? "
        "R's write.table writes one unless row.names = FALSE; or name that column in the header)");
  CHECK(error_of("s,r,cond\n1,2,a,b,c\n").find("5 fields but the header names 3 columns") != std::string::npos);
  CHECK(error_of("s,r,cond\n1,2,a,b,c\n").find("unquoted ','") != std::string::npos);
  // write.csv names the row-name column "" in the header: read, the column ignored.
  const Dataset w = parse("\"\",\"s\",\"r\"\n\"1\",0.5,0.6\n\"2\",0.7,0.8\n");
  REQUIRE(w.size() == 2);
  CHECK(w.s[1] == 0.7);
  // Trailing empty fields (a spreadsheet's trailing commas) are harmless.
  const Dataset t = parse("s,r\n1,2,,\n3,4,\n");
  REQUIRE(t.size() == 2);
  CHECK(t.r[1] == 4);
  // A quoted comma is part of its field, not a separator; an open quote is refused.
  const Dataset q = parse("subject,s,r\n\"Smith, J\",1,2\n\"O\"\"Neil\",3,4\n");
  REQUIRE(q.size() == 2);
  CHECK(q.subject[0] == "Smith, J");
  CHECK(q.subject[1] == "O\"Neil");
  CHECK(q.s[0] == 1);
  CHECK(error_of("subject,s,r\n\"Smith,1,2\n") == "t.csv:2: a quote opened in this row is not closed");
}

TEST_CASE("data: a header with another separator or another case says so") {
  CHECK(error_of("s;r\n1;2\n") ==
        "t.csv:1: missing column 's' in the header; the header is one column 's;r': the file looks separated by ';', "
        "and data files are comma-separated (in R: write.csv, not write.csv2 or write.table's default)");
  CHECK(error_of("s\tr\n1\t2\n").find("the file looks separated by tabs") != std::string::npos);
  CHECK(error_of("\"s\" \"r\"\n1 2\n").find("the file looks separated by ' '") != std::string::npos);
  CHECK(error_of("S,R\n1,2\n") ==
        "t.csv:1: missing column 's' in the header; the header has 'S': names are case-sensitive (rename it 's', or "
        "map the role to it: s=S)");
  CHECK(mapped_error_of("Duration,r\n1,2\n", "s=duration") ==
        "columns: t.csv:1: missing column 'duration' (mapped to s); the header has 'Duration': names are "
        "case-sensitive (rename it 'duration', or map the role to it: s=Duration)");
}

TEST_CASE("data: condition labels that are numbers compare by value; names differing only in case are refused") {
  // 1, 01, 1.0 and 1e0 are one condition, labelled as first written; ordered by value.
  const Dataset d = parse("cond,s,r\n01,1,1\n2,1,1\n1.0,1,1\n1,1,1\n1e0,1,1\n0.5,1,1\n");
  REQUIRE(d.conditions() == 3);
  CHECK(d.cond_labels == std::vector<std::string>{"0.5", "01", "2"});
  CHECK(d.cond == std::vector<int>{1, 2, 1, 1, 1, 0});
  // Mixed numbers and names: first appearance; the numbers still compare by value.
  const Dataset m = parse("cond,s,r\nlow,1,1\n1,1,1\nhigh,1,1\n1.00,1,1\n");
  CHECK(m.cond_labels == std::vector<std::string>{"low", "1", "high"});
  CHECK(m.cond == std::vector<int>{0, 1, 2, 1});
  CHECK(error_of("cond,s,r\nlow,1,1\nhigh,1,1\nLow,1,1\n") ==
        "t.csv:4: conditions 'low' (line 2) and 'Low' differ only in case: write each condition one way");
  // Names are not numbers: "1a" and "nan" are names.
  CHECK(parse("cond,s,r\n1a,1,1\n1,1,1\n").conditions() == 2);
}

TEST_CASE("data: numbers beyond the documented limits are refused (values 1e-100..1e100, r/s 1e-6..1e6)") {
  CHECK(error_of("s,r\n1,1e300\n") ==
        "t.csv:2: column 'r': value 1e300 is outside 1e-100..1e100 (express the data in a unit that keeps them inside)");
  CHECK(error_of("s,r\n1e-300,1e-300\n").find("column 's': value 1e-300 is outside 1e-100..1e100") != std::string::npos);
  CHECK(error_of("s,r\n1,2\n1,2e6\n") ==
        "t.csv:3: column 'r': response 2e6 is 2000000 times the stimulus 1 (a trial's r/s must lie within 1e-6..1e6: a "
        "code for a missing response, or another unit?)");
  CHECK(error_of("s,r\n1e3,1e-4\n").find("response 1e-4 is 1e-07 times the stimulus 1e3") != std::string::npos);
  // At the limits: read.
  CHECK(parse("s,r\n1e-100,1e-100\n").size() == 1);
  CHECK(parse("s,r\n1e100,1e100\n").size() == 1);
  CHECK(parse("s,r\n1,1e6\n1,1e-6\n").size() == 2);
}

// Property (issue 24 part 4): any file the reader accepts -- columns in any order, extra columns,
// a column map, quoted fields, ids with commas and quotes, condition labels spelled as numbers
// in several ways, a BOM, CRLF, blank lines -- reads to trials that write_dataset (what
// `simulate` writes) and read_dataset carry through unchanged.
TEST_CASE("data: property: every accepted file round-trips through write_dataset and read_dataset to the same trials") {
  Rng rng(24, 4);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng.uniform() * double(n)) % n; };
  const std::vector<std::string> ids = {"A", "s01", "Smith, J", "O\"Neil", " padded ", "7", "x y"};
  const std::vector<std::string> names = {"low", "high", "mid level", "a,b"};
  const std::vector<std::vector<std::string>> numbers = {{"1", "01", "1.0", "1e0"}, {"2", "2.00", "+2"}, {"0.5", ".5", "5e-1"}};
  auto quote = [](const std::string& v) {
    std::string out = "\"";
    for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
  };
  const auto path = (std::filesystem::temp_directory_path() / "bactor_test_roundtrip.csv").string();
  int files = 0, with_cond = 0, with_subject = 0, mapped = 0;
  for (int rep = 0; rep < 300; ++rep) {
    const bool has_cond = rng.uniform() < 0.7, has_subject = rng.uniform() < 0.5, numeric = rng.uniform() < 0.5;
    const bool map = rng.uniform() < 0.3, crlf = rng.uniform() < 0.3;
    // Columns: roles and up to two ignored ones, in random order.
    std::vector<std::string> roles{"s", "r"};
    if (has_cond) roles.push_back("cond");
    if (has_subject) roles.push_back("subject");
    for (std::size_t k = pick(3); k > 0; --k) roles.push_back("extra" + std::to_string(k));
    for (std::size_t k = roles.size(); k > 1; --k) std::swap(roles[k - 1], roles[pick(k)]);
    ColumnMap cm;
    auto header_name = [&](const std::string& role) {
      if (!map) return role;
      return role == "s" ? std::string("Stimulus (s)") : role == "r" ? std::string("response") : role == "cond" ? std::string("block") : role == "subject" ? std::string("participant") : role;
    };
    if (map) {
      std::string text_map = "s=Stimulus (s),r=response";
      if (has_cond) text_map += ",cond=block";
      if (has_subject) text_map += ",subject=participant";
      cm = parse_column_map(text_map);
    }
    const std::string eol = crlf ? "\r\n" : "\n";
    std::string text = rng.uniform() < 0.2 ? "\xEF\xBB\xBF" : "";
    for (std::size_t k = 0; k < roles.size(); ++k) {
      if (k) text += ',';
      text += rng.uniform() < 0.5 ? quote(header_name(roles[k])) : header_name(roles[k]);
    }
    text += eol;
    const std::size_t n = 1 + pick(12);
    for (std::size_t i = 0; i < n; ++i) {
      if (rng.uniform() < 0.1) text += eol;  // a blank line
      const double s = std::exp(rng.uniform(-5, 5)), r = s * std::exp(rng.uniform(-3, 3));
      for (std::size_t k = 0; k < roles.size(); ++k) {
        std::string v;
        char buf[64];
        if (roles[k] == "s" || roles[k] == "r") {
          std::snprintf(buf, sizeof buf, pick(2) ? "%.17g" : "%.6e", roles[k] == "s" ? s : r);
          v = buf;
        } else if (roles[k] == "cond") {
          const auto& spellings = numbers[pick(numbers.size())];
          v = numeric ? spellings[pick(spellings.size())] : names[pick(names.size())];
        } else if (roles[k] == "subject") {
          v = ids[pick(ids.size())];
        } else {
          v = "note " + std::to_string(i);
        }
        const bool must_quote = v.find_first_of(",\"") != std::string::npos || v.front() == ' ';
        if (k) text += ',';
        text += must_quote || rng.uniform() < 0.2 ? quote(v) : v;
      }
      text += eol;
    }
    std::istringstream in(text);
    Dataset d;
    try {
      d = parse_dataset(in, "gen.csv", cm);
    } catch (const std::exception& e) {
      FAIL("generated file refused: " << std::string(e.what()) << "\n" << text);
    }
    REQUIRE(d.size() == n);
    write_dataset(path, d);
    const Dataset e = read_dataset(path);
    INFO(text);
    CHECK(e.s == d.s);  // 17 significant digits: exact
    CHECK(e.r == d.r);
    CHECK(e.cond == d.cond);
    CHECK(e.cond_labels == d.cond_labels);
    CHECK(e.subject == d.subject);
    ++files;
    with_cond += has_cond;
    with_subject += has_subject;
    mapped += map;
  }
  std::remove(path.c_str());
  MESSAGE(files << " files: " << with_cond << " with conditions, " << with_subject << " with subjects, " << mapped << " mapped");
  CHECK(with_cond > 100);
  CHECK(with_subject > 100);
  CHECK(mapped > 50);
}

TEST_CASE("data: stimuli more than a factor 1e6 apart are refused (documented limit)") {
  CHECK(error_of("s,r\n0.1,0.1\n2,2\n1e6,1e6\n") ==
        "t.csv:4: column 's': stimulus 1000000 is 10000000 times the smallest, 0.1 (line 2); a data set's stimuli must lie "
        "within a factor 1e6 of each other (a value in another unit?)");
  CHECK(parse("s,r\n0.1,0.1\n1e5,1e5\n").size() == 2);  // a factor 1e6: read
}
