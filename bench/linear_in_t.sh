#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/linear_in_t.sh: is swat-bench linear in the sequence length at a fixed
# window? d=256 L=4 H=4 w=128, batch 1, one rank, 2 threads, T = 1K … 64K.
#
#   bench/linear_in_t.sh [--lengths "1024 2048 … 65536"] [--repeats 3] [--steps 3]
#                        [--warmup 1] [--threads 2] [--wait-quiet SECONDS] [--out FILE.jsonl]
#                        [--set section.key=value]…   (e.g. --set train.recompute=true)
#
# Every length is run --repeats times, the lengths interleaved (1K, 2K, …,
# 64K, then again), and the best run (highest tokens/s) of each length is
# kept; the median is printed beside it. Table columns:
#   T, tokens/s (best of repeats; median), µs per token, ratio of µs/token to
#   the 1K row, peak RSS (MiB), RSS per token (KiB), RSS minus the T-independent
#   part per token and its ratio to the 1K row, the activation arena per token.
# The T-independent part R0 is the intercept of a least-squares line
# RSS(T) = R0 + r·T through all rows (parameters, gradients, AdamW state,
# libraries, BLIS buffers); "RSS−R0 per token" should then be constant.
# Verdict lines say whether µs/token and (RSS−R0)/token stay within ±10% of
# their median over the rows.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

LENGTHS="1024 2048 4096 8192 16384 32768 65536"
REPEATS=3 STEPS=3 WARMUP=1 THREADS=2 QUIET=0 EXTRA=()
OUT_JSON=/tmp/swat-linear-$(date +%Y%m%d-%H%M%S).jsonl
while [ $# -gt 0 ]; do
    case $1 in
    --lengths) LENGTHS=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --wait-quiet) QUIET=$2; shift 2 ;;
    --out) OUT_JSON=$2; shift 2 ;;
    --set) EXTRA+=(--set "$2"); shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
    esac
done
export OUT_JSON
need_bench
maxT=$(echo $LENGTHS | tr ' ' '\n' | sort -n | tail -1)
DATA=$(bench_data $((2 * maxT + 2)))
cd "$ROOT"
echo "# $(date -Is)  $(uptime)"
echo "# BLIS kernels: $(blis_arch)"
echo "# d=256 L=4 H=4 w=128 B=1, 1 rank x $THREADS threads ${EXTRA[*]:-}, data $DATA; raw JSON: $OUT_JSON"
for r in $(seq 1 "$REPEATS"); do
    for T in $LENGTHS; do
        wait_quiet "$QUIET" 1.0
        run_json "T$T/$r" env OMP_NUM_THREADS=$THREADS BLIS_NUM_THREADS=$THREADS "$SWAT_BENCH" bench/bench.ini \
            --set model.hidden_size=256 --set model.num_hidden_layers=4 --set model.num_heads=4 \
            --set model.window_size=128 --set data.seq_len=$T --set data.batch_size=1 \
            --set data.train="$DATA" --set parallel.threads=$THREADS \
            "${EXTRA[@]}" --steps "$STEPS" --warmup "$WARMUP" >/dev/null || true
    done
done
"$PY" - "$OUT_JSON" <<'EOF'
import json, statistics, sys
path = sys.argv[1]
runs = [json.loads(l) for l in open(path) if l.strip()]
by = {}
for r in runs:
    by.setdefault(r["T"], []).append(r)
Ts = sorted(by)
arena = {T: statistics.median(r.get("arena_mib", float("nan")) for r in by[T]) for T in Ts}
rows = []
for T in Ts:
    rs = by[T]
    best = max(rs, key=lambda r: r["tokens_per_s"])
    tps = best["tokens_per_s"]
    med = statistics.median(r["tokens_per_s"] for r in rs)
    rss = statistics.median(r["peak_rss_mib"] for r in rs)
    loads = [r["load_before"] for r in rs]
    rows.append(dict(T=T, tps=tps, med=med, us=1e6 / tps, rss=rss, arena=arena[T],
                     load="%.1f-%.1f" % (min(loads), max(loads)), n=len(rs), mfu=best["mfu"],
                     peak=best["peak_gflops"]))
# RSS = R0 + r*T least squares
n = len(rows)
mx = sum(r["T"] for r in rows) / n
my = sum(r["rss"] for r in rows) / n
sxx = sum((r["T"] - mx) ** 2 for r in rows)
slope = sum((r["T"] - mx) * (r["rss"] - my) for r in rows) / sxx if sxx > 0 else 0
R0 = my - slope * mx
print("RSS(T) = %.1f MiB + %.2f KiB/token (least squares over %d lengths)" % (R0, slope * 1024, n))
h = ("T", "tok/s best", "median", "us/token", "ratio", "RSS MiB", "RSS/tok KiB", "(RSS-R0)/tok", "ratio",
     "arena/tok", "MFU", "load")
print("%7s %10s %9s %9s %6s %8s %11s %12s %6s %9s %6s %9s" % h)
u0 = rows[0]["us"]
e0 = (rows[0]["rss"] - R0) * 1024 / rows[0]["T"]
for r in rows:
    ex = (r["rss"] - R0) * 1024 / r["T"]
    r["ex"] = ex
    print("%7d %10.0f %9.0f %9.1f %6.2f %8.1f %11.2f %12.2f %6.2f %9.2f %5.1f%% %9s"
          % (r["T"], r["tps"], r["med"], r["us"], r["us"] / u0, r["rss"], r["rss"] * 1024 / r["T"], ex,
             ex / e0 if e0 else float("nan"), r["arena"] * 1024 / r["T"], 100 * r["mfu"], r["load"]))
def verdict(name, vals):
    m = statistics.median(vals)
    lo, hi = min(vals) / m - 1, max(vals) / m - 1
    print("%-28s median %.2f, spread %+.0f%% … %+.0f%%: %s" % (name, m, 100 * lo, 100 * hi,
          "within ±10%" if max(-lo, hi) <= 0.10 else "NOT within ±10%"))
verdict("µs per token", [r["us"] for r in rows])
verdict("(RSS-R0) KiB per token", [r["ex"] for r in rows])
verdict("arena KiB per token", [r["arena"] * 1024 / r["T"] for r in rows])
EOF
echo "# done $(date -Is)  $(uptime)"
