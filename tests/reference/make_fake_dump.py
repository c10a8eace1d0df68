#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_fake_dump.py — synthetic files in the formats the C programs write, made
with the torch reference run in float32 (like the C side), so that the
checkers can be exercised without the C program and shown to fail on a bug.

  make_fake_dump.py OUT.h5 [--perturb WHAT] [--bug WHAT] [--set section.key=value]...
      A swat-refdump DUMP.h5 (see check_refdump.py). The training is done
      in float32 with a hand-written AdamW that follows the trainer's formula
      (not torch.optim), so the checker also cross-checks that formula against
      torch.optim.AdamW.
      --perturb changes one number of a correct dump after the fact:
        grad        one gradient element of update 1 moved by 1% of its tensor's max
        loss        /loss[1] times (1 + 1e-4)
        grad_norm   /grad_norm[0] times (1 + 1e-3)
        lr          /lr[K-1] times (1 + 1e-6)
        final       one /final element moved by 5 * sum(lr)
        final-bulk  every element of one /final matrix moved by 0.1 * lr
      --bug runs a deliberately wrong model or optimizer (an implementation bug):
        window        key j allowed for j >= t - w (one key too many)
        rope          interleaved RoPE pairs (x_2i, x_2i+1) instead of rotate-half
        alibi         balanced slopes with the signs swapped
        sigmoid-bias  the bias ignored (needs [model] sigmoid_bias != 0; set by this mode)
        rmsnorm-eps   h / (sqrt(mean(h^2)) + eps) instead of h / sqrt(mean(h^2) + eps)
        adam-bc       bias corrections with k+1 instead of k
        wd-norms      weight decay applied to the RMSNorm weights too
        wd-missing    no weight decay at all
        clip-missing  gradients never clipped
      --vlen-config / --fixed-config: how the config attribute is stored.

  make_fake_dump.py --checkpoint CKPT.h5 --data FILE [--format bytes|llmc]
                    [--llmc-magic 20240520|20240801] [--tokens N] [--perturb eval]
      A swat checkpoint (root attributes, /model/…, /optimizer/…) and a
      data file; prints, like swat-eval, one JSON line with loss, perplexity
      and tokens, computed in float32 (--perturb eval: loss times 1 + 1e-3).

Exit 0 on success, 2 on bad usage.
"""

import argparse
import datetime
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

BASE_CONFIG = {
    # Small but complete: 2 layers, 4 heads (2 negative + 2 positive slopes),
    # T = 4 windows, an lr and weight decay large enough that the optimizer
    # terms are visible after 4 updates, a clip that is active.
    "model": dict(vocab_size=256, hidden_size=32, num_hidden_layers=2, num_heads=4,
                  intermediate_size=96, window_size=16, rope_theta=10000.0, rope=True,
                  norm_eps=1e-6, tie_word_embeddings=True, attention="sigmoid",
                  alibi="balanced", sigmoid_bias=0.0, initializer_range=0.02),
    "train": dict(lr=1e-3, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.5, grad_clip=1.0,
                  warmup_steps=1, lr_schedule="cosine", min_lr_ratio=0.1, steps=6, seed=1234,
                  micro_batch=0, eval_every=0, init_from="", peak_gflops=0.0, log_every=1,
                  recompute=False, on_nonfinite="stop"),
    "data": dict(train="fake.bin", val="", format="bytes", seq_len=64, batch_size=4,
                 shuffle=False, val_samples=0),
    "parallel": dict(sp=1, threads=0),
    "checkpoint": dict(dir="run", every=1000, keep=3),
}


def die(msg, code=2):
    print("make_fake_dump: " + msg, file=sys.stderr)
    sys.exit(code)


def fmt_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def config_text(cfg):
    lines = []
    for section, keys in cfg.items():
        lines.append("[%s]" % section)
        for k, v in keys.items():
            lines.append("%s = %s" % (k, fmt_value(v)))
        lines.append("")
    return "\n".join(lines)


def apply_sets(cfg, sets):
    for s in sets:
        if "=" not in s or "." not in s.split("=", 1)[0]:
            die("--set %r: expected section.key=value" % s)
        lhs, val = s.split("=", 1)
        sec, key = lhs.split(".", 1)
        cur = cfg.setdefault(sec, {}).get(key)
        if isinstance(cur, bool):
            cfg[sec][key] = val.strip().lower() == "true"
        elif isinstance(cur, int):
            cfg[sec][key] = int(val)
        elif isinstance(cur, float):
            cfg[sec][key] = float(val)
        else:
            cfg[sec][key] = val.strip()


def fake_text(n, seed):
    """n bytes of pseudo-English (a seeded word salad): a learnable byte stream."""
    rng = np.random.RandomState(seed)
    words = ("the of and to in is that for it as was with be by on not he this are or his from "
             "at which but have an they you were her she there one all we their has been would "
             "window attention sigmoid slope layer token train model loss").split()
    out = bytearray()
    while len(out) < n:
        w = words[rng.randint(len(words))]
        if rng.rand() < 0.08:
            w = w.capitalize()
        out += w.encode() + (b". " if rng.rand() < 0.07 else b" ")
    return np.frombuffer(bytes(out[:n]), dtype=np.uint8).astype(np.int64)


# ------------------------------------------------------------------ bugs

def install_bug(bug, cfg):
    if bug == "window":
        def window_mask(t, j, w):
            a = j <= t
            return a & (j >= t - w) if w > 0 else a
        st.window_mask = window_mask
    elif bug == "rope":
        def apply_rope(x, cos, sin):
            x1, x2 = x[..., 0::2], x[..., 1::2]
            out = torch.stack([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)
            return out.flatten(-2)
        st.apply_rope = apply_rope
    elif bug == "alibi":
        orig = st.alibi_slopes
        st.alibi_slopes = lambda kind, H, *mags: [-s for s in orig(kind, H, *mags)]
    elif bug == "sigmoid-bias":
        cfg["model"]["sigmoid_bias"] = -1.0  # the file says -1 ...
        orig_init = st.Attention.__init__

        def init(self, mc, dtype):
            orig_init(self, mc, dtype)
            self.bias = 0.0  # ... the "C side" ignores it
        st.Attention.__init__ = init
    elif bug == "rmsnorm-eps":
        st.rmsnorm = lambda h, g, eps: h / (torch.sqrt(torch.mean(h * h, -1, keepdim=True)) + eps) * g


class SpecAdamW:
    """The trainer's AdamW written out (float32 state, like the C side)."""

    def __init__(self, model, tc, bug=None):
        self.tc, self.bug = tc, bug
        self.params = list(model.named_parameters())
        self.m = {k: torch.zeros_like(p) for k, p in self.params}
        self.v = {k: torch.zeros_like(p) for k, p in self.params}

    @torch.no_grad()
    def update(self, k, lr):
        tc = self.tc
        b1, b2, eps, wd = tc["beta1"], tc["beta2"], tc["eps"], tc["weight_decay"]
        norm = math.sqrt(sum(float(torch.sum(p.grad.double() ** 2)) for _, p in self.params))
        scale = 1.0
        if tc["grad_clip"] > 0 and self.bug != "clip-missing":
            scale = min(1.0, tc["grad_clip"] / (norm + 1e-6))
        kb = k + 1 if self.bug == "adam-bc" else k
        bc1, bc2 = 1 - b1 ** kb, 1 - b2 ** kb
        for key, p in self.params:
            g = p.grad * scale
            decay = st.decayed(key, p) or self.bug == "wd-norms"
            if decay and self.bug != "wd-missing":
                p.mul_(1 - lr * wd)
            m, v = self.m[key], self.v[key]
            m.mul_(b1).add_((1 - b1) * g)
            v.mul_(b2).add_((1 - b2) * g * g)
            p.sub_(lr * (m / bc1) / (torch.sqrt(v / bc2) + eps))
        return norm


def write_tensors(f, prefix, tensors):
    for key, t in tensors.items():
        f.create_dataset(prefix + st.param_path(key), data=t.detach().cpu().numpy().astype(np.float32))


def write_config_attr(f, text, vlen):
    if vlen:
        f.attrs["config"] = text  # h5py: variable-length UTF-8 string
    else:
        f.attrs["config"] = np.bytes_(text.encode())  # fixed-length ASCII string


def make_dump(args):
    import h5py
    cfg = {s: dict(v) for s, v in BASE_CONFIG.items()}
    apply_sets(cfg, args.set)
    if args.bug:
        install_bug(args.bug, cfg)
    text = config_text(cfg)
    pc = st.parse_config(text)
    if args.bug == "sigmoid-bias":
        pass  # the config keeps sigmoid_bias = -1; the model built below ignores it
    K = args.updates
    B, T = pc["data"]["batch_size"], pc["data"]["seq_len"]
    tc = pc["train"]

    model = st.SWAT(pc, dtype=torch.float32).init_weights(tc["seed"])
    init = {k: p.detach().clone() for k, p in model.named_parameters()}
    tokens = fake_text(K * B * (T + 1) + 1, tc["seed"])
    seqs = tokens[: K * B * (T + 1)].reshape(K, B, T + 1)
    inputs, targets = seqs[:, :, :T].astype(np.int32), seqs[:, :, 1:].astype(np.int32)

    opt = SpecAdamW(model, tc, args.bug)
    losses, norms, lrs = [], [], []
    grad1 = None
    for k in range(1, K + 1):
        for p in model.parameters():
            p.grad = None
        loss = model(torch.from_numpy(inputs[k - 1]), torch.from_numpy(targets[k - 1]))
        loss.backward()
        if k == 1:
            grad1 = {key: p.grad.detach().clone() for key, p in model.named_parameters()}
        lr = st.lr_at(tc, k)
        norms.append(opt.update(k, lr))
        losses.append(float(loss))
        lrs.append(lr)
    final = {k: p.detach().clone() for k, p in model.named_parameters()}

    losses, norms, lrs = np.array(losses), np.array(norms), np.array(lrs)
    what = args.perturb
    if what == "grad":
        key = "model.layers.0.attn.q_proj.weight"
        g = grad1[key]
        g[3, 5] += 0.01 * float(g.abs().max())
    elif what == "loss":
        losses[min(1, K - 1)] *= 1 + 1e-4
    elif what == "grad_norm":
        norms[0] *= 1 + 1e-3
    elif what == "lr":
        lrs[K - 1] *= 1 + 1e-6
    elif what == "final":
        final["model.layers.1.mlp.up_proj.weight"][7, 2] += 5 * float(lrs.sum())
    elif what == "final-bulk":
        final["model.layers.1.attn.v_proj.weight"] += 0.1 * float(lrs.mean())

    with h5py.File(args.out, "w") as f:
        write_config_attr(f, text, not args.fixed_config)
        write_tensors(f, "/init", init)
        f.create_dataset("/batch/inputs", data=inputs)
        f.create_dataset("/batch/targets", data=targets)
        f.create_dataset("/loss", data=losses.astype(np.float64))
        f.create_dataset("/grad_norm", data=norms.astype(np.float64))
        f.create_dataset("/lr", data=lrs.astype(np.float64))
        write_tensors(f, "/grad", grad1)
        write_tensors(f, "/final", final)
    print("wrote %s (K=%d B=%d T=%d, perturb=%s, bug=%s; losses %s)"
          % (args.out, K, B, T, what, args.bug, " ".join("%.5f" % x for x in losses)))


def make_checkpoint(args):
    import h5py
    cfg = {s: dict(v) for s, v in BASE_CONFIG.items()}
    cfg["data"]["train"] = args.data
    cfg["data"]["format"] = args.format
    apply_sets(cfg, args.set)
    text = config_text(cfg)
    pc = st.parse_config(text)
    tc = pc["train"]
    model = st.SWAT(pc, dtype=torch.float32).init_weights(tc["seed"] + 1)
    # a couple of updates so the weights are not just the init
    B, T = pc["data"]["batch_size"], pc["data"]["seq_len"]
    toks = fake_text(args.tokens, tc["seed"])
    x_all, y_all = st.samples(toks, T)
    opt = st.make_adamw(model, tc)
    steps = 2
    for k in range(1, steps + 1):
        idx = [((k - 1) * B + j) % len(x_all) for j in range(B)]
        st.train_update(model, opt, tc, k, torch.from_numpy(x_all[idx]), torch.from_numpy(y_all[idx]))

    # data file
    if args.format == "bytes":
        with open(args.data, "wb") as fh:
            fh.write(toks.astype(np.uint8).tobytes())
    else:
        dt = st.LLMC_MAGIC[args.llmc_magic]
        hdr = np.zeros(256, dtype="<i4")
        hdr[0], hdr[1], hdr[2] = args.llmc_magic, 1, len(toks)
        with open(args.data, "wb") as fh:
            fh.write(hdr.tobytes())
            fh.write(toks.astype(np.dtype(dt).newbyteorder("<")).tobytes())

    # checkpoint, swat's layout
    with h5py.File(args.checkpoint, "w") as f:
        f.attrs["format"] = "swat-checkpoint"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["step"] = np.int64(steps)
        f.attrs["samples_seen"] = np.int64(steps * B)
        f.attrs["tokens_seen"] = np.int64(steps * B * T)
        write_config_attr(f, text, not args.fixed_config)
        f.attrs["world_size"] = np.int64(1)
        f.attrs["sp"] = np.int64(1)
        f.attrs["created"] = datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
        params = {k: p for k, p in model.named_parameters()}
        write_tensors(f, "", params)
        state = opt.state
        write_tensors(f, "/optimizer/exp_avg", {k: state[p]["exp_avg"] for k, p in params.items()})
        write_tensors(f, "/optimizer/exp_avg_sq", {k: state[p]["exp_avg_sq"] for k, p in params.items()})

    # what swat-eval would print, computed in float32
    Te = args.seq_len or T
    x, y = st.samples(st.read_tokens(args.data, args.format), Te)
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(x), 8):
            total += float(model(torch.from_numpy(x[i:i + 8]), torch.from_numpy(y[i:i + 8]),
                                 reduction="sum").double())
    n_tok = len(x) * Te
    loss = total / n_tok
    if args.perturb == "eval":
        loss *= 1 + 1e-3
    print(json.dumps({"loss": loss, "perplexity": math.exp(loss), "tokens": n_tok}))


def main(argv):
    class Parser(argparse.ArgumentParser):
        def error(self, message):
            self.print_usage(sys.stderr)
            die(message)

    ap = Parser(prog="make_fake_dump.py")
    ap.add_argument("out", nargs="?", metavar="OUT.h5")
    ap.add_argument("--perturb", default=None,
                    choices=["grad", "loss", "grad_norm", "lr", "final", "final-bulk", "eval"])
    ap.add_argument("--bug", default=None,
                    choices=["window", "rope", "alibi", "sigmoid-bias", "rmsnorm-eps", "adam-bc",
                             "wd-norms", "wd-missing", "clip-missing"])
    ap.add_argument("--set", action="append", default=[], metavar="section.key=value")
    ap.add_argument("--updates", type=int, default=4, help="K (default 4)")
    ap.add_argument("--fixed-config", action="store_true", help="store config as a fixed-length string")
    ap.add_argument("--checkpoint", metavar="CKPT.h5")
    ap.add_argument("--data", metavar="FILE")
    ap.add_argument("--format", default="bytes", choices=["bytes", "llmc"])
    ap.add_argument("--llmc-magic", type=int, default=20240520, choices=sorted(st.LLMC_MAGIC))
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--seq-len", type=int, default=0, help="eval T (default: data.seq_len)")
    args = ap.parse_args(argv)
    try:
        if args.checkpoint:
            if not args.data:
                die("--checkpoint needs --data FILE")
            make_checkpoint(args)
        else:
            if not args.out:
                die("usage: make_fake_dump.py OUT.h5 [options] | --checkpoint CKPT.h5 --data FILE")
            if args.updates < 1:
                die("--updates must be >= 1")
            make_dump(args)
    except st.RefError as e:
        die(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
