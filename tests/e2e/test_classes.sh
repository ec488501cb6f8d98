#!/bin/sh
# test_classes.sh: the class names of images() data (its folder names) are stored with a model
# fitted on it, survive edits that leave the output layer alone, are dropped when the output is
# replaced, are checked against the output's units when read, and `predict --classes` prints
# each example's class index and name; a model with vertices fitted under fine_tune reads back.
# Usage: test_classes.sh SURGERY
set -u
NAME=test_classes
. "$(dirname "$0")/lib.sh"
ROOT=$(pwd)
IMAGES=$ROOT/examples/data/digit_images

train_digit_cnn 100
expect_in "$TMP/trained/base.yaml" 'classes: ["0", "1", "2", "3", "4"]' "the folder names are stored"

cat >"$TMP/widen.surgery" <<END
base "trained/base.yaml"
widen "conv1" by 4
save "widened/model.yaml"
END
expect_status 0 "widen" "$BIN" run -q "$TMP/widen.surgery"
expect_in "$TMP/widened/model.yaml" 'classes: ["0", "1", "2", "3", "4"]' "an edit elsewhere keeps them"

cat >"$TMP/replace.surgery" <<END
base "trained/base.yaml"
replace "predictions" with output { n_out = 5  activation = softmax  loss = mcxent }
save "replaced/model.yaml"
END
expect_status 0 "replace the head" "$BIN" run -q "$TMP/replace.surgery"
if grep -q '^classes:' "$TMP/replaced/model.yaml"; then bad "a replaced head kept the old names"; else ok; fi

# one test image of each class, [5, 1, 8, 8] in [0, 1] (tests/data/classes/x.npy)
cp "$ROOT/tests/data/classes/x.npy" "$TMP/x.npy"
expect_status 0 "predict classes" "$BIN" predict "$TMP/trained/base.yaml" --input "$TMP/x.npy" --classes
lines=$(wc -l <"$TMP/out")
if [ "$lines" -eq 5 ]; then ok; else bad "predict --classes wrote $lines lines, want 5"; cat "$TMP/out"; fi
if grep -qvE '^[0-4],"?[0-4]"?$' "$TMP/out"; then bad "a line is not INDEX,NAME:"; cat "$TMP/out"; else ok; fi
# the names follow the index: class i is named "i" in this model
if awk -F, '$1 != $2 { exit 1 }' "$TMP/out"; then ok; else bad "class names do not match the indices"; cat "$TMP/out"; fi
expect_status 0 "predict classes of a model without names" "$BIN" predict "$TMP/replaced/model.yaml" --input "$TMP/x.npy" --classes
if grep -qvE '^[0-4]$' "$TMP/out"; then bad "without names, a line is the index alone:"; cat "$TMP/out"; else ok; fi
expect_status 2 "--classes with .npy output" "$BIN" predict "$TMP/trained/base.yaml" --input "$TMP/x.npy" --classes -o "$TMP/y.npy"
expect_in "$TMP/err" "--classes writes CSV" "the refusal says why"

sed 's/^classes: .*/classes: [a, b]/' "$TMP/trained/base.yaml" >"$TMP/trained/wrong.yaml"
expect_status 1 "a wrong number of names" "$BIN" summary "$TMP/trained/wrong.yaml"
expect_in "$TMP/err" "'classes' names 2 classes, but the output 'predictions' has 5 units" "the count is checked"
# a model with vertices (concatenations, a product) and clip(0, 6), fitted under fine_tune,
# saves a file that reads back: vertices carry no training settings
cp "$ROOT/examples/digits_images/dense_base.yaml" "$TMP/dense.yaml"
cat >"$TMP/dense.surgery" <<END
base "dense.yaml"
fine_tune { updater = adam(learning_rate = 1e-2)  seed = 5 }
data train = images("$IMAGES/0to4/train/") { channels = 1  batch = 32  limit = 64 }
fit train epochs 1
save "dense/model.yaml"
END
expect_status 0 "fit a model with vertices" "$BIN" run -q "$TMP/dense.surgery"
expect_status 0 "read it back" "$BIN" summary "$TMP/dense/model.yaml"
expect_in "$TMP/dense/model.yaml" "activation: clip(0, 6)" "clip is written with its bounds"
finish
