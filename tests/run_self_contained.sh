#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The repository is self-contained: no file of it refers to anything outside
# it. It owns its contract in docs/ (model.md, training.md, config.md,
# checkpoint-format.md, data-formats.md), so a comment or a document cites
# those, never a section of a document the repository does not hold, a
# folder beside the clone, or a path of the machine it was written on.
#
# Fails on (one line per hit: file, line, text), with the patterns below
# (written so that this file passes its own check):
#   - a section citation of an outside contract, or the team's background
#     notes by file name (they are not files of the repository);
#   - a relative path that leaves the clone for a sibling folder;
#   - an absolute path of a development machine (its work or root folder).
# Every tracked text file is checked (git ls-files; the whole tree when the
# source is not a git checkout, e.g. an unpacked release), images excepted.
# usage: tests/run_self_contained.sh [SOURCE_DIR]
set -euo pipefail
src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
cd "$src"

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    list() { git ls-files -z; }
else
    list() { find . -path ./.git -prune -o -type f -print0 | sed -z 's|^\./||'; }
fi

# one extended regular expression per kind, with the reason printed on a hit
patterns=(
    'SPEC[[:space:]]*§|SPEC\.md|\bSPEC[[:space:]]+[0-9]'
    '\b(DESIGN|PAPER|ENV|STYLE)\.md\b'
    '\.\./shared\b'
    '(^|[^[:alnum:]_.~-])/(work|root)/'
)
reasons=(
    "cites an outside contract: cite docs/ instead"
    "names a document the repository does not hold"
    "a path out of the clone"
    "an absolute path of a development machine"
)

hits=0
checked=0
while IFS= read -r -d '' f; do
    case $f in *.png | *.jpg | *.gif | *.pdf | *.h5 | *.bin | *.safetensors) continue ;; esac
    [ -f "$f" ] || continue
    grep -Iq . "$f" 2>/dev/null || continue # binary or empty
    checked=$((checked + 1))
    for i in "${!patterns[@]}"; do
        while IFS= read -r line; do
            echo "$f:$line  <- ${reasons[$i]}"
            hits=$((hits + 1))
        done < <(grep -nE -- "${patterns[$i]}" "$f" || true)
    done
done < <(list)

# the check must have looked at the tree (a wrong folder would pass vacuously)
if [ "$checked" -lt 50 ]; then
    echo "FAIL: only $checked text files found under $src"
    exit 1
fi
if [ "$hits" -gt 0 ]; then
    echo "FAIL: $hits reference(s) outside the repository in $checked files"
    exit 1
fi
echo "ok    $checked files refer to nothing outside the repository"
