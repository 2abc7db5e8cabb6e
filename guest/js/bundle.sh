#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Bundles a JavaScript or TypeScript task (its local imports and the npm packages it imports
# from the project's node_modules) into ONE ES module for Capsule's JavaScript guest:
#
#   guest/js/bundle.sh ENTRY OUTDIR   ->  OUTDIR/main.mjs, main.mjs.map and main.mjs.qbc
#
# ENTRY is a .ts, .mts, .tsx, .js or .mjs file. TypeScript is stripped, not type-checked (run
# tsc yourself for that). The guest provides the modules "capsule", "fs", "fs/promises" (also
# as "node:fs", "node:fs/promises"); any other Node built-in fails here with esbuild's "Could
# not resolve" error, a native addon with its 'No loader is configured for ".node" files', each
# followed by a line of ours saying why. The source map lets the guest print stacks that name
# the user's files and lines. Safe to run concurrently on one OUTDIR (see "Publish" below).
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
# Concurrent bundlers of the same entry (two `capsule run main.ts`, a worker) share OUTDIR, and
# a guest may be reading it while another run re-bundles: every file is written into a private
# temporary directory next to OUTDIR (same file system, same depth, so the source map's relative
# paths are the same) and renamed into place, one atomic rename(2) per file. A reader sees each
# file whole, old or new, never half-written. Temporary directories a killed bundler left behind
# are removed after an hour.
parent=$(dirname "$outdir")
base=$(basename "$outdir")
find "$parent" -maxdepth 1 -name ".$base.tmp.*" -mmin +60 -exec rm -rf {} + 2>/dev/null || true
tmp=$(mktemp -d "$parent/.$base.tmp.XXXXXX")
log=$tmp/esbuild.log
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
# --platform=neutral: no Node built-ins are assumed; package.json "module" then "main" fields.
# --target=es2023: what QuickJS 2025-04-26 runs natively; newer syntax is lowered.
if ! "$esbuild" "$entry" --bundle --format=esm --platform=neutral --target=es2023 \
    --main-fields=module,main --conditions=module \
    --resolve-extensions=.ts,.tsx,.mts,.cts,.js,.jsx,.mjs,.cjs,.json \
    --external:capsule --external:fs --external:fs/promises --external:node:fs \
    --external:node:fs/promises \
    --sourcemap --sources-content=false --charset=utf8 --legal-comments=none \
    --log-level=warning --metafile="$tmp/meta.json" --outfile="$tmp/main.mjs" 2>"$log"; then
    cat "$log" >&2
    if grep -q 'built into node' "$log"; then
        echo "bundle.sh: the JavaScript guest provides only these Node built-ins: fs, fs/promises" \
            "(also as node:fs, node:fs/promises), plus globals such as process, URL, fetch and" \
            "TextEncoder; use a pure-JavaScript package from npm instead (--platform=node does" \
            "not apply)." >&2
    fi
    if grep -q 'No loader is configured for "\.node" files' "$log"; then
        echo "bundle.sh: a native addon (a compiled .node file) cannot run in the sandbox: only" \
            "JavaScript and WebAssembly run there; use a pure-JavaScript package instead." >&2
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
if [ -x "$jsc" ]; then
    "$jsc" "$tmp/main.mjs.qbc" "${CAPSULE_JS_GUEST_PATH:-/app/main.mjs}" "$tmp/main.mjs" \
        bundle || rm -f "$tmp/main.mjs.qbc"
    "$jsc" "$tmp/main.mjs.map.json" - "$tmp/main.mjs.map" map ||
        rm -f "$tmp/main.mjs.map.json"
fi
# Publish. A stale file this run did not produce goes first (an old main.mjs.qbc must not
# outlive the main.mjs it was compiled from); main.mjs.qbc is renamed last and is never older
# than main.mjs, so a reader between two renames loads either the old bytecode or the new
# source, both whole.
rm -f "$outdir/meta.json" # until the new bundle is whole
for f in main.mjs.qbc main.mjs.map.json; do
    [ -e "$tmp/$f" ] || rm -f "$outdir/$f"
done
# meta.json (esbuild's list of the bundle's inputs) goes last: the host skips bundling while
# main.mjs is newer than every input it lists (src/runtime/guest_lang.c).
for f in main.mjs.map main.mjs.map.json main.mjs main.mjs.qbc meta.json; do
    if [ -e "$tmp/$f" ]; then
        mv -f "$tmp/$f" "$outdir/$f"
    fi
done
