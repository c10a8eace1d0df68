# SPDX-License-Identifier: MIT
"""Independent checks of swat-tokenize and the text paths (tests/run_tokenize.sh).

Everything here recomputes from the definitions with Python's json, the
SentencePiece library through python3-sentencepiece, h5py and the llm.c
reader tools/llmc_shards.py -- none of swat's C code:

  settings MODEL              ids and settings of a trained model (Llama-2's)
  ids MODEL DIR NAME VAL SHARD KEY FILE...
                              the shards in DIR hold [bos]+ids of every document
  bigmodel IN OUT N           IN plus N pieces that never match English text
                              (more than 65536 pieces: uint32 shards)
  bytes MODEL TEXT T JSON     swat-eval's bytes/bits_per_byte for --format text
  tokenizer-in CKPT MODEL     the checkpoint carries MODEL's bytes (and their crc32)
  craft CKPT OUT MODE         a checkpoint whose greedy output is fixed bytes
"""
import json
import math
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import llmc_shards  # noqa: E402

import numpy as np  # noqa: E402
import sentencepiece as spm  # noqa: E402


def fail(msg):
    sys.exit(f"FAIL: {msg}")


def settings(model):
    sp = spm.SentencePieceProcessor(model_file=model)
    if (sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id()) != (0, 1, 2, -1):
        fail(f"special ids {sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id()}, expected (0, 1, 2, -1)")
    byte_ids = [i for i in range(sp.get_piece_size()) if sp.is_byte(i)]
    if byte_ids != list(range(3, 259)) or sp.id_to_piece(3) != "<0x00>":
        fail("byte fallback: the 256 byte pieces are not ids 3..258")
    # any UTF-8 encodes without unk, and text survives: newlines, runs of
    # spaces (identity normalization, extra whitespace kept)
    for text in ("Zürich 🙂 Ωμέγα 中文\n\nnext  line\twith  spaces", "  leading", "trailing  "):
        ids = sp.encode(text)
        if sp.unk_id() in ids:
            fail(f"unk in the encoding of {text!r}")
        if sp.decode(ids) != text:
            fail(f"round trip of {text!r} gave {sp.decode(ids)!r}")
    # digits split; a dummy prefix
    pieces = sp.encode("a 20240520", out_type=str)
    digits = [p.lstrip("\u2581") for p in pieces if p.lstrip("\u2581").isdigit()]
    if any(len(d) != 1 for d in digits) or "".join(digits) != "20240520":
        fail(f"digits not split: {pieces}")
    if not sp.encode("x", out_type=str)[0].startswith("\u2581"):
        fail("no dummy prefix")
    print(f"settings: {sp.get_piece_size()} pieces, unk 0 bos 1 eos 2, byte fallback 3..258, "
          f"digits split, whitespace kept")


def documents(files, key):
    for path in files:
        if path.endswith(".jsonl"):
            with open(path, "rb") as f:
                for line in f:
                    yield json.loads(line.decode("utf-8"))[key]
        else:
            with open(path, "rb") as f:
                yield f.read().decode("utf-8")


def ids(model, out_dir, name, val, shard, key, files):
    sp = spm.SentencePieceProcessor(model_file=model)
    stream = []
    for doc in documents(files, key):
        stream.append(sp.bos_id())
        stream += sp.encode(doc)
    stream = np.array(stream, dtype=np.int64)
    n = len(stream)
    want = []
    if val > 0:
        want.append((f"{name}_val_000000.bin", stream[:val]))
    k, pos = 1, min(val, n)
    while pos < n:
        want.append((f"{name}_train_{k:06d}.bin", stream[pos : pos + shard]))
        pos += shard
        k += 1
    magic = llmc_shards.MAGIC_U16 if sp.get_piece_size() <= 65536 else llmc_shards.MAGIC_U32
    version = 1 if magic == llmc_shards.MAGIC_U16 else 7
    present = sorted(f for f in os.listdir(out_dir) if f.startswith(name + "_"))
    if present != sorted(f for f, _ in want):
        fail(f"{out_dir} holds {present}, expected {[f for f, _ in want]}")
    for fname, tokens in want:
        m, v, got = llmc_shards.read_shard(os.path.join(out_dir, fname))
        if (m, v) != (magic, version):
            fail(f"{fname}: magic {m} version {v}, expected {magic} {version}")
        if len(got) != len(tokens) or not np.array_equal(got.astype(np.int64), tokens):
            bad = next((i for i in range(min(len(got), len(tokens))) if got[i] != tokens[i]), None)
            fail(f"{fname}: {len(got)} tokens, expected {len(tokens)}; first difference at {bad}")
    print(f"ids: {n} tokens of {sum(1 for _ in documents(files, key))} documents in {len(want)} "
          f"file(s) equal SentencePiece's (magic {magic})")


def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def bigmodel(src, dst, count):
    """Appends `count` NORMAL pieces to ModelProto.pieces (field 1; repeated
    fields may continue after the other fields): two-character CJK pieces with
    the lowest scores, which English text never forms."""
    def field(num, wire, payload):
        return varint(num << 3 | wire) + payload

    extra = []
    for i in range(count):
        text = (chr(0x4E00 + i // 300) + chr(0x4E00 + i % 300)).encode()
        inner = (field(1, 2, varint(len(text)) + text) + field(2, 5, struct.pack("<f", -1000.0 - i))
                 + field(3, 0, varint(1)))
        extra.append(field(1, 2, varint(len(inner)) + inner))
    with open(src, "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(data + b"".join(extra))
    print(f"bigmodel: {spm.SentencePieceProcessor(model_file=dst).get_piece_size()} pieces")


def piece_bytes(sp, i):
    """The bytes a target counts for bits per byte (docs/data-formats.md)."""
    if sp.is_control(i) or sp.is_unknown(i):
        return 0
    if sp.is_byte(i):
        return 1
    return len(sp.id_to_piece(i).replace("\u2581", " ").encode("utf-8"))


def bytes_check(model, text_path, T, line):
    sp = spm.SentencePieceProcessor(model_file=model)
    r = json.loads(line)
    with open(text_path, "rb") as f:
        text = f.read().decode("utf-8")
    stream = [sp.bos_id()] + sp.encode(text)
    T = len(stream) - 1 if T == "whole" else int(T)
    n = (len(stream) - 1) // T
    targets = stream[1 : n * T + 1]
    want = sum(piece_bytes(sp, i) for i in targets)
    if r["tokens"] != n * T or r["bytes"] != want:
        fail(f"tokens {r['tokens']} bytes {r['bytes']}, expected {n * T} and {want}")
    # bits per byte from the mean loss: total nats / ln 2 / bytes; the loss is
    # printed with 8 decimals, so 1e-7 relative covers the printing
    bpb = r["loss"] * r["tokens"] / math.log(2) / r["bytes"]
    if abs(bpb - r["bits_per_byte"]) > 1e-7 * bpb:
        fail(f"bits_per_byte {r['bits_per_byte']}, expected {bpb}")
    print(f"bytes: {want} bytes in {n * T} targets, bits_per_byte {r['bits_per_byte']:.6f}")


def tokenizer_in(ckpt, model):
    import h5py
    with h5py.File(ckpt, "r") as f:
        d = f["tokenizer/model"]
        kind = d.attrs["type"]
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if d.dtype != np.uint8 or d.ndim != 1 or kind != "sentencepiece":
            fail(f"/tokenizer/model is {d.dtype} {d.shape} type {kind!r}")
        with open(model, "rb") as m:
            if d[()].tobytes() != m.read():
                fail("/tokenizer/model differs from the .model file")
        # the checksum every checkpoint dataset carries: zlib's CRC-32 of the bytes
        if int(d.attrs.get("crc32", -1)) != zlib.crc32(d[()].tobytes()):
            fail(f"/tokenizer/model: crc32 {d.attrs.get('crc32')}, zlib.crc32 {zlib.crc32(d[()].tobytes())}")
    print(f"tokenizer-in: {ckpt} carries {model} ({os.path.getsize(model)} bytes, crc32 checked)")


def refresh_crc(dset):
    """Keeps a crc32 attribute (when the format has one) true to the data."""
    if "crc32" in dset.attrs:
        dset.attrs.modify("crc32", np.uint32(zlib.crc32(dset[()].tobytes())))


def craft(src, dst, mode):
    """An untied checkpoint whose layers do nothing (zero matrices), so the
    next token depends only on the last one: logits = rmsnorm(E[x]) . W.
    Embeddings are basis vectors e0, e1, e2; lm_head rows pick the successor:
      cycle:   every id -> <0xE2> -> <0x82> -> <0xAC> -> <0xE2> ...  ("€€…")
      invalid: every id -> <0xE2>                                   (no valid text)"""
    import h5py
    import shutil
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        model_bytes = f["tokenizer/model"][()].tobytes()
        sp = spm.SentencePieceProcessor(model_proto=model_bytes)
        e2, x82, xac = (sp.piece_to_id(p) for p in ("<0xE2>", "<0x82>", "<0xAC>"))
        if "lm_head" not in f:
            fail("craft needs an untied checkpoint")
        for name in list(f["model/layers"].keys()):
            def zero(_, obj):
                if isinstance(obj, h5py.Dataset) and obj.ndim == 2:
                    obj[...] = 0
                    refresh_crc(obj)
            f["model/layers"][name].visititems(zero)
        emb, head = f["model/embeddings/weight"], f["lm_head/weight"]
        V, d = emb.shape
        E = np.zeros((V, d), dtype=np.float32)
        W = np.zeros((V, d), dtype=np.float32)
        E[:, 0] = 1
        W[e2, 0] = 1
        if mode == "cycle":
            E[e2] = np.eye(d, dtype=np.float32)[1]
            E[x82] = np.eye(d, dtype=np.float32)[2]
            W[x82, 1] = 1
            W[xac, 2] = 1
        emb[...] = E
        head[...] = W
        f["model/norm/weight"][...] = 1
        for d_ in (emb, head, f["model/norm/weight"]):
            refresh_crc(d_)
    print(f"craft: {dst} ({mode})")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "settings":
        settings(*args)
    elif cmd == "ids":
        model, out_dir, name, val, shard, key, *files = args
        ids(model, out_dir, name, int(val), int(shard), key, files)
    elif cmd == "bigmodel":
        bigmodel(args[0], args[1], int(args[2]))
    elif cmd == "bytes":
        bytes_check(*args)
    elif cmd == "tokenizer-in":
        tokenizer_in(*args)
    elif cmd == "craft":
        craft(*args)
    else:
        fail(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
