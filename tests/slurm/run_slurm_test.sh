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
#
# Installs nothing: fails naming the packages when SLURM or MUNGE is missing.
# Always stops the daemons and removes the scratch directory (kept on
# failure when SWAT_SLURM_TEST_KEEP=1). Exit 0 only when every check passed.
set -uo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "SLURM test: no build directory $1" >&2; exit 1; }
BIN=$BUILD/swat-train
PY=${SWAT_PYTHON:-python3}

# shellcheck source=tests/slurm/cluster.sh
source "$ROOT/tests/slurm/cluster.sh"
cluster_check_tools || exit 1
[ -x "$BIN" ] || { echo "SLURM test: $BIN not built" >&2; exit 1; }
$PY -c 'import h5py, numpy' 2>/dev/null ||
    { echo "SLURM test: $PY cannot import h5py/numpy: install python3-h5py python3-numpy" >&2; exit 1; }

T0=$SECONDS
SCRATCH=$(mktemp -d /tmp/swat-slurm-test.XXXXXX)
chmod 755 "$SCRATCH" # munged: every directory above its socket searchable
WORK=$SCRATCH/work # the submit directory: holds no repository (jobs/ is found by the script's path)
mkdir -p "$WORK"
FAILS=0
CHECKS=0

cleanup() {
    local rc=$?
    cluster_stop
    if [ "$FAILS" -gt 0 ] || [ "$rc" -ne 0 ]; then
        if [ "${SWAT_SLURM_TEST_KEEP:-0}" = 1 ]; then
            echo "scratch kept: $SCRATCH"
        else
            rm -rf "$SCRATCH"
        fi
    else
        rm -rf "$SCRATCH"
    fi
}
trap cleanup EXIT
trap 'echo "SLURM test: interrupted"; exit 130' INT TERM

log() { echo "== $*"; }
pass() { CHECKS=$((CHECKS + 1)); echo "PASS: $*"; }
fail() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL: $*"; }
check() { # check "description" command…
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# --- helpers ------------------------------------------------------------------
# One field of `scontrol show job` (e.g. JobState, Restarts, ExitCode).
job_field() {
    scontrol show job -o "$1" 2>/dev/null | head -n1 | grep -o "\(^\| \)$2=[^ ]*" | head -n1 | cut -d= -f2-
}

# Polls until the job's state matches the regex; 1 after SECS seconds.
wait_state() {
    local id=$1 re=$2 secs=$3 end=$((SECONDS + $3)) st
    while :; do
        st=$(job_field "$id" JobState)
        [[ $st =~ ^($re)$ ]] && return 0
        [ $SECONDS -ge $end ] && { echo "timeout (${secs}s): job $id is ${st:-unknown}, waited for $re"; return 1; }
        sleep 0.2
    done
}

# Waits until a job has ended (no longer pending, running or completing).
wait_done() {
    local id=$1 secs=$2 end=$((SECONDS + $2)) st
    while :; do
        st=$(job_field "$id" JobState)
        if [ -n "$st" ] && [[ ! $st =~ ^(PENDING|RUNNING|CONFIGURING|COMPLETING|REQUEUED|REQUEUE_HOLD|REQUEUE_FED|RESIZING|SUSPENDED|STAGE_OUT)$ ]] &&
           ! squeue -h -j "$id" -t CG -o %i 2>/dev/null | grep -q .; then
            return 0
        fi
        [ $SECONDS -ge $end ] && { echo "timeout (${secs}s): job $id still ${st:-unknown}"; return 1; }
        sleep 0.2
    done
}

# Waits until FILE has at least N lines while the job runs.
wait_metrics() {
    local id=$1 file=$2 n=$3 secs=$4 end=$((SECONDS + $4)) st lines
    while :; do
        lines=$({ wc -l <"$file"; } 2>/dev/null || echo 0)
        [ "$lines" -ge "$n" ] && return 0
        st=$(job_field "$id" JobState)
        [[ $st =~ ^(PENDING|RUNNING|CONFIGURING)$ ]] ||
            { echo "job $id is $st before $file had $n lines"; return 1; }
        [ $SECONDS -ge $end ] && { echo "timeout (${secs}s): $file has $lines lines, waited for $n"; return 1; }
        sleep 0.2
    done
}

# Waits for the requeue (Restarts >= 1), then lifts SLURM's ~120 s BeginTime
# hold; not within the same second as the requeue (ENV.md: "Job credential
# revoked").
wait_requeue_and_release() {
    local id=$1 secs=$2 end=$((SECONDS + $2)) r
    while :; do
        r=$(job_field "$id" Restarts)
        [ "${r:-0}" -ge 1 ] && [ "$(job_field "$id" JobState)" = PENDING ] && break
        [ $SECONDS -ge $end ] && { echo "timeout (${secs}s): job $id not requeued (Restarts=${r:-?}, $(job_field "$id" JobState))"; return 1; }
        sleep 0.2
    done
    echo "job $id requeued: $(job_field "$id" JobState) Reason=$(job_field "$id" Reason) StartTime=$(job_field "$id" StartTime)"
    sleep 2.5
    scontrol update JobId="$id" StartTime=now || return 1
    echo "job $id released (StartTime=now)"
}

debug_job() { # ID OUTPUT_FILE…
    local id=$1
    shift
    echo "----- squeue -t all"
    squeue -t all -o '%.12i %.14j %.10T %.10M %.6D %R' 2>&1
    echo "----- scontrol show job $id"
    scontrol show job "$id" 2>&1
    local f
    for f in "$@"; do
        echo "----- $f"
        cat "$f" 2>&1
    done
    cluster_dump_logs
}

ckpt_step() { # newest checkpoint's step in DIR (0: none)
    local f last=
    for f in "$1"/ckpt-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9].h5; do [ -f "$f" ] && last=$f; done
    [ -z "$last" ] && { echo 0; return; }
    last=${last##*/ckpt-}
    echo $((10#${last%.h5}))
}

# every step 1..N in metrics.jsonl exactly once, in order
metrics_complete() {
    $PY - "$1" "$2" <<'EOF'
import json, sys
steps = [json.loads(l)["step"] for l in open(sys.argv[1]) if l.strip() and "loss" in json.loads(l)]
n = int(sys.argv[2])
if steps != list(range(1, n + 1)):
    print(f"metrics steps: {len(steps)} lines, first {steps[:3]}, last {steps[-3:]}, expected 1..{n}")
    sys.exit(1)
EOF
}

# --- the cluster --------------------------------------------------------------
export OMPI_MCA_mpi_yield_when_idle=1 OMP_NUM_THREADS=1 # 4 declared CPUs on 2 cores
unset SWAT_RUN_DIR SWAT_SWEEP_DIR SWAT_HOME SWAT_REQUEUE SWAT_MAX_RESTARTS SWAT_SRUN_ARGS SWAT_WAIT_POLL
export SWAT_BIN=$BIN
log "starting SLURM in $SCRATCH"
cluster_start "$SCRATCH/cluster" || { fail "SLURM cluster starts"; exit 1; }
pass "SLURM cluster starts (munged, slurmctld, slurmd; node idle)"

CFG=$ROOT/tests/configs/ref.ini
COMMON=(--set "data.train=$ROOT/tests/data/wisdom.txt" --set train.peak_gflops=50 --set train.log_every=20)
STEPS=1000
TRAIN=("${COMMON[@]}" --set parallel.sp=2 --set "train.steps=$STEPS" --set checkpoint.every=50)
submit() { # sbatch from the scratch submit directory; prints the job id
    (cd "$WORK" && sbatch --parsable "$@") | cut -d';' -f1
}

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
        $PY "$ROOT/tests/slurm/compare_ckpt.py" "$run/$f" "$SCRATCH/runs/reference/$f"
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

test_requeue
test_cancel plain
test_cancel batch
test_sweep

log "$((CHECKS - FAILS)) of $CHECKS checks passed in $((SECONDS - T0)) s"
[ "$FAILS" -eq 0 ] && [ "$CHECKS" -gt 0 ]
