#!/usr/bin/env bash
# valgrind memcheck over the one-rank unit tests: invalid reads/writes, uses
# of uninitialised values and definite leaks fail the run.
# usage: tests/run_valgrind.sh BUILD_DIR [test…]
# BUILD_DIR must be built without -march=native (valgrind 3.19 cannot run
# AVX-512), e.g.: cmake -S . -B build-vg -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-O1
# BLIS picks its kernels from the CPUID valgrind emulates (no AVX-512).
# Default: test_config, test_data, test_optim, test_ops (~45 s). test_attn
# (> 10 min) and test_model (hours: 190 s under ASan) are too slow for the
# suite; name them to run them. SWAT_VALGRIND_ORIGINS=1 adds --track-origins.
set -uo pipefail
build=$(cd "${1:?usage: tests/run_valgrind.sh BUILD_DIR [test…]}" && pwd)
shift
src=$(cd "$(dirname "$0")/.." && pwd)
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(test_config test_data test_optim test_ops)
extra=()
[ "${SWAT_VALGRIND_ORIGINS:-0}" != 0 ] && extra+=(--track-origins=yes)
supp=(--suppressions="$src/tests/valgrind.supp")
[ -f /usr/share/openmpi/openmpi-valgrind.supp ] &&
  supp+=(--suppressions=/usr/share/openmpi/openmpi-valgrind.supp)
# one thread: OpenMP worker pools only add time and thread-start noise here
export OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1
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
