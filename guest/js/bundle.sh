#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Bundles a JavaScript or TypeScript task (its local imports and the npm packages it imports
# from the project's node_modules) into ONE ES module for Capsule's JavaScript guest:
#
#   guest/js/bundle.sh ENTRY OUTDIR   ->  OUTDIR/main.mjs, main.mjs.map and main.mjs.qbc
#
# ENTRY is a .ts, .mts, .tsx, .js or .mjs file. TypeScript is stripped, not type-checked (run
# tsc yourself for that). The guest provides the modules "capsule", "fs", "fs/promises" (also
# as "node:fs", "node:fs/promises"); any other Node built-in, and native addons, fail here with
# esbuild's "Could not resolve" error. The source map lets the guest print stacks that name
# the user's files and lines.
#
# Uses esbuild's native binary (installed by `npm ci` in guest/js, see scripts/build-quickjs.sh);
# no node is needed to bundle. ESBUILD may name another esbuild binary. Exit status: 0 bundled,
# 1 the entry could not be bundled (esbuild's messages on stderr), 2 usage.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: bundle.sh ENTRY OUTDIR" >&2
    exit 2
fi
entry=$1
outdir=$2
here=$(cd "$(dirname "$0")" && pwd)
esbuild=${ESBUILD:-$here/node_modules/.bin/esbuild}
if [ ! -x "$esbuild" ]; then
    echo "bundle.sh: esbuild is not installed ($esbuild); run scripts/build-quickjs.sh" >&2
    exit 1
fi
case $entry in
*.ts | *.mts | *.cts | *.tsx | *.js | *.mjs | *.cjs | *.jsx) ;;
*)
    echo "bundle.sh: $entry: expected a .ts, .mts, .tsx, .js or .mjs file" >&2
    exit 2
    ;;
esac
mkdir -p "$outdir"
# --platform=neutral: no Node built-ins are assumed; package.json "module" then "main" fields.
# --target=es2023: what QuickJS 2025-04-26 runs natively; newer syntax is lowered.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "$esbuild" "$entry" --bundle --format=esm --platform=neutral --target=es2023 \
    --main-fields=module,main --conditions=module \
    --resolve-extensions=.ts,.tsx,.mts,.cts,.js,.jsx,.mjs,.cjs,.json \
    --external:capsule --external:fs --external:fs/promises --external:node:fs \
    --external:node:fs/promises \
    --sourcemap --sources-content=false --charset=utf8 --legal-comments=none \
    --log-level=warning --outfile="$outdir/main.mjs" 2>"$log"; then
    cat "$log" >&2
    if grep -q 'built into node' "$log"; then
        echo "bundle.sh: the JavaScript guest provides only these Node built-ins: fs, fs/promises" \
            "(also as node:fs, node:fs/promises), plus globals such as process, URL, fetch and" \
            "TextEncoder; use a pure-JavaScript package from npm instead (--platform=node does" \
            "not apply)." >&2
    fi
    exit 1
fi
cat "$log" >&2
# Precompiled bytecode next to the bundle (saves parsing it on every start): jsc is built by
# scripts/build-quickjs.sh from the guest's own QuickJS source, found as $CAPSULE_JSC, else in
# $CAPSULE_JS_DIR, else in build/js next to this source tree. The guest loads main.mjs.qbc
# only if it records the path the guest imports (CAPSULE_JS_GUEST_PATH, default /app/main.mjs)
# and is not older than main.mjs.
jsc=${CAPSULE_JSC:-${CAPSULE_JS_DIR:-$here/../../build/js}/jsc}
# main.mjs.map.json is the source map decoded for the guest (read on errors only).
rm -f "$outdir/main.mjs.qbc" "$outdir/main.mjs.map.json"
if [ -x "$jsc" ]; then
    "$jsc" "$outdir/main.mjs.qbc" "${CAPSULE_JS_GUEST_PATH:-/app/main.mjs}" "$outdir/main.mjs" \
        bundle || rm -f "$outdir/main.mjs.qbc"
    "$jsc" "$outdir/main.mjs.map.json" - "$outdir/main.mjs.map" map ||
        rm -f "$outdir/main.mjs.map.json"
fi
