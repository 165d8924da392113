// SPDX-License-Identifier: MIT
#include <bactor/models/network.hpp>

#include <xsimd/xsimd.hpp>

#include <bactor/models/actor.hpp>
#include <bactor/models/costs.hpp>

#include "engine/simd_math.hpp"
#include "models/dual.hpp"
#include "models/network_heads.hpp"

#include <cmath>
#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace bactor {

std::size_t MlpLayout::weight_offset(std::size_t l) const {
  std::size_t off = 0;
  for (std::size_t i = 0; i < l; ++i) off += std::size_t(sizes[i + 1]) * std::size_t(sizes[i] + 1);
  return off;
}

ActionNetwork::ActionNetwork(std::string cost_name, std::vector<std::string> param_names,
                             std::vector<int> sizes, std::vector<float> params,
                             std::vector<InputScaling> scaling, NetworkMetadata metadata, NetworkHead head)
    : cost_name_(std::move(cost_name)), head_(head), param_names_(std::move(param_names)), layout_{std::move(sizes)},
      params_(std::move(params)), scaling_(std::move(scaling)), metadata_(std::move(metadata)) {
  if (layout_.sizes.size() < 2 || layout_.sizes.back() != 3)
    throw std::invalid_argument("action network: the output layer must have 3 units");
  if ((head_ == NetworkHead::posterior || head_ == NetworkHead::mupost) && param_names_.size() < 4)
    throw std::invalid_argument(std::string("action network: the ") + to_string(head_) +
                                " head needs theta = (sigma, sigma_0, mu_0, sigma_r, ...)");
  for (const auto& c : cost_families())
    if (c.name == cost_name_) cost_ = &c;
  const std::size_t n_feat = head_input_count(head_, param_names_.size(), cost_);
  if (std::size_t(layout_.sizes.front()) != n_feat || scaling_.size() != n_feat)
    throw std::invalid_argument("action network: input size does not match the parameter names and head");
  if (params_.size() != layout_.n_params())
    throw std::invalid_argument("action network: " + std::to_string(params_.size()) +
                                " weights given, the architecture needs " + std::to_string(layout_.n_params()));
  constexpr std::size_t W = xsimd::batch<double>::size;
  for (int n : layout_.sizes) padded_.push_back((std::size_t(n) + W - 1) / W * W);
  for (std::size_t l = 0; l < layout_.n_layers(); ++l) {
    const std::size_t in = std::size_t(layout_.sizes[l]), out = std::size_t(layout_.sizes[l + 1]);
    const std::size_t in_p = padded_[l], out_p = padded_[l + 1];
    auto& wt = wt_.emplace_back(in * out_p, 0.0f);
    auto& w = w_.emplace_back(out * in_p, 0.0f);
    auto& b = b_.emplace_back(out_p, 0.0);
    const float* pw = params_.data() + layout_.weight_offset(l);
    const float* pb = params_.data() + layout_.bias_offset(l);
    for (std::size_t j = 0; j < out; ++j) {
      for (std::size_t i = 0; i < in; ++i) {
        wt[i * out_p + j] = pw[j * in + i];
        w[j * in_p + i] = pw[j * in + i];
      }
      b[j] = double(pb[j]);
    }
  }
}

namespace {
using DB = xsimd::batch<double>;

/// DB::size floats from p (aligned to their size in bytes), widened to double (exact).
inline DB load_widen(const float* p) {
#if defined(__AVX512F__)
  if constexpr (DB::size == 8) return DB(_mm512_cvtps_pd(_mm256_load_ps(p)));
#elif defined(__AVX__)
  if constexpr (DB::size == 4) return DB(_mm256_cvtps_pd(_mm_load_ps(p)));
#endif
  alignas(64) double t[DB::size];
  for (std::size_t k = 0; k < DB::size; ++k) t[k] = double(p[k]);
  return DB::load_aligned(t);
}

/// y[0..NB*4) += sum_i x[i] * m[i*stride + (0..NB*4)], with S partial sums per output batch
/// (rows i = s mod S) so that NB*S >= 8 FMA chains are in flight: a 64->16 layer would
/// otherwise be one 64-long dependency chain per register (latency- not throughput-bound).
template <std::size_t NB>
void axpy_block(std::size_t n, const double* x, const float* m, std::size_t stride, double* y) {
  constexpr std::size_t S = NB >= 8 ? 1 : 8 / NB;
  DB acc[S][NB];
#pragma GCC unroll 8
  for (std::size_t v = 0; v < NB; ++v) {
    acc[0][v] = DB::load_aligned(y + v * DB::size);
#pragma GCC unroll 8
    for (std::size_t s = 1; s < S; ++s) acc[s][v] = DB(0.0);
  }
  std::size_t i = 0;
  for (; i + S <= n; i += S)
#pragma GCC unroll 8
    for (std::size_t s = 0; s < S; ++s) {
      const DB xi(x[i + s]);
      const float* row = m + (i + s) * stride;
#pragma GCC unroll 8
      for (std::size_t v = 0; v < NB; ++v) acc[s][v] = xsimd::fma(xi, load_widen(row + v * DB::size), acc[s][v]);
    }
  for (; i < n; ++i) {
    const DB xi(x[i]);
    const float* row = m + i * stride;
#pragma GCC unroll 8
    for (std::size_t v = 0; v < NB; ++v) acc[0][v] = xsimd::fma(xi, load_widen(row + v * DB::size), acc[0][v]);
  }
#pragma GCC unroll 8
  for (std::size_t v = 0; v < NB; ++v) {
    DB t = acc[0][v];
#pragma GCC unroll 8
    for (std::size_t s = 1; s < S; ++s) t += acc[s][v];
    t.store_aligned(y + v * DB::size);
  }
}

/// y[0..width) += sum_i x[i] * m[i*stride + (0..width)], width a multiple of the SIMD size.
void axpy_rows(std::size_t n, const double* x, const float* m, std::size_t stride, std::size_t width, double* y) {
  constexpr std::size_t max_nb = 8;
  for (std::size_t off = 0; off < width; off += max_nb * DB::size) {
    const std::size_t nb = std::min(max_nb, (width - off) / DB::size);
    switch (nb) {
    case 1: axpy_block<1>(n, x, m + off, stride, y + off); break;
    case 2: axpy_block<2>(n, x, m + off, stride, y + off); break;
    case 3: axpy_block<3>(n, x, m + off, stride, y + off); break;
    case 4: axpy_block<4>(n, x, m + off, stride, y + off); break;
    case 5: axpy_block<5>(n, x, m + off, stride, y + off); break;
    case 6: axpy_block<6>(n, x, m + off, stride, y + off); break;
    case 7: axpy_block<7>(n, x, m + off, stride, y + off); break;
    default: axpy_block<8>(n, x, m + off, stride, y + off); break;
    }
  }
}

/// sigmoid(p) = 1 / (1 + e^{-p}) lane-wise with the division-free e^x of engine/simd_math.hpp
/// (~2 ulp; e^{-p} is clamped to e^{709}, which gives sigmoid ~ 1e-308 instead of 0 for p < -709).
inline DB sigmoid_d(DB p) { return DB(1.0) / (DB(1.0) + simd::exp_clamped(-p)); }
} // namespace

void ActionNetwork::forward(std::span<const double> theta, std::span<double, 3> x, Workspace& ws) const {
  if (head_ == NetworkHead::mupost)
    throw std::invalid_argument("action network: the mupost head's outputs depend on the measurement m");
  forward(theta, NAN, x, ws);
}

void ActionNetwork::forward(std::span<const double> theta, double m, std::span<double, 3> x, Workspace& ws) const {
  using B = xsimd::batch<double>;
  const std::size_t L = layout_.n_layers();
  // (Re)size the workspace when it is new or was last used by a network of another shape.
  bool fits = ws.act.size() == L + 1 && ws.theta.size() == n_inputs() && ws.features.size() == n_features();
  for (std::size_t l = 0; fits && l <= L; ++l) fits = ws.act[l].size() == padded_[l];
  if (!fits) {
    ws.pre.assign(L + 1, {});
    ws.sig.assign(L + 1, {});
    ws.act.assign(L + 1, {});
    ws.grad.assign(L + 1, {});
    for (std::size_t l = 0; l <= L; ++l) {
      ws.pre[l].assign(padded_[l], 0.0);
      ws.sig[l].assign(padded_[l], 0.0);
      ws.act[l].assign(padded_[l], 0.0);
      ws.grad[l].assign(padded_[l], 0.0);
    }
    ws.theta.assign(n_inputs(), 0.0);
    ws.features.assign(n_features(), 0.0);
  }
  std::copy_n(theta.begin(), n_inputs(), ws.theta.begin());
  ws.m = m;
  head_features(head_, theta, ws.features, m, cost_);
  for (std::size_t i = 0; i < n_features(); ++i) {
    const auto& sc = scaling_[i];
    const double t = sc.log ? std::log(ws.features[i]) : ws.features[i];
    ws.act[0][i] = (t - sc.shift) / sc.scale;
  }
  for (std::size_t l = 0; l < L; ++l) {
    const std::size_t in = std::size_t(layout_.sizes[l]), out_p = padded_[l + 1];
    double* __restrict y = ws.pre[l + 1].data();
    const double* __restrict xin = ws.act[l].data();
    const float* __restrict wt = wt_[l].data();
    std::copy(b_[l].begin(), b_[l].end(), y);
    // y += x_i * (column i of W), vectorised over the outputs
    axpy_rows(in, xin, wt, out_p, out_p, y);
    double* act = ws.act[l + 1].data();
    if (l + 1 < L) {
      double* sig = ws.sig[l + 1].data();
      for (std::size_t o = 0; o < out_p; o += B::size) {
        const B p = B::load_aligned(y + o);
        const B s = sigmoid_d(p);  // swish(x) = x sigmoid(x)
        s.store_aligned(sig + o);
        (p * s).store_aligned(act + o);
      }
    } else {
      std::copy(y, y + out_p, act);
    }
  }
  for (std::size_t k = 0; k < 3; ++k) x[k] = ws.act[L][k];
  heads::power_form(head_, theta.data(), measurement_head(head_) ? std::log(m) : 0.0, x.data());
}

void ActionNetwork::backward(std::span<const double, 3> dx, std::span<double> dtheta, Workspace& ws,
                             double* dla_dlogm) const {
  using B = xsimd::batch<double>;
  const std::size_t L = layout_.n_layers();
  std::fill(ws.grad[L].begin(), ws.grad[L].end(), 0.0);
  if (head_ == NetworkHead::posterior || head_ == NetworkHead::mupost) {
    ws.grad[L][0] = dx[0];  // only x0 is learned
  } else {
    for (std::size_t k = 0; k < 3; ++k) ws.grad[L][k] = dx[k];
  }
  for (std::size_t l = L; l-- > 0;) {
    const std::size_t out = std::size_t(layout_.sizes[l + 1]), in_p = padded_[l];
    double* __restrict dy = ws.grad[l + 1].data();
    if (l + 1 < L) {
      // swish'(x) = sigmoid(x) (1 + x (1 - sigmoid(x)))
      const double* p = ws.pre[l + 1].data();
      const double* sg = ws.sig[l + 1].data();
      for (std::size_t o = 0; o < padded_[l + 1]; o += B::size) {
        const B s = B::load_aligned(sg + o), pv = B::load_aligned(p + o);
        (B::load_aligned(dy + o) * s * (B(1.0) + pv * (B(1.0) - s))).store_aligned(dy + o);
      }
    }
    // dx = W^T dy: accumulate dy_j * (row j of W), vectorised over the inputs
    double* __restrict g = ws.grad[l].data();
    const float* __restrict w = w_[l].data();
    std::fill(g, g + in_p, 0.0);
    axpy_rows(out, dy, w, in_p, in_p, g);
  }
  // The adjoints of the features (undoing the input scaling).
  const std::size_t nf = n_features(), nt = n_inputs();
  double df[16];
  for (std::size_t i = 0; i < nf; ++i) {
    const auto& sc = scaling_[i];
    const double dz = ws.grad[0][i] / sc.scale;
    df[i] = sc.log ? dz / ws.features[i] : dz;
  }
  if (head_ == NetworkHead::softplus || head_ == NetworkHead::power) {  // the features are theta
    std::copy_n(df, nt, dtheta.begin());
    return;
  }
  // Posterior and mupost heads: dtheta = (d features/d theta)^T df + (d power form/d theta)^T dx,
  // both from heads::features and heads::power_form in forward mode, one SIMD lane per direction
  // (theta's entries, then log m), the MLP's outputs held fixed (their adjoint is in df).
  using DB = xsimd::batch<double>;
  using D = Dual<DB>;
  constexpr std::size_t W = DB::size;
  const std::size_t n_dir = nt + 1;  // theta, log m
  const double lm = measurement_head(head_) ? std::log(ws.m) : 0.0;
  double lk = 0, dk[8] = {};
  const bool scaled = head_ == NetworkHead::mupost && cost_ && cost_->log_scale;
  if (scaled) lk = cost_->log_scale(ws.theta.data() + theta_index::first_cost_param, dk);
  double dlogm = 0;
  for (std::size_t d0 = 0; d0 < n_dir; d0 += W) {
    alignas(64) double seed[W];
    auto direction = [&](std::size_t j) {  // lane l is direction d0 + l: 1 where it is j
      for (std::size_t l = 0; l < W; ++l) seed[l] = d0 + l == j ? 1.0 : 0.0;
      return DB::load_aligned(seed);
    };
    D th[16], f[16], x[3];
    for (std::size_t j = 0; j < nt; ++j) th[j] = D(DB(ws.theta[j]), direction(j));
    const D log_m(DB(lm), direction(nt));
    D log_kappa(DB(lk), DB(0.0));
    for (std::size_t j = theta_index::first_cost_param; scaled && j < nt; ++j)
      log_kappa.d = xsimd::fma(DB(dk[j - theta_index::first_cost_param]), th[j].d, log_kappa.d);
    heads::features(head_, th, nt, log_m, log_kappa, scaled, f);
    for (std::size_t k = 0; k < 3; ++k) x[k] = D(DB(ws.act[L][k]), DB(0.0));
    heads::power_form(head_, th, log_m, x);
    DB g(0.0);
    for (std::size_t i = 0; i < nf; ++i) g = xsimd::fma(DB(df[i]), f[i].d, g);
    for (std::size_t k = 0; k < 3; ++k) g = xsimd::fma(DB(dx[k]), x[k].d, g);
    alignas(64) double out[W];
    g.store_aligned(out);
    for (std::size_t l = 0; l < W && d0 + l < n_dir; ++l) {
      if (d0 + l < nt) dtheta[d0 + l] = out[l];
      else dlogm = out[l];
    }
  }
  if (head_ == NetworkHead::mupost) {
    // d log a / d log m = w (1 + dg/dmu_post); the last feature is mu_post (or mu_post - log kappa).
    ws.dg_dmu = dx[0] != 0.0 ? df[nf - 1] / dx[0] : 0.0;
    if (dla_dlogm) *dla_dlogm = dx[0] != 0.0 ? dlogm / dx[0] : NAN;
  }
}

std::size_t head_input_count(NetworkHead head, std::size_t n_theta, const CostInfo* cost) {
  if (head == NetworkHead::mupost) return cost && cost->log_scale ? 3 : n_theta - 1;
  return head == NetworkHead::posterior ? n_theta - 2 : n_theta;
}

void head_features(NetworkHead head, std::span<const double> theta, std::span<double> f, double m,
                   const CostInfo* cost) {
  double lm = 0, lk = 0;
  const bool scaled = head == NetworkHead::mupost && cost && cost->log_scale;
  if (head == NetworkHead::mupost) {
    if (!(m > 0) || !std::isfinite(m)) throw std::invalid_argument("the mupost head needs a measurement m > 0");
    lm = std::log(m);
    double dk[8];
    if (scaled) lk = cost->log_scale(theta.data() + theta_index::first_cost_param, dk);
  }
  heads::features(head, theta.data(), theta.size(), lm, lk, scaled, f.data());
}

double ActionNetwork::action(NetworkHead head, std::span<const double, 3> x, double m) {
  // x is in power form: log a = x0 + sigmoid(x1) log m for the power-law heads, x0 for mupost.
  const double lm = std::log(m);
  if (head == NetworkHead::mupost) return heads::action(NetworkHead::posterior, x[0], x[1], x[2], lm, 0.0);
  return heads::action(power_law_head(head) ? NetworkHead::power : head, x[0], x[1], x[2], lm, 0.0);
}

NetworkHead parse_network_head(const std::string& name) {
  if (name == "softplus") return NetworkHead::softplus;
  if (name == "power") return NetworkHead::power;
  if (name == "posterior") return NetworkHead::posterior;
  if (name == "mupost") return NetworkHead::mupost;
  throw std::invalid_argument("unknown network head '" + name + "' (expected softplus, power, posterior or mupost)");
}
const char* to_string(NetworkHead head) {
  switch (head) {
    case NetworkHead::power: return "power";
    case NetworkHead::posterior: return "posterior";
    case NetworkHead::mupost: return "mupost";
    default: return "softplus";
  }
}
const char* head_formula(NetworkHead head) {
  switch (head) {
    case NetworkHead::power: return "exp(x0)*m^sigmoid(x1)";
    case NetworkHead::posterior: return "exp(x0+mu_post)";
    case NetworkHead::mupost: return "exp(mu_post+x0(sigma_post,sigma_r,params,mu_post))";
    default: return "softplus(softplus(x0)*m^sigmoid(x1)+x2)";
  }
}

double ActionNetwork::action(std::span<const double> theta, double m) const {
  Workspace ws;
  double x[3];
  forward(theta, m, x, ws);
  return action(head_, std::span<const double, 3>(x), m);
}

} // namespace bactor
