#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Encoding throughput of swat-tokenize (tokens/s, MB/s) on 1 and 2 ranks.
#
#   bench/tokenize.sh [--dir DIR] [--mb 256] [--vocab 32000] [--ranks "1 2"]
#                     [--input-sentences N]
#
# 1. a corpus of --mb MB of UTF-8 text from the installed Debian packages
#    (bench/make_text_corpus.py: docs, man pages, Python and C sources as
#    JSON Lines), kept in DIR (default /tmp/swat-tokenize-bench) between runs;
# 2. a BPE tokenizer of --vocab pieces trained on a --input-sentences sample
#    (default 200000) of its lines (the training time is reported too);
# 3. swat-tokenize encode of the whole corpus on each rank count in turn
#    (--bind-to none: the ranks share the machine's cores), its JSON summary,
#    and a check that every rank count wrote the same shards.
# Prints the CPU, the kernel and one line per run; compare only the ratios of
# one run (the machine is shared, and its CPU changes between machines).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=/tmp/swat-tokenize-bench mb=256 vocab=32000 ranks="1 2" sentences=200000
while [ $# -gt 0 ]; do
    case $1 in
        --dir) dir=$2; shift 2 ;;
        --mb) mb=$2; shift 2 ;;
        --vocab) vocab=$2; shift 2 ;;
        --ranks) ranks=$2; shift 2 ;;
        --input-sentences) sentences=$2; shift 2 ;;
        *) echo "usage: bench/tokenize.sh [--dir DIR] [--mb MB] [--vocab N] [--ranks \"1 2\"] [--input-sentences N]" >&2; exit 2 ;;
    esac
done
py=${SWAT_PYTHON:-/usr/bin/python3}
bin=build/swat-tokenize
[ -x $bin ] || { echo "bench/tokenize: build first (cmake --build build)" >&2; exit 2; }
# a rank waiting for a slower one yields its core instead of spinning: on a
# machine shared with other jobs a spinning rank takes CPU from the working one
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 \
    OMPI_MCA_mpi_yield_when_idle=1
mkdir -p "$dir"
corpus=$dir/debian-text-${mb}mb.jsonl
[ -s "$corpus" ] || "$py" bench/make_text_corpus.py "$corpus" --mb "$mb"
echo "cpu: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1) ($(nproc) CPUs); kernel $(uname -r); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "corpus: $corpus ($(stat -c %s "$corpus") bytes)"

tok=$dir/spm$vocab
if [ ! -s $tok.model ]; then
    $bin train --vocab-size "$vocab" --input-sentences "$sentences" --threads "$(nproc)" \
        --out "$tok" "$corpus" | tail -n 1
fi
first=
for k in $ranks; do
    out=$dir/shards-np$k
    rm -rf "$out"
    line=$(mpirun --bind-to none -n "$k" $bin encode --tokenizer $tok.model --out-dir "$out" \
        --val-tokens 1000000 --progress 30 "$corpus" | tail -n 1)
    echo "ranks $k: $line (load $(cut -d' ' -f1-3 /proc/loadavg))"
    if [ -z "$first" ]; then first=$out
    else diff -r "$first" "$out" > /dev/null || { echo "bench/tokenize: $out differs from $first" >&2; exit 1; }
    fi
done
echo "bench/tokenize: every rank count wrote the same shards"
