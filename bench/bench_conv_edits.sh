#!/bin/sh
# bench_conv_edits.sh: for every convolution (conv2d, depthwise_conv2d) of resnet18, mobilenet_v2,
# squeezenet1_1 (build/onnx-models) and the VGG-style body (tests/data/onnx/models), all from
# tools/gen-onnx-models.py: whether `narrow "<conv>" to floor(0.75 n)` passes check and run, and
# whether `widen "<conv>" by floor(0.25 n) { method = net2net }` passes check and run and keeps
# predict's outputs on the model's fixed random input (max abs diff printed; "same" is below
# 1e-4 times the largest output). Prints a line a convolution, the counts a model and each
# refusal's first error line grouped with its count. Reported, never asserted.
# Usage: bench_conv_edits.sh BINARY [MODEL ...]   (default: the four above)
bin=${1:?usage: bench/bench_conv_edits.sh BINARY [MODEL ...]}
shift
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
py=/usr/bin/python3
big=build/onnx-models
small=tests/data/onnx/models
tmp=$(mktemp -d "${TMPDIR:-/tmp}/surgery-bench-conv.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
models=${*:-"resnet18 mobilenet_v2 squeezenet1_1 vgg_body"}

if [ ! -f "$big/resnet18.onnx" ]; then
    if ! "$py" -c 'import torch, torchvision' 2>/dev/null; then
        echo "bench_conv_edits: skipped (torch and torchvision are needed to write $big)"
        exit 0
    fi
    echo "bench_conv_edits: writing $big (tools/gen-onnx-models.py)"
    "$py" tools/gen-onnx-models.py "$tmp/small" "$big" >/dev/null 2>&1 ||
        { echo "bench_conv_edits: tools/gen-onnx-models.py failed"; exit 2; }
fi

# max abs diff of two CSV files of equal shape, and the largest magnitude of the first
maxdiff() {
    awk -F, 'NR == FNR { for (i = 1; i <= NF; i++) a[FNR, i] = $i; next }
             { for (i = 1; i <= NF; i++) { d = $i - a[FNR, i]; if (d < 0) d = -d; if (d > m) m = d
                                           v = a[FNR, i]; if (v < 0) v = -v; if (v > s) s = v } }
             END { printf "%.3g %.3g\n", m, s }' "$1" "$2"
}

: >"$tmp/reasons"
: >"$tmp/detail"
printf '%-16s %6s %9s %9s %12s\n' model convs "narrow ok" "widen ok" "max diff"
for name in $models; do
    dir=$big
    [ -f "$dir/$name.onnx" ] || dir=$small
    onnx=$PWD/$dir/$name.onnx
    x=$PWD/$dir/${name}_x.npy
    if [ ! -f "$onnx" ] || [ ! -f "$x" ]; then
        echo "$name: $onnx or its input is missing"
        continue
    fi
    "$bin" predict "$onnx" --input "$x" >"$tmp/base.csv" 2>"$tmp/err" ||
        { echo "$name: predict failed: $(head -1 "$tmp/err")"; continue; }
    "$bin" summary "$onnx" | awk '$2 == "(conv2d)" || $2 == "(depthwise_conv2d)" {
        split($3, a, ","); split(a[2], c, " "); gsub(/[()]/, "", $2); print $1, $2, c[1] }' >"$tmp/convs"
    n=0 nok=0 wok=0 worst=0
    while read -r conv type ch; do
        n=$((n + 1))
        to=$((ch * 3 / 4)) by=$((ch / 4))
        [ "$by" -ge 1 ] || by=1
        printf 'base "%s"\nnarrow "%s" to %d\n' "$onnx" "$conv" "$to" >"$tmp/n.surgery"
        if "$bin" check "$tmp/n.surgery" >/dev/null 2>"$tmp/err" &&
           "$bin" run "$tmp/n.surgery" >/dev/null 2>>"$tmp/err"; then
            nres=ok
            nok=$((nok + 1))
        else
            nres=refused
            echo "narrow $type: $(grep -m1 'error' "$tmp/err" | sed 's/^[^ ]*: error: //; s/'"'"'[^'"'"']*'"'"'/X/g')" >>"$tmp/reasons"
        fi
        printf 'base "%s"\nwiden "%s" by %d { method = net2net }\nsave "%s/w.yaml"\n' \
            "$onnx" "$conv" "$by" "$tmp" >"$tmp/w.surgery"
        rm -f "$tmp/w.yaml" "$tmp/w.safetensors"
        wres=refused
        if "$bin" check "$tmp/w.surgery" >/dev/null 2>"$tmp/err" &&
           "$bin" run "$tmp/w.surgery" >/dev/null 2>>"$tmp/err" &&
           "$bin" predict "$tmp/w.yaml" --input "$x" >"$tmp/w.csv" 2>>"$tmp/err"; then
            if [ "$(head -1 "$tmp/w.csv" | tr -cd , | wc -c)" != "$(head -1 "$tmp/base.csv" | tr -cd , | wc -c)" ]; then
                echo "widen $type: the model's output grows (the convolution is its output)" >>"$tmp/reasons"
                echo "  $name $conv ($type, $ch channels): narrow to $to $nres, widen by $by: the output grows" >>"$tmp/detail"
                continue
            fi
            set -- $(maxdiff "$tmp/base.csv" "$tmp/w.csv")
            d=$1
            worst=$(awk -v a="$worst" -v b="$d" 'BEGIN { print (b > a) ? b : a }')
            if awk -v d="$d" -v s="$2" 'BEGIN { exit !(d <= 1e-4 * (s > 1 ? s : 1)) }'; then
                wres="ok diff $d"
                wok=$((wok + 1))
            else
                wres="changed diff $d"
                echo "widen $type: outputs change (max abs diff over 1e-4 of the largest output)" >>"$tmp/reasons"
            fi
        else
            echo "widen $type: $(grep -m1 'error' "$tmp/err" | sed 's/^[^ ]*: error: //; s/'"'"'[^'"'"']*'"'"'/X/g')" >>"$tmp/reasons"
        fi
        echo "  $name $conv ($type, $ch channels): narrow to $to $nres, widen by $by $wres" >>"$tmp/detail"
    done <"$tmp/convs"
    printf '%-16s %6d %9d %9d %12s\n' "$name" "$n" "$nok" "$wok" "$worst"
done
echo
echo "per convolution:"
cat "$tmp/detail"
if [ -s "$tmp/reasons" ]; then
    echo
    echo "refusals (grouped; names as X):"
    sort "$tmp/reasons" | uniq -c | sort -rn
fi
