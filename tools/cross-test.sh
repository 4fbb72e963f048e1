#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hostd for arm64, from an amd64 Debian 12 machine, as root:
#   1. installs the cross toolchain and the arm64 -dev packages
#      (tools/install-deps.sh --cross arm64);
#   2. builds hostd, hostctl and every test with the meson cross file
#      (tools/cross/aarch64-linux-gnu.ini) into build-arm64/, warnings fatal;
#   3. runs the unit and fuzz-regression suites under qemu-aarch64 (what
#      qemu-user cannot emulate, the tests skip and say so: user
#      namespaces, seccomp, a child subreaper);
#   4. builds the Debian package for arm64 (dpkg-buildpackage -a arm64)
#      into build-arm64/pkg/ and checks what it holds.
# CI runs it every time (.ci/run).  The aarch64 VM tier, which runs the
# package on a real arm64 kernel, is `meson test -C build --suite vm-arm64`.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
B=build-arm64

./tools/install-deps.sh --cross arm64

if [ -d "$B" ]; then
        meson setup --reconfigure "$B" --cross-file tools/cross/aarch64-linux-gnu.ini >/dev/null
else
        meson setup "$B" --cross-file tools/cross/aarch64-linux-gnu.ini
fi
meson compile -C "$B"
for f in "$B/hostd/hostd" "$B/ctl/hostctl"; do
        readelf -h "$f" | grep -q 'Machine: *AArch64' || { echo "cross-test.sh: $f is not an AArch64 binary" >&2; exit 1; }
done
meson test -C "$B" --print-errorlogs --suite unit --suite fuzz

# The package, from the tracked files as they are in the work tree.
P=$B/pkg
rm -rf "$P"
mkdir -p "$P/src"
git -C "$SRC" ls-files -z | tar -C "$SRC" --null -T - -c | tar -C "$P/src" -x
(cd "$P/src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -a arm64 -Pcross,nocheck -us -uc -b) >"$P/build.log" 2>&1 ||
        { tail -n 40 "$P/build.log"; echo "cross-test.sh: dpkg-buildpackage -a arm64 failed" >&2; exit 1; }
DEB=$(ls "$P"/hostd_*_arm64.deb)
[ "$(dpkg-deb -f "$DEB" Architecture)" = arm64 ] || { echo "cross-test.sh: $DEB is not Architecture: arm64" >&2; exit 1; }
rm -rf "$P/x"
dpkg-deb -x "$DEB" "$P/x"
for f in usr/sbin/hostd usr/sbin/hostctl; do
        [ -f "$P/x/$f" ] || { echo "cross-test.sh: $DEB has no /$f" >&2; exit 1; }
        readelf -h "$P/x/$f" | grep -q 'Machine: *AArch64' || { echo "cross-test.sh: /$f in $DEB is not AArch64" >&2; exit 1; }
done
echo "cross-test.sh: $DEB ($(dpkg-deb -f "$DEB" Depends))"
