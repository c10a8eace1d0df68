#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite, from a fresh Debian 12 machine: installs the packages
# (tools/install-deps.sh), then runs four stages, each in a build folder of
# its own, all with warnings as errors (SWAT_WERROR):
#   main       build-test: the default build (tuned for this CPU), every test
#              (ctest: unit, MPI on 1, 2 and 4 ranks, the PyTorch reference,
#              end to end, install, SLURM);
#   portable   build-portable: -DSWAT_NATIVE=OFF (-O2 -g, no -march=native),
#              the unit and build tests, then the one-rank unit tests under
#              valgrind memcheck (valgrind cannot run AVX-512 code: this build
#              has none);                       skip: SWAT_TEST_PORTABLE=0
#   mpich      build-mpich: MPICH's compiler wrapper and launcher named
#              explicitly (mpicc.mpich, mpiexec.mpich; CMake then finds
#              MPICH's parallel HDF5), the MPI tests (label mpi: layouts,
#              checkpoints, resume, bad input, faults); below 4 cores without
#              the label oversubscribed (MPICH busy-polls: CMakeLists.txt);
#                                               skip: SWAT_TEST_MPICH=0
#   sanitize   build-asan: ASan + UBSan, every test but the SLURM one;
#                                               skip: SWAT_TEST_SANITIZE=0
# Each stage but main builds only the tests it runs (targets tests-<label>).
# At the end: one line per stage with its time, and the load of the machine
# (the figures are only comparable on an idle one).
# usage: tools/run_tests.sh [extra ctest arguments of the main stage]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
jobs=$(nproc)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(load)
t_all=$SECONDS

total=0
summary=()
# stage NAME: runs "$@" (which tees ctest's output to $log), then records the
# time and the test count of the stage
stage() {
    local name=$1 t0=$SECONDS n
    shift
    echo "==== stage $name ($(date '+%T'), load $(load))"
    "$@"
    # ctest's count, plus the valgrind runs of the portable stage
    n=$(sed -n 's/.*tests passed, [0-9]* tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -n 1)
    n=$((${n:-0} + $(grep -c '^valgrind .*: ok (' "$log" || true)))
    total=$((total + n))
    summary+=("$(printf '%-9s %5d s  %3d tests' "$name" $((SECONDS - t0)) "$n")")
}
configure() { # DIR cmake-arguments…
    local dir=$1
    shift
    cmake -S . -B "$dir" -DSWAT_BUILD_TESTS=ON -DSWAT_WERROR=ON "$@" >/dev/null
}

main() {
    local b=${SWAT_TEST_BUILD:-build-test}
    configure "$b" -DCMAKE_BUILD_TYPE=Release
    cmake --build "$b" -j"$jobs"
    (cd "$b" && ctest --output-on-failure "$@") | tee "$log"
}

# One build for two checks: a binary without -march=native must build and
# pass its unit tests (a cluster's login node is often another CPU than its
# compute nodes), and it is what valgrind can run. RelWithDebInfo (-O2 -g)
# keeps valgrind's stacks readable; SWAT_TEST_QUICK=1 (tests/run_valgrind.sh)
# probes a strided part of the finite-difference gradient checks.
portable() {
    configure build-portable -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWAT_NATIVE=OFF
    cmake --build build-portable -j"$jobs" --target tests-unit tests-build
    (cd build-portable && ctest --output-on-failure -L 'unit|build') | tee "$log"
    if [ "${SWAT_TEST_VALGRIND:-1}" != 0 ]; then
        tests/run_valgrind.sh build-portable | tee -a "$log"
    fi
}

# MPICH beside Debian's default Open MPI: its wrappers are named explicitly
# (Debian's plain mpicc/mpiexec stay Open MPI's).
mpich() {
    local skip=()
    [ "$jobs" -ge 4 ] || skip=(-LE oversubscribed)
    configure build-mpich -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=mpicc.mpich \
        -DMPIEXEC_EXECUTABLE="$(command -v mpiexec.mpich)"
    cmake --build build-mpich -j"$jobs" --target tests-mpi
    (cd build-mpich && ctest --output-on-failure -L mpi "${skip[@]}") | tee "$log"
}

# Sanitizers: the whole suite again in an ASan+UBSan build but the SLURM tests,
# whose daemons and job steps add nothing sanitizable that train_eval, resume
# and faults do not run. The environment (ASAN/LSAN/UBSAN_OPTIONS,
# tests/lsan.supp) comes from CMake's SWAT_TEST_ENV.
sanitize() {
    configure build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWAT_SANITIZE=ON
    cmake --build build-asan -j"$jobs"
    (cd build-asan && ctest --output-on-failure -E '^slurm') | tee "$log"
}

# (never `cond || stage …`: errexit does not reach into such a list)
stage main main "$@"
if [ "${SWAT_TEST_PORTABLE:-1}" != 0 ]; then stage portable portable; fi
if [ "${SWAT_TEST_MPICH:-1}" != 0 ]; then stage mpich mpich; fi
if [ "${SWAT_TEST_SANITIZE:-1}" != 0 ]; then stage sanitize sanitize; fi

# every stage passed (set -e and pipefail stop at the first failure)
echo "==== stages (load at start $load_start, at end $(load); $jobs CPUs)"
printf '%s\n' "${summary[@]}"
printf '%-9s %5d s\n' total $((SECONDS - t_all))
echo "$total passed, 0 failed"
