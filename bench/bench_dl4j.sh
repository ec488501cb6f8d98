#!/bin/sh
# bench_dl4j.sh: times `surgery run` of load + `widen "fc1" by 64` + save of a DL4J zip (a
# MultiLayerNetwork of dense layers 25088-4096-4096-3584-1000, 137.8M float32 parameters, 551 MB
# of coefficients) against `cp` of that file, and reports the wall-time ratio (target <= 2x the
# copy: the coefficients are big-endian and column-major, so they are converted on the way in
# and out) and peak RSS / file size (target <= 1.5x). The file is written by surgery's DL4J
# writer (coefficients stored, as the writer always does); DL4J's own files deflate them, which
# adds their inflating to a load. Usage: bench_dl4j.sh BINARY [RUNS]
bin=${1:?usage: bench/bench_dl4j.sh BINARY [RUNS]}
runs=${2:-3}
if [ ! -x /usr/bin/time ]; then
    echo "bench_dl4j: installing time (peak RSS)"
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq time; else sudo apt-get install -y -qq time; fi
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/surgery-bench-dl4j.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

# The model: initialised from its seed by surgery, saved as a DL4J zip.
cat >"$tmp/big.yaml" <<'EOF2'
format: surgery-model/1
name: big
inputs:
  - {name: in, type: feed_forward, size: 25088}
layers:
  - {name: fc1, type: dense, n_out: 4096, activation: relu}
  - {name: fc2, type: dense, n_out: 4096, activation: relu}
  - {name: fc3, type: dense, n_out: 3584, activation: relu}
  - {name: out, type: output, n_out: 1000, activation: softmax, loss: mcxent}
outputs: [out]
init: {seed: 1, weight_init: xavier}
EOF2
printf 'base "big.yaml"\nsave "big.zip"\n' >"$tmp/make.surgery"
printf 'base "big.zip"\nwiden "fc1" by 64\nsave "out/wide.zip"\n' >"$tmp/widen.surgery"
"$bin" run -q --color=never "$tmp/make.surgery" || exit 1
file="$tmp/big.zip"
fbytes=$(wc -c <"$file" | tr -d ' ')
printf 'load + widen "fc1" by 64 + save of a 137.8M-parameter DL4J zip (%s MB), median of %s runs\n' \
    $((fbytes / 1000000)) "$runs"

bench=bench_dl4j
. "$(dirname "$0")/bench_lib.sh"

# Each command: one untimed run, then RUNS timed runs.
timed_runs "$tmp/ours" 'rm -rf "$tmp/out"; mkdir "$tmp/out"' "$bin" run -q --color=never "$tmp/widen.surgery"
timed_runs "$tmp/cp" 'rm -f "$tmp/copy.zip"' cp "$file" "$tmp/copy.zip"
rm -f "$tmp/copy.zip"
[ -s "$tmp/out/wide.zip" ] || { echo "bench_dl4j: no out/wide.zip written" >&2; exit 1; }
obytes=$(wc -c <"$tmp/out/wide.zip" | tr -d ' ')
awk -v a="$(median "$tmp/ours" 1)" -v b="$(median "$tmp/cp" 1)" -v k="$(median "$tmp/ours" 2)" \
    -v w="$fbytes" -v o="$obytes" 'BEGIN {
    printf "DL4J load+widen+save wall: ours %.3f s, cp %.3f s: %.2fx the copy (target <= 2x)\n", a / 1e6, b / 1e6, a / b
    printf "DL4J load+widen+save peak RSS: ours %.0f MB, file %.0f MB: %.2fx the file (target <= 1.5x); wrote %.0f MB\n",
        k * 1024 / 1e6, w / 1e6, k * 1024 / w, o / 1e6
}'
printf '  (runs in s: ours %s; cp %s)\n' "$(awk '{ printf " %.2f", $1 / 1e6 }' "$tmp/ours")" \
    "$(awk '{ printf " %.2f", $1 / 1e6 }' "$tmp/cp")"
echo "  (load average while measuring:$(uptime | sed 's/.*load average://'))"
