#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The VM tier: hostd installed as a systemd service on a Debian 12 guest
# with systemd 252 as PID 1 and cgroup v2 with every controller, driven
# from the host with stock clients over qemu's loopback port forwards.
#
#   run-vm-tests.sh SOURCE_DIR [CASE...]     (meson test --suite vm)
#
# HOSTD_VM_KEEP=1 keeps VM_DIR; HOSTD_VM_HOLD=1 keeps the guest running
# after the cases; HOSTD_VM_NO_KVM=1 skips the KVM attempt.
#
# One boot serves every case (tests/vm/case-*.sh, in name order, or the
# ones named); the output is TAP, one line per case.  Steps:
#   1. build the Debian package (debian/), or with --prefix=/usr and
#      `meson install --destdir` where the packaging tools are missing;
#   2. build or reuse the cached image (build-image.sh; HOSTD_VM_CACHE,
#      default /var/cache/hostd-vm);
#   3. boot a copy-on-write overlay of it: KVM if the guest comes up with
#      it, else TCG;
#   4. install the staging tree over the harness's own sshd, configure the
#      policy and controller key, enable hostd.service;
#   5. run the cases; on a failure, print hostd's journal and the console.
set -euo pipefail

SRC=$(cd "${1:?usage: run-vm-tests.sh SOURCE_DIR [CASE...]}" && pwd)
shift
HERE=$SRC/tests/vm
CACHE=${HOSTD_VM_CACHE:-/var/cache/hostd-vm}
export VM_DIR
VM_DIR=$(mktemp -d /tmp/hostd-vm.XXXXXX)
QEMU_PID=
BOOT_LOG=$VM_DIR/boot.log

say() { echo "# $*"; }

cleanup() {
        if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
                # A clean shutdown is not needed: the overlay is thrown away.
                kill "$QEMU_PID" 2>/dev/null || true
                sleep 1
                kill -9 "$QEMU_PID" 2>/dev/null || true
        fi
        [ -n "${HOSTD_VM_KEEP:-}" ] || rm -rf "$VM_DIR"
}
trap cleanup EXIT

bail() {
        echo "Bail out! $*"
        [ -f "$VM_DIR/console.log" ] && tail -n 40 "$VM_DIR/console.log" | sed 's/^/# console: /'
        exit 1
}

# ---- 1. hostd, as a Debian package or a staging tree ------------------------
# The package (debian/, dpkg-buildpackage) when Debian's packaging tools are
# here, so that its maintainer scripts are tested too; else `meson install
# --destdir`.  HOSTD_VM_INSTALL=deb|stage forces one.
if [ -z "${HOSTD_VM_INSTALL:-}" ]; then
        if command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null; then
                HOSTD_VM_INSTALL=deb
        else
                HOSTD_VM_INSTALL=stage
        fi
fi
if [ "$HOSTD_VM_INSTALL" = deb ]; then
        say "building the Debian package of hostd (dpkg-buildpackage)"
        P=$VM_DIR/pkg
        mkdir -p "$P/src"
        # The tracked files as they are in the work tree (not build dirs).
        if git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
                git -C "$SRC" ls-files -z | tar -C "$SRC" --null -T - -c | tar -C "$P/src" -x
        else
                tar -C "$SRC" --exclude='./build*' -c . | tar -C "$P/src" -x
        fi
        (cd "$P/src" && dpkg-buildpackage -us -uc -b) >"$VM_DIR/package.log" 2>&1 ||
                { tail -n 40 "$VM_DIR/package.log"; bail "dpkg-buildpackage failed"; }
        DEB=$(ls "$P"/hostd_*.deb | head -1)
        [ -f "$DEB" ] || bail "dpkg-buildpackage made no hostd_*.deb"
else
        say "building hostd for the guest (prefix /usr, meson install --destdir)"
        B=$VM_DIR/build
        meson setup "$B" "$SRC" --prefix=/usr -Dtests=false -Dbuildtype=debugoptimized >"$VM_DIR/meson.log" 2>&1 ||
                { cat "$VM_DIR/meson.log"; bail "meson setup failed"; }
        ninja -C "$B" >>"$VM_DIR/meson.log" 2>&1 || { tail -n 30 "$VM_DIR/meson.log"; bail "build failed"; }
        DESTDIR=$VM_DIR/stage meson install -C "$B" --no-rebuild >>"$VM_DIR/meson.log" 2>&1 ||
                { tail -n 30 "$VM_DIR/meson.log"; bail "meson install failed"; }
fi

# ---- 2. the image ---------------------------------------------------------
say "image: $CACHE (built once per recipe)"
IMG=$("$HERE/build-image.sh" "$CACHE") || bail "building the image failed"
cp "$IMG/harness_key" "$VM_DIR/harness_key"
chmod 600 "$VM_DIR/harness_key"
qemu-img create -q -f qcow2 -b "$IMG/rootfs.img" -F raw "$VM_DIR/overlay.qcow2"

# ---- 3. boot ----------------------------------------------------------------
free_port() {
        local p
        while :; do
                p=$((20000 + RANDOM % 20000))
                ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
        done
}
VM_ADMIN_PORT=$(free_port)
VM_HOSTD_PORT=$(free_port)
export VM_ADMIN_PORT VM_HOSTD_PORT

boot() {
        local accel=$1
        rm -f "$VM_DIR/console.log"
        qemu-system-x86_64 $accel -m 3072 -smp 2 -nodefaults -no-user-config \
                -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" \
                -append "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=0" \
                -drive file="$VM_DIR/overlay.qcow2",if=virtio,format=qcow2,cache=unsafe \
                -netdev user,id=n0,hostfwd=tcp:127.0.0.1:$VM_ADMIN_PORT-:22,hostfwd=tcp:127.0.0.1:$VM_HOSTD_PORT-:$VM_HOSTD_PORT \
                -device virtio-net-pci,netdev=n0 -device virtio-rng-pci \
                -display none -serial file:"$VM_DIR/console.log" -no-reboot >>"$BOOT_LOG" 2>&1 &
        QEMU_PID=$!
        # Not a job of this shell: a KVM attempt that aborts is expected,
        # and bash would print its "Aborted" line into the TAP stream.
        disown "$QEMU_PID"
}

# Waits for the guest's sshd; $1 seconds, 0 if the kernel printed nothing
# within $2 seconds (a hung accelerator).
wait_up() {
        local timeout=$1 first=$2 i
        for ((i = 0; i < timeout; i += 2)); do
                kill -0 "$QEMU_PID" 2>/dev/null || return 1
                if ((i >= first)) && ! [ -s "$VM_DIR/console.log" ]; then
                        return 1
                fi
                ssh -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=accept-new \
                    -o UserKnownHostsFile="$VM_DIR/admin_known_hosts" -o LogLevel=ERROR \
                    -i "$VM_DIR/harness_key" -p "$VM_ADMIN_PORT" root@127.0.0.1 true 2>/dev/null && return 0
                sleep 2
        done
        return 1
}

stop_qemu() {
        local i
        kill "$QEMU_PID" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
                kill -0 "$QEMU_PID" 2>/dev/null || break
                sleep 0.1
        done
        kill -9 "$QEMU_PID" 2>/dev/null || true
        QEMU_PID=
}

ACCEL=
START=$SECONDS
if [ -w /dev/kvm ] && [ -z "${HOSTD_VM_NO_KVM:-}" ]; then
        boot "-accel kvm -cpu host"
        if wait_up 120 15; then
                ACCEL=kvm
        else
                say "KVM: the guest did not come up (seen on nested hosts); falling back to TCG"
                stop_qemu
        fi
fi
if [ -z "$ACCEL" ]; then
        boot "-accel tcg,thread=multi -cpu max"
        wait_up 600 60 || bail "the guest did not boot under TCG (see the console below)"
        ACCEL=tcg
fi
say "guest up under $ACCEL in $((SECONDS - START)) s; sshd on 127.0.0.1:$VM_ADMIN_PORT, hostd on 127.0.0.1:$VM_HOSTD_PORT"

# ---- 4. install and configure hostd ---------------------------------------
. "$HERE/lib.sh"
ssh-keygen -q -t ed25519 -N '' -C controller -f "$VM_DIR/controller_key"
# Configuration first: the package starts hostd as it installs.
vm_root "mkdir -p /etc/hostd/policy.conf.d && cat >/etc/hostd/controller.keys" <"$VM_DIR/controller_key.pub"
vm_root "cat >/etc/hostd/policy.conf.d/50-vm.conf" <<EOF
# The VM tier: hostd on the guest's address at the same port number as
# the host's forward, advertising the host end of that forward.
[Listen]
Address=0.0.0.0
Port=$VM_HOSTD_PORT
AdvertiseAddress=127.0.0.1
ControllerSources=10.0.2.2/32

[SSH]
ControllerKeys=/etc/hostd/controller.keys

[Jobs]
Slots=6
DefaultCPUs=1
DefaultMemory=512M
DefaultPids=256
DefaultDisk=1G
MaxDisk=4G
MaxMemory=2G
TotalMemory=2560M

# TCG runs everything many times slower: beside case 60's fork bomb,
# podman info once took over the default 60 s and drained the host.
[Health]
ProbeTimeout=5min
EOF
install_failed() {
        cat "$VM_DIR/install.log"
        vm_root 'journalctl -u hostd -n 30 --no-pager -o cat' | sed 's/^/# /'
        bail "$1"
}
if [ "$HOSTD_VM_INSTALL" = deb ]; then
        vm_root 'cat >/root/hostd.deb' <"$DEB"
        # dpkg -i runs the maintainer scripts: sysusers, tmpfiles, and
        # hostd.service and the metrics timer enabled and started.
        vm_root 'dpkg -i /root/hostd.deb' >"$VM_DIR/install.log" 2>&1 || install_failed "dpkg -i hostd failed"
        vm_root 'dpkg-query -W -f="\${Status}" hostd | grep -q "install ok installed" && getent group hostd-admin >/dev/null &&
                 systemctl is-enabled -q hostd.service hostd-metrics.timer && systemctl is-active -q hostd.service' \
                >>"$VM_DIR/install.log" 2>&1 || install_failed "the package did not set hostd up (group, units)"
        say "installed $(basename "$DEB"): hostd-admin group made, hostd.service and hostd-metrics.timer enabled and running"
else
        tar -C "$VM_DIR/stage" -c . | vm_root 'tar -C / -x --keep-directory-symlink --no-same-owner' ||
                bail "copying the staging tree failed"
        vm_root 'systemd-sysusers && systemd-tmpfiles --create /usr/lib/tmpfiles.d/hostd.conf &&
                 systemctl daemon-reload && systemctl enable --now hostd.service hostd-metrics.timer' >"$VM_DIR/install.log" 2>&1 ||
                install_failed "installing hostd failed"
fi
# The controller pins hostd's host keys, read from the guest over the
# harness's own (already pinned) door.
vm_wait_for 'test -s /var/lib/hostd/host-keys/ssh_host_ed25519_key.pub' 60 || bail "hostd made no host key"
vm_root 'cat /var/lib/hostd/host-keys/*.pub' | awk -v p="$VM_HOSTD_PORT" '{ print "[127.0.0.1]:" p, $1, $2 }' \
        >"$VM_DIR/hostd_known_hosts"

# ---- 5. the cases --------------------------------------------------------
if [ $# -gt 0 ]; then
        CASES=()
        # A case by its number or name: 20, 20-enforcement.
        for c in "$@"; do
                m=("$HERE"/case-"$c"*.sh)
                [ -f "${m[0]}" ] || bail "no case $c in $HERE"
                CASES+=("${m[@]}")
        done
else
        CASES=("$HERE"/case-*.sh)
fi
echo "1..${#CASES[@]}"
n=0
failed=0
for c in "${CASES[@]}"; do
        n=$((n + 1))
        name=$(basename "$c" .sh)
        name=${name#case-}
        t0=$SECONDS
        if bash "$c" >"$VM_DIR/$name.log" 2>&1; then
                sed 's/^/# /' "$VM_DIR/$name.log"
                echo "ok $n - $name ($((SECONDS - t0)) s)"
        else
                sed 's/^/# /' "$VM_DIR/$name.log"
                vm_root 'journalctl -u hostd -u "hostd-job-*" -n 60 --no-pager -o short-monotonic' 2>&1 | sed 's/^/# journal: /' || true
                echo "not ok $n - $name ($((SECONDS - t0)) s)"
                failed=$((failed + 1))
        fi
done
if [ -n "${HOSTD_VM_HOLD:-}" ]; then
        # For a developer: the guest stays up for lib.sh's helpers
        # (VM_DIR=... VM_ADMIN_PORT=... VM_HOSTD_PORT=... . tests/vm/lib.sh).
        say "holding the guest: VM_DIR=$VM_DIR VM_ADMIN_PORT=$VM_ADMIN_PORT VM_HOSTD_PORT=$VM_HOSTD_PORT; kill $$ to end"
        while kill -0 "$QEMU_PID" 2>/dev/null; do sleep 5; done
fi
vm_root 'systemctl poweroff' >/dev/null 2>&1 || true
for ((i = 0; i < 30; i++)); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 1; done
exit $((failed > 0))
