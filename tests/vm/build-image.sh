#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds (or finds in the cache) the Debian 12 image the VM tier boots:
# systemd as PID 1 with cgroup v2, podman, OpenSSH's sshd for the test
# harness (root, key only), and the runtime libraries hostd links.  hostd
# itself is not in the image: each run installs it from a `meson install
# --destdir` tree (run-vm-tests.sh).
#
#   build-image.sh CACHE_DIR [ARCH]     prints the image's directory on stdout
#
# ARCH is the guest's Debian architecture: amd64 (the default; also
# $HOSTD_VM_ARCH) or arm64.  A foreign architecture's debootstrap runs its
# second stage and the kernel's install through qemu-user-static, with
# Debian's qemu-aarch64 registered in binfmt_misc for the while if it was
# not already (and unregistered after, only if registered here).
#
# The image is keyed by the hash of this script, so a changed recipe builds
# a new one; older images of the same architecture in CACHE_DIR are removed
# (amd64: debian12-HASH, arm64: arm64-debian12-HASH, each with its own lock,
# so building one never waits for or removes the other).  debootstrap takes
# a few minutes (arm64 under qemu-user: about twenty), which is why the
# image lives outside the source tree.
set -euo pipefail

CACHE=${1:?usage: build-image.sh CACHE_DIR [amd64|arm64]}
ARCH=${2:-${HOSTD_VM_ARCH:-amd64}}
RECIPE_HASH=$(sha256sum "$0" | cut -c1-16)
case $ARCH in
amd64)
        PREFIX=debian12
        LOCK=$CACHE/.lock
        CONSOLE=ttyS0
        ;;
arm64)
        PREFIX=arm64-debian12
        LOCK=$CACHE/.lock-arm64
        CONSOLE=ttyAMA0
        ;;
*)
        echo "build-image: unknown architecture $ARCH (amd64 or arm64)" >&2
        exit 2
        ;;
esac
OUT=$CACHE/$PREFIX-$RECIPE_HASH
IMAGE_SIZE=12G

mkdir -p "$CACHE"
# Two runs at once (two build trees, say) build the image once.
exec 9>"$LOCK"
flock 9
if [ -f "$OUT/ready" ]; then
        echo "$OUT"
        exit 0
fi

WORK=$CACHE/build.$$
BINFMT=/proc/sys/fs/binfmt_misc
QEMU_REGISTERED=
# qemu-aarch64 in binfmt_misc, for the chroot's arm64 binaries: registered
# here only if absent (an integration test may hold it for a while, and
# may also take it away: called again before each step that runs arm64
# code).  The F flag opens the interpreter now, so the chroot needs no
# copy of it.
binfmt_aarch64() {
        [ "$(dpkg --print-architecture)" != arm64 ] || return 0
        [ -e "$BINFMT/register" ] || mount -t binfmt_misc binfmt_misc "$BINFMT"
        [ ! -e "$BINFMT/qemu-aarch64" ] || return 0
        cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$BINFMT/register"
        QEMU_REGISTERED=1
}
binfmt_release() {
        [ -z "$QEMU_REGISTERED" ] || echo -1 >"$BINFMT/qemu-aarch64" 2>/dev/null || true
        QEMU_REGISTERED=
}
trap 'binfmt_release; umount -R "$WORK/root/proc" "$WORK/root/sys" "$WORK/root/dev" 2>/dev/null || true; rm -rf "$WORK"' EXIT
rm -rf "$WORK"
mkdir -p "$WORK/root"
ROOT=$WORK/root
MIRROR=$(bash "$(dirname "$0")/../../tools/debian-mirror.sh")
echo "build-image: debootstrap bookworm ($ARCH) from $MIRROR (a few minutes)" >&2

# Runtime of hostd and of the jobs: libraries hostd links, e2fsprogs and
# util-linux for the job disks, podman with both OCI runtimes (netavark
# named: debootstrap does not resolve podman's virtual dependencies), passt
# (pasta: the jobs' egress under Network=private), and the tools the build
# step runs over SSH.
PKGS=systemd,systemd-sysv,dbus,libpam-systemd,udev,kmod,iproute2,procps,psmisc,util-linux,mount,e2fsprogs
PKGS=$PKGS,openssh-server,openssh-sftp-server,rsync,busybox-static,ca-certificates
PKGS=$PKGS,libssh-4,libjson-c5,libseccomp2,libsystemd0
PKGS=$PKGS,podman,crun,runc,conmon,uidmap,netavark,aardvark-dns,fuse-overlayfs,golang-github-containers-common
PKGS=$PKGS,passt
if [ "$ARCH" = "$(dpkg --print-architecture)" ]; then
        debootstrap --variant=minbase --include="$PKGS" bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
                { tail -30 "$WORK/debootstrap.log" >&2; exit 1; }
else
        # Download and unpack here, configure in the chroot through qemu.
        debootstrap --arch="$ARCH" --foreign --variant=minbase --include="$PKGS" bookworm "$ROOT" "$MIRROR" \
                >"$WORK/debootstrap.log" 2>&1 || { tail -30 "$WORK/debootstrap.log" >&2; exit 1; }
        binfmt_aarch64
        chroot "$ROOT" /debootstrap/debootstrap --second-stage >>"$WORK/debootstrap.log" 2>&1 ||
                { tail -30 "$WORK/debootstrap.log" >&2; exit 1; }
fi

# The kernel, booted directly by qemu (-kernel/-initrd), with the virtio
# drivers in its initramfs.
mount -t proc proc "$ROOT/proc"
mount --rbind /sys "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
EOF
[ "$ARCH" = amd64 ] || binfmt_aarch64
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        linux-image-"$ARCH" initramfs-tools >"$WORK/kernel.log" 2>&1 ||
        { tail -30 "$WORK/kernel.log" >&2; exit 1; }
chroot "$ROOT" apt-get clean
umount -R "$ROOT/proc" "$ROOT/sys" "$ROOT/dev"

# Root filesystem, network (DHCP from qemu's user network), console.
echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" >"$ROOT/etc/fstab"
echo hostd-vm >"$ROOT/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 hostd-vm\n' >"$ROOT/etc/hosts"
printf 'nameserver 10.0.2.3\n' >"$ROOT/etc/resolv.conf"
mkdir -p "$ROOT/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' >"$ROOT/etc/systemd/network/80-dhcp.network"
[ "$ARCH" = amd64 ] || binfmt_aarch64
chroot "$ROOT" systemctl enable systemd-networkd.service serial-getty@$CONSOLE.service >/dev/null 2>&1
# An empty machine-id: systemd makes one at boot.
: >"$ROOT/etc/machine-id"

# The harness logs in as root with its own key (made here, kept with the
# image); sshd's host keys are made at first boot by the package's units.
ssh-keygen -q -t ed25519 -N '' -C hostd-vm-harness -f "$WORK/harness_key"
mkdir -p -m 0700 "$ROOT/root/.ssh"
install -m 0600 "$WORK/harness_key.pub" "$ROOT/root/.ssh/authorized_keys"
cat >"$ROOT/etc/ssh/sshd_config.d/harness.conf" <<EOF
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
EOF

# Faster boot: nothing waits for a network that qemu gives at once.
chroot "$ROOT" systemctl mask systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
        e2scrub_all.timer fstrim.timer man-db.timer >/dev/null 2>&1 || true
# No arm64 code runs past this point.
binfmt_release

cp "$ROOT"/boot/vmlinuz-* "$WORK/vmlinuz"
cp "$ROOT"/boot/initrd.img-* "$WORK/initrd.img"

truncate -s "$IMAGE_SIZE" "$WORK/rootfs.img"
mkfs.ext4 -q -F -L hostd-vm -d "$ROOT" "$WORK/rootfs.img"

rm -rf "$OUT"
mkdir -p "$OUT"
mv "$WORK/rootfs.img" "$WORK/vmlinuz" "$WORK/initrd.img" "$WORK/harness_key" "$WORK/harness_key.pub" "$OUT/"
touch "$OUT/ready"
# Older recipes' images of this architecture (not the other's: arm64's
# prefix does not match amd64's glob).
for d in "$CACHE/$PREFIX"-*; do
        [ "$d" = "$OUT" ] || rm -rf "$d"
done
echo "$OUT"
