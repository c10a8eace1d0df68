# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# tests/lib.sh: what the shell tests share; sourced by tests/run_*.sh:
#     source "$(dirname "$0")/lib.sh"
#     swat_test_setup "$1" e2e        # then $build, $src, $work are set
#
#   swat_test_setup BUILD_DIR NAME  $build (absolute BUILD_DIR), $src (the
#                                   repository; the working directory from
#                                   now on) and $work, a scratch folder
#                                   BUILD_DIR/NAME.XXXXXX removed on exit
#                                   (kept and named when SWAT_KEEP is set)
#   swat_on_exit 'COMMAND'          runs COMMAND on exit, before $work goes
#   swat_mpi [--timeout S] NP PROGRAM ARGS…
#                                   PROGRAM on NP ranks through the launcher
#                                   CMake found (MPIEXEC_* of the build)
#   swat_py ARGS…                   the Python CMake checked ($SWAT_PYTHON)
#   fail MESSAGE…                   prints "FAIL: MESSAGE" and exits 1
#   ok / not_ok MESSAGE…, swat_summary
#                                   counted checks, for the scripts that go on
#                                   after one fails; swat_summary prints
#                                   "N passed, M failed" and returns non-zero
#                                   if any failed
#
# The launcher and Python come from the environment, which ctest fills from
# the build (CMakeLists.txt, SWAT_TEST_BASE_ENV); by hand the defaults apply:
#   SWAT_MPIEXEC (mpiexec), SWAT_MPIEXEC_NUMPROC_FLAG (-n),
#   SWAT_MPIEXEC_PREFLAGS, SWAT_MPIEXEC_POSTFLAGS (split at spaces),
#   SWAT_PYTHON (the one CMake checked, from BUILD_DIR/CMakeCache.txt, when
#   swat_test_setup is given the build; else python3).
# Nothing here names one MPI's flags: Open MPI's needs as root and with more
# ranks than cores are its environment variables below, which other launchers
# ignore.

: "${SWAT_PYTHON:=}"
export OMP_NUM_THREADS=1
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export OMPI_MCA_mpi_yield_when_idle=${OMPI_MCA_mpi_yield_when_idle:-1}
export OMPI_MCA_rmaps_base_oversubscribe=${OMPI_MCA_rmaps_base_oversubscribe:-1}
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

_swat_exit_hooks=()
swat_on_exit() { _swat_exit_hooks+=("$1"); }
_swat_cleanup() {
    local h
    for h in "${_swat_exit_hooks[@]}"; do eval "$h"; done
    if [ -n "${SWAT_KEEP:-}" ]; then
        echo "scratch folder kept: $work" >&2
    else
        rm -rf "$work"
    fi
}

swat_test_setup() {
    build=$(cd "${1:?usage: $0 BUILD_DIR …}" && pwd)
    src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    cd "$src" || exit 1
    work=$(mktemp -d "$build/$2.XXXXXX")
    trap _swat_cleanup EXIT
    if [ -z "$SWAT_PYTHON" ] && [ -f "$build/CMakeCache.txt" ]; then
        SWAT_PYTHON=$(sed -n 's/^SWAT_PYTHON:[A-Z]*=//p' "$build/CMakeCache.txt")
    fi
    : "${SWAT_PYTHON:=python3}"
    export SWAT_PYTHON
}

swat_mpi() {
    local limit=()
    if [ "$1" = --timeout ]; then limit=(timeout "$2"); shift 2; fi
    local np=$1 prog=$2
    shift 2
    # shellcheck disable=SC2086 # the flag variables are lists of words
    "${limit[@]}" "${SWAT_MPIEXEC:-mpiexec}" ${SWAT_MPIEXEC_NUMPROC_FLAG:--n} "$np" \
        ${SWAT_MPIEXEC_PREFLAGS:-} "$prog" ${SWAT_MPIEXEC_POSTFLAGS:-} "$@"
}

swat_py() { "${SWAT_PYTHON:-python3}" "$@"; }

fail() { echo "FAIL: $*"; exit 1; }

swat_passed=0
swat_failed=0
ok() { swat_passed=$((swat_passed + 1)); echo "ok    $*"; }
not_ok() { swat_failed=$((swat_failed + 1)); echo "FAIL  $*"; }
swat_summary() {
    echo "$swat_passed passed, $swat_failed failed"
    [ "$swat_failed" = 0 ]
}
