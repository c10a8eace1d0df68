#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sequence and data parallelism against the one-rank run: trains the same
# updates with swat-refdump on several layouts and compares losses,
# gradients and parameters (tests/compare_dumps.py); the same layout run
# twice must be bit-identical.
# usage: tests/run_parallel.sh BUILD_DIR NP "LAYOUT-SETS" [--set k=v]...
#   e.g. tests/run_parallel.sh build 4 "parallel.sp=2" --set model.attention=softmax
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" par
np=$2; layout=$3; shift 3
run() { # NP OUT extra-sets...
    local n=$1 out=$2; shift 2
    swat_mpi "$n" "$build/swat-refdump" tests/configs/ref.ini \
        "$out" --set "checkpoint.dir=$work/run" "$@" >/dev/null
}
sets=()
for s in $layout; do sets+=(--set "$s"); done
run 1 "$work/one.h5" "$@"
run "$np" "$work/par1.h5" "${sets[@]}" "$@"
run "$np" "$work/par2.h5" "${sets[@]}" "$@"
echo "== $np ranks ($layout) vs 1 rank"
swat_py tests/compare_dumps.py "$work/one.h5" "$work/par1.h5"
echo "== $np ranks ($layout), run twice: bit-identical"
swat_py tests/compare_dumps.py "$work/par1.h5" "$work/par2.h5" --exact
