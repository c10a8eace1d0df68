#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (-fsanitize=fuzzer,address,undefined)
# and runs each for N seconds from the committed seeds, printing the coverage
# reached. Inputs found stay in a work corpus outside the repository; crashes
# are written to ARTIFACTS and make the script fail.
# usage: fuzz/run_fuzz.sh [SECONDS per harness, default 60] [harness…]
#   SWAT_FUZZ_BUILD  build directory (default build-fuzz)
#   SWAT_FUZZ_WORK   work corpora and artifacts (default $build/fuzz-work)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(config llmc ckpt)
build=${SWAT_FUZZ_BUILD:-build-fuzz}
work=${SWAT_FUZZ_WORK:-$build/fuzz-work}
mkdir -p "$work"
root=$PWD
work=$(cd "$work" && pwd)
bin=$(cd "$build" && pwd)

cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSWAT_FUZZ=ON -DSWAT_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${harnesses[@]/#/fuzz_}" >/dev/null

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_mpi_yield_when_idle=1 OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1
# full leak stacks and no dlclose of MPI components, so tests/lsan.supp matches
export ASAN_OPTIONS=halt_on_error=1:print_stacktrace=1:detect_leaks=1:fast_unwind_on_malloc=0
export OMPI_MCA_mca_base_component_disable_dlclose=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
for h in "${harnesses[@]}"; do
  mkdir -p "$work/$h" "$work/artifacts"
  max_len=4096
  [ "$h" = ckpt ] && max_len=131072 # the seed checkpoint is 72 KB
  echo "== fuzz_$h: $secs s"
  # -jobs=1: one fuzzing process on one core, logging to fuzz-0.log in its cwd
  mkdir -p "$work/run-$h"
  log="$work/run-$h/fuzz-0.log"
  rm -f "$log"
  if ! (cd "$work/run-$h" && "$bin/fuzz_$h" -jobs=1 -max_total_time="$secs" \
      -max_len="$max_len" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/$h-" "$work/$h" "$root/fuzz/corpus/$h" \
      >"$work/run-$h/driver.log" 2>&1) || grep -qE 'ERROR: |runtime error' "$log"; then
    status=1
    echo "fuzz_$h: FAILED — see $log and $work/artifacts/" >&2
    grep -m5 -E 'ERROR|SUMMARY|runtime error|fuzz_' "$log" >&2 || true
  fi
  # the last status line: cov = edges, ft = features, corp = inputs kept
  grep -E '^#[0-9]+' "$log" | tail -1 || true
  grep -E 'stat::(number_of_executed_units|new_units_added)' "$log" || true
done
exit $status
