// SPDX-License-Identifier: MIT
// Sub-command registry of the `bactor` program. Each cmd_*.cpp registers itself with
// BACTOR_COMMAND; main() dispatches on the first argument.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>

namespace bactor::cli {

/// Exit codes shared by every command.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;   // the run itself failed (e.g. I/O error while writing)
inline constexpr int exit_bad_input = 2; // bad argument, bad file, unknown name

/// Thrown for bad user input; main() prints "bactor <cmd>: error: <what>" and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Command {
  std::string summary;
  // Receives the arguments after the command name (argv[0] is the command name).
  std::function<int(int argc, char** argv)> run;
};

inline std::map<std::string, Command>& registry() {
  static std::map<std::string, Command> commands;
  return commands;
}

struct Registrar {
  Registrar(const char* name, const char* summary, int (*fn)(int, char**)) {
    registry()[name] = Command{summary, fn};
  }
};

/// Parses with CLI11; parse errors become UsageError naming the argument. Returns true when
/// the command should go on (false after --help, which has been printed).
inline bool parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    app.exit(e);
    return false;
  } catch (const CLI::ParseError& e) {
    throw UsageError(e.what());
  }
  return true;
}

} // namespace bactor::cli

#define BACTOR_DETAIL_CAT2(a, b) a##b
#define BACTOR_DETAIL_CAT(a, b) BACTOR_DETAIL_CAT2(a, b)
/// Registers `fn` (int(int, char**)) as the sub-command `name`.
#define BACTOR_COMMAND(name, summary, fn)                                                    \
  static const ::bactor::cli::Registrar BACTOR_DETAIL_CAT(bactor_cmd_, __LINE__) {           \
    name, summary, fn                                                                        \
  }
