// SPDX-License-Identifier: MIT
// The cost-family registry: one entry per family of models/cost_functions.hpp.
#include <bactor/models/costs.hpp>

#include <cmath>
#include <stdexcept>

#include <bactor/engine/rng.hpp>
#include <bactor/models/actor.hpp>
#include "models/cost_functions.hpp"
#include "models/train_kernel.hpp"

namespace bactor {

namespace {

template <class Fn>
double loss_double(double s, double r, const double* p) {
  return Fn::eval(s, r, p);
}

template <class Fn>
double loss_dr_double(double s, double r, const double* p, double* dl_dr) {
  using D = Dual<double>;
  D pd[Fn::n_params > 0 ? Fn::n_params : 1];
  for (int i = 0; i < Fn::n_params; ++i) pd[i] = D(p[i], 0.0);
  const D l = Fn::eval(D(s, 0.0), D(r, 1.0), static_cast<const D*>(pd));
  *dl_dr = l.d;
  return l.v;
}

/// Registers a family: name, formula, priors, closed form flag, kink flag; the evaluators
/// are instantiated from Fn.
template <class Fn>
CostInfo make_cost(std::string name, std::string formula, std::vector<ParamPrior> params,
                   bool closed_form, bool kink) {
  if (params.size() != std::size_t(Fn::n_params))
    throw std::logic_error("cost " + name + ": prior count does not match the function");
  CostInfo c;
  c.name = std::move(name);
  c.formula = std::move(formula);
  c.params = std::move(params);
  c.closed_form = closed_form;
  c.loss = &loss_double<Fn>;
  c.loss_dr = &loss_dr_double<Fn>;
  c.fused = &detail::fused_kernel<Fn>;
  c.kink_at_s_equals_r = kink;
  return c;
}

using K = ParamPrior::Kind;

// Curvature proxies (CostInfo::curvature_scale): d^2 E[cost] / d(log a)^2 at a ~ S.
// Length scales (CostInfo::log_scale). beta |s - r| + (1 - beta) r^2 = beta (|s - r| + r^2 /
// (2 kappa)) with kappa = beta / (2 (1 - beta)), the stimulus at which the noiseless optimum
// leaves r = s; b (e^{c (r - s)} - c (r - s) - 1) with b = 2 / c^2 is c^-2 times a function of
// (c s, c r): kappa = 1 / c; 1 - exp(-(s - r)^2 / (2 gamma^2)): kappa = gamma.
double abs_effort_log_scale(const double* p, double* d) {
  d[0] = 1.0 / p[0] + 1.0 / (1.0 - p[0]);
  return std::log(p[0] / (2.0 * (1.0 - p[0])));
}
double linex_log_scale(const double* p, double* d) {
  d[0] = -1.0 / p[0];
  return -std::log(p[0]);
}
double inverted_gaussian_log_scale(const double* p, double* d) {
  d[0] = 1.0 / p[0];
  return std::log(p[0]);
}
// b (e^{c x} - c x - 1), b = 2 / c^2: 2 a^2 E e^{c x} ~ 2 S^2 (E e^{c x} ~ 1 at the optimum).
double linex_curvature(double S, double, const double*) { return 2.0 * S * S; }
// 1 - exp(-(s - r)^2 / (2 gamma^2)): S^2 / gamma^2 while S sigma_t << gamma (quadratic),
// ~ gamma / (S sigma_t^3) when the posterior is much wider than gamma.
double inverted_gaussian_curvature(double S, double st, const double* p) {
  const double q = S * st / p[0];
  return (S * S) / (p[0] * p[0]) * std::pow(1.0 + q * q, -1.5);
}

std::vector<CostInfo> build_registry() {
  std::vector<CostInfo> v;
  v.push_back(make_cost<costfn::Quadratic>("QuadraticCost", "(s-r)^2", {}, true, false));
  v.push_back(make_cost<costfn::QuadraticQuadraticEffort>(
      "QuadraticCostQuadraticEffort", "beta*(s-r)^2 + (1-beta)*r^2", {{"beta", K::uniform, 0.5, 1.0}},
      true, false));
  v.push_back(make_cost<costfn::Absolute>("AbsoluteCost", "|s-r|", {}, false, true));
  v.push_back(make_cost<costfn::AbsoluteQuadraticEffort>(
      "AbsoluteCostQuadraticEffort", "beta*|s-r| + (1-beta)*r^2", {{"beta", K::uniform, 0.5, 1.0}},
      false, true));
  v.push_back(make_cost<costfn::AsymmetricQuadratic>(
      "AsymmetricQuadratic", "2*|alpha - H(r-s)|*(r-s)^2, H(0)=1", {{"alpha", K::uniform, 0.1, 0.9}},
      false, true));
  v[0].homogeneity_degree = 2;  // QuadraticCost
  v[1].homogeneity_degree = 2;  // QuadraticCostQuadraticEffort
  v[2].homogeneity_degree = 1;  // AbsoluteCost
  v[4].homogeneity_degree = 2;  // AsymmetricQuadratic (AbsoluteCostQuadraticEffort mixes degrees 1 and 2)
  v.push_back(make_cost<costfn::Linex>("Linex", "b*(exp(c*(r-s)) - c*(r-s) - 1), b = 2/c^2",
                                       {{"c", K::lognormal, std::log(0.5), 1.0}}, false, false));
  v.back().motor_truncation = 4.0;
  v.back().motor_importance_scale = 1.5;
  v.back().curvature_scale = &linex_curvature;
  v.back().log_scale = &linex_log_scale;
  v.push_back(make_cost<costfn::InvertedGaussian>("InvertedGaussian", "1 - exp(-(s-r)^2/(2*gamma^2))",
                                                  {{"gamma", K::lognormal, std::log(2.5), 0.5}}, false,
                                                  true));
  v.back().curvature_scale = &inverted_gaussian_curvature;
  v.back().log_scale = &inverted_gaussian_log_scale;
  // AbsoluteCostQuadraticEffort: no curvature weight (abs_effort_curvature measured worse, 0.12%
  // mean relative error instead of 0.09%, see docs/network.md).
  v[3].log_scale = &abs_effort_log_scale;
  v[3].action_kink = true;
  return v;
}

} // namespace

const std::vector<CostInfo>& cost_families() {
  static const std::vector<CostInfo> registry = build_registry();
  return registry;
}

const char* default_head_name(const CostInfo& cost) { return cost.homogeneous() ? "posterior" : "mupost"; }

const CostInfo& find_cost(const std::string& name) {
  std::string known;
  for (const auto& c : cost_families()) {
    if (c.name == name) return c;
    known += (known.empty() ? "" : ", ") + c.name;
  }
  throw std::invalid_argument("unknown cost '" + name + "' (known: " + known + ")");
}

std::vector<std::string> theta_names(const CostInfo& cost) {
  std::vector<std::string> n{"sigma", "sigma_0", "mu_0", "sigma_r"};
  for (const auto& p : cost.params) n.push_back(p.name);
  return n;
}

double sample_prior(const ParamPrior& prior, Rng& rng) {
  if (prior.kind == ParamPrior::Kind::uniform) return rng.uniform(prior.a, prior.b);
  return std::exp(prior.a + prior.b * rng.normal());
}

double closed_form_action(const CostInfo& cost, std::span<const double> theta, double m) {
  if (!cost.closed_form)
    throw std::invalid_argument("cost '" + cost.name + "' has no closed-form optimal action");
  if (theta.size() != theta_size(cost))
    throw std::invalid_argument("theta has " + std::to_string(theta.size()) + " entries, cost '" +
                                cost.name + "' needs " + std::to_string(theta_size(cost)));
  const auto post = actor_posterior(m, theta[0], theta[1], theta[2]);
  const double sr = theta[3];
  // E[s|m] · exp(-3/2 sigma_r^2): the minimiser of E (s - a e^{sigma_r u})^2 over a.
  const double a = std::exp(post.mu_post + 0.5 * post.sigma_post * post.sigma_post - 1.5 * sr * sr);
  if (cost.name == "QuadraticCost") return a;
  if (cost.name == "QuadraticCostQuadraticEffort") return theta[4] * a;
  throw std::invalid_argument("cost '" + cost.name + "' has no closed-form optimal action");
}

double optimal_action(const CostInfo& cost, std::span<const double> theta, double m) {
  return cost.closed_form ? closed_form_action(cost, theta, m) : numerical_action(cost, theta, m);
}

} // namespace bactor
