# SPDX-License-Identifier: LGPL-2.1-or-later
# A real registry on the host's loopback for tests and benchmarks: Debian's
# docker-registry (the CNCF distribution registry), started here and
# stopped by stop_registry (call it from the EXIT trap), and a multi-arch
# base image pushed to it once.  Source after lib.sh and ssh-lib.sh.
#
#   start_registry [--auth]     REG=127.0.0.1:PORT; --auth: htpasswd,
#                               user $REG_USER, password $REG_PASS
#   push_base_images            $REG/base:latest, a manifest list of
#                               linux/amd64 and linux/arm64 images holding
#                               Debian's static busybox as /bin/sh and friends
#   job_registry NAME           the registry as job NAME reaches it: its
#                               gateway under Network=private, else $REG
#   register_qemu_aarch64       Debian's qemu-aarch64 in binfmt_misc (F flag),
#                               undone by unregister_qemu_aarch64

REG_USER=builder
REG_PASS=s3cret-$$
REG_PID=
REG_DIR=
QEMU_REGISTERED=
SIGSTORE_MADE=
ARM64_DEB=$(ls /var/cache/hostd-test/busybox-static_*_arm64.deb 2>/dev/null | head -1)
# The host side's own buildah: a private store, so the host's
# /var/lib/containers is neither used nor needed.
HBUILDAH=(buildah --root "$WORK/host-store" --runroot "$WORK/host-run" --storage-driver vfs)

registry_prereqs() {
        local t
        for t in docker-registry skopeo buildah htpasswd jq; do
                command -v "$t" >/dev/null || { echo "$t missing (tools/install-deps.sh)"; return 1; }
        done
}

start_registry() {
        local port auth=
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        REG_DIR="$WORK/registry"
        mkdir -p "$REG_DIR/data"
        if [ "${1:-}" = --auth ]; then
                htpasswd -Bbn "$REG_USER" "$REG_PASS" >"$REG_DIR/htpasswd"
                auth="auth: {htpasswd: {realm: hostd-test, path: $REG_DIR/htpasswd}}"
        fi
        cat >"$REG_DIR/config.yml" <<EOC
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $REG_DIR/data}
  delete: {enabled: true}
http: {addr: "127.0.0.1:$port"}
$auth
EOC
        docker-registry serve "$REG_DIR/config.yml" >"$REG_DIR/log" 2>&1 &
        REG_PID=$!
        REG=127.0.0.1:$port
        REG_PORT=$port
        wait_for 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null
}

stop_registry() {
        [ -z "$REG_PID" ] || kill "$REG_PID" 2>/dev/null || true
        [ -z "$REG_PID" ] || wait "$REG_PID" 2>/dev/null || true
        REG_PID=
        unregister_qemu_aarch64
        [ -z "$SIGSTORE_MADE" ] || rm -rf "$SIGSTORE_MADE"
}

# creds for skopeo/buildah on the host side: --creds / --dest-creds values
reg_creds() { [ -f "$REG_DIR/htpasswd" ] && echo "$REG_USER:$REG_PASS" || echo ""; }

# A busybox root for ARCH (amd64: the host's busybox-static; arm64: the
# fetched Debian package).
busybox_root() {
        local arch=$1 dir=$WORK/rootfs-$1 a
        mkdir -p "$dir/bin" "$dir/tmp"
        if [ "$arch" = amd64 ]; then
                cp /bin/busybox "$dir/bin/busybox"
        else
                dpkg-deb -x "$ARM64_DEB" "$WORK/deb-$arch"
                cp "$WORK/deb-$arch/bin/busybox" "$dir/bin/busybox"
        fi
        for a in sh cat echo uname ls sleep seq sha256sum wc mkdir; do ln -sf busybox "$dir/bin/$a"; done
        echo "$dir"
}

push_base_images() {
        local arch c creds
        creds=$(reg_creds)
        "${HBUILDAH[@]}" manifest create base-list >/dev/null
        for arch in amd64 arm64; do
                c=$("${HBUILDAH[@]}" from scratch)
                "${HBUILDAH[@]}" copy "$c" "$(busybox_root "$arch")" / >/dev/null
                "${HBUILDAH[@]}" config --os linux --arch "$arch" --env PATH=/bin --cmd /bin/sh "$c"
                "${HBUILDAH[@]}" commit -q "$c" "localhost/base-$arch" >/dev/null
                "${HBUILDAH[@]}" rm "$c" >/dev/null
                "${HBUILDAH[@]}" manifest add base-list "containers-storage:localhost/base-$arch" >/dev/null
        done
        "${HBUILDAH[@]}" manifest push -q --all --tls-verify=false ${creds:+--creds "$creds"} \
                base-list "docker://$REG/base:latest"
}

job_registry() {
        local gw
        gw=$(sshj "$1" 'ip -4 route show default 2>/dev/null' | awk '{ print $3; exit }')
        if [ "$(sshj "$1" 'readlink /proc/self/ns/net')" != "$(readlink /proc/self/ns/net)" ] && [ -n "$gw" ]; then
                echo "$gw:$REG_PORT"
        else
                echo "$REG"
        fi
}

register_qemu_aarch64() {
        local conf=/usr/lib/binfmt.d/qemu-aarch64.conf binfmt=/proc/sys/fs/binfmt_misc
        [ -r "$conf" ] && [ -n "$ARM64_DEB" ] || { echo "qemu-user-static or busybox-static:arm64 missing (tools/install-deps.sh)"; return 1; }
        [ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt" || return 1
        if [ ! -e "$binfmt/qemu-aarch64" ]; then
                cat "$conf" >"$binfmt/register" || return 1
                QEMU_REGISTERED=1
        fi
}

unregister_qemu_aarch64() {
        [ -z "$QEMU_REGISTERED" ] || echo -1 >/proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null || true
        QEMU_REGISTERED=
}

# What any root podman/buildah/skopeo run leaves on a host: a 0700
# /var/lib/containers.  Jobs must not need to read it.
make_host_sigstore() {
        if [ ! -e /var/lib/containers ]; then
                SIGSTORE_MADE=/var/lib/containers
        elif [ ! -e /var/lib/containers/sigstore ]; then
                SIGSTORE_MADE=/var/lib/containers/sigstore
        fi
        mkdir -p -m 0700 /var/lib/containers/sigstore
        chmod 0700 /var/lib/containers
}
