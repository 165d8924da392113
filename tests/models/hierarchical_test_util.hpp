// SPDX-License-Identifier: MIT
// The hierarchical tests' check that a cohort model's per-trial log_lik is the single-subject
// model's (ActorModel on one subject's trials at that subject's theta, data units; any response
// and perception model, with or without lapses), the small cohort with a response model (and
// lapses) it runs on, and the coverage count of the recovery tests.
#pragma once

#include <bactor/models/costs.hpp>
#include <bactor/models/hierarchical.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include "tests/models/inference_test_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bactor::testing {

/// 3 subjects x `trials` trials (stimuli 0.5-3) of QuadraticCost under `motor`: mu_0 1.5 (spread
/// 0.1), sigma_0 0.2, sigma 0.15, sigma_r 0.1, sigma_a 0.12, offset 0.1 (spread 0.3) where the
/// model has them; with `lapse` > 0 each subject's lapse probability around it (spread 0.5).
inline Cohort small_motor_cohort(const MotorSpec& motor, double lapse = 0, std::size_t trials = 25) {
  CohortSpec cs;
  cs.base.cost = &find_cost("QuadraticCost");
  cs.base.motor = motor;
  cs.base.values = {{"mu_0", 1.5}, {"sigma_0", 0.2}, {"sigma", 0.15}};
  if (motor.has_sigma_r()) cs.base.values["sigma_r"] = 0.1;
  if (motor.has_sigma_a()) cs.base.values["sigma_a"] = 0.12;
  if (motor.offset) cs.base.values["offset"] = 0.1;
  cs.base.lapse = lapse;
  cs.base.trials = trials;
  cs.base.s_lo = 0.5;
  cs.base.s_hi = 3.0;
  cs.base.seed = 5;
  cs.subjects = 3;
  cs.spread = {{"mu_0", 0.1}};
  if (motor.offset) cs.spread["offset"] = 0.3;
  if (lapse > 0) cs.spread["lapse"] = 0.5;
  return simulate_cohort(cs);
}

/// Every trial's log_lik.i of `model` at q against ActorModel on its subject's trials alone with
/// the subject's theta (and lapse probability and contaminant range, with spec.lapse), in the
/// data's units (S = 1), to 1e-9 relative: the same density by the single-subject path.
inline void check_trials_against_single_fits(HierarchicalModel& model, const Dataset& data, const HierarchicalSpec& spec,
                                             const std::vector<double>& q) {
  const auto names = model.output_names();
  const auto out = outputs_at(model, q);
  const auto theta = model.subject_theta(q);
  const auto tnames = theta_names(*spec.cost, spec.motor);
  const std::size_t nt = tnames.size() + (spec.lapse ? 1 : 0);  // theta, then the lapse probability
  const std::size_t first_ll = names.size() - data.size();
  REQUIRE(names[first_ll] == "log_lik.1");
  REQUIRE(theta.size() == model.subject_ids().size() * nt);
  for (std::size_t j = 0; j < model.subject_ids().size(); ++j) {
    CAPTURE(j);
    Dataset one;
    one.source = data.source;
    one.cond_labels = {"1"};
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < data.size(); ++i)
      if (data.subject[i] == model.subject_ids()[j]) {
        one.s.push_back(data.s[i]);
        one.r.push_back(data.r[i]);
        one.cond.push_back(0);
        one.line.push_back(data.line[i]);
        rows.push_back(i);
      }
    InferenceSpec is;
    is.cost = spec.cost;
    is.motor = spec.motor;
    is.perception = spec.perception;
    is.scale = 1;
    is.quadrature_nodes = spec.quadrature_nodes;
    is.exact_action = spec.exact_action;
    for (std::size_t t = 0; t < tnames.size(); ++t)
      if (tnames[t] != "mu_0" && (tnames[t] != "sigma_r" || spec.motor.has_sigma_r())) is.fixed[tnames[t]] = theta[j * nt + t];
    if (spec.lapse) {
      is.lapse = true;
      is.lapse_lo = spec.lapse_lo;
      is.lapse_hi = spec.lapse_hi;
      const auto range = lapse_range(one, is);
      CHECK(model.lapse_ranges()[j].first == range.first);
      CHECK(model.lapse_ranges()[j].second == range.second);
      const double lambda = theta[j * nt + nt - 1];
      CHECK(lambda > 0);
      CHECK(lambda < 1);
      is.fixed["lapse"] = lambda;
    }
    ActorModel single(one, is);
    const auto q1 = single.unconstrain({{"mu_0", theta[j * nt + theta_index::mu_0]}});
    const auto o1 = outputs_at(single, q1);
    const auto n1 = single.output_names();
    const std::size_t ll1 = std::size_t(std::find(n1.begin(), n1.end(), "log_lik.1") - n1.begin());
    REQUIRE(ll1 + rows.size() == n1.size());
    for (std::size_t k = 0; k < rows.size(); ++k) CHECK(out[first_ll + rows[k]] == doctest::Approx(o1[ll1 + k]).epsilon(1e-9));
  }
}

/// The recovery tests' tally over one or more fits: how many population intervals cover their
/// truths, the divergent draws, and the largest R-hat of the columns checked.
struct PopulationRecovery {
  int covered = 0, total = 0;
  std::size_t divergent = 0, draws = 0;
  double max_rhat = 0;
  /// Adds fit `tag`'s divergences and, per (column, truth), whether its 90% interval covers the truth.
  void add(const Summary& s, const std::map<std::string, double>& truths, std::uint64_t tag) {
    divergent += s.divergences;
    draws += s.draws;
    for (const auto& [col, truth] : truths) {
      const ParamSummary* p = nullptr;
      for (const auto& ps : s.params)
        if (ps.name == col) p = &ps;
      REQUIRE(p != nullptr);
      const bool in = p->q5 <= truth && truth <= p->q95;
      MESSAGE(tag << " " << col << " truth " << truth << " mean " << p->mean << " 90% [" << p->q5 << ", " << p->q95 << "]"
                  << std::string(in ? "" : "  NOT COVERED") << " ess_bulk " << p->ess_bulk << " r_hat " << p->rhat);
      covered += in;
      ++total;
      max_rhat = std::max(max_rhat, p->rhat);
    }
  }
};

} // namespace bactor::testing
