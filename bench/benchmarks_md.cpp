// SPDX-License-Identifier: MIT
// docs/benchmarks.md from the JSON lines of the bench/ programs: a header with the machine,
// compiler, flags, SIMD architecture and date of the run, then one table per benchmark with
// every figure of every line and, where the run timed a baseline, the ratio to it.
//
//   benchmarks_md DIR                 print the page for DIR/*.jsonl and DIR/run.json
//   benchmarks_md --check DIR FILE    exit 1 (with the first differing line) when FILE is not
//                                     exactly what the first form prints
//
// Baselines: a line whose `bench` or `case` names a baseline (e.g. `train_baseline_scalar`,
// `baseline_scalar_lognormal_loop`) is the baseline of the other lines of the same file with
// the same `n` (when it has one); the ratio is the first `*median_us` figure both lines carry,
// line / baseline. A line carrying `baseline_*median_us` beside `median_us` gets that ratio too.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;

/// One JSON object of strings and numbers, keys in file order; numbers kept as written.
struct Line {
  std::vector<std::pair<std::string, std::string>> kv;
  std::vector<bool> is_number;
  const std::string* get(const std::string& key) const {
    for (const auto& [k, v] : kv)
      if (k == key) return &v;
    return nullptr;
  }
  std::string value(const std::string& key) const {
    const auto* v = get(key);
    return v ? *v : std::string();
  }
};

/// Parses a flat JSON object (string and number values only, as bench_util's JsonLine writes).
Line parse_line(const std::string& text, const std::string& where) {
  Line line;
  std::size_t i = 0;
  auto fail = [&](const std::string& what) { throw std::runtime_error(where + ": " + what); };
  auto skip = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r')) ++i;
  };
  auto string = [&] {
    if (i >= text.size() || text[i] != '"') fail("expected a string");
    std::string s;
    for (++i; i < text.size() && text[i] != '"'; ++i) {
      if (text[i] == '\\' && i + 1 < text.size()) ++i;
      s += text[i];
    }
    if (i >= text.size()) fail("unterminated string");
    ++i;
    return s;
  };
  skip();
  if (i >= text.size() || text[i] != '{') fail("expected '{'");
  ++i;
  for (;;) {
    skip();
    if (i < text.size() && text[i] == '}') break;
    const std::string key = string();
    skip();
    if (i >= text.size() || text[i] != ':') fail("expected ':'");
    ++i;
    skip();
    if (i < text.size() && text[i] == '"') {
      line.kv.emplace_back(key, string());
      line.is_number.push_back(false);
    } else {
      const std::size_t start = i;
      while (i < text.size() && text[i] != ',' && text[i] != '}') ++i;
      std::string v = text.substr(start, i - start);
      while (!v.empty() && v.back() == ' ') v.pop_back();
      if (v.empty()) fail("empty value");
      line.kv.emplace_back(key, v);
      line.is_number.push_back(true);
    }
    skip();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (i < text.size() && text[i] == '}') break;
    fail("expected ',' or '}'");
  }
  return line;
}

std::vector<Line> read_lines(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path.string() + ": cannot open");
  std::vector<Line> out;
  std::string text;
  for (std::size_t n = 1; std::getline(in, text); ++n)
    if (!text.empty() && text[0] == '{') out.push_back(parse_line(text, path.filename().string() + ":" + std::to_string(n)));
  return out;
}

/// Four significant digits (integers as written).
std::string fmt(const std::string& v, bool number) {
  if (!number) return v;
  if (v.find_first_of(".eE") == std::string::npos) return v;
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", d);
  return buf;
}

std::string ratio_text(double a, double b) {
  if (!(b > 0) || !(a >= 0)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", a / b);
  return buf;
}

bool is_baseline(const Line& l) {
  return l.value("bench").find("baseline") != std::string::npos || l.value("case").find("baseline") != std::string::npos;
}

const std::vector<std::string> kCommon = {"bench", "compiler", "flags", "simd"};

bool hidden(const std::string& key) {
  if (std::find(kCommon.begin(), kCommon.end(), key) != kCommon.end()) return true;
  return key == "reps" || (key.size() > 5 && key.compare(key.size() - 5, 5, "_reps") == 0);
}

bool ends_with(const std::string& s, const std::string& t) { return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0; }

/// The baseline ratio of `l` among the lines of its file: (baseline name, line / baseline).
std::pair<std::string, std::string> baseline_ratio(const Line& l, const std::vector<Line>& file) {
  if (is_baseline(l)) return {};
  // Inline: median_us beside baseline_*median_us.
  for (const auto& [k, v] : l.kv)
    if (k.rfind("baseline_", 0) == 0 && ends_with(k, "median_us") && l.get("median_us"))
      return {k.substr(9, k.size() - 9 - 10), ratio_text(std::stod(l.value("median_us")), std::stod(v))};
  const Line* best = nullptr;
  for (const auto& b : file) {
    if (!is_baseline(b)) continue;
    if (b.get("n") && (!l.get("n") || b.value("n") != l.value("n"))) continue;
    if (!best || (b.get("n") && !best->get("n"))) best = &b;
  }
  if (!best) return {};
  for (const auto& [k, v] : l.kv)
    if (ends_with(k, "median_us") && best->get(k)) {
      const std::string name = best->get("case") ? best->value("case") : best->value("bench");
      return {name, ratio_text(std::stod(v), std::stod(*best->get(k)))};
    }
  return {};
}

/// The lines of one bench name, in clusters of lines with mostly the same keys (a kernel's
/// timing and a random generator's throughput in one program are two tables).
std::vector<std::vector<const Line*>> clusters(const std::vector<Line>& lines, const std::string& bench) {
  auto keys = [](const Line& l) {
    std::vector<std::string> k;
    for (const auto& [key, v] : l.kv)
      if (!hidden(key)) k.push_back(key);
    std::sort(k.begin(), k.end());
    return k;
  };
  std::vector<std::vector<const Line*>> out;
  for (const auto& l : lines) {
    if (l.value("bench") != bench) continue;
    const auto k = keys(l);
    bool placed = false;
    for (auto& c : out) {
      const auto k0 = keys(*c.front());
      std::vector<std::string> both;
      std::set_intersection(k.begin(), k.end(), k0.begin(), k0.end(), std::back_inserter(both));
      if (4 * both.size() >= 3 * std::max(k.size(), k0.size())) {
        c.push_back(&l);
        placed = true;
        break;
      }
    }
    if (!placed) out.push_back({&l});
  }
  return out;
}

/// "bench: case, case" (the distinct `case` or `op` values of the table, at most four).
std::string title(const std::string& bench, const std::vector<const Line*>& group) {
  std::vector<std::string> names;
  for (const auto* l : group) {
    const std::string n = l->get("case") ? l->value("case") : l->value("op");
    if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  std::string t = bench;
  for (std::size_t i = 0; i < names.size() && i < 4; ++i) t += (i ? ", " : ": ") + names[i];
  if (names.size() > 4) t += ", …";
  return t;
}

std::string page(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".jsonl") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw std::runtime_error(dir.string() + ": no .jsonl files");
  std::map<std::string, std::string> run;
  if (fs::exists(dir / "run.json"))
    for (const auto& l : read_lines(dir / "run.json"))
      for (const auto& [k, v] : l.kv) run[k] = v;
  std::vector<std::vector<Line>> all;
  for (const auto& f : files) all.push_back(read_lines(f));
  const Line* first = nullptr;
  for (const auto& f : all)
    if (!f.empty()) first = first ? first : &f.front();
  if (!first) throw std::runtime_error(dir.string() + ": no JSON lines");

  std::ostringstream o;
  o << "# Benchmarks\n\n"
    << "Generated by `bench/benchmarks_md` from the JSON lines that `make bench` printed, kept in\n"
    << "`bench/results/` (one file per program; `bench/run.sh` runs them and writes the files); do not\n"
    << "edit by hand. Times are medians over repetitions, in microseconds unless a column says\n"
    << "otherwise; every ratio compares two figures timed in the same run.\n\n";
  o << "| | |\n|---|---|\n";
  auto row = [&](const std::string& k, const std::string& v) {
    if (!v.empty()) o << "| " << k << " | " << v << " |\n";
  };
  row("machine", run["machine"]);
  row("cores", run["cores"]);
  row("date (UTC)", run["date"]);
  row("load average at the start", run["loadavg"]);
  row("compiler", first->value("compiler"));
  row("flags", "`" + first->value("flags") + "`");
  row("SIMD (xsimd)", first->value("simd"));
  row("settings", run["settings"]);
  o << "\n";

  for (std::size_t fi = 0; fi < files.size(); ++fi) {
    const auto& lines = all[fi];
    if (lines.empty()) continue;
    o << "## " << files[fi].stem().string() << "\n";
    // One table per `bench` name, in order of first appearance.
    std::vector<std::string> benches;
    for (const auto& l : lines)
      if (std::find(benches.begin(), benches.end(), l.value("bench")) == benches.end()) benches.push_back(l.value("bench"));
    for (const auto& b : benches)
    for (const auto& group : clusters(lines, b)) {
      std::vector<std::string> cols;
      for (const auto* l : group)
        for (const auto& [k, v] : l->kv)
          if (!hidden(k) && std::find(cols.begin(), cols.end(), k) == cols.end()) cols.push_back(k);
      std::vector<std::pair<std::string, std::string>> ratios;
      bool any_ratio = false;
      for (const auto* l : group) {
        ratios.push_back(baseline_ratio(*l, lines));
        any_ratio = any_ratio || !ratios.back().second.empty();
      }
      o << "\n### " << title(b, group) << "\n\n|";
      for (const auto& c : cols) o << " " << c << " |";
      if (any_ratio) o << " baseline (same run) | time / baseline |";
      o << "\n|";
      for (std::size_t c = 0; c < cols.size() + (any_ratio ? 2 : 0); ++c) o << "---|";
      o << "\n";
      for (std::size_t r = 0; r < group.size(); ++r) {
        const Line& l = *group[r];
        o << "|";
        for (const auto& c : cols) {
          std::string cell;
          for (std::size_t k = 0; k < l.kv.size(); ++k)
            if (l.kv[k].first == c) cell = fmt(l.kv[k].second, l.is_number[k]);
          o << " " << cell << " |";
        }
        if (any_ratio) o << " " << ratios[r].first << " | " << ratios[r].second << " |";
        o << "\n";
      }
    }
    o << "\n";
  }
  return o.str();
}

} // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 2) {
      std::cout << page(argv[1]);
      return 0;
    }
    if (argc == 4 && std::string(argv[1]) == "--check") {
      const std::string want = page(argv[2]);
      std::ifstream in(argv[3], std::ios::binary);
      if (!in) throw std::runtime_error(std::string(argv[3]) + ": cannot open");
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string have = ss.str();
      if (have == want) return 0;
      std::istringstream a(have), b(want);
      std::string la, lb;
      for (int n = 1;; ++n) {
        const bool ga = bool(std::getline(a, la)), gb = bool(std::getline(b, lb));
        if (!ga && !gb) break;
        if (!ga || !gb || la != lb) {
          std::cerr << argv[3] << ":" << n << ": differs from what " << argv[2] << " gives:\n  file:      " << (ga ? la : "(end)")
                    << "\n  generated: " << (gb ? lb : "(end)") << "\nregenerate: benchmarks_md " << argv[2] << " > " << argv[3] << "\n";
          break;
        }
      }
      return 1;
    }
    std::cerr << "usage: benchmarks_md DIR | benchmarks_md --check DIR FILE\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "benchmarks_md: " << e.what() << "\n";
    return 2;
  }
}
