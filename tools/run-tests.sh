#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The full test suite: installs dependencies, builds into build/, and runs
# every meson suite (unit, fuzz corpus regressions, integration against the
# real daemon).  Run as root: integration tests start hostd.
set -euo pipefail
cd "$(dirname "$0")/.."

./tools/install-deps.sh
if [ -d build ]; then
        meson setup --reconfigure build >/dev/null
else
        meson setup build
fi
meson compile -C build
meson test -C build --print-errorlogs "$@"
