#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Python benchmarks (not tests): bench/python/workloads.py under Capsule (CPython 3.13's
# python.wasm in our engine) and under the native CPython 3.13 that scripts/build-python.sh
# builds from the same Debian source as its build Python. Each workload times itself
# (time.perf_counter, so start-up is excluded); prints each side's median ms, the ratio and the
# geometric mean of the ratios. Never asserts; a missing side prints nan and the exit status is 0.
#
#   bench/python/run.sh [CAPSULE_BINARY]   (default: build/release/capsule, then build/dev/capsule)
#
# Environment:
#   BENCH_SCALE=1          amount of work per repetition (1: about 0.1-0.2 s per workload native)
#   BENCH_REPS=3           repetitions per workload under Capsule (median reported)
#   BENCH_NATIVE_REPS=5    repetitions per workload natively
#   BENCH_ONLY=a,b         only these workloads (loop float strings dict json regex fib sort objects)
#   NATIVE_PYTHON=PATH     the native interpreter (default: build/python-cache/native/python)
#   CAPSULE_PY_OUT, CAPSULE_PY_CACHE   as for scripts/build-python.sh
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${CAPSULE_PY_OUT:-$ROOT/build/python}
NATIVE=${NATIVE_PYTHON:-${CAPSULE_PY_CACHE:-$ROOT/build/python-cache}/native/python}
SCALE=${BENCH_SCALE:-1}
REPS=${BENCH_REPS:-3}
NATIVE_REPS=${BENCH_NATIVE_REPS:-5}
ONLY=()
[ -n "${BENCH_ONLY:-}" ] && ONLY=(--only "$BENCH_ONLY")
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

# Capsule: python.wasm is CPython's own main as a WASI command. 1e12 fuel: one repetition of
# every workload at scale 1 executes about 25e9 instructions, HIGH is 50e9.
if [ -z "$CAPSULE" ] || [ ! -x "$CAPSULE" ]; then
    echo "bench/python: no capsule binary (cmake --preset release && cmake --build --preset release)" >&2
elif [ ! -f "$PY/python.wasm" ]; then
    echo "bench/python: $PY/python.wasm missing (scripts/build-python.sh)" >&2
else
    "$CAPSULE" run --json --no-journal --compute 1000000000000 --timeout 60m \
        --code-mount "$PY/lib::/usr/local/lib" --code-mount "$TMP/app::/app" \
        "$PY/python.wasm" -I -S /app/workloads.py "$SCALE" --reps "$REPS" "${ONLY[@]}" \
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
' >"$TMP/capsule.out" || cat "$TMP/capsule.err" >&2
fi

# Native: the build Python runs from its build directory (stdlib from the unpacked source).
if [ -x "$NATIVE" ]; then
    (cd "$TMP/app" && "$NATIVE" -I -S workloads.py "$SCALE" --reps "$NATIVE_REPS" "${ONLY[@]}") \
        >"$TMP/native.out" || echo "bench/python: native run failed" >&2
else
    echo "bench/python: $NATIVE missing (scripts/build-python.sh builds it; or set NATIVE_PYTHON)" >&2
fi

python3 - "$TMP/capsule.out" "$TMP/native.out" "${CAPSULE:-none}" "$NATIVE" <<'EOF'
import math, sys

def read(path):
    rows, info = {}, "missing"
    for line in open(path):
        if line.startswith("#"):
            info = line[1:].strip()
            continue
        f = line.split()
        if len(f) >= 2:
            rows[f[0]] = (float(f[1]), f[3] if len(f) > 3 else "")
    return rows, info

cap, cap_info = read(sys.argv[1])
nat, nat_info = read(sys.argv[2])
print(f"capsule: {cap_info}  [{sys.argv[3]}]")
print(f"native:  {nat_info}  [{sys.argv[4]}]")
names = list(dict.fromkeys([*nat, *cap]))
print(f"{'workload':<10} {'capsule_ms':>11} {'native_ms':>10} {'ratio':>7}")
ratios = []
for n in names:
    c = cap.get(n, (math.nan, ""))
    v = nat.get(n, (math.nan, ""))
    r = c[0] / v[0] if v[0] > 0 else math.nan
    if not math.isnan(r):
        ratios.append(r)
    note = f"  WRONG(capsule {c[1]} != native {v[1]})" if n in cap and n in nat and c[1] != v[1] else ""
    print(f"{n:<10} {c[0]:>11.1f} {v[0]:>10.1f} {r:>7.1f}{note}")
gm = math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else math.nan
print(f"{'geomean':<10} {'':>11} {'':>10} {gm:>7.1f}")
EOF
exit 0
