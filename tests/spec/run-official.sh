#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs the official WebAssembly spec test suite (a checkout given as argument; nothing of it is
# stored in this repository) through spec_runner and prints a per-file table and a total.
# Usage: run-official.sh SUITE_DIR [SPEC_RUNNER] [WORK_DIR]
#   SUITE_DIR    a checkout of github.com/WebAssembly/testsuite (Wasm 2.0: commit 3a04b2c)
#   SPEC_RUNNER  the runner binary (default: $SPEC_RUNNER, else build/dev/tests/spec/spec_runner)
#   WORK_DIR     where wast2json output and per-file logs go (default: a fresh temporary dir)
# Environment: SPEC_TIMEOUT (seconds per file, default 600), SPEC_INCLUDE_SIMD=1 to run simd_*.
# Exit status: 0 when every file passed, 1 otherwise.
set -u

suite=${1:-}
if [ -z "$suite" ] || [ ! -d "$suite" ]; then
    echo "usage: $0 SUITE_DIR [SPEC_RUNNER] [WORK_DIR]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
runner=${2:-${SPEC_RUNNER:-$here/../../build/dev/tests/spec/spec_runner}}
if [ ! -x "$runner" ]; then
    echo "$0: spec runner '$runner' not found (build the spec_runner target)" >&2
    exit 2
fi
if ! command -v wast2json >/dev/null 2>&1; then
    echo "$0: wast2json not found (Debian package wabt)" >&2
    exit 2
fi
work=${3:-$(mktemp -d "${TMPDIR:-/tmp}/capsule-spec.XXXXXX")}
mkdir -p "$work"
limit=${SPEC_TIMEOUT:-600}

tp=0 tf=0 tm=0 ts=0 bad=0
printf '%-28s %8s %8s %8s %8s  %s\n' file passed failed msgmis skipped note
for wast in "$suite"/*.wast; do
    name=$(basename "$wast" .wast)
    case $name in
    simd_*) [ "${SPEC_INCLUDE_SIMD:-0}" = 1 ] || continue ;;
    esac
    out=$work/$name
    rm -rf "$out"
    mkdir -p "$out"
    if ! wast2json "$wast" -o "$out/$name.json" >"$out/wast2json.log" 2>&1; then
        printf '%-28s %8s %8s %8s %8s  %s\n' "$name" - - - - "wast2json failed"
        bad=$((bad + 1))
        continue
    fi
    timeout "$limit" "$runner" "$out/$name.json" >"$out/run.log" 2>&1
    rc=$?
    note=""
    case $rc in
    0 | 1) ;;
    124) note="timeout after ${limit}s" ;;
    *) note="runner exited $rc (crash?)" ;;
    esac
    # The runner prints "<file>: P passed, F failed (M message mismatches), T skipped (text), ..."
    # only when something was skipped or mismatched; the last line is always "spec: P passed, F failed".
    line=$(grep '^spec: ' "$out/run.log" | tail -n 1)
    p=$(echo "$line" | sed -n 's/^spec: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
    f=$(echo "$line" | sed -n 's/^spec: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
    m=$(sed -n 's/.*(\([0-9]*\) message mismatches.*/\1/p' "$out/run.log" | tail -n 1)
    s=$(sed -n 's/.* \([0-9]*\) skipped (text), \([0-9]*\) skipped (v128).*/\1 \2/p' "$out/run.log" |
        tail -n 1 | awk '{print $1 + $2}')
    if [ -z "$p" ]; then
        p=0 f=0
        [ -n "$note" ] || note="no summary line"
    fi
    m=${m:-0} s=${s:-0}
    if [ "$f" -ne 0 ] || [ -n "$note" ]; then
        bad=$((bad + 1))
    fi
    printf '%-28s %8d %8d %8d %8d  %s\n' "$name" "$p" "$f" "$m" "$s" "$note"
    tp=$((tp + p)) tf=$((tf + f)) tm=$((tm + m)) ts=$((ts + s))
done
printf '%-28s %8d %8d %8d %8d  %s\n' TOTAL "$tp" "$tf" "$tm" "$ts" "($bad files with failures)"
# The most frequent failure shapes: file, line, module names, export names and numbers removed.
if [ "$tf" -gt 0 ]; then
    echo "most common failures (normalised):"
    cat "$work"/*/run.log | grep -E '^[^ ]+:[0-9]+: ' |
        sed -E 's/^[^ ]+:[0-9]+: //; s/ \([^)]*\.wasm\)//; s/(invoke|get)( \$[^ ]+)? "[^"]*"/\1/;
                s/(0x)?[0-9a-f]*[0-9][0-9a-f]*/N/g; s/ in [^ ",]+//' |
        sort | uniq -c | sort -rn | head -n "${SPEC_TOP:-30}"
fi
echo "logs: $work/<file>/run.log"
echo "spec: $tp passed, $tf failed"
[ "$bad" -eq 0 ] && [ "$tp" -gt 0 ]
