#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_ckpt_h5py.py: checks a swat checkpoint against its documented layout
(docs/checkpoint-format.md) with h5py and zlib, readers independent of ckpt.c.

usage: python3 tests/check_ckpt_h5py.py CKPT.h5 [--optimizer]
           [--step N] [--world-size N] [--no-values]

Checks the root attributes (format, format_version, step, samples_seen,
tokens_seen, world_size, sp: int64 scalars; config and created: strings), then
every dataset path the resolved config implies (the config attribute gives V,
d, L, f and tie_word_embeddings), each float32 little-endian with its
documented shape, no dataset the format does not name, /lm_head only when untied, the
moments under /optimizer/exp_avg and /optimizer/exp_avg_sq when present (and
required with --optimizer), the /train scalars, that every dataset carries
a crc32 attribute (uint32 scalar) equal to zlib.crc32 of its data as
little-endian C-order bytes, and that every value is finite (skip the last
two with --no-values on very large files).

Exits 0 when everything matches; otherwise prints one line per mismatch to
stderr and exits 1 (2 when the file cannot be read at all).
"""
import argparse
import configparser
import re
import sys
import zlib

try:
    import h5py
    import numpy as np
except ImportError as e:  # the caller decides whether this is a skip
    print(f"check_ckpt_h5py: {e}", file=sys.stderr)
    sys.exit(3)

INT_ATTRS = ("format_version", "step", "samples_seen", "tokens_seen", "world_size", "sp")


def text(v):
    """An attribute string as h5py returns it: str, bytes or a 0-d array."""
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("utf-8")
    return v if isinstance(v, str) else None


def expected_tensors(model):
    V, d, L, f = (model[k] for k in ("vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size"))
    if f == 0:
        f = 256 * -(-((8 * d) // 3) // 256)
    t = {"model/embeddings/weight": (V, d)}
    for l in range(L):
        p = f"model/layers/{l}/"
        t[p + "attn_norm/weight"] = (d,)
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            t[p + f"attn/{proj}/weight"] = (d, d)
        t[p + "mlp_norm/weight"] = (d,)
        t[p + "mlp/gate_proj/weight"] = (f, d)
        t[p + "mlp/up_proj/weight"] = (f, d)
        t[p + "mlp/down_proj/weight"] = (d, f)
    t["model/norm/weight"] = (d,)
    if not model["tie_word_embeddings"]:
        t["lm_head/weight"] = (V, d)
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path")
    ap.add_argument("--optimizer", action="store_true", help="the moments must be present")
    ap.add_argument("--step", type=int, help="expected step attribute")
    ap.add_argument("--world-size", type=int, help="expected world_size attribute")
    ap.add_argument("--no-values", action="store_true", help="skip the finiteness check")
    args = ap.parse_args()
    errors = []
    bad = errors.append
    checked = []  # datasets whose crc32 was recomputed

    try:
        f = h5py.File(args.path, "r")
    except OSError as e:
        print(f"check_ckpt_h5py: {args.path}: cannot open: {e}", file=sys.stderr)
        return 2
    with f:
        a = f.attrs
        # ---- root attributes
        fmt = text(a.get("format"))
        if fmt != "swat-checkpoint":
            bad(f"attribute format is {fmt!r}, not 'swat-checkpoint'")
        ints = {}
        for k in INT_ATTRS:
            if k not in a:
                bad(f"attribute {k} missing")
                continue
            v = a[k]
            dt = getattr(v, "dtype", None)
            if dt != np.dtype("int64") or np.shape(v) not in ((), (1,)):
                bad(f"attribute {k} is {dt} {np.shape(v)}, not an int64 scalar")
                continue
            ints[k] = int(np.ravel(v)[0])
        if ints.get("format_version", 1) != 1:
            bad(f"format_version is {ints['format_version']}, not 1")
        if args.step is not None and ints.get("step") != args.step:
            bad(f"step is {ints.get('step')}, expected {args.step}")
        if args.world_size is not None and ints.get("world_size") != args.world_size:
            bad(f"world_size is {ints.get('world_size')}, expected {args.world_size}")
        if ints.get("sp", 1) < 1 or ints.get("world_size", 1) % max(ints.get("sp", 1), 1):
            bad(f"sp {ints.get('sp')} does not divide world_size {ints.get('world_size')}")
        created = text(a.get("created"))
        if created is None or not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created):
            bad(f"attribute created is {created!r}, not ISO 8601 UTC like 2026-11-25T14:03:07Z")
        config = text(a.get("config"))
        if config is None:
            bad("attribute config missing or not a string")
            config = ""

        # ---- the config the tensors follow
        ini = configparser.ConfigParser(interpolation=None, strict=True)
        model = None
        try:
            ini.read_string(config)
            m = ini["model"]
            model = {k: m.getint(k) for k in ("vocab_size", "hidden_size", "num_hidden_layers")}
            model["intermediate_size"] = m.getint("intermediate_size", 0)
            model["tie_word_embeddings"] = m.getboolean("tie_word_embeddings", True)
        except (configparser.Error, KeyError, ValueError) as e:
            bad(f"config attribute does not parse as the model INI: {e}")
        data = ini["data"] if ini.has_section("data") else {}
        try:
            B, T = int(data.get("batch_size", "")), int(data.get("seq_len", ""))
            if "step" in ints:
                if ints.get("samples_seen") != ints["step"] * B:
                    bad(f"samples_seen {ints.get('samples_seen')} != step*B = {ints['step'] * B}")
                if ints.get("tokens_seen") != ints["step"] * B * T:
                    bad(f"tokens_seen {ints.get('tokens_seen')} != step*B*T = {ints['step'] * B * T}")
        except ValueError:
            pass  # batch_size/seq_len not in the config (an evaluation-only model)

        # ---- datasets
        want = {}
        if model is not None:
            tensors = expected_tensors(model)
            want.update({"/" + k: s for k, s in tensors.items()})
            has_opt = "optimizer" in f
            if args.optimizer and not has_opt:
                bad("/optimizer missing (--optimizer given)")
            if has_opt or args.optimizer:
                for group in ("exp_avg", "exp_avg_sq"):
                    want.update({f"/optimizer/{group}/{k}": s for k, s in tensors.items()})
        for k in ("step", "samples_seen", "tokens_seen"):
            name = f"/train/{k}"
            d = f.get(name)
            if not isinstance(d, h5py.Dataset):
                bad(f"dataset {name} missing")
            elif d.dtype != np.dtype("int64") or d.shape != ():
                bad(f"dataset {name} is {d.dtype} {d.shape}, not an int64 scalar")
            elif k in ints and int(d[()]) != ints[k]:
                bad(f"dataset {name} = {int(d[()])}, attribute {k} = {ints[k]}")

        for name, shape in want.items():
            d = f.get(name)
            if not isinstance(d, h5py.Dataset):
                bad(f"dataset {name} missing")
                continue
            if d.dtype != np.dtype("<f4"):
                bad(f"dataset {name} is {d.dtype}, not float32 little-endian")
            if d.shape != shape:
                bad(f"dataset {name} has shape {list(d.shape)}, expected {list(shape)}")
            elif not args.no_values and not np.all(np.isfinite(d[()])):
                bad(f"dataset {name} holds non-finite values")

        seen = []
        f.visititems(lambda n, o: seen.append("/" + n) if isinstance(o, h5py.Dataset) else None)
        for name in seen:
            if name not in want and not name.startswith("/train/"):
                bad(f"unexpected dataset {name}")
            d = f[name]
            crc = d.attrs.get("crc32")
            if crc is None:
                bad(f"dataset {name} has no crc32 attribute")
            elif getattr(crc, "dtype", None) != np.dtype("uint32") or np.shape(crc) not in ((), (1,)):
                bad(f"dataset {name}: attribute crc32 is {getattr(crc, 'dtype', type(crc))} "
                    f"{np.shape(crc)}, not a uint32 scalar")
            elif not args.no_values:
                raw = np.ascontiguousarray(d[()]).astype(d.dtype.newbyteorder("<"), copy=False)
                got = zlib.crc32(raw.tobytes())
                if got != int(np.ravel(crc)[0]):
                    bad(f"dataset {name}: crc32 attribute {int(np.ravel(crc)[0]):08x}, "
                        f"zlib.crc32 of the data {got:08x}")
                checked.append(name)

    if errors:
        for e in errors:
            print(f"check_ckpt_h5py: {args.path}: {e}", file=sys.stderr)
        return 1
    print(f"check_ckpt_h5py: {args.path}: OK ({len(want)} tensors, {len(checked)} crc32 verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
