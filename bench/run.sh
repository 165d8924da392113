#!/usr/bin/env bash
# usage: bench/run.sh [BUILD]  — runs every bench/ program (short settings where a program has
# them), keeps each one's JSON lines in bench/results/NAME.jsonl with the machine in
# bench/results/run.json, and regenerates docs/benchmarks.md from them.
set -eu
build=${1:-build}
src=$(cd "$(dirname "$0")/.." && pwd)
out="$src/bench/results"
mkdir -p "$out"
export BACTOR_REFERENCE_DIR="$src/tests/reference"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
settings='inference --gradients-only; hierarchical 20 subjects x 100 trials, gradient 50 x 250, scale 1000,10000 x 250; the others as make bench runs them'
printf '{"machine":"%s","cores":"%s","date":"%s","loadavg":"%s","settings":"%s"}\n' \
  "$cpu" "$(nproc)" "$(date -u '+%Y-%m-%d %H:%M')" "$(cut -d' ' -f1-3 /proc/loadavg)" "$settings" > "$out/run.json"
run() { name=$1; shift; "$build/bench/bench_$name" "$@" | grep '^{' > "$out/$name.jsonl"; }
run kernels
run tape
run train
# bactor train's default run time projected for every cost x motor x perception (seconds);
# train_accuracy.jsonl (the same defaults trained in full and evaluated, ~10 minutes) comes from
# `bench_train --accuracy 1 > bench/results/train_accuracy.jsonl` by hand.
"$build/bench/bench_train" --budget | grep '^{' > "$out/train_budget.jsonl"
run nuts
run inference --gradients-only
run hierarchical 20 100
# The gradient alone, generic and fused, at 10 to 50 subjects (docs/hierarchical.md's table).
"$build/bench/bench_hierarchical" gradient 50 250 | grep '^{' > "$out/hierarchical_gradient.jsonl"
# Large cohorts' fused gradient at 1 and 2 threads (and over 2 MPI ranks when an MPI build is
# in build-mpi/: docs/cluster.md).
"$build/bench/bench_hierarchical" scale 1000,10000 250 | grep '^{' > "$out/hierarchical_scale.jsonl"
if [ -x "$src/build-mpi/bench/bench_hierarchical" ] && command -v mpirun >/dev/null; then
  mpirun -np 2 --oversubscribe "$src/build-mpi/bench/bench_hierarchical" scale 1000,10000 250 | grep '^{' >> "$out/hierarchical_scale.jsonl"
fi
run exact_action
"$build/bench/benchmarks_md" "$out" > "$src/docs/benchmarks.md"
echo "wrote $out/*.jsonl and docs/benchmarks.md"
