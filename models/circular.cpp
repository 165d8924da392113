// SPDX-License-Identifier: MIT
#include "models/circular.hpp"

#include <bactor/engine/errors.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/simulate.hpp>
#include "engine/simd_math.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
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

double wrap_angle(double x) {
  double r = std::remainder(x, two_pi);  // [-pi, pi] (up to the rounding of 2 pi)
  if (r <= -pi) r += two_pi;
  if (r > pi) r -= two_pi;
  return r;
}

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

void check_circular_cost(const CostInfo& cost) {
  const std::string what = cost.name + " under --perception vonmises";
  if (!cost.params.empty())
    throw ArgumentError("cost", what + ": its parameters would not change the action (a* = mu_post for every cost "
                                       "symmetric in the wrapped error), so they cannot be inferred; use a cost without parameters");
  if (cost.name == "QuadraticCost" || cost.name == "AbsoluteCost") return;  // read on d = wrap(r - s)
  if (cost.expression.empty())
    throw ArgumentError("cost", what + " is not supported: use QuadraticCost (d^2 of the wrapped error d), "
                                       "AbsoluteCost (|d|) or a formula of r - s such as '1 - cos(r - s)'");
  // A formula: l(s, r) must be a function of d = wrap(r - s) alone, symmetric and
  // non-decreasing in |d| (then a* = mu_post). Checked on a grid of stimuli and errors.
  auto l = [&](double s, double r) { return cost.loss(s, r, nullptr); };
  const double tol = 1e-9;
  for (double s : {-3.1, -1.7, -0.4, 0.0, 0.9, 2.2, 3.1}) {
    double prev = -INFINITY;
    for (int k = 0; k <= 48; ++k) {
      const double d = pi * k / 48;
      const double v = l(s, s + d), scale = tol * (1 + std::abs(v));
      const bool ok_sym = std::abs(v - l(s, s - d)) <= scale;
      const bool ok_shift = std::abs(v - l(0.0, d)) <= scale && std::abs(v - l(s, s + d - two_pi)) <= scale;
      if (!std::isfinite(v) || !ok_shift)
        throw ArgumentError("cost", what + ": the formula is not a function of the wrapped difference r - s (it changes "
                                           "when both angles turn, or when r turns by 2 pi); write it with periodic "
                                           "functions of r - s, e.g. '1 - cos(r - s)'");
      if (!ok_sym)
        throw ArgumentError("cost", what + ": the formula is not symmetric in r - s; asymmetric circular costs need a "
                                           "numerical optimal action, which is not supported yet");
      if (v < prev - scale)
        throw ArgumentError("cost", what + ": the formula decreases as |r - s| grows towards pi, so mu_post is not its "
                                           "optimal action; not supported");
      prev = v;
    }
  }
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

Dataset simulate_circular(const SimulationSpec& spec) {
  const std::string what = "--perception vonmises";
  if (!spec.cost) throw std::invalid_argument("simulate: no cost family given");
  check_circular_cost(*spec.cost);
  if (spec.lapse != 0) throw ArgumentError("lapse", what + " does not support lapses yet");
  if (!spec.motor.plain()) throw ArgumentError("motor", what + " has von Mises motor noise (sigma_r); --motor and --offset do not apply");
  if (spec.network) throw ArgumentError("network", what + ": the action is mu_post in closed form, no network is used");
  if (spec.trials == 0) throw ArgumentError("trials", "must be positive");
  if (!(spec.s_lo < spec.s_hi) || !std::isfinite(spec.s_lo) || !std::isfinite(spec.s_hi))
    throw ArgumentError("stimuli", "need finite s_lo < s_hi (angles in radians)");
  static const char* names[] = {"sigma", "sigma_0", "mu_0", "sigma_r"};
  auto known = [](const std::string& n) { return std::find(std::begin(names), std::end(names), n) != std::end(names); };
  std::size_t n_cond = 1;
  const std::map<std::string, std::vector<double>> by_cond = condition_values(spec, n_cond);
  for (const auto& [name, list] : by_cond)
    if (!known(name)) throw ArgumentError("conditions", "unknown parameter '" + name + "' (known: sigma, sigma_0, mu_0, sigma_r)");
  for (const auto& [name, v] : spec.values)
    if (!known(name))
      throw std::invalid_argument("unknown parameter '" + name + "' under " + what + " (known: sigma, sigma_0, mu_0, sigma_r)");
  auto value = [&](std::size_t t, std::size_t c) {
    const std::string n = names[t];
    const auto bc = by_cond.find(n);
    const auto it = spec.values.find(n);
    if (bc == by_cond.end() && it == spec.values.end()) throw std::invalid_argument("missing value for parameter '" + n + "'");
    const double v = bc != by_cond.end() ? bc->second[c] : it->second;
    if (t != 2 && !(v > 0 && v < INFINITY))
      throw std::invalid_argument("parameter '" + n + "' = " + std::to_string(v) + " must be positive and finite");
    if (!std::isfinite(v)) throw std::invalid_argument("parameter 'mu_0' must be finite");
    return v;
  };
  Rng rng(spec.seed, 0);
  std::vector<double> stimuli(spec.trials);
  for (double& s : stimuli) s = wrap_angle(rng.uniform(spec.s_lo, spec.s_hi));
  Dataset d;
  d.source = "simulated";
  for (std::size_t c = 0; c < n_cond; ++c) {
    d.cond_labels.push_back(std::to_string(c + 1));
    double theta[4];
    for (std::size_t t = 0; t < 4; ++t) theta[t] = value(t, c);
    const CircularParams p = CircularParams::of(theta);
    for (double s : stimuli) {
      d.s.push_back(s);
      d.r.push_back(simulate_circular_response(p, s, rng));
      d.cond.push_back(int(c));
      d.line.push_back(d.s.size() + 1);
    }
  }
  return d;
}

void check_circular_fit(const Dataset& data, const InferenceSpec& spec) {
  const std::string what = "--perception vonmises";
  check_circular_cost(*spec.cost);
  if (spec.network) throw ArgumentError("network", what + ": the action is mu_post in closed form; no network is used");
  if (spec.exact_action) throw ArgumentError("exact_action", what + ": the action is mu_post in closed form");
  if (spec.lapse) throw ArgumentError("lapse", what + " does not support lapses yet");
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

void CircularFit::reset(std::size_t conditions, std::size_t n_theta) {
  trials.assign(conditions, {});
  rows.resize(conditions);
  for (std::size_t c = 0; c < conditions; ++c) rows[c] = {c * n_theta, &trials[c]};
}

void CircularFit::values(const double* V, std::span<double* const> out) const {
  for (std::size_t c = 0; c < rows.size(); ++c)
    if (trials[c].size() > 0) circular_row_loglik(V + rows[c].theta_at, trials[c], nullptr, out[c]);
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

/// cos and sin of the n nodes t_j = 2 pi j / n, this thread's, remade when n changes; and a
/// buffer of n values.
struct NodeTable {
  int n = 0;
  std::vector<double> ct, st, l;
};
NodeTable& node_table(int n) {
  thread_local NodeTable tab;
  if (tab.n != n) {
    tab.n = n;
    tab.ct.resize(std::size_t(n));
    tab.st.resize(std::size_t(n));
    tab.l.resize(std::size_t(n));
    for (int j = 0; j < n; ++j) {
      tab.ct[std::size_t(j)] = std::cos(two_pi * j / n);
      tab.st[std::size_t(j)] = std::sin(two_pi * j / n);
    }
  }
  return tab;
}

/// One trial's constants.
struct TrialConst {
  B cs, ss, cr, sr;
};
/// The geometry at nodes j..j+lanes: m = s + t, C + iS = kappa_0 e^{i mu_0} + kappa e^{im},
/// 1/R, cos(r - mu_post) and (Grad) the pieces of its derivatives.
struct NodeGeo {
  B cm, sm, C, S, iR, cd;
};
inline NodeGeo geometry(const TrialConst& tc, B ct, B st, B k0c, B k0s, B k) {
  NodeGeo g;
  g.cm = xsimd::fms(tc.cs, ct, tc.ss * st);
  g.sm = xsimd::fma(tc.ss, ct, tc.cs * st);
  g.C = xsimd::fma(k, g.cm, k0c);
  g.S = xsimd::fma(k, g.sm, k0s);
  const B r2 = xsimd::max(xsimd::fma(g.C, g.C, g.S * g.S), B(1e-300));  // 0 only at an undefined posterior
  g.iR = B(1.0) / xsimd::sqrt(r2);
  g.cd = xsimd::fma(g.C, tc.cr, g.S * tc.sr) * g.iR;
  return g;
}

/// d log p(r_i | s_i) / d(kappa, kappa_0, mu_0, kappa_r) of one trial, and its value.
struct TrialOut {
  double ll = 0, dk = 0, dk0 = 0, dmu0 = 0, dkr = 0;
};

inline double hmax(const B& v) {
  alignas(64) double a[lanes];
  v.store_aligned(a);
  return *std::max_element(a, a + lanes);
}

template <bool Grad>
TrialOut trial(NodeTable& tab, const CircularTrials& t, std::size_t i, const CircularParams& p, double cst,
               double a_k, double a_kr) {
  const std::size_t n = std::size_t(tab.n);
  const double* ct = tab.ct.data();
  const double* st = tab.st.data();
  double* l = tab.l.data();
  const TrialConst tc{B(t.cs[i]), B(t.ss[i]), B(t.cr[i]), B(t.sr[i])};
  const double cm0 = std::cos(p.mu_0), sm0 = std::sin(p.mu_0);
  const B k(p.kappa), kr(p.kappa_r), k0c(p.kappa_0 * cm0), k0s(p.kappa_0 * sm0);
  // Pass 1: the log integrand l_j = kappa (cos t_j - 1) + kappa_r (cos(r - mu_post,j) - 1), its max.
  B vmax(-INFINITY);
  for (std::size_t j = 0; j < n; j += lanes) {
    const B c = B::load_unaligned(ct + j), s = B::load_unaligned(st + j);
    const NodeGeo g = geometry(tc, c, s, k0c, k0s, k);
    const B lj = xsimd::fma(k, c - B(1.0), kr * (g.cd - B(1.0)));
    lj.store_unaligned(l + j);
    vmax = xsimd::max(vmax, lj);
  }
  const double mx = hmax(vmax);
  // Pass 2: the weights e_j = exp(l_j - max), their sum and (Grad) the weighted derivatives.
  B e_sum(0.0), s_ct(0.0), s_cd(0.0), g_k(0.0), g_k0(0.0), g_mu0(0.0);
  const B bmx(mx), bcm0(cm0), bsm0(sm0);
  for (std::size_t j = 0; j < n; j += lanes) {
    const B e = simd::exp_clamped(B::load_unaligned(l + j) - bmx);
    e_sum += e;
    if constexpr (Grad) {
      const B c = B::load_unaligned(ct + j), s = B::load_unaligned(st + j);
      const NodeGeo g = geometry(tc, c, s, k0c, k0s, k);
      // d l/d mu_post = kappa_r sin(r - mu_post); d mu_post = (C dS - S dC) / R^2.
      const B sd = xsimd::fms(g.C, tc.sr, g.S * tc.cr) * g.iR;
      const B w = e * kr * sd * g.iR * g.iR;
      s_ct = xsimd::fma(e, c, s_ct);
      s_cd = xsimd::fma(e, g.cd, s_cd);
      g_k = xsimd::fma(w, xsimd::fms(g.C, g.sm, g.S * g.cm), g_k);     // dC/dk = cos m, dS/dk = sin m
      g_k0 = xsimd::fma(w, xsimd::fms(g.C, bsm0, g.S * bcm0), g_k0);   // dC/dk0 = cos mu_0, dS/dk0 = sin mu_0
      g_mu0 = xsimd::fma(w, xsimd::fma(g.C, bcm0, g.S * bsm0), g_mu0); // times kappa_0 below
    }
  }
  const double E = xsimd::hadd(e_sum);
  TrialOut o;
  o.ll = mx + std::log(E) + cst;
  if constexpr (Grad) {
    const double iE = 1.0 / E;
    o.dk = xsimd::hadd(s_ct) * iE - a_k + xsimd::hadd(g_k) * iE;
    o.dk0 = xsimd::hadd(g_k0) * iE;
    o.dmu0 = p.kappa_0 * xsimd::hadd(g_mu0) * iE;
    o.dkr = xsimd::hadd(s_cd) * iE - a_kr;
  }
  return o;
}
} // namespace

double circular_row_loglik(const double* theta, const CircularTrials& t, double* grad, double* trial_ll) {
  const bool valid = theta[0] > 0 && theta[1] > 0 && theta[3] > 0 && theta[0] < INFINITY && theta[1] < INFINITY &&
                     theta[3] < INFINITY && std::isfinite(theta[2]);
  if (!valid) {
    if (trial_ll) std::fill(trial_ll, trial_ll + t.size(), -INFINITY);
    return -INFINITY;
  }
  const CircularParams p = CircularParams::of(theta);
  const int n = circular_nodes(p);
  NodeTable& tab = node_table(n);
  // log((2 pi / n) / (2 pi I0e(kappa) 2 pi I0e(kappa_r))): the rule's weight and both densities' constants.
  const double cst = -std::log(double(n)) - log_2pi - log_i0e(p.kappa) - log_i0e(p.kappa_r);
  double ll = 0;
  if (!grad) {
    for (std::size_t i = 0; i < t.size(); ++i) {
      const double li = trial<false>(tab, t, i, p, cst, 0, 0).ll;
      if (trial_ll) trial_ll[i] = li;
      ll += li;
    }
    return ll;
  }
  const double a_k = bessel_ratio(p.kappa), a_kr = bessel_ratio(p.kappa_r);
  double dk = 0, dk0 = 0, dmu0 = 0, dkr = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const TrialOut o = trial<true>(tab, t, i, p, cst, a_k, a_kr);
    if (trial_ll) trial_ll[i] = o.ll;
    ll += o.ll;
    dk += o.dk;
    dk0 += o.dk0;
    dmu0 += o.dmu0;
    dkr += o.dkr;
  }
  // kappa = 1/sigma^2: d kappa / d sigma = -2 kappa / sigma (likewise sigma_0, sigma_r).
  grad[0] += dk * (-2 * p.kappa / theta[0]);
  grad[1] += dk0 * (-2 * p.kappa_0 / theta[1]);
  grad[2] += dmu0;
  grad[3] += dkr * (-2 * p.kappa_r / theta[3]);
  return ll;
}

namespace {
/// The node's arena data: operands, rows and each row's saved gradient (4 entries).
struct CircularOp {
  Var V;
  Elem acc;
  const CircularRow* rows;
  double* g;
  std::size_t n_rows;
};

void circular_backward(Node& n) {
  const CircularOp& op = *static_cast<const CircularOp*>(n.data);
  const double d = n.adj[0];
  if (double* av = op.V.needs_grad() ? op.V.node()->grad() : nullptr)
    for (std::size_t r = 0; r < op.n_rows; ++r)
      for (std::size_t k = 0; k < 4; ++k) av[op.rows[r].theta_at + k] += d * op.g[4 * r + k];
  if (!op.acc.empty() && op.acc.v.needs_grad())
    if (double* a = op.acc.v.node()->grad()) a[op.acc.i] += d;
}
} // namespace

Var circular_likelihood_node(Var V, std::span<const CircularRow> rows, Elem acc) {
  static_assert(std::is_trivially_destructible_v<CircularOp>);
  Tape& tape = Tape::current();
  const bool grad = V.needs_grad() || (!acc.empty() && acc.v.needs_grad());
  Node* n = tape.make_node(1, 1, grad, &circular_backward);
  auto* mem = static_cast<std::byte*>(tape.allocate(sizeof(CircularOp) + 4 * rows.size() * sizeof(double)));
  double* g = reinterpret_cast<double*>(mem + sizeof(CircularOp));
  std::fill(g, g + 4 * rows.size(), 0.0);
  n->data = ::new (mem) CircularOp{V, acc, rows.data(), g, rows.size()};
  const double* v = V.values().data();
  double value = acc.value();
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].trials->size() == 0) continue;
    const double lr = circular_row_loglik(v + rows[r].theta_at, *rows[r].trials, grad ? g + 4 * r : nullptr, nullptr);
    if (!std::isfinite(lr)) std::fill(g + 4 * r, g + 4 * r + 4, 0.0);
    value += lr;
  }
  n->val[0] = value;
  return Var(n);
}

} // namespace detail
} // namespace bactor
