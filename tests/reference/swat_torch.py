# SPDX-License-Identifier: MIT
"""swat_torch: an independent PyTorch reference of what swat computes (the
model of docs/model.md, the trainer's AdamW and schedule, its sample stream).

Used by the test suite to check the C program end to end (like llm.c's
test_gpt2.c). Written plainly, for small sizes: attention is a dense masked
[T, T] matrix per head, everything can run in float64. Not to be confused
with python/swat_torch (the model for users, banded attention): the two are
kept apart so that each checks the other and the C code independently.

Contents
  parse_config(ini_text)   resolved config (every key, defaults filled)
  config_from_h5(obj)      the `config` root attribute of a dump/checkpoint
  SWAT(model_cfg, dtype, precision)   the model (docs/model.md); parameter
                           names = fla/HF keys; precision "bf16" rounds the
                           inputs of every product (see product())
  load_state(h5, prefix)   state dict from the checkpoint's dataset paths
  load_into(model, sd)     load_state_dict with one-line error messages
  make_adamw(model, tcfg)  torch.optim.AdamW with the trainer's param groups
  lr_at(tcfg, k)           the learning rate of update k (1-based)
  train_update(...)        one update: loss, backward, norm, clip, lr, step
  read_tokens(paths, fmt)  the token stream (bytes / llm.c shards)
"""

import configparser
import glob
import math
import os
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(2)


class RefError(Exception):
    """Bad input (config, file, shapes): callers turn it into exit code 2."""


# --------------------------------------------------------------------------
# Config (INI text, every key of every section, as the C program writes it)
# --------------------------------------------------------------------------

_ENUMS = {
    ("model", "attention"): ("sigmoid", "softmax"),
    ("model", "alibi"): ("balanced", "negative", "positive", "none"),
    ("model", "alibi_magnitudes"): ("auto", "halving", "alibi"),
    ("train", "lr_schedule"): ("cosine", "constant"),
    ("train", "precision"): ("fp32", "bf16"),
    ("data", "format"): ("bytes", "llmc"),
}

# (section, key) -> (type, default); None default = required / unset.
_KEYS = {
    "model": {
        "vocab_size": (int, 256),
        "hidden_size": (int, None),
        "num_hidden_layers": (int, None),
        "num_heads": (int, None),
        "intermediate_size": (int, 0),  # 0 = 256*ceil(floor(8d/3)/256)
        "window_size": (int, None),
        "rope_theta": (float, 10000.0),
        "rope": (bool, True),
        "norm_eps": (float, 1e-6),
        "tie_word_embeddings": (bool, True),
        "attention": (str, "sigmoid"),
        "alibi": (str, "balanced"),
        "alibi_magnitudes": (str, "auto"),  # resolved: halving for balanced, else alibi
        "sigmoid_bias": (float, 0.0),
        "initializer_range": (float, 0.02),
    },
    "train": {
        "lr": (float, 3e-4),
        "beta1": (float, 0.9),
        "beta2": (float, 0.95),
        "eps": (float, 1e-8),
        "weight_decay": (float, 0.01),
        "grad_clip": (float, 1.0),
        "warmup_steps": (int, 0),
        "lr_schedule": (str, "cosine"),
        "min_lr_ratio": (float, 0.1),
        "steps": (int, None),
        "seed": (int, 1234),
        "precision": (str, "fp32"),
    },
    "data": {
        "train": (str, ""),
        "val": (str, ""),
        "format": (str, "bytes"),
        "seq_len": (int, None),
        "batch_size": (int, None),
        "shuffle": (bool, True),
        "val_samples": (int, 0),
    },
    "parallel": {"sp": (int, 1)},
    "checkpoint": {"dir": (str, ""), "every": (int, 1000), "keep": (int, 3)},
}

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _unquote(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        s = s[1:-1]
    return s


def _convert(section, key, typ, raw):
    raw = _unquote(raw)
    try:
        if typ is bool:
            low = raw.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError("not a boolean")
        if typ is int:
            f = float(raw)  # accepts "4" and "4.0" / "1e3"
            if f != int(f):
                raise ValueError("not an integer")
            return int(f)
        if typ is float:
            return float(raw)
        val = raw
        enum = _ENUMS.get((section, key))
        if enum is not None:
            val = raw.lower()
            if val not in enum:
                raise ValueError("expected one of " + "|".join(enum))
        return val
    except ValueError as e:
        raise RefError("config: [%s] %s = %r: %s" % (section, key, raw, e))


def _guess(raw):
    raw = _unquote(raw)
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    for typ in (int, float):
        try:
            return typ(raw)
        except ValueError:
            pass
    return raw


def default_intermediate_size(d):
    return 256 * int(math.ceil((8 * d // 3) / 256.0))


def parse_config(ini_text):
    """INI text -> {section: {key: value}} with the defaults for missing keys.

    Known keys get their type (int/float/bool/enum name); unknown keys (the C
    program may write more, e.g. [parallel] threads) are kept, typed by guess.
    intermediate_size 0 or missing is resolved to 256*ceil(floor(8d/3)/256),
    alibi_magnitudes auto to halving (balanced) or alibi (every other mode).
    """
    if isinstance(ini_text, bytes):
        ini_text = ini_text.decode("utf-8")
    ini_text = ini_text.rstrip("\x00")
    cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"),
                                   strict=False)
    cp.optionxform = str  # keys are case-sensitive names
    try:
        cp.read_string(ini_text)
    except configparser.Error as e:
        raise RefError("config: cannot parse INI text: %s" % str(e).splitlines()[0])
    cfg = {}
    for section, keys in _KEYS.items():
        cfg[section] = {k: v[1] for k, v in keys.items()}
    for section in cp.sections():
        sec = cfg.setdefault(section, {})
        for key, raw in cp.items(section):
            known = _KEYS.get(section, {}).get(key)
            if known and known[0] is not str and _unquote(raw) == "":
                continue  # "key =" with no value: unset, keep the default
            sec[key] = _convert(section, key, known[0], raw) if known else _guess(raw)
    m = cfg["model"]
    for key in ("hidden_size", "num_hidden_layers", "num_heads", "window_size"):
        if m[key] is None:
            raise RefError("config: [model] %s is required" % key)
    d, H = m["hidden_size"], m["num_heads"]
    if d <= 0 or H <= 0 or d % H or (d // H) % 2:
        raise RefError("config: [model] hidden_size %d / num_heads %d: head_dim must be an even integer"
                       % (d, H))
    if m["alibi"] == "balanced" and H % 2:
        raise RefError("config: [model] alibi = balanced needs an even num_heads (got %d)" % H)
    if not m["intermediate_size"]:
        m["intermediate_size"] = default_intermediate_size(d)
    m["alibi_magnitudes"] = resolve_magnitudes(m["alibi"], m["alibi_magnitudes"])
    return cfg


def attr_text(value):
    """An HDF5 string attribute (fixed- or variable-length, bytes or str) -> str."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise RefError("config attribute is an array of %d elements, expected one string"
                           % value.size)
        value = value.reshape(()).item()
    if isinstance(value, (bytes, np.bytes_)):
        value = bytes(value).decode("utf-8")
    if not isinstance(value, str):
        raise RefError("config attribute is not a string (%r)" % type(value))
    return value.rstrip("\x00")


def config_from_h5(h5):
    if "config" not in h5.attrs:
        raise RefError("%s: no root attribute 'config'" % h5.filename)
    return parse_config(attr_text(h5.attrs["config"]))


# --------------------------------------------------------------------------
# Model (docs/model.md)
# --------------------------------------------------------------------------

def resolve_magnitudes(kind, magnitudes):
    """'auto' -> 'halving' for balanced ALiBi, 'alibi' for every other mode."""
    if magnitudes == "auto":
        return "halving" if kind == "balanced" else "alibi"
    return magnitudes


def alibi_slopes(kind, H, magnitudes="auto"):
    """Slope of head n (list of floats). Signs from `kind`: balanced = heads
    n < H/2 negative, the rest positive; negative / positive = every head.
    Sizes: the i-th head of its sign group (i = n, or n - H/2 for balanced's
    positive half) gets 2^-(i+1) ('halving') or 2^(-8(i+1)/H) ('alibi', H the
    model's head count)."""
    mags = resolve_magnitudes(kind, magnitudes)
    if mags == "halving":
        size = lambda i: 2.0 ** -(i + 1)  # noqa: E731
    elif mags == "alibi":
        size = lambda i: 2.0 ** (-8.0 * (i + 1) / H)  # noqa: E731
    else:
        raise RefError("unknown alibi_magnitudes %r" % magnitudes)
    if kind == "balanced":
        half = H // 2
        return [-size(n) if n < half else size(n - half) for n in range(H)]
    if kind == "negative":
        return [-size(n) for n in range(H)]
    if kind == "positive":
        return [size(n) for n in range(H)]
    if kind == "none":
        return [0.0] * H
    raise RefError("unknown alibi %r" % kind)


def rope_cos_sin(T, dh, theta, dtype, device=None):
    """cos, sin [T, dh/2]: angle = p * theta^(-2i/dh) computed in float64, then cast."""
    i = torch.arange(dh // 2, dtype=torch.float64, device=device)
    inv = torch.pow(torch.tensor(float(theta), dtype=torch.float64), -2.0 * i / dh)
    p = torch.arange(T, dtype=torch.float64, device=device)
    ang = p[:, None] * inv[None, :]
    return torch.cos(ang).to(dtype), torch.sin(ang).to(dtype)


def apply_rope(x, cos, sin):
    """x [..., T, dh]; pair (x_i, x_{i+dh/2}) -> (x_i cos - x_{i+dh/2} sin, x_{i+dh/2} cos + x_i sin)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def window_mask(t, j, w):
    """allowed[t, j] = max(0, t-w+1) <= j <= t  (w = 0: full causal), for
    absolute query positions t [Q, 1] and key positions j [1, J]."""
    allowed = j <= t
    if w > 0:
        allowed = allowed & (j >= t - w + 1)
    return allowed


QBLOCK = 512  # attention query block (memory bound only; results do not depend on it)


# The arithmetic of [train] precision = bf16: both inputs of every matrix
# product are rounded to bfloat16 (round to nearest even), in the backward pass
# too, where the incoming gradient is one of the inputs; the products and all
# else run in the model's dtype (float64 here, so the reference differs from
# the C program only by its fp32 accumulation). Written out as an autograd
# Function because autograd alone would not round the incoming gradient.
def to_bf16(x):
    return x.to(torch.bfloat16).to(x.dtype)


class _BF16Product(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b):
        a, b = to_bf16(a), to_bf16(b)
        ctx.save_for_backward(a, b)
        return torch.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        g = to_bf16(g)
        ga = torch.matmul(g, b.transpose(-1, -2))
        gb = torch.matmul(a.transpose(-1, -2), g)
        if b.dim() == 2 and gb.dim() > 2:  # b was broadcast over a's leading dims
            gb = gb.reshape(-1, *gb.shape[-2:]).sum(0)
        return ga, gb


def product(a, b, precision="fp32"):
    """a @ b in the arithmetic of a precision ("fp32": exact in the dtype)."""
    return _BF16Product.apply(a, b) if precision == "bf16" else torch.matmul(a, b)


def rmsnorm(h, g, eps):
    return h / torch.sqrt(torch.mean(h * h, dim=-1, keepdim=True) + eps) * g


class RMSNorm(torch.nn.Module):
    def __init__(self, d, eps, dtype):
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(d, dtype=dtype))

    def forward(self, h):
        return rmsnorm(h, self.weight, self.eps)


class Linear(torch.nn.Linear):
    """nn.Linear without bias whose product follows the model's precision."""

    def __init__(self, n_in, n_out, dtype, precision):
        super().__init__(n_in, n_out, bias=False, dtype=dtype)
        self.precision = precision

    def forward(self, x):
        return product(x, self.weight.t(), self.precision)


def _linear(n_out, n_in, dtype, precision="fp32"):
    return Linear(n_in, n_out, dtype, precision)


class Attention(torch.nn.Module):
    def __init__(self, mc, dtype, precision="fp32"):
        super().__init__()
        self.precision = precision
        d = mc["hidden_size"]
        self.H = mc["num_heads"]
        self.dh = d // self.H
        self.w = mc["window_size"]
        self.kind = mc["attention"]
        self.bias = float(mc["sigmoid_bias"])
        self.rope = mc["rope"]
        self.theta = mc["rope_theta"]
        self.slopes = alibi_slopes(mc["alibi"], self.H, mc.get("alibi_magnitudes", "auto"))
        self.q_proj = _linear(d, d, dtype, precision)
        self.k_proj = _linear(d, d, dtype, precision)
        self.v_proj = _linear(d, d, dtype, precision)
        self.o_proj = _linear(d, d, dtype, precision)

    def attend(self, q, k, v, t0, t1):
        """Outputs [B, H, t1-t0, dh] of queries t0 <= t < t1 (absolute positions)."""
        j0 = max(0, t0 - self.w + 1) if self.w > 0 else 0  # first key any of them sees
        dh = self.dh
        s = product(q[:, :, t0:t1], k[:, :, j0:t1].transpose(-1, -2), self.precision) / math.sqrt(dh)
        t = torch.arange(t0, t1, device=q.device)[:, None]
        j = torch.arange(j0, t1, device=q.device)[None, :]
        slopes = torch.tensor(self.slopes, dtype=q.dtype, device=q.device)
        s = s + slopes[:, None, None] * (t - j).to(q.dtype)  # + slope_n * (t - j)
        allowed = window_mask(t, j, self.w)  # max(0, t-w+1) <= j <= t
        if self.kind == "sigmoid":
            s = s + self.bias
            P = torch.sigmoid(s).masked_fill(~allowed, 0.0)  # unnormalised; masked keys add 0
        elif self.kind == "softmax":
            P = torch.softmax(s.masked_fill(~allowed, float("-inf")), dim=-1)
        else:
            raise RefError("unknown attention %r" % self.kind)
        return product(P, v[:, :, j0:t1], self.precision)

    def forward(self, a):
        B, T, d = a.shape
        H, dh = self.H, self.dh
        # [B, T, d] -> [B, H, T, dh]
        q = self.q_proj(a).view(B, T, H, dh).transpose(1, 2)
        k = self.k_proj(a).view(B, T, H, dh).transpose(1, 2)
        v = self.v_proj(a).view(B, T, H, dh).transpose(1, 2)
        if self.rope:
            cos, sin = rope_cos_sin(T, dh, self.theta, a.dtype, a.device)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        # Queries in blocks of QBLOCK rows, each against the keys it may see
        # (one block = the plain dense [T, T] version for T <= QBLOCK); the
        # blocks only bound memory for long evaluation sequences.
        o = torch.cat([self.attend(q, k, v, t0, min(T, t0 + QBLOCK))
                       for t0 in range(0, T, QBLOCK)], dim=2)  # [B, H, T, dh]
        o = o.transpose(1, 2).reshape(B, T, d)
        return self.o_proj(o)


class MLP(torch.nn.Module):
    def __init__(self, mc, dtype, precision="fp32"):
        super().__init__()
        d, f = mc["hidden_size"], mc["intermediate_size"]
        self.gate_proj = _linear(f, d, dtype, precision)
        self.up_proj = _linear(f, d, dtype, precision)
        self.down_proj = _linear(d, f, dtype, precision)

    def forward(self, m):
        return self.down_proj(F.silu(self.gate_proj(m)) * self.up_proj(m))


class Block(torch.nn.Module):
    def __init__(self, mc, dtype, precision="fp32"):
        super().__init__()
        eps = mc["norm_eps"]
        d = mc["hidden_size"]
        self.attn_norm = RMSNorm(d, eps, dtype)
        self.attn = Attention(mc, dtype, precision)
        self.mlp_norm = RMSNorm(d, eps, dtype)
        self.mlp = MLP(mc, dtype, precision)

    def forward(self, h):
        h = h + self.attn(self.attn_norm(h))
        h = h + self.mlp(self.mlp_norm(h))
        return h


class Body(torch.nn.Module):
    def __init__(self, mc, dtype, precision="fp32"):
        super().__init__()
        self.embeddings = torch.nn.Embedding(mc["vocab_size"], mc["hidden_size"], dtype=dtype)
        self.layers = torch.nn.ModuleList([Block(mc, dtype, precision)
                                           for _ in range(mc["num_hidden_layers"])])
        self.norm = RMSNorm(mc["hidden_size"], mc["norm_eps"], dtype)


class SWAT(torch.nn.Module):
    """The model of docs/model.md. Accepts the [model] section dict or the
    whole parse_config dict."""

    def __init__(self, cfg, dtype=torch.float64, precision="fp32"):
        super().__init__()
        mc = cfg["model"] if "model" in cfg else cfg
        self.precision = precision
        self.mc = dict(mc)
        if not self.mc.get("intermediate_size"):
            self.mc["intermediate_size"] = default_intermediate_size(self.mc["hidden_size"])
        self.dtype = dtype
        self.vocab_size = self.mc["vocab_size"]
        self.tied = bool(self.mc["tie_word_embeddings"])
        self.model = Body(self.mc, dtype, precision)
        if not self.tied:
            self.lm_head = _linear(self.vocab_size, self.mc["hidden_size"], dtype, precision)

    @torch.no_grad()
    def init_weights(self, seed):
        """N(0, initializer_range^2) for every matrix, 1 for every RMSNorm weight.
        (The C program has its own generator: this init is only for fake files.)"""
        gen = torch.Generator().manual_seed(int(seed))
        std = float(self.mc["initializer_range"])
        for name, p in self.named_parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * std)
            else:
                p.fill_(1.0)
        return self

    def logits(self, x):
        """x int [B, T] -> logits [B, T, V]."""
        if x.dim() == 1:
            x = x[None]
        x = x.long()
        if int(x.min()) < 0 or int(x.max()) >= self.vocab_size:
            raise RefError("token id out of range [0, %d)" % self.vocab_size)
        h = self.model.embeddings(x)
        for layer in self.model.layers:
            h = layer(h)
        y = self.model.norm(h)
        W = self.model.embeddings.weight if self.tied else self.lm_head.weight
        return product(y, W.t(), self.precision)

    def forward(self, x, targets=None, reduction="mean"):
        """Returns logits, or (with targets) the cross-entropy (mean over all B*T
        targets, or 'sum' / 'none')."""
        lg = self.logits(x)
        if targets is None:
            return lg
        if targets.dim() == 1:
            targets = targets[None]
        return F.cross_entropy(lg.reshape(-1, lg.shape[-1]), targets.reshape(-1).long(),
                               reduction=reduction)


# --------------------------------------------------------------------------
# Parameter paths (the checkpoint's datasets) and loading
# --------------------------------------------------------------------------

def param_path(key):
    """'model.layers.0.attn.q_proj.weight' -> '/model/layers/0/attn/q_proj/weight'."""
    return "/" + key.replace(".", "/")


def path_key(path):
    return path.strip("/").replace("/", ".")


def decayed(key, p):
    """Weight decay on the matrices, not on the RMSNorm weights."""
    return p.dim() == 2


def _open(h5file):
    import h5py
    if isinstance(h5file, (h5py.File, h5py.Group)):
        return h5file, False
    if not os.path.isfile(str(h5file)):
        raise RefError("%s: no such file" % h5file)
    try:
        return h5py.File(h5file, "r"), True
    except OSError as e:
        raise RefError("%s: not an HDF5 file (%s)" % (h5file, e))


def load_state(h5file, prefix=""):
    """State dict {fla/HF key: tensor (as stored, e.g. float32)} of every dataset
    under PREFIX/model and PREFIX/lm_head (prefix e.g. '' or '/init')."""
    import h5py
    f, close = _open(h5file)
    try:
        base = "/" + prefix.strip("/") if prefix.strip("/") else ""
        sd = OrderedDict()
        for top in ("model", "lm_head"):
            root = base + "/" + top
            if root not in f:
                continue

            def visit(name, obj, root=root):
                if isinstance(obj, h5py.Dataset):
                    full = root + "/" + name
                    key = path_key(full[len(base):])
                    sd[key] = torch.from_numpy(np.array(obj[...]))
            f[root].visititems(visit)
        if not sd:
            raise RefError("%s: no parameters under %s/model" % (f.filename, base or "/"))
        return sd
    finally:
        if close:
            f.close()


def load_into(model, sd, origin="state"):
    """Copies sd into the model's parameters (converting dtype), checking names
    and shapes with one-line messages."""
    own = dict(model.named_parameters())
    missing = [k for k in own if k not in sd]
    extra = [k for k in sd if k not in own]
    if missing:
        raise RefError("%s: missing %s" % (origin, param_path(missing[0])) +
                       (" (and %d more)" % (len(missing) - 1) if len(missing) > 1 else ""))
    if extra:
        raise RefError("%s: unexpected %s for this config" % (origin, param_path(extra[0])))
    with torch.no_grad():
        for k, p in own.items():
            t = sd[k]
            if tuple(t.shape) != tuple(p.shape):
                raise RefError("%s: %s has shape %s, config needs %s"
                               % (origin, param_path(k), tuple(t.shape), tuple(p.shape)))
            p.copy_(t.to(p.dtype))
    return model


# --------------------------------------------------------------------------
# Optimizer, clipping and schedule (AdamW with PyTorch's semantics)
# --------------------------------------------------------------------------

def lr_at(tc, k):
    """Learning rate of update k (1-based)."""
    lr = float(tc["lr"])
    warm = int(tc["warmup_steps"])
    if k <= warm:
        return lr * k / warm
    if tc["lr_schedule"] == "constant":
        return lr
    mn = lr * float(tc["min_lr_ratio"])
    span = int(tc["steps"]) - warm
    prog = (k - warm) / span if span > 0 else 1.0
    return mn + 0.5 * (lr - mn) * (1.0 + math.cos(math.pi * prog))


def make_adamw(model, tc):
    decay, no_decay = [], []
    for key, p in model.named_parameters():
        (decay if decayed(key, p) else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": float(tc["weight_decay"])},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=float(tc["lr"]), betas=(float(tc["beta1"]), float(tc["beta2"])),
                             eps=float(tc["eps"]), weight_decay=float(tc["weight_decay"]),
                             amsgrad=False, foreach=False, maximize=False)


def grad_norm(model):
    """Global L2 norm of all gradients, in float64."""
    return math.sqrt(sum(float(torch.sum(p.grad.double() ** 2)) for p in model.parameters()
                         if p.grad is not None))


def train_update(model, opt, tc, k, inputs, targets):
    """Update k (1-based) on one global batch: returns (loss, pre-clip grad
    norm, lr, {key: gradient before clipping}). The loss is the mean over
    all B*T targets."""
    opt.zero_grad(set_to_none=True)
    loss = model(inputs, targets)
    loss.backward()
    grads = {key: p.grad.detach().clone() for key, p in model.named_parameters()}
    norm = grad_norm(model)
    clip = float(tc["grad_clip"])
    if clip > 0:
        total = float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip))
        assert abs(total - norm) <= 1e-5 * max(norm, 1e-30), (total, norm)
    lr = lr_at(tc, k)
    for g in opt.param_groups:
        g["lr"] = lr
    opt.step()
    return float(loss.detach()), norm, lr, grads


# --------------------------------------------------------------------------
# Data: the sample stream
# --------------------------------------------------------------------------

LLMC_MAGIC = {20240520: np.uint16, 20240801: np.uint32}


def expand_files(pattern):
    files = sorted(glob.glob(pattern), key=lambda s: s.encode()) if any(c in pattern for c in "*?[") \
        else [pattern]
    files = [p for p in files if os.path.isfile(p)]
    if not files:
        raise RefError("%s: no such file" % pattern)
    return files


def read_tokens(pattern, fmt="bytes"):
    """The token stream: the matched files sorted by path (byte order), concatenated."""
    parts = []
    for path in expand_files(pattern):
        raw = open(path, "rb").read()
        if fmt == "bytes":
            parts.append(np.frombuffer(raw, dtype=np.uint8).astype(np.int64))
        elif fmt == "llmc":
            if len(raw) < 1024:
                raise RefError("%s: shorter than the 1024-byte llm.c header" % path)
            hdr = np.frombuffer(raw[:1024], dtype="<i4")
            dt = LLMC_MAGIC.get(int(hdr[0]))
            if dt is None:
                raise RefError("%s: bad llm.c magic %d" % (path, int(hdr[0])))
            n = int(hdr[2])
            size = np.dtype(dt).itemsize
            if n < 0 or len(raw) != 1024 + n * size:
                raise RefError("%s: header says %d tokens, file holds %d bytes of tokens"
                               % (path, n, len(raw) - 1024))
            parts.append(np.frombuffer(raw[1024:], dtype=np.dtype(dt).newbyteorder("<")).astype(np.int64))
        else:
            raise RefError("unknown data format %r" % fmt)
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def samples(tokens, T):
    """(inputs, targets) int64 [n, T] of the n = floor((N-1)/T) complete samples."""
    n = (len(tokens) - 1) // T if len(tokens) > 0 else 0
    idx = np.arange(n)[:, None] * T + np.arange(T + 1)[None, :]
    s = tokens[idx] if n > 0 else np.zeros((0, T + 1), np.int64)
    return s[:, :T], s[:, 1:]
