#!/bin/sh
# run.sh: runs the libFuzzer targets one after another, each for a set time from a copy of
# its seed corpus, and prints how many inputs each executed; fails on the first finding.
#   sh tests/fuzz/run.sh --available        exit 0 when clang can build a libFuzzer target,
#                                           else print why not and exit 1
#   sh tests/fuzz/run.sh BUILD SECONDS NAME...   run BUILD/fuzz-NAME for SECONDS each
set -u
here=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = "--available" ]; then
    if ! command -v clang >/dev/null 2>&1; then
        echo "fuzz: skipped: clang is not installed (make fuzz installs it)"
        exit 1
    fi
    probe=$(mktemp -d "${TMPDIR:-/tmp}/surgery-fuzz-probe.XXXXXX")
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
        >"$probe/probe.c"
    if ! clang -fsanitize=fuzzer,address,undefined -o "$probe/probe" "$probe/probe.c" \
        >"$probe/log" 2>&1; then
        echo "fuzz: skipped: clang cannot link libFuzzer (Debian's libclang-rt-14-dev; make fuzz installs it):"
        sed -n 1,3p "$probe/log"
        rm -rf "$probe"
        exit 1
    fi
    rm -rf "$probe"
    exit 0
fi

build=$1
seconds=$2
shift 2
status=0
for name in "$@"; do
    work="$build/fuzz-corpus/$name"
    mkdir -p "$work" "$build/fuzz-findings"
    if [ -d "$here/corpus/$name" ]; then
        cp "$here/corpus/$name"/* "$work"/ 2>/dev/null
    fi
    log="$build/fuzz-$name.log"
    # -rss_limit_mb stays under what ASan itself needs on this size of machine; a hang is
    # an input taking longer than -timeout seconds.
    "$build/fuzz-$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/fuzz-findings/$name-" \
        "$work" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ "$rc" -ne 0 ]; then
        echo "fuzz $name: FAILED after ${runs:-?} runs (exit $rc); log $log, input in $build/fuzz-findings/:"
        grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -8
        status=1
    else
        echo "fuzz $name: ${runs:-?} runs in ${seconds} s, no finding"
    fi
done
exit $status
