// SPDX-License-Identifier: MIT
// TapeModel: a log-density written with tape ops as a Model. Its gradient against finite
// differences and a hand-written one, no arena growth over repeated calls, argument checks,
// thread independence, and NUTS on eight schools (non-centred) against Stan's reference.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <thread>
#include <vector>

#include <bactor/engine/rng.hpp>
#include <bactor/samplers/tape_model.hpp>

#include "tests/samplers/test_models.hpp"

using namespace bactor;

namespace {

const double kY[8] = {28, 8, -3, 7, -1, 1, 18, 12};
const double kSigma[8] = {15, 10, 16, 11, 9, 11, 10, 18};

/// Eight schools, non-centred, q = (mu, log tau, theta_tilde[1..8]): mu ~ N(0, 5),
/// tau ~ half-Cauchy(0, 5), theta_tilde ~ N(0, 1), y_j ~ N(mu + tau theta_tilde_j, sigma_j).
Var eight_schools_lp(Var q) {
  Var mu = element(q, 0), log_tau = element(q, 1), tt = slice(q, 2, 8);
  Var tau = exp(log_tau);
  Var theta = mu + tau * tt;
  return normal_lpdf(mu, 0.0, 5.0) - log1p(square(tau) * (1.0 / 25.0)) + log_tau +
         normal_lpdf(tt, 0.0, 1.0) +
         normal_lpdf(constant_view(kY, 8, 1), theta, constant_view(kSigma, 8, 1));
}

TapeModel eight_schools_model() {
  return TapeModel(10, eight_schools_lp, bactor::test::eight_schools_names(),
                   [](std::span<const double> q, Rng&, std::span<double> out) { bactor::test::eight_schools_outputs(q, out); });
}

std::vector<double> random_point(Rng& rng, std::size_t n) {
  std::vector<double> q(n);
  for (auto& v : q) v = 1.5 * rng.normal();
  return q;
}

} // namespace

TEST_CASE("TapeModel: gradient equals finite differences and the hand-written eight schools") {
  TapeModel model = eight_schools_model();
  test::EightSchools hand;
  REQUIRE(model.dim() == 10);
  Rng rng(14, 3);
  std::vector<double> g(10), gh(10), gp(10);
  double offset = 0;
  for (int rep = 0; rep < 20; ++rep) {
    std::vector<double> q = random_point(rng, 10);
    const double lp = model.log_density(q, g);
    const double lph = hand.log_density(q, gh);
    // Same density up to the normalising constants the hand-written one drops.
    if (rep == 0) offset = lp - lph;
    CHECK(lp - lph == doctest::Approx(offset).epsilon(1e-12));
    for (std::size_t i = 0; i < 10; ++i) {
      INFO("rep " << rep << " i " << i);
      CHECK(g[i] == doctest::Approx(gh[i]).epsilon(1e-12).scale(1.0));
      // Central differences of log_density itself.
      const double h = 1e-6 * std::max(1.0, std::fabs(q[i])), x0 = q[i];
      q[i] = x0 + h;
      const double fp = model.log_density(q, gp);
      q[i] = x0 - h;
      const double fm = model.log_density(q, gp);
      q[i] = x0;
      const double fd = (fp - fm) / (2 * h);
      CHECK(std::fabs(g[i] - fd) <= 1e-6 * std::max(1.0, std::fabs(fd)) + 1e-8 * std::max(1.0, std::fabs(lp)));
    }
  }
}

TEST_CASE("TapeModel: repeated evaluations do not grow the tape") {
  TapeModel model = eight_schools_model();
  Tape& tape = Tape::current();
  const std::vector<double> q = {1.0, 0.5, 0.1, -0.2, 0.3, 0.0, 1.2, -0.7, 0.4, 0.9};
  std::vector<double> g(10);
  const std::size_t nodes0 = tape.num_nodes(), bytes0 = tape.arena_bytes();
  model.log_density(q, g);  // may allocate the first blocks
  const std::size_t capacity = tape.arena_capacity(), blocks = tape.arena_blocks();
  const std::vector<double> g1 = g;
  for (int rep = 0; rep < 10000; ++rep) model.log_density(q, g);
  CHECK(tape.arena_capacity() == capacity);
  CHECK(tape.arena_blocks() == blocks);
  CHECK(tape.arena_bytes() == bytes0);
  CHECK(tape.num_nodes() == nodes0);
  CHECK(g == g1);
}

TEST_CASE("TapeModel: names, outputs and argument checks") {
  auto lp = [](Var q) { return -0.5 * sum(square(q)); };
  TapeModel plain(3, lp);
  CHECK(plain.output_names() == std::vector<std::string>{"q.1", "q.2", "q.3"});
  Rng rng(1, 1);
  std::vector<double> out(3), g(3);
  const std::vector<double> q = {1.0, -2.0, 0.5};
  plain.write_outputs(q, rng, out);
  CHECK(out == q);
  CHECK(plain.log_density(q, g) == doctest::Approx(-0.5 * (1 + 4 + 0.25)));
  CHECK(g == std::vector<double>{-1.0, 2.0, -0.5});

  CHECK(TapeModel(2, lp, {"a", "b"}).output_names() == std::vector<std::string>{"a", "b"});
  CHECK_THROWS_AS(TapeModel(0, lp), std::invalid_argument);
  CHECK_THROWS_AS(TapeModel(2, {}), std::invalid_argument);
  CHECK_THROWS_AS(TapeModel(2, lp, {"a"}), std::invalid_argument);
  try {
    TapeModel(2, lp, {"a"});
  } catch (const ArgumentError& e) {
    CHECK(e.argument() == "names");  // errors name the argument
  }
  CHECK_THROWS_AS(TapeModel(2, lp, {}, [](auto, Rng&, auto) {}), std::invalid_argument);
  CHECK_THROWS_AS(plain.log_density(std::vector<double>(2), g), std::invalid_argument);
  CHECK_THROWS_AS(plain.log_density(q, std::span<double>(g.data(), 2)), std::invalid_argument);
  TapeModel vector_valued(3, [](Var q) { return q * 2.0; });
  const std::size_t nodes = Tape::current().num_nodes();
  CHECK_THROWS_AS(vector_valued.log_density(q, g), std::invalid_argument);
  CHECK(Tape::current().num_nodes() == nodes);  // the scope rewound on the throw
  // A log-density that does not depend on q: zero gradient.
  TapeModel flat(2, [](Var) { return constant(1.5); });
  std::vector<double> g2 = {7, 7};
  CHECK(flat.log_density(std::vector<double>{0.1, 0.2}, g2) == 1.5);
  CHECK(g2 == std::vector<double>{0.0, 0.0});
}

TEST_CASE("TapeModel: copies on different threads evaluate independently") {
  const TapeModel model = eight_schools_model();
  Rng rng(5, 5);
  std::vector<std::vector<double>> qs;
  for (int i = 0; i < 16; ++i) qs.push_back(random_point(rng, 10));
  // Serial reference values.
  std::vector<double> lp_ref(qs.size());
  std::vector<std::vector<double>> g_ref(qs.size(), std::vector<double>(10));
  {
    TapeModel m = model;
    for (std::size_t i = 0; i < qs.size(); ++i) lp_ref[i] = m.log_density(qs[i], g_ref[i]);
  }
  std::vector<int> mismatches(2, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      TapeModel m = model;
      std::vector<double> g(10);
      for (int rep = 0; rep < 2000; ++rep) {
        const std::size_t i = std::size_t(rep + 7 * t) % qs.size();
        const double lp = m.log_density(qs[i], g);
        if (lp != lp_ref[i] || g != g_ref[i]) ++mismatches[std::size_t(t)];
      }
    });
  for (auto& th : threads) th.join();
  CHECK(mismatches[0] == 0);
  CHECK(mismatches[1] == 0);
}

TEST_CASE("TapeModel: NUTS on eight schools non-centred agrees with Stan's reference") {
  // The reference and criterion of tests/samplers/test_nuts.cpp (hand-written gradient).
  const TapeModel model = eight_schools_model();
  NutsSettings s;
  s.seed = 8;
  s.samples = 5000;
  s.delta = 0.95;
  s.threads = 2;  // chains on two threads: one tape each
  const auto chains = run_nuts([&] { return std::make_unique<TapeModel>(model); }, s);
  bactor::test::check_eight_schools_against_stan(summarize(chains), s.chains * s.samples);
  // The same draws with one thread (each chain's tape is its thread's; results do not
  // depend on which thread ran which chain).
  s.threads = 1;
  s.samples = 200;
  s.warmup = 200;
  const auto a = run_nuts([&] { return std::make_unique<TapeModel>(model); }, s);
  s.threads = 2;
  const auto b = run_nuts([&] { return std::make_unique<TapeModel>(model); }, s);
  for (std::size_t c = 0; c < a.size(); ++c) CHECK(a[c].draws == b[c].draws);
}
