#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reads llm.c token shards, written from llm.c's format, independently of swat's C reader.

A shard is a header of 256 little-endian int32 -- [0] magic, [1] version,
[2] token count -- then the tokens: magic 20240520 (version 1) holds uint16
tokens, magic 20240801 (llm.c writes version 7) uint32 tokens
(docs/data-formats.md). The file size must be exactly 1024 + count * width.

    python3 tools/llmc_shards.py 'data/fineweb/fineweb_*.bin'            # headers, counts
    python3 tools/llmc_shards.py DIR/data_val_000000.bin --tokenizer M.model --show 200

As a module: read_shard(path) -> (magic, version, tokens as a numpy array).
"""
import argparse
import glob
import sys

import numpy as np

MAGIC_U16, MAGIC_U32 = 20240520, 20240801
HEADER_INTS = 256


def read_shard(path):
    """(magic, version, tokens) of one shard; ValueError on anything malformed."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < HEADER_INTS * 4:
        raise ValueError(f"{path}: {len(data)} bytes, shorter than the 1024-byte header")
    header = np.frombuffer(data[: HEADER_INTS * 4], dtype="<i4")
    magic, version, count = (int(x) for x in header[:3])
    if magic == MAGIC_U16:
        dtype, allowed = np.dtype("<u2"), (1,)
    elif magic == MAGIC_U32:
        dtype, allowed = np.dtype("<u4"), (1, 2, 7)
    else:
        raise ValueError(f"{path}: magic {magic}, not {MAGIC_U16} or {MAGIC_U32}")
    if version not in allowed:
        raise ValueError(f"{path}: version {version} for magic {magic} (expected one of {allowed})")
    if count < 0 or len(data) != HEADER_INTS * 4 + count * dtype.itemsize:
        raise ValueError(f"{path}: {len(data)} bytes do not hold the header's {count} tokens")
    if any(int(x) != 0 for x in header[3:]):
        raise ValueError(f"{path}: header ints 3..255 are not zero")
    return magic, version, np.frombuffer(data[HEADER_INTS * 4 :], dtype=dtype)


def read_stream(paths):
    """The tokens of several shards, concatenated in the order given (int64)."""
    parts = [read_shard(p)[2].astype(np.int64) for p in paths]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shards", nargs="+", help="files or globs (sorted by path, as swat-train does)")
    ap.add_argument("--tokenizer", help="a SentencePiece .model: decode the first --show tokens")
    ap.add_argument("--show", type=int, default=0, help="tokens to print from the start")
    args = ap.parse_args()
    paths = []
    for pattern in args.shards:
        matched = sorted(glob.glob(pattern), key=lambda p: p.encode())
        paths += matched if matched else [pattern]
    total = 0
    for p in paths:
        try:
            magic, version, tokens = read_shard(p)
        except (OSError, ValueError) as e:
            sys.exit(f"llmc_shards: {e}")
        total += len(tokens)
        top = int(tokens.max()) if len(tokens) else -1
        print(f"{p}: magic {magic} version {version} {tokens.dtype.itemsize * 8}-bit, "
              f"{len(tokens)} tokens, max id {top}")
    print(f"total: {total} tokens in {len(paths)} file(s)")
    if args.show > 0:
        ids = [int(x) for x in read_stream(paths)[: args.show]]
        if args.tokenizer:
            import sentencepiece as spm
            sp = spm.SentencePieceProcessor(model_file=args.tokenizer)
            print(repr(sp.decode(ids)))
        else:
            print(ids)


if __name__ == "__main__":
    main()
