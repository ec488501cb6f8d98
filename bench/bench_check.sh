#!/bin/sh
# bench_check.sh: times `surgery check` on a generated 10,000-statement script (target: under
# 50 ms wall time) and reports its CPU time and peak resident memory (from /usr/bin/time -v
# when installed, else from getrusage through bench/rusage.c).
# Usage: bench/bench_check.sh BINARY [STATEMENTS]
bin=${1:?usage: bench/bench_check.sh BINARY [STATEMENTS]}
n=${2:-10000}
dir=$(dirname "$0")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/surgery-bench.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
script="$tmp/bench.surgery"
sh "$dir/gen_script.sh" "$n" >"$script" || exit 2
${CC:-cc} -O2 -o "$tmp/rusage" "$dir/rusage.c" || exit 2

# The base model is absent on purpose: what is timed is the front end (scan, parse, include,
# lower, the model-independent checks) over the whole script; check then stops at the
# missing model file with exit status 1.
"$bin" check --color=never "$script" >/dev/null 2>"$tmp/err"
status=$?
if [ $status -ne 1 ] || ! grep -q "model.yaml" "$tmp/err" || [ "$(grep -c 'error:' "$tmp/err")" != 1 ]; then
    echo "bench_check: unexpected result (status $status):" >&2
    head -20 "$tmp/err" >&2
    exit 1
fi

runs=7
best_wall=
best_cpu=
i=0
while [ $i -lt $runs ]; do
    "$tmp/rusage" "$bin" check --color=never "$script" >/dev/null 2>"$tmp/ru"
    line=$(grep '^rusage:' "$tmp/ru")
    wall=$(echo "$line" | awk '{printf "%d", $3 * 1000}')
    cpu=$(echo "$line" | awk '{printf "%d", ($6 + $9) * 1000}')
    rss=$(echo "$line" | awk '{print $12}')
    if [ -z "$best_wall" ] || [ "$wall" -lt "$best_wall" ]; then best_wall=$wall; fi
    if [ -z "$best_cpu" ] || [ "$cpu" -lt "$best_cpu" ]; then best_cpu=$cpu; fi
    i=$((i + 1))
done
if [ -x /usr/bin/time ]; then
    /usr/bin/time -v "$bin" check --color=never "$script" >/dev/null 2>"$tmp/time"
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tmp/time")
    how="/usr/bin/time -v"
else
    how="getrusage"
fi
bytes=$(wc -c <"$script" | tr -d ' ')
printf 'surgery check, %s statements (%s bytes), best of %d runs: wall %d.%03d ms (target < 50 ms), cpu %d.%03d ms\n' \
    "$n" "$bytes" $runs $((best_wall / 1000)) $((best_wall % 1000)) $((best_cpu / 1000)) $((best_cpu % 1000))
echo "peak RSS: $rss kB ($how)"
[ $((best_wall / 1000)) -lt 50 ]
