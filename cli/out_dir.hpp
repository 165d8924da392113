// SPDX-License-Identifier: MIT
// Output files and folders: a file written whole or not at all, and a fit folder that holds one
// fit only, with a lock against a second writer. Used by infer, merge and report.
#pragma once

#include <string>

namespace bactor::cli {

/// Refuses `path` as an output file before any work is done: empty, an existing folder, an
/// existing file that is not a regular one (a device, a pipe) or a path under /dev or /proc
/// (/dev/stdout is a link): the writers rename a finished `path.tmp` onto their file, which must
/// never replace such a file (run as root it would), or in a
/// folder that does not exist. Throws UsageError naming `option` and `path` as given.
void check_output_file(const std::string& path, const std::string& option);

/// Writes `text` to `path` through `path.tmp`, renamed into place when complete; the `.tmp` is
/// removed when anything fails (check_output_file first). Throws std::runtime_error.
void write_file_atomically(const std::string& path, const std::string& text);

/// The lock file of a fit folder: DIR/.bactor.lock, created exclusively and holding
/// `pid=<pid>` and `host=<hostname>` lines.
inline constexpr const char* lock_file_name = ".bactor.lock";

/// Holds a fit folder's lock; the destructor removes it (and the abort path of a second signal
/// does too, cli/signals.hpp).
class FitDirLock {
public:
  FitDirLock() = default;
  explicit FitDirLock(std::string path) : path_(std::move(path)) {}
  FitDirLock(FitDirLock&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  FitDirLock& operator=(FitDirLock&& o) noexcept;
  FitDirLock(const FitDirLock&) = delete;
  FitDirLock& operator=(const FitDirLock&) = delete;
  ~FitDirLock() { release(); }
  void release() noexcept;

private:
  std::string path_;
};

/// Makes `dir` ready for a new fit and locks it: creates it when missing; refuses it when
/// another live process holds its lock (a lock left by a process that has ended, on this host,
/// is stale and taken over, with a note); refuses it when it holds anything unless `overwrite`,
/// which first removes what bactor wrote there: chain-<n>.csv whose comment block names a bactor
/// model, summary.csv, check.csv and subjects.csv with bactor's header, `.tmp` files of these
/// names, at the top and in subject-* folders (removed when left empty). Anything else is kept
/// (a note lists it), but a kept entry with one of those names (or a subject-* name) is refused.
/// `option` names the argument in messages ("--out").
FitDirLock prepare_fit_dir(const std::string& dir, const std::string& option, bool overwrite);

} // namespace bactor::cli
