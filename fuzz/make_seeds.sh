#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Regenerates the seed corpora of fuzz/corpus/ (committed; run only when a
# format changes). usage: fuzz/make_seeds.sh BUILD_DIR (any build with swat-train)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: fuzz/make_seeds.sh BUILD_DIR}
out=fuzz/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# llm.c shards: uint16 (vocab 16) and uint32, 2 and 600 tokens; a bytes file.
# Byte 0 is the harness's mode (bit 0 repairs the count, bit 1 splits in two
# files at byte 1 · size / 256).
python3 - "$tmp" "$out/llmc" <<'PY'
import random, struct, sys
tmp, out = sys.argv[1], sys.argv[2]
random.seed(1)
def shard(magic, version, toks, fmt):
    h = [magic, version, len(toks)] + [0] * 253
    return struct.pack('<256i', *h) + struct.pack('<%d%s' % (len(toks), fmt), *toks)
t16 = [random.randrange(16) for _ in range(600)]
open(tmp + '/data16.bin', 'wb').write(shard(20240520, 1, [random.randrange(16) for _ in range(3000)], 'H'))
seeds = {
    'u16_600': b'\x00\x00' + shard(20240520, 1, t16, 'H'),
    'u16_600_split': b'\x02\x80' + shard(20240520, 1, t16, 'H'),
    'u32_v7_2': b'\x00\x00' + shard(20240801, 7, [3, 70000], 'I'),
    'u32_repair': b'\x01\x00' + shard(20240801, 2, [1, 2, 3, 4], 'I') + b'\x05',
    'bytes_text': b'\x00\x00' + b'The quick brown fox jumps over the lazy dog.\n' * 4,
}
for name, data in seeds.items():
    open(out + '/' + name, 'wb').write(data)
PY

# INI texts: the test config, and a resolved config as swat-train prints it
cp tests/configs/ref.ini "$out/config/ref.ini"

# a real checkpoint of the harness's tiny model (vocab 16, d 8, L 1, H 2, w 4)
# and smaller variants of it
cat > "$tmp/tiny.ini" <<INI
[model]
vocab_size = 16
hidden_size = 8
num_hidden_layers = 1
num_heads = 2
window_size = 4
intermediate_size = 16
[train]
steps = 1
seed = 3
peak_gflops = 1
[data]
train = $tmp/data16.bin
format = llmc
seq_len = 8
batch_size = 2
[checkpoint]
dir = $tmp/run
INI
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=detect_leaks=0 \
  "$build/swat-train" "$tmp/tiny.ini" >/dev/null
# repacked without the 1 MiB alignment of the writer: same content, 10 times smaller
h5repack "$tmp"/run/ckpt-00000001.h5 "$out/ckpt/tiny.h5"
# the same in the format swat writes (1.8 and later: metadata checksums),
# where most mutations of metadata meet a checksum error
h5repack --low=1 --high=2 "$tmp"/run/ckpt-00000001.h5 "$out/ckpt/tiny_v18.h5"
cp "$tmp/run/config.ini" "$out/config/resolved.ini"

# another model (untied: an lm_head; w 2) for the harness's second model
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=detect_leaks=0 \
  "$build/swat-train" "$tmp/tiny.ini" --set model.tie_word_embeddings=false \
  --set model.window_size=2 --set model.intermediate_size=8 --set checkpoint.dir="$tmp/untied" >/dev/null
# smaller variants (a mutation then lands more often in what the reader
# parses): without the moments; h5py-style attributes (variable-length
# strings, int32 version) with float64 tensors; the untied model without moments
"${SWAT_PYTHON:-python3}" - "$tmp" "$out/ckpt/tiny.h5" "$tmp/untied/ckpt-00000001.h5" <<'PY'
import h5py, numpy as np, shutil, sys
tmp, tiny, untied = sys.argv[1:4]
def strip(src, dst, h5py_style=False):
    shutil.copy(src, dst)
    with h5py.File(dst, 'r+') as f:
        del f['optimizer']
        if h5py_style:
            for k in ('format', 'config'):
                v = f.attrs[k]
                v = v.decode() if isinstance(v, bytes) else v
                del f.attrs[k]
                f.attrs.create(k, v, dtype=h5py.string_dtype())
            f.attrs.create('format_version', 1, dtype=np.int32)
            names = []
            f['model'].visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
            for n in names:
                data = f['model'][n][()].astype(np.float64)
                del f['model'][n]
                f['model'].create_dataset(n, data=data)
strip(tiny, tmp + '/tiny_params.h5')
strip(tiny, tmp + '/tiny_h5py.h5', h5py_style=True)
strip(untied, tmp + '/untied_params.h5')
# refusals no mutation of the others reaches easily: an attribute with two
# values, a tensor of three dimensions
strip(tiny, tmp + '/attr_two_values.h5')
with h5py.File(tmp + '/attr_two_values.h5', 'r+') as f:
    del f.attrs['step']
    f.attrs.create('step', np.array([1, 1], dtype=np.int64))
strip(tiny, tmp + '/tensor_3d.h5')
with h5py.File(tmp + '/tensor_3d.h5', 'r+') as f:
    w = f['model/norm/weight'][()]
    del f['model/norm/weight']
    f['model/norm'].create_dataset('weight', data=w.reshape(8, 1, 1))
PY
for f in tiny_params tiny_h5py untied_params attr_two_values tensor_3d; do
  h5repack "$tmp/$f.h5" "$out/ckpt/$f.h5"
done
ls -l "$out"/*
