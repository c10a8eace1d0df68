#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/plot_linear.sh: PNG of time and memory per token against T from the
# raw JSON lines of bench/linear_in_t.sh (best run per length; memory as
# (RSS - R0)/token, R0 the intercept of a least-squares line RSS(T)).
#
#   bench/plot_linear.sh OUT.png LABEL=FILE.jsonl [LABEL=FILE.jsonl]…
#
# e.g. bench/plot_linear.sh docs/img/linear-in-t.png stored=/tmp/lin.jsonl recompute=/tmp/linrc.jsonl
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ $# -ge 2 ] || die "usage: bench/plot_linear.sh OUT.png LABEL=FILE.jsonl [LABEL=FILE.jsonl]..."
command -v gnuplot >/dev/null || die "gnuplot not found (apt-get install gnuplot-nox)"
out=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
plot_us="" plot_mem=""
i=0
for arg in "$@"; do
    label=${arg%%=*} file=${arg#*=}
    [ "$label" != "$arg" ] && [ -n "$label" ] || die "argument '$arg' is not LABEL=FILE.jsonl"
    [ -s "$file" ] || die "$file: missing or empty"
    "$PY" - "$file" >"$tmp/$i.dat" <<'EOF' || die "$file: not linear_in_t.sh JSON lines"
import json, sys
best = {}
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    r = json.loads(line)
    T = r["T"]
    if T not in best or r["tokens_per_s"] > best[T]["tokens_per_s"]:
        best[T] = r
if len(best) < 2:
    sys.exit(1)
# RSS(T) = R0 + r*T by least squares: R0 is the T-independent memory
Ts = sorted(best)
rss = [best[T]["peak_rss_mib"] for T in Ts]
mx, my = sum(Ts) / len(Ts), sum(rss) / len(rss)
slope = sum((T - mx) * (m - my) for T, m in zip(Ts, rss)) / sum((T - mx) ** 2 for T in Ts)
R0 = my - slope * mx
for T, m in zip(Ts, rss):
    print(T, 1e6 / best[T]["tokens_per_s"], (m - R0) * 1024 / T)
EOF
    sep=${plot_us:+, }
    plot_us+="$sep'$tmp/$i.dat' using 1:2 with linespoints lw 2 title '$label'"
    plot_mem+="$sep'$tmp/$i.dat' using 1:3 with linespoints lw 2 title '$label'"
    i=$((i + 1))
done
gnuplot <<EOF
set terminal pngcairo size 1100,420 font ",10"
set output "$out"
set multiplot layout 1,2 title "swat-bench, d=256 L=4 H=4 w=128, 1 rank x 2 threads (R0: fitted T-independent memory)"
set logscale x 2
set xlabel "T (tokens per sequence)"
set grid
set key bottom right
set ylabel "µs per token (best run)"
set yrange [0:*]
plot $plot_us
set ylabel "(peak RSS - R0) per token, KiB"
set key bottom right
set yrange [0:*]
plot $plot_mem
unset multiplot
EOF
echo "wrote $out"
