#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# [train] precision = bf16 beyond what the reference and layout scripts check
# (tests/run_reference.sh checks the bf16 arithmetic itself against PyTorch):
#  1. loss tracking: 50 updates of the tiny model in fp32 and in bf16. Per
#     update the losses agree within 2e-3 relative, the final validation loss
#     within 1e-3. Measured on Sapphire Rapids (oneDNN, AMX): 1.9e-4 and
#     5.4e-5; bf16 rounds each product's inputs to 8 significant bits, but
#     the errors average out over the sums and the run stays on fp32's path.
#     A bf16 path that broke a product (a wrong operand, a missing scale)
#     leaves it at once (the loss of update 2 moves by more than 1e-2).
#  2. resume across precisions: a run stopped after 3 updates resumes in the
#     other precision and finishes (checkpoints stay float32), its losses
#     within the same 2e-3 of the uninterrupted fp32 run.
#  3. the emulated path: with oneDNN told the CPU has no bfloat16
#     instructions (ONEDNN_MAX_CPU_ISA=AVX512_CORE, oneDNN's own switch),
#     swat-train prints exactly one warning naming the missing feature, on one
#     rank and on two; a native run prints none. Its gradients equal the
#     native path's up to the order of fp32 additions (tests/compare_dumps.py
#     --flips: bf16 rounding flips allowed, the bulk within fp32 rounding).
#  4. the BLIS kernel line: BLIS_ARCH_TYPE set by the user is kept and said so.
#  5. swat-eval of a bf16-trained checkpoint computes in bf16 unless
#     --precision fp32 says otherwise; the two scores agree within 1e-3.
# usage: tests/run_bf16.sh BUILD_DIR
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" bf16

tiny=(configs/tiny.ini --set data.train=tests/data/wisdom.txt --set data.val=tests/data/literature-val.txt
      --set train.warmup_steps=5 --set train.eval_every=0 --set train.log_every=10
      --set parallel.threads=1)

# ---- 1. loss tracking ---------------------------------------------------------
for p in fp32 bf16; do
    "$build/swat-train" "${tiny[@]}" --set train.steps=50 --set train.precision=$p \
        --set "checkpoint.dir=$work/track-$p" > "$work/track-$p.log" 2>&1 ||
        { cat "$work/track-$p.log"; fail "tiny $p run"; }
done
track() { swat_py tests/compare_metrics.py "$@"; }
echo "== 1. tiny model, 50 updates: bf16 vs fp32"
track "$work/track-fp32/metrics.jsonl" "$work/track-bf16/metrics.jsonl" 2e-3 1e-3 ||
    fail "bf16 does not track fp32 (tolerances 2e-3 per update, 1e-3 validation)"

# ---- 2. resume across precisions ---------------------------------------------
"$build/swat-train" "${tiny[@]}" --set train.steps=8 --set checkpoint.every=100 \
    --set "checkpoint.dir=$work/full8" > "$work/full8.log" 2>&1 || { cat "$work/full8.log"; fail "8-update run"; }
for pair in "fp32 bf16" "bf16 fp32"; do
    set -- $pair
    dir="$work/resume-$1-$2"
    common=("${tiny[@]}" --set train.steps=8 --set checkpoint.every=100 --set "checkpoint.dir=$dir")
    set +e
    "$build/swat-train" "${common[@]}" --set train.precision=$1 --stop-after 3 > "$dir.log" 2>&1
    rc=$?
    set -e
    [ $rc = 75 ] || { cat "$dir.log"; fail "$1 run stopped after 3 exited $rc, expected 75"; }
    "$build/swat-train" "${common[@]}" --set train.precision=$2 >> "$dir.log" 2>&1 ||
        { cat "$dir.log"; fail "$1 checkpoint resumed in $2"; }
    grep -q "resuming from .*ckpt-00000003.h5 at step 3" "$dir.log" || { cat "$dir.log"; fail "no resume"; }
    echo "== 2. stopped in $1 after 3 updates, resumed in $2: losses vs the uninterrupted fp32 run"
    swat_py - "$dir/ckpt-00000008.h5" <<'EOF' || fail "checkpoint of a mixed-precision run"
import sys, h5py, numpy as np
bad = []
def visit(name, obj):
    if isinstance(obj, h5py.Dataset) and name.split("/")[0] in ("model", "lm_head", "optimizer"):
        if obj.dtype != np.float32:
            bad.append("%s is %s" % (name, obj.dtype))
h5py.File(sys.argv[1], "r").visititems(visit)
print("\n".join(bad) or "  checkpoint tensors float32")
sys.exit(1 if bad else 0)
EOF
    track "$work/full8/metrics.jsonl" "$dir/metrics.jsonl" 2e-3 0 ||
        fail "the $1 -> $2 run left the fp32 run's path"
done

# ---- 3. the emulated path -------------------------------------------------------
warn_re='precision = bf16: bf16 emulated on BLIS: oneDNN finds no bfloat16 instructions'
for np in 1 2; do
    ONEDNN_MAX_CPU_ISA=AVX512_CORE swat_mpi $np \
        "$build/swat-train" "${tiny[@]}" --set train.steps=2 --set train.warmup_steps=0 --set train.precision=bf16 \
        --set "checkpoint.dir=$work/emul$np" > "$work/emul$np.log" 2>&1 ||
        { cat "$work/emul$np.log"; fail "emulated bf16 run on $np ranks"; }
    n=$(grep -c "$warn_re" "$work/emul$np.log" || true)
    [ "$n" = 1 ] || { cat "$work/emul$np.log"; fail "$np ranks: $n warning lines about the missing bf16 instructions, expected 1"; }
    grep "$warn_re" "$work/emul$np.log" | grep -q "AVX512-BF16 or AMX-BF16" || fail "the warning names no feature"
done
echo "== 3. emulated: one warning on 1 and on 2 ranks: $(grep "$warn_re" "$work/emul1.log")"
"$build/swat-train" "${tiny[@]}" --set train.steps=1 --set train.warmup_steps=0 --set train.precision=bf16 \
    --set "checkpoint.dir=$work/native" > "$work/native.log" 2>&1 || { cat "$work/native.log"; fail "native run"; }
if grep -q "bf16 on oneDNN" "$work/native.log"; then
    ! grep -q "warning: precision" "$work/native.log" || { cat "$work/native.log"; fail "a native bf16 run warned"; }
    echo "  native run: $(grep -o 'products: .*' "$work/native.log" | head -1), no warning"
    for mode in native emulated; do
        env $([ $mode = emulated ] && echo ONEDNN_MAX_CPU_ISA=AVX512_CORE) "$build/swat-refdump" \
            tests/configs/ref.ini "$work/$mode.h5" --set train.precision=bf16 \
            --set "checkpoint.dir=$work/dump-$mode" > /dev/null 2>&1 || fail "swat-refdump ($mode)"
    done
    echo "  native (oneDNN) vs emulated (BLIS) gradients and parameters:"
    swat_py tests/compare_dumps.py "$work/native.h5" "$work/emulated.h5" --flips ||
        fail "the emulated path does not compute the native path's arithmetic"
else
    echo "  (this CPU has no bfloat16 instructions: every bf16 run here is the emulated path)"
fi

# ---- 4. BLIS kernels -------------------------------------------------------------
BLIS_ARCH_TYPE=0 "$build/swat-train" "${tiny[@]}" --set train.steps=1 --set train.warmup_steps=0 \
    --set "checkpoint.dir=$work/blis" > "$work/blis.log" 2>&1 || { cat "$work/blis.log"; fail "BLIS_ARCH_TYPE=0 run"; }
grep -q "BLIS kernels: .* (set by BLIS_ARCH_TYPE=0)" "$work/blis.log" ||
    { grep "BLIS kernels" "$work/blis.log"; fail "BLIS_ARCH_TYPE set by the user not kept"; }
echo "== 4. $(grep -o 'BLIS kernels: .*' "$work/blis.log") (and unset: $(grep -o 'BLIS kernels: .*' "$work/native.log"))"
# ---- 5. evaluation precision -------------------------------------------------------
ck="$work/track-bf16/ckpt-00000050.h5"
for p in "" fp32; do
    "$build/swat-eval" "$ck" --data tests/data/literature-val.txt ${p:+--precision $p} \
        > "$work/eval$p.json" 2>/dev/null || fail "swat-eval ${p:+--precision $p}"
done
swat_py - "$work/eval.json" "$work/evalfp32.json" <<'EOF' || fail "evaluation precision"
import json, sys
a, b = (json.loads(open(p).read().splitlines()[-1]) for p in sys.argv[1:])
print("== 5. swat-eval of the bf16 checkpoint: %s %.5f, --precision fp32: %s %.5f"
      % (a["precision"], a["loss"], b["precision"], b["loss"]))
sys.exit(0 if a["precision"] == "bf16" and b["precision"] == "fp32"
         and abs(a["loss"] - b["loss"]) <= 1e-3 * abs(b["loss"]) else 1)
EOF
echo "PASS"
