// SPDX-License-Identifier: MIT
// The fused training kernel's arguments for tests (test_costs.cpp, test_formula.cpp): one place
// that points a detail::FusedArgs at a batch of per-sample inputs.
#pragma once

#include <bactor/models/costs.hpp>

#include <cstddef>
#include <vector>

namespace bactor::testing {

/// FusedArgs over n = mu.size() samples and K draws each: posterior mean and sd of log s, the
/// actions, the motor noise and the cost parameters (parameter-major, n per parameter). Draws,
/// clamping and outputs are left for the caller to set.
inline detail::FusedArgs fused_args(std::size_t K, const std::vector<float>& mu, const std::vector<float>& sp,
                                    const std::vector<float>& a, const std::vector<float>& sr,
                                    const std::vector<float>& params) {
  detail::FusedArgs g;
  g.n = mu.size();
  g.K = K;
  g.mu_post = mu.data();
  g.sigma_post = sp.data();
  g.a = a.data();
  g.sigma_r = sr.data();
  g.params = params.data();
  return g;
}

} // namespace bactor::testing
