#!/bin/sh
# test_train.sh: `fit` end to end on iris: convergence with an expect gate, progress lines and
# the JSON log, bit-identical reruns (dropout, shuffling), `iterations`, frozen layers, and a
# diverging fit: exit status 4, the iteration named, nothing saved.
# Usage: test_train.sh SURGERY
set -u
NAME=test_train
. "$(dirname "$0")/lib.sh"
IRIS=$(pwd)/tests/data/train/iris.csv

write_mlp "$TMP/iris.yaml" iris in 4 16 16 3 5

cat >"$TMP/train.surgery" <<EOF
base "iris.yaml"
fine_tune { updater = adam(learning_rate = 0.01)  seed = 11  dropout = 0.1 }
data train = csv("$IRIS") { label = 4  classes = 3  header = 1  batch = 16  shuffle = true  normalize = standardize }
fit train epochs 40
evaluate train
expect accuracy(train) >= 0.9
save "out1/iris.yaml"
EOF

# 1. convergence, progress (not a terminal: one line per epoch), JSON log (one line per batch)
expect_status 0 "fit iris" "$BIN" run "$TMP/train.surgery" --log "$TMP/log1.jsonl"
expect_in "$TMP/err" "fit train: epoch 40/40  loss " "progress"
n=$(grep -c "^fit train: epoch " "$TMP/err")
[ "$n" -eq 40 ] && ok || bad "progress lines: $n, want 40"
n=$(grep -c '"iteration":' "$TMP/log1.jsonl")
[ "$n" -eq 400 ] && ok || bad "JSON log lines: $n, want 400 (10 batches x 40 epochs)"
expect_in "$TMP/log1.jsonl" '{"iteration":400,"epoch":40,"loss":' "last log line"
expect_in "$TMP/out" "expect accuracy(train) >= 0.9: met" "accuracy gate"

# 2. the same script again: bit-identical weights
sed 's|out1/|out2/|' "$TMP/train.surgery" >"$TMP/train2.surgery"
expect_status 0 "rerun" "$BIN" run "$TMP/train2.surgery"
if cmp -s "$TMP/out1/iris.safetensors" "$TMP/out2/iris.safetensors"; then ok; else bad "rerun weights differ"; fi

# 3. another seed: other weights (dropout and shuffling really depend on it)
sed 's|out1/|out3/|; s|seed = 11|seed = 12|' "$TMP/train.surgery" >"$TMP/train3.surgery"
expect_status 0 "other seed" "$BIN" run "$TMP/train3.surgery"
if cmp -s "$TMP/out1/iris.safetensors" "$TMP/out3/iris.safetensors"; then bad "seed had no effect"; else ok; fi

# 4. iterations: exactly that many updates
cat >"$TMP/iters.surgery" <<EOF
base "iris.yaml"
data train = csv("$IRIS") { label = 4  classes = 3  header = 1  batch = 16 }
fit train iterations 25
EOF
expect_status 0 "iterations" "$BIN" run "$TMP/iters.surgery"
expect_in "$TMP/out" "fit train: 25 iterations, 2 epochs" "iterations count"

# 5. frozen layers: a fine-tune of the trained model leaves fc1 and fc2 unchanged, so both
#    models cut at "fc2" predict exactly the same features
cat >"$TMP/freeze.surgery" <<EOF
base "out1/iris.yaml"
fine_tune { updater = sgd(learning_rate = 0.5)  l2 = 0.1  dropout = 0.5 }
freeze through "fc2"
data train = csv("$IRIS") { label = 4  classes = 3  header = 1  batch = 16  shuffle = true }
fit train epochs 3
save "out4/tuned.yaml"
EOF
cut_at_fc2() {   # cut_at_fc2 MODEL OUT
    printf 'base "%s"\noutputs "fc2"\nsave "%s"\n' "$1" "$2" >"$TMP/cut.surgery"
    expect_status 0 "cut $1" "$BIN" run "$TMP/cut.surgery"
}
printf '0.1,0.2,0.3,0.4\n5.1,3.5,1.4,0.2\n' >"$TMP/x.csv"
expect_status 0 "frozen fit" "$BIN" run "$TMP/freeze.surgery"
cut_at_fc2 "out4/tuned.yaml" "cut4/f.yaml"
cut_at_fc2 "out1/iris.yaml" "cut1/f.yaml"
expect_status 0 "predict tuned" "$BIN" predict "$TMP/cut4/f.yaml" --input "$TMP/x.csv" -o "$TMP/p4.csv"
expect_status 0 "predict base" "$BIN" predict "$TMP/cut1/f.yaml" --input "$TMP/x.csv" -o "$TMP/p1.csv"
if cmp -s "$TMP/p4.csv" "$TMP/p1.csv"; then ok; else bad "frozen layers changed during fit"; fi
if cmp -s "$TMP/out4/tuned.safetensors" "$TMP/out1/iris.safetensors"; then
    bad "the output layer did not train"
else
    ok
fi

# 6. divergence: exit 4, the iteration and the layer named, nothing saved
cat >"$TMP/nan.surgery" <<EOF
base "iris.yaml"
fine_tune { updater = sgd(learning_rate = 1e30) }
data train = csv("$IRIS") { label = 4  classes = 3  header = 1  batch = 16 }
fit train epochs 5
save "out6/iris.yaml"
EOF
expect_status 4 "diverging fit" "$BIN" run --color=never "$TMP/nan.surgery"
expect_in "$TMP/err" "nan.surgery:4:1: error: training diverged at iteration " "NaN message"
expect_in "$TMP/err" "layer '" "NaN message names a layer"
[ -e "$TMP/out6" ] && bad "a diverged run saved its model" || ok

finish
