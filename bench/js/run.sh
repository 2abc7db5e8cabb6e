#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# JavaScript benchmarks (not tests): bench/js/workloads.mjs under Capsule (QuickJS wasm in our
# engine), under node's WASI (the same QuickJS wasm, V8's Wasm compiler) and under node itself
# (V8 JIT). Prints each workload's own elapsed ms and the ratios; never asserts.
#
#   bench/js/run.sh [CAPSULE_BINARY]     (default: build/release/capsule, then build/dev/capsule)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
JS=${CAPSULE_JS_OUT:-$ROOT/build/js}
CAPSULE=${1:-}
if [ -z "$CAPSULE" ]; then
    for c in "$ROOT/build/release/capsule" "$ROOT/build/dev/capsule"; do
        [ -x "$c" ] && CAPSULE=$c && break
    done
fi
[ -f "$JS/qjs.wasm" ] || { echo "bench/js: $JS/qjs.wasm missing (scripts/build-quickjs.sh)"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cp "$ROOT/bench/js/workloads.mjs" "$TMP/"

declare -A CAP NWASI V8
if [ -n "$CAPSULE" ] && [ -x "$CAPSULE" ]; then
    out=$("$CAPSULE" run --json --no-journal --compute HIGH --timeout 10m --code-mount "$TMP::/app" \
        "$JS/qjs.wasm" /app/workloads.mjs | tail -n1 |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["stdout"], end="")')
    while read -r name ms _; do CAP[$name]=$ms; done <<<"$out"
fi
out=$(CAPSULE_WASM=qjs.wasm node --no-turbo-fast-api-calls "$ROOT/tests/js/node_guest.mjs" "$JS" \
    "$TMP" '{}' -- qjs /app/workloads.mjs 2>/dev/null | grep -v '^RESULT')
while read -r name ms _; do NWASI[$name]=$ms; done <<<"$out"
out=$(node "$TMP/workloads.mjs")
while read -r name ms _; do V8[$name]=$ms; done <<<"$out"

printf '%-10s %12s %14s %10s %14s %12s\n' workload capsule_ms node_wasi_ms v8_ms capsule/wasi capsule/v8
for name in "${!V8[@]}"; do
    c=${CAP[$name]:-nan}
    w=${NWASI[$name]:-nan}
    v=${V8[$name]}
    printf '%-10s %12s %14s %10s %14s %12s\n' "$name" "$c" "$w" "$v" \
        "$(python3 -c "print(f'{float(\"$c\")/float(\"$w\"):.1f}')" 2>/dev/null || echo -)" \
        "$(python3 -c "print(f'{float(\"$c\")/max(float(\"$v\"),0.01):.0f}')" 2>/dev/null || echo -)"
done | sort
