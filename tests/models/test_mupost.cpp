// SPDX-License-Identifier: MIT
// The mupost head, a = exp(mu_post + g(sigma_post, sigma_r, mu_post - log kappa)), for the costs
// that are not homogeneous (docs/network.md): its features and length scales, its derivatives
// (ActionNetwork::backward, d log a / d log m) against finite differences, the trainer's float
// copy against the double network, the quadrature marginal's error table against brute force
// with short-trained networks, the likelihood node against finite differences, and the
// accuracy gain over the softplus head at a small training budget.
#include "models/likelihood_plan.hpp"
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <numbers>
#include <sstream>
#include <vector>

#include <bactor/engine/rng.hpp>
#include <bactor/engine/tape.hpp>
#include <bactor/models/actor.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/data.hpp>
#include <bactor/models/ground_truth.hpp>
#include <bactor/engine/errors.hpp>
#include <bactor/models/hierarchical.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/marginal.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/train.hpp>
#include "models/inference_nodes.hpp"
#include "tests/engine/gradcheck.hpp"
#include "tests/models/inference_test_util.hpp"

using namespace bactor;
namespace d = bactor::detail;

namespace {

const char* const scaled_costs[] = {"AbsoluteCostQuadraticEffort", "Linex", "InvertedGaussian"};

/// theta drawn from the training prior (the cost parameters from their priors).
std::vector<double> draw_theta(const CostInfo& cost, Rng& rng, double& m) {
  std::vector<double> th(theta_size(cost));
  sample_training_point(cost, TrainingPrior{}, rng, th, m);
  return th;
}

/// The quadrature rules inference uses for a mupost network of `cost` (by sigma band).
GaussHermiteSet mupost_rules(const CostInfo& cost) {
  return GaussHermiteSet(default_quadrature_nodes,
                         cost.action_kink ? mupost_kink_quadrature_node_counts : mupost_quadrature_node_counts);
}

/// A network trained briefly (realistic shapes of g, in a second or two).
ActionNetwork short_trained(const std::string& cost, std::size_t steps, const char* head = "mupost",
                            std::size_t eval_points = 8) {
  TrainSettings s;
  s.cost = cost;
  s.head = head;
  s.steps = steps;
  s.eval_points = eval_points;
  s.threads = 2;
  s.seed = 11;
  s.progress_seconds = 1e9;
  return train(s).network;
}

} // namespace

TEST_CASE("mupost head: length scales, features, formula, file round trip") {
  CHECK(parse_network_head("mupost") == NetworkHead::mupost);
  CHECK(std::string(to_string(NetworkHead::mupost)) == "mupost");
  CHECK(measurement_head(NetworkHead::mupost));
  CHECK_FALSE(power_law_head(NetworkHead::mupost));
  // The length scale: l(kappa(p) s, kappa(p) r; p) = f(p) L(s, r) with one L for every cost
  // parameter p, so the ratio of two (s, r) pairs scaled by kappa(p) does not depend on p.
  for (const char* name : scaled_costs) {
    const std::string cost_name = name;
    CAPTURE(cost_name);
    const CostInfo& cost = find_cost(name);
    REQUIRE(static_cast<bool>(cost.log_scale));
    double ratio0 = NAN;
    for (double p : {0.55, 0.7, 0.93, 1.7, 3.1}) {
      if (cost.name == "AbsoluteCostQuadraticEffort" && p >= 1.0) continue;
      double dk;
      const double k = std::exp(cost.log_scale(&p, &dk));
      const double ratio = cost.loss(1.3 * k, 0.8 * k, &p) / cost.loss(0.6 * k, 1.1 * k, &p);
      if (std::isnan(ratio0)) ratio0 = ratio;
      CHECK(ratio == doctest::Approx(ratio0).epsilon(1e-9));
      // d log kappa / dp against central differences
      const double h = 1e-6 * p;
      double pp = p + h, pm = p - h, dd;
      CHECK(dk == doctest::Approx((cost.log_scale(&pp, &dd) - cost.log_scale(&pm, &dd)) / (2 * h)).epsilon(1e-7));
    }
  }
  // Features: (sigma_post, sigma_r, mu_post - log kappa) with a length scale, else theta's
  // cost parameters and mu_post.
  const CostInfo& linex = find_cost("Linex");
  const std::vector<double> th{0.2, 0.3, 1.7, 0.15, 0.8};
  const double m = 2.4;
  const auto post = actor_posterior(m, th[0], th[1], th[2]);
  std::vector<double> f(3);
  head_features(NetworkHead::mupost, th, f, m, &linex);
  CHECK(f[0] == doctest::Approx(post.sigma_post).epsilon(1e-14));
  CHECK(f[1] == th[3]);
  CHECK(f[2] == doctest::Approx(post.mu_post + std::log(0.8)).epsilon(1e-14));
  CHECK(head_input_count(NetworkHead::mupost, 5, &linex) == 3);
  CHECK(head_input_count(NetworkHead::mupost, 5) == 4);
  CHECK_THROWS_AS(head_features(NetworkHead::mupost, th, f, -1.0, &linex), std::invalid_argument);
  // forward() without m is refused; with m, log a = mu_post + the MLP's x0; save -> load.
  const ActionNetwork net = bactor::testing::trainer_random_network("Linex", 4, "mupost");
  CHECK(net.n_features() == 3);
  ActionNetwork::Workspace ws;
  double x[3];
  CHECK_THROWS_AS(net.forward(th, std::span<double, 3>(x), ws), std::invalid_argument);
  const std::string path = (std::filesystem::temp_directory_path() / "bactor_mupost.safetensors").string();
  net.save(path);
  const ActionNetwork back = ActionNetwork::load(path);
  std::remove(path.c_str());
  CHECK(back.head() == NetworkHead::mupost);
  CHECK(back.action(th, m) == net.action(th, m));
  // Trained on the product rule (every cost under log-normal motor noise): the log of the
  // expected cost, weight 1 (the curvature_scale weight serves draws only).
  CHECK(back.metadata().at("loss_weight") == "1 (of log E[cost])");
}

TEST_CASE("mupost head: backward (dtheta and d log a / d log m) vs central finite differences") {
  // The three scaled costs and one without a length scale (the cost parameters and mu_post as
  // features), every layer active (weights ~ N(0, 0.5^2)).
  for (const char* name : {"AbsoluteCostQuadraticEffort", "Linex", "InvertedGaussian", "QuadraticCostQuadraticEffort"}) {
    const std::string cost_name = name;
    CAPTURE(cost_name);
    const CostInfo& cost = find_cost(name);
    const ActionNetwork net = bactor::testing::trainer_random_network(name, 5, "mupost");
    CHECK(net.n_features() == (cost.log_scale ? 3u : theta_size(cost) - 1));
    Rng rng(17, 1);
    for (int rep = 0; rep < 6; ++rep) {
      double m;
      std::vector<double> th = draw_theta(cost, rng, m);
      const double x0 = bactor::testing::check_mupost_backward(net, th, m, false);
      // The action is exp(log a) and log a - mu_post is the MLP's x0.
      const auto post = actor_posterior(m, th[0], th[1], th[2]);
      CHECK(net.action(th, m) == doctest::Approx(std::exp(x0)).epsilon(1e-14));
      CHECK(std::isfinite(x0 - post.mu_post));
    }
  }
}

TEST_CASE("mupost head: the trainer's float network and the double ActionNetwork agree") {
  for (const char* name : scaled_costs) {
    const std::string cost_name = name;
    CAPTURE(cost_name);
    for (const auto& [af, ad] : bactor::testing::float_double_actions(name, "mupost", 9, 64))
      CHECK(ad == doctest::Approx(af).epsilon(1e-4));  // float vs double
  }
}

namespace {
/// Brute force for one trial with a mupost network: the trapezoid rule over u on a window of
/// +-20 Laplace sds around the mode (the adaptive rule's centre and scale, found with 60
/// Newton steps), 2,401 points, widened until the integrand at the window's ends is below
/// 1e-25 of its peak.
double brute_mupost(const d::MupostHead& h, double x, double y, double sigma, double sigma_r) {
  // Centre and scale from the same Newton iteration (a one-node rule gives them back).
  double centre = x, width = 20 * sigma;
  {
    double d = 0, dla, dp[d::MupostHead::n_params];
    const double is2 = 1 / (sigma * sigma), ir2 = 1 / (sigma_r * sigma_r);
    for (int it = 0; it < 60; ++it) {
      const double la = h.eval(x + d, dla, dp);
      const double grad = -d * is2 + (y - la) * dla * ir2, curv = is2 + dla * dla * ir2;
      double step = grad / curv;
      step = std::clamp(step, -3 * sigma, 3 * sigma);
      d += step;
      width = 20 / std::sqrt(curv);
    }
    centre = x + d;
  }
  for (int widen = 0;; ++widen) {
    const int n = 2401;
    const double lo = centre - width, du = 2 * width / (n - 1);
    std::vector<double> f(n);
    double mx = -INFINITY, dla, dp[d::MupostHead::n_params];
    for (int j = 0; j < n; ++j) {
      const double u = lo + j * du, la = h.eval(u, dla, dp);
      f[j] = -0.5 * (u - x) * (u - x) / (sigma * sigma) - 0.5 * (y - la) * (y - la) / (sigma_r * sigma_r);
      mx = std::max(mx, f[j]);
    }
    if ((f.front() - mx > -57.5 && f.back() - mx > -57.5) && widen < 3) {  // e^-57.5 = 1e-25
      width *= 2;
      continue;
    }
    double s = 0;
    for (int j = 0; j < n; ++j) s += (j == 0 || j == n - 1 ? 0.5 : 1.0) * std::exp(f[j] - mx);
    return mx + std::log(s * du) - std::log(2 * std::numbers::pi * sigma * sigma_r) - y;
  }
}

/// The mupost analogue of test_marginal.cpp's error table: per sigma band of the schedule,
/// `cases` trials with theta from the inference priors' range (sigma in the band, sigma_0,
/// sigma_r in 0.01..0.6, mu_0 in 0.5..4, the cost parameter from its training prior), s ~ U(0.1,
/// 5), responses from the network actor and every other one 2 predictive sd off it; worst
/// relative log-likelihood error of the scheduled rule against brute force.
double mupost_error_table(const ActionNetwork& net, int cases, std::uint64_t seed, std::string& table) {
  const CostInfo& cost = find_cost(net.cost_name());
  std::vector<double> bands{0.0};
  for (double u : quadrature_band_upper) bands.push_back(u);
  const int* counts = cost.action_kink ? mupost_kink_quadrature_node_counts : mupost_quadrature_node_counts;
  const GaussHermiteSet scheduled(default_quadrature_nodes, counts);
  ActionNetwork::Workspace ws;
  std::ostringstream out;
  double worst_all = 0;
  for (std::size_t b = 0; b + 1 < bands.size(); ++b) {
    Rng rng(seed + b, 7);
    double worst = 0;
    for (int rep = 0; rep < cases; ++rep) {
      const double sigma = rep == 0 ? bands[b + 1] : rng.uniform(std::max(bands[b], 0.01), bands[b + 1]);
      std::vector<double> th{sigma, rng.uniform(0.01, 0.6), rng.uniform(0.5, 4.0), rng.uniform(0.01, 0.6)};
      for (const auto& p : cost.params) th.push_back(sample_prior(p, rng));
      const d::MupostHead h{&net, th.data(), &ws};
      const double x = std::log(rng.uniform(0.1, 5.0));
      double dla, dp[d::MupostHead::n_params];
      double y = h.eval(x + sigma * rng.normal(), dla, dp) + th[3] * rng.normal();
      if (rep % 2 == 1) y += 2 * std::sqrt(th[3] * th[3] + dla * dla * sigma * sigma) * (rng.uniform(0, 1) < 0.5 ? -1 : 1);
      TrialGrad<d::MupostHead> g;
      const double q = gh_trial_loglik(h, x, y, sigma, th[3], scheduled.for_sigma(sigma), g);
      const double ref = brute_mupost(h, x, y, sigma, th[3]);
      const double err = std::abs(q - ref) / std::max(1.0, std::abs(ref));
      worst = std::max(worst, err);
    }
    out << std::fixed << std::setprecision(2) << bands[b] << "-" << bands[b + 1] << " ("
        << quadrature_nodes_for(bands[b + 1], counts)
        << " nodes): " << std::scientific << std::setprecision(1) << worst << "\n";
    worst_all = std::max(worst_all, worst);
  }
  table = out.str();
  return worst_all;
}
} // namespace

TEST_CASE("mupost marginal: error table of the scheduled rules vs brute force, relative error < 1e-6") {
  // Short-trained networks (1,500 steps): the shape of g, not its accuracy, matters here.
  for (const char* name : scaled_costs) {
    const std::string cost_name = name;
    CAPTURE(cost_name);
    const ActionNetwork net = short_trained(name, 1500);
    std::string table;
    const double worst = mupost_error_table(net, 60, 40, table);
    MESSAGE(std::string(name) << ": worst relative log-likelihood error by sigma band (60 cases each):\n" << table);
    CHECK(worst < 1e-6);
  }
}

TEST_CASE("mupost marginal: error table with 400 cases per band, 20k-step networks (slow: run with --no-skip)" *
          doctest::skip()) {
  // The samples the mupost schedules were read from (models/marginal.hpp).
  for (const char* name : scaled_costs) {
    const ActionNetwork net = short_trained(name, 20000);
    for (std::uint64_t seed : {500, 900}) {
      std::string table;
      const double worst = mupost_error_table(net, 400, seed, table);
      MESSAGE(std::string(name) << " seed " << seed << ":\n" << table);
      CHECK(worst < 1e-6);
    }
  }
}

namespace {
/// A head linear in its parameters, log a(u) = Σ_k p_k sin(a_k u + k), for the table's own tests.
struct SineHead {
  static constexpr int n_params = 8;
  double p[n_params] = {0.3, -0.2, 0.5, 0.1, -0.4, 0.25, 0.15, -0.1};
  struct Adjoint {
    double d[n_params] = {};
  };
  static double freq(int k) { return 0.35 + 0.2 * k; }
  double eval(double u, double& dla_du, double* dp) const {
    double la = 0;
    dla_du = 0;
    for (int k = 0; k < n_params; ++k) {
      dp[k] = std::sin(freq(k) * u + k);
      la += p[k] * dp[k];
      dla_du += p[k] * freq(k) * std::cos(freq(k) * u + k);
    }
    return la;
  }
  static void add(Adjoint& a, const double* dp, double g) {
    for (int k = 0; k < n_params; ++k) a.d[k] += g * dp[k];
  }
};
} // namespace

TEST_CASE("head table: the deferred gradient (node_value, add_node, flush) equals the sum of eval()'s d/dtheta") {
  // What the quadrature computes per node through the deferred hooks against the same table's
  // eval(): values and Σ_j w_j dp_j over nodes in several pieces and outside the range (direct
  // evaluations), for 3 and 7 interpolated parameters (coefficient strides 8 and 16) and point
  // counts that are and are not multiples of 4.
  static_assert(DeferredHead<d::HeadTable<SineHead>>);
  static_assert(!DeferredHead<SineHead>);
  for (std::size_t n_used : {3u, 7u})
    for (int points : {12, 16, 21}) {
      CAPTURE(n_used);
      CAPTURE(points);
      d::HeadTableOptions opt;
      opt.points = points;
      opt.max_piece = 1.5;
      const d::HeadTable<SineHead> table(SineHead{}, n_used, -2.0, 3.0, opt);
      REQUIRE(table.pieces() >= 4);
      Rng rng(5, std::uint64_t(points));
      SineHead::Adjoint ref, got;
      double worst_value = 0;
      std::vector<d::HeadTable<SineHead>::NodeEval> nodes(60);
      std::vector<double> w(60);
      for (std::size_t j = 0; j < nodes.size(); ++j) {
        const double u = rng.uniform(-2.4, 3.4);  // about 1 in 7 outside the table
        w[j] = rng.normal();
        double dla, dp[SineHead::n_params];
        const double la = table.eval(u, dla, dp);
        SineHead::add(ref, dp, w[j]);
        worst_value = std::max(worst_value, std::abs(table.node_value(u, nodes[j]) - la));
        double dla2;
        worst_value = std::max(worst_value, std::abs(table.value_du(u, dla2) - la) + std::abs(dla2 - dla));
      }
      for (std::size_t j = 0; j < nodes.size(); ++j) table.add_node(got, nodes[j], w[j]);
      table.flush(got);
      SineHead::Adjoint again = got;
      table.flush(again);  // the pending sums were cleared
      CHECK(worst_value < 1e-13);
      for (int k = 0; k < SineHead::n_params; ++k) {
        CHECK(got.d[k] == doctest::Approx(ref.d[k]).epsilon(1e-12).scale(1.0));
        CHECK(again.d[k] == got.d[k]);
        if (k >= int(n_used)) CHECK(got.d[k] == ref.d[k]);  // 0 in the table; only direct nodes
      }
      CHECK(table.direct_evaluations() > 0);
    }
}

TEST_CASE("mupost table: the tabulated head gives the network head's log-likelihood and gradient") {
  // The quadrature over HeadTable<MupostHead> (what inference runs) against the same quadrature
  // over the network itself, trial by trial, for trained networks of the three costs at theta
  // drawn from the training prior and responses from the model.
  for (const char* name : scaled_costs) {
    const std::string cost_name = name;
    CAPTURE(cost_name);
    const CostInfo& cost = find_cost(name);
    const GaussHermiteSet rules = mupost_rules(cost);
    const ActionNetwork net = short_trained(name, 3000);
    ActionNetwork::Workspace ws;
    Rng rng(21, 4);
    double worst_ll = 0, worst_grad = 0;
    int table_evals = 0, direct_evals = 0, trials = 0;
    for (int rep = 0; rep < 40; ++rep) {
      double m;
      const std::vector<double> th = draw_theta(cost, rng, m);
      const double sig = th[0], sr = th[3];
      const d::MupostHead h{&net, th.data(), &ws};
      std::vector<double> xs, ys;
      for (int i = 0; i < 30; ++i) {
        const double s = rng.uniform(0.2, 6.0);
        double dla, dp[d::MupostHead::n_params];
        const double u = std::log(s) + sig * rng.normal();
        xs.push_back(std::log(s));
        ys.push_back(h.eval(u, dla, dp) + sr * rng.normal() + (i == 0 ? 3 * sr : 0.0));  // one outlier
      }
      const GaussHermite& rule = rules.for_sigma(sig);
      const auto table = d::mupost_table(h, xs, sig, rule);
      TrialGrad<d::MupostHead> gd;
      TrialGrad<d::HeadTable<d::MupostHead>> gt;
      double sum_d = 0, sum_t = 0;
      for (std::size_t i = 0; i < xs.size(); ++i) {
        const double ld = gh_trial_loglik(h, xs[i], ys[i], sig, sr, rule, gd);
        const double lt = gh_trial_loglik(table, xs[i], ys[i], sig, sr, rule, gt);
        worst_ll = std::max(worst_ll, std::abs(lt - ld) / std::max(1.0, std::abs(ld)));
        sum_d += ld;
        sum_t += lt;
      }
      double gnorm = std::hypot(gd.sigma, gd.sigma_r), gdiff = std::hypot(gt.sigma - gd.sigma, gt.sigma_r - gd.sigma_r);
      for (int k = 0; k < d::MupostHead::n_params; ++k) {
        gnorm = std::hypot(gnorm, gd.head.d[k]);
        gdiff = std::hypot(gdiff, gt.head.d[k] - gd.head.d[k]);
      }
      worst_grad = std::max(worst_grad, gdiff / std::max(1.0, gnorm));
      table_evals += table.table_evaluations();
      direct_evals += table.direct_evaluations();
      trials += int(xs.size());
    }
    MESSAGE(cost_name << ": worst relative log-likelihood difference " << worst_ll << ", gradient " << worst_grad
                      << "; network passes per condition " << double(table_evals) / 40 << " (table) + "
                      << double(direct_evals) / 40 << " (nodes outside it), for " << trials / 40 << " trials");
    CHECK(worst_ll < 1e-7);
    CHECK(worst_grad < 1e-6);
    // A sigma of many units (the sampler's warm-up reaches such values) is not tabulated (it
    // would take ~1e5 pieces): the head is evaluated directly, value for value.
    double m;
    std::vector<double> th = draw_theta(cost, rng, m);
    th[0] = 40.0;
    const d::MupostHead h{&net, th.data(), &ws};
    const std::vector<double> xs{0.1, 1.2};
    const auto table = d::mupost_table(h, xs, th[0], rules.for_sigma(th[0]));
    CHECK(table.pieces() == 0);
    TrialGrad<d::MupostHead> gd;
    TrialGrad<d::HeadTable<d::MupostHead>> gt;
    CHECK(gh_trial_loglik(table, 0.1, 0.3, th[0], th[3], rules.for_sigma(th[0]), gt) ==
          gh_trial_loglik(h, 0.1, 0.3, th[0], th[3], rules.for_sigma(th[0]), gd));
    CHECK(table.direct_evaluations() > 0);
  }
}

TEST_CASE("mupost marginal node vs finite differences; the inference log-density's gradient") {
  using bactor::testing::gradcheck;
  for (const char* name : scaled_costs) {
    const std::string cost_name = name;
    CAPTURE(cost_name);
    const CostInfo& cost = find_cost(name);
    const GaussHermiteSet rules = mupost_rules(cost);
    const ActionNetwork net = bactor::testing::trainer_random_network(name, 6, "mupost");
    // Trials from the network actor at theta; the node reads theta at offset 1 of its operand.
    std::vector<double> v{7.0, 0.21, 0.17, 1.6, 0.12};
    for (const auto& p : cost.params) v.push_back(std::exp(p.a));  // the prior's location (log-normal) or lower end
    if (cost.params[0].kind == ParamPrior::Kind::uniform) v.back() = 0.5 * (cost.params[0].a + cost.params[0].b);
    Rng rng(3, 1);
    std::vector<double> xs, ys;
    for (int i = 0; i < 9; ++i) {
      const double s = rng.uniform(0.3, 4.0);
      const double m = s * std::exp(v[1] * rng.normal());
      xs.push_back(std::log(s));
      ys.push_back(std::log(net.action({v.data() + 1, v.size() - 1}, m)) + v[4] * rng.normal());
    }
    // The composed likelihood (models/likelihood_plan.hpp) with the mupost source, one row
    // reading theta at offset 1 of its operand, the running sum in another node.
    const auto shared = std::make_shared<const ActionNetwork>(net);
    d::LikelihoodPlan plan(cost, shared, false, LatentMode::marginal, false, default_quadrature_nodes);
    plan.trials.resize(1);
    plan.trials[0].x = xs;
    plan.trials[0].y = ys;
    plan.finish();
    std::vector<d::RowRef> rows(1);
    rows[0].theta_at = 1;
    rows[0].trials = &plan.trials[0];
    const std::vector<double> acc{-2.0};
    // The nodes move with the parameters; the gradient holds them fixed, which equals the
    // integral's gradient to quadrature accuracy (error table: 1e-6).
    auto r = gradcheck(
        [&](std::span<const Var> in) {
          return d::add_likelihood(plan, in[0], rows, d::Elem{in[1], 0});
        },
        {v, acc}, bactor::testing::GradCheckOptions{1e-6, 1e-5, 1e-6});
    CHECK_MESSAGE(r.ok, r.report);
  }
  // The whole model (priors, transforms, two conditions with their own sigma) with a mupost network.
  const auto net = std::make_shared<const ActionNetwork>(bactor::testing::trainer_random_network("InvertedGaussian", 8, "mupost"));
  Dataset data;
  Rng rng(5, 2);
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < 12; ++i) {
      data.s.push_back(rng.uniform(0.3, 4.0));
      data.r.push_back(data.s.back() * std::exp(0.2 * rng.normal()));
      data.cond.push_back(c);
    }
  data.cond_labels = {"1", "2"};
  data.source = "mupost test";
  InferenceSpec spec;
  spec.cost = &find_cost("InvertedGaussian");
  spec.network = net;
  ActorModel model(data, spec);
  std::vector<double> q(model.dim());
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = 0.3 * rng.normal() - (i % 2 ? 1.5 : 0.0);
  CHECK(bactor::testing::gradient_error(model, q) < 1e-5);
  // Sampled latents, lapses and hierarchical fits take the mupost head too (the composed
  // likelihood; each combination is FD-checked in test_likelihood.cpp).
  spec.latent = LatentMode::sampled;
  CHECK_NOTHROW(ActorModel(data, spec));
  spec.latent = LatentMode::marginal;
  spec.lapse = true;
  ActorModel with_lapses(data, spec);
  q.assign(with_lapses.dim(), -0.5);
  CHECK(bactor::testing::gradient_error(with_lapses, q) < 1e-5);
  Dataset cohort = data;
  for (std::size_t i = 0; i < cohort.size(); ++i) cohort.subject.push_back(i < 12 ? "a" : "b");
  cohort.cond.assign(cohort.size(), 0);
  cohort.cond_labels = {"1"};
  HierarchicalSpec hs;
  hs.cost = spec.cost;
  hs.network = net;
  HierarchicalModel cohort_model(cohort, hs);
  q.assign(cohort_model.dim(), 0.1);
  CHECK(bactor::testing::gradient_error(cohort_model, q) < 1e-5);
}

TEST_CASE("mupost head: at a small budget it is several times more accurate than the softplus head") {
  // 4,000 steps each (about 2 s), 300 evaluation points against the quadrature ground truth.
  // Measured (seed 3): mean relative error mupost 1.3%, 2.9%, 0.18%; softplus 8.6%, 19%, 3.4%
  // (AbsoluteCostQuadraticEffort, Linex, InvertedGaussian). The check asks for a factor 3 and
  // 5%, and fails if the head, its features or its weights break.
  for (const char* name : scaled_costs) {
    const std::string cost_name = name;
    CAPTURE(cost_name);
    auto mean_rel = [&](const char* head) {
      TrainSettings s;
      s.cost = name;
      s.head = head;
      s.steps = 4000;
      s.eval_points = 300;
      s.threads = 2;
      s.seed = 3;
      s.progress_seconds = 1e9;
      Trainer tr(s);
      for (std::size_t i = 0; i < s.steps; ++i) tr.step();
      const EvalSet& e = tr.eval_set();
      std::vector<double> a(e.size());
      tr.actions(e.theta, e.m, a);
      double sum = 0;
      for (std::size_t i = 0; i < e.size(); ++i) sum += std::abs(a[i] - e.a_star[i]) / e.a_star[i];
      return sum / double(e.size());
    };
    const double mu = mean_rel("mupost"), sp = mean_rel("softplus");
    MESSAGE(std::string(name) << ": mean relative error after 4,000 steps: mupost " << mu << ", softplus " << sp);
    CHECK(mu < 0.05);
    CHECK(mu * 3 < sp);
  }
}

TEST_CASE("Linex objective: importance-sampled motor draws are unbiased, with a less noisy gradient where c exp(mu_post) is large") {
  // The expected-cost node with its own random draws (512 samples of one point = 512 independent
  // estimates of K draws each) against the ground truth's quadrature of the same truncated
  // expectation and its derivative in log a: within 4 standard errors of the 512 estimates'
  // mean. With and without the importance sampling (a copy of the cost with
  // motor_importance_scale 0). The gradient is what training uses: at the hard point (c S ~ 30,
  // sigma_r 0.49, where the mupost network's errors were largest) its standard error must be
  // at least 2x smaller with the importance sampling (measured 3.1x: 0.55 vs 1.71 rms error of a
  // 256-draw estimate; with 64 estimates the plain one's heavy tail showed only 1.4x).
  const CostInfo& linex = find_cost("Linex");
  REQUIRE(linex.motor_importance_scale > 0);
  CostInfo plain = linex;
  plain.motor_importance_scale = 0.0;
  struct Point {
    std::vector<double> theta;  // (sigma, sigma_0, mu_0, sigma_r, c)
    double m, offset;           // measurement, log a - mu_post
  };
  const Point points[] = {{{0.052, 0.052, 5.8, 0.49, 5.12}, 5.8, -1.74}, {{0.2, 0.3, 1.5, 0.15, 0.5}, 1.7, -0.05}};
  constexpr std::size_t n = 512, K = 256;
  for (const Point& pt : points) {
    const auto post = actor_posterior(pt.m, pt.theta[0], pt.theta[1], pt.theta[2]);
    const double log_a = post.mu_post + pt.offset;
    double truth_g = 0;
    const double truth = expected_cost(linex, pt.theta, pt.m, log_a, &truth_g, GroundTruthOptions{});
    double se_g[2];
    for (int v = 0; v < 2; ++v) {
      const CostInfo& cost = v == 0 ? linex : plain;
      std::vector<float> mu(n, float(post.mu_post)), sp(n, float(post.sigma_post)), sr(n, float(pt.theta[3])),
          par(n, float(pt.theta[4])), a(n, float(std::exp(log_a)));
      ExpectedCostInputs in;
      in.mu_post = mu.data();
      in.sigma_post = sp.data();
      in.sigma_r = sr.data();
      in.params = par.data();
      in.mc = K;
      in.seed = 77;
      in.stream = 5;
      Tape::Scope scope;
      const Tensor at = tensor_variable(a, 1, n);
      const Tensor y = expected_cost(cost, at, in);
      backward(sum(y));
      double s[2] = {0, 0}, s2[2] = {0, 0}, dev2 = 0;
      for (std::size_t b = 0; b < n; ++b) {
        const double val[2] = {double(y.value(b)), double(at.adjoints()[b]) * double(a[b])};  // d/d log a
        for (int k = 0; k < 2; ++k) s[k] += val[k], s2[k] += val[k] * val[k];
        dev2 += (val[1] - truth_g) * (val[1] - truth_g);
      }
      double mean[2], se[2];
      for (int k = 0; k < 2; ++k) {
        mean[k] = s[k] / n;
        se[k] = std::sqrt(std::max(0.0, s2[k] / n - mean[k] * mean[k]) / n);
      }
      se_g[v] = std::sqrt(dev2 / n);  // rms error of one K-draw gradient estimate
      INFO("importance sampling " << (v == 0) << ": cost " << mean[0] << " +- " << se[0] << " (truth " << truth
                                  << "), d/dlog a " << mean[1] << " +- " << se[1] << " (truth " << truth_g << ")");
      CHECK(std::abs(mean[0] - truth) < 4 * se[0] + 1e-5 * std::abs(truth));
      CHECK(std::abs(mean[1] - truth_g) < 4 * se[1] + 1e-5 * std::abs(truth));
    }
    MESSAGE("Linex: rms error of a 256-draw gradient estimate, importance sampling / plain: " << se_g[0] << " / " << se_g[1]);
    if (pt.offset < -1) CHECK(se_g[0] * 2 < se_g[1]);
  }
}
