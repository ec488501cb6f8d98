#!/bin/sh
# run.sh: every benchmark, ours and the peer's (PyTorch, Debian's python3-torch) in the same
# run, with ratios. Timings are reported, never asserted.
set -eu
SURGERY=$1
BUILD=$(dirname "$SURGERY")
cd "$(dirname "$0")/.."
echo "== runtime: inference and training steps (ours vs PyTorch, 2 threads) =="
"$BUILD/bench-runtime" > "$BUILD/bench-ours.txt"
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    echo "bench: installing python3-torch (the peer)"
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq python3-torch; else sudo apt-get install -y -qq python3-torch; fi
fi
OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_peer.py > "$BUILD/bench-torch.txt"
printf '%-22s %10s %10s %8s %10s\n' benchmark "ours ms" "torch ms" speedup "GFLOP/s"
while read -r name ms gf; do
    t=$(awk -v n="$name" '$1 == n { print $2 }' "$BUILD/bench-torch.txt")
    awk -v n="$name" -v a="$ms" -v b="$t" -v g="$gf" \
        'BEGIN { printf "%-22s %10.2f %10.2f %7.2fx %10.1f\n", n, a, b, b / a, g }'
done < "$BUILD/bench-ours.txt"
echo "(sgemm peak on this machine: ~97 GFLOP/s on 1 thread, ~195 on 2)"
# Edits on a VGG16-sized model and featurize: reported, never asserted; a failure is printed
# and the remaining benchmarks still run.
echo
echo "== widen + save of a 138M-parameter model (ours vs cp of its weights) =="
sh bench/bench_widen.sh "$SURGERY" || echo "bench: bench/bench_widen.sh failed"
echo
echo "== featurize and fit from features (ours vs PyTorch, 2 threads) =="
sh bench/bench_featurize.sh "$SURGERY" || echo "bench: bench/bench_featurize.sh failed"
for b in bench/bench_check.sh bench/bench_edit_check.sh; do
    if [ -f "$b" ]; then
        echo
        sh "$b" "$SURGERY"
    fi
done
