# SPDX-License-Identifier: Apache-2.0
# Shared helpers for the scripts that build guest runtimes from Debian source packages
# (scripts/build-quickjs.sh; scripts/build-python.sh carries the same logic inline and can switch
# to this file). Source it from bash:
#
#   . "$ROOT/scripts/lib/guest-build.sh"
#   gb_need_packages clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32
#   dir=$(gb_fetch_source quickjs trixie "$CACHE")      # unpacked upstream tree (no patches)
#   gb_wasi_sysroot "$CACHE/wasi-sysroot"                # private sysroot (see TOOLCHAIN.md)
#
# Only Debian's archive is contacted (apt-get). Trixie is used for SOURCE packages only: the
# deb-src entry added here never lets a trixie binary onto these bookworm machines.
# The caller may define gb_log (one progress line) before sourcing; otherwise lines go to stderr.

GB_SRC_LIST=${GB_SRC_LIST:-/etc/apt/sources.list.d/capsule-src.sources}
GB_SUDO=()
[ "$(id -u)" -ne 0 ] && GB_SUDO=(sudo)

if ! declare -F gb_log >/dev/null; then
    gb_log() { printf '[guest-build] %s\n' "$*" >&2; }
fi
gb_die() {
    printf 'guest-build: error: %s\n' "$*" >&2
    exit 1
}

# Installs the named Debian (bookworm) packages that are missing.
gb_need_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    gb_log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive "${GB_SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${GB_SUDO[@]}" apt-get install -y -qq -o Dpkg::Use-Pty=0 \
        "${missing[@]}" >/dev/null
}

# Makes sure deb-src entries for bookworm main and trixie main exist, with the same mirror URI
# as the machine's bookworm binary entry. Idempotent; writes only $GB_SRC_LIST.
gb_ensure_deb_src() {
    local have_trixie=0 have_bookworm=0 uri
    if grep -rqsE '^(Types:.*deb-src|deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        grep -rqsE '^deb-src .* trixie( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ &&
            have_trixie=1
        awk 'BEGIN{RS=""} /Types:[^\n]*deb-src/ && /Suites:[^\n]*trixie( |\n|$)/ {f=1} END{exit !f}' \
            /etc/apt/sources.list.d/*.sources 2>/dev/null && have_trixie=1
        grep -rqsE '^deb-src .* bookworm( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ &&
            have_bookworm=1
        awk 'BEGIN{RS=""} /Types:[^\n]*deb-src/ && /Suites:[^\n]*bookworm( |\n|$)/ {f=1} END{exit !f}' \
            /etc/apt/sources.list.d/*.sources 2>/dev/null && have_bookworm=1
    fi
    [ $have_trixie -eq 1 ] && [ $have_bookworm -eq 1 ] && return 0
    uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ {print u; exit}' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' \
        /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$uri" ] || gb_die "no bookworm entry in /etc/apt/sources.list{,.d} to take the mirror from"
    gb_log "adding deb-src entries (source only) for $uri to $GB_SRC_LIST"
    {
        echo "# Added by Capsule's guest build scripts: SOURCE packages only (never trixie binaries)."
        [ $have_bookworm -eq 1 ] ||
            printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' "$uri"
        [ $have_trixie -eq 1 ] ||
            printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri"
    } | "${GB_SUDO[@]}" tee "$GB_SRC_LIST" >/dev/null
    "${GB_SUDO[@]}" apt-get update -qq
}

# gb_fetch_source PKG SUITE CACHE: downloads the source package with apt-get (which checks it
# against the signed Sources index) into CACHE/src and unpacks the upstream tree WITHOUT Debian's
# patches into CACHE/src/PKG-UPSTREAMVERSION; prints that directory. A second call reuses it.
gb_fetch_source() {
    local pkg=$1 suite=$2 cache=$3 stamp dsc ver dir log
    mkdir -p "$cache/src" "$cache/logs"
    stamp=$(ls -d "$cache/src/$pkg"-*/.capsule-unpacked 2>/dev/null | head -n1 || true)
    if [ -n "$stamp" ]; then
        dirname "$stamp"
        return 0
    fi
    log=$cache/logs/apt-source-$pkg.log
    gb_ensure_deb_src >&2
    gb_log "apt-get source $pkg/$suite"
    if ! (cd "$cache/src" && apt-get source --download-only -qq "$pkg/$suite" >"$log" 2>&1); then
        # A stale package index names a revision the mirror no longer has: refresh once.
        "${GB_SUDO[@]}" apt-get update -qq >&2 || true
        (cd "$cache/src" && apt-get source --download-only -qq "$pkg/$suite" >>"$log" 2>&1) ||
            gb_die "apt-get source $pkg/$suite failed (see $log)"
    fi
    dsc=$(ls -t "$cache/src/${pkg}_"*.dsc | head -n1)
    ver=$(awk '/^Version:/ {print $2; exit}' "$dsc")
    ver=${ver#*:}
    dir=$cache/src/$pkg-${ver%-*}
    rm -rf "$dir"
    (cd "$cache/src" && dpkg-source --skip-patches -x "$(basename "$dsc")" "$(basename "$dir")" \
        >>"$log" 2>&1) || gb_die "dpkg-source -x $dsc failed (see $log)"
    echo "$ver" >"$dir/.capsule-unpacked"
    echo "$dir"
}

# gb_wasi_sysroot DIR: a private sysroot holding only wasi-libc, so that clang never falls back
# to glibc's headers for something wasi-libc lacks (TOOLCHAIN.md).
gb_wasi_sysroot() {
    mkdir -p "$1/include" "$1/lib"
    ln -sfn /usr/include/wasm32-wasi "$1/include/wasm32-wasi"
    ln -sfn /usr/lib/wasm32-wasi "$1/lib/wasm32-wasi"
}
