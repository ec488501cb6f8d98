#!/bin/sh
# check-layering.sh: reads every #include "..." line of compiler/, runtime/, cli/ and grammar/
# and fails, naming the file and line, on an include of a higher or sibling layer than
# tools/layers.txt allows, on an include that names no file of the tree, and on a cycle between
# files (x.c, x.h and x_impl.h, the private header of x's parts, count as one unit: a cycle is
# units that include each other's headers, directly or through others; the headers bison and
# flex generate are left out). tools/layering-allow.txt lists the cycles still accepted.
#
#   sh tools/check-layering.sh [ROOT]      check the tree at ROOT (default: .)
#   sh tools/check-layering.sh --self-check
#       copies the tree to a temporary folder and makes sure the check passes on the copy and
#       fails, naming the culprit, once a forbidden include, a cycle or an unknown include is
#       added to it.
set -eu

check() {
    root=$1
    layers=$root/tools/layers.txt
    allow=$root/tools/layering-allow.txt
    [ -f "$layers" ] || { echo "check-layering: $layers is missing" >&2; return 2; }
    [ -f "$allow" ] || allow=/dev/null
    files=$(mktemp) includes=$(mktemp)
    (cd "$root" && find compiler runtime cli grammar -type f \
        \( -name '*.c' -o -name '*.h' -o -name '*.y' -o -name '*.l' \) | LC_ALL=C sort) >"$files"
    (cd "$root" && while read -r f; do
        grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | sed "s|^|$f:|" || true
    done) <"$files" >"$includes"
    status=0
    awk -v layers="$layers" -v allow="$allow" -v files="$files" \
        -f "$script_dir/check-layering.awk" "$layers" "$allow" "$files" "$includes" || status=$?
    rm -f "$files" "$includes"
    return $status
}

# Runs the check on $1 and expects status $2 and, when given, the text $3 in its output.
expect() {
    out=$(check "$1" 2>&1) && got=0 || got=$?
    if [ "$got" != "$2" ]; then
        echo "check-layering self-check: expected status $2, got $got, for: $4" >&2
        echo "$out" >&2
        return 1
    fi
    if [ -n "$3" ] && ! printf '%s\n' "$out" | grep -qF -- "$3"; then
        echo "check-layering self-check: expected '$3' in the report for: $4" >&2
        echo "$out" >&2
        return 1
    fi
}

self_check() {
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    cp -R compiler runtime cli grammar "$tmp/"
    mkdir "$tmp/tools"
    cp tools/layers.txt "$tmp/tools/"
    [ ! -f tools/layering-allow.txt ] || cp tools/layering-allow.txt "$tmp/tools/"
    expect "$tmp" 0 "" "the tree as it is"

    # A base helper reaching up into the compiler.
    cp "$tmp/runtime/base/util.h" "$tmp/util.h.orig"
    echo '#include "compiler/check.h"' >>"$tmp/runtime/base/util.h"
    line=$(wc -l <"$tmp/runtime/base/util.h" | tr -d ' ')
    expect "$tmp" 1 "runtime/base/util.h:$line: #include \"compiler/check.h\"" "a forbidden include"
    cp "$tmp/util.h.orig" "$tmp/runtime/base/util.h"

    # Two files of one folder that include each other's headers.
    cp "$tmp/runtime/tensor/npy.h" "$tmp/npy.h.orig"
    cp "$tmp/runtime/tensor/tensor_csv.c" "$tmp/tensor_csv.c.orig"
    echo '#include "runtime/tensor/tensor_csv.h"' >>"$tmp/runtime/tensor/npy.h"
    echo '#include "runtime/tensor/npy.h"' >>"$tmp/runtime/tensor/tensor_csv.c"
    expect "$tmp" 1 "cycle: runtime/tensor/npy -> runtime/tensor/tensor_csv -> runtime/tensor/npy" \
        "a cycle between two units"
    cp "$tmp/npy.h.orig" "$tmp/runtime/tensor/npy.h"
    cp "$tmp/tensor_csv.c.orig" "$tmp/runtime/tensor/tensor_csv.c"

    # An include that is not written from the repository root.
    echo '#include "tensor.h"' >>"$tmp/runtime/tensor/npy.c"
    expect "$tmp" 1 "runtime/tensor/npy.c:" "an include naming no file"
    echo "check-layering self-check: OK"
}

script_dir=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = "--self-check" ]; then
    self_check
else
    check "${1:-.}"
fi
