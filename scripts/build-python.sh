#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds CPython 3.13 for wasm32-wasi from Debian trixie's python3.13 source package, with
# Capsule's built-in `_capsule` module, and installs python.wasm plus a pruned, precompiled
# standard library under build/python/ (see docs/python.md for the guest layout).
#
#   scripts/build-python.sh            build if the output is missing or its inputs changed
#   scripts/build-python.sh --force    rebuild the wasm interpreter even if the key matches
#
# Environment:
#   CAPSULE_PY_CACHE  directory for sources and intermediate builds (default build/python-cache;
#                     CI points it outside the clone to keep it between runs)
#   CAPSULE_PY_OUT    install directory (default build/python)
#   JOBS              parallel make jobs (default: nproc)
#
# Nothing here is committed: build/ is ignored. Only Debian's archive is contacted (apt-get).
set -euo pipefail

# Debian (bookworm) packages this script needs. Trixie is used for SOURCE only.
PACKAGES=(
    build-essential dpkg-dev pkg-config          # native build Python; apt-get source unpacking
    clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32   # the wasm32-wasi cross toolchain
    binaryen                                     # wasm-opt
)
PY_SOURCE_PKG=python3.13
PY_SOURCE_SUITE=trixie
ZLIB_SOURCE_PKG=zlib
PY_VER=3.13

ROOT=${CAPSULE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
CACHE=${CAPSULE_PY_CACHE:-$ROOT/build/python-cache}
OUT=${CAPSULE_PY_OUT:-$ROOT/build/python}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

T0=$(date +%s)
step() { printf '[build-python %4ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }
die() { printf 'build-python: error: %s\n' "$*" >&2; exit 1; }
# Runs a long command with its output in a log file; prints the tail on failure.
logged() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "command failed ($*); full log: $log"
    fi
}

SUDO=()
[ "$(id -u)" -ne 0 ] && SUDO=(sudo)

# Inputs of ours that shape the wasm interpreter: a change to any of them rebuilds it.
# (The pure-Python guest package is copied on every run; it needs no rebuild.)
KEY_INPUTS=(
    "$ROOT/scripts/build-python.sh"
    "$ROOT/guest/python/_capsule.c"
    "$ROOT/guest/python/embed.c"
    "$ROOT/include/capsule_guest.h"
)

input_hash() {
    cat "${KEY_INPUTS[@]}" | sha256sum | cut -c1-16
}

# ---------------------------------------------------------------- fast path: already built
SRC_VERSION_FILE=$CACHE/src-version
want_key() {
    echo "$(cat "$SRC_VERSION_FILE" 2>/dev/null || echo none)-$(input_hash)"
}
install_guest_package() {
    # The pure-Python `capsule` package lives inside the stdlib directory so that it imports
    # without site-packages; it is copied on every run (cheap) so edits show up at once.
    local dst=$OUT/lib/python$PY_VER/capsule
    rm -rf "$dst"
    mkdir -p "$dst"
    cp "$ROOT"/guest/python/capsule/*.py "$dst/"
    if [ -x "$CACHE/native/python" ]; then
        "$CACHE/native/python" -E -m compileall -q --invalidation-mode unchecked-hash \
            -d "/usr/local/lib/python$PY_VER/capsule" "$dst" >/dev/null
    fi
}
if [ $FORCE -eq 0 ] && [ -f "$OUT/python.wasm" ] && [ -f "$OUT/.key" ] &&
    [ "$(cat "$OUT/.key")" = "$(want_key)" ]; then
    install_guest_package
    step "up to date: $OUT/python.wasm (key $(cat "$OUT/.key"))"
    exit 0
fi

# ---------------------------------------------------------------- packages and deb-src
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    step "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
fi

# deb-src entries: same mirror as the machine's bookworm entry; trixie is source-only.
SRC_LIST=/etc/apt/sources.list.d/capsule-src.sources
ensure_deb_src() {
    local have_trixie=0 have_bookworm=0
    if grep -rqsE '^(Types:.*deb-src|deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        grep -rqsE 'deb-src.*trixie|Suites:.*trixie' /etc/apt/sources.list /etc/apt/sources.list.d/ &&
            have_trixie=1
        # A deb-src stanza listing bookworm (a one-line entry or a deb822 stanza).
        if grep -rqsE '^deb-src .* bookworm( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ ||
            awk 'BEGIN{RS=""} /Types:[^\n]*deb-src/ && /Suites:[^\n]*bookworm( |\n|$)/ {f=1} END{exit !f}' \
                /etc/apt/sources.list.d/*.sources 2>/dev/null; then
            have_bookworm=1
        fi
    fi
    [ $have_trixie -eq 1 ] && [ $have_bookworm -eq 1 ] && return 0
    local uri
    uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)|: *bookworm( |$)/ {print u; exit}' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [ -z "$uri" ]; then
        uri=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    fi
    [ -n "$uri" ] || uri=http://deb.debian.org/debian
    step "adding deb-src entries (source only) for $uri to $SRC_LIST"
    {
        echo "# Added by Capsule's scripts/build-python.sh: SOURCE packages only (never trixie binaries)."
        if [ $have_bookworm -eq 0 ]; then
            printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' "$uri"
        fi
        if [ $have_trixie -eq 0 ]; then
            printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri"
        fi
    } | "${SUDO[@]}" tee "$SRC_LIST" >/dev/null
    "${SUDO[@]}" apt-get update -qq
}

mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
mkdir -p "$CACHE/src" "$CACHE/logs"

# Fetches a source package (unpacked WITHOUT Debian's patches: the upstream tree) into
# $CACHE/src/<pkg>-<version>; prints that directory.
fetch_source() {
    local pkg=$1 suite=$2 dir ver
    local stamp
    stamp=$(ls -d "$CACHE/src/$pkg"-*/.capsule-unpacked 2>/dev/null | head -n1 || true)
    if [ -n "$stamp" ]; then
        dirname "$stamp"
        return
    fi
    ensure_deb_src >&2
    step "apt-get source $pkg/$suite" >&2
    if ! (cd "$CACHE/src" && apt-get source --download-only -qq "$pkg/$suite" \
        >"$CACHE/logs/apt-source-$pkg.log" 2>&1); then
        # A stale package index names a revision the mirror no longer has: refresh once.
        "${SUDO[@]}" apt-get update -qq >&2 || true
        (cd "$CACHE/src" && apt-get source --download-only -qq "$pkg/$suite" \
            >>"$CACHE/logs/apt-source-$pkg.log" 2>&1) ||
            die "apt-get source $pkg/$suite failed (see $CACHE/logs/apt-source-$pkg.log)"
    fi
    local dsc
    dsc=$(ls -t "$CACHE/src/${pkg}_"*.dsc | head -n1)
    ver=$(awk '/^Version:/ {print $2; exit}' "$dsc")
    ver=${ver#*:}
    dir=$CACHE/src/$pkg-${ver%-*}
    rm -rf "$dir"
    # apt verified the .dsc's checksums against the signed Sources index; dpkg-source cannot
    # check the uploader's own signature without debian-keyring, hence its (logged) warning.
    (cd "$CACHE/src" && dpkg-source --skip-patches -x "$(basename "$dsc")" "$(basename "$dir")" \
        >>"$CACHE/logs/apt-source-$pkg.log" 2>&1) || die "dpkg-source -x $dsc failed"
    echo "$ver" >"$dir/.capsule-unpacked"
    echo "$dir"
}

PYSRC=$(fetch_source "$PY_SOURCE_PKG" "$PY_SOURCE_SUITE")
PYSRC_VER=$(cat "$PYSRC/.capsule-unpacked")
echo "$PY_SOURCE_PKG-$PYSRC_VER" >"$SRC_VERSION_FILE"
step "CPython source: $PYSRC ($PY_SOURCE_PKG $PYSRC_VER)"

# ---------------------------------------------------------------- native build Python
NATIVE=$CACHE/native
if [ ! -x "$NATIVE/python" ] || [ ! -f "$NATIVE/.stamp" ] || [ "$(cat "$NATIVE/.stamp")" != "$PYSRC_VER" ]; then
    step "native build Python: configure (about 1 min)"
    rm -rf "$NATIVE"
    mkdir -p "$NATIVE"
    (cd "$NATIVE" && logged "$CACHE/logs/native-configure.log" "$PYSRC/configure" -q \
        --prefix="$NATIVE/install" --without-ensurepip)
    step "native build Python: make -j$JOBS (about 5 min)"
    logged "$CACHE/logs/native-make.log" make -C "$NATIVE" -j"$JOBS" all
    echo "$PYSRC_VER" >"$NATIVE/.stamp"
fi
"$NATIVE/python" -E -c 'import sys; assert sys.version_info[:2] == (3, 13), sys.version' ||
    die "native build Python is not 3.13"
step "native build Python: $NATIVE/python ($("$NATIVE/python" -E -c 'import sys; print(sys.version.split()[0])'))"

# ---------------------------------------------------------------- private sysroot
SYSROOT=$CACHE/wasi-sysroot
mkdir -p "$SYSROOT/include" "$SYSROOT/lib"
ln -sfn /usr/include/wasm32-wasi "$SYSROOT/include/wasm32-wasi"
ln -sfn /usr/lib/wasm32-wasi "$SYSROOT/lib/wasm32-wasi"
# Pure Wasm 1.0 code (the target features our engine executes).
WASM_CFLAGS="-mcpu=mvp -Wno-error=int-conversion"
WASM_CC="clang-19 --target=wasm32-wasi --sysroot=$SYSROOT"

# ---------------------------------------------------------------- zlib for wasm32
ZSRC=$(fetch_source "$ZLIB_SOURCE_PKG" bookworm)
ZOUT=$CACHE/zlib-wasm32
if [ ! -f "$ZOUT/lib/libz.a" ]; then
    step "zlib for wasm32 ($(cat "$ZSRC/.capsule-unpacked"))"
    rm -rf "$ZOUT"
    mkdir -p "$ZOUT/obj" "$ZOUT/lib" "$ZOUT/include"
    for f in adler32 crc32 deflate infback inffast inflate inftrees trees zutil compress uncompr \
        gzclose gzlib gzread gzwrite; do
        $WASM_CC $WASM_CFLAGS -O2 -D_LARGEFILE64_SOURCE=1 -DHAVE_HIDDEN -c "$ZSRC/$f.c" \
            -o "$ZOUT/obj/$f.o" 2>>"$CACHE/logs/zlib.log" || die "zlib: $f.c (see $CACHE/logs/zlib.log)"
    done
    llvm-ar-19 rcs "$ZOUT/lib/libz.a" "$ZOUT"/obj/*.o
    cp "$ZSRC/zlib.h" "$ZSRC/zconf.h" "$ZOUT/include/"
fi

# ---------------------------------------------------------------- cross build
XB=$CACHE/wasi-build
# Bump CONF_REV when the configure command below changes (a reconfigure costs minutes).
CONF_REV=1
CONF_KEY=$(printf '%s\n' "$CONF_REV" "$PYSRC_VER" "$WASM_CC" "$WASM_CFLAGS" | sha256sum | cut -c1-16)
if [ ! -f "$XB/Makefile" ] || [ "$(cat "$XB/.conf-key" 2>/dev/null)" != "$CONF_KEY" ]; then
    step "wasm32-wasi: configure (about 2-3 min)"
    rm -rf "$XB"
    mkdir -p "$XB/Modules"
    # bookworm's wasi-libc has no pthread.h: tell configure the pthread_t facts it cannot probe.
    cp "$PYSRC/Tools/wasm/config.site-wasm32-wasi" "$XB/config.site"
    printf '\n# Capsule: wasi-libc (2022) has no pthread.h\nac_cv_have_pthread_t=yes\nac_cv_sizeof_pthread_t=4\n' \
        >>"$XB/config.site"
    # Our built-in module: makesetup turns this into a static module of the interpreter. The
    # source is copied into the (unpacked, cache-only) source tree below: makesetup derives
    # object paths from source paths, so it wants a path relative to Modules/.
    cat >"$XB/Modules/Setup.local" <<EOF
# Capsule: the guest ABI (import module "capsule") as the built-in module _capsule.
*static*
_capsule _capsule.c -I$ROOT/include
EOF
    (cd "$XB" && CONFIG_SITE="$XB/config.site" \
        CC="$WASM_CC" CPP="$WASM_CC -E" CXX="clang++-19 --target=wasm32-wasi --sysroot=$SYSROOT" \
        AR=llvm-ar-19 RANLIB=llvm-ranlib-19 LD=wasm-ld-19 \
        CFLAGS="$WASM_CFLAGS" LDFLAGS="-fuse-ld=lld" \
        ZLIB_CFLAGS="-I$ZOUT/include" ZLIB_LIBS="-L$ZOUT/lib -lz" \
        PKG_CONFIG_PATH="" PKG_CONFIG_LIBDIR="$SYSROOT/lib/pkgconfig" \
        logged "$CACHE/logs/wasi-configure.log" "$PYSRC/configure" \
        --host=wasm32-wasip1 --build="$("$PYSRC/config.guess")" \
        --with-build-python="$NATIVE/python" --prefix=/usr/local \
        --disable-test-modules --without-ensurepip)
    echo "$CONF_KEY" >"$XB/.conf-key"
fi
# cp only when changed, so that make sees a new time stamp only then.
cmp -s "$ROOT/guest/python/_capsule.c" "$PYSRC/Modules/_capsule.c" ||
    cp "$ROOT/guest/python/_capsule.c" "$PYSRC/Modules/_capsule.c"
step "wasm32-wasi: make -j$JOBS (about 2 min when cold)"
logged "$CACHE/logs/wasi-make.log" make -C "$XB" -j"$JOBS" all
[ -f "$XB/python.wasm" ] || die "no $XB/python.wasm"
# The task-module form (a reactor exporting capsule_init/capsule_run), linked from the same
# objects as python.wasm with guest/python/embed.c in place of Programs/python.o.
cmp -s "$ROOT/guest/python/embed.c" "$PYSRC/Modules/capsule_embed.c" ||
    cp "$ROOT/guest/python/embed.c" "$PYSRC/Modules/capsule_embed.c"
cat >"$XB/capsule.mk" <<'EOF'
include Makefile
Modules/capsule_embed.o: $(srcdir)/Modules/capsule_embed.c $(PYTHON_HEADERS)
	$(CC) -c $(PY_STDMODULE_CFLAGS) -I$(CAPSULE_INCLUDE) -o $@ $(srcdir)/Modules/capsule_embed.c
capsule-python.wasm: Modules/capsule_embed.o $(LINK_PYTHON_DEPS)
	$(LINKCC) $(PY_CORE_LDFLAGS) $(LINKFORSHARED) -mexec-model=reactor -o $@ Modules/capsule_embed.o $(LINK_PYTHON_OBJS) $(LIBS) $(MODLIBS) $(SYSLIBS)
EOF
step "wasm32-wasi: linking capsule-python.wasm (the task module)"
logged "$CACHE/logs/wasi-embed.log" make -C "$XB" -f capsule.mk CAPSULE_INCLUDE="$ROOT/include" \
    capsule-python.wasm
if ! grep -q '_capsule' "$XB/Modules/config.c"; then
    die "_capsule is not among the built-in modules (see $XB/Modules/config.c)"
fi

# ---------------------------------------------------------------- optimise and install
step "wasm-opt --strip-target-features, then -O2 --strip-debug"
mkdir -p "$OUT"
for w in python capsule-python; do
    wasm-opt --strip-target-features "$XB/$w.wasm" -o "$CACHE/$w.stripped.wasm"
    # DWARF (-g in CPython's CFLAGS) is three quarters of the file: drop it.
    wasm-opt -O2 --strip-debug --strip-producers "$CACHE/$w.stripped.wasm" -o "$CACHE/$w.opt.wasm"
done

step "installing the standard library into $OUT/lib/python$PY_VER"
rm -rf "$OUT/lib.new"
LIBDST=$OUT/lib.new/python$PY_VER
mkdir -p "$LIBDST"
# The pure-Python stdlib minus what is useless or unusable in a sandbox.
tar -C "$PYSRC/Lib" \
    --exclude='test' --exclude='tests' --exclude='idle_test' --exclude='idlelib' \
    --exclude='tkinter' --exclude='turtledemo' --exclude='turtle.py' --exclude='ensurepip' \
    --exclude='lib2to3' --exclude='venv' --exclude='pydoc_data' --exclude='__pycache__' \
    --exclude='*.exe' --exclude='msilib' --exclude='site-packages' \
    -cf - . | tar -C "$LIBDST" -xf -
rm -rf "$LIBDST/__phello__" 2>/dev/null || true
mkdir -p "$LIBDST/lib-dynload" "$LIBDST/site-packages"
# sysconfig's data for this build (the frozen build tree's name is lib.wasi-wasm32-3.13).
cp "$XB"/build/lib.*/_sysconfigdata_*.py "$LIBDST/" 2>/dev/null || true
cp "$XB"/build/lib.*/_sysconfig_vars_*.json "$LIBDST/" 2>/dev/null || true
# Precompiled bytecode: the guest's stdlib is mounted read-only, so without .pyc files every
# start would recompile every imported module. unchecked-hash pycs are used without stat checks.
step "precompiling the standard library (.pyc, unchecked-hash)"
"$NATIVE/python" -E -m compileall -q -j"$JOBS" --invalidation-mode unchecked-hash \
    -d "/usr/local/lib/python$PY_VER" "$LIBDST" >"$CACHE/logs/compileall.log" 2>&1 || true
rm -rf "$OUT/lib"
mv "$OUT/lib.new" "$OUT/lib"
mv "$CACHE/python.opt.wasm" "$OUT/python.wasm"
mv "$CACHE/capsule-python.opt.wasm" "$OUT/capsule-python.wasm"
install_guest_package
want_key >"$OUT/.key"
step "done: $OUT/python.wasm ($(stat -c %s "$OUT/python.wasm") bytes), $OUT/capsule-python.wasm ($(stat -c %s "$OUT/capsule-python.wasm") bytes), stdlib $(du -sh "$OUT/lib" | cut -f1)"
