#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""selftest.py — checks the reference itself and shows that the checkers fail
on wrong input. No C program needed. Run: python3 tests/reference/selftest.py [--quick]
(an interpreter with torch, numpy and h5py: the tests pass $SWAT_PYTHON)

1. swat_torch.SWAT against a literal, loop-by-loop numpy transcription of
   the model of docs/model.md (every attention/alibi/magnitude/rope/tie/window
   variant), the ALiBi slopes
   and lr schedule against hand-computed values, config parsing, and the
   query-block split of long sequences.
2. check_refdump.py passes on correct fake dumps (float32 torch + the AdamW
   formula written out) and fails (exit 1) on every perturbed number and
   every injected bug; exit 2 on a missing file.
3. check_eval.py passes on a fake checkpoint + data (bytes and llm.c
   shards), fails on a wrong loss / wrong T, exit 2 on bad usage.
Exit 0 when all hold, 1 otherwise.
"""

import math
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import swat_torch as st  # noqa: E402

torch.set_num_threads(2)
failed = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failed.append(what)


# ------------------------------------------------------------ 1. the model

def naive_logits(sd, mc, x):
    """docs/model.md transcribed literally, one sequence, numpy float64, loops."""
    d, L, H = mc["hidden_size"], mc["num_hidden_layers"], mc["num_heads"]
    dh, w, eps = d // H, mc["window_size"], mc["norm_eps"]
    P = {k: v.detach().double().numpy() for k, v in sd.items()}
    T = len(x)

    def rms(h, g):
        return np.array([h[t] / math.sqrt(np.mean(h[t] ** 2) + eps) * g for t in range(len(h))])

    # signs: balanced = first half negative; sizes by place i in the sign group
    halving = mc["alibi_magnitudes"] == "halving"
    slope = []
    for n in range(H):
        i = n - H // 2 if mc["alibi"] == "balanced" and n >= H // 2 else n
        size = 2.0 ** -(i + 1) if halving else 2.0 ** (-8.0 * (i + 1) / H)
        if mc["alibi"] == "none":
            slope.append(0.0)
        elif mc["alibi"] == "negative" or (mc["alibi"] == "balanced" and n < H // 2):
            slope.append(-size)
        else:
            slope.append(size)

    def rope(vec, p):
        out = vec.copy()
        for i in range(dh // 2):
            ang = p * mc["rope_theta"] ** (-2.0 * i / dh)
            c, s = math.cos(ang), math.sin(ang)
            out[i] = vec[i] * c - vec[i + dh // 2] * s
            out[i + dh // 2] = vec[i + dh // 2] * c + vec[i] * s
        return out

    h = np.array([P["model.embeddings.weight"][tok] for tok in x])
    for l in range(L):
        pre = "model.layers.%d." % l
        a = rms(h, P[pre + "attn_norm.weight"])
        q = a @ P[pre + "attn.q_proj.weight"].T
        k = a @ P[pre + "attn.k_proj.weight"].T
        v = a @ P[pre + "attn.v_proj.weight"].T
        o = np.zeros((T, d))
        for n in range(H):
            sl = slice(n * dh, (n + 1) * dh)
            qn = [rope(q[t, sl], t) if mc["rope"] else q[t, sl] for t in range(T)]
            kn = [rope(k[t, sl], t) if mc["rope"] else k[t, sl] for t in range(T)]
            for t in range(T):
                lo = max(0, t - w + 1) if w > 0 else 0
                js = list(range(lo, t + 1))
                s = np.array([qn[t] @ kn[j] / math.sqrt(dh) + slope[n] * (t - j) for j in js])
                if mc["attention"] == "sigmoid":
                    s = s + mc["sigmoid_bias"]
                    p = 1.0 / (1.0 + np.exp(-s))
                else:
                    e = np.exp(s - s.max())
                    p = e / e.sum()
                o[t, sl] = sum(p[i] * v[j, sl] for i, j in enumerate(js))
        h = h + o @ P[pre + "attn.o_proj.weight"].T
        m = rms(h, P[pre + "mlp_norm.weight"])
        u = m @ P[pre + "mlp.gate_proj.weight"].T
        h = h + ((u / (1 + np.exp(-u))) * (m @ P[pre + "mlp.up_proj.weight"].T)) @ P[pre + "mlp.down_proj.weight"].T
    y = rms(h, P["model.norm.weight"])
    W = P["model.embeddings.weight"] if mc["tie_word_embeddings"] else P["lm_head.weight"]
    return y @ W.T


def test_model():
    base = "[model]\nvocab_size = 40\nhidden_size = 16\nnum_hidden_layers = 2\nnum_heads = 4\n" \
           "intermediate_size = 24\nwindow_size = 3\nrope_theta = 100.0\n"
    variants = [
        "",
        "attention = softmax\nalibi = negative\n",
        "alibi = positive\nrope = false\ntie_word_embeddings = false\n",
        "alibi = none\nsigmoid_bias = -1.5\n",
        "attention = softmax\nalibi = balanced\ntie_word_embeddings = false\n",
        "alibi_magnitudes = alibi\n",
        "attention = softmax\nalibi = negative\nalibi_magnitudes = halving\n",
        "alibi = positive\nalibi_magnitudes = halving\n",
    ]
    rng = np.random.RandomState(0)
    for wsize in (3, 0):
        for var in variants:
            text = base.replace("window_size = 3", "window_size = %d" % wsize) + var
            cfg = st.parse_config(text)
            model = st.SWAT(cfg, torch.float64).init_weights(7)
            with torch.no_grad():  # non-trivial norm weights
                for key, p in model.named_parameters():
                    if p.dim() == 1:
                        p.copy_(1 + 0.3 * torch.randn(p.shape, dtype=torch.float64))
                    else:
                        p.mul_(20)  # larger activations: attention far from uniform
            x = rng.randint(0, 40, size=11)
            ref = naive_logits(dict(model.named_parameters()), cfg["model"], x)
            with torch.no_grad():
                got = model(torch.from_numpy(x)[None])[0].numpy()
            err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
            check(err < 1e-12, "model == literal docs/model.md loops (w=%d, %s): rel err %.1e"
                  % (wsize, var.strip().replace("\n", ", ") or "defaults", err))

    # query blocks: a long sequence split in blocks equals one dense block
    cfg = st.parse_config(base.replace("window_size = 3", "window_size = 5") + "attention = sigmoid\n")
    model = st.SWAT(cfg, torch.float64).init_weights(3)
    x = torch.from_numpy(rng.randint(0, 40, size=(2, 300)))
    with torch.no_grad():
        dense = model(x)
        old, st.QBLOCK = st.QBLOCK, 37
        blocked = model(x)
        cfg0 = st.parse_config(base.replace("window_size = 3", "window_size = 0"))
        m0 = st.SWAT(cfg0, torch.float64).init_weights(3)
        b0 = m0(x)
        st.QBLOCK = old
        d0 = m0(x)
    check(torch.allclose(dense, blocked, rtol=0, atol=1e-12) and torch.allclose(d0, b0, rtol=0, atol=1e-12),
          "query-block split == dense attention (w=5 and w=0, T=300)")


def test_pieces():
    check(st.alibi_slopes("balanced", 4) == [-0.5, -0.25, 0.5, 0.25], "balanced slopes H=4")
    check(st.alibi_slopes("negative", 8) == [-2.0 ** -k for k in range(1, 9)], "negative slopes H=8")
    check(st.alibi_slopes("positive", 2) == [2.0 ** -4, 2.0 ** -8], "positive slopes H=2")
    # the authors' released code at H = 4: +1/4, +1/16, -1/16, -1/4 in their
    # head order; ours lists the recency half first, each half in size order
    check(st.alibi_slopes("balanced", 4, "alibi") == [-0.25, -0.0625, 0.25, 0.0625],
          "balanced slopes H=4, alibi sizes")
    check(st.alibi_slopes("negative", 4, "halving") == [-0.5, -0.25, -0.125, -0.0625],
          "negative slopes H=4, halving sizes")
    check(st.alibi_slopes("positive", 8, "auto") == st.alibi_slopes("positive", 8, "alibi") and
          st.alibi_slopes("balanced", 8, "auto") == st.alibi_slopes("balanced", 8, "halving"),
          "auto = halving for balanced, alibi otherwise")
    for kind, want in (("balanced", "halving"), ("negative", "alibi"), ("none", "alibi")):
        got = st.parse_config("[model]\nhidden_size = 8\nnum_hidden_layers = 1\nnum_heads = 2\n"
                              "window_size = 4\nalibi = %s\n" % kind)["model"]["alibi_magnitudes"]
        check(got == want, "parse_config resolves auto to %s for %s (got %s)" % (want, kind, got))
    tc = {"lr": 1.0, "warmup_steps": 2, "lr_schedule": "cosine", "min_lr_ratio": 0.1, "steps": 12}
    got = [st.lr_at(tc, k) for k in (1, 2, 7, 12)]
    check(np.allclose(got, [0.5, 1.0, 0.55, 0.1], rtol=0, atol=1e-15), "cosine schedule %s" % got)
    tc["lr_schedule"] = "constant"
    check([st.lr_at(tc, k) for k in (1, 3, 12)] == [0.5, 1.0, 1.0], "constant schedule")
    cfg = st.parse_config("[model]\nhidden_size = 100\nnum_hidden_layers = 1\nnum_heads = 2\n"
                          "window_size = 8\nintermediate_size = 0\nrope = false\n[train]\nsteps = 5\n"
                          "lr_schedule = constant\n[data]\nshuffle = false\nseq_len = 32\n[parallel]\nthreads = 4\n")
    check(cfg["model"]["intermediate_size"] == 512 and cfg["model"]["rope"] is False
          and cfg["data"]["shuffle"] is False and cfg["train"]["lr"] == 3e-4
          and cfg["train"]["lr_schedule"] == "constant" and cfg["parallel"]["threads"] == 4
          and cfg["model"]["alibi"] == "balanced", "parse_config: types, defaults, derived f")
    try:
        st.parse_config("[model]\nhidden_size = 12\nnum_hidden_layers = 1\nnum_heads = 4\nwindow_size = 0\n")
        check(False, "parse_config refuses odd head_dim")
    except st.RefError:
        check(True, "parse_config refuses odd head_dim")
    # llm.c stream: two shards, sorted by name, concatenated
    with tempfile.TemporaryDirectory() as tmp:
        for name, magic, dt, toks in (("b.bin", 20240801, "<u4", [5, 6, 7]), ("a.bin", 20240520, "<u2", [1, 2])):
            hdr = np.zeros(256, "<i4")
            hdr[:3] = magic, 1, len(toks)
            with open(os.path.join(tmp, name), "wb") as fh:
                fh.write(hdr.tobytes() + np.array(toks, dt).tobytes())
        s = st.read_tokens(os.path.join(tmp, "*.bin"), "llmc")
        x, y = st.samples(s, 2)
        check(list(s) == [1, 2, 5, 6, 7] and x.tolist() == [[1, 2], [5, 6]] and y.tolist() == [[2, 5], [6, 7]],
              "llm.c shards: glob order, uint16/uint32, samples")


# ---------------------------------------------------------- 2./3. checkers

def run(args, expect, what):
    """Runs one of the scripts' main() in this process (importing torch once
    keeps the self-test fast), with its output captured; restores anything a
    --bug mode patched in swat_torch."""
    import contextlib
    import importlib
    import io
    mod = importlib.import_module(args[0][:-3])
    saved, saved_init = dict(vars(st)), st.Attention.__init__
    buf = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            code = mod.main(args[1:]) or 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except st.RefError as e:
            print(e)
            code = 2
    vars(st).update(saved)
    st.Attention.__init__ = saved_init
    out = buf.getvalue()
    ok = code == expect
    detail = ""
    if expect == 1 and ok:
        lines = out.splitlines()
        heads = [i for i, ln in enumerate(lines) if ln.startswith("FAIL")]
        if heads:
            i = heads[-1]
            detail = " -> " + (lines[i + 1].strip() if i + 1 < len(lines) else lines[i])[:120]
    check(ok, "%s: exit %d (want %d)%s" % (what, code, expect, detail))
    if not ok:
        print(out[-3000:])
    return out


def test_refdump(tmp, quick):
    dump = lambda name: os.path.join(tmp, name + ".h5")  # noqa: E731
    good = [("base", []), ("fixed-config", ["--fixed-config"]),
            ("softmax-untied-norope", ["--set", "model.attention=softmax", "--set", "model.alibi=negative",
                                       "--set", "model.tie_word_embeddings=false", "--set", "model.rope=false"]),
            ("full-attn-bias", ["--set", "model.window_size=0", "--set", "model.alibi=positive",
                                "--set", "model.sigmoid_bias=-2.0", "--set", "train.grad_clip=0"])]
    if quick:
        good = good[:2]
    for name, extra in good:
        run(["make_fake_dump.py", dump(name)] + extra, 0, "make dump " + name)
        run(["check_refdump.py", "-q", dump(name)], 0, "check_refdump passes on " + name)
    perturbs = ["grad", "loss", "grad_norm", "lr", "final", "final-bulk"]
    bugs = ["window", "rope", "alibi", "sigmoid-bias", "rmsnorm-eps", "adam-bc", "wd-norms",
            "wd-missing", "clip-missing"]
    if quick:
        perturbs, bugs = ["grad", "final-bulk"], ["rope", "wd-norms"]
    for p in perturbs:
        run(["make_fake_dump.py", dump("p-" + p), "--perturb", p], 0, "make dump --perturb " + p)
        run(["check_refdump.py", "-q", dump("p-" + p)], 1, "check_refdump fails on --perturb " + p)
    for b in bugs:
        run(["make_fake_dump.py", dump("b-" + b), "--bug", b], 0, "make dump --bug " + b)
        run(["check_refdump.py", "-q", dump("b-" + b)], 1, "check_refdump fails on --bug " + b)
    run(["check_refdump.py", dump("missing")], 2, "check_refdump on a missing file")
    run(["check_refdump.py"], 2, "check_refdump without arguments")


def test_eval(tmp, quick):
    ck, data = os.path.join(tmp, "ckpt.h5"), os.path.join(tmp, "data.bin")
    line = run(["make_fake_dump.py", "--checkpoint", ck, "--data", data], 0, "make checkpoint").strip()
    run(["check_eval.py", ck, data, line], 0, "check_eval passes (bytes)")
    out = os.path.join(tmp, "eval.out")
    with open(out, "w") as fh:
        fh.write("some log line\n" + line + "\n")
    run(["check_eval.py", ck, data, out], 0, "check_eval passes (JSON from a file)")
    run(["check_eval.py", ck, data, line, "--seq-len", "32"], 1, "check_eval fails with the wrong T")
    ckl, datal = os.path.join(tmp, "ckpt-llmc.h5"), os.path.join(tmp, "data.llmc")
    line = run(["make_fake_dump.py", "--checkpoint", ckl, "--data", datal, "--format", "llmc",
                "--llmc-magic", "20240801", "--seq-len", "600", "--fixed-config",
                "--set", "model.tie_word_embeddings=false"], 0, "make checkpoint (llmc)").strip()
    run(["check_eval.py", ckl, datal, line, "--seq-len", "600", "--format", "llmc"], 0,
        "check_eval passes (llmc uint32, T=600 > window, untied)")
    ckp, datap = os.path.join(tmp, "ckpt-p.h5"), os.path.join(tmp, "data-p.bin")
    line = run(["make_fake_dump.py", "--checkpoint", ckp, "--data", datap, "--perturb", "eval"], 0,
               "make checkpoint --perturb eval").strip()
    run(["check_eval.py", ckp, datap, line], 1, "check_eval fails on a loss off by 1e-3")
    run(["check_eval.py", ck, os.path.join(tmp, "nope.bin"), line], 2, "check_eval on a missing data file")
    run(["check_eval.py", ck, data], 2, "check_eval with a missing argument")


def main():
    quick = "--quick" in sys.argv[1:]
    test_pieces()
    test_model()
    with tempfile.TemporaryDirectory(prefix="swat-ref-") as tmp:
        test_refdump(tmp, quick)
        test_eval(tmp, quick)
    if failed:
        print("\nselftest: %d FAILED" % len(failed))
        for f in failed:
            print("  " + f)
        return 1
    print("\nselftest: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
