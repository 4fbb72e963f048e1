#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The full test suite: installs dependencies, builds into build/, and runs
# every meson suite (unit, fuzz corpus regressions, integration against the
# real daemon, the amd64 VM tier).  Run as root: integration tests start
# hostd.  The aarch64 VM tier (suite vm-arm64: about 5 minutes under TCG on
# 2 CPUs, about 30 the first time, when it builds its arm64 image) runs
# only when asked: HOSTD_TEST_VM_ARM64=1 (it skips otherwise; also
# `HOSTD_TEST_VM_ARM64=1 meson test -C build --suite vm-arm64`).
set -euo pipefail
cd "$(dirname "$0")/.."

./tools/install-deps.sh
if [ -d build ]; then
        meson setup --reconfigure build >/dev/null
else
        meson setup build
fi
meson compile -C build
if [ "${HOSTD_TEST_VM_ARM64:-}" = 1 ]; then
        ./tools/install-deps.sh --cross arm64
        meson test -C build --print-errorlogs "$@"
else
        meson test -C build --print-errorlogs --no-suite vm-arm64 "$@"
fi
