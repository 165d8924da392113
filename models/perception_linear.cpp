// SPDX-License-Identifier: MIT
#include "models/perception_linear.hpp"

#include "models/number_text.hpp"
#include "models/shift_solve.hpp"

#include <bactor/engine/errors.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

namespace bactor::detail {

namespace {

/// The table of d* (ShiftTable) of a formula cost without parameters, or with one of a uniform
/// prior (tabulated over the prior's range), built on first use by this thread (a few ms; about
/// 7,000 solves, 30 ms, with a parameter); nullptr for any other cost.
const ShiftTable* shift_table(const CostInfo& cost) {
  if (cost.expression.empty() || cost.params.size() > 1) return nullptr;
  const bool param = cost.params.size() == 1;
  if (param && cost.params[0].kind != ParamPrior::Kind::uniform) return nullptr;
  // This thread's tables, by formula text, kink flag and parameter range (the same text is the
  // same function, so a table never goes stale; its values depend on (tau, p) alone, so threads agree).
  thread_local std::map<std::string, std::unique_ptr<const ShiftTable>> tables;
  const double lo = param ? cost.params[0].a : 0, hi = param ? cost.params[0].b : 0;
  // The last table used, found by comparing its fields (no key string to build on every gradient).
  thread_local struct {
    std::string expression;
    bool kink = false;
    double lo = 0, hi = 0;
    const ShiftTable* table = nullptr;
  } last;
  if (last.table && last.kink == cost.kink_at_s_equals_r && last.lo == lo && last.hi == hi && last.expression == cost.expression)
    return last.table;
  std::string key = cost.expression + (cost.kink_at_s_equals_r ? "\n1\n" : "\n0\n");
  key.append(reinterpret_cast<const char*>(&lo), sizeof lo).append(reinterpret_cast<const char*>(&hi), sizeof hi);
  auto it = tables.find(key);
  if (it == tables.end()) {
    const double kink = 0;
    const std::span<const double> kinks(&kink, cost.kink_at_s_equals_r ? 1 : 0);
    // The parameter's value lives in the maker's cost (CostOfDifference points at it).
    struct Maker {
      const CostInfo* cost;
      std::shared_ptr<double> p = std::make_shared<double>(0.0);
      CostOfDifference operator()(double v) const {
        *p = v;
        return CostOfDifference{cost, p.get()};
      }
    };
    it = tables.emplace(key, std::make_unique<const ShiftTable>(Maker{&cost}, kinks, param, lo, hi)).first;
  }
  last.expression = cost.expression, last.kink = cost.kink_at_s_equals_r, last.lo = lo, last.hi = hi;
  last.table = it->second.get();
  return last.table;
}

/// The shift for a cost of r - s at tau (kink at d = 0 when the cost declares one): from the
/// cost's table (shift_table) where it has one, else by the solver.
ShiftSolution cost_shift(const CostInfo& cost, const double* p, double tau) {
  if (const ShiftTable* t = shift_table(cost)) {
    ShiftSolution s;
    if (t->eval(tau, cost.params.empty() ? 0.0 : p[0], s.d, s.d_noise[0], s.d_param[0])) {
      s.ok = true;
      return s;
    }
  }
  const CostOfDifference c{&cost, p};
  const double kink = 0;
  return solve_shift(GaussianShiftNoise{tau}, c, std::span<const double>(&kink, c.kink() ? 1 : 0));
}

/// Parameter sets the checks use: the priors' centres, then their ends.
std::vector<std::vector<double>> check_points(const CostInfo& cost) {
  std::vector<double> mid, lo, hi;
  for (const ParamPrior& p : cost.params) {
    const bool u = p.kind == ParamPrior::Kind::uniform;
    mid.push_back(u ? 0.5 * (p.a + p.b) : std::exp(p.a));
    lo.push_back(u ? p.a : std::exp(p.a - 2 * p.b));
    hi.push_back(u ? p.b : std::exp(p.a + 2 * p.b));
  }
  return {mid, lo, hi};
}

std::string at_params(const CostInfo& cost, const std::vector<double>& p) {
  std::string s;
  for (std::size_t k = 0; k < p.size(); ++k) s += (k ? ", " : " at ") + cost.params[k].name + " = " + format_number(p[k]);
  return s;
}

} // namespace

bool is_cost_of_difference(const CostInfo& cost, std::string* why) {
  const std::vector<double> p = check_points(cost)[0];
  auto l = [&](double s, double r) { return cost.loss(s, r, p.data()); };
  for (double s : {-3.0, -1.7, -0.4, 0.9, 2.2, 5.0})
    for (int k = -16; k <= 16; ++k) {
      const double d = 0.25 * k, v = l(0.0, d), vs = l(s, s + d);
      if (std::isfinite(v) && std::isfinite(vs) && std::abs(vs - v) <= 1e-9 * (1 + std::abs(v))) continue;
      if (why)
        *why = !std::isfinite(v) || !std::isfinite(vs)
                   ? "is not finite at s = " + format_number(s) + ", r = " + format_number(s + d) + at_params(cost, p)
                   : "is not a function of r - s alone (it changes when s and r move together: l(" + format_number(s) + ", " +
                         format_number(s + d) + ") != l(0, " + format_number(d) + "))";
      return false;
    }
  return true;
}

bool affine_linear_action(const CostInfo& cost) {
  return cost.name == "QuadraticCostQuadraticEffort" || is_cost_of_difference(cost);
}

void check_shift_cost(const CostInfo& cost) {
  const std::string what = "gaussian: cost " + cost.name;
  const auto points = check_points(cost);
  if (std::string why; !is_cost_of_difference(cost, &why))
    throw ArgumentError("perception", what + " " + why +
                                          ", so its optimal action under gaussian perception is not mu_post plus a "
                                          "shift: fit it with the exact action (infer --exact-action); costs of r - s (e.g. the formula "
                                          "'abs(r - s)^1.5') and QuadraticCostQuadraticEffort have a closed form");
  for (const std::vector<double>& p : points)
    for (double tau : {0.05, 0.5, 2.0}) {
      const ShiftSolution sol = cost_shift(cost, p.data(), tau);
      const std::string where = " (tau = " + format_number(tau) + at_params(cost, p) + ")";
      if (!sol.ok)
        throw ArgumentError("perception", what + ": its expected cost E l(d + tau z) has no finite minimum" + where +
                                              " (a cost that does not grow as |r - s| grows has no optimal action)");
      const CostOfDifference c{&cost, p.data()};
      const double kink = 0;
      const std::span<const double> kinks(&kink, c.kink() ? 1 : 0);
      double e[81], big = 0;
      for (int k = 0; k <= 80; ++k) {
        const double d = sol.d + tau * (k - 40) * (k - 40) * (k < 40 ? -1 : 1) / 16.0;  // to +-100 tau, dense near d*
        e[k] = shift_slope(GaussianShiftNoise{tau}, c, d, kinks, nullptr);
        big = std::max(big, std::abs(e[k]));
      }
      for (int k = 0; k <= 80; ++k)
        if (k != 40 && (k < 40 ? e[k] > 1e-9 * big : e[k] < -1e-9 * big))
          throw ArgumentError("perception", what + ": its expected cost E l(d + tau z) has more than one minimum or none" +
                                                where + ", so the optimal action is not unique");
    }
}

LinearAction linear_action_of(const CostInfo& cost) {
  const std::string& n = cost.name;
  if (n == "QuadraticCost" || n == "AbsoluteCost" || n == "InvertedGaussian") return LinearAction::centred;
  if (n == "Linex") return LinearAction::linex;
  if (n == "AsymmetricQuadratic") return LinearAction::asymmetric;
  if (n == "QuadraticCostQuadraticEffort") return LinearAction::effort;
  check_shift_cost(cost);
  return LinearAction::shift;
}

std::pair<double, double> linear_lapse_range(const std::vector<double>& stimuli, const std::vector<double>* responses) {
  if (stimuli.empty()) throw std::invalid_argument("linear_lapse_range: no stimuli");
  const auto [smin, smax] = std::minmax_element(stimuli.begin(), stimuli.end());
  const double span = *smax - *smin, widen = span > 0 ? 0.5 * span : 1.0, margin = std::max(0.25 * span, 0.25);
  double lo = *smin - widen, hi = *smax + widen;
  if (responses)
    for (double r : *responses) {
      lo = std::min(lo, r - margin);
      hi = std::max(hi, r + margin);
    }
  return {lo, hi};
}

double asymmetric_shift(double alpha, double* dt) {
  const double b = 1 - 2 * alpha;
  auto Phi = [](double t) { return 0.5 * std::erfc(-t / std::numbers::sqrt2); };
  auto phi = [](double t) { return std::exp(-0.5 * t * t) / std::sqrt(2 * std::numbers::pi); };
  // h is increasing with h(0) = b phi(0); Newton steps kept inside a shrinking bracket.
  double lo = -40, hi = 40, t = 0;
  for (int it = 0; it < 100; ++it) {
    const double P = Phi(t), h = t * (alpha + b * P) + b * phi(t), dh = alpha + b * P;
    if (h > 0) hi = t;
    else lo = t;
    double next = t - h / dh;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (std::abs(next - t) < 1e-15 * (1 + std::abs(t))) {
      t = next;
      break;
    }
    t = next;
  }
  if (dt) *dt = -(t * (1 - 2 * Phi(t)) - 2 * phi(t)) / (alpha + b * Phi(t));
  return t;
}

PowerHead linear_closed_form_head(const CostInfo& cost, LinearAction kind, std::span<const double> theta,
                                  std::size_t sa_at, double* jac) {
  const std::size_t n = theta.size();
  const double s = theta[theta_index::sigma], s0 = theta[theta_index::sigma_0], mu = theta[theta_index::mu_0];
  const double sa = theta[sa_at];
  const double s2 = s * s, s02 = s0 * s0, D = s2 + s02, iD2 = 1.0 / (D * D);
  const double w = s02 / D, dw_ds = -2 * s * s02 * iD2, dw_ds0 = 2 * s0 * s2 * iD2;
  // log_k and w of the posterior mean, mu_post = w m + (1 - w) mu_0.
  double lk = (1 - w) * mu, dlk_ds = -mu * dw_ds, dlk_ds0 = -mu * dw_ds0, dlk_dmu = 1 - w;
  double dw[2] = {dw_ds, dw_ds0}, slope = w, dw_dp = 0, dlk_dsa = 0;
  std::array<double, max_cost_params> dlk_dp{};
  if (kind == LinearAction::linex || kind == LinearAction::asymmetric || kind == LinearAction::shift) {
    // tau^2 = sigma_post^2 + sigma_a^2 = s^2 s0^2 / D + sa^2.
    const double tau2 = s2 * s02 / D + sa * sa;
    const double dtau2_ds = 2 * s * s02 * s02 * iD2, dtau2_ds0 = 2 * s0 * s2 * s2 * iD2, dtau2_dsa = 2 * sa;
    double shift, dshift_dtau2;
    if (kind == LinearAction::linex) {
      const double c = theta[theta_index::first_cost_param];
      shift = -0.5 * c * tau2;
      dshift_dtau2 = -0.5 * c;
      dlk_dp[0] = -0.5 * tau2;
    } else if (kind == LinearAction::asymmetric) {
      const double alpha = theta[theta_index::first_cost_param], tau = std::sqrt(tau2);
      double dt = 0;
      const double ts = asymmetric_shift(alpha, &dt);
      shift = tau * ts;
      dshift_dtau2 = 0.5 * ts / tau;
      dlk_dp[0] = tau * dt;
    } else {  // the generic solver; its implicit derivatives in tau and the cost parameters
      const double tau = std::sqrt(tau2);
      const ShiftSolution sol = cost_shift(cost, theta.data() + theta_index::first_cost_param, tau);
      if (!sol.ok) return PowerHead{NAN, w};
      shift = sol.d;
      dshift_dtau2 = 0.5 * sol.d_noise[0] / tau;
      for (std::size_t k = 0; k < cost.params.size(); ++k) dlk_dp[k] = sol.d_param[k];
    }
    lk += shift;
    dlk_ds += dshift_dtau2 * dtau2_ds;
    dlk_ds0 += dshift_dtau2 * dtau2_ds0;
    dlk_dsa = dshift_dtau2 * dtau2_dsa;
  } else if (kind == LinearAction::effort) {
    const double beta = theta[theta_index::first_cost_param];
    dlk_dp[0] = lk;
    dw_dp = w;
    lk *= beta, dlk_ds *= beta, dlk_ds0 *= beta, dlk_dmu *= beta;
    slope *= beta, dw[0] *= beta, dw[1] *= beta;
  }
  if (jac) {
    std::fill(jac, jac + 2 * n, 0.0);
    jac[theta_index::sigma] = dlk_ds;
    jac[theta_index::sigma_0] = dlk_ds0;
    jac[theta_index::mu_0] = dlk_dmu;
    jac[sa_at] = dlk_dsa;
    jac[n + theta_index::sigma] = dw[0];
    jac[n + theta_index::sigma_0] = dw[1];
    if (kind == LinearAction::shift) {
      for (std::size_t k = 0; k < cost.params.size(); ++k) jac[theta_index::first_cost_param + k] = dlk_dp[k];
    } else if (kind != LinearAction::centred) {
      jac[theta_index::first_cost_param] = dlk_dp[0];
      jac[n + theta_index::first_cost_param] = dw_dp;
    }
  }
  return PowerHead{lk, slope};
}

} // namespace bactor::detail
