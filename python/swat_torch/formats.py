# SPDX-License-Identifier: MIT
"""swat_torch.formats: the files a SWAT model travels in, with numpy only.

- The model keys: one table (MODEL_KEYS) of name, type, default and bounds,
  the Python twin of the [model] rows of src/config.c (a test compares the
  two through `swat-train --print-config`). It reads the checkpoint's INI
  text and validates config.json, so both refuse the same values.
- config.json: what `tools/swat_export.py` writes next to the weights
  (every model key resolved, plus the Hugging Face bookkeeping keys).
- safetensors (Hugging Face's format, written and read here from its
  description: Debian 12 packages no safetensors library): an 8-byte
  little-endian header length N, N bytes of JSON
  {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
  {str: str}}, then the data, little-endian, C order. The reader treats the
  file as hostile: every length and offset is checked against the file and
  against the others before a byte of data is read (no holes, no overlaps,
  sizes that match dtype x shape), and the message names the file and the
  tensor.
- bfloat16: float32 rounded to nearest even (the top 16 bits after adding
  0x7FFF plus the lowest kept bit), NaN kept a quiet NaN of the same sign.
- The tensor table of a config (names in the order of the C parameter
  table, shapes in PyTorch's [out, in] layout).

Every error is a FormatError whose text is one line naming the file, the key
or tensor, and the value; the tools print it and exit 2.
No torch here: the export and import tools need numpy (and h5py) only.
"""

import argparse
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import zlib

import numpy as np


class FormatError(Exception):
    """Bad input: one line naming the file, key or tensor at fault."""


class ToolParser(argparse.ArgumentParser):
    """The tools' command lines: a usage error is one line and exit 2, like
    every other bad input (argparse prints the whole usage otherwise)."""

    def error(self, message):
        print("%s: %s (see --help)" % (self.prog.rsplit(".", 1)[0], message), file=sys.stderr)
        raise SystemExit(2)


# ---------------------------------------------------------------------------
# Model keys (the [model] rows of src/config.c)
# ---------------------------------------------------------------------------

DIM_MAX = 2147483647  # sizes index arrays with int in the C kernels and MPI
ATTENTIONS = ("sigmoid", "softmax")
ALIBIS = ("balanced", "negative", "positive", "none")
MAGNITUDES = ("auto", "halving", "alibi")

# name, type, default (None = required), check(value) -> reason or None
_POSITIVE = (lambda v: None if v > 0 else "must be > 0")
_FINITE = (lambda v: None)


def _int_in(lo, hi):
    return lambda v: None if lo <= v <= hi else "must be >= %d and <= %d" % (lo, hi)


def _one_of(names):
    return lambda v: None if v in names else "not one of " + ", ".join(names)


MODEL_KEYS = (
    ("vocab_size", int, 256, _int_in(2, DIM_MAX)),
    ("hidden_size", int, None, _int_in(1, DIM_MAX)),
    ("num_hidden_layers", int, None, _int_in(1, DIM_MAX)),
    ("num_heads", int, None, _int_in(1, DIM_MAX)),
    ("intermediate_size", int, 0, _int_in(0, DIM_MAX)),  # 0 = derived from d
    ("window_size", int, None, _int_in(0, DIM_MAX)),
    ("rope_theta", float, 10000.0, _POSITIVE),
    ("rope", bool, True, None),
    ("norm_eps", float, 1e-6, _POSITIVE),
    ("tie_word_embeddings", bool, True, None),
    ("attention", str, "sigmoid", _one_of(ATTENTIONS)),
    ("alibi", str, "balanced", _one_of(ALIBIS)),
    ("alibi_magnitudes", str, "auto", _one_of(MAGNITUDES)),
    ("sigmoid_bias", float, 0.0, _FINITE),
    ("initializer_range", float, 0.02, _POSITIVE),
)
MODEL_KEY_NAMES = tuple(k[0] for k in MODEL_KEYS)

# config.json beyond the model keys: (key, required value or None = any of type)
HF_KEYS = {
    "model_type": "swat",
    "architectures": ["SWATForCausalLM"],
    "hidden_act": "swish",
    "bos_token_id": 1,
    "eos_token_id": 2,
}
TORCH_DTYPES = ("float32", "bfloat16")


def derived_intermediate(d):
    """256*ceil(floor(8d/3)/256), the MLP width when the config gives 0."""
    return 256 * ((8 * d // 3 + 255) // 256)


def resolve_magnitudes(alibi, magnitudes):
    """'auto' -> 'halving' for balanced ALiBi, 'alibi' for every other mode."""
    if magnitudes == "auto":
        return "halving" if alibi == "balanced" else "alibi"
    return magnitudes


def _check_relations(m, origin):
    d, H = m["hidden_size"], m["num_heads"]
    if d % H:
        raise FormatError("%s: hidden_size %d is not divisible by num_heads %d" % (origin, d, H))
    if (d // H) % 2:
        raise FormatError("%s: head_dim = hidden_size %d / num_heads %d = %d is odd (RoPE rotates"
                          " half of each head)" % (origin, d, H, d // H))
    if m["alibi"] == "balanced" and H % 2:
        raise FormatError("%s: alibi = balanced needs an even num_heads, got %d" % (origin, H))


def _finish(m, origin):
    """Relations, then the derived values: intermediate_size and magnitudes."""
    _check_relations(m, origin)
    if m["intermediate_size"] == 0:
        m["intermediate_size"] = derived_intermediate(m["hidden_size"])
    m["alibi_magnitudes"] = resolve_magnitudes(m["alibi"], m["alibi_magnitudes"])
    return m


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _parse_ini_value(typ, text):
    """One INI value as the C parser reads it; ValueError with a reason."""
    if typ is bool:
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("not a boolean")
    if typ is int:
        if not text or not (text.lstrip("+-").isdigit()):
            raise ValueError("not an integer")
        return int(text)
    if typ is float:
        v = float(text)  # ValueError: "could not convert"
        if not math.isfinite(v):
            raise ValueError("not a finite number")
        return v
    return text.lower()


def model_config_from_ini(text, origin):
    """The [model] keys of a checkpoint's `config` attribute (INI text as
    swat-train writes it), typed, checked and resolved. A key the file lacks
    gets its default (checkpoints from before `alibi_magnitudes` existed
    resolve to the model they were trained as); an unknown [model] key is
    refused, as the C reader refuses it."""
    vals = {}
    section = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if section != "model":
            continue
        if "=" not in line:
            raise FormatError("%s:%d: expected key = value in [model], got %r" % (origin, lineno, line[:60]))
        key, value = (s.strip() for s in line.split("=", 1))
        if key not in MODEL_KEY_NAMES:
            raise FormatError("%s:%d: unknown key %s in [model]" % (origin, lineno, key))
        if key in vals:
            raise FormatError("%s:%d: [model] %s given twice" % (origin, lineno, key))
        vals[key] = (lineno, value)
    m = {}
    for name, typ, default, check in MODEL_KEYS:
        if name not in vals:
            if default is None:
                raise FormatError("%s: [model] %s is missing (not a swat model config?)" % (origin, name))
            m[name] = default
            continue
        lineno, text_value = vals[name]
        try:
            v = _parse_ini_value(typ, text_value)
        except ValueError as e:
            raise FormatError("%s:%d: [model] %s = %s: %s" % (origin, lineno, name, text_value[:40], e))
        why = check(v) if check else None
        if why:
            raise FormatError("%s:%d: [model] %s = %s: %s" % (origin, lineno, name, text_value[:40], why))
        m[name] = v
    return _finish(m, origin)


def model_config_to_ini(m):
    """The [model] section of a checkpoint config for a resolved model dict;
    reals as repr() (the shortest text that reads back to the same double, as
    the C printer writes them)."""
    lines = ["[model]"]
    for name, typ, _, _ in MODEL_KEYS:
        v = m[name]
        if typ is bool:
            text = "true" if v else "false"
        elif typ is float:
            text = repr(float(v))
        else:
            text = str(v)
        lines.append("%s = %s" % (name, text))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# config.json
# ---------------------------------------------------------------------------

def hf_config(m, torch_dtype):
    """config.json for a resolved model dict: every model key, then the
    Hugging Face bookkeeping keys."""
    if torch_dtype not in TORCH_DTYPES:
        raise ValueError(torch_dtype)
    out = {"model_type": "swat", "architectures": ["SWATForCausalLM"]}
    for name, typ, _, _ in MODEL_KEYS:
        out[name] = float(m[name]) if typ is float else m[name]
    out.update(hidden_act="swish", bos_token_id=1, eos_token_id=2, torch_dtype=torch_dtype)
    return out


def _json_no_duplicates(pairs, origin):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise FormatError("%s: key %r given twice" % (origin, k))
        seen[k] = v
    return seen


def _reject_constant(name):
    raise ValueError("%s is not a JSON number" % name)


def load_json_object(path, what):
    """A JSON object from a file; FormatError on anything else."""
    try:
        with open(path, "rb") as f:
            raw = f.read(64 << 20)
            if f.read(1):
                raise FormatError("%s: larger than 64 MiB, not a %s" % (path, what))
    except OSError as e:
        raise FormatError("%s: cannot read: %s" % (path, e.strerror or e))
    try:
        obj = json.loads(raw.decode("utf-8"), object_pairs_hook=lambda p: _json_no_duplicates(p, path),
                         parse_constant=_reject_constant)
    except UnicodeDecodeError as e:
        raise FormatError("%s: not UTF-8 (byte %d)" % (path, e.start))
    except ValueError as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError("%s: not JSON: %s" % (path, str(e).splitlines()[0]))
    if not isinstance(obj, dict):
        raise FormatError("%s: not a JSON object, not a %s" % (path, what))
    return obj


def model_config_from_hf(obj, origin):
    """Validates a config.json object (every model key present, typed, within
    bounds; model_type swat) and returns (resolved model dict, torch_dtype)."""
    mt = obj.get("model_type")
    if mt != "swat":
        raise FormatError("%s: model_type is %s, not \"swat\": not a SWAT model"
                          % (origin, json.dumps(mt) if mt is not None else "missing"))
    archs = obj.get("architectures", ["SWATForCausalLM"])
    if not isinstance(archs, list) or "SWATForCausalLM" not in archs:
        raise FormatError("%s: architectures is %s, without \"SWATForCausalLM\"" % (origin, json.dumps(archs)[:80]))
    act = obj.get("hidden_act", "swish")
    if act not in ("swish", "silu"):
        raise FormatError("%s: hidden_act %s: a SWAT model's MLP is SwiGLU (\"swish\")" % (origin, json.dumps(act)[:40]))
    m = {}
    for name, typ, _, check in MODEL_KEYS:
        if name not in obj:
            raise FormatError("%s: key %s is missing" % (origin, name))
        v = obj[name]
        shown = json.dumps(v)[:40]
        if typ is bool:
            ok = isinstance(v, bool)
        elif typ is int:
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif typ is float:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            v = float(v) if ok else v
        else:
            ok = isinstance(v, str)
        if not ok:
            raise FormatError("%s: %s = %s: not %s" % (origin, name, shown, {
                bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}[typ]))
        why = check(v) if check else None
        if name == "intermediate_size" and v == 0:
            why = "must be >= 1 (config.json holds the resolved width)"
        if why:
            raise FormatError("%s: %s = %s: %s" % (origin, name, shown, why))
        m[name] = v
    dt = obj.get("torch_dtype", "float32")
    if dt not in TORCH_DTYPES:
        raise FormatError("%s: torch_dtype %s: not one of %s" % (origin, json.dumps(dt)[:40], ", ".join(TORCH_DTYPES)))
    return _finish(m, origin), dt


def read_hf_config(path):
    """config.json -> (resolved model dict, torch_dtype)."""
    return model_config_from_hf(load_json_object(path, "config.json"), path)


# ---------------------------------------------------------------------------
# The tensors of a model
# ---------------------------------------------------------------------------

def tensor_table(m):
    """[(name, shape)] in the order of the C parameter table; names are the
    state-dict keys ('.'), the checkpoint's dataset paths with '/'."""
    V, d, L, f = m["vocab_size"], m["hidden_size"], m["num_hidden_layers"], m["intermediate_size"]
    t = [("model.embeddings.weight", (V, d))]
    for layer in range(L):
        p = "model.layers.%d." % layer
        t.append((p + "attn_norm.weight", (d,)))
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            t.append((p + "attn.%s.weight" % proj, (d, d)))
        t.append((p + "mlp_norm.weight", (d,)))
        t.append((p + "mlp.gate_proj.weight", (f, d)))
        t.append((p + "mlp.up_proj.weight", (f, d)))
        t.append((p + "mlp.down_proj.weight", (d, f)))
    t.append(("model.norm.weight", (d,)))
    if not m["tie_word_embeddings"]:
        t.append(("lm_head.weight", (V, d)))
    return t


def dataset_path(name):
    """'model.layers.0.attn.q_proj.weight' -> '/model/layers/0/attn/q_proj/weight'."""
    return "/" + name.replace(".", "/")


def crc32(a):
    """zlib's CRC-32 of an array's raw bytes (C order, as stored)."""
    return zlib.crc32(np.ascontiguousarray(a).tobytes()) & 0xFFFFFFFF


# ---------------------------------------------------------------------------
# bfloat16
# ---------------------------------------------------------------------------

def f32_to_bf16_bits(a):
    """float32 array -> uint16 bfloat16 bits, rounded to nearest even."""
    u = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(np.ascontiguousarray(a, dtype="<f4"))
    if nan.any():  # keep NaN a NaN (rounding could carry it into Inf), quiet, same sign
        rounded[nan] = ((u[nan] >> 16) | 0x0040).astype(np.uint16)
    return rounded


def bf16_bits_to_f32(u):
    """uint16 bfloat16 bits -> float32 (exact)."""
    return (np.asarray(u, dtype=np.uint32) << 16).view(np.float32)


# ---------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------

DTYPE_SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2,
               "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
MAX_HEADER = 100_000_000  # what the reference implementation accepts


class TensorInfo:
    """One header entry: dtype, shape, absolute [begin, end) in the file."""

    __slots__ = ("name", "dtype", "shape", "begin", "end")

    def __init__(self, name, dtype, shape, begin, end):
        self.name, self.dtype, self.shape, self.begin, self.end = name, dtype, tuple(shape), begin, end


def _is_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def read_safetensors_header(path):
    """Parses and checks a safetensors header. Returns ({name: TensorInfo},
    metadata dict). Refuses, with one line: a header length beyond the file
    or 100 MB, a header that is not a JSON object of entries, an unknown
    dtype, a shape or offsets that are not non-negative integers, a byte
    range whose length is not numel x dtype size, ranges that overlap or
    leave holes, and data that does not end where the file ends."""
    try:
        size = os.path.getsize(path)
        f = open(path, "rb")
    except OSError as e:
        raise FormatError("%s: cannot read: %s" % (path, e.strerror or e))
    with f:
        head = f.read(8)
        if len(head) < 8:
            raise FormatError("%s: %d bytes, shorter than the 8-byte header length of a safetensors file"
                              % (path, size))
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER:
            raise FormatError("%s: header length %d is more than the %d bytes a safetensors header may have"
                              % (path, n, MAX_HEADER))
        if 8 + n > size:
            raise FormatError("%s: header length %d runs past the end of the file (%d bytes)" % (path, n, size))
        raw = f.read(n)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError("%s: header is not UTF-8 (byte %d)" % (path, 8 + e.start))
    if not text.startswith("{"):
        raise FormatError("%s: header does not start with '{'" % path)
    try:
        hdr = json.loads(text, object_pairs_hook=lambda p: _json_no_duplicates(p, path + ": header"),
                         parse_constant=_reject_constant)
    except ValueError as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError("%s: header is not JSON: %s" % (path, str(e).splitlines()[0]))
    if not isinstance(hdr, dict):
        raise FormatError("%s: header is not a JSON object" % path)
    meta = hdr.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise FormatError("%s: __metadata__ is not an object of strings" % path)
    data_start, data_len = 8 + n, size - 8 - n
    entries = {}
    for name, e in hdr.items():
        where = "%s: tensor %s" % (path, name)
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise FormatError("%s: entry is not {dtype, shape, data_offsets}" % where)
        dt, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if dt not in DTYPE_SIZES:
            raise FormatError("%s: unknown dtype %s" % (where, json.dumps(dt)[:20]))
        if not isinstance(shape, list) or not all(_is_count(s) for s in shape):
            raise FormatError("%s: shape %s is not a list of non-negative integers" % (where, json.dumps(shape)[:60]))
        if not isinstance(offs, list) or len(offs) != 2 or not all(_is_count(o) for o in offs) or offs[0] > offs[1]:
            raise FormatError("%s: data_offsets %s is not [begin, end] with 0 <= begin <= end"
                              % (where, json.dumps(offs)[:60]))
        numel = 1
        for s in shape:
            numel *= s
        want = numel * DTYPE_SIZES[dt]
        if offs[1] - offs[0] != want:
            raise FormatError("%s: data_offsets %s hold %d bytes, but %s %s needs %d"
                              % (where, offs, offs[1] - offs[0], dt, shape, want))
        if offs[1] > data_len:
            raise FormatError("%s: data_offsets %s end past the data (%d bytes after the header)"
                              % (where, offs, data_len))
        entries[name] = TensorInfo(name, dt, shape, data_start + offs[0], data_start + offs[1])
    pos = data_start
    for t in sorted(entries.values(), key=lambda t: (t.begin, t.end)):
        if t.begin != pos:
            raise FormatError("%s: tensor %s starts at data offset %d, but the previous tensor ends at %d (%s)"
                              % (path, t.name, t.begin - data_start, pos - data_start,
                                 "overlap" if t.begin < pos else "a hole"))
        pos = t.end
    if pos != size:
        raise FormatError("%s: the tensors end at data offset %d, but the file holds %d bytes of data"
                          % (path, pos - data_start, data_len))
    return entries, meta


def read_tensor_f32(path, info):
    """A float tensor (F32, BF16 or F16) as float32, exactly converted."""
    kinds = {"F32": "<f4", "BF16": "<u2", "F16": "<f2"}
    if info.dtype not in kinds:
        raise FormatError("%s: tensor %s has dtype %s; a SWAT model's tensors are F32, BF16 or F16"
                          % (path, info.name, info.dtype))
    numel = (info.end - info.begin) // DTYPE_SIZES[info.dtype]
    with open(path, "rb") as f:
        f.seek(info.begin)
        a = np.fromfile(f, dtype=kinds[info.dtype], count=numel)
    if a.size != numel:
        raise FormatError("%s: tensor %s: file shorter than its data_offsets" % (path, info.name))
    if info.dtype == "BF16":
        a = bf16_bits_to_f32(a)
    return a.astype(np.float32, copy=False).reshape(info.shape)


def check_model_tensors(path, entries, m):
    """The header names exactly the tensors of model m, with its shapes and a
    float dtype; returns the table [(name, shape)]."""
    table = tensor_table(m)
    names = {n for n, _ in table}
    for name, shape in table:
        if name not in entries:
            raise FormatError("%s: tensor %s is missing (config: %s)"
                              % (path, name, "untied" if name == "lm_head.weight" else "every SWAT model has it"))
        e = entries[name]
        if e.shape != tuple(shape):
            raise FormatError("%s: tensor %s has shape %s, config.json needs %s"
                              % (path, name, list(e.shape), list(shape)))
        if e.dtype not in ("F32", "BF16", "F16"):
            raise FormatError("%s: tensor %s has dtype %s, not F32, BF16 or F16" % (path, name, e.dtype))
    extra = sorted(set(entries) - names)
    if extra:
        hint = " (config.json says tie_word_embeddings = true)" if extra[0] == "lm_head.weight" else ""
        raise FormatError("%s: tensor %s is not part of the model config.json describes%s"
                          % (path, extra[0], hint))
    return table


class SafetensorsWriter:
    """Writes tensors one at a time to an open binary file, after a header
    built from their names, dtypes and shapes (declared up front, in order).
    The header is padded with spaces to a multiple of 8 bytes so that the
    data starts 8-byte aligned, as the reference writer does."""

    def __init__(self, f, specs, metadata):
        self.f = f
        self.specs = list(specs)  # [(name, dtype, shape)]
        hdr = {"__metadata__": dict(metadata)}
        pos = 0
        self.sizes = []
        for name, dt, shape in self.specs:
            numel = 1
            for s in shape:
                numel *= int(s)
            nbytes = numel * DTYPE_SIZES[dt]
            hdr[name] = {"dtype": dt, "shape": [int(s) for s in shape], "data_offsets": [pos, pos + nbytes]}
            self.sizes.append(nbytes)
            pos += nbytes
        text = json.dumps(hdr, separators=(",", ":")).encode("utf-8")
        text += b" " * (-len(text) % 8)
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        self.next = 0

    def write(self, name, raw):
        """raw: the tensor's bytes (little-endian, C order)."""
        want_name, _, _ = self.specs[self.next]
        if name != want_name or len(raw) != self.sizes[self.next]:
            raise AssertionError("safetensors writer: %s (%d bytes) out of order or size" % (name, len(raw)))
        self.f.write(raw)
        self.next += 1

    def close(self):
        if self.next != len(self.specs):
            raise AssertionError("safetensors writer: %d of %d tensors written" % (self.next, len(self.specs)))


def tensor_bytes(a, dtype):
    """float32 array -> the raw little-endian bytes of an F32 or BF16 tensor."""
    a = np.ascontiguousarray(a, dtype="<f4")
    return a.tobytes() if dtype == "F32" else f32_to_bf16_bits(a).astype("<u2").tobytes()


# ---------------------------------------------------------------------------
# A model directory, written whole or not at all
# ---------------------------------------------------------------------------

def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def umask():
    u = os.umask(0)
    os.umask(u)
    return u


def check_out_dir(out, force):
    """OUT_DIR may be new or empty; a non-empty one only with force."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise FormatError("%s: exists and is not a directory" % out)
    if os.path.isdir(out) and os.listdir(out) and not force:
        raise FormatError("%s: directory exists and is not empty (give --force to replace the model in it)" % out)
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise FormatError("%s: parent directory %s does not exist" % (out, parent))


def _write_synced(path, write):
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def write_model_dir(out, m, torch_dtype, tensor, tokenizer=None, force=False):
    """Writes OUT_DIR/config.json, model.safetensors (tensor(name) gives each
    tensor of tensor_table(m) as float32, one at a time, so memory holds one
    tensor) and tokenizer.model (bytes, when given).

    Nothing half-written: the files go to a temporary directory beside
    OUT_DIR and are flushed; a new OUT_DIR is that directory renamed. An
    existing one (empty, or non-empty with force) first loses its
    config.json, then receives model.safetensors and tokenizer.model (a stale
    tokenizer.model is removed) and config.json last, so at every moment it
    holds the old model, the new one, or no config.json (nothing loads it).
    Other files in it are left alone."""
    check_out_dir(out, force)
    st_dtype = {"float32": "F32", "bfloat16": "BF16"}[torch_dtype]
    table = tensor_table(m)
    tmp = tempfile.mkdtemp(prefix=".swat-model-", dir=os.path.dirname(os.path.abspath(out)))
    try:
        os.chmod(tmp, 0o777 & ~umask())  # mkdtemp's 0700 would become OUT_DIR's mode

        def weights(f):
            w = SafetensorsWriter(f, [(n, st_dtype, s) for n, s in table], {"format": "pt"})
            for name, shape in table:
                a = np.asarray(tensor(name), dtype=np.float32)
                if a.shape != tuple(shape):
                    raise AssertionError("%s: shape %s, expected %s" % (name, a.shape, shape))
                w.write(name, tensor_bytes(a, st_dtype))
            w.close()
        _write_synced(os.path.join(tmp, "model.safetensors"), weights)
        files = ["model.safetensors"]
        if tokenizer is not None:
            _write_synced(os.path.join(tmp, "tokenizer.model"), lambda f: f.write(tokenizer))
            files.append("tokenizer.model")
        text = (json.dumps(hf_config(m, torch_dtype), indent=2) + "\n").encode("utf-8")
        _write_synced(os.path.join(tmp, "config.json"), lambda f: f.write(text))
        files.append("config.json")  # last: it marks the directory as a model
        if not os.path.exists(out):
            os.rename(tmp, out)
            fsync_dir(os.path.dirname(os.path.abspath(out)))
            return
        if os.path.exists(os.path.join(out, "config.json")):
            os.unlink(os.path.join(out, "config.json"))
            fsync_dir(out)
        for name in files:
            os.replace(os.path.join(tmp, name), os.path.join(out, name))
        if tokenizer is None and os.path.exists(os.path.join(out, "tokenizer.model")):
            os.unlink(os.path.join(out, "tokenizer.model"))  # the old model's, not this one's
        fsync_dir(out)
        os.rmdir(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
