#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Tenants who attack each other and the host (docs/security.md, "Cooperating
# tenants"): a job that prepares its tree and waits for hostd to restart, a
# job that kills everything it can see, and two jobs that cooperate so that
# one holds the other's disk and namespaces at release.  Network=host: the
# cooperating pair passes descriptors over an abstract unix socket, which
# only the host network lets them share.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

POLICY="$WORK/policy.conf"
cat >"$POLICY" <<'EOF'
[Jobs]
Slots=6
Network=host
EOF
start_hostd_ssh --policy "$POLICY"
not_draining() { [ "$(ctl capacity | jq -r .draining)" = false ]; }

# ---- 1. A restart of hostd under a job that prepared its tree -------------
# The job covers its job directory with a tmpfs of its own and puts there a
# "home" that is an absolute symlink to a host directory.  A hostd that
# resolved the home through /proc/ANCHOR/root after a restart followed it
# into the host and created podman's files there, owned by the job.
EVIL="$WORK/host-target"
mkdir -m 0755 "$EVIL"
echo untouched >"$EVIL/marker"
snapshot() { find "$EVIL" -printf '%p %U %G %m %s\n' | sort; }
snapshot >"$WORK/evil.before"

alloc_job a --disk 268435456 >/dev/null
A=$(jid a)
jobdir=$(dirname "$(jhome a)")
check "job a mounts a tmpfs over its job directory and plants an absolute symlink" \
        sshj a "cd / && mount -t tmpfs none '$jobdir' && ln -s '$EVIL' '$jobdir/home' && test -L '$jobdir/home'"
kill9_hostd
start_hostd_ssh --policy "$POLICY"
check "hostd re-adopted job a" log_has "job $A .*Re-adopted the running sandbox"
check "nothing outside the job's tree was created or changed" difq "$WORK/evil.before" <(snapshot)
disk_total=$(ctl job "$A" | jq -r '.usage.disk_total_bytes // 0')
check "job a's disk figures are its own disk's ($disk_total bytes: at most its 256 MiB quota)" \
        test "$disk_total" -gt 0 -a "$disk_total" -le 268435456
check "job a is released" [ "$(ctl release "$A" | jq -r .state)" = released ]
check "still nothing outside the job's tree" difq "$WORK/evil.before" <(snapshot)

# ---- 2. kill -9 -1 inside a job ---------------------------------------------
# Everything the job can see dies, its shell included; the sandbox's own
# processes are out of its sight, so the next session gets in.
alloc_job b >/dev/null
B=$(jid b)
check "job b runs before" [ "$(sshj b echo alive)" = alive ]
sshj b 'kill -9 -1; sleep 5' >/dev/null 2>&1 || true
check "job b takes a new session after kill -9 -1" [ "$(sshj b echo alive)" = alive ]
check "job b's anchor is alive" janchor b
check "the anchor is not in the job's pid namespace" \
        bash -c '[ "$(readlink /proc/$1/ns/pid)" = "$(readlink /proc/self/ns/pid)" ]' _ "$(janchor b)"
check "job b is released" [ "$(ctl release "$B" | jq -r .state)" = released ]

# ---- 3. Two cooperating jobs: the holder keeps the victim's disk ------------
# d listens on an abstract unix socket; c sends it descriptors of its home
# (its disk), its mount namespace and its user namespace, then the
# controller releases c.  A release that waited for the disk left c
# "leaked" and drained the whole host.
HOLDER='
import array, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0hostd-test-" + sys.argv[1])
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
held = []
if sys.argv[2] == "receive":
    msg, anc, flags, addr = c.recvmsg(1, socket.CMSG_LEN(16 * 4))
    for level, kind, data in anc:
        held += array.array("i", data[: len(data) - len(data) % 4]).tolist()
    open("/tmp/held-" + sys.argv[1], "w").write(" ".join(map(str, held)) + "\n")
# "inflight": never receive; the descriptors stay queued on the socket.
time.sleep(3600)
'
SENDER='
import array, os, socket, sys
fds = [os.open(os.environ["HOME"], os.O_RDONLY), os.open("/proc/self/ns/mnt", os.O_RDONLY),
       os.open("/proc/self/ns/user", os.O_RDONLY)]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\0hostd-test-" + sys.argv[1])
s.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
print("sent", flush=True)
'
printf '%s' "$HOLDER" >"$WORK/holder.py"
printf '%s' "$SENDER" >"$WORK/sender.py"

alloc_job d >/dev/null
D=$(jid d)
for mode in receive inflight; do
        alloc_job "c-$mode" --disk 268435456 >/dev/null
        C=$(jid "c-$mode")
        tag="$mode-$PORT"
        sshj d "cat >/tmp/holder.py" <"$WORK/holder.py"
        sshj "c-$mode" "cat >/tmp/sender.py" <"$WORK/sender.py"
        sshj d "nohup python3 /tmp/holder.py $tag $mode >/tmp/holder-$mode.log 2>&1 </dev/null &"
        check "[$mode] d's holder listens" wait_for 20 sshj d "grep -q listening /tmp/holder-$mode.log"
        check "[$mode] c sends d its disk and namespaces" [ "$(sshj "c-$mode" "python3 /tmp/sender.py $tag")" = sent ]
        if [ "$mode" = receive ]; then
                check "[$mode] d holds three descriptors" wait_for 20 sshj d "test -s /tmp/held-$tag"
        fi
        check "[$mode] c is released, not leaked" [ "$(ctl release "$C" | jq -r .state)" = released ]
        check "[$mode] the host is not draining" not_draining
        check "[$mode] a new job is allocated" alloc_job "n-$mode"
        check "[$mode] the new job runs" [ "$(sshj "n-$mode" echo ok)" = ok ]
        check "[$mode] job d still runs" [ "$(sshj d echo ok)" = ok ]
        if [ "$mode" = receive ]; then
                # The holder had the disk open: it was ended, and the disk is gone.
                check "[$mode] the holder was ended" log_has "job $C .*Killed 1 process of other jobs"
                check "[$mode] no loop device holds c's image" \
                        bash -c '! losetup -a | grep -F "$1"' _ "$STATE/jobs/$C/"
        else
                # Descriptors in flight show in no /proc entry: the release
                # lets the disk go with them.
                check "[$mode] the release says where the disk went" log_has "job $C .*The job's disk is still held by a reference in flight"
        fi
        ctl release "$(jid "n-$mode")" >/dev/null
done
# d ends: everything it held goes with it, c's in-flight disk included.
check "job d is released" [ "$(ctl release "$D" | jq -r .state)" = released ]
check "no loop device is left for any job" wait_for 30 bash -c '! losetup -a | grep -F "$1"' _ "$STATE/jobs/"
check "the host is not draining at the end" not_draining
pool_procs() {
        host_procs | awk -v s="$UID_POOL_START" -v e=$((UID_POOL_START + 16 * 65536)) '$2 >= s && $2 < e && $3 != "Z"' | wc -l
}
no_pool_procs() { [ "$(pool_procs)" -eq 0 ]; }
check "no process is left in the pool" wait_for 10 no_pool_procs
check_no_crash
finish
