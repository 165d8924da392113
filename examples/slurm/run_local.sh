#!/bin/bash
# The same layout without Slurm: N shards as background processes on one machine, then merge.
# Usage: run_local.sh DATA.csv N   (writes fits/shard-1 .. fits/shard-N and fits/all)
set -euo pipefail
BACTOR=${BACTOR:-bactor}
DATA=${1:?usage: run_local.sh DATA.csv N}
N=${2:?usage: run_local.sh DATA.csv N}
mkdir -p fits
for K in $(seq 1 "$N"); do
  "$BACTOR" infer --data "$DATA" --cost QuadraticCost --closed-form \
    --chains 4 --warmup 1000 --samples 1000 --seed 1 --threads 1 \
    --shard "$K/$N" --overwrite --out "fits/shard-$K" > "fits/shard-$K.log" 2>&1 &
done
wait
"$BACTOR" merge $(for K in $(seq 1 "$N"); do echo "fits/shard-$K"; done) --overwrite --out fits/all
