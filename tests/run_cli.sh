#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # "a && b || fail": fail is the else
# The command line every program shares (src/cli.c), end to end on the real
# programs:
#  (a) -h/--help: usage on stdout (starting "usage: PROGRAM ", within 79
#      columns), nothing on stderr, exit 0, and printed once under
#      mpiexec -n 2; --version prints
#      "PROGRAM <the VERSION file>";
#  (b) --opt=value gives what --opt value gives: the same resolved config
#      (swat-train --print-config), the same scores (swat-eval JSON), the same
#      text (swat-generate, seeded), the same losses (swat-bench);
#  (c) swat-train --print-config prints exactly the config.ini a run writes
#      for the same config and --set, reads back to itself, creates nothing,
#      and --get prints the values of its lines; --print-keys markdown lists
#      as many keys as it prints;
#  (d) swat-bench times a config whose warm-up exceeds the timed updates and
#      whose [data] train matches no file (random tokens), printing its
#      config lines before the timing.
# The refusals (unknown option, missing value, bad number, --set without
# '=') are cases of tests/run_bad_input.sh.
# usage: tests/run_cli.sh BUILD_DIR
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
swat_test_setup "$1" cli
export OMPI_MCA_ess_singleton_isolated=1 # one-rank starts without an orted
version=$(head -n 1 VERSION)
cfg=tests/configs/ref.ini

# --- (a) --help and --version of every program ------------------------------------
programs=(swat-train swat-eval swat-generate swat-bench swat-tokenize)
for p in "${programs[@]}"; do
    for h in --help -h; do
        rc=0
        "$build/$p" $h >"$work/out" 2>"$work/err" || rc=$?
        [ "$rc" = 0 ] || fail "$p $h: exit $rc: $(cat "$work/err")"
        [ ! -s "$work/err" ] || fail "$p $h wrote to stderr: $(cat "$work/err")"
        head -n 1 "$work/out" | grep -q "^usage: $p " || fail "$p $h: stdout does not start with 'usage: $p ': $(head -n 2 "$work/out")"
        grep -q -- '--version' "$work/out" || fail "$p $h does not list --version"
        long=$(awk 'length($0) > 79' "$work/out")
        [ -z "$long" ] || fail "$p $h: lines longer than 79 columns: $long"
    done
    out=$("$build/$p" --version 2>&1) || fail "$p --version: exit $?"
    [ "$out" = "$p $version" ] || fail "$p --version printed '$out', not '$p $version'"
    n=$(swat_mpi 2 "$build/$p" --help 2>"$work/err" | grep -c '^usage:') ||
        fail "$p --help under mpiexec -n 2: $(cat "$work/err")"
    [ "$n" = 1 ] || fail "$p --help under mpiexec -n 2 printed $n usages"
    ok "$p: --help and -h (usage on stdout, exit 0, once on 2 ranks), --version = '$p $version'"
done

# --- (c) --print-config -----------------------------------------------------------
sets=(--set model.hidden_size=16 --set train.steps=2 --set "checkpoint.dir=$work/run")
"$build/swat-train" --print-config $cfg "${sets[@]}" >"$work/printed.ini"
[ ! -e "$work/run" ] || fail "--print-config created the run directory"
"$build/swat-train" $cfg "${sets[@]}" >"$work/train.log" 2>&1 || { cat "$work/train.log"; fail "training run"; }
cmp -s "$work/printed.ini" "$work/run/config.ini" ||
    fail "--print-config differs from the run's config.ini: $(diff "$work/printed.ini" "$work/run/config.ini")"
"$build/swat-train" --print-config "$work/printed.ini" >"$work/again.ini"
cmp -s "$work/printed.ini" "$work/again.ini" || fail "the printed config does not read back to itself"
# --get: the value of each "key = value" line of the printout, in the order asked
keys=() want=()
section=
while IFS= read -r line; do
    case $line in
        ';'*) ;;
        '['*']') section=${line#[}; section=${section%]} ;;
        *' ='*) keys+=(--get "$section.${line%% =*}"); v=${line#* =}; want+=("${v# }") ;;
    esac
done <"$work/printed.ini"
mapfile -t got < <("$build/swat-train" --print-config $cfg "${sets[@]}" "${keys[@]}")
[ "${#got[@]}" = "${#want[@]}" ] || fail "--get printed ${#got[@]} lines for ${#want[@]} keys"
for i in "${!want[@]}"; do
    [ "${got[$i]}" = "${want[$i]}" ] || fail "--get ${keys[$((2 * i + 1))]}: '${got[$i]}', printout: '${want[$i]}'"
done
rows=$("$build/swat-train" --print-keys markdown | grep -c '^| `')
[ "$rows" = "${#want[@]}" ] || fail "--print-keys markdown lists $rows keys, --print-config prints ${#want[@]}"
ok "--print-config = the run's config.ini, reads back to itself, creates nothing; --get of all ${#want[@]} keys; --print-keys lists them"

# --- (b) --opt=value is --opt value ------------------------------------------------
a=$("$build/swat-train" --print-config $cfg --set model.hidden_size=16 --set=train.lr=0.5 --stop-after=3)
b=$("$build/swat-train" --print-config $cfg --set model.hidden_size=16 --set train.lr=0.5 --stop-after 3)
[ "$a" = "$b" ] && [[ $a == *"lr = 0.5"* ]] || fail "swat-train --set=… differs from --set …"
ckpt=$work/run/ckpt-00000002.h5
[ -f "$ckpt" ] || fail "no checkpoint $ckpt"
a=$("$build/swat-eval" "$ckpt" --data=tests/data/wisdom.txt --seq-len=64 --max-samples=4 --block=16 2>/dev/null | tail -n 1)
b=$("$build/swat-eval" "$ckpt" --data tests/data/wisdom.txt --seq-len 64 --max-samples 4 --block 16 2>/dev/null | tail -n 1)
[ -n "$a" ] && [ "$a" = "$b" ] || fail "swat-eval: '$a' vs '$b'"
[[ $a == *'"samples":4,"seq_len":64,'*'"block":16'* ]] || fail "swat-eval ignored an option: $a"
a=$("$build/swat-generate" "$ckpt" --prompt=hello --max-tokens=12 --seed=7 --temperature=0.9 --top-k=50 2>/dev/null | od -An -tx1)
b=$("$build/swat-generate" "$ckpt" --prompt hello --max-tokens 12 --seed 7 --temperature 0.9 --top-k 50 2>/dev/null | od -An -tx1)
[ -n "$a" ] && [ "$a" = "$b" ] || fail "swat-generate: '$a' vs '$b'"
# 12 tokens of a byte model: 12 bytes, then a newline unless the last one is one
n=$(printf '%s' "$a" | wc -w)
{ [ "$n" = 13 ] || [ "$n" = 12 ]; } && [ "${a##* }" = 0a ] ||
    fail "swat-generate wrote $n bytes ending in ${a##* }, not --max-tokens=12 and a newline"
ok "--opt=value = --opt value: swat-train --print-config, swat-eval JSON, swat-generate text"

# --- (d) swat-bench: the model, not the schedule or the files ---------------------
mkdir "$work/tmp"
bench() {
    TMPDIR=$work/tmp "$build/swat-bench" $cfg --set model.hidden_size=16 --set train.warmup_steps=100 \
        --set "data.train=$work/no-such-*.bin" "$@" 2>"$work/bench.err"
}
bench --steps=2 --warmup=1 >"$work/bench1" || fail "swat-bench: $(cat "$work/bench.err")"
bench --steps 2 --warmup 1 >"$work/bench2" || fail "swat-bench: $(cat "$work/bench.err")"
grep -q '^data        random tokens in \[0, 256) (\[data\] train = .*no-such-\*.bin matches no file)' "$work/bench1" ||
    fail "swat-bench: no random-token line: $(cat "$work/bench1")"
[ "$(head -n 1 "$work/bench1" | cut -c1-6)" = config ] || fail "swat-bench does not start with its config line"
[ "$(grep -n '^peak' "$work/bench1" | cut -d: -f1)" -lt "$(grep -n '^update' "$work/bench1" | cut -d: -f1)" ] ||
    fail "swat-bench prints its peak after the timing"
loss() { sed -n 's/.*(loss \([0-9.]*\)).*/\1/p' "$1"; }
[ -n "$(loss "$work/bench1")" ] && [ "$(loss "$work/bench1")" = "$(loss "$work/bench2")" ] ||
    fail "swat-bench --steps=2 and --steps 2 ended at losses '$(loss "$work/bench1")' and '$(loss "$work/bench2")'"
tail -n 1 "$work/bench1" | grep -q '^{"tokens_per_s":' || fail "swat-bench: last line is not its JSON"
[ -z "$(ls -A "$work/tmp")" ] || fail "swat-bench left its random tokens behind: $(ls "$work/tmp")"
ok "swat-bench: warm-up 100 > 3 updates accepted, random tokens, config lines first, same loss for --opt=value"
echo "cli: OK"
