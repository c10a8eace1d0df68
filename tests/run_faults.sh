#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Faults: a NaN gradient (both policies), a full disk and a read-only run
# directory while saving, a rank killed with SIGKILL in the middle of a run,
# and one killed in the middle of writing a checkpoint (SWAT_FAULT_KILL_IN_SAVE).
# The hooks (include/swat/faults.h) exist in test builds only (SWAT_FAULTS).
# Each must end promptly with a clear line and a distinct status, leave the
# previous checkpoint intact and usable, and never a torn file under a final
# name; the killed run must resume from its newest complete checkpoint.
# usage: tests/run_faults.sh BUILD_DIR   (as root: mounts small tmpfs)
set -uo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" faults
mnt=$work/mnt
swat_on_exit 'mountpoint -q "$mnt" && umount "$mnt"'
cfg=tests/configs/ref.ini
train() { # NP DIR extra... → sets rc, out
    local np=$1 dir=$2; shift 2
    out=$(swat_mpi --timeout 120 "$np" "$build/swat-train" $cfg \
        --set "checkpoint.dir=$dir" --set checkpoint.every=1 --set train.steps=6 "$@" 2>&1); rc=$?
}
usable() { swat_py tests/check_ckpt_h5py.py "$1" >/dev/null 2>&1; }

# 0. a malformed hook variable stops the run (a test that injected nothing
# would pass for the wrong reason)
SWAT_FAULT_KILL_IN_SAVE=4 train 1 "$work/hook-typo"
if [ $rc = 2 ] && [ "$(printf '%s\n' "$out" | grep -c 'SWAT_FAULT_KILL_IN_SAVE=4: expected STEP:RANK')" = 1 ]; then
    ok "malformed SWAT_FAULT_KILL_IN_SAVE: exit 2, one line"
else not_ok "malformed hook variable: exit $rc"; printf '%s\n' "$out" | tail -3; fi

# 1. NaN gradient at update 3, policy stop: exit 4, nothing saved at or after 3
SWAT_FAULT_NONFINITE_STEP=3 train 2 "$work/nan-stop" --set parallel.sp=2
if [ $rc = 4 ] && [ "$(printf '%s\n' "$out" | grep -c 'update 3: .*not finite')" = 1 ] &&
   [ "$(ls "$work/nan-stop" | grep -c ckpt)" = 2 ]; then ok "nan-stop: exit 4, one line, checkpoints 1-2 only"
else not_ok "nan-stop: exit $rc, $(ls "$work/nan-stop")"; printf '%s\n' "$out"; fi
# policy skip: completes, the update is logged with a null norm, checkpoints finite
SWAT_FAULT_NONFINITE_STEP=3 train 1 "$work/nan-skip" --set train.on_nonfinite=skip
if [ $rc = 0 ] && grep -q '"step":3,.*"grad_norm":null' "$work/nan-skip/metrics.jsonl" &&
   swat_py -c "
import h5py, numpy as np, sys
f = h5py.File('$work/nan-skip/ckpt-00000006.h5', 'r')
bad = []
f.visititems(lambda n, o: bad.append(n) if isinstance(o, h5py.Dataset) and o.dtype.kind == 'f' and not np.all(np.isfinite(o[()])) else None)
sys.exit(1 if bad else 0)"; then ok "nan-skip: completes, step 3 skipped, final checkpoint finite"
else not_ok "nan-skip: exit $rc"; printf '%s\n' "$out" | tail -5; fi

# persistent NaN under skip: updates 3 and 4 are skipped, the third in a row
# (update 5, max_skips = 2) stops the run with exit 4; nothing saved after 4
SWAT_FAULT_NONFINITE_STEP=3:100 train 1 "$work/nan-rows" --set train.on_nonfinite=skip --set train.max_skips=2
if [ $rc = 4 ] && [ "$(printf '%s\n' "$out" | grep -c 'update skipped')" = 2 ] &&
   [ "$(printf '%s\n' "$out" | grep -c 'update 5: .*3 updates in a row (max_skips = 2); stopping')" = 1 ] &&
   [ "$(ls "$work/nan-rows" | grep ckpt | tail -n 1)" = ckpt-00000004.h5 ]; then
    ok "nan-skip, persistent: updates 3-4 skipped, update 5 stops with exit 4 (max_skips = 2), newest checkpoint 4"
else not_ok "nan-skip persistent: exit $rc, $(ls "$work/nan-rows")"; printf '%s\n' "$out" | tail -5; fi

# 2. disk full: room for about one checkpoint; the save that does not fit fails
mkdir -p "$mnt"
train 1 "$work/size" --set train.steps=1
size=$(stat -c %s "$work/size/ckpt-00000001.h5")
mount -t tmpfs -o size=$(( size * 3 / 2 + 65536 )) tmpfs "$mnt"
train 1 "$mnt/run" --set checkpoint.keep=5
last=$(ls "$mnt/run" | grep '^ckpt-' | tail -n 1)
if [ $rc = 5 ] && printf '%s\n' "$out" | grep -q "checkpoint at step .* failed" &&
   ! ls -a "$mnt/run" | grep -q tmp && [ -n "$last" ] && usable "$mnt/run/$last"; then
    ok "disk full: exit 5, $last intact, no temporary left"
else not_ok "disk full: exit $rc, files: $(ls -a "$mnt/run" | tr '\n' ' ')"; printf '%s\n' "$out" | tail -5; fi
umount "$mnt"

# 3. the run directory turns read-only while training (root ignores modes:
# make it immutable, which forbids creating the checkpoint's file)
dir=$work/ro
( swat_mpi --timeout 120 2 "$build/swat-train" $cfg \
    --set "checkpoint.dir=$dir" --set checkpoint.every=1 --set train.steps=1000000 --set parallel.sp=2 \
    > "$work/ro.log" 2>&1; echo $? > "$work/ro.rc" ) &
has_ckpt() { ls "$dir" 2>/dev/null | grep -q "^ckpt-.*\.h5$"; }
for _ in $(seq 600); do has_ckpt && break; sleep 0.1; done
chattr +i "$dir"
for _ in $(seq 600); do [ -f "$work/ro.rc" ] && break; sleep 0.1; done
chattr -i "$dir"
last=$(ls "$dir" | grep '^ckpt-' | tail -n 1)
# (a temporary may remain: an immutable directory refuses its removal too;
# it is ignored on resume and pruned by the next save)
allgood=1; for f in "$dir"/ckpt-*.h5; do usable "$f" || allgood=0; done
if [ "$(cat "$work/ro.rc" 2>/dev/null)" = 5 ] && grep -q "checkpoint at step .* failed" "$work/ro.log" &&
   [ $allgood = 1 ]; then
    ok "read-only dir: exit 5, every checkpoint under a final name usable (newest $last)"
else not_ok "read-only dir: exit $(cat "$work/ro.rc" 2>/dev/null), files: $(ls -a "$dir" | tr '\n' ' ')"; tail -5 "$work/ro.log"; fi

# 4. a rank killed mid-run: the job ends promptly; the restart resumes from
# the newest complete checkpoint and finishes
dir=$work/kill
( swat_mpi --timeout 120 2 "$build/swat-train" $cfg \
    --set "checkpoint.dir=$dir" --set checkpoint.every=1 --set train.steps=1000000 --set parallel.sp=2 \
    > "$work/kill.log" 2>&1; echo $? > "$work/kill.rc" ) &
for _ in $(seq 600); do has_ckpt && break; sleep 0.1; done
sleep 0.5
victim=$(pgrep -f "swat-train $cfg --set checkpoint.dir=$dir" | tail -n 1)
t0=$(date +%s.%N)
kill -9 "$victim"
for _ in $(seq 600); do [ -f "$work/kill.rc" ] && break; sleep 0.1; done
t1=$(date +%s.%N)
took=$(echo "$t1 - $t0" | bc)
if [ -f "$work/kill.rc" ] && [ "$(cat "$work/kill.rc")" != 0 ] && [ "$(echo "$took < 30" | bc)" = 1 ]; then
    ok "SIGKILL of one rank: the job ended in ${took}s with status $(cat "$work/kill.rc")"
else not_ok "SIGKILL: job still running after ${took}s"; fi
newest=$(ls "$dir" | grep '^ckpt-' | tail -n 1)
train 2 "$dir" --set train.steps=1000000 --set parallel.sp=2 --stop-after 2
step=$((10#${newest:5:8}))
if [ $rc = 75 ] && printf '%s\n' "$out" | grep -q "resuming from .*$newest at step $step"; then
    ok "restart after SIGKILL resumed from $newest"
else not_ok "restart after SIGKILL: exit $rc (newest $newest)"; printf '%s\n' "$out" | tail -5; fi

# 5. a rank killed in the middle of writing checkpoint 4 (after the
# parameters, before the moments): the job ends promptly, no ckpt-00000004.h5
# appears, and the restart resumes from checkpoint 3 and ends bit-identical to
# an uninterrupted run on the same layout
dir=$work/kill-save
t0=$(date +%s.%N)
SWAT_FAULT_KILL_IN_SAVE=4:1 train 2 "$dir" --set parallel.sp=2
took=$(echo "$(date +%s.%N) - $t0" | bc)
if [ $rc != 0 ] && [ "$(echo "$took < 60" | bc)" = 1 ] && printf '%s\n' "$out" | grep -q 'kills itself saving step 4' &&
   [ "$(ls "$dir" | grep '^ckpt-' | tr '\n' ' ')" = "ckpt-00000001.h5 ckpt-00000002.h5 ckpt-00000003.h5 " ]; then
    ok "SIGKILL in a save: the job ended in ${took}s (status $rc), checkpoints 1-3 only, $(ls -a "$dir" | grep -c tmp) temporary left"
else not_ok "SIGKILL in a save: exit $rc after ${took}s, files: $(ls -a "$dir" | tr '\n' ' ')"; printf '%s\n' "$out" | tail -5; fi
train 2 "$dir" --set parallel.sp=2
resumed=$(printf '%s\n' "$out" | grep -c "resuming from .*ckpt-00000003.h5 at step 3")
train 2 "$work/kill-save-ref" --set parallel.sp=2
if [ "$resumed" = 1 ] && swat_py tests/compare_ckpts.py "$dir/ckpt-00000006.h5" \
        "$work/kill-save-ref/ckpt-00000006.h5" --exact >/dev/null 2>&1 &&
   ! ls -a "$dir" | grep -q tmp; then
    ok "restart after SIGKILL in a save: resumed from checkpoint 3, step 6 bit-identical to an uninterrupted run, temporary removed"
else not_ok "restart after SIGKILL in a save: $(ls -a "$dir" | tr '\n' ' ')"; fi

swat_summary
