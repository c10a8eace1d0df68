#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# No silent oversubscription, end to end: real ranks with real affinity
# masks (mpiexec --bind-to none: every rank may use every CPU), so the node
# has N = nproc CPUs for 2 ranks.
#   2 ranks x OMP_NUM_THREADS=N   → one line (rank 0) "oversubscribed", the
#                                   numbers, and the count lowered to N/2
#   2 ranks x [parallel] threads = N → one line, the count kept (N threads/rank)
#   2 ranks x 1 thread            → no such line (needs N >= 2)
#   swat-eval, 2 ranks x --threads N → one line naming --threads, kept
# The policy's cases one by one: tests/test_threads.c.
# usage: tests/run_threads.sh BUILD_DIR
set -uo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" threads
cfg=tests/configs/ref.ini
n=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) # nproc obeys OMP_NUM_THREADS
half=$(( n / 2 > 0 ? n / 2 : 1 ))
run() { # OMP_NUM_THREADS PROGRAM ARGS... → out, rc
    local omp=$1; shift
    out=$(OMP_NUM_THREADS=$omp timeout 120 mpiexec --oversubscribe --allow-run-as-root --bind-to none \
        -n 2 "$@" 2>&1); rc=$?
}
lines() { printf '%s\n' "$out" | grep -c "$1"; }
fixed() { printf '%s\n' "$out" | grep -cF -- "$1"; }
train=("$build/swat-train" "$cfg" --set train.steps=2)

run "$n" "${train[@]}" --set "checkpoint.dir=$work/omp"
want="2 ranks on this node x $n threads (OMP_NUM_THREADS) = $((2 * n)) threads on $n CPUs; lowered to $half thread"
if [ $rc = 0 ] && [ "$(lines oversubscribed)" = 1 ] && [ "$(fixed "[rank 0] warning: oversubscribed: $want")" = 1 ] &&
   [ "$(lines "layout: 2 ranks = .*, $half threads/rank")" = 1 ]; then
    ok "OMP_NUM_THREADS=$n on 2 ranks: lowered to $half ($(printf '%s\n' "$out" | grep -o 'oversubscribed.*'))"
else not_ok "OMP_NUM_THREADS=$n on 2 ranks: exit $rc, want '$want' once"; printf '%s\n' "$out" | head -20; fi

run 1 "${train[@]}" --set "checkpoint.dir=$work/set" --set "parallel.threads=$n"
want="2 ranks on this node x $n threads ([parallel] threads) = $((2 * n)) threads on $n CPUs; kept as set"
if [ $rc = 0 ] && [ "$(lines oversubscribed)" = 1 ] && [ "$(fixed "[rank 0] warning: oversubscribed: $want")" = 1 ] &&
   [ "$(lines "layout: 2 ranks = .*, $n threads/rank")" = 1 ]; then
    ok "[parallel] threads = $n on 2 ranks: kept, warned once"
else not_ok "[parallel] threads = $n: exit $rc, want '$want' once"; printf '%s\n' "$out" | head -20; fi

if [ "$n" -ge 2 ]; then
    run 1 "${train[@]}" --set "checkpoint.dir=$work/fits"
    if [ $rc = 0 ] && [ "$(lines oversubscribed)" = 0 ] && [ "$(lines "layout: 2 ranks = .*, 1 threads/rank")" = 1 ]; then
        ok "2 ranks x 1 thread on $n CPUs: silent"
    else not_ok "2 ranks x 1 thread: exit $rc, $(lines oversubscribed) oversubscribed lines"; printf '%s\n' "$out" | head -20; fi
else
    echo "skip  2 ranks x 1 thread: this machine has 1 CPU"
fi

run 1 "$build/swat-eval" "$work/fits/ckpt-00000002.h5" --data tests/data/wisdom.txt --max-samples 4 --threads "$n"
if [ $rc = 0 ] && [ "$(lines oversubscribed)" = 1 ] && [ "$(fixed "x $n threads (--threads) = $((2 * n)) threads on $n CPUs; kept as set")" = 1 ]; then
    ok "swat-eval --threads $n on 2 ranks: kept, warned once"
else not_ok "swat-eval --threads $n: exit $rc"; printf '%s\n' "$out" | head -20; fi

[ "$swat_passed" -ge 3 ] || not_ok "fewer than 3 cases ran ($swat_passed)"
swat_summary
