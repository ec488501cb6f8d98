#!/bin/sh
# bench_onnx_import.sh: reading torchvision exports (resnet18, mobilenet_v2, squeezenet1_1 with
# seeded weights, written by tools/gen-onnx-models.py into build/onnx-models when absent):
# wall time and peak RSS of `surgery summary` (the import alone) and of `surgery predict` on
# one 224 x 224 image, beside the file's size. Reported, never asserted.
# Usage: sh bench/bench_onnx_import.sh SURGERY
set -eu
SURGERY=$1
DIR=build/onnx-models
if [ ! -f "$DIR/squeezenet1_1.onnx" ]; then
    /usr/bin/python3 tools/gen-onnx-models.py tests/data/onnx/models "$DIR" >/dev/null 2>&1 ||
        { echo "bench: tools/gen-onnx-models.py failed"; exit 1; }
fi
echo "== ONNX import of torchvision models (file size; summary = import; predict = import + 1 image) =="
printf '%-16s %9s %12s %12s %12s %12s\n' model "file MB" "summary s" "summary MB" "predict s" "predict MB"
for m in resnet18 mobilenet_v2 squeezenet1_1; do
    f=$DIR/$m.onnx
    mb=$(du -m "$f" | cut -f1)
    s=$(/usr/bin/time -f "%e %M" "$SURGERY" summary "$f" 2>&1 >/dev/null | tail -n 1)
    p=$(OPENBLAS_NUM_THREADS=2 /usr/bin/time -f "%e %M" "$SURGERY" predict "$f" \
        --input "$DIR/${m}_x.npy" -o "$DIR/${m}_ours.npy" 2>&1 >/dev/null | tail -n 1)
    printf '%-16s %9s %12s %12.0f %12s %12.0f\n' "$m" "$mb" "${s% *}" "$(( ${s#* } / 1024 ))" \
        "${p% *}" "$(( ${p#* } / 1024 ))"
done
