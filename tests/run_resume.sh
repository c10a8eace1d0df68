#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Exact resume and resharding: trains K updates uninterrupted on layout A;
# then the same run stopped after S updates (--stop-after, as a preemption
# would) and resumed on layout B. Same layout: the final checkpoints must be
# bit-identical; another layout: equal up to float rounding. metrics.jsonl of
# the resumed run must list every step exactly once.
# usage: tests/run_resume.sh BUILD_DIR NP_A "SETS_A" NP_B "SETS_B" [--set k=v]...
#   SETS "-" = none (CMake drops empty arguments)
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" resume
npa=$2; setsa=${3#-}; npb=$4; setsb=${5#-}; shift 5
K=8; S=3
common=(--set train.steps=$K --set checkpoint.every=100 --set parallel.threads=1 "$@")
train() { # NP "SETS" DIR extra...
    local np=$1 sets=() dir=$3; for s in $2; do sets+=(--set "$s"); done; shift 3
    set +e
    swat_mpi "$np" "$build/swat-train" tests/configs/ref.ini \
        "${common[@]}" "${sets[@]}" --set "checkpoint.dir=$dir" "$@" > "$dir.log" 2>&1
    local rc=$?
    set -e
    echo "$rc"
}
rc=$(train "$npa" "$setsa" "$work/full")
[ "$rc" = 0 ] || { cat "$work/full.log"; fail "uninterrupted run exited $rc"; }
rc=$(train "$npa" "$setsa" "$work/cut" --stop-after $S)
[ "$rc" = 75 ] || { cat "$work/cut.log"; fail "--stop-after run exited $rc, expected 75"; }
ls "$work/cut"/ckpt-0000000$S.h5 >/dev/null
rc=$(train "$npb" "$setsb" "$work/cut")
[ "$rc" = 0 ] || { cat "$work/cut.log"; fail "resumed run exited $rc"; }
grep -q "resuming from .*ckpt-0000000$S.h5 at step $S" "$work/cut.log" || { cat "$work/cut.log"; fail "did not resume from step $S"; }
steps=$(grep -o '"step":[0-9]*,"loss"' "$work/cut/metrics.jsonl" | tr -dc '0-9\n' | tr '\n' ' ')
[ "$steps" = "$(seq -s ' ' 1 $K) " ] || fail "metrics.jsonl steps: $steps"
final=$(printf 'ckpt-%08d.h5' $K)
echo "== resumed ($npa ranks: $setsa -> $npb ranks: $setsb) vs uninterrupted"
if [ "$npa" = "$npb" ] && [ "$setsa" = "$setsb" ]; then
    swat_py tests/compare_ckpts.py "$work/full/$final" "$work/cut/$final" --exact
else
    swat_py tests/compare_ckpts.py "$work/full/$final" "$work/cut/$final"
fi
