#!/bin/sh
# test_model_io.sh: `surgery summary` and `surgery predict` end to end on the models under
# tests/data/models (outputs compared with PyTorch's within a tolerance), and their failures:
# exit statuses, messages, and no output file left behind. Usage: test_model_io.sh SURGERY
set -u
NAME=test_model_io
. "$(dirname "$0")/lib.sh"
M=tests/data/models

no_leftovers() {   # no_leftovers DIR NAME: the folder holds nothing (no output, no temporaries)
    if [ -z "$(ls -A "$1")" ]; then ok; else bad "$2: left behind: $(ls -A "$1")"; fi
}

# ---- summary ----
expect_status 0 "summary char_lstm" "$BIN" summary $M/char_lstm.yaml
if diff -u $M/char_lstm.summary "$TMP/out" >"$TMP/diff"; then ok; else bad "summary char_lstm differs:"; cat "$TMP/diff"; fi
expect_status 0 "summary graph" "$BIN" summary $M/graph.yaml
if diff -u $M/graph.summary "$TMP/out" >"$TMP/diff"; then ok; else bad "summary graph differs:"; cat "$TMP/diff"; fi
expect_status 0 "summary mlp" "$BIN" summary $M/mlp.yaml
expect_in "$TMP/out" "Total Parameters:  67" "summary mlp totals"
expect_status 0 "summary --help" "$BIN" summary --help
expect_in "$TMP/out" "usage: surgery summary" "summary --help"

printf 'format: surgery-model/1\ninputs:\n  - {name: in, type: feed_forward, size: 4}\nlayers:\n  - {name: a, type: dense, n_out: 2}\n  - {name: b, type: dens, n_out: 2}\noutputs: [b]\n' >"$TMP/broken.yaml"
expect_status 1 "summary of a broken model" "$BIN" summary --color=never "$TMP/broken.yaml"
expect_in "$TMP/err" "broken.yaml:6:21: error: unknown layer type 'dens' (did you mean 'dense'?)" "summary broken"
expect_status 2 "summary of a missing file" "$BIN" summary "$TMP/none.yaml"
expect_status 2 "summary without a model" "$BIN" summary
expect_status 2 "summary with an unknown option" "$BIN" summary --bogus $M/mlp.yaml

# ---- predict: outputs equal PyTorch's ----
OUT="$TMP/out.d"
mkdir "$OUT"
expect_status 0 "predict mlp npy to stdout" "$BIN" predict $M/mlp.yaml --input $M/mlp_input.npy
if close_csv "$TMP/out" $M/mlp_expected.csv 1e-5 >"$TMP/cmp"; then ok; else bad "mlp stdout vs PyTorch:"; cat "$TMP/cmp"; fi
expect_status 0 "predict mlp csv to csv" "$BIN" predict $M/mlp.yaml --input $M/mlp_input.csv -o "$OUT/p.csv"
if close_csv "$OUT/p.csv" $M/mlp_expected.csv 1e-5 >"$TMP/cmp"; then ok; else bad "mlp csv vs PyTorch:"; cat "$TMP/cmp"; fi
expect_status 0 "predict mlp float64 input" "$BIN" predict $M/mlp.yaml -i $M/mlp_input_f8.npy
if close_csv "$TMP/out" $M/mlp_expected.csv 1e-5 >"$TMP/cmp"; then ok; else bad "mlp f8 vs PyTorch:"; cat "$TMP/cmp"; fi
expect_status 0 "predict mlp to npy" "$BIN" predict $M/mlp.yaml --input $M/mlp_input.npy -o "$OUT/p.npy"
# 128-byte header + 5 x 3 float32
if [ "$(wc -c <"$OUT/p.npy")" -eq 188 ]; then ok; else bad "p.npy has $(wc -c <"$OUT/p.npy") bytes, want 188"; fi
if head -c 6 "$OUT/p.npy" | grep -q NUMPY; then ok; else bad "p.npy lacks the .npy magic"; fi
expect_status 0 "predict seq batch-first npy" "$BIN" predict $M/seq.yaml --input $M/seq_input.npy -o "$OUT/s.csv"
if close_csv "$OUT/s.csv" $M/seq_expected.csv 1e-5 >"$TMP/cmp"; then ok; else bad "seq vs PyTorch:"; cat "$TMP/cmp"; fi
expect_status 0 "predict seq to npy" "$BIN" predict $M/seq.yaml --input $M/seq_input.npy -o "$OUT/s.npy"
if [ "$(wc -c <"$OUT/s.npy")" -eq $((128 + 2 * 6 * 2 * 4)) ]; then ok; else bad "s.npy size $(wc -c <"$OUT/s.npy")"; fi
expect_status 0 "predict one csv sequence" "$BIN" predict $M/seq.yaml --input $M/seq_input.csv
head -n 6 $M/seq_expected.csv >"$TMP/seq0.csv"
if close_csv "$TMP/out" "$TMP/seq0.csv" 1e-5 >"$TMP/cmp"; then ok; else bad "csv sequence vs PyTorch:"; cat "$TMP/cmp"; fi
{ echo "a,b,c,d"; cat $M/mlp_input.csv; } >"$TMP/with_header.csv"
expect_status 0 "predict csv with --header 1" "$BIN" predict $M/mlp.yaml --input "$TMP/with_header.csv" --header 1
if close_csv "$TMP/out" $M/mlp_expected.csv 1e-5 >"$TMP/cmp"; then ok; else bad "--header:"; cat "$TMP/cmp"; fi
expect_status 0 "predict an untrained model" "$BIN" predict --color=never $M/graph.yaml --input $M/graph_input.npy
expect_in "$TMP/err" "warning: the model has no weights file" "untrained warning"
if [ "$(wc -l <"$TMP/out")" -eq 2 ]; then ok; else bad "untrained predict: $(wc -l <"$TMP/out") rows, want 2"; fi
expect_status 0 "predict --help" "$BIN" predict --help
expect_in "$TMP/out" "[batch, time, features]" "predict --help layouts"

# ---- predict: failures leave nothing behind ----
F="$TMP/fail.d"
mkdir "$F"
expect_status 1 "input of the wrong shape" "$BIN" predict $M/mlp.yaml --input $M/seq_input.npy -o "$F/x.npy"
expect_in "$TMP/err" "shape [2, 6, 3] does not fit input 'features' of the model, which takes [batch, 4]" "wrong shape"
no_leftovers "$F" "wrong shape"
printf '1,2,3,4\n1,2,x,4\n' >"$TMP/bad.csv"
expect_status 1 "malformed csv" "$BIN" predict --color=never $M/mlp.yaml --input "$TMP/bad.csv" -o "$F/x.csv"
expect_in "$TMP/err" "bad.csv:2:5: error: field 3 'x' is not a finite number" "malformed csv"
no_leftovers "$F" "malformed csv"
expect_status 1 "weights that do not fit" "$BIN" predict --color=never $M/mlp_wrong_shape.yaml --input $M/mlp_input.npy -o "$F/x.npy"
expect_in "$TMP/err" "mlp_wrong_shape.yaml:24:10: error: tensor 'hidden.W' in weights file mlp.safetensors has shape [4, 8], but layer 'hidden' needs [4, 9]" "wrong weights"
no_leftovers "$F" "wrong weights"
cp $M/mlp.yaml "$TMP/mlp.yaml"
head -c 100 $M/mlp.safetensors >"$TMP/mlp.safetensors"
expect_status 1 "truncated weights file" "$BIN" predict --color=never "$TMP/mlp.yaml" --input $M/mlp_input.npy -o "$F/x.npy"
expect_in "$TMP/err" "runs past the end of the file" "truncated weights"
no_leftovers "$F" "truncated weights"
expect_status 2 "unknown output extension" "$BIN" predict $M/mlp.yaml --input $M/mlp_input.npy -o "$F/x.txt"
no_leftovers "$F" "bad extension"
expect_status 2 "missing input file" "$BIN" predict $M/mlp.yaml --input "$TMP/none.npy" -o "$F/x.npy"
no_leftovers "$F" "missing input"
expect_status 2 "no --input" "$BIN" predict $M/mlp.yaml
expect_status 2 "unknown output name" "$BIN" predict $M/mlp.yaml --input $M/mlp_input.npy --output outt
expect_in "$TMP/err" "'outt' is not an output of the model (did you mean 'out'?)" "unknown output"
expect_status 4 "unwritable output folder" "$BIN" predict $M/mlp.yaml --input $M/mlp_input.npy -o "$F/no/such/dir/x.npy"
no_leftovers "$F" "unwritable folder"

# A model read from another format with its weights (ONNX initializers) predicts with them:
# no warning that its parameters were drawn from the seed, and torch's outputs.
expect_status 0 "predict an ONNX model" "$BIN" predict tests/data/onnx/mlp.onnx --input examples/onnx/sample.csv
if grep -q "initialised from seed" "$TMP/err"; then bad "an ONNX model's weights reported as initialised"; else ok; fi
expect_in "$TMP/out" "0.33683985,0.45695624,0.20620391" "ONNX predict gives torch's first row"

# A torch CNN exported with its batch norms (tools/gen-onnx-models.py): the module paths name
# its layers, predict gives torch's outputs, and a net2net widening of its first convolution
# (carried through the batch norm to the next convolution) keeps them.
O=tests/data/onnx/models
expect_status 0 "summary of an ONNX CNN" "$BIN" summary $O/cnn_bn_preserve.onnx
expect_in "$TMP/out" "bn1 (batch_norm)" "ONNX CNN layer names"
expect_in "$TMP/out" "conv2 (conv2d)" "ONNX CNN layer names"
expect_status 0 "predict an ONNX CNN" "$BIN" predict $O/cnn_bn_preserve.onnx --input $O/cnn_bn_preserve_x.npy
if close_csv "$TMP/out" $O/cnn_bn_preserve_y.csv 1e-5 >"$TMP/cmp"; then ok; else bad "ONNX CNN vs torch:"; cat "$TMP/cmp"; fi
printf 'base "%s/%s/cnn_bn_preserve.onnx"\nwiden "conv1" by 4 { method = net2net }\nsave "%s/cnn_wide.yaml"\n' \
    "$PWD" "$O" "$TMP" >"$TMP/wide.surgery"
expect_status 0 "net2net widen of an imported conv" "$BIN" run "$TMP/wide.surgery"
expect_status 0 "predict the widened CNN" "$BIN" predict "$TMP/cnn_wide.yaml" --input $O/cnn_bn_preserve_x.npy
if close_csv "$TMP/out" $O/cnn_bn_preserve_y.csv 1e-5 >"$TMP/cmp"; then ok; else bad "widened ONNX CNN vs torch:"; cat "$TMP/cmp"; fi

finish
