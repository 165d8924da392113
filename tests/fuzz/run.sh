#!/usr/bin/env bash
# usage: tests/fuzz/run.sh BUILD FUZZ_BUILD SECONDS — seeds each corpus, fuzzes each harness for
# SECONDS, then replays tests/fuzz/regressions/<harness>/*. Crashes are left in FUZZ_BUILD/crashes.
set -euo pipefail
build=$1 fuzz_build=$2 seconds=$3
here=$(cd "$(dirname "$0")" && pwd)
work=$fuzz_build/fuzz-work
mkdir -p "$work"/{data_csv,network,cmdstan_csv} "$fuzz_build/crashes"
ref=${BACTOR_REFERENCE_DIR:-$here/../reference}
cp "$ref"/*.csv "$work/data_csv/" 2>/dev/null || true
cp "$here"/regressions/data_csv/* "$work/data_csv/" 2>/dev/null || true
# A tiny network and a tiny draws file from the real programs, as seeds.
"$build/cli/bactor" train --cost QuadraticCost --steps 20 --eval-points 50 --out "$work/network/seed.safetensors" >/dev/null 2>&1 || true
if [ -f "$ref/quadratic_n60.csv" ]; then
  "$build/cli/bactor" infer --data "$ref/quadratic_n60.csv" --cost QuadraticCost --closed-form \
    --fix sigma=0.2 --chains 1 --warmup 50 --samples 20 --out "$work/draws" >/dev/null 2>&1 || true
  cp "$work"/draws/chain-1.csv "$work/cmdstan_csv/seed.csv" 2>/dev/null || true
fi
status=0
for h in data_csv network cmdstan_csv; do
  echo "== fuzz_$h for ${seconds}s"
  "$fuzz_build/tests/fuzz/fuzz_$h" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
    -artifact_prefix="$fuzz_build/crashes/$h-" "$work/$h" 2>&1 | tail -3 || status=1
  if compgen -G "$here/regressions/$h/*" >/dev/null; then
    echo "== replaying regressions/$h"
    "$fuzz_build/tests/fuzz/fuzz_$h" "$here"/regressions/"$h"/* 2>&1 | tail -1 || status=1
  fi
done
exit $status
