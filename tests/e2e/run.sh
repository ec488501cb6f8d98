#!/bin/sh
# run.sh: runs every tests/e2e/test_*.sh with the binary as $1 (from the repo root), prints
# each failure's output, ends with 'N passed, M failed' and exits non-zero on any failure.
bin=${1:?usage: tests/e2e/run.sh BINARY}
case $bin in
    /*) ;;
    *) bin=$(pwd)/$bin ;;
esac
pass=0
fail=0
tmp=${TMPDIR:-/tmp}/surgery-e2e-out.$$
trap 'rm -f "$tmp"' EXIT INT TERM
for t in tests/e2e/test_*.sh; do
    [ -f "$t" ] || continue
    if sh "$t" "$bin" >"$tmp" 2>&1; then
        echo "ok   $t"
        pass=$((pass + 1))
    else
        echo "FAIL $t"
        sed 's/^/    /' "$tmp"
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
