// SPDX-License-Identifier: MIT
// Embedding bactor's NUTS: a user-written 100-dimensional correlated Gaussian, its log-density
// written with tape ops and sampled through bactor::TapeModel (the gradient comes from the
// tape), public headers only; writes CmdStan CSV files and prints the diagnostics.
//
//   example_gaussian100 [output-prefix]     -> prefix_1.csv ... prefix_4.csv, summary on stdout
//   bactor summary prefix_*.csv             -> the same table from the files
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <bactor/bactor.hpp>

using namespace bactor;

namespace {

/// N(0, Sigma) with Sigma_ij = s_i s_j r^|i-j| (AR(1) correlation r = 0.5, scales s_i from 0.1
/// to 10): z = x / s has z_1 ~ N(0, 1) and z_i | z_{i-1} ~ N(r z_{i-1}, 1 - r^2), so log p
/// costs O(n).
struct CorrelatedGaussian {
  std::vector<double> inv_scale;  // 1 / s_i
  double r = 0.5;

  explicit CorrelatedGaussian(std::size_t n) : inv_scale(n) {
    for (std::size_t i = 0; i < n; ++i) inv_scale[i] = std::pow(10.0, 1.0 - 2.0 * double(i) / double(n - 1));
  }
  double scale(std::size_t i) const { return 1.0 / inv_scale[i]; }

  Var operator()(Var x) const {
    const std::size_t n = x.size();
    Var z = x * constant_view(inv_scale, n, 1);
    Var e = slice(z, 1, n - 1) - r * slice(z, 0, n - 1);  // the innovations z_i - r z_{i-1}
    return -0.5 * square(element(z, 0)) - (0.5 / (1 - r * r)) * sum(square(e));
  }
};

} // namespace

int main(int argc, char** argv) {
  const std::string prefix = argc > 1 ? argv[1] : "gaussian100";
  std::vector<std::string> names;
  for (int i = 1; i <= 100; ++i) names.push_back("x." + std::to_string(i));
  const TapeModel model(100, CorrelatedGaussian(100), names);
  NutsSettings settings;  // 4 chains, 1000 warm-up, 1000 draws, Stan's defaults
  settings.seed = 2024;
  const auto chains = run_nuts([&] { return std::make_unique<TapeModel>(model); }, settings);
  for (const auto& c : chains)
    write_cmdstan_csv(prefix + "_" + std::to_string(c.chain_id) + ".csv", c, settings, "gaussian100");
  const Summary s = summarize(chains, {"x.1", "x.50", "x.100"});
  std::fputs(format_summary(s).c_str(), stdout);
  const CorrelatedGaussian truth(100);
  std::printf("true sd: x.1 %.4g, x.50 %.4g, x.100 %.4g\n", truth.scale(0), truth.scale(49), truth.scale(99));
  std::size_t grads = 0;
  for (const auto& c : chains) grads += c.gradient_evaluations;
  std::printf("gradient evaluations: %zu; files: %s_1.csv ... %s_%d.csv\n", grads, prefix.c_str(),
              prefix.c_str(), settings.chains);
  return 0;
}
