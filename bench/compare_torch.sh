#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/compare_torch.sh: swat-bench (C) against bench/torch_peer.py (PyTorch)
# on the same model, shapes and cores, run ALTERNATELY (C, torch, C, torch, …)
# so that a change of load on the shared machine hits both alike.
#
#   bench/compare_torch.sh [--rounds 3] [--steps 5] [--warmup 2] [--configs bench,attn,sp2]
#                          [--precision fp32|bf16] [--torch-args "--attn cat"]
#                          [--wait-quiet SECONDS] [--rt] [--out FILE.jsonl]
#
# --precision bf16: C with [train] precision = bf16; torch under
# torch.autocast("cpu", dtype=torch.bfloat16) (torch_peer.py --autocast).
# --rt runs every program at real-time priority (chrt -f 10, as root): on a
# machine shared with other jobs, OpenMP barriers otherwise lose whole time
# slices to them; both sides get the same treatment.
#
# Configs (B = 1, sigmoid, balanced ALiBi; V = 256 unless said):
#   bench  d=256 L=4 H=4 w=128 T=2048    C: 1 rank x 2 threads; torch: 2 threads
#   d1024  d=1024 L=2 H=16 w=256 T=2048 V=32000  C: 1 rank x 2 threads; torch: 2 threads
#   attn   d=128 L=2 H=2 w=512 T=16384   C: 1 rank x 2 threads; torch: 2 threads
#   sp2    the bench config, C as 2 ranks (sp=2) x 1 thread; torch: 2 threads
#   cpu1   the bench config on ONE thread each, measured in CPU time, which a
#          busy machine does not inflate (a single thread does not spin-wait):
#          torch from its own per-update process time; C as the difference of
#          two swat-bench runs' CPU time (1+STEPS and 1 updates, the peak
#          fixed by --set train.peak_gflops so start-up work is equal) divided
#          by STEPS. MFU of both against torch.mm's 1-thread CPU-time peak
#          (BLIS sgemm either way). Not in the default list.
# Per config it prints every run (tokens/s mean over the timed updates, the
# best single update, the sgemm peak each program measured, the 1-min load
# before the run), then best and median over the rounds of each, the ratio
# C/torch of tokens/s, and the MFU of each: against its own in-run peak and
# against the highest peak any run of the config measured (the peak itself is
# depressed when the machine is busy). Raw JSON lines go to --out.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROUNDS=3 STEPS=5 WARMUP=2 CONFIGS=bench,attn,sp2 TORCH_ARGS="" QUIET=0 PRECISION=fp32 RT=()
OUT_JSON=/tmp/swat-compare-$(date +%Y%m%d-%H%M%S).jsonl
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --configs) CONFIGS=$2; shift 2 ;;
    --torch-args) TORCH_ARGS=$2; shift 2 ;;
    --precision) PRECISION=$2; shift 2 ;;
    --rt) RT=(chrt -f 10); shift ;;
    --wait-quiet) QUIET=$2; shift 2 ;;
    --out) OUT_JSON=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
    esac
done
export OUT_JSON
case $PRECISION in
fp32) C_PREC=() T_PREC=() ;;
bf16) C_PREC=(--set train.precision=bf16) T_PREC=(--autocast) ;;
*) die "--precision must be fp32 or bf16" ;;
esac
need_bench
DATA=$(bench_data 200000)
cd "$ROOT"
echo "# $(date -Is)  $(uptime)"
echo "# BLIS kernels: $(blis_arch)"
echo "# swat-bench: $SWAT_BENCH   torch peer: $BENCH_DIR/torch_peer.py $TORCH_ARGS   data: $DATA"
echo "# raw JSON lines: $OUT_JSON"

c_model() { # d L H w T V
    echo --set model.hidden_size=$1 --set model.num_hidden_layers=$2 --set model.num_heads=$3 \
        --set model.window_size=$4 --set data.seq_len=$5 --set model.vocab_size=$6 --set data.batch_size=1 \
        --set data.train=$DATA
}

run_config() {
    local name=$1 d=$2 L=$3 H=$4 w=$5 T=$6 mode=$7 V=${8:-256}
    local ccmd tcmd
    if [ "$mode" = sp2 ]; then
        ccmd=(env OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1 "${RT[@]}"
              "$MPIEXEC" --allow-run-as-root -n 2 "$SWAT_BENCH" bench/bench.ini $(c_model $d $L $H $w $T $V)
              --set parallel.sp=2 --set parallel.threads=1 "${C_PREC[@]}" --steps "$STEPS" --warmup "$WARMUP")
    else
        ccmd=(env OMP_NUM_THREADS=2 BLIS_NUM_THREADS=2 "${RT[@]}" "$SWAT_BENCH" bench/bench.ini
              $(c_model $d $L $H $w $T $V) --set parallel.threads=2 "${C_PREC[@]}" --steps "$STEPS"
              --warmup "$WARMUP")
    fi
    tcmd=(env OMP_NUM_THREADS=2 BLIS_NUM_THREADS=2 "${RT[@]}" "$PY" "$BENCH_DIR/torch_peer.py" --d $d --L $L
          --H $H --w $w --T $T --B 1 --V $V --threads 2 --steps "$STEPS" --warmup "$WARMUP" --data "$DATA"
          "${T_PREC[@]}" $TORCH_ARGS)
    echo
    echo "## $name ($PRECISION): d=$d L=$L H=$H w=$w T=$T V=$V B=1; C $([ "$mode" = sp2 ] && echo '2 ranks (sp=2) x 1 thread' || echo '1 rank x 2 threads'); torch 2 threads"
    echo "#   C:     ${ccmd[*]}"
    echo "#   torch: ${tcmd[*]}"
    for r in $(seq 1 "$ROUNDS"); do
        wait_quiet "$QUIET" 1.0
        run_json "$name/C/$r" "${ccmd[@]}" >/dev/null || true
        wait_quiet "$QUIET" 1.0
        run_json "$name/torch/$r" "${tcmd[@]}" >/dev/null || true
    done
    "$PY" - "$OUT_JSON" "$name" <<'EOF'
import json, statistics, sys
path, name = sys.argv[1:]
runs = [json.loads(l) for l in open(path) if l.strip()]
runs = [r for r in runs if r["tag"].split("/")[0] == name]
print("%-14s %10s %10s %8s %8s %9s %7s" % ("run", "tok/s", "best upd", "peak GF", "MFU", "RSS MiB", "load"))
for r in runs:
    print("%-14s %10.0f %10.0f %8.1f %7.1f%% %9.1f %7.2f" % (r["tag"], r["tokens_per_s"], r.get("tokens_per_s_best", 0),
          r["peak_gflops"], 100 * r["mfu"], r["peak_rss_mib"], r["load_before"]))
top_peak = max(r["peak_gflops"] for r in runs)
fpt = {}
summ = {}
for impl in ("C", "torch"):
    rs = [r for r in runs if r["tag"].split("/")[1] == impl]
    if not rs:
        continue
    tps = [r["tokens_per_s"] for r in rs]
    tpb = [r.get("tokens_per_s_best", r["tokens_per_s"]) for r in rs]
    # model GFLOP/s = mfu * peak (both programs use 6N + 12·L·d·w)
    gfs = [r["mfu"] * r["peak_gflops"] / r["tokens_per_s"] for r in rs]
    f = gfs[0]  # model GFLOP per token
    summ[impl] = dict(best=max(tps), med=statistics.median(tps), bestupd=max(tpb),
                      mfu_own=max(r["mfu"] for r in rs), mfu_top=f * max(tps) / top_peak,
                      rss=statistics.median(r["peak_rss_mib"] for r in rs))
print("%-6s %12s %12s %14s %12s %12s %9s" % ("", "best tok/s", "median tok/s", "best update", "MFU(own pk)",
      "MFU(top pk)", "RSS MiB"))
for impl, s in summ.items():
    print("%-6s %12.0f %12.0f %14.0f %11.1f%% %11.1f%% %9.1f" % (impl, s["best"], s["med"], s["bestupd"],
          100 * s["mfu_own"], 100 * s["mfu_top"], s["rss"]))
if len(summ) == 2:
    c, t = summ["C"], summ["torch"]
    print("RATIO %s  C/torch tokens/s: best %.2f, median %.2f, best single update %.2f   (top peak %.1f GFLOP/s)"
          % (name, c["best"] / t["best"], c["med"] / t["med"], c["bestupd"] / t["bestupd"], top_peak))
EOF
}

run_cpu1() {
    local d=256 L=4 H=4 w=128 T=2048
    local cbase=(env OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1 "$SWAT_BENCH" bench/bench.ini $(c_model $d $L $H $w $T)
                 --set parallel.threads=1 --set train.peak_gflops=100 --warmup 1)
    local tcmd=(env OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1 "$PY" "$BENCH_DIR/torch_peer.py" --d $d --L $L --H $H
                --w $w --T $T --B 1 --V 256 --threads 1 --steps "$STEPS" --warmup "$WARMUP" --data "$DATA" $TORCH_ARGS)
    echo
    echo "## cpu1: d=$d L=$L H=$H w=$w T=$T B=1; 1 thread each, CPU time per update"
    echo "#   C:     (${cbase[*]} --steps $((1 + STEPS))) minus (... --steps 1), / $STEPS"
    echo "#   torch: ${tcmd[*]}"
    for r in $(seq 1 "$ROUNDS"); do
        local before a b
        before=$(cut -d' ' -f1 /proc/loadavg)
        a=$(cpu_of "${cbase[@]}" --steps 1) || continue
        b=$(cpu_of "${cbase[@]}" --steps $((1 + STEPS))) || continue
        "$PY" -c 'import json,sys; a=float(sys.argv[1]); b=float(sys.argv[2]); n=int(sys.argv[3]);
print(json.dumps({"tag": sys.argv[4], "cpu_ms_per_update": round((b - a) / n * 1e3, 3),
      "load_before": float(sys.argv[5]), "T": 2048, "B": 1}))' \
            "${a%% *}" "${b%% *}" "$STEPS" "cpu1/C/$r" "$before" >>"$OUT_JSON"
        run_json "cpu1/torch/$r" "${tcmd[@]}" >/dev/null || true
    done
    "$PY" - "$OUT_JSON" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs = [r for r in runs if r["tag"].startswith("cpu1/")]
tor = [r for r in runs if "/torch/" in r["tag"]]
peak = max(r["peak_gflops_cpu"] for r in tor) if tor else float("nan")
fpt = tor[0]["model_flops_per_token"] if tor else float("nan")
print("%-14s %14s %7s" % ("run", "CPU ms/update", "load"))
for r in runs:
    print("%-14s %14.1f %7.2f" % (r["tag"], r["cpu_ms_per_update"], r["load_before"]))
res = {}
for impl in ("C", "torch"):
    v = [r["cpu_ms_per_update"] for r in runs if "/%s/" % impl in r["tag"]]
    if v:
        res[impl] = (min(v), statistics.median(v))
        print("%-6s CPU ms/update best %.1f, median %.1f -> %.0f tokens per CPU-second, CPU-time MFU %.1f%% "
              "(1-thread sgemm by CPU time %.1f GFLOP/s)" % (impl, min(v), statistics.median(v),
              2048 / (min(v) * 1e-3), 100 * fpt * 2048 / (min(v) * 1e-3) / (peak * 1e9), peak))
if len(res) == 2:
    print("RATIO cpu1  C/torch speed (torch CPU time / C CPU time): best %.2f, median %.2f"
          % (res["torch"][0] / res["C"][0], res["torch"][1] / res["C"][1]))
EOF
}

IFS=, read -ra LIST <<<"$CONFIGS"
for c in "${LIST[@]}"; do
    case $c in
    bench) run_config bench 256 4 4 128 2048 one ;;
    d1024) run_config d1024 1024 2 16 256 2048 one 32000 ;;
    attn) run_config attn 128 2 2 512 16384 one ;;
    sp2) run_config sp2 256 4 4 128 2048 sp2 ;;
    cpu1) run_cpu1 ;;
    *) die "unknown config $c (bench, d1024, attn, sp2, cpu1)" ;;
    esac
done
echo
echo "# done $(date -Is)  $(uptime)"
