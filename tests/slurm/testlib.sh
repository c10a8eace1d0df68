# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# tests/slurm/testlib.sh: what the SLURM tests share (sourced, bash): the
# set-up of a test (arguments, tools, scratch folder, a cleanup that always
# stops the cluster), the PASS/FAIL bookkeeping and the helpers that watch
# jobs through scontrol. The cluster itself is cluster.sh's.
#
#   source tests/slurm/testlib.sh
#   slurm_test_begin "$@"           # BUILD_DIR → ROOT BUILD BIN PY SCRATCH WORK
#   cluster_start "$SCRATCH/cluster" [NODES] …
#   slurm_test_end                  # the summary line; the script's status

# shellcheck source=tests/slurm/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"

FAILS=0
CHECKS=0
FAILED=  # the FAIL lines, again at the end
SUMMARY= # debug_job's short account of each failed job, again at the end

# Parses BUILD_DIR, checks the tools and makes the scratch folder (below
# SWAT_SLURM_SCRATCH, else /tmp); the cleanup on exit stops the cluster and
# removes the scratch (kept on failure when SWAT_SLURM_TEST_KEEP=1).
# shellcheck disable=SC2034 # ROOT BUILD BIN PY SCRATCH WORK are the test's
slurm_test_begin() {
    if [ $# -ne 1 ]; then
        echo "usage: $0 BUILD_DIR" >&2
        exit 2
    fi
    ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "SLURM test: no build directory $1" >&2; exit 1; }
    BIN=$BUILD/swat-train
    PY=${SWAT_PYTHON:-python3}
    cluster_check_tools "${SLURM_TEST_NODES:-1}" || exit 1
    [ -x "$BIN" ] || { echo "SLURM test: $BIN not built" >&2; exit 1; }
    "$PY" -c 'import h5py, numpy' 2>/dev/null ||
        { echo "SLURM test: $PY cannot import h5py/numpy: install python3-h5py python3-numpy (or set SWAT_PYTHON)" >&2; exit 1; }
    T0=$SECONDS
    SCRATCH=$(mktemp -d "${SWAT_SLURM_SCRATCH:-/tmp}/swat-slurm-test.XXXXXX")
    chmod 755 "$SCRATCH" # munged: every directory above its socket searchable
    WORK=$SCRATCH/work # the submit directory: holds no repository (jobs/ is found by the script's path)
    mkdir -p "$WORK"
    trap slurm_test_cleanup EXIT
    trap 'echo "SLURM test: interrupted"; exit 130' INT TERM
    export OMPI_MCA_mpi_yield_when_idle=1 OMP_NUM_THREADS=1 # more declared CPUs than cores
    unset SWAT_RUN_DIR SWAT_SWEEP_DIR SWAT_HOME SWAT_REQUEUE SWAT_MAX_RESTARTS SWAT_SRUN_ARGS SWAT_WAIT_POLL SWAT_STEP_WAIT
    export SWAT_BIN=$BIN
}

slurm_test_cleanup() {
    local rc=$?
    cluster_stop
    if { [ "$FAILS" -gt 0 ] || [ "$rc" -ne 0 ]; } && [ "${SWAT_SLURM_TEST_KEEP:-0}" = 1 ]; then
        echo "scratch kept: $SCRATCH"
    else
        rm -rf "$SCRATCH"
    fi
}

slurm_test_end() {
    if [ "$FAILS" -gt 0 ]; then
        echo "===== the failed checks"
        printf '%s' "$FAILED"
        [ -n "$SUMMARY" ] && { echo "===== the failed jobs (full dumps above)"; printf '%s' "$SUMMARY"; }
    fi
    log "$((CHECKS - FAILS)) of $CHECKS checks passed in $((SECONDS - T0)) s"
    [ "$FAILS" -eq 0 ] && [ "$CHECKS" -gt 0 ]
}

submit() { # sbatch from the scratch submit directory; prints the job id
    (cd "$WORK" && sbatch --parsable "$@") | cut -d';' -f1
}

log() { echo "== $*"; }
pass() { CHECKS=$((CHECKS + 1)); echo "PASS: $*"; }
fail() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); FAILED+="FAIL: $*"$'\n'; echo "FAIL: $*"; }
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
# hold; not within the same second as the requeue (slurmd kills a job
# released that fast: "Job credential revoked").
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
    cluster_node_processes
    # for the end of the test's output (slurm_test_end), which a log cut in
    # the middle keeps: the job's newest output lines and what slurmctld
    # said about the job and the nodes' health (all of it is in the dump)
    local summary
    summary=$(
        echo "----- job $id: $(job_field "$id" JobState) $(job_field "$id" Reason) on $(job_field "$id" NodeList), Restarts=$(job_field "$id" Restarts)"
        for f in "$@"; do
            echo "--- $f, last lines"
            tail -n 10 "$f" 2>&1
        done
        echo "--- slurmctld.log on job $id and node health, last lines"
        grep -a "JobId=$id\b\|StepId=$id\.\|Job $id\b\|responding\|registered" "$CLUSTER_DIR/slurmctld.log" 2>/dev/null | tail -n 10
    )
    SUMMARY+="$summary"$'\n'
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
    "$PY" - "$1" "$2" <<'EOF'
import json, sys
steps = [json.loads(l)["step"] for l in open(sys.argv[1]) if l.strip() and "loss" in json.loads(l)]
n = int(sys.argv[2])
if steps != list(range(1, n + 1)):
    print(f"metrics steps: {len(steps)} lines, first {steps[:3]}, last {steps[-3:]}, expected 1..{n}")
    sys.exit(1)
EOF
}

