// SPDX-License-Identifier: MIT
// Gaussian perception in linear space (docs/families.md, "Perception"): s ~ N(mu_0, sigma_0^2),
// m | s ~ N(s, sigma^2), posterior N(mu_post, sigma_post^2) with w = sigma_0^2/(sigma_0^2 + sigma^2),
// mu_post = w m + (1 - w) mu_0, sigma_post^2 = w sigma^2; gaussian motor noise r ~ N(a, sigma_a^2)
// plus an optional offset delta.
//
// For a cost of d = r - s alone, d | m ~ N(a - mu_post, tau^2) with tau^2 = sigma_post^2 + sigma_a^2,
// so the optimal action is a* = mu_post + d*(tau, cost parameters): affine in m. It is the
// log-normal model's power law read in linear coordinates (u = m instead of log m, log a = a), so
// the exact power-law marginal applies: r | s ~ N(k + w s + delta, w^2 sigma^2 + sigma_a^2), whose
// density of r needs no Jacobian (the log-normal one subtracts log r). This header gives the
// head (k, w) with its Jacobian, and the likelihood's source and form for it. The form also
// integrates m numerically for a head that is not affine (the exact action of any other cost,
// models/exact_linear.hpp). Private header.
#pragma once

#include "models/likelihood.hpp"

#include <bactor/models/costs.hpp>
#include <bactor/models/marginal.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace bactor::detail {

/// The shape of d* for the costs with an affine optimal action under gaussian perception:
///   centred     d* = 0 (QuadraticCost, AbsoluteCost, InvertedGaussian: symmetric in d)
///   linex       d* = -c tau^2 / 2
///   asymmetric  d* = tau t*(alpha) (AsymmetricQuadratic; asymmetric_shift)
///   effort      a* = beta mu_post (QuadraticCostQuadraticEffort)
///   shift       d* = argmin_d E l(d + tau z), z ~ N(0, 1), by the generic solver of
///               models/shift_solve.hpp (every other cost of r - s: formulas, registered costs),
///               read from a checked table (ShiftTable) for a formula with at most one
///               parameter of a uniform prior, solved per call otherwise
enum class LinearAction { centred, linex, asymmetric, effort, shift };
/// The action's shape for a cost. A cost without a closed form is checked (check_shift_cost)
/// and gets `shift`. Throws ArgumentError("perception", ...) for a cost that is not a function of
/// r - s (AbsoluteCostQuadraticEffort, formulas of r and s separately: their action is not
/// affine in m and needs the exact action, models/exact_linear.hpp) or whose expected cost has
/// no unique finite minimiser.
LinearAction linear_action_of(const CostInfo& cost);
/// Whether the cost is a function of r - s alone: l(s, s + d) = l(0, d), both finite, for stimuli
/// s in [-3, 5] and errors d in [-4, 4] (relative 1e-9) at the cost parameters' prior centres.
/// Else false, with the failing point in *why.
bool is_cost_of_difference(const CostInfo& cost, std::string* why = nullptr);
/// Whether the optimal action under gaussian perception is affine in m, so that linear_action_of
/// applies: QuadraticCostQuadraticEffort, or a cost of r - s (is_cost_of_difference).
bool affine_linear_action(const CostInfo& cost);
/// The checks behind `shift`, on grids: l(s, s + d) = l(0, d) for stimuli s in [-3, 5] and
/// errors d in [-4, 4] (relative 1e-9) at the cost parameters' prior centres (a uniform prior's
/// midpoint, a log-normal's median); and, at those parameters and at the priors' ends (uniform:
/// the bounds; log-normal: median x e^{+-2 scale}) for tau in {0.05, 0.5, 2}, the solver finds a
/// minimum and E_d changes sign only there over d* +- 100 tau (a cost that decreases in |d|, or
/// is unbounded below, fails). Throws ArgumentError("perception", ...) naming the cost and what
/// failed.
void check_shift_cost(const CostInfo& cost);

/// The standardised shift t*(alpha) of AsymmetricQuadratic: the root of
///   h(t) = t [alpha + (1 - 2 alpha) Phi(t)] + (1 - 2 alpha) phi(t),
/// where E 2|alpha - H(d)| d^2 over d ~ N(t tau, tau^2) is least (h is increasing:
/// h'(t) = alpha + (1 - 2 alpha) Phi(t) > 0). *dt gets dt*/dalpha = -(dh/dalpha) / h'(t*) (the
/// implicit function theorem), dh/dalpha = t (1 - 2 Phi(t)) - 2 phi(t).
double asymmetric_shift(double alpha, double* dt = nullptr);

/// The optimal action a*(m) = log_k + w m (a PowerHead in linear coordinates) of theta laid out
/// as theta_names(cost, {gaussian motor[, offset]}): sigma, sigma_0, mu_0, (unused sigma_r),
/// cost parameters, sigma_a at sa_at[, offset]. jac (2 x n, row-major, n = theta.size()) gets
/// d(log_k, w)/dtheta (zero in the offset, which the form adds). `shift`: log_k is NaN where the
/// solver finds no minimum (the likelihood is then -inf).
PowerHead linear_closed_form_head(const CostInfo& cost, LinearAction kind, std::span<const double> theta,
                                  std::size_t sa_at, double* jac = nullptr);
/// The most theta entries under gaussian perception: 4 + the cost parameters + sigma_a, offset.
inline constexpr std::size_t linear_max_theta = 4 + max_cost_params + 2;

/// The likelihood's action source under gaussian perception: linear_closed_form_head per row
/// (for `shift` a table lookup or one solve per row per gradient, not per trial).
struct LinearClosedFormSource {
  using Head = PowerHead;
  static constexpr bool reads_network = false;
  LinearAction kind = LinearAction::centred;
  std::size_t nt = 5, sa_at = 4;
  const CostInfo* cost = nullptr;
  struct State {
    double jac[2 * linear_max_theta];
  };
  std::size_t n_in() const { return nt; }
  std::optional<Head> head(const double* theta, const RowTrials&, State& st) const {
    const PowerHead h = linear_closed_form_head(*cost, kind, std::span<const double>(theta, nt), sa_at, st.jac);
    if (!std::isfinite(h.log_k)) return std::nullopt;
    return h;
  }
  void input_grad(const Head::Adjoint& a, const State& st, double* gin) const {
    for (std::size_t t = 0; t < nt; ++t) gin[t] = a.log_k * st.jac[t] + a.w * st.jac[nt + t];
  }
};

/// Element k of a head's adjoint: an array (ExactHead) or MupostHead's `d` (the tabulated network).
template <class A>
double& adjoint_at(A& a, std::size_t k) {
  if constexpr (requires { a.d[k]; }) return a.d[k];
  else return a[k];
}

/// A head read in linear space plus the response offset: a(u) + delta, with delta as one more
/// parameter (the last), so the quadrature's head adjoint ends with d log p / d delta.
template <class H>
struct OffsetHead {
  static constexpr int n_params = H::n_params + 1;
  using Adjoint = std::array<double, std::size_t(n_params)>;
  const H* h = nullptr;
  double delta = 0;
  double eval(double u, double& da_du, double* dp) const {
    const double a = h->eval(u, da_du, dp) + delta;
    dp[H::n_params] = 1;
    return a;
  }
  double curvature(double u) const { return h->curvature(u); }
  bool inverse(double y, double& u, double& slope) const { return h->inverse(y - delta, u, slope); }
  static void add(Adjoint& a, const double* dp, double g) {
    for (int k = 0; k < n_params; ++k) a[std::size_t(k)] += g * dp[k];
  }
};

/// The marginal under gaussian perception and gaussian motor noise: per trial
/// p(r | s) = ∫ N(r; a(m) + delta, sigma_a^2) N(m; s, sigma^2) dm (x = s, y = r in units of S).
/// For an affine action (PowerHead, log_k + w m) exactly, r ~ N(log_k + delta + w s,
/// w^2 sigma^2 + sigma_a^2), from the power-law sufficient statistics with sigma_a in sigma_r's
/// place and the log-normal Jacobian (-y) added back. For any other head (the exact action of a
/// cost that is not a function of r - s, models/exact_linear.hpp) the same integral by the
/// adaptive Gauss–Hermite rule of the log-normal marginal (gh_trial_loglik read in linear
/// coordinates: u = m, log a = a + delta, sigma_r = sigma_a; its -y added back), trial by trial.
/// A motor form (the node keeps sigma_a's and the offset's gradients); with lapses
/// LapseForm<LinearForm> (MotorLapse, as the motor forms): each trial mixed with the contaminant
/// uniform in r (the power law by the log-normal model's power_lapse kernel, its -y added back).
struct LinearForm {
  static constexpr bool lapse = false;
  static constexpr bool sampled = false;
  static constexpr bool motor_form = true;
  static constexpr std::size_t none = std::size_t(-1);
  std::size_t sa_at = none, off_at = none;
  const GaussHermiteSet* rules = nullptr;  // the quadrature over m (heads other than PowerHead)

  MotorParams params(const double* theta) const { return {0.0, theta[sa_at], off_at == none ? 0.0 : theta[off_at]}; }
  template <class Head>
  /// The motor forms' signature (models/likelihood.hpp); no lapses or latents here (eps, z, gz unused).
  double run(const Head& h0, const RowTrials& t, double sig, const MotorParams& mp, double /*eps*/, const double* /*z*/,
             double* /*gz*/, RowGrad<Head>* g, double* trial_ll) const {
    return run_mix(h0, t, sig, mp, 0.0, nullptr, nullptr, nullptr, g, trial_ll);
  }
  /// Without lapses (mix null): the sufficient statistics, O(1) per row; with them each trial's
  /// mixture (1 - eps) N(y; k + w x, v) + eps / W, W the contaminant's width in units of S.
  template <class Head>
  double run_mix(const Head& h0, const RowTrials& t, double sig, const MotorParams& mp, double eps, const LapseMix* mix,
                 const double* /*z*/, double* /*gz*/, RowGrad<Head>* g, double* trial_ll) const {
    if (!(mp.sa > 0) || !std::isfinite(mp.sa) || !std::isfinite(mp.delta)) {
      if (trial_ll) std::fill(trial_ll, trial_ll + t.size(), -INFINITY);
      return -INFINITY;
    }
    if constexpr (!std::is_same_v<Head, PowerHead>) {
      return run_quadrature(h0, t, sig, mp, eps, mix, g, trial_ll);
    } else {
      const PowerHead h{h0.log_k + mp.delta, h0.w};
      double ll;
      PowerGrad pg;
      double rho = 0;
      if (mix) {
        const PaddedTrials p = t.padded();
        double* pll = trial_ll ? MarginalForm::scratch_padded(p.n) : nullptr;
        PowerLapseSums s;
        ll = power_lapse(h, p.n, p.x, p.y, p.wt, sig, mp.sa, *mix, s, pll) + t.stats.sy;
        if (pll)
          for (std::size_t i = 0; i < t.size(); ++i) trial_ll[i] = pll[i] + t.y[i];
        pg.log_k = s.log_k, pg.w = s.w, pg.sigma = s.sigma, pg.sigma_r = s.sigma_r;
        rho = s.rho;
      } else {
        if (trial_ll)
          for (std::size_t i = 0; i < t.size(); ++i) trial_ll[i] = power_trial_loglik(h, t.x[i], t.y[i], sig, mp.sa) + t.y[i];
        ll = power_loglik(h, t.stats, sig, mp.sa, pg) + t.stats.sy;
      }
      if (g) {
        g->head.log_k += pg.log_k;
        g->head.w += pg.w;
        g->sigma += pg.sigma;
        g->motor[0] += pg.sigma_r;  // sigma_a
        g->motor[1] += pg.log_k;    // the offset adds to the intercept
        if (mix) g->eps += lapse_gradient(eps, double(t.size()), rho);
      }
      return ll;
    }
  }

private:
  /// Any head: each trial's integral over m by adaptive Gauss–Hermite (mixed with the
  /// contaminant when mix is given, the gradient weighted by each trial's responsibility).
  template <class Head>
  double run_quadrature(const Head& h0, const RowTrials& t, double sig, const MotorParams& mp, double eps,
                        const LapseMix* mix, RowGrad<Head>* g, double* trial_ll) const {
    using OH = OffsetHead<Head>;
    const OH h{&h0, mp.delta};
    const GaussHermite& rule = rules->for_sigma(sig);
    typename OH::Adjoint head{};
    double ll = 0, g_sigma = 0, g_sa = 0, rho_sum = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
      TrialGrad<OH> tg{};
      double li = gh_trial_loglik(h, t.x[i], t.y[i], sig, mp.sa, rule, tg) + t.y[i];
      double rho = std::isfinite(li) ? 1.0 : 0.0;
      if (mix) {  // log p = log((1 - eps) p_actor + eps / W), both densities of r
        const double a = mix->log1m_eps + li, b = mix->log_eps_cont, m = std::max(a, b);
        li = m + std::log(std::exp(a - m) + std::exp(b - m));
        rho = std::isfinite(a) ? std::exp(a - li) : 0.0;
        rho_sum += rho;
      }
      if (trial_ll) trial_ll[i] = li;
      ll += li;
      if (g && rho > 0) {
        for (std::size_t k = 0; k < head.size(); ++k) head[k] += rho * tg.head[k];
        g_sigma += rho * tg.sigma;
        g_sa += rho * tg.sigma_r;
      }
    }
    if (g && std::isfinite(ll)) {
      for (std::size_t k = 0; k + 1 < head.size(); ++k) adjoint_at(g->head, k) += head[k];
      g->sigma += g_sigma;
      g->motor[0] += g_sa;          // sigma_a
      g->motor[1] += head.back();   // the offset
      if (mix) g->eps += lapse_gradient(eps, double(t.size()), rho_sum);
    }
    return ll;
  }
};

template <>
struct LapseForm<LinearForm> : MotorLapse<LinearForm> {
  using MotorLapse<LinearForm>::MotorLapse;
};

/// The contaminant's default range under gaussian perception (r of any sign): the stimuli's
/// range widened by half its width on each side (by 1 on each side when every stimulus is the
/// same), then, when `responses` are given, stretched to hold each of them with a margin of a
/// quarter of the stimuli's width (at least 0.25). The linear counterpart of
/// stimulus_lapse_range and lapse_range.
std::pair<double, double> linear_lapse_range(const std::vector<double>& stimuli, const std::vector<double>* responses = nullptr);

} // namespace bactor::detail
