#!/usr/bin/env bash
# ASan + UBSan run of the fast test suites (engine and samplers: the tape, kernels, RNG,
# optimisers, NUTS, diagnostics, CmdStan CSV), compiled directly with g++ so that it does not
# need the sanitized build of the whole library (`make sanitize`, ~15 min on 2 cores).
# Usage: bash .ci/sanitize-fast.sh [OUTDIR]   (default build-sanitize-fast)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build-sanitize-fast}
mkdir -p "$out"
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
       -fopenmp -march=native -I. -Iinclude $(pkg-config --cflags eigen3 xsimd 2>/dev/null || echo -I/usr/include/eigen3)
       -DBACTOR_CXX_FLAGS='"sanitize-fast"')
sed 's/@VERSION@/sanitize-fast/' engine/version.cpp.in > "$out/version.cpp"
lib=(engine/*.cpp samplers/*.cpp "$out/version.cpp")
build() {  # build NAME SOURCES...
  local name=$1; shift
  g++ "${flags[@]}" "$@" "${lib[@]}" tests/main.cpp -o "$out/$name"
}
build test_engine tests/engine/*.cpp &
build test_samplers tests/samplers/*.cpp &
wait %1 && wait %2
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1
export BACTOR_REFERENCE_DIR=${BACTOR_REFERENCE_DIR:-$PWD/tests/reference}
export BACTOR_SOURCE_DIR=${BACTOR_SOURCE_DIR:-$PWD}  # fixtures (rstan files, ArviZ numbers)
"$out/test_engine"
"$out/test_samplers"
echo "sanitize-fast: engine and samplers tests clean under ASan + UBSan"
