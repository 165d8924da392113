#!/usr/bin/env bash
# usage: tests/fuzz/run.sh BUILD FUZZ_BUILD SECONDS — seeds each corpus, fuzzes each harness for
# SECONDS, then replays tests/fuzz/regressions/<harness>/*. Crashes are left in FUZZ_BUILD/crashes.
set -euo pipefail
build=$1 fuzz_build=$2 seconds=$3
here=$(cd "$(dirname "$0")" && pwd)
work=$fuzz_build/fuzz-work
mkdir -p "$work"/{data_csv,data_columns,network,cmdstan_csv} "$fuzz_build/crashes"
ref=${BACTOR_REFERENCE_DIR:-$here/../reference}
cp "$ref"/*.csv "$work/data_csv/" 2>/dev/null || true
cp "$here"/regressions/data_csv/* "$work/data_csv/" 2>/dev/null || true
# Column-map seeds: the map's text on the first line, then the file (own names, condition labels
# spelled as numbers in several ways, quoted ids).
printf 's=duration,r=reproduction,cond=block,subject=sub\nsub,duration,"reproduction",block\n"A, 1",1.5,1.4,01\nB,2,2.1,1.0\nB,3,2.9,2\n' > "$work/data_columns/seed-map.csv"
printf 'cond=Block\nBlock,s,r\nlow,1,1\nhigh,2,2\n' > "$work/data_columns/seed-names.csv"
printf '\ns,r,cond\n1,1,1e0\n2,2,+1\n3,3,0.5\n' > "$work/data_columns/seed-default.csv"
cp "$here"/regressions/data_columns/* "$work/data_columns/" 2>/dev/null || true
# A tiny network and a tiny draws file from the real programs, as seeds.
"$build/cli/bactor" train --cost QuadraticCost --steps 20 --eval-points 50 --out "$work/network/seed.safetensors" >/dev/null 2>&1 || true
if [ -f "$ref/quadratic_n60.csv" ]; then
  "$build/cli/bactor" infer --data "$ref/quadratic_n60.csv" --cost QuadraticCost --closed-form \
    --fix sigma=0.2 --chains 1 --warmup 50 --samples 20 --out "$work/draws" >/dev/null 2>&1 || true
  cp "$work"/draws/chain-1.csv "$work/cmdstan_csv/seed.csv" 2>/dev/null || true
fi
status=0
for h in data_csv data_columns network cmdstan_csv; do
  echo "== fuzz_$h for ${seconds}s"
  "$fuzz_build/tests/fuzz/fuzz_$h" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
    -artifact_prefix="$fuzz_build/crashes/$h-" "$work/$h" 2>&1 | tail -3 || status=1
  if compgen -G "$here/regressions/$h/*" >/dev/null; then
    echo "== replaying regressions/$h"
    "$fuzz_build/tests/fuzz/fuzz_$h" "$here"/regressions/"$h"/* 2>&1 | tail -1 || status=1
  fi
done
exit $status
