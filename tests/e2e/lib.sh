# lib.sh: what the end-to-end scripts share, sourced after setting NAME: the binary from $1
# (made absolute), a temporary folder $TMP removed on exit, and counted checks.
#   expect_status WANT LABEL CMD...  runs CMD with stdout in $TMP/out, stderr in $TMP/err
#   expect_in FILE TEXT LABEL        FILE contains TEXT
#   ok / bad MESSAGE                 count a check by hand
#   write_mlp FILE NAME INPUT SIZE H1 H2 CLASSES SEED
#                                    a model: two relu dense layers, a softmax output
#   train_digit_cnn LIMIT            fits examples/digits_images/base.yaml for one epoch on LIMIT
#                                    digit images 0-4, saved as $TMP/trained/base.yaml
#   close_csv GOT WANT TOL           two CSV files agree field by field within TOL (the
#                                    differences printed)
#   finish                           prints "NAME: N passed, M failed" and sets the status
BIN=${1:?usage: $NAME path/to/surgery}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
TMP=$(mktemp -d "/tmp/surgery-e2e-$NAME-XXXXXX")
trap 'chmod -R u+w "$TMP" 2>/dev/null; rm -rf "$TMP"' EXIT INT TERM
fails=0
passes=0

ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

expect_status() {
    want=$1 label=$2
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok; else bad "$label: exit $got, want $want; stderr:"; cat "$TMP/err"; fi
}

expect_in() {
    if grep -qF -- "$2" "$1"; then ok; else bad "$3: '$2' not in $1:"; cat "$1"; fi
}

write_mlp() {
    cat >"$1" <<EOF
format: surgery-model/1
name: $2
inputs:
  - {name: $3, type: feed_forward, size: $4}
layers:
  - {name: fc1, type: dense, inputs: [$3], n_out: $5, activation: relu}
  - {name: fc2, type: dense, inputs: [fc1], n_out: $6, activation: relu}
  - {name: out, type: output, inputs: [fc2], n_out: $7, activation: softmax, loss: mcxent}
outputs: [out]
init: {seed: $8, weight_init: relu}
EOF
}

train_digit_cnn() {
    cp "$(pwd)/examples/digits_images/base.yaml" "$TMP/base.yaml"
    cat >"$TMP/train.surgery" <<END
base "base.yaml"
fine_tune { updater = adam(learning_rate = 1e-2)  seed = 3 }
data train = images("$(pwd)/examples/data/digit_images/0to4/train/") { channels = 1  batch = 32  limit = $1 }
fit train epochs 1
save "trained/base.yaml"
END
    expect_status 0 "train the convolutional base" "$BIN" run -q "$TMP/train.surgery"
}

close_csv() {
    awk -F, -v tol="$3" '
        NR == FNR { for (i = 1; i <= NF; i++) want[FNR, i] = $i; nf[FNR] = NF; rows = FNR; next }
        { seen++
          if (NF != nf[FNR]) { print "row " FNR ": " NF " fields, want " nf[FNR]; bad = 1; next }
          for (i = 1; i <= NF; i++) { d = $i - want[FNR, i]; if (d < 0) d = -d
              if (d > tol) { print "row " FNR " field " i ": " $i " != " want[FNR, i]; bad = 1 } } }
        END { if (seen != rows) { print seen " rows, want " rows; bad = 1 } exit bad }' "$2" "$1"
}

finish() {
    echo "$NAME: $passes passed, $fails failed"
    [ "$fails" -eq 0 ]
}
