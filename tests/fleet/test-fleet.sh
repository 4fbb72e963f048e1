#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The fleet test (issue 16): 24 real hostd instances on 127.0.1.N:22, a
# native linux/amd64 pool and an emulated linux/arm64 one (qemu-user), and
# an emulation of the multi-platform-controller's allocation loop
# (mpc_emulator.py) feeding 300 TaskRuns through the real
# contrib/multi-platform-controller scripts, with faults injected: a drain,
# a kill -9 and restart, an unreachable pool member, a failed cleanup, a
# failed Secret create.  About 3 minutes on 2 CPUs.
# fleet.py drives it and checks; this script owns the cleanup, whatever
# happens: hostd processes, job sandboxes, loop devices, cgroups, the
# immutable flag, binfmt_misc, the work directory.
#
# Environment: HOSTD, HOSTCTL (set by meson); optional FLEET_SEED,
# FLEET_TASKRUNS, FLEET_SPAN (seconds of arrivals), FLEET_HOSTS,
# HOSTD_TEST_KEEP (keep the work directory).
set -euo pipefail

: "${HOSTD:?HOSTD must point at the hostd binary}"
: "${HOSTCTL:?HOSTCTL must point at the hostctl binary}"
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3     # Debian's, whatever python3 is first on PATH

[ "$(id -u)" = 0 ] || { echo "fleet: needs root (hostd's sandboxes)"; exit 77; }
for t in ssh ssh-keygen jq losetup chattr "$PY"; do
        command -v "$t" >/dev/null || { echo "fleet: $t missing"; exit 77; }
done
if [ "${HOSTD_TEST_WRAPPER:-}" = valgrind ]; then
        echo "fleet: skipped under valgrind (24 daemons, minutes of load)"
        exit 77
fi

WORK=$(mktemp -d /tmp/hostd-fleet.XXXXXX)
chmod 0755 "$WORK"
HOSTS=${FLEET_HOSTS:-24}
UID_BASE=64100          # fleet.py: host N's pool starts at 65536 * (UID_BASE + 8 N)
DRIVER_PID=

# binfmt_misc: qemu-aarch64 with the F flag, as tests/integration/test-emulated.sh
# registers it; unregistered at the end only if registered here.
BINFMT=/proc/sys/fs/binfmt_misc
CONF=/usr/lib/binfmt.d/qemu-aarch64.conf
ARM_DEB=$(ls /var/cache/hostd-test/busybox-static_*_arm64.deb 2>/dev/null | head -1 || true)
registered_here=
ARM_BB=
if [ "$(uname -m)" = x86_64 ] && [ -r "$CONF" ]; then
        [ -e "$BINFMT/register" ] || mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null || true
        if [ -e "$BINFMT/register" ] && [ ! -e "$BINFMT/qemu-aarch64" ]; then
                if cat "$CONF" >"$BINFMT/register" 2>/dev/null; then registered_here=1; fi
        fi
        if [ -n "$ARM_DEB" ]; then
                dpkg-deb -x "$ARM_DEB" "$WORK/arm64" && ARM_BB=$WORK/arm64/bin/busybox
        fi
fi

in_pools() { # in_pools UID: in one of the fleet's uid pools
        local r=$(( $1 / 65536 ))
        [ "$r" -ge $((UID_BASE + 8)) ] && [ "$r" -lt $((UID_BASE + 8 * (HOSTS + 2))) ]
}

cleanup() {
        local rc=$? p base d j cg
        set +e
        trap - EXIT INT TERM
        if [ -n "$DRIVER_PID" ] && kill -0 "$DRIVER_PID" 2>/dev/null; then
                # The driver leads its own process group: its scripts and ssh clients.
                kill -TERM -- "-$DRIVER_PID" 2>/dev/null
                sleep 1
                kill -KILL -- "-$DRIVER_PID" 2>/dev/null
        fi
        for d in "$WORK"/h*/; do
                [ -f "$d/pid" ] || continue
                p=$(cat "$d/pid")
                # Only if it is still that hostd (pid reuse).
                if [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$(readlink -f "$HOSTD")" ]; then
                        kill -TERM "$p" 2>/dev/null
                fi
        done
        for _ in $(seq 1 100); do
                local alive=0
                for d in "$WORK"/h*/; do
                        [ -f "$d/pid" ] || continue
                        p=$(cat "$d/pid")
                        [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$(readlink -f "$HOSTD")" ] && alive=1
                done
                [ "$alive" = 0 ] && break
                sleep 0.1
        done
        for d in "$WORK"/h*/; do
                [ -f "$d/pid" ] || continue
                p=$(cat "$d/pid")
                [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$(readlink -f "$HOSTD")" ] && kill -KILL "$p" 2>/dev/null
        done
        # Job sandboxes outlive hostd by design: their init processes (the
        # pid namespace ends with them), only those of the fleet's pools.
        for p in $(pgrep -x hostd-init) $(pgrep -x hostd-anchor); do
                base=$(awk 'NR==1 {print $2}' "/proc/$p/uid_map" 2>/dev/null) || continue
                [ -n "$base" ] && in_pools "$base" && kill -KILL "$p" 2>/dev/null
        done
        while read -r p u; do
                in_pools "$u" && kill -KILL "$p" 2>/dev/null
        done < <(cat /proc/[0-9]*/status 2>/dev/null | awk '/^Pid:/ { p = $2 } /^Uid:/ { print p, $2 }')
        sleep 0.3
        losetup -n -l -O NAME,BACK-FILE 2>/dev/null | awk -v w="$WORK/" 'index($2, w) == 1 { print $1 }' |
                xargs -r -n1 losetup -d 2>/dev/null
        findmnt -rn -o TARGET | awk -v w="$WORK/" 'index($0, w) == 1' | sort -r | xargs -r -n1 umount -l 2>/dev/null
        cg=$(findmnt -t cgroup2 -no TARGET | head -n 1)/hostd.jobs
        for d in "$WORK"/h*/state/jobs/* "$WORK"/h*/state/registry/j*.json; do
                j=$(basename "$d" .json)
                [ -d "$cg/$j" ] && find "$cg/$j" -depth -type d -exec rmdir {} + 2>/dev/null
        done
        # The failed-cleanup fault's immutable disk image, if the driver
        # died before undoing it.
        find "$WORK" -xdev -name disk.img -exec chattr -i {} + 2>/dev/null
        [ -z "$registered_here" ] || echo -1 >"$BINFMT/qemu-aarch64" 2>/dev/null
        if [ "$rc" -ne 0 ]; then
                for d in "$WORK"/h*/; do
                        [ -f "$d/hostd.log" ] || continue
                        if grep -qiE "error|warning|died" "$d/hostd.log"; then
                                echo "--- $d/hostd.log (errors and warnings, last 10) ---"
                                grep -iE "error|warning|died" "$d/hostd.log" | tail -n 10
                        fi
                done
        fi
        if [ -n "${HOSTD_TEST_KEEP:-}" ]; then
                echo "fleet: kept $WORK"
        else
                rm -rf "$WORK"
        fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# setsid: the driver and everything it runs (scripts, ssh, hostd) in a
# process group of their own, for the cleanup above.  Waited for in the
# background, so that a TERM from meson's timeout runs the trap at once.
setsid "$PY" -B "$HERE/fleet.py" --work "$WORK" --hostd "$HOSTD" --hostctl "$HOSTCTL" \
        --contrib "$SRC/contrib/multi-platform-controller" --tools "$SRC/tools" \
        --hosts "$HOSTS" --taskruns "${FLEET_TASKRUNS:-300}" --span "${FLEET_SPAN:-150}" \
        ${ARM_BB:+--arm-busybox "$ARM_BB"} &
DRIVER_PID=$!
rc=0
wait "$DRIVER_PID" || rc=$?
DRIVER_PID=
exit "$rc"
