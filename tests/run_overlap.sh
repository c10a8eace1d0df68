#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The bucketed ZeRO-1 update ([parallel] bucket_mb, overlap, progress; see
# src/train.c) on one layout, with two micro-batches per update, against
# itself and against the unbucketed collectives. swat-refdump trains 3
# updates of tests/configs/ref.ini and dumps losses, norms, the reduced
# gradient and the parameters (tests/compare_dumps.py):
#  1. buckets of 0.02 MiB (the tiny model then has a dozen) overlapped with
#     the passes, vs the same buckets after the backward pass, vs a progress
#     thread instead of polling: bit-identical (each element's sum follows a
#     fixed tree, whatever runs when);
#  2. vs one bucket, and vs the unbucketed MPI reduce-scatter/all-gather
#     (bucket_mb = 0): equal up to float rounding (compare_dumps.py's
#     tolerances: another order of the same additions, and the norm summed
#     over other slices). On 2 ranks a sum has 2 terms, so the bucketed and
#     MPI's agree in every bit there: checked too;
#  3. the collectives run once per update, not per micro-batch: swat-bench
#     with micro-batches of one sequence counts as many reduce-scatters and
#     all-gathers per update as the buckets the run announces (and exactly one
#     of each unbucketed).
# usage: tests/run_overlap.sh BUILD_DIR NP "LAYOUT-SETS" [--set k=v]...
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" overlap
np=$2; layout=$3; shift 3
sets=(--set train.micro_batch=1)
for s in $layout; do sets+=(--set "$s"); done
run() { # OUT extra-sets...
    local out=$1; shift
    swat_mpi "$np" "$build/swat-refdump" tests/configs/ref.ini \
        "$out" --set "checkpoint.dir=$work/run" "${sets[@]}" "$@" > "$out.log" 2>&1 ||
        { cat "$out.log"; fail "swat-refdump $*"; }
}
cmp_dumps() { swat_py tests/compare_dumps.py "$@"; }

small=(--set parallel.bucket_mb=0.02)
run "$work/overlap.h5" "${small[@]}" "$@"
grep -q "ZeRO-1 collectives: [0-9]* buckets" "$work/overlap.h5.log" ||
    { cat "$work/overlap.h5.log"; fail "no bucket line"; }
nb=$(sed -n 's/.*ZeRO-1 collectives: \([0-9]*\) buckets.*/\1/p' "$work/overlap.h5.log")
[ "$nb" -gt 5 ] || fail "only $nb buckets at 0.02 MiB"
run "$work/after.h5" "${small[@]}" --set parallel.overlap=false "$@"
run "$work/thread.h5" "${small[@]}" --set parallel.progress=thread "$@"
run "$work/one.h5" --set parallel.bucket_mb=1000 "$@"
run "$work/mpi.h5" --set parallel.bucket_mb=0 "$@"
echo "== 1. $np ranks ($layout), $nb buckets: overlapped vs after the backward pass"
cmp_dumps "$work/overlap.h5" "$work/after.h5" --exact || fail "overlap changed the bits"
echo "== 1. polled vs a progress thread"
cmp_dumps "$work/overlap.h5" "$work/thread.h5" --exact || fail "the progress thread changed the bits"
echo "== 2. $nb buckets vs one bucket"
cmp_dumps "$work/overlap.h5" "$work/one.h5" || fail "bucketed vs one bucket"
echo "== 2. bucketed vs the unbucketed MPI collectives"
cmp_dumps "$work/overlap.h5" "$work/mpi.h5" || fail "bucketed vs MPI's collectives"
if [ "$np" = 2 ]; then
    echo "== 2. two ranks: bucketed and MPI's sums agree in every bit"
    cmp_dumps "$work/overlap.h5" "$work/mpi.h5" --exact-sums || fail "2-term sums differ"
fi

# ---- 3. once per update -----------------------------------------------------------
bench() { # LABEL extra-sets...
    local label=$1; shift
    swat_mpi "$np" "$build/swat-bench" tests/configs/ref.ini \
        "${sets[@]}" --set parallel.threads=1 --steps 3 --warmup 1 "$@" > "$work/bench-$label.log" 2>&1 ||
        { cat "$work/bench-$label.log"; fail "swat-bench $label"; }
    tail -1 "$work/bench-$label.log"
}
field() { sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p" "$1"; }
for label in bucketed unbucketed; do
    if [ $label = bucketed ]; then json=$(bench $label "${small[@]}" "$@"); want=$nb
    else json=$(bench $label --set parallel.bucket_mb=0 "$@"); want=1; fi
    echo "$json" > "$work/$label.json"
    accum=$(sed -n 's/.*micro-batch \([0-9]*\).*/\1/p' "$work/bench-$label.log")
    red=$(field "$work/$label.json" reductions_per_update)
    gat=$(field "$work/$label.json" gathers_per_update)
    echo "== 3. $label, micro-batch of $accum sequence(s): $red reduce-scatters, $gat all-gathers per update (want $want each)"
    [ "$red" = "$want" ] && [ "$gat" = "$want" ] || fail "collectives per update: $red, $gat; want $want"
done
echo "PASS"
