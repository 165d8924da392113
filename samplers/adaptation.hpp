// SPDX-License-Identifier: MIT
// Stan's warm-up adaptation: dual averaging of the step size (Hoffman & Gelman 2014) and
// windowed estimation of the (diagonal or dense) inverse metric, angles measured on the circle.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "samplers/angles.hpp"

namespace bactor::detail {

/// Nesterov dual averaging of log(step size) towards acceptance `delta`.
struct DualAveraging {
  double delta, gamma = 0.05, kappa = 0.75, t0 = 10.0, mu = std::log(10.0);
  double counter = 0, s_bar = 0, x_bar = 0;

  explicit DualAveraging(double target) : delta(target) {}
  void restart() { counter = 0, s_bar = 0, x_bar = 0; }

  /// Updates from one transition's accept_stat and sets `eps` to the next step size.
  void learn(double& eps, double accept_stat) {
    counter += 1;
    const double a = accept_stat > 1 ? 1 : accept_stat;
    const double eta = 1.0 / (counter + t0);
    s_bar = (1.0 - eta) * s_bar + eta * (delta - a);
    const double x = mu - s_bar * std::sqrt(counter) / gamma;
    const double x_eta = std::pow(counter, -kappa);
    x_bar = (1.0 - x_eta) * x_bar + x_eta * x;
    eps = std::exp(x);
  }
  /// Step size after warm-up: exp of the averaged iterate.
  double final_step_size() const { return std::exp(x_bar); }
};

/// Welford running mean and (co)variance of positions. Coordinates listed in `angles`
/// (Model::angle_coordinates) are measured on the circle: an angle's variance is that of its
/// deviations wrapped around the window's circular mean (circular_spread), and under a dense
/// metric its covariances use the same deviations. Their values are kept for the window (the
/// angles' under a diagonal metric, whole positions under a dense one) for that second pass.
class WelfordEstimator {
public:
  WelfordEstimator(std::size_t n, bool dense, std::vector<std::size_t> angles = {})
      : n_(n), dense_(dense), mean_(n, 0.0), m2_(dense ? n * n : n, 0.0), delta_(n, 0.0), angles_(std::move(angles)) {
    for (std::size_t a : angles_)
      if (a >= n) throw std::invalid_argument("NUTS: angle coordinate " + std::to_string(a) + " of a model of dimension " + std::to_string(n));
  }
  void restart() {
    count_ = 0;
    std::fill(mean_.begin(), mean_.end(), 0.0);
    std::fill(m2_.begin(), m2_.end(), 0.0);
    kept_.clear();
  }
  void add(std::span<const double> q) {
    ++count_;
    if (!angles_.empty()) {
      if (dense_) kept_.insert(kept_.end(), q.begin(), q.end());
      else
        for (std::size_t a : angles_) kept_.push_back(q[a]);
    }
    for (std::size_t i = 0; i < n_; ++i) {
      delta_[i] = q[i] - mean_[i];
      mean_[i] += delta_[i] / double(count_);
    }
    if (!dense_) {
      for (std::size_t i = 0; i < n_; ++i) m2_[i] += delta_[i] * (q[i] - mean_[i]);
    } else {
      // M2 += (q - mean_old)(q - mean_new)'
      for (std::size_t i = 0; i < n_; ++i)
        for (std::size_t j = 0; j < n_; ++j) m2_[i * n_ + j] += delta_[i] * (q[j] - mean_[j]);
    }
  }
  std::size_t count() const { return count_; }
  /// Regularised sample (co)variance: n/(n+5) var + 1e-3 * 5/(n+5) (on the diagonal).
  void regularised(std::vector<double>& out) const {
    const double cnt = double(count_);
    const double w = cnt / (cnt + 5.0), shrink = 1e-3 * 5.0 / (cnt + 5.0);
    out.assign(m2_.size(), 0.0);
    if (!angles_.empty() && dense_) {
      dense_circular_m2(out);
    } else {
      std::copy(m2_.begin(), m2_.end(), out.begin());
      for (std::size_t k = 0; k < angles_.size(); ++k)
        out[angles_[k]] = circular_spread(count_, kept_.data() + k, angles_.size()).sum_sq;
    }
    for (auto& v : out) v = w * v / (cnt - 1.0);
    if (!dense_) {
      for (auto& v : out) v += shrink;
    } else {
      for (std::size_t i = 0; i < n_; ++i) out[i * n_ + i] += shrink;
      // symmetrise against round-off
      for (std::size_t i = 0; i < n_; ++i)
        for (std::size_t j = 0; j < i; ++j) {
          const double a = 0.5 * (out[i * n_ + j] + out[j * n_ + i]);
          out[i * n_ + j] = out[j * n_ + i] = a;
        }
    }
  }

private:
  /// Dense M2 from the kept positions: deviations from the mean, an angle's wrapped around its
  /// circular mean (then centred), summed as outer products.
  void dense_circular_m2(std::vector<double>& m2) const {
    std::vector<double> centre(mean_), shift(n_, 0.0), d(n_);
    std::vector<char> is_angle(n_, 0);
    for (std::size_t a : angles_) {
      const CircularSpread cs = circular_spread(count_, kept_.data() + a, n_);
      centre[a] = cs.centre, shift[a] = cs.mean_dev, is_angle[a] = 1;
    }
    for (std::size_t k = 0; k < count_; ++k) {
      const double* q = kept_.data() + k * n_;
      for (std::size_t i = 0; i < n_; ++i)
        d[i] = is_angle[i] ? wrap_angle(q[i] - centre[i]) - shift[i] : q[i] - centre[i];
      for (std::size_t i = 0; i < n_; ++i)
        for (std::size_t j = 0; j < n_; ++j) m2[i * n_ + j] += d[i] * d[j];
    }
  }

  std::size_t n_;
  bool dense_;
  std::size_t count_ = 0;
  std::vector<double> mean_, m2_, delta_;
  std::vector<std::size_t> angles_;
  std::vector<double> kept_;  // the window's angles (diagonal) or positions (dense), row-major
};

/// Stan's windowed adaptation schedule: init buffer 75, first window 25 (doubling), terminal
/// buffer 50; 15% / 75% / 10% when warm-up is too short; none below 20 iterations.
class WindowedAdaptation {
public:
  explicit WindowedAdaptation(int num_warmup, int init_buffer = 75, int term_buffer = 50,
                              int base_window = 25) {
    if (num_warmup < 20) return;  // no metric adaptation
    num_warmup_ = num_warmup;
    if (init_buffer + base_window + term_buffer > num_warmup) {
      init_buffer_ = int(0.15 * num_warmup);
      term_buffer_ = int(0.1 * num_warmup);
      base_window_ = num_warmup - (init_buffer_ + term_buffer_);
    } else {
      init_buffer_ = init_buffer;
      term_buffer_ = term_buffer;
      base_window_ = base_window;
    }
    window_size_ = base_window_;
    next_window_ = init_buffer_ + window_size_ - 1;
  }

  bool in_window() const {
    return counter_ >= init_buffer_ && counter_ < num_warmup_ - term_buffer_ && counter_ != num_warmup_;
  }
  bool end_of_window() const { return counter_ == next_window_ && counter_ != num_warmup_; }

  /// Feeds one warm-up position; at a window end writes the new inverse metric to `metric`
  /// and returns true.
  bool learn(WelfordEstimator& est, std::span<const double> q, std::vector<double>& metric) {
    if (in_window()) est.add(q);
    if (end_of_window()) {
      compute_next_window();
      est.regularised(metric);
      for (double v : metric)
        if (!std::isfinite(v))
          throw std::runtime_error("NUTS: numerical overflow in metric adaptation; the posterior "
                                   "may be improper or very badly scaled");
      est.restart();
      ++counter_;
      return true;
    }
    ++counter_;
    return false;
  }

  // For tests: the iteration index (0-based) at which each window ends.
  int next_window() const { return next_window_; }

private:
  void compute_next_window() {
    const int last = num_warmup_ - term_buffer_ - 1;
    if (next_window_ == last) return;
    window_size_ *= 2;
    next_window_ = counter_ + window_size_;
    if (next_window_ == last) return;
    const int boundary = next_window_ + 2 * window_size_;
    if (boundary >= num_warmup_ - term_buffer_) next_window_ = last;
  }

  int num_warmup_ = 0, init_buffer_ = 0, term_buffer_ = 0, base_window_ = 0;
  int counter_ = 0, window_size_ = 0, next_window_ = -1;
};

} // namespace bactor::detail
