#!/usr/bin/env bash
# Embedding check: install the built library into a scratch prefix, then build every program
# in examples/ out of tree against the *installed* library twice — with the README's exact
# pkg-config command, and as a Meson subproject — and run each build. Also a program that
# includes only <bactor/bactor.hpp> and checks that no implementation header was installed.
# usage: .ci/embed.sh [BUILD_DIR]   (default build; `make test` calls it after meson test)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/bactor-embed.XXXXXX")
trap 'rm -rf "$work"' EXIT

meson install -C "$build" --destdir "$work/root" --quiet >/dev/null
pcdir=$(dirname "$(find "$work/root" -name bactor.pc | head -1)")
# The .pc file names the real prefix; the sysroot variable makes pkg-config prepend the
# scratch root to its -I and -L paths.
export PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$work/root
inc=$(pkg-config --cflags-only-I bactor | sed 's/^-I//; s/ *$//')

# 1. What was installed: the front door and the public headers only.
for private in engine/kernels.hpp engine/simd_math.hpp engine/dense_kernels.hpp engine/tape_view.hpp \
               models/dual.hpp models/train_kernel.hpp models/formula_program.hpp models/inference_kernels.hpp \
               models/inference_nodes.hpp models/hierarchical_node.hpp models/exact_action.hpp models/chebyshev.hpp \
               models/number_text.hpp models/cost_functions.hpp models/hierarchical_fused.hpp models/mpi_exchange.hpp \
               samplers/adaptation.hpp; do
  if [ -e "$inc/bactor/$private" ]; then echo "embed: private header installed: $private"; exit 1; fi
done
for flag in -march=native -DNDEBUG -DBACTOR; do
  if pkg-config --cflags --libs bactor | grep -q -- "$flag"; then
    echo "embed: the pkg-config file forces $flag on a user's program"; exit 1
  fi
done
# Public headers must not pull third-party headers into the user's program.
if grep -rlE '#include <(xsimd|nlohmann|Eigen)' "$inc/bactor"; then
  echo "embed: an installed header includes a third-party header"; exit 1
fi

# 2. The README's command, for every example and a front-door-only program.
cat > "$work/front_door.cpp" <<'CPP'
#include <bactor/bactor.hpp>
#include <cstdio>
int main() {
  // d/dx of sum(x^2) at (1, 2, 3) through the tape, and the version string.
  std::vector<double> x{1, 2, 3}, g(3);
  const double y = bactor::value_and_gradient(
      [](bactor::Var v) { return bactor::sum(bactor::square(v)); }, x, g);
  std::printf("bactor %s: f = %g, grad = %g %g %g\n", bactor::version(), y, g[0], g[1], g[2]);
  return (y == 14 && g[0] == 2 && g[1] == 4 && g[2] == 6) ? 0 : 1;
}
CPP
cd "$work"
programs=("$work/front_door.cpp" "$src"/examples/*.cpp)
for f in "${programs[@]}"; do
  name=$(basename "$f" .cpp)
  echo "embed: pkg-config build of $name"
  # shellcheck disable=SC2046
  c++ -std=c++20 -O2 "$f" -o "$work/pc_$name" $(pkg-config --cflags --libs bactor) -fopenmp
done
for f in "${programs[@]}"; do
  name=$(basename "$f" .cpp)
  echo "embed: running $name"
  (mkdir -p "$work/run_$name" && cd "$work/run_$name" && OMP_NUM_THREADS=2 "$work/pc_$name" > out.txt) ||
    { cat "$work/run_$name/out.txt"; echo "embed: $name failed"; exit 1; }
  tail -n 3 "$work/run_$name/out.txt" | sed 's/^/    /'
done

# 3. As a Meson subproject: dependency('bactor') falls back to subprojects/bactor.
mkdir -p "$work/consumer/subprojects"
ln -s "$src" "$work/consumer/subprojects/bactor"
cp "$src"/examples/*.cpp "$work/consumer/"
{
  echo "project('consumer', 'cpp', default_options : ['cpp_std=c++20', 'buildtype=release'])"
  # -O1: this build checks that the subproject route works; the library's speed is tested above.
  echo "bactor = dependency('bactor', fallback : ['bactor', 'bactor_dep'],"
  echo "  default_options : ['tests=disabled', 'optimization=1'])"
  for f in "$src"/examples/*.cpp; do
    name=$(basename "$f" .cpp)
    echo "executable('$name', '$name.cpp', dependencies : bactor)"
  done
} > "$work/consumer/meson.build"
(cd "$work/consumer" && env -u PKG_CONFIG_PATH -u PKG_CONFIG_SYSROOT_DIR \
  meson setup build --wrap-mode=nodownload >/dev/null)
targets=()
for f in "$src"/examples/*.cpp; do targets+=("$(basename "$f" .cpp)"); done
echo "embed: Meson subproject build of ${targets[*]}"
ninja -C "$work/consumer/build" "${targets[@]}" >/dev/null
for t in "${targets[@]}"; do
  (mkdir -p "$work/sub_$t" && cd "$work/sub_$t" && OMP_NUM_THREADS=2 "$work/consumer/build/$t" > out.txt) ||
    { cat "$work/sub_$t/out.txt"; echo "embed: subproject build of $t failed"; exit 1; }
done
echo "embed: every example built and ran against the installed library and as a subproject"
