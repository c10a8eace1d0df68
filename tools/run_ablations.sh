#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The paper's ablations at CPU scale (docs/ablations.md), without SLURM: trains
# every config of configs/ablations/ (base.ini first, then the others in name
# order) as a one-rank build/swat-train with one thread, up to --jobs at once,
# then scores each final checkpoint with build/swat-eval on the validation
# text at 1x, 4x and 16x the training length (the 16x one with --positions:
# mean loss per position bucket).
#
#   tools/run_ablations.sh [--steps N] [--jobs J] [--only V1,V2,…] [--val FILE]
#                          [--build DIR] [--configs DIR] [--eval-only] [--list]
#                          [--set section.key=value]… [OUT_DIR]
#
#   OUT_DIR      runs/ablations; each variant trains in OUT_DIR/<config name>
#   --steps N    [train] steps for every variant (default: the configs' own)
#   --jobs J     variants at once, one thread each (default 2)
#   --only …     these variants only (config names without .ini)
#   --val FILE   text the checkpoints are scored on (default data/fortunes/val.txt)
#   --build DIR  where swat-train and swat-eval are (default <repo>/build)
#   --configs D  the variant configs (default <repo>/configs/ablations)
#   --eval-only  no training: score runs whose training is complete
#   --list       print the variant names, one a line, and exit
#   --set …      passed to every swat-train (after the config, so it wins
#                over the variant's own keys: do not --set what a variant varies)
#
# Idempotent: a variant whose newest checkpoint has reached its steps is not
# trained again (an unfinished one resumes from its newest checkpoint), and an
# evaluation whose JSON is newer than the final checkpoint is not redone; so
# rerunning the same command after an interruption (Ctrl-C saves a checkpoint)
# continues where it stopped. Per run directory: swat-train's config.ini,
# metrics.jsonl and checkpoints, train.log, and eval-{1,4,16}x.json (the last
# line swat-eval printed, plus "checkpoint", "data" and "times_seq_len") with
# eval-*.log. Then: python3 tools/ablation_report.py OUT_DIR.
#
# Relative paths (OUT_DIR, --val, the data files the configs name) start from
# the working directory: run it from the repository root, after
# tools/prepare_data.sh. swat-eval goes through $SWAT_EVAL_LAUNCH when set
# (word-split, e.g. "srun --mpi=pmix -n 2": jobs/ablations.sbatch uses it)
# with $SWAT_EVAL_THREADS threads (default 1). Python (json handling) is
# $SWAT_PYTHON, else python3.
# Exit: 0 every variant trained and scored, 1 one or more failed (named in
# the log lines), 2 bad input, 130 interrupted.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# swat_ckpt_step, swat_total_steps, swat_wait
# shellcheck source=jobs/lib.sh
source "$repo/jobs/lib.sh"

MULTS=(1 4 16) # evaluation lengths, in training lengths; --positions at the last
PY=${SWAT_PYTHON:-python3}
die() { echo "run_ablations: $*" >&2; exit 2; }
say() { printf '[ablations %s] %s\n' "$(date +%T)" "$*"; }
posint() { [[ $1 =~ ^[1-9][0-9]{0,8}$ ]]; }
# config_get CONFIG [--set …]… --get SECTION.KEY…: the values swat-train would
# use, one a line (its --print-config, so defaults and --set count as in a run;
# a one-rank start without Open MPI's singleton daemon)
config_get() { OMPI_MCA_ess_singleton_isolated=1 "$build/swat-train" --print-config "$@"; }
steps='' jobs_max=2 only='' val=data/fortunes/val.txt build=$repo/build configs=$repo/configs/ablations
eval_only=0 list=0 out='' sets=()
# shellcheck disable=SC2015 # "[ a ] && [ b ] || die": die is the else
while [ $# -gt 0 ]; do
    case $1 in
        --steps) [ $# -ge 2 ] && posint "$2" || die "--steps needs a positive integer (got '${2:-}')"; steps=$2; shift 2 ;;
        --jobs) [ $# -ge 2 ] && posint "$2" && [ "$2" -le 64 ] || die "--jobs needs an integer 1..64 (got '${2:-}')"; jobs_max=$2; shift 2 ;;
        --only) [ $# -ge 2 ] && [ -n "$2" ] || die "--only needs variant names (V1,V2,…)"; only=$2; shift 2 ;;
        --val) [ $# -ge 2 ] || die "--val needs a file"; val=$2; shift 2 ;;
        --build) [ $# -ge 2 ] || die "--build needs a directory"; build=$2; shift 2 ;;
        --configs) [ $# -ge 2 ] || die "--configs needs a directory"; configs=$2; shift 2 ;;
        --set) [ $# -ge 2 ] && [[ $2 =~ ^[a-z_]+\.[a-z_]+=.*$ ]] || die "--set needs section.key=value (got '${2:-}')"
               sets+=(--set "$2"); shift 2 ;;
        --eval-only) eval_only=1; shift ;;
        --list) list=1; shift ;;
        -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option '$1' (see --help)" ;;
        *) [ -z "$out" ] || die "one OUT_DIR only (got '$out' and '$1')"; out=$1; shift ;;
    esac
done
out=${out:-runs/ablations}

# --- the variants: base first, then the other configs in name order ------------
[ -d "$configs" ] || die "$configs: no such directory"
[ -f "$configs/base.ini" ] || die "$configs/base.ini not found (the baseline every variant is compared with)"
names=(base)
while IFS= read -r f; do
    n=${f##*/}; n=${n%.ini}
    [ "$n" = base ] || names+=("$n")
done < <(LC_ALL=C ls -1 "$configs"/*.ini)
if [ -n "$only" ]; then
    picked=()
    for n in ${only//,/ }; do
        [ -f "$configs/$n.ini" ] || die "--only: no variant '$n' (have: ${names[*]})"
        picked+=("$n")
    done
    names=("${picked[@]}")
fi
if [ "$list" = 1 ]; then printf '%s\n' "${names[@]}"; exit 0; fi

# --- checks before anything runs ------------------------------------------------
for b in swat-train swat-eval; do
    [ -x "$build/$b" ] || die "$build/$b not found: build it (cmake -S . -B build && cmake --build build -j1) or give --build DIR"
done
[ -s "$val" ] || die "--val $val: no such file, or empty (tools/prepare_data.sh makes data/fortunes/val.txt)"
declare -A targets=() # variant -> [train] steps
why=$(mktemp) || die "cannot create a temporary file"
trap 'rm -f "$why"' EXIT
for n in "${names[@]}"; do
    cfg=$configs/$n.ini
    # the config as the run will see it: swat-train refuses a bad one here, before anything runs
    resolved=$(config_get "$cfg" "${sets[@]}" ${steps:+--set "train.steps=$steps"} \
                          --get data.train --get train.steps 2>"$why") ||
        die "$cfg: $(tail -n 1 "$why")"
    { read -r tr; read -r target; } <<<"$resolved"
    # shellcheck disable=SC2086 # the value may be a glob
    [ "$eval_only" = 1 ] || compgen -G "$tr" >/dev/null ||
        die "$cfg: [data] train = $tr: no such file from $PWD (run from the repository root, after tools/prepare_data.sh)"
    targets[$n]=$target
    if [ "$eval_only" = 1 ]; then
        total=$(swat_total_steps "$out/$n" "$build/swat-train")
        if [ -z "$total" ] || [ "$(swat_ckpt_step "$out/$n")" -lt "$total" ]; then
            die "--eval-only: training of '$n' not complete in $out/$n (checkpoint step $(swat_ckpt_step "$out/$n") of ${total:-?})"
        fi
    fi
done
mkdir -p "$out" || die "cannot create $out"
val_abs=$(cd "$(dirname "$val")" && pwd)/$(basename "$val")

export OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1 OMPI_MCA_mpi_yield_when_idle=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
read -r -a eval_launch <<<"${SWAT_EVAL_LAUNCH:-}"

# --- one variant: train (or resume, or skip), then the evaluations --------------
CHILD=
# runs a command in the background and waits for it (so that a TERM to this
# job reaches the trainer, which saves a checkpoint and exits 75); status in SWAT_RC
run_child() {
    "$@" &
    CHILD=$!
    swat_wait "$CHILD"
    CHILD=
}

run_variant() {
    local n=$1 cfg=$configs/$1.ini dir=$out/$1 target done_step rc t0 T ckpt m L json err pos
    trap '[ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null' TERM
    mkdir -p "$dir" || { say "$n: FAILED: cannot create $dir"; return 1; }
    target=${targets[$n]}
    done_step=$(swat_ckpt_step "$dir")
    if [ "$eval_only" = 1 ]; then
        : # checked before the start: training complete
    elif [ "$done_step" -ge "$target" ]; then
        say "$n: trained already (step $done_step of $target in $dir)"
    else
        say "$n: training to step $target$([ "$done_step" -gt 0 ] && echo " (resuming from step $done_step)") -> $dir/train.log"
        t0=$SECONDS
        run_child "$build/swat-train" "$cfg" "${sets[@]}" ${steps:+--set "train.steps=$steps"} \
            --set "checkpoint.dir=$dir" >>"$dir/train.log" 2>&1
        rc=$SWAT_RC
        done_step=$(swat_ckpt_step "$dir")
        if [ "$rc" -eq 75 ]; then
            say "$n: stopped at step $done_step (checkpoint saved)"
            return 1
        elif [ "$rc" -ne 0 ]; then
            say "$n: FAILED: swat-train exited $rc at step $done_step: $(grep -v '^step ' "$dir/train.log" | tail -n 1)"
            return 1
        fi
        say "$n: trained $done_step steps in $((SECONDS - t0)) s: $(grep '^step .*val_loss' "$dir/train.log" | tail -n 1)"
    fi
    T=$(config_get "$dir/config.ini" --get data.seq_len) || { say "$n: FAILED: $dir/config.ini refused"; return 1; }
    ckpt=$dir/$(printf 'ckpt-%08d.h5' "$done_step")
    [ -f "$ckpt" ] || { say "$n: FAILED: no final checkpoint $ckpt"; return 1; }
    for m in "${MULTS[@]}"; do
        json=$dir/eval-${m}x.json
        if [ -s "$json" ] && [ "$json" -nt "$ckpt" ]; then
            continue
        fi
        L=$((m * T))
        t0=$SECONDS
        pos=()
        [ "$m" = "${MULTS[-1]}" ] && pos=(--positions)
        run_child "${eval_launch[@]}" "$build/swat-eval" "$ckpt" --data "$val_abs" --seq-len "$L" --threads "${SWAT_EVAL_THREADS:-1}" \
            "${pos[@]}" >"$json.out" 2>"$dir/eval-${m}x.log"
        rc=$SWAT_RC
        if [ "$rc" -ne 0 ]; then
            err=$(tail -n 1 "$dir/eval-${m}x.log")
            say "$n: FAILED: swat-eval at T=$L exited $rc: $err"
            rm -f "$json.out"
            return 1
        fi
        if ! "$PY" - "$json.out" "$json" "${ckpt##*/}" "$val_abs" "$m" <<'PY'; then
import json, os, sys
src, dst, ck, data, mult = sys.argv[1:]
lines = [l for l in open(src) if l.strip()]
d = json.loads(lines[-1])
d.update(checkpoint=ck, data=data, times_seq_len=int(mult))
with open(dst + ".tmp", "w") as f:
    f.write(json.dumps(d) + "\n")
os.replace(dst + ".tmp", dst)
PY
            say "$n: FAILED: swat-eval at T=$L printed no JSON line (see $json.out)"
            return 1
        fi
        rm -f "$json.out"
        say "$n: val loss at T=$L ($m x): $("$PY" -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["loss"])' "$json") ($((SECONDS - t0)) s)"
    done
    return 0
}

# --- the pool -------------------------------------------------------------------------
declare -A running=() # pid -> variant
failed=() stopping=0
# shellcheck disable=SC2317 # called by the trap
on_stop() {
    stopping=1
    say "interrupted: stopping ${#running[@]} job(s) (the trainers save a checkpoint; rerun to continue)"
    local p
    for p in "${!running[@]}"; do kill -TERM "$p" 2>/dev/null; done
}
trap on_stop INT TERM

reap() { # waits for one job to end
    local p='' st
    wait -n -p p "${!running[@]}"
    st=$?
    [ -n "${p:-}" ] || return 0 # interrupted by a trap
    [ "$st" -eq 0 ] || failed+=("${running[$p]}")
    unset "running[$p]"
}

t_all=$SECONDS
say "${#names[@]} variant(s): ${names[*]}; ${jobs_max} at a time, 1 thread each; runs in $out; eval on $val"
for n in "${names[@]}"; do
    while [ "${#running[@]}" -ge "$jobs_max" ] && [ "$stopping" = 0 ]; do reap; done
    [ "$stopping" = 1 ] && break
    run_variant "$n" &
    running[$!]=$n
done
while [ "${#running[@]}" -gt 0 ]; do reap; done
if [ "$stopping" = 1 ]; then
    say "stopped after $((SECONDS - t_all)) s; rerun the same command to continue"
    exit 130
fi
if [ "${#failed[@]}" -gt 0 ]; then
    say "done in $((SECONDS - t_all)) s; FAILED: ${failed[*]}"
    exit 1
fi
say "done in $((SECONDS - t_all)) s: $PY tools/ablation_report.py $out"
exit 0
