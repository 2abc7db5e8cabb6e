#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Python benchmarks (not tests): bench/python/workloads.py under Capsule (CPython 3.13's
# python.wasm in our engine) and under the native CPython 3.13 that scripts/build-python.sh
# builds from the same Debian source as its build Python. Each workload times itself
# (start-up is excluded); prints each side's median wall and CPU ms, the ratios and their
# geometric means. Never asserts; a missing side prints nan and the exit status is 0.
#
#   bench/python/run.sh [CAPSULE_BINARY]   (default: build/release/capsule, then build/dev/capsule)
#
# The two sides are interleaved workload by workload (capsule, native, next workload, ...) so a
# change in machine load hits both alike; medians are over all repetitions of all rounds.
#
# Environment:
#   BENCH_SCALE=1          amount of work per repetition (1: about 0.1-0.3 s per workload native)
#   BENCH_ROUNDS=1         rounds over all workloads
#   BENCH_REPS=3           repetitions per workload and round under Capsule
#   BENCH_NATIVE_REPS=5    repetitions per workload and round natively
#   BENCH_ONLY="a b"       only these workloads (loop float strings dict json regex fib sort objects)
#   NATIVE_PYTHON=PATH     the native interpreter (default: build/python-cache/native/python)
#   CAPSULE_PY_OUT, CAPSULE_PY_CACHE   as for scripts/build-python.sh
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${CAPSULE_PY_OUT:-$ROOT/build/python}
NATIVE=${NATIVE_PYTHON:-${CAPSULE_PY_CACHE:-$ROOT/build/python-cache}/native/python}
SCALE=${BENCH_SCALE:-1}
ROUNDS=${BENCH_ROUNDS:-1}
REPS=${BENCH_REPS:-3}
NATIVE_REPS=${BENCH_NATIVE_REPS:-5}
WORKLOADS=${BENCH_ONLY:-loop float strings dict json regex fib sort objects}
WORKLOADS=${WORKLOADS//,/ }
CAPSULE=${1:-}
if [ -z "$CAPSULE" ]; then
    for c in "$ROOT/build/release/capsule" "$ROOT/build/dev/capsule"; do
        [ -x "$c" ] && CAPSULE=$c && break
    done
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir "$TMP/app"
cp "$ROOT/bench/python/workloads.py" "$TMP/app/"
: >"$TMP/capsule.out"
: >"$TMP/native.out"

HAVE_CAPSULE=1
if [ -z "$CAPSULE" ] || [ ! -x "$CAPSULE" ]; then
    echo "bench/python: no capsule binary (cmake --preset release && cmake --build --preset release)" >&2
    HAVE_CAPSULE=0
elif [ ! -f "$PY/python.wasm" ]; then
    echo "bench/python: $PY/python.wasm missing (scripts/build-python.sh)" >&2
    HAVE_CAPSULE=0
fi
HAVE_NATIVE=1
if [ ! -x "$NATIVE" ]; then
    echo "bench/python: $NATIVE missing (scripts/build-python.sh builds it; or set NATIVE_PYTHON)" >&2
    HAVE_NATIVE=0
fi

# python.wasm is CPython's own main as a WASI command, run with the same mounts as a Python
# task. 1e12 fuel: one repetition of every workload at scale 1 executes about 25e9 instructions
# (HIGH is 50e9).
run_capsule() { # WORKLOAD
    "$CAPSULE" run --json --no-journal --compute 1000000000000 --timeout 60m \
        --code-mount "$PY/lib::/usr/local/lib" --code-mount "$TMP/app::/app" \
        "$PY/python.wasm" -I -S /app/workloads.py "$SCALE" --reps "$REPS" --only "$1" \
        >"$TMP/capsule.json" 2>"$TMP/capsule.err"
    tail -n1 "$TMP/capsule.json" | python3 -c '
import json, sys
try:
    e = json.load(sys.stdin)
except ValueError:
    sys.exit("bench/python: capsule printed no envelope")
sys.stdout.write(e.get("stdout") or "")
if not e.get("success"):
    sys.stderr.write("bench/python: capsule run failed: %s\n%s" % (e.get("error"), e.get("stderr") or ""))
' >>"$TMP/capsule.out" || cat "$TMP/capsule.err" >&2
}

# The build Python runs from its build directory (its stdlib is the unpacked source's Lib/).
run_native() { # WORKLOAD
    (cd "$TMP/app" && "$NATIVE" -I -S workloads.py "$SCALE" --reps "$NATIVE_REPS" --only "$1") \
        >>"$TMP/native.out" || echo "bench/python: native run of $1 failed" >&2
}

for ((round = 0; round < ROUNDS; round++)); do
    for w in $WORKLOADS; do
        [ "$HAVE_CAPSULE" = 1 ] && run_capsule "$w"
        [ "$HAVE_NATIVE" = 1 ] && run_native "$w"
    done
done

python3 - "$TMP/capsule.out" "$TMP/native.out" "${CAPSULE:-none}" "$NATIVE" <<'EOF'
import math, statistics, sys

def read(path):
    """NAME WALL CPU CHECK WALLS CPUS lines, pooled over runs; '#' lines name the interpreter."""
    rows, info = {}, "missing"
    for line in open(path):
        if line.startswith("#"):
            info = line[1:].strip()
            continue
        f = line.split()
        if len(f) == 6:
            walls, cpus, checks = rows.setdefault(f[0], ([], [], set()))
            walls.extend(float(t) for t in f[4].split(","))
            cpus.extend(float(t) for t in f[5].split(","))
            checks.add(f[3])
    return {k: (statistics.median(w), statistics.median(c), ch)
            for k, (w, c, ch) in rows.items()}, info

def ratio(a, b):
    return a / b if b > 0 else math.nan

def geomean(xs):
    xs = [x for x in xs if not math.isnan(x)]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else math.nan

cap, cap_info = read(sys.argv[1])
nat, nat_info = read(sys.argv[2])
print(f"capsule: {cap_info}  [{sys.argv[3]}]")
print(f"native:  {nat_info}  [{sys.argv[4]}]")
print("wall: time.perf_counter; cpu: CPU time of the process (less disturbed by other load)")
print(f"{'workload':<10} {'capsule_ms':>11} {'native_ms':>10} {'ratio':>7}"
      f" {'capsule_cpu':>12} {'native_cpu':>11} {'cpu_ratio':>9}")
missing = (math.nan, math.nan, set())
walls, cpus = [], []
for n in dict.fromkeys([*cap, *nat]):
    c, v = cap.get(n, missing), nat.get(n, missing)
    walls.append(ratio(c[0], v[0]))
    cpus.append(ratio(c[1], v[1]))
    note = ""
    if n in cap and n in nat and c[2] != v[2]:
        note = f"  WRONG(capsule {','.join(c[2])} != native {','.join(v[2])})"
    print(f"{n:<10} {c[0]:>11.1f} {v[0]:>10.1f} {walls[-1]:>7.1f}"
          f" {c[1]:>12.1f} {v[1]:>11.1f} {cpus[-1]:>9.1f}{note}")
print(f"{'geomean':<10} {'':>11} {'':>10} {geomean(walls):>7.1f}"
      f" {'':>12} {'':>11} {geomean(cpus):>9.1f}")
EOF
exit 0
