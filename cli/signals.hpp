// SPDX-License-Identifier: MIT
// SIGINT and SIGTERM: the first asks the running command to stop cleanly (stop_flag(), declared
// with install_stop_handlers() in cli/options.hpp); signals within repeat_window_seconds of the
// first are the same request; a SIGINT later than that ends the program at once (exit 130),
// a later SIGTERM changes nothing (a scheduler repeats it, and forces with SIGKILL).
#pragma once

#include <string>

namespace bactor::cli {

/// Signals arriving within this time of the first are one request to stop (GNU `timeout`, a
/// terminal's Ctrl-C and Slurm deliver theirs to the process and to its group, so the program
/// receives the same request twice within microseconds to milliseconds).
inline constexpr double repeat_window_seconds = 1.0;

/// A file the abort path (a deliberate second signal) unlinks before it exits: the output
/// folder's lock. An empty path clears it. Not thread-safe: call from the main thread.
void unlink_on_abort(const std::string& path);

} // namespace bactor::cli
