// SPDX-License-Identifier: MIT
#include "models/circular.hpp"

#include <bactor/engine/errors.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/simulate.hpp>
#include "engine/simd_math.hpp"
#include "models/inference_kernels.hpp"
#include "samplers/angles.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <cstring>
#include <new>

namespace bactor {

namespace {
constexpr double pi = std::numbers::pi, two_pi = 2 * std::numbers::pi;
constexpr double log_2pi = 1.8378770664093454836;

/// sqrt(2 pi kappa) I_nu(kappa) e^{-kappa} by the asymptotic expansion (nu = 0, 1; kappa >= 30):
/// terms t_k = t_{k-1} ((2k - 1)^2 - 4 nu^2) / (8 kappa k), summed while they shrink.
double bessel_asymptotic(int nu, double kappa) {
  double t = 1, sum = 1;
  for (int k = 1; k < 60; ++k) {
    const double next = t * ((2.0 * k - 1) * (2.0 * k - 1) - 4.0 * nu * nu) / (8.0 * kappa * k);
    if (std::abs(next) >= std::abs(t) && k > 1) break;
    t = next;
    sum += t;
    if (std::abs(t) < 1e-17 * std::abs(sum)) break;
  }
  return sum;
}
constexpr double series_limit = 30;  // power series below, asymptotic expansion above

/// I0(kappa) and I1(kappa) by their power series (kappa < series_limit: every term positive).
void bessel_series(double kappa, double& i0, double& i1) {
  const double q = 0.25 * kappa * kappa;
  double t0 = 1, t1 = 0.5 * kappa;
  i0 = t0;
  i1 = t1;
  for (int k = 1; k < 200; ++k) {
    t0 *= q / (double(k) * k);
    t1 *= q / (double(k) * (k + 1));
    i0 += t0;
    i1 += t1;
    if (t0 < 1e-17 * i0 && t1 < 1e-17 * i1) break;
  }
}
} // namespace

double wrap_angle(double x) { return detail::wrap_angle(x); }  // the sampler's (samplers/angles.hpp)

double log_i0e(double kappa) {
  if (kappa < series_limit) {
    double i0, i1;
    bessel_series(kappa, i0, i1);
    return std::log(i0) - kappa;
  }
  return std::log(bessel_asymptotic(0, kappa)) - 0.5 * std::log(two_pi * kappa);
}

double bessel_ratio(double kappa) {
  if (kappa < series_limit) {
    double i0, i1;
    bessel_series(kappa, i0, i1);
    return i1 / i0;
  }
  return bessel_asymptotic(1, kappa) / bessel_asymptotic(0, kappa);
}

double vonmises_logpdf(double x, double mu, double kappa) {
  return kappa * (std::cos(x - mu) - 1) - log_2pi - log_i0e(kappa);
}

VonMisesPosterior vonmises_posterior(double mu_0, double kappa_0, double m, double kappa) {
  const double c = kappa_0 * std::cos(mu_0) + kappa * std::cos(m), s = kappa_0 * std::sin(mu_0) + kappa * std::sin(m);
  return {std::atan2(s, c), std::hypot(c, s)};
}

double sample_vonmises(Rng& rng, double mu, double kappa) {
  if (kappa < 1e-8) return wrap_angle(rng.uniform(-pi, pi));
  if (kappa > 1e7) return wrap_angle(mu + rng.normal() / std::sqrt(kappa));
  // Best & Fisher (1979): a wrapped Cauchy envelope, accepted by two squeeze tests.
  const double tau = 1 + std::sqrt(1 + 4 * kappa * kappa);
  const double rho = (tau - std::sqrt(2 * tau)) / (2 * kappa);
  const double rr = (1 + rho * rho) / (2 * rho);
  double f;
  for (;;) {
    const double z = std::cos(pi * rng.uniform());
    f = (1 + rr * z) / (rr + z);
    const double c = kappa * (rr - f), u2 = rng.uniform();
    if (c * (2 - c) - u2 > 0 || std::log(c / u2) + 1 - c >= 0) break;
  }
  const double angle = std::acos(std::clamp(f, -1.0, 1.0));
  return wrap_angle(rng.uniform() > 0.5 ? mu + angle : mu - angle);
}

CircularParams CircularParams::of(const double* theta) {
  return {1.0 / (theta[0] * theta[0]), 1.0 / (theta[1] * theta[1]), theta[2], 1.0 / (theta[3] * theta[3])};
}

double simulate_circular_response(const CircularParams& p, double s, Rng& rng) {
  const double m = sample_vonmises(rng, s, p.kappa);
  const double a = vonmises_posterior(p.mu_0, p.kappa_0, m, p.kappa).mu;
  return sample_vonmises(rng, a, p.kappa_r);
}

CircularAction check_circular_cost(const CostInfo& cost) {
  const std::string what = cost.name + " under --perception vonmises";
  if (cost.name == "QuadraticCost" || cost.name == "AbsoluteCost") return CircularAction::mu_post;  // read on d = wrap(r - s)
  if (cost.expression.empty())
    throw ArgumentError("cost", what + " is not supported: use QuadraticCost (d^2 of the wrapped error d), "
                                       "AbsoluteCost (|d|) or a formula of r - s such as '1 - cos(r - s)' (which may "
                                       "be asymmetric and have parameters, e.g. '1 - cos(r - s) + c*sin(r - s)')");
  if (cost.params.size() > detail::max_cost_params) throw ArgumentError("cost", what + ": too many parameters");
  // l(s, r; c) must be a function of d = wrap(r - s) alone: checked on a grid of stimuli and
  // errors, at the priors' draws of the parameters (three, fixed seed).
  Rng rng(20261206, 0);
  std::vector<std::array<double, detail::max_cost_params>> draws(cost.params.empty() ? 1 : 3);
  for (auto& p : draws)
    for (std::size_t k = 0; k < cost.params.size(); ++k) p[k] = sample_prior(cost.params[k], rng);
  const double tol = 1e-9;
  bool symmetric = true, monotone = true;
  for (const auto& p : draws) {
    auto l = [&](double s, double r) { return cost.loss(s, r, p.data()); };
    for (double s : {-3.1, -1.7, -0.4, 0.0, 0.9, 2.2, 3.1}) {
      double prev = -INFINITY;
      for (int k = 0; k <= 48; ++k) {
        const double d = pi * k / 48;
        const double v = l(s, s + d), scale = tol * (1 + std::abs(v));
        const bool ok_shift = std::abs(v - l(0.0, d)) <= scale && std::abs(v - l(s, s + d - two_pi)) <= scale &&
                              std::abs(l(s, s - d) - l(0.0, -d)) <= scale;
        if (!std::isfinite(v) || !ok_shift)
          throw ArgumentError("cost", what + ": the formula is not a function of the wrapped difference r - s (it changes "
                                             "when both angles turn, or when r turns by 2 pi); write it with periodic "
                                             "functions of r - s, e.g. '1 - cos(r - s)'");
        if (std::abs(v - l(s, s - d)) > scale) symmetric = false;
        if (v < prev - scale) monotone = false;
        prev = v;
      }
    }
  }
  if (!cost.params.empty() && symmetric)
    throw ArgumentError("cost", what + ": the formula is symmetric in r - s, so its parameters would not change the "
                                       "action (a* = mu_post) and cannot be inferred; use a cost without parameters");
  if (!symmetric) return CircularAction::shifted;
  if (!monotone)
    throw ArgumentError("cost", what + ": the formula decreases as |r - s| grows towards pi, so mu_post is not its "
                                       "optimal action; not supported");
  return CircularAction::mu_post;
}

CircularActor::CircularActor(const CostInfo& cost, const double* theta)
    : p_(CircularParams::of(theta)), shifted_(check_circular_cost(cost) == CircularAction::shifted) {
  if (!shifted_) return;
  const int N = detail::circular_terms(p_.kappa + p_.kappa_0, p_.kappa_r);
  detail::circular_cost_series(cost, theta + 4, N, series_);
  solver_ = std::make_unique<detail::CircularShiftSolver>(series_, p_.kappa_r);
  d_top_ = solver_->solve(p_.kappa + p_.kappa_0).d;
}

double CircularActor::action(double m) const {
  const VonMisesPosterior post = vonmises_posterior(p_.mu_0, p_.kappa_0, m, p_.kappa);
  if (!shifted_) return post.mu;
  return wrap_angle(post.mu + solver_->solve(post.kappa, &d_top_).d);
}

double CircularActor::respond(double s, Rng& rng) const {
  return sample_vonmises(rng, action(sample_vonmises(rng, s, p_.kappa)), p_.kappa_r);
}

int circular_nodes(const CircularParams& p) {
  // d mu_post / dm is kappa / (kappa + kappa_0) where m is at mu_0 and kappa / |kappa - kappa_0|
  // where m is opposite it (the posterior's resultant is shortest there, and mu_post turns
  // fastest); the larger sets the integrand's sharpest feature.
  const double w = p.kappa / std::max(std::abs(p.kappa - p.kappa_0), 1e-3 * (p.kappa + p.kappa_0));
  const double n = 10 * std::sqrt(p.kappa + p.kappa_r * w * w) + 32;
  if (!(n < circular_max_nodes)) return circular_max_nodes;
  return (int(n) + 8) & ~7;
}

namespace detail {

Dataset simulate_circular(const SimulationSpec& spec, std::vector<std::size_t>* lapsed) {
  const std::string what = "--perception vonmises";
  if (!spec.cost) throw std::invalid_argument("simulate: no cost family given");
  check_circular_cost(*spec.cost);
  if (!(spec.lapse >= 0 && spec.lapse < 1)) throw ArgumentError("lapse", "must be in [0, 1)");
  if (!spec.motor.plain()) throw ArgumentError("motor", what + " has von Mises motor noise (sigma_r); --motor and --offset do not apply");
  if (spec.network) throw ArgumentError("network", what + ": the action is solved numerically, no network is used");
  if (spec.trials == 0) throw ArgumentError("trials", "must be positive");
  if (!(spec.s_lo < spec.s_hi) || !std::isfinite(spec.s_lo) || !std::isfinite(spec.s_hi))
    throw ArgumentError("stimuli", "need finite s_lo < s_hi (angles in radians)");
  const std::vector<std::string> names = theta_names(*spec.cost);
  std::string known_list;
  for (const auto& n : names) known_list += (known_list.empty() ? "" : ", ") + n;
  auto known = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  std::size_t n_cond = 1;
  const std::map<std::string, std::vector<double>> by_cond = condition_values(spec, n_cond);
  for (const auto& [name, list] : by_cond)
    if (!known(name)) throw ArgumentError("conditions", "unknown parameter '" + name + "' (known: " + known_list + ")");
  for (const auto& [name, v] : spec.values)
    if (!known(name)) throw std::invalid_argument("unknown parameter '" + name + "' under " + what + " (known: " + known_list + ")");
  auto value = [&](std::size_t t, std::size_t c) {
    const std::string& n = names[t];
    const auto bc = by_cond.find(n);
    const auto it = spec.values.find(n);
    if (bc == by_cond.end() && it == spec.values.end()) throw std::invalid_argument("missing value for parameter '" + n + "'");
    const double v = bc != by_cond.end() ? bc->second[c] : it->second;
    if (t != 2 && t < 4 && !(v > 0 && v < INFINITY))
      throw std::invalid_argument("parameter '" + n + "' = " + std::to_string(v) + " must be positive and finite");
    if (!std::isfinite(v)) throw std::invalid_argument("parameter '" + n + "' must be finite");
    return v;
  };
  if (lapsed) lapsed->clear();
  Rng rng(spec.seed, 0), lapse_rng(spec.seed, 1);
  std::vector<double> stimuli(spec.trials);
  for (double& s : stimuli) s = wrap_angle(rng.uniform(spec.s_lo, spec.s_hi));
  Dataset d;
  d.source = "simulated";
  for (std::size_t c = 0; c < n_cond; ++c) {
    d.cond_labels.push_back(std::to_string(c + 1));
    std::vector<double> theta(names.size());
    for (std::size_t t = 0; t < names.size(); ++t) theta[t] = value(t, c);
    const CircularActor actor(*spec.cost, theta.data());
    for (double s : stimuli) {
      d.s.push_back(s);
      double r = actor.respond(s, rng);
      if (spec.lapse > 0 && lapse_rng.uniform() < spec.lapse) {
        r = wrap_angle(lapse_rng.uniform(-pi, pi));
        if (lapsed) lapsed->push_back(d.s.size() - 1);
      }
      d.r.push_back(r);
      d.cond.push_back(int(c));
      d.line.push_back(d.s.size() + 1);
    }
  }
  return d;
}

void check_circular_fit(const Dataset& data, const InferenceSpec& spec) {
  const std::string what = "--perception vonmises";
  check_circular_cost(*spec.cost);
  if (spec.network) throw ArgumentError("network", what + ": the action is mu_post or solved numerically; no network is used");
  if (spec.exact_action) throw ArgumentError("exact_action", what + ": the action is mu_post or solved numerically already");
  // The contaminant is the whole circle; a fit records that range as -pi:pi (which check reads back).
  const bool whole = std::abs(spec.lapse_lo + pi) < 1e-9 && std::abs(spec.lapse_hi - pi) < 1e-9;
  if ((spec.lapse_lo != 0 || spec.lapse_hi != 0) && !whole)
    throw ArgumentError("lapse_range", what + ": the contaminant is uniform on the whole circle; no other range applies");
  if (spec.latent != LatentMode::marginal) throw ArgumentError("latent", what + " integrates the measurement out (marginal only)");
  if (!spec.motor.plain()) throw ArgumentError("motor", what + " has von Mises motor noise (sigma_r); --motor and --offset do not apply");
  if (!(spec.scale == 0 || spec.scale == 1)) throw ArgumentError("scale", what + ": angles are in radians, no scale applies");
  for (std::size_t i = 0; i < data.size(); ++i)
    for (const auto& [v, col] : {std::pair{data.s[i], "s"}, std::pair{data.r[i], "r"}})
      if (!(v > -pi && v <= pi))
        throw std::invalid_argument(data.source + ":" + std::to_string(i < data.line.size() ? data.line[i] : i + 2) +
                                    ": column '" + col + "': value " + std::to_string(v) +
                                    " is outside (-pi, pi] (" + what + " reads angles in radians)");
}

void CircularFit::reset(const CostInfo& cost, std::size_t conditions, bool lapse) {
  model = CircularModel::of(cost);
  const std::size_t n_theta = model.n_theta();
  trials.assign(conditions, {});
  rows.resize(conditions);
  for (std::size_t c = 0; c < conditions; ++c)
    rows[c] = {c * n_theta, &trials[c], lapse ? conditions * n_theta + c : no_lapse};
}

void CircularFit::values(const double* V, std::span<double* const> out) const {
  for (std::size_t c = 0; c < rows.size(); ++c)
    if (trials[c].size() > 0)
      circular_row_loglik(model, V + rows[c].theta_at, rows[c].eps_at == no_lapse ? nullptr : V + rows[c].eps_at, trials[c],
                          nullptr, out[c]);
}

void CircularTrials::add(double s_i, double r_i) {
  s.push_back(s_i);
  r.push_back(r_i);
  cs.push_back(std::cos(s_i));
  ss.push_back(std::sin(s_i));
  cr.push_back(std::cos(r_i));
  sr.push_back(std::sin(r_i));
}

namespace {
using B = xsimd::batch<double>;
constexpr std::size_t lanes = B::size;
static_assert(8 % lanes == 0, "node counts are multiples of 8");

/// A row's nodes m_j = mu_0 + t_j, t_j = 2 pi j / n, this thread's (remade per row): cos and sin
/// of m_j and of the action a_j, the derivatives of a_j in kappa and kappa_0 (through mu_post
/// and kappa_post) and (shifted) in kappa_r and the cost parameters; the log integrand of one
/// trial; and the adjoint of each a_j summed over the trials.
struct NodeTable {
  std::vector<double> cm, sm, ca, sa, l, g, da_k, da_k0, da_kr, da_c;
  std::vector<double> ct, st;  // cos t_j, sin t_j for j <= n/2, remade when n changes
  std::size_t n_table = 0;
  void resize(std::size_t n, std::size_t P) {
    for (auto* v : {&cm, &sm, &ca, &sa, &l, &g, &da_k, &da_k0, &da_kr}) v->resize(n);
    da_c.resize(n * P);
    if (n_table != n) {
      n_table = n;
      ct.resize(n / 2 + 1);
      st.resize(n / 2 + 1);
      for (std::size_t j = 0; j <= n / 2; ++j) {
        ct[j] = std::cos(two_pi * double(j) / double(n));
        st[j] = std::sin(two_pi * double(j) / double(n));
      }
    }
  }
};
NodeTable& node_table() {
  thread_local NodeTable tab;
  return tab;
}

/// Fills the nodes' actions for theta: a_j = mu_0 + psi_j + d*_j, psi_j = mu_post - mu_0 =
/// arg(kappa_0 + kappa e^{i t_j}), kappa_post = |kappa_0 + kappa e^{i t_j}|; d* solved for j <= n/2
/// (kappa_post falls from kappa + kappa_0 there, a continuation from a global search at j = 0)
/// and mirrored (t_{n-j} = -t_j has the same kappa_post).
void fill_nodes(NodeTable& tab, int n, const CircularModel& m, const CircularParams& p, const double* c, bool grad) {
  const std::size_t P = m.cost->params.size();
  tab.resize(std::size_t(n), P);
  const double cm0 = std::cos(p.mu_0), sm0 = std::sin(p.mu_0);
  std::unique_ptr<CircularShiftSolver> solver;
  thread_local CircularCostSeries series;
  thread_local std::vector<double> kp;  // kappa_post at the nodes j <= n/2 (shifted: Bessel ratios ahead, in SIMD)
  if (m.shifted) {
    circular_cost_series(*m.cost, c, circular_terms(p.kappa + p.kappa_0, p.kappa_r), series);
    solver = std::make_unique<CircularShiftSolver>(series, p.kappa_r);
    kp.resize(std::size_t(n / 2) + 1);
    for (int j = 0; j <= n / 2; ++j)
      kp[std::size_t(j)] = std::hypot(p.kappa_0 + p.kappa * tab.ct[std::size_t(j)], p.kappa * tab.st[std::size_t(j)]);
    solver->prepare(kp);
  }
  CircularShift sh;
  for (int j = 0; j <= n / 2; ++j) {
    const double ct = tab.ct[std::size_t(j)], st = tab.st[std::size_t(j)];
    const double C = p.kappa_0 + p.kappa * ct, S = p.kappa * st, R = std::hypot(C, S);
    // R = 0 only at kappa = kappa_0 and t = pi, where mu_post is undefined: taken as mu_0 there.
    const double cp = R > 0 ? C / R : 1, sp = R > 0 ? S / R : 0;
    if (m.shifted) {  // at kappa_post = R, from the neighbour's d* moved along its derivative in kappa_post
      const double start = j == 0 ? 0.0 : wrap_angle(sh.d + sh.d_kp * (R - kp[std::size_t(j) - 1]));
      sh = solver->solve_node(std::size_t(j), j == 0 ? nullptr : &start);
    }
    const double cd = std::cos(sh.d), sd = std::sin(sh.d);
    const double cu = cp * cd - sp * sd, su = sp * cd + cp * sd;  // e^{i (psi + d*)}
    for (int k : {j, (n - j) % n}) {
      const double sign = k == j ? 1 : -1;  // the mirror node: t -> -t, S -> -S, psi -> -psi; d* the same
      const std::size_t i = std::size_t(k);
      const double cts = ct, sts = sign * st;
      tab.cm[i] = cm0 * cts - sm0 * sts;
      tab.sm[i] = sm0 * cts + cm0 * sts;
      // e^{i(psi + d*)} for the mirror: psi -> -psi, d* unchanged.
      const double cuk = k == j ? cu : cp * cd + sp * sd, suk = k == j ? su : -sp * cd + cp * sd;
      tab.ca[i] = cm0 * cuk - sm0 * suk;
      tab.sa[i] = sm0 * cuk + cm0 * suk;
      if (grad) {
        const double Sk = sign * S, iR2 = R > 0 ? 1 / (R * R) : 0, iR = R > 0 ? 1 / R : 0;
        // d psi / d kappa = (C sin t - S cos t) / R^2, d psi / d kappa_0 = -S / R^2;
        // d kappa_post / d kappa = (C cos t + S sin t) / R, d kappa_post / d kappa_0 = C / R.
        tab.da_k[i] = (C * sts - Sk * cts) * iR2 + sh.d_kp * (C * cts + Sk * sts) * iR;
        tab.da_k0[i] = -Sk * iR2 + sh.d_kp * C * iR;
        tab.da_kr[i] = sh.d_kr;
        for (std::size_t q = 0; q < P; ++q) tab.da_c[q * std::size_t(n) + i] = sh.d_c[q];
      }
      if (k == (n - j) % n) break;  // j = 0 and j = n/2 are their own mirrors
    }
  }
  if (grad) std::fill(tab.g.begin(), tab.g.end(), 0.0);
}

inline double hmax(const B& v) {
  alignas(64) double a[lanes];
  v.store_aligned(a);
  return *std::max_element(a, a + lanes);
}

/// One trial's log p_actor and (Grad) its weighted sums: Σ w_j cos(m_j - s), Σ w_j sin(m_j - s),
/// Σ w_j cos(r - a_j), w_j the normalised integrand; the adjoints of a_j, scaled by `scale`
/// (known after the value: the lapse responsibility), are added by add_action_adjoint.
struct TrialOut {
  double cms = 0, sms = 0, cra = 0;
};

/// Pass 1 and 2: l_j = kappa (cos(m_j - s) - 1) + kappa_r (cos(r - a_j) - 1), its max, then
/// e_j = exp(l_j - max) into tab.l and their sum E; returns log p_actor.
inline double trial_value(NodeTable& tab, std::size_t n, const CircularTrials& t, std::size_t i, const CircularParams& p,
                          double cst, double& E) {
  const B cs(t.cs[i]), ss(t.ss[i]), cr(t.cr[i]), sr(t.sr[i]), k(p.kappa), kr(p.kappa_r);
  double* l = tab.l.data();
  B vmax(-INFINITY);
  for (std::size_t j = 0; j < n; j += lanes) {
    const B cm = B::load_unaligned(tab.cm.data() + j), sm = B::load_unaligned(tab.sm.data() + j);
    const B ca = B::load_unaligned(tab.ca.data() + j), sa = B::load_unaligned(tab.sa.data() + j);
    const B cms = xsimd::fma(cm, cs, sm * ss), cra = xsimd::fma(ca, cr, sa * sr);
    const B lj = xsimd::fma(k, cms - B(1.0), kr * (cra - B(1.0)));
    lj.store_unaligned(l + j);
    vmax = xsimd::max(vmax, lj);
  }
  const double mx = hmax(vmax);
  const B bmx(mx);
  B e_sum(0.0);
  for (std::size_t j = 0; j < n; j += lanes) {
    const B e = simd::exp_clamped(B::load_unaligned(l + j) - bmx);
    e.store_unaligned(l + j);
    e_sum += e;
  }
  E = xsimd::hadd(e_sum);
  return mx + std::log(E) + cst;
}

/// Pass 3, with w_j = e_j / E: the trial's weighted sums, and g_j += scale kappa_r w_j sin(r - a_j)
/// (d ll / d a_j).
inline TrialOut trial_sums(NodeTable& tab, std::size_t n, const CircularTrials& t, std::size_t i, const CircularParams& p,
                           double E, double scale) {
  const B cs(t.cs[i]), ss(t.ss[i]), cr(t.cr[i]), sr(t.sr[i]), gk(scale * p.kappa_r), iE(1.0 / E);
  B s_cms(0.0), s_sms(0.0), s_cra(0.0);
  for (std::size_t j = 0; j < n; j += lanes) {
    const B w = B::load_unaligned(tab.l.data() + j) * iE;
    const B cm = B::load_unaligned(tab.cm.data() + j), sm = B::load_unaligned(tab.sm.data() + j);
    const B ca = B::load_unaligned(tab.ca.data() + j), sa = B::load_unaligned(tab.sa.data() + j);
    s_cms = xsimd::fma(w, xsimd::fma(cm, cs, sm * ss), s_cms);
    s_sms = xsimd::fma(w, xsimd::fms(sm, cs, cm * ss), s_sms);
    s_cra = xsimd::fma(w, xsimd::fma(ca, cr, sa * sr), s_cra);
    const B g = B::load_unaligned(tab.g.data() + j);
    xsimd::fma(gk * w, xsimd::fms(sr, ca, cr * sa), g).store_unaligned(tab.g.data() + j);
  }
  return {xsimd::hadd(s_cms), xsimd::hadd(s_sms), xsimd::hadd(s_cra)};
}
} // namespace

double circular_row_loglik(const CircularModel& m, const double* theta, const double* eps, const CircularTrials& t,
                           double* grad, double* trial_ll) {
  const std::size_t P = m.cost->params.size(), n_theta = 4 + P;
  bool valid = theta[0] > 0 && theta[1] > 0 && theta[3] > 0 && theta[0] < INFINITY && theta[1] < INFINITY &&
               theta[3] < INFINITY && std::isfinite(theta[2]);
  for (std::size_t k = 0; k < P; ++k) valid = valid && std::isfinite(theta[4 + k]);
  if (eps) valid = valid && *eps >= 0 && *eps < 1;
  if (!valid) {
    if (trial_ll) std::fill(trial_ll, trial_ll + t.size(), -INFINITY);
    return -INFINITY;
  }
  const CircularParams p = CircularParams::of(theta);
  const int n = circular_nodes(p);
  NodeTable& tab = node_table();
  fill_nodes(tab, n, m, p, theta + 4, grad != nullptr);
  // log((2 pi / n) / (2 pi I0e(kappa) 2 pi I0e(kappa_r))): the rule's weight and both densities' constants.
  const double cst = -std::log(double(n)) - log_2pi - log_i0e(p.kappa) - log_i0e(p.kappa_r);
  const LapseMix mix = eps ? LapseMix::of(*eps, log_2pi) : LapseMix{};
  const double a_k = bessel_ratio(p.kappa), a_kr = bessel_ratio(p.kappa_r);
  double ll = 0, dk = 0, dmu0 = 0, dkr = 0, rho_sum = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    double E;
    const double lq = trial_value(tab, std::size_t(n), t, i, p, cst, E);
    double li = lq, rho = 1;  // the mixture's value and the actor's responsibility
    if (eps) {
      const double x = mix.log1m_eps + lq, y = mix.log_eps_cont, hi = std::max(x, y);
      li = hi + std::log(std::exp(x - hi) + std::exp(y - hi));
      rho = std::exp(x - li);
      rho_sum += rho;
    }
    if (trial_ll) trial_ll[i] = li;
    ll += li;
    if (grad) {
      const TrialOut o = trial_sums(tab, std::size_t(n), t, i, p, E, rho);
      dk += rho * (o.cms - a_k);
      dkr += rho * (o.cra - a_kr);
      dmu0 -= rho * p.kappa * o.sms;  // d cos(m_j - s) / d mu_0 = -sin(m_j - s)
    }
  }
  if (!grad) return ll;
  // Through the actions: d a_j / d mu_0 = 1, and the tabulated derivatives.
  double dk0 = 0;
  std::array<double, max_cost_params> dc{};
  for (std::size_t j = 0; j < std::size_t(n); ++j) {
    const double g = tab.g[j];
    dmu0 += g;
    dk += g * tab.da_k[j];
    dk0 += g * tab.da_k0[j];
    if (m.shifted) {
      dkr += g * tab.da_kr[j];
      for (std::size_t q = 0; q < P; ++q) dc[q] += g * tab.da_c[q * std::size_t(n) + j];
    }
  }
  // kappa = 1/sigma^2: d kappa / d sigma = -2 kappa / sigma (likewise sigma_0, sigma_r).
  grad[0] += dk * (-2 * p.kappa / theta[0]);
  grad[1] += dk0 * (-2 * p.kappa_0 / theta[1]);
  grad[2] += dmu0;
  grad[3] += dkr * (-2 * p.kappa_r / theta[3]);
  for (std::size_t q = 0; q < P; ++q) grad[4 + q] += dc[q];
  if (eps) grad[n_theta] += lapse_gradient(*eps, double(t.size()), rho_sum);
  return ll;
}

namespace {
/// The node's arena data: operands, the model, rows and each row's saved gradient (width
/// entries: theta's, then the lapse probability's when there is one).
struct CircularOp {
  Var V;
  Elem acc;
  const CircularModel* model;
  const CircularRow* rows;
  double* g;
  std::size_t n_rows, width;
};

void circular_backward(Node& n) {
  const CircularOp& op = *static_cast<const CircularOp*>(n.data);
  const double d = n.adj[0];
  const std::size_t nt = op.model->n_theta();
  if (double* av = op.V.needs_grad() ? op.V.node()->grad() : nullptr)
    for (std::size_t r = 0; r < op.n_rows; ++r) {
      const double* g = op.g + op.width * r;
      for (std::size_t k = 0; k < nt; ++k) av[op.rows[r].theta_at + k] += d * g[k];
      if (op.rows[r].eps_at != no_lapse) av[op.rows[r].eps_at] += d * g[nt];
    }
  if (!op.acc.empty() && op.acc.v.needs_grad())
    if (double* a = op.acc.v.node()->grad()) a[op.acc.i] += d;
}
} // namespace

Var circular_likelihood_node(Var V, const CircularModel& m, std::span<const CircularRow> rows, Elem acc) {
  static_assert(std::is_trivially_destructible_v<CircularOp>);
  Tape& tape = Tape::current();
  const bool grad = V.needs_grad() || (!acc.empty() && acc.v.needs_grad());
  Node* n = tape.make_node(1, 1, grad, &circular_backward);
  const std::size_t width = m.n_theta() + 1;
  auto* mem = static_cast<std::byte*>(tape.allocate(sizeof(CircularOp) + width * rows.size() * sizeof(double)));
  double* g = reinterpret_cast<double*>(mem + sizeof(CircularOp));
  std::fill(g, g + width * rows.size(), 0.0);
  n->data = ::new (mem) CircularOp{V, acc, &m, rows.data(), g, rows.size(), width};
  const double* v = V.values().data();
  double value = acc.value();
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].trials->size() == 0) continue;
    const double* eps = rows[r].eps_at == no_lapse ? nullptr : v + rows[r].eps_at;
    double* gr = g + width * r;
    const double lr = circular_row_loglik(m, v + rows[r].theta_at, eps, *rows[r].trials, grad ? gr : nullptr, nullptr);
    if (!std::isfinite(lr)) std::fill(gr, gr + width, 0.0);
    value += lr;
  }
  n->val[0] = value;
  return Var(n);
}

} // namespace detail
} // namespace bactor
