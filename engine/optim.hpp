// SPDX-License-Identifier: MIT
// First-order optimisers over a flat parameter buffer, and learning-rate schedules.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <span>
#include <stdexcept>
#include <string>
#include <limits>
#include <vector>

namespace bactor {

/// Learning rate as a function of the step (0-based) out of `total` steps.
struct LrSchedule {
  enum class Kind { constant, cosine, exponential };
  Kind kind = Kind::constant;
  double base = 1e-3;
  double final_fraction = 0.0; // cosine: lr decays from base to base * final_fraction
  double decay = 1.0;          // exponential: lr = base * decay^(step / total)
  std::size_t total = 1;

  double at(std::size_t step) const {
    const double t = total > 1 ? std::min(1.0, double(step) / double(total - 1)) : 0.0;
    switch (kind) {
    case Kind::constant: return base;
    case Kind::cosine:
      return base * (final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + std::cos(std::numbers::pi * t)));
    case Kind::exponential: return base * std::pow(decay, t);
    }
    return base;
  }

  static Kind parse_kind(const std::string& name) {
    if (name == "constant") return Kind::constant;
    if (name == "cosine") return Kind::cosine;
    if (name == "exponential") return Kind::exponential;
    throw std::invalid_argument("unknown learning-rate schedule '" + name +
                                "' (expected constant, cosine or exponential)");
  }
};


/// Adam (Kingma & Ba 2015) with bias correction, vectorised:
///   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
///   x -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
/// `clamp` (default: none) bounds each gradient entry first, e.g. to keep g^2 finite in float.
template <class T>
class Adam {
public:
  explicit Adam(std::size_t n, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
                T clamp = std::numeric_limits<T>::infinity())
      : m_(n, T(0)), v_(n, T(0)), beta1_(beta1), beta2_(beta2), eps_(eps), clamp_(clamp) {}
  /// One update of `x` given its gradient `g` (both of the size given at construction).
  void step(std::span<T> x, std::span<const T> g, double lr);
  std::size_t steps() const { return t_; }

private:
  std::vector<T> m_, v_;
  double beta1_, beta2_, eps_;
  T clamp_;
  std::size_t t_ = 0;
};

/// RMSprop (Tieleman & Hinton), vectorised: v = rho v + (1-rho) g^2;  x -= lr g / (sqrt(v) + eps).
/// `clamp` as for Adam.
template <class T>
class RmsProp {
public:
  explicit RmsProp(std::size_t n, double rho = 0.99, double eps = 1e-8, T clamp = std::numeric_limits<T>::infinity())
      : v_(n, T(0)), rho_(rho), eps_(eps), clamp_(clamp) {}
  /// One update of `x` given its gradient `g`.
  void step(std::span<T> x, std::span<const T> g, double lr);
  std::size_t steps() const { return t_; }

private:
  std::vector<T> v_;
  double rho_, eps_;
  T clamp_;
  std::size_t t_ = 0;
};

extern template class Adam<float>;
extern template class Adam<double>;
extern template class RmsProp<float>;
extern template class RmsProp<double>;

} // namespace bactor
