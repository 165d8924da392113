// SPDX-License-Identifier: MIT
// Costs defined by an embedding program (docs/custom-costs.md): a struct like the built-ins,
//
//   struct MyCost {
//     static constexpr int n_params = 1;
//     template <class T> static T eval(const T& s, const T& r, const T* p) {
//       using bactor::gen::abs;
//       return p[0] * abs(s - r) + (1.0f - p[0]) * r * r;
//     }
//   };
//   const bactor::CostInfo& c = bactor::register_cost<MyCost>({.name = "MyCost", .formula = "...",
//                                                             .params = {{"beta", bactor::ParamPrior::Kind::uniform, 0.5, 1}}});
//
// after which find_cost("MyCost") and cost_families() know it, and training, the ground truth,
// simulation and inference (network or exact action) work with it as with the built-ins. eval
// is instantiated here on double, Dual<double> and Dual<float>; the library's fused training
// kernel generates the draws in SIMD registers and calls the float instantiation once per tile
// of 128 draws (never per element).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <bactor/models/cost_math.hpp>
#include <bactor/models/costs.hpp>

namespace bactor {

/// What a cost declares besides its function (CostInfo's fields of the same names).
struct CostSpec {
  std::string name;                    // registry name, e.g. "MyCost"
  std::string formula;                 // human-readable ℓ(s, r) for listings
  std::vector<ParamPrior> params;      // one per Fn::n_params, in p[] order
  int kink = -1;                       // kink at s = r: -1 detect (detect_kink), 0 no, 1 yes
  double motor_truncation = 0.0;       // CostInfo::motor_truncation
  double motor_importance_scale = 0.0; // CostInfo::motor_importance_scale
  int homogeneity_degree = -1;         // -1 detect (detect_homogeneity), 0 none, p > 0 declared
};

namespace detail {
/// ℓ and dℓ/dr for n draws (s[i], r[i]) of one sample with cost parameters p.
using CostBlockFn = void (*)(std::size_t n, const float* s, const float* r, const float* p, float* l, float* dl_dr);

template <class Fn>
void cost_block(std::size_t n, const float* s, const float* r, const float* p, float* l, float* dl_dr) {
  using D = Dual<float>;
  D pd[Fn::n_params > 0 ? Fn::n_params : 1];
  for (int j = 0; j < Fn::n_params; ++j) pd[j] = D(p[j], 0.0f);
  for (std::size_t i = 0; i < n; ++i) {
    const D v = Fn::eval(D(s[i], 0.0f), D(r[i], 1.0f), static_cast<const D*>(pd));
    l[i] = v.v;
    dl_dr[i] = v.d;
  }
}
template <class Fn> double cost_loss(const void*, double s, double r, const double* p) { return Fn::eval(s, r, p); }
template <class Fn> double cost_loss_dr(const void*, double s, double r, const double* p, double* dl_dr) {
  using D = Dual<double>;
  D pd[Fn::n_params > 0 ? Fn::n_params : 1];
  for (int j = 0; j < Fn::n_params; ++j) pd[j] = D(p[j], 0.0);
  const D v = Fn::eval(D(s, 0.0), D(r, 1.0), static_cast<const D*>(pd));
  *dl_dr = v.d;
  return v.v;
}
/// The library's half of register_cost<Fn>: binds the block function into the fused kernel,
/// checks and detects the settings, registers.
const CostInfo& register_struct_cost(const CostSpec& spec, std::size_t n_params,
                                     double (*loss)(const void*, double, double, const double*),
                                     double (*loss_dr)(const void*, double, double, const double*, double*),
                                     CostBlockFn block);
} // namespace detail

/// Registers the cost struct Fn (static constexpr int n_params; template <class T> static T
/// eval(const T& s, const T& r, const T* p)) under spec.name and returns its entry. Throws
/// std::invalid_argument naming the field when spec.params does not match n_params, the name
/// is taken, or a setting is invalid.
template <class Fn>
const CostInfo& register_cost(const CostSpec& spec) {
  static_assert(Fn::n_params >= 0 && std::size_t(Fn::n_params) <= detail::max_cost_params,
                "a cost has 0 to detail::max_cost_params parameters");
  return detail::register_struct_cost(spec, std::size_t(Fn::n_params), &detail::cost_loss<Fn>,
                                      &detail::cost_loss_dr<Fn>, &detail::cost_block<Fn>);
}

} // namespace bactor
