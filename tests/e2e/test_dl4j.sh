#!/bin/sh
# test_dl4j.sh: DL4J files end to end, the case of examples/dl4j/: DL4J's own char model (a
# ModelSerializer zip) widened and saved as a DL4J zip, read again with the outputs unchanged
# (and equal to DL4J's recorded ones); the frozen-body transfer with a new head fitted on text,
# saved as a DL4J zip with its frozen layers; models DL4J cannot hold refused naming the layer,
# with the previous file untouched and nothing left behind. Usage: test_dl4j.sh SURGERY
set -u
NAME=test_dl4j
. "$(dirname "$0")/lib.sh"
EX=$(pwd)/examples/dl4j
M=$(pwd)/tests/data/models

# max_diff A.csv B.csv TOL LABEL: every output of two predictions (after the example and step
# columns) within TOL, and the same number of rows
max_diff() {
    if paste -d, "$1" "$2" | awk -F, -v tol="$3" -v rows="$(wc -l <"$2")" '
        { n = NF / 2; for (i = 3; i <= n; i++) { d = $i - $(i + n); if (d < 0) d = -d; if (d > max) max = d } c++ }
        END { if (c != rows || c == 0) { print c " rows, want " rows; exit 1 }
              if (max > tol) { print "max difference " max " > " tol; exit 1 } }' >"$TMP/cmp"
    then ok; else bad "$4:"; cat "$TMP/cmp"; fi
}

W="$TMP/ex"
mkdir "$W"
cp "$EX/char_model.zip" "$EX/widen.surgery" "$EX/transfer.surgery" "$EX/gpl-3-dl4j.txt" \
    "$EX/sample.npy" "$W/"

# ---- the seed's case: widen, save as .zip, read again ----
expect_status 0 "widen the DL4J char model" "$BIN" run "$W/widen.surgery"
expect_in "$TMP/out" "saved $W/out/char_model_wide.zip" "the save's report"
[ -f "$W/out/char_model_wide.zip" ] && ok || bad "no out/char_model_wide.zip"
expect_status 0 "summary of the saved DL4J zip" "$BIN" summary "$W/out/char_model_wide.zip"
expect_in "$TMP/out" "layer0 (lstm)           77,208     237952" "the widened layer read back"
expect_in "$TMP/out" "layer1 (lstm)           208,200    327200" "its consumer read back"
expect_status 0 "predict with DL4J's file" "$BIN" predict "$W/char_model.zip" --input "$W/sample.npy" -o "$TMP/before.csv"
expect_status 0 "predict with the widened file" "$BIN" predict "$W/out/char_model_wide.zip" --input "$W/sample.npy" -o "$TMP/after.csv"
max_diff "$TMP/before.csv" "$TMP/after.csv" 1e-6 "outputs unchanged by widen + DL4J save"
max_diff "$TMP/after.csv" "$EX/expected.csv" 1e-5 "the widened file reproduces DL4J's recorded outputs"

# a durable save over the previous file: replaced whole, nothing else left in the folder
before=$(cksum <"$W/out/char_model_wide.zip")
expect_status 0 "the widen again, --sync" "$BIN" run --sync "$W/widen.surgery"
[ "$(cksum <"$W/out/char_model_wide.zip")" = "$before" ] && ok || bad "the same model saved again made other bytes"
[ "$(ls -A "$W/out")" = "char_model_wide.zip" ] && ok || bad "the save left: $(ls -A "$W/out")"

# ---- transfer: frozen LSTMs, a new rnn_output head, a few iterations, saved as .zip ----
expect_status 0 "the transfer on the widened DL4J file" "$BIN" run "$W/transfer.surgery"
expect_in "$TMP/out" "fit text: 20 iterations" "the fit ran"
expect_in "$TMP/out" "saved $W/out/char_model_transfer.zip" "the transfer's save"
expect_status 0 "summary of the transfer zip" "$BIN" summary "$W/out/char_model_transfer.zip"
expect_in "$TMP/out" "layer0 (frozen lstm)    77,208" "layer0 frozen in the DL4J file"
expect_in "$TMP/out" "layer1 (frozen lstm)    208,200" "layer1 frozen in the DL4J file"
expect_in "$TMP/out" "head (rnn_output)       200,77     15477" "the new head"
expect_in "$TMP/out" "Frozen Parameters:  565152" "frozen parameter count"
# the frozen body kept its weights: its outputs equal the widened model's at layer1
printf 'base "out/char_model_transfer.zip"\nsave "out/again.zip"\nsave "out/again.yaml"\n' >"$W/again.surgery"
expect_status 0 "the transfer zip read and written again" "$BIN" run "$W/again.surgery"
expect_status 0 "predict with the transfer file" "$BIN" predict "$W/out/char_model_transfer.zip" --input "$W/sample.npy" -o "$TMP/t1.csv"
expect_status 0 "predict with it written again (.zip)" "$BIN" predict "$W/out/again.zip" --input "$W/sample.npy" -o "$TMP/t2.csv"
expect_status 0 "predict with it written again (.yaml)" "$BIN" predict "$W/out/again.yaml" --input "$W/sample.npy" -o "$TMP/t3.csv"
max_diff "$TMP/t1.csv" "$TMP/t2.csv" 0 "a DL4J zip written again predicts the same"
max_diff "$TMP/t1.csv" "$TMP/t3.csv" 0 "a DL4J zip as surgery's format predicts the same"

# ---- any model to DL4J: a native model saved as .zip ----
cp "$M/seq.yaml" "$M/seq.safetensors" "$TMP/"
printf 'base "seq.yaml"\nsave "seq.zip"\n' >"$TMP/seq.surgery"
expect_status 0 "a surgery model saved as a DL4J zip" "$BIN" run "$TMP/seq.surgery"
expect_status 0 "predict with the native model" "$BIN" predict "$TMP/seq.yaml" --input "$M/seq_input.npy" -o "$TMP/s1.csv"
expect_status 0 "predict with its DL4J zip" "$BIN" predict "$TMP/seq.zip" --input "$M/seq_input.npy" -o "$TMP/s2.csv"
max_diff "$TMP/s1.csv" "$TMP/s2.csv" 0 "native and DL4J zip predict the same"

# ---- refusals: what a MultiLayerNetwork cannot hold; the previous file stays ----
cp "$M/graph.yaml" "$TMP/"
mkdir "$TMP/g"
cp "$W/char_model.zip" "$TMP/g/graph.zip"
before=$(cksum <"$TMP/g/graph.zip")
printf 'base "graph.yaml"\nsave "g/graph.zip"\n' >"$TMP/graph.surgery"
expect_status 1 "a graph saved as a DL4J zip: refused by check" "$BIN" check --color=never "$TMP/graph.surgery"
expect_in "$TMP/err" "graph.surgery:2:6: error: save \"g/graph.zip\": the dl4j writer cannot hold the edited model: 'in' feeds both 'wide' and 'narrow': a DL4J MultiLayerNetwork is a chain of layers" "check's refusal names the save and the layers"
expect_status 1 "a graph saved as a DL4J zip: refused before the run" "$BIN" run --color=never "$TMP/graph.surgery"
expect_status 4 "a graph converted to a DL4J zip" "$BIN" convert --color=never "$TMP/graph.yaml" "$TMP/g/graph.zip"
expect_in "$TMP/err" "cannot save as DL4J: 'in' feeds both 'wide' and 'narrow': a DL4J MultiLayerNetwork is a chain of layers" "the writer's refusal names the layers"
[ "$(cksum <"$TMP/g/graph.zip")" = "$before" ] && ok || bad "the refused save changed the previous file"
[ "$(ls -A "$TMP/g")" = "graph.zip" ] && ok || bad "the refused save left: $(ls -A "$TMP/g")"
printf 'base "graph.yaml"\nsave "graph.bin"\n' >"$TMP/bin.surgery"
expect_status 1 "save to .bin" "$BIN" check --color=never "$TMP/bin.surgery"
expect_in "$TMP/err" "the path must end in .yaml, .onnx or .zip, got \"graph.bin\"" "the .bin refusal"

finish
