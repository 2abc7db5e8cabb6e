#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's test command: installs what is missing, builds the guest runtimes (Python and
# JavaScript, cached) when missing, builds the `asan` preset (ASan + UBSan) and runs every test
# with ctest. CI runs exactly this (.ci/run).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/setup.sh >/dev/null
# Before ctest: the Python and JavaScript tests skip (exit 77) only when these are missing.
. scripts/lib/guest-runtimes.sh
capsule_build_guest_runtimes "$ROOT"
cmake --preset asan
cmake --build --preset asan
ctest --preset asan --output-on-failure --no-label-summary
