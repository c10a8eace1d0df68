#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Regenerates the tables of docs/hardening.md from real runs: every case of
# tests/run_bad_input.sh with the one line it gets, and every case of
# tests/run_faults.sh with its outcome. Rewrites the text between the
# "generated" markers of the doc; fails if a case fails.
# usage: tools/hardening_report.sh BUILD_DIR   (as root; ~4 min)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: tools/hardening_report.sh BUILD_DIR}
doc=docs/hardening.md
bad=$(mktemp) faults=$(mktemp) table=$(mktemp)
trap 'rm -f "$bad" "$faults" "$table"' EXIT
tests/run_bad_input.sh "$build" >"$bad" 2>&1 || { cat "$bad"; exit 1; }
tests/run_faults.sh "$build" >"$faults" 2>&1 || { cat "$faults"; exit 1; }
root=$PWD
{
  echo "<!-- generated:begin by tools/hardening_report.sh on $(date -u +%Y-%m-%d); do not edit by hand -->"
  echo
  echo "**Bad input** (\`tests/run_bad_input.sh\`, $(tail -n 1 "$bad")). Every case exits with status 2"
  echo "and prints exactly this one line (from rank 0, or from the one rank that saw an error only it"
  echo "can see); paths of the test's fixtures are shortened to the file name (FIXTURES: their directory)."
  echo
  echo "| case | the line on stderr |"
  echo "|---|---|"
  # "ok    NAME   MESSAGE": the temporary fixture directory and the checkout are cut from paths
  sed -n 's/^ok    \([^ ]*\) *\(.*\)$/\1\t\2/p' "$bad" |
    sed -E "s#$(cd "$build" && pwd)/bad\.[A-Za-z0-9]+/##g; s#$(cd "$build" && pwd)/bad\.[A-Za-z0-9]+#FIXTURES#g; s#$root/##g" |
    awk -F'\t' '{ m = $2; gsub(/\|/, "\\|", m); printf "| `%s` | `%s` |\n", $1, m }'
  echo
  echo "**Faults** (\`tests/run_faults.sh\`, $(tail -n 1 "$faults")):"
  echo
  sed -n 's/^ok    \(.*\)$/- \1/p' "$faults" | sed -E 's/([0-9]+\.[0-9]{1})[0-9]*s/\1 s/g'
  echo
  echo "<!-- generated:end -->"
} >"$table"
awk -v t="$table" '
  /<!-- generated:begin/ { while ((getline l < t) > 0) print l; skip = 1; next }
  /<!-- generated:end -->/ { skip = 0; next }
  !skip' "$doc" >"$doc.new"
mv "$doc.new" "$doc"
echo "updated $doc"
