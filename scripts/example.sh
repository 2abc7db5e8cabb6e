#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's run command: installs what is missing, builds the release preset, compiles an
# example guest (examples/NAME.c, default hello) to a wasm32-wasi module with clang-19 and
# wasi-libc, and runs it with `capsule run`. Usage: bash scripts/example.sh [NAME] [ARGS...]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SYSROOT=$(bash scripts/setup.sh)

name=hello
if [ $# -gt 0 ] && [ -f "examples/$1.c" ]; then
    name=$1
    shift
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

mkdir -p build/examples
wasm="build/examples/$name.wasm"
clang-19 --target=wasm32-wasi --sysroot="$SYSROOT" -O2 -Wall -Wextra -Werror \
    -o "$wasm" "examples/$name.c"

if [ ! -x build/release/capsule ]; then
    echo "example: build/release/capsule was not built (the CLI, src/cli, is not there yet)." >&2
    echo "example: the guest is ready at $wasm" >&2
    exit 1
fi
exec build/release/capsule run "$wasm" "$@"
