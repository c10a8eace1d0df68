#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Flips one bit at a time in the metadata of a checkpoint and reads each
copy completely with h5py (the same libhdf5 that swat links), each in a
forked child: refused (and why), read back identical (the bit was unused),
read back different without an error, crashed, or hung. Metadata = the
non-zero bytes outside every dataset's raw data. Run on a file written by
swat (HDF5 1.8+ format: metadata checksums) and on the same file repacked to
the oldest format (h5repack's and h5py's default) to compare.

usage: tools/ckpt_bitflips.py CKPT.h5 [N=400] [SEED=1]
"""
import collections, os, random, signal, subprocess, sys, tempfile

import h5py
import numpy as np


def content(path):
    """Every attribute and dataset, as bytes."""
    d = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            for k, v in obj.attrs.items():
                d[name + "@" + k] = np.asarray(v).tobytes()
            if isinstance(obj, h5py.Dataset):
                d[name] = obj[()].tobytes()
        visit("/", f)
        f.visititems(visit)
    return d


def raw_ranges(path):
    out = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.id.get_offset() is not None:
                out.append((obj.id.get_offset(), obj.id.get_offset() + obj.id.get_storage_size()))
        f.visititems(visit)
    return out


OUTCOMES = {0: "read back identical", 1: "read back DIFFERENT", 2: "refused: checksum",
            3: "refused: other check"}


def trial(path, ref):
    """In a child: exit status = outcome code."""
    signal.alarm(20)
    try:
        code = 0 if content(path) == ref else 1
    except Exception as e:  # HDF5 refused the file
        code = 2 if "checksum" in str(e) else 3
    os._exit(code)


def run(label, path, n, seed, tmp):
    blob = open(path, "rb").read()
    ref = content(path)
    raw = raw_ranges(path)
    meta = [i for i, b in enumerate(blob) if b and not any(a <= i < e for a, e in raw)]
    rng = random.Random(seed)
    got = collections.Counter()
    f = os.path.join(tmp, "flipped.h5")
    for _ in range(n):
        flipped = bytearray(blob)
        flipped[rng.choice(meta)] ^= 1 << rng.randrange(8)
        open(f, "wb").write(flipped)
        pid = os.fork()
        if pid == 0:
            trial(f, ref)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            got["hung (> 20 s)" if sig == signal.SIGALRM else "CRASHED (%s)" % signal.Signals(sig).name] += 1
        else:
            got[OUTCOMES.get(os.WEXITSTATUS(status), "exit %d" % os.WEXITSTATUS(status))] += 1
    print("%s: %d bytes, %d of them metadata; %d single-bit flips:" % (label, len(blob), len(meta), n))
    for k, v in got.most_common():
        print("  %-26s %4d" % (k, v))


def main():
    path = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    with tempfile.TemporaryDirectory() as tmp:
        old = os.path.join(tmp, "oldest-format.h5")
        subprocess.run(["h5repack", path, old], check=True)
        run("as swat writes it (1.8+ format)", path, n, seed, tmp)
        run("repacked to the oldest format", old, n, seed, tmp)


if __name__ == "__main__":
    main()
