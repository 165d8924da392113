// SPDX-License-Identifier: MIT
#include "cli/fit_dir.hpp"
#include "cli/out_dir.hpp"

#include <bactor/samplers/cmdstan_csv.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace bactor::cli {

namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  const auto b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// chain-<n>.csv files in `dir`, by n.
std::vector<std::pair<long, std::string>> chain_files(const fs::path& dir) {
  std::vector<std::pair<long, std::string>> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (name.rfind("chain-", 0) != 0 || name.size() < 11 || name.compare(name.size() - 4, 4, ".csv") != 0) continue;
    const std::string n = name.substr(6, name.size() - 10);
    if (!all_digits(n) || n.size() > 9) continue;
    out.emplace_back(std::stol(n), e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Fit read_fit(const fs::path& dir, const std::string& subject) {
  Fit fit;
  fit.dir = dir.string();
  fit.subject = subject;
  for (const auto& [n, path] : chain_files(dir)) {
    fit.files.push_back(path);
    fit.chains.push_back(read_cmdstan_csv(path));
  }
  for (std::size_t c = 1; c < fit.chains.size(); ++c)
    if (fit.chains[c].columns != fit.chains[0].columns)
      throw std::invalid_argument(fit.files[c] + ": columns differ from " + fit.files[0]);
  fit.settings = read_settings(fit.files.at(0));
  return fit;
}

} // namespace

std::map<std::string, std::string> read_settings(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(path + ": cannot open file");
  std::map<std::string, std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line[0] != '#') break;  // the header: settings end here
    const std::string body = trim(line.substr(1));
    const auto eq = body.find(" = ");
    if (eq == std::string::npos || eq == 0) continue;
    std::string value = trim(body.substr(eq + 3));
    const auto dflt = value.find(" (Default)");
    if (dflt != std::string::npos) value = value.substr(0, dflt);
    out.emplace(trim(body.substr(0, eq)), value);
  }
  return out;
}

std::vector<Fit> read_fits(const std::string& dir) {
  const fs::path root(dir);
  if (!fs::is_directory(root)) throw std::invalid_argument(dir + ": not a directory (expected the --out folder of bactor infer)");
  std::vector<Fit> fits;
  if (!chain_files(root).empty()) {
    fits.push_back(read_fit(root, ""));
    return fits;
  }
  std::vector<std::pair<std::string, fs::path>> subjects;
  const fs::path map_path = root / subjects_file_name;
  if (fs::exists(map_path)) {
    // The map names every subject's folder: ids are never read back from folder names.
    const SubjectMap map = read_subject_map(map_path.string());
    if (map.get("complete") != "1") {
      if (map.subjects.empty())
        throw std::invalid_argument(map_path.string() + ": no subject written yet (complete = " + map.get("complete") +
                                    ": the run was stopped early, or is still running)");
      std::cerr << "WARNING: " << dir << " is an incomplete fit (" << map_path.string() << ": complete = " << map.get("complete")
                << "): " << map.subjects.size() << " of " << map.get("subjects_total")
                << " subjects; the run was stopped early or is still running\n";
    }
    for (const auto& s : map.subjects) {
      const fs::path sub = root / s.folder;
      if (!fs::is_directory(fs::symlink_status(sub)) || chain_files(sub).empty())
        throw std::invalid_argument(map_path.string() + ": subject '" + s.id + "': " + sub.string() +
                                    " has no chain-*.csv files (copy the whole folder, or rerun infer)");
      subjects.emplace_back(s.id, sub);
    }
    if (subjects.empty()) throw std::invalid_argument(map_path.string() + ": lists no subject (a shard with none?)");
  } else {
    // A folder written before subjects.csv existed: the folder names are the ids.
    for (const auto& e : fs::directory_iterator(root)) {
      const std::string name = e.path().filename().string();
      if (e.is_directory() && name.rfind("subject-", 0) == 0 && !chain_files(e.path()).empty())
        subjects.emplace_back(name.substr(8), e.path());
    }
  }
  if (subjects.empty()) throw std::invalid_argument(dir + ": no chain-*.csv files, no subjects.csv and no subject-* folders with them (expected the --out folder of bactor infer)");
  const bool numeric = std::all_of(subjects.begin(), subjects.end(), [](const auto& s) { return all_digits(s.first) && s.first.size() < 18; });
  std::sort(subjects.begin(), subjects.end(), [&](const auto& a, const auto& b) {
    return numeric ? std::stoll(a.first) < std::stoll(b.first) : a.first < b.first;
  });
  for (const auto& [id, path] : subjects) fits.push_back(read_fit(path, id));
  return fits;
}

std::vector<std::string> subject_folders(const std::vector<std::string>& ids) {
  static constexpr char hex[] = "0123456789ABCDEF";
  constexpr std::size_t max_bytes = 200;  // of the encoded id; file names may have 255
  std::vector<std::string> out;
  std::set<std::string> taken;  // lower-cased names
  auto lower = [](std::string t) {
    for (char& c : t)
      if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return t;
  };
  for (const auto& id : ids) {
    std::string enc;
    for (std::size_t i = 0; i < id.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(id[i]);
      const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                        c == '-' || (c == '.' && i + 1 < id.size());  // a final '.' is dropped by some file systems
      std::string piece = keep ? std::string(1, char(c)) : std::string{'%', hex[c >> 4], hex[c & 15]};
      if (enc.size() + piece.size() > max_bytes) break;
      enc += piece;
    }
    std::string name = "subject-" + enc;
    for (int k = 2; taken.count(lower(name)); ++k) name = "subject-" + enc + "~" + std::to_string(k);
    taken.insert(lower(name));
    out.push_back(std::move(name));
  }
  return out;
}

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

int subject_shard(const std::string& id, int n) { return int(fnv1a64(id) % std::uint64_t(n)) + 1; }

std::string SubjectMap::get(const std::string& key) const {
  for (const auto& [k, v] : settings)
    if (k == key) return v;
  return "";
}

namespace {

/// A CSV field, quoted when it holds a comma, a quote, a line break or edge spaces.
std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos && trim(v) == v) return v;
  std::string q = "\"";
  for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

/// Splits one CSV line with RFC 4180 quoting; false when a quote is not closed.
bool split_quoted(const std::string& line, std::vector<std::string>& fields) {
  fields.assign(1, "");
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') fields.back() += '"', ++i;
      else if (c == '"') quoted = false;
      else fields.back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return !quoted;
}

bool valid_folder(const std::string& f) {
  // As subject_folders makes them: "subject-" and a non-empty name of these characters, not
  // ending in '.' (which some file systems drop).
  if (f.size() <= 8 || f.size() > 255 || f.rfind("subject-", 0) != 0 || f.back() == '.') return false;
  return std::all_of(f.begin(), f.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == '%' || c == '~';
  });
}

} // namespace

namespace {
std::string subject_row(const SubjectEntry& s) { return std::to_string(s.index) + "," + csv_field(s.id) + "," + s.folder + "\n"; }
} // namespace

void write_subject_map(const std::string& dir, const SubjectMap& map) {
  std::string text = std::string(subjects_file_first_line) + "\n";
  for (const auto& [k, v] : map.settings) text += "# " + k + " = " + v + "\n";
  text += "index,subject,folder\n";
  for (const auto& s : map.subjects) text += subject_row(s);
  write_file_atomically((fs::path(dir) / subjects_file_name).string(), text);
}

void append_subject(const std::string& dir, const SubjectEntry& entry) {
  const std::string path = (fs::path(dir) / subjects_file_name).string();
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << subject_row(entry);
  out.flush();
  if (!out) throw std::runtime_error(path + ": cannot append subject '" + entry.id + "'");
}

SubjectMap read_subject_map(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::invalid_argument(path + ": cannot open file");
  std::stringstream in;
  in << file.rdbuf();
  // A run killed while appending a row leaves it without its line end: that row is not read.
  std::string text = in.str();
  const bool partial_row = !text.empty() && text.back() != '\n';
  if (partial_row) text.erase(text.find_last_of('\n') == std::string::npos ? 0 : text.find_last_of('\n') + 1);
  in.str(text);
  SubjectMap map;
  std::string line;
  std::size_t lineno = 0;
  bool header = false;
  std::set<std::string> ids, folders;
  std::set<std::size_t> indices;
  auto fail = [&](const std::string& what) { throw std::invalid_argument(path + ":" + std::to_string(lineno) + ": " + what); };
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (lineno == 1) {
      if (line != subjects_file_first_line) fail("not a bactor subjects.csv (its first line is '" + std::string(subjects_file_first_line) + "')");
      continue;
    }
    if (!header && !line.empty() && line[0] == '#') {
      const auto eq = line.find(" =");  // "# key = value", or "# key = " for an empty value
      if (eq == std::string::npos || trim(line.substr(1, eq - 1)).empty()) fail("expected '# key = value'");
      map.settings.emplace_back(trim(line.substr(1, eq - 1)), trim(line.substr(eq + 2)));
      continue;
    }
    if (!header) {
      if (line != "index,subject,folder") fail("expected the header 'index,subject,folder'");
      header = true;
      continue;
    }
    if (line.empty()) continue;
    std::vector<std::string> f;
    if (!split_quoted(line, f) || f.size() != 3) fail("expected index,subject,folder");
    if (!all_digits(f[0]) || f[0].size() > 15 || std::stoull(f[0]) == 0) fail("index '" + f[0] + "' is not a positive integer");
    SubjectEntry e{std::size_t(std::stoull(f[0])), f[1], f[2]};
    if (e.id.empty()) fail("empty subject id");
    if (!valid_folder(e.folder)) fail("folder '" + e.folder + "' is not a subject folder name (subject-<name>, one path component)");
    if (!indices.insert(e.index).second) fail("index " + f[0] + " appears twice");
    if (!ids.insert(e.id).second) fail("subject '" + e.id + "' appears twice");
    if (!folders.insert(e.folder).second) fail("folder '" + e.folder + "' appears twice");
    map.subjects.push_back(std::move(e));
  }
  if (!header) fail("no header 'index,subject,folder'");
  if (partial_row && map.get("complete") == "1") throw std::invalid_argument(path + ": the last line has no line end (a cut file?)");
  return map;
}

std::string setting(const Fit& fit, const std::string& key, const std::string& fallback) {
  const auto it = fit.settings.find(key);
  return it == fit.settings.end() ? fallback : it->second;
}

std::vector<std::string> parameter_columns(const ChainResult& chain) {
  std::vector<std::string> out;
  for (const auto& name : chain.columns) {
    if (name.size() >= 2 && name.compare(name.size() - 2, 2, "__") == 0) continue;
    const std::string base = name.substr(0, name.find_first_of(".["));
    if (base == "log_lik" || base == "r_rep") continue;
    out.push_back(name);
  }
  return out;
}

std::vector<std::vector<double>> column_by_chain(const Fit& fit, const std::string& name) {
  std::vector<std::vector<double>> out;
  for (std::size_t c = 0; c < fit.chains.size(); ++c) {
    const auto& ch = fit.chains[c];
    const auto it = std::find(ch.columns.begin(), ch.columns.end(), name);
    if (it == ch.columns.end()) throw std::invalid_argument(fit.files[c] + ": no column '" + name + "'");
    const std::size_t j = std::size_t(it - ch.columns.begin()), nc = ch.columns.size();
    std::vector<double> v;
    for (std::size_t r = std::size_t(ch.warmup_draws_saved); r < ch.rows(); ++r) v.push_back(ch.draws[r * nc + j]);
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<double> column(const Fit& fit, const std::string& name) {
  std::vector<double> out;
  for (const auto& v : column_by_chain(fit, name)) out.insert(out.end(), v.begin(), v.end());
  return out;
}

std::string base_name(const std::string& dir) {
  fs::path p(dir);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();
  std::string name = p.filename().string();
  return name.empty() || name == "." ? dir : name;
}

LooResult fit_loo(const Fit& fit) {
  std::vector<std::vector<double>> ll;
  try {
    ll = indexed_columns(fit.chains, "log_lik");
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fit.files.at(0) + ": " + e.what() +
                                " (the draws need the per-trial log-likelihoods: run infer without --no-log-lik)");
  }
  return psis_loo(ll, relative_efficiency(fit.chains, parameter_columns(fit.chains.at(0))));
}

LooResult pool_loo(const std::vector<const LooResult*>& parts) {
  LooResult r;
  r.warning = false;
  for (const auto* p : parts) {
    r.elpd_i.insert(r.elpd_i.end(), p->elpd_i.begin(), p->elpd_i.end());
    r.lppd_i.insert(r.lppd_i.end(), p->lppd_i.begin(), p->lppd_i.end());
    r.pareto_k.insert(r.pareto_k.end(), p->pareto_k.begin(), p->pareto_k.end());
    r.warning = r.warning || p->warning;
    r.draws = std::max(r.draws, p->draws);
  }
  r.points = r.elpd_i.size();
  r.good_k = parts.empty() ? 0.7 : parts[0]->good_k;
  r.r_eff = std::nan("");
  double m = 0;
  for (std::size_t i = 0; i < r.points; ++i) {
    r.elpd_loo += r.elpd_i[i];
    r.lppd += r.lppd_i[i];
    m += r.elpd_i[i];
  }
  m /= double(std::max<std::size_t>(r.points, 1));
  double v = 0;
  for (double x : r.elpd_i) v += (x - m) * (x - m);
  r.se = std::sqrt(v);  // sqrt(N var) with var = sum / N
  r.p_loo = r.lppd - r.elpd_loo;
  return r;
}

std::string number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

} // namespace bactor::cli
