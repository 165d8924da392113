#!/usr/bin/env bash
# Installs the Debian packages bactor builds with, when they are missing.
# As root: apt-get installs them. Otherwise: prints the exact command and exits 1.
set -euo pipefail
pkgs=(g++ make pkg-config cmake meson ninja-build libeigen3-dev libxsimd-dev doctest-dev
      nlohmann-json3-dev libcli11-dev)
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
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
