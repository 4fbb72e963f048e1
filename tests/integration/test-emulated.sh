#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Emulated platforms: Debian's qemu-user-static registers qemu-aarch64 in
# binfmt_misc; capacity lists linux/arm64 as emulated, the policy decides
# whether allocate takes it, and an arm64 static busybox (Debian's
# busybox-static:arm64, fetched by tools/install-deps.sh) runs inside a
# job's sandbox over stock ssh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

[ "$(uname -m)" = x86_64 ] || { echo "the arm64-on-amd64 case needs an x86_64 host"; exit 77; }
CONF=/usr/lib/binfmt.d/qemu-aarch64.conf
DEB=$(ls /var/cache/hostd-test/busybox-static_*_arm64.deb 2>/dev/null | head -1)
[ -r "$CONF" ] || { echo "qemu-user-static missing"; exit 77; }
[ -n "$DEB" ] || { echo "busybox-static:arm64 not downloaded (tools/install-deps.sh)"; exit 77; }
BINFMT=/proc/sys/fs/binfmt_misc
if [ ! -e "$BINFMT/register" ]; then
        mount -t binfmt_misc binfmt_misc "$BINFMT" || { echo "cannot mount binfmt_misc"; exit 77; }
fi
registered_here=
if [ ! -e "$BINFMT/qemu-aarch64" ]; then
        # The F flag: the kernel opens the interpreter now, so it also runs
        # in the jobs' mount namespaces.
        cat "$CONF" >"$BINFMT/register" 2>/dev/null || { echo "cannot register qemu-aarch64 in binfmt_misc"; exit 77; }
        registered_here=1
fi
unregister() { [ -z "$registered_here" ] || echo -1 >"$BINFMT/qemu-aarch64" 2>/dev/null || true; }
trap 'rc=$?; unregister; (exit $rc); cleanup' EXIT

dpkg-deb -x "$DEB" "$WORK/arm64"
BB=$WORK/arm64/bin/busybox

# ---- not allowed: listed, refused ---------------------------------------------
start_hostd_ssh
p=$(ctl capacity | jq -c '.platforms[] | select(.platform == "linux/arm64")')
echo "capacity: $p"
check "capacity lists linux/arm64 as emulated by qemu-aarch64" \
        [ "$(jq -r '[.emulated, .handler] | join(" ")' <<<"$p")" = "true qemu-aarch64" ]
check "... and not allowed by the default policy" [ "$(jq -r .allowed <<<"$p")" = false ]
rc=0; out=$(ctl allocate --owner t/arm --platform linux/arm64) || rc=$?
check "allocate refuses it: unsupported-platform, exit 6" [ "$rc" = 6 ]
check "... naming the policy key" grep -q 'AllowEmulated=no' <<<"$(jq -r .error.message <<<"$out")"
stop_hostd

# ---- allowed: an arm64 binary in a job --------------------------------------------
start_hostd_ssh --set Platforms.AllowEmulated=yes
check "with AllowEmulated=yes it is allowed" \
        [ "$(ctl capacity | jq -r '.platforms[] | select(.platform == "linux/arm64") | .allowed')" = true ]
J=$(PLAT=linux/arm64 alloc_job arm)
UID_ARM=$(juid arm)
check "an arm64 job is allocated" [ "$(jqf .platform job "$J")" = linux/arm64 ]
check "the arm64 busybox uploads with scp" scp -q "${SSH_OPTS[@]}" -o UserKnownHostsFile="$(jkh arm)" -i "$(jkey arm)" \
        -P "$PORT" "$BB" "$J@127.0.0.1:busybox"
check "it runs inside the job, as aarch64" [ "$(sshj arm './busybox uname -m')" = aarch64 ]
check "... as root of the job's user namespace" [ "$(sshj arm './busybox id -u')" = 0 ]
check "... confined like any job process (no host state visible)" sshj arm "! ./busybox ls $STATE/registry 2>/dev/null | ./busybox grep -q ."
check "release" [ "$(jqf .state release "$J")" = released ]
check "no process of the job is left" no_procs_of "$UID_ARM"

stop_hostd
finish
