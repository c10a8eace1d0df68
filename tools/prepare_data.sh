#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Prepares training data.
#
#   tools/prepare_data.sh [fortunes] [OUT_DIR]        (default data/fortunes)
#     The default run's English text from Debian's `fortunes` package: every
#     fortune file (offensive ones excluded), concatenated in name order; the
#     last 5% held out. Writes train.txt and val.txt (bytes, for byte-level
#     models) and train.jsonl and val.jsonl (one fortune a document, for
#     swat-tokenize).
#
#   tools/prepare_data.sh corpus OUT_DIR [--vocab-size N | --tokenizer M.model]
#       [--ranks K] [--name NAME] [--val-tokens N] [--shard-tokens N]
#       [--jsonl-key KEY] [--input-sentences N] FILE...
#     The path for a real corpus (text files or JSON Lines, e.g. a FineWeb
#     dump): a SentencePiece tokenizer OUT_DIR/tokenizer.model (trained on
#     FILE... with --vocab-size N, default 32000, or a copy of --tokenizer,
#     e.g. Llama-2's tokenizer.model), then llm.c shards
#     OUT_DIR/NAME_val_000000.bin and OUT_DIR/NAME_train_*.bin written by K
#     ranks (default: the CPUs of this machine) with mpirun, and the [data]
#     lines of a config that trains on them. Under SLURM, jobs/tokenize.sbatch
#     does the encoding as a job. Defaults: NAME data, --val-tokens 1000000.
set -euo pipefail
cd "$(dirname "$0")/.."

fortunes() {
    local out=${1:-data/fortunes}
    local src=/usr/share/games/fortunes
    [ -d "$src" ] || { echo "prepare_data: $src missing (apt-get install fortunes)" >&2; exit 2; }
    mkdir -p "$out"
    local all="$out/all.txt" f n val
    : > "$all"
    for f in $(find "$src" -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' | LC_ALL=C sort); do
        cat "$f" >> "$all"
    done
    n=$(stat -c %s "$all")
    val=$(( n / 20 ))
    head -c $(( n - val )) "$all" > "$out/train.txt"
    tail -c "$val" "$all" > "$out/val.txt"
    rm -f "$all"
    # one fortune a document: the files separate them with lines of "%"
    "${SWAT_PYTHON:-/usr/bin/python3}" - "$out" <<'PY'
import json, sys
out = sys.argv[1]
for part in ("train", "val"):
    text = open(f"{out}/{part}.txt", encoding="utf-8", errors="replace").read()
    docs = [d.strip("\n") for d in text.replace("\n%\n", "\x00").split("\x00")]
    with open(f"{out}/{part}.jsonl", "w", encoding="utf-8") as f:
        for d in docs:
            if d.strip() and d.strip() != "%":
                f.write(json.dumps({"text": d + "\n"}, ensure_ascii=False) + "\n")
PY
    echo "prepare_data: $out/train.txt $(( n - val )) bytes, $out/val.txt $val bytes;" \
         "$(wc -l < "$out/train.jsonl") + $(wc -l < "$out/val.jsonl") fortunes in $out/{train,val}.jsonl"
}

corpus() {
    [ $# -ge 1 ] || { echo "prepare_data: corpus needs OUT_DIR (--help)" >&2; exit 2; }
    local out=$1; shift
    local vocab=32000 tokenizer= ranks name=data val=1000000 shard= key= sentences=
    ranks=$(nproc)
    while [ $# -gt 0 ]; do
        case $1 in
            --vocab-size) vocab=$2; shift 2 ;;
            --tokenizer) tokenizer=$2; shift 2 ;;
            --ranks) ranks=$2; shift 2 ;;
            --name) name=$2; shift 2 ;;
            --val-tokens) val=$2; shift 2 ;;
            --shard-tokens) shard=$2; shift 2 ;;
            --jsonl-key) key=$2; shift 2 ;;
            --input-sentences) sentences=$2; shift 2 ;;
            --) shift; break ;;
            -*) echo "prepare_data: unknown option $1 (--help)" >&2; exit 2 ;;
            *) break ;;
        esac
    done
    [ $# -ge 1 ] || { echo "prepare_data: corpus needs input FILEs" >&2; exit 2; }
    local bin=build/swat-tokenize
    [ -x "$bin" ] || { echo "prepare_data: $bin missing: cmake -S . -B build && cmake --build build" >&2; exit 2; }
    mkdir -p "$out"
    local common=()
    [ -n "$key" ] && common+=(--jsonl-key "$key")
    if [ -n "$tokenizer" ]; then
        cp "$tokenizer" "$out/tokenizer.model.tmp" && mv "$out/tokenizer.model.tmp" "$out/tokenizer.model"
        echo "prepare_data: tokenizer $tokenizer copied to $out/tokenizer.model"
    else
        local extra=()
        [ -n "$sentences" ] && extra+=(--input-sentences "$sentences")
        "$bin" train --vocab-size "$vocab" --threads "$(nproc)" "${common[@]}" "${extra[@]}" \
            --out "$out/tokenizer" "$@" > /dev/null
    fi
    local enc=(encode --tokenizer "$out/tokenizer.model" --out-dir "$out" --name "$name" --val-tokens "$val")
    [ -n "$shard" ] && enc+=(--shard-tokens "$shard")
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
    local summary
    summary=$(mpirun --oversubscribe -n "$ranks" "$bin" "${enc[@]}" "${common[@]}" "$@" | tail -n 1)
    echo "prepare_data: $summary"
    local pieces
    pieces=$("${SWAT_PYTHON:-/usr/bin/python3}" -c 'import json, sys; print(json.loads(sys.argv[1])["vocab_size"])' "$summary")
    cat <<EOF
prepare_data: a config trains on these with
[model]
vocab_size = $pieces            ; at least the tokenizer's pieces
[data]
train = $out/${name}_train_*.bin
val = $out/${name}_val_*.bin
format = llmc
tokenizer = $out/tokenizer.model
EOF
}

case ${1:-fortunes} in
    -h | --help) sed -n '3,22p' "$0" | sed 's/^# \{0,1\}//' ;;
    fortunes) shift || true; fortunes "$@" ;;
    corpus) shift; corpus "$@" ;;
    *) fortunes "$@" ;; # an OUT_DIR: the fortunes, as before
esac
