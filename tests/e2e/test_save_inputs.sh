#!/bin/sh
# test_save_inputs.sh: `run` refuses, at check time (status 1, the save's line), a save that
# would write the base model's YAML or weights (by name, by another spelling, through a link,
# or as the weights of another name), a data file, or a folder; the base pair and the data
# are untouched afterwards, and nothing new is written.
# Usage: test_save_inputs.sh SURGERY
set -u
NAME=test_save_inputs
. "$(dirname "$0")/lib.sh"
G=$(pwd)/tests/golden

# a trained pair of our own, and data beside it
cp "$G/models/mlp.yaml" "$TMP/mlp.yaml"
printf 'base "mlp.yaml"\nsave "ff.yaml"\n' >"$TMP/make.surgery"
expect_status 0 "make the base pair" "$BIN" run -q "$TMP/make.surgery"
cp "$G/data/edit_six.csv" "$TMP/six.csv"
ln -s ff.yaml "$TMP/link.yaml"
ln -s six.csv "$TMP/six_link.yaml"
mkdir "$TMP/folder.yaml"
: >"$TMP/bad.surgery"
sums() { cksum "$TMP/ff.yaml" "$TMP/ff.safetensors" "$TMP/six.csv"; }
before=$(sums)
listing=$(ls "$TMP")

refuse() {   # refuse TARGET MESSAGE: a run saving to TARGET is refused with MESSAGE
    cat >"$TMP/bad.surgery" <<EOT
base "ff.yaml"
widen "fc1" by 2
data train = csv("six.csv") { classes = 3 }
save "$1"
EOT
    expect_status 1 "save \"$1\"" "$BIN" run --color=never "$TMP/bad.surgery"
    expect_in "$TMP/err" "bad.surgery:4:6: error: save would write" "save \"$1\" reported at its line"
    expect_in "$TMP/err" "$2" "save \"$1\" reason"
    if [ "$(sums)" = "$before" ]; then ok; else bad "save \"$1\": the inputs changed"; fi
    if [ "$(ls "$TMP")" = "$listing" ]; then ok; else bad "save \"$1\": files appeared: $(ls "$TMP")"; fi
    if [ -s "$TMP/out" ]; then bad "save \"$1\": the run printed:"; cat "$TMP/out"; else ok; fi
}

refuse "ff.yaml" "which is the base model's YAML"
refuse "./ff.yaml" "which is the base model's YAML"
refuse "link.yaml" "which is the base model's YAML"
refuse "six_link.yaml" "which is a file of data 'train'"
refuse "folder.yaml" "which is a folder"

# the weights of another name: a base whose weights file is not named after its YAML
cp "$TMP/ff.yaml" "$TMP/other.yaml"
printf 'base "other.yaml"\nsave "ff.yaml"\n' >"$TMP/weights.surgery"
expect_status 1 "save over the weights of another base" "$BIN" run --color=never "$TMP/weights.surgery"
expect_in "$TMP/err" "weights.surgery:2:6: error: save would write '$TMP/ff.safetensors', which is the base model's weights" "weights collision reported"
# a target that does not exist yet, whose weights would be the base's weights
mkdir "$TMP/fresh"
cp "$TMP/ff.yaml" "$TMP/fresh/base.yaml"
cp "$TMP/ff.safetensors" "$TMP/fresh/ff.safetensors"
fresh_sum=$(cksum <"$TMP/fresh/ff.safetensors")
printf 'base "fresh/base.yaml"\nsave "fresh/ff.yaml"\n' >"$TMP/fresh.surgery"
expect_status 1 "a new YAML whose weights are the base's weights" "$BIN" run --color=never "$TMP/fresh.surgery"
expect_in "$TMP/err" "fresh.surgery:2:6: error: save would write '$TMP/fresh/ff.safetensors', which is the base model's weights" "new target, colliding weights reported"
if [ ! -e "$TMP/fresh/ff.yaml" ]; then ok; else bad "the refused save wrote fresh/ff.yaml"; fi
if [ "$(cksum <"$TMP/fresh/ff.safetensors")" = "$fresh_sum" ]; then ok; else bad "the base weights changed"; fi
if [ "$(sums)" = "$before" ]; then ok; else bad "the base pair changed"; fi

# `check` says the same, and a different name saves
expect_status 1 "check refuses too" "$BIN" check --color=never "$TMP/bad.surgery"
sed 's/^save .*/save "out.yaml"/' "$TMP/bad.surgery" >"$TMP/good.surgery"
expect_status 0 "a save under another name" "$BIN" run -q "$TMP/good.surgery"
if [ -s "$TMP/out.yaml" ] && [ -s "$TMP/out.safetensors" ]; then ok; else bad "out pair missing"; fi
if [ "$(sums)" = "$before" ]; then ok; else bad "the base pair changed after a good run"; fi

finish
