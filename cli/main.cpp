// SPDX-License-Identifier: MIT
// The `bactor` command: dispatches to the registered sub-commands.
#include "cli/command.hpp"

#include <bactor/engine/errors.hpp>
#include <bactor/engine/version.hpp>

#if BACTOR_MPI
#include "models/mpi_exchange.hpp"
#endif

#include <cstring>
#include <iostream>
#include <map>
#include <string>

namespace {

/// The command-line option that sets a library argument (bactor::ArgumentError::argument()).
std::string option_for(const std::string& argument) {
  static const std::map<std::string, std::string> options = {
      {"fixed", "--fix"},     {"priors", "--prior"}, {"per_condition", "--per-condition"}, {"latent", "--latent"}, {"trials", "--trials"},
      {"stimuli", "--stimuli"}, {"head", "--head"},   {"hidden", "--hidden"}, {"batch", "--batch"},
      {"mc", "--mc"},         {"lr", "--lr"},         {"optimizer", "--optimizer"}, {"columns", "--columns"},
      {"conditions", "--conditions"}, {"lapse", "--lapse"}, {"lapse_range", "--lapse-range"},
      {"pooled", "--pooled"}, {"population", "--population"}, {"parameterisation", "--parameterisation"},
      {"subjects", "--subjects"}, {"spread", "--spread"}, {"network", "--network"}, {"scale", "--scale"},
      {"exact_action", "--exact-action"}, {"motor", "--motor"}, {"offset", "--offset"},
      {"perception", "--perception"}};
  const auto it = options.find(argument);
  return it != options.end() ? it->second : argument;
}

} // namespace

int main(int argc, char** argv) {
  using namespace bactor::cli;
#if BACTOR_MPI
  // Built with -Dmpi=enabled: MPI for the whole run (under mpirun only `infer --hierarchical`
  // runs; cmd_infer.cpp splits its subjects over the ranks, docs/cluster.md).
  const bactor::mpi::Session mpi(argc, argv);
  if (mpi.size() > 1 && (argc < 2 || std::strcmp(argv[1], "infer") != 0)) {
    if (mpi.rank() == 0) std::cerr << "bactor: error: under mpirun only `bactor infer --hierarchical` runs\n";
    return exit_bad_input;
  }
  // Every rank runs the same command on the same input, so rank 0 says all there is to say
  // (the others would repeat each message, e.g. an error in the arguments, once per rank).
  if (mpi.rank() != 0) std::cerr.setstate(std::ios::failbit);
#endif
  // The command list: on stdout for --help (exit 0, `bactor --help | less`), on stderr after a
  // missing or unknown command (exit 2).
  auto usage = [](std::ostream& os) {
    os << "usage: bactor <command> [options]   (bactor <command> --help for its options)\n"
       << "commands:\n";
    for (const auto& [name, cmd] : registry())
      os << "  " << name << std::string(name.size() < 10 ? 10 - name.size() : 1, ' ') << cmd.summary << "\n";
    os << "  --version print the version\n";
  };
  if (argc < 2) {
    usage(std::cerr);
    return exit_bad_input;
  }
  if (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(std::cout);
    return exit_ok;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::cout << "bactor " << bactor::version() << "\n";
    return exit_ok;
  }
  auto it = registry().find(argv[1]);
  if (it == registry().end()) {
    std::cerr << "bactor: error: unknown command '" << argv[1] << "'\n";
    usage(std::cerr);
    return exit_bad_input;
  }
  try {
    return it->second.run(argc - 1, argv + 1);
  } catch (const UsageError& e) {
    std::cerr << "bactor " << argv[1] << ": error: " << e.what() << "\n";
    return exit_bad_input;
  } catch (const bactor::ArgumentError& e) {
    // The library names its own argument (a settings field); say which option set it.
    std::cerr << "bactor " << argv[1] << ": error: " << option_for(e.argument()) << ": " << e.reason() << "\n";
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
