#!/bin/sh
# bench_featurize.sh: `featurize` of a frozen MLP (784-1024-1024 frozen + output 10; 20,000 rows,
# batch 128) and a frozen LSTM (32->256 frozen + rnn_output 10; 2,000 sequences of 50 steps,
# batch 64) against PyTorch computing the same frozen part under no_grad (bench/torch_featurize.py,
# same weights, data and batch size), then `fit d epochs 5` from the cached features against the
# same fit through the frozen layers. Usage: bench_featurize.sh BINARY [RUNS]
bin=${1:?usage: bench/bench_featurize.sh BINARY [RUNS]}
runs=${2:-3}
py=/usr/bin/python3
peer="$(cd "$(dirname "$0")" && pwd)/torch_featurize.py"
if ! "$py" -c 'import numpy, torch' 2>/dev/null; then
    echo "bench_featurize: needs $py with numpy and torch (Debian: python3-torch)" >&2
    exit 2
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/surgery-bench-featurize.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
"$py" "$peer" gen "$tmp" || exit 2

# scripts NAME FROZEN BATCH: NAME_load (model and data declared, nothing run), NAME_feat
# (featurize), NAME_ffit (featurize, reused from the cache, then fit), NAME_fit (fit through the
# frozen layers).
scripts() {
    head="base \"$1.yaml\"
fine_tune { updater = sgd(learning_rate = 0.01) }
freeze through \"$2\"
data d = npy(\"$1_x.npy\", labels = \"$1_y.npy\") { classes = 10  batch = $3 }"
    printf '%s\n' "$head" >"$tmp/$1_load.surgery"
    printf '%s\nfeaturize d into "cache"\n' "$head" >"$tmp/$1_feat.surgery"
    printf '%s\nfeaturize d into "cache"\nfit d epochs 5\n' "$head" >"$tmp/$1_ffit.surgery"
    printf '%s\nfit d epochs 5\n' "$head" >"$tmp/$1_fit.surgery"
}
scripts mlp fc2 128
scripts lstm lstm1 64

# run_us SCRIPT: runs it (output in $tmp/log) and prints the wall time in microseconds.
run_us() {
    t0=$(date +%s%N)
    "$bin" run --color=never "$tmp/$1" >"$tmp/log" 2>&1 || {
        echo "bench_featurize: $1 failed:" >&2
        cat "$tmp/log" >&2
        exit 1
    }
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000))
}
median() {
    sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
# fit_s: the seconds of the last `fit` in $tmp/log ("fit d: ... (S s)").
fit_s() {
    sed -n 's/^fit d: [0-9]* iterations.*(\([0-9.]*\) s)$/\1/p' "$tmp/log" | tail -n 1
}

for m in mlp lstm; do
    : >"$tmp/$m.load"
    : >"$tmp/$m.feat"
    : >"$tmp/$m.ffit"
    i=0
    while [ "$i" -lt "$runs" ]; do
        run_us "${m}_load.surgery" >>"$tmp/$m.load" || exit 1
        rm -rf "$tmp/cache"
        sync
        run_us "${m}_feat.surgery" >>"$tmp/$m.feat" || exit 1
        grep -q 'featurize d: computed' "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
        run_us "${m}_ffit.surgery" >/dev/null || exit 1
        grep -q 'featurize d: reusing' "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
        fit_s >>"$tmp/$m.ffit"
        i=$((i + 1))
    done
    set -- "$tmp"/cache/*/
    "$py" "$peer" check "$tmp" "$1" "$m" >"$tmp/$m.diff" 2>&1 || {
        echo "bench_featurize: $m features differ from PyTorch's:" >&2
        cat "$tmp/$m.diff" >&2
        exit 1
    }
    # one fit through the frozen layers: 5 epochs of the whole forward pass
    run_us "${m}_fit.surgery" >/dev/null || exit 1
    fit_s >"$tmp/$m.fit"
    rm -rf "$tmp/cache"
done

OPENBLAS_NUM_THREADS=1 "$py" "$peer" run "$tmp" "$runs" >"$tmp/torch" 2>"$tmp/torch.err" || {
    cat "$tmp/torch.err" >&2
    exit 1
}

echo "featurize: ours (surgery run, minus the same run without featurize) vs PyTorch (no_grad, 2 threads), median of $runs"
for m in mlp lstm; do
    load=$(median <"$tmp/$m.load")
    feat=$(median <"$tmp/$m.feat")
    ffit=$(median <"$tmp/$m.ffit")
    fit=$(cat "$tmp/$m.fit")
    tline=$(grep "^${m}_featurize " "$tmp/torch")
    if [ "$m" = mlp ]; then what="MLP 784-1024-1024, 20000 rows, batch 128"; else what="LSTM 32->256, 2000 x 50 steps, batch 64"; fi
    echo "$tline" | awk -v w="$what" -v l="$load" -v f="$feat" -v d="$(cat "$tmp/$m.diff")" \
        '{ ours = (f - l) / 1e6; n = $3
           printf "  %s: ours %.3f s (%.0f ex/s), torch %.3f s (%.0f ex/s): ours %.2fx torch'"'"'s speed (max |diff| %s; whole run %.3f s)\n",
               w, ours, n / ours, $2, n / $2, $2 / ours, d, f / 1e6 }'
    awk -v m="$m" -v f="$ffit" -v t="$fit" -v feat="$feat" -v l="$load" 'BEGIN {
        fz = (feat - l) / 1e6
        printf "  fit %s epochs 5: from features %.2f s, through the frozen layers %.2f s: %.1fx faster (featurize + fit %.2f s: %.1fx)\n",
            m, f, t, t / f, fz + f, t / (fz + f) }'
done
echo "  (load average while measuring:$(uptime | sed 's/.*load average://'))"
