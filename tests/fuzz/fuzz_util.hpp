// SPDX-License-Identifier: MIT
// Helpers for the libFuzzer harnesses: the readers under test take file paths, so each input
// is written to a per-process scratch file first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <unistd.h>

namespace bactor::fuzz {

inline std::string scratch_file(const char* stem, const std::uint8_t* data, std::size_t size) {
  const std::string path = "/tmp/bactor-fuzz-" + std::string(stem) + "-" + std::to_string(::getpid());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

} // namespace bactor::fuzz
