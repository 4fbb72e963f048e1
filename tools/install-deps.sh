#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs what building and testing hostd needs on Debian 12, as root.
set -euo pipefail

packages=(
        # build
        meson ninja-build pkg-config gcc libc6-dev
        libsystemd-dev libssh-dev libjson-c-dev libseccomp-dev
        # run time: OpenSSH's sftp-server serves the sftp subsystem (scp, sftp);
        # mkfs.ext4 and losetup make the per-job disks; podman runs in jobs;
        # pasta (passt) is the egress of jobs under Network=private
        openssh-sftp-server e2fsprogs mount podman runc uidmap passt
        # tests: a static busybox to build images FROM scratch (no registry)
        busybox-static
        # tests: stock clients, JSON in shell, socket activation, memcheck,
        # clang for fuzzers and sanitizers
        openssh-client rsync jq openssl systemd python3 valgrind clang libclang-rt-14-dev util-linux procps
        qemu-system-x86 qemu-utils debootstrap iproute2
        # man pages; bash-completion to test the completion
        scdoc bash-completion
        # emulated platforms (binfmt_misc); JSON Schema validation
        qemu-user-static python3-jsonschema
        # the Debian package, which the VM tier installs
        debhelper dpkg-dev
        # a third-party audit of the SSH algorithms hostd offers (test-ssh-hostkeys)
        ssh-audit
        # real builds against a real registry: Debian's docker-registry (the CNCF
        # distribution registry) on loopback with htpasswd auth, skopeo and
        # buildah on the cluster side (test-registry-builds, bench/)
        docker-registry skopeo buildah apache2-utils
)

if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps.sh: run as root (apt-get needs it)" >&2
        exit 1
fi
# --cross arm64: also what tools/cross-test.sh needs to build hostd, its
# tests and its Debian package for arm64 on an amd64 machine (dpkg
# multiarch) and to run the tests under qemu-user.
cross=
if [ "${1:-}" = --cross ]; then
        cross=${2:?install-deps.sh --cross ARCH (arm64)}
        [ "$cross" = arm64 ] || { echo "install-deps.sh: --cross knows arm64 only, not '$cross'" >&2; exit 1; }
        [ "$(dpkg --print-architecture)" = amd64 ] ||
                { echo "install-deps.sh: --cross arm64 is for amd64 machines; this is $(dpkg --print-architecture)" >&2; exit 1; }
        packages+=(crossbuild-essential-arm64 libsystemd-dev:arm64 libssh-dev:arm64 libjson-c-dev:arm64
                   libseccomp-dev:arm64 pkgconf:arm64 qemu-user-static
                   # the aarch64 VM tier (meson test --suite vm-arm64); the
                   # 32-bit ARM compiler for its AArch32 compat-ABI probe
                   qemu-system-arm gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
        dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
fi

missing=()
for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
        echo "Installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# tests/integration/test-emulated.sh runs Debian's arm64 static busybox in a
# job under qemu-user; the package is fetched, not installed (it would
# replace the native one), which needs arm64 in apt's architectures.  A
# mirror without arm64 only makes that test skip: the architecture is
# taken back out so that apt keeps working.
ARM64_CACHE=/var/cache/hostd-test
if [ "$(dpkg --print-architecture)" = amd64 ] && ! ls "$ARM64_CACHE"/busybox-static_*_arm64.deb >/dev/null 2>&1; then
        echo "Fetching busybox-static:arm64 (for the emulated-platform test)"
        added=
        if ! dpkg --print-foreign-architectures | grep -qx arm64; then
                dpkg --add-architecture arm64
                added=1
        fi
        mkdir -p "$ARM64_CACHE"
        if ! { apt-get update -q >/dev/null && (cd "$ARM64_CACHE" && apt-get download -q busybox-static:arm64); }; then
                echo "install-deps.sh: could not fetch busybox-static:arm64; test-emulated will skip" >&2
                if [ -n "$added" ]; then
                        dpkg --remove-architecture arm64
                        apt-get update -q >/dev/null || true
                fi
        fi
fi
