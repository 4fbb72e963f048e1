#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The per-job sandbox from the outside, with stock ssh/scp (host tier):
# identity, isolation between jobs and from the host, seccomp inside a job,
# the disk quota, one sandbox shared by all sessions of a job, and a
# release that leaves nothing behind, over 20 allocate/build/release cycles.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

: "${SECCOMP_PROBE:?SECCOMP_PROBE must point at the seccomp-probe binary}"

# The anchor of a job, found from the host: a hostd-anchor whose user
# namespace maps 0 to the job's uid (our uid pool is ours alone).
janchor() {
        local base; base=$(juid "$1")
        for p in $(pgrep -x hostd-anchor); do
                [ "$(awk 'NR==1 {print $2}' "/proc/$p/uid_map" 2>/dev/null)" = "$base" ] && { echo "$p"; return 0; }
        done
        return 1
}
# Leftovers that a release must not leave: loop devices on job images,
# job cgroups, anchors, job directories.
leftovers() {
        local loops cgs anchors dirs cgbase
        loops=$(losetup -a 2>/dev/null | grep -c "$STATE/jobs/" || true)
        cgbase=$(findmnt -t cgroup2 -no TARGET | head -n 1)/hostd.jobs
        cgs=0
        for j in $(ls "$STATE/jobs" 2>/dev/null); do [ -d "$cgbase/$j" ] && cgs=$((cgs + 1)); done
        anchors=0
        for p in $(pgrep -x hostd-anchor); do
                b=$(awk 'NR==1 {print $2}' "/proc/$p/uid_map" 2>/dev/null)
                [ -n "$b" ] && [ "$b" -ge "$UID_POOL_START" ] && [ "$b" -lt $((UID_POOL_START + 16 * 65536)) ] && anchors=$((anchors + 1))
        done
        dirs=$(ls "$STATE/jobs" 2>/dev/null | wc -l)
        echo "loops=$loops cgroups=$cgs anchors=$anchors dirs=$dirs"
}

start_hostd_ssh
A=$(alloc_job a --disk 256M)
B=$(alloc_job b --disk 256M)
ABASE=$(juid a)
BBASE=$(juid b)

# Identity: root inside, the job's range outside.
check "id -u inside is 0" [ "$(sshj a 'id -u')" = 0 ]
check "uid map is the job's range" [ "$(sshj a 'cat /proc/self/uid_map' | awk '{print $1, $2, $3}')" = "0 0 65536" ]
sshj a 'echo mine > owned'
check "a file the job made is owned by its range on the host" \
        [ "$(stat -c %u "/proc/$(janchor a)/root$(jhome a)/owned")" = "$ABASE" ]
check "jobs get different ranges" [ "$ABASE" != "$BBASE" ]

# Isolation from the host.
check "state dir hidden (host keys)" sshj a "! cat $STATE/host-keys/ssh_host_ed25519_key 2>/dev/null"
check "state dir hidden (records)" sshj a "! ls $STATE/registry 2>/dev/null"
check "other jobs invisible" [ "$(sshj a "ls $STATE/jobs")" = "$A" ]
check "/root hidden" [ "$(sshj a 'ls -A /root | wc -l')" = 0 ]
check "/home hidden" [ "$(sshj a 'ls -A /home | wc -l')" = 0 ]
check "control socket unreachable" sshj a "! test -e $SOCK"
check "cannot write /usr" sshj a '! touch /usr/hostd-escape 2>/dev/null'
check "cannot write /etc" sshj a '! sh -c "echo x >> /etc/passwd" 2>/dev/null'
check "no host disks in /dev" sshj a '! ls /dev/sda /dev/vda /dev/nvme0n1 /dev/mem 2>/dev/null'
check "own /proc: few processes" [ "$(sshj a 'ls /proc | grep -c "^[0-9]"')" -lt 10 ]
check "hostname is the job id" [ "$(sshj a hostname)" = "$A" ]

# Isolation between jobs.
sshj b 'echo secret > s; nohup sleep 300 >/dev/null 2>&1 &'
# The session can end before the background sleep has exec'd (seen under
# load); a failing pgrep must not end the script under set -e either.
wait_for 10 pgrep -u "$BBASE" -x sleep >/dev/null || true
BSLEEP=$(pgrep -u "$BBASE" -x sleep | head -n 1 || true)
check "b's sleep runs in b's range on the host" [ -n "$BSLEEP" ]
check "a cannot read b's home" sshj a "! cat $(jhome b)/s 2>/dev/null"
check "a does not see b's processes" sshj a '! pgrep -x sleep'
check "a cannot signal b's process by host pid" sshj a "! kill -0 $BSLEEP 2>/dev/null"
check "a cannot ptrace/read b's process" sshj a "! cat /proc/$BSLEEP/environ 2>/dev/null"
check "a cannot signal hostd" sshj a "! kill -0 $HOSTD_PID 2>/dev/null"
check "b's process survived" kill -0 "$BSLEEP"

# seccomp inside the job: every denied call, tried from a small binary.
scp -q "${SSH_OPTS[@]}" -o UserKnownHostsFile="$(jkh a)" -i "$(jkey a)" -P "$PORT" "$SECCOMP_PROBE" "$A@127.0.0.1:probe"
out=$(sshj a './probe --in-job' 2>&1) || true
check "seccomp probe inside the job: all denied calls denied" grep -q "^seccomp-probe: [0-9]* passed, 0 failed" <<<"$out"
[ "$failures" -eq 0 ] || grep -v "^ok" <<<"$out" | head -20

# One sandbox per job: a background process of one session is seen by the
# next, and the job's PID 1 reaps orphans (no zombies pile up).
sshj a 'nohup sleep 1000 >/dev/null 2>&1 &'
check "background process visible in the next session" sshj a 'pgrep -x sleep >/dev/null'
sshj a 'sh -c "sleep 0.2 & exec sleep 1"'
check "orphans are reaped by the job's PID 1" [ "$(sshj a 'ps -eo stat= | grep -c ^Z')" = 0 ]

# Disk quota: the job hits ENOSPC at its quota; the host and b go on.
host_free_before=$(df -B1 --output=avail "$STATE" | tail -n 1)
out=$(sshj a 'dd if=/dev/zero of=fill bs=1M count=1024 2>&1; echo rc=$?')
host_free_after=$(df -B1 --output=avail "$STATE" | tail -n 1)
check "dd past the quota fails with ENOSPC" grep -q "No space left on device" <<<"$out"
check "the job's disk is full, not more" [ "$(sshj a 'stat -c %s fill')" -lt $((256 * 1024 * 1024)) ]
check "host lost at most the quota" [ $((host_free_before - host_free_after)) -lt $((300 * 1024 * 1024)) ]
check "b still writes" sshj b 'echo ok > after-a-filled'
check "usage reported for a" [ "$(ctl job "$A" | jq -r '.usage.disk_bytes')" -gt $((200 * 1024 * 1024)) ]
check "capacity reports a's usage and limit" [ "$(ctl capacity | jq -r --arg j "$A" '.job_usage[] | select(.job == $j) | (.usage.disk_bytes > 200 * 1024 * 1024) and (.quota.disk_bytes == 256 * 1024 * 1024)')" = true ]
check "hostctl job shows disk use" bash -c '"$1" job "$2" | grep -q "Disk use"' _ "$HOSTCTL" "$A"

# Release: kills the detached processes, and leaves nothing.
check "release a" [ "$(ctl release "$A" | jq -r .state)" = released ]
check "no process of a's range left" [ "$(range_procs "$ABASE")" = 0 ]
check "b untouched" kill -0 "$BSLEEP"
check "release b" [ "$(ctl release "$B" | jq -r .state)" = released ]
check "no process of b's range left" [ "$(range_procs "$BBASE")" = 0 ]
check "nothing left after both releases" [ "$(leftovers)" = "loops=0 cgroups=0 anchors=0 dirs=0" ]
if sshj a true 2>/dev/null; then fail "a's key still works after release"; else pass; fi

# 20 allocate/build/release cycles; count before and after.
before=$(leftovers)
ok=0
for i in $(seq 1 20); do
        alloc_job "c$i" --disk 128M >/dev/null || continue
        out=$(sshj "c$i" 'mkdir -p d && echo "$RANDOM" > d/f && tar cf d.tar d && tar tf d.tar' 2>&1) || true
        [ "$out" = "$(printf 'd/\nd/f')" ] && ok=$((ok + 1))
        ctl release "$(jid "c$i")" >/dev/null
done
check "20 cycles ran ($ok/20)" [ "$ok" = 20 ]
check "20 cycles left nothing ($before)" [ "$(leftovers)" = "$before" ]

stop_hostd
finish
