#!/bin/sh
# run.sh: every benchmark, ours and the peer's (PyTorch, Debian's python3-torch) in the same
# run, with ratios. Timings are reported, never asserted.
set -eu
SURGERY=$1
BUILD=$(dirname "$SURGERY")
cd "$(dirname "$0")/.."
# OpenBLAS (ours and PyTorch's alike) falls back to its generic Prescott kernel on processors it
# does not recognise; name the kernel the processor supports, for both sides, unless set.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    if grep -q avx512f /proc/cpuinfo 2>/dev/null; then OPENBLAS_CORETYPE=SkylakeX
    elif grep -q avx2 /proc/cpuinfo 2>/dev/null; then OPENBLAS_CORETYPE=Haswell
    fi
    [ -n "${OPENBLAS_CORETYPE:-}" ] && export OPENBLAS_CORETYPE
fi
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), OpenBLAS kernel ${OPENBLAS_CORETYPE:-as detected}"
echo
echo "== runtime: inference and training steps (ours vs PyTorch 2 threads, same run) =="
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    echo "bench: installing python3-torch (the peer)"
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq python3-torch; else sudo apt-get install -y -qq python3-torch; fi
fi
"$BUILD/bench-runtime" sgemm > "$BUILD/bench-ours.txt"
: > "$BUILD/bench-torch.txt"
for m in lstm mlp cnn vgg11; do
    "$BUILD/bench-runtime" $m >> "$BUILD/bench-ours.txt"
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_peer.py $m >> "$BUILD/bench-torch.txt"
done
peak=$(awk '$1 == "sgemm_1024" { print $3 }' "$BUILD/bench-ours.txt")
printf '%-20s %9s %9s %8s %8s %7s %9s %9s\n' benchmark "ours ms" "torch ms" speedup "GFLOP/s" "of peak" "ours MB" "torch MB"
grep -v '^sgemm' "$BUILD/bench-ours.txt" | while read -r name ms gf mb; do
    awk -v n="$name" -v a="$ms" -v g="$gf" -v mb="$mb" -v p="$peak" -v f="$BUILD/bench-torch.txt" '
        BEGIN { while ((getline l < f) > 0) { split(l, x, " "); if (x[1] == n) { t = x[2]; tm = x[3] } }
                printf "%-20s %9.2f %9.2f %7.2fx %8.1f %6.0f%% %9.0f %9.0f\n", n, a, t, t / a, g, 100 * g / p, mb, tm }'
done
echo "(sgemm 1024^3 on this machine: $peak GFLOP/s; 'of peak' is the share of it)"
# Edits on a VGG16-sized model and featurize: reported, never asserted; a failure is printed
# and the remaining benchmarks still run.
echo
echo "== widen + save of a 138M-parameter model (ours vs cp of its weights) =="
sh bench/bench_widen.sh "$SURGERY" || echo "bench: bench/bench_widen.sh failed"
echo
echo "== featurize and fit from features (ours vs PyTorch, 2 threads) =="
sh bench/bench_featurize.sh "$SURGERY" || echo "bench: bench/bench_featurize.sh failed"
for b in bench/bench_check.sh bench/bench_edit_check.sh bench/bench_onnx_import.sh \
         bench/bench_conv_edits.sh; do
    if [ -f "$b" ]; then
        echo
        sh "$b" "$SURGERY"
    fi
done
