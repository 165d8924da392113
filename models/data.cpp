// SPDX-License-Identifier: MIT
#include <bactor/models/data.hpp>

#include <bactor/engine/errors.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace bactor {

namespace {

std::string trim(std::string_view v) {
  std::size_t b = 0, e = v.size();
  while (b < e && (v[b] == ' ' || v[b] == '\t' || v[b] == '\r' || v[b] == '"')) ++b;
  while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\t' || v[e - 1] == '\r' || v[e - 1] == '"')) --e;
  return std::string(v.substr(b, e - b));
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    out.push_back(trim(std::string_view(line).substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

[[noreturn]] void fail(const std::string& name, std::size_t line, const std::string& what) {
  throw std::invalid_argument(name + ":" + std::to_string(line) + ": " + what);
}

bool parse_double(const std::string& text, double& v) {
  if (text.empty()) return false;
  const char* b = text.data();
  const char* e = b + text.size();
  if (*b == '+') ++b;
  auto [p, ec] = std::from_chars(b, e, v);
  return ec == std::errc() && p == e;
}

bool is_integer(const std::string& text, long& v) {
  if (text.empty()) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc() && p == text.data() + text.size();
}

// Maps raw condition labels to 0-based indices: numeric order when all are integers.
void index_conditions(const std::vector<std::string>& raw, Dataset& d) {
  std::vector<std::string> labels;
  for (const auto& c : raw)
    if (std::find(labels.begin(), labels.end(), c) == labels.end()) labels.push_back(c);
  bool all_int = true;
  for (const auto& c : labels) {
    long v;
    all_int = all_int && is_integer(c, v);
  }
  if (all_int)
    std::sort(labels.begin(), labels.end(), [](const std::string& a, const std::string& b) {
      return std::stol(a) < std::stol(b);
    });
  std::map<std::string, int> index;
  for (std::size_t k = 0; k < labels.size(); ++k) index[labels[k]] = static_cast<int>(k);
  d.cond.resize(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) d.cond[i] = index[raw[i]];
  d.cond_labels = std::move(labels);
}

constexpr const char* roles[] = {"s", "r", "cond", "subject"};

// The column of role k (index into `roles`), const or not as the map.
template <class Map>
auto& role_column(Map& m, std::size_t k) {
  return k == 0 ? m.s : k == 1 ? m.r : k == 2 ? m.cond : m.subject;
}

// Every role has a non-empty column, no column serves two roles.
void check_column_map(const ColumnMap& m) {
  for (std::size_t k = 0; k < 4; ++k) {
    if (role_column(m, k).empty()) throw ArgumentError("columns", std::string("empty column name for ") + roles[k]);
    for (std::size_t j = 0; j < k; ++j)
      if (role_column(m, j) == role_column(m, k)) {
        const bool j_default = role_column(m, j) == roles[j], k_default = role_column(m, k) == roles[k];
        const std::string note = j_default || k_default ? std::string(" (") + roles[j_default ? j : k] +
                                                               " by default: map it to another column)"
                                                         : std::string();
        throw ArgumentError("columns", "column '" + role_column(m, k) + "' is mapped to both " + roles[j] + " and " +
                                           roles[k] + note);
      }
  }
}

} // namespace

ColumnMap parse_column_map(const std::string& text) {
  ColumnMap m;
  if (trim(text).empty()) return m;
  bool given[4] = {false, false, false, false};
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos) throw ArgumentError("columns", "expected ROLE=COLUMN, got '" + item + "'");
    const std::string role = trim(item.substr(0, eq)), column = trim(item.substr(eq + 1));
    std::size_t k = 0;
    while (k < 4 && role != roles[k]) ++k;
    if (k == 4)
      throw ArgumentError("columns", "unknown role '" + role + "' in '" + item + "' (roles: s, r, cond, subject)");
    if (given[k]) throw ArgumentError("columns", "role " + role + " given twice");
    if (column.empty()) throw ArgumentError("columns", "empty column name in '" + item + "'");
    given[k] = true;
    role_column(m, k) = column;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  check_column_map(m);
  return m;
}

std::string to_string(const ColumnMap& m) {
  std::string out;
  for (std::size_t k = 0; k < 4; ++k) out += (k ? "," : "") + std::string(roles[k]) + "=" + role_column(m, k);
  return out;
}

Dataset parse_dataset(std::istream& in, const std::string& name, const ColumnMap& columns) {
  check_column_map(columns);
  Dataset d;
  d.source = name;
  std::string line;
  std::size_t lineno = 0;
  // Header: first line that is not blank.
  std::vector<std::string> header;
  while (std::getline(in, line)) {
    ++lineno;
    // Excel's "CSV UTF-8" (and other Windows tools) start the file with a UTF-8 byte-order mark.
    if (lineno == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (!trim(line).empty()) {
      header = split_csv_line(line);
      break;
    }
  }
  if (header.empty()) fail(name, std::max<std::size_t>(lineno, 1), "empty file (expected a header with columns s,r)");
  const std::size_t header_line = lineno;
  // Column index of each role (-1: absent); a role mapped to another name must be present.
  auto column = [&](std::size_t role) -> int {
    const std::string& col = role_column(columns, role);
    int found = -1;
    for (std::size_t k = 0; k < header.size(); ++k)
      if (header[k] == col) {
        if (found >= 0) fail(name, lineno, "column '" + col + "' appears twice in the header");
        found = static_cast<int>(k);
      }
    if (found < 0 && col != roles[role])
      throw ArgumentError("columns", name + ":" + std::to_string(header_line) + ": missing column '" + col +
                                         "' (mapped to " + roles[role] + ")");
    return found;
  };
  const int cs = column(0), cr = column(1), cc = column(2), csub = column(3);
  if (cs < 0) fail(name, header_line, "missing column 's' in the header");
  if (cr < 0) fail(name, header_line, "missing column 'r' in the header");

  std::vector<std::string> raw_cond;
  while (std::getline(in, line)) {
    ++lineno;
    if (trim(line).empty()) continue;
    const auto fields = split_csv_line(line);
    // Messages name the file's own column (header[k]), which the user knows.
    auto field = [&](int k) -> const std::string& {
      if (static_cast<std::size_t>(k) >= fields.size() || fields[k].empty())
        fail(name, lineno, "column '" + header[k] + "': missing value");
      return fields[k];
    };
    for (int k : {cs, cr}) {
      const std::string& text = field(k);
      const std::string& col = header[k];
      double v;
      if (!parse_double(text, v)) fail(name, lineno, "column '" + col + "': '" + text + "' is not a number");
      if (!std::isfinite(v)) fail(name, lineno, "column '" + col + "': value " + text + " is not finite");
      if (!(v > 0)) fail(name, lineno, "column '" + col + "': value " + text + " is not positive");
      (k == cs ? d.s : d.r).push_back(v);
    }
    if (cc >= 0) raw_cond.push_back(field(cc));
    if (csub >= 0) d.subject.push_back(field(csub));
    d.line.push_back(lineno);
  }
  if (d.s.empty()) fail(name, lineno + 1, "no trials after the header");
  if (cc < 0) raw_cond.assign(d.s.size(), "1");
  index_conditions(raw_cond, d);
  return d;
}

Dataset read_dataset(const std::string& path, const ColumnMap& columns) {
  check_column_map(columns);  // a bad map is reported before a missing file
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(path + ": cannot open data file");
  return parse_dataset(in, path, columns);
}

void write_dataset(const std::string& path, const Dataset& d) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw std::runtime_error("cannot write " + tmp);
    const bool with_cond = d.conditions() > 1;
    if (d.has_subjects()) out << "subject,";
    if (with_cond) out << "cond,";
    out << "s,r\n";
    char buf[64];
    for (std::size_t i = 0; i < d.size(); ++i) {
      if (d.has_subjects()) out << d.subject[i] << ',';
      if (with_cond) out << d.cond_labels[d.cond[i]] << ',';
      std::snprintf(buf, sizeof buf, "%.17g,%.17g\n", d.s[i], d.r[i]);
      out << buf;
    }
    out.flush();
    if (!out) throw std::runtime_error("error writing " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename " + tmp + " to " + path);
}

std::vector<std::pair<std::string, Dataset>> split_subjects(const Dataset& d) {
  std::vector<std::pair<std::string, Dataset>> out;
  if (!d.has_subjects()) {
    out.emplace_back("", d);
    return out;
  }
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < d.size(); ++i) {
    auto [it, fresh] = index.try_emplace(d.subject[i], out.size());
    if (fresh) {
      Dataset sub;
      sub.source = d.source + " (subject " + d.subject[i] + ")";
      out.emplace_back(d.subject[i], std::move(sub));
    }
    Dataset& sub = out[it->second].second;
    sub.s.push_back(d.s[i]);
    sub.r.push_back(d.r[i]);
    sub.cond.push_back(d.cond[i]);
    sub.subject.push_back(d.subject[i]);
    sub.line.push_back(d.line[i]);
  }
  // Re-index the conditions each subject actually has, keeping the file's order.
  for (auto& [id, sub] : out) {
    std::vector<int> present(d.conditions(), -1);
    for (int c : sub.cond) present[c] = 0;
    int next = 0;
    for (std::size_t c = 0; c < present.size(); ++c)
      if (present[c] == 0) {
        present[c] = next++;
        sub.cond_labels.push_back(d.cond_labels[c]);
      }
    for (int& c : sub.cond) c = present[c];
  }
  return out;
}

} // namespace bactor
