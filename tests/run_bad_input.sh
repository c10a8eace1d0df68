#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every bad input of the programs (docs/training.md) gets one line on stderr that names the
# file, key or value, and a non-zero exit, from one rank only, without a
# crash or a hang; and no checkpoint is written.
# usage: tests/run_bad_input.sh BUILD_DIR
set -uo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" bad
# Open MPI's mpiexec waits 2 s before it ends a job one of whose ranks exited
# non-zero (SIGTERM, odls_base_sigkill_timeout = 1 s, SIGKILL): 2.5 s instead
# of 0.6 s a launch. Every case here ends that way, and its ranks stop by
# themselves: no wait (other launchers ignore the variable).
export OMPI_MCA_odls_base_sigkill_timeout=0
mpi() { swat_mpi --timeout 60 "$@"; }
cfg=tests/configs/ref.ini
run=(--set "checkpoint.dir=$work/run")

# fixtures
printf 'x' > "$work/one-byte.txt"
: > "$work/empty.txt"
printf '[model]\nhidden_size = 32\nnum_hidden_layers\n' > "$work/syntax.ini"
swat_py - "$work" <<'PY'
import struct, sys
w = sys.argv[1]
def shard(name, magic, version, count, tokens, dtype):
    hdr = [0] * 256; hdr[0], hdr[1], hdr[2] = magic, version, count
    with open(f"{w}/{name}", "wb") as f:
        f.write(struct.pack("<256i", *hdr)); f.write(struct.pack(f"<{len(tokens)}{dtype}", *tokens))
shard("badmagic.bin", 12345, 1, 100, [1] * 100, "H")
shard("bigtoken.bin", 20240520, 1, 100, [5] * 60 + [300] + [5] * 39, "H")
shard("short.bin", 20240520, 1, 100, [5] * 50, "H")
shard("badversion.bin", 20240520, 9, 100, [5] * 100, "H")
shard("negcount.bin", 20240520, 1, -100, [5] * 100, "H")
open(f"{w}/header-only.bin", "wb").write(struct.pack("<64i", 20240520, 1, 0, *[0] * 61))
for name, text in {"dup.ini": "[train]\nsteps = 5\nsteps = 6\n",
                   "huge.ini": "[train]\nsteps = 99999999999999999999\n",
                   "junk.ini": "[train]\nlr = 1e-3abc\n",
                   "nan.ini": "[train]\nlr = nan\n",
                   "nul.ini": "[train]\nlr = 1\0\n",
                   "hints.ini": "[train]\nsteps = 1\n\n[checkpoint]\nmpiio_hints = romio_cb_write=yes\n"}.items():
    open(f"{w}/{name}", "w").write(text)
open(f"{w}/not-hdf5.h5", "w").write("this is not an HDF5 file\n")
PY
# a real checkpoint of another model shape, for the shape checks
mpi 1 "$build/swat-train" $cfg --set model.hidden_size=16 --set train.steps=1 \
    --set "checkpoint.dir=$work/other" >/dev/null 2>&1 || { echo "FAIL: fixture run"; exit 1; }
other=$work/other/ckpt-00000001.h5
# checkpoints of the config's own model, each spoilt in one way (h5py)
mpi 1 "$build/swat-train" $cfg --set train.steps=1 --set "checkpoint.dir=$work/good" >/dev/null 2>&1 ||
    { echo "FAIL: fixture run"; exit 1; }
swat_py - "$work" "$work/good/ckpt-00000001.h5" <<'PY'
import h5py, numpy as np, os, shutil, sys
w, good = sys.argv[1:3]
def spoil(name, fn):
    shutil.copy(good, f"{w}/{name}.h5")
    with h5py.File(f"{w}/{name}.h5", "r+") as f:
        fn(f)
def attr(k, v, dtype=None):
    def fn(f):
        del f.attrs[k]
        if v is not None: f.attrs.create(k, v, dtype=dtype)
    return fn
def dataset(path, fn2):
    def fn(f):
        x = f[path][()]; del f[path]
        if fn2: f.create_dataset(path, data=fn2(x))
    return fn
spoil("ck-format", attr("format", np.bytes_("other-format")))
spoil("ck-no-format", attr("format", None))
spoil("ck-version", attr("format_version", 2, np.int64))
spoil("ck-version-str", attr("format_version", np.bytes_("1")))
spoil("ck-missing", dataset("model/norm/weight", None))
spoil("ck-int", dataset("model/norm/weight", lambda x: x.astype(np.int32)))
spoil("ck-3d", dataset("model/norm/weight", lambda x: x.reshape(-1, 1, 1)))
spoil("ck-shape", dataset("model/layers/0/attn/q_proj/weight", lambda x: x[:, :-1]))
spoil("ck-step", attr("step", -5, np.int64))
spoil("ck-world", attr("world_size", 1 << 40, np.int64))
spoil("ck-samples", attr("samples_seen", np.iinfo(np.int64).max, np.int64))
spoil("ck-two-steps", attr("step", np.array([1, 2], dtype=np.int64)))
spoil("ck-huge-config", attr("config", np.bytes_("[model]\n" + ";" * (8 << 20))))
spoil("ck-bad-config", attr("config", np.bytes_("[model]\nhidden_size = banana\n")))
spoil("ck-no-moments", lambda f: f.__delitem__("optimizer"))
# the first half of the file; one byte of the root group's metadata flipped
data = open(good, "rb").read()
open(f"{w}/ck-truncated.h5", "wb").write(data[: len(data) // 2])
flip = bytearray(data); flip[237] ^= 4  # in the root object header (superblock v2 + header)
open(f"{w}/ck-flipped.h5", "wb").write(flip)
# run directories holding only a bad newest checkpoint, or a bad one on a good one
for name in ("ck-step", "ck-truncated"):
    os.makedirs(f"{w}/resume-{name}"); shutil.copy(f"{w}/{name}.h5", f"{w}/resume-{name}/ckpt-00000001.h5")
os.makedirs(f"{w}/resume-fallback")
shutil.copy(good, f"{w}/resume-fallback/ckpt-00000001.h5")
shutil.copy(f"{w}/ck-truncated.h5", f"{w}/resume-fallback/ckpt-00000002.h5")
# one bit flipped inside a tensor's data (bit 2 of a byte in the middle of
# v_proj), the checkpoint's structure untouched: only its crc32 tells
with h5py.File(good, "r") as f:
    d = f["model/layers/0/attn/v_proj/weight"]
    at = d.id.get_offset() + d.id.get_storage_size() // 2
flip = bytearray(data); flip[at] ^= 4
open(f"{w}/ck-data-flip.h5", "wb").write(flip)
os.makedirs(f"{w}/resume-crc")
shutil.copy(good, f"{w}/resume-crc/ckpt-00000001.h5")
shutil.copy(f"{w}/ck-data-flip.h5", f"{w}/resume-crc/ckpt-00000002.h5")
PY

# expect NAME WANT_EXIT SUBSTRING NP PROGRAM ARGS...
expect() {
    local name=$1 want=$2 sub=$3 np=$4; shift 4
    local out rc lines
    out=$(mpi "$np" "$@" 2>&1 >/dev/null); rc=$?
    lines=$(printf '%s\n' "$out" | grep -c '^swat')
    # a pattern match, not `printf | grep -q`: grep -q may exit at the first
    # line while printf still writes, and under pipefail that SIGPIPE failed
    # the case at random on a busy machine
    if [ "$rc" = "$want" ] && [ "$lines" = 1 ] && [[ $out == *"$sub"* ]]; then
        ok "$(printf '%-28s %s' "$name" "$(printf '%s\n' "$out" | grep '^swat')")"
    else
        not_ok "$(printf '%-28s exit %s (want %s), %s swat lines, want "%s":\n%s' \
            "$name" "$rc" "$want" "$lines" "$sub" "$out")"
    fi
}
T=$build/swat-train; E=$build/swat-eval
expect no-config           2 "missing CONFIG.ini"      1 $T
expect missing-config      2 "nope.ini"                1 $T nope.ini
expect syntax              2 "syntax.ini:3"            1 $T "$work/syntax.ini"
expect unknown-key         2 "num_layer"               2 $T $cfg "${run[@]}" --set model.num_layer=3
expect bad-number          2 "hidden_size"             2 $T $cfg "${run[@]}" --set model.hidden_size=3x
expect out-of-range-lr     2 "lr"                      1 $T $cfg "${run[@]}" --set train.lr=-1
expect beta-range          2 "beta2"                   1 $T $cfg "${run[@]}" --set train.beta2=1
expect bad-enum            2 "attention"               1 $T $cfg "${run[@]}" --set model.attention=linear
expect duplicate-key       2 "dup.ini:3: [train] steps = 6: key given twice" 1 $T "$work/dup.ini"
expect int-overflow        2 "huge.ini:2"              1 $T "$work/huge.ini"
expect trailing-junk       2 "junk.ini:2: [train] lr = 1e-3abc: not a number" 1 $T "$work/junk.ini"
expect not-finite          2 "nan.ini:2: [train] lr = nan: not a finite number" 1 $T "$work/nan.ini"
expect nul-byte            2 "nul.ini: not a text file" 1 $T "$work/nul.ini"
expect config-is-dir       2 "Is a directory"          1 $T "$work"
expect mpiio-hint-value    2 "checkpoint.mpiio_hints=cb_nodes=abc,romio_cb_write=enable: cb_nodes=abc: expected a count" 2 $T $cfg "${run[@]}" --set "checkpoint.mpiio_hints=cb_nodes=abc,romio_cb_write=enable"
expect mpiio-hint-unknown  2 "unknown MPI-IO hint 'stripe_count'; known: striping_factor" 1 $T $cfg "${run[@]}" --set checkpoint.mpiio_hints=stripe_count=4
expect mpiio-hint-ini      2 "hints.ini:5: [checkpoint] mpiio_hints = romio_cb_write=yes: romio_cb_write=yes: expected enable, disable or automatic" 1 $T "$work/hints.ini"
expect warmup-gt-steps     2 "warmup_steps 10 exceeds steps 3" 1 $T $cfg "${run[@]}" --set train.warmup_steps=10
expect micro-batch         2 "micro_batch 3 does not divide" 1 $T $cfg "${run[@]}" --set train.micro_batch=3
expect bytes-small-vocab   2 "vocab_size >= 256"       1 $T $cfg "${run[@]}" --set model.vocab_size=100
expect bad-set-form        2 "--set"                   1 $T $cfg --set model.hidden_size
expect bad-stop-after      2 "--stop-after x"          1 $T $cfg "${run[@]}" --stop-after x
expect unknown-arg         2 "--frobnicate"            1 $T $cfg --frobnicate
expect odd-head-dim        2 "num_heads"               1 $T $cfg "${run[@]}" --set model.num_heads=32
expect sp-not-dividing     2 "sp = 3"                  2 $T $cfg "${run[@]}" --set parallel.sp=3
expect chunk-not-window    2 "window_size"             2 $T $cfg "${run[@]}" --set parallel.sp=2 --set model.window_size=12
expect batch-not-dp        2 "batch_size"              4 $T $cfg "${run[@]}" --set data.batch_size=3 --set parallel.sp=2
expect sp-full-attention   2 "window_size"             2 $T $cfg "${run[@]}" --set parallel.sp=2 --set model.window_size=0
expect missing-data        2 "nowhere.txt"             2 $T $cfg "${run[@]}" --set data.train=nowhere.txt
expect empty-data          2 "empty.txt"               1 $T $cfg "${run[@]}" --set data.train=$work/empty.txt
expect data-too-short      2 "one-byte.txt"            1 $T $cfg "${run[@]}" --set data.train=$work/one-byte.txt
expect llmc-bad-magic      2 "badmagic.bin"            1 $T $cfg "${run[@]}" --set data.format=llmc --set data.train=$work/badmagic.bin
expect llmc-truncated      2 "short.bin"               1 $T $cfg "${run[@]}" --set data.format=llmc --set data.train=$work/short.bin
expect llmc-bad-version    2 "unsupported llm.c version 9" 1 $T $cfg "${run[@]}" --set data.format=llmc --set data.train=$work/badversion.bin
expect llmc-neg-count      2 "negative token count"    1 $T $cfg "${run[@]}" --set data.format=llmc --set data.train=$work/negcount.bin
expect llmc-short-header   2 "truncated llm.c header"  1 $T $cfg "${run[@]}" --set data.format=llmc --set data.train=$work/header-only.bin
expect data-is-dir         2 "is a directory"          1 $T $cfg "${run[@]}" --set data.train=$work
expect glob-no-match       2 "no file matches"         1 $T $cfg "${run[@]}" --set "data.train=$work/none-*.bin"
expect llmc-token-vocab    2 "bigtoken.bin"            1 $T $cfg "${run[@]}" --set data.format=llmc --set data.train=$work/bigtoken.bin --set model.vocab_size=256 --set data.shuffle=false --set data.seq_len=64 --set data.batch_size=1
expect init-from-missing   2 "gone.h5"                 1 $T $cfg "${run[@]}" --set train.init_from=$work/gone.h5
expect init-from-not-hdf5  2 "not-hdf5.h5"             1 $T $cfg "${run[@]}" --set train.init_from=$work/not-hdf5.h5
expect init-from-shape     2 "hidden_size"             2 $T $cfg "${run[@]}" --set train.init_from=$other
expect eval-no-args        2 "usage"                   1 $E
expect eval-not-hdf5       2 "not-hdf5.h5"             1 $E "$work/not-hdf5.h5" --data tests/data/wisdom.txt
expect eval-no-data        2 "absent.txt"              1 $E "$other" --data "$work/absent.txt"
expect eval-bad-format     2 "--format words"          1 $E "$other" --data tests/data/wisdom.txt --format words
expect eval-bad-seq-len    2 "--seq-len"               1 $E "$other" --data tests/data/wisdom.txt --seq-len 0
expect eval-too-long       2 "no sample"               1 $E "$other" --data "$work/one-byte.txt"
expect eval-bad-threads    2 "--threads abc"           1 $E "$other" --data tests/data/wisdom.txt --threads abc
G=$build/swat-generate; good=$work/good/ckpt-00000001.h5
expect generate-no-prompt  2 "usage"                   1 $G "$good"
expect generate-top-p      2 "--top-p"                 1 $G "$good" --prompt hi --top-p 2
expect generate-temp       2 "--temperature"           1 $G "$good" --prompt hi --temperature -1
expect generate-no-file    2 "nofile.txt"              1 $G "$good" --prompt-file "$work/nofile.txt"
# the command line every program shares (src/cli.c): one line naming the option and what it takes
B=$build/swat-bench
expect cli-unknown-option  2 "unknown option '--frobnicate' (swat-eval --help lists the options)" 1 $E "$good" --data tests/data/wisdom.txt --frobnicate
expect cli-missing-value   2 "--data needs a value: FILE" 1 $E "$good" --data
expect cli-missing-number  2 "--stop-after needs a value: N" 1 $T $cfg --stop-after
expect cli-bad-number-eq   2 "--seq-len abc: expected an integer ≥ 1 or 'whole'" 1 $E "$good" --data=tests/data/wisdom.txt --seq-len=abc
expect eval-bad-precision  2 "--precision bf17: expected fp32 or bf16" 1 $E "$good" --data tests/data/wisdom.txt --precision bf17
expect cli-set-no-equals   2 "--set train.lr: expected section.key=value; did you mean train.lr=VALUE?" 1 $T $cfg --set=train.lr
expect cli-flag-with-value 2 "--positions takes no value (got '--positions=yes')" 1 $E "$good" --data tests/data/wisdom.txt --positions=yes
expect cli-ambiguous       2 "option '--print' is ambiguous: it could be --print-config, --print-keys" 1 $T $cfg --print
expect cli-extra-argument  2 "unexpected argument 'extra.ini'" 1 $T $cfg extra.ini
expect cli-get-unknown-key 2 "--get train.lrr: unknown key lrr in [train]; did you mean train.lr?" 1 $T --print-config $cfg --get train.lrr
expect cli-print-keys      2 "--print-keys html: expected text or markdown" 1 $T --print-keys html
expect cli-print-config    2 "[train] warmup_steps 10 exceeds steps 3" 1 $T --print-config $cfg --set train.warmup_steps=10
expect cli-generate-both   2 "give one of --prompt and --prompt-file" 1 $G "$good" --prompt hi --prompt-file "$work/one-byte.txt"
expect cli-bench-steps     2 "--steps 0: expected an integer ≥ 1" 1 $B $cfg --steps=0
expect cli-bench-no-config 2 "missing CONFIG.ini" 1 $B --steps 2
expect cli-bench-layout    2 "sp = 3 does not divide the 2 ranks" 2 $B $cfg --set parallel.sp=3
# checkpoints (train.init_from and swat-eval read the same loader as a resume)
ck() { local name=$1 sub=$2; expect "ckpt-${name#ck-}" 2 "$sub" 1 $T $cfg "${run[@]}" --set "train.init_from=$work/$name.h5"; }
ck ck-format       "format is 'other-format', not 'swat-checkpoint'"
ck ck-no-format    "no attribute format"
ck ck-version      "format_version 2 is not supported"
ck ck-version-str  "attribute format_version is not an integer"
ck ck-missing      "missing dataset /model/norm/weight"
ck ck-int          "/model/norm/weight is not float32 or float64"
ck ck-3d           "/model/norm/weight has shape [32, 1, …], the model needs [32]"
ck ck-shape        "q_proj/weight has shape [32, 31], the model needs [32, 32]"
ck ck-step         "attribute step = -5 is outside"
ck ck-world        "world_size = 1099511627776"
ck ck-samples      "samples_seen = 9223372036854775807"
ck ck-two-steps    "attribute step holds 2 values, not one"
ck ck-huge-config  "attribute config has"
ck ck-bad-config   "hidden_size"
ck ck-truncated    "ck-truncated.h5"
ck ck-flipped      "checksum"
expect eval-ckpt-truncated 2 "ck-truncated.h5"         1 $E "$work/ck-truncated.h5" --data tests/data/wisdom.txt
expect eval-ckpt-step      2 "step = -5"               1 $E "$work/ck-step.h5" --data tests/data/wisdom.txt
expect generate-ckpt-flip  2 "checksum"                1 $build/swat-generate "$work/ck-flipped.h5" --prompt hi
# a bit flipped in a tensor's data: refused by init_from, swat-eval and
# swat-generate, naming the dataset
ck ck-data-flip    "dataset /model/layers/0/attn/v_proj/weight: data does not match its crc32"
expect eval-ckpt-data-flip 2 "v_proj/weight: data does not match its crc32" 2 $E "$work/ck-data-flip.h5" --data tests/data/wisdom.txt
expect generate-ckpt-data-flip 2 "v_proj/weight: data does not match its crc32" 1 $G "$work/ck-data-flip.h5" --prompt hi
# resuming: a bad newest checkpoint alone stops the run; on a good one it is skipped
expect resume-bad-step     2 "step = -5"               1 $T $cfg --set "checkpoint.dir=$work/resume-ck-step"
expect resume-none-usable  2 "no usable checkpoint"    1 $T $cfg --set "checkpoint.dir=$work/resume-ck-truncated"
out=$(mpi 1 $T $cfg --set "checkpoint.dir=$work/resume-fallback" --set train.steps=2 2>&1); rc=$?
if [ $rc = 0 ] && [[ $out == *ckpt-00000002.h5* ]] && [[ $out =~ resuming\ from\ .*ckpt-00000001\.h5 ]]; then
    ok "$(printf '%-28s %s' resume-fallback "$(printf '%s\n' "$out" | grep -m1 'ckpt-00000002.h5')")"
else
    not_ok "$(printf 'resume-fallback: exit %s\n%s' "$rc" "$out")"
fi
# a newest checkpoint whose data fails its crc32: the run resumes from the one
# before, with one warning line naming the file and the dataset
out=$(mpi 2 $T $cfg --set "checkpoint.dir=$work/resume-crc" --set train.steps=2 --set parallel.sp=2 2>&1); rc=$?
warn=$(printf '%s\n' "$out" | grep -c 'warning: skipping unusable newer checkpoint(s) in .*ckpt-00000002.h5 (dataset /model/layers/0/attn/v_proj/weight: data does not match its crc32')
if [ $rc = 0 ] && [ "$warn" = 1 ] && [ "$(printf '%s\n' "$out" | grep -c '^swat.*warning')" = 1 ] &&
   printf '%s' "$out" | grep -q 'resuming from .*ckpt-00000001.h5 at step 1'; then
    ok "$(printf '%-28s %s' resume-crc-fallback "$(printf '%s\n' "$out" | grep -m1 'crc32')")"
else
    not_ok "$(printf 'resume-crc-fallback: exit %s, %s warning lines\n%s' "$rc" "$warn" "$out")"
fi
# ---- text and tokens (swat-tokenize, [data] tokenizer, /tokenizer/model) ----
K=$build/swat-tokenize
tok=$work/tok.model
mpi 1 "$K" train --vocab-size 400 --out "$work/tok" tests/data/wisdom.txt > /dev/null 2>&1 ||
    fail "fixture tokenizer"
mpi 1 "$K" encode --tokenizer "$tok" --out-dir "$work/tokshards" tests/data/wisdom.txt > /dev/null 2>&1 ||
    fail "fixture shards"
tokrun=(--set model.vocab_size=400 --set data.format=llmc --set "data.train=$work/tokshards/data_train_*.bin")
mpi 1 $T $cfg "${tokrun[@]}" --set "data.tokenizer=$tok" --set train.steps=1 \
    --set "checkpoint.dir=$work/tokrun" > /dev/null 2>&1 || fail "fixture run with a tokenizer"
printf '{"text": "fine"}\n[1, 2]\n' > "$work/not-object.jsonl"
printf '{"text": "fine"}\n{"body": "x"}\n' > "$work/no-member.jsonl"
printf '{"text": ["x"]}\n' > "$work/not-string.jsonl"
printf '{"text": "ok"}\n{"text": "bad \xff byte"}\n' > "$work/bad-utf8.jsonl"
printf '{"text": "ok", }\n' > "$work/malformed.jsonl"
printf '{"text": "\\udc00"}\n' > "$work/surrogate.jsonl"
printf 'line one\nline \xc3\x28 two\n' > "$work/bad-utf8.txt"
: > "$work/empty.jsonl"
for i in $(seq 300); do printf '{"text": "document %d"}\n' "$i"; done > "$work/late.jsonl"
printf '{"text": "the end", "n": 01}\n' >> "$work/late.jsonl"
swat_py - "$work" "$work/tokrun/ckpt-00000001.h5" <<'PY'
import h5py, numpy as np, shutil, sys
w, good = sys.argv[1:3]
model = np.frombuffer(open(f"{w}/tok.model", "rb").read(), dtype=np.uint8)
# /tokenizer/model replaced by: bytes that are no model, the model under another type, int32
for name, data, kind in (("ck-tok-corrupt", np.frombuffer(b"not a model" * 20, dtype=np.uint8), "sentencepiece"),
                         ("ck-tok-type", model, "tiktoken"),
                         ("ck-tok-dtype", np.arange(10, dtype=np.int32), "sentencepiece")):
    shutil.copy(good, f"{w}/{name}.h5")
    with h5py.File(f"{w}/{name}.h5", "r+") as f:
        del f["tokenizer/model"]
        f.create_dataset("tokenizer/model", data=data).attrs["type"] = np.bytes_(kind)
# one bit of the model flipped, its crc32 kept
shutil.copy(good, f"{w}/ck-tok-flip.h5")
with h5py.File(f"{w}/ck-tok-flip.h5", "r+") as f:
    assert "crc32" in f["tokenizer/model"].attrs
    f["tokenizer/model"][100] ^= 1
PY
out=$work/tokout # every refused encode below writes here: nothing may remain
expect encode-not-object    2 "not-object.jsonl:2: not a JSON object (byte 17)" 1 $K encode --tokenizer "$tok" --out-dir "$out" "$work/not-object.jsonl"
expect encode-no-member     2 "no-member.jsonl:2: the object has no member \"text\"" 1 $K encode --tokenizer "$tok" --out-dir "$out" "$work/no-member.jsonl"
expect encode-not-string    2 "not-string.jsonl:1: member \"text\" is not a string (byte 9)" 1 $K encode --tokenizer "$tok" --out-dir "$out" "$work/not-string.jsonl"
expect encode-jsonl-utf8    2 "bad-utf8.jsonl:2: invalid UTF-8 (byte 29)" 1 $K encode --tokenizer "$tok" --out-dir "$out" "$work/bad-utf8.jsonl"
expect encode-malformed     2 "malformed.jsonl:1: malformed JSON" 1 $K encode --tokenizer "$tok" --out-dir "$out" "$work/malformed.jsonl"
expect encode-surrogate     2 "lone low surrogate"      1 $K encode --tokenizer "$tok" --out-dir "$out" "$work/surrogate.jsonl"
expect encode-text-utf8     2 "bad-utf8.txt:2: invalid UTF-8 (byte 14)" 1 $K encode --tokenizer "$tok" --out-dir "$out" "$work/bad-utf8.txt"
expect encode-late-3-ranks  2 "late.jsonl:301: malformed JSON" 3 $K encode --tokenizer "$tok" --out-dir "$out" --round-bytes 500 tests/data/wisdom.txt "$work/late.jsonl"
expect encode-not-spm       2 "wisdom.txt: not a SentencePiece model" 1 $K encode --tokenizer tests/data/wisdom.txt --out-dir "$out" tests/data/wisdom.txt
expect encode-shard-0       2 "--shard-tokens 0"        1 $K encode --tokenizer "$tok" --out-dir "$out" --shard-tokens 0 tests/data/wisdom.txt
expect encode-val-big       2 "--val-tokens 3000000000" 1 $K encode --tokenizer "$tok" --out-dir "$out" --val-tokens 3000000000 tests/data/wisdom.txt
expect encode-out-unwritable 2 "cannot create directory" 2 $K encode --tokenizer "$tok" --out-dir "$work/one-byte.txt/shards" tests/data/wisdom.txt
expect encode-no-input      2 "at least one input"      1 $K encode --tokenizer "$tok" --out-dir "$out"
expect encode-missing-file  2 "absent.jsonl: No such file" 2 $K encode --tokenizer "$tok" --out-dir "$out" "$work/absent.jsonl"
expect encode-empty-jsonl   2 "holds no document"       1 $K encode --tokenizer "$tok" --out-dir "$out" "$work/empty.jsonl"
expect encode-train-option  2 "--vocab-size is an option of 'swat-tokenize train'" 1 $K encode --tokenizer "$tok" --out-dir "$out" --vocab-size 9 tests/data/wisdom.txt
expect tokenize-no-command  2 "missing subcommand"      1 $K
expect tokenize-bad-command 2 "unknown subcommand 'tokenise'" 1 $K tokenise x
expect tokenize-bad-option  2 "unknown option '--shards'" 1 $K encode --shards 3
expect tokenize-small-vocab 2 "--vocab-size 100 is too small" 1 $K train --vocab-size 100 --out "$work/small" tests/data/wisdom.txt
expect tokenize-train-utf8  2 "bad-utf8.txt:2: invalid UTF-8" 1 $K train --vocab-size 400 --out "$work/small" "$work/bad-utf8.txt"
if [ -n "$(ls -A "$out" 2> /dev/null)" ] || ls "$work"/small.* > /dev/null 2>&1; then
    not_ok "refused runs left files: $(ls -A "$out") $(ls "$work"/small.* 2> /dev/null)"
else
    ok "refused encodes left no shard and no temporary in $out"
fi
expect train-tokenizer-not-spm 2 "wisdom.txt: not a SentencePiece model" 1 $T $cfg "${run[@]}" "${tokrun[@]}" --set data.tokenizer=tests/data/wisdom.txt
expect train-tokenizer-missing 2 "absent.model"         1 $T $cfg "${run[@]}" "${tokrun[@]}" --set "data.tokenizer=$work/absent.model"
expect train-vocab-lt-pieces 2 "has 400 pieces, more than [model] vocab_size = 300" 2 $T $cfg "${run[@]}" "${tokrun[@]}" --set model.vocab_size=300 --set "data.tokenizer=$tok"
expect train-tokenizer-bytes 2 "with format = bytes"    1 $T $cfg "${run[@]}" --set "data.tokenizer=$tok"
expect eval-tok-corrupt     2 "ck-tok-corrupt.h5: /tokenizer/model: not a SentencePiece model" 1 $E "$work/ck-tok-corrupt.h5" --data tests/data/wisdom.txt --format text
expect eval-tok-corrupt-llmc 2 "ck-tok-corrupt.h5: /tokenizer/model: not a SentencePiece model" 2 $E "$work/ck-tok-corrupt.h5" --data "$work/tokshards/data_train_000001.bin"
expect eval-tok-type        2 "has type 'tiktoken'"     1 $E "$work/ck-tok-type.h5" --data tests/data/wisdom.txt --format text
expect eval-tok-crc          2 "ck-tok-flip.h5: dataset /tokenizer/model: data does not match its crc32" 1 $E "$work/ck-tok-flip.h5" --data tests/data/wisdom.txt --format text
expect generate-tok-crc      2 "ck-tok-flip.h5: dataset /tokenizer/model: data does not match its crc32" 1 $G "$work/ck-tok-flip.h5" --prompt hi
expect eval-tok-dtype       2 "/tokenizer/model is not a 1-D array of bytes" 1 $E "$work/ck-tok-dtype.h5" --data tests/data/wisdom.txt --format text
expect eval-text-no-tok     2 "needs a tokenizer"       1 $E "$good" --data tests/data/wisdom.txt --format text
expect eval-text-utf8       2 "bad-utf8.txt:2: invalid UTF-8 (byte 14)" 2 $E "$work/tokrun/ckpt-00000001.h5" --data "$work/bad-utf8.txt" --format text
expect eval-tokenizer-not-spm 2 "wisdom.txt: not a SentencePiece model" 1 $E "$good" --data tests/data/wisdom.txt --format text --tokenizer tests/data/wisdom.txt
expect generate-tok-corrupt 2 "ck-tok-corrupt.h5: /tokenizer/model: not a SentencePiece model" 1 $G "$work/ck-tok-corrupt.h5" --prompt hi
expect generate-prompt-utf8 2 "--prompt: invalid UTF-8 (byte 2)" 1 $G "$work/tokrun/ckpt-00000001.h5" --prompt $'hi\xff'
# the bucketed ZeRO-1 collectives' keys, on 2 ranks
expect wire-needs-bf16     2 "param_wire = bf16 needs [train] precision = bf16" 2 $T $cfg "${run[@]}" --set parallel.param_wire=bf16
expect embed-wire-alone    2 "embed_wire = bf16 needs param_wire = bf16" 2 $T $cfg "${run[@]}" --set train.precision=bf16 --set parallel.embed_wire=bf16
expect wire-unbucketed     2 "grad_wire = bf16 applies to the bucketed collectives" 2 $T $cfg "${run[@]}" --set parallel.grad_wire=bf16 --set parallel.bucket_mb=0
expect bucket-mb-negative  2 "bucket_mb"               2 $T $cfg "${run[@]}" --set parallel.bucket_mb=-1
expect progress-enum       2 "progress"                2 $T $cfg "${run[@]}" --set parallel.progress=async
# the model of an existing run directory differs from the config: refused, not overwritten
expect resume-other-model  2 "hidden_size"             1 $T $cfg --set "checkpoint.dir=$work/other" --set train.steps=2
if ls "$work/run" 2>/dev/null | grep -q ckpt; then
    not_ok "a refused run wrote a checkpoint"
fi

# ---- tools/swat_export.py and tools/swat_import.py: one line, exit 2, nothing
# written (no output, no temporary left beside it)
EX=("$SWAT_PYTHON" tools/swat_export.py) IM=("$SWAT_PYTHON" tools/swat_import.py)
swat_py tools/swat_export.py "$good" "$work/hf-good" >/dev/null || { echo "FAIL: fixture export"; exit 1; }
swat_py - "$work" "$good" <<'PY'
import h5py, json, os, shutil, struct, sys
import numpy as np
w, good = sys.argv[1:3]
with h5py.File(f"{w}/plain.h5", "w") as f:
    f["x"] = np.zeros(3)
shutil.copy(good, f"{w}/ck-crc.h5")
with h5py.File(f"{w}/ck-crc.h5", "r+") as f:
    f["model/norm/weight"].attrs.create("crc32", 12345, dtype=np.uint32)
def hf(name, edit=None, header=None, raw=None):
    """a copy of hf-good with config.json edited, the safetensors header edited
    (lengths and offsets left as the edit says), or the file replaced"""
    d = f"{w}/hf-{name}"
    shutil.copytree(f"{w}/hf-good", d)
    if edit:
        c = json.load(open(f"{d}/config.json"))
        edit(c)
        json.dump(c, open(f"{d}/config.json", "w"))
    st = f"{d}/model.safetensors"
    if header:
        b = open(st, "rb").read()
        n = struct.unpack("<Q", b[:8])[0]
        h = json.loads(b[8:8 + n])
        data = b[8 + n:]
        out = header(h, data)
        if isinstance(out, tuple):
            h, data = out
        text = json.dumps(h).encode()
        open(st, "wb").write(struct.pack("<Q", len(text)) + text + data)
    if raw is not None:
        open(st, "wb").write(raw)
def setk(k, v): return lambda c: c.__setitem__(k, v)
hf("no-window", lambda c: c.pop("window_size"))
hf("heads0", setk("num_heads", 0))
hf("vocab1", setk("vocab_size", 1))
hf("eps0", setk("norm_eps", 0))
hf("rope-yes", setk("rope", "yes"))
hf("alibi-both", setk("alibi", "both"))
hf("llama", setk("model_type", "llama"))
hf("odd-head", setk("num_heads", 32))
hf("wide", setk("hidden_size", 64))
hf("untied", setk("tie_word_embeddings", False))
def shift(name, by):
    def f(h, data):
        h[name]["data_offsets"] = [o + by for o in h[name]["data_offsets"]]
    return f
def first(h):
    return min((k for k in h if k != "__metadata__"), key=lambda k: h[k]["data_offsets"][0])
def short(h, data):
    k = first(h); h[k]["data_offsets"][1] -= 4
def overlap(h, data):
    k = first(h); o = h[k]["data_offsets"]
    h["model.norm.weight"]["data_offsets"] = [o[0], o[0] + 4 * 32]
def hole(h, data):  # 16 unused bytes after the first tensor
    k0 = first(h); e = h[k0]["data_offsets"][1]
    for k in h:
        if k not in ("__metadata__", k0): h[k]["data_offsets"] = [o + 16 for o in h[k]["data_offsets"]]
    return h, data[:e] + b"\0" * 16 + data[e:]
def past(h, data):
    k = first(h); h[k]["data_offsets"] = [o + len(data) for o in h[k]["data_offsets"]]
def dtype(h, data): h[first(h)]["dtype"] = "F33"
def extra(h, data):
    end = max(h[k]["data_offsets"][1] for k in h if k != "__metadata__")
    h["extra.weight"] = {"dtype": "F32", "shape": [2], "data_offsets": [end, end + 8]}
    return h, data + b"\0" * 8
def nan(h, data):
    o = h["model.norm.weight"]["data_offsets"][0]
    return h, data[:o] + struct.pack("<f", float("nan")) + data[o + 4:]
hf("st-short-range", header=short)
hf("st-overlap", header=overlap)
hf("st-hole", header=hole)
hf("st-past-end", header=past)
hf("st-dtype", header=dtype)
hf("st-extra", header=extra)
hf("st-nan", header=nan)
hf("st-trailing", header=lambda h, data: (h, data + b"\0" * 12))
b = open(f"{w}/hf-good/model.safetensors", "rb").read()
hf("st-len-past", raw=struct.pack("<Q", len(b)) + b[8:])
hf("st-len-huge", raw=struct.pack("<Q", 1 << 40) + b[8:])
hf("st-tiny", raw=b"\x10\0\0\0")
hf("st-not-json", raw=struct.pack("<Q", 8) + b"{not js}" + b[8:])
os.makedirs(f"{w}/hf-no-config"); shutil.copy(f"{w}/hf-good/model.safetensors", f"{w}/hf-no-config/")
shutil.copytree(f"{w}/hf-good", f"{w}/hf-not-json"); open(f"{w}/hf-not-json/config.json", "w").write("{oops")
shutil.copytree(f"{w}/hf-good", f"{w}/hf-dup"); open(f"{w}/hf-dup/config.json", "w").write(
    open(f"{w}/hf-good/config.json").read().replace('"rope": true', '"rope": true, "rope": false'))
os.makedirs(f"{w}/nonempty"); open(f"{w}/nonempty/notes.txt", "w").write("mine\n")
open(f"{w}/a-file", "w").write("x\n")
PY
nothing_written() { # no output and no temporary beside it
    local d left
    d=$(dirname "$1")
    left=$(compgen -G "$d/.swat-model-*" || compgen -G "$d/.*.tmp" || true)
    if [ -e "$1" ] || [ -n "$left" ]; then
        not_ok "$1 or a temporary ($left) was left by a refused run"
    fi
}
tool() { # like expect, without mpiexec: NAME SUBSTRING OUTPUT command…
    local name=$1 sub=$2 out=$3; shift 3
    local err rc lines
    err=$("$@" 2>&1 >/dev/null); rc=$?
    lines=$(printf '%s\n' "$err" | grep -c .)
    if [ "$rc" = 2 ] && [ "$lines" = 1 ] && printf '%s' "$err" | grep -qF -- "$sub"; then
        ok "$(printf '%-28s %s' "$name" "$err")"
    else
        not_ok "$(printf '%-28s exit %s (want 2), %s lines, want "%s":\n%s' \
            "$name" "$rc" "$lines" "$sub" "$err")"
    fi
    [ "$out" = - ] || nothing_written "$out"
}
o=$work/out
tool export-not-hdf5     "not an HDF5 file"                "$o" "${EX[@]}" "$work/not-hdf5.h5" "$o"
tool export-no-file      "nofile.h5: no such file"         "$o" "${EX[@]}" "$work/nofile.h5" "$o"
tool export-not-swat     "not a swat checkpoint"           "$o" "${EX[@]}" "$work/plain.h5" "$o"
tool export-other-format "format is 'other-format'"        "$o" "${EX[@]}" "$work/ck-format.h5" "$o"
tool export-missing      "dataset /model/norm/weight is missing" "$o" "${EX[@]}" "$work/ck-missing.h5" "$o"
tool export-shape        "q_proj/weight has shape [32, 31], the config needs [32, 32]" "$o" "${EX[@]}" "$work/ck-shape.h5" "$o"
tool export-crc32        "/model/norm/weight: crc32"       "$o" "${EX[@]}" "$work/ck-crc.h5" "$o"
tool export-bad-config   "hidden_size = banana: not an integer" "$o" "${EX[@]}" "$work/ck-bad-config.h5" "$o"
tool export-dtype        "--dtype"                         "$o" "${EX[@]}" "$good" "$o" --dtype float16
tool export-nonempty     "not empty (give --force"         - "${EX[@]}" "$good" "$work/nonempty"
if [ "$(ls -A "$work/nonempty")" != notes.txt ]; then not_ok "export-nonempty touched the directory"; fi
tool export-out-file     "a-file: exists and is not a directory" - "${EX[@]}" "$good" "$work/a-file"
o=$work/out.h5
for c in "no-config:no config.json" "not-json:config.json: not JSON" "dup:key 'rope' given twice" \
         "no-window:key window_size is missing" "heads0:num_heads = 0: must be >= 1" \
         "vocab1:vocab_size = 1: must be >= 2" "eps0:norm_eps = 0: must be > 0" \
         "rope-yes:rope = \"yes\": not true or false" "alibi-both:alibi = \"both\": not one of" \
         "llama:model_type is \"llama\", not \"swat\"" "odd-head:= 1 is odd" \
         "wide:model.embeddings.weight has shape [256, 32], config.json needs [256, 64]" \
         "untied:lm_head.weight is missing" \
         "st-short-range:hold 32764 bytes, but F32 [256, 32] needs 32768" \
         "st-overlap:(overlap)" "st-hole:(a hole)" "st-past-end:end past the data" \
         "st-dtype:unknown dtype \"F33\"" "st-extra:extra.weight is not part of the model" \
         "st-nan:model.norm.weight holds non-finite values" "st-trailing:bytes of data" \
         "st-len-past:runs past the end of the file" "st-len-huge:is more than the 100000000 bytes" \
         "st-tiny:shorter than the 8-byte header length" "st-not-json:header is not JSON"; do
    tool "import-${c%%:*}" "${c#*:}" "$o" "${IM[@]}" "$work/hf-${c%%:*}" "$o"
done
tool import-no-dir       "nodir: not a directory"          "$o" "${IM[@]}" "$work/nodir" "$o"
tool import-exists       "a-file: exists (give --force"    - "${IM[@]}" "$work/hf-good" "$work/a-file"
if [ "$(cat "$work/a-file")" != x ]; then not_ok "import-exists touched the file"; fi
# an imported checkpoint has no [data] seq_len: swat-eval asks for one instead of guessing
"${IM[@]}" "$work/hf-good" "$work/imported.h5" >/dev/null || { echo "FAIL: fixture import"; exit 1; }
expect eval-no-seq-len     2 "imported.h5: the checkpoint has no seq_len: give --seq-len" 1 \
    "$E" "$work/imported.h5" --data tests/data/wisdom.txt
swat_summary
