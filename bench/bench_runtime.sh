#!/bin/sh
# bench_runtime.sh: the inference and training steps of the benchmark models (bench_runtime.c),
# ours against PyTorch's (torch_peer.py) in the same run, with 2 threads and with 1 thread on
# each side, with ratios and the share of the sgemm peak. Usage: bench_runtime.sh BUILD_DIR
# (run from the repository root; BUILD_DIR holds bench-runtime). BENCH_MODELS and BENCH_THREADS
# choose a part (default: lstm mlp cnn vgg11; 2 1). Reported, never asserted.
set -eu
BUILD=${1:?usage: bench/bench_runtime.sh BUILD_DIR}
# Each side with the same number of threads: OpenBLAS's for ours, torch.set_num_threads for the
# peer, whose own OpenBLAS stays at one thread (with two, its workers and PyTorch's threads
# contend for the cores: measured slower overall). Times are the fastest repetition of each (the
# least disturbed by other work on the machine); "cpu ms" is the process CPU time of one
# repetition, all threads. On a loaded machine, `chrt -f 1 sh bench/bench_runtime.sh build`
# gives steadier numbers.
for threads in ${BENCH_THREADS:-2 1}; do
    echo "== runtime: inference and training steps, $threads thread(s) each side (same run) =="
    ours="$BUILD/bench-ours-$threads.txt" peer="$BUILD/bench-torch-$threads.txt"
    OPENBLAS_NUM_THREADS=$threads "$BUILD/bench-runtime" sgemm > "$ours"
    : > "$peer"
    for m in ${BENCH_MODELS:-lstm mlp cnn vgg11}; do
        OPENBLAS_NUM_THREADS=$threads "$BUILD/bench-runtime" $m >> "$ours"
        OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_peer.py $m $threads >> "$peer"
    done
    peak=$(awk '$1 == "sgemm_1024" { print $3 }' "$ours")
    printf '%-20s %9s %9s %8s %8s %7s %9s %9s %9s %9s\n' benchmark "ours ms" "torch ms" speedup \
        "GFLOP/s" "of peak" "ours cpu" "torch cpu" "ours MB" "torch MB"
    grep -v '^sgemm' "$ours" | while read -r name ms gf mb cpu; do
        awk -v n="$name" -v a="$ms" -v g="$gf" -v mb="$mb" -v c="$cpu" -v p="$peak" -v f="$peer" '
            BEGIN { while ((getline l < f) > 0) { split(l, x, " "); if (x[1] == n) { t = x[2]; tm = x[3]; tc = x[4] } }
                    printf "%-20s %9.2f %9.2f %7.2fx %8.1f %6.0f%% %9.2f %9.2f %9.0f %9.0f\n", n, a, t, t / a, g, 100 * g / p, c, tc, mb, tm }'
    done
    echo "(sgemm 1024^3 at $threads thread(s): $peak GFLOP/s; 'of peak' is the share of it)"
    echo
done
