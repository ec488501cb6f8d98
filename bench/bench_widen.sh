#!/bin/sh
# bench_widen.sh: times `surgery run` of `widen "fc1" by 64` + save on a VGG16-sized dense model
# (25088-4096-4096-3584-1000, 137.8M float32 parameters, 551 MB of weights) against `cp` of its
# weights file, and reports wall-time ratio (target <= 2x the copy) and peak RSS / weights size
# (target <= 1.3x); then `surgery run --sync` (a durable save) against `cp` followed by `sync`.
# Usage: bench_widen.sh BINARY [RUNS]
bin=${1:?usage: bench/bench_widen.sh BINARY [RUNS]}
runs=${2:-3}
py=/usr/bin/python3
if [ ! -x /usr/bin/time ]; then
    echo "bench_widen: installing time (peak RSS)"
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq time; else sudo apt-get install -y -qq time; fi
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/surgery-bench-widen.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

# The model: YAML + safetensors (no architecture_hash in __metadata__, which the loader accepts),
# Xavier-normal weights, zero biases, tensors sorted by name and contiguous.
"$py" - "$tmp" <<'EOF' || exit 2
import json, os, struct, sys
import numpy as np
out = sys.argv[1]
sizes = [("fc1", 25088, 4096), ("fc2", 4096, 4096), ("fc3", 4096, 3584), ("out", 3584, 1000)]
with open(os.path.join(out, "big.yaml"), "w") as f:
    f.write("format: surgery-model/1\nname: big\ninputs:\n  - name: in\n    type: feed_forward\n"
            "    size: 25088\nlayers:\n")
    for name, n_in, n_out in sizes:
        if name == "out":
            f.write(f"  - name: out\n    type: output\n    n_out: {n_out}\n    activation: softmax\n"
                    "    loss: mcxent\n")
        else:
            f.write(f"  - name: {name}\n    type: dense\n    n_out: {n_out}\n    activation: relu\n")
    f.write("outputs: [out]\nweights: big.safetensors\n")
tensors = []
for name, n_in, n_out in sizes:
    tensors.append((name + ".W", (n_in, n_out)))
    tensors.append((name + ".b", (n_out,)))
tensors.sort()
header, off = {"__metadata__": {"format": "surgery-model/1"}}, 0
for name, shape in tensors:
    nbytes = 4 * int(np.prod(shape))
    header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + nbytes]}
    off += nbytes
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
rng = np.random.default_rng(1)
with open(os.path.join(out, "big.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for name, shape in tensors:
        if len(shape) == 1:
            np.zeros(shape, np.float32).tofile(f)
            continue
        std = np.float32((2.0 / (shape[0] + shape[1])) ** 0.5)
        for r in range(0, shape[0], 2048):          # in slices: bounded memory
            x = rng.standard_normal((min(2048, shape[0] - r), shape[1]), dtype=np.float32)
            x *= std
            x.tofile(f)
EOF
weights="$tmp/big.safetensors"
wbytes=$(wc -c <"$weights" | tr -d ' ')
params=$(( (wbytes - 8 - $(od -An -t u8 -N 8 "$weights" | tr -d ' ')) / 4 ))
printf 'widen "fc1" by 64 on a %s-parameter dense model (%s MB of weights), median of %s runs\n' \
    "$params" $((wbytes / 1000000)) "$runs"
cat >"$tmp/widen.surgery" <<'EOF'
base "big.yaml"
widen "fc1" by 64
save "out/wide.yaml"
EOF
if ! "$bin" check --color=never "$tmp/widen.surgery"; then
    echo "bench_widen: the script does not check" >&2
    exit 1
fi

bench=bench_widen
. "$(dirname "$0")/bench_lib.sh"

# Each command: one untimed run, then RUNS timed runs back to back, so that every timed run
# follows a run of the same command (the page cache and the file system's pending work are
# in the same state for ours and the copy).
: >"$tmp/warm"
timed_runs "$tmp/ours" 'rm -rf "$tmp/out"; mkdir "$tmp/out"' "$bin" run -q --color=never "$tmp/widen.surgery"
timed_runs "$tmp/cp" 'rm -f "$tmp/copy.safetensors"' cp "$weights" "$tmp/copy.safetensors"
# a durable save (--sync) against the same copy made durable
timed_runs "$tmp/ours_sync" 'rm -rf "$tmp/out"; mkdir "$tmp/out"' \
    "$bin" run -q --sync --color=never "$tmp/widen.surgery"
timed_runs "$tmp/cpsync" 'rm -f "$tmp/copy.safetensors"' \
    sh -c 'cp "$1" "$2" && sync "$2"' sh "$weights" "$tmp/copy.safetensors"
rm -f "$tmp/copy.safetensors"
if [ ! -s "$tmp/out/wide.safetensors" ]; then
    echo "bench_widen: no out/wide.safetensors written" >&2
    exit 1
fi
obytes=$(wc -c <"$tmp/out/wide.safetensors" | tr -d ' ')
ours_us=$(median "$tmp/ours" 1)
ours_kb=$(median "$tmp/ours" 2)
cp_us=$(median "$tmp/cp" 1)
cps_us=$(median "$tmp/cpsync" 1)
sync_us=$(median "$tmp/ours_sync" 1)
sync_kb=$(median "$tmp/ours_sync" 2)
awk -v a="$ours_us" -v b="$cp_us" -v c="$cps_us" -v k="$ours_kb" -v w="$wbytes" -v o="$obytes" \
    -v s="$sync_us" -v sk="$sync_kb" 'BEGIN {
    printf "widen+save wall: ours %.3f s, cp %.3f s: %.2fx the copy (target <= 2x)\n", a / 1e6, b / 1e6, a / b
    printf "widen+save --sync (durable) wall: ours %.3f s, cp+sync %.3f s: %.2fx (%.2fx the plain copy); peak RSS %.2fx the weights\n",
        s / 1e6, c / 1e6, s / c, s / b, sk * 1024 / w
    printf "widen+save peak RSS: ours %.0f MB, weights %.0f MB: %.2fx the weights (target <= 1.3x); wrote %.0f MB\n",
        k * 1024 / 1e6, w / 1e6, k * 1024 / w, o / 1e6
}'
printf '  (runs in s: ours %s; cp %s; ours --sync %s; cp+sync %s)\n' \
    "$(awk '{ printf " %.2f", $1 / 1e6 }' "$tmp/ours")" "$(awk '{ printf " %.2f", $1 / 1e6 }' "$tmp/cp")" \
    "$(awk '{ printf " %.2f", $1 / 1e6 }' "$tmp/ours_sync")" \
    "$(awk '{ printf " %.2f", $1 / 1e6 }' "$tmp/cpsync")"
echo "  (load average while measuring:$(uptime | sed 's/.*load average://'))"
