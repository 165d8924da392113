// SPDX-License-Identifier: MIT
// The composed likelihood (models/likelihood.hpp, models/likelihood_plan.hpp): every (action
// source × likelihood form) pair, built through the one dispatch the models use, over two rows
// that differ in every parameter, with the running sum in the same node:
//   - its gradient against central finite differences (V: both rows' theta and lapse
//     probabilities; z: the latents), with latents also used elsewhere (added adjoints);
//   - its value against the value-only path (likelihood_values) summed over trials;
//   - independent references: the power-law marginal against power_trial_loglik, every lapse form
//     against the mixture of its base form's per-trial values, the sampled form of a power law
//     against the conditional density written out.
#include "models/likelihood_plan.hpp"

#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/ground_truth.hpp>
#include <bactor/models/hierarchical.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/network.hpp>
#include "tests/engine/gradcheck.hpp"
#include "tests/models/inference_test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

using namespace bactor;
using bactor::testing::gradcheck;
using bactor::testing::GradCheckOptions;
namespace d = bactor::detail;

namespace {

/// theta for a cost: noise levels, prior, and a central value of the cost parameter.
std::vector<double> theta_of(const CostInfo& cost, double shift) {
  // sigma away from the quadrature bands' edges (0.15, 0.20, 0.25), where the rule changes.
  std::vector<double> t{0.17 + shift, 0.25 - 0.5 * shift, 1.8 + shift, 0.12 + 0.2 * shift};
  for (const auto& p : cost.params)
    t.push_back(p.kind == ParamPrior::Kind::uniform ? 0.5 * (p.a + p.b) + shift * (p.b - p.a) * 0.3 : std::exp(p.a) * (1 + shift));
  return t;
}

/// One source's set-up: the cost, a network (or none), exact or not, and its FD tolerances.
struct Case {
  std::string name;
  const CostInfo* cost;
  std::shared_ptr<const ActionNetwork> net;
  bool exact = false;
  GradCheckOptions tol{1e-6, 1e-6, 1e-8};
  std::size_t n0 = 4 * d::simd_lanes() + 3, n1 = 9;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  const CostInfo& quad = find_cost("QuadraticCost");
  const CostInfo& effort = find_cost("QuadraticCostQuadraticEffort");
  const CostInfo& inv = find_cost("InvertedGaussian");
  out.push_back({"closed form, quadratic", &quad, nullptr});
  out.push_back({"closed form, quadratic effort", &effort, nullptr});
  out.push_back({"power-head network", &effort, bactor::testing::random_network(effort, 3, NetworkHead::power)});
  out.push_back({"posterior-head network", &quad, bactor::testing::random_network(quad, 4, NetworkHead::posterior)});
  // The quadrature sources' nodes move with the parameters; the gradient holds them fixed, which
  // equals the integral's gradient to quadrature accuracy (test_marginal.cpp, test_mupost.cpp).
  out.push_back({"softplus-head network", &effort, bactor::testing::random_network(effort, 5, NetworkHead::softplus),
                 false, GradCheckOptions{1e-6, 1e-6, 1e-7}});
  out.push_back({"mupost-head network", &inv,
                 std::make_shared<const ActionNetwork>(bactor::testing::trainer_random_network("InvertedGaussian", 6, "mupost")),
                 false, GradCheckOptions{1e-6, 1e-5, 1e-6}, 7, 5});
  out.push_back({"exact action", &inv, nullptr, true, GradCheckOptions{1e-5, 1e-5, 1e-6}, 6, 4});
  return out;
}

/// Two rows of trials drawn from the case's own actor at each row's theta (the quadrature's
/// integrand is then as in a fit; responses far from every action make it a plateau whose
/// fixed-node gradient departs from the integral's by more than the FD tolerance).
void fill_rows(d::LikelihoodPlan& plan, const std::vector<double>& v, std::size_t n0, std::size_t n1, std::uint64_t seed) {
  Rng rng(seed, 0);
  const std::size_t nt = plan.n_theta();
  plan.trials.resize(2);
  std::size_t z = 0;
  for (std::size_t r = 0; r < 2; ++r) {
    d::RowTrials& t = plan.trials[r];
    const std::span<const double> theta(v.data() + r * nt, nt);
    t.z_begin = z;
    for (std::size_t i = 0; i < (r ? n1 : n0); ++i) {
      const double s = rng.uniform(0.3, 4.0), m = s * std::exp(theta[0] * rng.normal());
      const double a = plan.net                              ? plan.net->action(theta, m)
                       : plan.source == d::SourceKind::exact ? numerical_action(*plan.cost, theta, m)
                                                             : closed_form_action(*plan.cost, theta, m);
      t.x.push_back(std::log(s));
      t.y.push_back(std::log(a) + theta[3] * rng.normal());
    }
    z += t.size();
  }
  plan.finish();
}

std::vector<d::RowRef> rows_of(const d::LikelihoodPlan& plan, std::size_t nt) {
  std::vector<d::RowRef> rows(2);
  for (std::size_t r = 0; r < 2; ++r) {
    rows[r].theta_at = r * nt;
    rows[r].eps_at = 2 * nt + r;
    rows[r].trials = &plan.trials[r];
  }
  return rows;
}

/// The node's value at v (and z), built through add_likelihood.
double node_value(d::LikelihoodPlan& plan, std::vector<d::RowRef> rows, const std::vector<double>& v,
                  const std::vector<double>& z) {
  Tape::Scope scope;
  const Var vv = constant(v);
  const Var zv = plan.sampled ? constant(z) : Var();
  return d::add_likelihood(plan, vv, rows, d::Elem{vv, v.size() - 1}, zv).value();
}

/// Each trial's value from the value path, rows concatenated.
std::vector<double> trial_values(d::LikelihoodPlan& plan, const std::vector<d::RowRef>& rows,
                                 const std::vector<double>& v, const std::vector<double>& z) {
  std::vector<double> out(plan.trials[0].size() + plan.trials[1].size());
  std::vector<double*> ptr{out.data(), out.data() + plan.trials[0].size()};
  d::likelihood_values(plan, v.data(), rows, plan.sampled ? z.data() : nullptr, ptr);
  return out;
}

double mix(double ll, double y, double eps, double log_width) {
  const double a = std::log1p(-eps) + ll + y, b = std::log(eps) - log_width, m = std::max(a, b);
  return m + std::log(std::exp(a - m) + std::exp(b - m)) - y;
}

} // namespace

TEST_CASE("composed likelihood: every source x form against finite differences, the value path and references") {
  const double log_width = std::log(4.5);
  for (const Case& c : cases()) {
    const std::size_t nt = theta_size(*c.cost);
    std::vector<double> v = theta_of(*c.cost, 0.0);
    const auto row1 = theta_of(*c.cost, 0.07);
    v.insert(v.end(), row1.begin(), row1.end());
    v.push_back(0.04);  // row 0's lapse probability
    v.push_back(0.15);  // row 1's
    v.push_back(-3.5);  // acc
    for (bool sampled : {false, true})
      for (bool lapse : {false, true}) {
        const std::string what = c.name + (sampled ? ", sampled" : ", marginal") + (lapse ? ", lapses" : "");
        INFO(what);
        d::LikelihoodPlan plan(*c.cost, c.net, c.exact, sampled ? LatentMode::sampled : LatentMode::marginal, lapse,
                               default_quadrature_nodes);
        plan.log_width = log_width;
        fill_rows(plan, v, c.n0, c.n1, 11);
        const auto rows = rows_of(plan, nt);
        Rng rng(12, 0);
        std::vector<double> z(c.n0 + c.n1);
        for (double& e : z) e = rng.normal();

        // Gradient, with the latents also used by another node (their adjoint is added to).
        auto r = gradcheck(
            [&](std::span<const Var> in) {
              const Var ll = d::add_likelihood(plan, in[0], rows, d::Elem{in[0], v.size() - 1}, sampled ? in[1] : Var());
              return sampled ? ll + dot(in[1], in[1]) : ll;
            },
            sampled ? std::vector<std::vector<double>>{v, z} : std::vector<std::vector<double>>{v}, c.tol);
        CHECK_MESSAGE(r.ok, r.report);
        CHECK(std::isfinite(r.value));

        // Value path.
        const double value = node_value(plan, rows, v, z);
        const auto each = trial_values(plan, rows, v, z);
        double sum = v.back();
        for (std::size_t i = 0; i < each.size(); ++i) sum += each[i] - (sampled ? 0.5 * z[i] * z[i] : 0.0);
        CHECK(value == doctest::Approx(sum).epsilon(1e-10));

        // References.
        const bool power = plan.source == d::SourceKind::closed_form || plan.source == d::SourceKind::power_net;
        if (power && !lapse) {
          double want = v.back();
          for (std::size_t row = 0; row < 2; ++row) {
            const double* th = v.data() + row * nt;
            const PowerHead h = plan.power_head(th);
            const d::RowTrials& t = plan.trials[row];
            for (std::size_t i = 0; i < t.size(); ++i) {
              if (!sampled) {
                want += power_trial_loglik(h, t.x[i], t.y[i], th[0], th[3]);
              } else {
                const double zi = z[t.z_begin + i];
                const double e = t.y[i] - h.log_k - h.w * (t.x[i] + th[0] * zi);
                want += -0.5 * e * e / (th[3] * th[3]) - std::log(th[3]) - 0.5 * std::log(2 * std::numbers::pi) -
                        t.y[i] - 0.5 * zi * zi;
              }
            }
          }
          CHECK(value == doctest::Approx(want).epsilon(1e-12));
        }
        if (lapse) {  // the mixture of the base form's own per-trial values
          d::LikelihoodPlan base(*c.cost, c.net, c.exact, sampled ? LatentMode::sampled : LatentMode::marginal, false,
                                 default_quadrature_nodes);
          fill_rows(base, v, c.n0, c.n1, 11);
          const auto brows = rows_of(base, nt);
          const auto b = trial_values(base, brows, v, z);
          for (std::size_t row = 0, k = 0; row < 2; ++row)
            for (std::size_t i = 0; i < base.trials[row].size(); ++i, ++k)
              CHECK(each[k] == doctest::Approx(mix(b[k], base.trials[row].y[i], v[2 * nt + row], log_width)).epsilon(1e-9));
        }
      }
  }
}

TEST_CASE("composed likelihood: parameters outside the source's domain give -inf and a zero gradient") {
  const CostInfo& inv = find_cost("InvertedGaussian");
  d::LikelihoodPlan plan(inv, nullptr, true, LatentMode::marginal, false, default_quadrature_nodes);
  std::vector<double> v = theta_of(inv, 0.0);
  const auto row1 = theta_of(inv, 0.0);
  v.insert(v.end(), row1.begin(), row1.end());
  v.insert(v.end(), {0.0, 0.0, 1.0});
  fill_rows(plan, v, 3, 2, 4);
  const auto rows0 = rows_of(plan, 5);
  v[5 + 3] = -0.1;  // row 1's sigma_r
  Tape::Scope scope;
  std::vector<double> g(v.size(), 0.0);
  const Var vv = variable(v);
  auto rows = rows0;
  const Var ll = d::add_likelihood(plan, vv, rows, d::Elem{vv, v.size() - 1});
  CHECK(ll.value() == -INFINITY);
  backward(ll);
  for (std::size_t k = 0; k < 2 * 5; ++k) CHECK(std::isfinite(vv.adjoint(k)));
}

TEST_CASE("composed likelihood: every combination is accepted by ActorModel and HierarchicalModel, with a finite gradient") {
  Rng rng(21, 0);
  Dataset data;
  for (int j = 0; j < 3; ++j)
    for (int i = 0; i < 8; ++i) {
      data.s.push_back(rng.uniform(0.4, 3.0));
      data.r.push_back(data.s.back() * std::exp(0.2 * rng.normal()));
      data.cond.push_back(i % 2);
    }
  data.cond_labels = {"1", "2"};
  data.source = "composition test";
  for (const Case& c : cases()) {
    for (bool sampled : {false, true})
      for (bool lapse : {false, true}) {
        const std::string what = c.name + (sampled ? ", sampled" : ", marginal") + (lapse ? ", lapses" : "");
        INFO(what);
        InferenceSpec spec;
        spec.cost = c.cost;
        spec.network = c.net;
        spec.exact_action = c.exact;
        spec.latent = sampled ? LatentMode::sampled : LatentMode::marginal;
        spec.lapse = lapse;
        ActorModel m(data, spec);
        std::vector<double> q(m.dim());
        for (std::size_t i = 0; i < q.size(); ++i) q[i] = 0.2 * rng.normal() - (i < m.n_free() ? 1.0 : 0.0);
        CHECK(bactor::testing::gradient_error(m, q) < 1e-4);
        std::vector<double> ll(data.size());
        m.trial_loglik(q, ll);
        for (double l : ll) CHECK(std::isfinite(l));
      }
    // Hierarchical fits take every source: one condition per subject, and a blocked cohort
    // (each subject in both conditions, mu_0 and sigma pooled per condition).
    for (bool blocked : {false, true}) {
      Dataset cohort = data;
      for (std::size_t i = 0; i < cohort.size(); ++i) cohort.subject.push_back(std::string(1, char('a' + i / 8)));
      if (!blocked) {
        cohort.cond.assign(cohort.size(), 0);
        cohort.cond_labels = {"1"};
      }
      HierarchicalSpec hs;
      hs.cost = c.cost;
      hs.network = c.net;
      hs.exact_action = c.exact;
      hs.per_condition = {"mu_0", "sigma"};
      HierarchicalModel h(cohort, hs);
      std::vector<double> q(h.dim());
      // Near the population priors' centres: further out the random networks' actions (and so the
      // log-density, 1e13 at 0.3 sds) are far beyond what central differences resolve.
      for (std::size_t i = 0; i < q.size(); ++i) q[i] = 0.05 * rng.normal();
      const std::string what = c.name + (blocked ? ", hierarchical, two conditions" : ", hierarchical");
      INFO(what);
      CHECK(bactor::testing::gradient_error(h, q) < 1e-4);
      std::vector<double> ll(cohort.size());
      h.trial_loglik(q, ll);
      for (double l : ll) CHECK(std::isfinite(l));
    }
  }
}
