#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""swat_export.py: a swat checkpoint -> a Hugging Face style model directory.

    python3 tools/swat_export.py CKPT.h5 OUT_DIR [--dtype float32|bfloat16] [--force]

Writes OUT_DIR/config.json (every [model] key of the checkpoint's config,
resolved: intermediate_size as a number, alibi_magnitudes as halving or
alibi; plus model_type "swat", architectures ["SWATForCausalLM"], hidden_act,
bos/eos ids and torch_dtype), OUT_DIR/model.safetensors (the model's tensors
under their state-dict names, model.embeddings.weight ... lm_head.weight when
untied; no optimizer state) and, when the checkpoint carries /tokenizer/model,
OUT_DIR/tokenizer.model (its bytes). python/swat_torch loads the directory
(SWATForCausalLM.from_pretrained); tools/swat_import.py turns it back into a
checkpoint.

A checkpoint is one HDF5 file whatever rank layout wrote it, read here with
h5py tensor by tensor (memory: the largest tensor, not the model). A tensor
whose crc32 attribute does not match its data is refused, as the C reader
refuses it. --dtype bfloat16 rounds every float32 to nearest even (half the
size; import gives those values back as float32, exactly).

Nothing half-written: the files are written in a temporary directory beside
OUT_DIR, flushed to disk, then moved into place. OUT_DIR must not exist or be
empty, unless --force: then config.json is removed first and written last, so
a crash leaves the old export, the new one, or a directory without
config.json that nothing loads; files other than the three are left alone.

Exit 0; 2 with one line on stderr for bad input (not a swat checkpoint, a
tensor of the wrong shape or a bad checksum, a non-empty OUT_DIR without
--force); 1 when writing fails (disk full: the temporary files are removed).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
sys.dont_write_bytecode = True

try:
    import h5py
    import numpy as np
except ImportError as e:
    print("swat_export: %s (needs numpy and h5py: apt-get install python3-h5py)" % e, file=sys.stderr)
    sys.exit(2)

from swat_torch import formats as fm  # noqa: E402

CKPT_FORMAT, CKPT_VERSION = "swat-checkpoint", 1


def _text(v):
    """An HDF5 string attribute (fixed or variable length) -> str, else None."""
    if isinstance(v, np.ndarray):
        if v.size != 1:
            return None
        v = v.reshape(()).item()
    if isinstance(v, (bytes, np.bytes_)):
        try:
            v = bytes(v).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return v.rstrip("\x00") if isinstance(v, str) else None


def open_checkpoint(path):
    """Opens a swat checkpoint: (h5py.File, resolved model dict)."""
    if not os.path.isfile(path):
        raise fm.FormatError("%s: no such file" % path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise fm.FormatError("%s: not an HDF5 file, not a swat checkpoint (%s)" % (path, str(e).splitlines()[0][:80]))
    try:
        fmt = _text(f.attrs.get("format"))
        if fmt != CKPT_FORMAT:
            raise fm.FormatError("%s: attribute format is %s, not '%s': not a swat checkpoint"
                                 % (path, repr(fmt)[:40] if fmt is not None else "missing", CKPT_FORMAT))
        ver = f.attrs.get("format_version")
        if ver is None or np.ndim(ver) > 1 or np.size(ver) != 1 or int(np.ravel(ver)[0]) != CKPT_VERSION:
            raise fm.FormatError("%s: format_version %s is not supported (this exporter reads %d)"
                                 % (path, None if ver is None else np.ravel(ver)[:1].tolist(), CKPT_VERSION))
        text = _text(f.attrs.get("config"))
        if text is None:
            raise fm.FormatError("%s: attribute config missing or not a string" % path)
        return f, fm.model_config_from_ini(text, path + ":config")
    except BaseException:
        f.close()
        raise


def read_tensor(f, path, name, shape):
    """The float32 data of one model tensor, shape and crc32 checked."""
    dpath = fm.dataset_path(name)
    d = f.get(dpath)
    if not isinstance(d, h5py.Dataset):
        raise fm.FormatError("%s: dataset %s is missing" % (path, dpath))
    if d.dtype != np.dtype("<f4"):
        raise fm.FormatError("%s: dataset %s is %s, not float32" % (path, dpath, d.dtype))
    if d.shape != tuple(shape):
        raise fm.FormatError("%s: dataset %s has shape %s, the config needs %s" % (path, dpath, list(d.shape), list(shape)))
    a = d[()]
    if "crc32" in d.attrs:
        want = int(np.ravel(d.attrs["crc32"])[0])
        got = fm.crc32(a)
        if got != want:
            raise fm.FormatError("%s: dataset %s: crc32 %08x does not match its data (%08x): corrupt checkpoint"
                                 % (path, dpath, want, got))
    return a


def read_tokenizer(f, path):
    """The bytes of /tokenizer/model, or None."""
    d = f.get("/tokenizer/model")
    if d is None:
        return None
    if not isinstance(d, h5py.Dataset) or d.dtype != np.uint8 or d.ndim != 1:
        raise fm.FormatError("%s: /tokenizer/model is not a 1-D uint8 dataset" % path)
    typ = _text(d.attrs.get("type", "sentencepiece"))
    if typ != "sentencepiece":
        raise fm.FormatError("%s: /tokenizer/model has type %r, not 'sentencepiece'" % (path, typ))
    a = d[()]
    if "crc32" in d.attrs and fm.crc32(a) != int(np.ravel(d.attrs["crc32"])[0]):
        raise fm.FormatError("%s: dataset /tokenizer/model: crc32 does not match its data" % path)
    return a.tobytes()


def export(ckpt, out, dtype, force):
    fm.check_out_dir(out, force)
    f, m = open_checkpoint(ckpt)
    with f:
        shapes = dict(fm.tensor_table(m))
        tok = read_tokenizer(f, ckpt)
        fm.write_model_dir(out, m, dtype, lambda name: read_tensor(f, ckpt, name, shapes[name]), tok, force)
    return m, tok is not None


def main():
    ap = fm.ToolParser(prog="swat_export.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("ckpt", metavar="CKPT.h5")
    ap.add_argument("out", metavar="OUT_DIR")
    ap.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                    help="tensor type in model.safetensors (bfloat16: rounded to nearest even)")
    ap.add_argument("--force", action="store_true", help="replace an export in a non-empty OUT_DIR")
    args = ap.parse_args()
    try:
        m, tok = export(args.ckpt, args.out, args.dtype, args.force)
    except fm.FormatError as e:
        print("swat_export: %s" % e, file=sys.stderr)
        return 2
    except OSError as e:
        print("swat_export: %s: %s" % (getattr(e, "filename", None) or args.out, e.strerror or e), file=sys.stderr)
        return 1
    n = sum(int(np.prod(s)) for _, s in fm.tensor_table(m))
    print("swat_export: %s -> %s: %d tensors, %d parameters, %s%s" % (
        args.ckpt, args.out, len(fm.tensor_table(m)), n, args.dtype, ", tokenizer.model" if tok else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
