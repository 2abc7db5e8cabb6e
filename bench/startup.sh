#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Task start-up overhead, a benchmark (not a test; it never asserts):
#   1. one process per run: `capsule run` of a trivial task (with and without the journal) vs the
#      bare engine in a process of its own (capsule-bench: load, instantiate, call) and
#      `capsule exec` of a trivial WASI command;
#   2. tasks per second in worker mode (`capsule worker`, one process, shared module cache).
# Prints medians. Uses the release build (cmake --preset release) unless CAPSULE_BUILD names
# another build directory.
#
# Environment:
#   STARTUP_RUNS=30      process runs per row (median taken)
#   WORKER_TASKS=2000    requests sent to one worker
#   WORKER_THREADS=...   worker threads (default: the number of CPUs)
#   CAPSULE_BUILD=build/release
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${STARTUP_RUNS:-30}
TASKS=${WORKER_TASKS:-2000}
THREADS=${WORKER_THREADS:-$(nproc)}
BUILD=${CAPSULE_BUILD:-$ROOT/build/release}

if [ ! -x "$BUILD/capsule" ] || [ ! -x "$BUILD/bench/capsule-bench" ]; then
    echo "startup: building the release preset" >&2
    (cd "$ROOT" && cmake --preset release >/dev/null && cmake --build --preset release >/dev/null)
fi
CAPSULE=$BUILD/capsule
BENCH=$BUILD/bench/capsule-bench

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# A trivial task module: reads its request, returns {"result": 42} (the ABI's smallest task).
cat >task.wat <<'EOF'
(module
  (import "capsule" "request_read" (func $rr (param i32 i32) (result i32)))
  (import "capsule" "result_write" (func $rw (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"result\": 42}")
  (func (export "capsule_run")
    (drop (call $rr (i32.const 1024) (i32.const 1024)))
    (drop (call $rw (i32.const 0) (i32.const 14)))))
EOF
# The same amount of work for the bare engine: no imports, exports run.
cat >bare.wat <<'EOF'
(module (memory (export "memory") 1) (func (export "run") (result i32) (i32.const 42)))
EOF
wat2wasm task.wat -o task.wasm
wat2wasm bare.wat -o bare.wasm
# A trivial WASI command built with wasi-libc (its start-up code runs too).
mkdir -p sysroot/include sysroot/lib
ln -s /usr/include/wasm32-wasi sysroot/include/wasm32-wasi
ln -s /usr/lib/wasm32-wasi sysroot/lib/wasm32-wasi
printf 'int main(void) { return 0; }\n' >hello.c
clang-19 --target=wasm32-wasi --sysroot=sysroot -O2 -o hello.wasm hello.c

# Median wall time in ms of RUNS runs of a command.
median_ms() {
    local times=()
    for _ in $(seq "$RUNS"); do
        local t0 t1
        t0=$(date +%s%N)
        "$@" >/dev/null 2>&1 || true
        t1=$(date +%s%N)
        times+=($(((t1 - t0) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m/1000}'
}

echo "Task start-up, median of $RUNS process runs (wall ms):"
printf '  %-48s %8s\n' "/bin/true (process start-up on this machine)" "$(median_ms /bin/true)"
printf '  %-48s %8s\n' "bare engine process (capsule-bench, 1 call)" "$(median_ms "$BENCH" --iters 1 bare.wasm)"
printf '  %-48s %8s\n' "capsule exec hello.wasm (WASI command)" "$(median_ms "$CAPSULE" exec hello.wasm)"
printf '  %-48s %8s\n' "capsule run --no-journal task.wasm" "$(median_ms "$CAPSULE" run --no-journal task.wasm)"
printf '  %-48s %8s\n' "capsule run task.wasm (journaled)" "$(median_ms "$CAPSULE" run task.wasm)"
printf '  %-48s %8s\n' "capsule run --json hello.wasm (journaled)" "$(median_ms "$CAPSULE" run --json hello.wasm)"
"$BENCH" --iters 5 bare.wasm 2>/dev/null | awk '/load_ns|inst_ns/ {print "  in-process engine: " $0}' | head -2

# Worker throughput.
python3 - "$TASKS" >requests.jsonl <<'EOF'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": i, "file": "task.wasm", "args": [str(i)]}))
EOF
worker_rate() {
    local t0 t1 n
    t0=$(date +%s%N)
    n=$("$CAPSULE" worker --threads "$THREADS" "$@" <requests.jsonl | grep -c '"success":true')
    t1=$(date +%s%N)
    awk -v n="$n" -v ns=$((t1 - t0)) 'BEGIN {printf "%d ok, %.0f tasks/s", n, n / (ns / 1e9)}'
}
echo "Worker mode, $TASKS trivial tasks, $THREADS threads:"
printf '  %-48s %s\n' "capsule worker --no-journal" "$(worker_rate --no-journal)"
rm -rf .capsule
printf '  %-48s %s\n' "capsule worker (journaled)" "$(worker_rate)"
