#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer harnesses with clang (-fsanitize=fuzzer,address,undefined)
# and runs each for N seconds from the committed seeds, printing the coverage
# reached. Inputs found stay in a work corpus outside the repository; crashes
# are written to ARTIFACTS and make the script fail.
#
# fuzz_ckpt runs in fork mode (-fork=1 -ignore_crashes=1: one process at a
# time, restarted after a crash) because libhdf5 1.10.8 itself reads out of
# bounds, or loops for ever, on some malformed files; each crash, hang or
# out-of-memory input is then replayed and sorted: HDF5's own (the faulting
# access, hang or allocation made by libhdf5 code, on memory that swat did
# not allocate) is listed but does not fail the run; anything else (UBSan,
# a leak, swat code, a heap buffer, stack or global variable of swat, a
# crash that does not reproduce) does.
#
# The corpora found by earlier campaigns are committed as
# fuzz/corpus/<name>-found.tar.xz (a few dozen KB: the inputs compress well)
# and unpacked into the work corpus first, so every run starts where the
# last one stopped. SWAT_FUZZ_SAVE=1 merges the work corpus (libFuzzer
# -merge=1: the fewest inputs with all features) back into that archive.
# usage: fuzz/run_fuzz.sh [SECONDS per harness, default 60] [harness…]
#   SWAT_FUZZ_BUILD  build directory (default build-fuzz)
#   SWAT_FUZZ_WORK   work corpora and artifacts (default $build/fuzz-work)
#   SWAT_FUZZ_SAVE   1: rewrite fuzz/corpus/<name>-found.tar.xz afterwards
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
# Fast (frame-pointer) stacks for allocations: slow unwinding costs 2x in
# fuzz_ckpt. Leaks are still found (swat has frame pointers); a leak
# allocated inside libhdf5 or Open MPI still has that library as its first
# frame, which tests/lsan.supp matches; MPI's start-up allocations are exempt
# in the harness. Replays for sorting crashes use full stacks.
# allocator_may_return_null: an impossible size (> 1 TiB) gets NULL as from
# the C library, which HDF5 reports as an error (swat_malloc exits, a finding)
export ASAN_OPTIONS=halt_on_error=1:print_stacktrace=1:detect_leaks=1:fast_unwind_on_malloc=1:allocator_may_return_null=1
export OMPI_MCA_mca_base_component_disable_dlclose=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# triage FILE: replays one crash, timeout or out-of-memory input of fuzz_ckpt
# with full stacks and prints "hdf5 SIGNATURE" or "swat SIGNATURE"
triage() {
  local out=$work/run-ckpt/replay/${1##*/}.txt t=30 # the report, kept
  mkdir -p "${out%/*}"
  case ${1##*/} in *timeout-*) t=3;; esac # a hang shows where it loops at once
  ASAN_OPTIONS=${ASAN_OPTIONS/fast_unwind_on_malloc=1/fast_unwind_on_malloc=0} \
    "$bin/fuzz_ckpt" -timeout=$t -rss_limit_mb=4096 "$1" >"$out" 2>&1 || true
  awk '
    # frames of the sanitizers, libFuzzer, the C library and allocators
    function skip(l) {
      return l ~ /__interceptor_|__asan|__sanitizer|fuzzer::|\/libc\.so|sysdeps\/|in __(mem|str)[a-z0-9_]+ |in (malloc|calloc|realloc|free|posix_memalign|strdup) /
    }
    function ours(l) { return l ~ /\/src\/[a-z_]+\.c:|\/fuzz\/fuzz_[a-z]+\.c:/ } # swat or the harness
    function fn(l,  f) { # the function, else library+offset
      f = l; sub(/^ *#[0-9]+ 0x[0-9a-f]+ /, "", f)
      if (f ~ /^in /) { sub(/^in /, "", f); sub(/ .*/, "", f); return f }
      sub(/^\(/, "", f); sub(/\).*/, "", f); sub(/.*\//, "", f); sub(/\.so[.0-9]*\+/, "+", f); return f }
    /runtime error:/ { ubsan = 1 }
    /located in stack of thread|of global variable/ { mine = 1 } # only swat is instrumented
    /ERROR: LeakSanitizer/ { leak = 1 }
    /ERROR: AddressSanitizer/ && !err {
      err = 1; kind = $0; sub(/.*AddressSanitizer: /, "", kind); sub(/ on .*/, "", kind); sub(/:.*/, "", kind)
      if (kind ~ /^requested allocation size/) kind = "allocation-size-too-big"
      sec = "access"; nfr = 0; next
    }
    /ERROR: libFuzzer: (timeout|out-of-memory|deadly signal|fuzz target exited)/ && !err {
      err = 1; kind = $0; sub(/.*libFuzzer: /, "", kind); sub(/ (after|\().*/, "", kind)
      if (kind == "timeout") kind = "hang"
      sec = "access"; nfr = 0; next
    }
    /(allocated|freed) by thread/ { sec = ($0 ~ /allocated/) ? "alloc" : "freed"; nfr = 0; next }
    /^ *#[0-9]+ / && err {
      nfr++
      if (sec == "access" && !afirst && !skip($0)) { afirst = 1; ahdf = ($0 ~ /libhdf5/); aours = ours($0) }
      if (sec == "access" && $0 ~ /libhdf5/) { # the first named HDF5 functions
        if (fn($0) !~ /\+0x/ && nsig < 3) { sig = sig "/" fn($0); nsig++ }
        else if (!anon) anon = fn($0)
      }
      if (sec == "alloc" && !mfirst && !skip($0)) { mfirst = 1; mine = mine || ours($0) }
      next
    }
    /^ *$/ { if (err && nfr) sec = "" } # a section ends with its stack
    END {
      if (ubsan) { print "swat ubsan"; exit }
      if (leak) { print "swat leak"; exit }
      if (!err) { print "swat not-reproduced"; exit }
      # HDF5s: made inside libhdf5, on memory swat did not allocate
      who = (ahdf && !aours && !mine) ? "hdf5" : "swat"
      if (sig == "" && anon) sig = "/" anon
      print who " " kind (sig == "" ? "" : " in " substr(sig, 2))
    }' "$out"
}

status=0
for h in "${harnesses[@]}"; do
  mkdir -p "$work/$h" "$work/artifacts"
  max_len=4096 timeout=20
  # the seed checkpoint is 72 KB; an input takes < 0.3 s, and HDF5's own
  # endless loops on some malformed files should not cost 20 s each
  [ "$h" = ckpt ] && max_len=131072 timeout=5
  echo "== fuzz_$h: $secs s"
  found=$root/fuzz/corpus/$h-found.tar.xz
  [ -f "$found" ] && tar -C "$work/$h" -xJf "$found"
  mkdir -p "$work/run-$h"
  log="$work/run-$h/fuzz-0.log"
  rm -f "$log"
  common=(-max_total_time="$secs" -max_len="$max_len" -timeout="$timeout" -rss_limit_mb=4096
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$h-")
  if [ "$h" = ckpt ]; then
    # one process at a time, restarted after a crash (timeouts and running
    # out of memory are let through too, and caught below by their artifacts)
    touch "$work/run-$h/start"
    (cd "$work/run-$h" && "$bin/fuzz_$h" -fork=1 -ignore_crashes=1 "${common[@]}" \
      "$work/$h" "$root/fuzz/corpus/$h" >"$log" 2>&1) || status=1
    n_hdf5=0
    for a in $(find "$work/artifacts" -name "ckpt-*" -newer "$work/run-$h/start" -printf '%f\n' | sort); do
      case $a in
        ckpt-crash-* | ckpt-timeout-* | ckpt-oom-*) verdict=$(triage "$work/artifacts/$a");;
        *) verdict="swat ${a#ckpt-}";; # leak-, slow-unit-
      esac
      case $verdict in
        hdf5*) n_hdf5=$((n_hdf5 + 1)); echo "${verdict#hdf5 }" >> "$work/run-$h/hdf5-findings";;
        *) status=1; echo "fuzz_$h: FAILED — ${verdict#swat } in $work/artifacts/$a" >&2;;
      esac
    done
    if [ "$n_hdf5" != 0 ]; then
      echo "  $n_hdf5 input(s) that crash or hang inside libhdf5 (not swat's; fuzz/README.md), by kind:"
      sort "$work/run-$h/hdf5-findings" | uniq -c | sort -rn | sed 's/^/  /'
      rm -f "$work/run-$h/hdf5-findings"
    fi
    # fork mode counts coverage its own way: the corpus replayed once, as the
    # other harnesses report it (INITED cov: edges ft: features corp: inputs)
    (cd "$work/run-$h" && "$bin/fuzz_$h" -runs=0 -timeout="$timeout" "$work/$h" "$root/fuzz/corpus/$h" 2>&1) |
      grep -E '^#[0-9]+[[:space:]]+INITED' || true
  elif ! (cd "$work/run-$h" && "$bin/fuzz_$h" -jobs=1 "${common[@]}" \
      "$work/$h" "$root/fuzz/corpus/$h" >"$work/run-$h/driver.log" 2>&1) || grep -qE 'ERROR: |runtime error' "$log"; then
    # -jobs=1: one fuzzing process on one core, logging to fuzz-0.log in its cwd
    status=1
    echo "fuzz_$h: FAILED — see $log and $work/artifacts/" >&2
    grep -m5 -E 'ERROR|SUMMARY|runtime error|fuzz_' "$log" >&2 || true
  fi
  # the last status line: cov = edges, ft = features, corp = inputs kept
  grep -E '^#[0-9]+' "$log" | tail -1 || true
  grep -E 'stat::(number_of_executed_units|new_units_added)' "$log" || true
  if [ "${SWAT_FUZZ_SAVE:-0}" = 1 ]; then
    merged=$work/merged-$h
    # the seeds go in first, so that only what they do not cover is added;
    # then they are taken out again (they are committed as they are)
    rm -rf "$merged" && mkdir -p "$merged" && cp "$root/fuzz/corpus/$h"/* "$merged"/
    (cd "$work/run-$h" && "$bin/fuzz_$h" -merge=1 -timeout="$timeout" -rss_limit_mb=4096 \
      "$merged" "$work/$h" >merge.log 2>&1)
    (cd "$merged" && for f in *; do [ -e "$root/fuzz/corpus/$h/$f" ] && rm -f "$f"; done; true)
    tar -C "$merged" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . |
      xz -9e >"$found"
    echo "  saved $(ls "$merged" | wc -l) inputs to ${found#$root/} ($(stat -c %s "$found") bytes)"
  fi
done
exit $status
