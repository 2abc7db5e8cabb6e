# SPDX-License-Identifier: Apache-2.0
# Sourced by scripts/test.sh and scripts/example.sh: builds the guest runtimes that
# `capsule run main.py` and `capsule run main.ts` need (build/python, build/js and esbuild in
# guest/js/node_modules) when they are missing or out of date. Both build scripts are cached and
# idempotent (a second call takes about a second), install their own Debian packages and add the
# source-only deb-src entries they need.
capsule_build_guest_runtimes() {
    local root=$1
    # build-quickjs.sh installs esbuild with npm; Debian ships npm apart from nodejs.
    if ! command -v npm >/dev/null 2>&1; then
        local sudo=()
        [ "$(id -u)" -ne 0 ] && sudo=(sudo)
        echo "guest runtimes: installing npm" >&2
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq -o Dpkg::Use-Pty=0 \
            npm >/dev/null
    fi
    bash "$root/scripts/build-python.sh"
    bash "$root/scripts/build-quickjs.sh"
}
