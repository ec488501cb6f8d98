# bench_lib.sh: what the file benchmarks share, sourced after setting `tmp` (their scratch
# folder) and `bench` (their name, for messages).
#   time_cmd FILE CMD...   appends "MICROSECONDS PEAK_RSS_KB" of one run of CMD to FILE
#   median FILE COLUMN     the median of that column of FILE
time_cmd() {
    f=$1
    shift
    sync    # earlier runs' dirty pages written back first (nothing is dropped from the cache)
    t0=$(date +%s%N)
    /usr/bin/time -f %M -o "$tmp/rss" "$@" >/dev/null 2>"$tmp/err" || {
        echo "$bench: failed: $*" >&2
        cat "$tmp/err" >&2
        exit 1
    }
    t1=$(date +%s%N)
    echo "$(((t1 - t0) / 1000)) $(tail -n 1 "$tmp/rss")" >>"$f"
}
median() {
    sort -n -k "$2,$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { print v[int((NR + 1) / 2)] }'
}
# timed_runs FILE PREPARE CMD...: evaluates PREPARE (a shell command: clearing the outputs) and
# runs CMD once untimed (into $tmp/warm), then `runs` times timed into FILE, so that every timed
# run follows a run of the same command.
timed_runs() {
    out=$1 prep=$2
    shift 2
    : >"$out"
    k=0
    while [ "$k" -le "$runs" ]; do
        eval "$prep"
        if [ "$k" -eq 0 ]; then time_cmd "$tmp/warm" "$@"; else time_cmd "$out" "$@"; fi
        k=$((k + 1))
    done
}
