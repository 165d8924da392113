// SPDX-License-Identifier: MIT
// Diagnostics on hand-computable cases and on series with known ESS.
#include <doctest/doctest.h>

#include <cmath>

#include <bactor/engine/rng.hpp>
#include <bactor/samplers/diagnostics.hpp>

using namespace bactor;
using Chains = std::vector<std::vector<double>>;

namespace {

Chains ar1(double rho, int chains, int n, std::uint64_t seed) {
  Chains out;
  for (int c = 0; c < chains; ++c) {
    Rng rng(seed, std::uint64_t(c));
    std::vector<double> x(static_cast<std::size_t>(n));
    double v = rng.normal();  // stationary start
    for (auto& xi : x) {
      xi = v;
      v = rho * v + std::sqrt(1 - rho * rho) * rng.normal();
    }
    out.push_back(std::move(x));
  }
  return out;
}

} // namespace

TEST_CASE("hand-computable cases: autocorrelation, quantile, split R-hat, E-BFMI") {
  // x = (1,-1,1,-1): mean 0, sum x^2 = 4, lag-1 products sum to -3, lag 2 to +2, lag 3 to -1.
  const auto ac = autocorrelation({1, -1, 1, -1});
  REQUIRE(ac.size() == 4);
  CHECK(ac[0] == doctest::Approx(1.0));
  CHECK(ac[1] == doctest::Approx(-0.75));
  CHECK(ac[2] == doctest::Approx(0.5));
  CHECK(ac[3] == doctest::Approx(-0.25));
  // R type 7: quantile(1:4, 0.05) = 1.15, median 2.5.
  CHECK(quantile({4, 1, 3, 2}, 0.05) == doctest::Approx(1.15));
  CHECK(quantile({4, 1, 3, 2}, 0.5) == doctest::Approx(2.5));
  // Two chains (1,2,3,4) split into (1,2),(3,4),(1,2),(3,4): chain means 1.5,3.5,1.5,3.5,
  // B = n var(means) = 2 * 4/3, W = 0.5, R-hat = sqrt((B/W + n - 1)/n) = sqrt(19/6).
  CHECK(rhat_basic({{1, 2, 3, 4}, {1, 2, 3, 4}}) == doctest::Approx(std::sqrt(19.0 / 6.0)));
  // energy 0,1,0,1: mean squared difference 1, variance 1/4 -> E-BFMI 4.
  CHECK(ebfmi({0, 1, 0, 1}) == doctest::Approx(4.0));
  // Constant draws: no ESS / R-hat (NaN), not a crash.
  CHECK(std::isnan(ess_bulk({{1, 1, 1, 1, 1}, {1, 1, 1, 1, 1}})));
  CHECK(std::isnan(rhat({{1, 1, 1, 1, 1}, {1, 1, 1, 1, 1}})));
}

TEST_CASE("iid normal draws: ESS near the draw count, R-hat near 1, MCSE near sd/sqrt(N)") {
  const Chains x = ar1(0.0, 4, 1000, 1);
  const double n = 4000;
  CHECK(ess_bulk(x) > 0.85 * n);
  CHECK(ess_bulk(x) < 1.2 * n);
  CHECK(ess_tail(x) > 0.8 * n);
  CHECK(ess_tail(x) < 1.25 * n);
  CHECK(ess_basic(x) > 0.85 * n);
  CHECK(rhat(x) < 1.01);
  CHECK(mcse_mean(x) == doctest::Approx(1 / std::sqrt(n)).epsilon(0.1));
  // sd of the sd of N draws ~ 1/sqrt(2N)
  CHECK(mcse_sd(x) == doctest::Approx(1 / std::sqrt(2 * n)).epsilon(0.15));
  // 5% quantile: sd = sqrt(p(1-p)/N)/phi(q) = sqrt(.05 * .95 / 4000) / 0.1031 = 0.0334
  CHECK(mcse_quantile(x, 0.05) == doctest::Approx(0.0334).epsilon(0.25));
}

TEST_CASE("AR(1) with known rho: ESS = N (1 - rho) / (1 + rho)") {
  for (double rho : {0.5, 0.9, -0.3}) {
    INFO("rho " << rho);
    const Chains x = ar1(rho, 4, 10000, 2);
    const double expect = 40000.0 * (1 - rho) / (1 + rho);
    // Relative sd of the ESS estimate is a few percent at these lengths.
    CHECK(ess_basic(x) == doctest::Approx(expect).epsilon(0.15));
    CHECK(ess_bulk(x) == doctest::Approx(expect).epsilon(0.15));
    CHECK(rhat(x) < 1.01);
  }
}

TEST_CASE("random walk: tiny ESS, large R-hat; shifted chains: large R-hat") {
  Chains rw;
  for (int c = 0; c < 4; ++c) {
    Rng rng(3, std::uint64_t(c));
    std::vector<double> x(1000);
    double v = 0;
    for (auto& xi : x) xi = (v += rng.normal());
    rw.push_back(std::move(x));
  }
  CHECK(ess_bulk(rw) < 50);
  CHECK(rhat(rw) > 1.1);

  Chains shifted = ar1(0.0, 4, 1000, 4);
  for (auto& v : shifted[3]) v += 1.0;  // one chain one sd off
  CHECK(rhat(shifted) > 1.05);
  CHECK(rhat(ar1(0.0, 4, 1000, 4)) < 1.01);
  // Different scale in one chain (same mean) is caught by the folded R-hat.
  Chains scaled = ar1(0.0, 4, 1000, 5);
  for (auto& v : scaled[0]) v *= 3.0;
  CHECK(rhat(scaled) > 1.05);
  CHECK(rhat_basic(scaled) < rhat(scaled));
}

TEST_CASE("summarize and format_summary count divergences, depth hits and warn") {
  std::vector<ChainResult> chains(2);
  const std::vector<std::string> cols = {"lp__",        "accept_stat__", "stepsize__", "treedepth__",
                                         "n_leapfrog__", "divergent__",  "energy__",   "a"};
  for (int c = 0; c < 2; ++c) {
    Rng rng(6, std::uint64_t(c));
    auto& ch = chains[std::size_t(c)];
    ch.chain_id = c + 1;
    ch.columns = cols;
    for (int r = 0; r < 500; ++r) {
      const double a = rng.normal();
      const double row[] = {-0.5 * a * a, 0.9, 0.5, r % 100 == 0 ? 10.0 : 3.0, 7, r == 7 ? 1.0 : 0.0,
                            0.5 * a * a + rng.normal(), a};
      ch.draws.insert(ch.draws.end(), std::begin(row), std::end(row));
    }
  }
  const Summary s = summarize(chains);
  REQUIRE(s.params.size() == 1);
  CHECK(s.params[0].name == "a");
  CHECK(s.draws == 1000);
  CHECK(s.divergences == 2);
  CHECK(s.max_depth_hits == 10);
  CHECK(s.ebfmi.size() == 2);
  const std::string text = format_summary(s);
  CHECK(text.find("WARNING: 2 of 1000 draws") != std::string::npos);
  CHECK(text.find("saturated the maximum tree depth") != std::string::npos);
  CHECK(text.find("r_hat") != std::string::npos);
  CHECK_THROWS_AS(summarize(chains, {"nope"}), std::invalid_argument);

  // Non-finite draws (issue 24): every statistic of that column is NaN, none half-computed, and
  // the text says n/a with a WARNING; other columns are unaffected.
  auto damaged = chains;
  damaged[1].draws[3 * cols.size() + 7] = std::nan("");
  const Summary d = summarize(damaged);
  CHECK(d.params[0].nonfinite == 1);
  CHECK(std::isnan(d.params[0].mean));
  CHECK(std::isnan(d.params[0].ess_bulk));
  CHECK(std::isnan(d.params[0].rhat));
  CHECK(d.lp.nonfinite == 0);
  CHECK(d.lp.mean == doctest::Approx(s.lp.mean));
  const std::string dt = format_summary(d);
  CHECK(dt.find("WARNING: a has 1 non-finite draws (nan or inf) of 1000") != std::string::npos);
  CHECK(dt.find(" nan ") == std::string::npos);
  // No draws after warm-up: one line, no table of nan.
  auto warm = chains;
  for (auto& c : warm) c.warmup_draws_saved = static_cast<int>(c.rows());
  const std::string wt = format_summary(summarize(warm));
  CHECK(wt == "no draws after warm-up in 2 chains: nothing to summarise\n");
}

TEST_CASE("the ESS warning states the rule that fired: 100 per chain times the chains") {
  Summary s;
  s.chains = 4;
  s.draws = 4000;
  s.ebfmi = {1.0, 1.1, 0.9, 1.0};
  s.lp = ParamSummary{"lp__", -5, 1, -7, -5, -3, 0.02, 0.01, 2000, 2000, 1.0};
  s.params = {ParamSummary{"mu_0", 1.4, 0.04, 1.3, 1.4, 1.5, 0.002, 0.001, 370, 556, 1.0},
              ParamSummary{"sigma_r", 0.09, 0.01, 0.07, 0.09, 0.11, 0.001, 0.001, 900, 250, 1.0},
              ParamSummary{"sigma_0", 0.15, 0.01, 0.13, 0.15, 0.17, 0.001, 0.001, 390, 380, 1.0},
              ParamSummary{"beta", 0.9, 0.1, 0.7, 0.9, 1.1, 0.003, 0.002, 450, 700, 1.0}};
  const std::string text = format_summary(s);
  CAPTURE(text);
  // 370 < 400 fired, 556 did not: the message says so (it used to say "< 100 per chain").
  CHECK(text.find("WARNING: mu_0 has bulk-ESS 370 < 400 = 100 per chain x 4 chains (tail-ESS 556)\n") !=
        std::string::npos);
  CHECK(text.find("WARNING: sigma_r has tail-ESS 250 < 400 = 100 per chain x 4 chains (bulk-ESS 900)\n") !=
        std::string::npos);
  CHECK(text.find("WARNING: sigma_0 has bulk-ESS 390 and tail-ESS 380 < 400 = 100 per chain x 4 chains\n") !=
        std::string::npos);
  CHECK(text.find("beta has") == std::string::npos);
  CHECK(text.find("lp__ has") == std::string::npos);
  s.chains = 1;
  s.ebfmi = {1.0};
  CHECK(format_summary(s).find("WARNING: mu_0") == std::string::npos);  // 370 and 556 >= 100
  s.params[0].ess_bulk = 60;
  CHECK(format_summary(s).find("WARNING: mu_0 has bulk-ESS 60 < 100 = 100 per chain x 1 chain (tail-ESS 556)") !=
        std::string::npos);
}

TEST_CASE("format_summary prints an E-BFMI it cannot compute as n/a, never nan") {
  Summary s;
  s.chains = 2;
  s.draws = 2;
  s.ebfmi = {std::nan(""), 0.9};
  const std::string text = format_summary(s);
  CAPTURE(text);
  CHECK(text.find("E-BFMI: n/a 0.9") != std::string::npos);
  CHECK(text.find("nan") == std::string::npos);
  CHECK(text.find("2 draws in 2 chains") != std::string::npos);
}
