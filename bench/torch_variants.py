#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""torch_variants.py: which way of writing torch_peer.py is fastest, measured
so that a busy machine hits every variant alike: all variants live in ONE
process and their training updates are interleaved (A, B, C, A, B, C, …).

    /usr/bin/python3 bench/torch_variants.py [--threads 2] [--rounds 8] [--warmup 1]
        [--d 256 --L 4 --H 4 --w 128 --T 2048 --B 1 --V 256]
        [--variants "cat:128,cat:64,cat:256,func:128,func:64,loop:128,cat:128:jit"]  (the default)

A variant is ATTN:BQ[:jit] (torch_peer.py --attn ATTN --bq BQ [--jit]); the
eager or TorchScript helpers are swapped in before each variant's update. Prints per variant the best
and median update time and tokens/s, and the ratio of each median to the
first variant's, then one JSON line.
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    for k, v in (("d", 256), ("L", 4), ("H", 4), ("w", 128), ("T", 2048), ("B", 1), ("V", 256)):
        ap.add_argument("--" + k, type=int, default=v)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--variants", default="cat:128,cat:64,cat:256,func:128,func:64,loop:128,cat:128:jit")
    ap.add_argument("--no-reexec", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    want = str(a.threads)
    if (os.environ.get("OMP_NUM_THREADS") != want or os.environ.get("BLIS_NUM_THREADS") != want) \
            and not a.no_reexec:
        env = dict(os.environ, OMP_NUM_THREADS=want, BLIS_NUM_THREADS=want)
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
                  + ["--no-reexec"], env)
    sys.path.insert(0, HERE)
    import torch
    import torch_peer as tp
    torch.set_num_threads(a.threads)
    specs = [v.split(":") for v in a.variants.split(",")]
    eager = dict(tp.HELPERS)
    jit = {k: torch.jit.script(fn) for k, fn in eager.items()}
    f = tp.default_f(a.d)
    fpt, _ = tp.flops_per_token(a.d, a.L, f, a.V, a.w)
    args = argparse.Namespace(T=a.T, B=a.B, V=a.V, seed=1234, data="")
    data = tp.batches(args, 4)
    runs = []
    for s in specs:
        m = tp.Peer(a.V, a.d, a.L, a.H, f, a.w, a.T, torch.float32, s[0], int(s[1])).init_weights(1234)
        runs.append({"name": ":".join(s), "model": m, "opt": tp.make_optimizer(m, 3e-4), "t": [],
                     "helpers": jit if len(s) > 2 and s[2] == "jit" else eager})
    for r in range(a.warmup + a.rounds):
        for v in runs:
            x, y = data[r % len(data)]
            tp.HELPERS.update(v["helpers"])
            t0 = time.perf_counter()
            tp.train_update(v["model"], v["opt"], x, y, 3e-4)
            dt = time.perf_counter() - t0
            if r >= a.warmup:
                v["t"].append(dt)
    peak, _ = tp.sgemm_peak()
    tok = a.B * a.T
    print("torch %s, %d threads, d %d L %d H %d w %d T %d B %d; %d interleaved rounds; load %s; "
          "torch.mm peak %.1f GFLOP/s" % (torch.__version__, a.threads, a.d, a.L, a.H, a.w, a.T, a.B,
                                          a.rounds, open("/proc/loadavg").read().split()[0], peak))
    print("%-14s %10s %10s %10s %10s %8s %7s" % ("variant", "best ms", "median ms", "best tok/s",
                                                  "med tok/s", "vs 1st", "MFU"))
    base = statistics.median(runs[0]["t"])
    out = []
    for v in runs:
        b, m = min(v["t"]), statistics.median(v["t"])
        print("%-14s %10.1f %10.1f %10.0f %10.0f %8.2f %6.1f%%" % (v["name"], b * 1e3, m * 1e3, tok / b, tok / m,
                                                                 base / m, 100 * fpt * tok / b / (peak * 1e9)))
        out.append({"variant": v["name"], "best_ms": round(b * 1e3, 2), "median_ms": round(m * 1e3, 2)})
    print(json.dumps({"threads": a.threads, "peak_gflops": round(peak, 1), "variants": out}))


if __name__ == "__main__":
    main()
