// SPDX-License-Identifier: MIT
// Numbers in the text of settings and messages (private): one formatter, one parser and one
// field splitter for the inference models (priors, fixed values, population priors), so that
// what a draws file records reads back exactly as written.
#pragma once

#include <charconv>
#include <cmath>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace bactor::detail {

/// v with 10 significant digits.
inline std::string format_number(double v) {
  std::ostringstream os;
  os.precision(10);
  os << v;
  return os.str();
}

/// The whole of `text` as one finite number (a leading '+' allowed), else nothing.
inline std::optional<double> parse_finite(const std::string& text) {
  double v = 0;
  const char* b = text.data();
  const char* e = b + text.size();
  if (b != e && *b == '+') ++b;
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e || !std::isfinite(v)) return std::nullopt;
  return v;
}

/// `text` split at every `sep` (empty fields kept): "uniform:0.1:5" -> {"uniform", "0.1", "5"}.
inline std::vector<std::string> split_fields(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto at = text.find(sep, start);
    parts.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

} // namespace bactor::detail
