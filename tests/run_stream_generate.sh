#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End to end: streaming evaluation and generation (swat-eval, swat-generate).
# Trains a tiny sliding-window model (tests/configs/ref.ini, w = 8) and a
# full-attention one for a few updates, then checks
#  (a) swat-eval streams: at T = 32 in blocks of 5 rows and over a 3000-byte
#      file as one sequence (--seq-len whole, blocks of 100) it agrees with
#      the PyTorch reference (check_eval.py), and one block a sample, blocks
#      of 3 on 2 ranks give the same loss; the position buckets add up to the
#      totals; w = 0 keeps the whole-sample path (also checked);
#  (b) swat-generate --temperature 0 is deterministic, as is sampling with a
#      seed, and writes exactly --max-tokens bytes;
#  (c) (generation logits = a whole forward is checked in C: tests/test_stream.c)
#  (d) memory does not grow with the length: peak RSS of swat-generate for 200
#      and 2000 tokens, and of swat-eval over 16 KB and 60 KB as one sequence,
#      differ by at most 2 MiB (the whole-sequence path needs ~4.5 KB a token
#      here: 270 MB for the long file);
#  and that bad input is refused with one line and exit 2.
# usage: tests/run_stream_generate.sh BUILD_DIR
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" stream
# one-rank runs start without an orted (halves the start-up of each program)
export OMPI_MCA_ess_singleton_isolated=1
val=tests/data/literature-val.txt

train() { # DIR [--set …]
    local dir=$1; shift
    "$build/swat-train" tests/configs/ref.ini --set train.steps=20 --set train.lr=3e-3 \
        --set train.warmup_steps=2 --set checkpoint.every=20 --set "checkpoint.dir=$dir" \
        --set train.log_every=20 "$@" > "$work/train.log" || { cat "$work/train.log"; fail "swat-train $*"; }
}
train "$work/run"
train "$work/full" --set model.window_size=0 --set model.alibi=none
ckpt=$work/run/ckpt-00000020.h5
full=$work/full/ckpt-00000020.h5

# ---- (a) streaming evaluation against the reference -------------------------
check() { # NAME CKPT DATA T JSON
    echo "$1: $5"
    swat_py tests/reference/check_eval.py "$2" "$3" "$5" --seq-len "$4" > "$work/check.log" ||
        { cat "$work/check.log"; fail "$1 disagrees with the reference"; }
}
# 128 samples of 32: the reference (torch) stays quick
head -c 4097 $val > "$work/small.txt"
line=$("$build/swat-eval" "$ckpt" --data "$work/small.txt" --seq-len 32 --block 5 2> "$work/err" | tail -n 1)
check "eval T=32 blocks of 5" "$ckpt" "$work/small.txt" 32 "$line"
ref=$line
same() { # NAME JSON: the same loss and tokens as $ref (float32 sums regrouped: 1e-6)
    echo "$1: $2"
    swat_py -c "import json, sys; a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2]); sys.exit(not (a['tokens'] == b['tokens'] and abs(a['loss'] - b['loss']) <= 1e-6 * b['loss']))" "$2" "$ref" ||
        fail "$1: differs from blocks of 5: $2 vs $ref"
}
line=$("$build/swat-eval" "$ckpt" --data "$work/small.txt" --seq-len 32 2> "$work/err" | tail -n 1)
same "eval T=32 one block a sample" "$line"
line=$(swat_mpi 2 "$build/swat-eval" "$ckpt" --data "$work/small.txt" --seq-len 32 --block 3 --positions 2> "$work/err" | tail -n 1)
same "eval 2 ranks T=32 blocks of 3" "$line"
swat_py - "$line" 8 32 <<'PY' || fail "position buckets"
import json, sys
r = json.loads(sys.argv[1]); w, T = int(sys.argv[2]), int(sys.argv[3])
b = r["buckets"]
assert [(x["from"], x["to"]) for x in b] == [(0, w), (w, 2 * w), (2 * w, 4 * w)], b
assert sum(x["tokens"] for x in b) == r["tokens"], b
assert all(x["tokens"] == r["samples"] * (x["to"] - x["from"]) for x in b), b
mean = sum(x["loss"] * x["tokens"] for x in b) / r["tokens"]
assert abs(mean - r["loss"]) <= 1e-6 * r["loss"], (mean, r["loss"])
PY

head -c 3000 $val > "$work/short.txt"
line=$("$build/swat-eval" "$ckpt" --data "$work/short.txt" --seq-len whole --block 100 --positions 2> "$work/err" | tail -n 1)
check "eval whole 3000 bytes, blocks of 100" "$ckpt" "$work/short.txt" 2999 "$line"
swat_py - "$line" <<'PY' || fail "--seq-len whole"
import json, math, sys
r = json.loads(sys.argv[1])
assert r["tokens"] == 2999 and r["samples"] == 1 and r["seq_len"] == 2999, r
assert math.isfinite(r["loss"]) and r["block"] == 100, r
edges = [(x["from"], x["to"]) for x in r["buckets"]]
assert edges[0] == (0, 8) and edges[-1][1] == 2999 and len(edges) == 10, edges
PY

line=$("$build/swat-eval" "$full" --data "$work/small.txt" --seq-len 32 --positions 2> "$work/err" | tail -n 1)
check "eval w=0 (whole samples)" "$full" "$work/small.txt" 32 "$line"
grep -q '"block":0' <<< "$line" || fail "w = 0 should not stream: $line"

# ---- (b) generation: deterministic, the requested length -------------------------
gen() { "$build/swat-generate" "$ckpt" "$@" 2>> "$work/gen.err"; }
gen --prompt "The wise man" --max-tokens 50 --temperature 0 > "$work/g1"
gen --prompt "The wise man" --max-tokens 50 --temperature 0 --chunk 3 > "$work/g2"
[ "$(wc -c < "$work/g1")" = 50 ] || fail "greedy: $(wc -c < "$work/g1") bytes, not 50"
cmp -s "$work/g1" "$work/g2" || fail "greedy generation differs between runs (prompt chunk 256 vs 3)"
printf 'The wise man' > "$work/prompt.txt"
gen --prompt-file "$work/prompt.txt" --max-tokens 50 --temperature 0 > "$work/g3"
cmp -s "$work/g1" "$work/g3" || fail "--prompt-file and --prompt differ"
gen --prompt "The wise man" --max-tokens 80 --temperature 0.9 --top-k 20 --top-p 0.95 --seed 7 > "$work/s1"
gen --prompt "The wise man" --max-tokens 80 --temperature 0.9 --top-k 20 --top-p 0.95 --seed 7 > "$work/s2"
[ "$(wc -c < "$work/s1")" = 80 ] || fail "sampling: $(wc -c < "$work/s1") bytes, not 80"
cmp -s "$work/s1" "$work/s2" || fail "sampling with the same seed differs"
gen --prompt "x" --max-tokens 0 > "$work/g0"
[ ! -s "$work/g0" ] || fail "--max-tokens 0 wrote output"
echo "greedy: '$(tr '\n' '|' < "$work/g1")'; sampled: '$(tr '\n' '|' < "$work/s1")'"

# ---- (d) memory does not grow with the length ---------------------------------------
rss() { sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' "$1" | tail -n 1; }
flat() { # WHAT A B: the peak RSS of two runs within 2 MiB
    swat_py -c "import sys; a, b = float(sys.argv[2]), float(sys.argv[3]); print('%s: peak RSS %.1f vs %.1f MiB' % (sys.argv[1], a, b)); sys.exit(abs(a - b) > 2.0)" "$@" ||
        fail "$1: peak RSS grows with the length"
}
# In the AddressSanitizer build, freed memory waits in ASan's quarantine
# (256 MiB) instead of being reused, so peak RSS would grow with the number
# of allocations, not with what is live: these runs turn the quarantine off.
[ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=0:thread_local_quarantine_size_kb=0
"$build/swat-generate" "$ckpt" --prompt "The" --max-tokens 200 --temperature 1 > /dev/null 2> "$work/r200"
"$build/swat-generate" "$ckpt" --prompt "The" --max-tokens 2000 --temperature 1 > /dev/null 2> "$work/r2000"
cat "$work/r2000"
flat "swat-generate 200 vs 2000 tokens" "$(rss "$work/r200")" "$(rss "$work/r2000")"
"$build/swat-eval" "$ckpt" --data $val --seq-len whole > /dev/null 2> "$work/e16k"
"$build/swat-eval" "$ckpt" --data tests/data/wisdom.txt --seq-len whole > /dev/null 2> "$work/e60k"
cat "$work/e60k"
flat "swat-eval whole 16 KB vs 60 KB" "$(rss "$work/e16k")" "$(rss "$work/e60k")"

# ---- bad input: one line, exit 2 ------------------------------------------------------
refuse() { # WHAT PROGRAM ARGS…
    local what=$1; shift
    set +e; "$@" > "$work/out" 2> "$work/err"; local rc=$?; set -e
    [ $rc = 2 ] || fail "$what: exit $rc, expected 2 ($(cat "$work/err"))"
    [ "$(wc -l < "$work/err")" = 1 ] || fail "$what: expected one line, got: $(cat "$work/err")"
    [ ! -s "$work/out" ] || fail "$what: wrote to stdout"
    echo "refused ($what): $(cat "$work/err")"
}
: > "$work/empty.txt"
G=$build/swat-generate E=$build/swat-eval
refuse "missing checkpoint" $G "$work/nope.h5" --prompt hi
refuse "negative temperature" $G "$ckpt" --prompt hi --temperature -1
refuse "top-p 0" $G "$ckpt" --prompt hi --top-p 0
refuse "max-tokens abc" $G "$ckpt" --prompt hi --max-tokens abc
refuse "empty prompt" $G "$ckpt" --prompt ""
refuse "empty prompt file" $G "$ckpt" --prompt-file "$work/empty.txt"
refuse "missing prompt file" $G "$ckpt" --prompt-file "$work/nope.txt"
refuse "two prompts" $G "$ckpt" --prompt hi --prompt-file "$work/prompt.txt"
refuse "full attention" $G "$full" --prompt hi
refuse "eval --block 0" $E "$ckpt" --data $val --block 0
refuse "eval --seq-len abc" $E "$ckpt" --data $val --seq-len abc
printf 'x' > "$work/one.txt"
refuse "eval whole of 1 token" $E "$ckpt" --data "$work/one.txt" --seq-len whole
echo "PASS"
