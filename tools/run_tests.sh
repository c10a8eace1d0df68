#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite, from a fresh Debian 12 machine: installs the
# packages, builds with tests, and runs ctest (unit tests, MPI tests on 1, 2
# and 4 ranks, the PyTorch reference checks, end-to-end runs). Then, unless
# SWAT_TEST_SANITIZE=0, every test but the SLURM one again in an ASan+UBSan
# build (build-asan), and unless SWAT_TEST_VALGRIND=0 the one-rank unit tests
# under valgrind memcheck (build-vg, no -march=native).
# usage: tools/run_tests.sh [extra ctest arguments of the main run]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
build=${SWAT_TEST_BUILD:-build-test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSWAT_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# counts "N tests passed/failed" of each stage for the closing line
count() { sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$log" | tail -n 1; }
total=0
(cd "$build" && ctest --output-on-failure "$@") | tee "$log"
read -r n _ < <(count); total=$((total + n))

# Sanitizers: the whole suite again in an ASan+UBSan build (~16.5 min on 2
# idle cores, bad_input's 75 MPI launches 6 of them; build ~4 min), except
# the SLURM test, whose daemons and job steps add nothing sanitizable that
# train_eval, resume and faults do not run. The environment (ASAN/LSAN/
# UBSAN_OPTIONS, tests/lsan.supp) comes from CMake's SWAT_TEST_ENV.
if [ "${SWAT_TEST_SANITIZE:-1}" != 0 ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWAT_SANITIZE=ON \
    -DSWAT_BUILD_TESTS=ON >/dev/null
  cmake --build build-asan -j"$(nproc)"
  (cd build-asan && ctest --output-on-failure -E '^slurm$') | tee "$log"
  read -r n _ < <(count); total=$((total + n))
fi

# valgrind memcheck of every one-rank unit test, the gradient checks of
# test_attn and test_model in their reduced mode (SWAT_TEST_QUICK=1, set by
# tests/run_valgrind.sh) (~2 min; build ~3 min)
if [ "${SWAT_TEST_VALGRIND:-1}" != 0 ]; then
  command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
  cmake -S . -B build-vg -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-O1 -DSWAT_NATIVE=OFF -DSWAT_BUILD_TESTS=ON >/dev/null
  cmake --build build-vg -j"$(nproc)" --target test_rng test_config test_data test_optim test_ops \
    test_attn test_model test_stream
  tests/run_valgrind.sh build-vg | tee "$log"
  total=$((total + $(grep -c ': ok (' "$log")))
fi
# every stage passed (set -e and pipefail stop at the first failure)
echo "$total passed, 0 failed"
