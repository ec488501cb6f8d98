#!/bin/sh
# test_plan.sh: `surgery plan` end to end: the before/after table (shapes, parameter counts,
# states, trainable and frozen totals), --set, --dot (valid Graphviz, styled states, written
# atomically), colours, and the failures: exit statuses, no table and no DOT file on errors.
# Usage: test_plan.sh SURGERY
set -u
NAME=test_plan
. "$(dirname "$0")/lib.sh"
D=$(pwd)/tests/data/edit

expect_not_in() {   # expect_not_in FILE TEXT NAME
    if grep -qF -- "$2" "$1"; then bad "$3: '$2' unexpectedly in $1:"; cat "$1"; else ok; fi
}

# row LAYER: the table row of a layer (first field = name), spaces squeezed.
row() { awk -v n="$1" '$1 == n' "$TMP/out" | tr -s ' ' | sed 's/^ //'; }

expect_row() {   # expect_row LAYER WANT
    got=$(row "$1")
    if [ "$got" = "$2" ]; then ok; else bad "row $1: got '$got', want '$2'"; cat "$TMP/out"; fi
}

cat >"$TMP/edits.surgery" <<EOF
base "$D/merge.yaml"
param extra = 2
widen "a" by extra
rename "fc2" to "linear"
deepen "joined" with dense "mix"
remove "b" keep connections
add dense "b" from "in" { n_out = 3  activation = relu }
insert dropout "d" after "fc" { dropout = 0.2 }
freeze through "a"
EOF

# ---- the table ----
expect_status 0 "plan" "$BIN" plan --color=never "$TMP/edits.surgery"
expect_in "$TMP/out" "plan for $TMP/edits.surgery: 7 layers before, 9 after" "plan header"
expect_row a "a dense 6 -> 4 6 -> 6 28 42 widened, frozen"
expect_row b "b dense 6 -> 3 6 -> 3 21 21 replaced (new weights)"
expect_row joined "joined merge -> 7 -> 9 0 0 kept"
expect_row mix "mix dense - 9 -> 9 - 90 new"
expect_row fc "fc dense 7 -> 5 9 -> 5 40 50 kept, inputs widened"
expect_row d "d dropout - 5 -> 5 - 0 new"
expect_row linear "linear dense 7 -> 5 9 -> 5 40 50 renamed, was 'fc2'"
expect_row out "out output 5 -> 2 5 -> 2 12 12 kept"
expect_row trainable "trainable 141 223"
expect_row frozen "frozen 0 42"
expect_row total "total 141 265"
expect_not_in "$TMP/out" "$(printf '\033')" "no colour with --color=never"
if [ -s "$TMP/err" ]; then bad "plan wrote to stderr:"; cat "$TMP/err"; else ok; fi

# --set changes a parameter; the widened width follows it
expect_status 0 "plan --set" "$BIN" plan --color=never --set extra=5 "$TMP/edits.surgery"
expect_row a "a dense 6 -> 4 6 -> 9 28 63 widened, frozen"

# removed layers, resized ones, frozen totals
cat >"$TMP/cut.surgery" <<EOF
base "$D/mlp.yaml"
remove output
resize "fc1" n_out 10
add output "head" from "fc2" { n_out = 4  activation = softmax  loss = mcxent }
freeze "fc1"
EOF
expect_status 0 "plan removed" "$BIN" plan --color=never "$TMP/cut.surgery"
expect_row fc1 "fc1 dense 6 -> 8 6 -> 10 56 70 resized (re-initialised), frozen"
expect_row fc2 "fc2 dense 8 -> 5 10 -> 5 45 55 resized (re-initialised)"
expect_row head "head output - 5 -> 4 - 24 new"
expect_row out "out output 5 -> 3 - 18 - removed"
expect_row trainable "trainable 119 79"
expect_row frozen "frozen 0 70"

# colours on request: states coloured, diagnostics too
expect_status 0 "plan --color=always" "$BIN" plan --color=always "$TMP/cut.surgery"
expect_in "$TMP/out" "$(printf '\033[32m')new" "new layers in green"
expect_in "$TMP/out" "$(printf '\033[31m')removed" "removed layers in red"

# ---- --dot ----
expect_status 0 "plan --dot" "$BIN" plan --color=never "$TMP/edits.surgery" --dot "$TMP/plan.dot"
if [ -s "$TMP/plan.dot" ]; then ok; else bad "--dot wrote nothing"; fi
expect_in "$TMP/plan.dot" "digraph plan {" "dot header"
expect_in "$TMP/plan.dot" '"mix" [label="mix\ndense 9 -> 9\nnew", style="rounded,filled", fillcolor="#d9ead3"' "new layer styled green"
expect_in "$TMP/plan.dot" '"a" [label="a\ndense 6 -> 4  =>  6 -> 6\nwidened, frozen", style="rounded,filled", fillcolor="#cfe2f3"' "frozen layer styled blue"
expect_in "$TMP/plan.dot" '"linear" [label="linear\ndense 7 -> 5  =>  9 -> 5\nrenamed, was '"'"'fc2'"'"'", style="rounded,filled", fillcolor="#fff2cc"' "changed layer styled amber"
expect_in "$TMP/plan.dot" 'peripheries=2' "outputs double-bordered"
expect_in "$TMP/plan.dot" '"joined" -> "mix";' "edges of the edited graph"
expect_in "$TMP/plan.dot" '"in" [shape=ellipse' "inputs drawn"
expect_status 0 "plan --dot removed" "$BIN" plan --color=never "$TMP/cut.surgery" --dot="$TMP/cut.dot"
expect_in "$TMP/cut.dot" '"out" [label="out\noutput 5 -> 3\nremoved", style="rounded,dashed"' "removed layer dashed"
expect_in "$TMP/cut.dot" '"fc2" -> "out" [style=dashed, color="#cc0000"];' "removed layer's former edge"
if command -v dot >/dev/null 2>&1; then
    if dot -Tsvg "$TMP/plan.dot" -o "$TMP/plan.svg" && dot -Tsvg "$TMP/cut.dot" -o "$TMP/cut.svg"; then ok; else bad "dot rejects the DOT files"; fi
fi
if ls "$TMP" | grep -q 'tmp-'; then bad "temporary files left behind: $(ls "$TMP")"; else ok; fi

# ---- failures ----
cat >"$TMP/bad.surgery" <<EOF
base "$D/mlp.yaml"
widen "fc9" by 2
EOF
rm -f "$TMP/bad.dot"
expect_status 1 "plan of a bad script" "$BIN" plan --color=never "$TMP/bad.surgery" --dot "$TMP/bad.dot"
expect_in "$TMP/err" "bad.surgery:2:7: error: unknown layer 'fc9' (did you mean 'fc1'?)" "error reported"
if [ -s "$TMP/out" ]; then bad "a table was printed for a bad script:"; cat "$TMP/out"; else ok; fi
if [ -e "$TMP/bad.dot" ]; then bad "a DOT file was written for a bad script"; else ok; fi

# a DOT file whose folder is a regular file: unwritable even for root
printf 'not a folder\n' >"$TMP/notdir"
before=$(ls "$TMP")
expect_status 4 "plan --dot unwritable" "$BIN" plan --color=never "$TMP/edits.surgery" --dot "$TMP/notdir/plan.dot"
expect_in "$TMP/err" "surgery plan: error:" "unwritable DOT reported"
expect_in "$TMP/err" "$TMP/notdir/plan.dot" "the unwritable DOT file named"
if [ "$(cat "$TMP/notdir")" = "not a folder" ]; then ok; else bad "the file in the way was changed"; fi
if [ "$(ls "$TMP")" = "$before" ]; then ok; else bad "files left behind: $(ls "$TMP")"; fi

expect_status 0 "plan --help" "$BIN" plan --help
expect_in "$TMP/out" "usage: surgery plan SCRIPT" "help text"
expect_in "$TMP/out" "--dot FILE" "help mentions --dot"
expect_status 2 "plan without a script" "$BIN" plan
expect_status 2 "plan --dott" "$BIN" plan --dott x "$TMP/edits.surgery"
expect_in "$TMP/err" "unknown option '--dott'" "unknown option reported"
expect_status 2 "plan --dot without a file" "$BIN" plan "$TMP/edits.surgery" --dot
expect_status 2 "plan of two scripts" "$BIN" plan "$TMP/edits.surgery" "$TMP/cut.surgery"

# coupled channels: the plan lists the group a widen or narrow changes together
cp "$(pwd)/tests/data/edit/cat.yaml" "$TMP/cat.yaml"
printf 'base "cat.yaml"\nwiden "c2" by 2\nnarrow "e1" to 2\n' >"$TMP/coupled.surgery"
expect_status 0 "plan of coupled edits" "$BIN" plan --color=never "$TMP/coupled.surgery"
expect_in "$TMP/out" "coupled channels (changed together):" "the plan has a coupled section"
expect_in "$TMP/out" 'line 2  widen "c2":  c2, g  (meeting in multiply '"'gate'"')' "the group of the widen"
if grep -q 'narrow "e1"' "$TMP/out"; then bad "an uncoupled narrow listed as a group"; else ok; fi
expect_in "$TMP/out" "4 x 6 x 6 -> 8 x 6 x 6" "the concatenation's channels after the edits, C x H x W"

finish
