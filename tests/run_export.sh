#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Export, import and the PyTorch model, end to end on real checkpoints:
# tools/swat_export.py, tools/swat_import.py and python/swat_torch.
#
# Trains three tiny models with build/swat-train (tests/configs/ref.ini, 30
# updates): tied sigmoid with balanced ALiBi at the halving sizes on one rank;
# untied softmax with balanced ALiBi at the classic sizes on two ranks (sp = 2:
# a checkpoint of another layout); tied sigmoid with negative ALiBi at the
# halving sizes, a bias and no RoPE. For each:
#   - export float32 and bfloat16; tests/check_export.py reads the safetensors
#     file with its own reader and compares every tensor with the HDF5 one
#     (bit for bit; bf16 = torch's round-to-nearest-even) and config.json with
#     the checkpoint's config;
#   - the PyTorch model's loss on tests/data/wisdom.txt = swat-eval's (rel
#     1e-5, reasons in check_export.py), at T = 32 and T = 256 (32 windows);
#   - import: every tensor bit-identical (bf16: the rounded values exactly),
#     crc32 on every dataset, tests/check_ckpt_h5py.py accepts it, swat-eval
#     prints the same loss for it as for the original, and exporting it again
#     gives byte-identical files;
# and for the first two: the PyTorch model against the dense float64
# reference of tests/reference, its rolling-cache generation against a whole
# forward, greedy generation = swat-generate --temperature 0, swat-generate
# samples the same text from the import as from the original. Then: the model
# exported, imported and trained on with [train] init_from starts near where
# the original ended and keeps learning; an h5py-made checkpoint carrying
# /tokenizer/model travels through export, the PyTorch model and import; the
# Python key table matches swat-train's.
# usage: tests/run_export.sh BUILD_DIR
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" export
export PYTHONDONTWRITEBYTECODE=1
mpi() { swat_mpi "$@"; }
step() { printf '== %s\n' "$*"; }
ok_or_fail() { if "$@"; then :; else not_ok "$*"; fi; }
cfg=tests/configs/ref.ini
data=tests/data/wisdom.txt

train() { # NAME NP [--set …]: 30 updates into $work/NAME
    local name=$1 np=$2; shift 2
    mpi "$np" "$build/swat-train" $cfg --set train.steps=30 --set "checkpoint.dir=$work/$name" "$@" \
        >"$work/$name.log" 2>&1 || { echo "FAIL: training $name"; cat "$work/$name.log"; exit 1; }
}
train tied-sigmoid-halving 1
train untied-softmax-alibi 2 --set parallel.sp=2 --set model.attention=softmax \
    --set model.tie_word_embeddings=false --set model.alibi_magnitudes=alibi
train tied-sigmoid-negative-halving 1 --set model.alibi=negative --set model.alibi_magnitudes=halving \
    --set model.sigmoid_bias=-1 --set model.rope=false

eval_loss() { # CKPT T -> the JSON line of swat-eval
    "$build/swat-eval" "$1" --data $data --seq-len "$2" 2>/dev/null | tail -n 1
}

for v in tied-sigmoid-halving untied-softmax-alibi tied-sigmoid-negative-halving; do
    ck=$work/$v/ckpt-00000030.h5
    step "$v: export"
    swat_py tools/swat_export.py "$ck" "$work/$v-f32"
    swat_py tools/swat_export.py "$ck" "$work/$v-bf16" --dtype bfloat16
    ok_or_fail swat_py tests/check_export.py verify "$ck" "$work/$v-f32"
    ok_or_fail swat_py tests/check_export.py verify "$ck" "$work/$v-bf16"

    step "$v: PyTorch model vs swat-eval"
    for T in 32 256; do
        eval_loss "$ck" $T >"$work/$v-eval-$T.json"
        ok_or_fail swat_py tests/check_export.py loss "$work/$v-f32" $data $T "$work/$v-eval-$T.json"
    done

    step "$v: import"
    swat_py tools/swat_import.py "$work/$v-f32" "$work/$v-imp.h5"
    ok_or_fail swat_py tests/check_export.py roundtrip "$ck" "$work/$v-imp.h5"
    ok_or_fail swat_py tests/check_ckpt_h5py.py "$work/$v-imp.h5" --step 0 --world-size 1
    a=$(eval_loss "$ck" 32 | sed 's/.*"loss":\([^,]*\),.*/\1/')
    b=$(eval_loss "$work/$v-imp.h5" 32 | sed 's/.*"loss":\([^,]*\),.*/\1/')
    if [ -n "$a" ] && [ "$a" = "$b" ]; then echo "ok    swat-eval: the import scores $b, as the original"
    else not_ok "swat-eval: original $a, import $b"; fi
    swat_py tools/swat_export.py "$work/$v-imp.h5" "$work/$v-re"
    if cmp -s "$work/$v-f32/model.safetensors" "$work/$v-re/model.safetensors" &&
       cmp -s "$work/$v-f32/config.json" "$work/$v-re/config.json"; then
        echo "ok    export -> import -> export: byte-identical model.safetensors and config.json"
    else not_ok "export of the import differs from the first export"; fi
    swat_py tools/swat_import.py "$work/$v-bf16" "$work/$v-imp16.h5"
    ok_or_fail swat_py tests/check_export.py roundtrip "$ck" "$work/$v-imp16.h5" --bf16
    swat_py tools/swat_export.py "$work/$v-imp16.h5" "$work/$v-re16" --dtype bfloat16
    if cmp -s "$work/$v-bf16/model.safetensors" "$work/$v-re16/model.safetensors"; then
        echo "ok    bf16 export -> import -> bf16 export: byte-identical"
    else not_ok "bf16 export of the bf16 import differs"; fi
done

for v in tied-sigmoid-halving untied-softmax-alibi; do
    step "$v: PyTorch model vs the dense float64 reference; generation"
    ok_or_fail swat_py tests/check_export.py reference "$work/$v-f32"
    prompt="The fool doth think he is wise, "
    "$build/swat-generate" "$work/$v/ckpt-00000030.h5" --prompt "$prompt" --temperature 0 \
        --max-tokens 48 >"$work/$v-gen.out" 2>"$work/$v-gen.log"
    ok_or_fail swat_py tests/check_export.py greedy "$work/$v-f32" "$prompt" 48 "$work/$v-gen.out"
    "$build/swat-generate" "$work/$v-imp.h5" --prompt "$prompt" --temperature 0.9 --seed 7 \
        --max-tokens 48 >"$work/$v-gen-imp.out" 2>/dev/null
    "$build/swat-generate" "$work/$v/ckpt-00000030.h5" --prompt "$prompt" --temperature 0.9 --seed 7 \
        --max-tokens 48 >"$work/$v-gen-orig.out" 2>/dev/null
    if [ -s "$work/$v-gen-imp.out" ] && cmp -s "$work/$v-gen-imp.out" "$work/$v-gen-orig.out"; then
        echo "ok    swat-generate samples the same 48 bytes from the import as from the original"
    else not_ok "swat-generate on the import differs from the original"; fi
done

step "export -> import -> [train] init_from"
v=tied-sigmoid-halving
mpi 1 "$build/swat-train" $cfg --set train.steps=10 --set "train.init_from=$work/$v-imp.h5" \
    --set train.lr=3e-3 --set "checkpoint.dir=$work/init" >"$work/init.log" 2>&1 ||
    { echo "FAIL: init_from run"; cat "$work/init.log"; exit 1; }
before=$(sed 's/.*"loss":\([^,]*\),.*/\1/' "$work/$v-eval-32.json")
after=$(eval_loss "$work/init/ckpt-00000010.h5" 32 | sed 's/.*"loss":\([^,]*\),.*/\1/')
ok_or_fail swat_py - "$work/$v/metrics.jsonl" "$work/init/metrics.jsonl" "$work/init.log" "$before" "$after" <<'PY'
import json, sys
def losses(p):
    return [r["loss"] for r in map(json.loads, open(p)) if "loss" in r]
orig, new = losses(sys.argv[1]), losses(sys.argv[2])
log, before, after = open(sys.argv[3]).read(), float(sys.argv[4]), float(sys.argv[5])
end = sum(orig[-5:]) / 5
# Sensible: the first update scores about what the original ended on (the
# mean of its last 5 updates, + 0.5 for the spread between batches of
# 4 x 32 bytes), far below an untrained model (the original's first update,
# ln 256 = 5.55); and 10 more updates lower swat-eval's loss on the training
# text (the same samples before and after, so no batch noise).
ok = "initialised from" in log and new[0] <= end + 0.5 and new[0] < orig[0] - 1.0 and after < before
print("%s init_from: first update %.3f (original: %.3f at update 1, %.3f over its last 5); swat-eval on the"
      " training text %.4f -> %.4f after 10 updates" % ("ok   " if ok else "FAIL ", new[0], orig[0], end, before, after))
sys.exit(0 if ok else 1)
PY

step "--force replaces an export in place"
d=$work/force
swat_py tools/swat_export.py "$work/tied-sigmoid-halving/ckpt-00000030.h5" "$d" >/dev/null
echo mine >"$d/notes.txt"
echo stale >"$d/tokenizer.model"
swat_py tools/swat_export.py "$work/untied-softmax-alibi/ckpt-00000030.h5" "$d" --force >/dev/null
if cmp -s "$d/model.safetensors" "$work/untied-softmax-alibi-f32/model.safetensors" &&
   cmp -s "$d/config.json" "$work/untied-softmax-alibi-f32/config.json" &&
   [ ! -e "$d/tokenizer.model" ] && [ "$(cat "$d/notes.txt")" = mine ] &&
   [ -z "$(compgen -G "$work/.swat-model-*")" ]; then
    echo "ok    --force: the other model's files, the stale tokenizer.model gone, notes.txt kept, no temporary left"
else not_ok "--force did not replace the export as documented: $(ls -A "$d")"; fi

step "bfloat16 rounding against torch's, every kind of float32"
ok_or_fail swat_py tests/check_export.py bf16

step "tokenizer: /tokenizer/model through export, the PyTorch model and import"
mkdir -p "$work/tok"
ok_or_fail swat_py tests/check_export.py tokenizer "$work/tok" "$src"

step "the Python key table = swat-train's"
ok_or_fail swat_py tests/check_export.py keys "$work/tied-sigmoid-halving/config.ini"

if [ "$swat_failed" != 0 ]; then echo "export: FAILED ($swat_failed)"; exit 1; fi
echo "export: all passed"
