#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The installed tree: `cmake --install BUILD_DIR --prefix P` into a scratch
# prefix, then
#  - every installed program P/bin/swat-* starts from there (its libraries
#    found through the installed run path) and answers --help with its usage
#    on stdout, nothing on stderr, and exit 0;
#  - the installed swat-train trains a tiny model (2 updates) and writes its
#    checkpoint: the programs work, not only start;
#  - P/share/swat holds the configs, the job scripts and the tools they call,
#    identical to the source tree, and jobs/lib.sh sourced from there picks
#    the installed trainer P/bin/swat-train;
#  - nothing of the test build (test programs, swat-refdump, the bench
#    programs) is installed.
# usage: tests/run_install.sh BUILD_DIR
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" install
P=$work/prefix
cmake --install "$build" --prefix "$P" > "$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }

# ---- the programs -------------------------------------------------------------
shopt -s nullglob
progs=("$P"/bin/*)
[ ${#progs[@]} -gt 0 ] || fail "nothing installed in $P/bin"
for p in "${progs[@]}"; do
    name=${p##*/}
    case $name in swat-*) ;; *) fail "$P/bin/$name: not a program of the package" ;; esac
    case $name in swat-refdump | swat-attn-bench) fail "$name is a test or bench program, installed" ;; esac
    set +e
    "$p" --help > "$work/out" 2> "$work/err"
    rc=$?
    set -e
    if [ $rc = 0 ] && grep -q "^usage: $name " "$work/out" && [ ! -s "$work/err" ]; then
        echo "ok    $name --help: $(head -n 1 "$work/out")"
    else
        cat "$work/out" "$work/err"
        fail "$name --help: exit $rc (127: a library not found from $P/bin)"
    fi
done

# ---- the installed trainer works ------------------------------------------------
"$P/bin/swat-train" tests/configs/ref.ini --set train.steps=2 --set checkpoint.every=2 \
    --set "checkpoint.dir=$work/run" > "$work/train.log" 2>&1 ||
    { cat "$work/train.log"; fail "installed swat-train on tests/configs/ref.ini"; }
[ -s "$work/run/ckpt-00000002.h5" ] || fail "installed swat-train wrote no checkpoint: $(ls "$work/run")"
echo "ok    installed swat-train: 2 updates, $(basename "$work/run"/ckpt-00000002.h5)"

# ---- share/swat: configs, jobs, tools -------------------------------------------
S=$P/share/swat
while IFS= read -r f; do
    cmp -s "$f" "$S/$f" || fail "$S/$f missing or differs from the source tree"
done < <(find configs jobs -type f; echo tools/run_ablations.sh; echo tools/ablation_report.py)
for f in "$S"/jobs/*.sbatch "$S"/tools/*; do
    [ -x "$f" ] || fail "$f is not executable"
done
echo "ok    share/swat: $(find "$S" -type f | wc -l) files as in the source tree, scripts executable"
bin=$(env -u SWAT_HOME -u SWAT_BIN bash -c 'source "$1/jobs/lib.sh" && swat_default_bin' _ "$S")
[ "$bin" = "$(cd "$P/bin" && pwd)/swat-train" ] || fail "installed jobs/lib.sh picks '$bin', not $P/bin/swat-train"
echo "ok    installed jobs/lib.sh runs $bin"
[ -f "$P/share/doc/swat/LICENSE" ] || fail "no LICENSE in $P/share/doc/swat"
echo "PASS"
