#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hostd restarted and SIGKILLed in the middle of a podman build: the build
# goes on and finishes, and the new hostd re-adopts the job.
#   - systemctl restart hostd: KillMode=process stops only the main process;
#     the build's own SSH session (its monitor and net child) carries on.
#   - systemctl kill -s KILL hostd: every process of hostd.service dies,
#     sessions included, so the build runs detached from its session; the
#     job's scope is outside hostd.service and is not touched.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

main_pid() { vm_root 'systemctl show -p MainPID --value hostd'; }
nrestarts() { vm_root 'systemctl show -p NRestarts --value hostd'; }
scope_since() { vm_root "systemctl show -p ActiveEnterTimestampMonotonic --value hostd-job-$1.scope"; }
# Waits for the build step's sleep to be running inside the job.
wait_build_running() {
        local i
        for ((i = 0; i < 180; i++)); do
                job_ssh "$1" "pgrep -f 'busybox sleep $2'" >/dev/null 2>&1 && return 0
                sleep 1
        done
        return 1
}

a=$(allocate --owner vm/restart --platform "$VM_PLATFORM" --lease 30m)
J=$(jq -r .job <<<"$a")
UD=$(jq -r .user_dir <<<"$a")
W=$VM_DIR/restart
mkdir -p "$W"
cp "$VM_BUSYBOX" "$W/"
# Two builds, each with a step that takes long enough to restart hostd
# under it; the sleep's length tells the two apart.
for n in 21 22; do
        printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "/bin/busybox sleep %s; echo build %s done > /out"]\n' \
                "$n" "$n" >"$W/Containerfile.$n"
done
job_rsync "$J" -razW --mkpath "$W/" "$(job_host "$J"):$UD/w/"
since=$(scope_since "$J")

# ---- systemctl restart, the build attached to its session ------------------
pid0=$(main_pid)
job_ssh "$J" 'cd w && podman build -f Containerfile.21 -t localhost/slow21 . >../build21.log 2>&1 &&
              podman run --rm localhost/slow21 /bin/busybox cat /out' >"$W/attached.out" 2>&1 &
attached=$!
check "the first build is running" wait_build_running "$J" 21
vm_root 'systemctl restart hostd'
pid1=$(main_pid)
check "systemctl restart started a new hostd" test "$pid1" != "$pid0" -a "$pid1" != 0
rc=0
wait "$attached" || rc=$?
cat "$W/attached.out"
check "the attached build finished across the restart" test "$rc" = 0
check "its output came back over the same session" grep -qx 'build 21 done' "$W/attached.out"

# ---- systemctl kill -s KILL, the build detached --------------------------
restarts0=$(nrestarts)
job_ssh "$J" 'setsid sh -c "cd w && podman build -f Containerfile.22 -t localhost/slow22 . >../build22.log 2>&1; echo \$? >../build22.rc" </dev/null >/dev/null 2>&1 &'
check "the second build is running" wait_build_running "$J" 22
vm_root 'systemctl kill -s KILL hostd'
check "hostd came back after SIGKILL (NRestarts grew)" \
        vm_wait_for "test \"\$(systemctl show -p NRestarts --value hostd)\" -gt $restarts0 && systemctl is-active -q hostd" 60
pid2=$(main_pid)
check "it is a new process" test "$pid2" != "$pid1"
check "the new hostd accepts the job's key and enters its sandbox" retry 60 job_ssh "$J" true
for ((i = 0; i < 180; i++)); do
        job_ssh "$J" 'test -s build22.rc' 2>/dev/null && break
        sleep 1
done
check "the detached build finished with status 0" test "$(job_ssh "$J" cat build22.rc)" = 0
check "its image runs" test "$(job_ssh "$J" 'podman run --rm localhost/slow22 /bin/busybox cat /out')" = 'build 22 done'

# ---- the job was re-adopted, never rebuilt ------------------------------------
check "hostd logged the re-adoption" \
        vm_root "journalctl -u hostd _PID=$pid2 -o cat | grep -q 'Re-adopted the running sandbox'"
check "the job is still active" test "$(controller job "$J" | jq -r .state)" = active
check "its scope was never restarted" test "$(scope_since "$J")" = "$since"
check "slots count it once" test "$(controller capacity | jq -r .slots.used)" = 1

r=$(controller release "$J")
check "the re-adopted job releases" test "$(jq -r .state <<<"$r")" = released
check_fails "its scope is gone" vm_root "systemctl is-active -q hostd-job-$J.scope"
check "no job directory left" test "$(vm_root 'ls /var/lib/hostd/jobs | wc -l')" = 0
