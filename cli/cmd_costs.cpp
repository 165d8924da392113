// SPDX-License-Identifier: MIT
// bactor costs: the cost families with their parameters and priors; with --formula, what was
// detected about a formula cost (homogeneity, kink) and the network head it would get.
#include <cstdio>
#include <string>

#include "cli/command.hpp"
#include "cli/cost_options.hpp"
#include <bactor/models/costs.hpp>

namespace {

int run(int argc, char** argv) {
  using namespace bactor;
  CLI::App app{"List the cost families, their parameters and priors (with --formula: describe that cost)."};
  cli::CostOptions co;
  cli::add_formula_options(app, co);
  if (!cli::parse(app, argc, argv)) return cli::exit_ok;
  if (!co.formula.empty()) {
    const CostInfo& c = cli::resolve_cost("", co);
    std::fputs(cli::describe_cost(c).c_str(), stdout);
    const int p = detect_homogeneity(c);
    std::printf("detected: %s; kink or sharp peak at s = r: %s%s\n",
                p > 0 ? ("l(x*s, x*r) = x^" + std::to_string(p) + " l(s, r) (to 1e-9 relative on 200 points)").c_str()
                      : "not homogeneous (no degree 1..6 to 1e-9 relative)",
                detect_kink(c) ? "yes" : "no", co.kink ? " (declared: yes, --kink)" : "");
    return cli::exit_ok;
  }
  for (const auto& c : cost_families()) std::fputs(cli::describe_cost(c).c_str(), stdout);
  std::printf("theta = (sigma, sigma_0, mu_0, sigma_r, cost parameters...); training prior: sigma, sigma_0, "
              "sigma_r ~ U(0.01, 0.5), mu_0 ~ U(0.1, 7), s ~ U(0.1, 7)\n");
  std::printf("motor noise (--motor; docs/families.md): lognormal log r ~ N(log a, sigma_r^2) (default); generalized "
              "log r ~ N(log a, sigma_r^2 + (sigma_a/a)^2), sigma_a after the cost parameters; gaussian r ~ N(a, sigma_a^2), "
              "no sigma_r; training prior sigma_a ~ U(0.01, 0.5); --offset adds r = offset + r_motor (not seen by the actor)\n");
  std::printf("perception (--perception; docs/families.md): lognormal log m ~ N(log s, sigma^2), log s ~ N(log mu_0, "
              "sigma_0^2) (default; stimuli > 0); gaussian m ~ N(s, sigma^2), s ~ N(mu_0, sigma_0^2) (linear space, data of any sign, "
              "--motor gaussian; a* = mu_post + d*(tau): closed forms for the built-in costs of r - s and "
              "QuadraticCostQuadraticEffort, a numerical 1-D solve for any other cost of r - s, e.g. a formula; any other cost "
              "(e.g. AbsoluteCostQuadraticEffort) with infer --exact-action or a network trained with --perception gaussian, m "
              "integrated numerically; lapses); "
              "vonmises (circular, radians): m ~ VM(s, 1/sigma^2), s ~ VM(mu_0, 1/sigma_0^2), r ~ VM(a, 1/sigma_r^2); costs of the wrapped "
              "error d = wrap(r - s): QuadraticCost (d^2), AbsoluteCost (|d|) or a periodic --formula of r - s, a = mu_post when "
              "symmetric, mu_post + a solved shift when asymmetric or with parameters (e.g. '1 - cos(r - s) + c*sin(r - s)'); "
              "--lapse: uniform on the circle; no networks\n");
  return cli::exit_ok;
}

} // namespace

BACTOR_COMMAND("costs", "list the cost families with their parameters and priors (--formula: describe your own)", run);
