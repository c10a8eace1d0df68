#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/bf16_tracking.sh: does a bf16 run follow the fp32 run? 50 updates of
# the tiny config and of the bench config, each in fp32 and in bf16 from the
# same seed, then per-update losses and the final validation loss compared
# (tests/compare_metrics.py). The issue's bounds: 2 % per update, 1 % on the
# validation loss; tests/run_bf16.sh holds the tiny config to 2e-3 / 1e-3.
#
#   bench/bf16_tracking.sh [--steps 50] [--rt]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
STEPS=50 RT=()
while [ $# -gt 0 ]; do
    case $1 in
    --steps) STEPS=$2; shift 2 ;;
    --rt) RT=(chrt -f 10); shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
    esac
done
need_bench
TRAIN=$(dirname "$SWAT_BENCH")/swat-train
work=$(mktemp -d /tmp/swat-bf16-tracking.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$ROOT"
val=tests/data/literature-val.txt
for cfg in tiny bench; do
    case $cfg in
    tiny) base=(configs/tiny.ini --set data.train=tests/data/wisdom.txt --set train.warmup_steps=5) ;;
    bench) base=(bench/bench.ini --set train.warmup_steps=5 --set train.lr=1e-3) ;;
    esac
    for p in fp32 bf16; do
        "${RT[@]}" "$TRAIN" "${base[@]}" --set data.val=$val --set train.steps="$STEPS" \
            --set train.eval_every=0 --set train.log_every="$STEPS" --set train.precision=$p \
            --set checkpoint.dir="$work/$cfg-$p" > "$work/$cfg-$p.log" 2>&1 ||
            { cat "$work/$cfg-$p.log"; die "$cfg $p run failed"; }
    done
    echo "== $cfg config, $STEPS updates: bf16 vs fp32 ($(grep -o 'products: [^;]*' "$work/$cfg-bf16.log"))"
    "$PY" tests/compare_metrics.py "$work/$cfg-fp32/metrics.jsonl" "$work/$cfg-bf16/metrics.jsonl" 0.02 0.01 ||
        echo "   outside the bounds (2 % per update, 1 % validation)"
done
