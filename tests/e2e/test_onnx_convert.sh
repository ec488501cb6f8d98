#!/bin/sh
# test_onnx_convert.sh: `surgery convert` and `save "NAME.onnx"` end to end: every layer type
# native -> ONNX -> native with identical predictions and architecture, ONNX options, what convert
# prints, its failures (exit statuses, messages naming the file, nothing left behind).
# Usage: test_onnx_convert.sh SURGERY
set -u
NAME=test_onnx_convert
. "$(dirname "$0")/lib.sh"
D=tests/data/onnx_write

same_file() {   # same_file A B LABEL
    if cmp -s "$1" "$2"; then ok; else bad "$3: $1 and $2 differ"; fi
}

# ---- every layer type: native -> ONNX -> native, predictions and architecture unchanged ----
printf '0.5,-1,2,0.25,1.5\n-0.5,0.75,-2,1,0\n' >"$TMP/x5.csv"
printf '1,-1,0.5\n0.25,0,2\n' >"$TMP/x3.csv"
for m in acts norm_mlp; do
    x=$TMP/x5.csv
    [ $m = norm_mlp ] && x=$TMP/x3.csv
    expect_status 0 "convert $m to onnx" "$BIN" convert $D/$m.yaml "$TMP/$m.onnx"
    expect_in "$TMP/out" "wrote $TMP/$m.onnx" "convert $m prints what it wrote"
    expect_status 0 "convert $m back" "$BIN" convert -q "$TMP/$m.onnx" "$TMP/${m}_back.yaml"
    expect_status 0 "convert $m to yaml" "$BIN" convert -q $D/$m.yaml "$TMP/${m}_n.yaml"
    expect_status 0 "predict $m" "$BIN" predict $D/$m.yaml --input "$x" -o "$TMP/$m.a.csv"
    expect_status 0 "predict $m.onnx" "$BIN" predict "$TMP/$m.onnx" --input "$x" -o "$TMP/$m.b.csv"
    expect_status 0 "predict ${m}_back" "$BIN" predict "$TMP/${m}_back.yaml" --input "$x" -o "$TMP/$m.c.csv"
    same_file "$TMP/$m.a.csv" "$TMP/$m.b.csv" "$m: predict on the ONNX export"
    same_file "$TMP/$m.a.csv" "$TMP/$m.c.csv" "$m: predict after native -> onnx -> native"
    sed "s/${m}_back/X/" "$TMP/${m}_back.yaml" >"$TMP/b.yaml"
    sed "s/${m}_n/X/" "$TMP/${m}_n.yaml" >"$TMP/n.yaml"
    same_file "$TMP/b.yaml" "$TMP/n.yaml" "$m: the architecture after native -> onnx -> native"
done
for m in cnn_a cnn_b rnn embed_rnn; do
    expect_status 0 "convert $m to onnx" "$BIN" convert $D/$m.yaml "$TMP/$m.onnx"
    expect_status 0 "convert $m back" "$BIN" convert -q "$TMP/$m.onnx" "$TMP/${m}_back.yaml"
    expect_status 0 "convert $m to yaml" "$BIN" convert -q $D/$m.yaml "$TMP/${m}_n.yaml"
    sed "s/${m}_back/X/" "$TMP/${m}_back.yaml" >"$TMP/b.yaml"
    sed "s/${m}_n/X/" "$TMP/${m}_n.yaml" >"$TMP/n.yaml"
    same_file "$TMP/b.yaml" "$TMP/n.yaml" "$m: the architecture after native -> onnx -> native"
done
expect_status 0 "convert cnn_b again" "$BIN" convert $D/cnn_b.yaml "$TMP/cnn_b2.onnx"
expect_in "$TMP/out" "separable_conv2d   -> Conv, Clip" "convert names the layer types and operators"
expect_in "$TMP/out" "GlobalMaxPool, Flatten" "convert names the operators"

# ---- a convolutional input's normaliser: .npy [B, C, H, W], CSV rows and the ONNX export agree ----
expect_status 0 "predict norm_cnn npy" "$BIN" predict $D/norm_cnn.yaml --input $D/norm_cnn_x.npy -o "$TMP/nc.a.csv"
expect_status 0 "predict norm_cnn csv" "$BIN" predict $D/norm_cnn.yaml --input $D/norm_cnn_x.csv -o "$TMP/nc.b.csv"
same_file "$TMP/nc.a.csv" "$TMP/nc.b.csv" "norm_cnn: the normaliser on [B, C, H, W] and on rows"
expect_status 0 "convert norm_cnn" "$BIN" convert -q $D/norm_cnn.yaml "$TMP/nc.onnx"
expect_status 0 "predict norm_cnn.onnx" "$BIN" predict "$TMP/nc.onnx" --input $D/norm_cnn_x.npy -o "$TMP/nc.c.csv"
same_file "$TMP/nc.a.csv" "$TMP/nc.c.csv" "norm_cnn: predict on the ONNX export"

# ---- options ----
expect_status 0 "convert --opset 13 --external-data" "$BIN" convert --opset 13 --external-data $D/cnn_a.yaml "$TMP/ext.onnx"
if [ -f "$TMP/ext.onnx.data" ]; then ok; else bad "no external data file"; fi
expect_status 0 "summary of the external-data export" "$BIN" summary "$TMP/ext.onnx"
expect_status 2 "--opset 12" "$BIN" convert --opset 12 $D/acts.yaml "$TMP/o12.onnx"
expect_in "$TMP/err" "--opset takes a number from 13 to 18" "--opset 12 message"
expect_status 2 "--opset for a yaml output" "$BIN" convert --opset 13 $D/acts.yaml "$TMP/o.yaml"
expect_in "$TMP/err" "$TMP/o.yaml: --opset and --external-data are for an ONNX output" "--opset yaml message"

# ---- save "NAME.onnx" in a script ----
cat >"$TMP/s.surgery" <<EOS
base "$(pwd)/$D/acts.yaml"
freeze "a_identity"
save "saved/a.onnx"
save "saved/b.onnx" { opset = 14  external_data = true }
EOS
expect_status 0 "run a script saving .onnx" "$BIN" run "$TMP/s.surgery"
expect_in "$TMP/out" "saved $TMP/saved/a.onnx" "run reports the ONNX save"
expect_status 0 "summary of the saved .onnx" "$BIN" summary "$TMP/saved/a.onnx"
expect_in "$TMP/out" "(frozen dense)" "the frozen set survives the ONNX file"
if [ -f "$TMP/saved/b.onnx.data" ]; then ok; else bad "save { external_data = true } wrote no data file"; fi
expect_status 0 "check --help lists convert" "$BIN" --help
expect_in "$TMP/out" "convert" "the command list names convert"

# ---- failures ----
expect_status 0 "convert --help" "$BIN" convert --help
expect_in "$TMP/out" "usage: surgery convert IN OUT" "convert --help"
expect_in "$TMP/out" "exit status:" "convert --help lists exit statuses"
expect_status 2 "convert without arguments" "$BIN" convert
expect_status 2 "convert with one path" "$BIN" convert $D/acts.yaml
expect_status 2 "convert of a missing file" "$BIN" convert "$TMP/none.yaml" "$TMP/x.onnx"
expect_in "$TMP/err" "$TMP/none.yaml" "the missing file is named"
expect_status 2 "convert to an unknown suffix" "$BIN" convert $D/acts.yaml "$TMP/x.h5"
expect_in "$TMP/err" "$TMP/x.h5" "the unknown suffix's file is named"
expect_in "$TMP/err" ".onnx" "the suffixes are listed"
expect_status 2 "convert with an unknown option" "$BIN" convert --opst 13 $D/acts.yaml "$TMP/x.onnx"
expect_in "$TMP/err" "did you mean '--opset'" "did you mean --opset"
expect_status 2 "convert onto itself" "$BIN" convert "$TMP/acts.onnx" "$TMP/acts.onnx"
printf 'not a model\000\001' >"$TMP/junk.bin"
expect_status 1 "convert of a file no reader takes" "$BIN" convert "$TMP/junk.bin" "$TMP/j.onnx"
expect_in "$TMP/err" "$TMP/junk.bin: error: not a model file surgery reads" "junk named"
mkdir -p "$TMP/ro" && chmod a-w "$TMP/ro"
if [ "$(id -u)" != 0 ]; then
    expect_status 4 "convert into a read-only folder" "$BIN" convert $D/acts.yaml "$TMP/ro/x.onnx"
    expect_in "$TMP/err" "$TMP/ro/x.onnx" "the unwritable file is named"
fi
expect_status 4 "convert into a missing folder" "$BIN" convert $D/acts.yaml "$TMP/nowhere/x.onnx"
expect_in "$TMP/err" "$TMP/nowhere/x.onnx" "the unwritable file is named"
if [ ! -e "$TMP/j.onnx" ] && [ -z "$(ls -A "$TMP/ro")" ]; then ok; else bad "a failed convert left a file"; fi
finish
