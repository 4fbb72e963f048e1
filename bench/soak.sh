#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The long soak, on demand: tests/integration/test-soak.sh with 10000
# allocate -> SSH session -> release cycles (a podman build in every 100th),
# hostd's RSS, fds and children sampled every 5 s.  About 30 to 60 minutes
# on 2 cores; CI runs the same script with 300 cycles.
#
#   bench/soak.sh [BUILD_DIR] [OUTDIR]     (default build, /tmp/bench-soak; needs root)
#
# Environment: HOSTD_SOAK_CYCLES (10000), HOSTD_SOAK_WORKERS (4),
# HOSTD_SOAK_BUILD_EVERY (100).  OUTDIR gets samples.csv (time, cycles done,
# RSS kB, fds, children, session processes) and cycles.csv (cycle, ms,
# result); the script's own output ends with the verdict.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
OUT=${2:-/tmp/bench-soak}
mkdir -p "$OUT"
[ -x "$BUILD/hostd/hostd" ] || { echo "soak: no hostd in $BUILD (meson setup $BUILD && ninja -C $BUILD)" >&2; exit 1; }

export HOSTD=$BUILD/hostd/hostd HOSTCTL=$BUILD/ctl/hostctl SECCOMP_PROBE=$BUILD/hostd/seccomp-probe
export HOSTD_SOAK_CYCLES=${HOSTD_SOAK_CYCLES:-10000} HOSTD_SOAK_OUT=$OUT
echo "soak: $HOSTD_SOAK_CYCLES cycles, results in $OUT"
bash "$SRC/tests/integration/test-soak.sh" 2>&1 | grep -v '^hostd\(-session\)\?\[' | tee "$OUT/soak.log"
