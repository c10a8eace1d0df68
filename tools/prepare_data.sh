#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the default run's English text from Debian's `fortunes` package:
# every fortune file (offensive ones excluded), concatenated in name order;
# the last 5% is held out for validation.
# usage: tools/prepare_data.sh [OUT_DIR]   (default data/fortunes)
set -euo pipefail
out=${1:-data/fortunes}
src=/usr/share/games/fortunes
[ -d "$src" ] || { echo "prepare_data: $src missing (apt-get install fortunes)" >&2; exit 2; }
mkdir -p "$out"
all="$out/all.txt"
: > "$all"
for f in $(find "$src" -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' | LC_ALL=C sort); do
    cat "$f" >> "$all"
done
n=$(stat -c %s "$all")
val=$(( n / 20 ))
head -c $(( n - val )) "$all" > "$out/train.txt"
tail -c "$val" "$all" > "$out/val.txt"
rm -f "$all"
echo "prepare_data: $out/train.txt $(( n - val )) bytes, $out/val.txt $val bytes"
