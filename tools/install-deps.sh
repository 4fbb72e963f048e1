#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs what building and testing hostd needs on Debian 12, as root.
set -euo pipefail

packages=(
        # build
        meson ninja-build pkg-config gcc libc6-dev
        libsystemd-dev libssh-dev libjson-c-dev libseccomp-dev
        # run time: OpenSSH's sftp-server serves the sftp subsystem (scp, sftp);
        # mkfs.ext4 and losetup make the per-job disks; podman runs in jobs
        openssh-sftp-server e2fsprogs mount podman runc uidmap
        # tests: a static busybox to build images FROM scratch (no registry)
        busybox-static
        # tests: stock clients, JSON in shell, socket activation, memcheck,
        # clang for fuzzers and sanitizers
        openssh-client rsync jq openssl systemd python3 valgrind clang libclang-rt-14-dev util-linux procps
        qemu-system-x86 qemu-utils debootstrap iproute2
        # man pages; bash-completion to test the completion
        scdoc bash-completion
)

if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps.sh: run as root (apt-get needs it)" >&2
        exit 1
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
