#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# docs/config.md's key tables come from the key table of src/config.c, through
# `swat-train --print-keys markdown`, so that the reference cannot drift from
# the code: this script rewrites the part of the doc between its "generated"
# markers (the prose around them is written by hand). With --check it changes
# nothing and fails, naming the command to run, when the doc is out of date
# (the ctest config_doc does that: a key added to the table without
# regenerating the doc fails the suite).
#
# usage: tools/config_doc.sh [--check] BUILD_DIR
#   after adding or changing a key:  cmake --build build && tools/config_doc.sh build
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
if [ "${1:-}" = --check ]; then check=1; shift; fi
build=${1:?usage: tools/config_doc.sh [--check] BUILD_DIR}
doc=docs/config.md
begin='<!-- generated:begin by tools/config_doc.sh from the key table of src/config.c; do not edit by hand -->'
end='<!-- generated:end -->'
die() { echo "config_doc: $*" >&2; exit 2; }

[ -x "$build/swat-train" ] || die "$build/swat-train not found: build first (cmake --build $build)"
[ -f "$doc" ] || die "$doc not found"
if [ "$(grep -cxF -- "$begin" "$doc")" != 1 ] || [ "$(grep -cxF -- "$end" "$doc")" != 1 ]; then
    die "$doc: expected one line '$begin' and one '$end'"
fi

table=$(mktemp) new=$(mktemp)
trap 'rm -f "$table" "$new"' EXIT
"$build/swat-train" --print-keys markdown >"$table"
# the doc with the text between the markers replaced by the table
awk -v t="$table" -v b="$begin" -v e="$end" '
  $0 == b { print; print ""; while ((getline l < t) > 0) print l; print ""; skip = 1; next }
  $0 == e { skip = 0 }
  !skip' "$doc" >"$new"

if [ "$check" = 1 ]; then
    if ! cmp -s "$doc" "$new"; then
        diff -u "$doc" "$new" | head -n 40 || true
        echo "FAIL: $doc is out of date with the key table of src/config.c:" \
             "regenerate it with 'tools/config_doc.sh $build' and commit it" >&2
        exit 1
    fi
    echo "$doc: up to date with the key table ($(grep -c '^| `' "$table") keys)"
else
    if cmp -s "$doc" "$new"; then
        echo "$doc: already up to date"
    else
        cat "$new" >"$doc"
        echo "updated $doc ($(grep -c '^| `' "$table") keys)"
    fi
fi
