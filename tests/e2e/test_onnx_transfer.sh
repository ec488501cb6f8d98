#!/bin/sh
# test_onnx_transfer.sh: surgery on a model trained elsewhere: the PyTorch CNN exported to ONNX
# (tests/data/onnx/models/cnn_bn.onnx, 1 x 16 x 16 input, 10 classes) gets its convolutional body
# frozen and its head replaced by a 5-class output, is fitted on the digits 5 to 9, saved as
# .onnx and read back: the frozen body computes what it computed, the fit changed the head.
# Usage: test_onnx_transfer.sh SURGERY
set -u
NAME=test_onnx_transfer
. "$(dirname "$0")/lib.sh"
ROOT=$(pwd)
M=$ROOT/tests/data/onnx/models
X=$M/cnn_bn_x.npy

transfer() { # $1: the fit statement or nothing; $2: where to save
    cat <<END
base "$M/cnn_bn.onnx"
fine_tune { updater = adam(learning_rate = 1e-2)  seed = 7 }
freeze through "pool"
replace "fc" with output { n_out = 5  activation = softmax  loss = mcxent }
data train = images("$ROOT/examples/data/digit_images/5to9/train/") { channels = 1  height = 16  width = 16  batch = 16  shuffle = true  limit = 80 }
$1
save "$2"
END
}
transfer "fit train iterations 50
expect accuracy(train) >= 0.8" "saved/transfer.onnx" >"$TMP/fit.surgery"
transfer "" "saved/unfitted.onnx" >"$TMP/nofit.surgery"
expect_status 0 "freeze, replace the head, fit and save as .onnx" "$BIN" run "$TMP/fit.surgery"
expect_in "$TMP/out" "fit train: 50 iterations" "the fit ran"
expect_in "$TMP/out" "saved $TMP/saved/transfer.onnx" "the ONNX file was saved"
expect_status 0 "the same edits without the fit" "$BIN" run -q "$TMP/nofit.surgery"

# ---- read back: the frozen body and the new head ----
expect_status 0 "summary of the saved .onnx" "$BIN" summary "$TMP/saved/transfer.onnx"
expect_in "$TMP/out" "conv1 (frozen conv2d)" "conv1 is still frozen"
expect_in "$TMP/out" "conv2 (frozen conv2d)" "conv2 is still frozen"
expect_in "$TMP/out" "pool (frozen subsampling)" "the pool is still frozen"
expect_in "$TMP/out" "fc (output)" "the head keeps its name"
expect_in "$TMP/out" "256,5" "the head has 5 outputs"
expect_in "$TMP/out" "Frozen Parameters:  1248" "the body's parameters are frozen"
expect_status 0 "predict with the saved .onnx" "$BIN" predict "$TMP/saved/transfer.onnx" --input "$X" -o "$TMP/fit.csv"
expect_status 0 "predict with the unfitted one" "$BIN" predict "$TMP/saved/unfitted.onnx" --input "$X" -o "$TMP/nofit.csv"
cols=$(head -n 1 "$TMP/fit.csv" | awk -F, '{ print NF }')
if [ "$cols" = 5 ]; then ok; else bad "predict gave $cols columns, want 5"; fi
if cmp -s "$TMP/fit.csv" "$TMP/nofit.csv"; then bad "the fit did not change the head"; else ok; fi

# ---- the body's outputs (the pool's features) before and after: identical ----
body() { # $1: model, $2: where to save
    printf 'base "%s"\noutputs "pool"\nsave "%s"\n' "$1" "$2" >"$TMP/body.surgery"
    expect_status 0 "cut $1 at the pool" "$BIN" run -q "$TMP/body.surgery"
}
body "$M/cnn_bn.onnx" "$TMP/body/orig.yaml"
body "$TMP/saved/transfer.onnx" "$TMP/body/fitted.yaml"
expect_status 0 "features of the original body" "$BIN" predict "$TMP/body/orig.yaml" --input "$X" -o "$TMP/f1.csv"
expect_status 0 "features of the fitted body" "$BIN" predict "$TMP/body/fitted.yaml" --input "$X" -o "$TMP/f2.csv"
cols=$(head -n 1 "$TMP/f1.csv" | awk -F, '{ print NF }')
if [ "$cols" = 256 ]; then ok; else bad "the body gave $cols features, want 256"; fi
if cmp -s "$TMP/f1.csv" "$TMP/f2.csv"; then ok; else bad "the frozen body changed in the fit"; fi
finish
