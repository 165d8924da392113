// SPDX-License-Identifier: MIT
#include "cli/out_dir.hpp"
#include "cli/command.hpp"
#include "cli/fit_dir.hpp"
#include "cli/signals.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

namespace bactor::cli {

namespace fs = std::filesystem;

void check_output_file(const std::string& path, const std::string& option) {
  if (path.empty()) throw UsageError(option + ": empty file name (give a file, e.g. report.html)");
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw UsageError(option + " " + path + ": is a folder (give a file name, e.g. " +
                     (fs::path(path) / "report.html").string() + ")");
  // /dev/stdout and the like: a symbolic link the rename would replace, whatever it points to.
  const std::string abs = fs::absolute(path, ec).lexically_normal().string();
  const bool special = abs.rfind("/dev/", 0) == 0 || abs.rfind("/proc/", 0) == 0;
  if (special || (fs::exists(path, ec) && !fs::is_regular_file(path, ec)))
    throw UsageError(option + " " + path + ": is not a regular file (a device, pipe or /dev, /proc path; the output is written to " +
                     path + ".tmp and renamed into place, which would replace it): give a file path");
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw UsageError(option + " " + path + ": the folder " + parent.string() + " does not exist");
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::error_code ec;
  try {
    {
      std::ofstream f(tmp, std::ios::binary);
      if (!f) throw std::runtime_error(path + ": cannot write (" + tmp + ")");
      f.write(text.data(), std::streamsize(text.size()));
      f.close();
      if (!f) throw std::runtime_error(path + ": write failed");
    }
    fs::rename(tmp, path, ec);
    if (ec) throw std::runtime_error(path + ": cannot rename " + tmp + " into place: " + ec.message());
  } catch (...) {
    fs::remove(tmp, ec);  // never leave a half-written .tmp behind
    throw;
  }
}

FitDirLock& FitDirLock::operator=(FitDirLock&& o) noexcept {
  if (this != &o) {
    release();
    path_ = std::move(o.path_);
    o.path_.clear();
  }
  return *this;
}

void FitDirLock::release() noexcept {
  if (path_.empty()) return;
  unlink_on_abort("");
  ::unlink(path_.c_str());
  path_.clear();
}

namespace {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

std::string first_line(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

bool is_chain_name(const std::string& name) {
  if (name.size() < 11 || name.rfind("chain-", 0) != 0 || name.compare(name.size() - 4, 4, ".csv") != 0) return false;
  const std::string n = name.substr(6, name.size() - 10);
  return std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// Names bactor writes inside a fit folder (`top`) or a subject folder.
bool is_output_name(const std::string& name, bool top) {
  return is_chain_name(name) || name == "summary.csv" || name == "check.csv" || (top && name == subjects_file_name);
}

/// True when the regular file `p` is one bactor wrote (judged by its name and first lines).
bool written_by_bactor(const fs::path& p, bool top) {
  const std::string name = p.filename().string();
  if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0)
    return is_output_name(name.substr(0, name.size() - 4), top);  // a partial write of one of ours
  if (is_chain_name(name)) {
    try {
      const auto s = read_settings(p.string());
      const auto it = s.find("model");
      return it != s.end() && it->second.rfind("bactor_", 0) == 0;
    } catch (const std::exception&) {
      return false;
    }
  }
  const std::string line = first_line(p);
  if (name == "summary.csv") return line == "name,mean,sd,q5,q50,q95,mcse_mean,mcse_sd,ess_bulk,ess_tail,rhat";
  if (name == "check.csv") return line.rfind("subject,cond,stat,bin,", 0) == 0;
  if (top && name == subjects_file_name) return line == subjects_file_first_line;
  return false;
}

/// Entries of `dir`, sorted by name, without the lock file.
std::vector<fs::path> entries(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != lock_file_name) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

/// Removes the files of an earlier fit from `dir` (see prepare_fit_dir); returns what it kept.
std::vector<fs::path> remove_earlier_fit(const fs::path& dir) {
  std::vector<fs::path> kept;
  std::size_t removed = 0;
  for (const auto& p : entries(dir)) {
    const auto st = fs::symlink_status(p);  // a symlink is never followed, never removed
    const std::string name = p.filename().string();
    if (fs::is_regular_file(st) && written_by_bactor(p, true)) {
      fs::remove(p);
      ++removed;
    } else if (fs::is_directory(st) && name.rfind("subject-", 0) == 0) {
      for (const auto& q : entries(p)) {
        if (fs::is_regular_file(fs::symlink_status(q)) && written_by_bactor(q, false)) {
          fs::remove(q);
          ++removed;
        } else {
          kept.push_back(q);
        }
      }
      std::error_code ec;
      if (fs::is_empty(p, ec)) fs::remove(p, ec);  // else its kept contents are listed
    } else {
      kept.push_back(p);
    }
  }
  if (removed > 0) std::cerr << "--overwrite: removed " << removed << " file" << (removed == 1 ? "" : "s") << " of the earlier fit in " << dir.string() << "\n";
  return kept;
}

std::string listing(const std::vector<fs::path>& paths) {
  std::string out;
  for (std::size_t k = 0; k < paths.size() && k < 3; ++k) out += (k ? ", " : "") + paths[k].string();
  if (paths.size() > 3) out += ", ... (" + std::to_string(paths.size()) + " in all)";
  return out;
}

FitDirLock lock_fit_dir(const fs::path& dir, const std::string& option) {
  const fs::path path = dir / lock_file_name;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) {
      const std::string body = "pid=" + std::to_string(::getpid()) + "\nhost=" + host_name() + "\n";
      const bool ok = ::write(fd, body.data(), body.size()) == ssize_t(body.size());
      ::close(fd);
      FitDirLock lock(path.string());
      if (!ok) throw std::runtime_error(path.string() + ": cannot write the lock file");
      unlink_on_abort(path.string());
      return lock;
    }
    if (errno != EEXIST)
      throw std::runtime_error(option + " " + dir.string() + ": cannot create the lock file " + path.string() + ": " +
                               std::strerror(errno));
    long pid = 0;
    std::string host;
    {
      std::ifstream in(path);
      std::string line;
      while (std::getline(in, line)) {
        if (line.rfind("pid=", 0) == 0) pid = std::strtol(line.c_str() + 4, nullptr, 10);
        if (line.rfind("host=", 0) == 0) host = line.substr(5);
      }
    }
    // Stale: written on this host by a process that no longer exists.
    if (pid > 0 && host == host_name() && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH) {
      std::cerr << "note: " << path.string() << " was left by process " << pid << ", which has ended: taken over\n";
      ::unlink(path.c_str());
      continue;
    }
    throw UsageError(option + " " + dir.string() + ": another bactor (pid " + std::to_string(pid) + " on host " +
                     (host.empty() ? "?" : host) + ") is writing there (lock file " + path.string() +
                     "); wait for it to end, give another folder, or remove the lock file if that process is gone");
  }
  throw UsageError(option + " " + dir.string() + ": cannot take the lock file " + path.string() + " (remove it if no bactor is writing there)");
}

} // namespace

FitDirLock prepare_fit_dir(const std::string& dir, const std::string& option, bool overwrite) {
  if (dir.empty()) throw UsageError(option + ": empty folder name");
  const fs::path root(dir);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(root, ec)) && !fs::is_directory(root, ec))
    throw UsageError(option + " " + dir + ": exists and is not a folder (give a new or empty folder)");
  fs::create_directories(root, ec);
  if (ec) throw UsageError(option + " " + dir + ": cannot create the folder: " + ec.message());
  FitDirLock lock = lock_fit_dir(root, option);
  auto present = entries(root);
  if (present.empty()) return lock;
  if (!overwrite)
    throw UsageError(option + " " + dir + ": is not empty (" + listing(present) + "); give a new or empty folder, or "
                     "--overwrite to replace the fit there (only the files bactor wrote are removed)");
  const auto kept = remove_earlier_fit(root);
  std::vector<fs::path> in_the_way;
  for (const auto& p : kept) {
    const std::string name = p.filename().string();
    const bool top = p.parent_path() == root;
    // A file of our names would be read as part of the fit; a subject-* that is not a real
    // folder (a symlink) would take the new draws elsewhere.
    if (is_output_name(name, top) || (top && name.rfind("subject-", 0) == 0 && !fs::is_directory(fs::symlink_status(p))))
      in_the_way.push_back(p);
  }
  if (!in_the_way.empty())
    throw UsageError(option + " " + dir + ": --overwrite removes only what bactor wrote, and " + listing(in_the_way) +
                     " would be read or written as part of the new fit; move or remove it, or give another folder");
  if (!kept.empty()) std::cerr << "note: " << option << " " << dir << ": kept " << listing(kept) << " (not written by bactor)\n";
  return lock;
}

} // namespace bactor::cli
