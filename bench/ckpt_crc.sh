#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The cost of the checkpoint checksums: swat-bench --ckpt (3 saves and 3
# loads of a 110M-parameter model with both AdamW moments, 1.33 GB) under
# bench/crc_timer.c, which times zlib's crc32_z / crc32_combine inside the
# very saves and loads swat-bench times. Per layout (ranks x threads per rank,
# alternated REPS rounds so that a busy machine slows them alike) it prints
# the save and load bandwidth (best of 3, swat-bench's figures), the
# checksum's own rate (bytes per second of one thread checksumming), and the
# share of the save and load time spent checksumming (the slowest rank's
# checksum wall time per save or load, averaged over the 3, against the best
# save or load). A measurement, not a test; figures: docs/performance.md.
#
#   bench/ckpt_crc.sh BUILD_DIR [REPS=2] [DIR=$TMPDIR]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
[ $# -ge 1 ] || die "usage: $0 BUILD_DIR [REPS] [DIR]"
SWAT_BENCH=$(cd "$1" && pwd)/swat-bench
need_bench
reps=${2:-2}
scratch=$(mktemp -d "${3:-${TMPDIR:-/tmp}}/swat-ckpt-crc.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cc -O2 -shared -fPIC "$BENCH_DIR/crc_timer.c" -o "$scratch/crc_timer.so" -ldl -lpthread

model=(--set model.vocab_size=32000 --set model.hidden_size=768 --set model.num_hidden_layers=12
       --set model.num_heads=12 --set model.window_size=32 --set data.seq_len=32 --set data.batch_size=2
       --set "data.train=$ROOT/tests/data/wisdom.txt")
# ranks threads
layouts=("1 1" "2 1" "1 2")
grep -m1 'model name' /proc/cpuinfo
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-16s %6s %9s %9s %9s %9s %7s %7s\n' "ranks x threads" MB "save MB/s" "load MB/s" \
    "crc MB/s" "combine" "save %" "load %"
for _ in $(seq "$reps"); do
    for l in "${layouts[@]}"; do
        read -r np nt <<<"$l"
        rm -rf "$scratch/ck"
        # the library goes to the ranks only (env), not to the launcher; idle
        # ranks yield the core (as in the SLURM tests): on a busy machine a
        # rank spinning in MPI_Barrier otherwise starves the one doing I/O
        out=$(OMPI_MCA_mpi_yield_when_idle=1 OMP_NUM_THREADS=$nt BLIS_NUM_THREADS=$nt "$MPIEXEC" -n "$np" --bind-to none \
            env LD_PRELOAD="$scratch/crc_timer.so" "$SWAT_BENCH" "$ROOT/bench/bench.ini" "${model[@]}" \
            --set "parallel.threads=$nt" --steps 1 --warmup 0 --ckpt "$scratch/ck" 2>&1 | \
            grep -E '^crc_timer |^\{' || true)
        "$PY" - "$np x $nt" "$out" <<'EOF'
import json, re, sys
layout, out = sys.argv[1:3]
j, rows = None, []
for line in out.splitlines():
    if line.startswith("{"):
        j = json.loads(line)
    else:
        rows.append(dict(kv.split("=") for kv in line.split()[1:]))
if j is None or "ckpt_bytes" not in j:
    print(f"{layout:<16} failed: {out[-200:]!r}")
    sys.exit(0)
mb = j["ckpt_bytes"] / 1e6
def phase(p):
    r = [x for x in rows if x["phase"] == p]
    byt = sum(int(x["bytes"]) for x in r)
    cpu = sum(float(x["cpu_s"]) for x in r)
    wall = max(float(x["wall_s"]) for x in r) / 3  # per save/load, slowest rank
    comb = max(float(x["combine_s"]) for x in r) / 3
    return byt, cpu, wall, comb
sb, sc, sw, scomb = phase("save")
lb, lc, lw, lcomb = phase("load")
rate = (sb + lb) / 1e6 / (sc + lc)
print(f"{layout:<16} {mb:6.0f} {mb / j['ckpt_save_s']:9.0f} {mb / j['ckpt_load_s']:9.0f} "
      f"{rate:9.0f} {1e3 * max(scomb, lcomb):6.2f}ms {100 * sw / j['ckpt_save_s']:6.1f}% "
      f"{100 * lw / j['ckpt_load_s']:6.1f}%")
EOF
    done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
