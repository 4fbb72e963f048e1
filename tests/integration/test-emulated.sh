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
# set +e: under -e, (exit $rc) would end the trap before cleanup.
trap 'rc=$?; set +e; unregister; (exit $rc); cleanup' EXIT

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
check "capacity gives the reason" grep -q 'AllowEmulated=no' <<<"$(jq -r .reason <<<"$p")"
# AllowEmulated=no reaches into the jobs: each has its own empty
# binfmt_misc (Linux 6.7), so the host's qemu does not run its binaries.
emulation=$(ctl capacity | jq -r .enforcement.emulation)
N=$(alloc_job native)
jcopts native
scp -q "${JCOPTS[@]}" "$BB" "$N@127.0.0.1:busybox"
if [ "$emulation" = per-job ]; then
        # execv() itself: a shell would retry an ENOEXEC file as a script.
        out=$(sshj native "python3 -c 'import os; os.execv(\"./busybox\", [\"busybox\", \"true\"])' 2>&1; echo rc=\$?")
        check "a native job cannot run the arm64 binary: ENOEXEC" grep -q "Exec format error" <<<"$out"
        check "... and cannot undo it: its binfmt_misc is read-only" \
                sshj native '! echo 0 > /proc/sys/fs/binfmt_misc/status 2>/dev/null'
else
        echo "this kernel has no binfmt_misc per user namespace: AllowEmulated=no is host-wide only"
        check "capacity says so in its notes" ctl capacity | jq -e '.enforcement.notes[] | select(test("binfmt_misc"))' >/dev/null
fi
ctl release "$N" >/dev/null
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
N=$(alloc_job native2)
jcopts native2
scp -q "${JCOPTS[@]}" "$BB" "$N@127.0.0.1:busybox"
check "with AllowEmulated=yes a native job may run arm64 binaries too" [ "$(sshj native2 './busybox uname -m')" = aarch64 ]
check "release" [ "$(jqf .state release "$J")" = released ]
check "no process of the job is left" no_procs_of "$UID_ARM"
stop_hostd

# ---- registered without F: listed, not allowed, the fix named -------------------
# Only when this test registered the entry: a host's own is left alone.
if [ -n "$registered_here" ]; then
        echo -1 >"$BINFMT/qemu-aarch64"
        sed 's/:[A-Z]*$/:OC/' "$CONF" >"$BINFMT/register"
        check "registered without the F flag" grep -qx 'flags: OC' "$BINFMT/qemu-aarch64"
        start_hostd_ssh --set Platforms.AllowEmulated=yes
        p=$(ctl capacity | jq -c '.platforms[] | select(.platform == "linux/arm64")')
        check "capacity: linux/arm64 not allowed without F" [ "$(jq -r .allowed <<<"$p")" = false ]
        check "... the reason names the flag and the fix" grep -q "no F flag" <<<"$(jq -r .reason <<<"$p")"
        rc=0; out=$(ctl allocate --owner t/nof --platform linux/arm64) || rc=$?
        check "allocate refuses it: exit 6" [ "$rc" = 6 ]
        check "... with the same reason" grep -q "no F flag" <<<"$out"
        stop_hostd
fi
finish
