#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The ablation report: a markdown table and loss plots from the run
directories tools/run_ablations.sh (or jobs/ablations.sbatch) leaves.

    python3 tools/ablation_report.py RUNS_DIR [--out DIR] [--gnuplot PATH]

RUNS_DIR holds one directory per variant, each with swat-train's config.ini
and metrics.jsonl and the evaluations eval-1x.json, eval-4x.json and
eval-16x.json (the last with position buckets). Prints to stdout:

  - the table: variant, attention, ALiBi, RoPE, window w, training length T,
    parameters, final training loss (mean over the last 5% of the updates),
    validation loss at 1x, 4x and 16x T, bits per byte at 1x T (byte models),
    training time;
  - the mean loss by position bucket at 16x T;

and writes DIR/img/ablation-train-loss.png (training loss against the step,
moving average over 5% of the updates), DIR/img/ablation-val-length.png (val
loss against the evaluation length) and DIR/img/ablation-positions.png (loss
by position bucket at 16x T), drawn by gnuplot. DIR defaults to RUNS_DIR.
A missing value prints as "—". Runs that differ in a [train] or [data] key
other than the variant's (steps, lr, seed, batch, data, ...) are named in a
warning on stderr: such rows do not compare like with like.

Standard library and gnuplot only. Exit 0; 2 with one line on bad input (no
such directory, no run in it, gnuplot missing or failing).
"""
import argparse
import configparser
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile

MULTS = (1, 4, 16)
# table order: the baseline, then what varies one thing, then the rest by name
ORDER = ["base", "softmax", "alibi-none", "alibi-negative", "alibi-positive", "no-rope",
         "sigmoid-bias", "full-window", "softmax-full-window"]
# line colours, one per run (cycled); sigmoid runs solid, softmax dashed
COLOURS = ["#9400d3", "#009e73", "#56b4e9", "#e69f00", "#c8b400", "#0072b2", "#ff69b4",
           "#e51e10", "#000000", "#8b4513", "#808080", "#00ced1"]
# keys that may differ between variants (what an ablation varies, or bookkeeping)
VARIED = {("checkpoint", "dir"), ("data", "seq_len"), ("train", "log_every"),
          ("train", "eval_every"), ("train", "peak_gflops"), ("parallel", "threads")}


class Bad(Exception):
    pass


def load_config(path):
    cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"))
    try:
        with open(path) as f:
            cp.read_file(f)
    except (OSError, configparser.Error) as e:
        raise Bad(f"{path}: cannot read the config: {e}".splitlines()[0])
    return cp


def load_metrics(path):
    train, val, bad = [], [], 0
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return train, val
    for line in lines:
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except ValueError:
            bad += 1  # a run killed mid-write leaves a torn last line
            continue
        if "val_loss" in r:
            val.append(r)
        elif "loss" in r:
            train.append(r)
    if bad:
        print(f"ablation_report: warning: {path}: {bad} unreadable line(s) skipped", file=sys.stderr)
    return train, val


def load_eval(path):
    try:
        with open(path) as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None


def get(cp, sec, key, default=None):
    try:
        return cp.get(sec, key)
    except (configparser.NoSectionError, configparser.NoOptionError):
        return default


def geti(cp, sec, key, default=0):
    try:
        return int(get(cp, sec, key, default))
    except (TypeError, ValueError):
        return default


def count_params(cp):
    """Every parameter (SPEC §1): embedding (+ untied head), per layer q,k,v,o,
    gate, up, down and two RMSNorm weights, the final norm."""
    V, d = geti(cp, "model", "vocab_size", 256), geti(cp, "model", "hidden_size")
    L, f = geti(cp, "model", "num_hidden_layers"), geti(cp, "model", "intermediate_size")
    if f <= 0:
        f = 256 * math.ceil((8 * d // 3) / 256)
    tied = get(cp, "model", "tie_word_embeddings", "true").lower() in ("true", "1", "yes", "on")
    return V * d * (1 if tied else 2) + L * (4 * d * d + 3 * d * f + 2 * d) + d


def read_run(name, path):
    cp = load_config(os.path.join(path, "config.ini"))
    train, val = load_metrics(os.path.join(path, "metrics.jsonl"))
    evals = {m: load_eval(os.path.join(path, f"eval-{m}x.json")) for m in MULTS}
    steps = geti(cp, "train", "steps")
    tail = max(1, round(0.05 * len(train)))
    return {
        "name": name, "cfg": cp, "train": train, "val": val, "evals": evals,
        "attention": get(cp, "model", "attention", "sigmoid"),
        "alibi": get(cp, "model", "alibi", "balanced"),
        "rope": get(cp, "model", "rope", "true"),
        "w": geti(cp, "model", "window_size"),
        "T": geti(cp, "data", "seq_len"),
        "B": geti(cp, "data", "batch_size"),
        "bytes": get(cp, "data", "format", "bytes") == "bytes",
        "params": count_params(cp),
        "steps": steps,
        "done": train[-1]["step"] if train else 0,
        "final": sum(r["loss"] for r in train[-tail:]) / tail if train else None,
        "train_s": sum(r.get("step_s", 0.0) for r in train),
    }


def find_runs(root):
    if not os.path.isdir(root):
        raise Bad(f"{root}: no such directory")
    if os.path.isfile(os.path.join(root, "config.ini")):  # one run directory
        return [(os.path.basename(os.path.normpath(root)), root)]
    runs = [(n, os.path.join(root, n)) for n in os.listdir(root)
            if os.path.isfile(os.path.join(root, n, "config.ini"))]
    if not runs:
        raise Bad(f"{root}: no run directories in it (subdirectories with a config.ini; "
                  "tools/run_ablations.sh makes them)")
    rank = {n: i for i, n in enumerate(ORDER)}
    return sorted(runs, key=lambda r: (rank.get(r[0], len(ORDER)), r[0]))


def check_alike(runs):
    """Warns about [train]/[data] keys that differ between runs."""
    keys = set()
    for r in runs:
        for sec in ("train", "data"):
            if r["cfg"].has_section(sec):
                keys |= {(sec, k) for k in r["cfg"].options(sec)}
    for sec, k in sorted(keys - VARIED):
        vals = {r["name"]: get(r["cfg"], sec, k) for r in runs}
        if len(set(vals.values())) > 1:
            shown = ", ".join(f"{n}={v}" for n, v in vals.items())
            print(f"ablation_report: warning: runs differ in [{sec}] {k}: {shown}", file=sys.stderr)


def human(n):
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e3 else str(n)


def fmt(x, nd=4):
    return "—" if x is None else f"{x:.{nd}f}"


def eval_loss(r, m):
    e = r["evals"].get(m)
    return e.get("loss") if e else None


def table(runs):
    out = []
    head = ["variant", "attention", "ALiBi", "RoPE", "w", "T", "params", "train loss (last 5%)"]
    head += [f"val {m}× T" for m in MULTS] + ["bpb 1× T", "train min"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join("---" if i < 4 else "---:" for i in range(len(head))) + "|")
    for r in runs:
        name = r["name"]
        if r["done"] < r["steps"]:
            name += f" (step {r['done']} of {r['steps']})"
        v1 = eval_loss(r, 1)
        bpb = v1 / math.log(2) if (v1 is not None and r["bytes"]) else None
        rope = "on" if r["rope"].lower() in ("true", "1", "yes", "on") else "off"
        row = [name, r["attention"], r["alibi"], rope, str(r["w"]) if r["w"] else "full",
               str(r["T"]), f"{r['params'] / 1e6:.2f} M", fmt(r["final"])]
        row += [fmt(eval_loss(r, m)) for m in MULTS] + [fmt(bpb, 3), fmt(r["train_s"] / 60, 1)]
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


def bucket_lines(runs):
    out = []
    m = MULTS[-1]
    for r in runs:
        e = r["evals"].get(m)
        if not e or "buckets" not in e:
            out.append(f"- {r['name']}: —")
            continue
        parts = [f"{b['from']}–{b['to']}: {b['loss']:.3f}" for b in e["buckets"]]
        out.append(f"- {r['name']} (T = {e.get('seq_len')}): " + ", ".join(parts))
    return "\n".join(out)


def smooth(ys, k):
    """Trailing moving average over k points."""
    out, s = [], 0.0
    for i, y in enumerate(ys):
        s += y
        if i >= k:
            s -= ys[i - k]
        out.append(s / min(i + 1, k))
    return out


def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def style(r, i):
    return f"lc rgb '{COLOURS[i % len(COLOURS)]}' " + ("dt 1" if r["attention"] == "sigmoid" else "dt 2")


def plots(runs, img, gnuplot):
    os.makedirs(img, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="ablation-report.")
    try:
        script = []
        term = "set terminal pngcairo size 960,600 font 'sans,10' noenhanced"
        script.append(term)
        script.append("set grid; set key outside right top; set border lw 1")

        # 1. training loss against the step, smoothed
        series, ymax, ymin = [], None, None
        for i, r in enumerate(runs):
            if not r["train"]:
                continue
            xs = [t["step"] for t in r["train"]]
            ys = smooth([t["loss"] for t in r["train"]], max(1, len(xs) // 20))
            f = os.path.join(tmp, f"train{i}.dat")
            with open(f, "w") as fh:
                fh.writelines(f"{x} {y:.6f}\n" for x, y in zip(xs, ys))
            series.append(f"{q(f)} using 1:2 with lines lw 2 {style(r, i)} title {q(r['name'])}")
            at = ys[min(len(ys) - 1, len(ys) // 10)]  # start the y axis where the curves separate
            ymax = at if ymax is None else max(ymax, at)
            lo = min(ys)
            ymin = lo if ymin is None else min(ymin, lo)
        script.append(f"set output {q(os.path.join(img, 'ablation-train-loss.png'))}")
        script.append("set title 'training loss (trailing moving average over 5% of the updates)'")
        script.append("set xlabel 'update'; set ylabel 'loss (nats/token)'")
        if ymax is not None and ymax > ymin:
            pad = 0.05 * (ymax - ymin)
            script.append(f"set yrange [{ymin - pad:.4f}:{ymax + pad:.4f}]")
        script.append("plot " + ", ".join(series) if series else "set label 1 'no metrics' at graph 0.5,0.5; plot [0:1][0:1] NaN notitle")
        script.append("unset label 1; set yrange [*:*]")

        # 2. validation loss against the evaluation length
        series = []
        for i, r in enumerate(runs):
            pts = [(r["evals"][m].get("seq_len"), r["evals"][m].get("loss"))
                   for m in MULTS if r["evals"].get(m)]
            if not pts:
                continue
            f = os.path.join(tmp, f"len{i}.dat")
            with open(f, "w") as fh:
                fh.writelines(f"{x} {y:.6f}\n" for x, y in pts)
            series.append(f"{q(f)} using 1:2 with linespoints lw 2 pt 7 {style(r, i)} title {q(r['name'])}")
        script.append(f"set output {q(os.path.join(img, 'ablation-val-length.png'))}")
        script.append("set title 'validation loss against the evaluation length (trained on T)'")
        script.append("set xlabel 'evaluation sequence length (tokens)'; set ylabel 'loss (nats/token)'")
        script.append("set logscale x 2")
        script.append("plot " + ", ".join(series) if series else "set label 1 'no evaluations' at graph 0.5,0.5; plot [1:2][0:1] NaN notitle")
        script.append("unset label 1")

        # 3. loss by position bucket at 16x T
        series, marks = [], {}
        for i, r in enumerate(runs):
            e = r["evals"].get(MULTS[-1])
            if not e or not e.get("buckets"):
                continue
            f = os.path.join(tmp, f"pos{i}.dat")
            with open(f, "w") as fh:  # a step over each bucket [from, to)
                for b in e["buckets"]:
                    fh.write(f"{max(b['from'], 1)} {b['loss']:.6f}\n{b['to']} {b['loss']:.6f}\n")
            series.append(f"{q(f)} using 1:2 with lines lw 2 {style(r, i)} title {q(r['name'])}")
            if r["w"]:
                marks.setdefault(r["w"], set()).add("w")
            marks.setdefault(r["T"], set()).add("T")
        script.append(f"set output {q(os.path.join(img, 'ablation-positions.png'))}")
        script.append(f"set title 'loss by position in the sequence, evaluated at {MULTS[-1]}x the training length'")
        script.append("set xlabel 'position in the evaluated sequence (buckets 0–w, w–2w, 2w–4w, ...)'")
        script.append("set ylabel 'mean loss in the bucket (nats/token)'")
        for j, x in enumerate(sorted(marks)):  # "w=64", "w=T=256"
            what = "=".join(sorted(marks[x], reverse=True))
            script.append(f"set arrow {j + 1} from {x}, graph 0 to {x}, graph 1 nohead dt 3 lc rgb 'gray40'")
            script.append(f"set label {j + 10} {q(f'{what}={x}')} at {x}, graph 0.97 offset 0.5,0 tc rgb 'gray40'")
        script.append("plot " + ", ".join(series) if series else "set label 1 'no position buckets' at graph 0.5,0.5; plot [1:2][0:1] NaN notitle")

        sp = os.path.join(tmp, "plot.gp")
        with open(sp, "w") as fh:
            fh.write("\n".join(script) + "\n")
        p = subprocess.run([gnuplot, sp], capture_output=True, text=True)
        if p.returncode != 0 and "pngcairo" in p.stderr:  # a gnuplot without cairo
            with open(sp, "w") as fh:
                fh.write("\n".join([term.replace("pngcairo", "png").replace("'sans,10'", "'sans' 10")]
                                   + script[1:]) + "\n")
            p = subprocess.run([gnuplot, sp], capture_output=True, text=True)
        if p.returncode != 0:
            msg = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise Bad(f"gnuplot failed (exit {p.returncode}): {msg}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [os.path.join(img, f"ablation-{n}.png") for n in ("train-loss", "val-length", "positions")]


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends the output quietly
    ap = argparse.ArgumentParser(description="Ablation report: markdown table and gnuplot PNGs.")
    ap.add_argument("runs_dir", metavar="RUNS_DIR")
    ap.add_argument("--out", metavar="DIR", help="PNGs go to DIR/img/ (default RUNS_DIR)")
    ap.add_argument("--gnuplot", default=shutil.which("gnuplot") or "/usr/bin/gnuplot")
    a = ap.parse_args()
    try:
        found = find_runs(a.runs_dir)
        if not (os.path.isfile(a.gnuplot) and os.access(a.gnuplot, os.X_OK)):
            raise Bad(f"gnuplot not found ({a.gnuplot}): apt-get install gnuplot-nox, or give --gnuplot PATH")
        runs = [read_run(n, p) for n, p in found]
        if not any(r["train"] for r in runs):
            raise Bad(f"{a.runs_dir}: no run has a metrics.jsonl with an update in it")
        check_alike(runs)
        r0 = runs[0]
        print(f"## Ablations: {len(runs)} runs in {a.runs_dir}\n")
        print(table(runs))
        steps = sorted({r["done"] for r in runs})
        toks = sorted({r["done"] * r["B"] * r["T"] for r in runs})
        print(f"\n{'/'.join(map(str, steps))} updates of {r0['B']} x {r0['T']} tokens "
              f"({'/'.join(human(t) for t in toks)} tokens seen); "
              f"training time summed over the runs: {sum(r['train_s'] for r in runs) / 60:.1f} min; "
              f"val = mean loss (nats/token) over every complete sample of the validation text"
              + (f" ({r0['evals'][1]['data']})" if r0["evals"].get(1) and r0["evals"][1].get("data") else "")
              + ".")
        print(f"\n### Loss by position at {MULTS[-1]}× T (bucket: mean loss)\n")
        print(bucket_lines(runs))
        out = a.out if a.out is not None else a.runs_dir
        pngs = plots(runs, os.path.join(out, "img"), a.gnuplot)
        print("\nplots: " + ", ".join(pngs))
    except Bad as e:
        print(f"ablation_report: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
