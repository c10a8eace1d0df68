#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs the
# packages, builds with tests, and runs ctest (unit tests, MPI tests on 1, 2
# and 4 ranks, the PyTorch reference checks, end-to-end runs).
# usage: tools/run_tests.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
build=${SWAT_TEST_BUILD:-build-test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSWAT_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$build"
ctest --output-on-failure "$@"
