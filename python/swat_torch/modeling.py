# SPDX-License-Identifier: MIT
"""swat_torch.modeling: a SWAT language model for PyTorch users.

The decoder of docs/model.md with the parameter names of the exported
model.safetensors (model.embeddings.weight, model.layers.<l>.attn.q_proj.weight,
..., lm_head.weight when untied), so a directory written by
tools/swat_export.py loads with `SWATForCausalLM.from_pretrained(dir)`.

Attention is computed over the band only, in blocks of query rows, as the C
kernel does: a block of rows [r0, r1) reaches the keys [r0 - w + 1, r1), so
one block's scores are [bq, bq + w - 1] per head and no [T, T] matrix ever
exists (memory O(T (bq + w)) per head instead of O(T^2)). The keys before a
chunk (the cache of generation, or nothing) sit in front of the chunk's own,
exactly like the halo of the C model's sequence parallelism, so the same
function serves a whole sequence, a prompt fed in pieces, and one token at a
time. Generation keeps per layer only the last w - 1 keys and values after
RoPE (WindowCache): constant memory and time per token however long the text
grows.

Arithmetic follows the C model operation by operation in float32 (scores
scaled inside the product, then slope x distance and bias added; RoPE angles
in float64, then cast), so logits and losses agree with swat-eval to float32
rounding; the regrouped sums of BLIS vs PyTorch are the only difference.
"""

import json
import math
import os

import torch
import torch.nn.functional as F

from . import formats


class SWATConfig:
    """The model keys (formats.MODEL_KEYS), validated and resolved; each key
    is an attribute. SWATConfig(hidden_size=..., num_hidden_layers=...,
    num_heads=..., window_size=...) fills the other keys with their defaults;
    from_json_file requires every key, as config.json holds them all."""

    def __init__(self, **keys):
        obj = {"model_type": "swat", "architectures": ["SWATForCausalLM"]}
        for name, _, default, _ in formats.MODEL_KEYS:
            if default is not None:
                obj[name] = default
        obj.update(keys)
        if not obj["intermediate_size"]:
            obj["intermediate_size"] = formats.derived_intermediate(obj.get("hidden_size", 0) or 0)
        m, self.torch_dtype = formats.model_config_from_hf(obj, "SWATConfig")
        self._keys = m
        for k, v in m.items():
            setattr(self, k, v)
        self.head_dim = self.hidden_size // self.num_heads

    @classmethod
    def from_json_file(cls, path):
        m, dt = formats.read_hf_config(path)  # strict: every key present
        return cls(torch_dtype=dt, **m)

    def to_dict(self):
        """The resolved model keys (formats.MODEL_KEYS order)."""
        return dict(self._keys)

    def __repr__(self):
        return "SWATConfig(%s)" % json.dumps(self._keys)


def alibi_slopes(cfg):
    """Slope of each head: the sign from cfg.alibi (balanced: the first half
    of the heads negative, the rest positive), the size from the head's place
    i in its sign group: 2^-(i+1) (halving) or 2^(-8(i+1)/H) (alibi)."""
    H, out = cfg.num_heads, []
    for n in range(H):
        i = n - H // 2 if cfg.alibi == "balanced" and n >= H // 2 else n
        size = math.ldexp(1.0, -(i + 1)) if cfg.alibi_magnitudes == "halving" else 2.0 ** (-8.0 * (i + 1) / H)
        if cfg.alibi == "none":
            out.append(0.0)
        elif cfg.alibi == "negative" or (cfg.alibi == "balanced" and n < H // 2):
            out.append(-size)
        else:
            out.append(size)
    return out


def rope_tables(p0, n, dh, theta, dtype, device=None):
    """cos, sin [n, dh/2] for positions p0 ... p0+n-1: angle p * theta^(-2i/dh)
    in float64, then cast (as the C table is computed)."""
    i = torch.arange(dh // 2, dtype=torch.float64, device=device)
    inv = torch.pow(torch.tensor(float(theta), dtype=torch.float64), -2.0 * i / dh)
    p = torch.arange(p0, p0 + n, dtype=torch.float64, device=device)
    ang = p[:, None] * inv[None, :]
    return torch.cos(ang).to(dtype), torch.sin(ang).to(dtype)


def apply_rope(x, cos, sin):
    """x [..., n, dh]: the pair (x_i, x_{i+dh/2}) rotated by the angle of its row."""
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


def band_attention(q, k, v, n_before, slopes, window, kind, bias, block):
    """Causal sliding-window attention over the band, block by block.

    q [B, H, T, dh]: the chunk's queries; k, v [B, H, n_before + T, dh]: the
    n_before keys/values that precede the chunk, then the chunk's own. Query
    row t sees key rows j with 0 <= (n_before + t) - j < window (any distance
    >= 0 when window = 0) with score q.k / sqrt(dh) + slope * distance
    (+ bias in sigmoid mode), weighted by sigmoid (no normalisation) or a
    softmax over the row's band. Returns [B, H, T, dh]."""
    B, H, T, dh = q.shape
    scale = 1.0 / math.sqrt(dh)
    out = q.new_empty(B, H, T, dh)
    sl = slopes.to(q.dtype)[None, :, None, None]
    for r0 in range(0, T, block):
        r1 = min(T, r0 + block)
        hi = n_before + r1  # one past the last key of the block
        lo = max(0, n_before + r0 - window + 1) if window > 0 else 0
        s = torch.matmul(q[:, :, r0:r1], k[:, :, lo:hi].transpose(-1, -2)) * scale
        dist = (torch.arange(n_before + r0, n_before + r1, device=q.device)[:, None]
                - torch.arange(lo, hi, device=q.device)[None, :])
        band = dist >= 0
        if window > 0:
            band &= dist < window
        s = s + sl * dist.to(q.dtype)
        if kind == "sigmoid":
            p = torch.sigmoid(s + bias).masked_fill(~band, 0.0)
        else:
            p = torch.softmax(s.masked_fill(~band, float("-inf")), dim=-1)
        out[:, :, r0:r1] = torch.matmul(p, v[:, :, lo:hi])
    return out


class WindowCache:
    """Per layer, the keys and values (after RoPE) of the last w - 1
    positions a generation has seen, and how many positions it has seen.
    With window_size = 0 (full attention) it keeps every position: memory
    then grows with the text."""

    def __init__(self, cfg):
        self.keep = cfg.window_size - 1 if cfg.window_size > 0 else None
        self.k = [None] * cfg.num_hidden_layers
        self.v = [None] * cfg.num_hidden_layers
        self.pos = 0

    def before(self, layer, like):
        """(k, v) [B, H, n, dh] carried into the next chunk (n may be 0)."""
        if self.k[layer] is None:
            empty = like.new_zeros(like.shape[0], like.shape[1], 0, like.shape[3])
            return empty, empty
        return self.k[layer], self.v[layer]

    def update(self, layer, k_all, v_all):
        if self.keep is not None:
            n = min(self.keep, k_all.shape[2])
            k_all, v_all = k_all[:, :, k_all.shape[2] - n:], v_all[:, :, v_all.shape[2] - n:]
        self.k[layer], self.v[layer] = k_all.contiguous(), v_all.contiguous()


class RMSNorm(torch.nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(d))

    def forward(self, h):
        return h * torch.rsqrt(torch.mean(h * h, dim=-1, keepdim=True) + self.eps) * self.weight


def _linear(n_in, n_out):
    return torch.nn.Linear(n_in, n_out, bias=False)


class SWATAttention(torch.nn.Module):
    def __init__(self, cfg, layer):
        super().__init__()
        d = cfg.hidden_size
        self.cfg, self.layer = cfg, layer
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (_linear(d, d) for _ in range(4))
        self.register_buffer("slopes", torch.tensor(alibi_slopes(cfg), dtype=torch.float64), persistent=False)

    def forward(self, a, p0, rope, cache, block):
        cfg = self.cfg
        B, T, d = a.shape
        H, dh = cfg.num_heads, cfg.head_dim
        q = self.q_proj(a).view(B, T, H, dh).transpose(1, 2)
        k = self.k_proj(a).view(B, T, H, dh).transpose(1, 2)
        v = self.v_proj(a).view(B, T, H, dh).transpose(1, 2)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        n_before = 0
        if cache is not None:
            kb, vb = cache.before(self.layer, k)
            n_before = kb.shape[2]
            k, v = torch.cat([kb, k], dim=2), torch.cat([vb, v], dim=2)
            cache.update(self.layer, k, v)
        bias = cfg.sigmoid_bias if cfg.attention == "sigmoid" else 0.0
        o = band_attention(q, k, v, n_before, self.slopes, cfg.window_size, cfg.attention, bias, block)
        return self.o_proj(o.transpose(1, 2).reshape(B, T, d))


class SWATMLP(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, f = cfg.hidden_size, cfg.intermediate_size
        self.gate_proj, self.up_proj, self.down_proj = _linear(d, f), _linear(d, f), _linear(f, d)

    def forward(self, m):
        return self.down_proj(F.silu(self.gate_proj(m)) * self.up_proj(m))


class SWATBlock(torch.nn.Module):
    def __init__(self, cfg, layer):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.hidden_size, cfg.norm_eps)
        self.attn = SWATAttention(cfg, layer)
        self.mlp_norm = RMSNorm(cfg.hidden_size, cfg.norm_eps)
        self.mlp = SWATMLP(cfg)

    def forward(self, h, p0, rope, cache, block):
        h = h + self.attn(self.attn_norm(h), p0, rope, cache, block)
        return h + self.mlp(self.mlp_norm(h))


class SWATModel(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = torch.nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = torch.nn.ModuleList([SWATBlock(cfg, i) for i in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.norm_eps)


class SWATForCausalLM(torch.nn.Module):
    """A SWAT decoder. forward(ids [B, T] or [T]) -> logits [B, T, V]."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.model = SWATModel(config)
        if not config.tie_word_embeddings:
            self.lm_head = _linear(config.hidden_size, config.vocab_size)
        self.tokenizer = None
        self._tokenizer_bytes = None
        # query rows per attention block: the kernel's trade of wasted
        # off-band scores against bigger products (64 as attn.c from w = 256)
        w = config.window_size
        self.block = 64 if w == 0 else max(16, min(64, w))

    # -- loading and saving --------------------------------------------------

    @classmethod
    def from_pretrained(cls, path, dtype=torch.float32):
        """Loads config.json, model.safetensors and (when present)
        tokenizer.model from a directory written by tools/swat_export.py.
        Raises formats.FormatError (one line) on a file that does not
        describe a SWAT model."""
        cfg = SWATConfig.from_json_file(os.path.join(path, "config.json"))
        st = os.path.join(path, "model.safetensors")
        entries, _ = formats.read_safetensors_header(st)
        formats.check_model_tensors(st, entries, cfg.to_dict())
        model = cls(cfg)
        with torch.no_grad():
            params = dict(model.named_parameters())
            for name, _ in formats.tensor_table(cfg.to_dict()):
                params[name].copy_(torch.from_numpy(formats.read_tensor_f32(st, entries[name])))
        model.to(dtype)
        tok_path = os.path.join(path, "tokenizer.model")
        if os.path.isfile(tok_path):
            from .tokenizer import SentencePieceTokenizer
            with open(tok_path, "rb") as f:
                model._tokenizer_bytes = f.read()
            model.tokenizer = SentencePieceTokenizer(model._tokenizer_bytes, cfg.vocab_size, tok_path)
        elif cfg.vocab_size == 256:
            from .tokenizer import ByteTokenizer
            model.tokenizer = ByteTokenizer()
        return model.eval()

    def save_pretrained(self, path, dtype="float32", force=False):
        """Writes the directory from_pretrained and tools/swat_import.py read
        (dtype float32 or bfloat16; see formats.write_model_dir)."""
        params = {k: p.detach().float().cpu().numpy() for k, p in self.named_parameters()}
        formats.write_model_dir(path, self.config.to_dict(), dtype, params.__getitem__,
                                self._tokenizer_bytes, force)

    # -- the forward pass ----------------------------------------------------

    def forward(self, input_ids, cache=None):
        """Logits [B, T, V] of input_ids [B, T] (or [T]). With a WindowCache,
        the tokens continue the sequence the cache has seen (positions from
        cache.pos on) and the cache is advanced past them."""
        if input_ids.dim() == 1:
            input_ids = input_ids[None]
        ids = input_ids.long()
        V = self.config.vocab_size
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= V):
            raise ValueError("token id outside [0, %d)" % V)
        B, T = ids.shape
        p0 = cache.pos if cache is not None else 0
        h = self.model.embeddings(ids)
        rope = None
        if self.config.rope:
            rope = rope_tables(p0, T, self.config.head_dim, self.config.rope_theta, h.dtype, h.device)
        for layer in self.model.layers:
            h = layer(h, p0, rope, cache, self.block)
        if cache is not None:
            cache.pos += T
        y = self.model.norm(h)
        W = self.model.embeddings.weight if self.config.tie_word_embeddings else self.lm_head.weight
        return torch.matmul(y, W.t())

    def loss(self, input_ids, targets):
        """Mean cross-entropy (nats) of targets [B, T] given input_ids [B, T]."""
        logits = self(input_ids)
        if targets.dim() == 1:
            targets = targets[None]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1).long())

    # -- generation ----------------------------------------------------------

    @torch.no_grad()
    def generate(self, prompt, max_new_tokens=256, temperature=1.0, top_k=0, top_p=1.0, seed=1234,
                 eos_token_id=None, chunk=None, on_token=None):
        """Continues a prompt: text (encoded with the model's tokenizer:
        SentencePiece gets [bos] + ids, a byte model the UTF-8 bytes), or a
        sequence of token ids. Returns the continuation, as text for a text
        prompt and as a list of ids otherwise.

        The prompt is fed in chunks of `chunk` tokens (default max(w, 256))
        and then one token at a time, each layer keeping only its last w - 1
        keys and values. temperature 0 is greedy (the lowest id among equal
        maxima, as swat-generate); otherwise softmax(logits / temperature)
        restricted to the top_k most likely ids (0 = all), then to the
        smallest set of most likely ids whose probability reaches top_p,
        sampled from a torch.Generator seeded with `seed`. Stops after
        max_new_tokens, or at eos_token_id when given. on_token(id) is
        called for every new id as it is sampled."""
        text = isinstance(prompt, str)
        if text:
            if self.tokenizer is None:
                raise ValueError("a text prompt needs a tokenizer (tokenizer.model, or a byte model)")
            ids = self.tokenizer.encode(prompt)
        else:
            ids = [int(t) for t in (prompt.tolist() if torch.is_tensor(prompt) else prompt)]
        if not ids:
            raise ValueError("empty prompt: give at least one token")
        w = self.config.window_size
        chunk = chunk or max(w, 256)
        device = self.model.embeddings.weight.device
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        cache = WindowCache(self.config)
        logits = None
        for i in range(0, len(ids), chunk):
            piece = torch.tensor(ids[i:i + chunk], dtype=torch.long, device=device)
            logits = self(piece, cache)[0, -1]
        out = []
        for _ in range(max_new_tokens):
            nxt = self._sample(logits.float(), temperature, top_k, top_p, gen)
            out.append(nxt)
            if on_token is not None:
                on_token(nxt)
            if eos_token_id is not None and nxt == eos_token_id:
                break
            logits = self(torch.tensor([nxt], device=device), cache)[0, -1]
        return self.tokenizer.decode(out) if text else out

    @staticmethod
    def _sample(logits, temperature, top_k, top_p, gen):
        if temperature <= 0:
            return int(torch.argmax(logits))  # first maximum: the lowest id
        probs = torch.softmax(logits / temperature, dim=-1).cpu()
        order = torch.argsort(probs, descending=True)
        p = probs[order]
        if top_k > 0:
            p = p[:top_k]
            order = order[:top_k]
        if top_p < 1.0:
            keep = int(torch.searchsorted(torch.cumsum(p, 0), torch.tensor(top_p, dtype=p.dtype))) + 1
            p, order = p[:keep], order[:keep]
        return int(order[torch.multinomial(p, 1, generator=gen)])
