// SPDX-License-Identifier: MIT
// The library's half of register_cost<Fn> (<bactor/models/custom_cost.hpp>): the fused training
// kernel with the embedding program's block function as its tile evaluator.
#include <bactor/models/custom_cost.hpp>

#include <memory>
#include <stdexcept>

#include <bactor/engine/errors.hpp>
#include "models/train_kernel.hpp"

namespace bactor::detail {

namespace {

struct BlockCost {
  CostBlockFn block = nullptr;
  std::size_t n_params = 0;
};

/// Stores a tile of (s, r) to floats, calls the program's block function once, loads (ℓ, dℓ/dr).
struct BlockTiles {
  const BlockCost& cost;
  float p[max_cost_params > 0 ? max_cost_params : 1] = {};
  std::size_t n_params() const { return cost.n_params; }
  void set_params(const float* pf) {
    for (std::size_t j = 0; j < cost.n_params; ++j) p[j] = pf[j];
  }
  void operator()(std::size_t nb, const fbatch* s, const fbatch* r, fbatch* l, fbatch* dl) const {
    alignas(64) float sf[fused_tile * flanes], rf[fused_tile * flanes], lf[fused_tile * flanes], df[fused_tile * flanes];
    for (std::size_t q = 0; q < nb; ++q) {
      s[q].store_aligned(sf + q * flanes);
      r[q].store_aligned(rf + q * flanes);
    }
    cost.block(nb * flanes, sf, rf, p, lf, df);
    for (std::size_t q = 0; q < nb; ++q) {
      l[q] = fbatch::load_aligned(lf + q * flanes);
      dl[q] = fbatch::load_aligned(df + q * flanes);
    }
  }
};

void fused_block(const void* ctx, const FusedArgs& g) {
  BlockTiles ev{*static_cast<const BlockCost*>(ctx)};
  fused_kernel_tiles(g, ev);
}

} // namespace

const CostInfo& register_struct_cost(const CostSpec& spec, std::size_t n_params,
                                     double (*loss)(const void*, double, double, const double*),
                                     double (*loss_dr)(const void*, double, double, const double*, double*),
                                     CostBlockFn block) {
  if (spec.params.size() != n_params)
    throw ArgumentError("params", "cost '" + spec.name + "': params has " +
                                std::to_string(spec.params.size()) + " priors, the function takes " +
                                std::to_string(n_params) + " parameters");
  auto bc = std::make_shared<BlockCost>(BlockCost{block, n_params});
  CostInfo c;
  c.name = spec.name;
  c.formula = spec.formula.empty() ? "(C++ function)" : spec.formula;
  c.params = spec.params;
  c.loss = {loss, nullptr};
  c.loss_dr = {loss_dr, nullptr};
  c.fused = {&fused_block, bc.get()};
  c.owner = bc;
  c.motor_truncation = spec.motor_truncation;
  c.motor_importance_scale = spec.motor_importance_scale;
  if (spec.kink < -1 || spec.kink > 1) throw ArgumentError("kink", "must be -1 (detect), 0 or 1");
  finish_cost_settings(c, spec.kink, spec.homogeneity_degree);
  return register_cost(std::move(c));
}

} // namespace bactor::detail
