#!/bin/sh
# bench_edit_check.sh: times `surgery check` of a 50-edit script against a generated
# 1,000-layer architecture (target: under 20 ms for the whole process). The time is reported,
# not asserted; the exit status is non-zero only when the script fails to check.
# Usage: bench_edit_check.sh BINARY [RUNS]
bin=${1:?usage: bench/bench_edit_check.sh BINARY [RUNS]}
runs=${2:-21}
target_ms=20
tmp=${TMPDIR:-/tmp}/surgery-bench-edit.$$
mkdir -p "$tmp" || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

# The model: 1,000 layers. Ten blocks of 99 relu dense layers, each block ending in a merge
# of its last two layers' outputs, then the classifier.
awk 'BEGIN {
    print "format: surgery-model/1"
    print "name: deep"
    print "inputs:"
    print "  - name: in"
    print "    type: feed_forward"
    print "    size: 64"
    print "layers:"
    prev = "in"; n = 0
    for (b = 0; b < 10; b++) {
        for (i = 0; i < 98; i++) {
            name = sprintf("d%d", n++)
            printf "  - name: %s\n    type: dense\n    inputs: [%s]\n    n_out: 64\n    activation: relu\n", name, prev
            prev2 = prev; prev = name
        }
        name = sprintf("m%d", b)
        printf "  - name: %s\n    type: merge\n    inputs: [%s, %s]\n", name, prev2, prev
        prev = name
        name = sprintf("p%d", b)
        printf "  - name: %s\n    type: dense\n    inputs: [%s]\n    n_out: 64\n    activation: relu\n", name, prev
        prev = name
    }
    printf "  - name: out\n    type: output\n    inputs: [%s]\n    n_out: 10\n    activation: softmax\n    loss: mcxent\n", prev
    print "outputs: [out]"
    print "init: {seed: 1, weight_init: xavier}"
}' >"$tmp/deep.yaml"

# The script: 50 edits spread over the whole graph.
awk 'BEGIN {
    print "base \"deep.yaml\""
    print "fine_tune { updater = adam(learning_rate = 1e-4)  l2 = 1e-5 }"
    for (b = 0; b < 10; b++) {
        o = b * 98
        printf "widen \"d%d\" by 8\n", o + 10
        printf "narrow \"d%d\" to 48\n", o + 20
        printf "rename \"d%d\" to \"block%d_features\"\n", o + 30, b
        printf "insert dropout \"drop%d\" after \"d%d\" { dropout = 0.1 }\n", b, o + 40
        printf "deepen \"d%d\" with dense \"deep%d\"\n", o + 50, b
    }
    print "freeze through \"p4\""
}' >"$tmp/edits.surgery"
edits=$(grep -c -v -e '^base' -e '^fine_tune' -e '^freeze' "$tmp/edits.surgery")
layers=$(grep -c '^  - name: ' "$tmp/deep.yaml")
layers=$((layers - 1))

if ! "$bin" check --color=never "$tmp/edits.surgery"; then
    echo "bench_edit_check: the generated script does not check" >&2
    exit 1
fi
i=0
: >"$tmp/times"
while [ $i -lt "$runs" ]; do
    t0=$(date +%s%N)
    "$bin" check --color=never "$tmp/edits.surgery" || exit 1
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000)) >>"$tmp/times"
    i=$((i + 1))
done
median_us=$(sort -n "$tmp/times" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
verdict="within"
[ "$median_us" -lt $((target_ms * 1000)) ] || verdict="over"
echo "surgery check: $edits edits against $layers layers: median $((median_us / 1000)).$(printf '%03d' $((median_us % 1000))) ms over $runs runs, whole process ($verdict the $target_ms ms target)"
