#!/bin/sh
# test_run.sh: `surgery run` end to end on the digits example: the base model's files are never
# written, reruns give identical bytes, a compiled .ir.yaml runs to the same bytes, the
# featurize cache is reused, and each failure has its exit status and leaves no output.
# Usage: test_run.sh SURGERY
set -u
NAME=test_run
. "$(dirname "$0")/lib.sh"
ROOT=$(pwd)

cp "$ROOT/examples/digits/base.yaml" "$TMP/base.yaml"
TRAIN=$ROOT/examples/data/digits_0to4_train.csv
TEST=$ROOT/examples/data/digits_0to4_test.csv
NEW_TRAIN=$ROOT/examples/data/digits_5to9_train.csv
NEW_TEST=$ROOT/examples/data/digits_5to9_test.csv

cat >"$TMP/train.surgery" <<END
base "base.yaml"
fine_tune { updater = adam(learning_rate = 1e-2)  seed = 3  dropout = 0.1 }
data train = csv("$TRAIN") { label = 64  classes = 5  batch = 32  shuffle = true  normalize = minmax }
data test = csv("$TEST") { label = 64  classes = 5  batch = 64 }
fit train epochs 3
expect accuracy(test) >= 0.8
save "trained/base.yaml"
END
expect_status 0 "train the base" "$BIN" run -q "$TMP/train.surgery"
if [ -f "$TMP/trained/base.yaml" ] && [ -f "$TMP/trained/base.safetensors" ]; then ok; else bad "save wrote no pair"; fi
expect_in "$TMP/trained/base.yaml" "weights: base.safetensors" "the YAML names its weights"
cp "$TMP/trained/base.safetensors" "$TMP/first.safetensors"
expect_status 0 "train again" "$BIN" run -q "$TMP/train.surgery"
if cmp -s "$TMP/first.safetensors" "$TMP/trained/base.safetensors"; then ok; else bad "a rerun gave other weights"; fi

cat >"$TMP/transfer.surgery" <<END
base "trained/base.yaml"
fine_tune { updater = nesterovs(learning_rate = 5e-2, momentum = 0.9)  seed = 12345 }
param threshold = 0.5
freeze through "fc2"
remove "predictions" keep connections
add output "predictions" from "fc2" { n_out = 5  activation = softmax  loss = negative_log_likelihood }
data train = csv("$NEW_TRAIN") { label = 64  classes = 5  batch = 15  shuffle = true  limit = 300 }
data test = csv("$NEW_TEST") { label = 64  classes = 5  batch = 128 }
featurize train into "cache"
fit train iterations 30
evaluate test
expect accuracy(test) >= threshold
save "saved/transfer.yaml"
END
sums() { sha256sum "$TMP/trained/base.yaml" "$TMP/trained/base.safetensors"; }
sums >"$TMP/base.sums"
expect_status 0 "transfer" "$BIN" run "$TMP/transfer.surgery"
expect_in "$TMP/out" "featurize train: computed" "first featurize computes"
expect_in "$TMP/out" "from cached features" "fit uses the cache"
cp "$TMP/saved/transfer.safetensors" "$TMP/transfer1.safetensors"
expect_status 0 "transfer again" "$BIN" run "$TMP/transfer.surgery"
expect_in "$TMP/out" "reusing the cached features" "second featurize reuses"
if cmp -s "$TMP/transfer1.safetensors" "$TMP/saved/transfer.safetensors"; then ok; else bad "reusing the cache changed the weights"; fi
if sums | cmp -s - "$TMP/base.sums"; then ok; else bad "the base model's files changed"; fi

# the compiled IR runs to the same bytes
expect_status 0 "compile" "$BIN" compile "$TMP/transfer.surgery" -o "$TMP/transfer.ir.yaml"
rm -rf "$TMP/saved"
expect_status 0 "run the IR" "$BIN" run -q "$TMP/transfer.ir.yaml"
if cmp -s "$TMP/transfer1.safetensors" "$TMP/saved/transfer.safetensors"; then ok; else bad "the IR run gave other weights"; fi

# a durable save (--sync) writes the same bytes
rm -rf "$TMP/saved"
expect_status 0 "run --sync" "$BIN" run -q --sync "$TMP/transfer.surgery"
if cmp -s "$TMP/transfer1.safetensors" "$TMP/saved/transfer.safetensors"; then ok; else bad "--sync gave other weights"; fi
if ! ls "$TMP/saved" | grep -q tmp-; then ok; else bad "--sync left a temporary"; fi
expect_status 2 "--sync takes no value" "$BIN" run -q --sync=yes "$TMP/transfer.surgery"

# an expect that fails: status 3, and the save after it does not run
rm -rf "$TMP/saved"
expect_status 3 "expect not met" "$BIN" run -q "$TMP/transfer.surgery" --set threshold=0.999
expect_in "$TMP/err" "expectation not met: accuracy(test)" "expect names the metric"
if [ ! -e "$TMP/saved/transfer.yaml" ]; then ok; else bad "a failed expect still saved"; fi

# expect on the loss: a met and an unmet bound
sed 's/expect accuracy(test) >= threshold/expect loss(test) <= threshold/' "$TMP/transfer.surgery" >"$TMP/loss.surgery"
expect_status 0 "expect loss met" "$BIN" run -q "$TMP/loss.surgery" --set threshold=5
expect_status 3 "expect loss not met" "$BIN" run -q "$TMP/loss.surgery" --set threshold=0.001
expect_in "$TMP/err" "expectation not met: loss(test)" "expect names the loss"
rm -rf "$TMP/saved"

# script errors: status 1, nothing runs
sed 's/from "fc2"/from "fc9"/' "$TMP/transfer.surgery" >"$TMP/broken.surgery"
expect_status 1 "script error" "$BIN" run "$TMP/broken.surgery"
expect_in "$TMP/err" "broken.surgery:6:" "the error names the script line"
if [ ! -e "$TMP/saved/transfer.yaml" ]; then ok; else bad "a script with errors ran"; fi

# usage errors: status 2
expect_status 2 "unknown --set" "$BIN" run "$TMP/transfer.surgery" --set nosuch=1
expect_status 2 "unknown option" "$BIN" run "$TMP/transfer.surgery" --frobnicate
expect_status 2 "no script" "$BIN" run
expect_status 0 "run --help" "$BIN" run --help
expect_in "$TMP/out" "exit status" "run --help lists exit statuses"

# a data file that goes bad between check and run: status 4, nothing saved, no temporaries
cp "$NEW_TRAIN" "$TMP/train.csv"
sed "s|$NEW_TRAIN|train.csv|; s|into \"cache\"|into \"cache2\"|; s|limit = 300||" "$TMP/transfer.surgery" >"$TMP/late.surgery"
printf '1,2,3\n' >>"$TMP/train.csv"
expect_status 4 "bad data at run time" "$BIN" run -q "$TMP/late.surgery"
expect_in "$TMP/err" "train.csv:" "the data error names the file"
if [ ! -e "$TMP/saved/transfer.yaml" ]; then ok; else bad "a failed run saved"; fi
if ls -a "$TMP" "$TMP/cache2" 2>/dev/null | grep -q 'tmp-'; then bad "a failed run left a temporary"; else ok; fi

finish
