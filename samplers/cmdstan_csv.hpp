// SPDX-License-Identifier: MIT
// Draws files in CmdStan's CSV format, readable by ArviZ, cmdstanpy and posterior.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <bactor/samplers/nuts.hpp>

namespace bactor {

/// Writes one chain as CmdStan CSV (docs/formats.md) to a temporary name, then renames to `path`.
/// `config` holds extra `# key = value` lines (e.g. data file, cost, fixed parameters).
void write_cmdstan_csv(const std::string& path, const ChainResult& chain,
                       const NutsSettings& settings, const std::string& model_name,
                       const std::vector<std::pair<std::string, std::string>>& config = {});
/// Reads a CmdStan CSV (ours or Stan's); throws std::invalid_argument naming file and line.
ChainResult read_cmdstan_csv(const std::string& path);

} // namespace bactor
