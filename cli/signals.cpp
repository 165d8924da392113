// SPDX-License-Identifier: MIT
#include "cli/signals.hpp"
#include "cli/options.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <unistd.h>

namespace bactor::cli {

namespace {

// Monotonic nanoseconds of the first signal; -1 until one arrives.
std::atomic<long long> first_signal_ns{-1};
static_assert(std::atomic<long long>::is_always_lock_free, "the signal handler needs a lock-free atomic");

// The lock to remove on abort (a fixed buffer: the handler may not allocate).
char abort_unlink_path[4096] = {};

long long monotonic_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);  // async-signal-safe
  return static_cast<long long>(t.tv_sec) * 1'000'000'000LL + t.tv_nsec;
}

extern "C" void on_stop_signal(int sig) {
  const long long now = monotonic_ns();
  long long first = -1;
  if (first_signal_ns.compare_exchange_strong(first, now)) {
    stop_flag().store(true);
    return;
  }
  // A repeat of the first request (the same signal sent to the process and to its group).
  if (double(now - first) < repeat_window_seconds * 1e9) return;
  // A scheduler repeats SIGTERM (Slurm: --signal before the time limit, then at it) and forces
  // with SIGKILL; only a person's later Ctrl-C means "now".
  if (sig == SIGTERM) return;
  if (abort_unlink_path[0] != '\0') ::unlink(abort_unlink_path);
  std::_Exit(128 + sig);
}

} // namespace

std::atomic<bool>& stop_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

void install_stop_handlers() {
  stop_flag();  // initialised before any handler can run
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

void unlink_on_abort(const std::string& path) {
  if (path.size() >= sizeof abort_unlink_path) return;  // too long to keep: the lock stays (stale, detected later)
  std::memcpy(abort_unlink_path, path.c_str(), path.size() + 1);
}

} // namespace bactor::cli
