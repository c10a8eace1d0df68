#!/usr/bin/env bash
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
cp "$tmp/run/config.ini" "$out/config/resolved.ini"
ls -l "$out"/*
