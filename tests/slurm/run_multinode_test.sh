#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The job scripts on a REAL two-node SLURM cluster built on this machine
# (tests/slurm/cluster.sh with NODES = 2: munged and slurmctld on the host,
# two slurmd, each in a network and UTS namespace of its own, host names
# swat-n1 and swat-n2, linked to the host by veth pairs on a bridge), as
# root. MPI sees two hosts, so the ranks of a 2-node job talk TCP over the
# veth "network" (the halo included).
#
#   tests/slurm/run_multinode_test.sh BUILD_DIR      (from anywhere; ~2-4 minutes)
#
# 1. two nodes, requeue: train.sbatch with --nodes=2 --ntasks-per-node=1,
#    sp = 2, MPI-IO hints (cb_nodes=2), runs on both nodes (scontrol, and
#    swat-train's own count of nodes through MPI), gets the time-limit
#    warning mid-run (scancel --signal=USR1 --batch), saves, requeues
#    itself, resumes and completes; its final checkpoint equals bit for bit
#    that of the same layout on one node (--nodes=1 --ntasks-per-node=2,
#    run alongside); the checkpoints written by the ranks of both nodes
#    load in h5py with every crc32 right (check_ckpt_h5py.py).
# 2. a node dies: swat-n2's slurmd, slurmstepd and rank are SIGKILLed in
#    the middle of a 2-node run. The job ends within seconds (srun
#    --kill-on-bad-exit, not a hang in a collective), requeues itself (a
#    crash after progress), slurmctld marks swat-n2 DOWN, and the job waits
#    for it even when released; once slurmctld has given up reaching the
#    dead node (sdiag) and swat-n2 is back (slurmd restarted, registered,
#    ReturnToService=2), the job runs again, resumes from the newest
#    complete checkpoint and completes. No file under a final name is torn.
# 3. bad input, one line each, no hang: a host list naming a node that does
#    not exist, more ranks per node or more nodes than the cluster has
#    (sbatch refuses at once: EnforcePartLimits=ALL), a world that sp does
#    not divide and a bad MPI-IO hint (the job fails at once with exit 2,
#    one swat-train line, not requeued).
#
# Installs nothing; always stops the daemons and removes the namespaces,
# links and scratch directory (kept on failure when SWAT_SLURM_TEST_KEEP=1).
# Exit 0 only when every check passed.
set -uo pipefail

SLURM_TEST_NODES=2
# shellcheck source=tests/slurm/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
slurm_test_begin "$@"

log "starting a 2-node SLURM in $SCRATCH"
cluster_start "$SCRATCH/cluster" 2 || { fail "2-node SLURM cluster starts"; exit 1; }
pass "2-node SLURM cluster starts (${CLUSTER_NODES[*]} idle, each in its own network namespace)"
N2=${CLUSTER_NODES[1]}

CFG=$ROOT/tests/configs/ref.ini
COMMON=(--set "data.train=$ROOT/tests/data/wisdom.txt" --set train.peak_gflops=50 --set train.log_every=20)
TWO=(--nodes=2 --ntasks-per-node=1 --cpus-per-task=1)
ONE=(--nodes=1 --ntasks-per-node=2 --cpus-per-task=1)
HINTS=(--set "checkpoint.mpiio_hints=cb_nodes=2,romio_cb_write=enable")

ckpt_usable() { # every checkpoint of DIR passes the h5py + crc32 check
    local f n=0
    for f in "$1"/ckpt-*.h5; do
        [ -f "$f" ] || continue
        "$PY" "$ROOT/tests/check_ckpt_h5py.py" "$f" --optimizer >/dev/null || { echo "$f fails"; return 1; }
        n=$((n + 1))
    done
    [ "$n" -gt 0 ]
}

# --- 1. two nodes: requeue, resume, bit-identical to one node ----------------------
test_two_nodes() {
    log "1. 2-node job (sp=2 across the veth network): SIGUSR1 -> checkpoint, requeue, resume; = the 1-node run"
    local steps=600 id ref out=$WORK/two.out refout=$WORK/one.out fails0=$FAILS
    local train=("${COMMON[@]}" --set parallel.sp=2 --set "train.steps=$steps" --set checkpoint.every=50 "${HINTS[@]}")
    id=$(submit -J swat-two "${TWO[@]}" --time=30 -o "$out" "$ROOT/jobs/train.sbatch" "$CFG" "${train[@]}") ||
        { fail "sbatch the 2-node job"; return 1; }
    ref=$(SWAT_RUN_DIR=$SCRATCH/runs/one submit -J swat-one "${ONE[@]}" --time=30 -o "$refout" \
        "$ROOT/jobs/train.sbatch" "$CFG" "${train[@]}") || { fail "sbatch the 1-node job"; return 1; }
    local run=$WORK/runs/swat-two-$id
    echo "2-node job $id (run dir $run), 1-node job $ref"
    if ! wait_metrics "$id" "$run/metrics.jsonl" 5 240; then
        fail "job $id trains"; debug_job "$id" "$out"; return 1
    fi
    check "scontrol: job $id runs on 2 nodes (NumNodes=$(job_field "$id" NumNodes), NodeList=$(job_field "$id" NodeList))" \
        test "$(job_field "$id" NumNodes)/$(job_field "$id" NodeList)" = "2/swat-n[1-2]"
    echo "job $id at step $(wc -l <"$run/metrics.jsonl"): scancel --signal=USR1 --batch $id"
    scancel --signal=USR1 --batch "$id"
    if ! wait_requeue_and_release "$id" 120 || ! wait_done "$id" 300; then
        fail "job $id requeued itself and finished"; debug_job "$id" "$out"; return 1
    fi
    check "job $id COMPLETED 0:0 after 1 restart (is $(job_field "$id" JobState) $(job_field "$id" ExitCode), Restarts=$(job_field "$id" Restarts))" \
        test "$(job_field "$id" JobState)/$(job_field "$id" ExitCode)/$(job_field "$id" Restarts)" = COMPLETED/0:0/1
    check "swat-train saw 2 nodes through MPI (1 rank on rank 0's), twice" \
        test "$(grep -c 'threads/rank, 2 nodes (1 ranks on rank 0' "$out")" = 2
    check "output: ranks on 2 nodes, srun --ntasks-per-node=1 --kill-on-bad-exit" \
        bash -c "grep -q 'ranks: 2 on 2 node(s)' '$out' && grep -q 'launch: srun --mpi=pmix --kill-on-bad-exit=1 --ntasks-per-node=1' '$out'"
    check "output: MPI-IO hints reached MPI-IO (cb_nodes=2, romio_cb_write=enable)" \
        grep -q 'checkpoint MPI-IO hints cb_nodes=2,romio_cb_write=enable: MPI-IO reports cb_nodes=2, romio_cb_write=enable' "$out"
    local saved resumed
    saved=$(sed -n 's/.*swat-train exited 75; newest checkpoint: step \([0-9]*\).*/\1/p' "$out" | head -n1)
    resumed=$(sed -n 's/.*resume step: \([0-9]*\) (from.*/\1/p' "$out" | head -n1)
    check "resumed from the checkpoint saved on the signal (step ${resumed:-?} = ${saved:-?}, 0 < it < $steps)" \
        test "${resumed:-0}" -gt 0 -a "${resumed:-0}" = "${saved:-x}" -a "${resumed:-0}" -lt $steps
    check "metrics.jsonl: steps 1..$steps exactly once" metrics_complete "$run/metrics.jsonl" $steps
    if ! wait_done "$ref" 300; then
        fail "1-node job $ref finishes"; debug_job "$ref" "$refout"; return 1
    fi
    check "1-node job $ref COMPLETED on one node, 2 ranks there" \
        bash -c "test '$(job_field "$ref" JobState)/$(job_field "$ref" NumNodes)' = COMPLETED/1 && grep -q 'threads/rank, 1 node (2 ranks' '$refout'"
    local f
    f=ckpt-$(printf %08d $steps).h5
    check "final checkpoint of the 2-node run = the 1-node run's, bit for bit" \
        "$PY" "$ROOT/tests/slurm/compare_ckpt.py" "$run/$f" "$SCRATCH/runs/one/$f"
    check "checkpoints written by ranks on both nodes load in h5py, every crc32 right" ckpt_usable "$run"
    [ "$FAILS" -eq "$fails0" ] || debug_job "$id" "$out"
    echo "----- the 2-node job's story ($out):"
    grep '^\[swat-job\|resuming from\|layout:\|MPI-IO hints' "$out"
}

# --- 2. a rank or a whole node dies mid-run ----------------------------------------
# Submits a 2-node job of STEPS updates saving every 20 into RUN and waits
# for its checkpoint 60; sets JOB.
start_victim() {
    local name=$1 run=$2 out=$3 steps=$4
    JOB=$(SWAT_RUN_DIR=$run submit -J "$name" "${TWO[@]}" --time=30 -o "$out" "$ROOT/jobs/train.sbatch" "$CFG" \
        "${COMMON[@]}" --set parallel.sp=2 --set "train.steps=$steps" --set checkpoint.every=20) ||
        { fail "sbatch $name"; return 1; }
    echo "job $JOB (run dir $run)"
    local end=$((SECONDS + 240))
    while [ "$(ckpt_step "$run")" -lt 60 ]; do
        if [ $SECONDS -ge $end ] || [[ ! $(job_field "$JOB" JobState) =~ ^(PENDING|CONFIGURING|RUNNING)$ ]]; then
            fail "job $JOB reaches checkpoint 60"; debug_job "$JOB" "$out"; return 1
        fi
        sleep 0.2
    done
}

# slurmctld has no message on the way to a node: no agent thread at work,
# nothing queued for retry (one sdiag, both read from it). For a dead node
# this can take over a minute: a message that failed before the node was
# marked DOWN waits in the retry queue for 60 s (RPC_RETRY_INTERVAL), goes
# out again, fails again and only then is dropped; and every 40 s a
# registration agent spends ~11 s trying the dead node.
ctld_quiet() {
    local s
    s=$(cluster_agents) || return 1
    grep -q '^Agent count: *0$' <<<"$s" && grep -q 'No pending RPCs' <<<"$s"
}

# After a death: the job is back to PENDING within LIMIT seconds of T0; then
# the checks common to both cases once it has run again and completed.
finish_victim() {
    local id=$1 run=$2 out=$3 steps=$4 before=$5 limit=$6 t0=$7 newest ok=0
    wait_state "$id" 'PENDING' "$limit" && ok=1
    STOPPED_AFTER=$((SECONDS - t0))
    check "job $id ended and is PENDING again ${STOPPED_AFTER} s after the death (limit $limit s)" test "$ok" = 1
    newest=$(ckpt_step "$run")
    check "newest complete checkpoint after the death: $newest (>= $before)" test "$newest" -ge "$before"
    check "no file under a final name is torn (h5py + crc32 of every ckpt-*.h5)" ckpt_usable "$run"
    FINISH_NEWEST=$newest
}

done_victim() {
    local id=$1 run=$2 out=$3 steps=$4 newest=$5
    if ! wait_done "$id" 300; then
        fail "job $id runs again and finishes"; debug_job "$id" "$out"; return 1
    fi
    # (on a loaded machine, slurmctld may retry the kill of the dead step
    # after its message timed out and hit the requeued job's step of the
    # same id: a second requeue, from a checkpoint, that costs no progress)
    check "job $id COMPLETED after the requeue (is $(job_field "$id" JobState), Restarts=$(job_field "$id" Restarts))" \
        bash -c "test '$(job_field "$id" JobState)' = COMPLETED -a '$(job_field "$id" Restarts)' -ge 1"
    check "the restart resumed from the newest complete checkpoint (step $newest)" \
        bash -c "grep 'resuming from' '$out' | head -n 1 | grep -q 'ckpt-$(printf %08d "$newest").h5 at step $newest'"
    check "metrics.jsonl: steps 1..$steps exactly once" metrics_complete "$run/metrics.jsonl" "$steps"
}

test_rank_death() {
    log "2a. the rank on $N2 dies (its process SIGKILLed, the node lives): the job ends within seconds and requeues itself"
    local steps=300 out=$WORK/rank.out run=$SCRATCH/runs/rank fails0=$FAILS pid t0
    start_victim swat-rank "$run" "$out" $steps || return 1
    local before
    before=$(ckpt_step "$run")
    pid=$(cluster_node_pids "$N2" swat-train)
    [ -n "$pid" ] || { fail "the rank on $N2 is found"; return 1; }
    t0=$SECONDS
    kill -9 "$pid"
    echo "killed the rank on $N2 (pid $pid) at checkpoint $before"
    # srun --kill-on-bad-exit stops the step at once; the rank left waits in
    # MPI for its dead peer until its stop alarm (swat-train: 3 s plus two
    # of its slowest iterations) rings, long before SLURM's KillWait
    finish_victim "$JOB" "$run" "$out" $steps "$before" 60 "$t0"
    check "output: srun killed the other rank, the script saw a crash after progress and requeued" \
        bash -c "grep -q 'swat-train failed (exit [0-9]*) after progress' '$out' && grep -q 'requeueing job $JOB' '$out'"
    wait_requeue_and_release "$JOB" 60 || { fail "job $JOB released"; debug_job "$JOB" "$out"; return 1; }
    done_victim "$JOB" "$run" "$out" $steps "$FINISH_NEWEST"
    [ "$FAILS" -eq "$fails0" ] || debug_job "$JOB" "$out"
}

test_node_death() {
    log "2b. $N2 dies (slurmd, slurmstepd, rank SIGKILLed): slurmctld ends and requeues the job, which waits for the node and resumes"
    local steps=300 out=$WORK/node.out run=$SCRATCH/runs/node fails0=$FAILS t0
    start_victim swat-node "$run" "$out" $steps || return 1
    local before timeout
    before=$(ckpt_step "$run")
    timeout=$(scontrol show config | sed -n 's/^SlurmdTimeout *= *\([0-9]*\).*/\1/p')
    t0=$SECONDS
    cluster_node_kill "$N2"
    echo "killed $N2 at checkpoint $before (SlurmdTimeout $timeout s)"
    # the ranks cannot tell a dead peer from a slow one: the node's death is
    # SLURM's to notice, within SlurmdTimeout (+ a ping period and a message timeout)
    finish_victim "$JOB" "$run" "$out" $steps "$before" $((timeout + 60)) "$t0"
    check "slurmctld marked $N2 down: $(sinfo -h -n "$N2" -o %t)" \
        cluster_wait_for 30 "sinfo -h -n $N2 -o %t | grep -q down"
    check "output: the step ended on the node failure" grep -q 'Node failure on swat-n2\|DUE TO NODE FAILURE' "$out"
    sleep 2.5 # not within the second of the requeue (see wait_requeue_and_release)
    scontrol update JobId="$JOB" StartTime=now
    sleep 3
    check "released, job $JOB waits for its second node (is $(job_field "$JOB" JobState), $(job_field "$JOB" Reason))" \
        test "$(job_field "$JOB" JobState)" = PENDING
    # The node comes back only once slurmctld has stopped trying to reach it.
    # The kill of the job's run there went out as the node was found dead,
    # and slurmctld's agent keeps trying to connect for seconds (11 s here):
    # a slurmd up by then receives it. A requeued job keeps its id, and had
    # it started again by then, SLURM 22.05 applies that late kill to the new
    # run: slurmd revokes the job's credential and its epilog-complete makes
    # slurmctld count one node fewer for the job, whose srun then waits for a
    # step forever ("SLURM_JOB_NUM_NODES ... conflicts with allocated node
    # count (2 != 1)", "Requested nodes are busy"; found in the daemons'
    # logs at debug level). So: no agent at work and nothing queued for retry
    # (sdiag) before slurmd restarts, and the job held until the node has
    # registered (ReturnToService=2 returns it then).
    scontrol hold "$JOB"
    local quiet=0 tq=$SECONDS left=
    cluster_wait_for 150 ctld_quiet && quiet=1
    [ "$quiet" = 1 ] || left=": still $(cluster_agents | tr -s ' \t' ' ' | paste -sd ';')"
    check "slurmctld has no message on the way (sdiag: Agent count 0, No pending RPCs) $((SECONDS - tq)) s after the hold$left" \
        test "$quiet" = 1
    cluster_node_start "$N2" || { fail "restart slurmd of $N2"; return 1; }
    check "$N2 registers again and is idle" cluster_wait_for 60 "sinfo -h -n $N2 -o %t | grep -qx idle"
    scontrol release "$JOB"
    done_victim "$JOB" "$run" "$out" $steps "$FINISH_NEWEST"
    [ "$FAILS" -eq "$fails0" ] || debug_job "$JOB" "$out"
    echo "----- the job's story ($out):"
    grep '^\[swat-job\|resuming from\|srun: error\|NODE FAILURE' "$out" | head -n 30
}

# --- 3. bad input: one line, non-zero, no hang -----------------------------------------
# sbatch ARGS… must fail at once (under 10 s) with one line containing WANT.
refused() {
    local what=$1 want=$2 rc t0 err
    shift 2
    t0=$SECONDS
    err=$( (cd "$WORK" && timeout 20 sbatch "$@" "$ROOT/jobs/train.sbatch" "$CFG" 2>&1 >/dev/null) ); rc=$?
    check "$what: sbatch refuses in $((SECONDS - t0)) s, exit $rc, one line: $err" \
        test "$rc" -ne 0 -a "$rc" -ne 124 -a "$(printf '%s\n' "$err" | grep -c .)" = 1 -a $((SECONDS - t0)) -lt 10
    printf '%s' "$err" | grep -q "$want" || fail "$what: '$err' does not say '$want'"
}

# A job that starts but whose swat-train refuses its input: FAILED with exit 2
# within 60 s, one "swat-train:" line naming WANT, not requeued.
job_refused() {
    local what=$1 want=$2 id out=$WORK/bad-$RANDOM.out t0=$SECONDS
    shift 2
    id=$(submit -J swat-bad -o "$out" "$@") || { fail "$what: sbatch"; return 1; }
    if ! wait_done "$id" 60; then fail "$what: job $id ends"; debug_job "$id" "$out"; return 1; fi
    sleep 1 # a requeue, which must not happen, would show by now
    local st ec rs lines
    st=$(job_field "$id" JobState) ec=$(job_field "$id" ExitCode) rs=$(job_field "$id" Restarts)
    lines=$(grep -c '^swat-train:' "$out")
    check "$what: job $id $st $ec in $((SECONDS - t0)) s, not requeued, $lines swat-train line: $(grep -m1 '^swat-train:' "$out")" \
        test "$st/$ec/$rs/$lines" = FAILED/2:0/0/1
    grep '^swat-train:' "$out" | grep -q -- "$want" || { fail "$what: the line does not name '$want'"; cat "$out"; }
}

test_bad_input() {
    log "3. bad input: one line, non-zero exit, no hang"
    refused "a host list naming a node that does not exist" "Invalid node name" --nodes=2 -w "swat-n1,swat-n9"
    refused "more ranks per node than the node has CPUs" "More processors requested than permitted" \
        --nodes=2 --ntasks-per-node=3
    refused "more nodes than the cluster has" "Node count specification invalid" --nodes=3 --ntasks-per-node=1
    job_refused "3 ranks on 2 nodes with sp = 2" "sp = 2" --nodes=2 --ntasks=3 --cpus-per-task=1 \
        "$ROOT/jobs/train.sbatch" "$CFG" "${COMMON[@]}" --set parallel.sp=2 --set train.steps=10
    job_refused "a bad MPI-IO hint" "cb_nodes=0: expected a count" "${TWO[@]}" \
        "$ROOT/jobs/train.sbatch" "$CFG" "${COMMON[@]}" --set parallel.sp=2 --set train.steps=10 \
        --set checkpoint.mpiio_hints=cb_nodes=0
}

# SWAT_SLURM_TESTS picks some (debugging): two, rank, node, bad
for t in ${SWAT_SLURM_TESTS:-two rank node bad}; do
    case $t in
        two) test_two_nodes ;;
        rank) test_rank_death ;;
        node) test_node_death ;;
        bad) test_bad_input ;;
        *) fail "unknown test '$t' in SWAT_SLURM_TESTS" ;;
    esac
done

slurm_test_end
