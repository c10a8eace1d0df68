#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run_scaling.sh [STAGE…] — the "beyond one machine" study of issue 6 (docs/scaling.md).
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
#   report     results/tables.md and docs/img/scaling-*.png from the CSVs.
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
stages=${*:-calibrate weak strong ring xcheck report}
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
  local tag=$1 np=$2; shift 2
  local plat=$work/plat-$tag key row t0
  key=$(printf '%s\n' "$np" "$*" "${SIMCFG[*]}" "${EXTRA_CFG:-}" | cat - "$plat/fattree-1024.xml" "$here/swat_comm_model.c" | md5sum | cut -c1-16)
  if [ -z "${FRESH:-}" ] && [ -s "$work/cache/$key.csv" ]; then cat "$work/cache/$key.csv"; return; fi
  t0=$(date +%s)
  row=$(nice -n 10 smpirun -np "$np" -platform "$plat/fattree-1024.xml" -hostfile "$plat/hosts-$np.txt" \
    "${SIMCFG[@]}" ${EXTRA_CFG:-} "$work/swat_comm_model" "$@" --csv 2>>"$log" | grep -v '^\[') || {
      echo "simulation failed: $tag $np $*" >&2; tail -5 "$log" >&2; exit 1; }
  echo "$row" > "$work/cache/$key.csv"
  echo "  $tag $np $*: $(( $(date +%s) - t0 )) s" >&2
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
# the tables inside docs/scaling.md, between its two markers
doc=$root/docs/scaling.md
if [ -f "$doc" ] && grep -q '^<!-- BEGIN GENERATED TABLES' "$doc"; then
  awk -v tables="$res/tables.md" '
    /^<!-- BEGIN GENERATED TABLES/ { print; while ((getline line < tables) > 0) print line; skip = 1; next }
    /^<!-- END GENERATED TABLES/ { skip = 0 }
    !skip' "$doc" > "$doc.tmp" && mv "$doc.tmp" "$doc"
fi
echo "== tables: $res/tables.md (and docs/scaling.md); plots: $img/scaling-{weak-sp,strong-dp,traffic-sp}.png"
