// SPDX-License-Identifier: MIT
// Adam, RMSprop and learning-rate schedules: single steps against hand calculations, and a
// least-squares fit (gradient from the tape) converging to the normal-equations solution.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include <Eigen/Dense>

#include <bactor/engine/autodiff.hpp>
#include <bactor/engine/optim.hpp>
#include <bactor/engine/rng.hpp>

using namespace bactor;

TEST_CASE("Adam: two steps by hand") {
  // Step 1 (t=1): m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2 -> x -= lr g / (|g| + eps).
  Adam<double> adam(2);
  std::vector<double> x = {1.0, -2.0};
  const std::vector<double> g1 = {0.5, -0.1};
  adam.step(x, g1, 0.1);
  CHECK(x[0] == doctest::Approx(1.0 - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-15));
  CHECK(x[1] == doctest::Approx(-2.0 + 0.1 * 0.1 / (0.1 + 1e-8)).epsilon(1e-15));
  // Step 2 (t=2) with g2: m = 0.9 m1 + 0.1 g2, v = 0.999 v1 + 0.001 g2^2, bias factors
  // 1 - 0.9^2 = 0.19 and 1 - 0.999^2 = 0.001999.
  const std::vector<double> g2 = {-0.2, 0.3};
  const double x0 = x[0], x1 = x[1];
  adam.step(x, g2, 0.05);
  for (int i = 0; i < 2; ++i) {
    const double m = 0.9 * 0.1 * g1[i] + 0.1 * g2[i];
    const double v = 0.999 * 0.001 * g1[i] * g1[i] + 0.001 * g2[i] * g2[i];
    const double step = 0.05 * (m / 0.19) / (std::sqrt(v / 0.001999) + 1e-8);
    CHECK(x[i] == doctest::Approx((i == 0 ? x0 : x1) - step).epsilon(1e-13));
  }
  CHECK(adam.steps() == 2);
}

TEST_CASE("Adam<float> matches Adam<double> on one step") {
  Adam<float> af(3);
  Adam<double> ad(3);
  std::vector<float> xf = {0.5f, 1.5f, -1.0f};
  std::vector<double> xd = {0.5, 1.5, -1.0};
  const std::vector<float> gf = {0.01f, -3.0f, 0.25f};
  const std::vector<double> gd = {0.01, -3.0, 0.25};
  af.step(xf, gf, 0.01);
  ad.step(xd, gd, 0.01);
  for (int i = 0; i < 3; ++i) CHECK(double(xf[i]) == doctest::Approx(xd[i]).epsilon(1e-6));
}

TEST_CASE("RMSprop: one step by hand") {
  // v = (1 - 0.99) g^2 -> x -= lr g / (0.1 |g| + eps).
  RmsProp<double> rms(2);
  std::vector<double> x = {0.0, 1.0};
  const std::vector<double> g = {2.0, -0.5};
  rms.step(x, g, 1e-3);
  CHECK(x[0] == doctest::Approx(-1e-3 * 2.0 / (std::sqrt(0.01 * 4.0) + 1e-8)).epsilon(1e-14));
  CHECK(x[1] == doctest::Approx(1.0 + 1e-3 * 0.5 / (std::sqrt(0.01 * 0.25) + 1e-8)).epsilon(1e-14));
  CHECK(rms.steps() == 1);
}

namespace {
// Least squares: 40 rows, 3 unknowns, noisy data; returns the loss gradient from the tape.
struct LeastSquares {
  std::vector<double> a, y;  // a is 40 x 3 row-major
  LeastSquares() : a(120), y(40) {
    Rng rng(11, 0);
    const double w_true[3] = {1.5, -0.7, 0.2};
    for (int i = 0; i < 40; ++i) {
      double s = 0;
      for (int j = 0; j < 3; ++j) s += (a[i * 3 + j] = rng.normal()) * w_true[j];
      y[i] = s + 0.1 * rng.normal();
    }
  }
  double grad(std::span<const double> w, std::span<double> g) const {
    return value_and_gradient(
        [&](Var wv) {
          Var pred = matvec(constant(a, 40, 3), wv);
          return mean(square(pred - constant(y)));
        },
        w, g);
  }
  Eigen::Vector3d solution() const {
    Eigen::Map<const Eigen::Matrix<double, 40, 3, Eigen::RowMajor>> A(a.data());
    Eigen::Map<const Eigen::Matrix<double, 40, 1>> Y(y.data());
    return (A.transpose() * A).ldlt().solve(A.transpose() * Y);
  }
};

template <class Opt>
void check_converges(Opt opt, LrSchedule lr, std::size_t steps, double tol) {
  LeastSquares ls;
  std::vector<double> w(3, 0.0), g(3);
  for (std::size_t t = 0; t < steps; ++t) {
    ls.grad(w, g);
    opt.step(std::span<double>(w), std::span<const double>(g), lr.at(t));
  }
  const auto sol = ls.solution();
  for (int j = 0; j < 3; ++j) CHECK(w[j] == doctest::Approx(sol[j]).epsilon(tol).scale(1));
}
} // namespace

TEST_CASE("least-squares fit converges with Adam and RMSprop") {
  LrSchedule cosine{LrSchedule::Kind::cosine, 0.05, 0.01, 1.0, 3000};
  check_converges(Adam<double>(3), cosine, 3000, 1e-5);
  LrSchedule rms_lr{LrSchedule::Kind::exponential, 0.01, 0.0, 1e-3, 3000};
  check_converges(RmsProp<double>(3), rms_lr, 3000, 1e-4);
}

TEST_CASE("LrSchedule values") {
  LrSchedule c{LrSchedule::Kind::constant, 0.1, 0.0, 1.0, 100};
  CHECK(c.at(0) == 0.1);
  CHECK(c.at(99) == 0.1);
  LrSchedule cos{LrSchedule::Kind::cosine, 1.0, 0.1, 1.0, 101};
  CHECK(cos.at(0) == doctest::Approx(1.0));
  CHECK(cos.at(50) == doctest::Approx(0.1 + 0.9 * 0.5));  // t = 1/2: cos(pi/2) = 0
  CHECK(cos.at(100) == doctest::Approx(0.1));
  CHECK(cos.at(1000) == doctest::Approx(0.1));  // clamped after the end
  LrSchedule ex{LrSchedule::Kind::exponential, 2.0, 0.0, 0.01, 11};
  CHECK(ex.at(0) == doctest::Approx(2.0));
  CHECK(ex.at(5) == doctest::Approx(2.0 * std::sqrt(0.01)));
  CHECK(ex.at(10) == doctest::Approx(0.02));
  CHECK(LrSchedule::parse_kind("cosine") == LrSchedule::Kind::cosine);
  CHECK(LrSchedule::parse_kind("exponential") == LrSchedule::Kind::exponential);
  CHECK_THROWS_AS(LrSchedule::parse_kind("linear"), std::invalid_argument);
}
