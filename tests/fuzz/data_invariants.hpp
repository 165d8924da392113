// SPDX-License-Identifier: MIT
// What every data set the CSV reader accepts must satisfy (issue 24 part 4), shared by the
// libFuzzer harnesses and the regression replay in make test: values positive and finite within
// the documented limits, condition indices in range, labels that are one condition each (no two
// equal, no two numbers of one value, none differing only in case; ordered by value when all are
// numbers), one subject id per trial when there are ids, and a round trip through
// write_dataset / read_dataset to the same trials.
#pragma once

#include <bactor/models/data.hpp>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>
#include <system_error>

namespace bactor::fuzz {

inline bool label_value(const std::string& t, double& v) {
  const char* b = t.data();
  const char* e = b + t.size();
  if (b != e && *b == '+') ++b;
  const auto [p, ec] = std::from_chars(b, e, v);
  return !t.empty() && ec == std::errc() && p == e && std::isfinite(v);
}

inline std::string lowered(std::string t) {
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

/// True when `d` satisfies the reader's contract; `scratch` is a file path for the round trip.
inline bool dataset_invariants(const Dataset& d, const std::string& scratch) {
  const std::size_t n = d.size();
  if (n == 0 || d.r.size() != n || d.cond.size() != n || d.line.size() != n) return false;
  if (!d.subject.empty() && d.subject.size() != n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    if (!(d.s[i] >= 1e-100 && d.s[i] <= 1e100 && d.r[i] >= 1e-100 && d.r[i] <= 1e100)) return false;
    if (!(d.r[i] / d.s[i] <= 1e6 && d.r[i] / d.s[i] >= 1e-6)) return false;
    if (d.cond[i] < 0 || static_cast<std::size_t>(d.cond[i]) >= d.conditions()) return false;
  }
  bool all_numbers = true;
  double prev = -INFINITY;
  for (std::size_t a = 0; a < d.conditions(); ++a) {
    double va = 0;
    const bool na = label_value(d.cond_labels[a], va);
    all_numbers = all_numbers && na;
    for (std::size_t b = 0; b < a; ++b) {
      double vb = 0;
      if (na && label_value(d.cond_labels[b], vb) && va == vb) return false;
      if (!na && lowered(d.cond_labels[a]) == lowered(d.cond_labels[b])) return false;
    }
  }
  if (all_numbers)
    for (const auto& l : d.cond_labels) {
      double v = 0;
      label_value(l, v);
      if (!(v > prev)) return false;
      prev = v;
    }
  write_dataset(scratch, d);
  const Dataset e = read_dataset(scratch);
  std::remove(scratch.c_str());
  return e.s == d.s && e.r == d.r && e.cond == d.cond && e.cond_labels == d.cond_labels && e.subject == d.subject;
}

} // namespace bactor::fuzz
