#!/usr/bin/env bash
# usage: tests/fuzz/error_table.sh BACTOR [REFERENCE_DIR] — runs bactor on bad inputs and prints a
# Markdown table: case | command | exit code | message. Scratch files go to a temp directory.
set -u
B=$(readlink -f "$1")
ref=${2:-$(cd "$(dirname "$0")/../reference" && pwd)}
w=$(mktemp -d /tmp/bactor-errors.XXXXXX)
cd "$w"
good="$ref/quadratic_n60.csv"
: > empty.csv
printf 'x,y\n1,2\n' > header.csv
printf 's,r\n1.0,2.0\n0.5,abc\n' > nonnum.csv
printf 's,r\n1.0,2.0\n0.5,nan\n' > nan.csv
printf 's,r\n1.0,inf\n' > inf.csv
printf 's,r\n1.0,2.0\n0,1.0\n' > zero.csv
printf 's,r\n1.0,2.0\n1.0,-3\n' > neg.csv
printf 's,r\n1.0,2.0\n1.0\n' > short.csv
printf 's,r\n' > noRows.csv
"$B" train --cost QuadraticCost --steps 20 --eval-points 50 --out net.safetensors >/dev/null 2>&1
: > empty.safetensors
head -c 3000 net.safetensors > trunc.safetensors
cp net.safetensors corrupt.safetensors
printf 'XXXXXXXX' | dd of=corrupt.safetensors bs=1 seek=0 conv=notrunc 2>/dev/null
head -c 4000 /dev/urandom > random.safetensors
"$B" infer --data "$good" --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 1 --warmup 30 \
  --samples 10 --out draws >/dev/null 2>&1
head -c 2000 draws/chain-1.csv > trunc_draws.csv
: > empty_draws.csv
sed 's/^\(-\?[0-9.e-]*\),/abc,/' draws/chain-1.csv > nonnum_draws.csv
inf="--data $good --cost QuadraticCost --closed-form --out o"
echo "| case | command | exit | message |"
echo "|---|---|---|---|"
run() {
  local what=$1; shift
  local msg; msg=$(timeout 20 "$@" 2>&1 >/dev/null | grep -v '^$' | head -2 | tr '\n' ' ' | sed 's/ *$//; s/|/\\|/g')
  local rc=${PIPESTATUS[0]}
  timeout 20 "$@" >/dev/null 2>&1; rc=$?; [ $rc = 124 ] && msg="(still running after 20 s: killed) $msg"
  local cmd="bactor ${*:2}"; cmd=${cmd//$ref\//}; cmd=${cmd//$w\//}
  echo "| $what | \`$cmd\` | $rc | $msg |"
}
run "missing data file" "$B" infer --data nosuch.csv --cost QuadraticCost --closed-form --out o
run "empty data file" "$B" infer --data empty.csv --cost QuadraticCost --closed-form --out o
run "wrong header" "$B" infer --data header.csv --cost QuadraticCost --closed-form --out o
run "header only, no rows" "$B" infer --data noRows.csv --cost QuadraticCost --closed-form --out o
run "non-numeric value" "$B" infer --data nonnum.csv --cost QuadraticCost --closed-form --out o
run "NaN value" "$B" infer --data nan.csv --cost QuadraticCost --closed-form --out o
run "inf value" "$B" infer --data inf.csv --cost QuadraticCost --closed-form --out o
run "zero stimulus" "$B" infer --data zero.csv --cost QuadraticCost --closed-form --out o
run "negative response" "$B" infer --data neg.csv --cost QuadraticCost --closed-form --out o
run "missing column in a row" "$B" infer --data short.csv --cost QuadraticCost --closed-form --out o
run "missing network file" "$B" infer --data "$good" --cost QuadraticCost --network nosuch.safetensors --out o
run "empty network file" "$B" infer --data "$good" --cost QuadraticCost --network empty.safetensors --out o
run "truncated network file" "$B" infer --data "$good" --cost QuadraticCost --network trunc.safetensors --out o
run "corrupted network header" "$B" infer --data "$good" --cost QuadraticCost --network corrupt.safetensors --out o
run "random bytes as network" "$B" infer --data "$good" --cost QuadraticCost --network random.safetensors --out o
run "network for another cost" "$B" infer --data "$good" --cost Linex --network net.safetensors --out o
run "summary: missing file" "$B" summary nosuch.csv
run "summary: empty file" "$B" summary empty_draws.csv
run "summary: truncated draws file" "$B" summary trunc_draws.csv
run "summary: non-numeric draw" "$B" summary nonnum_draws.csv
run "summary: data CSV instead of draws" "$B" summary "$good"
run "unknown cost" "$B" infer --data "$good" --cost Nope --closed-form --out o
run "--chains 0" "$B" infer $inf --chains 0
run "--samples -5" "$B" infer $inf --samples -5
run "--warmup -1" "$B" infer $inf --warmup -1
run "--thin 0" "$B" infer $inf --thin 0
run "--samples 1e12" "$B" infer $inf --samples 1e12
run "--samples 100000000" "$B" infer $inf --samples 100000000
run "--chains 100000" "$B" infer $inf --chains 100000
run "--delta 1.5" "$B" infer $inf --delta 1.5
run "--max-depth 0" "$B" infer $inf --max-depth 0
run "--threads -1" "$B" infer $inf --threads -1
run "--seed -1" "$B" infer $inf --seed -1
run "--quadrature-nodes 0" "$B" infer $inf --quadrature-nodes 0
run "--fix unknown parameter" "$B" infer $inf --fix nope=1
run "--fix negative scale" "$B" infer $inf --fix sigma=-0.2
run "--fix non-numeric" "$B" infer $inf --fix sigma=abc
run "--prior malformed" "$B" infer $inf --prior mu_0=uniform:5
run "--latent bad" "$B" infer $inf --latent foo
run "--trials 1e12" "$B" simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --trials 1e12 --out s.csv
run "--trials 1000000000000" "$B" simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --trials 1000000000000 --out s.csv
run "--trials 0" "$B" simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --trials 0 --out s.csv
run "--set missing parameter" "$B" simulate --cost QuadraticCost --set mu_0=1.5,sigma=0.2,sigma_r=0.1 --out s.csv
run "--set negative noise" "$B" simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=-0.2,sigma_r=0.1 --out s.csv
run "--stimuli reversed" "$B" simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --stimuli 5:0.1 --out s.csv
run "--stimuli non-positive" "$B" simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --stimuli -1:2 --out s.csv
run "--hidden 0" "$B" train --cost QuadraticCost --hidden 0 --out n.safetensors
run "--hidden abc" "$B" train --cost QuadraticCost --hidden 16,abc --out n.safetensors
run "--hidden 100000000" "$B" train --cost QuadraticCost --hidden 100000000 --out n.safetensors
run "--steps 0" "$B" train --cost QuadraticCost --steps 0 --out n.safetensors
run "--lr -1" "$B" train --cost QuadraticCost --lr -1 --out n.safetensors
run "--batch 0" "$B" train --cost QuadraticCost --batch 0 --out n.safetensors
run "--head posterior, non-homogeneous cost" "$B" train --cost Linex --head posterior --out n.safetensors
run "output dir not writable" "$B" infer --data "$good" --cost QuadraticCost --closed-form --out /proc/nope
run "unknown option" "$B" infer $inf --bogus 3
rm -rf "$w"
