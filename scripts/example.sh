#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's run command: installs what is missing, builds the release preset and the guest
# runtimes (cached), compiles an example guest (examples/NAME.c, default hello) to a wasm32-wasi
# module with clang-19 and wasi-libc and runs it with `capsule run`; without arguments it then
# runs the Python example too (`capsule run examples/python/main.py 5`).
# Usage: bash scripts/example.sh [NAME | FILE.py | FILE.ts | FILE.js] [ARGS...]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SYSROOT=$(bash scripts/setup.sh)

name=hello
source_file=
default_run=1
if [ $# -gt 0 ] && [ -f "examples/$1.c" ]; then
    name=$1
    default_run=0
    shift
elif [ $# -gt 0 ] && [ -f "$1" ]; then
    case $1 in
    *.py | *.ts | *.js | *.mjs) source_file=$1 default_run=0; shift ;;
    esac
fi

# Build quietly, but show the whole log when something fails.
quiet() {
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "example: failed: $*" >&2
        exit 1
    fi
    rm -f "$log"
}
quiet cmake --preset release
quiet cmake --build --preset release
# The Python and JavaScript runtimes (progress on stderr; about a second when up to date).
. scripts/lib/guest-runtimes.sh
capsule_build_guest_runtimes "$ROOT"

mkdir -p build/examples
wasm="build/examples/$name.wasm"
clang-19 --target=wasm32-wasi --sysroot="$SYSROOT" -O2 -Wall -Wextra -Werror \
    -o "$wasm" "examples/$name.c"

if [ ! -x build/release/capsule ]; then
    echo "example: build/release/capsule was not built (the CLI, src/cli, is not there yet)." >&2
    echo "example: the guest is ready at $wasm" >&2
    exit 1
fi
if [ -n "$source_file" ]; then
    exec build/release/capsule run "$source_file" "$@"
fi
if [ $default_run -eq 0 ]; then
    exec build/release/capsule run "$wasm" "$@"
fi
build/release/capsule run "$wasm" "$@"
echo "example: capsule run examples/python/main.py 5" >&2
exec build/release/capsule run examples/python/main.py 5
