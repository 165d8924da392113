// SPDX-License-Identifier: MIT
// Embedding bactor's NUTS: sample a user-written 100-dimensional correlated Gaussian through the
// public headers only, write CmdStan CSV files and print the diagnostics.
//
//   example_gaussian100 [output-prefix]     -> prefix_1.csv ... prefix_4.csv, summary on stdout
//   bactor summary prefix_*.csv             -> the same table from the files
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <bactor/samplers/cmdstan_csv.hpp>
#include <bactor/samplers/diagnostics.hpp>
#include <bactor/samplers/nuts.hpp>

namespace {

/// N(0, Sigma) with Sigma_ij = s_i s_j 0.5^|i-j| (AR(1) correlation, scales 0.1 .. 10).
/// Its precision is tridiagonal, so log p and its gradient cost O(n).
class CorrelatedGaussian final : public bactor::Model {
public:
  explicit CorrelatedGaussian(std::size_t n) : scale_(n), z_(n) {
    for (std::size_t i = 0; i < n; ++i) scale_[i] = std::pow(10.0, -1.0 + 2.0 * double(i) / double(n - 1));
  }
  std::size_t dim() const override { return scale_.size(); }
  double log_density(std::span<const double> q, std::span<double> grad) override {
    const std::size_t n = dim();
    const double r = 0.5, c = 1.0 / (1.0 - r * r);
    for (std::size_t i = 0; i < n; ++i) z_[i] = q[i] / scale_[i];
    // z ~ AR(1): z_0 ~ N(0,1), z_i | z_{i-1} ~ N(r z_{i-1}, 1 - r^2).
    double lp = -0.5 * z_[0] * z_[0];
    for (std::size_t i = 0; i < n; ++i) grad[i] = 0;
    grad[0] = -z_[0];
    for (std::size_t i = 1; i < n; ++i) {
      const double e = z_[i] - r * z_[i - 1];
      lp -= 0.5 * c * e * e;
      grad[i] -= c * e;
      grad[i - 1] += c * e * r;
    }
    for (std::size_t i = 0; i < n; ++i) grad[i] /= scale_[i];
    return lp;
  }
  std::vector<std::string> output_names() const override {
    std::vector<std::string> names;
    for (std::size_t i = 1; i <= dim(); ++i) names.push_back("x." + std::to_string(i));
    return names;
  }
  double scale(std::size_t i) const { return scale_[i]; }

private:
  std::vector<double> scale_, z_;
};

} // namespace

int main(int argc, char** argv) {
  const std::string prefix = argc > 1 ? argv[1] : "gaussian100";
  bactor::NutsSettings settings;  // 4 chains, 1000 warm-up, 1000 draws, Stan's defaults
  settings.seed = 2024;
  const auto chains =
      bactor::run_nuts([] { return std::make_unique<CorrelatedGaussian>(100); }, settings);
  for (const auto& c : chains)
    bactor::write_cmdstan_csv(prefix + "_" + std::to_string(c.chain_id) + ".csv", c, settings,
                              "gaussian100");
  const bactor::Summary s = bactor::summarize(chains, {"x.1", "x.50", "x.100"});
  std::fputs(bactor::format_summary(s).c_str(), stdout);
  const CorrelatedGaussian truth(100);
  std::printf("true sd: x.1 %.4g, x.50 %.4g, x.100 %.4g\n", truth.scale(0), truth.scale(49), truth.scale(99));
  std::size_t grads = 0;
  for (const auto& c : chains) grads += c.gradient_evaluations;
  std::printf("gradient evaluations: %zu; files: %s_1.csv ... %s_%d.csv\n", grads, prefix.c_str(),
              prefix.c_str(), settings.chains);
  return 0;
}
