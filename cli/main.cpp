// SPDX-License-Identifier: MIT
// The `bactor` command: dispatches to the registered sub-commands.
#include "cli/command.hpp"

#include <bactor/engine/version.hpp>

#include <cstring>
#include <iostream>

int main(int argc, char** argv) {
  using namespace bactor::cli;
  auto usage = [] {
    std::cerr << "usage: bactor <command> [options]   (bactor <command> --help for its options)\n"
              << "commands:\n";
    for (const auto& [name, cmd] : registry())
      std::cerr << "  " << name << std::string(name.size() < 10 ? 10 - name.size() : 1, ' ')
                << cmd.summary << "\n";
  };
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage();
    return argc < 2 ? exit_bad_input : exit_ok;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::cout << "bactor " << bactor::version() << "\n";
    return exit_ok;
  }
  auto it = registry().find(argv[1]);
  if (it == registry().end()) {
    std::cerr << "bactor: error: unknown command '" << argv[1] << "'\n";
    usage();
    return exit_bad_input;
  }
  try {
    return it->second.run(argc - 1, argv + 1);
  } catch (const UsageError& e) {
    std::cerr << "bactor " << argv[1] << ": error: " << e.what() << "\n";
    return exit_bad_input;
  } catch (const std::invalid_argument& e) {
    std::cerr << "bactor " << argv[1] << ": error: " << e.what() << "\n";
    return exit_bad_input;
  } catch (const std::domain_error& e) {
    std::cerr << "bactor " << argv[1] << ": error: " << e.what() << "\n";
    return exit_bad_input;
  } catch (const std::exception& e) {
    std::cerr << "bactor " << argv[1] << ": failed: " << e.what() << "\n";
    return exit_failure;
  }
}
