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
# Every translation unit compiled once (the library's objects are shared by both test programs),
# two at a time, then the two programs linked.
lib=(engine/*.cpp samplers/*.cpp "$out/version.cpp")
srcs=("${lib[@]}" tests/main.cpp tests/engine/*.cpp tests/samplers/*.cpp)
obj() { local o=${1#"$out/"}; echo "$out/obj/${o//\//_}.o"; }
mkdir -p "$out/obj"
for s in "${srcs[@]}"; do printf '%s\0%s\0' "$s" "$(obj "$s")"; done |
  xargs -0 -n 2 -P 2 bash -c 'g++ "${@:1:$#-2}" -c "${@: -2:1}" -o "${@: -1}"' _ "${flags[@]}"
objs() { for s in "$@"; do obj "$s"; done; }
g++ "${flags[@]}" $(objs "${lib[@]}" tests/main.cpp tests/engine/*.cpp) -o "$out/test_engine"
g++ "${flags[@]}" $(objs "${lib[@]}" tests/main.cpp tests/samplers/*.cpp) -o "$out/test_samplers"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1
export BACTOR_REFERENCE_DIR=${BACTOR_REFERENCE_DIR:-$PWD/tests/reference}
export BACTOR_SOURCE_DIR=${BACTOR_SOURCE_DIR:-$PWD}  # fixtures (rstan files, ArviZ numbers)
"$out/test_engine"
# The four longest statistical cases (100-D and correlated Gaussians, a second eight-schools run
# through TapeModel: 95 of the 110 s under the sanitizers at load 6) run natively in `make test`;
# here they would exercise no code the other cases do not.
"$out/test_samplers" -tce='equicorrelated*,100-D Gaussian*,TapeModel: NUTS on eight schools*,standard normal in 1*'
echo "sanitize-fast: engine and samplers tests clean under ASan + UBSan"
