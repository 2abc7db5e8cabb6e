#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's test command: installs what is missing, builds the `asan` preset (ASan + UBSan)
# and runs every test with ctest. CI runs exactly this (.ci/run).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/setup.sh >/dev/null
cmake --preset asan
cmake --build --preset asan
ctest --preset asan --output-on-failure --no-label-summary
