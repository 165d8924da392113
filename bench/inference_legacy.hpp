// SPDX-License-Identifier: MIT
// Bench-only copy of the inference log-density as it was before issue 14 (part 2) moved it onto
// the tape: the hand-written gradient of models/inference.cpp at commit 00bce10 (transforms,
// priors, network and likelihood chained by hand). bench/inference times it beside the
// tape-driven ActorModel in the same run; it is not part of the library and goes once the
// comparison is recorded in README's Benchmarks section.
#pragma once

#include <bactor/models/costs.hpp>
#include <bactor/models/data.hpp>
#include <bactor/models/inference.hpp>
#include <bactor/models/marginal.hpp>
#include <bactor/models/network.hpp>
#include "models/inference_kernels.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <numbers>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace bactor::legacy {

// Verbatim copies of the helpers as they were at 00bce10 (the library's versions have since
// been rewritten for the tape nodes), so that this path times exactly the old code.
inline double prior_log_density(const Prior& p, double v, double& dv) {
  switch (p.kind) {
  case Prior::Kind::half_normal:
    dv = -v / (p.a * p.a);
    return -0.5 * v * v / (p.a * p.a);
  case Prior::Kind::uniform:
    dv = 0;
    return 0;
  case Prior::Kind::lognormal: {
    const double lv = std::log(v), e = (lv - p.a) / p.b;
    dv = (-e / p.b - 1.0) / v;
    return -0.5 * e * e - lv;
  }
  }
  dv = 0;
  return 0;
}

inline PowerHead closed_form_head(const CostInfo& cost, std::span<const double> theta, double* jac) {
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

inline double power_loglik(const PowerHead& h, const PowerStats& st, double sigma, double sigma_r, PowerGrad& g) {
  const double lk = h.log_k, w = h.w;
  const double v = sigma_r * sigma_r + w * w * sigma * sigma;
  const double q = st.syy + st.n * lk * lk + w * w * st.sxx - 2 * lk * st.sy - 2 * w * st.sxy + 2 * lk * w * st.sx;
  const double dq_dlk = 2 * (st.n * lk - st.sy + w * st.sx);
  const double dq_dw = 2 * (w * st.sxx - st.sxy + lk * st.sx);
  const double dl_dv = -0.5 * st.n / v + 0.5 * q / (v * v);
  g.log_k += -0.5 * dq_dlk / v;
  g.w += -0.5 * dq_dw / v + dl_dv * 2 * w * sigma * sigma;
  g.sigma += dl_dv * 2 * w * w * sigma;
  g.sigma_r += dl_dv * 2 * sigma_r;
  return -0.5 * st.n * std::log(2 * std::numbers::pi * v) - 0.5 * q / v - st.sy;
}

/// The old ActorModel's log_density (constructor reduced to what the bench's specs need: the
/// same slots, priors, fixed values, q order and trial layout).
class ActorModel {
public:
  ActorModel(const Dataset& data, const InferenceSpec& spec) : rules(spec.quadrature_nodes) {
    cost = spec.cost;
    net = spec.network;
    latent = spec.latent;
    C = static_cast<int>(std::max<std::size_t>(1, data.conditions()));
    N = data.size();
    n_theta = theta_names(*spec.cost).size();
    if (net) ws = std::make_unique<ActionNetwork::Workspace>();
    const Prior half{Prior::Kind::half_normal, 0.25, 0};
    for (int c = 0; c < C; ++c) slots.push_back({C == 1 ? "sigma" : "sigma." + std::to_string(c + 1), half});
    slots.push_back({"sigma_0", half});
    slots.push_back({"mu_0", Prior{Prior::Kind::uniform, 0.1, 5.0}});
    slots.push_back({"sigma_r", half});
    for (const auto& p : spec.cost->params) {
      Prior pr;
      if (p.kind == ParamPrior::Kind::uniform) pr = Prior{Prior::Kind::uniform, p.a, p.b};
      else pr = Prior{Prior::Kind::lognormal, p.a, p.b};
      slots.push_back({p.name, pr});
    }
    for (const auto& np : spec.priors)
      for (int p = 0; p < static_cast<int>(slots.size()); ++p)
        if (slots[p].name == np.first || (np.first == "sigma" && p < C)) slots[p].prior = np.second;
    for (const auto& nv : spec.fixed)
      for (int p = 0; p < static_cast<int>(slots.size()); ++p)
        if (slots[p].name == nv.first || (nv.first == "sigma" && p < C)) slots[p].fixed = true, slots[p].value = nv.second;
    std::vector<int> out_order = {C + 1, C, C + 2};
    for (int c = 0; c < C; ++c) out_order.push_back(c);
    for (std::size_t j = 0; j < spec.cost->params.size(); ++j) out_order.push_back(C + 3 + static_cast<int>(j));
    int next = 0;
    for (int p : out_order)
      if (!slots[p].fixed) slots[p].q = next++;
    n_free = static_cast<std::size_t>(next);
    begin.assign(C + 1, 0);
    for (int c = 0; c < C; ++c) {
      begin[c] = x.size();
      PowerStats st;
      for (std::size_t i = 0; i < data.size(); ++i)
        if (data.cond[i] == c) {
          x.push_back(std::log(data.s[i]));
          y.push_back(std::log(data.r[i]));
          st.add(x.back(), y.back());
        }
      stats.push_back(st);
    }
    begin[C] = x.size();
    const std::size_t lanes = detail::simd_lanes();
    for (int c = 0; c < C; ++c) {
      pbegin.push_back(px.size());
      for (std::size_t k = begin[c]; k < begin[c + 1]; ++k) px.push_back(x[k]), py.push_back(y[k]), pw.push_back(1.0);
      while (px.size() % lanes) px.push_back(x[begin[c]]), py.push_back(y[begin[c]]), pw.push_back(0.0);
    }
    pbegin.push_back(px.size());
    pz.assign(px.size(), 0.0);
    pgz.assign(px.size(), 0.0);
    val.assign(slots.size(), 0.0);
    dval.assign(slots.size(), 0.0);
    gval.assign(slots.size(), 0.0);
    theta.assign(n_theta, 0.0);
    dtheta.assign(n_theta, 0.0);
    jac.assign(2 * n_theta, 0.0);
  }

  std::size_t dim() const { return n_free + (latent == LatentMode::sampled ? N : 0); }

  double log_density(std::span<const double> q, std::span<double> grad) {
    if (!grad.empty()) std::fill(grad.begin(), grad.end(), 0.0);
    return log_density_impl(q, grad);
  }

private:
  struct Slot {
    std::string name;
    Prior prior;
    bool fixed = false;
    double value = 0;
    int q = -1;
    bool logit() const { return prior.kind == Prior::Kind::uniform; }
  };

  // ---- verbatim from models/inference.cpp at 00bce10 (ActorModel::Impl) -------------------
  const CostInfo* cost;
  std::shared_ptr<const ActionNetwork> net;
  LatentMode latent;
  int C = 1;
  std::size_t N = 0, n_theta = 0, n_free = 0;
  std::vector<Slot> slots;
  std::vector<double> x, y;
  std::vector<std::size_t> begin;
  std::vector<PowerStats> stats;
  std::vector<double> px, py, pw, pz, pgz;
  std::vector<std::size_t> pbegin;
  GaussHermiteSet rules;
  std::vector<double> val, dval, gval, theta, dtheta, jac;
  std::unique_ptr<ActionNetwork::Workspace> ws;
  std::array<double, 3> power_x{};

  int theta_slot(int c, std::size_t t) const { return t == 0 ? c : C + static_cast<int>(t) - 1; }

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
      lp += prior_log_density(s.prior, v, dprior) + lj;
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
  void network_backward(int c, const double* x3, const SoftplusHead::Adjoint& a) {
    const double w = sigmoid(x3[1]);
    std::array<double, 3> dx{a.k * sigmoid(x3[0]), a.w * w * (1 - w), a.x2};
    std::fill(dtheta.begin(), dtheta.end(), 0.0);
    net->backward(std::span<const double, 3>(dx), std::span<double>(dtheta), *ws);
    add_dtheta(c);
  }
  bool power_law() const { return !net || power_law_head(net->head()); }
  PowerHead power_head(int c) {
    fill_theta(c);
    if (!net) return legacy::closed_form_head(*cost, theta, jac.data());
    net->forward(std::span<const double>(theta), std::span<double, 3>(power_x), *ws);
    return PowerHead{power_x[0], sigmoid(power_x[1])};
  }
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
  template <class Head>
  double sampled_loglik(const Head& h, int c, std::span<const double> z, double* gz, double& gsig, double& gsr,
                        typename Head::Adjoint& adj) {
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
  double log_density_impl(std::span<const double> q, std::span<double> grad) {
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
          lp += legacy::power_loglik(h, stats[c], sig, sr, g);
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
};

} // namespace bactor::legacy
