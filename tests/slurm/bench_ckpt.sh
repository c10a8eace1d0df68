#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checkpoint bandwidth on the two-node cluster of tests/slurm/cluster.sh:
# swat-bench --ckpt (best of 3 saves and 3 loads of a 110M-parameter model,
# 1.43 GB with both moments) through srun, with 2 ranks on one node and with
# one rank on each of two nodes (MPI-IO then aggregates over TCP), each with
# the default MPI-IO hints and with one or two aggregators (cb_nodes). The
# layouts alternate, REPS rounds, so that a busy machine slows them alike.
# A measurement, not a test (no pass/fail); figures: docs/performance.md.
#
#   tests/slurm/bench_ckpt.sh BUILD_DIR [REPS=2]        (as root)
set -uo pipefail

SLURM_TEST_NODES=2
# shellcheck source=tests/slurm/testlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
reps=${2:-2}
slurm_test_begin "$1"
cluster_start "$SCRATCH/cluster" 2 >/dev/null || { echo "cluster did not start"; exit 1; }
grep -m1 'model name' /proc/cpuinfo
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

model=(--set model.vocab_size=32000 --set model.hidden_size=768 --set model.num_hidden_layers=12
       --set model.num_heads=12 --set model.window_size=32 --set data.seq_len=32 --set data.batch_size=2
       --set "data.train=$ROOT/tests/data/wisdom.txt")
layouts=("1 node x 2 ranks|--nodes=1 --ntasks-per-node=2"
         "2 nodes x 1 rank|--nodes=2 --ntasks-per-node=1")
hints=("" "cb_nodes=1,romio_cb_write=enable" "cb_nodes=2,romio_cb_write=enable")
printf '%-18s %-34s %9s %9s %9s\n' layout hints MB "save MB/s" "load MB/s"
for r in $(seq "$reps"); do
    for l in "${layouts[@]}"; do
        for h in "${hints[@]}"; do
            dir=$SCRATCH/ckbench
            rm -rf "$dir"
            # shellcheck disable=SC2086 # the layout's srun options
            json=$(cd "$WORK" && timeout 600 srun --mpi=pmix --cpus-per-task=1 ${l#*|} \
                "$BUILD/swat-bench" "$ROOT/bench/bench.ini" "${model[@]}" \
                ${h:+--set "checkpoint.mpiio_hints=$h"} --steps 1 --warmup 0 --ckpt "$dir" 2>/dev/null |
                tail -n 1)
            "$PY" - "${l%%|*}" "${h:-(defaults)}" "$json" <<'EOF'
import json, sys
layout, hints, line = sys.argv[1:4]
try:
    j = json.loads(line)
    mb = j["ckpt_bytes"] / 1e6
    print(f"{layout:<18} {hints:<34} {mb:9.0f} {mb / j['ckpt_save_s']:9.0f} {mb / j['ckpt_load_s']:9.0f}")
except (ValueError, KeyError):
    print(f"{layout:<18} {hints:<34} failed: {line[:80]}")
EOF
        done
    done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
