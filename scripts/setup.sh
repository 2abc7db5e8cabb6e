#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages Capsule needs (only those missing; quiet when all are there)
# and prepares a private wasm32-wasi sysroot. Prints the sysroot's path on stdout, and nothing
# else, so other scripts can do: SYSROOT=$(bash scripts/setup.sh).
set -euo pipefail

# The one list of Debian packages. Add new ones here.
PACKAGES=(
    build-essential cmake ninja-build pkg-config   # C toolchain and build system
    clang libclang-rt-14-dev                       # clang 14 + libFuzzer/sanitizer runtimes (fuzz preset)
    libcmocka-dev libjansson-dev libsqlite3-dev    # unit tests; JSON; the lifecycle journal
    libcurl4-openssl-dev libidn2-dev               # host-mediated HTTP (libcurl); IDN host names
    wabt binaryen                                  # wast2json/wat2wasm/wasm-interp; wasm-opt
    clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc   # building wasm32-wasi guests
    python3                                        # test drivers (tests/cli, wasi, sandbox, ...)
    python3-pytest python3-pip                     # host SDK tests (tests/sdk: pytest; offline pip install)
)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
# node is used by the benchmarks; any node on PATH will do (nodesource or Debian's nodejs).
if ! command -v node >/dev/null 2>&1; then
    missing+=(nodejs)
fi

if ((${#missing[@]})); then
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        SUDO=(sudo)
    fi
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq >&2
    "${SUDO[@]}" apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
fi

# A private sysroot: with --sysroot=/usr clang would fall back to glibc's headers for anything
# wasi-libc lacks (see shared TOOLCHAIN notes).
SYSROOT="$ROOT/build/wasi-sysroot"
mkdir -p "$SYSROOT/include" "$SYSROOT/lib"
for d in include lib; do
    if [ "$(readlink "$SYSROOT/$d/wasm32-wasi" 2>/dev/null)" != "/usr/$d/wasm32-wasi" ]; then
        ln -sfn "/usr/$d/wasm32-wasi" "$SYSROOT/$d/wasm32-wasi"
    fi
done
echo "$SYSROOT"
