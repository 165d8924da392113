// SPDX-License-Identifier: MIT
// bactor summary: posterior summary and convergence diagnostics of Stan CSV draws files.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "cli/fit_dir.hpp"
#include <bactor/samplers/cmdstan_csv.hpp>
#include <bactor/samplers/diagnostics.hpp>

namespace {

/// "log_lik" for "log_lik.3" or "log_lik[3]": the variable a flattened column belongs to.
std::string base_name(const std::string& column) { return column.substr(0, column.find_first_of(".[")); }

int run(int argc, char** argv) {
  using namespace bactor;
  CLI::App app{"Summarise Stan CSV draws files (one per chain; CmdStan's, rstan's, PyStan's or ours): mean, sd, "
               "quantiles, MCSE, bulk/tail ESS, R-hat, divergences, tree depth, E-BFMI."};
  std::vector<std::string> files, only;
  std::string csv_out;
  bool all = false;
  app.add_option("files", files, "Stan CSV files (CmdStan, rstan, PyStan or bactor), one per chain, or the --out folder of bactor infer")->required();
  auto* vars_opt = app.add_option("--vars", only, "only these columns (e.g. mu_0 sigma_r)");
  app.add_flag("--all", all, "every column, also the per-trial log_lik.i and r_rep.i (left out by default)")
      ->excludes(vars_opt);
  app.add_option("--csv", csv_out, "also write the table as CSV to this file");
  if (!cli::parse(app, argc, argv)) return cli::exit_ok;
  // A fit folder of `bactor infer` stands for its chain files (one fit; a cohort's folder names
  // its subjects' folders instead).
  if (files.size() == 1 && std::filesystem::is_directory(files[0])) {
    const std::string dir = files[0];
    const std::vector<cli::Fit> fits = cli::read_fits(dir);  // throws, naming the folder, when it holds no fit
    if (fits.size() != 1)
      throw std::invalid_argument(dir + ": a folder of " + std::to_string(fits.size()) +
                                  " subjects' fits; give one subject's folder (e.g. " + fits[0].dir + ") or chain files");
    files = fits[0].files;
  }
  std::vector<ChainResult> chains;
  for (const auto& f : files) chains.push_back(read_cmdstan_csv(f));  // throws "file:line: ..."
  // A header without draws (a run stopped in warm-up, a truncated copy) has nothing to
  // summarise: refused, naming the file, rather than a table of nan.
  for (std::size_t c = 0; c < chains.size(); ++c)
    if (chains[c].rows() <= static_cast<std::size_t>(chains[c].warmup_draws_saved))
      throw std::invalid_argument(files[c] + ": no draws after warm-up (a header" +
                                  std::string(chains[c].rows() ? " and warm-up draws" : "") +
                                  " only: was the run stopped before sampling?); summarise the files that have draws");
  for (std::size_t c = 1; c < chains.size(); ++c)
    if (chains[c].columns != chains[0].columns)
      throw std::invalid_argument(files[c] + ": columns differ from " + files[0]);
  for (const auto& name : only)
    if (std::find(chains[0].columns.begin(), chains[0].columns.end(), name) == chains[0].columns.end())
      throw std::invalid_argument("--vars: no column '" + name + "' in " + files[0]);
  // Without --vars or --all: the parameters, not the per-trial log-likelihoods and predictions.
  std::vector<std::string> vars = only;
  std::map<std::string, std::size_t> left_out;
  if (only.empty() && !all) {
    for (const auto& name : chains[0].columns) {
      if (name.size() >= 2 && name.compare(name.size() - 2, 2, "__") == 0) continue;  // sampler columns
      const std::string base = base_name(name);
      if (base == "log_lik" || base == "r_rep") ++left_out[base];
      else vars.push_back(name);
    }
    if (vars.empty()) left_out.clear();  // nothing else to show: show them
    if (left_out.empty()) vars.clear();  // every column
  }
  const Summary s = summarize(chains, vars);
  std::fputs(format_summary(s).c_str(), stdout);
  if (!left_out.empty()) {
    std::string what;
    std::size_t total = 0;
    for (const auto& [base, n] : left_out) {
      what += (what.empty() ? "" : " and ") + std::to_string(n) + " " + base;
      total += n;
    }
    std::printf("left out %s column%s (per trial; --all shows them, --vars picks columns)\n", what.c_str(),
                total == 1 ? "" : "s");
  }
  // Which label each NAME.k is (infer records the conditions as index=label pairs).
  const std::string conditions = cli::read_settings(files[0])["conditions"];
  if (conditions.find(',') != std::string::npos)
    std::printf("conditions (index=label, the k of NAME.k): %s\n", conditions.c_str());
  if (!csv_out.empty()) write_summary_csv(csv_out, s);
  return cli::exit_ok;
}

} // namespace

BACTOR_COMMAND("summary", "summarise Stan CSV draws files (ESS, R-hat, divergences)", run);
