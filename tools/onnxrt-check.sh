#!/bin/sh
# onnxrt-check.sh: checks surgery's ONNX exports in a real runtime (a development tool, not part
# of make test). Installs onnxruntime-node from the npm registry into a scratch folder, exports
# every model of tests/data/onnx_write (every layer type and activation), tests/data/edit,
# tests/data/onnx, tests/data/dl4j and examples/ (and the trained ones of examples/*/out after
# make demo) with `surgery convert`, runs each in onnxruntime on random input and compares every
# output with `surgery predict` on the same input (on the model read back from its export, and
# on the original): the largest absolute difference per model must stay within 1e-5. A model
# surgery does not read is listed as skipped. Then net2net widenings (outputs unchanged) of a
# CNN, a residual CNN and the imported MLP: the widened model's export must give the original
# export's outputs in onnxruntime within 1e-5. Needs node, npm, and /usr/bin/python3 with numpy
# and onnx (input shapes).
# usage: sh tools/onnxrt-check.sh [SURGERY] [SCRATCH]   (ONNXRT_OPSET=N: export with opset N;
# ONNXRT_MODELS="A B ...": only these models)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
surgery=${1:-$here/build/surgery}
scratch=${2:-${TMPDIR:-/tmp}/surgery-onnxrt}
tol=1e-5
mkdir -p "$scratch/ort" "$scratch/work"
if [ ! -d "$scratch/ort/node_modules/onnxruntime-node" ]; then
    echo "installing onnxruntime-node into $scratch/ort"
    (cd "$scratch/ort" && [ -f package.json ] || echo '{"private": true}' > package.json
     ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund onnxruntime-node >/dev/null)
fi
export ORT_DIR="$scratch/ort"
models=${ONNXRT_MODELS:-$(ls "$here"/tests/data/onnx_write/*.yaml "$here"/tests/data/edit/*.yaml \
            "$here"/tests/data/onnx/*.onnx "$here"/tests/data/dl4j/*.zip \
            "$here"/tests/data/dl4j/*Example_100b4.bin "$here"/examples/*/*.yaml "$here"/examples/*/*.onnx \
            "$here"/examples/*/out/*.yaml 2>/dev/null || true)}
fail=0
printf '%-36s %-14s %s\n' model output "max |onnxruntime - surgery predict|"
for src in $models; do
    name=$(echo "$src" | sed -e "s|^$here/||" -e 's|^tests/data/||')
    w="$scratch/work/$(printf '%s' "$name" | tr -c 'A-Za-z0-9' _)"
    rm -rf "$w" && mkdir -p "$w/ort"
    if ! "$surgery" convert -q ${ONNXRT_OPSET:+--opset "$ONNXRT_OPSET"} "$src" "$w/model.onnx" \
            2>"$w/err"; then
        printf '%-36s skipped, surgery does not read it: %s\n' "$name" "$(head -c 90 "$w/err")"
        continue
    fi
    # the native copy of the original, so that predict on it and on the export see the same weights
    "$surgery" convert -q "$src" "$w/orig.yaml"
    /usr/bin/python3 - "$w" <<'PY'
import sys, onnx, numpy as np
w = sys.argv[1]
m = onnx.load(f"{w}/model.onnx")
g = m.graph
inits = {t.name: t for t in g.initializer}
rng = np.random.default_rng(7)
for k, vi in enumerate(g.input):
    dims = [d.dim_value if d.HasField("dim_value") else (3 if i == 0 else 5)
            for i, d in enumerate(vi.type.tensor_type.shape.dim)]
    # indices for an embedding: the Gather of an initializer behind a Cast
    gathers = [n for n in g.node if n.op_type == "Gather" and n.input[0] in inits]
    if any(n.op_type == "Cast" for n in g.node) and gathers:
        vocab = min(inits[n.input[0]].dims[0] for n in gathers)
        x = rng.integers(0, vocab, size=dims).astype(np.float32)
    else:
        x = rng.normal(size=dims).astype(np.float32)
    np.save(f"{w}/in{k}.npy", x)
with open(f"{w}/outputs", "w") as f:
    f.write("\n".join(o.name for o in g.output) + "\n")
PY
    node "$here/tools/onnxrt_run.mjs" "$w/model.onnx" "$w/ort" "$w/in0.npy"
    while read -r out; do
        "$surgery" predict "$w/model.onnx" --input "$w/in0.npy" --output "$out" -o "$w/back_$out.npy"
        "$surgery" predict "$w/orig.yaml" --input "$w/in0.npy" --output "$out" -o "$w/orig_$out.npy"
        diff=$(/usr/bin/python3 -c "
import numpy as np, sys
r = np.load('$w/ort/$out.npy'); a = np.load('$w/back_$out.npy'); b = np.load('$w/orig_$out.npy')
assert r.shape == a.shape == b.shape, (r.shape, a.shape, b.shape)
print('%.3g' % max(np.abs(r - a).max(), np.abs(r - b).max()))")
        verdict=ok
        if ! /usr/bin/python3 -c "import sys; sys.exit(0 if $diff <= $tol else 1)"; then
            verdict=FAIL
            fail=1
        fi
        printf '%-36s %-14s %-10s %s\n' "$name" "$out" "$diff" "$verdict"
    done < "$w/outputs"
done

# ---- edits that keep the outputs, seen by onnxruntime: the export of a net2net-widened model
# gives the original export's outputs ----
printf '\n%-36s %-14s %s\n' "net2net widen, both exported" output "max |onnxruntime(widened) - onnxruntime(original)|"
edit_check() {   # edit_check NAME BASE STATEMENT
    w="$scratch/work/widen_$(printf '%s' "$1" | tr -c 'A-Za-z0-9' _)"
    rm -rf "$w" && mkdir -p "$w/a" "$w/b"
    printf 'base "%s"\n%s\nsave "%s/widened.onnx"\n' "$2" "$3" "$w" >"$w/widen.surgery"
    "$surgery" run -q "$w/widen.surgery"
    "$surgery" convert -q "$2" "$w/original.onnx"
    /usr/bin/python3 -c "
import numpy as np, onnx
g = onnx.load('$w/original.onnx').graph
d = [x.dim_value if x.HasField('dim_value') else 3 for x in g.input[0].type.tensor_type.shape.dim]
np.save('$w/in.npy', np.random.default_rng(5).normal(size=d).astype(np.float32))
open('$w/out', 'w').write(g.output[0].name)"
    node "$here/tools/onnxrt_run.mjs" "$w/original.onnx" "$w/a" "$w/in.npy"
    node "$here/tools/onnxrt_run.mjs" "$w/widened.onnx" "$w/b" "$w/in.npy"
    out=$(cat "$w/out")
    diff=$(/usr/bin/python3 -c "
import numpy as np
print('%.3g' % np.abs(np.load('$w/a/$out.npy') - np.load('$w/b/$out.npy')).max())")
    verdict=ok
    if ! /usr/bin/python3 -c "import sys; sys.exit(0 if $diff <= $tol else 1)"; then
        verdict=FAIL
        fail=1
    fi
    printf '%-36s %-14s %-10s %s\n' "$1" "$out" "$diff" "$verdict"
}
edit_check "edit/conv.yaml: widen c1 to 8" "$here/tests/data/edit/conv.yaml" 'widen "c1" to 8 { method = net2net }'
edit_check "edit/resid.yaml: widen c1 to 9" "$here/tests/data/edit/resid.yaml" 'widen "c1" to 9 { method = net2net }'
edit_check "onnx/mlp.onnx: widen gemm_0 to 16" "$here/examples/onnx/mlp.onnx" 'widen "gemm_0" to 16 { method = net2net }'
[ "$fail" = 0 ] && echo "all within $tol" || { echo "some differ by more than $tol"; exit 1; }
