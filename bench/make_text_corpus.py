#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A text corpus from the Debian packages installed here, as JSON Lines.

    python3 bench/make_text_corpus.py OUT.jsonl [--mb 256] [ROOT...]

Walks ROOTs (default: /usr/share/doc, /usr/share/man, /usr/share/games/fortunes,
/usr/share/perl, /usr/lib/python3/dist-packages, /usr/include) in sorted
order, reads every regular file (gunzipping *.gz), keeps those that are UTF-8
text (no NUL byte, 256 bytes to --max-kb kilobytes: documents of web-crawl
sizes, not 10 MB logs and PostScript), and writes one JSON object per file,
{"text": ..., "source": path}, until OUT holds --mb megabytes. Prose (docs,
man pages in roff, changelogs, fortunes) and code (Python, C headers), as a
web crawl mixes them. Deterministic for a given set of installed packages;
the corpus is the benchmark's input and is not committed.
"""
import argparse
import gzip
import hashlib
import json
import os
import sys

DEFAULT_ROOTS = ["/usr/share/doc", "/usr/share/man", "/usr/share/games/fortunes",
                 "/usr/share/perl", "/usr/lib/python3/dist-packages", "/usr/include"]


def files(roots):
    for root in roots:
        for d, subdirs, names in os.walk(root):
            subdirs.sort()
            for n in sorted(names):
                p = os.path.join(d, n)
                if os.path.isfile(p) and not os.path.islink(p):
                    yield p


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("roots", nargs="*", default=DEFAULT_ROOTS)
    ap.add_argument("--mb", type=float, default=256)
    ap.add_argument("--max-kb", type=float, default=200)
    args = ap.parse_args()
    want = int(args.mb * 1e6)
    written = docs = 0
    seen = set()
    with open(args.out + ".tmp", "w", encoding="utf-8") as out:
        for p in files(args.roots):
            try:
                with open(p, "rb") as f:
                    raw = f.read(64 << 20)
                if p.endswith(".gz"):
                    raw = gzip.decompress(raw)
                text = raw.decode("utf-8")
            except (OSError, EOFError, ValueError, gzip.BadGzipFile, UnicodeDecodeError):
                continue
            digest = hashlib.sha1(raw).digest()
            if len(raw) < 256 or len(raw) > args.max_kb * 1000 or "\0" in text or digest in seen:
                continue
            seen.add(digest)  # /usr/share/doc repeats licences across packages
            line = json.dumps({"text": text, "source": p}, ensure_ascii=False) + "\n"
            out.write(line)
            written += len(line.encode("utf-8"))
            docs += 1
            if written >= want:
                break
    if written < want:
        print(f"make_text_corpus: only {written / 1e6:.1f} MB of text under {args.roots}",
              file=sys.stderr)
    os.replace(args.out + ".tmp", args.out)
    print(f"make_text_corpus: {args.out}: {docs} documents, {written / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
