#!/bin/sh
# test_out_of_memory.sh: running out of memory is exit status 4 for every command, with an
# "out of memory" error (naming the file where there is one), never an abort or a syntax
# error: a 13 MB script and a 7 MB model YAML (generated here) read under an address-space
# limit that the binary starts in but their parse passes. Skipped for a binary that cannot
# start under the limit (a sanitizer build reserves terabytes of address space).
# Usage: test_out_of_memory.sh SURGERY
set -u
NAME=test_out_of_memory
. "$(dirname "$0")/lib.sh"
export OPENBLAS_NUM_THREADS=1   # OpenBLAS's own threads retry a failed mmap forever
LIMIT_KB=100000

if ! (ulimit -v $LIMIT_KB && exec "$BIN" --version) >/dev/null 2>&1; then
    echo "$NAME: skipped: $BIN does not start within $LIMIT_KB KB of address space"
    exit 0
fi

awk 'BEGIN { print "surgery 1"; print "base \"m.yaml\""
    for (i = 0; i < 150000; i++)
        printf "freeze \"layer_%d_with_a_name_long_enough_to_take_memory_xxxxxxxxxxxxxxxxxxxxxxxx\"\n", i }' \
    >"$TMP/big.surgery"
awk 'BEGIN { print "format: surgery-model/1\nname: deep\ninputs:\n  - {name: in, type: feed_forward, size: 2}\nlayers:"
    prev = "in"
    for (i = 0; i < 90000; i++) {
        printf "  - {name: l%d, type: dense, inputs: [%s], n_out: 2, activation: relu}\n", i, prev
        prev = "l" i
    }
    print "outputs: [" prev "]" }' >"$TMP/deep.yaml"
printf '1,2\n' >"$TMP/x.csv"

limited() { sh -c 'ulimit -v '$LIMIT_KB' && exec "$@"' sh "$@"; }

cd "$TMP" || exit 1
for cmd in check plan run fmt; do
    expect_status 4 "$cmd of a script too large for memory" limited "$BIN" $cmd big.surgery
    expect_in "$TMP/err" "error: out of memory" "$cmd's message"
done
expect_status 4 "compile of a script too large for memory" limited "$BIN" compile big.surgery -o big.ir.yaml
expect_in "$TMP/err" "error: out of memory" "compile's message"
[ ! -e big.ir.yaml ] && ok || bad "compile left big.ir.yaml"
expect_status 4 "summary of a model too large for memory" limited "$BIN" summary deep.yaml
expect_in "$TMP/err" "deep.yaml: error: out of memory" "summary's message"
expect_status 4 "predict with a model too large for memory" limited "$BIN" predict deep.yaml --input x.csv -o y.csv
expect_in "$TMP/err" "deep.yaml: error: out of memory" "predict's message"
[ ! -e y.csv ] && ok || bad "predict left y.csv"
# Without the limit the same files are read: the script's errors are its own (status 1).
expect_status 1 "check of the script with memory to spare" "$BIN" check big.surgery
finish
