#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# From text to tokens and back (swat-tokenize, [data] tokenizer, swat-eval
# --format text, swat-generate with text), checked against the SentencePiece
# library itself (python3-sentencepiece), Python's json and an llm.c shard
# reader written from llm.c's format (tools/llmc_shards.py):
#  (a) train: Llama-2's ids and settings; the same input gives the same model,
#      on 1 or 2 ranks, for BPE and unigram, and --input-sentences samples;
#  (b) encode: the shards hold exactly [bos] + SentencePiece's ids of every
#      document (.jsonl members with escapes, whole files, empty texts, a line
#      longer than 4192 bytes), cut into val and train shards as specified,
#      with llm.c's headers; a tokenizer of more than 65536 pieces gives
#      uint32 shards (magic 20240801, version 7);
#  (c) 3 ranks (and 2 for uint32) in rounds of a few hundred bytes write
#      byte-identical files to one rank; a rerun with fewer shards leaves no
#      stale shard; only .bin files remain in the directory;
#  (d) the shards train a model whose checkpoint carries the tokenizer;
#  (e) bits_per_byte by hand ("Hello world": 12 bytes) and against the
#      definition on a real text; llmc evaluation reports bytes too;
#  (f) generation prints valid UTF-8 text; crafted checkpoints whose greedy
#      output is fixed bytes show an incomplete sequence held back until it
#      completes ("€") and invalid ones printed as U+FFFD;
#  (g) SIGTERM in the middle of an encode leaves no shard and no temporary;
#  (h) the shared command line: encode --opt=value writes what --opt value
#      does; train --help and encode --help print their usage on stdout.
# usage: tests/run_tokenize.sh BUILD_DIR
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" tokenize
check() { swat_py tests/tokenizer_check.py "$@"; }
T=$build/swat-tokenize
json() { swat_py -c "import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

# ---- the corpus: fortunes as JSON Lines, awkward documents, a whole text file ----
swat_py - "$work" <<'PY'
import json, sys
w = sys.argv[1]
fortunes = open("tests/data/wisdom.txt", encoding="utf-8").read().split("\n%\n")
with open(f"{w}/docs.jsonl", "w", encoding="utf-8") as f:
    for i, t in enumerate(fortunes):
        f.write(json.dumps({"id": i, "meta": {"text": None, "n": [1.5, True]}, "text": t}) + "\n")
odd = ["", "café naïve — “quoted” 中文 🙂", "tabs\tand\r\nCRLF", "x" * 5000 + "\n" + "y" * 9000,
       "escapes: \\ \" / \b \f \u0001", "  leading and trailing  ", "12345 67890"]
with open(f"{w}/odd.jsonl", "w", encoding="utf-8") as f:
    for t in odd:
        f.write(json.dumps({"text": t}, ensure_ascii=bool(len(t) % 2)) + "\n")
PY
files=("$work/docs.jsonl" tests/data/literature-val.txt "$work/odd.jsonl")

# ---- (a) train ----------------------------------------------------------------------
"$T" train --vocab-size 600 --out "$work/tok" "${files[@]}" > "$work/train.json" 2> "$work/train.err" ||
    { cat "$work/train.err"; fail "train"; }
cat "$work/train.json"
check settings "$work/tok.model"
"$T" train --vocab-size 600 --out "$work/again" "${files[@]}" > /dev/null 2>&1
cmp "$work/tok.model" "$work/again.model" || fail "training twice gave different models"
cmp "$work/tok.vocab" "$work/again.vocab" || fail "training twice gave different vocabularies"
swat_mpi 2 "$T" train --vocab-size 600 --out "$work/np2" "${files[@]}" > /dev/null 2>&1
cmp "$work/tok.model" "$work/np2.model" || fail "training on 2 ranks gave another model"
"$T" train --vocab-size 600 --model-type unigram --out "$work/uni" "${files[@]}" > /dev/null 2>&1
check settings "$work/uni.model"
# a sample of 300 of the lines: the same sample twice, and a different model
s1=$("$T" train --vocab-size 400 --input-sentences 300 --out "$work/s1" "${files[@]}" 2> /dev/null | tail -n 1)
"$T" train --vocab-size 400 --input-sentences 300 --out "$work/s2" "${files[@]}" > /dev/null 2>&1
"$T" train --vocab-size 400 --out "$work/sall" "${files[@]}" > /dev/null 2>&1
[ "$(json "$s1" sampled)" = 300 ] && [ "$(json "$s1" sentences)" -gt 1000 ] || fail "sample: $s1"
cmp "$work/s1.model" "$work/s2.model" || fail "the same sample gave different models"
! cmp -s "$work/s1.model" "$work/sall.model" || fail "a sample of 300 gave the model of all lines"
echo "train: deterministic on 1 and 2 ranks, bpe and unigram, sampled: $s1"

# ---- (b) encode: SentencePiece's ids, llm.c's format ----------------------------------
"$T" encode --tokenizer "$work/tok.model" --out-dir "$work/enc1" --val-tokens 1234 \
    --shard-tokens 3000 --round-bytes 50000 --progress 0 "${files[@]}" > "$work/enc1.json" 2> "$work/enc1.err" ||
    { cat "$work/enc1.err"; fail "encode"; }
line=$(tail -n 1 "$work/enc1.json")
echo "encode: $line"
check ids "$work/tok.model" "$work/enc1" data 1234 3000 text "${files[@]}"
[ "$(json "$line" val_tokens)" = 1234 ] && [ "$(json "$line" documents)" -gt 300 ] ||
    fail "summary: $line"
ls -A "$work/enc1" | grep -qv '\.bin$' && fail "$work/enc1 holds more than .bin shards: $(ls -A "$work/enc1")"
grep -q "% | .* documents | .* tok/s | .* MB/s | ETA" "$work/enc1.err" || fail "no progress line on stderr"
swat_py tools/llmc_shards.py "$work/enc1/data_*.bin" --tokenizer "$work/tok.model" --show 30 | tail -n 2

# ---- (c) ranks: byte-identical --------------------------------------------------------
swat_mpi 3 "$T" encode --tokenizer "$work/tok.model" --out-dir "$work/enc3" --val-tokens 1234 \
    --shard-tokens 3000 --round-bytes 777 "${files[@]}" > "$work/enc3.json" 2> "$work/enc3.err" ||
    { cat "$work/enc3.err"; fail "encode on 3 ranks"; }
diff -r "$work/enc1" "$work/enc3" || fail "3 ranks wrote other files than 1 rank"
swat_py - "$(tail -n 1 "$work/enc1.json")" "$(tail -n 1 "$work/enc3.json")" <<'PY' || fail "3 ranks: another summary"
import json, sys
a, b = (json.loads(x) for x in sys.argv[1:3])
keys = ("documents", "tokens", "train_shards", "val_tokens", "input_bytes", "text_bytes")
assert all(a[k] == b[k] for k in keys) and b["ranks"] == 3, (a, b)
PY
echo "3 ranks in rounds of 777 bytes: byte-identical"
# the shared command line: --opt=value is --opt value; each subcommand's --help
swat_mpi 2 "$T" encode --tokenizer="$work/tok.model" --out-dir="$work/enc3eq" --val-tokens=1234 \
    --shard-tokens=3000 --round-bytes=777 "${files[@]}" > /dev/null 2>&1 || fail "encode with --opt=value"
diff -r "$work/enc1" "$work/enc3eq" || fail "encode --opt=value wrote other files than --opt value"
for sub in train encode; do
    "$T" $sub --help > "$work/help" 2> "$work/help.err" || fail "swat-tokenize $sub --help: exit $?"
    [ ! -s "$work/help.err" ] && head -n 1 "$work/help" | grep -q "^usage: swat-tokenize $sub " &&
        [ -z "$(awk 'length($0) > 79' "$work/help")" ] || fail "swat-tokenize $sub --help: $(cat "$work/help" "$work/help.err")"
done
echo "--opt=value = --opt value (2 ranks, byte-identical); train/encode --help: usage on stdout, 79 columns"
check bigmodel "$work/tok.model" "$work/big.model" 70000
"$T" encode --tokenizer "$work/big.model" --out-dir "$work/big1" --shard-tokens 20000 "${files[@]}" > /dev/null 2>&1
swat_mpi 2 "$T" encode --tokenizer "$work/big.model" --out-dir "$work/big2" --shard-tokens 20000 \
    --round-bytes 5000 "${files[@]}" > /dev/null 2>&1
check ids "$work/big.model" "$work/big1" data 0 20000 text "${files[@]}"
diff -r "$work/big1" "$work/big2" || fail "uint32 shards: 2 ranks differ from 1"
# a rerun with larger shards replaces the earlier ones; another name is left alone
"$T" encode --tokenizer "$work/tok.model" --out-dir "$work/enc1" --name other "$work/odd.jsonl" > /dev/null 2>&1
"$T" encode --tokenizer "$work/tok.model" --out-dir "$work/enc1" --val-tokens 1234 \
    --shard-tokens 100000 "${files[@]}" > /dev/null 2> "$work/rerun.err"
grep -q "removed .* shard" "$work/rerun.err" || fail "rerun: no word of the stale shards"
check ids "$work/tok.model" "$work/enc1" data 1234 100000 text "${files[@]}"
[ -s "$work/enc1/other_train_000001.bin" ] || fail "rerun removed the shards of another name"
# --jsonl-key
swat_py -c "import json, sys; [print(json.dumps({'body': json.loads(l)['text']})) for l in open(sys.argv[1])]" \
    "$work/odd.jsonl" > "$work/body.jsonl"
"$T" encode --tokenizer "$work/tok.model" --out-dir "$work/key" --jsonl-key body "$work/body.jsonl" > /dev/null 2>&1
check ids "$work/tok.model" "$work/key" data 0 100000000 body "$work/body.jsonl"

# ---- (d) training on the shards; the checkpoint carries the tokenizer ---------------------
run=(tests/configs/ref.ini --set model.vocab_size=640 --set model.tie_word_embeddings=false
     --set data.format=llmc --set "data.train=$work/enc3/data_train_*.bin"
     --set "data.val=$work/enc3/data_val_*.bin" --set "data.tokenizer=$work/tok.model"
     --set train.steps=20 --set train.lr=3e-3 --set train.log_every=20 --set checkpoint.every=20)
"$build/swat-train" "${run[@]}" --set "checkpoint.dir=$work/run" > "$work/train.log" 2>&1 ||
    { cat "$work/train.log"; fail "swat-train on the shards"; }
grep "val_loss" "$work/train.log"
ckpt=$work/run/ckpt-00000020.h5
check tokenizer-in "$ckpt" "$work/tok.model"

# ---- (e) bits per byte ------------------------------------------------------------------
E=$build/swat-eval
printf 'Hello world' > "$work/hello.txt"
line=$("$E" "$ckpt" --data "$work/hello.txt" --format text --seq-len whole 2> /dev/null | tail -n 1)
echo "Hello world: $line"
# by hand: "▁Hello▁world" is 11 characters and the dummy prefix, 12 bytes
swat_py - "$line" <<'PY' || fail "bits per byte of 'Hello world'"
import json, math, sys
r = json.loads(sys.argv[1])
assert r["bytes"] == 12, r
want = r["loss"] * r["tokens"] / math.log(2) / 12
assert abs(r["bits_per_byte"] - want) <= 1e-7 * want, (r["bits_per_byte"], want)
PY
check bytes "$work/tok.model" "$work/hello.txt" whole "$line"
printf 'caf\xc3\xa9 \xe2\x82\xac 42\n\n  \xf0\x9f\x99\x82' > "$work/mixed.txt" # byte-fallback pieces
line=$("$E" "$ckpt" --data "$work/mixed.txt" --format text --seq-len whole 2> /dev/null | tail -n 1)
[ "$(json "$line" bytes)" = $(( $(wc -c < "$work/mixed.txt") + 1 )) ] || fail "mixed text: $line"
check bytes "$work/tok.model" "$work/mixed.txt" whole "$line"
line=$(swat_mpi 2 "$E" "$ckpt" --data tests/data/literature-val.txt --format text --seq-len 32 2> /dev/null | tail -n 1)
check bytes "$work/tok.model" tests/data/literature-val.txt 32 "$line"
line=$("$E" "$ckpt" --data "$work/enc3/data_val_000000.bin" --format llmc --seq-len 32 2> /dev/null | tail -n 1)
grep -q '"bits_per_byte"' <<< "$line" || fail "llmc eval with a tokenizer reports no bytes: $line"
# a checkpoint without a tokenizer needs --tokenizer for text
"$build/swat-train" "${run[@]}" --set data.tokenizer= --set train.steps=1 --set "checkpoint.dir=$work/bare" > /dev/null 2>&1
set +e; "$E" "$work/bare/ckpt-00000001.h5" --data "$work/hello.txt" --format text > /dev/null 2> "$work/err"; rc=$?; set -e
[ $rc = 2 ] && grep -q "needs a tokenizer" "$work/err" || fail "text eval without a tokenizer: exit $rc, $(cat "$work/err")"
"$E" "$work/bare/ckpt-00000001.h5" --data "$work/hello.txt" --format text --tokenizer "$work/tok.model" \
    --seq-len whole 2> /dev/null | grep -q '"bytes":12' || fail "--tokenizer for a bare checkpoint"

# ---- (f) generation ------------------------------------------------------------------------
G=$build/swat-generate
"$G" "$ckpt" --prompt "The wise man" --max-tokens 40 --temperature 0 > "$work/g1" 2> "$work/g.err"
"$G" "$ckpt" --prompt "The wise man" --max-tokens 40 --temperature 0 --chunk 2 > "$work/g2" 2>> "$work/g.err"
cmp -s "$work/g1" "$work/g2" || fail "greedy generation differs between runs"
"$G" "$ckpt" --prompt "" --max-tokens 40 --temperature 1 --seed 3 > "$work/g3" 2>> "$work/g.err"
for g in g1 g3; do
    swat_py -c "import sys; t = open(sys.argv[1], 'rb').read(); t.decode('utf-8'); assert t.endswith(b'\n') and len(t) > 1" \
        "$work/$g" || fail "generation $g: not UTF-8 text ending with a newline"
done
echo "generated: '$(tr '\n' '|' < "$work/g1")'"
check craft "$ckpt" "$work/cycle.h5" cycle > /dev/null
check craft "$ckpt" "$work/invalid.h5" invalid > /dev/null
expect_text() { # CKPT N EXPECTED(printf format)
    "$G" "$1" --prompt "x" --max-tokens "$2" --temperature 0 > "$work/out" 2> /dev/null
    printf "$3" > "$work/want"
    cmp -s "$work/out" "$work/want" || fail "$1 x $2: got $(od -An -tx1 "$work/out"), want $(od -An -tx1 "$work/want")"
}
expect_text "$work/cycle.h5" 6 '\xe2\x82\xac\xe2\x82\xac\n'                  # E2 82 AC held back, then whole
expect_text "$work/cycle.h5" 7 '\xe2\x82\xac\xe2\x82\xac\xef\xbf\xbd\n'      # an E2 cut off by the end
expect_text "$work/cycle.h5" 8 '\xe2\x82\xac\xe2\x82\xac\xef\xbf\xbd\n'      # E2 82 cut off: one U+FFFD
expect_text "$work/invalid.h5" 3 '\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\n'    # E2 E2 E2: each invalid
echo "generation: streamed UTF-8 (held back, completed, U+FFFD for invalid and cut-off sequences)"

# ---- (g) SIGTERM mid-run -----------------------------------------------------------------------
# 26000 documents, 3.7 MB: seconds to encode (a signal is acted on between documents)
swat_py -c 'import json, sys; docs = open(sys.argv[1]).read().split("\n%\n"); [print(json.dumps({"text": d})) for _ in range(60) for d in docs]' \
    tests/data/wisdom.txt > "$work/big.jsonl"
"$T" encode --tokenizer "$work/tok.model" --out-dir "$work/term" --round-bytes 20000 \
    "$work/big.jsonl" > /dev/null 2> "$work/term.err" &
pid=$!
for i in $(seq 100); do [ -n "$(ls -A "$work/term" 2> /dev/null)" ] && break; sleep 0.05; done
sleep 0.3
kill -TERM $pid
set +e; wait $pid; rc=$?; set -e
[ $rc = 1 ] || fail "encode after SIGTERM: exit $rc, expected 1 (finished before the signal?) $(cat "$work/term.err")"
grep -q "interrupted by signal" "$work/term.err" || fail "no word of the signal: $(cat "$work/term.err")"
[ -z "$(ls -A "$work/term")" ] || fail "SIGTERM left $(ls -A "$work/term")"
echo "SIGTERM: exit 1, nothing left in the output directory"
echo "PASS"
