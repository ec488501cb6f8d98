#!/bin/sh
# test_dl4j_read.sh: `surgery predict` and `summary` on files DL4J wrote (tests/data/dl4j, see
# its README): the outputs DL4J recorded for its char-modelling LSTM and its synthetic CNN
# (inputs and outputs turned into .npy and predict's CSV by tools/gen_dl4j_oracles.py),
# reproduced within 1e-5; a ComputationGraph's summary. Usage: test_dl4j_read.sh SURGERY
set -u
NAME=test_dl4j_read
. "$(dirname "$0")/lib.sh"
D=tests/data/dl4j

# The char model: recurrent, DL4J's [batch, features, time] swapped to [batch, time, features].
expect_status 0 "predict char model" "$BIN" predict $D/GravesLSTMCharModelingExample_100b4.bin \
    --input $D/char_model_input.npy -o "$TMP/char.csv"
if close_csv "$TMP/char.csv" $D/char_model_expected.csv 1e-5 >"$TMP/cmp"; then ok; else
    bad "char model vs DL4J:"; head "$TMP/cmp"; fi

# The synthetic CNN: its file does not state the image size; predict takes the 28 x 28 images.
expect_status 0 "predict synthetic CNN" "$BIN" predict $D/SyntheticCNN_100b4.bin \
    --input $D/synthetic_cnn_input.npy -o "$TMP/cnn.csv"
if close_csv "$TMP/cnn.csv" $D/synthetic_cnn_expected.csv 1e-5 >"$TMP/cmp"; then ok; else
    bad "synthetic CNN vs DL4J:"; head "$TMP/cmp"; fi

# A ComputationGraph with a bidirectional vertex, named by its vertices.
expect_status 0 "summary of a graph" "$BIN" summary $D/080_ModelSerializer_Regression_CG_LSTM_1.zip
expect_in "$TMP/out" "1 (bidirectional)" "graph summary names the vertex"
expect_in "$TMP/out" "Total Parameters:  477" "graph summary totals"

finish
