#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_export.py: checks of tools/swat_export.py, tools/swat_import.py and
python/swat_torch that do not trust the code they check. Used by
tests/run_export.sh; each subcommand prints what it compared and exits 0
when everything holds, 1 on a mismatch (reasons printed), 2 on bad usage.

  verify CKPT OUT_DIR            model.safetensors read with the reader below
                                 (written from the format's description, not
                                 python/swat_torch/formats.py) against every
                                 HDF5 dataset: F32 bit for bit; BF16 equal to
                                 torch's own float32 -> bfloat16 rounding
                                 (nearest even); config.json against the
                                 checkpoint's INI config (configparser);
                                 tokenizer.model = /tokenizer/model
  roundtrip CKPT IMPORTED        an imported checkpoint: every tensor equal to
                                 CKPT's bit for bit (or to its bf16 rounding
                                 with --bf16), crc32 on every dataset, step 0,
                                 no optimizer state, the same [model] keys
  loss OUT_DIR DATA T EVAL_JSON  the PyTorch model's mean loss over the
                                 complete samples of DATA at length T equals
                                 swat-eval's
  reference OUT_DIR              the PyTorch model (float32, banded blocks)
                                 against the dense float64 reference of
                                 tests/reference at several lengths, and its
                                 cached generation against a whole forward
  greedy OUT_DIR PROMPT N FILE   greedy generation equals swat-generate's
                                 (FILE: its stdout, the continuation bytes)
  keys CONFIG_INI                python/swat_torch's key table = the [model]
                                 keys and defaults of the config.ini swat-train
                                 wrote for tests/configs/ref.ini
  bf16                           formats.f32_to_bf16_bits = torch's rounding on
                                 2^20 random float32 bit patterns and the edge cases
  tokenizer WORK_DIR REPO        an h5py-made checkpoint with /tokenizer/model
                                 (a SentencePiece model trained here) exports
                                 it, the PyTorch model uses it, import keeps it
"""
import configparser
import json
import os
import subprocess
import sys
import zlib

import h5py
import numpy as np
import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(REPO, "python"))
sys.dont_write_bytecode = True
torch.set_num_threads(1)

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


# ----------------------------------------------------------------------------
# An independent safetensors reader (from the format's description: 8-byte
# little-endian header size N, N bytes of JSON, then the byte buffer; offsets
# relative to the buffer; the buffer fully indexed, no holes or overlaps)
# ----------------------------------------------------------------------------

SIZES = {"F32": 4, "BF16": 2, "F16": 2, "F64": 8, "I64": 8, "I32": 4, "U8": 1}


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    assert 8 + n <= len(raw), "header past the end"
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    buf = raw[8 + n:]
    meta = header.pop("__metadata__", None)
    spans, out = [], {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        assert end - b == SIZES[e["dtype"]] * int(np.prod(e["shape"], dtype=np.int64)), name
        spans.append((b, end))
        out[name] = (e["dtype"], tuple(e["shape"]), buf[b:end])
    spans.sort()
    pos = 0
    for b, end in spans:
        assert b == pos, "hole or overlap at %d" % b
        pos = end
    assert pos == len(buf), "buffer not fully indexed"
    return out, meta, n


def as_f32(dtype, raw, shape):
    if dtype == "F32":
        return np.frombuffer(raw, "<f4").reshape(shape)
    if dtype == "BF16":
        return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).reshape(shape)
    raise AssertionError(dtype)


def torch_bf16_bits(a):
    """torch's float32 -> bfloat16 (round to nearest even), as uint16 bits."""
    return torch.from_numpy(np.ascontiguousarray(a)).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)


# ----------------------------------------------------------------------------

def h5_text(v):
    if isinstance(v, np.ndarray):
        v = v.reshape(()).item()
    return v.decode() if isinstance(v, bytes) else v


def ini_model(text):
    cp = configparser.ConfigParser(interpolation=None)
    cp.read_string(text)
    return cp["model"]


def expected_names(f):
    names = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset)
                 and (n.startswith("model/") or n.startswith("lm_head/")) else None)
    return sorted(n.replace("/", ".") for n in names)


MODEL_KEYS = ["vocab_size", "hidden_size", "num_hidden_layers", "num_heads", "intermediate_size",
             "window_size", "rope_theta", "rope", "norm_eps", "tie_word_embeddings", "attention", "alibi",
             "alibi_magnitudes", "sigmoid_bias", "initializer_range"]
HF_KEYS = ["model_type", "architectures", "hidden_act", "bos_token_id", "eos_token_id", "torch_dtype"]


def cmd_verify(ckpt, out):
    cfgj = json.load(open(os.path.join(out, "config.json")))
    dtype = cfgj.get("torch_dtype")
    tensors, meta, n = read_safetensors(os.path.join(out, "model.safetensors"))
    check(meta == {"format": "pt"}, "__metadata__ = %s" % meta)
    check(n % 8 == 0, "header length %d keeps the data 8-byte aligned" % n)
    with h5py.File(ckpt, "r") as f:
        names = expected_names(f)
        check(sorted(tensors) == names, "safetensors names = the checkpoint's %d model datasets" % len(names))
        want_dt = {"float32": "F32", "bfloat16": "BF16"}[dtype]
        bad = []
        for name in names:
            ref = f["/" + name.replace(".", "/")][()]
            dt, shape, raw = tensors[name]
            if dt != want_dt or shape != ref.shape:
                bad.append("%s: %s %s vs %s" % (name, dt, shape, ref.shape))
                continue
            if dt == "F32":
                same = raw == ref.astype("<f4").tobytes()
            else:
                same = np.array_equal(np.frombuffer(raw, "<u2"), torch_bf16_bits(ref).ravel())
            if not same:
                bad.append(name)
        check(not bad, "every tensor equals the HDF5 dataset (%s%s)%s"
              % (want_dt, ", vs torch's round-to-nearest-even" if want_dt == "BF16" else ", bit for bit",
                 ": " + ", ".join(bad[:3]) if bad else ""))
        ini = ini_model(h5_text(f.attrs["config"]))
        tok = f.get("/tokenizer/model")
        tok = tok[()].tobytes() if tok is not None else None
    check(list(cfgj) == ["model_type", "architectures"] + MODEL_KEYS + HF_KEYS[2:],
          "config.json keys: %s" % ", ".join(cfgj))
    check(cfgj["model_type"] == "swat" and cfgj["architectures"] == ["SWATForCausalLM"]
          and cfgj["hidden_act"] == "swish" and cfgj["bos_token_id"] == 1 and cfgj["eos_token_id"] == 2,
          "config.json bookkeeping keys")
    mism = []
    for k in MODEL_KEYS:
        v = cfgj[k]
        if k == "alibi_magnitudes":
            want = ini.get(k, "auto")
            if want == "auto":
                want = "halving" if ini.get("alibi", "balanced") == "balanced" else "alibi"
            ok = v == want
        elif isinstance(v, bool):
            ok = v == ini.getboolean(k)
        elif isinstance(v, int):
            ok = v == ini.getint(k) and v > 0
        elif isinstance(v, float):
            ok = v == float(ini[k])  # bit for bit: both sides print the shortest round-trip text
        else:
            ok = v == ini[k]
        if not ok:
            mism.append("%s: %r vs %r" % (k, v, ini.get(k)))
    check(not mism, "config.json model keys = the checkpoint's config, resolved%s"
          % (": " + "; ".join(mism) if mism else ""))
    tpath = os.path.join(out, "tokenizer.model")
    if tok is None:
        check(not os.path.exists(tpath), "no tokenizer.model (the checkpoint has none)")
    else:
        check(os.path.exists(tpath) and open(tpath, "rb").read() == tok, "tokenizer.model = /tokenizer/model")


def cmd_roundtrip(ckpt, imported, bf16=False):
    with h5py.File(ckpt, "r") as a, h5py.File(imported, "r") as b:
        names = expected_names(a)
        check(expected_names(b) == names, "imported model datasets = the original's (%d)" % len(names))
        bad = []
        for name in names:
            p = "/" + name.replace(".", "/")
            x, y = a[p][()], b[p][()]
            want = (torch_bf16_bits(x).astype(np.uint32) << 16).view(np.float32) if bf16 else x
            if y.dtype != np.dtype("<f4") or y.tobytes() != want.astype("<f4").tobytes():
                bad.append(name)
        check(not bad, "every tensor %s%s" % ("= bf16(original) exactly" if bf16 else "bit-identical",
                                            ": " + ", ".join(bad[:3]) if bad else ""))
        crc_bad = []

        def crc(n, o):
            if isinstance(o, h5py.Dataset):
                c = o.attrs.get("crc32")
                if c is None or int(c) != zlib.crc32(o[()].tobytes()) or o.attrs["crc32"].dtype != np.uint32:
                    crc_bad.append(n)
        b.visititems(crc)
        check(not crc_bad, "every dataset of the import carries a matching uint32 crc32%s"
              % (": " + ", ".join(crc_bad[:3]) if crc_bad else ""))
        check("optimizer" not in b, "no optimizer state")
        check(all(int(b.attrs[k]) == 0 for k in ("step", "samples_seen", "tokens_seen"))
              and int(b["/train/step"][()]) == 0, "step 0")
        check(h5_text(b.attrs["format"]) == "swat-checkpoint" and int(b.attrs["format_version"]) == 1,
              "format attributes")
        ia, ib = ini_model(h5_text(a.attrs["config"])), ini_model(h5_text(b.attrs["config"]))

        def typed(sec, k):  # the value, as the C parser reads it
            t = sec.get(k)
            for conv in (int, float):
                try:
                    return conv(t)
                except ValueError:
                    pass
            return {"true": True, "false": False}.get(t, t)
        diff = [k for k in MODEL_KEYS if typed(ia, k) != typed(ib, k)]
        check(not diff, "[model] keys of the import = the original's%s" % (": " + ", ".join(diff) if diff else ""))


def samples(path, T):
    data = np.frombuffer(open(path, "rb").read(), np.uint8).astype(np.int64)
    n = (len(data) - 1) // T
    idx = np.arange(n)[:, None] * T + np.arange(T + 1)[None, :]
    return torch.from_numpy(data[idx])


def cmd_loss(out, data, T, eval_out):
    from swat_torch import SWATForCausalLM
    model = SWATForCausalLM.from_pretrained(out)
    lines = [l for l in open(eval_out).read().splitlines() if l.startswith("{")]
    c = json.loads(lines[-1])
    s = samples(data, int(T))
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(s), 64):
            x = s[i:i + 64]
            lg = model(x[:, :-1])
            total += float(torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), x[:, 1:].reshape(-1),
                                                             reduction="sum"))
    n = len(s) * int(T)
    loss = total / n
    rel = abs(loss - c["loss"]) / c["loss"]
    # Tolerance 1e-5 relative: both sides are float32 and sum in different
    # orders (BLIS blocks vs PyTorch GEMMs; the C output layer fused with the
    # cross-entropy vs log_softmax), an error of ~1e-7 relative per token that
    # averages down over the samples (measured <= 1e-7). The wrong ALiBi
    # magnitude family moves the loss of a 30-update model by 2e-4, 20x the
    # tolerance (measured); a wrong mask or RoPE by far more.
    check(c["tokens"] == n and rel <= 1e-5, "PyTorch loss %.8f = swat-eval %.8f at T=%s (%d tokens, rel %.1e <= 1e-5)"
          % (loss, c["loss"], T, n, rel))


def cmd_reference(out):
    import importlib.util
    # the dense float64 reference: a module that shares the package's name
    spec = importlib.util.spec_from_file_location("swat_reference",
                                                  os.path.join(REPO, "tests", "reference", "swat_torch.py"))
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    from swat_torch import SWATForCausalLM, WindowCache
    model = SWATForCausalLM.from_pretrained(out)
    cfg = model.config
    rcfg = {k: v for k, v in cfg.to_dict().items()}
    rmodel = ref.SWAT(rcfg, torch.float64)
    ref.load_into(rmodel, {k: p.detach() for k, p in model.named_parameters()})
    w = cfg.window_size
    gen = torch.Generator().manual_seed(5)
    for T in sorted({1, max(1, w - 1), w, 3 * w + 5 if w else 40, 200}):
        ids = torch.randint(0, cfg.vocab_size, (2, T), generator=gen)
        with torch.no_grad():
            got = model(ids).double()
            want = rmodel(ids)
        err = float((got - want).abs().max() / want.abs().max())
        # 1e-5 of the largest logit: float32 through every layer (unit
        # roundoff 6e-8, a few hundred operations deep) vs float64; a wrong
        # band, slope or block edge is off by 1e-2 or more.
        check(err <= 1e-5, "banded float32 model = dense float64 reference, T=%d: max err %.1e of max |logit|"
              % (T, err))
    # generation's rolling cache: prompt in uneven chunks, then token by token
    T = 3 * w + 7 if w else 50
    ids = torch.randint(0, cfg.vocab_size, (T,), generator=gen)
    with torch.no_grad():
        full = model(ids)[0]
        cache, rows, i = WindowCache(cfg), [], 0
        for step in (5, w + 1 if w else 3, 1, 2 * w + 3 if w else 7, 1):
            rows.append(model(ids[i:i + step], cache)[0])
            i += step
        while i < T:
            rows.append(model(ids[i:i + 1], cache)[0])
            i += 1
        got = torch.cat(rows)
        kept = [0 if k is None else k.shape[2] for k in cache.k]
    err = float((got - full).abs().max() / full.abs().max())
    check(err <= 1e-5, "cached chunks (5, w+1, 1, 2w+3, 1, then 1 by 1) = one forward over T=%d: max err %.1e" % (T, err))
    check(w == 0 or all(k == w - 1 for k in kept), "the cache holds w-1 = %d rows a layer (%s)" % (w - 1, kept))


def cmd_greedy(out, prompt, n, c_file):
    from swat_torch import SWATForCausalLM
    model = SWATForCausalLM.from_pretrained(out)
    ids = list(prompt.encode())
    got = model.generate(ids, max_new_tokens=int(n), temperature=0)
    c = list(open(c_file, "rb").read())
    # swat-generate ends its text with a newline when the text does not end with one
    if len(c) == int(n) + 1 and c[-1] == ord("\n"):
        c = c[:-1]
    same = 0
    while same < min(len(got), len(c)) and got[same] == c[same]:
        same += 1
    if same == len(c) == len(got):
        check(True, "greedy generation = swat-generate --temperature 0 (%d tokens: %r)" % (same, bytes(got[:40])))
        return
    # a divergence is acceptable only at a tie within float32 rounding
    seq = torch.tensor(ids + got[:same])
    with torch.no_grad():
        lg = model(seq)[0, -1].double()
    top = torch.topk(lg, 2).values
    gap = float(top[0] - top[1])
    check(len(c) == int(n) and gap < 1e-4 * float(lg.abs().max()),
          "greedy generation: %d equal tokens, then a tie within rounding (gap %.2e)" % (same, gap))


def cmd_keys(config_ini):
    """config_ini: the resolved config swat-train wrote for tests/configs/ref.ini
    (only the required model keys set: every other key shows its default)."""
    from swat_torch import formats
    d = ini_model(open(config_ini).read())
    check(list(d) == list(formats.MODEL_KEY_NAMES),
          "the Python key table has swat-train's [model] keys, in its order (%d)" % len(d))
    bad = []
    for name, typ, default, _ in formats.MODEL_KEYS:
        if default is None:
            continue
        text = d[name]
        if name == "intermediate_size":
            ok = int(text) == formats.derived_intermediate(d.getint("hidden_size"))
        elif name == "alibi_magnitudes":
            ok = text == formats.resolve_magnitudes("balanced", default)
        elif typ is bool:
            ok = d.getboolean(name) == default
        elif typ is int:
            ok = int(text) == default
        elif typ is float:
            ok = float(text) == default
        else:
            ok = text == default
        if not ok:
            bad.append("%s: %s vs %r" % (name, text, default))
    check(not bad, "its defaults (and derived values) = swat-train's%s" % (": " + "; ".join(bad) if bad else ""))


def cmd_tokenizer(work, repo):
    import sentencepiece as spm
    from swat_torch import SWATForCausalLM
    text = open(os.path.join(repo, "tests", "data", "wisdom.txt")).read()
    corpus = os.path.join(work, "corpus.txt")
    open(corpus, "w").write(text)
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=os.path.join(work, "tok"), vocab_size=400,
                                   model_type="bpe", unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
                                   byte_fallback=True, normalization_rule_name="identity",
                                   remove_extra_whitespaces=False, split_digits=True, minloglevel=2)
    tok = open(os.path.join(work, "tok.model"), "rb").read()
    # an h5py-made checkpoint of a random model with V = 420 >= 400 pieces
    V, d, L, H, f, w = 420, 16, 1, 2, 64, 8
    rng = np.random.RandomState(3)
    ck = os.path.join(work, "tok-ckpt.h5")
    with h5py.File(ck, "w") as h:
        def put(path, shape):
            h.create_dataset(path, data=(rng.randn(*shape) * 0.3 if len(shape) == 2 else np.ones(shape)).astype("<f4"))
        put("model/embeddings/weight", (V, d))
        put("model/layers/0/attn_norm/weight", (d,))
        for p in ("q", "k", "v", "o"):
            put("model/layers/0/attn/%s_proj/weight" % p, (d, d))
        put("model/layers/0/mlp_norm/weight", (d,))
        put("model/layers/0/mlp/gate_proj/weight", (f, d))
        put("model/layers/0/mlp/up_proj/weight", (f, d))
        put("model/layers/0/mlp/down_proj/weight", (d, f))
        put("model/norm/weight", (d,))
        t = h.create_dataset("tokenizer/model", data=np.frombuffer(tok, np.uint8))
        t.attrs["type"] = "sentencepiece"
        h.attrs["format"] = "swat-checkpoint"
        h.attrs["format_version"] = np.int64(1)
        h.attrs["config"] = ("[model]\nvocab_size = %d\nhidden_size = %d\nnum_hidden_layers = %d\nnum_heads = %d\n"
                             "intermediate_size = %d\nwindow_size = %d\nrope_theta = 10000\nrope = true\n"
                             "norm_eps = 1e-06\ntie_word_embeddings = true\nattention = sigmoid\n"
                             "alibi = negative\nsigmoid_bias = -0.5\ninitializer_range = 0.02\n"
                             % (V, d, L, H, f, w))
    out = os.path.join(work, "tok-export")
    py = sys.executable
    r = subprocess.run([py, os.path.join(repo, "tools", "swat_export.py"), ck, out], capture_output=True, text=True)
    check(r.returncode == 0, "export of a checkpoint with /tokenizer/model: %s" % (r.stdout + r.stderr).strip())
    cmd_verify(ck, out)
    model = SWATForCausalLM.from_pretrained(out)
    s = "A fool and his money are soon parted.\nTab\tand \u00e9 \u2713"
    ids = model.tokenizer.encode(s)
    check(ids[0] == 1 and max(ids) < 400 and model.tokenizer.decode(ids) == s,
          "the PyTorch model's tokenizer: [bos] + ids, decode(encode(text)) = text (%d ids)" % len(ids))
    cont = model.generate("A fool", max_new_tokens=8, temperature=0.8, seed=3)
    check(isinstance(cont, str), "generate(text) returns text: %r" % cont)
    imp = os.path.join(work, "tok-import.h5")
    r = subprocess.run([py, os.path.join(repo, "tools", "swat_import.py"), out, imp], capture_output=True, text=True)
    check(r.returncode == 0, "import of the export: %s" % (r.stdout + r.stderr).strip())
    with h5py.File(imp, "r") as h:
        t = h.get("tokenizer/model")
        ok = t is not None and t[()].tobytes() == tok and h5_text(t.attrs["type"]) == "sentencepiece" \
            and int(t.attrs["crc32"]) == zlib.crc32(tok)
    check(ok, "the import carries /tokenizer/model (type sentencepiece, crc32)")


def cmd_bf16():
    """formats.f32_to_bf16_bits against torch's conversion over every kind of
    float32: 2^20 random bit patterns (all exponents, subnormals, both signs),
    the ties (lowest 16 bits 0x8000, odd and even), values that round up into
    the next binade and to infinity, zeros, infinities; NaN stays NaN."""
    from swat_torch import formats
    rng = np.random.RandomState(11)
    bits = rng.randint(0, 2 ** 32, size=1 << 20, dtype=np.uint64).astype(np.uint32)
    special = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x00008000, 0x00018000,
                        0x3F808000, 0x3F818000, 0x3F80FFFF, 0x3FFFFFFF, 0x7F7FFFFF, 0x7F7F8000,
                        0xFF7FFFFF, 0x00000001, 0x807FFFFF, 0x3F7FFFFF], dtype=np.uint32)
    a = np.concatenate([bits, special]).view(np.float32)
    nan = np.isnan(a)
    mine, ref = formats.f32_to_bf16_bits(a), torch_bf16_bits(a)
    back = formats.bf16_bits_to_f32(mine)
    ok = np.array_equal(mine[~nan], ref[~nan]) and np.isnan(back[nan]).all()
    check(ok, "bfloat16 rounding = torch's on %d float32 values (%d NaN kept NaN; ties, overflow to inf,"
          " subnormals)" % (a.size, int(nan.sum())))
    exact = formats.bf16_bits_to_f32(mine[~nan])
    check(np.array_equal(formats.f32_to_bf16_bits(exact), mine[~nan]),
          "bfloat16 -> float32 -> bfloat16 is the identity")


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = sys.argv[1], sys.argv[2:]
    fns = {"verify": (cmd_verify, 2), "roundtrip": (cmd_roundtrip, 2), "loss": (cmd_loss, 4),
           "reference": (cmd_reference, 1), "greedy": (cmd_greedy, 4), "keys": (cmd_keys, 1),
           "tokenizer": (cmd_tokenizer, 2), "bf16": (cmd_bf16, 0)}
    if cmd == "roundtrip" and args[-1:] == ["--bf16"]:
        cmd_roundtrip(args[0], args[1], bf16=True)
    elif cmd in fns and len(args) == fns[cmd][1]:
        fns[cmd][0](*args)
    else:
        print("check_export: usage: see the top of %s" % sys.argv[0], file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
