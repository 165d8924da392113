// SPDX-License-Identifier: MIT
// The likelihood of the inference models as one composed tape node: an *action source* (where a
// row's log a(u) comes from) and a *likelihood form* (how the measurement is handled, with or
// without lapses) are combined at compile time by likelihood_node<Source, Form>, so that every
// combination is one node whose forward and backward are the fused loops of its parts, with no
// per-combination node written by hand and no virtual call inside a trial loop.
//
//   sources (each gives a head of models/marginal.hpp and maps the head's adjoint onto its inputs):
//     ClosedFormSource   log a = log k(theta) + w(theta) u              inputs: theta
//     PowerNetSource     log a = x0 + sigmoid(x1) u                     inputs: network outputs x
//     SoftplusNetSource  a = softplus(softplus(x0) m^sigmoid(x1) + x2)  inputs: network outputs x
//     MupostSource       the mupost network, tabulated along u          inputs: theta
//     ExactSource        the exact optimal action (numerical solver)    inputs: theta
//   forms (each runs over one row's trials for any head; fused SIMD kernels where a head has one):
//     MarginalForm       u integrated out: exact for power laws, adaptive Gauss–Hermite otherwise
//     SampledForm        u = x + sigma z with the latents z as parameters
//     LapseForm<F>       per trial (1 - eps) p_F + eps p_contaminant
//     MotorForm<M>       u integrated out under motor model M (models/motor.hpp): adaptive
//                        Gauss–Hermite for every head (models/motor_marginal.hpp)
//
// A *row* is a condition of a single-subject fit or a subject of a hierarchical one: theta at
// V[theta_at ...], sigma and sigma_r its elements 0 and 3, the lapse probability at V[eps_at],
// and its trials. ActorModel and HierarchicalModel build their rows once and call
// add_likelihood (models/likelihood_plan.hpp), the one dispatch from the runtime choice to the
// template. Private header; every (source, form) pair is checked against finite differences in
// tests/models/test_likelihood.cpp.
#pragma once

#include <bactor/engine/tape.hpp>
#include <bactor/models/actor.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/marginal.hpp>
#include <bactor/models/network.hpp>
#include "models/chebyshev.hpp"
#include "models/exact_action.hpp"
#include "models/inference_kernels.hpp"
#include "models/inference_nodes.hpp"
#include "models/motor_kernels.hpp"
#include "models/motor_marginal.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <numbers>
#include <optional>
#include <stdexcept>
#include <span>
#include <type_traits>
#include <vector>

namespace bactor::detail {

// ---- rows ------------------------------------------------------------------------------------

/// One row's trials: x = log s, y = log r, their sufficient statistics, the same trials padded
/// to the SIMD width (weight 0 on the padding) for the vectorised kernels, and the index of the
/// row's first latent in the model's latent vector (sampled form).
struct RowTrials {
  std::vector<double> x, y;
  std::vector<double> r;  // the responses in units of S for the motor forms: e^y unless the caller fills them (r <= 0)
  PowerStats stats;
  std::vector<double> px, py, pw, pr;  // padded x, y, weight, r
  std::size_t z_begin = 0;
  /// The log-normal model with an offset: the response sums tabulated in the offset
  /// (motor_kernels.hpp), built by LikelihoodPlan::finish for that model only.
  std::shared_ptr<const OffsetSums> offset_sums;
  /// Lapse forms: the contaminant's log width for this row alone (a hierarchical fit: each
  /// subject's own range, as a fit of that subject's data would take it); NaN: the form's, one
  /// range for the whole fit.
  double log_width = std::numeric_limits<double>::quiet_NaN();
  double lapse_log_width(double fit_width) const { return std::isnan(log_width) ? fit_width : log_width; }
  std::size_t size() const { return x.size(); }
  PaddedTrials padded() const { return PaddedTrials{px.data(), py.data(), pw.data(), px.size()}; }
  /// Fills stats and the padded layout from x and y.
  void finish();
};

/// Where a row reads its values in V: theta and the lapse probability, and its trials. A row's
/// head reads theta itself, or (network sources) its network node's outputs, given per call.
struct RowRef {
  std::size_t theta_at = 0;  // theta's first element in V
  std::size_t eps_at = 0;    // the lapse probability's element in V (lapse forms)
  const RowTrials* trials = nullptr;
};

/// The gradient of one row's log-likelihood w.r.t. its head's parameters, sigma, sigma_r and the
/// lapse probability.
template <class Head>
struct RowGrad {
  typename Head::Adjoint head{};
  double sigma = 0, sigma_r = 0, eps = 0;
  double motor[2] = {0, 0};  // motor forms: d/d sigma_a, d/d offset
};

// ---- sources ---------------------------------------------------------------------------------

/// The closed-form power-law actor of the quadratic costs; its Jacobian d(log k, w)/dtheta is
/// kept per row. log mu_0 and log beta are recomputed only when a row's value differs from the
/// previous row's (the conditions of one fit share them).
struct ClosedFormSource {
  using Head = PowerHead;
  static constexpr bool reads_network = false;  // the head reads theta in V
  ClosedForm form = ClosedForm::quadratic;
  std::size_t nt = 4;
  ClosedFormSource(ClosedForm f, std::size_t n) : form(f), nt(n) {}
  struct State {
    double jac[2 * 8];
  };
  std::size_t n_in() const { return nt; }
  std::optional<Head> head(const double* theta, const RowTrials&, State& st) const {  // inline: 0.1 µs per gradient
    const double mu = theta[theta_index::mu_0];
    if (!(mu == mu_)) mu_ = mu, lmu_ = std::log(mu);
    double lbeta = 0;
    if (form == ClosedForm::quadratic_effort) {
      const double beta = theta[theta_index::first_cost_param];
      if (!(beta == beta_)) beta_ = beta, lbeta_ = std::log(beta);
      lbeta = lbeta_;
    }
    return closed_form_head_logs(form, std::span<const double>(theta, nt), st.jac, lmu_, lbeta);
  }
  void input_grad(const Head::Adjoint& a, const State& st, double* gin) const {
    for (std::size_t t = 0; t < nt; ++t) gin[t] = a.log_k * st.jac[t] + a.w * st.jac[nt + t];
  }

private:
  mutable double mu_ = NAN, lmu_ = 0, beta_ = NAN, lbeta_ = 0;
};

/// A power- or posterior-head network's outputs x = (log k, logit w, unused).
struct PowerNetSource {
  using Head = PowerHead;
  static constexpr bool reads_network = true;  // the head reads its row's network node
  struct State {};
  std::size_t n_in() const { return 3; }
  std::optional<Head> head(const double* x, const RowTrials&, State&) const {
    return PowerHead{x[0], sigmoid(x[1])};
  }
  void input_grad(const Head::Adjoint& a, const State&, double* gin, const Head& h) const {
    gin[0] = a.log_k;
    gin[1] = a.w * h.w * (1 - h.w);
    gin[2] = 0;
  }
};

/// A softplus-head network's outputs x = (x0, x1, x2): k = softplus(x0), w = sigmoid(x1).
struct SoftplusNetSource {
  using Head = SoftplusHead;
  static constexpr bool reads_network = true;
  struct State {
    double dk = 0;
  };
  std::size_t n_in() const { return 3; }
  std::optional<Head> head(const double* x, const RowTrials&, State& st) const {
    st.dk = sigmoid(x[0]);
    return SoftplusHead{softplus(x[0]), sigmoid(x[1]), x[2]};
  }
  void input_grad(const Head::Adjoint& a, const State& st, double* gin, const Head& h) const {
    gin[0] = a.k * st.dk;
    gin[1] = a.w * h.w * (1 - h.w);
    gin[2] = a.x2;
  }
};

/// The mupost network (the head's parameters are theta itself), tabulated along u over the
/// row's trials (mupost_table); `ws` holds one workspace per row.
struct MupostSource {
  using Head = HeadTable<MupostHead>;
  static constexpr bool reads_network = false;
  const ActionNetwork* net = nullptr;
  const GaussHermiteSet* rules = nullptr;
  ActionNetwork::Workspace* ws = nullptr;  // ws[row]
  struct State {};
  std::size_t n_in() const { return net->n_inputs(); }
  std::optional<Head> head(const double* theta, const RowTrials& t, State&, std::size_t row) const;
  void input_grad(const Head::Adjoint& a, const State&, double* gin, const Head&) const {
    for (std::size_t k = 0; k < n_in(); ++k) gin[k] = a.d[k];
  }
};

/// The exact optimal action of any cost (models/exact_action.hpp); its parameters are theta.
struct ExactSource {
  using Head = ExactHead;
  static constexpr bool reads_network = false;
  const CostInfo* cost = nullptr;
  const ExactActionOptions* opt = nullptr;
  MotorModel motor = MotorModel::lognormal;  // the noise the actor plans for (sigma_a an input)
  PerceptionModel perception = PerceptionModel::lognormal;  // gaussian: a(m) in linear space (LinearForm)
  struct State {};
  std::size_t n_in() const { return action_theta_size(*cost, MotorSpec{motor, false}); }
  std::optional<Head> head(const double* theta, const RowTrials& t, State&) const;
  void input_grad(const Head::Adjoint& a, const State&, double* gin, const Head&) const {
    for (std::size_t k = 0; k < n_in(); ++k) gin[k] = a[k];
  }
};

// ---- forms -----------------------------------------------------------------------------------
// Each runs over one row's trials: returns Σ_i log p(r_i | s_i) (with the 1/r Jacobian), adds
// the gradient to `g` when given, and writes each trial's log-density to trial_ll when given.

/// The measurement integrated out.
struct MarginalForm {
  static constexpr bool lapse = false;
  static constexpr bool sampled = false;
  const GaussHermiteSet* rules = nullptr;

  template <class Head>
  double run(const Head& h, const RowTrials& t, double sig, double sr, double /*eps*/, const double* /*z*/,
             double* /*gz*/, RowGrad<Head>* g, double* trial_ll) const {
    if constexpr (std::is_same_v<Head, PowerHead>) {
      if (trial_ll)
        for (std::size_t i = 0; i < t.size(); ++i) trial_ll[i] = power_trial_loglik(h, t.x[i], t.y[i], sig, sr);
      if (!g) {
        double ll = 0;
        for (std::size_t i = 0; i < t.size(); ++i) ll += trial_ll ? trial_ll[i] : power_trial_loglik(h, t.x[i], t.y[i], sig, sr);
        return ll;
      }
      PowerGrad pg;
      const double ll = power_loglik(h, t.stats, sig, sr, pg);
      g->head.log_k += pg.log_k;
      g->head.w += pg.w;
      g->sigma += pg.sigma;
      g->sigma_r += pg.sigma_r;
      return ll;
    } else if constexpr (std::is_same_v<Head, SoftplusHead>) {
      SoftplusSums s;
      const PaddedTrials p = t.padded();
      double* pll = trial_ll ? scratch_padded(p.n) : nullptr;
      const double ll = softplus_marginal(h, p.n, p.x, p.y, p.wt, sig, sr, rules->for_sigma(sig), s,
                                          default_newton_steps, pll);
      if (pll) std::copy(pll, pll + t.size(), trial_ll);
      if (g) add_softplus(*g, s);
      return ll;
    } else {
      const GaussHermite& rule = rules->for_sigma(sig);
      TrialGrad<Head> tg{};
      double ll = 0;
      // A deferred head's gradient (the mupost table's) is formed once for the row.
      for (std::size_t i = 0; i < t.size(); ++i) {
        const double li = gh_trial_loglik(h, t.x[i], t.y[i], sig, sr, rule, tg, default_newton_steps, false);
        if (trial_ll) trial_ll[i] = li;
        ll += li;
      }
      detail::flush_head(h, tg.head);
      if (g) {
        add_adjoint(g->head, tg.head);
        g->sigma += tg.sigma;
        g->sigma_r += tg.sigma_r;
      }
      return ll;
    }
  }

  /// This thread's scratch for a padded row's per-trial values (value paths only).
  static double* scratch_padded(std::size_t n);
  static void add_softplus(RowGrad<SoftplusHead>& g, const SoftplusSums& s) {
    g.head.k += s.head.k;
    g.head.w += s.head.w;
    g.head.x2 += s.head.x2;
    g.sigma += s.sigma;
    g.sigma_r += s.sigma_r;
  }
  template <class A>
  static void add_adjoint(A& a, const A& b) {
    if constexpr (std::is_same_v<A, PowerHead::Adjoint>) {
      a.log_k += b.log_k;
      a.w += b.w;
    } else if constexpr (std::is_same_v<A, SoftplusHead::Adjoint>) {
      a.k += b.k;
      a.w += b.w;
      a.x2 += b.x2;
    } else if constexpr (requires { b.d; }) {
      for (std::size_t k = 0; k < std::size(b.d); ++k) a.d[k] += b.d[k];
    } else {
      for (std::size_t k = 0; k < a.size(); ++k) a[k] += b[k];
    }
  }
};

/// Sampled latents: u_i = x_i + sigma z_i with z_i ~ N(0, 1) (the prior term -z^2/2 included),
/// log r_i ~ N(log a(u_i), sigma_r); gz (the row's latents' gradient) is written when g is.
struct SampledForm {
  static constexpr bool lapse = false;
  static constexpr bool sampled = true;

  template <class Head>
  double run(const Head& h, const RowTrials& t, double sig, double sr, double /*eps*/, const double* z, double* gz,
             RowGrad<Head>* g, double* trial_ll) const {
    if constexpr (std::is_same_v<Head, SoftplusHead>) {
      if (g && !trial_ll) {
        const PaddedTrials p = t.padded();
        double* pz = MarginalForm::scratch_padded(2 * p.n);
        double* pg = pz + p.n;
        std::copy(z, z + t.size(), pz);
        std::fill(pz + t.size(), pz + p.n, 0.0);
        SoftplusSums s;
        const double ll = softplus_sampled(h, p.n, p.x, p.y, p.wt, pz, sig, sr, pg, s);
        std::copy(pg, pg + t.size(), gz);
        MarginalForm::add_softplus(*g, s);
        return ll;
      }
    }
    return run_scalar(h, t, sig, sr, z, gz, g, trial_ll);
  }

  /// Any head, one trial at a time. trial_ll gets log p(r_i | z_i) without the latent's prior.
  template <class Head>
  static double run_scalar(const Head& h, const RowTrials& t, double sig, double sr, const double* z, double* gz,
                           RowGrad<Head>* g, double* trial_ll) {
    const double ir2 = 1.0 / (sr * sr), c = std::log(sr) + 0.5 * std::log(2 * std::numbers::pi);
    double ll = 0, se2 = 0, gs = 0, dp[Head::n_params];
    for (std::size_t k = 0; k < t.size(); ++k) {
      double dla;
      const double la = h.eval(t.x[k] + sig * z[k], dla, dp);
      const double e = t.y[k] - la, gk = e * ir2;
      if (trial_ll) trial_ll[k] = -0.5 * e * e * ir2 - c - t.y[k];
      se2 += e * e;
      if (g) {
        Head::add(g->head, dp, gk);
        gz[k] = gk * dla * sig - z[k];
        gs += gk * dla * z[k];
      }
      ll -= 0.5 * z[k] * z[k] + t.y[k];
    }
    const double n = double(t.size());
    if (g) {
      g->sigma += gs;
      g->sigma_r += -n / sr + se2 * ir2 / sr;
    }
    return ll - 0.5 * se2 * ir2 - n * c;
  }
};

/// A head's adjoint times r (lapse forms weight each trial's gradient by its responsibility).
template <class A>
A scaled_adjoint(A a, double r) {
  if constexpr (std::is_same_v<A, PowerHead::Adjoint>) {
    a.log_k *= r;
    a.w *= r;
  } else if constexpr (std::is_same_v<A, SoftplusHead::Adjoint>) {
    a.k *= r;
    a.w *= r;
    a.x2 *= r;
  } else if constexpr (requires { a.d; }) {
    for (double& v : a.d) v *= r;
  } else {
    for (double& v : a) v *= r;
  }
  return a;
}

/// Lapses over a base form: per trial log((1 - eps) p_base(r_i) + eps p_cont(r_i)), the
/// contaminant log r ~ U over a range of width e^{log_width}; each trial's gradient w.r.t. the
/// actor is the base form's weighted by its responsibility rho_i = (1 - eps) p_base / p.
/// The power-law and softplus marginals use their fused kernels' mixtures; every other
/// (head, base) pair runs the base form trial by trial.
template <class Base>
struct LapseForm {
  static constexpr bool lapse = true;
  static constexpr bool sampled = Base::sampled;
  Base base;
  double log_width = 0;

  template <class Head>
  double run(const Head& h, const RowTrials& t, double sig, double sr, double eps, const double* z, double* gz,
             RowGrad<Head>* g, double* trial_ll) const {
    const LapseMix mix = LapseMix::of(eps, t.lapse_log_width(log_width));
    if constexpr (!Base::sampled && std::is_same_v<Head, PowerHead>) {
      const PaddedTrials p = t.padded();
      double* pll = trial_ll ? MarginalForm::scratch_padded(p.n) : nullptr;
      PowerLapseSums s;
      const double ll = power_lapse(h, p.n, p.x, p.y, p.wt, sig, sr, mix, s, pll);
      if (pll) std::copy(pll, pll + t.size(), trial_ll);
      if (g) {
        g->head.log_k += s.log_k;
        g->head.w += s.w;
        g->sigma += s.sigma;
        g->sigma_r += s.sigma_r;
        g->eps += lapse_gradient(eps, s.n, s.rho);
      }
      return ll;
    } else if constexpr (!Base::sampled && std::is_same_v<Head, SoftplusHead>) {
      const PaddedTrials p = t.padded();
      double* pll = trial_ll ? MarginalForm::scratch_padded(p.n) : nullptr;
      SoftplusSums s;
      const double ll = softplus_marginal(h, p.n, p.x, p.y, p.wt, sig, sr, base.rules->for_sigma(sig), s,
                                          default_newton_steps, pll, &mix);
      if (pll) std::copy(pll, pll + t.size(), trial_ll);
      if (g) {
        MarginalForm::add_softplus(*g, s);
        g->eps += lapse_gradient(eps, double(t.size()), s.rho);
      }
      return ll;
    } else {
      double ll = 0, rho = 0;
      for (std::size_t i = 0; i < t.size(); ++i) {
        RowGrad<Head> gi{};
        const double li = trial(h, t, i, sig, sr, z, gz, g ? &gi : nullptr);
        // log p = log((1 - eps) e^{li + y} + eps e^{log_eps_cont}) - y (both densities of log r).
        const double a = mix.log1m_eps + li + t.y[i], b = mix.log_eps_cont;
        const double m = std::max(a, b);
        const double lp = m + std::log(std::exp(a - m) + std::exp(b - m)) - t.y[i];
        if (trial_ll) trial_ll[i] = lp;
        ll += lp;
        if (g) {
          const double r = std::exp(a - m - std::log(std::exp(a - m) + std::exp(b - m)));  // rho_i
          rho += r;
          MarginalForm::add_adjoint(g->head, scaled_adjoint(gi.head, r));
          g->sigma += r * gi.sigma;
          g->sigma_r += r * gi.sigma_r;
          if constexpr (Base::sampled) gz[i] = r * (gz[i] + z[i]) - z[i];  // the prior term is not mixed
        }
        if constexpr (Base::sampled) ll -= 0.5 * z[i] * z[i];
      }
      if (g) g->eps += lapse_gradient(eps, double(t.size()), rho);
      return ll;
    }
  }


private:
  /// The base form's log-density of trial i alone (sampled: given z_i, without its prior), its
  /// gradient into gi (sampled: d/dz_i into gz[i], prior term included as SampledForm gives it).
  template <class Head>
  double trial(const Head& h, const RowTrials& t, std::size_t i, double sig, double sr, const double* z, double* gz,
               RowGrad<Head>* gi) const {
    if constexpr (Base::sampled) {
      double dp[Head::n_params], dla;
      const double ir2 = 1.0 / (sr * sr);
      const double la = h.eval(t.x[i] + sig * z[i], dla, dp);
      const double e = t.y[i] - la, gk = e * ir2;
      if (gi) {
        Head::add(gi->head, dp, gk);
        gz[i] = gk * dla * sig - z[i];
        gi->sigma = gk * dla * z[i];
        gi->sigma_r = -1.0 / sr + e * e * ir2 / sr;
      }
      return -0.5 * e * e * ir2 - std::log(sr) - 0.5 * std::log(2 * std::numbers::pi) - t.y[i];
    } else {
      TrialGrad<Head> tg{};
      const double li = gh_trial_loglik(h, t.x[i], t.y[i], sig, sr, base.rules->for_sigma(sig), tg);
      if (gi) {
        gi->head = tg.head;
        gi->sigma = tg.sigma;
        gi->sigma_r = tg.sigma_r;
      }
      return li;
    }
  }
};

/// The measurement integrated out under motor model M (LognormalMotor, GeneralizedMotor,
/// GaussianMotor) with an optional offset: the power-law and softplus heads by the fused SIMD
/// kernels of models/motor_kernels.hpp (the log-normal model under a power law exactly), other
/// heads by adaptive Gauss–Hermite trial by trial (motor_trial_loglik). The motor parameters are
/// read from the row's theta: sigma_r at its slot, sigma_a and the offset at sa_at and off_at
/// (npos: not a parameter, 0). LapseForm<MotorForm<M>> mixes in lapses.
template <class M>
struct MotorForm {
  static constexpr bool lapse = false;
  static constexpr bool sampled = false;
  static constexpr bool motor_form = true;
  using Motor = M;
  static constexpr std::size_t none = std::size_t(-1);
  const GaussHermiteSet* rules = nullptr;
  std::size_t sa_at = none, off_at = none;

  MotorParams params(const double* theta) const {
    return {theta[theta_index::sigma_r], sa_at == none ? 0.0 : theta[sa_at], off_at == none ? 0.0 : theta[off_at]};
  }
  template <class Head>
  double run(const Head& h, const RowTrials& t, double sig, const MotorParams& mp, double /*eps*/, const double* /*z*/,
             double* /*gz*/, RowGrad<Head>* g, double* trial_ll) const {
    return run_mix(h, t, sig, mp, 0.0, nullptr, nullptr, nullptr, g, trial_ll);
  }
  /// Whether theta's motor parameters are in the model's domain.
  bool valid(const MotorParams& mp) const {
    return (mp.sa > 0 || sa_at == none) && std::isfinite(mp.sa) && std::isfinite(mp.delta);
  }

  /// Without lapses (mix null), or each trial mixed with the contaminant of `mix`: uniform in log
  /// r for the log-normal families, uniform in r for the gaussian one (motor_kernels.hpp).
  template <class Head>
  double run_mix(const Head& h, const RowTrials& t, double sig, const MotorParams& mp, double eps, const LapseMix* mix,
                 const double* /*z*/, double* /*gz*/, RowGrad<Head>* g, double* trial_ll) const {
    if (!valid(mp)) {
      if (trial_ll) std::fill(trial_ll, trial_ll + t.size(), -INFINITY);
      return -INFINITY;
    }
    MotorSums s;
    typename Head::Adjoint scalar_head{};  // the scalar path's head adjoint (any head)
    double ll;
    if constexpr (std::is_same_v<Head, PowerHead> || std::is_same_v<Head, SoftplusHead>) {
      const std::size_t n = t.px.size();
      double* pll = trial_ll ? MarginalForm::scratch_padded(n) : nullptr;
      if constexpr (std::is_same_v<Head, PowerHead> && std::is_same_v<M, LognormalMotor>) {
        // O(1) from the tabulated sums where they apply, else one log per trial.
        if (mix || pll || !t.offset_sums || !t.offset_sums->marginal(h, sig, mp, s, ll))
          ll = lognormal_offset_marginal(h, n, t.px.data(), t.pr.data(), t.pw.data(), sig, mp, s, pll, mix);
      } else
        ll = motor_marginal<Head, M>(h, n, t.px.data(), t.pr.data(), t.pw.data(), sig, mp, rules->for_sigma(sig), s,
                                     pll, mix);
      if (pll) std::copy(pll, pll + t.size(), trial_ll);
    } else {
      ll = run_scalar(h, t, sig, mp, mix, s, scalar_head, trial_ll);
    }
    if (g && std::isfinite(ll)) {
      if constexpr (std::is_same_v<Head, PowerHead>) {
        g->head.log_k += s.head[0];
        g->head.w += s.head[1];
      } else if constexpr (std::is_same_v<Head, SoftplusHead>) {
        g->head.k += s.head[0];
        g->head.w += s.head[1];
        g->head.x2 += s.head[2];
      } else {
        MarginalForm::add_adjoint(g->head, scalar_head);
      }
      g->sigma += s.sigma;
      g->sigma_r += s.sigma_r;
      g->motor[0] += s.sa;
      g->motor[1] += s.delta;
      if (mix) g->eps += lapse_gradient(eps, double(t.size()), s.rho);
    }
    return ll;
  }

private:
  /// Any head, one trial at a time (motor_trial_loglik); the head's adjoint goes to `head`
  /// (mupost and exact heads have more parameters than MotorSums holds).
  template <class Head>
  double run_scalar(const Head& h, const RowTrials& t, double sig, const MotorParams& mp, const LapseMix* mix,
                    MotorSums& s, typename Head::Adjoint& head, double* trial_ll) const {
    const GaussHermite& rule = rules->for_sigma(sig);
    double ll = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
      TrialGrad<Head> tg{};
      MotorGrad mg;
      double li = motor_trial_loglik<M>(h, t.x[i], t.r[i], sig, mp, rule, tg, mg);
      double rho = std::isfinite(li) ? 1.0 : 0.0;
      if (mix) {  // log p = log((1 - eps) p_actor + eps p_cont), both densities of r
        const double a = mix->log1m_eps + li;
        const double b = mix->log_eps_cont - (std::is_same_v<M, GaussianMotor> ? 0.0 : t.y[i]);
        const double m = std::max(a, b);
        const double lse = m + std::log(std::exp(a - m) + std::exp(b - m));
        rho = std::isfinite(a) ? std::exp(a - lse) : 0.0;
        li = lse;
        s.rho += rho;
      }
      if (trial_ll) trial_ll[i] = li;
      ll += li;
      if (rho > 0) {
        MarginalForm::add_adjoint(head, scaled_adjoint(tg.head, rho));
        s.sigma += rho * tg.sigma;
        s.sigma_r += rho * tg.sigma_r;
        s.sa += rho * mg.sa;
        s.delta += rho * mg.delta;
      }
    }
    return ll;
  }
};

/// Sampled latents under motor model M: u_i = x_i + sigma z_i with z_i ~ N(0, 1) (the prior term
/// -z^2/2 included), r_i from the motor density at log a(u_i); one trial at a time, any head.
/// trial_ll gets log p(r_i | z_i) without the latent's prior; gz (the row's latents' gradient)
/// is written when g is (the prior's -z_i alone where the row's value is not finite).
template <class M>
struct SampledMotorForm : MotorForm<M> {
  static constexpr bool sampled = true;

  template <class Head>
  double run(const Head& h, const RowTrials& t, double sig, const MotorParams& mp, double /*eps*/, const double* z,
             double* gz, RowGrad<Head>* g, double* trial_ll) const {
    return run_mix(h, t, sig, mp, 0.0, nullptr, z, gz, g, trial_ll);
  }
  /// With lapses (mix given): each trial's log p(r_i | z_i) is the mixture with the contaminant
  /// (as MotorForm::run_mix), its gradient weighted by its responsibility; the prior is not mixed.
  template <class Head>
  double run_mix(const Head& h, const RowTrials& t, double sig, const MotorParams& mp, double eps, const LapseMix* mix,
                 const double* z, double* gz, RowGrad<Head>* g, double* trial_ll) const {
    if (!this->valid(mp)) {
      if (trial_ll) std::fill(trial_ll, trial_ll + t.size(), -INFINITY);
      if (g)
        for (std::size_t i = 0; i < t.size(); ++i) gz[i] = -z[i];
      return -INFINITY;
    }
    RowGrad<Head> acc{};
    double ll = 0, rho_sum = 0, dp[Head::n_params];
    for (std::size_t i = 0; i < t.size(); ++i) {
      const MotorTrial mt = M::prepare(t.r[i], mp);
      double dla = 0;
      const double la = h.eval(t.x[i] + sig * z[i], dla, dp);
      const MotorEval me = mt.valid ? M::eval(mt, la, mp) : MotorEval{-INFINITY, 0, 0, 0, 0, 0};
      double li = me.l, rho = std::isfinite(li) ? 1.0 : 0.0;
      if (mix) {  // both densities of r
        const double a = mix->log1m_eps + li;
        const double b = mix->log_eps_cont - (std::is_same_v<M, GaussianMotor> ? 0.0 : t.y[i]);
        const double m = std::max(a, b);
        li = m + std::log(std::exp(a - m) + std::exp(b - m));
        rho = std::isfinite(a) ? std::exp(a - li) : 0.0;
        rho_sum += rho;
      }
      if (trial_ll) trial_ll[i] = li;
      ll += li - 0.5 * z[i] * z[i];
      if (g) {
        const double gl = rho > 0 ? rho * me.dl : 0.0;
        Head::add(acc.head, dp, gl);
        acc.sigma += gl * dla * z[i];
        if (rho > 0) {
          acc.sigma_r += rho * me.dsr;
          acc.motor[0] += rho * me.dsa;
          acc.motor[1] += rho * me.ddelta;
        }
        gz[i] = gl * dla * sig - z[i];
      }
    }
    if (g && std::isfinite(ll)) {
      MarginalForm::add_adjoint(g->head, acc.head);
      g->sigma += acc.sigma;
      g->sigma_r += acc.sigma_r;
      g->motor[0] += acc.motor[0];
      g->motor[1] += acc.motor[1];
      if (mix) g->eps += lapse_gradient(eps, double(t.size()), rho_sum);
    } else if (g) {
      for (std::size_t i = 0; i < t.size(); ++i) gz[i] = -z[i];
    }
    return ll;
  }
};

/// Lapses over a motor form (MotorForm or SampledMotorForm): the mixture runs inside the form's
/// loops (its run_mix).
template <class Base>
struct MotorLapse : Base {
  static constexpr bool lapse = true;
  double log_width = 0;  // log W of the contaminant (see MotorForm::run_mix)
  MotorLapse(const Base& base, double lw) : Base(base), log_width(lw) {}
  template <class Head>
  double run(const Head& h, const RowTrials& t, double sig, const MotorParams& mp, double eps, const double* z,
             double* gz, RowGrad<Head>* g, double* trial_ll) const {
    const LapseMix mix = LapseMix::of(eps, t.lapse_log_width(log_width));
    return this->run_mix(h, t, sig, mp, eps, &mix, z, gz, g, trial_ll);
  }
};
template <class M>
struct LapseForm<MotorForm<M>> : MotorLapse<MotorForm<M>> {
  using MotorLapse<MotorForm<M>>::MotorLapse;
};
template <class M>
struct LapseForm<SampledMotorForm<M>> : MotorLapse<SampledMotorForm<M>> {
  using MotorLapse<SampledMotorForm<M>>::MotorLapse;
};
template <class F>
inline constexpr bool is_motor_form = requires { F::motor_form; };

// ---- the composed node -----------------------------------------------------------------------

namespace lik {
/// The node's arena data: operands, the rows' references and their saved gradients. Each row
/// keeps `width` gradient entries: where the head reads theta in V (net_out null), theta's
/// gradient with the sigma and sigma_r terms folded in (n_in), then sigma_a's and the offset's
/// (motor forms), then the lapse probability's (lapse forms); where it reads a network node,
/// that node's adjoint (n_in = 3), then sigma, sigma_r, sigma_a and the offset, and the lapse
/// probability.
struct Op {
  Var V, z;
  Elem acc;
  const double* gz;          // d/dz of every latent (sampled forms), or null
  const RowRef* rows;        // n_rows, the caller's (they outlive the node)
  const Var* net_out;        // n_rows network output nodes (arena copy), or null: the head reads V
  double* g;                 // n_rows x width
  std::uint32_t n_rows, n_in, width;
  std::size_t motor_at[2];   // theta offsets of sigma_a and the offset (motor forms), or npos
};
/// The reverse pass, one per layout of the saved gradient (network inputs or theta in V, with
/// or without a lapse probability, with or without the motor parameters): no branch on either
/// inside the row loop.
template <bool Net, bool Lapse, bool Motor>
void backward(Node& n);
/// Width of a row's saved gradient (see Op): the inputs, sigma and sigma_r where the head reads a
/// network, the lapse probability (lapse forms), sigma_a and the offset (motor forms).
constexpr std::size_t grad_width(bool net, std::size_t n_in, bool lapse, bool motor) {
  return n_in + (net ? 2 : 0) + (lapse ? 1 : 0) + (motor ? 2 : 0);
}
/// The node and its arena data; Net (the heads read network nodes), Lapse, Sampled (z is an
/// operand) and Motor (sigma_a and the offset at theta offsets sa_at, off_at) are the form's and
/// source's, known at compile time (inline: a whole closed-form gradient takes 0.1 µs).
template <bool Net, bool Lapse, bool Sampled, bool Motor>
[[gnu::always_inline]] inline Node* make(Var V, std::span<const RowRef> rows, std::span<const Var> net_out,
                                         std::size_t n_in, Elem acc, Var z, Op*& op,
                                         std::size_t sa_at = std::size_t(-1), std::size_t off_at = std::size_t(-1)) {
  Tape& tape = Tape::current();
  bool grad = V.needs_grad() || (!acc.empty() && acc.v.needs_grad());
  if constexpr (Sampled) grad = grad || z.needs_grad();
  if constexpr (Net)
    for (const Var& x : net_out) grad = grad || (x.node() && x.needs_grad());
  Node* n = tape.make_node(1, 1, grad, &backward<Net, Lapse, Motor>);
  const std::size_t nr = rows.size(), nz = Sampled ? z.size() : 0, nn = Net ? nr : 0;
  const std::size_t width = grad_width(Net, n_in, Lapse, Motor);
  auto* mem = static_cast<std::byte*>(tape.allocate(sizeof(Op) + nn * sizeof(Var) + (nr * width + nz) * sizeof(double)));
  Var* outs = Net ? reinterpret_cast<Var*>(mem + sizeof(Op)) : nullptr;
  if constexpr (Net) std::memcpy(static_cast<void*>(outs), net_out.data(), nn * sizeof(Var));
  double* g = reinterpret_cast<double*>(mem + sizeof(Op) + nn * sizeof(Var));
  double* gz = nullptr;
  if constexpr (Sampled) {
    gz = g + nr * width;
    // Every row writes its own latents' gradient (zeros where it fails); latents outside every
    // row's trials, if the caller has any, get 0.
    std::size_t covered = 0;
    for (const RowRef& r : rows) covered += r.trials->size();
    if (covered != nz) std::fill(gz, gz + nz, 0.0);
  }
  op = ::new (mem) Op{V, z, acc, gz, rows.data(), outs, g, std::uint32_t(nr), std::uint32_t(n_in), std::uint32_t(width),
                     {sa_at, off_at}};
  n->data = op;
  return n;
}

/// d log p / d theta at the row's inputs: a head's input_grad, whichever signature it has.
template <class Source, class Head>
void input_grad(const Source& src, const typename Source::Head::Adjoint& a, const typename Source::State& st,
                double* gin, const Head& h) {
  if constexpr (requires { src.input_grad(a, st, gin, h); }) src.input_grad(a, st, gin, h);
  else src.input_grad(a, st, gin);
}
template <class Source>
auto make_head(const Source& src, const double* in, const RowTrials& t, typename Source::State& st, std::size_t r) {
  if constexpr (requires { src.head(in, t, st, r); }) return src.head(in, t, st, r);
  else return src.head(in, t, st);
}
/// A row's noise levels and lapse probability, read from V.
struct RowParams {
  double sig, sr, eps;
  template <bool Lapse>
  static RowParams of(const double* V, const RowRef& row) {
    const double* theta = V + row.theta_at;
    return {theta[theta_index::sigma], theta[theta_index::sigma_r], Lapse ? V[row.eps_at] : 0.0};
  }
  /// False where the head is undefined: sigma or sigma_r not a positive number.
  bool valid() const { return sig > 0 && sr > 0 && sig < INFINITY && sr < INFINITY; }
};
} // namespace lik

/// acc + Σ_rows log p(trials of the row | theta of the row) as one tape node. net_out: each row's
/// network output node (network sources; empty: the heads read theta in V). z: the latents
/// (sampled forms; a row's latents start at its trials' z_begin). `rows` must outlive the node.
/// Backward: into each row's inputs (theta in V or the network outputs), sigma and sigma_r (and
/// eps; with a motor form sigma_a and the offset) in V, z and acc. A row whose
/// parameters leave the source's domain (NaN, non-positive noise, no optimal action) gives the
/// value -inf or NaN with gradient 0, which the sampler treats as a divergence (also when the exact
/// action's solver finds no minimum at a node outside its table: std::domain_error is caught here,
/// in the forward pass; nothing throws in the backward pass).
template <class Source, class Form>
Var likelihood_node(const Source& src, const Form& form, Var V, std::span<const RowRef> rows,
                    std::span<const Var> net_out = {}, Elem acc = {}, Var z = {}) {
  using Head = typename Source::Head;
  const std::size_t n_in = src.n_in();
  constexpr bool net = Source::reads_network;
  const std::size_t width = lik::grad_width(net, n_in, Form::lapse, is_motor_form<Form>);
  lik::Op* op;
  constexpr bool motor = is_motor_form<Form>;
  Node* n;
  if constexpr (motor)
    n = lik::make<net, Form::lapse, Form::sampled, true>(V, rows, net_out, n_in, acc, z, op, form.sa_at, form.off_at);
  else n = lik::make<net, Form::lapse, Form::sampled, false>(V, rows, net_out, n_in, acc, z, op);
  const double* vv = V.values().data();
  const double* zv = Form::sampled ? z.values().data() : nullptr;
  double* gz = const_cast<double*>(op->gz);
  double value = acc.value();
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const RowRef& row = rows[r];
    const RowTrials& t = *row.trials;
    double* gr = op->g + r * width;
    // A row without a gradient (no trials, undefined head): zeros, and its latents' too.
    auto skip = [&](double v) {
      value = v;
      std::fill(gr, gr + width, 0.0);
      if (gz) std::fill(gz + t.z_begin, gz + t.z_begin + t.size(), 0.0);
    };
    if (t.size() == 0) {
      std::fill(gr, gr + width, 0.0);
      continue;
    }
    const lik::RowParams p = lik::RowParams::of<Form::lapse>(vv, row);
    if (!p.valid()) {
      skip(-INFINITY);
      continue;
    }
    typename Source::State st;  // the source's head() fills what its input_grad() reads
    const std::optional<Head> h = lik::make_head(src, net ? net_out[r].values().data() : vv + row.theta_at, t, st, r);
    if (!h) {
      skip(-INFINITY);
      continue;
    }
    RowGrad<Head> g{};
    try {
      if constexpr (motor)
        value += form.run(*h, t, p.sig, form.params(vv + row.theta_at), p.eps, zv ? zv + t.z_begin : nullptr,
                          gz ? gz + t.z_begin : nullptr, &g, nullptr);
      else value += form.run(*h, t, p.sig, p.sr, p.eps, zv ? zv + t.z_begin : nullptr, gz ? gz + t.z_begin : nullptr, &g,
                             nullptr);
    } catch (const std::domain_error&) {  // the exact action's solve outside its table found no minimum
      skip(-INFINITY);
      continue;
    }
    lik::input_grad(src, g.head, st, gr, *h);
    if constexpr (net) {
      gr[n_in] = g.sigma;
      gr[n_in + 1] = g.sigma_r;
    } else {  // the head's inputs are theta, which holds sigma and sigma_r
      gr[theta_index::sigma] += g.sigma;
      gr[theta_index::sigma_r] += g.sigma_r;
    }
    if constexpr (motor) {  // before the lapse probability's entry (lik::Op)
      gr[width - 2 - Form::lapse] = g.motor[0];
      gr[width - 1 - Form::lapse] = g.motor[1];
    }
    if constexpr (Form::lapse) gr[width - 1] = g.eps;
  }
  n->val[0] = value;
  return Var(n);
}

/// Each trial's log-density (value only: no tape, no gradient) into out[r][i] = out_row[r] + i.
/// `in[r]`: row r's head inputs (theta, or the network's outputs at theta).
template <class Source, class Form>
void likelihood_trials(const Source& src, const Form& form, const double* V, std::span<const RowRef> rows,
                       std::span<const double* const> in, const double* z, std::span<double* const> out) {
  using Head = typename Source::Head;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const RowRef& row = rows[r];
    const RowTrials& t = *row.trials;
    if (t.size() == 0) continue;
    const lik::RowParams p = lik::RowParams::of<Form::lapse>(V, row);
    typename Source::State st{};
    const std::optional<Head> h = p.valid() ? lik::make_head(src, in[r], t, st, r) : std::nullopt;
    const double sig = p.sig, sr = p.sr, eps = p.eps;
    if (!h) {
      std::fill(out[r], out[r] + t.size(), -INFINITY);
      continue;
    }
    try {
      if constexpr (is_motor_form<Form>)
        form.run(*h, t, sig, form.params(V + row.theta_at), eps, z ? z + t.z_begin : nullptr, nullptr,
                 static_cast<RowGrad<Head>*>(nullptr), out[r]);
      else form.run(*h, t, sig, sr, eps, z ? z + t.z_begin : nullptr, nullptr, static_cast<RowGrad<Head>*>(nullptr), out[r]);
    } catch (const std::domain_error&) {
      std::fill(out[r], out[r] + t.size(), -INFINITY);
    }
  }
}

} // namespace bactor::detail
