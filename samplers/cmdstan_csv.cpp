// SPDX-License-Identifier: MIT
// CmdStan CSV writer and reader (docs/formats.md).
#include <bactor/samplers/cmdstan_csv.hpp>
#include <bactor/engine/version.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace bactor {

namespace {

/// Shortest text that reads back to exactly the same double ("3" for integers).
void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "inf" : "-inf";
    return;
  }
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return s.substr(b, e - b);
}

} // namespace

void write_cmdstan_csv(const std::string& path, const ChainResult& chain, const NutsSettings& settings,
                       const std::string& model_name,
                       const std::vector<std::pair<std::string, std::string>>& config) {
  const std::size_t ncol = chain.columns.size();
  if (ncol == 0 || chain.draws.size() % ncol != 0)
    throw std::invalid_argument("write_cmdstan_csv: chain " + std::to_string(chain.chain_id) +
                                " has inconsistent columns/draws");
  std::string out;
  out.reserve(chain.draws.size() * 12 + 4096);
  auto kv = [&](int indent, const std::string& key, const std::string& value) {
    out += '#';
    out.append(std::size_t(indent), ' ');
    out += key;
    out += " = ";
    out += value;
    out += '\n';
  };
  auto num = [](double v) {
    std::string s;
    append_number(s, v);
    return s;
  };
  kv(1, "model", model_name);
  kv(1, "bactor_version", version());
  kv(1, "method", "sample");
  out += "#   sample\n";
  kv(5, "num_samples", std::to_string(settings.samples));
  kv(5, "num_warmup", std::to_string(settings.warmup));
  kv(5, "save_warmup", settings.save_warmup ? "1" : "0");
  kv(5, "thin", std::to_string(settings.thin));
  out += "#     adapt\n";
  kv(7, "engaged", settings.warmup > 0 ? "1" : "0");
  kv(7, "gamma", "0.05");
  kv(7, "delta", num(settings.delta));
  kv(7, "kappa", "0.75");
  kv(7, "t0", "10");
  kv(7, "init_buffer", "75");
  kv(7, "term_buffer", "50");
  kv(7, "window", "25");
  kv(5, "algorithm", "hmc");
  out += "#       hmc\n";
  kv(9, "engine", "nuts");
  out += "#           nuts\n";
  kv(13, "max_depth", std::to_string(settings.max_depth));
  kv(9, "metric", settings.dense_metric ? "dense_e" : "diag_e");
  kv(9, "stepsize", "1");
  kv(9, "stepsize_jitter", "0");
  kv(5, "num_chains", "1");
  kv(1, "id", std::to_string(chain.chain_id));
  kv(1, "init", settings.init.empty() ? num(settings.init_radius) : "user");
  out += "#  random\n";
  kv(3, "seed", std::to_string(settings.seed));
  for (const auto& [k, v] : config) kv(1, k, v);
  if (!chain.complete) kv(1, "complete", "0");  // stopped early

  for (std::size_t j = 0; j < ncol; ++j) out += (j ? "," : "") + chain.columns[j];
  out += "\n";
  auto write_rows = [&](std::size_t from, std::size_t to) {
    for (std::size_t r = from; r < to; ++r) {
      for (std::size_t j = 0; j < ncol; ++j) {
        if (j) out += ',';
        append_number(out, chain.draws[r * ncol + j]);
      }
      out += '\n';
    }
  };
  const std::size_t nwarm = std::size_t(chain.warmup_draws_saved);
  write_rows(0, nwarm);
  // Always written (cmdstanpy expects the block even without warm-up).
  if (!chain.inv_metric.empty()) {
    out += "# Adaptation terminated\n# Step size = " + num(chain.step_size) + "\n";
    const std::size_t m = chain.inv_metric.size();
    const std::size_t dim = std::size_t(std::llround(std::sqrt(double(m))));
    if (settings.dense_metric && dim * dim == m) {
      out += "# Elements of inverse mass matrix:\n";
      for (std::size_t i = 0; i < dim; ++i) {
        out += "# ";
        for (std::size_t j = 0; j < dim; ++j) {
          if (j) out += ", ";
          append_number(out, chain.inv_metric[i * dim + j]);
        }
        out += "\n";
      }
    } else {
      out += "# Diagonal elements of inverse mass matrix:\n# ";
      for (std::size_t i = 0; i < m; ++i) {
        if (i) out += ", ";
        append_number(out, chain.inv_metric[i]);
      }
      out += "\n";
    }
  }
  write_rows(nwarm, chain.rows());
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "# \n#  Elapsed Time: %.6g seconds (Warm-up)\n#                %.6g seconds (Sampling)\n"
                "#                %.6g seconds (Total)\n# \n",
                chain.warmup_seconds, chain.sampling_seconds, chain.warmup_seconds + chain.sampling_seconds);
  out += buf;

  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) throw std::invalid_argument("cannot write draws file '" + tmp + "'");
    f.write(out.data(), std::streamsize(out.size()));
    f.close();
    if (!f) throw std::invalid_argument("error writing draws file '" + tmp + "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::invalid_argument("cannot rename '" + tmp + "' to '" + path + "'");
  }
}

namespace {

bool parse_double(const std::string& s, double& v) {
  const std::string t = trim(s);
  if (t.empty()) return false;
  if (t == "nan" || t == "NaN" || t == "-nan") {
    v = std::nan("");
    return true;
  }
  if (t == "inf" || t == "Inf" || t == "+inf") {
    v = INFINITY;
    return true;
  }
  if (t == "-inf" || t == "-Inf") {
    v = -INFINITY;
    return true;
  }
  const char* b = t.data();
  const char* e = b + t.size();
  if (*b == '+') ++b;
  const auto res = std::from_chars(b, e, v);
  return res.ec == std::errc() && res.ptr == e;
}

} // namespace

ChainResult read_cmdstan_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(path + ": cannot open file");
  ChainResult res;
  res.complete = true;
  std::string line;
  std::size_t lineno = 0;
  bool have_header = false, adapt_done = false, method_sample = false, method_seen = false;
  int warm_rows = 0;
  enum class Expect { none, step, metric_title, diag, dense } expect = Expect::none;
  bool dense = false;
  std::size_t dense_rows = 0;
  int elapsed_line = 0;
  auto fail = [&](const std::string& msg) -> void {
    throw std::invalid_argument(path + ":" + std::to_string(lineno) + ": " + msg);
  };
  auto parse_list = [&](const std::string& body) {
    std::stringstream ss(body);
    std::string item;
    while (std::getline(ss, item, ',')) {
      double v;
      if (!parse_double(item, v)) fail("bad number '" + trim(item) + "' in the inverse metric");
      res.inv_metric.push_back(v);
    }
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (lineno == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 byte-order mark
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line[0] == '#') {
      const std::string body = trim(line.substr(1));
      if (!have_header) {
        // CmdStan writes "key = value"; rstan and PyStan 2 write "key=value" (chain_id,
        // max_treedepth, sampler_t=NUTS(diag_e), ...).
        auto eq = body.find(" = ");
        std::size_t eq_len = 3;
        if (eq == std::string::npos) {
          eq = body.find('=');
          eq_len = 1;
        }
        if (eq != std::string::npos && eq > 0) {
          const std::string key = trim(body.substr(0, eq));
          std::string value = trim(body.substr(eq + eq_len));
          const auto dflt = value.find(" (Default)");
          if (dflt != std::string::npos) value = value.substr(0, dflt);
          if (key == "method") {
            method_seen = true;
            method_sample = value == "sample";
          }
          if (key == "id" || key == "chain_id") {
            double v;
            if (!parse_double(value, v) || v != std::floor(v)) fail("bad chain id '" + value + "'");
            res.chain_id = int(v);
          }
          if (key == "complete" && value.rfind("0", 0) == 0) res.complete = false;
          if (key == "max_depth" || key == "max_treedepth") {
            double v;
            if (!parse_double(value, v) || v != std::floor(v) || v < 1) fail("bad max_depth '" + value + "'");
            res.max_depth = int(v);
          }
        }
        continue;
      }
      if (body == "Adaptation terminated") {
        adapt_done = true;
        warm_rows = int(res.rows());
        expect = Expect::step;
        continue;
      }
      if (expect == Expect::step && body.rfind("Step size = ", 0) == 0) {
        double v;
        if (!parse_double(body.substr(12), v)) fail("bad step size '" + body.substr(12) + "'");
        res.step_size = v;
        expect = Expect::metric_title;
        continue;
      }
      if (expect == Expect::metric_title && body.rfind("Diagonal elements of inverse mass matrix", 0) == 0) {
        expect = Expect::diag;
        continue;
      }
      if (expect == Expect::metric_title && body.rfind("Elements of inverse mass matrix", 0) == 0) {
        expect = Expect::dense;
        dense = true;
        continue;
      }
      if (expect == Expect::diag) {
        parse_list(body);
        expect = Expect::none;
        continue;
      }
      if (expect == Expect::dense) {
        if (!body.empty() && (std::isdigit(static_cast<unsigned char>(body[0])) || body[0] == '-' ||
                              body[0] == '.')) {
          parse_list(body);
          ++dense_rows;
          continue;
        }
        expect = Expect::none;
      }
      const auto et = body.find("Elapsed Time:");
      if (et != std::string::npos || (elapsed_line > 0 && elapsed_line < 3 && body.find("seconds") != std::string::npos)) {
        const std::string rest = et != std::string::npos ? body.substr(et + 13) : body;
        std::stringstream ss(rest);
        double v = 0;
        std::string tok;
        ss >> tok;
        if (!parse_double(tok, v)) fail("bad elapsed time '" + tok + "'");
        if (rest.find("(Warm-up)") != std::string::npos) res.warmup_seconds = v;
        else if (rest.find("(Sampling)") != std::string::npos) res.sampling_seconds = v;
        ++elapsed_line;
      }
      continue;
    }
    if (expect == Expect::dense) expect = Expect::none;
    if (!have_header) {
      std::stringstream ss(line);
      std::string name;
      while (std::getline(ss, name, ',')) {
        name = trim(name);
        if (name.empty()) fail("empty column name in the header");
        res.columns.push_back(name);
      }
      if (!line.empty() && line.back() == ',') fail("empty column name in the header");
      if (res.columns.empty() || res.columns[0] != "lp__")
        fail("expected a CmdStan header starting with lp__, got '" + line.substr(0, 60) + "'");
      have_header = true;
      continue;
    }
    // A draw.
    std::size_t start = 0, count = 0;
    const std::size_t ncol = res.columns.size();
    for (;;) {
      const std::size_t comma = line.find(',', start);
      const std::string field = line.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      ++count;
      if (count > ncol) fail("too many values (expected " + std::to_string(ncol) + ")");
      double v;
      if (!parse_double(field, v))
        fail("bad number '" + trim(field) + "' in column " + std::to_string(count) + " (" +
             res.columns[count - 1] + ")");
      res.draws.push_back(v);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (count != ncol)
      fail("expected " + std::to_string(ncol) + " values, got " + std::to_string(count));
  }
  if (!have_header) {
    lineno = lineno ? lineno : 1;
    throw std::invalid_argument(path + ":" + std::to_string(lineno) +
                                ": no CSV header found (is this a CmdStan CSV file?)");
  }
  // A sampling file: CmdStan's say "# method = sample"; rstan's and PyStan's carry no method line
  // but their header has the sampler's columns after lp__.
  const auto has_column = [&](const char* name) {
    return std::find(res.columns.begin(), res.columns.end(), name) != res.columns.end();
  };
  if (!method_sample && (method_seen || !has_column("accept_stat__"))) {
    lineno = 1;
    fail("not a Stan sampling file (no '# method = sample' line, and no sampler columns accept_stat__, "
         "stepsize__, ... after lp__ in the header)");
  }
  if (dense) {
    const std::size_t m = res.inv_metric.size();
    if (dense_rows * dense_rows != m) {
      throw std::invalid_argument(path + ": dense inverse metric is not square (" + std::to_string(dense_rows) +
                                  " rows, " + std::to_string(m) + " values)");
    }
  }
  // Without an "Adaptation terminated" line all rows are post-warm-up draws.
  res.warmup_draws_saved = adapt_done ? warm_rows : 0;
  return res;
}

} // namespace bactor
