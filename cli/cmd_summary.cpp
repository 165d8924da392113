// SPDX-License-Identifier: MIT
// bactor summary: posterior summary and convergence diagnostics of CmdStan CSV files.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include <bactor/samplers/cmdstan_csv.hpp>
#include <bactor/samplers/diagnostics.hpp>

namespace {

int run(int argc, char** argv) {
  using namespace bactor;
  CLI::App app{"Summarise CmdStan CSV draws files (one per chain): mean, sd, quantiles, MCSE, "
               "bulk/tail ESS, R-hat, divergences, tree depth, E-BFMI."};
  std::vector<std::string> files, only;
  std::string csv_out;
  app.add_option("files", files, "CmdStan CSV files (ours or Stan's), one per chain")->required();
  app.add_option("--vars", only, "only these columns (e.g. mu_0 sigma_r)");
  app.add_option("--csv", csv_out, "also write the table as CSV to this file");
  if (!cli::parse(app, argc, argv)) return cli::exit_ok;
  std::vector<ChainResult> chains;
  for (const auto& f : files) chains.push_back(read_cmdstan_csv(f));  // throws "file:line: ..."
  for (std::size_t c = 1; c < chains.size(); ++c)
    if (chains[c].columns != chains[0].columns)
      throw std::invalid_argument(files[c] + ": columns differ from " + files[0]);
  const Summary s = summarize(chains, only);
  std::fputs(format_summary(s).c_str(), stdout);
  if (!csv_out.empty()) write_summary_csv(csv_out, s);
  return cli::exit_ok;
}

} // namespace

BACTOR_COMMAND("summary", "summarise CmdStan CSV draws files (ESS, R-hat, divergences)", run);
