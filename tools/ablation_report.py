#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The ablation report: a markdown table and loss plots from the run
directories tools/run_ablations.sh (or jobs/ablations.sbatch) leaves.

    python3 tools/ablation_report.py RUNS_DIR [RUNS_DIR2 ...] [--out DIR] [--name NAME]
                                     [--gap A,B] [--gnuplot PATH]

RUNS_DIR holds one directory per variant, each with swat-train's config.ini
and metrics.jsonl and the evaluations eval-1x.json, eval-4x.json and
eval-16x.json (the last with position buckets). Prints to stdout:

  - the table: variant, attention, ALiBi signs and sizes (alibi_magnitudes,
    resolved), RoPE, window w, training length T, lr (when the runs differ
    in it), parameters, final training loss (mean over the last 5% of the
    updates), validation loss at 1x, 4x and 16x T, bits per byte at 1x T
    (byte models), training time;
  - the mean loss by position bucket at 16x T;
  - when runs evaluated during training (eval_every): the validation loss at
    each evaluation, one column per run, and with --gap A,B the difference
    val(A) - val(B) at each of them (the trend of a gap with training).

Several RUNS_DIRs are repeats of one set (other seeds, --set train.seed=N):
the table then gives, per variant found in all of them, the mean and the
(min-max) over the repeats; the rest of the report uses the first.

Writes DIR/img/NAME-train-loss.png (training loss against the step, moving
average over 5% of the updates), NAME-val-length.png (val loss against the
evaluation length), NAME-positions.png (loss by position bucket at 16x T)
and, with evaluations during training, NAME-val-curve.png (val loss against
tokens seen) and with --gap NAME-gap.png (the difference against tokens
seen), drawn by gnuplot. DIR defaults to RUNS_DIR, NAME to ablation.
A missing value prints as "—". Runs that differ in a [train] or [data] key
other than the variant's (steps, seed, batch, data, ...) are named in a
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
ORDER = ["base", "softmax", "alibi-none", "alibi-negative", "alibi-positive", "alibi-balanced-alibi",
         "alibi-negative-halving", "alibi-positive-halving", "no-rope", "sigmoid-bias", "full-window",
         "softmax-full-window", "sigmoid-lr1e-3", "sigmoid-lr4e-3", "sigmoid-lr8e-3"]
# line colours, one per run (cycled); sigmoid runs solid, softmax dashed
COLOURS = ["#9400d3", "#009e73", "#56b4e9", "#e69f00", "#c8b400", "#0072b2", "#ff69b4",
           "#e51e10", "#000000", "#8b4513", "#808080", "#00ced1"]
# keys that may differ between variants (what an ablation varies, or bookkeeping)
VARIED = {("checkpoint", "dir"), ("data", "seq_len"), ("train", "log_every"), ("train", "lr"),
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
    """Every parameter (docs/model.md): embedding (+ untied head), per layer q,k,v,o,
    gate, up, down and two RMSNorm weights, the final norm."""
    V, d = geti(cp, "model", "vocab_size", 256), geti(cp, "model", "hidden_size")
    L, f = geti(cp, "model", "num_hidden_layers"), geti(cp, "model", "intermediate_size")
    if f <= 0:
        f = 256 * math.ceil((8 * d // 3) / 256)
    tied = get(cp, "model", "tie_word_embeddings", "true").lower() in ("true", "1", "yes", "on")
    return V * d * (1 if tied else 2) + L * (4 * d * d + 3 * d * f + 2 * d) + d


def magnitudes(cp):
    """alibi_magnitudes as the model used it (auto resolved; '—' without ALiBi)."""
    alibi = get(cp, "model", "alibi", "balanced")
    if alibi == "none":
        return "—"
    m = get(cp, "model", "alibi_magnitudes", "auto")
    return ("halving" if alibi == "balanced" else "alibi") if m == "auto" else m


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
        "sizes": magnitudes(cp),
        "lr": get(cp, "train", "lr", "?"),
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


def _stat(vals, nd):
    """'mean' of one value, 'mean (min–max)' of several; '—' when any is missing."""
    if not vals or any(v is None for v in vals):
        return "—"
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return f"{mean:.{nd}f}"
    return f"{mean:.{nd}f} ({min(vals):.{nd}f}–{max(vals):.{nd}f})"


def table(runs, repeats=()):
    """One row per run; with repeats (lists of runs of the other RUNS_DIRs),
    each value is the mean (min–max) over the run and its namesakes."""
    by_name = [{r["name"]: r for r in rs} for rs in repeats]
    show_lr = len({r["lr"] for r in runs}) > 1
    out = []
    head = ["variant", "attention", "ALiBi", "sizes", "RoPE", "w", "T"] + (["lr"] if show_lr else [])
    head += ["params", "train loss (last 5%)"]
    head += [f"val {m}× T" for m in MULTS] + ["bpb 1× T", "train min"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join("---" if i < 5 else "---:" for i in range(len(head))) + "|")
    for r in runs:
        group = [r] + [b[r["name"]] for b in by_name if r["name"] in b]
        if len(group) < 1 + len(by_name):
            continue  # not in every repeat
        name = r["name"]
        if r["done"] < r["steps"]:
            name += f" (step {r['done']} of {r['steps']})"
        rope = "on" if r["rope"].lower() in ("true", "1", "yes", "on") else "off"
        row = [name, r["attention"], r["alibi"], r["sizes"], rope, str(r["w"]) if r["w"] else "full", str(r["T"])]
        row += [r["lr"]] if show_lr else []
        row += [f"{r['params'] / 1e6:.2f} M", _stat([g["final"] for g in group], 4)]
        row += [_stat([eval_loss(g, m) for g in group], 4) for m in MULTS]
        v1 = [eval_loss(g, 1) for g in group]
        row += [_stat([v / math.log(2) if v is not None else None for v in v1], 3) if r["bytes"] else "—",
                _stat([g["train_s"] / 60 for g in group], 1)]
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


def val_curves(runs, gap=None):
    """The validation loss at each evaluation during training, a column per
    run (runs with at least two evaluations); with gap = (A, B) a last
    column val(A) − val(B)."""
    runs = [r for r in runs if len(r["val"]) >= 2]
    if not runs:
        return ""
    steps = sorted({v["step"] for r in runs for v in r["val"]})
    at = {r["name"]: {v["step"]: v["val_loss"] for v in r["val"]} for r in runs}
    tok = {r["name"]: r["B"] * r["T"] for r in runs}
    names = [r["name"] for r in runs]
    g = gap if gap and all(n in at for n in gap) else None
    head = ["update", "tokens"] + names + ([f"{g[0]} − {g[1]}"] if g else [])
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
    for s in steps:
        row = [str(s), human(s * tok[names[0]])] + [fmt(at[n].get(s)) for n in names]
        if g:
            a, b = at[g[0]].get(s), at[g[1]].get(s)
            row.append(fmt(a - b if a is not None and b is not None else None))
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


def plots(runs, img, gnuplot, name="ablation", gap=None):
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
        script.append(f"set output {q(os.path.join(img, name + '-train-loss.png'))}")
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
        script.append(f"set output {q(os.path.join(img, name + '-val-length.png'))}")
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
        script.append(f"set output {q(os.path.join(img, name + '-positions.png'))}")
        script.append(f"set title 'loss by position in the sequence, evaluated at {MULTS[-1]}x the training length'")
        script.append("set xlabel 'position in the evaluated sequence (buckets 0–w, w–2w, 2w–4w, ...)'")
        script.append("set ylabel 'mean loss in the bucket (nats/token)'")
        for j, x in enumerate(sorted(marks)):  # "w=64", "w=T=256"
            what = "=".join(sorted(marks[x], reverse=True))
            script.append(f"set arrow {j + 1} from {x}, graph 0 to {x}, graph 1 nohead dt 3 lc rgb 'gray40'")
            script.append(f"set label {j + 10} {q(f'{what}={x}')} at {x}, graph 0.97 offset 0.5,0 tc rgb 'gray40'")
        script.append("plot " + ", ".join(series) if series else "set label 1 'no position buckets' at graph 0.5,0.5; plot [1:2][0:1] NaN notitle")
        made = ["train-loss", "val-length", "positions"]

        # 4. validation loss during training, against tokens seen
        series = []
        for i, r in enumerate(runs):
            if len(r["val"]) < 2:
                continue
            f = os.path.join(tmp, f"val{i}.dat")
            with open(f, "w") as fh:
                fh.writelines(f"{v['step'] * r['B'] * r['T']} {v['val_loss']:.6f}\n" for v in r["val"])
            series.append(f"{q(f)} using 1:2 with linespoints lw 2 pt 7 ps 0.6 {style(r, i)} title {q(r['name'])}")
        if series:
            script.append("unset arrow; unset label; unset logscale x; set logscale x 10")
            script.append(f"set output {q(os.path.join(img, name + '-val-curve.png'))}")
            script.append("set title 'validation loss during training'")
            script.append("set xlabel 'tokens seen'; set ylabel 'validation loss (nats/token)'")
            script.append("plot " + ", ".join(series))
            made.append("val-curve")

        # 5. the gap val(A) - val(B) during training
        by = {r["name"]: r for r in runs}
        if gap and all(len(by[g]["val"]) >= 2 for g in gap):
            a, b = ({v["step"]: v["val_loss"] for v in by[g]["val"]} for g in gap)
            per = by[gap[0]]["B"] * by[gap[0]]["T"]
            f = os.path.join(tmp, "gap.dat")
            with open(f, "w") as fh:
                fh.writelines(f"{st * per} {a[st] - b[st]:.6f}\n" for st in sorted(set(a) & set(b)))
            script.append(f"set output {q(os.path.join(img, name + '-gap.png'))}")
            script.append(f"set title {q(f'validation loss of {gap[0]} minus {gap[1]} during training')}")
            script.append("set xlabel 'tokens seen'; set ylabel 'difference (nats/token)'; set yrange [0:*]")
            script.append(f"plot {q(f)} using 1:2 with linespoints lw 2 pt 7 lc rgb '#9400d3' notitle")
            made.append("gap")

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
    return [os.path.join(img, f"{name}-{n}.png") for n in made]


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends the output quietly
    ap = argparse.ArgumentParser(description="Ablation report: markdown table and gnuplot PNGs.")
    ap.add_argument("runs_dir", metavar="RUNS_DIR", nargs="+",
                    help="run directories of one set; more than one: repeats (other seeds)")
    ap.add_argument("--out", metavar="DIR", help="PNGs go to DIR/img/ (default the first RUNS_DIR)")
    ap.add_argument("--name", default="ablation", help="file name prefix of the PNGs (default ablation)")
    ap.add_argument("--gap", metavar="A,B", help="print val(A) - val(B) at each evaluation during training")
    ap.add_argument("--gnuplot", default=shutil.which("gnuplot") or "/usr/bin/gnuplot")
    a = ap.parse_args()
    try:
        if not all(c.isalnum() or c in "-_." for c in a.name) or not a.name:
            raise Bad(f"--name {a.name!r}: use letters, digits, '-', '_' or '.'")
        gap = None
        if a.gap:
            gap = tuple(a.gap.split(","))
            if len(gap) != 2 or not all(gap):
                raise Bad(f"--gap {a.gap!r}: give two run names, A,B")
        sets = [find_runs(d) for d in a.runs_dir]
        if not (os.path.isfile(a.gnuplot) and os.access(a.gnuplot, os.X_OK)):
            raise Bad(f"gnuplot not found ({a.gnuplot}): apt-get install gnuplot-nox, or give --gnuplot PATH")
        runs = [read_run(n, p) for n, p in sets[0]]
        repeats = [[read_run(n, p) for n, p in found] for found in sets[1:]]
        if not any(r["train"] for r in runs):
            raise Bad(f"{a.runs_dir[0]}: no run has a metrics.jsonl with an update in it")
        if gap and not all(any(r["name"] == g for r in runs) for g in gap):
            raise Bad(f"--gap {a.gap}: no run named {[g for g in gap if not any(r['name'] == g for r in runs)][0]}"
                      f" in {a.runs_dir[0]}")
        check_alike(runs)
        r0 = runs[0]
        what = f"{len(runs)} runs in {a.runs_dir[0]}"
        if repeats:
            what += f", repeated in {', '.join(a.runs_dir[1:])}: mean (min–max) over the {len(sets)}"
        print(f"## Ablations: {what}\n")
        print(table(runs, repeats))
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
        curves = val_curves(runs, gap)
        if curves:
            print("\n### Validation loss during training\n")
            print(curves)
        out = a.out if a.out is not None else a.runs_dir[0]
        pngs = plots(runs, os.path.join(out, "img"), a.gnuplot, a.name, gap)
        print("\nplots: " + ", ".join(pngs))
    except Bad as e:
        print(f"ablation_report: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
