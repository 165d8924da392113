#!/usr/bin/env bash
# Installs the Debian packages bactor builds with, when they are missing.
# Usage: bash .ci/deps.sh [mpi] [ci]
# As root: apt-get installs them. Otherwise: prints the exact command and exits 1.
set -euo pipefail
pkgs=(g++ make pkg-config cmake meson ninja-build libeigen3-dev libxsimd-dev doctest-dev
      nlohmann-json3-dev libcli11-dev)
# Opt-in lists: `deps.sh mpi` adds Open MPI for the -Dmpi=enabled variant (make test-mpi);
# `deps.sh ci` adds ccache, which .ci/run installs first so that the MPI variant's build reuses
# the library objects of the main build (same flags) instead of compiling them again.
for extra in "$@"; do
  case "$extra" in
    mpi) pkgs+=(openmpi-bin libopenmpi-dev) ;;
    ci) pkgs+=(ccache) ;;
    *) echo "bactor: deps.sh: unknown package list '$extra' (known: mpi, ci)"; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "bactor: missing packages (${missing[*]}) and no apt-get here; install meson, ninja, a C++20"
  echo "compiler and pkg-config, and Meson falls back to the wraps in subprojects/ for the libraries."
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "bactor: missing Debian packages: ${missing[*]}"
  echo "run:  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  exit 1
fi
echo "bactor: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt (unattended upgrades on a fresh machine) may hold the dpkg lock: wait for it, up
# to APT_LOCK_WAIT seconds (default 600), saying so, instead of failing on the first try.
# apt-get's own DPkg::Lock::Timeout covers the dpkg lock; the loop also covers the lists lock.
wait_s=${APT_LOCK_WAIT:-600}
apt_opts=(-o DPkg::Lock::Timeout="$wait_s")
locked() { command -v fuser >/dev/null 2>&1 && fuser /var/lib/dpkg/lock-frontend /var/lib/apt/lists/lock >/dev/null 2>&1; }
waited=0
while locked; do
  [ "$waited" -eq 0 ] && echo "bactor: another apt/dpkg holds the package lock; waiting up to ${wait_s} s"
  [ "$waited" -ge "$wait_s" ] && { echo "bactor: the package lock is still held after ${wait_s} s; giving up"; exit 1; }
  sleep 5; waited=$((waited + 5))
done
apt-get "${apt_opts[@]}" update -qq
apt-get "${apt_opts[@]}" install -y -qq "${missing[@]}" >/dev/null
