// SPDX-License-Identifier: MIT
// Sub-command registry of the `bactor` program. Each cmd_*.cpp registers itself with
// BACTOR_COMMAND; main() dispatches on the first argument.
#pragma once

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
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

/// CLI11's "Could not convert: --samples = 1e12" as "--samples: '1e12' is out of range for this
/// option" or "... is not a whole number", from the option's declared type (other messages are
/// kept as they are).
inline std::string conversion_message(const CLI::App& app, const std::string& what) {
  const std::string lead = "Could not convert: ";
  const auto eq = what.find(" = ");
  if (what.rfind(lead, 0) != 0 || eq == std::string::npos) return what;
  const std::string name = what.substr(lead.size(), eq - lead.size());
  const std::string value = what.substr(eq + 3);
  const CLI::Option* opt = nullptr;
  try {
    opt = app.get_option(name);
  } catch (const CLI::OptionNotFound&) {
    return what;
  }
  const std::string type = opt->get_type_name();
  if (type == "UINT" || type == "INT") {
    // A number that is whole but does not fit (1e12, 99999999999) vs one that is not a number.
    char* end = nullptr;
    const long double v = std::strtold(value.c_str(), &end);
    const bool numeric = !value.empty() && end == value.c_str() + value.size();
    if (numeric && v >= 0 && v == std::floor(v))
      return name + ": '" + value + "' is out of range for this option";
    return name + ": '" + value + "' is not a whole number" + (type == "UINT" ? " (0 or more)" : "");
  }
  const std::string expected = type == "FLOAT" ? "a number" : "a value of type " + type;
  return name + ": '" + value + "' is not " + expected;
}

/// Parses with CLI11; parse errors become UsageError naming the argument. Returns true when
/// the command should go on (false after --help, which has been printed).
inline bool parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    app.exit(e);
    return false;
  } catch (const CLI::ConversionError& e) {
    throw UsageError(conversion_message(app, e.what()));
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
