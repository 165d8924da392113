// SPDX-License-Identifier: MIT
// PSIS-LOO (samplers/loo.hpp): agreement with ArviZ 0.23 on bactor draws files
// (tests/fixtures/loo/, numbers recorded once as its README says), the generalized Pareto fit
// on samples with known k, smoothing edge cases, comparison and stacking weights.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include <bactor/engine/rng.hpp>
#include <bactor/samplers/cmdstan_csv.hpp>
#include <bactor/samplers/loo.hpp>

using namespace bactor;
namespace fs = std::filesystem;

namespace {

fs::path fixture_dir() {
  const char* src = std::getenv("BACTOR_SOURCE_DIR");
  REQUIRE_MESSAGE(src, "BACTOR_SOURCE_DIR is not set (run through meson test)");
  return fs::path(src) / "tests" / "fixtures" / "loo";
}

std::vector<ChainResult> read_chains(const fs::path& dir) {
  std::vector<ChainResult> chains;
  for (int c = 1;; ++c) {
    const fs::path p = dir / ("chain-" + std::to_string(c) + ".csv");
    if (!fs::exists(p)) break;
    chains.push_back(read_cmdstan_csv(p.string()));
  }
  REQUIRE(!chains.empty());
  return chains;
}

std::vector<std::string> params_of(const ChainResult& ch) {
  std::vector<std::string> out;
  for (const auto& n : ch.columns)
    if (n.find("__") == std::string::npos && n.rfind("log_lik", 0) != 0 && n.rfind("r_rep", 0) != 0) out.push_back(n);
  return out;
}

LooResult loo_of(const fs::path& dir) {
  const auto chains = read_chains(dir);
  return psis_loo(indexed_columns(chains, "log_lik"), relative_efficiency(chains, params_of(chains[0])));
}

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-300); }

} // namespace

TEST_CASE("loo: agrees with ArviZ 0.23 on bactor draws files to 1e-6 relative") {
  std::ifstream in(fixture_dir() / "arviz_loo.json");
  REQUIRE(in);
  const auto ref = nlohmann::json::parse(in);
  CHECK(ref["arviz_version"].get<std::string>().rfind("0.23", 0) == 0);
  double worst = 0;
  for (const std::string name : {"quad", "effort", "outlier"}) {
    CAPTURE(name);
    const auto& a = ref["fits"][name];
    const LooResult l = loo_of(fixture_dir() / name);
    REQUIRE(l.points == a["n_data_points"].get<std::size_t>());
    CHECK(l.draws == a["n_samples"].get<std::size_t>());
    CHECK(rel(l.r_eff, a["r_eff"]) < 1e-6);
    CHECK(rel(l.elpd_loo, a["elpd_loo"]) < 1e-6);
    CHECK(rel(l.se, a["se"]) < 1e-6);
    CHECK(rel(l.p_loo, a["p_loo"]) < 1e-6);
    CHECK(rel(l.good_k, a["good_k"]) < 1e-12);
    CHECK(l.warning == a["warning"].get<bool>());
    for (std::size_t i = 0; i < l.points; ++i) {
      CAPTURE(i);
      CHECK(rel(l.elpd_i[i], a["loo_i"][i]) < 1e-6);
      CHECK(rel(l.pareto_k[i], a["pareto_k"][i]) < 1e-6);
      worst = std::max({worst, rel(l.elpd_i[i], a["loo_i"][i]), rel(l.pareto_k[i], a["pareto_k"][i])});
    }
    worst = std::max({worst, rel(l.elpd_loo, a["elpd_loo"]), rel(l.se, a["se"]), rel(l.p_loo, a["p_loo"])});
  }
  MESSAGE("largest relative difference from ArviZ (elpd, se, p_loo, pointwise elpd and k): " << worst);
  // az.compare(quad, effort).
  const LooResult q = loo_of(fixture_dir() / "quad"), e = loo_of(fixture_dir() / "effort");
  const auto rows = compare_loo({"quad", "effort"}, {q, e});
  REQUIRE(rows.size() == ref["compare"].size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto& a = ref["compare"][r];
    CAPTURE(r);
    CHECK(rows[r].name == a["model"].get<std::string>());
    CHECK(rows[r].rank == a["rank"].get<int>());
    CHECK(rel(rows[r].elpd_loo, a["elpd_loo"]) < 1e-6);
    CHECK(rel(rows[r].p_loo, a["p_loo"]) < 1e-6);
    CHECK(rel(rows[r].se, a["se"]) < 1e-6);
    CHECK(std::fabs(rows[r].weight - a["weight"].get<double>()) < 1e-6);
    CHECK(rows[r].warning == a["warning"].get<bool>());
    if (r == 0) {
      CHECK(rows[r].elpd_diff == 0);
      CHECK(rows[r].dse == 0);
    } else {
      CHECK(rel(rows[r].elpd_diff, a["elpd_diff"]) < 1e-6);
      CHECK(rel(rows[r].dse, a["dse"]) < 1e-6);
    }
  }
}

TEST_CASE("loo: generalized Pareto fit recovers k from GPD samples") {
  // x = sigma ((1 - u)^-k - 1) / k is GPD(k, sigma). With n = 4,000 the estimate's sd is about
  // (1 + k) / sqrt(n) < 0.03; the prior (10 pseudo-observations at 0.5) moves it by < 0.002.
  Rng rng(42, 0);
  for (double k : {0.1, 0.5, 0.9}) {
    std::vector<double> x(4000);
    for (double& v : x) v = 2.0 * (std::pow(1.0 - rng.uniform(), -k) - 1.0) / k;
    std::sort(x.begin(), x.end());
    const GpdFit f = gpd_fit(x);
    CAPTURE(k);
    CHECK(std::fabs(f.k - k) < 0.1);
    CHECK(std::fabs(f.sigma / 2.0 - 1.0) < 0.15);
  }
}

TEST_CASE("loo: smoothing edge cases and helpers") {
  // Equal ratios: no tail above the cutoff, k = inf (as ArviZ), uniform normalised weights.
  std::vector<double> lw(100, 3.0);
  const double k = psis_smooth(lw, 1.0);
  CHECK(std::isinf(k));
  for (double v : lw) CHECK(v == doctest::Approx(-std::log(100.0)));
  // Light-tailed ratios: small k, weights sum to 1, none above the largest raw weight.
  Rng rng(7, 1);
  std::vector<double> raw(1000);
  for (double& v : raw) v = 0.1 * rng.normal();
  std::vector<double> sm = raw;
  const double k2 = psis_smooth(sm, 1.0);
  CHECK(k2 < 0.5);
  CHECK(std::exp(log_sum_exp(sm)) == doctest::Approx(1.0).epsilon(1e-12));
  // Smoothing keeps the order of the weights (the tail gets increasing quantiles above the cutoff).
  std::vector<std::size_t> idx(raw.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return raw[a] < raw[b]; });
  for (std::size_t j = 1; j < idx.size(); ++j) CHECK(sm[idx[j]] >= sm[idx[j - 1]]);
  // log_sum_exp is stable for large and -inf terms.
  CHECK(log_sum_exp({1000.0, 1000.0}) == doctest::Approx(1000.0 + std::log(2.0)));
  CHECK(log_sum_exp({-INFINITY, 0.0}) == doctest::Approx(0.0));
  CHECK(std::isinf(log_sum_exp({})));
  // Thresholds and classes.
  CHECK(pareto_k_threshold(100) == doctest::Approx(0.5));
  CHECK(pareto_k_threshold(4000) == doctest::Approx(0.7));
  const auto c = count_pareto_k({0.1, 0.5, 0.6, 0.7, 0.9, 1.0, 1.5, INFINITY});
  CHECK(c.good == 2);
  CHECK(c.ok == 2);
  CHECK(c.bad == 2);
  CHECK(c.very_bad == 2);
}

TEST_CASE("loo: psis_loo of an exactly known case and compare") {
  // Every draw gives each trial the same log-likelihood: elpd_loo = lppd = sum, p_loo = 0, se from
  // the spread of the trials.
  std::vector<std::vector<double>> ll = {std::vector<double>(400, -1.0), std::vector<double>(400, -2.0),
                                         std::vector<double>(400, -3.0)};
  const LooResult l = psis_loo(ll, 1.0);
  CHECK(l.elpd_loo == doctest::Approx(-6.0));
  CHECK(l.p_loo == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(l.se == doctest::Approx(std::sqrt(3.0 * 2.0 / 3.0)));
  // A second model worse by 0.5 on every trial: diff 1.5, dse 0; ranks; stacking picks the best.
  for (auto& v : ll)
    for (double& x : v) x -= 0.5;
  const LooResult worse = psis_loo(ll, 1.0);
  const auto rows = compare_loo({"worse", "better"}, {worse, l});
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].name == "better");
  CHECK(rows[0].rank == 0);
  CHECK(rows[1].rank == 1);
  CHECK(rows[1].elpd_diff == doctest::Approx(1.5));
  CHECK(rows[1].dse == doctest::Approx(0.0));
  CHECK(rows[0].weight == doctest::Approx(1.0).epsilon(1e-6));
  // Stacking: two models each better on half of the trials get equal weights.
  const auto w = stacking_weights({{0.0, -3.0, 0.0, -3.0}, {-3.0, 0.0, -3.0, 0.0}});
  CHECK(w[0] == doctest::Approx(0.5).epsilon(1e-9));
  CHECK(w[1] == doctest::Approx(0.5).epsilon(1e-9));
  // Different numbers of trials are refused.
  const LooResult two = psis_loo({std::vector<double>(400, -1.0), std::vector<double>(400, -1.0)}, 1.0);
  CHECK_THROWS_AS(compare_loo({"a", "b"}, {l, two}), std::invalid_argument);
}

TEST_CASE("loo: indexed columns") {
  ChainResult ch;
  ch.columns = {"lp__", "mu_0", "log_lik.2", "log_lik.1", "r_rep.1"};
  ch.draws = {0, 1, 2, 1, 9,  //
              0, 2, 4, 2, 9};
  const auto cols = indexed_columns({ch}, "log_lik");
  REQUIRE(cols.size() == 2);
  CHECK(cols[0] == std::vector<double>{1, 2});
  CHECK(cols[1] == std::vector<double>{2, 4});
  CHECK_THROWS_AS(indexed_columns({ch}, "nope"), std::invalid_argument);
  ch.columns[2] = "log_lik.3";  // 1 and 3: a gap
  CHECK_THROWS_AS(indexed_columns({ch}, "log_lik"), std::invalid_argument);
}
