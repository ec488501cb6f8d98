#!/bin/sh
# test_featurize_conv.sh: featurize at a convolutional boundary (features cached as [rows, C, H,
# W]) on the digits as PNG images: the fit from the cache saves the same bytes as the fit without
# featurize, and a second run reuses the cached features.
# Usage: test_featurize_conv.sh SURGERY
set -u
NAME=test_featurize_conv
. "$(dirname "$0")/lib.sh"
ROOT=$(pwd)
IMAGES=$ROOT/examples/data/digit_images

train_digit_cnn 200

transfer() { # $1: "featurize train" or nothing; $2: where to save
    cat <<END
base "trained/base.yaml"
fine_tune { updater = adam(learning_rate = 1e-2)  seed = 7 }
freeze through "pool2"
remove "predictions" keep connections
add output "predictions" from "fc" { n_out = 5  activation = softmax  loss = negative_log_likelihood }
data train = images("$IMAGES/5to9/train/") { channels = 1  batch = 32  shuffle = true  limit = 150 }
$1
fit train iterations 10
save "$2"
END
}
transfer "featurize train" "cached/model.yaml" >"$TMP/cached.surgery"
transfer "" "direct/model.yaml" >"$TMP/direct.surgery"
expect_status 0 "fit from convolutional features" "$BIN" run "$TMP/cached.surgery"
expect_in "$TMP/out" "from cached features" "the fit reads the cache"
expect_status 0 "fit without featurize" "$BIN" run -q "$TMP/direct.surgery"
if cmp -s "$TMP/cached/model.safetensors" "$TMP/direct/model.safetensors"; then ok; else
    bad "the fit from cached convolutional features saved other weights"; fi
expect_status 0 "featurize again" "$BIN" run "$TMP/cached.surgery"
expect_in "$TMP/out" "reusing the cached features" "the second run reuses the cache"
finish
