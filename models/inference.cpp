// SPDX-License-Identifier: MIT
#include <bactor/models/inference.hpp>
#include <bactor/engine/errors.hpp>

#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include "models/inference_kernels.hpp"
#include <bactor/models/network.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <numbers>
#include <sstream>
#include <stdexcept>

namespace bactor {

namespace {

std::string fmt(double v) {
  std::ostringstream os;
  os.precision(10);
  os << v;
  return os.str();
}

double parse_number(const std::string& text, const std::string& what) {
  double v = 0;
  const char* b = text.data();
  const char* e = b + text.size();
  if (b != e && *b == '+') ++b;
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e || !std::isfinite(v))
    throw std::invalid_argument(what + ": '" + text + "' is not a finite number");
  return v;
}

} // namespace

LatentMode parse_latent_mode(const std::string& text) {
  if (text == "marginal") return LatentMode::marginal;
  if (text == "sampled") return LatentMode::sampled;
  throw ArgumentError("latent", "'" + text + "' (expected marginal or sampled)");
}

const char* to_string(LatentMode mode) { return mode == LatentMode::marginal ? "marginal" : "sampled"; }

double Prior::log_density(double v, double& dv) const {
  switch (kind) {
  case Kind::half_normal:
    dv = -v / (a * a);
    return -0.5 * v * v / (a * a);
  case Kind::uniform:
    dv = 0;
    return 0;
  case Kind::lognormal: {
    const double lv = std::log(v), e = (lv - a) / b;
    dv = (-e / b - 1.0) / v;
    return -0.5 * e * e - lv;
  }
  }
  dv = 0;
  return 0;
}

bool Prior::in_support(double v) const {
  if (!std::isfinite(v)) return false;
  return kind == Kind::uniform ? (v > a && v < b) : v > 0;
}

Prior parse_prior(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto colon = text.find(':', start);
    parts.push_back(text.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  const std::string what = "prior '" + text + "'";
  Prior p;
  if (parts[0] == "halfnormal" && parts.size() == 2) {
    p.kind = Prior::Kind::half_normal;
    p.a = parse_number(parts[1], what);
    if (!(p.a > 0)) throw std::invalid_argument(what + ": scale must be positive");
  } else if (parts[0] == "uniform" && parts.size() == 3) {
    p.kind = Prior::Kind::uniform;
    p.a = parse_number(parts[1], what);
    p.b = parse_number(parts[2], what);
    if (!(p.a >= 0 && p.b > p.a)) throw std::invalid_argument(what + ": need 0 <= LO < HI");
  } else if (parts[0] == "lognormal" && parts.size() == 3) {
    p.kind = Prior::Kind::lognormal;
    p.a = parse_number(parts[1], what);
    p.b = parse_number(parts[2], what);
    if (!(p.b > 0)) throw std::invalid_argument(what + ": scale must be positive");
  } else {
    throw std::invalid_argument(what + ": expected halfnormal:SCALE, uniform:LO:HI or lognormal:LOC:SCALE");
  }
  return p;
}

std::string to_string(const Prior& p) {
  switch (p.kind) {
  case Prior::Kind::half_normal: return "halfnormal:" + fmt(p.a);
  case Prior::Kind::uniform: return "uniform:" + fmt(p.a) + ":" + fmt(p.b);
  case Prior::Kind::lognormal: return "lognormal:" + fmt(p.a) + ":" + fmt(p.b);
  }
  return "?";
}

std::vector<std::pair<std::string, Prior>> default_priors(const CostInfo& cost, std::size_t conditions) {
  std::vector<std::pair<std::string, Prior>> out;
  const Prior half{Prior::Kind::half_normal, 0.25, 0};
  for (std::size_t c = 0; c < std::max<std::size_t>(conditions, 1); ++c)
    out.emplace_back(conditions <= 1 ? "sigma" : "sigma." + std::to_string(c + 1), half);
  out.emplace_back("sigma_0", half);
  out.emplace_back("mu_0", Prior{Prior::Kind::uniform, 0.1, 5.0});
  out.emplace_back("sigma_r", half);
  for (const auto& p : cost.params)
    out.emplace_back(p.name, p.kind == ParamPrior::Kind::uniform ? Prior{Prior::Kind::uniform, p.a, p.b}
                                                                 : Prior{Prior::Kind::lognormal, p.a, p.b});
  return out;
}

PowerHead closed_form_head(const CostInfo& cost, std::span<const double> theta, double* jac) {
  const bool effort = cost.name == "QuadraticCostQuadraticEffort";
  if (!(cost.name == "QuadraticCost" || effort))
    throw std::invalid_argument("cost '" + cost.name + "' has no power-law closed form (use --network)");
  const double sig = theta[0], s0 = theta[1], mu0 = theta[2], sr = theta[3];
  const double s02 = s0 * s0, sg2 = sig * sig, d = s02 + sg2;
  const double w = s02 / d, sp2 = s02 * sg2 / d, lmu = std::log(mu0);
  PowerHead h;
  h.w = w;
  h.log_k = (1 - w) * lmu + 0.5 * sp2 - 1.5 * sr * sr + (effort ? std::log(theta[4]) : 0.0);
  if (jac) {
    const std::size_t n = theta.size();
    double* dk = jac;
    double* dw = jac + n;
    std::fill(jac, jac + 2 * n, 0.0);
    dw[0] = -2 * sig * s02 / (d * d);
    dw[1] = 2 * s0 * sg2 / (d * d);
    const double dsp_dsig = 2 * s02 * s02 * sig / (d * d), dsp_ds0 = 2 * sg2 * sg2 * s0 / (d * d);
    dk[0] = -dw[0] * lmu + 0.5 * dsp_dsig;
    dk[1] = -dw[1] * lmu + 0.5 * dsp_ds0;
    dk[2] = (1 - w) / mu0;
    dk[3] = -3 * sr;
    if (effort) dk[4] = 1.0 / theta[4];
  }
  return h;
}

// ---------------------------------------------------------------------------------------

struct ActorModel::Impl {
  struct Slot {
    std::string name;
    Prior prior;
    bool fixed = false;
    double value = 0;  // when fixed
    int q = -1;        // unconstrained index when free
    bool logit() const { return prior.kind == Prior::Kind::uniform; }
  };

  const CostInfo* cost;
  std::shared_ptr<const ActionNetwork> net;
  LatentMode latent;
  bool predict;
  bool log_lik = true;
  int C = 1;
  std::size_t N = 0, n_theta = 0, n_free = 0;
  std::vector<Slot> slots;           // sigma_1..C, sigma_0, mu_0, sigma_r, cost params
  std::vector<int> out_order;        // slot indices in output order
  // Trials grouped by condition: positions begin[c] .. begin[c+1]; orig[k] = file index.
  std::vector<double> x, y;
  std::vector<std::size_t> begin, orig;
  std::vector<PowerStats> stats;
  // The same trials padded per condition to a multiple of the SIMD width (weight 0 on the
  // padding) for the vectorised network loops: positions pbegin[c] .. pbegin[c+1].
  std::vector<double> px, py, pw, pz, pgz, pll;
  std::vector<std::size_t> pbegin;
  GaussHermiteSet rules;  // the network marginal's rules by node count
  // Scratch (one chain uses one model instance).
  std::vector<double> val, dval, gval, theta, dtheta, jac;
  std::unique_ptr<ActionNetwork::Workspace> ws;

  Impl(const Dataset&, const InferenceSpec& spec) : rules(spec.quadrature_nodes) {}

  int theta_slot(int c, std::size_t t) const { return t == 0 ? c : C + static_cast<int>(t) - 1; }

  // Constrained values of every slot at q; dval = dv/dx; returns prior + log-Jacobian and
  // writes its derivative w.r.t. the free coordinates into grad (when non-empty).
  double transform(std::span<const double> q, std::span<double> grad) {
    double lp = 0;
    for (std::size_t p = 0; p < slots.size(); ++p) {
      const Slot& s = slots[p];
      if (s.fixed) {
        val[p] = s.value;
        dval[p] = 0;
        continue;
      }
      const double xq = q[s.q];
      double v, dv, lj, dlj;
      if (s.logit()) {
        const double sg = sigmoid(xq), span = s.prior.b - s.prior.a;
        v = s.prior.a + span * sg;
        dv = span * sg * (1 - sg);
        lj = std::log(span) - softplus(-xq) - softplus(xq);
        dlj = 1 - 2 * sg;
      } else {
        v = std::exp(xq);
        dv = v;
        lj = xq;
        dlj = 1;
      }
      double dprior;
      lp += s.prior.log_density(v, dprior) + lj;
      val[p] = v;
      dval[p] = dv;
      if (!grad.empty()) grad[s.q] = dprior * dv + dlj;
    }
    return lp;
  }

  void fill_theta(int c) {
    for (std::size_t t = 0; t < n_theta; ++t) theta[t] = val[theta_slot(c, t)];
  }
  void add_dtheta(int c) {
    for (std::size_t t = 0; t < n_theta; ++t) gval[theta_slot(c, t)] += dtheta[t];
  }

  SoftplusHead network_head(int c, double* x3) {
    fill_theta(c);
    std::array<double, 3> xs{};
    net->forward(std::span<const double>(theta), std::span<double, 3>(xs), *ws);
    x3[0] = xs[0];
    x3[1] = xs[1];
    x3[2] = xs[2];
    return SoftplusHead{softplus(xs[0]), sigmoid(xs[1]), xs[2]};
  }
  // Back-propagates the head adjoint of condition c through the network into gval.
  void network_backward(int c, const double* x3, const SoftplusHead::Adjoint& a) {
    const double w = sigmoid(x3[1]);
    std::array<double, 3> dx{a.k * sigmoid(x3[0]), a.w * w * (1 - w), a.x2};
    std::fill(dtheta.begin(), dtheta.end(), 0.0);
    net->backward(std::span<const double, 3>(dx), std::span<double>(dtheta), *ws);
    add_dtheta(c);
  }
  // Power-law actions, log a = log_k + w log m: the closed forms, and networks with the power
  // or posterior head (log_k = x0, w = sigmoid(x1) after forward()), whose marginal likelihood
  // is then exact as well.
  bool power_law() const { return !net || power_law_head(net->head()); }
  PowerHead power_head(int c) {
    fill_theta(c);
    if (!net) return closed_form_head(*cost, theta, jac.data());
    net->forward(std::span<const double>(theta), std::span<double, 3>(power_x), *ws);
    return PowerHead{power_x[0], sigmoid(power_x[1])};
  }
  // Adjoint of the last power_head(c) into gval.
  void power_backward(int c, double g_logk, double g_w) {
    if (!net) {
      for (std::size_t t = 0; t < n_theta; ++t) dtheta[t] = g_logk * jac[t] + g_w * jac[n_theta + t];
    } else {
      const double w = sigmoid(power_x[1]);
      const std::array<double, 3> dx{g_logk, g_w * w * (1 - w), 0.0};
      std::fill(dtheta.begin(), dtheta.end(), 0.0);
      net->backward(std::span<const double, 3>(dx), std::span<double>(dtheta), *ws);
    }
    add_dtheta(c);
  }
  std::array<double, 3> power_x{};

  // Sampled latents: log-likelihood of condition c's trials plus the N(0,1) prior of z;
  // gradient w.r.t. z into gz (grouped order), w.r.t. sigma/sigma_r into gsig/gsr.
  template <class Head>
  double sampled_loglik(const Head& h, int c, std::span<const double> z, double* gz, double& gsig,
                        double& gsr, typename Head::Adjoint& adj) {
    const double sig = val[c], sr = val[C + 2], ir2 = 1.0 / (sr * sr);
    double ll = 0, se2 = 0, gs = 0;
    double dp[Head::n_params];
    for (std::size_t k = begin[c]; k < begin[c + 1]; ++k) {
      const double zk = z[k];
      const double u = x[k] + sig * zk;
      double dla;
      const double la = h.eval(u, dla, dp);
      const double e = y[k] - la, g = e * ir2;
      se2 += e * e;
      Head::add(adj, dp, g);
      if (gz) gz[k] = g * dla * sig - zk;
      gs += g * dla * zk;
      ll -= 0.5 * zk * zk + y[k];
    }
    const double n = static_cast<double>(begin[c + 1] - begin[c]);
    gsig += gs;
    gsr += -n / sr + se2 * ir2 / sr;
    return ll - 0.5 * se2 * ir2 - n * (std::log(sr) + 0.5 * std::log(2 * std::numbers::pi));
  }

  double log_density(std::span<const double> q, std::span<double> grad) {
    double lp = transform(q, grad);
    if (!std::isfinite(lp)) return lp;
    std::fill(gval.begin(), gval.end(), 0.0);
    const bool want_grad = !grad.empty();
    double* gz = want_grad && latent == LatentMode::sampled ? grad.data() + n_free : nullptr;
    std::span<const double> z = latent == LatentMode::sampled ? q.subspan(n_free) : std::span<const double>();
    const int sr_slot = C + 2;
    for (int c = 0; c < C; ++c) {
      const double sig = val[c], sr = val[sr_slot];
      if (power_law()) {
        const PowerHead h = power_head(c);
        if (latent == LatentMode::marginal) {
          PowerGrad g;
          lp += power_loglik(h, stats[c], sig, sr, g);
          gval[c] += g.sigma;
          gval[sr_slot] += g.sigma_r;
          power_backward(c, g.log_k, g.w);
        } else {
          PowerHead::Adjoint a;
          lp += sampled_loglik(h, c, z, gz, gval[c], gval[sr_slot], a);
          power_backward(c, a.log_k, a.w);
        }
      } else {
        double x3[3];
        const SoftplusHead h = network_head(c, x3);
        SoftplusHead::Adjoint a;
        detail::SoftplusSums g;
        const std::size_t p0 = pbegin[c], pn = pbegin[c + 1] - p0;
        if (latent == LatentMode::marginal) {
          lp += detail::softplus_marginal(h, pn, &px[p0], &py[p0], &pw[p0], sig, sr, rules.for_sigma(sig), g);
        } else {
          // Latents into the padded layout; their gradient back into grad.
          for (std::size_t k = begin[c], pk = p0; k < begin[c + 1]; ++k, ++pk) pz[pk] = z[k];
          lp += detail::softplus_sampled(h, pn, &px[p0], &py[p0], &pw[p0], &pz[p0], sig, sr, gz ? &pgz[p0] : nullptr, g);
          if (gz)
            for (std::size_t k = begin[c], pk = p0; k < begin[c + 1]; ++k, ++pk) gz[k] = pgz[pk];
        }
        gval[c] += g.sigma;
        gval[sr_slot] += g.sigma_r;
        a = g.head;
        network_backward(c, x3, a);
      }
    }
    if (want_grad)
      for (std::size_t p = 0; p < slots.size(); ++p)
        if (!slots[p].fixed) grad[slots[p].q] += gval[p] * dval[p];
    return lp;
  }

  // Per-trial log-likelihood in file order (transform must have been run at q).
  void trial_loglik(std::span<const double> q, std::span<double> out) {
    transform(q, {});
    for (int c = 0; c < C; ++c) {
      const double sig = val[c], sr = val[C + 2];
      auto each = [&](const auto& h) {
        for (std::size_t k = begin[c]; k < begin[c + 1]; ++k) {
          double ll;
          if (latent == LatentMode::marginal) {
            if constexpr (std::is_same_v<std::decay_t<decltype(h)>, PowerHead>) {
              ll = power_trial_loglik(h, x[k], y[k], sig, sr);
            } else {
              TrialGrad<SoftplusHead> g;
              ll = gh_trial_loglik(h, x[k], y[k], sig, sr, rules.for_sigma(sig), g);
            }
          } else {
            double dla, dp[3];
            const double e = y[k] - h.eval(x[k] + sig * q[n_free + k], dla, dp);
            ll = -0.5 * e * e / (sr * sr) - std::log(sr) - 0.5 * std::log(2 * std::numbers::pi) - y[k];
          }
          out[orig[k]] = ll;
        }
      };
      if (power_law()) {
        each(power_head(c));
      } else if (latent == LatentMode::marginal) {
        // The vectorised kernel (the scalar gh_trial_loglik computes the same sums).
        double x3[3];
        const SoftplusHead h = network_head(c, x3);
        detail::SoftplusSums g;
        const std::size_t p0 = pbegin[c], pn = pbegin[c + 1] - p0;
        detail::softplus_marginal(h, pn, &px[p0], &py[p0], &pw[p0], sig, sr, rules.for_sigma(sig), g,
                                  default_newton_steps, &pll[p0]);
        for (std::size_t k = begin[c], pk = p0; k < begin[c + 1]; ++k, ++pk) out[orig[k]] = pll[pk];
      } else {
        double x3[3];
        each(network_head(c, x3));
      }
    }
  }

  // Posterior-predictive responses in file order: fresh measurement and motor noise.
  void predict_responses(Rng& rng, std::span<double> out) {
    for (int c = 0; c < C; ++c) {
      const double sig = val[c], sr = val[C + 2];
      auto each = [&](const auto& h) {
        for (std::size_t k = begin[c]; k < begin[c + 1]; ++k) {
          double dla, dp[3];
          const double u = x[k] + sig * rng.normal();
          out[orig[k]] = std::exp(h.eval(u, dla, dp) + sr * rng.normal());
        }
      };
      if (power_law()) {
        each(power_head(c));
      } else {
        double x3[3];
        each(network_head(c, x3));
      }
    }
  }
};

ActorModel::ActorModel(const Dataset& data, const InferenceSpec& spec)
    : impl_(std::make_unique<Impl>(data, spec)) {
  Impl& m = *impl_;
  if (!spec.cost) throw std::invalid_argument("inference: no cost family given");
  if (data.size() == 0) throw std::invalid_argument(data.source + ": no trials");
  m.cost = spec.cost;
  m.net = spec.network;
  m.latent = spec.latent;
  m.predict = spec.predict;
  m.log_lik = spec.log_lik;
  m.C = static_cast<int>(std::max<std::size_t>(1, data.conditions()));
  m.N = data.size();
  const auto tnames = theta_names(*spec.cost);
  m.n_theta = tnames.size();
  if (m.net) {
    if (m.net->cost_name() != spec.cost->name)
      throw std::invalid_argument("network was trained for cost '" + m.net->cost_name() + "', not '" + spec.cost->name + "'");
    if (m.net->param_names() != tnames) {
      std::string got;
      for (const auto& n : m.net->param_names()) got += (got.empty() ? "" : ",") + n;
      throw std::invalid_argument("network parameter order (" + got + ") does not match cost '" + spec.cost->name + "'");
    }
    m.ws = std::make_unique<ActionNetwork::Workspace>();
  } else {
    (void)closed_form_head(*spec.cost, std::vector<double>{0.2, 0.2, 1.0, 0.1, 0.9, 0.9, 0.9}, nullptr);
  }

  // Slots and their priors.
  for (const auto& np : default_priors(*spec.cost, static_cast<std::size_t>(m.C))) m.slots.push_back({np.first, np.second});
  auto known = [&] {
    std::string s;
    for (const auto& sl : m.slots) s += (s.empty() ? "" : ", ") + sl.name;
    return s;
  };
  // Applies `f` to the slots a name refers to ("sigma" means every condition's sigma).
  auto for_name = [&](const std::string& name, const char* what, auto f) {
    bool hit = false;
    for (int p = 0; p < static_cast<int>(m.slots.size()); ++p) {
      const bool sigma_all = name == "sigma" && p < m.C;
      if (m.slots[p].name == name || sigma_all) {
        f(m.slots[p]);
        hit = true;
      }
    }
    if (!hit) throw ArgumentError(what, "unknown parameter '" + name + "' (known: " + known() + ")");
  };
  // Plain references, not structured bindings: clang < 16 cannot capture those in lambdas.
  for (const auto& np : spec.priors) {
    const auto& prior = np.second;
    for_name(np.first, "priors", [&](Impl::Slot& s) { s.prior = prior; });
  }
  for (const auto& nv : spec.fixed) {
    const auto& name = nv.first;
    const auto& value = nv.second;
    for_name(name, "fixed", [&](Impl::Slot& s) {
      if (!(s.prior.kind == Prior::Kind::uniform ? (value >= s.prior.a && value <= s.prior.b) : value > 0) || !std::isfinite(value))
        throw ArgumentError("fixed", name + "=" + fmt(value) + " is outside the support of its prior " + to_string(s.prior));
      s.fixed = true;
      s.value = value;
    });
  }

  // Output order: mu_0, sigma_0, sigma_r, sigma(s), cost parameters.
  m.out_order = {m.C + 1, m.C, m.C + 2};
  for (int c = 0; c < m.C; ++c) m.out_order.push_back(c);
  for (std::size_t j = 0; j < spec.cost->params.size(); ++j) m.out_order.push_back(m.C + 3 + static_cast<int>(j));
  int next = 0;
  for (int p : m.out_order)
    if (!m.slots[p].fixed) m.slots[p].q = next++;
  m.n_free = static_cast<std::size_t>(next);

  // Trials grouped by condition.
  m.begin.assign(m.C + 1, 0);
  for (int c = 0; c < m.C; ++c) {
    m.begin[c] = m.x.size();
    PowerStats st;
    for (std::size_t i = 0; i < data.size(); ++i)
      if (data.cond[i] == c) {
        m.x.push_back(std::log(data.s[i]));
        m.y.push_back(std::log(data.r[i]));
        m.orig.push_back(i);
        st.add(m.x.back(), m.y.back());
      }
    m.stats.push_back(st);
  }
  m.begin[m.C] = m.x.size();
  const std::size_t lanes = detail::simd_lanes();
  for (int c = 0; c < m.C; ++c) {
    m.pbegin.push_back(m.px.size());
    for (std::size_t k = m.begin[c]; k < m.begin[c + 1]; ++k) {
      m.px.push_back(m.x[k]);
      m.py.push_back(m.y[k]);
      m.pw.push_back(1.0);
    }
    while (m.px.size() % lanes) {  // padding: a copy of a real trial with weight 0
      m.px.push_back(m.x[m.begin[c]]);
      m.py.push_back(m.y[m.begin[c]]);
      m.pw.push_back(0.0);
    }
  }
  m.pbegin.push_back(m.px.size());
  m.pz.assign(m.px.size(), 0.0);
  m.pgz.assign(m.px.size(), 0.0);
  m.pll.assign(m.px.size(), 0.0);
  if (m.x.size() != data.size()) throw std::invalid_argument(data.source + ": condition index out of range");

  m.val.assign(m.slots.size(), 0.0);
  m.dval.assign(m.slots.size(), 0.0);
  m.gval.assign(m.slots.size(), 0.0);
  m.theta.assign(m.n_theta, 0.0);
  m.dtheta.assign(m.n_theta, 0.0);
  m.jac.assign(2 * m.n_theta, 0.0);
}

ActorModel::~ActorModel() = default;

std::size_t ActorModel::dim() const {
  return impl_->n_free + (impl_->latent == LatentMode::sampled ? impl_->N : 0);
}

std::size_t ActorModel::n_free() const { return impl_->n_free; }

double ActorModel::log_density(std::span<const double> q, std::span<double> grad) {
  if (!grad.empty()) std::fill(grad.begin(), grad.end(), 0.0);
  return impl_->log_density(q, grad);
}

std::vector<std::string> ActorModel::free_names() const {
  std::vector<std::string> names;
  for (int p : impl_->out_order)
    if (!impl_->slots[p].fixed) names.push_back(impl_->slots[p].name);
  return names;
}

std::vector<std::string> ActorModel::all_names() const {
  std::vector<std::string> names;
  for (int p : impl_->out_order) names.push_back(impl_->slots[p].name);
  return names;
}

std::vector<std::string> ActorModel::output_names() const {
  auto names = free_names();
  if (impl_->log_lik)
    for (std::size_t i = 0; i < impl_->N; ++i) names.push_back("log_lik." + std::to_string(i + 1));
  if (impl_->predict)
    for (std::size_t i = 0; i < impl_->N; ++i) names.push_back("r_rep." + std::to_string(i + 1));
  return names;
}

void ActorModel::write_outputs(std::span<const double> q, Rng& rng, std::span<double> out) {
  Impl& m = *impl_;
  m.transform(q, {});
  std::size_t o = 0;
  for (int p : m.out_order)
    if (!m.slots[p].fixed) out[o++] = m.val[p];
  if (m.log_lik) {
    m.trial_loglik(q, out.subspan(o, m.N));
    o += m.N;
  }
  if (m.predict) m.predict_responses(rng, out.subspan(o, m.N));
}

void ActorModel::trial_loglik(std::span<const double> q, std::span<double> out) { impl_->trial_loglik(q, out); }

std::vector<double> ActorModel::constrain(std::span<const double> q) const {
  Impl& m = *impl_;
  m.transform(q, {});
  std::vector<double> v;
  for (int p : m.out_order) v.push_back(m.val[p]);
  return v;
}

std::vector<double> ActorModel::unconstrain(const std::map<std::string, double>& values) const {
  const Impl& m = *impl_;
  std::vector<double> q(dim(), 0.0);
  for (const auto& s : m.slots) {
    if (s.fixed) continue;
    double v;
    auto it = values.find(s.name);
    if (it == values.end() && s.name.rfind("sigma.", 0) == 0) it = values.find("sigma");
    if (it != values.end()) v = it->second;
    else if (s.prior.kind == Prior::Kind::uniform) v = 0.5 * (s.prior.a + s.prior.b);
    else if (s.prior.kind == Prior::Kind::lognormal) v = std::exp(s.prior.a);
    else v = 0.674 * s.prior.a;
    if (!s.prior.in_support(v))
      throw std::invalid_argument("value " + fmt(v) + " of '" + s.name + "' is outside its prior's support");
    q[s.q] = s.logit() ? std::log((v - s.prior.a) / (s.prior.b - v)) : std::log(v);
  }
  return q;
}

} // namespace bactor
