// SPDX-License-Identifier: MIT
// The cost-family registry: one entry per family of models/cost_functions.hpp.
#include <bactor/models/costs.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <stdexcept>

#include <bactor/engine/errors.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/models/actor.hpp>
#include <bactor/models/ground_truth.hpp>
#include "models/cost_functions.hpp"
#include "models/train_kernel.hpp"

namespace bactor {

namespace {

template <class Fn>
double loss_double(const void*, double s, double r, const double* p) {
  return Fn::eval(s, r, p);
}

template <class Fn>
double loss_dr_double(const void*, double s, double r, const double* p, double* dl_dr) {
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
  c.loss = {&loss_double<Fn>, nullptr};
  c.loss_dr = {&loss_dr_double<Fn>, nullptr};
  c.fused = {&detail::fused_kernel<Fn>, nullptr};
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

std::deque<CostInfo> build_registry() {
  std::deque<CostInfo> v;
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
  v.back().seam = costfn::Linex::x_max;
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

std::deque<CostInfo>& registry() {
  static std::deque<CostInfo> r = build_registry();
  return r;
}

bool same_prior(const ParamPrior& a, const ParamPrior& b) {
  return a.name == b.name && a.kind == b.kind && a.a == b.a && a.b == b.b;
}

/// The same cost: the same name, formula, priors and settings (a formula registered twice).
bool same_cost(const CostInfo& a, const CostInfo& b) {
  return a.name == b.name && !a.expression.empty() && a.expression == b.expression &&
         a.params.size() == b.params.size() &&
         std::equal(a.params.begin(), a.params.end(), b.params.begin(), same_prior) &&
         a.kink_at_s_equals_r == b.kink_at_s_equals_r && a.motor_truncation == b.motor_truncation &&
         a.motor_importance_scale == b.motor_importance_scale && a.seam == b.seam &&
         a.homogeneity_degree == b.homogeneity_degree;
}

} // namespace

const std::deque<CostInfo>& cost_families() { return registry(); }

const CostInfo& register_cost(CostInfo cost) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (cost.name.empty()) throw ArgumentError("name", "is empty");
  if (!cost.loss || !cost.loss_dr || !cost.fused)
    throw ArgumentError("cost", "'" + cost.name + "' lacks an evaluator (loss, loss_dr, fused)");
  finish_cost_settings(cost, cost.kink_at_s_equals_r ? 1 : 0, cost.homogeneity_degree);
  for (const auto& c : registry())
    if (c.name == cost.name) {
      if (same_cost(c, cost)) return c;
      throw ArgumentError("name", "'" + cost.name + "' is taken by another cost");
    }
  registry().push_back(std::move(cost));
  return registry().back();
}

void finish_cost_settings(CostInfo& c, int kink, int homogeneity_degree) {
  // what = "FIELD: reason", FIELD the CostInfo field at fault.
  auto bad = [&](const std::string& what) {
    const auto colon = what.find(':');
    return ArgumentError(what.substr(0, colon), "cost '" + c.name + "':" + what.substr(colon + 1));
  };
  if (c.params.size() > detail::max_cost_params)
    throw bad("params: at most " + std::to_string(detail::max_cost_params) + " cost parameters");
  for (const auto& p : c.params) {
    if (p.name.empty()) throw bad("params: a parameter has no name");
    if (std::count_if(c.params.begin(), c.params.end(), [&](const ParamPrior& q) { return q.name == p.name; }) > 1)
      throw bad("params: parameter '" + p.name + "' is given twice");
    const bool ok = p.kind == ParamPrior::Kind::uniform ? (std::isfinite(p.a) && std::isfinite(p.b) && p.a < p.b)
                                                        : (std::isfinite(p.a) && std::isfinite(p.b) && p.b > 0);
    if (!ok) throw bad("params: the prior of '" + p.name + "' is " + to_string(p) + " (need A < B, SCALE > 0)");
  }
  if (!(c.motor_truncation >= 0) || !std::isfinite(c.motor_truncation))
    throw bad("motor_truncation: must be >= 0 (0: none), got " + std::to_string(c.motor_truncation));
  if (!(c.motor_importance_scale >= 0) || !std::isfinite(c.motor_importance_scale) ||
      (c.motor_importance_scale > 0 && (c.motor_truncation == 0 || c.motor_importance_scale < 1)))
    throw bad("motor_importance_scale: must be 0 or >= 1 and needs motor_truncation, got " +
              std::to_string(c.motor_importance_scale));
  if (!(c.seam >= 0) || !std::isfinite(c.seam) || (c.seam > 0 && c.params.empty()))
    throw bad("seam: must be >= 0 (0: none) and needs a cost parameter (the seam lies at params[0] (r - s) = seam), got " +
              std::to_string(c.seam));
  if (kink > 0 && c.motor_truncation > 0)
    throw bad("kink: kink and motor_truncation cannot be combined (the ground truth splits at s = r only without truncation)");
  if (homogeneity_degree < -1) throw bad("homogeneity_degree: must be -1 (detect), 0 (none) or positive");
  c.kink_at_s_equals_r = kink > 0 || (kink < 0 && detect_kink(c));
  c.homogeneity_degree = homogeneity_degree >= 0 ? homogeneity_degree : detect_homogeneity(c);
}

std::string to_string(const ParamPrior& p) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s:%.17g:%.17g", p.kind == ParamPrior::Kind::uniform ? "uniform" : "lognormal", p.a,
                p.b);
  return buf;
}

ParamPrior parse_param_prior(const std::string& name, const std::string& text) {
  auto bad = [&] {
    return ArgumentError("params", "prior of '" + name + "': '" + text +
                                 "' is not uniform:A:B (A < B) or lognormal:LOC:SCALE (SCALE > 0, LOC on the log scale)");
  };
  const auto c1 = text.find(':');
  const auto c2 = c1 == std::string::npos ? c1 : text.find(':', c1 + 1);
  if (c2 == std::string::npos) throw bad();
  const std::string kind = text.substr(0, c1);
  auto num = [&](const std::string& t) {
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (t.empty() || *end != '\0' || !std::isfinite(v)) throw bad();
    return v;
  };
  ParamPrior p{name, ParamPrior::Kind::uniform, num(text.substr(c1 + 1, c2 - c1 - 1)), num(text.substr(c2 + 1))};
  if (kind == "lognormal") p.kind = ParamPrior::Kind::lognormal;
  else if (kind != "uniform") throw bad();
  if (p.kind == ParamPrior::Kind::uniform ? !(p.a < p.b) : !(p.b > 0)) throw bad();
  return p;
}

namespace {
/// A value of a parameter's prior at level u in (0, 1): the u-quantile of a uniform prior,
/// exp(loc + scale (4u - 2)) of a log-normal one (within 2 scales of its median).
double prior_quantile(const ParamPrior& p, double u) {
  return p.kind == ParamPrior::Kind::uniform ? p.a + (p.b - p.a) * u : std::exp(p.a + p.b * (4.0 * u - 2.0));
}
} // namespace

int detect_homogeneity(const CostInfo& cost) {
  // Fixed pseudo-random points (a Weyl sequence: reproducible, no RNG state).
  const std::size_t np = cost.params.size();
  std::vector<double> p(np);
  int found = 0;
  for (int deg = 1; deg <= 6 && !found; ++deg) {
    bool ok = true, any = false;
    for (int i = 0; i < 200 && ok; ++i) {
      auto frac = [&](double a) { return std::fmod(0.5 + a * (i + 1), 1.0); };
      const double s = 0.1 + 6.9 * frac(0.7548776662), r = 0.1 + 6.9 * frac(0.5698402910);
      for (std::size_t j = 0; j < np; ++j) p[j] = prior_quantile(cost.params[j], 0.05 + 0.9 * frac(0.41421356 + 0.1 * double(j)));
      const double l = cost.loss(s, r, p.data());
      if (!std::isfinite(l)) { ok = false; break; }
      for (double lam : {0.37, 1.9, 4.3}) {
        const double ll = cost.loss(lam * s, lam * r, p.data()), want = std::pow(lam, deg) * l;
        if (!(std::abs(ll - want) <= 1e-9 * std::max(std::abs(want), std::abs(ll)))) { ok = false; break; }
        any = any || l != 0;
      }
    }
    if (ok && any) found = deg;
  }
  return found;
}

bool detect_kink(const CostInfo& cost) {
  const std::size_t np = cost.params.size();
  std::vector<double> p(np);
  // One-sided derivatives at r = s (1 ± h): a jump in dℓ/dr or in d²ℓ/dr².
  auto d_at = [&](double s, double r) {
    double d = 0;
    cost.loss_dr(s, r, p.data(), &d);
    return d;
  };
  for (double q : {0.1, 0.5, 0.9}) {
    for (std::size_t j = 0; j < np; ++j) p[j] = prior_quantile(cost.params[j], q);
    for (double s : {0.3, 1.0, 4.0}) {
      const double h = 1e-5 * s;
      const double dl = d_at(s, s - h), dr = d_at(s, s + h), dl2 = d_at(s, s - 2 * h), dr2 = d_at(s, s + 2 * h);
      const double slope_scale = std::max({std::abs(dl), std::abs(dr), std::abs(dl - dl2) / h * s, 1e-300});
      if (std::abs(dr - dl) > 1e-3 * slope_scale + 1e-12) return true;
      const double cl = (dl - dl2) / h, cr = (dr2 - dr) / h;
      if (std::abs(cr - cl) > 1e-2 * std::max(std::abs(cl), std::abs(cr)) + 1e-9) return true;
    }
  }
  if (cost.motor_truncation > 0) return false;
  // A sharp feature: the smooth Gauss–Hermite rule and the rule split at s = r disagree.
  CostInfo smooth = cost, split = cost;
  smooth.kink_at_s_equals_r = false;
  split.kink_at_s_equals_r = true;
  for (double q : {0.05, 0.5, 0.95}) {
    for (std::size_t j = 0; j < np; ++j) p[j] = prior_quantile(cost.params[j], q);
    for (double mu : {std::log(0.3), std::log(6.0)})
      for (double sd : {0.05, 0.5}) {
        const double y = mu + 0.5 * sd * sd;
        double g1 = 0, g2 = 0;
        const double f1 = expected_cost_posterior(smooth, mu, sd, sd, p.data(), y, &g1);
        const double f2 = expected_cost_posterior(split, mu, sd, sd, p.data(), y, &g2);
        const double scale = std::max(std::abs(f1), std::abs(f2));
        if (std::abs(f1 - f2) > 1e-7 * scale || std::abs(g1 - g2) > 1e-7 * scale) return true;
      }
  }
  return false;
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
