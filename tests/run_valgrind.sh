#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# valgrind memcheck over the one-rank unit tests: invalid reads/writes, uses
# of uninitialised values and definite leaks fail the run.
# usage: tests/run_valgrind.sh BUILD_DIR [test…]
# BUILD_DIR must be built without -march=native (valgrind 3.19 cannot run
# AVX-512), e.g. tools/run_tests.sh's portable stage:
#   cmake -S . -B build-portable -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWAT_NATIVE=OFF
# BLIS picks its kernels from the CPUID valgrind emulates (no AVX-512).
# Default: every one-rank unit test: test_rng, test_config, test_data,
# test_text, test_corpus (~45 s), test_optim, test_ops, test_attn, test_model,
# test_stream (~3 min on 2 cores). The tests
# run with SWAT_TEST_QUICK=1: test_attn and test_model then probe a strided
# ~1/11 and ~1/7 of the entries in their finite-difference gradient checks
# (same cases, sizes and code paths; ~6x faster). SWAT_TEST_QUICK=0 runs
# them in full (test_attn ~4 min, test_model ~2 min under valgrind).
# SWAT_VALGRIND_ORIGINS=1 adds --track-origins.
set -uo pipefail
build=$(cd "${1:?usage: tests/run_valgrind.sh BUILD_DIR [test…]}" && pwd)
shift
src=$(cd "$(dirname "$0")/.." && pwd)
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(test_rng test_config test_data test_text test_corpus test_optim test_ops test_attn test_model test_stream)
extra=()
[ "${SWAT_VALGRIND_ORIGINS:-0}" != 0 ] && extra+=(--track-origins=yes)
supp=(--suppressions="$src/tests/valgrind.supp")
[ -f /usr/share/openmpi/openmpi-valgrind.supp ] &&
  supp+=(--suppressions=/usr/share/openmpi/openmpi-valgrind.supp)
# one thread: OpenMP worker pools only add time and thread-start noise here
export OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1
export SWAT_TEST_QUICK=${SWAT_TEST_QUICK:-1}
status=0
for t in "${tests[@]}"; do
  start=$(date +%s)
  log="$build/valgrind-$t.log"
  (cd "$build" && valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --num-callers=30 "${extra[@]}" "${supp[@]}" \
    "./$t" >"$log" 2>&1)
  rc=$?
  secs=$(( $(date +%s) - start ))
  if [ $rc -eq 0 ]; then
    echo "valgrind $t: ok (${secs} s)"
  else
    status=1
    echo "valgrind $t: FAILED rc=$rc (${secs} s), see $log" >&2
    grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|.*definitely lost|ERROR SUMMARY)' "$log" \
      | head -10 >&2
  fi
done
exit $status
