// SPDX-License-Identifier: MIT
// bactor study misspecification: which response family do the data prefer? Data sets are
// simulated from each family of a table (motor model, offset, perception, how it is fitted) and
// every family is fitted to each; the study reports the PSIS-LOO preference and the bias and 90%
// coverage of the parameters two families share (docs/families.md, "Which model").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace bactor::cli {

/// The study's settings (its options; docs/commands.md).
struct MisspecificationOptions {
  std::size_t trials = 100, datasets = 4;  // per data set; data sets per generating family
  std::uint64_t seed = 1;
  int threads = 0;                         // 0: all; results do not depend on it
  int chains = 2, warmup = 300, samples = 300;
  std::string out;                         // results folder (CSV, JSON, the data sets)
  std::string generalized_network;         // a network for the generalized family ("": left out)
};

/// Adds the study's options to its sub-command.
void add_misspecification_options(CLI::App& study, MisspecificationOptions& options);

/// Runs the study (progress on stderr, tables on stdout, files in options.out); returns the exit code.
int run_misspecification(const MisspecificationOptions& options);

} // namespace bactor::cli
