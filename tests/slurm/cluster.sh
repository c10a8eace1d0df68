# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# A private SLURM cluster for the tests (sourced, bash), on this one machine.
#
#   source tests/slurm/cluster.sh
#   cluster_start SCRATCH_DIR [NODES]  # munged + slurmctld + NODES slurmd, all idle
#   ... sbatch / squeue / scontrol (SLURM_CONF is exported) ...
#   cluster_node_kill NODE             # a node dies: everything in it, SIGKILL
#   cluster_node_start NODE            # its slurmd again
#   cluster_stop                       # always: jobs, daemons, namespaces, links
#
# NODES = 1 (default): one slurmd on the host itself (127.0.0.1).
# NODES >= 2: each slurmd runs in a network namespace and a UTS namespace of
# its own, with its own host name (CLUSTER_NODES: swat-n1, swat-n2, …) and
# address, so MPI sees different hosts and talks TCP between them. The
# namespaces hang on a bridge of the host by veth pairs: 10.X.Y.1/24 on the
# bridge (slurmctld, munged and the test's clients stay on the host), node i
# at 10.X.Y.(10+i); nothing routes or forwards to any other interface, so
# traffic stays among the namespaces and the host. X.Y is picked so that it
# meets no address of the machine. Every slurmd gets its own spool, log and
# pid file (SlurmdSpoolDir/LogFile/PidFile with %n) and proctrack/linuxproc
# (no cgroups to share).
#
# Everything lives under SCRATCH_DIR (its own MUNGE key and socket, state
# and spool directories, logs, pid files, free TCP ports) or is named after
# this shell's pid (namespaces, links), so it neither needs nor disturbs a
# system munged/slurmctld or another copy of a test running at the same
# time. Teardown removes what was made, found by pid file and by name: never
# a process by its name. Needs root (SlurmUser=root, namespaces) and the
# Debian packages slurm-wlm slurmctld slurmd munge (and iproute2 for NODES
# >= 2); installs nothing.

SLURM_PKGS="slurm-wlm slurmctld slurmd munge"

cluster_log() { echo "[slurm-cluster] $*"; }

# Fails with the packages to install when a program is missing.
cluster_check_tools() {
    local missing=() t
    for t in munged munge slurmctld slurmd sbatch srun squeue scontrol scancel; do
        command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || missing+=("$t")
    done
    if [ "${1:-1}" -ge 2 ]; then
        for t in ip unshare nsenter; do
            command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || missing+=("$t")
        done
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        echo "SLURM test: missing ${missing[*]}; install the Debian packages: $SLURM_PKGS iproute2" \
             "(tools/install-deps.sh does)" >&2
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "SLURM test: must run as root (SlurmUser=root, slurmd, network namespaces)" >&2
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

# A /24 of 10.0.0.0/8 that no address or route of the machine touches: "X.Y".
cluster_pick_subnet() {
    local used try x y
    used=$(ip -4 -o addr show 2>/dev/null; ip -4 route show 2>/dev/null)
    for try in $(seq 0 63); do
        x=$(( 100 + ($$ + try * 7) % 150 )) y=$(( ($$ / 150 + try * 13) % 250 ))
        if ! grep -q "10\.$x\.$y\." <<<"$used"; then echo "$x.$y"; return 0; fi
    done
    return 1
}

# The namespace of node NAME.
cluster_netns() { echo "swat$CLUSTER_ID-${1#swat-}"; }

# Links and namespaces of NODES nodes on one bridge (see the top).
cluster_make_network() {
    local n=$1 i ns
    CLUSTER_SUBNET=$(cluster_pick_subnet) || { cluster_log "no free 10.X.Y.0/24"; return 1; }
    CLUSTER_BRIDGE=sw${CLUSTER_ID}br
    ip link add "$CLUSTER_BRIDGE" type bridge || return 1
    ip addr add "10.$CLUSTER_SUBNET.1/24" dev "$CLUSTER_BRIDGE" || return 1
    ip link set "$CLUSTER_BRIDGE" up || return 1
    for i in $(seq 1 "$n"); do
        ns=$(cluster_netns "swat-n$i")
        ip netns add "$ns" || return 1
        ip link add "sw${CLUSTER_ID}h$i" type veth peer name "sw${CLUSTER_ID}n$i" || return 1
        ip link set "sw${CLUSTER_ID}n$i" netns "$ns" || return 1
        ip link set "sw${CLUSTER_ID}h$i" master "$CLUSTER_BRIDGE" up || return 1
        ip -n "$ns" addr add "10.$CLUSTER_SUBNET.$((10 + i))/24" dev "sw${CLUSTER_ID}n$i" || return 1
        ip -n "$ns" link set "sw${CLUSTER_ID}n$i" up || return 1
        ip -n "$ns" link set lo up || return 1
    done
    cluster_log "network: bridge $CLUSTER_BRIDGE 10.$CLUSTER_SUBNET.1/24, nodes at" \
                "10.$CLUSTER_SUBNET.11-$((10 + n)) in namespaces $(cluster_netns swat-n1)…"
}

cluster_remove_network() {
    local i ns
    [ -n "${CLUSTER_ID:-}" ] || return 0
    for i in $(seq 1 "${#CLUSTER_NODES[@]}"); do
        ip link del "sw${CLUSTER_ID}h$i" 2>/dev/null # takes its peer along
        ns=$(cluster_netns "swat-n$i")
        [ -e "/run/netns/$ns" ] && ip netns del "$ns"
    done
    ip link show "${CLUSTER_BRIDGE:-none}" >/dev/null 2>&1 && ip link del "$CLUSTER_BRIDGE"
    return 0
}

# Runs a command on node NAME: in its network namespace and a UTS namespace
# whose host name is NAME (the node's processes see that name).
cluster_node_exec() {
    local node=$1
    shift
    if [ "${#CLUSTER_NODES[@]}" -le 1 ]; then "$@"; return; fi
    # nsenter, not `ip netns exec`: that one remounts /sys for the namespace,
    # without /sys/fs/cgroup, and slurmd then refuses to start
    # shellcheck disable=SC2016 # the inner shell expands $0 and $@
    nsenter --net="/run/netns/$(cluster_netns "$node")" \
        unshare --uts sh -c 'hostname "$0" && exec "$@"' "$node" "$@"
}

cluster_node_start() {
    local node=$1
    if [ "${#CLUSTER_NODES[@]}" -le 1 ]; then
        slurmd -f "$SLURM_CONF" || return 1
    else
        # what a killed step leaves in the spool for SLURM 22.05's PMIx plugin
        # (a socket and a folder named after the step) makes the same step
        # fail to launch on this node when its job is requeued: clear them,
        # as the boot of a real node clears what it keeps in /run
        rm -rf "$CLUSTER_DIR/spool-$node"/stepd.slurm.pmix.* "$CLUSTER_DIR/spool-$node"/pmix.*
        mkdir -p "$CLUSTER_DIR/spool-$node" "$CLUSTER_DIR/tmp-$node" &&
            chmod 755 "$CLUSTER_DIR/spool-$node" && chmod 1777 "$CLUSTER_DIR/tmp-$node"
        cluster_node_exec "$node" slurmd -f "$SLURM_CONF" -N "$node" || return 1
    fi
}

# A node dies: every process of its network namespace (its slurmd, the
# slurmstepd of its job steps, their tasks) is SIGKILLed at once, and its
# node-local temporary folder goes with it (a node that comes back has an
# empty /tmp: SLURM's PMIx plugin would trip over the dead step's folder).
cluster_node_kill() {
    local ns pids
    ns=$(cluster_netns "$1")
    pids=$(ip netns pids "$ns" 2>/dev/null)
    # shellcheck disable=SC2086 # a list of pids
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    cluster_wait_for 10 "[ -z \"\$(ip netns pids '$ns')\" ]"
    rm -rf "${CLUSTER_DIR:?}/tmp-$1" && mkdir -m 1777 "$CLUSTER_DIR/tmp-$1"
    cluster_log "node $1 killed (pids: ${pids//$'\n'/ })"
}

# The pids of the processes of node NAME whose command line contains
# PATTERN, for a test that kills one process of a node.
cluster_node_pids() {
    local p
    for p in $(ip netns pids "$(cluster_netns "$1")" 2>/dev/null); do
        grep -qa -- "$2" "/proc/$p/cmdline" 2>/dev/null && echo "$p"
    done
}

cluster_start() {
    CLUSTER_DIR=$1
    local nodes=${2:-1}
    cluster_check_tools "$nodes" || return 1
    local host ports ctld_port slurmd_port ctld_addr i
    host=$(hostname -s)
    ports=$(cluster_free_ports) || return 1
    read -r ctld_port slurmd_port <<<"$ports"
    CLUSTER_ID=$(printf '%04x' $(( $$ % 65536 )))
    CLUSTER_NODES=()
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
    local node_lines
    if [ "$nodes" -le 1 ]; then
        CLUSTER_NODES=("$host")
        ctld_addr=127.0.0.1
        node_lines="SlurmdSpoolDir=$CLUSTER_DIR/spool
SlurmdPidFile=$CLUSTER_DIR/slurmd.pid
SlurmdLogFile=$CLUSTER_DIR/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=4 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP"
    else
        cluster_make_network "$nodes" || { cluster_log "cannot build the network"; cluster_remove_network; return 1; }
        ctld_addr=10.$CLUSTER_SUBNET.1
        # every file a node keeps for itself in a folder of its own; /tmp is
        # shared by the namespaces, so SLURM's PMIx plugin, which makes its
        # per-step folders in TmpFS, needs the node's name in it too
        node_lines="SlurmdSpoolDir=$CLUSTER_DIR/spool-%n
SlurmdPidFile=$CLUSTER_DIR/slurmd-%n.pid
SlurmdLogFile=$CLUSTER_DIR/slurmd-%n.log
TmpFS=$CLUSTER_DIR/tmp-%n
# a killed node is DOWN (and its jobs requeued or ended) within seconds, not
# the default 300: pinged every SlurmdTimeout/3 s, directly (no forwarding
# through the other node, TreeWidth)
SlurmdTimeout=${CLUSTER_SLURMD_TIMEOUT:-6}
TreeWidth=65533
# a step kill that slurmd answers late (a loaded machine; a rank still in its
# stop alarm) is retried by slurmctld, and a retry that comes after the
# requeue hits the new step of the same id: give slurmd time to answer
MessageTimeout=30
# a job no node set could ever run is refused at submission, not left pending
EnforcePartLimits=ALL"
        for i in $(seq 1 "$nodes"); do
            CLUSTER_NODES+=("swat-n$i")
            node_lines+="
NodeName=swat-n$i NodeAddr=10.$CLUSTER_SUBNET.$((10 + i)) CPUs=2 RealMemory=2000 State=UNKNOWN"
        done
        node_lines+="
PartitionName=debug Nodes=swat-n[1-$nodes] Default=YES MaxTime=INFINITE State=UP"
    fi
    cat >"$SLURM_CONF" <<EOF
# written by tests/slurm/cluster.sh: $nodes node(s)
ClusterName=swattest
SlurmctldHost=$host($ctld_addr)
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
SlurmctldPidFile=$CLUSTER_DIR/slurmctld.pid
SlurmctldLogFile=$CLUSTER_DIR/slurmctld.log
# debug: what a failed test's dump needs to tell a late message from a lost one
SlurmctldDebug=${CLUSTER_CTLD_DEBUG:-debug}
SlurmdDebug=${CLUSTER_SLURMD_DEBUG:-debug}
MinJobAge=600
KillWait=30
SlurmdParameters=config_overrides
$node_lines
EOF
    cluster_log "scratch $CLUSTER_DIR, controller $host at $ctld_addr, ports $ctld_port/$slurmd_port," \
                "nodes ${CLUSTER_NODES[*]}"
    munged --socket="$CLUSTER_MUNGE_SOCKET" --key-file="$CLUSTER_DIR/munge/key/munge.key" \
           --pid-file="$CLUSTER_DIR/munge/munged.pid" --log-file="$CLUSTER_DIR/munge/munged.log" \
           --seed-file="$CLUSTER_DIR/munge/munged.seed" || { cluster_log "munged failed to start"; return 1; }
    cluster_wait_for 10 "munge -S '$CLUSTER_MUNGE_SOCKET' -n | unmunge -S '$CLUSTER_MUNGE_SOCKET'" ||
        { cluster_log "munged does not answer"; return 1; }
    slurmctld -f "$SLURM_CONF" -c || { cluster_log "slurmctld failed to start"; return 1; }
    cluster_wait_for 30 "scontrol ping | grep -q UP" ||
        { cluster_log "slurmctld does not answer"; cluster_dump_logs; return 1; }
    for i in "${CLUSTER_NODES[@]}"; do
        cluster_node_start "$i" || { cluster_log "slurmd of $i failed to start"; cluster_dump_logs; return 1; }
    done
    cluster_wait_for 60 "[ \"\$(sinfo -h -N -o %t | grep -cx idle)\" = $nodes ]" ||
        { cluster_log "nodes not idle"; sinfo -N -l; cluster_dump_logs; return 1; }
    cluster_log "$nodes node(s) idle: $(sinfo -h -N -o '%N %t cpus=%c' | tr '\n' ' ')"
}

# The daemons' logs, newest lines, slurmctld's last; munged's without its
# routine lines (every credential decoded twice is "Replayed", every one
# meant for slurmd and decoded by a tool "Unauthorized").
cluster_dump_logs() {
    local f
    f=$CLUSTER_DIR/munge/munged.log
    [ -f "$f" ] && { echo "----- tail $f (routine lines left out)"; grep -v 'Replayed credential\|Unauthorized credential' "$f" | tail -n 15; }
    for f in "$CLUSTER_DIR"/slurmd*.log "$CLUSTER_DIR/slurmctld.log"; do
        [ -f "$f" ] && { echo "----- tail $f"; tail -n 40 "$f"; }
    done
    echo "----- sdiag (agents, RPCs waiting for a retry)"
    cluster_agents
}

# slurmctld's messages on the way to the nodes (sdiag): its agent counts
# and the RPCs queued for a retry, one per line.
cluster_agents() {
    sdiag 2>&1 | sed -n '/^Agent queue/,/^DBD/p; /^Pending RPC/,$p'
}

# What runs on each node of a multi-node cluster (its network namespace):
# pid and command line.
cluster_node_processes() {
    local node p
    [ "${#CLUSTER_NODES[@]}" -gt 1 ] || return 0
    for node in "${CLUSTER_NODES[@]}"; do
        echo "----- processes of $node"
        for p in $(ip netns pids "$(cluster_netns "$node")" 2>/dev/null); do
            printf '%s %s\n' "$p" "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-150)"
        done
    done
}

# Stops what cluster_start started, by pid file and namespace: never a
# process by name.
cluster_stop() {
    [ -n "${CLUSTER_DIR:-}" ] || return 0
    local f pid ids node
    if [ -f "$CLUSTER_DIR/slurmctld.pid" ]; then
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
    for f in "$CLUSTER_DIR"/slurmd*.pid "$CLUSTER_DIR/slurmctld.pid" "$CLUSTER_DIR/munge/munged.pid"; do
        [ -f "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null)
        [ -n "$pid" ] || continue
        [ "$f" = "$CLUSTER_DIR/munge/munged.pid" ] && kill "$pid" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            cluster_log "${f##*/}: pid $pid still alive, SIGKILL"
            kill -9 "$pid" 2>/dev/null
        fi
    done
    if [ "${#CLUSTER_NODES[@]}" -ge 2 ]; then
        # whatever still runs on a node (a step whose slurmd was killed)
        for node in "${CLUSTER_NODES[@]}"; do
            [ -n "$(ip netns pids "$(cluster_netns "$node")" 2>/dev/null)" ] && cluster_node_kill "$node"
        done
        cluster_remove_network
        cluster_log "namespaces, veth pairs and bridge removed"
    fi
    cluster_log "daemons stopped"
}
