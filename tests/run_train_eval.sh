#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End to end: swat-train on a tiny config until its loss falls, with
# validation and checkpoints; swat-eval on the final checkpoint, at the
# training length and at 8x it (32x the window), each checked against the
# PyTorch reference (tests/reference/check_eval.py).
# usage: tests/run_train_eval.sh BUILD_DIR NP ["SETS"]
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" e2e
np=$2; sets=(); for s in ${3:-}; do sets+=(--set "$s"); done
run=$work/run
swat_mpi "$np" "$build/swat-train" tests/configs/ref.ini \
    --set train.steps=40 --set train.lr=3e-3 --set train.warmup_steps=4 \
    --set checkpoint.every=10 --set checkpoint.keep=2 --set "checkpoint.dir=$run" \
    --set data.val=tests/data/literature-val.txt --set train.eval_every=20 --set data.val_samples=16 \
    --set train.log_every=10 "${sets[@]}" | tee "$work/train.log"
# checkpoints: every 10, the newest 2 kept, no temporary left
[ "$(cd "$run" && ls ckpt-*.h5 | tr '\n' ' ')" = "ckpt-00000030.h5 ckpt-00000040.h5 " ] || fail "checkpoints: $(ls "$run")"
ls -a "$run" | grep -q '\.tmp' && fail "a temporary file was left in $run"
[ -s "$run/config.ini" ] || fail "no resolved config.ini in the run directory"
# metrics: 40 updates with every documented field, two evaluations, and a falling loss
swat_py - "$run/metrics.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
upd = [r for r in recs if "loss" in r]
ev = [r for r in recs if "val_loss" in r]
assert [r["step"] for r in upd] == list(range(1, 41)), [r["step"] for r in upd]
for r in upd:
    for k in ("step", "loss", "lr", "grad_norm", "tokens_per_s", "mfu"):
        assert k in r and r[k] is not None, (k, r)
assert [r["step"] for r in ev] == [20, 40], ev
first, last = upd[0]["loss"], sum(r["loss"] for r in upd[-5:]) / 5
print(f"loss {first:.3f} -> {last:.3f}; val_loss {ev[0]['val_loss']:.3f} -> {ev[1]['val_loss']:.3f}")
assert last < first - 1.0, "training loss did not fall by 1 nat"
assert ev[1]["val_loss"] < ev[0]["val_loss"], "validation loss did not fall"
PY
ckpt=$run/ckpt-00000040.h5
for T in 32 256; do
    line=$(swat_mpi "$np" "$build/swat-eval" "$ckpt" \
        --data tests/data/literature-val.txt --seq-len $T | tail -n 1)
    echo "swat-eval T=$T: $line"
    swat_py tests/reference/check_eval.py "$ckpt" tests/data/literature-val.txt "$line" --seq-len $T
done
