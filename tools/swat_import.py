#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""swat_import.py: a model directory (config.json + model.safetensors) -> a
swat checkpoint.

    python3 tools/swat_import.py HF_DIR OUT.h5 [--force]

HF_DIR is what tools/swat_export.py writes (or python/swat_torch's
save_pretrained after fine-tuning elsewhere). OUT.h5 is a checkpoint that
swat-eval, swat-generate and `[train] init_from` accept: the model's tensors
at their dataset paths (/model/..., /lm_head/weight when untied), float32,
contiguous, each with its crc32 attribute (zlib's CRC-32 of the data, which
the C reader verifies); step 0 and no optimizer state (/train/step,
samples_seen and tokens_seen are 0); the root attributes of every swat
checkpoint (format, format_version, step, samples_seen, tokens_seen,
world_size 1, sp 1, created) with `config` holding the [model] section
(every key, resolved). HF_DIR/tokenizer.model, when present, becomes
/tokenizer/model (uint8, type "sentencepiece"). BF16 and F16 tensors become
float32 exactly; a float32 export imports bit for bit.

Checked before anything is written: config.json describes a SWAT model
(model_type "swat", every model key present, of its type and within its
bounds, head_dim even, ...), the safetensors header is sound (lengths and
offsets inside the file, no overlaps or holes, sizes that match dtype and
shape) and names exactly the tensors the config implies, and every value
is finite. Each refusal is one line naming the file and the key or tensor.
The file is written under a temporary name beside OUT.h5, flushed and then
renamed: a failure leaves no OUT.h5. An existing OUT.h5 is replaced only
with --force.

Exit 0; 2 on bad input; 1 when writing fails.
"""
import datetime
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
sys.dont_write_bytecode = True

try:
    import h5py
    import numpy as np
except ImportError as e:
    print("swat_import: %s (needs numpy and h5py: apt-get install python3-h5py)" % e, file=sys.stderr)
    sys.exit(2)

from swat_torch import formats as fm  # noqa: E402


def _write_dataset(f, path, data):
    """A contiguous dataset with its crc32 attribute."""
    d = f.create_dataset(path, data=data)
    d.attrs.create("crc32", fm.crc32(data), dtype=np.uint32)
    return d


def read_model_dir(src):
    """(model dict, torch_dtype, safetensors path, header entries, tokenizer bytes or None)."""
    if not os.path.isdir(src):
        raise fm.FormatError("%s: not a directory" % src)
    cfg_path = os.path.join(src, "config.json")
    if not os.path.isfile(cfg_path):
        raise fm.FormatError("%s: no config.json: not a model directory" % src)
    m, torch_dtype = fm.read_hf_config(cfg_path)
    st_path = os.path.join(src, "model.safetensors")
    if not os.path.isfile(st_path):
        raise fm.FormatError("%s: no model.safetensors" % src)
    entries, _ = fm.read_safetensors_header(st_path)
    fm.check_model_tensors(st_path, entries, m)
    tok = None
    tok_path = os.path.join(src, "tokenizer.model")
    if os.path.isfile(tok_path):
        with open(tok_path, "rb") as t:
            tok = t.read()
        if not tok:
            raise fm.FormatError("%s: empty file" % tok_path)
    return m, torch_dtype, st_path, entries, tok


def import_dir(src, out, force):
    m, _, st_path, entries, tok = read_model_dir(src)
    if os.path.exists(out) and not force:
        raise fm.FormatError("%s: exists (give --force to replace it)" % out)
    if os.path.isdir(out):
        raise fm.FormatError("%s: is a directory" % out)
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise fm.FormatError("%s: directory %s does not exist" % (out, parent))
    table = fm.tensor_table(m)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(out) + ".", suffix=".tmp", dir=parent)
    os.close(fd)
    try:
        # the 1.8+ file format: libhdf5 checksums its metadata (as swat-train writes)
        with h5py.File(tmp, "w", libver=("v108", "latest")) as f:
            for name, _ in table:
                a = fm.read_tensor_f32(st_path, entries[name])
                if not np.all(np.isfinite(a)):
                    raise fm.FormatError("%s: tensor %s holds non-finite values" % (st_path, name))
                _write_dataset(f, fm.dataset_path(name), a)
            for k in ("step", "samples_seen", "tokens_seen"):
                _write_dataset(f, "/train/" + k, np.int64(0))
            if tok is not None:
                d = _write_dataset(f, "/tokenizer/model", np.frombuffer(tok, dtype=np.uint8))
                d.attrs["type"] = "sentencepiece"
            a = f.attrs
            a["format"] = "swat-checkpoint"
            for k, v in (("format_version", 1), ("step", 0), ("samples_seen", 0), ("tokens_seen", 0),
                         ("world_size", 1), ("sp", 1)):
                a.create(k, v, dtype=np.int64)
            a["config"] = ("; imported by tools/swat_import.py from %s\n" % os.path.basename(os.path.abspath(src))
                           + fm.model_config_to_ini(m))
            a["created"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with open(tmp, "rb+") as t:
            os.fsync(t.fileno())
        os.chmod(tmp, 0o666 & ~fm.umask())
        os.replace(tmp, out)
        fm.fsync_dir(parent)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return m, tok is not None


def main():
    ap = fm.ToolParser(prog="swat_import.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("src", metavar="HF_DIR")
    ap.add_argument("out", metavar="OUT.h5")
    ap.add_argument("--force", action="store_true", help="replace an existing OUT.h5")
    args = ap.parse_args()
    try:
        m, tok = import_dir(args.src, args.out, args.force)
    except fm.FormatError as e:
        print("swat_import: %s" % e, file=sys.stderr)
        return 2
    except OSError as e:
        print("swat_import: %s: %s" % (getattr(e, "filename", None) or args.out, e.strerror or e), file=sys.stderr)
        return 1
    table = fm.tensor_table(m)
    print("swat_import: %s -> %s: %d tensors, %d parameters, step 0%s" % (
        args.src, args.out, len(table), sum(int(np.prod(s)) for _, s in table), ", tokenizer" if tok else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
