#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Draws a run's curves from its metrics.jsonl into one PNG.

    python3 tools/plot_metrics.py RUN_DIR [RUN_DIR...] [--out FILE.png] [--title TEXT]

Four panels over the update number: training loss (light: every update;
dark: a moving average over 2% of the run) with the validation loss as
points, learning rate, tokens/s (and MFU on a second axis, unless the run
logged an MFU above 100 %: a peak measured on a busy machine), gradient norm.
Several run directories are overlaid in one colour each. Works on any run
directory that swat-train wrote (one JSON object per update with step, loss,
lr, grad_norm, tokens_per_s, mfu; one per evaluation with step, val_loss);
records of other kinds are skipped. Needs matplotlib (python3-matplotlib).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ablation_report import smooth  # noqa: E402  (trailing moving average)


def read_metrics(run_dir):
    path = run_dir if run_dir.endswith(".jsonl") else os.path.join(run_dir, "metrics.jsonl")
    train, val = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"plot_metrics: {path}:{n}: not JSON ({e})")
            if "val_loss" in r:
                val.append(r)
            elif "loss" in r:
                train.append(r)
    if not train:
        sys.exit(f"plot_metrics: {path}: no training record")
    return path, train, val


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run directories (or metrics.jsonl files)")
    ap.add_argument("--out", help="PNG to write (default RUN_DIR/metrics.png of the first run)")
    ap.add_argument("--title", help="figure title (default: the run directories)")
    args = ap.parse_args()

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 2, figsize=(11, 7))
    (a_loss, a_lr), (a_tps, a_gn) = ax
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, run in enumerate(args.runs):
        path, train, val = read_metrics(run)
        c = colours[i % len(colours)]
        label = os.path.basename(os.path.dirname(os.path.abspath(path)))
        steps = [r["step"] for r in train]
        loss = [r["loss"] for r in train]
        width = max(1, len(loss) // 50)
        a_loss.plot(steps, loss, color=c, alpha=0.25, linewidth=0.8)
        a_loss.plot(steps, smooth(loss, width), color=c, linewidth=1.6, label=f"{label} train")
        if val:
            a_loss.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o--", color=c,
                        markerfacecolor="white", label=f"{label} val")
        a_lr.plot(steps, [r.get("lr", float("nan")) for r in train], color=c, label=label)
        a_tps.plot(steps, [r.get("tokens_per_s", float("nan")) for r in train], color=c,
                   alpha=0.8, linewidth=0.8, label=label)
        a_gn.plot(steps, [r.get("grad_norm", float("nan")) for r in train], color=c,
                  alpha=0.8, linewidth=0.8, label=label)
        # MFU on a second axis; not when it exceeds 100 % somewhere: then the
        # peak was measured on a busy machine and the ratio means nothing
        mfus = [r.get("mfu", 0) for r in train]
        if len(args.runs) == 1 and "mfu" in train[0] and 0 < max(mfus) <= 1:
            a_mfu = a_tps.twinx()
            a_mfu.plot(steps, [100 * r["mfu"] for r in train], color="grey", alpha=0.0)
            lo, hi = a_tps.get_ylim()
            tps0 = train[0]["tokens_per_s"] / max(train[0]["mfu"], 1e-12)  # tokens/s at 100% MFU
            a_mfu.set_ylim(100 * lo / tps0, 100 * hi / tps0)
            a_mfu.set_ylabel("MFU (%)")
    a_loss.set(title="loss (nats per token)", xlabel="update", ylabel="cross-entropy")
    a_loss.legend(fontsize=8)
    a_lr.set(title="learning rate", xlabel="update")
    a_tps.set(title="throughput", xlabel="update", ylabel="tokens/s")
    a_gn.set(title="gradient norm (before clipping)", xlabel="update")
    if len(args.runs) > 1:
        a_lr.legend(fontsize=8)
    for a in ax.flat:
        a.grid(alpha=0.3)
    fig.suptitle(args.title or ", ".join(args.runs))
    fig.tight_layout()
    out = args.out or os.path.join(args.runs[0], "metrics.png")
    fig.savefig(out, dpi=110)
    print(f"plot_metrics: wrote {out}")


if __name__ == "__main__":
    main()
