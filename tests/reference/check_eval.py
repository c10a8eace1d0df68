#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_eval.py CKPT.h5 DATA_FILE EVAL_JSON_LINE [--seq-len T] [--format bytes|llmc]

Scores DATA_FILE with the model of a swat-train checkpoint (checkpoint layout:
/model/…, /lm_head/… at the root, root attribute `config`), using the torch
reference in float64, exactly as swat-eval defines its score: n = floor((N-1)/T)
complete samples, sample i = tokens [i*T, i*T+T+1) (shuffle off), loss = mean
cross-entropy over all n*T targets. Compares with the JSON object swat-eval
printed as its last line of standard output.

  DATA_FILE        a file or a glob (files sorted by path, concatenated)
  EVAL_JSON_LINE   the JSON text itself ('{"loss": …, "tokens": …}'), or a
                   file holding swat-eval's output (its last JSON line is used)
  --seq-len T      default: [data] seq_len of the checkpoint's config
  --format F       bytes | llmc; default: [data] format of the config

Exit 0: agrees; 1: mismatch; 2: bad usage, missing or malformed file.
"""

import argparse
import json
import math
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import swat_torch as st  # noqa: E402

torch.set_num_threads(2)

# Mean loss, relative: the C side runs the forward pass in float32 (roundoff
# 6e-8 per operation; ~1e-7 relative on the loss of short sequences, a few 1e-6
# for T in the thousands, where RoPE angles and attention sums get longer) and
# prints the number in text; the reference is float64. 1e-4 is >10x that and
# still far below the effect of a real bug (a wrong sample boundary, mask or
# position changes the mean loss by > 1e-3 relative).
LOSS_RTOL = 1e-4
# perplexity must be exp(loss) of the C program's own loss, up to the printing.
PPL_RTOL = 1e-5
# Tokens per forward pass (bounds memory of the dense attention; float64).
TOKENS_PER_BATCH = 8192


def die(msg, code=2):
    print("check_eval: " + msg, file=sys.stderr)
    sys.exit(code)


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        die(message, 2)


def parse_json_arg(arg):
    text = arg.strip()
    if not text.startswith("{") and os.path.isfile(arg):
        lines = [ln.strip() for ln in open(arg, encoding="utf-8", errors="replace")]
        objs = [ln for ln in lines if ln.startswith("{")]
        if not objs:
            die("%s: no JSON line in the file" % arg)
        text = objs[-1]
    try:
        obj = json.loads(text)
    except ValueError as e:
        die("EVAL_JSON_LINE is not JSON (%s): %.80s" % (e, text))
    if not isinstance(obj, dict):
        die("EVAL_JSON_LINE is not a JSON object: %.80s" % text)
    return obj


def main(argv):
    ap = Parser(prog="check_eval.py")
    ap.add_argument("ckpt", metavar="CKPT.h5")
    ap.add_argument("data", metavar="DATA_FILE")
    ap.add_argument("json_line", metavar="EVAL_JSON_LINE")
    ap.add_argument("--seq-len", type=int, default=None)
    ap.add_argument("--format", choices=["bytes", "llmc"], default=None)
    ap.add_argument("--rtol", type=float, default=LOSS_RTOL)
    args = ap.parse_args(argv)

    import h5py
    if not os.path.isfile(args.ckpt):
        die("%s: no such file" % args.ckpt)
    c = parse_json_arg(args.json_line)
    try:
        with h5py.File(args.ckpt, "r") as f:
            cfg = st.config_from_h5(f)
            model = st.SWAT(cfg, dtype=torch.float64)
            st.load_into(model, st.load_state(f, ""), origin=args.ckpt)
    except OSError as e:
        die("%s: not an HDF5 file (%s)" % (args.ckpt, e))
    T = args.seq_len if args.seq_len is not None else cfg["data"].get("seq_len")
    if not T or T <= 0:
        die("sequence length: give --seq-len T > 0 (config has seq_len = %r)" % T)
    fmt = args.format or cfg["data"].get("format", "bytes")
    tokens = st.read_tokens(args.data, fmt)
    V = model.vocab_size
    if len(tokens) and (tokens.max() >= V or tokens.min() < 0):
        bad = int(np.argmax(tokens >= V))
        die("%s: token %d at stream offset %d >= vocab_size %d" % (args.data, int(tokens[bad]), bad, V))
    x, y = st.samples(tokens, T)
    n = len(x)
    if n == 0:
        die("%s: %d tokens hold no complete sample of T = %d" % (args.data, len(tokens), T))

    total = 0.0
    per = max(1, TOKENS_PER_BATCH // T)
    with torch.no_grad():
        for i in range(0, n, per):
            total += float(model(torch.from_numpy(x[i:i + per]), torch.from_numpy(y[i:i + per]),
                                 reduction="sum"))
    ref_tokens = n * T
    ref_loss = total / ref_tokens

    failures = []
    print("checkpoint %s: V=%d d=%d L=%d w=%d %s | data %s (%s): N=%d tokens, T=%d, n=%d samples"
          % (args.ckpt, V, model.mc["hidden_size"], model.mc["num_hidden_layers"],
             model.mc["window_size"], model.mc["attention"], args.data, fmt, len(tokens), T, n))
    print("%-11s %18s %18s %10s  %s" % ("field", "swat-eval", "reference", "rel", "ok"))

    c_loss = c.get("loss")
    if not isinstance(c_loss, (int, float)) or isinstance(c_loss, bool):
        failures.append("JSON has no numeric 'loss' (%r)" % (c_loss,))
    else:
        r = abs(c_loss - ref_loss) / abs(ref_loss) if math.isfinite(c_loss) else math.inf
        ok = r <= args.rtol
        print("%-11s %18.10f %18.10f %10.2e  %s" % ("loss", c_loss, ref_loss, r, "ok" if ok else "FAIL"))
        if not ok:
            failures.append("loss: swat-eval %.10g, reference %.10g (rel %.2e > %.0e)"
                            % (c_loss, ref_loss, r, args.rtol))
        ppl = c.get("perplexity")
        if isinstance(ppl, (int, float)) and math.isfinite(c_loss):
            want = math.exp(c_loss)
            r = abs(ppl - want) / want
            ok = r <= PPL_RTOL
            print("%-11s %18.6f %18.6f %10.2e  %s" % ("perplexity", ppl, want, r, "ok" if ok else "FAIL"))
            if not ok:
                failures.append("perplexity %.8g is not exp(loss) = %.8g" % (ppl, want))
    c_tok = c.get("tokens")
    ok = isinstance(c_tok, (int, float)) and not isinstance(c_tok, bool) and c_tok == ref_tokens
    print("%-11s %18s %18d %10s  %s" % ("tokens", c_tok, ref_tokens, "", "ok" if ok else "FAIL"))
    if not ok:
        failures.append("tokens: swat-eval %r, expected n*T = %d*%d = %d" % (c_tok, n, T, ref_tokens))

    if failures:
        print("FAIL: " + "; ".join(failures))
        return 1
    print("PASS: swat-eval agrees with the torch reference")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except st.RefError as e:
        die(str(e))
