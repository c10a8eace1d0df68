# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# jobs/lib.sh: what jobs/train.sbatch and jobs/sweep.sbatch share (bash, sourced).
#
# swat_train_job CONFIG.ini RUN_DIR [swat-train arguments…]
#   runs `srun --mpi=pmix swat-train CONFIG.ini … --set checkpoint.dir=RUN_DIR`
#   in the background and waits for it in a loop, so that a trapped signal
#   is handled at once:
#   SIGUSR1 (--signal=B:USR1@N before the time limit, or
#            `scancel --signal=USR1 --batch ID`): passed to srun, which passes
#            it to every rank; they finish the update, agree, save a
#            checkpoint and exit 75. The script then requeues the job
#            (`scontrol requeue`; it resumes from that checkpoint) unless
#            training is complete or the job is no longer RUNNING.
#   SIGTERM (plain scancel, preemption, the time limit itself, or
#            `scancel --signal=TERM --batch ID` to stop with a checkpoint):
#            the ranks save and exit 75 the same way, and the job is NOT
#            requeued: a cancel stays a cancel, and SLURM requeues a
#            preempted job by itself (PreemptMode=REQUEUE).
#   A crash (a rank or a whole node died: any other exit status) after the
#            run made progress (its newest checkpoint is newer than the
#            one it started from) is requeued the same way, so the job
#            resumes from the newest complete checkpoint once SLURM has
#            nodes for it again; a crash without progress is not (a
#            deterministic failure would loop).
#   srun runs with --kill-on-bad-exit: when one rank dies, the others are
#   killed at once instead of waiting in a collective for it.
#   Exit status: 0 training complete (or requeued), else swat-train's (75
#   stopped with a checkpoint saved, 2 bad input, 4 non-finite loss,
#   5 checkpoint failed, 128+N killed by signal N).
#
# Any node count: sbatch --nodes=N decides; ranks per node come from
# SLURM_NTASKS_PER_NODE (--ntasks-per-node) and threads per rank from
# SLURM_CPUS_PER_TASK (--cpus-per-task), both passed on to srun.
#
# Environment (all optional):
#   SWAT_BIN           the trainer (default $SWAT_HOME/build/swat-train)
#   SWAT_SRUN_ARGS     extra srun arguments (word-split), e.g. "--cpu-bind=cores"
#   SWAT_MAX_RESTARTS  stop requeueing after this many restarts (default: no limit)
#   SWAT_STEP_WAIT     seconds srun may wait for SLURM to create its job step
#                      (srun --immediate; default 600, 0: for ever). Past it
#                      srun fails ("Unable to create step") and so does the
#                      job, instead of holding its nodes until the time limit
#                      (SLURM 22.05 can leave a requeued job without a step:
#                      README, Clusters)
#   SWAT_REQUEUE=0     never requeue (checkpoint and exit 75 on SIGUSR1)
#   SWAT_WAIT_POLL=1   wait for srun by polling (automatic with bash < 5.1)

# The repository: SWAT_HOME when it holds jobs/lib.sh, else the folder above this file.
if [ -n "${SWAT_HOME:-}" ] && [ ! -f "$SWAT_HOME/jobs/lib.sh" ]; then
    echo "[swat-job] SWAT_HOME=$SWAT_HOME holds no jobs/lib.sh: using $(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" >&2
    SWAT_HOME=
fi
if [ -z "${SWAT_HOME:-}" ]; then
    SWAT_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fi
export SWAT_HOME

# The trainer when SWAT_BIN is not set: SWAT_HOME/build/swat-train in a source
# tree; in an installed one (cmake --install: SWAT_HOME is PREFIX/share/swat)
# PREFIX/bin/swat-train.
swat_default_bin() {
    if [ ! -x "$SWAT_HOME/build/swat-train" ] && [ -x "$SWAT_HOME/../../bin/swat-train" ]; then
        echo "$(cd "$SWAT_HOME/../../bin" && pwd)/swat-train"
    else
        echo "$SWAT_HOME/build/swat-train"
    fi
}

swat_log() { printf '[swat-job %s] %s\n' "$(date '+%F %T')" "$*"; }
swat_err() { printf '[swat-job %s] ERROR: %s\n' "$(date '+%F %T')" "$*" >&2; }

# The job's id as scontrol and the run directory name it: 123, or 120_3 for
# task 3 of array job 120. Never SLURM_JOB_ID for an array task: one task's
# SLURM_JOB_ID equals SLURM_ARRAY_JOB_ID, which scontrol takes for the whole
# array (`scontrol requeue 120` would requeue every task).
swat_job_label() {
    if [ -n "${SLURM_ARRAY_JOB_ID:-}" ] && [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
        echo "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
    else
        echo "${SLURM_JOB_ID:-local$$}"
    fi
}

# Job name safe for a path (SLURM_JOB_NAME may hold spaces or slashes).
swat_job_name() {
    local n=${SLURM_JOB_NAME:-swat}
    n=${n//\//_}
    echo "${n// /_}"
}

# Makes a path absolute against the working directory (the submit directory).
swat_abspath() {
    case $1 in
        /*) echo "$1" ;;
        *) echo "$PWD/$1" ;;
    esac
}

# Newest complete checkpoint's step in DIR (0 when there is none).
swat_ckpt_step() {
    local f last=
    for f in "$1"/ckpt-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9].h5; do
        [ -f "$f" ] && last=$f # the glob sorts: 8 digits, zero-padded
    done
    if [ -z "$last" ]; then echo 0; return; fi
    last=${last##*/ckpt-}
    last=${last%.h5}
    echo $((10#$last))
}

# [train] steps of the run in DIR, from the resolved config swat-train wrote
# there, read by swat-train itself (--print-config): empty when DIR holds no
# config.ini yet. TRAINER: the swat-train to ask (default SWAT_BIN, else
# $SWAT_HOME/build/swat-train).
# It runs as a one-rank MPI program outside srun; OMPI_MCA_ess_singleton_isolated
# spares Open MPI's singleton its helper daemon (other MPIs ignore it).
# usage: swat_total_steps DIR [TRAINER]
swat_total_steps() {
    [ -f "$1/config.ini" ] || return 0
    OMPI_MCA_ess_singleton_isolated=1 "${2:-${SWAT_BIN:-$SWAT_HOME/build/swat-train}}" \
        --print-config "$1/config.ini" --get train.steps
}

# JobState of this job according to slurmctld (RUNNING, CANCELLED, …).
swat_job_state() {
    scontrol show job "$(swat_job_label)" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -n1 | cut -d= -f2
}

# --- signals -----------------------------------------------------------------
# The trap only records the signal; the wait loop forwards it to srun as
# SIGUSR1 (srun passes that on to every rank; a SIGTERM it would turn into
# SIGKILL) once the ranks can take it: after their first update this run,
# seen as a write to metrics.jsonl. Earlier, srun may not have launched the
# tasks yet (it drops the signal) or swat-train may not have installed its
# handlers yet (the signal kills the rank: no checkpoint); so an early
# signal waits, and is delivered as soon as training runs.
# A plain scancel (and preemption) also SIGTERMs the ranks directly, through
# slurmstepd: they save within KillWait (default 30 s) before SIGKILL.
SWAT_SIGNAL=          # the last USR1/TERM the batch shell caught
SWAT_SIGNAL_TERM=0    # a SIGTERM was caught: never requeue
SWAT_PENDING=         # caught but not yet forwarded
SWAT_CHILD=           # srun's pid while it runs
SWAT_READY_FILE=      # metrics.jsonl of the run
SWAT_LAUNCH_MARK=     # touched at launch: the ranks are ready once SWAT_READY_FILE is newer

swat_on_signal() {
    SWAT_SIGNAL=$1
    SWAT_PENDING=$1
    [ "$1" = TERM ] && SWAT_SIGNAL_TERM=1
    swat_log "caught SIG$1"
}

swat_install_traps() {
    trap 'swat_on_signal USR1' USR1
    trap 'swat_on_signal TERM' TERM
}

swat_ranks_ready() {
    [ -n "$SWAT_LAUNCH_MARK" ] && [ -f "$SWAT_READY_FILE" ] && [ "$SWAT_READY_FILE" -nt "$SWAT_LAUNCH_MARK" ]
}

# Forwards a pending signal to srun when the ranks are ready.
swat_forward_pending() {
    [ -n "$SWAT_PENDING" ] && [ -n "$SWAT_CHILD" ] || return 0
    if swat_ranks_ready; then
        # always as SIGUSR1, which srun forwards as it is: srun answers a
        # SIGTERM of its own by SIGKILLing the tasks ("forcing job
        # termination"). swat-train treats both alike; this script remembers
        # which one it was.
        local how=
        [ "$SWAT_PENDING" = USR1 ] || how=" as SIGUSR1"
        swat_log "forwarding SIG$SWAT_PENDING to the ranks$how (srun pid $SWAT_CHILD): they finish the update, save a checkpoint and exit 75"
        kill -s USR1 "$SWAT_CHILD" 2>/dev/null
        SWAT_PENDING=
    elif [ -z "${SWAT_PENDING_SAID:-}" ]; then
        swat_log "the ranks have not done an update yet: SIG$SWAT_PENDING waits until they have"
        SWAT_PENDING_SAID=1
    fi
}

# Waits for srun (pid $1) and sets SWAT_RC to its exit status. A trapped
# signal interrupts `wait`; `wait -n -p` (bash >= 5.1) tells that apart from
# the child's own status >128 (the variable stays empty when wait was
# interrupted). While a signal waits for the ranks, a 0.5 s ticker wakes the
# loop. Older bash (or SWAT_WAIT_POLL=1): poll srun every second instead.
swat_wait() {
    local pid=$1 st done_pid ticker=
    if [ "${SWAT_WAIT_POLL:-0}" = 1 ] || [ "${BASH_VERSINFO[0]}" -lt 5 ] ||
       { [ "${BASH_VERSINFO[0]}" -eq 5 ] && [ "${BASH_VERSINFO[1]}" -lt 1 ]; }; then
        while kill -0 "$pid" 2>/dev/null; do
            swat_forward_pending
            sleep 1 &
            wait $! # a trap interrupts this at once
        done
        wait "$pid" # bash kept srun's status
        SWAT_RC=$?
        return 0
    fi
    while :; do
        swat_forward_pending
        if [ -n "$SWAT_PENDING" ] && [ -z "$ticker" ]; then
            sleep 0.5 &
            ticker=$!
        fi
        done_pid=
        wait -n -p done_pid "$pid" $ticker
        st=$?
        if [ "${done_pid:-}" = "$pid" ]; then
            SWAT_RC=$st
            [ -n "$ticker" ] && kill "$ticker" 2>/dev/null
            return 0
        fi
        if [ -n "$ticker" ] && [ "${done_pid:-}" = "$ticker" ]; then
            ticker=
        elif [ -z "${done_pid:-}" ] && [ "$st" -eq 127 ] && ! kill -0 "$pid" 2>/dev/null; then
            SWAT_RC=127 # no such child any more (cannot happen; never loop forever)
            return 0
        fi
    done
}

# --- the job -------------------------------------------------------------------
swat_train_job() {
    local config=$1 run_dir=$2
    shift 2
    local bin=${SWAT_BIN:-$(swat_default_bin)}
    local restarts=${SLURM_RESTART_COUNT:-0} label
    label=$(swat_job_label)

    swat_install_traps
    swat_log "job $label (${SLURM_JOB_NAME:-}) on ${SLURM_JOB_NODELIST:-$(hostname -s)}: restart count $restarts" \
             "(SLURM_RESTART_COUNT=${SLURM_RESTART_COUNT:-unset})"
    if [ ! -f "$config" ]; then
        swat_err "config '$config' not found (relative paths start from $PWD)"
        return 2
    fi
    if [ ! -x "$bin" ]; then
        swat_err "trainer '$bin' not found or not executable: build it (cmake -S . -B build && cmake --build build) or set SWAT_BIN"
        return 2
    fi
    if ! mkdir -p "$run_dir"; then
        swat_err "cannot create run directory $run_dir"
        return 2
    fi

    # threads per rank: SLURM's cpus-per-task (swat-train reads it too,
    # unless [parallel] threads is set)
    if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then
        export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK BLIS_NUM_THREADS=$SLURM_CPUS_PER_TASK
    fi
    # srun of SLURM 22.05 does not inherit --cpus-per-task from the job: pass
    # it, and the ranks per node with it; one rank dying kills the others
    local srun_cmd=(srun --mpi=pmix --kill-on-bad-exit=1)
    [ -n "${SLURM_NTASKS_PER_NODE:-}" ] && srun_cmd+=(--ntasks-per-node="${SLURM_NTASKS_PER_NODE%%(*}")
    [ -n "${SLURM_CPUS_PER_TASK:-}" ] && srun_cmd+=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
    local step_wait=${SWAT_STEP_WAIT:-600}
    if [[ ! $step_wait =~ ^[0-9]+$ ]]; then
        swat_err "SWAT_STEP_WAIT='$step_wait': expected a number of seconds (0: wait for ever)"
        return 2
    fi
    [ "$step_wait" -gt 0 ] && srun_cmd+=(--immediate="$step_wait")
    # shellcheck disable=SC2206
    [ -n "${SWAT_SRUN_ARGS:-}" ] && srun_cmd+=($SWAT_SRUN_ARGS)

    local start_step total
    start_step=$(swat_ckpt_step "$run_dir")
    total=$(swat_total_steps "$run_dir" "$bin")
    swat_log "run dir: $run_dir"
    swat_log "config: $config $*"
    swat_log "ranks: ${SLURM_NTASKS:-?} on ${SLURM_JOB_NUM_NODES:-1} node(s) (${SLURM_TASKS_PER_NODE:-?} per node)" \
             "x ${SLURM_CPUS_PER_TASK:-1} threads (OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}); trainer $bin"
    if [ "$start_step" -gt 0 ]; then
        swat_log "resume step: $start_step (from $run_dir/$(printf 'ckpt-%08d.h5' "$start_step")${total:+ of $total steps})"
    else
        swat_log "resume step: 0 (no checkpoint yet: fresh start)"
    fi

    SWAT_RC=
    local launched=0 ready=0
    if [ -n "$SWAT_SIGNAL" ]; then
        # signalled before training started: nothing to forward, nothing lost
        swat_log "SIG$SWAT_SIGNAL arrived before the launch: not starting swat-train"
        SWAT_RC=75
    else
        swat_log "launch: ${srun_cmd[*]} $bin $config $* --set checkpoint.dir=$run_dir"
        SWAT_READY_FILE=$run_dir/metrics.jsonl
        SWAT_LAUNCH_MARK=$run_dir/.launch-$label
        touch "$SWAT_LAUNCH_MARK"
        "${srun_cmd[@]}" "$bin" "$config" "$@" --set "checkpoint.dir=$run_dir" &
        SWAT_CHILD=$!
        launched=1
        swat_wait "$SWAT_CHILD"
        SWAT_CHILD=
        swat_ranks_ready && ready=1
        rm -f "$SWAT_LAUNCH_MARK"
        if [ -n "$SWAT_PENDING" ]; then
            swat_log "SIG$SWAT_PENDING was not forwarded: swat-train ended before its first update"
        fi
    fi
    local rc=$SWAT_RC step
    step=$(swat_ckpt_step "$run_dir")
    [ -z "$total" ] && total=$(swat_total_steps "$run_dir" "$bin")
    swat_log "swat-train exited $rc; newest checkpoint: step $step${total:+ of $total}"

    local crashed=0
    case $rc in
        0)
            swat_log "training complete (step $step${total:+ of $total})"
            return 0 ;;
        75) ;;
        2) swat_err "bad input (exit 2): see the message above; not requeueing"; return 2 ;;
        4) swat_err "non-finite loss (exit 4); not requeueing"; return 4 ;;
        5) swat_err "a checkpoint could not be written (exit 5); not requeueing"; return 5 ;;
        *)
            if [ "$launched" = 1 ] && [ "$step" -gt "$start_step" ]; then
                swat_err "swat-train failed (exit $rc) after progress (step $start_step -> $step): a rank or a node may have died"
                crashed=1
            else
                swat_err "swat-train failed (exit $rc) without progress (still step $step); not requeueing"
                [ "$launched" = 1 ] && [ "$ready" = 0 ] && [ "$step_wait" -gt 0 ] &&
                    swat_err "the ranks never finished an update: if srun said 'Unable to create step', SLURM gave it no job step within SWAT_STEP_WAIT=$step_wait s"
                return "$rc"
            fi ;;
    esac

    # exit 75 (stopped with a checkpoint saved), or a crash after progress
    local rc_out=75
    [ "$crashed" = 1 ] && rc_out=$rc
    if [ "$SWAT_SIGNAL_TERM" = 1 ]; then
        swat_log "stopped on SIGTERM (scancel, preemption or time limit); newest checkpoint: step $step; not requeueing"
        return "$rc_out"
    fi
    if [ -n "$total" ] && [ "$step" -ge "$total" ]; then
        swat_log "training complete (step $step of $total)"
        return 0
    fi
    if [ "${SWAT_REQUEUE:-1}" = 0 ]; then
        swat_log "SWAT_REQUEUE=0: not requeueing; resubmit to resume from step $step"
        return "$rc_out"
    fi
    if [ -z "${SLURM_JOB_ID:-}" ]; then
        swat_log "not in a SLURM job: nothing to requeue; rerun to resume from step $step"
        return "$rc_out"
    fi
    if [ "$launched" = 1 ] && [ "$step" -le "$start_step" ]; then
        # every stop comes after at least one update: something is wrong, and
        # requeueing would loop
        swat_err "no progress in this run (still step $step): not requeueing"
        return "$rc_out"
    fi
    if [ -n "${SWAT_MAX_RESTARTS:-}" ] && [ "$restarts" -ge "$SWAT_MAX_RESTARTS" ]; then
        swat_err "restart $restarts reached SWAT_MAX_RESTARTS=$SWAT_MAX_RESTARTS: not requeueing"
        return "$rc_out"
    fi
    # a plain scancel also signals the ranks directly; should its SIGTERM to
    # this shell still be on the way, slurmctld already knows the job is no
    # longer RUNNING
    local state
    state=$(swat_job_state)
    if [ "$SWAT_SIGNAL_TERM" = 1 ] || { [ -n "$state" ] && [ "$state" != RUNNING ]; }; then
        swat_log "job state ${state:-unknown}, SIGTERM caught: $([ "$SWAT_SIGNAL_TERM" = 1 ] && echo yes || echo no): not requeueing"
        return "$rc_out"
    fi
    swat_log "requeueing job $label (restart $((restarts + 1)) will resume from step $step)"
    trap '' USR1 TERM # requeueing ends this run of the script with a SIGTERM
    if ! scontrol requeue "$label"; then
        swat_err "scontrol requeue $label failed: resubmit to resume from step $step"
        return "$rc_out"
    fi
    swat_log "requeued: job $label is pending again"
    return 0
}
