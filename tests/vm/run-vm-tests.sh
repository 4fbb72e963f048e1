#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The VM tier: hostd installed as a systemd service on a Debian 12 guest
# with systemd 252 as PID 1 and cgroup v2 with every controller, driven
# from the host with stock clients over qemu's loopback port forwards.
#
#   run-vm-tests.sh [--arch=ARCH] SOURCE_DIR [CASE...]
#       (meson test --suite vm; --suite vm-arm64 for --arch=arm64)
#
# ARCH is the guest's architecture: amd64 (the default) or arm64 (also
# HOSTD_VM_ARCH=arm64).  HOSTD_VM_KEEP=1 keeps VM_DIR; HOSTD_VM_HOLD=1
# keeps the guest running after the cases; HOSTD_VM_NO_KVM=1 skips the KVM
# attempt.
#
# One boot serves every case (amd64: tests/vm/case-*.sh, in name order;
# arm64: tests/vm/arm64/case-*.sh and the shared cases in ARM64_SHARED,
# in name order; or the ones named); the output is TAP, one line per
# case.  Steps:
#   1. build the Debian package (debian/), or with --prefix=/usr and
#      `meson install --destdir` where the packaging tools are missing;
#      arm64: cross-built (dpkg-buildpackage -a arm64 -Pcross,nocheck),
#      with the static arm64 seccomp-probe, a static 32-bit ARM probe
#      (tests/vm/arm64/compat-probe.c, if arm-linux-gnueabihf-gcc is
#      here) and Debian's arm64 busybox for FROM scratch images;
#   2. build or reuse the cached image (build-image.sh; HOSTD_VM_CACHE,
#      default /var/cache/hostd-vm);
#   3. boot a copy-on-write overlay of it: KVM if the guest comes up with
#      it, else TCG (arm64: qemu-system-aarch64 -M virt under TCG, always);
#   4. install the staging tree over the harness's own sshd, configure the
#      policy and controller key, enable hostd.service;
#   5. run the cases; on a failure, print hostd's journal and the console.
set -euo pipefail

ARCH=${HOSTD_VM_ARCH:-amd64}
case ${1:-} in
--arch=*) ARCH=${1#--arch=}; shift ;;
--arch) ARCH=${2:?--arch needs amd64 or arm64}; shift 2 ;;
esac
case $ARCH in
amd64 | arm64) ;;
*) echo "Bail out! unknown architecture $ARCH (amd64 or arm64)"; exit 1 ;;
esac
# meson's vm-arm64 test sets HOSTD_VM_ASKED_ONLY: a plain `meson test`
# should not spend half an hour here unless asked.
if [ -n "${HOSTD_VM_ASKED_ONLY:-}" ] && [ "${HOSTD_TEST_VM_ARM64:-}" != 1 ]; then
        echo "1..0 # SKIP the aarch64 VM tier runs only when asked: HOSTD_TEST_VM_ARM64=1 (about 5 min, 30 the first time)"
        exit 0
fi
SRC=$(cd "${1:?usage: run-vm-tests.sh [--arch=ARCH] SOURCE_DIR [CASE...]}" && pwd)
shift
HERE=$SRC/tests/vm
# The cases' platform and the static busybox their FROM scratch images
# copy (lib.sh); arm64 sets the busybox in step 1.
export VM_ARCH=$ARCH VM_PLATFORM=linux/$ARCH
# The shared cases the arm64 tier runs by default (the rest run when named).
ARM64_SHARED=(20)
CACHE=${HOSTD_VM_CACHE:-/var/cache/hostd-vm}
export VM_DIR
VM_DIR=$(mktemp -d /tmp/hostd-vm.XXXXXX)
QEMU_PID=
BOOT_LOG=$VM_DIR/boot.log

say() { echo "# $*"; }
# Wall time of each step, printed as TAP comments.
T_STEP=$SECONDS
step_done() {
        say "time: $1 $((SECONDS - T_STEP)) s"
        T_STEP=$SECONDS
}

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
# A signal (meson's timeout, kill of a held run) ends bash without the EXIT
# trap unless caught, and would leave qemu running: it is disowned.
trap 'exit 1' HUP INT TERM

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
        if [ "$ARCH" = amd64 ]; then
                (cd "$P/src" && dpkg-buildpackage -us -uc -b) >"$VM_DIR/package.log" 2>&1 ||
                        { tail -n 40 "$VM_DIR/package.log"; bail "dpkg-buildpackage failed"; }
                DEB=$(ls "$P"/hostd_*.deb | head -1)
        else
                # Cross: gcc-aarch64-linux-gnu and the -dev:arm64 packages
                # (docs/install.md); the tests ran in the native build.
                (cd "$P/src" && dpkg-buildpackage -a "$ARCH" -Pcross,nocheck -us -uc -b) >"$VM_DIR/package.log" 2>&1 ||
                        { tail -n 40 "$VM_DIR/package.log"; bail "dpkg-buildpackage -a $ARCH failed"; }
                DEB=$(ls "$P"/hostd_*_"$ARCH".deb | head -1)
        fi
        [ -f "$DEB" ] || bail "dpkg-buildpackage made no hostd_*.deb"
elif [ "$ARCH" != amd64 ]; then
        bail "the $ARCH tier installs the Debian package: dpkg-buildpackage and dh are needed"
else
        say "building hostd for the guest (prefix /usr, meson install --destdir)"
        B=$VM_DIR/build
        meson setup "$B" "$SRC" --prefix=/usr -Dtests=false -Dbuildtype=debugoptimized >"$VM_DIR/meson.log" 2>&1 ||
                { cat "$VM_DIR/meson.log"; bail "meson setup failed"; }
        ninja -C "$B" >>"$VM_DIR/meson.log" 2>&1 || { tail -n 30 "$VM_DIR/meson.log"; bail "build failed"; }
        DESTDIR=$VM_DIR/stage meson install -C "$B" --no-rebuild >>"$VM_DIR/meson.log" 2>&1 ||
                { tail -n 30 "$VM_DIR/meson.log"; bail "meson install failed"; }
fi

if [ "$ARCH" = arm64 ]; then
        # The job filter as the arm64 kernel sees it: the probe, static so
        # that it runs in a job whatever the job sees of /usr.
        mkdir -p "$VM_DIR/arm64"
        aarch64-linux-gnu-gcc -std=gnu11 -O1 -static -D_GNU_SOURCE -DSECCOMP_PROBE_OWN_LOG -I"$SRC/common" -I"$SRC/hostd/sandbox" \
                "$SRC/tests/sandbox/seccomp-probe.c" "$SRC/hostd/sandbox/job-seccomp.c" -lseccomp \
                -o "$VM_DIR/arm64/seccomp-probe" >"$VM_DIR/probe.log" 2>&1 ||
                { tail -n 20 "$VM_DIR/probe.log"; bail "cross-building the arm64 seccomp-probe failed"; }
        export VM_SECCOMP_PROBE=$VM_DIR/arm64/seccomp-probe
        # AArch32: optional (crossbuild-essential-armhf).
        if command -v arm-linux-gnueabihf-gcc >/dev/null &&
           arm-linux-gnueabihf-gcc -static -O1 -o "$VM_DIR/arm64/compat-probe" "$HERE/arm64/compat-probe.c" >>"$VM_DIR/probe.log" 2>&1; then
                export VM_COMPAT_PROBE=$VM_DIR/arm64/compat-probe
        else
                say "no arm-linux-gnueabihf-gcc: the 32-bit ARM probe is skipped"
        fi
fi
step_done "package"

# ---- 2. the image ---------------------------------------------------------
say "image: $CACHE, $ARCH (built once per recipe)"
IMG=$("$HERE/build-image.sh" "$CACHE" "$ARCH") || bail "building the image failed"
step_done "image"
if [ "$ARCH" = arm64 ]; then
        # Debian's static busybox for arm64, for FROM scratch images in the
        # guest (the host's is amd64): the cached .deb if there is one
        # (tests/integration), else the image's own.
        bb=$(ls /var/cache/hostd-test/busybox-static_*_arm64.deb 2>/dev/null | tail -1 || true)
        if [ -n "$bb" ]; then
                dpkg-deb -x "$bb" "$VM_DIR/arm64/bb"
        else
                mkdir -p "$VM_DIR/arm64/bb/bin"
                debugfs -R "dump /bin/busybox $VM_DIR/arm64/bb/bin/busybox" "$IMG/rootfs.img" >/dev/null 2>&1
        fi
        [ -s "$VM_DIR/arm64/bb/bin/busybox" ] || bail "no arm64 busybox"
        chmod 755 "$VM_DIR/arm64/bb/bin/busybox"
        export VM_BUSYBOX=$VM_DIR/arm64/bb/bin/busybox
fi
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
        [ "$ARCH" = amd64 ] || { boot_arm64 "$accel"; return; }
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

# The virt board, direct kernel boot, PCI virtio devices, the same forwards.
boot_arm64() {
        qemu-system-aarch64 -M virt $1 -m 4096 -smp 2 -nodefaults -no-user-config \
                -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" \
                -append "root=/dev/vda rw console=ttyAMA0 quiet systemd.show_status=0" \
                -drive file="$VM_DIR/overlay.qcow2",if=none,id=d0,format=qcow2,cache=unsafe \
                -device virtio-blk-pci,drive=d0 \
                -netdev user,id=n0,hostfwd=tcp:127.0.0.1:$VM_ADMIN_PORT-:22,hostfwd=tcp:127.0.0.1:$VM_HOSTD_PORT-:$VM_HOSTD_PORT \
                -device virtio-net-pci,netdev=n0 -device virtio-rng-pci \
                -display none -serial file:"$VM_DIR/console.log" -no-reboot >>"$BOOT_LOG" 2>&1 &
        QEMU_PID=$!
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
if [ "$ARCH" = amd64 ] && [ -w /dev/kvm ] && [ -z "${HOSTD_VM_NO_KVM:-}" ]; then
        boot "-accel kvm -cpu host"
        if wait_up 120 15; then
                ACCEL=kvm
        else
                say "KVM: the guest did not come up (seen on nested hosts); falling back to TCG"
                stop_qemu
        fi
fi
if [ "$ARCH" = arm64 ]; then
        # TCG only.  Pointer authentication with QEMU's own (cheap) hash
        # instead of the architected QARMA, which costs TCG much of its
        # time; cortex-a72 where this qemu does not know the option.
        if qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on -accel tcg -display none -nodefaults \
                -no-user-config -S -monitor none -serial none -daemonize -pidfile "$VM_DIR/cpu-check.pid" >/dev/null 2>&1; then
                kill "$(cat "$VM_DIR/cpu-check.pid")" 2>/dev/null || true
                CPU=max,pauth-impdef=on
        else
                CPU=cortex-a72
        fi
        boot "-accel tcg,thread=multi -cpu $CPU"
        wait_up 1800 900 || bail "the arm64 guest did not boot under TCG (see the console below)"
        ACCEL="tcg (aarch64, -cpu $CPU)"
elif [ -z "$ACCEL" ]; then
        boot "-accel tcg,thread=multi -cpu max"
        wait_up 600 60 || bail "the guest did not boot under TCG (see the console below)"
        ACCEL=tcg
fi
say "guest up under $ACCEL in $((SECONDS - START)) s; sshd on 127.0.0.1:$VM_ADMIN_PORT, hostd on 127.0.0.1:$VM_HOSTD_PORT"
step_done "boot"

# ---- 4. install and configure hostd ---------------------------------------
. "$HERE/lib.sh"
# lib.sh's EXIT trap is for the cases; here it replaced the cleanup, which
# left qemu (on a failure) and VM_DIR behind.
trap cleanup EXIT
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
step_done "install"

# ---- 5. the cases --------------------------------------------------------
if [ $# -gt 0 ]; then
        CASES=()
        # A case by its number or name: 20, 20-enforcement.
        for c in "$@"; do
                m=()
                # arm64: its own cases first, then the shared ones.
                [ "$ARCH" = amd64 ] || m=("$HERE/$ARCH/case-$c"*.sh)
                [ -f "${m[0]:-}" ] || m=("$HERE"/case-"$c"*.sh)
                [ -f "${m[0]}" ] || bail "no case $c in $HERE"
                CASES+=("${m[@]}")
        done
elif [ "$ARCH" = amd64 ]; then
        CASES=("$HERE"/case-*.sh)
else
        m=("$HERE/$ARCH"/case-*.sh)
        for c in "${ARM64_SHARED[@]}"; do
                m+=("$HERE"/case-"$c"*.sh)
        done
        # In name order, whichever directory a case is in.
        mapfile -t CASES < <(for c in "${m[@]}"; do echo "$(basename "$c")/$c"; done | sort | cut -d/ -f2-)
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
say "time: cases $((SECONDS - T_STEP)) s, total $SECONDS s"
if [ -n "${HOSTD_VM_HOLD:-}" ]; then
        # For a developer: the guest stays up for lib.sh's helpers
        # (VM_DIR=... VM_ADMIN_PORT=... VM_HOSTD_PORT=... . tests/vm/lib.sh).
        say "holding the guest: VM_DIR=$VM_DIR VM_ADMIN_PORT=$VM_ADMIN_PORT VM_HOSTD_PORT=$VM_HOSTD_PORT; kill $$ to end"
        while kill -0 "$QEMU_PID" 2>/dev/null; do sleep 5; done
fi
vm_root 'systemctl poweroff' >/dev/null 2>&1 || true
for ((i = 0; i < 30; i++)); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 1; done
exit $((failed > 0))
