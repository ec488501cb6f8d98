#!/bin/sh
# test_save_kill.sh: a save killed at any moment leaves the previous complete pair or the new
# complete pair, never a mix. A 20 MB model (generated here) is saved over and over into the
# same target, alternately as two different models, by `surgery run` (a third of the runs
# with --sync), and each run is killed with SIGKILL after a seeded random delay within the
# measured length of a run. After every kill the target must be one of the two models whole:
# its YAML (apart from the `weights:` line) and the weights file it names match, by hash,
# what an uninterrupted save of that model writes; every tenth state, and every state whose
# YAML names a generation file, is also loaded and run by `surgery predict`. The same for a
# save that fails (a file size limit makes the weights' write fail): status 4, the file
# named, the previous pair and the folder's listing unchanged; killed, the previous pair.
# Leftovers of killed saves are removed by the next complete save.
# Usage: test_save_kill.sh SURGERY   (SURGERY_KILL_SEED and SURGERY_KILLS override the
# seed and the number of kills)
set -u
NAME=test_save_kill
. "$(dirname "$0")/lib.sh"
SEED=${SURGERY_KILL_SEED:-14}
KILLS=${SURGERY_KILLS:-120}
FAIL_KILLS=24
export OPENBLAS_NUM_THREADS=1

now_ms() { date +%s%3N; }

# ---- the models ----
cat >"$TMP/arch.yaml" <<'EOF'
format: surgery-model/1
name: big
inputs:
  - {name: in, type: feed_forward, size: 1500}
layers:
  - {name: h, type: dense, inputs: [in], n_out: 1700, activation: relu}
  - {name: out, type: output, inputs: [h], n_out: 1500, activation: softmax, loss: mcxent}
outputs: [out]
init: {seed: 1, weight_init: xavier}
EOF
printf 'base "arch.yaml"\nsave "base/big.yaml"\n' >"$TMP/make.surgery"
expect_status 0 "generate the 20 MB base model" "$BIN" run -q "$TMP/make.surgery"
# model a widens h by 1, model b by 2: different YAML, different weights
script() {   # script MODEL TARGET
    case $1 in a) k=1 ;; b) k=2 ;; esac
    printf 'base "base/big.yaml"\nwiden "h" by %s\nsave "%s"\n' "$k" "$2" >"$TMP/$1-$(echo "$2" | tr / _).surgery"
    echo "$TMP/$1-$(echo "$2" | tr / _).surgery"
}
awk 'BEGIN { for (i = 0; i < 1500; i++) printf "%s%.3f", (i ? "," : ""), (i % 7) / 7.0; print "" }' \
    >"$TMP/x.csv"

# The signature of a saved pair: the YAML without its weights line, and the weights it names.
weights_of() { sed -n 's/^weights: //p' "$1"; }
sig() {   # sig YAML
    w=$(weights_of "$1")
    [ -n "$w" ] && [ -f "$(dirname "$1")/$w" ] || { echo "no-weights"; return; }
    echo "$(grep -v '^weights: ' "$1" | cksum) $(cksum <"$(dirname "$1")/$w")"
}
for mdl in a b; do
    expect_status 0 "reference save of $mdl" "$BIN" run -q "$(script $mdl ref_$mdl/m.yaml)"
    eval "sig_$mdl=\$(sig \"\$TMP/ref_$mdl/m.yaml\")"
    expect_status 0 "reference prediction of $mdl" "$BIN" predict "$TMP/ref_$mdl/m.yaml" -i "$TMP/x.csv" -o "$TMP/ref_$mdl.csv"
    if [ "$(weights_of "$TMP/ref_$mdl/m.yaml")" = m.safetensors ]; then ok; else bad "model $mdl: the YAML does not name m.safetensors"; fi
    if [ "$(ls "$TMP/ref_$mdl")" = "$(printf 'm.safetensors\nm.yaml')" ]; then ok; else bad "model $mdl: the save left $(ls "$TMP/ref_$mdl")"; fi
done
if [ "$sig_a" != "$sig_b" ]; then ok; else bad "the two models are not distinguishable"; fi
SA=$(script a target/m.yaml)
SB=$(script b target/m.yaml)

# which model the target holds: a, b, or "torn: ..." (also checks what else is in the folder)
state() {
    s=$(sig "$TMP/target/m.yaml")
    if [ "$s" = "$sig_a" ]; then echo a; elif [ "$s" = "$sig_b" ]; then echo b; else echo "torn: $s"; fi
}
leftovers_ok() {   # only the pair and the names an interrupted save uses
    for f in "$TMP"/target/*; do
        case ${f##*/} in
            m.yaml | m.safetensors | m.save-??????.safetensors | m.yaml.tmp-?????? | m.safetensors.tmp-??????) ;;
            *) return 1 ;;
        esac
    done
}
loads() {   # loads MODEL: the target loads with its weights and predicts as MODEL does
    "$BIN" predict "$TMP/target/m.yaml" -i "$TMP/x.csv" -o "$TMP/pred.csv" 2>"$TMP/err" &&
        cmp -s "$TMP/pred.csv" "$TMP/ref_$1.csv"
}
run_ms() {   # run_ms SCRIPT [OPTION]: the length of an uninterrupted run in milliseconds
    t0=$(now_ms)
    "$BIN" run -q ${2:-} "$1" >/dev/null 2>&1
    echo $(($(now_ms) - t0))
}

# ---- killed saves ----
expect_status 0 "the first save" "$BIN" run -q "$SA"
T=$(run_ms "$SB")
TS=$(run_ms "$SA" --sync)
run_ms "$SB" >/dev/null
echo "an uninterrupted run takes $T ms ($TS ms with --sync); $KILLS kills, seed $SEED"
prev=b
awk -v seed="$SEED" -v n="$KILLS" 'BEGIN { srand(seed); for (i = 0; i < n; i++) printf "%.4f\n", rand() }' \
    >"$TMP/delays"
i=0
new_seen=0 old_seen=0 gen_seen=0
while read -r r; do
    i=$((i + 1))
    if [ "$prev" = a ]; then next=b s=$SB; else next=a s=$SA; fi
    opt= len=$T
    if [ $((i % 3)) = 0 ]; then opt=--sync len=$TS; fi
    delay=$(awk -v r="$r" -v t="$len" 'BEGIN { printf "%.3f", r * t * 1.1 / 1000 }')
    "$BIN" run -q $opt "$s" >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    got=$(state)
    case $got in
        "$prev") old_seen=$((old_seen + 1)) ;;
        "$next") new_seen=$((new_seen + 1)) ;;
        *) bad "kill $i (${delay}s into a save of $next $opt over $prev): the target is $got"
           ls -l "$TMP/target"; break ;;
    esac
    if leftovers_ok; then ok; else bad "kill $i: unexpected files: $(ls "$TMP/target")"; fi
    w=$(weights_of "$TMP/target/m.yaml")
    [ "$w" = m.safetensors ] || gen_seen=$((gen_seen + 1))
    if [ "$w" != m.safetensors ] || [ $((i % 10)) = 0 ]; then
        if loads "$got"; then ok; else bad "kill $i: the target ($got, weights $w) does not predict as $got"; cat "$TMP/err"; fi
    fi
    prev=$got
done <"$TMP/delays"
echo "after $i kills: $old_seen left the previous model, $new_seen the new one, $gen_seen the new one under its generation name"
if [ "$i" -ge 100 ]; then ok; else bad "only $i kills"; fi
if [ "$old_seen" -gt 0 ] && [ "$new_seen" -gt 0 ]; then ok; else bad "the kills did not land both before and after the commit"; fi

# the next complete save removes every leftover
if [ "$prev" = a ]; then s=$SB next=b; else s=$SA next=a; fi
expect_status 0 "a complete save after the kills" "$BIN" run -q "$s"
if [ "$(state)" = "$next" ]; then ok; else bad "the complete save left $(state)"; fi
if [ "$(ls "$TMP/target")" = "$(printf 'm.safetensors\nm.yaml')" ]; then ok; else bad "leftovers remain: $(ls "$TMP/target")"; fi
prev=$next

# ---- failing saves: the weights cannot be written (a file size limit, as a full disk) ----
trap '' XFSZ   # the write fails with EFBIG instead of the signal killing the run
if [ "$prev" = a ]; then s=$SB; else s=$SA; fi
before=$(cd "$TMP/target" && cksum m.yaml m.safetensors)
listing=$(ls -a "$TMP/target")
expect_status 4 "a save whose weights cannot be written" sh -c 'ulimit -f 8000 && exec "$@"' sh "$BIN" run -q "$s"
expect_in "$TMP/err" "$TMP/target/m.safetensors" "the failed save names the weights file"
if [ "$(cd "$TMP/target" && cksum m.yaml m.safetensors)" = "$before" ]; then ok; else bad "the failed save changed the previous pair"; fi
if [ "$(ls -a "$TMP/target")" = "$listing" ]; then ok; else bad "the failed save left files: $(ls -a "$TMP/target")"; fi
j=0
awk -v seed="$((SEED + 1))" -v n="$FAIL_KILLS" 'BEGIN { srand(seed); for (i = 0; i < n; i++) printf "%.4f\n", rand() }' \
    >"$TMP/delays"
while read -r r; do
    j=$((j + 1))
    delay=$(awk -v r="$r" -v t="$T" 'BEGIN { printf "%.3f", r * t / 1000 }')
    sh -c 'ulimit -f 8000 && exec "$@"' sh "$BIN" run -q "$s" >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ "$(state)" = "$prev" ] && [ "$(cd "$TMP/target" && cksum m.yaml m.safetensors)" = "$before" ]; then ok
    else bad "failing save killed after ${delay}s: the target is $(state)"; break; fi
    if leftovers_ok; then ok; else bad "failing save killed: unexpected files: $(ls "$TMP/target")"; fi
done <"$TMP/delays"
if loads "$prev"; then ok; else bad "after the failing saves the previous model does not load"; cat "$TMP/err"; fi
trap - XFSZ
expect_status 0 "a complete save after the failing ones" "$BIN" run -q "$s"
if [ "$(ls "$TMP/target")" = "$(printf 'm.safetensors\nm.yaml')" ]; then ok; else bad "leftovers remain: $(ls "$TMP/target")"; fi

finish
