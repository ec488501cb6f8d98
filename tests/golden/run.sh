#!/bin/sh
# run.sh: golden diagnostics: runs `surgery check --color=never` on every tests/golden/*.surgery
# and compares stderr with NAME.expected and the exit status with NAME.status (default 1).
# NAME.args, when present, holds extra arguments. Usage (from the repo root): run.sh BINARY
bin=${1:?usage: tests/golden/run.sh BINARY}
dir=tests/golden
tmp=${TMPDIR:-/tmp}/surgery-golden.$$
mkdir -p "$tmp" || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0
fail=0
for script in "$dir"/*.surgery; do
    name=${script%.surgery}
    base=$(basename "$name")
    want_status=1
    [ -f "$name.status" ] && want_status=$(cat "$name.status")
    args=
    [ -f "$name.args" ] && args=$(cat "$name.args")
    # shellcheck disable=SC2086
    "$bin" check --color=never $args "$script" >"$tmp/stdout" 2>"$tmp/stderr"
    status=$?
    ok=1
    if [ ! -f "$name.expected" ]; then
        echo "FAIL $base: no $name.expected"
        ok=0
    elif ! cmp -s "$name.expected" "$tmp/stderr"; then
        echo "FAIL $base: stderr differs"
        diff -u "$name.expected" "$tmp/stderr" | sed 's/^/    /'
        ok=0
    fi
    if [ "$status" != "$want_status" ]; then
        echo "FAIL $base: exit status $status, expected $want_status"
        ok=0
    fi
    if [ $ok = 1 ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
