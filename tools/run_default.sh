#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job on the default config, from a fresh Debian 12 machine:
# installs the packages, builds, prepares the text, trains configs/tiny.ini
# (progress on the console; metrics in runs/tiny/metrics.jsonl) and scores
# the held-out text with the final checkpoint.
# usage: tools/run_default.sh [CONFIG] [--set section.key=value]...
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/tiny.ini}; shift || true
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target swat-train swat-eval
[ -s data/fortunes/train.txt ] || tools/prepare_data.sh data/fortunes
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
build/swat-train "$config" "$@"
dir=$(awk -F' *= *' '/^\[checkpoint\]/{s=1;next} /^\[/{s=0} s&&$1=="dir"{print $2}' "$config")
ckpt=$(ls "$dir"/ckpt-*.h5 | tail -n 1)
echo "evaluating $ckpt on data/fortunes/val.txt"
build/swat-eval "$ckpt" --data data/fortunes/val.txt
