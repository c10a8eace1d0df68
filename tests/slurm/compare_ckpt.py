#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Bit-for-bit comparison of the tensors of two swat checkpoints.

usage: compare_ckpt.py A.h5 B.h5

Compares every dataset under /model, /lm_head and /optimizer (and /train,
the resume state), values and dtypes, byte for byte; attributes such as
`created` are ignored. Exit 0 when identical, 1 otherwise.
"""
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # the Debian packages python3-h5py python3-numpy
    print(f"compare_ckpt.py: {e} (install python3-h5py python3-numpy; run the Python that has them, e.g. $SWAT_PYTHON)", file=sys.stderr)
    sys.exit(2)

GROUPS = ("model", "lm_head", "optimizer", "train")


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and name.split("/")[0] in GROUPS:
                out[name] = np.asarray(obj[()])
        f.visititems(visit)
    return out


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = datasets(sys.argv[1]), datasets(sys.argv[2])
    bad = []
    if set(a) != set(b):
        bad.append(f"different datasets: only in A {sorted(set(a) - set(b))}, only in B {sorted(set(b) - set(a))}")
    if not any(k.startswith("model/") for k in a) or not any(k.startswith("optimizer/") for k in a):
        bad.append("no /model or /optimizer datasets")
    same = 0
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if x.dtype != y.dtype or x.shape != y.shape:
            bad.append(f"{k}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}")
        elif x.tobytes() != y.tobytes():
            n = int(np.count_nonzero(x != y)) if x.dtype.kind == "f" else -1
            bad.append(f"{k}: differs ({n} elements)")
        else:
            same += 1
    n_model = sum(k.startswith(("model/", "lm_head/")) for k in a)
    n_opt = sum(k.startswith("optimizer/") for k in a)
    print(f"compare_ckpt: {same} of {len(set(a) | set(b))} datasets bit-identical "
          f"({n_model} model, {n_opt} optimizer, {len(a) - n_model - n_opt} train)")
    for m in bad[:12]:
        print(f"compare_ckpt: {m}")
    if len(bad) > 12:
        print(f"compare_ckpt: ... and {len(bad) - 12} more")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
