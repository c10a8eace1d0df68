# SPDX-License-Identifier: MIT
# bench/lib.sh: shared helpers of the bench scripts (sourced, not run).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
PY=${SWAT_PYTHON:-python3}
SWAT_BENCH=${SWAT_BENCH:-$ROOT/build-perf/swat-bench}
MPIEXEC=${MPIEXEC:-mpiexec}

die() { echo "$(basename "$0"): $*" >&2; exit 2; }

need_bench() {
    [ -x "$SWAT_BENCH" ] || die "$SWAT_BENCH not built: cmake -S . -B build-perf -DCMAKE_BUILD_TYPE=Release && cmake --build build-perf -j2 --target swat-bench"
}

# A bytes file of at least $1 bytes: /usr/share/games/fortunes concatenated
# (repeated as needed), else random bytes. Prints its path.
bench_data() {
    local need=$1 f=/tmp/swat-bench-data.bin
    if [ ! -f "$f" ] || [ "$(stat -c %s "$f")" -lt "$need" ]; then
        local tmp
        tmp=$(mktemp /tmp/swat-bench-data.XXXXXX)
        local src=(/usr/share/games/fortunes/*)
        local have=0
        if [ -e "${src[0]}" ]; then
            while [ "$(stat -c %s "$tmp")" -lt "$need" ]; do
                for s in "${src[@]}"; do
                    case $s in *.dat|*.u8) continue ;; esac
                    [ -f "$s" ] && cat "$s" >>"$tmp"
                done
                have=1
            done
        fi
        [ $have = 1 ] || head -c "$need" /dev/urandom >"$tmp"
        mv "$tmp" "$f"
    fi
    echo "$f"
}

# One-minute load average and the number of runnable tasks (procs_running
# counts this shell's own reader too).
load_now() {
    local la running
    la=$(cut -d' ' -f1 /proc/loadavg)
    running=$(awk '/^procs_running/ {print $2}' /proc/stat)
    echo "load1 $la running $running"
}

# Optional: wait (at most $1 s) until the 1-min load average drops below $2.
wait_quiet() {
    local max=${1:-0} thr=${2:-1.0} t=0
    [ "$max" -gt 0 ] || return 0
    while awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v t="$thr" 'BEGIN{exit !(l >= t)}'; do
        [ "$t" -ge "$max" ] && { echo "# still busy after ${max}s ($(load_now))" >&2; return 0; }
        sleep 5
        t=$((t + 5))
    done
}

# Runs "$@" and appends, to the file named by $OUT_JSON, the command's last
# JSON line extended with the load seen before the run, the wall time and the
# best update time (swat-bench prints it only in its text). Echoes that line.
run_json() {
    local tag=$1
    shift
    local before after log t0 t1
    before=$(cut -d' ' -f1 /proc/loadavg)
    log=$(mktemp /tmp/swat-bench-run.XXXXXX)
    t0=$(date +%s.%N)
    if ! "$@" >"$log" 2>"$log.err"; then
        echo "# FAILED: $*" >&2
        cat "$log.err" >&2
        rm -f "$log" "$log.err"
        return 1
    fi
    t1=$(date +%s.%N)
    after=$(cut -d' ' -f1 /proc/loadavg)
    "$PY" - "$log" "$tag" "$before" "$after" "$t0" "$t1" <<'EOF' | tee -a "${OUT_JSON:-/dev/null}"
import json, re, sys
log, tag, before, after, t0, t1 = sys.argv[1:]
text = open(log).read().splitlines()
j = json.loads(text[-1])
j["tag"] = tag
j["load_before"] = float(before)
j["load_after"] = float(after)
j["wall_s"] = round(float(t1) - float(t0), 2)
for line in text:
    m = re.match(r"update\s+([\d.]+) ms mean, ([\d.]+) ms best", line)
    if m and "update_ms_best" not in j:
        j["update_ms_best"] = float(m.group(2))
    m = re.search(r"activations ([\d.]+) MiB", line)
    if m:
        j["arena_mib"] = float(m.group(1))
    m = re.match(r"config .*T (\d+), B (\d+)", line)
    if m:
        j["T"], j["B"] = int(m.group(1)), int(m.group(2))
if "update_ms_best" in j and "tokens_per_s_best" not in j:
    j["tokens_per_s_best"] = round(j["T"] * j["B"] / (j["update_ms_best"] * 1e-3), 1)
print(json.dumps(j))
EOF
    rm -f "$log" "$log.err"
}

# Runs "$@" and prints the CPU seconds (user+sys) of it and its children, and
# the wall seconds: "cpu_s wall_s". With one thread per process the CPU time is
# the work done whatever share of the cores other processes take.
cpu_of() {
    "$PY" - "$@" <<'EOF2'
import resource, subprocess, sys, time
t0 = time.perf_counter()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - t0
if r.returncode != 0:
    sys.stderr.write(r.stderr.decode(errors="replace"))
    sys.exit(1)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.4f %.4f" % (u.ru_utime + u.ru_stime, wall))
EOF2
}

# The BLIS configuration the runtime picks here (honours BLIS_ARCH_TYPE).
blis_arch() {
    "$PY" -c '
import ctypes, os
b = ctypes.CDLL("/usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so.4")
b.bli_init()
b.bli_arch_string.restype = ctypes.c_char_p
print("%s (BLIS_ARCH_TYPE=%s)" % (b.bli_arch_string(b.bli_arch_query_id()).decode(),
                                  os.environ.get("BLIS_ARCH_TYPE", "unset")))' 2>/dev/null || echo "unknown"
}
