#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compares the tensors of two swat checkpoints (/model, /lm_head,
/optimizer; attributes such as `created` are not compared).

usage: compare_ckpts.py A.h5 B.h5 [--exact]

--exact: every dataset bit-identical (a resumed run against the
uninterrupted one on the same layout).
Otherwise (another layout resumed the run) the runs agree up to float32
rounding, which Adam amplifies for elements whose gradient is ~0: every
parameter within lr_sum (the largest possible drift: Adam moves an element by
at most ~lr per update), and 99.9% of the parameters within 1e-4; every
moment tensor within 1e-3 of its largest entry for 99.9% of elements.
"""
import configparser
import sys

import h5py
import numpy as np


def tensors(f):
    out = {}
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name.split("/")[0] in ("model", "lm_head", "optimizer"):
            out[name] = obj[()]
    f.visititems(visit)
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        print("usage: compare_ckpts.py A.h5 B.h5 [--exact]", file=sys.stderr)
        return 2
    exact = "--exact" in sys.argv
    fa, fb = h5py.File(args[0], "r"), h5py.File(args[1], "r")
    ta, tb = tensors(fa), tensors(fb)
    bad = []
    if set(ta) != set(tb):
        bad.append(f"different datasets: {sorted(set(ta) ^ set(tb))}")
    for k in ("step", "samples_seen", "tokens_seen"):
        if int(fa.attrs[k]) != int(fb.attrs[k]):
            bad.append(f"attribute {k}: {fa.attrs[k]} vs {fb.attrs[k]}")
    if exact:
        diff = [k for k in ta if k in tb and not np.array_equal(ta[k], tb[k])]
        bad += [f"{k} differs (max |d| {np.max(np.abs(ta[k] - tb[k])):.3e})" for k in diff]
        print(f"{len(ta)} datasets compared bit for bit, {len(diff)} differ")
    else:
        cfg = configparser.ConfigParser()
        text = fa.attrs["config"]
        cfg.read_string(text.decode() if isinstance(text, bytes) else text)
        lr, steps = float(cfg["train"]["lr"]), int(fa.attrs["step"])
        d = np.concatenate([np.abs(ta[k] - tb[k]).ravel() for k in ta if not k.startswith("optimizer")])
        frac = float(np.mean(d > 1e-4))
        print(f"parameters: max |dp| {d.max():.2e}, fraction beyond 1e-4 {frac:.2e}")
        if d.max() > lr * steps or frac > 1e-3:
            bad.append(f"parameters differ: max {d.max():.2e}, {frac:.3%} beyond 1e-4")
        for k in ta:
            if k.startswith("optimizer"):
                scale = np.max(np.abs(ta[k])) + 1e-30
                f = float(np.mean(np.abs(ta[k] - tb[k]) > 1e-3 * scale))
                if f > 1e-3:
                    bad.append(f"{k}: {f:.3%} of elements beyond 1e-3 of scale")
    for m in bad:
        print("FAIL:", m)
    print("checkpoints agree" if not bad else "checkpoints differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
