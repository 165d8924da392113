// SPDX-License-Identifier: MIT
// The library's file writers (write_dataset, the safetensors writer) write `path.tmp` and rename
// it onto `path` when complete. A rename replaces whatever `path` is, so a path that is not a
// regular file (a device, a pipe, /dev/stdout's link) is refused first: run as root, the rename
// would replace the device node or the link itself. Private header.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace bactor::detail {

/// Throws std::invalid_argument naming `path` when it is under /dev or /proc, or exists and is
/// not a regular file.
inline void check_replaceable_path(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string abs = fs::absolute(path, ec).lexically_normal().string();
  if (abs.rfind("/dev/", 0) == 0 || abs.rfind("/proc/", 0) == 0 || (fs::exists(path, ec) && !fs::is_regular_file(path, ec)))
    throw std::invalid_argument(path + ": is not a regular file (a device, pipe or /dev, /proc path); the output is written to " +
                                path + ".tmp and renamed into place, which would replace it: give a file path");
}

} // namespace bactor::detail
