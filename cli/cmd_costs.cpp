// SPDX-License-Identifier: MIT
// bactor costs: the cost families with their parameters and priors.
#include <cmath>
#include <cstdio>
#include <string>

#include "cli/command.hpp"
#include <bactor/models/costs.hpp>

namespace {

int run(int argc, char** argv) {
  using namespace bactor;
  CLI::App app{"List the cost families, their parameters and priors."};
  if (!cli::parse(app, argc, argv)) return cli::exit_ok;
  for (const auto& c : cost_families()) {
    std::printf("%-30s l(s,r) = %s\n", c.name.c_str(), c.formula.c_str());
    std::printf("%-30s optimal action: %s; %s; network head (train --head auto): %s\n", "",
                c.closed_form ? "closed form" : "numerical",
                c.homogeneous() ? ("homogeneous of degree " + std::to_string(c.homogeneity_degree)).c_str()
                                : "not homogeneous",
                default_head_name(c));
    for (const auto& p : c.params) {
      if (p.kind == ParamPrior::Kind::uniform)
        std::printf("%-30s %s ~ Uniform(%g, %g)\n", "", p.name.c_str(), p.a, p.b);
      else
        std::printf("%-30s %s ~ LogNormal(log %g, %g)\n", "", p.name.c_str(), std::exp(p.a), p.b);
    }
  }
  std::printf("theta = (sigma, sigma_0, mu_0, sigma_r, cost parameters...); training prior: sigma, sigma_0, "
              "sigma_r ~ U(0.01, 0.5), mu_0 ~ U(0.1, 7), s ~ U(0.1, 7)\n");
  return cli::exit_ok;
}

} // namespace

BACTOR_COMMAND("costs", "list the cost families with their parameters and priors", run);
