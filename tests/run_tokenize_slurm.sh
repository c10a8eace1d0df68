#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# jobs/tokenize.sbatch on a REAL single-node SLURM (munged, slurmctld, slurmd
# started here by tests/slurm/cluster.sh, as root):
#  1. train as a job (one task, --threads from --cpus-per-task): the model is
#     the one swat-tokenize trains outside SLURM;
#  2. encode as a job of 3 tasks (srun --mpi=pmix, rounds of 3000 bytes):
#     the shards are byte-identical to a one-rank run outside SLURM;
#  3. scancel in the middle of an encode job: the ranks get SIGTERM, the job
#     ends, and the output directory holds no shard and no temporary.
# usage: tests/run_tokenize_slurm.sh BUILD_DIR
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "$1" && pwd)
BIN=$BUILD/swat-tokenize
# shellcheck source=tests/lib.sh
source "$ROOT/tests/lib.sh" # swat_py (setup is this script's own: SLURM needs a scratch in /tmp)
# shellcheck source=tests/slurm/cluster.sh
source "$ROOT/tests/slurm/cluster.sh"
cluster_check_tools || exit 1
SCRATCH=$(mktemp -d /tmp/swat-tokenize-slurm.XXXXXX)
chmod 755 "$SCRATCH"
cleanup() { cluster_stop; rm -rf "$SCRATCH"; }
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM
fail() { echo "FAIL: $*"; for f in "$SCRATCH"/jobdir/*.out; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done; exit 1; }

cluster_start "$SCRATCH/cluster" || fail "cannot start SLURM"
work=$SCRATCH/jobdir
mkdir -p "$work"
cd "$work" || exit 1
export SWAT_HOME=$ROOT SWAT_TOKENIZE=$BIN
job=$ROOT/jobs/tokenize.sbatch
submit() { timeout 300 sbatch --wait --quiet "$@"; }
corpus=("$ROOT/tests/data/wisdom.txt" "$ROOT/tests/data/literature-val.txt")

# ---- 1. train as a job --------------------------------------------------------------
submit --ntasks=1 --cpus-per-task=2 -o train.out "$job" train --vocab-size 400 --out "$work/tok" \
    "${corpus[@]}" || fail "the train job failed"
"$BIN" train --vocab-size 400 --threads 2 --out "$work/ref" "${corpus[@]}" > /dev/null 2>&1 ||
    fail "train outside SLURM"
cmp -s "$work/tok.model" "$work/ref.model" || fail "the job trained another model"
grep -q -- "--threads 2" train.out || fail "the train job did not pass --threads from --cpus-per-task"
echo "PASS: train job (1 task, 2 threads) = train outside SLURM"

# ---- 2. encode on 3 tasks ------------------------------------------------------------------
args=(--tokenizer "$work/tok.model" --val-tokens 1000 --shard-tokens 5000)
submit --ntasks=3 -o encode.out "$job" encode "${args[@]}" --out-dir "$work/np3" --round-bytes 3000 \
    "${corpus[@]}" || fail "the encode job failed"
"$BIN" encode "${args[@]}" --out-dir "$work/np1" "${corpus[@]}" > /dev/null 2>&1 || fail "encode outside SLURM"
grep -q "on 3 rank(s)" encode.out || fail "the encode job did not run on 3 ranks"
diff -r "$work/np1" "$work/np3" > /dev/null || fail "3 ranks under SLURM wrote other shards than 1 rank"
echo "PASS: encode job (3 tasks) = 1 rank outside SLURM ($(ls "$work/np3" | wc -l) shards)"

# ---- 3. scancel mid-encode ----------------------------------------------------------------------
# 35000 documents, 6 MB: many seconds to encode (a signal is acted on between documents)
swat_py -c 'import json, sys; docs = open(sys.argv[1]).read().split("\n%\n"); [print(json.dumps({"text": d})) for _ in range(80) for d in docs]' \
    "$ROOT/tests/data/wisdom.txt" > "$work/big.jsonl"
id=$(sbatch --parsable --ntasks=2 -o cancel.out "$job" encode "${args[@]}" --out-dir "$work/cancel" \
    --round-bytes 20000 --progress 0 "$work/big.jsonl") || fail "sbatch"
cluster_wait_for 120 "grep -q '^encode: ' cancel.out" || fail "no progress from job $id"
scancel "$id"
cluster_wait_for 120 "[ -z \"\$(squeue -h -j $id -t R,CG -o %A)\" ]" || fail "job $id does not end"
state=$(scontrol show job "$id" | sed -n 's/.*JobState=\([A-Z]*\).*/\1/p')
[ "$state" = CANCELLED ] || fail "job $id ended $state, not CANCELLED (finished before the cancel?)"
grep -q "interrupted by signal" cancel.out || fail "the ranks did not report the signal"
[ -z "$(ls -A "$work/cancel")" ] || fail "the cancelled job left $(ls -A "$work/cancel")"
echo "PASS: scancel mid-encode: $state, nothing left in the output directory"
echo "PASS"
