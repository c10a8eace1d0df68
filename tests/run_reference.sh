#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Trains a few updates of a tiny model with swat-refdump on NP ranks and
# checks loss, every gradient and the parameters after the updates against
# the independent PyTorch reference (tests/reference/check_refdump.py).
# usage: tests/run_reference.sh BUILD_DIR NP [--set section.key=value]...
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" ref
np=$2; shift 2
swat_mpi "$np" "$build/swat-refdump" tests/configs/ref.ini \
    "$work/dump.h5" --set "checkpoint.dir=$work/run" "$@"
swat_py tests/reference/check_refdump.py "$work/dump.h5"
