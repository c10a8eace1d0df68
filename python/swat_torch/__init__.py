# SPDX-License-Identifier: MIT
"""swat_torch: SWAT language models trained by swat, in plain PyTorch.

    import sys; sys.path.insert(0, "python")        # from the repository root
    from swat_torch import SWATForCausalLM
    model = SWATForCausalLM.from_pretrained("exported/")   # tools/swat_export.py
    logits = model(ids)                               # ids [B, T] -> [B, T, V]
    text = model.generate("Once upon a time", max_new_tokens=100)

Modules: `modeling` (the model: banded block attention, never a T x T
matrix; generation with a rolling cache of the last w-1 keys and values per
layer), `tokenizer` (SentencePiece when the export carries tokenizer.model;
bytes for a byte-level model), `formats` (config.json, safetensors and
bfloat16 with numpy only: the export and import tools use it without torch).
The maths of every variant: docs/model.md. Attributes are imported lazily,
so `swat_torch.formats` does not import torch.
"""

__all__ = ["SWATConfig", "SWATForCausalLM", "WindowCache", "load_tokenizer"]


def __getattr__(name):
    if name in ("SWATConfig", "SWATForCausalLM", "WindowCache"):
        from . import modeling
        return getattr(modeling, name)
    if name == "load_tokenizer":
        from . import tokenizer
        return tokenizer.load_tokenizer
    raise AttributeError("module 'swat_torch' has no attribute %r" % name)
