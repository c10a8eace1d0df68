# SPDX-License-Identifier: MIT
"""swat_torch.tokenizer: text <-> token ids for an exported SWAT model.

- SentencePieceTokenizer: the tokenizer.model an export carries (the bytes
  of the model swat-tokenize trained; ids unk 0, bos 1, eos 2). encode gives
  [bos] + ids, as the training documents were encoded; decode drops the
  control ids. Needs the sentencepiece module (Debian: python3-sentencepiece).
- ByteTokenizer: a byte-level model (vocab_size 256, no tokenizer.model):
  every UTF-8 byte is a token; decode replaces an invalid sequence by U+FFFD.
"""


class SentencePieceTokenizer:
    bos_id, eos_id = 1, 2

    def __init__(self, proto, vocab_size, origin="tokenizer.model"):
        try:
            import sentencepiece as spm
        except ImportError as e:
            raise ImportError("%s: loading it needs the sentencepiece module"
                              " (apt-get install python3-sentencepiece): %s" % (origin, e))
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.LoadFromSerializedProto(proto)
        except (RuntimeError, OSError) as e:
            raise ValueError("%s: not a SentencePiece model: %s" % (origin, str(e).splitlines()[0]))
        n = self.sp.get_piece_size()
        if n > vocab_size:
            raise ValueError("%s: %d pieces, more than the model's vocab_size %d" % (origin, n, vocab_size))

    def encode(self, text, bos=True):
        ids = self.sp.encode(text, out_type=int)
        return ([self.bos_id] if bos else []) + ids

    def decode(self, ids):
        n = self.sp.get_piece_size()
        return self.sp.decode([int(i) for i in ids if 0 <= int(i) < n and not self.sp.is_control(int(i))])


class ByteTokenizer:
    def encode(self, text, bos=False):
        return list(text.encode("utf-8"))

    def decode(self, ids):
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


def load_tokenizer(model_dir, vocab_size):
    """The tokenizer of an exported model directory, or None."""
    import os
    path = os.path.join(model_dir, "tokenizer.model")
    if os.path.isfile(path):
        with open(path, "rb") as f:
            return SentencePieceTokenizer(f.read(), vocab_size, path)
    return ByteTokenizer() if vocab_size == 256 else None
