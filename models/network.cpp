// SPDX-License-Identifier: MIT
#include <bactor/models/network.hpp>

#include <xsimd/xsimd.hpp>

#include <bactor/models/actor.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/perception.hpp>

#include "engine/dense_kernels.hpp"
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
  linear_ = network_perception(*this) == PerceptionModel::gaussian;
  if (linear_ && head_ != NetworkHead::mupost)
    throw std::invalid_argument(std::string("action network: gaussian perception needs the mupost head, not ") + to_string(head_));
  const std::size_t n_feat = head_input_count(head_, param_names_.size(), cost_);
  if (std::size_t(layout_.sizes.front()) != n_feat || scaling_.size() != n_feat)
    throw std::invalid_argument("action network: input size does not match the parameter names and head");
  if (param_names_.size() > 16)  // backward()'s scratch for theta and the features
    throw std::invalid_argument("action network: at most 16 inputs (theta has " + std::to_string(param_names_.size()) + ")");
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
/// A number with its derivatives along W = K x (SIMD width) directions (forward mode): the value
/// once in double, the derivatives in K batches. The arithmetic the heads use (+, -, *, /, exp,
/// log, sqrt), each with its derivative beside it.
template <std::size_t K>
struct Jet {
  using B = xsimd::batch<double>;
  static constexpr std::size_t directions = K * B::size;
  double v = 0;
  B d[K];
  Jet() : Jet(0.0) {}
  Jet(double c) : v(c) {  // a constant
    for (auto& b : d) b = B(0.0);
  }
  /// x with derivative 1 along direction j (counted from the pass's first direction d0).
  static Jet seeded(double x, std::size_t j, std::size_t d0) {
    Jet r(x);
    if (j >= d0 && j < d0 + directions) {
      alignas(64) double e[directions] = {};
      e[j - d0] = 1.0;
      for (std::size_t k = 0; k < K; ++k) r.d[k] = B::load_aligned(e + k * B::size);
    }
    return r;
  }
  /// this += c y (value and derivatives).
  void add_scaled(const Jet& y, double c) {
    v += c * y.v;
    for (std::size_t k = 0; k < K; ++k) d[k] = xsimd::fma(B(c), y.d[k], d[k]);
  }
  void store_derivatives(double* out) const {
    for (std::size_t k = 0; k < K; ++k) d[k].store_aligned(out + k * B::size);
  }
  friend Jet operator+(const Jet& a, const Jet& b) {  // d(a + b) = da + db
    Jet r(a.v + b.v);
    for (std::size_t k = 0; k < K; ++k) r.d[k] = a.d[k] + b.d[k];
    return r;
  }
  friend Jet operator-(const Jet& a, const Jet& b) {  // d(a - b) = da - db
    Jet r(a.v - b.v);
    for (std::size_t k = 0; k < K; ++k) r.d[k] = a.d[k] - b.d[k];
    return r;
  }
  friend Jet operator-(const Jet& a) {  // d(-a) = -da
    Jet r(-a.v);
    for (std::size_t k = 0; k < K; ++k) r.d[k] = -a.d[k];
    return r;
  }
  friend Jet operator*(const Jet& a, const Jet& b) {  // d(ab) = b da + a db
    Jet r(a.v * b.v);
    for (std::size_t k = 0; k < K; ++k) r.d[k] = xsimd::fma(B(b.v), a.d[k], B(a.v) * b.d[k]);
    return r;
  }
  friend Jet operator/(const Jet& a, const Jet& b) {  // d(a/b) = (da - (a/b) db) / b
    Jet r(a.v / b.v);
    const B ib(1.0 / b.v);
    for (std::size_t k = 0; k < K; ++k) r.d[k] = xsimd::fnma(B(r.v), b.d[k], a.d[k]) * ib;
    return r;
  }
  friend Jet exp(const Jet& a) {  // d exp(a) = exp(a) da
    Jet r(std::exp(a.v));
    const B e(r.v);
    for (std::size_t k = 0; k < K; ++k) r.d[k] = a.d[k] * e;
    return r;
  }
  friend Jet log(const Jet& a) {  // d log a = da / a
    Jet r(std::log(a.v));
    const B ia(1.0 / a.v);
    for (std::size_t k = 0; k < K; ++k) r.d[k] = a.d[k] * ia;
    return r;
  }
  friend Jet sqrt(const Jet& a) {  // d sqrt(a) = da / (2 sqrt(a))
    Jet r(std::sqrt(a.v));
    const B h(0.5 / r.v);
    for (std::size_t k = 0; k < K; ++k) r.d[k] = a.d[k] * h;
    return r;
  }
};
/// Enough batches for 8 directions (theta of a cost with up to three parameters, and log m) in
/// one pass.
constexpr std::size_t jet_batches = (8 + xsimd::batch<double>::size - 1) / xsimd::batch<double>::size;
} // namespace

void ActionNetwork::forward(std::span<const double> theta, std::span<double, 3> x, Workspace& ws) const {
  if (head_ == NetworkHead::mupost)
    throw std::invalid_argument("action network: the mupost head's outputs depend on the measurement m");
  forward(theta, NAN, x, ws);
}

void ActionNetwork::forward(std::span<const double> theta, double m, std::span<double, 3> x, Workspace& ws) const {
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
  head_features(head_, theta, ws.features, m, cost_, linear_);
  for (std::size_t i = 0; i < n_features(); ++i) {
    const auto& sc = scaling_[i];
    const double t = sc.log ? std::log(ws.features[i]) : ws.features[i];
    ws.act[0][i] = (t - sc.shift) / sc.scale;
  }
  for (std::size_t l = 0; l < L; ++l) {  // the layers of engine/dense_kernels.hpp, one sample
    const std::size_t in = std::size_t(layout_.sizes[l]), out_p = padded_[l + 1];
    double* y = ws.pre[l + 1].data();
    std::copy(b_[l].begin(), b_[l].end(), y);
    dense::column_accumulate(in, ws.act[l].data(), wt_[l].data(), out_p, out_p, y);  // y = b + W x
    if (l + 1 < L) dense::swish_forward(out_p, y, ws.act[l + 1].data(), ws.sig[l + 1].data());
    else std::copy(y, y + out_p, ws.act[l + 1].data());
  }
  for (std::size_t k = 0; k < 3; ++k) x[k] = ws.act[L][k];
  if (linear_) {
    double dk[8];
    const bool scaled = cost_ && cost_->log_scale;
    const double lk = scaled ? cost_->log_scale(theta.data() + theta_index::first_cost_param, dk) : 0.0;
    heads::power_form(head_, theta.data(), m, x.data(), true, heads::linear_output_scale(theta.data(), n_inputs(), m, lk, scaled));
    return;
  }
  heads::power_form(head_, theta.data(), measurement_head(head_) ? std::log(m) : 0.0, x.data());
}

void ActionNetwork::backward(std::span<const double, 3> dx, std::span<double> dtheta, Workspace& ws,
                             double* dla_dlogm) const {
  const std::size_t L = layout_.n_layers();
  std::fill(ws.grad[L].begin(), ws.grad[L].end(), 0.0);
  const bool scaled = head_ == NetworkHead::mupost && cost_ && cost_->log_scale;
  const std::size_t n_cost = cost_ ? cost_->params.size() : 0;
  double lk = 0, dk[8] = {};
  if (scaled) lk = cost_->log_scale(ws.theta.data() + theta_index::first_cost_param, dk);
  if (head_ == NetworkHead::posterior || head_ == NetworkHead::mupost) {
    // Only x0 is learned (linear: a = mu_post + c x0).
    ws.grad[L][0] = linear_ ? dx[0] * heads::linear_output_scale(ws.theta.data(), n_inputs(), ws.m, lk, scaled) : dx[0];
  } else {
    for (std::size_t k = 0; k < 3; ++k) ws.grad[L][k] = dx[k];
  }
  for (std::size_t l = L; l-- > 0;) {
    const std::size_t out = std::size_t(layout_.sizes[l + 1]), in_p = padded_[l];
    double* dy = ws.grad[l + 1].data();
    if (l + 1 < L) dense::swish_backward(padded_[l + 1], ws.pre[l + 1].data(), ws.sig[l + 1].data(), dy, dy, true);
    double* g = ws.grad[l].data();
    std::fill(g, g + in_p, 0.0);
    dense::column_accumulate(out, dy, w_[l].data(), in_p, in_p, g);  // dx = W^T dy
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
  // both from heads::features and heads::power_form in forward mode (Jet), one SIMD lane per direction
  // (theta's entries, then log m for the mupost head), the MLP's outputs held fixed (their
  // adjoint is in df).
  const std::size_t n_dir = nt + (head_ == NetworkHead::mupost);  // theta, and log m for mupost
  // linear: the direction of m itself (the head's formulas take m where they take log m).
  const double lm = linear_ ? ws.m : measurement_head(head_) ? std::log(ws.m) : 0.0;
  double dlogm = 0;
  auto passes = [&]<class J>(J) {
    constexpr std::size_t W = J::directions;
    for (std::size_t d0 = 0; d0 < n_dir; d0 += W) {  // one pass for up to W directions
      J th[16], f[16], x[3];
      for (std::size_t j = 0; j < nt; ++j) th[j] = J::seeded(ws.theta[j], j, d0);
      const J log_m = J::seeded(lm, nt, d0);
      J log_kappa(lk);
      for (std::size_t j = theta_index::first_cost_param; scaled && j < theta_index::first_cost_param + n_cost; ++j)
        log_kappa.add_scaled(th[j], dk[j - theta_index::first_cost_param]);
      log_kappa.v = lk;  // add_scaled moved the value too: only the derivatives are dk's
      heads::features(head_, th, nt, log_m, log_kappa, scaled, f, n_cost, linear_);
      for (std::size_t k = 0; k < 3; ++k) x[k] = J(ws.act[L][k]);
      heads::power_form(head_, th, log_m, x, linear_, heads::linear_output_scale(th, nt, log_m, log_kappa, scaled));
      J g(0.0);
      for (std::size_t i = 0; i < nf; ++i) g.add_scaled(f[i], df[i]);
      for (std::size_t k = 0; k < 3; ++k) g.add_scaled(x[k], dx[k]);
      alignas(64) double out[W];
      g.store_derivatives(out);
      for (std::size_t l = 0; l < W && d0 + l < n_dir; ++l) {
        if (d0 + l < nt) dtheta[d0 + l] = out[l];
        else dlogm = out[l];
      }
    }
  };
  // One batch of directions where it suffices (four theta entries on AVX2), else enough for 8.
  if (n_dir <= Jet<1>::directions) passes(Jet<1>{});
  else passes(Jet<jet_batches>{});
  if (head_ == NetworkHead::mupost) {
    // d log a / d log m = w (1 + dg/dmu_post); the last feature is mu_post (or mu_post - log kappa).
    // Linear: da/dm = w (1 + c dg/dmu_post) (the last feature mu_post or mu_post / kappa).
    ws.dg_dmu = dx[0] != 0.0 ? df[nf - 1] / dx[0] : 0.0;
    if (dla_dlogm) *dla_dlogm = dx[0] != 0.0 ? dlogm / dx[0] : NAN;
  }
}

std::size_t head_input_count(NetworkHead head, std::size_t n_theta, const CostInfo* cost) {
  if (head == NetworkHead::mupost) {
    if (!cost || !cost->log_scale) return n_theta - 1;
    // sigma_post, sigma_r, each entry after the cost parameters (sigma_a) over kappa, mu_post - log kappa
    const std::size_t base = theta_index::first_cost_param + cost->params.size();
    return 3 + (n_theta > base ? n_theta - base : 0);
  }
  return head == NetworkHead::posterior ? n_theta - 2 : n_theta;
}

void head_features(NetworkHead head, std::span<const double> theta, std::span<double> f, double m,
                   const CostInfo* cost, bool linear) {
  double lm = 0, lk = 0;
  const bool scaled = head == NetworkHead::mupost && cost && cost->log_scale;
  if (head == NetworkHead::mupost) {
    if (linear ? !std::isfinite(m) : !(m > 0) || !std::isfinite(m))
      throw std::invalid_argument(linear ? "the linear mupost head needs a finite measurement m"
                                         : "the mupost head needs a measurement m > 0");
    lm = linear ? m : std::log(m);
    double dk[8];
    if (scaled) lk = cost->log_scale(theta.data() + theta_index::first_cost_param, dk);
  }
  heads::features(head, theta.data(), theta.size(), lm, lk, scaled, f.data(), cost ? cost->params.size() : 0, linear);
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
  return action(std::span<const double, 3>(x), m);
}

} // namespace bactor
