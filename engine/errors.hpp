// SPDX-License-Identifier: MIT
// The library's error for a bad argument: it names the argument in the library's own words
// (a settings field such as `fixed` or `trials`, or a function parameter), so that a program
// embedding bactor can map it onto its own options (the `bactor` CLI maps `fixed` to `--fix`).
#pragma once

#include <stdexcept>
#include <string>

namespace bactor {

/// std::invalid_argument whose what() is "<argument>: <reason>".
class ArgumentError : public std::invalid_argument {
public:
  ArgumentError(std::string argument, std::string reason)
      : std::invalid_argument(argument + ": " + reason), argument_(std::move(argument)), reason_(std::move(reason)) {}
  /// The argument's name (e.g. "fixed", "priors", "latent", "trials", "head").
  const std::string& argument() const noexcept { return argument_; }
  /// What is wrong with it, without the name.
  const std::string& reason() const noexcept { return reason_; }

private:
  std::string argument_, reason_;
};

} // namespace bactor
