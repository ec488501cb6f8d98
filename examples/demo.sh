#!/bin/sh
# demo.sh: the whole product on the shipped examples: train the base models from source, show
# a real diagnostic, plan and run the transfer, widen a trained LSTM with its outputs unchanged,
# train small convolutional networks, the transfer flow on a CNN read from PNG images, and
# net2net widening through concatenations and a multiply gate.
set -eu
SURGERY=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "$0")"
# same_outputs A.csv B.csv: the largest difference between two predictions; fails above 1e-6.
same_outputs() {
    paste -d, "$1" "$2" | awk -F, '
      NR > 0 { n = NF / 2; for (i = 1; i <= n; i++) { if ($i ~ /^[-0-9.eE+]+$/) { d = $i - $(i + n); if (d < 0) d = -d; if (d > max) max = d; c++ } } }
      END { printf "max |before - after| over %d outputs: %.3g\n", c, max; exit (max > 1e-6) }'
}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ surgery %s\n' "$*"; "$SURGERY" "$@"; }
rm -rf char_lstm/out digits/out digits/.surgery-cache digits_cnn/out digits_pool/out \
    digits_images/out digits_images/.surgery-cache onnx/out dl4j/out

step "1. Digits: train the base classifier on the digits 0-4"
run check digits/train_base.surgery
run run digits/train_base.surgery

step "2. Digits: the transfer script, checked before any weight is read"
run plan digits/transfer.surgery
printf '\n(a script with a mistake in it is refused with the line that causes it)\n'
sed 's/from "fc2"/from "fc3"/' digits/transfer.surgery > digits/out/broken.surgery
cp -r digits/common digits/out/ 2>/dev/null || true
sed -i 's|"out/digits_base.yaml"|"digits_base.yaml"|' digits/out/broken.surgery
if "$SURGERY" check --color=never digits/out/broken.surgery; then
    echo "demo: the broken script was accepted" >&2
    exit 1
fi

step "3. Digits: run the transfer (featurize the frozen part once, fit the new output layer)"
run run digits/transfer.surgery
printf '\n(the same script again: the featurized cache is reused; --sync makes the save durable)\n'
run run digits/transfer.surgery --sync
printf '\n(the saved model: frozen layers marked)\n'
run summary digits/out/digits_transfer.yaml

step "4. Digits: the same transfer script on a second split, through --set"
run run digits/transfer.surgery --set examples=450

step "5. Digits: edits that keep the outputs (net2net widen, identity deepen, rename), pruning, resizing"
run plan digits/grow.surgery
run run digits/grow.surgery
run run digits/prune.surgery
run run digits/resize.surgery
printf '\n(a fit with checkpoints; --resume continues from the last one, here the complete one)\n'
run run digits/checkpointed.surgery -q
run run digits/checkpointed.surgery --resume

step "6. Char LSTM: train the base model on the GPL-3 text"
run run char_lstm/train_base.surgery

step "7. Char LSTM: widen the trained LSTM by 8 units, keeping every trained weight"
run plan char_lstm/widen.surgery
run run char_lstm/widen.surgery
printf '\nOutputs before and after widening, on the same input:\n'
run predict char_lstm/out/char_lstm_trained.yaml --input char_lstm/sample.npy -o char_lstm/out/before.csv
run predict char_lstm/out/char_lstm_widened.yaml --input char_lstm/sample.npy -o char_lstm/out/after.csv
same_outputs char_lstm/out/before.csv char_lstm/out/after.csv

step "8. Char LSTM: add an entire untrained layer after the trained one"
run plan char_lstm/add_layer.surgery
run run char_lstm/add_layer.surgery

step "9. Digits CNN: train a small convolutional classifier (conv2d, separable_conv2d) from source"
run summary digits_cnn/base.yaml
run run digits_cnn/train_base.surgery
run predict digits_cnn/out/digits_cnn.yaml --input digits_cnn/sample.csv

step "10. Digits as images: padding, batch normalisation, upsampling, cropping, pooling, flatten"
run check digits_pool/train.surgery
run run digits_pool/train.surgery

step "11. Digits as PNG images: train a convolutional base (conv2d, max pooling) on the digits 0-4"
run check digits_images/train_base.surgery
run run digits_images/train_base.surgery

step "12. Digits as PNG images: the transfer flow on the CNN (frozen convolutional body, new head for 5-9)"
run plan digits_images/transfer.surgery
run run digits_images/transfer.surgery
run summary digits_images/out/digits_images_transfer.yaml
run predict digits_images/out/digits_images_transfer.yaml --input digits_images/sample_5to9.csv --classes

step "13. Digits as PNG images: net2net widening of a convolutional layer (the accuracy stays the same)"
run plan digits_images/widen.surgery
run run digits_images/widen.surgery

step "14. Digits as PNG images: concatenations (DenseNet, SqueezeNet), a multiply gate and clip(0, 6)"
run run digits_images/dense_train.surgery
printf '\n(the saved model keeps the class folders'"'"' names: predict prints each class beside its index)\n'
run predict digits_images/out/digits_dense.yaml --input digits_images/sample_0to4.csv --classes
printf '\n(net2net through the concatenations; widening c2 changes g too, coupled by the product)\n'
run plan digits_images/dense_widen.surgery
run run digits_images/dense_widen.surgery
run predict digits_images/out/digits_dense.yaml --input digits_images/sample_0to4.csv -o digits_images/out/before.csv
run predict digits_images/out/digits_dense_widened.yaml --input digits_images/sample_0to4.csv -o digits_images/out/after.csv
same_outputs digits_images/out/before.csv digits_images/out/after.csv

step "15. A model from elsewhere: a PyTorch MLP exported to ONNX, widened, saved as surgery's own format"
run summary onnx/mlp.onnx
run run onnx/widen.surgery
run predict onnx/mlp.onnx --input onnx/sample.csv -o onnx/out/before.csv
run predict onnx/out/mlp_widened.yaml --input onnx/sample.csv -o onnx/out/after.csv
same_outputs onnx/out/before.csv onnx/out/after.csv

step "16. Back to ONNX: the imported MLP widened with net2net, a layer frozen, saved as .onnx (opsets 17 and 13)"
run run onnx/export.surgery
run predict onnx/out/mlp_widened.onnx --input onnx/sample.csv -o onnx/out/after_onnx.csv
same_outputs onnx/out/before.csv onnx/out/after_onnx.csv
printf '\n(the ONNX file read back into surgery'"'"'s own format: the frozen layer is still frozen)\n'
run convert onnx/out/mlp_widened.onnx onnx/out/mlp_from_onnx.yaml
run summary onnx/out/mlp_from_onnx.yaml

step "17. A network trained in DL4J: widen its LSTM, save it as a DL4J file again, then transfer"
run summary dl4j/char_model.zip
run run dl4j/widen.surgery
run predict dl4j/char_model.zip --input dl4j/sample.npy -o dl4j/out/before.csv
run predict dl4j/out/char_model_wide.zip --input dl4j/sample.npy -o dl4j/out/after.csv
same_outputs dl4j/out/before.csv dl4j/out/after.csv
printf '(and DL4J'"'"'s own recorded outputs of the original model:)\n'
same_outputs dl4j/out/after.csv dl4j/expected.csv
run run dl4j/transfer.surgery
run summary dl4j/out/char_model_transfer.zip

step "Done"
echo "saved models: digits/out/, char_lstm/out/, digits_cnn/out/, digits_pool/out/, digits_images/out/, onnx/out/ and dl4j/out/ under examples/"
