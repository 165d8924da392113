// SPDX-License-Identifier: MIT
// Eight schools, non-centred, written with tape ops and sampled by NUTS through
// bactor::TapeModel: the program writes only log p(q); the gradient comes from the tape.
// Writes CmdStan CSV files, prints the summary and compares with Stan's reference moments
// (exit status 1 when a mean is off by more than 4 (MCSE + 0.01)).
//
//   example_eight_schools [output-prefix]   -> prefix_1.csv ... prefix_4.csv, summary on stdout
//   build: c++ -std=c++20 -O2 eight_schools.cpp $(pkg-config --cflags --libs bactor)
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <bactor/bactor.hpp>

using namespace bactor;

namespace {

const double y[8] = {28, 8, -3, 7, -1, 1, 18, 12};        // estimated effects
const double sigma[8] = {15, 10, 16, 11, 9, 11, 10, 18};  // their standard errors

// q = (mu, log tau, eta_1..8);  theta_j = mu + tau eta_j.
Var log_p(Var q) {
  Var mu = element(q, 0), log_tau = element(q, 1), eta = slice(q, 2, 8);
  Var tau = exp(log_tau);
  Var theta = mu + tau * eta;
  return normal_lpdf(mu, 0.0, 5.0)                        // mu ~ N(0, 5)
         - log1p(square(tau) / 25.0) + log_tau            // tau ~ half-Cauchy(0, 5), |dtau/dlog tau|
         + normal_lpdf(eta, 0.0, 1.0)                     // eta_j ~ N(0, 1)
         + normal_lpdf(constant_view(y, 8, 1), theta, constant_view(sigma, 8, 1));  // y_j ~ N(theta_j, sigma_j)
}

// The columns written per draw: mu, tau, theta.1..8 (constrained and derived quantities).
void outputs(std::span<const double> q, Rng&, std::span<double> out) {
  const double tau = std::exp(q[1]);
  out[0] = q[0];
  out[1] = tau;
  for (std::size_t j = 0; j < 8; ++j) out[2 + j] = q[0] + tau * q[2 + j];
}

} // namespace

int main(int argc, char** argv) {
  const std::string prefix = argc > 1 ? argv[1] : "eight_schools";
  std::vector<std::string> names{"mu", "tau"};
  for (int j = 1; j <= 8; ++j) names.push_back("theta." + std::to_string(j));
  const TapeModel model(10, log_p, names, outputs);

  NutsSettings settings;  // 4 chains, 1,000 warm-up, 1,000 draws
  settings.seed = 8;
  settings.delta = 0.95;  // the reference's adapt_delta
  const auto chains = run_nuts([&] { return std::make_unique<TapeModel>(model); }, settings);
  for (const auto& c : chains)
    write_cmdstan_csv(prefix + "_" + std::to_string(c.chain_id) + ".csv", c, settings, "eight_schools");
  const Summary summary = summarize(chains);
  std::fputs(format_summary(summary).c_str(), stdout);

  // Stan's reference (4 x 100,000 draws; tests/reference/README.md).
  const std::pair<const char*, double> reference[] = {{"mu", 4.401},      {"tau", 3.602},
                                                      {"theta.1", 6.220}, {"theta.7", 6.303}};
  bool ok = true;
  for (const auto& [name, mean] : reference)
    for (const auto& p : summary.params)
      if (p.name == name) {
        const bool close = std::fabs(p.mean - mean) < 4 * (p.mcse_mean + 0.01);
        std::printf("%-8s mean %6.3f  Stan %6.3f  (MCSE %.3f) %s\n", name, p.mean, mean, p.mcse_mean,
                    close ? "ok" : "OFF");
        ok = ok && close;
      }
  std::printf("files: %s_1.csv ... %s_%d.csv\n", prefix.c_str(), prefix.c_str(), settings.chains);
  return ok ? 0 : 1;
}
