# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Private single-node SLURM for the tests (sourced, bash).
#
#   source tests/slurm/cluster.sh
#   cluster_start SCRATCH_DIR     # munged + slurmctld + slurmd, idle node
#   ... sbatch / squeue / scontrol (SLURM_CONF is exported) ...
#   cluster_stop                  # always: scontrol shutdown, kill munged
#
# Everything lives under SCRATCH_DIR: its own MUNGE key and socket, state
# and spool directories, logs, pid files and two free TCP ports, so it
# neither needs nor disturbs a system munged/slurmctld (or another copy of
# this test running at the same time). Needs root (SlurmUser=root) and the
# Debian packages slurm-wlm slurmctld slurmd munge; installs nothing.

SLURM_PKGS="slurm-wlm slurmctld slurmd munge"

cluster_log() { echo "[slurm-cluster] $*"; }

# Fails with the packages to install when a program is missing.
cluster_check_tools() {
    local missing=() t
    for t in munged munge slurmctld slurmd sbatch srun squeue scontrol scancel; do
        command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || missing+=("$t")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "SLURM test: missing ${missing[*]}; install the Debian packages: $SLURM_PKGS" \
             "(tools/install-deps.sh does)" >&2
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "SLURM test: must run as root (SlurmUser=root, slurmd)" >&2
        return 1
    fi
}

# Two TCP ports nobody listens on (the kernel's choice, then released).
cluster_free_ports() {
    "${SWAT_PYTHON:-python3}" - <<'EOF'
import socket
socks = []
for _ in range(2):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# Polls CMD (a string for eval) every 0.2 s until it succeeds; 1 after SECS.
cluster_wait_for() {
    local secs=$1; shift
    local end=$((SECONDS + secs))
    while ! eval "$*" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.2
    done
}

cluster_start() {
    CLUSTER_DIR=$1
    cluster_check_tools || return 1
    local host ports ctld_port slurmd_port
    host=$(hostname -s)
    ports=$(cluster_free_ports) || return 1
    read -r ctld_port slurmd_port <<<"$ports"
    mkdir -p "$CLUSTER_DIR"
    chmod 755 "$CLUSTER_DIR" # munged wants every directory above its socket searchable
    local d=$CLUSTER_DIR
    while d=$(dirname "$d") && [ "$d" != / ]; do
        [ "$(( 0$(stat -c %a "$d") & 01 ))" -ne 0 ] ||
            { cluster_log "$d is not searchable by all (munged refuses its socket below it)"; return 1; }
    done
    mkdir -m 755 "$CLUSTER_DIR/munge"
    mkdir -m 700 "$CLUSTER_DIR/munge/key" "$CLUSTER_DIR/state" "$CLUSTER_DIR/spool"
    dd if=/dev/urandom of="$CLUSTER_DIR/munge/key/munge.key" bs=1024 count=1 status=none
    chmod 400 "$CLUSTER_DIR/munge/key/munge.key"
    CLUSTER_MUNGE_SOCKET=$CLUSTER_DIR/munge/munge.socket
    export SLURM_CONF=$CLUSTER_DIR/slurm.conf
    cat >"$SLURM_CONF" <<EOF
# written by tests/slurm/cluster.sh (see /work/shared/ENV.md)
ClusterName=swattest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$CLUSTER_MUNGE_SOCKET
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
StateSaveLocation=$CLUSTER_DIR/state
SlurmdSpoolDir=$CLUSTER_DIR/spool
SlurmctldPidFile=$CLUSTER_DIR/slurmctld.pid
SlurmdPidFile=$CLUSTER_DIR/slurmd.pid
SlurmctldLogFile=$CLUSTER_DIR/slurmctld.log
SlurmdLogFile=$CLUSTER_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MinJobAge=600
KillWait=30
SlurmdParameters=config_overrides
NodeName=$host NodeAddr=127.0.0.1 CPUs=4 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    cluster_log "scratch $CLUSTER_DIR, host $host, ports $ctld_port/$slurmd_port"
    munged --socket="$CLUSTER_MUNGE_SOCKET" --key-file="$CLUSTER_DIR/munge/key/munge.key" \
           --pid-file="$CLUSTER_DIR/munge/munged.pid" --log-file="$CLUSTER_DIR/munge/munged.log" \
           --seed-file="$CLUSTER_DIR/munge/munged.seed" || { cluster_log "munged failed to start"; return 1; }
    cluster_wait_for 10 "munge -S '$CLUSTER_MUNGE_SOCKET' -n | unmunge -S '$CLUSTER_MUNGE_SOCKET'" ||
        { cluster_log "munged does not answer"; return 1; }
    slurmctld -f "$SLURM_CONF" -c || { cluster_log "slurmctld failed to start"; return 1; }
    cluster_wait_for 30 "scontrol ping | grep -q UP" ||
        { cluster_log "slurmctld does not answer"; cluster_dump_logs; return 1; }
    slurmd -f "$SLURM_CONF" || { cluster_log "slurmd failed to start"; cluster_dump_logs; return 1; }
    cluster_wait_for 60 "sinfo -h -N -o %t | grep -qx idle" ||
        { cluster_log "node not idle"; sinfo -N -l; cluster_dump_logs; return 1; }
    cluster_log "node $host idle: $(sinfo -h -N -o '%N %t cpus=%c')"
}

cluster_dump_logs() {
    local f
    for f in "$CLUSTER_DIR/slurmctld.log" "$CLUSTER_DIR/slurmd.log" "$CLUSTER_DIR/munge/munged.log"; do
        [ -f "$f" ] && { echo "----- tail $f"; tail -n 40 "$f"; }
    done
}

# Stops what cluster_start started, by pid file: never a process by name.
cluster_stop() {
    [ -n "${CLUSTER_DIR:-}" ] || return 0
    local f pid ids
    if [ -f "$CLUSTER_DIR/slurmctld.pid" ] || [ -f "$CLUSTER_DIR/slurmd.pid" ]; then
        # jobs left over by a failed test: kill them (their slurmstepd would
        # outlive slurmd) and give them a moment to go
        ids=$(timeout 10 squeue -h -t PD,R,CG,S,CF -o %A 2>/dev/null | sort -u)
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086 # a list of job ids
            {
                cluster_log "killing leftover jobs:" $ids
                timeout 10 scancel --full --signal=KILL $ids >/dev/null 2>&1
                timeout 10 scancel $ids >/dev/null 2>&1
            }
            cluster_wait_for 20 "[ -z \"\$(squeue -h -t R,CG -o %A)\" ]"
        fi
        timeout 20 scontrol shutdown >/dev/null 2>&1 # slurmctld and every slurmd
    fi
    for f in slurmd.pid slurmctld.pid munge/munged.pid; do
        [ -f "$CLUSTER_DIR/$f" ] || continue
        pid=$(cat "$CLUSTER_DIR/$f" 2>/dev/null)
        [ -n "$pid" ] || continue
        [ "$f" = munge/munged.pid ] && kill "$pid" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            cluster_log "$f: pid $pid still alive, SIGKILL"
            kill -9 "$pid" 2>/dev/null
        fi
    done
    cluster_log "daemons stopped"
}
