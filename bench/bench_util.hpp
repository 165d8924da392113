// SPDX-License-Identifier: MIT
// Small helpers shared by the bench/ programs: timing over repetitions and one JSON line per
// result carrying the compiler, flags, thread count and SIMD architecture.
//
//   auto t = bactor::bench::time_it([&] { kernel(); }, /*inner=*/1000);   // per-call timing
//   bactor::bench::JsonLine("kernels").add("op", "exp").add("n", 4096).timing(t).print();
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <xsimd/xsimd.hpp>
#if defined(_OPENMP)
#include <omp.h>
#endif

#ifndef BACTOR_CXX_FLAGS
// Fallback when the build does not pass the flags: what the preprocessor can tell.
#if defined(__OPTIMIZE__)
#define BACTOR_DETAIL_OPT "-O(opt)"
#else
#define BACTOR_DETAIL_OPT "-O0"
#endif
#if defined(__AVX2__)
#define BACTOR_DETAIL_ARCH " avx2"
#else
#define BACTOR_DETAIL_ARCH ""
#endif
#define BACTOR_CXX_FLAGS BACTOR_DETAIL_OPT BACTOR_DETAIL_ARCH
#endif

namespace bactor::bench {

/// Keeps `value` (and the work that produced it) from being optimised away.
template <class T>
inline void do_not_optimize(const T& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}
/// Tells the compiler memory may have been read/written (after a kernel writing to a buffer).
inline void clobber_memory() { asm volatile("" : : : "memory"); }

/// Median and minimum time of one call, in microseconds, over `reps` repetitions.
struct Timing {
  double median_us = 0, min_us = 0;
  int reps = 0;
  long inner = 1; // calls per repetition
};

/// Runs `f` `inner` times per repetition, `reps` repetitions after `warmup` untimed
/// repetitions; returns per-call median and minimum.
template <class F>
Timing time_it(F&& f, long inner = 1, int reps = 21, int warmup = 2) {
  using clock = std::chrono::steady_clock;
  for (int w = 0; w < warmup; ++w)
    for (long i = 0; i < inner; ++i) f();
  std::vector<double> t(static_cast<std::size_t>(reps));
  for (auto& ti : t) {
    const auto t0 = clock::now();
    for (long i = 0; i < inner; ++i) f();
    const auto t1 = clock::now();
    ti = std::chrono::duration<double, std::micro>(t1 - t0).count() / double(inner);
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front(), reps, inner};
}

/// Picks `inner` so that one repetition of `f` takes roughly `target_us` microseconds.
template <class F>
long calibrate(F&& f, double target_us = 20000.0) {
  using clock = std::chrono::steady_clock;
  long inner = 1;
  for (;;) {
    const auto t0 = clock::now();
    for (long i = 0; i < inner; ++i) f();
    const double us = std::chrono::duration<double, std::micro>(clock::now() - t0).count();
    if (us >= target_us / 4 || inner > (1L << 30))
      return std::max(1L, static_cast<long>(double(inner) * target_us / std::max(us, 1e-3)));
    inner *= 4;
  }
}

/// Name of the SIMD instruction set xsimd compiled for ("avx2", "fma3<avx2>", "sse4.2"...).
inline std::string simd_arch() { return xsimd::default_arch::name(); }

/// Threads available to OpenMP regions (1 without OpenMP).
inline int max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// One JSON object on one line; starts with bench, compiler, flags, threads and simd.
class JsonLine {
public:
  explicit JsonLine(std::string_view bench, int threads = 1) {
    os_ << "{";
    add("bench", bench);
    add("compiler", std::string_view(__VERSION__));
    add("flags", std::string_view(BACTOR_CXX_FLAGS));
    add("threads", threads);
    add("simd", simd_arch());
  }
  JsonLine& add(std::string_view key, std::string_view value) {
    key_(key);
    quote_(value);
    return *this;
  }
  JsonLine& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  JsonLine& add(std::string_view key, const std::string& value) { return add(key, std::string_view(value)); }
  JsonLine& add(std::string_view key, double value) {
    key_(key);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", value);
    os_ << buf;
    return *this;
  }
  JsonLine& add(std::string_view key, int value) { return add(key, static_cast<long long>(value)); }
  JsonLine& add(std::string_view key, long value) { return add(key, static_cast<long long>(value)); }
  JsonLine& add(std::string_view key, std::size_t value) { return add(key, static_cast<long long>(value)); }
  JsonLine& add(std::string_view key, long long value) {
    key_(key);
    os_ << value;
    return *this;
  }
  /// Adds `<prefix>median_us`, `<prefix>min_us` and `<prefix>reps`.
  JsonLine& timing(const Timing& t, std::string_view prefix = "") {
    add(std::string(prefix) + "median_us", t.median_us);
    add(std::string(prefix) + "min_us", t.min_us);
    add(std::string(prefix) + "reps", t.reps);
    return *this;
  }
  std::string str() const { return os_.str() + "}"; }
  /// Prints the line to stdout and flushes.
  void print() const {
    std::puts(str().c_str());
    std::fflush(stdout);
  }

private:
  void key_(std::string_view key) {
    if (!first_) os_ << ",";
    first_ = false;
    quote_(key);
    os_ << ":";
  }
  void quote_(std::string_view s) {
    os_ << '"';
    for (char c : s) {
      if (c == '"' || c == '\\') os_ << '\\' << c;
      else if (static_cast<unsigned char>(c) < 0x20) os_ << ' ';
      else os_ << c;
    }
    os_ << '"';
  }
  std::ostringstream os_;
  bool first_ = true;
};

} // namespace bactor::bench
