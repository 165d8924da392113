// SPDX-License-Identifier: MIT
// Posteriors with the exact action (issue 17): (1) on the two closed-form costs the
// exact-action posterior agrees with the Stan closed-form references of tests/reference/README.md;
// (2) for the three non-homogeneous costs a network posterior (the head `train --head auto`
// picks) is compared with the stored exact-action reference posteriors
// (tests/reference/exact_posteriors.csv, made as tests/reference/README.md says).
//
// Criterion (tests/reference/README.md): every mean within 3 combined Monte Carlo standard errors
// of the reference or 2% of its sd, whichever is larger, and every sd within 5%. The runs here,
// and the stored exact-action references (a few thousand effective draws), are too short for
// an sd within 5%, so the sd check is stated in Monte Carlo terms instead: within 3 standard
// errors of an sd estimate, sd / sqrt(2 ESS) (normal approximation), combined with the
// reference's, or 5%, whichever is larger. Divergences: at most 1% of the draws (a rate, so that
// the test holds on any CPU; tests/stat_criteria.hpp).
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/data.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/train.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>

#include <doctest/doctest.h>

#include "tests/models/posterior_test_util.hpp"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

using namespace bactor;

namespace {

using testing::check_against;
using testing::effort_ref;
using testing::quadratic_ref;
using testing::Ref;
using testing::reference_dir;

/// The exact-action reference posteriors of one data set from exact_posteriors.csv (columns
/// data,cost,param,mean,sd,mcse_mean,mcse_sd,ess_bulk).
std::map<std::string, Ref> exact_reference(const std::string& data_file) {
  std::ifstream in(reference_dir() + "/exact_posteriors.csv");
  REQUIRE_MESSAGE(in, "tests/reference/exact_posteriors.csv is missing");
  std::string line;
  std::getline(in, line);
  REQUIRE(line == "data,cost,param,mean,sd,mcse_mean,mcse_sd,ess_bulk");
  std::map<std::string, Ref> out;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string data, cost, param, f;
    std::getline(ss, data, ',');
    std::getline(ss, cost, ',');
    std::getline(ss, param, ',');
    double v[5];
    for (double& x : v) {
      std::getline(ss, f, ',');
      x = std::stod(f);
    }
    if (data == data_file) out[param] = {v[0], v[1], v[4], v[3]};
  }
  REQUIRE_MESSAGE(!out.empty(), "no reference for " << data_file);
  return out;
}

/// A network trained as `bactor train --cost COST` does (its defaults: --head auto, 60,000 steps).
std::shared_ptr<const ActionNetwork> default_network(const std::string& cost) {
  TrainSettings ts;
  ts.cost = cost;
  ts.head = "auto";
  ts.seed = 1;
  ts.progress_seconds = 1e9;
  return std::make_shared<const ActionNetwork>(train(ts).network);
}

void network_against_exact(const char* cost, const char* data_file) {
  const Dataset d = read_dataset(reference_dir() + "/" + data_file);
  const auto ref = exact_reference(data_file);
  InferenceSpec spec;
  spec.cost = &find_cost(cost);
  // The settings the references were made with: the data's own units (cost parameters in them)
  // and mu_0 ~ U(0.1, 5).
  spec.scale = 1;
  spec.priors["mu_0"] = Prior{Prior::Kind::uniform, 0.1, 5.0};
  const auto t0 = std::chrono::steady_clock::now();
  spec.network = default_network(cost);
  const auto t1 = std::chrono::steady_clock::now();
  spec.log_lik = false;
  const std::string what = std::string(cost) + " network head " + std::string(to_string(spec.network->head()));
  INFO(what);
  // delta 0.9: at 0.8 the AbsoluteCostQuadraticEffort network gave 3 divergences in 8,000 draws
  // (its means and sds met the criterion), as did 300 warm-up iterations at 0.9. At 0.9 an AMD
  // EPYC (AVX-512) gave 1 in 2,800 where the machine this was written on gave 0, so
  // check_against bounds divergences as a rate (at most 1% of the draws), not a count.
  const Summary s = testing::run_posterior(d, spec, 4, 500, 700, 31, 0.9);
  const auto t2 = std::chrono::steady_clock::now();
  std::ostringstream msg;
  msg << what << ": training " << std::chrono::duration<double>(t1 - t0).count() << " s, NUTS "
      << std::chrono::duration<double>(t2 - t1).count() << " s (wall)";
  for (const auto& p : s.params)
    msg << "\n  " << p.name << ": " << p.mean << " (sd " << p.sd << " +- " << p.mcse_sd << ", ess " << p.ess_bulk
        << ") vs exact " << ref.at(p.name).mean << " (sd " << ref.at(p.name).sd << " +- " << ref.at(p.name).mcse_sd << ")";
  MESSAGE(msg.str());
  // The sd check in Monte Carlo terms (the references' ESS is a few thousand, not the tens of
  // thousands an sd within 5% needs).
  check_against(s, ref, true);
}

} // namespace

// Exact-action posteriors against Stan's closed-form references, 4 x (400 + 800) draws. The
// quadratic_n60 run (one condition, sigma fixed) takes ~8 s and runs every time; the
// effort_two_noise run (every parameter free, two conditions) takes ~2.5 min of CPU, too long
// for every `make test`: it is run by hand (test_models -tc='exact-action posterior*' --no-skip;
// passed on 2026-11-30). What runs every time besides: test_exact_action.cpp, whose log-density
// and gradient equal the closed-form model's on both data sets.
TEST_CASE("exact-action posterior: quadratic_n60 (QuadraticCost, sigma fixed) agrees with the Stan closed-form reference") {
  const Dataset d = read_dataset(reference_dir() + "/quadratic_n60.csv");
  InferenceSpec spec;
  spec.cost = &find_cost("QuadraticCost");
  spec.priors["mu_0"] = Prior{Prior::Kind::uniform, 0.1, 5.0};  // Stan's prior
  spec.fixed["sigma"] = 0.2;
  spec.exact_action = true;
  spec.log_lik = false;
  check_against(testing::run_posterior(d, spec, 4, 400, 800, 21), quadratic_ref, true);
}

TEST_CASE("exact-action posterior: effort_two_noise (QuadraticCostQuadraticEffort) agrees with the Stan closed-form reference" *
          doctest::skip()) {
  const Dataset d = read_dataset(reference_dir() + "/effort_two_noise.csv");
  InferenceSpec spec;
  spec.cost = &find_cost("QuadraticCostQuadraticEffort");
  spec.priors["mu_0"] = Prior{Prior::Kind::uniform, 0.1, 5.0};  // Stan's prior
  spec.exact_action = true;
  spec.log_lik = false;
  check_against(testing::run_posterior(d, spec, 4, 400, 800, 22), effort_ref, true);
}

// Network posteriors against the exact-action references (issue 17 part 3), with the network
// `bactor train --cost NAME` gives by default (the mupost head, 60,000 steps). With the softplus
// head these missed the criterion (e.g. beta 0.929 vs 0.916, tolerance 0.005). Each takes
// 5-8 s of training and 4 x (500 + 700) NUTS iterations at 0.14-0.33 ms per gradient (the
// mupost head tabulated along u, its d/dtheta series contracted once per condition: 2.2-2.6x
// less than with every series at every node, bench/exact_action; running the network at every
// quadrature node took ten times longer still). NUTS wall time on the shared 2-core machine
// under load, with and without the per-condition contraction run side by side (2026-12-06):
// AbsoluteCostQuadraticEffort 670 s vs 1,138 s, Linex 128 s vs 232 s; InvertedGaussian 66 s vs
// 80 s (the latter partly alone). Few-node conditions gain less: the table's network passes
// are then most of a gradient.
TEST_CASE("network posterior vs exact-action reference: AbsoluteCostQuadraticEffort") {
  network_against_exact("AbsoluteCostQuadraticEffort", "abs_effort_two_noise.csv");
}

TEST_CASE("network posterior vs exact-action reference: Linex") {
  network_against_exact("Linex", "linex_two_noise.csv");
}

TEST_CASE("network posterior vs exact-action reference: InvertedGaussian") {
  network_against_exact("InvertedGaussian", "invgauss_two_noise.csv");
}
