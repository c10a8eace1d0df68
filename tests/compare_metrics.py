#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""compare_metrics.py A/metrics.jsonl B/metrics.jsonl TOL [VAL_TOL]

Two training runs' losses, update by update, over the updates both logged:
the largest relative difference |b - a| / |a| must not exceed TOL; with
VAL_TOL > 0 the last validation losses must agree within VAL_TOL relative.
Prints one line per check; exit 0 when they hold, 1 when not, 2 on bad usage.
"""
import json
import sys


def load(path):
    loss, val = {}, None
    for line in open(path):
        r = json.loads(line)
        if "val_loss" in r:
            val = r["val_loss"]
        elif "loss" in r:
            loss[r["step"]] = r["loss"]
    return loss, val


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    (a, va), (b, vb) = load(argv[0]), load(argv[1])
    tol, vtol = float(argv[2]), float(argv[3]) if len(argv) == 4 else 0.0
    steps = sorted(set(a) & set(b))
    if not steps:
        print("no update logged by both runs")
        return 1
    rel = {k: abs(b[k] - a[k]) / abs(a[k]) for k in steps}
    worst = max(rel, key=rel.get)
    print("  %d updates: loss within %.2e relative (worst at update %d: %.5f vs %.5f)"
          % (len(steps), rel[worst], worst, a[worst], b[worst]))
    bad = rel[worst] > tol
    if vtol > 0:
        if va is None or vb is None:
            print("  no validation loss in both runs")
            return 1
        vr = abs(vb - va) / abs(va)
        print("  final validation loss %.5f vs %.5f: %.2e relative" % (va, vb, vr))
        bad = bad or vr > vtol
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
