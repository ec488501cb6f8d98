#!/bin/sh
# test_frontend.sh: check, fmt, compile, --help and --version end to end: exit statuses,
# messages, fmt -w rewriting atomically only when needed, fmt --check, and compile of a
# compiled .ir.yaml writing identical bytes.
bin=${1:?usage: test_frontend.sh BINARY}
src=tests/data/frontend
tmp=$(mktemp -d "${TMPDIR:-/tmp}/surgery-fe.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
cp "$src"/*.surgery "$src"/*.yaml "$src"/messy.formatted "$tmp"/ || exit 2
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# expect STATUS DESCRIPTION COMMAND...: runs COMMAND (stdout in $tmp/out, stderr in $tmp/err)
expect() {
    want=$1
    what=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" != "$want" ]; then
        fail "$what: exit status $got, expected $want"
        sed 's/^/    stderr: /' "$tmp/err"
    fi
}

contains() { # FILE TEXT DESCRIPTION
    grep -qF -- "$2" "$1" || { fail "$3: '$2' not found in:"; sed 's/^/    /' "$1"; }
}

empty() { # FILE DESCRIPTION
    [ ! -s "$1" ] || { fail "$2: expected no output, got:"; sed 's/^/    /' "$1"; }
}

# ---- --version and --help ----
expect 0 "--version" "$bin" --version
contains "$tmp/out" "surgery 0." "--version"
for cmd in check fmt compile; do
    expect 0 "$cmd --help" "$bin" $cmd --help
    contains "$tmp/out" "usage: surgery $cmd" "$cmd --help"
    contains "$tmp/out" "exit status" "$cmd --help"
    expect 2 "$cmd with an unknown option" "$bin" $cmd --bogus "$tmp/ok.surgery"
    contains "$tmp/err" "unknown option '--bogus'" "$cmd --bogus"
    expect 2 "$cmd with no script" "$bin" $cmd
done
expect 2 "did you mean for options" "$bin" check --verbos "$tmp/ok.surgery"
contains "$tmp/err" "did you mean '--verbose'" "check --verbos"

# ---- check ----
expect 0 "check of a valid script" "$bin" check "$tmp/ok.surgery"
empty "$tmp/out" "check prints nothing on success"
empty "$tmp/err" "check prints nothing on success"
expect 0 "check -v" "$bin" check -v "$tmp/ok.surgery"
contains "$tmp/out" "ok.surgery: ok" "check -v"
expect 0 "check of two scripts" "$bin" check "$tmp/ok.surgery" "$tmp/messy.surgery"
expect 1 "check of a script with syntax errors" "$bin" check --color=never "$tmp/bad.surgery"
contains "$tmp/err" "bad.surgery:3:1: error: unknown statement 'remvoe' (did you mean 'remove'?)" "syntax error"
contains "$tmp/err" "bad.surgery:4:20: error: expected 'after', found identifier 'aftr' (did you mean 'after'?)" "second syntax error"
contains "$tmp/err" "    3 | remvoe \"fc2\"" "source line"
contains "$tmp/err" "      | ^~~~~~" "caret"
expect 1 "check of a valid and an invalid script" "$bin" check "$tmp/ok.surgery" "$tmp/bad.surgery"
expect 2 "check of a missing script" "$bin" check "$tmp/no_such.surgery"
contains "$tmp/err" "surgery: error: cannot read" "missing script"
expect 0 "--set of a known parameter" "$bin" check --set hidden=10 "$tmp/ok.surgery"
expect 1 "--set changes the checked shapes" "$bin" check --color=never --set=hidden=12 "$tmp/ok.surgery"
contains "$tmp/err" "from 5 to 6 features" "--set hidden=12"
expect 2 "--set of an unknown parameter" "$bin" check --set hiden=10 "$tmp/ok.surgery"
contains "$tmp/err" "surgery: error: --set: unknown parameter 'hiden' (did you mean 'hidden'?)" "--set hiden"
expect 2 "--set without a value" "$bin" check --set hidden "$tmp/ok.surgery"
expect 1 "colour on request" "$bin" check --color=always "$tmp/bad.surgery"
contains "$tmp/err" "$(printf '\033[1;31merror:')" "--color=always"
expect 1 "no colour when not a terminal" "$bin" check "$tmp/bad.surgery"
if grep -q "$(printf '\033')" "$tmp/err"; then fail "--color=auto coloured a file"; fi
expect 2 "a bad --color value" "$bin" check --color=sometimes "$tmp/ok.surgery"

# ---- fmt ----
expect 0 "fmt prints the canonical form" "$bin" fmt "$tmp/messy.surgery"
cmp -s "$tmp/out" "$tmp/messy.formatted" || { fail "fmt output differs:"; diff "$tmp/messy.formatted" "$tmp/out" | sed 's/^/    /'; }
cp "$tmp/out" "$tmp/once.surgery"
expect 0 "fmt of formatted text" "$bin" fmt "$tmp/once.surgery"
cmp -s "$tmp/out" "$tmp/once.surgery" || fail "fmt is not idempotent"
expect 1 "fmt --check of an unformatted file" "$bin" fmt --check "$tmp/messy.surgery" "$tmp/once.surgery"
contains "$tmp/out" "messy.surgery" "fmt --check lists the file"
if grep -q "once.surgery" "$tmp/out"; then fail "fmt --check listed a formatted file"; fi
expect 0 "fmt --check of formatted files" "$bin" fmt --check "$tmp/once.surgery"
empty "$tmp/out" "fmt --check of a formatted file"
cp "$tmp/messy.surgery" "$tmp/rewrite.surgery"
before=$(ls -i "$tmp/rewrite.surgery" | cut -d' ' -f1)
expect 0 "fmt -w" "$bin" fmt -w "$tmp/rewrite.surgery"
empty "$tmp/out" "fmt -w prints nothing"
cmp -s "$tmp/rewrite.surgery" "$tmp/messy.formatted" || fail "fmt -w did not write the canonical form"
after=$(ls -i "$tmp/rewrite.surgery" | cut -d' ' -f1)
[ "$before" != "$after" ] || fail "fmt -w did not replace the file by a rename (same inode)"
leftovers=$(ls "$tmp" | grep -c 'tmp-')
[ "$leftovers" = 0 ] || fail "fmt -w left temporary files"
expect 0 "fmt -w of a formatted file" "$bin" fmt -w "$tmp/rewrite.surgery"
again=$(ls -i "$tmp/rewrite.surgery" | cut -d' ' -f1)
[ "$after" = "$again" ] || fail "fmt -w rewrote a file that was already formatted"
cp "$tmp/bad.surgery" "$tmp/bad_copy.surgery"
expect 1 "fmt -w of a file with syntax errors" "$bin" fmt -w --color=never "$tmp/bad_copy.surgery"
contains "$tmp/err" "bad_copy.surgery:3:1: error: unknown statement" "fmt reports syntax errors"
cmp -s "$tmp/bad.surgery" "$tmp/bad_copy.surgery" || fail "fmt -w changed a file with syntax errors"
expect 2 "fmt -w --check together" "$bin" fmt -w --check "$tmp/ok.surgery"
expect 2 "fmt of a missing file" "$bin" fmt "$tmp/no_such.surgery"

# ---- compile ----
expect 0 "compile" "$bin" compile "$tmp/ok.surgery" -o "$tmp/ok.ir.yaml"
[ -s "$tmp/ok.ir.yaml" ] || fail "compile wrote no IR"
contains "$tmp/ok.ir.yaml" "format: surgery-ir/1" "IR header"
expect 0 "compile of the compiled IR" "$bin" compile "$tmp/ok.ir.yaml" -o "$tmp/again.ir.yaml"
cmp -s "$tmp/ok.ir.yaml" "$tmp/again.ir.yaml" || { fail "compiling the IR again changed its bytes:"; diff "$tmp/ok.ir.yaml" "$tmp/again.ir.yaml" | head -20 | sed 's/^/    /'; }
expect 0 "check of the compiled IR" "$bin" check "$tmp/ok.ir.yaml"
expect 0 "compile with --set" "$bin" compile --set hidden=10 "$tmp/ok.surgery" --output="$tmp/set.ir.yaml"
expect 1 "compile of a script with errors" "$bin" compile "$tmp/bad.surgery" -o "$tmp/bad.ir.yaml"
[ ! -e "$tmp/bad.ir.yaml" ] || fail "compile wrote IR for a script with errors"
expect 2 "compile without -o" "$bin" compile "$tmp/ok.surgery"
expect 2 "compile to a name without .ir.yaml" "$bin" compile "$tmp/ok.surgery" -o "$tmp/ok.yaml"
[ ! -e "$tmp/ok.yaml" ] || fail "compile wrote to a bad output name"
expect 2 "compile of two scripts" "$bin" compile "$tmp/ok.surgery" "$tmp/messy.surgery" -o "$tmp/two.ir.yaml"
expect 2 "--set on compiled IR" "$bin" compile --set hidden=3 "$tmp/ok.ir.yaml" -o "$tmp/x.ir.yaml"
expect 4 "compile into a missing folder" "$bin" compile "$tmp/ok.surgery" -o "$tmp/no/such/dir/x.ir.yaml"

# ---- the shipped examples and the language's examples are in canonical form and check ----
expect 0 "examples are formatted (surgery fmt --check)" "$bin" fmt --check examples/*/*.surgery examples/digits/common/*.surgery
expect 0 "the example scripts that need no trained model check" "$bin" check --color=never \
    examples/char_lstm/train_base.surgery examples/digits/train_base.surgery

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all front-end checks passed"
