// SPDX-License-Identifier: MIT
// Elementwise SIMD kernels (engine/kernels.hpp) against the plain scalar std:: loop, float
// and double, n = 1024 (L1-resident), forward and backward.
#include <cmath>
#include <string>
#include <vector>

#include "bench/bench_util.hpp"
#include "engine/kernels.hpp"
#include <bactor/engine/rng.hpp>

namespace bb = bactor::bench;
namespace simd = bactor::simd;

namespace {

template <class T>
T softplus_ref(T x) {
  return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x)));
}

template <class T>
void run(const char* type) {
  const std::size_t n = 1024;
  std::vector<T> x(n), y(n), dy(n, T(1)), dx(n, T(0));
  for (std::size_t i = 0; i < n; ++i) x[i] = T(-8) + T(16) * T(i) / T(n) + T(0.001);
  std::vector<T> xp(x);
  for (auto& v : xp) v = std::abs(v) + T(0.01);  // positive inputs for log

  struct Case {
    const char* name;
    void (*simd_fwd)(std::size_t, const T*, T*);
    void (*simd_bwd)(std::size_t, const T*, const T*, T*);
    T (*scalar)(T);
    T (*scalar_d)(T);  // derivative for the scalar backward baseline
    bool positive;
  };
  const Case cases[] = {
      // exp's backward reads y (dx += dy y) in both versions.
      {"exp", simd::exp_forward<T>, simd::exp_backward<T>, [](T v) { return std::exp(v); },
       [](T v) { return v; }, false},
      {"log", simd::log_forward<T>, simd::log_backward<T>, [](T v) { return std::log(v); },
       [](T v) { return T(1) / v; }, true},
      {"softplus", simd::softplus_forward<T>, simd::softplus_backward<T>, softplus_ref<T>,
       [](T v) { return T(1) / (T(1) + std::exp(-v)); }, false},
      {"swish", simd::swish_forward<T>, simd::swish_backward<T>, [](T v) { return v / (T(1) + std::exp(-v)); },
       [](T v) {
         const T s = T(1) / (T(1) + std::exp(-v));
         return s + v * s * (T(1) - s);
       },
       false},
  };
  for (const Case& c : cases) {
    const T* in = c.positive ? xp.data() : x.data();
    auto f_simd = [&] {
      c.simd_fwd(n, in, y.data());
      bb::clobber_memory();
    };
    auto f_scalar = [&] {
      for (std::size_t i = 0; i < n; ++i) y[i] = c.scalar(in[i]);
      bb::clobber_memory();
    };
    // Backward kernels read x (log, softplus, swish) or y (exp): feed x; timing is the same.
    auto b_simd = [&] {
      c.simd_bwd(n, in, dy.data(), dx.data());
      bb::clobber_memory();
    };
    auto b_scalar = [&] {
      for (std::size_t i = 0; i < n; ++i) dx[i] += dy[i] * c.scalar_d(in[i]);
      bb::clobber_memory();
    };
    const auto ts = bb::time_it(f_simd, bb::calibrate(f_simd));
    const auto t0 = bb::time_it(f_scalar, bb::calibrate(f_scalar));
    const auto bs = bb::time_it(b_simd, bb::calibrate(b_simd));
    const auto b0 = bb::time_it(b_scalar, bb::calibrate(b_scalar));
    bb::JsonLine("kernels")
        .add("op", c.name)
        .add("type", type)
        .add("n", n)
        .timing(ts, "forward_simd_")
        .timing(t0, "forward_scalar_")
        .add("forward_speedup", t0.median_us / ts.median_us)
        .add("forward_ns_per_element", 1000 * ts.median_us / double(n))
        .timing(bs, "backward_simd_")
        .timing(b0, "backward_scalar_")
        .add("backward_speedup", b0.median_us / bs.median_us)
        .print();
  }
}

// Rng bulk draws (vectorised lanes + SIMD Box-Muller) against the scalar loop of normal() /
// uniform() on one stream; reported as millions of values per second.
template <class T>
void run_rng(const char* type) {
  const std::size_t n = 1 << 16;
  std::vector<T> out(n);
  bactor::Rng rng(1, 2);
  auto fill_n = [&] {
    rng.fill_normal(std::span<T>(out));
    bb::clobber_memory();
  };
  auto loop_n = [&] {
    for (auto& v : out) v = T(rng.normal());
    bb::clobber_memory();
  };
  auto fill_u = [&] {
    rng.fill_uniform(std::span<T>(out));
    bb::clobber_memory();
  };
  auto loop_u = [&] {
    for (auto& v : out) v = T(rng.uniform());
    bb::clobber_memory();
  };
  const auto tn = bb::time_it(fill_n, 20), tn0 = bb::time_it(loop_n, 5);
  const auto tu = bb::time_it(fill_u, 20), tu0 = bb::time_it(loop_u, 5);
  bb::JsonLine("kernels")
      .add("op", "rng_fill_normal")
      .add("type", type)
      .add("n", n)
      .timing(tn, "simd_")
      .timing(tn0, "scalar_loop_")
      .add("simd_million_per_s", double(n) / tn.median_us)
      .add("scalar_million_per_s", double(n) / tn0.median_us)
      .add("speedup", tn0.median_us / tn.median_us)
      .print();
  bb::JsonLine("kernels")
      .add("op", "rng_fill_uniform")
      .add("type", type)
      .add("n", n)
      .timing(tu, "simd_")
      .timing(tu0, "scalar_loop_")
      .add("simd_million_per_s", double(n) / tu.median_us)
      .add("scalar_million_per_s", double(n) / tu0.median_us)
      .add("speedup", tu0.median_us / tu.median_us)
      .print();
}

} // namespace

int main() {
  run<float>("float");
  run<double>("double");
  run_rng<float>("float");
  run_rng<double>("double");
  return 0;
}
