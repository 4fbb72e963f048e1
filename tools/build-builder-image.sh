#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds (or finds in the cache) a rootfs tarball of a builder image for
# `podman import`: what Konflux's buildah-remote step runs with `podman run`
# on the remote host (upstream: quay.io/konflux-ci/buildah-task, which we
# cannot pull here), remade from Debian 12 packages: buildah, runc,
# util-linux's unshare with newuidmap/newgidmap (uidmap), bash, jq,
# coreutils, ca-certificates.  No podman: the build step only runs buildah.
#
#   build-builder-image.sh CACHE_DIR     prints the tarball's path on stdout
#
# Exits 77 (a test's "skipped") when the Debian mirror cannot be reached.
#
# Like upstream's image, /etc/subuid and /etc/subgid give root 1:65535 (a
# map that fits in 2^16 ids with root, read by `unshare --map-auto`), and
# policy.json accepts anything.  Upstream also sets the image's environment
# BUILDAH_ISOLATION=chroot, which a tarball cannot carry: import it with
#   podman import --change 'ENV BUILDAH_ISOLATION=chroot' TARBALL NAME
#
# Keyed by the hash of this script; older tarballs in CACHE_DIR are removed.
# debootstrap takes a minute or two, hence the cache.
set -euo pipefail

CACHE=${1:?usage: build-builder-image.sh CACHE_DIR}
RECIPE_HASH=$(sha256sum "$0" | cut -c1-16)
OUT=$CACHE/builder-$RECIPE_HASH

mkdir -p "$CACHE"
# Two test runs at once build the image once.
exec 9>"$CACHE/.lock"
flock 9
if [ -f "$OUT/ready" ]; then
        echo "$OUT/builder.tar.gz"
        exit 0
fi

WORK=$CACHE/build.$$
trap 'rm -rf "$WORK"' EXIT
rm -rf "$WORK"
mkdir -p "$WORK/root"
ROOT=$WORK/root
MIRROR=$(bash "$(dirname "$0")/debian-mirror.sh")
echo "build-builder-image: debootstrap bookworm from $MIRROR" >&2

# minbase already has bash, coreutils and util-linux (unshare).  runc only
# for BUILDAH_ISOLATION=oci/rootless; upstream's default, chroot, needs no
# runtime.  Native overlay works in a user namespace on the kernels hostd
# supports, so no fuse-overlayfs.  netavark named: containers-common depends
# on the virtual container-network-stack, which debootstrap cannot resolve.
PKGS=buildah,runc,uidmap,netavark,jq,ca-certificates
if ! debootstrap --variant=minbase --include="$PKGS" bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
        tail -30 "$WORK/debootstrap.log" >&2
        tail -30 "$ROOT/debootstrap/debootstrap.log" >&2 2>/dev/null || true
        if grep -qE "Failed getting release file|Couldn't download|Temporary failure resolving|Could not resolve" \
                "$WORK/debootstrap.log" "$ROOT/debootstrap/debootstrap.log" 2>/dev/null; then
                echo "build-builder-image: cannot reach the Debian mirror $MIRROR" >&2
                exit 77
        fi
        exit 1
fi
# debootstrap takes the first alternative of libgpgme11's "gnupg | gpg", and
# gnupg is a suite; gpg is enough.  apt is not needed in the image either.
chroot "$ROOT" dpkg --purge --force-depends gnupg gnupg-l10n gnupg-utils dirmngr gpg-wks-server \
        gpg-wks-client gpgsm gpg-agent apt libapt-pkg6.0 >"$WORK/purge.log" 2>&1 ||
        { tail -30 "$WORK/purge.log" >&2; exit 1; }

# What upstream's image configures for buildah as root.
printf 'root:1:65535\n' >"$ROOT/etc/subuid"
printf 'root:1:65535\n' >"$ROOT/etc/subgid"
mkdir -p "$ROOT/etc/containers"
echo '{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker-daemon":{"":[{"type":"insecureAcceptAnything"}]}}}' \
        >"$ROOT/etc/containers/policy.json"
# The build script edits short-name-mode in it; Debian ships none in /etc.
[ -f "$ROOT/etc/containers/registries.conf" ] ||
        printf 'unqualified-search-registries = []\nshort-name-mode = "enforcing"\n' >"$ROOT/etc/containers/registries.conf"

# Small: no documentation, locales, apt lists or caches, logs.  /dev is
# podman's to fill: device nodes in the tarball could not be created by a
# job (mknod in a user namespace), so none are shipped.
rm -rf "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* \
        "$ROOT"/usr/share/locale/* "$ROOT"/usr/share/lintian "$ROOT"/usr/share/bash-completion \
        "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/* "$ROOT"/var/cache/debconf/*-old \
        "${ROOT:?}"/var/log/* "${ROOT:?}"/dev/*
: >"$ROOT/etc/machine-id"

tar --numeric-owner -C "$ROOT" -cf - . | gzip -6 >"$WORK/builder.tar.gz"

rm -rf "$OUT"
mkdir -p "$OUT"
mv "$WORK/builder.tar.gz" "$OUT/"
touch "$OUT/ready"
# Older recipes' tarballs.
for d in "$CACHE"/builder-*; do
        [ "$d" = "$OUT" ] || rm -rf "$d"
done
echo "$OUT/builder.tar.gz"
