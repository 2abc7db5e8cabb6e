#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds Capsule's JavaScript guest: QuickJS (Debian trixie's `quickjs` 2025.04.26 SOURCE
# package) compiled to wasm32-wasi with bookworm's clang-19 + wasi-libc, linked with our
# embedding program (guest/js/), into
#
#   build/js/qjs-capsule.wasm   the task module (WASI reactor: capsule_init, capsule_run)
#   build/js/qjs.wasm           the same runtime as a WASI command: qjs.wasm SCRIPT.mjs [ARGS]
#   build/js/jsc                native bytecode compiler for bundles (same QuickJS source)
#
# and installs the JavaScript bundler (esbuild, from npm, guest/js/package.json) unless
# CAPSULE_JS_NO_NPM=1. See guest/js/README.md for how the host runs them.
#
#   scripts/build-quickjs.sh            build if the output is missing or its inputs changed
#   scripts/build-quickjs.sh --force    rebuild even if the key matches
#
# Environment:
#   CAPSULE_JS_CACHE  sources and objects (default build/js-cache; CI may keep it between runs)
#   CAPSULE_JS_OUT    install directory (default build/js)
#
# Nothing here is committed: build/ and guest/js/node_modules/ are ignored.
set -euo pipefail

ROOT=${CAPSULE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
CACHE=${CAPSULE_JS_CACHE:-$ROOT/build/js-cache}
OUT=${CAPSULE_JS_OUT:-$ROOT/build/js}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

T0=$(date +%s%N)
gb_log() { printf '[build-quickjs %6.1fs] %s\n' "$(( ($(date +%s%N) - T0) / 1000000 ))e-3" "$*" >&2; }
# shellcheck source=lib/guest-build.sh
. "$ROOT/scripts/lib/guest-build.sh"
die() { gb_die "$@"; }

QJS_SOURCE_PKG=quickjs
QJS_SOURCE_SUITE=trixie
GUEST=$ROOT/guest/js
# Our inputs: a change to any of them rebuilds the wasm.
KEY_INPUTS=(
    "$ROOT/scripts/build-quickjs.sh" "$ROOT/scripts/lib/guest-build.sh"
    "$ROOT/include/capsule_guest.h"
    "$GUEST/embed.c" "$GUEST/prelude.js" "$GUEST/capsule.js" "$GUEST/fs.js" "$GUEST/runner.js"
    "$GUEST/sourcemap.js" "$GUEST/jsc.c"
)
input_hash() { cat "${KEY_INPUTS[@]}" | sha256sum | cut -c1-16; }
SRC_VERSION_FILE=$CACHE/src-version
want_key() {
    echo "$(cat "$SRC_VERSION_FILE" 2>/dev/null || echo none)-$(input_hash)-opt${CAPSULE_JS_WASM_OPT:-1}"
}

# The bundler: esbuild from npm, pinned by guest/js/package-lock.json (npm ci).
install_bundler() {
    [ "${CAPSULE_JS_NO_NPM:-0}" = 1 ] && return 0
    local stamp=$GUEST/node_modules/.capsule-lock-hash want
    want=$(sha256sum "$GUEST/package-lock.json" | cut -c1-16)
    if [ -x "$GUEST/node_modules/.bin/esbuild" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    command -v npm >/dev/null || die "npm is needed to install esbuild (apt-get install npm)"
    gb_log "npm ci (esbuild) in guest/js"
    (cd "$GUEST" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed in $GUEST"
    echo "$want" >"$stamp"
}

if [ $FORCE -eq 0 ] && [ -f "$OUT/qjs-capsule.wasm" ] && [ -f "$OUT/qjs.wasm" ] &&
    [ "$(cat "$OUT/.key" 2>/dev/null)" = "$(want_key)" ]; then
    install_bundler
    gb_log "up to date: $OUT/qjs-capsule.wasm (key $(cat "$OUT/.key"))"
    exit 0
fi

gb_need_packages clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32 binaryen dpkg-dev
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
QSRC=$(gb_fetch_source "$QJS_SOURCE_PKG" "$QJS_SOURCE_SUITE" "$CACHE")
QVER=$(cat "$QSRC/.capsule-unpacked")
echo "$QJS_SOURCE_PKG-$QVER" >"$SRC_VERSION_FILE"
gb_log "QuickJS source: $QSRC ($QJS_SOURCE_PKG $QVER)"

SYSROOT=$CACHE/wasi-sysroot
gb_wasi_sysroot "$SYSROOT"
CC=(clang-19 --target=wasm32-wasi "--sysroot=$SYSROOT")
# Pure Wasm 1.0 code (-mcpu=mvp): what our engine executes.
CFLAGS=(-O2 -mcpu=mvp -D_GNU_SOURCE "-DCONFIG_VERSION=\"${QVER%%-*}\"" -Wno-error=int-conversion)

# ---- the engine objects: rebuilt only when the source version or the flags change (~40 s)
ENG=$CACHE/engine-$(printf '%s\n' layout-2 "$QVER" "${CFLAGS[*]}" "$(clang-19 --version | head -n1)" |
    sha256sum | cut -c1-12)
ENGINE_OBJS=("$ENG"/quickjs.o "$ENG"/libregexp.o "$ENG"/libunicode.o "$ENG"/cutils.o "$ENG"/dtoa.o)
if [ ! -f "$ENG/.done" ]; then
    rm -rf "$ENG"
    mkdir -p "$ENG/stub-include" "$ENG/src"
    # wasi-libc (2022) has no setjmp.h; dtoa.c includes it but uses nothing from it.
    printf '/* Capsule: wasi-libc has no setjmp.h; dtoa.c includes it but uses nothing from it. */\n' \
        >"$ENG/stub-include/setjmp.h"
    # Copies of the engine sources; quickjs.c loses CONFIG_ATOMICS (Atomics.wait needs
    # pthreads, which wasi-libc lacks). The unpacked Debian tree itself stays untouched.
    for f in quickjs libregexp libunicode cutils dtoa; do cp "$QSRC/$f.c" "$ENG/src/$f.c"; done
    sed -i 's|^#define CONFIG_ATOMICS$|/* Capsule: no CONFIG_ATOMICS (no pthreads in wasi-libc) */|' \
        "$ENG/src/quickjs.c"
    grep -q '^#define CONFIG_ATOMICS' "$ENG/src/quickjs.c" && die "could not drop CONFIG_ATOMICS"
    gb_log "compiling QuickJS (quickjs.c libregexp.c libunicode.c cutils.c dtoa.c): wasm32 with" \
        "clang-19 -mcpu=mvp, and natively for jsc"
    mkdir -p "$ENG/native"
    pids=()
    # The same engine for the build machine: jsc (guest/js/jsc.c) compiles our JavaScript to
    # bytecode with it. Native, so no WebAssembly runtime is needed at build time.
    for f in quickjs libregexp libunicode cutils dtoa; do
        cc -O2 -D_GNU_SOURCE "-DCONFIG_VERSION=\"${QVER%%-*}\"" -I"$QSRC" -w \
            -c "$ENG/src/$f.c" -o "$ENG/native/$f.o" 2>"$ENG/native-$f.log" &
        pids+=($!)
    done
    for f in quickjs libregexp libunicode cutils dtoa; do
        # malloc.h: quickjs.c calls malloc_usable_size, which wasi-libc declares there.
        "${CC[@]}" "${CFLAGS[@]}" -I"$ENG/stub-include" -I"$QSRC" -include malloc.h -w \
            -c "$ENG/src/$f.c" -o "$ENG/$f.o" 2>"$ENG/$f.log" &
        pids+=($!)
    done
    fail=0
    for p in "${pids[@]}"; do wait "$p" || fail=1; done
    if [ $fail -ne 0 ]; then
        cat "$ENG"/*.log >&2
        die "compiling QuickJS failed"
    fi
    touch "$ENG/.done"
fi

# ---- our embedding program (both forms), linked with the engine
BLD=$CACHE/obj
rm -rf "$BLD"
mkdir -p "$BLD/bc"
cc -O2 -std=gnu11 -Wall -Wextra -isystem "$QSRC" -o "$BLD/jsc" "$GUEST/jsc.c" "$ENG"/native/*.o \
    -lm -lpthread || die "building jsc failed"
gb_log "compiling the runtime's JavaScript to bytecode (jsc)"
"$BLD/jsc" "$BLD/bc/prelude.bc" capsule:prelude "$GUEST/prelude.js" script || die "jsc prelude.js"
# FILE:MODULE_NAME (the name the module loader asks for; embed.c lists the same names).
for m in capsule:capsule runner:capsule:runner sourcemap:capsule:sourcemap fs:fs; do
    "$BLD/jsc" "$BLD/bc/${m%%:*}.bc" "${m#*:}" "$GUEST/${m%%:*}.js" module || die "jsc ${m%%:*}.js"
done
gb_log "compiling guest/js/embed.c (reactor and command forms)"
# quickjs.h as a system header: its inline functions are not ours to warn about.
EMBED_FLAGS=(-std=gnu11 -Wall -Wextra -Wno-c23-extensions -I"$ROOT/include" -isystem "$QSRC"
             --embed-dir="$BLD/bc")
pids=()
"${CC[@]}" "${CFLAGS[@]}" "${EMBED_FLAGS[@]}" -c "$GUEST/embed.c" -o "$BLD/embed-reactor.o" \
    2>"$BLD/embed-reactor.log" &
pids+=($!)
"${CC[@]}" "${CFLAGS[@]}" "${EMBED_FLAGS[@]}" -DCAPSULE_JS_COMMAND -c "$GUEST/embed.c" \
    -o "$BLD/embed-command.o" 2>"$BLD/embed-command.log" &
pids+=($!)
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
if [ $fail -ne 0 ] || grep -qs 'warning:' "$BLD"/embed-*.log; then
    cat "$BLD"/embed-*.log >&2
    die "compiling embed.c failed (or it has warnings)"
fi

# 1 MiB of C stack: QuickJS may use 768 KiB of it (JS_STACK_LIMIT in embed.c) before it throws
# "Maximum call stack size exceeded".
LDFLAGS=(-fuse-ld=lld -Wl,-z,stack-size=1048576 -Wl,--strip-debug -lm)
gb_log "linking qjs-capsule.wasm (reactor) and qjs.wasm (command)"
"${CC[@]}" -mexec-model=reactor -o "$BLD/qjs-capsule.wasm" "$BLD/embed-reactor.o" \
    "${ENGINE_OBJS[@]}" "${LDFLAGS[@]}"
"${CC[@]}" -o "$BLD/qjs.wasm" "$BLD/embed-command.o" "${ENGINE_OBJS[@]}" "${LDFLAGS[@]}"

# Debian's compiler-rt carries a target_features section naming post-MVP features; binaryen
# trusts it, so strip it before optimising (TOOLCHAIN.md).
# CAPSULE_JS_WASM_OPT=0 skips the -O2 pass (~30 s, ~4 % smaller) while iterating.
gb_log "wasm-opt --strip-target-features, then -O2"
mkdir -p "$OUT"
for w in qjs-capsule qjs; do
    wasm-opt --strip-target-features "$BLD/$w.wasm" -o "$BLD/$w.stripped.wasm"
    if [ "${CAPSULE_JS_WASM_OPT:-1}" = 1 ]; then
        wasm-opt --mvp-features -O2 "$BLD/$w.stripped.wasm" -o "$BLD/$w.opt.wasm" &
    else
        cp "$BLD/$w.stripped.wasm" "$BLD/$w.opt.wasm"
    fi
done
wait
for w in qjs-capsule qjs; do mv "$BLD/$w.opt.wasm" "$OUT/$w.wasm"; done
cp "$QSRC/LICENSE" "$OUT/LICENSE.quickjs"
# jsc: the native bytecode compiler guest/js/bundle.sh uses for main.mjs.qbc.
cp "$BLD/jsc" "$OUT/jsc"
want_key >"$OUT/.key"
install_bundler
gb_log "done: $OUT/qjs-capsule.wasm ($(stat -c %s "$OUT/qjs-capsule.wasm") bytes), $OUT/qjs.wasm ($(stat -c %s "$OUT/qjs.wasm") bytes)"
