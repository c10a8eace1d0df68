#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cmake/FindBLIS.cmake finds BLIS where clusters put it. The BLIS of the build
# is laid out again, by symbolic links, as two installed prefixes: A as
# BLIS's own `make install` does it (A/include/blis/blis.h, A/lib/libblis.so)
# and B with a blis.pc and lib64/. Then the small project tests/find_blis
# (find_package(BLIS) and a program printing bli_info_get_version_str) must
# take BLIS from
#   A for -DBLIS_ROOT=A, and for BLIS_ROOT=A in the environment;
#   B for PKG_CONFIG_PATH=B/lib64/pkgconfig;
#   A for both (BLIS_ROOT comes first);
#   the build's own BLIS for neither;
# and each time the program must link and print the version of the BLIS the
# build uses.
# usage: tests/run_find_blis.sh BUILD_DIR
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" find-blis
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
lib=$(cache BLIS_LIBRARY)
inc=$(cache BLIS_INCLUDE_DIR)
[ -f "$lib" ] && [ -f "$inc/blis.h" ] || fail "the build's BLIS ($lib, $inc) is not there"
real=$(readlink -f "$lib")

A=$work/A B=$work/B
mkdir -p "$A/include/blis" "$A/lib" "$B/include/blis" "$B/lib64/pkgconfig"
for p in "$A" "$B"; do
    for h in "$inc"/*.h; do ln -s "$h" "$p/include/blis/"; done
done
for l in "$A/lib" "$B/lib64"; do
    ln -s "$real" "$l/libblis.so"
    ln -s "$real" "$l/$(objdump -p "$real" | sed -n 's/^ *SONAME *//p')"
done
cat > "$B/lib64/pkgconfig/blis.pc" <<EOF
prefix=$B
libdir=\${prefix}/lib64
includedir=\${prefix}/include
Name: BLIS
Description: BLAS-like Library Instantiation Software Framework
Version: 0.9.0
Libs: -L\${libdir} -lblis
Cflags: -I\${includedir}/blis
EOF

want_version=$(cd "$work" && cmake -S "$src/tests/find_blis" -B default >/dev/null && cmake --build default >/dev/null &&
               default/blis_version) || fail "tests/find_blis does not build with the default search"

case_n=0
# expect WHERE_LIB WHERE_INC [VAR=… for the environment] [-D… for cmake]:
# configure, build, run; the hints of the caller's environment are dropped
# unless no hint is given (then it is the build's own search)
expect() {
    local want_lib=$1 want_inc=$2 dir clean=()
    shift 2
    [ $# -gt 0 ] && clean=(-u BLIS_ROOT -u PKG_CONFIG_PATH -u CMAKE_PREFIX_PATH)
    case_n=$((case_n + 1))
    dir=$work/b$case_n
    local envs=() defs=()
    while [ $# -gt 0 ]; do
        case $1 in -D*) defs+=("$1") ;; *) envs+=("$1") ;; esac
        shift
    done
    env ${clean[@]+"${clean[@]}"} ${envs[@]+"${envs[@]}"} cmake -S "$src/tests/find_blis" -B "$dir" ${defs[@]+"${defs[@]}"} > "$dir.log" 2>&1 ||
        { cat "$dir.log"; fail "case $case_n: configure failed"; }
    local got_lib got_inc
    got_lib=$(sed -n 's/^-- BLIS_LIBRARY=//p' "$dir.log")
    got_inc=$(sed -n 's/^-- BLIS_INCLUDE_DIR=//p' "$dir.log")
    [ "$got_lib" = "$want_lib" ] && [ "$got_inc" = "$want_inc" ] ||
        fail "case $case_n (${envs[*]} ${defs[*]}): found $got_lib, $got_inc; want $want_lib, $want_inc"
    cmake --build "$dir" > "$dir.build.log" 2>&1 || { cat "$dir.build.log"; fail "case $case_n: does not link"; }
    [ "$("$dir/blis_version")" = "$want_version" ] || fail "case $case_n: program prints $("$dir/blis_version")"
    echo "ok    ${envs[*]} ${defs[*]} -> $got_lib (BLIS $want_version)"
}
expect "$A/lib/libblis.so" "$A/include/blis" "-DBLIS_ROOT=$A"
expect "$A/lib/libblis.so" "$A/include/blis" "BLIS_ROOT=$A"
expect "$B/lib64/libblis.so" "$B/include/blis" "PKG_CONFIG_PATH=$B/lib64/pkgconfig"
expect "$A/lib/libblis.so" "$A/include/blis" "PKG_CONFIG_PATH=$B/lib64/pkgconfig" "-DBLIS_ROOT=$A"
expect "$lib" "$inc"
echo "PASS"
