// SPDX-License-Identifier: MIT
// Precompiled header of the `bactor` program: CLI11 is header-only and takes ~4 s of CPU to
// parse in every command's translation unit; precompiled once, it costs that once.
#include <CLI/CLI.hpp>
