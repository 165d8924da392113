// SPDX-License-Identifier: MIT
// Library errors speak of the library: bad arguments throw bactor::ArgumentError naming the
// settings field, never a command-line option (the CLI maps fields onto its flags).
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include <bactor/bactor.hpp>

using namespace bactor;

namespace {

/// Runs f, which must throw ArgumentError for `argument` with a message free of "--".
template <class F>
void check_argument_error(F&& f, const std::string& argument) {
  CAPTURE(argument);
  bool thrown = false;
  try {
    f();
  } catch (const ArgumentError& e) {
    thrown = true;
    CHECK(e.argument() == argument);
    CHECK(std::string(e.what()) == argument + ": " + e.reason());
    CHECK(std::string(e.what()).find("--") == std::string::npos);
  }
  CHECK(thrown);
}

Dataset tiny_data() {
  SimulationSpec sim;
  sim.cost = &find_cost("QuadraticCost");
  sim.values = {{"mu_0", 1.5}, {"sigma_0", 0.15}, {"sigma", 0.2}, {"sigma_r", 0.1}};
  sim.lapse = 1.0;
  check_argument_error([&] { simulate(sim); }, "lapse");
  sim.lapse = 0;
  sim.trials = 5;
  return simulate(sim);
}

} // namespace

TEST_CASE("library argument errors name the library's argument, not a CLI flag") {
  check_argument_error([] { parse_latent_mode("foo"); }, "latent");

  const Dataset d = tiny_data();
  // The writers rename FILE.tmp onto FILE: never onto a device or /dev/stdout's link.
  CHECK_THROWS_WITH_AS(write_dataset("/dev/null", d), doctest::Contains("/dev/null: is not a regular file"), std::invalid_argument);
  CHECK_THROWS_AS(write_dataset("/dev/stdout", d), std::invalid_argument);
  InferenceSpec spec;
  spec.cost = &find_cost("QuadraticCost");
  spec.fixed["sigma"] = -0.2;
  check_argument_error([&] { ActorModel m(d, spec); }, "fixed");
  spec.fixed = {{"nope", 1.0}};
  check_argument_error([&] { ActorModel m(d, spec); }, "fixed");
  spec.fixed.clear();
  spec.priors["nope"] = parse_prior("uniform:1:2");
  check_argument_error([&] { ActorModel m(d, spec); }, "priors");
  spec.priors.clear();
  spec.per_condition = {"mu_0", "nope"};
  check_argument_error([&] { ActorModel m(d, spec); }, "per_condition");
  spec.per_condition = {"sigma"};
  spec.lapse = true;  // lapses: a range that leaves out a response
  spec.lapse_lo = 1e6, spec.lapse_hi = 1e7;
  check_argument_error([&] { ActorModel m(d, spec); }, "lapse_range");
  spec.lapse = false;
  check_argument_error([&] { ActorModel m(d, spec); }, "lapse_range");  // a range without lapses
  spec.lapse_lo = spec.lapse_hi = 0;

  SimulationSpec sim;
  sim.cost = &find_cost("QuadraticCost");
  sim.values = {{"mu_0", 1.5}, {"sigma_0", 0.15}, {"sigma", 0.2}, {"sigma_r", 0.1}};
  sim.lapse = 1.0;
  check_argument_error([&] { simulate(sim); }, "lapse");
  sim.lapse = 0;
  sim.condition_values = {{"mu_0", {1, 2}}, {"sigma_0", {0.1, 0.2, 0.3}}};
  check_argument_error([&] { simulate(sim); }, "conditions");
  sim.condition_values.clear();
  sim.trials = 0;
  check_argument_error([&] { simulate(sim); }, "trials");
  sim.trials = 5;
  sim.s_lo = 3;
  sim.s_hi = 1;
  check_argument_error([&] { simulate(sim); }, "stimuli");
  sim.s_lo = 0.5, sim.s_hi = INFINITY;
  check_argument_error([&] { simulate(sim); }, "stimuli");
  // Gaussian perception: each end finite but the width overflows.
  SimulationSpec lin = sim;
  lin.perception = PerceptionModel::gaussian;
  lin.motor = MotorSpec{MotorModel::gaussian, false};
  lin.values = {{"mu_0", 1.0}, {"sigma_0", 0.2}, {"sigma", 0.1}, {"sigma_a", 0.1}};
  lin.s_lo = -1e308, lin.s_hi = 1e308;
  check_argument_error([&] { simulate(lin); }, "stimuli");
  // Parameters that overflow the responses: refused, never written as inf.
  lin.s_lo = -1, lin.s_hi = 1;
  lin.values["sigma"] = lin.values["sigma_a"] = 1e308;
  lin.trials = 50;
  CHECK_THROWS_WITH_AS(simulate(lin), doctest::Contains("non-finite"), std::runtime_error);

  TrainSettings ts;
  ts.cost = "Linex";
  ts.head = "posterior";
  check_argument_error([&] { Trainer t(ts); }, "head");
  ts.head = "auto";
  ts.optimizer = "sgd";
  check_argument_error([&] { Trainer t(ts); }, "optimizer");
  ts.optimizer = "adam";
  ts.hidden = {};
  check_argument_error([&] { Trainer t(ts); }, "hidden");
}
