// SPDX-License-Identifier: MIT
// The integrated-out measurement: Gauss–Hermite rule, exact power-law marginal, adaptive
// quadrature (vs the exact marginal, vs a dense trapezoid), and their gradients vs finite
// differences.
#include "models/marginal.hpp"

#include "engine/rng.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

using namespace bactor;

namespace {
// Brute force: trapezoid over u in a wide window with many points (spectrally accurate for a
// smooth integrand that decays like a Gaussian).
template <class Head>
double brute_loglik(const Head& h, double x, double y, double sigma, double sigma_r) {
  const int n = 20001;
  const double lo = x - 12 * sigma - 0.5, hi = x + 12 * sigma + 0.5, du = (hi - lo) / (n - 1);
  double mx = -INFINITY;
  std::vector<double> f(n);
  for (int j = 0; j < n; ++j) {
    const double u = lo + j * du;
    double d, dp[3];
    const double la = h.eval(u, d, dp);
    f[j] = -0.5 * (u - x) * (u - x) / (sigma * sigma) - 0.5 * (y - la) * (y - la) / (sigma_r * sigma_r);
    mx = std::max(mx, f[j]);
  }
  double s = 0;
  for (int j = 0; j < n; ++j) s += (j == 0 || j == n - 1 ? 0.5 : 1.0) * std::exp(f[j] - mx);
  return mx + std::log(s * du) - std::log(2 * std::numbers::pi * sigma * sigma_r) - y;
}
} // namespace

TEST_CASE("marginal: Gauss-Hermite rule integrates polynomials times exp(-t^2) exactly") {
  for (int n : {1, 4, 10, 20}) {
    GaussHermite gh(n);
    // ∫ t^(2k) e^{-t^2} dt = Γ(k + 1/2)
    for (int k = 0; 2 * k <= 2 * n - 1; ++k) {
      double s = 0;
      for (int j = 0; j < n; ++j) s += std::exp(gh.log_w[j] - gh.t[j] * gh.t[j]) * std::pow(gh.t[j], 2 * k);
      CHECK(s == doctest::Approx(std::tgamma(k + 0.5)).epsilon(1e-11));
    }
  }
  CHECK_THROWS_AS(GaussHermite(0), std::invalid_argument);
}

TEST_CASE("marginal: power-law sufficient statistics equal the sum of exact trial terms; gradient vs FD") {
  Rng rng(3, 1);
  PowerStats st;
  std::vector<double> xs, ys;
  for (int i = 0; i < 40; ++i) {
    xs.push_back(std::log(rng.uniform(0.1, 5)));
    ys.push_back(0.7 * xs.back() + 0.1 + 0.2 * rng.normal());
    st.add(xs.back(), ys.back());
  }
  auto total = [&](double lk, double w, double sg, double sr, PowerGrad& g) {
    return power_loglik(PowerHead{lk, w}, st, sg, sr, g);
  };
  PowerGrad g;
  const double lk = 0.12, w = 0.65, sg = 0.21, sr = 0.13;
  const double v = total(lk, w, sg, sr, g);
  double direct = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) direct += power_trial_loglik(PowerHead{lk, w}, xs[i], ys[i], sg, sr);
  CHECK(v == doctest::Approx(direct).epsilon(1e-12));
  const double h = 1e-6;
  PowerGrad dummy;
  auto fd = [&](int which) {
    double p[4] = {lk, w, sg, sr}, m[4] = {lk, w, sg, sr};
    p[which] += h;
    m[which] -= h;
    return (total(p[0], p[1], p[2], p[3], dummy) - total(m[0], m[1], m[2], m[3], dummy)) / (2 * h);
  };
  CHECK(g.log_k == doctest::Approx(fd(0)).epsilon(1e-6));
  CHECK(g.w == doctest::Approx(fd(1)).epsilon(1e-6));
  CHECK(g.sigma == doctest::Approx(fd(2)).epsilon(1e-6));
  CHECK(g.sigma_r == doctest::Approx(fd(3)).epsilon(1e-6));
}

TEST_CASE("marginal: adaptive Gauss-Hermite relative error < 1e-6 across the inference priors") {
  // Power-law head: compare with the exact marginal. Softplus head: with a dense trapezoid.
  // Parameters drawn across the prior ranges (sigma, sigma_r in 0.02..0.6, beyond most of the
  // HalfNormal(0.25) mass; w in (0, 1)); power-law responses up to 4 predictive sd from the
  // centre, softplus-head responses drawn from the model itself.
  GaussHermite rule(default_quadrature_nodes);
  Rng rng(11, 2);
  double worst_power = 0, worst_soft = 0;
  for (int rep = 0; rep < 400; ++rep) {
    const double sigma = rng.uniform(0.02, 0.6), sigma_r = rng.uniform(0.02, 0.6);
    const double x = std::log(rng.uniform(0.1, 5)), w = rng.uniform(0.02, 0.99), lk = rng.uniform(-1, 1);
    const double sdp = std::sqrt(sigma_r * sigma_r + w * w * sigma * sigma);
    const double y = lk + w * x + sdp * rng.uniform(-4, 4);
    PowerHead ph{lk, w};
    TrialGrad<PowerHead> gp;
    const double exact = power_trial_loglik(ph, x, y, sigma, sigma_r);
    const double quad = gh_trial_loglik(ph, x, y, sigma, sigma_r, rule, gp);
    worst_power = std::max(worst_power, std::abs(quad - exact) / std::max(1.0, std::abs(exact)));
    // A network-like head: curved in u (x2 != 0 adds curvature through softplus).
    SoftplusHead sh{std::exp(lk), w, rng.uniform(-0.5, 0.5)};
    double d, dp[3];
    const double yc = sh.eval(x + sigma * rng.normal(), d, dp) + sigma_r * rng.normal();
    TrialGrad<SoftplusHead> gs;
    const double q2 = gh_trial_loglik(sh, x, yc, sigma, sigma_r, rule, gs);
    const double b2 = brute_loglik(sh, x, yc, sigma, sigma_r);
    worst_soft = std::max(worst_soft, std::abs(q2 - b2) / std::max(1.0, std::abs(b2)));
  }
  MESSAGE("worst relative error: power " << worst_power << ", softplus " << worst_soft);
  CHECK(worst_power < 1e-6);
  CHECK(worst_soft < 1e-6);
}

TEST_CASE("marginal: quadrature gradient vs finite differences (power and softplus heads)") {
  GaussHermite rule(default_quadrature_nodes);
  const double x = std::log(2.3), sigma = 0.2, sigma_r = 0.12;
  {
    const double y = 0.5;
    auto f = [&](double lk, double w, double sg, double sr) {
      TrialGrad<PowerHead> g;
      return gh_trial_loglik(PowerHead{lk, w}, x, y, sg, sr, rule, g);
    };
    TrialGrad<PowerHead> g;
    gh_trial_loglik(PowerHead{0.1, 0.6}, x, y, sigma, sigma_r, rule, g);
    const double h = 1e-5;
    CHECK(g.head.log_k == doctest::Approx((f(0.1 + h, 0.6, sigma, sigma_r) - f(0.1 - h, 0.6, sigma, sigma_r)) / (2 * h)).epsilon(1e-5));
    CHECK(g.head.w == doctest::Approx((f(0.1, 0.6 + h, sigma, sigma_r) - f(0.1, 0.6 - h, sigma, sigma_r)) / (2 * h)).epsilon(1e-5));
    CHECK(g.sigma == doctest::Approx((f(0.1, 0.6, sigma + h, sigma_r) - f(0.1, 0.6, sigma - h, sigma_r)) / (2 * h)).epsilon(1e-5));
    CHECK(g.sigma_r == doctest::Approx((f(0.1, 0.6, sigma, sigma_r + h) - f(0.1, 0.6, sigma, sigma_r - h)) / (2 * h)).epsilon(1e-5));
  }
  {
    const double y = 0.9;
    auto f = [&](double k, double w, double x2, double sg, double sr) {
      TrialGrad<SoftplusHead> g;
      return gh_trial_loglik(SoftplusHead{k, w, x2}, x, y, sg, sr, rule, g);
    };
    const double k = 1.3, w = 0.7, x2 = 0.2, h = 1e-5;
    TrialGrad<SoftplusHead> g;
    gh_trial_loglik(SoftplusHead{k, w, x2}, x, y, sigma, sigma_r, rule, g);
    CHECK(g.head.k == doctest::Approx((f(k + h, w, x2, sigma, sigma_r) - f(k - h, w, x2, sigma, sigma_r)) / (2 * h)).epsilon(1e-5));
    CHECK(g.head.w == doctest::Approx((f(k, w + h, x2, sigma, sigma_r) - f(k, w - h, x2, sigma, sigma_r)) / (2 * h)).epsilon(1e-5));
    CHECK(g.head.x2 == doctest::Approx((f(k, w, x2 + h, sigma, sigma_r) - f(k, w, x2 - h, sigma, sigma_r)) / (2 * h)).epsilon(1e-5));
    CHECK(g.sigma == doctest::Approx((f(k, w, x2, sigma + h, sigma_r) - f(k, w, x2, sigma - h, sigma_r)) / (2 * h)).epsilon(1e-5));
    CHECK(g.sigma_r == doctest::Approx((f(k, w, x2, sigma, sigma_r + h) - f(k, w, x2, sigma, sigma_r - h)) / (2 * h)).epsilon(1e-5));
  }
}

#include "models/inference_kernels.hpp"

TEST_CASE("marginal: vectorised softplus-head loops equal the scalar per-trial code (with padding)") {
  const std::size_t L = detail::simd_lanes();
  const std::size_t n_real = 4 * L + 3, n = (n_real + L - 1) / L * L;
  Rng rng(21, 0);
  std::vector<double> x(n), y(n), wt(n), z(n), gz(n, -7.0);
  const SoftplusHead h{1.1, 0.75, -0.2};
  const double sig = 0.23, sr = 0.14;
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = std::log(rng.uniform(0.1, 5));
    z[i] = rng.normal();
    double d, dp[3];
    y[i] = h.eval(x[i] + sig * rng.normal(), d, dp) + sr * rng.normal();
    wt[i] = i < n_real ? 1.0 : 0.0;
  }
  GaussHermite rule(default_quadrature_nodes);
  // Marginal.
  detail::SoftplusSums gv;
  const double v = detail::softplus_marginal(h, n, x.data(), y.data(), wt.data(), sig, sr, rule, gv);
  TrialGrad<SoftplusHead> gs;
  double s = 0;
  for (std::size_t i = 0; i < n_real; ++i) s += gh_trial_loglik(h, x[i], y[i], sig, sr, rule, gs);
  CHECK(v == doctest::Approx(s).epsilon(1e-10));
  CHECK(gv.sigma == doctest::Approx(gs.sigma).epsilon(1e-8));
  CHECK(gv.sigma_r == doctest::Approx(gs.sigma_r).epsilon(1e-8));
  CHECK(gv.head.k == doctest::Approx(gs.head.k).epsilon(1e-8));
  CHECK(gv.head.w == doctest::Approx(gs.head.w).epsilon(1e-8));
  CHECK(gv.head.x2 == doctest::Approx(gs.head.x2).epsilon(1e-8));
  // Sampled.
  detail::SoftplusSums gq;
  const double vs = detail::softplus_sampled(h, n, x.data(), y.data(), wt.data(), z.data(), sig, sr, gz.data(), gq);
  double ss = 0, gsig = 0;
  for (std::size_t i = 0; i < n_real; ++i) {
    double dla, dp[3];
    const double e = y[i] - h.eval(x[i] + sig * z[i], dla, dp);
    ss += -0.5 * e * e / (sr * sr) - std::log(sr) - 0.5 * std::log(2 * std::numbers::pi) - y[i] - 0.5 * z[i] * z[i];
    CHECK(gz[i] == doctest::Approx(e / (sr * sr) * dla * sig - z[i]).epsilon(1e-10));
    gsig += e / (sr * sr) * dla * z[i];
  }
  for (std::size_t i = n_real; i < n; ++i) CHECK(gz[i] == -7.0);  // padding untouched
  CHECK(vs == doctest::Approx(ss).epsilon(1e-10));
  CHECK(gq.sigma == doctest::Approx(gsig).epsilon(1e-10));
}
