#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End-to-end test of jobs/train.sbatch and jobs/sweep.sbatch on a REAL
# single-node SLURM started here (munged, slurmctld, slurmd; private key,
# ports and scratch directories: tests/slurm/cluster.sh), as root.
#
#   tests/slurm/run_slurm_test.sh BUILD_DIR      (from anywhere; ~1-3 minutes)
#
# 1. requeue: train.sbatch on the tiny config (2 tasks, sp=2) gets the
#    time-limit warning (scancel --signal=USR1 --batch, as --signal=B:USR1@N
#    would send it) mid-run: the ranks save and exit 75, the script requeues
#    the job, which restarts (SLURM_RESTART_COUNT=1, Restarts=1), resumes
#    from that checkpoint and completes; its final checkpoint's /model and
#    /optimizer (and /train) datasets equal bit for bit those of an
#    uninterrupted run (another train.sbatch job, run alongside); every step
#    is in metrics.jsonl exactly once.
# 2. cancel: a plain scancel (SIGTERM) makes the ranks save, and the job is
#    NOT requeued (CANCELLED, Restarts=0); so does a SIGTERM to the batch
#    shell alone (scancel --signal=TERM --batch), which the script passes on
#    without srun turning it into SIGKILL.
# 3. sweep: sweep.sbatch as an array of 3 tasks, one of them (the one whose
#    job id is the array's) interrupted and requeued like 1. alone; every
#    task completes in its own run directory.
# 4. no job step: when SLURM cannot create swat-train's step (a step of the
#    job's own holds every CPU), srun gives up after SWAT_STEP_WAIT (3 s
#    here; srun --immediate) and the job fails at once, not requeued, its
#    output naming the cause, instead of holding its nodes until its time
#    limit; a SWAT_STEP_WAIT that is not a number fails the job with exit 2.
#
# Installs nothing: fails naming the packages when SLURM or MUNGE is missing.
# Always stops the daemons and removes the scratch directory (kept on
# failure when SWAT_SLURM_TEST_KEEP=1). Exit 0 only when every check passed.
set -uo pipefail

# shellcheck source=tests/slurm/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
slurm_test_begin "$@"

# --- the cluster --------------------------------------------------------------
log "starting SLURM in $SCRATCH"
cluster_start "$SCRATCH/cluster" || { fail "SLURM cluster starts"; exit 1; }
pass "SLURM cluster starts (munged, slurmctld, slurmd; node idle)"

CFG=$ROOT/tests/configs/ref.ini
COMMON=(--set "data.train=$ROOT/tests/data/wisdom.txt" --set train.peak_gflops=50 --set train.log_every=20)
STEPS=1000
TRAIN=("${COMMON[@]}" --set parallel.sp=2 --set "train.steps=$STEPS" --set checkpoint.every=50)

# --- 1. time-limit warning: checkpoint, requeue, resume, complete ---------------
test_requeue() {
    log "1. SIGUSR1 to the batch shell -> checkpoint, requeue, resume, bit-identical result"
    local id ref out=$WORK/requeue.out refout=$WORK/reference.out
    id=$(submit -J swat-requeue --ntasks=2 --cpus-per-task=1 --time=30 -o "$out" \
        "$ROOT/jobs/train.sbatch" "$CFG" "${TRAIN[@]}") || { fail "sbatch train.sbatch"; return 1; }
    ref=$(SWAT_RUN_DIR=$SCRATCH/runs/reference submit -J swat-reference --ntasks=2 --cpus-per-task=1 \
        --time=30 -o "$refout" "$ROOT/jobs/train.sbatch" "$CFG" "${TRAIN[@]}") ||
        { fail "sbatch the reference"; return 1; }
    local run=$WORK/runs/swat-requeue-$id
    echo "job $id (run dir $run), reference job $ref"
    if ! wait_metrics "$id" "$run/metrics.jsonl" 5 240; then
        fail "job $id trains (metrics.jsonl)"; debug_job "$id" "$out"; return 1
    fi
    echo "job $id at step $(wc -l <"$run/metrics.jsonl"): scancel --signal=USR1 --batch $id"
    scancel --signal=USR1 --batch "$id"
    if ! wait_requeue_and_release "$id" 120; then
        fail "job $id requeued itself after SIGUSR1"; debug_job "$id" "$out"; return 1
    fi
    if ! wait_done "$id" 300; then
        fail "requeued job $id finishes"; debug_job "$id" "$out"; return 1
    fi
    local st rs ec
    st=$(job_field "$id" JobState) rs=$(job_field "$id" Restarts) ec=$(job_field "$id" ExitCode)
    check "job $id COMPLETED with exit 0:0 (is $st, $ec)" test "$st/$ec" = COMPLETED/0:0
    check "scontrol: Restarts=1 (is $rs)" test "$rs" = 1
    check "output: SIGUSR1 forwarded to the ranks" grep -q 'forwarding SIGUSR1 to the ranks (srun pid' "$out"
    check "output: swat-train exited 75 and the script requeued" \
        bash -c "grep -q 'swat-train exited 75' '$out' && grep -q 'requeueing job $id' '$out'"
    check "output: restart count 1 (SLURM_RESTART_COUNT=1)" grep -q 'restart count 1 (SLURM_RESTART_COUNT=1)' "$out"
    local saved resumed
    saved=$(sed -n 's/.*swat-train exited 75; newest checkpoint: step \([0-9]*\).*/\1/p' "$out" | head -n1)
    resumed=$(sed -n 's/.*resume step: \([0-9]*\) (from.*/\1/p' "$out" | head -n1)
    check "output: resume step $resumed > 0, = the step saved on the signal ($saved), < $STEPS" \
        test "${resumed:-0}" -gt 0 -a "${resumed:-0}" = "${saved:-x}" -a "${resumed:-0}" -lt $STEPS
    check "swat-train resumed from ckpt of step $resumed" \
        grep -q "resuming from .*ckpt-$(printf %08d "${resumed:-0}").h5 at step ${resumed:-0}" "$out"
    check "output: training complete (step $STEPS of $STEPS)" grep -q "training complete (step $STEPS of $STEPS)" "$out"
    check "run dir has the final checkpoint ckpt-$(printf %08d $STEPS).h5" test "$(ckpt_step "$run")" = $STEPS
    check "metrics.jsonl: steps 1..$STEPS exactly once" metrics_complete "$run/metrics.jsonl" $STEPS
    if ! wait_done "$ref" 300; then
        fail "reference job $ref finishes"; debug_job "$ref" "$refout"; return 1
    fi
    check "reference job $ref COMPLETED, not restarted" \
        test "$(job_field "$ref" JobState)/$(job_field "$ref" Restarts)" = COMPLETED/0
    local f
    f=ckpt-$(printf %08d $STEPS).h5
    check "final checkpoint equals the uninterrupted run's bit for bit" \
        "$PY" "$ROOT/tests/slurm/compare_ckpt.py" "$run/$f" "$SCRATCH/runs/reference/$f"
    [ "$FAILS" -eq 0 ] || debug_job "$id" "$out"
    echo "----- the job's story ($out):"
    grep '^\[swat-job\|resuming from\|saved checkpoint\|stopping after\|CANCELLED' "$out"
}

# --- 2. scancel: checkpoint, no requeue ---------------------------------------------
# plain: `scancel ID` (SIGTERM to the batch shell and, through slurmstepd, to
# the ranks). batch: `scancel --signal=TERM --batch ID` (the shell only: the
# script must pass it on, and not as a SIGTERM to srun, which would SIGKILL
# the ranks).
test_cancel() {
    local mode=$1 id out=$WORK/cancel-$1.out run=$SCRATCH/runs/cancel-$1 fails0=$FAILS
    local want_state=CANCELLED
    if [ "$mode" = plain ]; then
        log "2a. plain scancel (SIGTERM) -> checkpoint, NOT requeued"
    else
        log "2b. scancel --signal=TERM --batch -> checkpoint, NOT requeued (bash < 5.1 wait loop: SWAT_WAIT_POLL=1)"
        want_state=FAILED # the script exits 75: stopped, not complete
    fi
    local poll=0
    [ "$mode" = batch ] && poll=1
    id=$(SWAT_WAIT_POLL=$poll SWAT_RUN_DIR=$run submit -J "swat-cancel-$mode" --ntasks=2 --cpus-per-task=1 --time=30 -o "$out" \
        "$ROOT/jobs/train.sbatch" "$CFG" "${COMMON[@]}" --set parallel.sp=2 \
        --set train.steps=1000000 --set checkpoint.every=1000000) || { fail "sbatch train.sbatch"; return 1; }
    echo "job $id (run dir $run)"
    if ! wait_metrics "$id" "$run/metrics.jsonl" 5 240; then
        fail "job $id trains (metrics.jsonl)"; debug_job "$id" "$out"; return 1
    fi
    echo "job $id at step $(wc -l <"$run/metrics.jsonl"): $([ "$mode" = plain ] && echo "scancel $id" || echo "scancel --signal=TERM --batch $id")"
    if [ "$mode" = plain ]; then scancel "$id"; else scancel --signal=TERM --batch "$id"; fi
    if ! wait_done "$id" 120; then
        fail "cancelled job $id ends"; debug_job "$id" "$out"; return 1
    fi
    # give a requeue (which must not happen) time to show
    sleep 3
    local st rs
    st=$(job_field "$id" JobState) rs=$(job_field "$id" Restarts)
    check "job $id $want_state and not requeued (is $st, Restarts=$rs)" test "$st/$rs" = "$want_state/0"
    check "output: SIGTERM caught and passed to the ranks as SIGUSR1" \
        grep -q 'forwarding SIGTERM to the ranks as SIGUSR1' "$out"
    check "output: swat-train exited 75 (not killed), not requeueing" \
        bash -c "grep -q 'swat-train exited 75' '$out' && grep -q 'not requeueing' '$out' && ! grep -q 'requeueing job' '$out'"
    local step
    step=$(ckpt_step "$run")
    check "checkpoint saved on SIGTERM (step $step > 0)" test "$step" -gt 0
    [ "$FAILS" -eq "$fails0" ] || debug_job "$id" "$out"
    grep '^\[swat-job' "$out" | tail -n 4
}

# --- 3. sweep: an array of 3, one task requeued ----------------------------------------
test_sweep() {
    log "3. sweep.sbatch: array of 3 (train.lr), one task interrupted and requeued"
    local arr fails0=$FAILS steps=1000 values=(0.01 0.005 0.002) i
    arr=$(submit -J swat-sweep --array=0-2 --ntasks=1 --cpus-per-task=1 --time=30 -o "$WORK/sweep-%A_%a.out" \
        "$ROOT/jobs/sweep.sbatch" "$CFG" train.lr "${values[*]}" "${COMMON[@]}" \
        --set train.steps=$steps --set checkpoint.every=50) || { fail "sbatch sweep.sbatch"; return 1; }
    local sweep=$WORK/runs/swat-sweep-$arr
    echo "array job $arr (sweep dir $sweep)"
    # interrupt the task whose own job id is the array's: `scontrol requeue
    # <that id>` would requeue the whole array, so the script must name the task
    local k=1 end=$((SECONDS + 120))
    while :; do
        for i in 0 1 2; do
            [ "$(job_field "${arr}_$i" JobId)" = "$arr" ] && k=$i
        done
        [ "$(job_field "${arr}_$k" JobId)" = "$arr" ] && break
        [ $SECONDS -ge $end ] && { echo "no task holds job id $arr: interrupting task $k"; break; }
        sleep 0.2
    done
    local out=$WORK/sweep-${arr}_$k.out run=$sweep/train.lr=${values[$k]}
    if ! wait_metrics "${arr}_$k" "$run/metrics.jsonl" 5 240; then
        fail "task ${arr}_$k trains"; debug_job "${arr}_$k" "$out"; return 1
    fi
    echo "task ${arr}_$k (JobId $(job_field "${arr}_$k" JobId)) at step $(wc -l <"$run/metrics.jsonl"): scancel --signal=USR1 --batch ${arr}_$k"
    scancel --signal=USR1 --batch "${arr}_$k"
    if ! wait_requeue_and_release "${arr}_$k" 120; then
        fail "task ${arr}_$k requeued itself"; debug_job "${arr}_$k" "$out"; return 1
    fi
    for i in 0 1 2; do
        if ! wait_done "${arr}_$i" 300; then
            fail "task ${arr}_$i finishes"; debug_job "${arr}_$i" "$WORK/sweep-${arr}_$i.out"; return 1
        fi
    done
    for i in 0 1 2; do
        local r=$sweep/train.lr=${values[$i]} st rs
        st=$(job_field "${arr}_$i" JobState)/$(job_field "${arr}_$i" ExitCode)
        rs=$(job_field "${arr}_$i" Restarts)
        check "task ${arr}_$i COMPLETED (is $st), Restarts=$([ "$i" = "$k" ] && echo 1 || echo 0) (is $rs), ckpt of step $steps in $r" \
            test "$st/$rs/$(ckpt_step "$r")" = "COMPLETED/0:0/$([ "$i" = "$k" ] && echo 1 || echo 0)/$steps"
        check "task ${arr}_$i trained with lr = ${values[$i]}" grep -qx "lr = ${values[$i]}" "$r/config.ini"
    done
    check "task ${arr}_$k: restart count 1, resumed from step > 0" \
        bash -c "grep -q 'restart count 1' '$out' && grep -q 'resume step: [1-9]' '$out'"
    check "task ${arr}_$k: metrics steps 1..$steps exactly once" metrics_complete "$run/metrics.jsonl" $steps
    [ "$FAILS" -eq "$fails0" ] || debug_job "${arr}_$k" "$WORK"/sweep-*.out
}

# --- 4. no job step: the job fails after SWAT_STEP_WAIT, not at its time limit --------
# A step of the job's own holds every CPU of the allocation, so SLURM cannot
# create swat-train's ("Requested nodes are busy", retried by srun): what a
# requeued job meets when a late kill of its previous run leaves slurmctld
# counting a node fewer for it (tests/slurm/run_multinode_test.sh, 2b).
test_no_step() {
    log "4. no job step for swat-train: srun gives up after SWAT_STEP_WAIT and the job fails, not requeued"
    local id out=$WORK/nostep.out t0=$SECONDS st
    id=$(SWAT_STEP_WAIT=3 SWAT_RUN_DIR=$SCRATCH/runs/nostep submit -J swat-nostep --ntasks=2 --cpus-per-task=1 \
        --time=10 -o "$out" --wrap "srun --exact --ntasks=2 --cpus-per-task=1 sleep 120 &
            for i in \$(seq 150); do squeue -h -s -j \$SLURM_JOB_ID -o %i | grep -q '[.]0\$' && break; sleep 0.2; done
            bash '$ROOT/jobs/train.sbatch' '$CFG' $(printf "'%s' " "${TRAIN[@]}")") ||
        { fail "sbatch the job without a step"; return 1; }
    echo "job $id: a step of its own holds its 2 CPUs; SWAT_STEP_WAIT=3"
    if ! wait_done "$id" 90; then fail "job $id ends within 90 s"; debug_job "$id" "$out"; return 1; fi
    st=$(job_field "$id" JobState)/$(job_field "$id" ExitCode)/$(job_field "$id" Restarts)
    check "job $id ended in $((SECONDS - t0)) s, FAILED, not requeued (is $st)" test "$st" = FAILED/1:0/0
    check "output: srun's 'Unable to create step' and the script naming SWAT_STEP_WAIT=3" \
        bash -c "grep -q 'Unable to create step' '$out' && grep -q 'no job step within SWAT_STEP_WAIT=3 s' '$out'"
    local bad=$WORK/nostep-bad.out
    id=$(SWAT_STEP_WAIT=soon submit -J swat-badwait --ntasks=2 --cpus-per-task=1 --time=10 -o "$bad" \
        "$ROOT/jobs/train.sbatch" "$CFG" "${TRAIN[@]}") || { fail "sbatch the job with SWAT_STEP_WAIT=soon"; return 1; }
    if ! wait_done "$id" 60; then fail "job $id ends within 60 s"; debug_job "$id" "$bad"; return 1; fi
    st=$(job_field "$id" JobState)/$(job_field "$id" ExitCode)
    check "SWAT_STEP_WAIT=soon: job $id $st, one line: $(grep -m1 'SWAT_STEP_WAIT' "$bad")" \
        bash -c "test '$st' = FAILED/2:0 && test \$(grep -c 'SWAT_STEP_WAIT=' '$bad') = 1"
}

test_requeue
test_cancel plain
test_cancel batch
test_sweep
test_no_step

slurm_test_end
