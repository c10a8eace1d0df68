#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Trains a few updates of a tiny model with swat-refdump on NP ranks and
# checks loss, every gradient and the parameters after the updates against
# the independent PyTorch reference (tests/reference/check_refdump.py).
# usage: tests/run_reference.sh BUILD_DIR NP [--set section.key=value]...
set -euo pipefail
build=$(cd "$1" && pwd); np=$2; shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
work=$(mktemp -d "$build/ref.XXXXXX")
trap '[ -n "${SWAT_KEEP:-}" ] || rm -rf "$work"' EXIT
export OMPI_MCA_mpi_yield_when_idle=1 OMP_NUM_THREADS=1
mpiexec --oversubscribe --allow-run-as-root -n "$np" "$build/swat-refdump" tests/configs/ref.ini \
    "$work/dump.h5" --set "checkpoint.dir=$work/run" "$@"
/usr/bin/python3 tests/reference/check_refdump.py "$work/dump.h5"
