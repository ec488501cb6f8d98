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
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    echo "bench: installing python3-torch (the peer)"
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq python3-torch; else sudo apt-get install -y -qq python3-torch; fi
fi
sh bench/bench_runtime.sh "$BUILD"
# Edits on a VGG16-sized model and featurize: reported, never asserted; a failure is printed
# and the remaining benchmarks still run.
echo
echo "== widen + save of a 138M-parameter model (ours vs cp of its weights) =="
sh bench/bench_widen.sh "$SURGERY" || echo "bench: bench/bench_widen.sh failed"
echo
echo "== load + widen + save of a 138M-parameter DL4J zip (ours vs cp of the file) =="
sh bench/bench_dl4j.sh "$SURGERY" || echo "bench: bench/bench_dl4j.sh failed"
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
