// SPDX-License-Identifier: MIT
#include <bactor/models/data.hpp>
#include "models/output_path.hpp"

#include <bactor/engine/errors.hpp>

#include "models/number_text.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <numbers>
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

// Splits one CSV line into fields. A field may be quoted ("a, b" is one field; "" inside quotes
// is a quote), so that a comma inside a quoted name does not shift the columns after it; a quoted
// field is kept as written, an unquoted one is trimmed of spaces, tabs and stray quotes.
// Returns false for a quote left open at the end of the line.
bool split_csv_line(const std::string& line, std::vector<std::string>& out) {
  out.clear();
  const std::size_t n = line.size();
  std::size_t i = 0;
  auto blank = [&](std::size_t k) { return line[k] == ' ' || line[k] == '\t' || line[k] == '\r'; };
  for (;;) {
    std::size_t b = i;
    while (b < n && blank(b)) ++b;
    std::string field;
    if (b < n && line[b] == '"') {
      std::size_t k = b + 1;
      for (;; ++k) {
        if (k >= n) return false;
        if (line[k] != '"') field += line[k];
        else if (k + 1 < n && line[k + 1] == '"') field += line[++k];
        else break;
      }
      i = k + 1;
      while (i < n && line[i] != ',') {  // after the closing quote: blanks, or text kept as is
        if (!blank(i)) field += line[i];
        ++i;
      }
    } else {
      const std::size_t comma = line.find(',', b);
      i = comma == std::string::npos ? n : comma;
      field = trim(std::string_view(line).substr(b, i - b));
    }
    out.push_back(std::move(field));
    if (i >= n) break;
    ++i;  // past the comma
  }
  return true;
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

// A condition label's number: labels that are finite numbers name conditions by value, so that
// "1", "01", "1.0" and "1e0" are one condition (a spreadsheet may write any of them).
bool label_number(const std::string& text, double& v) { return parse_double(text, v) && std::isfinite(v); }

std::string lower(std::string t) {
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

// Maps raw condition labels to 0-based indices. Numbers compare by value (each condition keeps
// its first spelling as its label) and, when every label is a number, are ordered by value;
// otherwise conditions are ordered by first appearance. Names that differ only in case ("low",
// "Low") are refused: as two conditions they would silently split one.
void index_conditions(const std::vector<std::string>& raw, Dataset& d) {
  std::vector<std::string> labels;
  std::vector<double> values;         // per label: its number, or NaN for a name
  std::vector<std::size_t> first;     // per label: the trial it first appears in
  std::map<double, std::size_t> by_value;
  std::map<std::string, std::size_t> by_name, by_lower;
  std::vector<int> index(raw.size());
  bool all_numbers = true;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    double v;
    const bool number = label_number(raw[i], v);
    std::size_t k = labels.size();
    if (number) {
      const auto [it, fresh] = by_value.try_emplace(v, k);
      k = it->second;
    } else {
      const auto [it, fresh] = by_name.try_emplace(raw[i], k);
      k = it->second;
      const auto [lt, lfresh] = by_lower.try_emplace(lower(raw[i]), k);
      if (lt->second != k)
        fail(d.source, d.line[i], "conditions '" + labels[lt->second] + "' (line " + std::to_string(d.line[first[lt->second]]) +
                                      ") and '" + raw[i] + "' differ only in case: write each condition one way");
    }
    if (k == labels.size()) {
      labels.push_back(raw[i]);
      values.push_back(number ? v : NAN);
      first.push_back(i);
    }
    all_numbers = all_numbers && number;
    index[i] = static_cast<int>(k);
  }
  std::vector<std::size_t> order(labels.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  if (all_numbers) std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  std::vector<int> rank(labels.size());
  d.cond_labels.clear();
  for (std::size_t k = 0; k < order.size(); ++k) {
    rank[order[k]] = static_cast<int>(k);
    d.cond_labels.push_back(labels[order[k]]);
  }
  d.cond.resize(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) d.cond[i] = rank[index[i]];
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

namespace {

// The header's columns, for a message: "'a', 'b', 'c'" (at most 8 named).
std::string list_columns(const std::vector<std::string>& header) {
  std::string out;
  for (std::size_t k = 0; k < header.size() && k < 8; ++k) out += (k ? ", '" : "'") + header[k] + "'";
  if (header.size() > 8) out += ", ... (" + std::to_string(header.size()) + " columns)";
  return out;
}

// Why a header may lack a column that the user believes is there: another separator, another
// case, or names of the user's own (then the fix is a column map).
std::string header_hint(const std::vector<std::string>& header, const std::string& text, const std::string& col,
                        const char* role) {
  if (header.size() == 1) {
    for (const char sep : {';', '\t', ' ', '|'})
      if (text.find(sep) != std::string::npos) {
        const std::string what = sep == '\t' ? "tabs" : std::string("'") + sep + "'";
        return "; the header is one column '" + trim(text) + "': the file looks separated by " + what +
               ", and data files are comma-separated (in R: write.csv, not write.csv2 or write.table's default)";
      }
  }
  for (const auto& h : header)
    if (lower(h) == lower(col))
      return "; the header has '" + h + "': names are case-sensitive (rename it '" + col + "', or map the role to it: " +
             role + "=" + h + ")";
  if (col != role) return "; the header has " + list_columns(header);
  return "; the header has " + list_columns(header) +
         " (name the columns s and r, or map the roles to your columns, e.g. s=duration,r=reproduction)";
}

// Documented limits on the numbers (docs/bad-input.md): every value within 1e-100..1e100, and
// each trial's r/s within 1e-6..1e6. Beyond them the actor's log-normal densities underflow to
// sd 0 or overflow to inf, and no experiment's response is a million times its stimulus (such a
// value is a code for a missing response, or in another unit).
constexpr double value_min = 1e-100, value_max = 1e100, ratio_max = 1e6;
// And the stimuli within a factor 1e6 of each other: beyond, one of them is in another unit.
// (The exact action needs more, every stimulus within 1e3 of the unit S: ActorModel checks it.)
constexpr double spread_max = 1e6;

} // namespace

Dataset parse_dataset(std::istream& in, const std::string& name, const ColumnMap& columns, ValueDomain domain) {
  check_column_map(columns);
  Dataset d;
  d.source = name;
  std::string line;
  std::size_t lineno = 0;
  // Header: first line that is not blank.
  std::vector<std::string> header;
  std::string header_text;  // as written, for a message about its separators
  while (std::getline(in, line)) {
    ++lineno;
    // Excel's "CSV UTF-8" (and other Windows tools) start the file with a UTF-8 byte-order mark.
    if (lineno == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (!trim(line).empty()) {
      header_text = line;
      if (!split_csv_line(line, header)) fail(name, lineno, "a quote opened in the header is not closed");
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
                                         "' (mapped to " + roles[role] + ")" + header_hint(header, header_text, col, roles[role]));
    return found;
  };
  const int cs = column(0), cr = column(1), cc = column(2), csub = column(3);
  if (cs < 0) fail(name, header_line, "missing column 's' in the header" + header_hint(header, header_text, "s", "s"));
  if (cr < 0) fail(name, header_line, "missing column 'r' in the header" + header_hint(header, header_text, "r", "r"));

  std::vector<std::string> raw_cond, fields;
  while (std::getline(in, line)) {
    ++lineno;
    if (trim(line).empty()) continue;
    if (!split_csv_line(line, fields)) fail(name, lineno, "a quote opened in this row is not closed");
    // More fields than the header names would be read shifted (R's write.table writes a row name
    // first without naming it in the header); empty fields at the end (a spreadsheet's trailing
    // commas) are harmless.
    while (fields.size() > header.size() && fields.back().empty()) fields.pop_back();
    if (fields.size() > header.size())
      fail(name, lineno,
           std::to_string(fields.size()) + " fields but the header names " + std::to_string(header.size()) +
               " columns, so the values would be read shifted" +
               (fields.size() == header.size() + 1
                    ? " (a row name first? R's write.table writes one unless row.names = FALSE; or name that column in the header)"
                    : " (an unquoted ',' inside a value? quote it)"));
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
      if (domain == ValueDomain::circular) {
        if (!(v > -std::numbers::pi && v <= std::numbers::pi))
          fail(name, lineno, "column '" + col + "': value " + text + " is outside (-pi, pi] (angles in radians)");
        (k == cs ? d.s : d.r).push_back(v);
        continue;
      }
      const bool positive = domain == ValueDomain::positive || (domain == ValueDomain::positive_stimuli && k == cs);
      if (positive && !(v > 0)) fail(name, lineno, "column '" + col + "': value " + text + " is not positive");
      if (positive && (v < value_min || v > value_max))
        fail(name, lineno, "column '" + col + "': value " + text +
                               " is outside 1e-100..1e100 (express the data in a unit that keeps them inside)");
      if (!positive && !(std::abs(v) <= value_max))
        fail(name, lineno, "column '" + col + "': value " + text +
                               " is outside -1e100..1e100 (express the data in a unit that keeps them inside)");
      (k == cs ? d.s : d.r).push_back(v);
    }
    const double ratio = d.r.back() / d.s.back();
    if (domain == ValueDomain::positive && (ratio > ratio_max || ratio < 1 / ratio_max))
      fail(name, lineno, "column '" + header[cr] + "': response " + field(cr) + " is " + detail::format_number(ratio) +
                             " times the stimulus " + field(cs) +
                             " (a trial's r/s must lie within 1e-6..1e6: a code for a missing response, or another unit?)");
    if (cc >= 0) raw_cond.push_back(field(cc));
    if (csub >= 0) d.subject.push_back(field(csub));
    d.line.push_back(lineno);
  }
  if (d.s.empty()) fail(name, lineno + 1, "no trials after the header");
  const auto [smin, smax] = std::minmax_element(d.s.begin(), d.s.end());
  if ((domain == ValueDomain::positive || domain == ValueDomain::positive_stimuli) && *smax / *smin > spread_max) {  // positive stimuli only
    const auto at = [&](auto it) { return std::to_string(d.line[static_cast<std::size_t>(it - d.s.begin())]); };
    fail(name, d.line[static_cast<std::size_t>(smax - d.s.begin())],
         "column '" + header[cs] + "': stimulus " + detail::format_number(*smax) + " is " +
             detail::format_number(*smax / *smin) + " times the smallest, " + detail::format_number(*smin) + " (line " +
             at(smin) + "); a data set's stimuli must lie within a factor 1e6 of each other (a value in another unit?)");
  }
  // Responses of any sign (gaussian motor noise, gaussian perception) escape the r/s rule above,
  // which a code for a missing response (99999999) broke under log-normal noise only: among
  // responses of about 1 it left a fit at sigma_0 2.7 for 0.2 with exit 0 (issue #23). The
  // same limit, on |r| against the largest |s|; and under gaussian perception the stimuli
  // within 1e6 times their median |s| (a stimulus of 1e99 made every other one 0 in units of S).
  if (domain == ValueDomain::positive_stimuli || domain == ValueDomain::any) {
    const auto at = [&](std::size_t i) { return i < d.line.size() ? d.line[i] : i + 2; };
    std::size_t imax = 0;
    for (std::size_t i = 1; i < d.s.size(); ++i)
      if (std::abs(d.s[i]) > std::abs(d.s[imax])) imax = i;
    const double smax = std::abs(d.s[imax]);
    if (domain == ValueDomain::any) {
      std::vector<double> mags(d.s.size());
      for (std::size_t i = 0; i < d.s.size(); ++i) mags[i] = std::abs(d.s[i]);
      std::nth_element(mags.begin(), mags.begin() + mags.size() / 2, mags.end());
      const double median = mags[mags.size() / 2];
      if (median > 0 && smax > spread_max * median)
        fail(name, at(imax), "column '" + header[cs] + "': stimulus " + detail::format_number(d.s[imax]) + " is " +
                                 detail::format_number(smax / median) + " times the stimuli's median |s|, " +
                                 detail::format_number(median) +
                                 "; a data set's stimuli must lie within a factor 1e6 of it (a value in another unit?)");
    }
    for (std::size_t i = 0; i < d.r.size() && smax > 0; ++i)
      if (std::abs(d.r[i]) > ratio_max * smax)
        fail(name, at(i), "column '" + header[cr] + "': response " + detail::format_number(d.r[i]) + " is " +
                              detail::format_number(std::abs(d.r[i]) / smax) + " times the largest |s|, " +
                              detail::format_number(smax) + " (line " + std::to_string(at(imax)) +
                              "); a trial's |r| must lie within 1e6 times it (a code for a missing response, or another unit?)");
  }
  if (cc < 0) raw_cond.assign(d.s.size(), "1");
  index_conditions(raw_cond, d);
  return d;
}

Dataset read_dataset(const std::string& path, const ColumnMap& columns, ValueDomain domain) {
  check_column_map(columns);  // a bad map is reported before a missing file
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(path + ": cannot open data file");
  return parse_dataset(in, path, columns, domain);
}

namespace {
// A text field as CSV: quoted when it holds a separator, a quote or surrounding spaces (which the
// reader would otherwise split or trim), so that it reads back as written.
std::string csv_field(const std::string& v) {
  const bool quote = v.find_first_of(",\"\r\n") != std::string::npos ||
                     (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.back() == ' ' || v.back() == '\t'));
  if (!quote) return v;
  std::string out = "\"";
  for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}
} // namespace

void write_dataset(const std::string& path, const Dataset& d) {
  detail::check_replaceable_path(path);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw std::runtime_error("cannot write " + tmp);
    // The condition column unless there is one condition with the label a file without one gets.
    const bool with_cond = d.conditions() > 1 || (d.conditions() == 1 && d.cond_labels[0] != "1");
    if (d.has_subjects()) out << "subject,";
    if (with_cond) out << "cond,";
    out << "s,r\n";
    char buf[64];
    for (std::size_t i = 0; i < d.size(); ++i) {
      if (d.has_subjects()) out << csv_field(d.subject[i]) << ',';
      if (with_cond) out << csv_field(d.cond_labels[d.cond[i]]) << ',';
      std::snprintf(buf, sizeof buf, "%.17g,%.17g\n", d.s[i], d.r[i]);
      out << buf;
    }
    out.flush();
    if (!out) throw std::runtime_error("error writing " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename " + tmp + " to " + path);
}

std::pair<double, double> stimulus_lapse_range(const std::vector<double>& stimuli) {
  if (stimuli.empty()) throw std::invalid_argument("stimulus_lapse_range: no stimuli");
  const auto [lo, hi] = std::minmax_element(stimuli.begin(), stimuli.end());
  return {std::exp(std::log(*lo) - lapse_stimulus_margin), std::exp(std::log(*hi) + lapse_stimulus_margin)};
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
