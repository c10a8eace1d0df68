#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The ablation tools end to end at toy size: tools/run_ablations.sh trains two
# variants of configs/ablations/ (base = SWAT, softmax) for a few updates on
# tests/data/wisdom.txt with tiny sizes (--set), scores them at 1x/4x/16x the
# training length; a second call skips everything (idempotent);
# tools/ablation_report.py prints the table (checked row by row against the
# eval JSON), the validation curve with a --gap column (checked against
# metrics.jsonl) and, over a repeat with another seed, means and ranges
# (checked against both runs' JSON), and writes five PNGs (checked: PNG
# signature, non-empty); bad input to both tools is one line and a non-zero
# exit.
# usage: tests/run_ablation_report.sh BUILD_DIR
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" ablations
# shellcheck disable=SC2054 # "base,softmax" is one argument
tiny=(--build "$build" --only base,softmax --steps 6 --jobs 2 --val tests/data/literature-val.txt
      --set data.train=tests/data/wisdom.txt --set data.val=tests/data/literature-val.txt
      --set model.hidden_size=32 --set model.num_hidden_layers=2 --set model.num_heads=4
      --set model.window_size=8 --set data.seq_len=32 --set data.batch_size=4
      --set train.warmup_steps=2 --set train.eval_every=3 --set data.val_samples=8
      --set train.log_every=1 --set train.peak_gflops=1 --set checkpoint.every=3)

tools/run_ablations.sh "${tiny[@]}" "$work/runs" | tee "$work/run1.log"
for v in base softmax; do
    d=$work/runs/$v
    [ -f "$d/ckpt-00000006.h5" ] || fail "$v: no final checkpoint: $(ls "$d")"
    for m in 1 4 16; do [ -s "$d/eval-${m}x.json" ] || fail "$v: no eval-${m}x.json"; done
done
# idempotent: nothing trained or scored again, nothing rewritten
stamp=$(stat -c %Y:%s "$work"/runs/*/eval-*.json "$work"/runs/*/ckpt-*.h5 | md5sum)
tools/run_ablations.sh "${tiny[@]}" "$work/runs" | tee "$work/run2.log"
grep -q 'base: trained already (step 6 of 6' "$work/run2.log" || fail "second run did not skip base's training"
grep -q 'val loss at' "$work/run2.log" && fail "second run evaluated again"
[ "$(stat -c %Y:%s "$work"/runs/*/eval-*.json "$work"/runs/*/ckpt-*.h5 | md5sum)" = "$stamp" ] ||
    fail "second run rewrote a checkpoint or an evaluation"

swat_py tools/ablation_report.py "$work/runs" --out "$work/out" --gap base,softmax | tee "$work/report.md"
swat_py - "$work" <<'PY'
import json, math, sys
work = sys.argv[1]
rows = {}
for line in open(f"{work}/report.md"):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if line.startswith("| ") and len(cells) == 14 and cells[0] != "variant":
        rows[cells[0]] = cells
assert set(rows) == {"base", "softmax"}, rows
for v, attn in (("base", "sigmoid"), ("softmax", "softmax")):
    r = rows[v]
    assert r[1:8] == [attn, "balanced", "halving", "on", "8", "32", f"{(256*32 + 2*(4*32*32 + 3*32*256 + 64) + 32)/1e6:.2f} M"], r
    ev = {m: json.load(open(f"{work}/runs/{v}/eval-{m}x.json")) for m in (1, 4, 16)}
    for i, m in enumerate((1, 4, 16)):
        assert ev[m]["seq_len"] == 32 * m, ev[m]
        assert r[9 + i] == f"{ev[m]['loss']:.4f}", (r, ev[m])
    assert r[12] == f"{ev[1]['loss'] / math.log(2):.3f}", r
    assert len(ev[16]["buckets"]) == 7, ev[16]  # 0-8-16-32-64-128-256-512
    recs = [json.loads(l) for l in open(f"{work}/runs/{v}/metrics.jsonl")]
    losses = [x["loss"] for x in recs if "loss" in x]
    assert len(losses) == 6 and r[8] == f"{losses[-1]:.4f}", (r, losses)  # 5% of 6 -> the last one
# the validation curve: evaluations at updates 3 and 6, the gap base - softmax
val = {v: {x["step"]: x["val_loss"] for x in map(json.loads, open(f"{work}/runs/{v}/metrics.jsonl"))
           if "val_loss" in x} for v in ("base", "softmax")}
curve = [l for l in open(f"{work}/report.md") if l.startswith("| 3 |") or l.startswith("| 6 |")]
assert len(curve) == 2, curve
for line in curve:
    c = [x.strip() for x in line.strip().strip("|").split("|")]
    s = int(c[0])
    assert c[2:] == [f"{val['base'][s]:.4f}", f"{val['softmax'][s]:.4f}",
                     f"{val['base'][s] - val['softmax'][s]:.4f}"], (c, val)
print("report table and validation curve: OK")
PY
# a repeat with another seed: mean (min-max) of the two runs per variant
tools/run_ablations.sh "${tiny[@]}" --only base --set train.seed=2 "$work/runs2" >/dev/null
swat_py tools/ablation_report.py "$work/runs" "$work/runs2" --out "$work/out" --name seeds | tee "$work/seeds.md"
swat_py - "$work" <<'PY'
import json, sys
work = sys.argv[1]
rows = [l for l in open(f"{work}/seeds.md") if l.startswith("| base |")]
assert len(rows) == 1 and not any(l.startswith("| softmax |") for l in open(f"{work}/seeds.md")), rows
c = [x.strip() for x in rows[0].strip().strip("|").split("|")]
a, b = (json.load(open(f"{work}/{d}/base/eval-1x.json"))["loss"] for d in ("runs", "runs2"))
assert a != b, "seed 2 gave the same loss"
assert c[9] == f"{(a + b) / 2:.4f} ({min(a, b):.4f}–{max(a, b):.4f})", (c[9], a, b)
print("repeats: OK")
PY
for p in ablation-train-loss ablation-val-length ablation-positions ablation-val-curve ablation-gap seeds-val-curve; do
    f=$work/out/img/$p.png
    [ -s "$f" ] || fail "$f missing or empty"
    [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$f is not a PNG"
    [ "$(stat -c %s "$f")" -gt 2000 ] || fail "$f is suspiciously small"
done

# bad input: one line on stderr, non-zero exit
bad() { # expected-substring command…
    local want=$1 rc=0
    shift
    "$@" >"$work/out.txt" 2>"$work/err.txt" || rc=$?
    [ "$rc" -ne 0 ] || fail "'$*' exited 0"
    [ "$(wc -l <"$work/err.txt")" -eq 1 ] || fail "'$*': not one line: $(cat "$work/err.txt")"
    grep -q -- "$want" "$work/err.txt" || fail "'$*': '$want' not in: $(cat "$work/err.txt")"
}
bad "no such directory" swat_py tools/ablation_report.py "$work/nothing"
mkdir "$work/empty"
bad "no run directories" swat_py tools/ablation_report.py "$work/empty"
bad "no run named nope" swat_py tools/ablation_report.py "$work/runs" --out "$work/out" --gap base,nope
bad "two run names" swat_py tools/ablation_report.py "$work/runs" --out "$work/out" --gap base
bad "--name" swat_py tools/ablation_report.py "$work/runs" --out "$work/out" --name "a/b"
bad "no variant 'nope'" tools/run_ablations.sh --only nope "$work/runs"
bad "--steps needs" tools/run_ablations.sh --steps 0 "$work/runs"
bad "--jobs needs" tools/run_ablations.sh --jobs x "$work/runs"
bad "no such file" tools/run_ablations.sh --build "$build" --val "$work/none.txt" "$work/runs"
bad "model.nope=1: unknown key nope" tools/run_ablations.sh --build "$build" --set model.nope=1 \
    --val tests/data/literature-val.txt "$work/runs"
bad "not complete" tools/run_ablations.sh --build "$build" --eval-only --only base \
    --val tests/data/literature-val.txt "$work/empty"
echo "ablation tools: OK"
