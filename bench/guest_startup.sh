#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Start-up of Python and JavaScript tasks, a benchmark (not a test; it never asserts). For a
# hello task in each language, median wall ms of:
#   cold        no snapshot yet: start the runtime, import, snapshot, run (rm -rf .capsule first)
#   scratch     capsule run --no-snapshot (start-up paid on every run, nothing saved)
#   warm        capsule run, the snapshot restored (journaled, and --no-journal)
#   worker      one task through a running `capsule worker` (sequential requests, after 5)
# and /bin/true for the machine's process start-up. Uses build/release unless CAPSULE_BUILD
# names another build directory; the runtimes from build/python and build/js.
#
#   bench/guest_startup.sh            STARTUP_RUNS=15 WORKER_TASKS=50 by default
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${STARTUP_RUNS:-15}
TASKS=${WORKER_TASKS:-50}
BUILD=${CAPSULE_BUILD:-$ROOT/build/release}
CAPSULE=$BUILD/capsule
[ -x "$CAPSULE" ] || { echo "guest_startup: $CAPSULE missing (cmake --preset release)"; exit 1; }
export CAPSULE_PYTHON_DIR=${CAPSULE_PYTHON_DIR:-$ROOT/build/python}
export CAPSULE_JS_DIR=${CAPSULE_JS_DIR:-$ROOT/build/js}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/py" "$WORK/js"
cat >"$WORK/py/main.py" <<'EOF'
from capsule import task

@task(name="main", compute="LOW", ram="64MB")
def main(name="world"):
    return f"hello {name}"
EOF
cat >"$WORK/js/main.ts" <<'EOF'
import { task } from "capsule";
export const main = task({ name: "main", compute: "LOW", ram: "64MB" }, (name: string = "world") => `hello ${name}`);
EOF

# Median wall ms of RUNS runs of a command; PRE (a shell snippet) runs before each, untimed.
median_ms() {
    local pre=$1
    shift
    local times=()
    for _ in $(seq "$RUNS"); do
        eval "$pre"
        local t0 t1
        t0=$(date +%s%N)
        "$@" >/dev/null 2>&1 || true
        t1=$(date +%s%N)
        times+=($(((t1 - t0) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n |
        awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'
}

# Median ms per task of TASKS sequential requests to one worker (the first 5 not counted).
worker_ms() {
    python3 - "$CAPSULE" "$1" "$TASKS" <<'EOF'
import json, statistics, subprocess, sys, time
capsule, entry, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = subprocess.Popen([capsule, "worker", "--threads", "1"], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, text=True)
times = []
for i in range(n + 5):
    t = time.perf_counter()
    p.stdin.write(json.dumps({"id": i, "file": entry, "args": ["w"]}) + "\n")
    p.stdin.flush()
    r = json.loads(p.stdout.readline())
    if i >= 5:
        times.append((time.perf_counter() - t) * 1000)
    if not r.get("output", {}).get("success"):
        print("nan")
        sys.exit(0)
p.stdin.close()
p.wait()
print(f"{statistics.median(times):.1f}")
EOF
}

printf '%-34s %8s\n' "/bin/true" "$(median_ms : /bin/true)"
for lang in py js; do
    entry=main.py
    [ "$lang" = js ] && entry=main.ts
    cd "$WORK/$lang"
    echo "$lang: $entry (hello task), median wall ms of $RUNS runs"
    printf '  %-32s %8s\n' "cold (no snapshot yet)" \
        "$(median_ms 'rm -rf .capsule' "$CAPSULE" run --no-journal "$entry")"
    printf '  %-32s %8s\n' "scratch (--no-snapshot)" \
        "$(median_ms : "$CAPSULE" run --no-journal --no-snapshot "$entry")"
    "$CAPSULE" build "$entry" >/dev/null
    printf '  %-32s %8s\n' "warm, --no-journal" "$(median_ms : "$CAPSULE" run --no-journal "$entry")"
    printf '  %-32s %8s\n' "warm, journaled" "$(median_ms : "$CAPSULE" run "$entry")"
    printf '  %-32s %8s\n' "worker, per task" "$(worker_ms "$entry")"
done
