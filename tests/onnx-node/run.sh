#!/bin/sh
# run.sh: ONNX's backend test cases (the data/node and data/pytorch-converted folders of
# Debian's libonnx-testdata) through build/onnx-node-runner; prints the counts (cases, run,
# passed, failed, skipped as unsupported) and fails when a case that loads does not match.
# Usage: sh tests/onnx-node/run.sh RUNNER [-v]
set -eu
runner=${1:?usage: run.sh RUNNER [-v]}
shift
data=""
if command -v dpkg >/dev/null 2>&1; then
    data=$(dpkg -L libonnx-testdata 2>/dev/null | grep '/data/node$' | head -n 1 || true)
fi
[ -n "$data" ] || data=/usr/share/libonnx-testdata/data/node
root=$(dirname "$data")
if [ ! -d "$root/node" ]; then
    echo "onnx-node: libonnx-testdata is not installed (sh tools/ensure-deps.sh)" >&2
    exit 1
fi
OPENBLAS_NUM_THREADS=1 "$runner" "$@" "$root/node" "$root/pytorch-converted"
