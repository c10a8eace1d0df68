#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run_scaling.sh [STAGE…] — the "beyond one machine" study (docs/scaling.md).
#
#   bench/simgrid/run_scaling.sh                 # every stage
#   bench/simgrid/run_scaling.sh weak report     # some stages (each takes minutes at most)
#   RECALIBRATE=1 bench/simgrid/run_scaling.sh   # re-measure the compute speed
#   SWAT_SIM_GFLOPS=60 bench/simgrid/run_scaling.sh   # impose a speed instead (results/ then
#                                                     # hold that study; calibration.env is kept)
#   FRESH=1 …                                    # ignore the per-run cache
#
# Stages (default: all, in this order):
#   calibrate  once, kept in results/calibration.env: build swat-bench
#              (build-sim/), run it on bench/bench.ini with one thread, take the
#              model-FLOP rate of its mean update as the per-rank compute speed;
#              measure the local bandwidth of a reduction sum (measure_reduce.c).
#              Also builds swat_comm_model with smpicc and writes the fat-tree
#              platforms (gen_platform.sh) for three rank speeds: the measured
#              one, 1 TFLOP/s and 100 TFLOP/s (run by every stage).
#   weak       (a) weak scaling of sequence parallelism: Tc = 4w = 1024 tokens
#              per rank, T = sp·Tc, sp = 8 … 1024, dp = 1 (the paper's 340M model).
#   strong     (b) strong scaling of data parallelism: global batch 256 × 4096
#              tokens, sp = 4, dp = 2 … 256 (8 … 1024 ranks), micro-batch 256/dp.
#   ring       (c) halo vs ring attention: the per-layer traffic formulas for
#              sp = 2 … 1024, and simulated updates with ring attention, sp = 8 … 64.
#   xcheck     (d) ring vs recursive-halving collectives vs SMPI's own (Open MPI
#              selector) MPI_Reduce_scatter_block / MPI_Allgather.
#   zero       (e) the bucketed, overlapped ZeRO-1 update (progress thread) vs the
#              unbucketed one: weak scaling (dp only, 4K … 64K tokens per rank,
#              8 … 1024 ranks) at 1, 10, 50 TFLOP/s and a 64-core node's speed
#              extrapolated from the bf16 calibration (NODE_GFLOPS); the paper's
#              0.5M tokens per update as strong scaling; the bf16 wire; buckets
#              of 25 vs 100 MiB; the previous schedule (4 all-gathers in flight,
#              the first layer bucketed with the next two) for a before/after
#              table. results/zero.csv, ~10 min of one core here (ZERO_PART=weak
#              and ZERO_PART=rest fill the cache, e.g. at once on two cores).
#   report     results/tables.md and docs/img/scaling-*.png from the CSVs;
#              results/zero.md from results/zero.csv.
# Every simulated update is cached under build-sim/simgrid/cache (key: its
# arguments and the platform), and runs under nice: the machine is shared.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
res=$here/results
img=$root/docs/img
work=${SWAT_SIM_WORK:-$root/build-sim/simgrid}
mkdir -p "$res" "$img" "$work"
log=$work/run.log
stages=${*:-calibrate weak strong ring xcheck zero report}
want() { case " $stages " in *" $1 "*) return 0 ;; esac; return 1; }

for tool in smpicc smpirun gnuplot cmake cc; do
  command -v $tool >/dev/null || { echo "run_scaling.sh: $tool not found (apt-get install libsimgrid-dev gnuplot-nox cmake build-essential)" >&2; exit 1; }
done

# ---- 0. calibration -----------------------------------------------------------
cal=$res/calibration.env
if [ -n "${SWAT_SIM_GFLOPS:-}" ]; then
  # imposed, not measured: kept out of results/calibration.env
  cal=$work/calibration-imposed.env
  {
    echo "SPEED_GFLOPS=$SWAT_SIM_GFLOPS"
    echo "SPEED_SOURCE='imposed by SWAT_SIM_GFLOPS'"
    echo "REDUCE_GBS=${SWAT_SIM_REDUCE_GBS:-$( [ -f "$res/calibration.env" ] && . "$res/calibration.env" && echo "$REDUCE_GBS" || echo 20)}"
  } > "$cal"
elif [ ! -f "$cal" ] || { want calibrate && [ -n "${RECALIBRATE:-}" ]; }; then
  echo "== calibration: building swat-bench (build-sim/)"
  cmake -S "$root" -B "$root/build-sim" -DCMAKE_BUILD_TYPE=Release >>"$log" 2>&1
  cmake --build "$root/build-sim" -j2 --target swat-bench >>"$log" 2>&1
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  out=$(cd "$root" && OMP_NUM_THREADS=1 build-sim/swat-bench bench/bench.ini --set parallel.threads=1 --steps 3)
  echo "$out" >> "$log"
  # throughput  468 tokens/s (best 569), 10.5 GFLOP/s model, MFU 48.0%
  thr=$(echo "$out" | grep '^throughput')
  gf=$(echo "$thr" | sed -E 's/.*, ([0-9.]+) GFLOP\/s model.*/\1/')
  tps=$(echo "$thr" | sed -E 's/^throughput +([0-9.]+) tokens\/s.*/\1/')
  tpsb=$(echo "$thr" | sed -E 's/.*\(best ([0-9.]+)\).*/\1/')
  ums=$(echo "$out" | tail -1 | sed -E 's/.*"update_ms":([0-9.]+).*/\1/')
  peak=$(echo "$out" | tail -1 | sed -E 's/.*"peak_gflops":([0-9.]+).*/\1/')
  cc -O3 -march=native -o "$work/measure_reduce" "$here/measure_reduce.c"
  rgbs=$("$work/measure_reduce")
  {
    echo "SPEED_GFLOPS=$gf"
    echo "SPEED_BEST_GFLOPS=$(awk -v g="$gf" -v a="$tps" -v b="$tpsb" 'BEGIN{printf "%.1f", g*b/a}')"
    echo "BENCH_UPDATE_MS=$ums"
    echo "BENCH_TOKENS_PER_S=$tps"
    echo "BENCH_SGEMM_PEAK_GFLOPS=$peak"
    echo "REDUCE_GBS=$rgbs"
    echo "LOADAVG='$load'"
    echo "DATE='$(date -u +%Y-%m-%dT%H:%M:%SZ)'"
    echo "SPEED_SOURCE='swat-bench bench/bench.ini, 1 thread, mean of 3 updates (model FLOP/s)'"
  } > "$cal.tmp"
  mv "$cal.tmp" "$cal"
fi
# shellcheck disable=SC1090
. "$cal"
# The bf16 rank speed (for the zero stage): one core, oneDNN bf16 (AMX where
# the CPU has it), the 340M model's shapes with 4 layers and 1024 tokens (the
# whole 24 layers do not fit this machine's memory next to other jobs), under
# chrt -f 10 when allowed (other jobs break OpenMP barriers otherwise).
if [ -z "${SWAT_SIM_GFLOPS:-}" ] && { [ -z "${BF16_GFLOPS:-}" ] || { want calibrate && [ -n "${RECALIBRATE:-}" ]; }; }; then
  echo "== calibration: bf16 rank speed (swat-bench, configs/paper-340m.ini shapes)"
  cmake -S "$root" -B "$root/build-sim" -DCMAKE_BUILD_TYPE=Release >>"$log" 2>&1
  cmake --build "$root/build-sim" -j2 --target swat-bench >>"$log" 2>&1
  rt=(); chrt -f 10 true 2>/dev/null && rt=(chrt -f 10)
  out=$(cd "$root" && OMP_NUM_THREADS=1 "${rt[@]}" build-sim/swat-bench configs/paper-340m.ini \
    --set parallel.sp=1 --set parallel.threads=1 --set model.num_hidden_layers=4 \
    --set data.seq_len=1024 --set data.batch_size=1 --set train.precision=bf16 \
    --set data.train=none --steps 3 --warmup 1)
  echo "$out" >> "$log"
  bgf=$(echo "$out" | grep '^throughput' | sed -E 's/.*, ([0-9.]+) GFLOP\/s model.*/\1/')
  bpk=$(echo "$out" | tail -1 | sed -E 's/.*"peak_gflops":([0-9.]+).*/\1/')
  grep -v '^BF16_' "$cal" > "$cal.tmp" || true
  {
    echo "BF16_GFLOPS=$bgf"
    echo "BF16_PEAK_GFLOPS=$bpk"
    echo "BF16_SOURCE='swat-bench configs/paper-340m.ini, L 4, 1024 tokens, 1 thread, bf16, ${rt[*]:-no chrt}, mean of 3 updates (model FLOP/s)'"
    echo "BF16_DATE='$(date -u +%Y-%m-%dT%H:%M:%SZ)'"
  } >> "$cal.tmp"
  mv "$cal.tmp" "$cal"
  # shellcheck disable=SC1090
  . "$cal"
fi
echo "== compute speed ${SPEED_GFLOPS} GFLOP/s per rank, reduction sums at ${REDUCE_GBS} GB/s"

# ---- 1. build and platforms ---------------------------------------------------------
smpicc -O2 -Wall -o "$work/swat_comm_model" "$here/swat_comm_model.c" -lm >>"$log" 2>&1
# tag:GFLOP/s:GB/s of the reduce-scatter's local sums. The hypothetical fast
# ranks are charged the network only (their sums run at device bandwidth), so
# their efficiencies are upper bounds.
speeds="meas:$SPEED_GFLOPS:$REDUCE_GBS 1T:1000:0 100T:100000:0"
tag_of() { echo "${1%%:*}"; }
rgbs_of() { echo "${1##*:}"; }
for s in $speeds; do
  g=${s#*:}; g=${g%%:*}
  "$here/gen_platform.sh" "$g" "$work/plat-$(tag_of "$s")" >/dev/null
done
"$here/gen_platform.sh" 1000 "$work/plat-1Tos4" 4 >/dev/null   # a 4:1 tapered core
for g in 4000 6000; do "$here/gen_platform.sh" $g "$work/plat-${g}G" >/dev/null; done   # halo-hiding limit
"$here/gen_platform.sh" "$SPEED_GFLOPS" "$here/platform" >/dev/null   # the committed copy

# Network model: the SMPI piecewise factors default to a calibration of a
# Gigabit-Ethernet cluster; here latency = the links' (lat-factor 1) and
# bandwidth 97% of the links' (bw-factor 0.97), as on a 100 Gb/s HPC fabric.
# The small collectives (the all-reduce of 2 doubles, the barrier and the
# result reductions) use Open MPI's small-message algorithms, named explicitly:
# SMPI's whole "ompi" selector makes 1024-rank simulations ~5x slower.
SIMCFG=(--cfg=smpi/simulate-computation:no --cfg=smpi/shared-malloc:local
        --cfg=smpi/bw-factor:0:0.97 --cfg=smpi/lat-factor:0:1
        --cfg=smpi/allreduce:rdb --cfg=smpi/barrier:ompi_recursivedoubling
        --cfg=smpi/reduce:binomial --log=root.thres:warning)
MODEL=(--d 1024 --L 24 --w 256 --V 32000)
mkdir -p "$work/cache"
sim() { # sim TAG NP ARGS… : one simulated update, prints its CSV row (EXTRA_CFG: more --cfg)
  zsim "$1" "$2" - "${@:3}"
}
zsim() { # zsim TAG NP PROGRESS ARGS… : the same, with a progress agent per rank when PROGRESS=thread
  local tag=$1 np=$2 prog=$3; shift 3
  local plat=$work/plat-$tag key row t0 n=$np hosts=hosts
  [ "$prog" = thread ] && { n=$((2 * np)); hosts=hosts2; }
  key=$(printf '%s\n' "$np" "$prog" "$*" "${SIMCFG[*]}" ${EXTRA_CFG:+"$EXTRA_CFG"} | cat - "$plat/fattree-1024.xml" "$here/swat_comm_model.c" | md5sum | cut -c1-16)
  if [ -z "${FRESH:-}" ] && [ -s "$work/cache/$key.csv" ]; then cat "$work/cache/$key.csv"; return; fi
  t0=$(date +%s)
  # shellcheck disable=SC2086 # EXTRA_CFG: a list of words
  row=$(nice -n 10 smpirun -np "$n" -platform "$plat/fattree-1024.xml" -hostfile "$plat/$hosts-$np.txt" \
    "${SIMCFG[@]}" ${EXTRA_CFG:-} "$work/swat_comm_model" "$@" --csv 2>>"$log" | grep -v '^\[') || {
      echo "simulation failed: $tag $np $*" >&2; tail -5 "$log" >&2; exit 1; }
  echo "$row" > "$work/cache/$key.csv"
  echo "  $tag $np $prog $*: $(( $(date +%s) - t0 )) s" >&2
  echo "$row"
}
csvhead="label,world,sp,dp,d,L,w,V,f,Tc,mb,accum,coll,attn,N,speed_gflops,flop_per_token,t_update_s,t_compute_s,efficiency,comm_share,halo_wait_s,attn_wait_s,rs_s,ar_s,ag_s,halo_MB_mean,halo_MB_max,attn_MB_mean,coll_MB,total_MB"
ranks="8 16 32 64 128 256 512 1024"

# ---- 2a. weak scaling of sequence parallelism -----------------------------------------
if want weak; then
echo "== (a) weak scaling, sp = 8 … 1024"
{
  echo "$csvhead"
  for s in $speeds; do tag=$(tag_of "$s"); r=$(rgbs_of "$s")
    for p in $ranks; do sim "$tag" "$p" "${MODEL[@]}" --reduce-gbs "$r" --sp "$p" --Tc 1024 --coll rhd --label "weak-$tag"; done
  done
} > "$res/weak.csv.tmp"
mv "$res/weak.csv.tmp" "$res/weak.csv"
fi

# ---- 2b. strong scaling of data parallelism --------------------------------------------
if want strong; then
echo "== (b) strong scaling, dp = 2 … 256 (sp 4, batch 256 x 4096)"
{
  echo "$csvhead"
  for s in $speeds; do tag=$(tag_of "$s"); r=$(rgbs_of "$s")
    for p in $ranks; do dp=$((p / 4))
      sim "$tag" "$p" "${MODEL[@]}" --reduce-gbs "$r" --sp 4 --Tc 1024 --mb $((256 / dp)) --coll rhd --label "strong-$tag"
    done
  done
} > "$res/strong.csv.tmp"
mv "$res/strong.csv.tmp" "$res/strong.csv"
fi

# ---- 2c. halo vs ring attention ------------------------------------------------------------
if want ring; then
echo "== (c) halo vs ring attention"
# per rank, per layer, one sequence, fp32, d = 1024, w = 256, Tc = 1024 (= 4w)
awk -v d=1024 -v w=256 -v Tc=1024 -v L=24 'BEGIN {
  print "sp,T,halo_fwd_MB,halo_bwd_MB,ring_fwd_MB,ring_bwd_kv_MB,ring_bwd_kvdkdv_MB,ratio_fwd,ratio_update_kv,ratio_update_ref,halo_update_MB,ring_update_ref_MB"
  for (sp = 2; sp <= 1024; sp *= 2) {
    h = (w - 1) * 2 * d * 4 / 1e6; r = (sp - 1) * Tc * 2 * d * 4 / 1e6
    printf "%d,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.1f,%.1f,%.1f,%.2f,%.2f\n", sp, sp * Tc, h, h, r, r, 2 * r,
      r / h, (r + r) / (2 * h), (r + 2 * r) / (2 * h), 2 * h * L, 3 * r * L
  } }' > "$res/traffic.csv"
{
  echo "$csvhead"
  for s in $speeds; do tag=$(tag_of "$s"); r=$(rgbs_of "$s")
    [ "$tag" = 1T ] && continue
    for p in 8 16 32 64; do
      sim "$tag" "$p" "${MODEL[@]}" --reduce-gbs "$r" --sp "$p" --Tc 1024 --coll rhd --attn ring --label "ring-$tag"
    done
  done
} > "$res/ring_sim.csv.tmp"
mv "$res/ring_sim.csv.tmp" "$res/ring_sim.csv"
fi

# ---- 2d. cross-checks of the collective algorithms ------------------------------------------
if want xcheck; then
echo "== (d) collective cross-checks"
{
  echo "$csvhead"
  # the 340M model: ring vs recursive halving/doubling (the ring costs P^2 messages to simulate)
  for c in ring rhd; do sim meas 256 "${MODEL[@]}" --reduce-gbs "$REDUCE_GBS" --sp 256 --Tc 1024 --coll $c --label "xc340M-$c"; done
  # the same at 1 TFLOP/s per rank, non-blocking core vs a 4:1 tapered one
  for t in 1T 1Tos4; do
    for c in ring rhd; do sim $t 256 "${MODEL[@]}" --reduce-gbs 0 --sp 256 --Tc 1024 --coll $c --label "xc340M$t-$c"; done
  done
  sim 1Tos4 1024 "${MODEL[@]}" --reduce-gbs 0 --sp 1024 --Tc 1024 --coll rhd --label "xc340M1Tos4-rhd"
  # a 12M model (d 256, L 4) on 32 ranks: our algorithms without the summation
  # delay vs SMPI's own MPI_Reduce_scatter_block / MPI_Allgather (Open MPI selector)
  # the forward halo hides behind the halo-free attention rows up to w(Tc-w+1)B/(2(w-1)) ≈ 4.7 TFLOP/s
  for g in 4000G 6000G; do sim $g 8 "${MODEL[@]}" --reduce-gbs 0 --sp 8 --Tc 1024 --coll rhd --label "xhalo-$g"; done
  for c in ring rhd mpi; do
    EXTRA_CFG=--cfg=smpi/coll-selector:ompi \
    sim 100T 32 --d 256 --L 4 --w 128 --V 32000 --sp 32 --Tc 512 --coll $c --reduce-gbs 0 --label "xc12M-$c"
  done
} > "$res/crosscheck.csv.tmp"
mv "$res/crosscheck.csv.tmp" "$res/crosscheck.csv"
fi

# ---- 2e. the bucketed, overlapped ZeRO-1 update ----------------------------------------------
# The rank speeds: 1, 10, 50 TFLOP/s (network only: their sums and AdamW are
# not charged), "node": BF16_GFLOPS (one core's bf16 model-FLOP rate, measured
# with swat-bench, kept in results/calibration.env) x 64 cores, ASSUMED to
# scale linearly, its AdamW at NODE_ADAM_GBS (64 cores' memory bandwidth,
# assumed) and its progress thread's sums at one core's REDUCE_GBS; "core":
# one core at BF16_GFLOPS. Buckets of 100 MiB: 25 MiB (train.c's default)
# costs ~25x more to simulate at 1024 ranks (15 min a run); the two are
# compared at 128. smpi/test:0: SMPI's default charges every MPI_Test that
# finds nothing 0.1 ms of simulated time, growing on repeated calls, where
# the engine's tests cost microseconds; the progress thread's sleep between
# tests is charged by the model instead (--poll-us, half of it per round).
if want zero; then
echo "== (e) bucketed, overlapped ZeRO-1 vs unbucketed"
EXTRA_CFG="--cfg=smpi/test:0${EXTRA_CFG:+ $EXTRA_CFG}"
: "${BF16_GFLOPS:?results/calibration.env has no BF16_GFLOPS: run the calibrate stage}"
node=$(awk -v g="$BF16_GFLOPS" 'BEGIN { printf "%.0f", 64 * g }')
"$here/gen_platform.sh" 10000 "$work/plat-10T" >/dev/null
"$here/gen_platform.sh" 50000 "$work/plat-50T" >/dev/null
"$here/gen_platform.sh" "$node" "$work/plat-node" >/dev/null
"$here/gen_platform.sh" "$BF16_GFLOPS" "$work/plat-core" >/dev/null
# tag:adam GB/s:sums GB/s
zspeeds="1T:0:0 10T:0:0 50T:0:0 node:${NODE_ADAM_GBS:-200}:$REDUCE_GBS"
Z=(--zero bucketed --bucket-mb 100)
# ZERO_PART=weak or rest: only that part, into the cache (two at once on two cores)
want_part() { [ -z "${ZERO_PART:-}" ] || [ "$ZERO_PART" = "$1" ]; }
out=$res/zero.csv.tmp
[ -n "${ZERO_PART:-}" ] && out=/dev/null
{
  echo "$csvhead,zero,overlap,progress,pwire,gwire,bucket_mb,buckets,tokens_rank,t_link_s,ratio,target,adam_s,poll_s"
  for s in $zspeeds; do IFS=: read -r tag ag rg <<<"$s"
    for tok in 4096 8192 16384 32768 65536; do mb=$((tok / 4096))
      for p in 8 64 1024; do
        # 4K, 16K, 64K; 8K and 32K at 10 TFLOP/s and 1024 ranks only (a
        # 1024-rank run costs 1-4 min here; at 1 TFLOP/s, 4K only: compute
        # >= 8.7 s against 0.22 s of collectives; the node: 4K and 16K)
        case $tok in 8192|32768) [ "$p/$tag" = 1024/10T ] || continue ;; esac
        [ "$p" = 1024 ] && [ "$tag" = 1T ] && [ "$tok" != 4096 ] && continue
        [ "$p" = 1024 ] && [ "$tag" = node ] && [ "$tok" = 65536 ] && continue
        want_part weak || continue
        a=("${MODEL[@]}" --sp 1 --Tc 4096 --mb "$mb" --adam-gbs "$ag")
        zsim "$tag" "$p" - "${a[@]}" --reduce-gbs "$rg" --zero legacy --coll rhd --label "zweak-legacy-$tag"
        zsim "$tag" "$p" thread "${a[@]}" --reduce-gbs "$rg" "${Z[@]}" --progress thread --label "zweak-$tag"
      done
    done
  done
  # the schedule of the previous stop (4 all-gathers in flight, the first
  # layer bucketed with the next two), for the before/after table
  want_part rest && for tag in 10T 50T; do
    for p in 8 64 1024; do
      zsim "$tag" "$p" thread "${MODEL[@]}" --sp 1 --Tc 4096 --mb 1 --reduce-gbs 0 "${Z[@]}" --progress thread --gather-slots 4 --tail-alone 0 --label "zprev-$tag"
    done
  done
  # the bf16 wire: matrices' all-gather (pwire), and the gradients too (gwire)
  want_part rest && for tag in 10T 50T; do
    zsim "$tag" 64 thread "${MODEL[@]}" --sp 1 --Tc 4096 --mb 1 --reduce-gbs 0 "${Z[@]}" --progress thread --pwire 2 --label "zwire-p2-$tag"
    zsim "$tag" 64 thread "${MODEL[@]}" --sp 1 --Tc 4096 --mb 1 --reduce-gbs 0 "${Z[@]}" --progress thread --pwire 2 --gwire 2 --label "zwire-p2g2-$tag"
    zsim "$tag" 64 thread "${MODEL[@]}" --sp 1 --Tc 4096 --mb 1 --reduce-gbs 0 "${Z[@]}" --progress thread --pwire 2 --gwire 2 --ewire 2 --label "zwire-p2g2e2-$tag"
  done
  # strong scaling at the paper's 0.5M tokens per update: 128 sequences of
  # 4096 tokens, dp = P up to 128 sequences, then sp = P/128 (Tc = 4096/sp)
  want_part rest && for s in "core:0:$REDUCE_GBS" "node:${NODE_ADAM_GBS:-200}:$REDUCE_GBS"; do IFS=: read -r tag ag rg <<<"$s"
    [ "$tag" = core ] && ag=$REDUCE_GBS
    for p in $ranks; do
      [ "$tag" = core ] && [ "$p" -gt 128 ] && continue # one core: the collectives are < 1 % there
      if [ "$p" -le 128 ]; then sp=1; mb=$((128 / p)); else sp=$((p / 128)); mb=1; fi
      a=("${MODEL[@]}" --sp "$sp" --Tc $((4096 / sp)) --mb "$mb" --adam-gbs "$ag" --reduce-gbs "$rg")
      zsim "$tag" "$p" - "${a[@]}" --zero legacy --coll rhd --label "zstrong-legacy-$tag"
      zsim "$tag" "$p" thread "${a[@]}" "${Z[@]}" --progress thread --label "zstrong-$tag"
    done
  done
  # bucket size, and polling vs the progress thread, at 128 ranks (10 TFLOP/s, 4K tokens)
  want_part rest && for bmb in 25 100; do
    zsim 10T 128 thread "${MODEL[@]}" --sp 1 --Tc 4096 --mb 1 --reduce-gbs 0 --zero bucketed --bucket-mb $bmb --progress thread --label "zbucket-$bmb"
  done
  want_part rest && zsim 10T 128 - "${MODEL[@]}" --sp 1 --Tc 4096 --mb 1 --reduce-gbs 0 --adam-gbs 0 "${Z[@]}" --progress poll --label "zpoll-free"
  true
} > "$out"
[ -n "${ZERO_PART:-}" ] || mv "$res/zero.csv.tmp" "$res/zero.csv"
fi

want report || exit 0
for f in weak strong traffic ring_sim crosscheck; do
  [ -s "$res/$f.csv" ] || { echo "run_scaling.sh: results/$f.csv missing; run its stage first" >&2; exit 1; }
done

# ---- 3. tables ----------------------------------------------------------------------------
# CSV columns: 1 label 2 world 3 sp 4 dp 5 d 6 L 7 w 8 V 9 f 10 Tc 11 mb 12 accum 13 coll
# 14 attn 15 N 16 speed_gflops 17 flop_per_token 18 t_update_s 19 t_compute_s 20 efficiency
# 21 comm_share 22 halo_wait_s 23 attn_wait_s 24 rs_s 25 ar_s 26 ag_s 27 halo_MB_mean
# 28 halo_MB_max 29 attn_MB_mean 30 coll_MB 31 total_MB
AWKLIB='function spd(g) { return g < 1000 ? sprintf("%.1f GFLOP/s", g) : sprintf("%g TFLOP/s", g / 1000) }'
{
  echo "<!-- generated by bench/simgrid/run_scaling.sh on $(date -u +%Y-%m-%d); do not edit -->"
  echo
  echo "Calibration: ${SPEED_GFLOPS} GFLOP/s per rank (${SPEED_SOURCE}; best update ${SPEED_BEST_GFLOPS:-n/a} GFLOP/s; sgemm peak measured in the same run ${BENCH_SGEMM_PEAK_GFLOPS:-n/a} GFLOP/s; load average ${LOADAVG:-n/a}); reduction sums ${REDUCE_GBS} GB/s."
  echo
  echo "### (a) Weak scaling of sequence parallelism (340M; Tc = 1024 tokens per rank, T = 1024·sp, dp = 1)"
  echo
  echo "Efficiency = model compute time / simulated update time, by rank speed:"
  echo
  echo "| ranks = sp | T (tokens) | ${SPEED_GFLOPS} GFLOP/s (measured) | 1 TFLOP/s | 100 TFLOP/s | halo MB/rank | ZeRO collectives MB/rank |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  awk -F, 'NR > 1 { e[$1, $2] = $20; T[$2] = $3 * $10; hb[$2] = $28; cb[$2] = $30; if (!($2 in seen)) { seen[$2]; order[++n] = $2 } }
    END { for (i = 1; i <= n; i++) { p = order[i]
      printf "| %d | %d | %.2f%% | %.2f%% | %.2f%% | %.1f | %.0f |\n", p, T[p], 100*e["weak-meas", p], 100*e["weak-1T", p], 100*e["weak-100T", p], hb[p], cb[p] } }' "$res/weak.csv"
  echo
  echo "Where the time goes (means over ranks; the halo wait is the exposed part only):"
  echo
  echo "| ranks = sp | rank speed | update (s) | compute (s) | halo wait (ms) | reduce-scatter (ms) | all-reduce (ms) | all-gather (ms) |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|"
  awk -F, "$AWKLIB"' NR > 1 && ($2 == 8 || $2 == 64 || $2 == 1024) {
    printf "| %d | %s | %.4f | %.4f | %.3f | %.1f | %.3f | %.1f |\n", $2, spd($16), $18, $19, 1000*$22, 1000*$24, 1000*$25, 1000*$26 }' "$res/weak.csv"
  echo
  echo "### (b) Strong scaling of data parallelism (340M; batch 256 × 4096 tokens, sp = 4, micro-batch 256/dp)"
  echo
  echo "Scaling efficiency = (2 · update time at dp = 2) / (dp · update time); in brackets: compute / update."
  echo
  echo "| ranks | dp | sequences per rank | ${SPEED_GFLOPS} GFLOP/s (measured) | 1 TFLOP/s | 100 TFLOP/s | halo MB/rank | ZeRO collectives MB/rank |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F, 'NR > 1 { t[$1, $2] = $18; e[$1, $2] = $20; dp[$2] = $4; mb[$2] = $11; hb[$2] = $28; cb[$2] = $30
      if ($4 == 2) base[$1] = $18; if (!($2 in seen)) { seen[$2]; order[++n] = $2 } }
    function se(tag, p) { return sprintf("%.1f%% (%.1f%%)", 100 * base[tag] * 2 / (t[tag, p] * dp[p]), 100 * e[tag, p]) }
    END { for (i = 1; i <= n; i++) { p = order[i]
      printf "| %d | %d | %d | %s | %s | %s | %.0f | %.0f |\n", p, dp[p], mb[p], se("strong-meas", p), se("strong-1T", p), se("strong-100T", p), hb[p], cb[p] } }' "$res/strong.csv"
  echo
  echo "Where the time goes:"
  echo
  echo "| ranks | rank speed | update (s) | compute (s) | halo wait (ms) | reduce-scatter (ms) | all-gather (ms) |"
  echo "|---:|---|---:|---:|---:|---:|---:|"
  awk -F, "$AWKLIB"' NR > 1 && ($2 == 8 || $2 == 64 || $2 == 1024) {
    printf "| %d | %s | %.4f | %.4f | %.3f | %.1f | %.1f |\n", $2, spd($16), $18, $19, 1000*$22, 1000*$24, 1000*$26 }' "$res/strong.csv"
  echo
  echo "### (c) Halo vs ring attention: MB sent per rank per layer (one sequence, fp32, d = 1024, w = 256, Tc = 1024)"
  echo
  echo "| sp | T (tokens) | halo fwd | halo bwd | ring fwd | ring bwd, K+V | ring bwd, K+V+dK+dV | ring / halo, K+V | ring / halo, K+V+dK+dV |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F, 'NR > 1 { printf "| %d | %d | %.2f | %.2f | %.1f | %.1f | %.1f | %.0f× | %.0f× |\n", $1, $2, $3, $4, $5, $6, $7, $9, $10 }' "$res/traffic.csv"
  echo
  echo "Simulated updates with ring attention (backward K+V+dK+dV) in place of the halo, same model and compute:"
  echo
  echo "| sp | rank speed | update, ring (s) | update, halo (s) | ring exposed wait (s) | halo exposed wait (ms) | ring MB/rank/update | halo MB/rank/update |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|"
  awk -F, "$AWKLIB"' FNR == 1 { next } FILENAME ~ /weak/ { k = $16 "," $3; h[k] = $18; hw[k] = $22; hb[k] = $27; next }
    { k = $16 "," $3
      printf "| %d | %s | %.3f | %s | %.3f | %s | %.0f | %s |\n", $3, spd($16), $18, (k in h) ? sprintf("%.3f", h[k]) : "—",
        $23, (k in hw) ? sprintf("%.3f", 1000*hw[k]) : "—", $29, (k in hb) ? sprintf("%.1f", hb[k]) : "—" }' \
    "$res/weak.csv" "$res/ring_sim.csv"
  echo
  echo "### (d) Collective algorithms cross-check"
  echo
  echo "| model | rank speed | core | ranks | collectives | reduce-scatter (ms) | all-gather (ms) | update (s) |"
  echo "|---|---|---|---:|---|---:|---:|---:|"
  awk -F, "$AWKLIB"' NR > 1 && $1 ~ /^xc/ { n = split($1, a, "-"); c = $13 == "mpi" ? "SMPI (ompi selector)" : ($13 == "rhd" ? "recursive halving/doubling" : "ring")
    m = $15 > 1e8 ? "340M" : sprintf("%.0fM (d %d, L %d), no summation delay", $15 / 1e6, $5, $6)
    core = a[1] ~ /os4$/ ? "4:1 tapered" : "non-blocking"
    printf "| %s | %s | %s | %d | %s | %.3f | %.3f | %.4f |\n", m, spd($16), core, $2, c, 1000*$24, 1000*$26, $18 }' "$res/crosscheck.csv"
  echo
  echo "Halo-hiding limit (340M, sp = 8, Tc = 1024; forward limit w(Tc−w+1)·B/(2(w−1)) ≈ 4.7 TFLOP/s at B = 12.1 GB/s):"
  echo
  echo "| rank speed | halo exposed wait per update (ms) | compute (s) | update (s) |"
  echo "|---|---:|---:|---:|"
  awk -F, "$AWKLIB"' NR > 1 && $1 ~ /^xhalo/ { printf "| %s | %.3f | %.4f | %.4f |\n", spd($16), 1000*$22, $19, $18 }' "$res/crosscheck.csv"
} > "$res/tables.md"

# splice_tables NAME FILE: FILE between docs/scaling.md's "BEGIN NAME TABLES"
# and "END NAME TABLES" markers
splice_tables() {
  local doc=$root/docs/scaling.md
  [ -f "$doc" ] && grep -q "^<!-- BEGIN $1 TABLES" "$doc" || return 0
  awk -v tables="$2" -v name="$1" '
    $0 ~ "^<!-- BEGIN " name " TABLES" { print; while ((getline line < tables) > 0) print line; skip = 1; next }
    $0 ~ "^<!-- END " name " TABLES" { skip = 0 }
    !skip' "$doc" > "$doc.tmp" && mv "$doc.tmp" "$doc"
}

# ---- 3e. the bucketed update's tables (results/zero.md) ----------------------------------------
if [ -s "$res/zero.csv" ]; then
{
  echo "<!-- generated by bench/simgrid/run_scaling.sh on $(date -u +%Y-%m-%d); do not edit -->"
  echo
  echo "Rank speeds: 1, 10, 50 TFLOP/s (network only: sums and AdamW not charged); node = ${BF16_GFLOPS:-?} GFLOP/s (one core, bf16, measured) × 64 cores, AdamW at ${NODE_ADAM_GBS:-200} GB/s, the progress thread's sums at ${REDUCE_GBS} GB/s; core = one such core alone. Bucketed = 100 MiB buckets, overlapped, a progress thread per rank; unbucketed = one reduce-scatter and all-gather after the passes. Link time = bytes a rank sends per update ÷ 12.125 GB/s."
  echo
  echo "#### (e1) Near the limit? Weak scaling, data parallel (sp = 1), fp32 wire"
  echo
  echo "| rank speed | tokens/rank | ranks | compute (s) | collectives at link bw (s) | unbucketed update (s) | bucketed update (s) | exposed comm, bucketed (ms) | update ÷ max | target | met |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  awk -F, 'NR > 1 && $1 ~ /^zweak-/ { k = $16 "," $39 "," $2
      if ($1 ~ /legacy/) leg[k] = $18; else { row[++n] = k; L[k] = $0 } }
    END { for (i = 1; i <= n; i++) { k = row[i]; split(L[k], f, ",")
      g = f[16] + 0; spd = g < 1000 ? sprintf("%.0f GFLOP/s", g) : sprintf("%.3g TFLOP/s", g / 1000)
      printf "| %s | %dK | %d | %.3f | %.3f | %.3f | %.3f | %.1f | %.3f | %.1f | %s |\n", spd, f[39] / 1024, f[2], f[19], f[40],
        leg[k], f[18], 1000 * (f[18] - f[19]), f[41], f[42], f[41] <= f[42] ? "yes" : "**no**" } }' "$res/zero.csv"
  echo
  echo "#### (e2) Planning table: weak-scaling efficiency (compute ÷ update) at 1024 ranks, bucketed, fp32 wire"
  echo
  echo "| rank speed | 4K | 8K | 16K | 32K | 64K | smallest tokens/rank for ≥ 90 %, simulated points | estimate: 9 × exposed time × speed ÷ FLOP per token |"
  echo "|---|---:|---:|---:|---:|---:|---|---:|"
  awk -F, 'NR > 1 && $1 ~ /^zweak-/ && $1 !~ /legacy/ && $2 == 1024 { g = $16 + 0
      if (!(g in seen)) { seen[g]; order[++n] = g }; e[g, $39] = $20
      if ($39 >= big[g]) { big[g] = $39; x[g] = $18 - $19; fpt[g] = $17 } }
    END { for (i = 1; i <= n; i++) { g = order[i]; spd = sprintf("%.3g TFLOP/s", g / 1000); line = "| " spd; first = ""
      for (t = 4096; t <= 65536; t *= 2) { if ((g, t) in e) { line = line sprintf(" | %.1f %%", 100 * e[g, t]); if (first == "" && e[g, t] >= 0.9) first = sprintf("%dK", t / 1024) } else line = line " | —" }
      if (first == "") first = "none of them"; else if (first == "4K") first = "≤ 4K"
      printf "%s | %s | %.1fK (exposed %.0f ms) |\n", line, first, 9 * x[g] * g * 1e9 / fpt[g] / 1024, 1000 * x[g] } }' "$res/zero.csv"
  echo
  echo "#### (e3) Strong scaling at the paper's 0.5M tokens per update (128 × 4096), sp = ranks/128 above 128 ranks"
  echo
  echo "Efficiency = compute ÷ update; scaling = (8 · update at 8 ranks) ÷ (ranks · update)."
  echo
  echo "| ranks | sp × dp | tokens/rank | rank speed | unbucketed update (s) | bucketed update (s) | exposed comm, bucketed (ms) | efficiency unbucketed → bucketed | scaling unbucketed → bucketed |"
  echo "|---:|---|---:|---|---:|---:|---:|---|---|"
  awk -F, 'NR > 1 && $1 ~ /^zstrong-/ { tag = $1; sub(/^zstrong-(legacy-)?/, "", tag); k = tag "," $2
      if ($1 ~ /legacy/) { leg[k] = $18; if ($2 == 8) lb[tag] = $18 } else { row[++n] = k; L[k] = $0; if ($2 == 8) bb[tag] = $18 } }
    END { for (i = 1; i <= n; i++) { k = row[i]; split(k, kk, ","); tag = kk[1]; split(L[k], f, ",")
      g = f[16] + 0; spd = g < 1000 ? sprintf("%.0f GFLOP/s (one core)", g) : sprintf("%.1f TFLOP/s (64-core node)", g / 1000)
      el = f[19] / leg[k]
      printf "| %d | %d × %d | %d | %s | %.3f | %.3f | %.1f | %.1f %% → %.1f %% | %.1f %% → %.1f %% |\n", f[2], f[3], f[4], f[39], spd, leg[k], f[18],
        1000 * (f[18] - f[19]), 100 * el, 100 * f[20], 100 * 8 * lb[tag] / (f[2] * leg[k]), 100 * 8 * bb[tag] / (f[2] * f[18]) } }' "$res/zero.csv"
  echo
  echo "#### (e4) The bf16 wire (4K tokens per rank)"
  echo
  echo "| rank speed | ranks | wire (matrices / gradients) | MB sent per rank per update | vs fp32 | update (s) | exposed comm (ms) |"
  echo "|---|---:|---|---:|---:|---:|---:|"
  awk -F, 'NR > 1 && (($1 ~ /^zweak-(10T|50T)$/ && $39 == 4096 && ($2 == 64 || $2 == 1024)) || $1 ~ /^zwire-/) {
      k = $16 "," $2; if ($35 == 4 && $36 == 4) base[k] = $30; row[++n] = $0 }
    END { for (i = 1; i <= n; i++) { split(row[i], f, ","); k = f[16] "," f[2]
      printf "| %g TFLOP/s | %d | %s / %s | %.0f | %.1f %% | %.3f | %.1f |\n", f[16] / 1000, f[2], f[1] ~ /e2-/ ? "bf16, embedding too" : f[35] == 2 ? "bf16" : "fp32", f[36] == 2 ? "bf16" : "fp32",
        f[30], 100 * f[30] / base[k], f[18], 1000 * (f[18] - f[19]) } }' "$res/zero.csv"
  echo
  echo "#### (e5) Bucket size, and polling vs a progress thread (128 ranks, 4K tokens per rank)"
  echo
  echo "| rank speed | buckets | progress | update (s) | exposed comm (ms) | reduce-scatter wait (ms) | all-gather wait (ms) | polling (ms) |"
  echo "|---|---|---|---:|---:|---:|---:|---:|"
  awk -F, 'NR > 1 && ($1 ~ /^zbucket-/ || $1 ~ /^zpoll-/) { g = $16 + 0
      printf "| %s | %d × %g MiB | %s | %.3f | %.1f | %.1f | %.1f | %.1f |\n", sprintf("%.3g TFLOP/s", g / 1000),
        $38, $37, $34, $18, 1000 * ($18 - $19), 1000 * $24, 1000 * $26, 1000 * $44 }' "$res/zero.csv"
  echo
  echo "#### (e6) What the schedule changed (4K tokens per rank): 4 all-gathers in flight and the first layer bucketed with the next two, vs one all-gather at a time and the embedding and first layer alone"
  echo
  echo "| rank speed | ranks | update before (s) | update now (s) | exposed before → now (ms) | update ÷ max, before → now | target |"
  echo "|---|---:|---:|---:|---|---|---:|"
  awk -F, 'NR > 1 && $1 ~ /^zweak-(10T|50T)$/ && $39 == 4096 { now[$16 "," $2] = $0 }
    NR > 1 && $1 ~ /^zprev-/ { row[++n] = $0 }
    END { for (i = 1; i <= n; i++) { split(row[i], b, ","); k = b[16] "," b[2]; if (!(k in now)) continue; split(now[k], f, ",")
      printf "| %g TFLOP/s | %d | %.3f | %.3f | %.1f → %.1f | %.3f → %.3f | %.1f |\n", b[16] / 1000, b[2], b[18], f[18],
        1000 * (b[18] - b[19]), 1000 * (f[18] - f[19]), b[41], f[41], f[42] } }' "$res/zero.csv"
} > "$res/zero.md"
splice_tables ZERO "$res/zero.md"
echo "== tables of the bucketed update: $res/zero.md (and docs/scaling.md)"
fi

# ---- 3. plots -------------------------------------------------------------------------------
awk -F, 'NR>1 { print $1, $2, 100*$20 }' "$res/weak.csv" > "$work/weak.dat"
awk -F, 'NR>1 { if ($4 == 2) base[$1] = $18; print $1, $2, 100*$20, 100*base[$1]*2/($18*$4) }' "$res/strong.csv" > "$work/strong.dat"
awk -F, 'NR>1 { print $1, $3, $3 + $4, $5 + $6, $5 + $7 }' "$res/traffic.csv" > "$work/traffic.dat"
gp_common='set terminal pngcairo size 900,560 enhanced font "DejaVu Sans,11"
set grid; set key bottom left; set logscale x 2; set format x "%g"'
gnuplot <<EOF
$gp_common
set output "$img/scaling-weak-sp.png"
set key center right
set title "Weak scaling of sequence parallelism (340M, Tc = 1024 tokens/rank, T = 1024·sp, dp = 1)"
set xlabel "ranks = sp"; set ylabel "efficiency (compute / update), %"; set yrange [0:105]
plot "< grep '^weak-meas ' $work/weak.dat" u 2:3 w lp lw 2 pt 7 t "rank ${SPEED_GFLOPS} GFLOP/s (measured core)", \
     "< grep '^weak-1T ' $work/weak.dat" u 2:3 w lp lw 2 pt 5 t "rank 1 TFLOP/s", \
     "< grep '^weak-100T ' $work/weak.dat" u 2:3 w lp lw 2 pt 9 t "rank 100 TFLOP/s"
EOF
gnuplot <<EOF
$gp_common
set output "$img/scaling-strong-dp.png"
set title "Strong scaling of data parallelism (340M, batch 256 × 4096 tokens, sp = 4)"
set xlabel "ranks (dp = ranks / 4)"; set ylabel "efficiency vs dp = 2, %"; set yrange [0:105]
plot "< grep '^strong-meas ' $work/strong.dat" u 2:4 w lp lw 2 pt 7 t "rank ${SPEED_GFLOPS} GFLOP/s (measured core)", \
     "< grep '^strong-1T ' $work/strong.dat" u 2:4 w lp lw 2 pt 5 t "rank 1 TFLOP/s", \
     "< grep '^strong-100T ' $work/strong.dat" u 2:4 w lp lw 2 pt 9 t "rank 100 TFLOP/s"
EOF
gnuplot <<EOF
$gp_common
set output "$img/scaling-traffic-sp.png"
set key top left; set logscale y 10
set title "Attention traffic per rank per layer (d = 1024, w = 256, Tc = 1024, fp32, one sequence)"
set xlabel "sp (T = 1024·sp tokens)"; set ylabel "MB sent per rank per layer"
plot "$work/traffic.dat" u 1:3 w lp lw 2 pt 7 t "halo, fwd + bwd: 2(w-1)·2d", \
     "$work/traffic.dat" u 1:4 w lp lw 2 pt 5 t "ring, fwd + bwd (K,V): 2(sp-1)·Tc·2d", \
     "$work/traffic.dat" u 1:5 w lp lw 2 pt 9 t "ring, fwd + bwd (K,V,dK,dV): 3(sp-1)·Tc·2d"
EOF
splice_tables GENERATED "$res/tables.md"
echo "== tables: $res/tables.md (and docs/scaling.md); plots: $img/scaling-{weak-sp,strong-dp,traffic-sp}.png"
