#!/bin/sh
# test_resume.sh: fit checkpoints and `surgery run --resume`: a fit killed (SIGKILL) after a
# checkpoint exists and resumed saves the same bytes as an uninterrupted run, for a fit counting
# epochs (dropout, shuffling, a normaliser) and for one counting iterations from featurized data
# (checkpoints inside an epoch); --resume without a checkpoint runs from the start; checkpoints
# of another script, of other data, or damaged ones are refused with status 4.
# Usage: test_resume.sh SURGERY
set -u
NAME=test_resume
. "$(dirname "$0")/lib.sh"
DIGITS=$(pwd)/examples/data/digits_0to4_train.csv

# A folder holding the base model and one script: $1 folder, $2 the fit line, $3 edits, $4 a
# step before the fit; the data is $DIGITS.
make_run() {
    mkdir -p "$1"
    write_mlp "$1/base.yaml" digits px 64 64 32 5 21
    cat >"$1/run.surgery" <<EOF2
base "base.yaml"
fine_tune { updater = adam(learning_rate = 2e-3)  seed = 5  dropout = 0.2 }
${3:-}
data train = csv("$DIGITS") { label = 64  classes = 5  batch = 32  shuffle = true  normalize = minmax }
${4:-}
$2
evaluate train
save "out/model.yaml"
EOF2
}

# Runs the script of folder $1 in the background, waits for its first checkpoint and kills it
# with SIGKILL at once (the fits below run far longer than one poll); the save must not exist
# yet (the fit was interrupted).
kill_mid_fit() {
    "$BIN" run "$1/run.surgery" -q >/dev/null 2>&1 &
    pid=$!
    n=0
    while [ ! -s "$1/ckpt/fit-1.ckpt" ] && [ $n -lt 30000 ]; do sleep 0.001; n=$((n + 1)); done
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    [ -s "$1/ckpt/fit-1.ckpt" ] && ok || bad "$1: no checkpoint was written"
    [ ! -e "$1/out/model.safetensors" ] && ok || bad "$1: the fit ended before the kill"
}

same_files() {
    for f in model.yaml model.safetensors; do
        if cmp -s "$1/out/$f" "$2/out/$f"; then ok; else bad "$3: $f differs from the uninterrupted run's"; fi
    done
}

# 1. A fit counting epochs, a checkpoint every 2.
FIT='fit train epochs 150 { checkpoint = "ckpt"  every = 3 }'
make_run "$TMP/ref" "$FIT"
make_run "$TMP/a" "$FIT"
expect_status 0 "uninterrupted epochs" "$BIN" run "$TMP/ref/run.surgery" -q
kill_mid_fit "$TMP/a"
expect_status 0 "resume epochs" "$BIN" run "$TMP/a/run.surgery" --resume
expect_in "$TMP/out" "fit train: resuming from $TMP/a/ckpt/fit-1.ckpt after " "resume report"
same_files "$TMP/ref" "$TMP/a" "epochs"
grep -q "^fit train: epoch 1/150 " "$TMP/err" && bad "the resumed run trained epoch 1 again" || ok

# The fit is complete in its checkpoint: --resume skips it and redoes what follows.
rm -r "$TMP/a/out"
expect_status 0 "resume complete" "$BIN" run "$TMP/a/run.surgery" --resume
expect_in "$TMP/out" "fit train: complete in " "complete report"
same_files "$TMP/ref" "$TMP/a" "complete"

# 2. A fit counting iterations from featurized data: checkpoints fall inside epochs.
FIT='fit train iterations 4000 { checkpoint = "ckpt"  every = 37 }'
make_run "$TMP/ref2" "$FIT" 'freeze through "fc1"' 'featurize train into "cache"'
make_run "$TMP/b" "$FIT" 'freeze through "fc1"' 'featurize train into "cache"'
expect_status 0 "uninterrupted iterations" "$BIN" run "$TMP/ref2/run.surgery" -q
kill_mid_fit "$TMP/b"
expect_status 0 "resume iterations" "$BIN" run "$TMP/b/run.surgery" --resume
expect_in "$TMP/out" "featurize train: reusing the cached features" "featurize cache reused"
expect_in "$TMP/out" "fit train: 4000 iterations" "iterations of the whole fit reported"
same_files "$TMP/ref2" "$TMP/b" "iterations"

# 3. Without --resume a checkpoint is ignored (and overwritten): the run starts again.
rm -r "$TMP/b/out"
expect_status 0 "run ignores checkpoint" "$BIN" run "$TMP/b/run.surgery"
grep -q "resuming" "$TMP/out" && bad "a run without --resume resumed" || ok
same_files "$TMP/ref2" "$TMP/b" "rerun"

# 4. --resume with no checkpoint runs from the start.
make_run "$TMP/c" "$FIT" 'freeze through "fc1"' 'featurize train into "cache"'
expect_status 0 "resume without checkpoint" "$BIN" run "$TMP/c/run.surgery" --resume
expect_in "$TMP/out" "resume: no checkpoint found; running from the start" "no-checkpoint note"
same_files "$TMP/ref2" "$TMP/c" "from the start"

# 5. A checkpoint of another script is refused.
sed -i 's/learning_rate = 2e-3/learning_rate = 3e-3/' "$TMP/c/run.surgery"
expect_status 4 "other script" "$BIN" run "$TMP/c/run.surgery" --resume
expect_in "$TMP/err" "cannot resume: the checkpoint $TMP/c/ckpt/fit-1.ckpt was written by another script" "other script message"

# 6. ... and so is one of other data (the same file name, other bytes).
DIGITS_ALL=$DIGITS
DIGITS=data.csv
make_run "$TMP/d" "$FIT" 'freeze through "fc1"'
DIGITS=$DIGITS_ALL
cp "$DIGITS" "$TMP/d/data.csv"
expect_status 0 "relative data" "$BIN" run "$TMP/d/run.surgery" -q
head -n 300 "$DIGITS" >"$TMP/d/data.csv"
expect_status 4 "other data" "$BIN" run "$TMP/d/run.surgery" --resume
expect_in "$TMP/err" "was written for other inputs (the data differ)" "other data message"
cp "$DIGITS" "$TMP/d/data.csv"
sed -i 's/seed: 21/seed: 22/' "$TMP/d/base.yaml"
expect_status 4 "other base model" "$BIN" run "$TMP/d/run.surgery" --resume
expect_in "$TMP/err" "(the base model's files differ)" "other base message"

# 7. A damaged checkpoint is refused; nothing is saved.
rm -rf "$TMP/b/out"
head -c 1000 "$TMP/b/ckpt/fit-1.ckpt" >"$TMP/b/ckpt/cut" && mv "$TMP/b/ckpt/cut" "$TMP/b/ckpt/fit-1.ckpt"
expect_status 4 "damaged checkpoint" "$BIN" run "$TMP/b/run.surgery" --resume
expect_in "$TMP/err" "is damaged" "damaged message"
[ ! -e "$TMP/b/out" ] && ok || bad "a refused resume saved a model"

finish
