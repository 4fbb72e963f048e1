#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Limits under real cgroup v2 and systemd: a fork bomb stops at TasksMax,
# a memory hog is OOM-killed inside its own job, a CPU hog is held to its
# quota (cpu.stat), the disk quota holds, and a lease expires.  A
# bystander job runs throughout and must come through untouched.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cg_field() { # JOB FILE KEY: one field of a job's cgroup file, 0 if absent
        vm_root "awk -v k=$3 '\$1 == k { print \$2; f = 1 } END { if (!f) print 0 }' $(job_cgroup "$1")/$2"
}
main_pid() { vm_root 'systemctl show -p MainPID --value hostd'; }

# The lease case first: the shortest lease (60 s) runs out while the
# others play.
L=$(allocate --owner vm/lease --platform "$VM_PLATFORM" --lease 60 | jq -r .job)
B=$(allocate --owner vm/bystander --platform "$VM_PLATFORM" | jq -r .job)
# setsid in a background child does not fork, so $! is the sleep itself.
BPID=$(job_ssh "$B" 'setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $!')
HOSTD_PID=$(main_pid)
echo "lease job $L, bystander $B (pid $BPID in its namespace), hostd pid $HOSTD_PID"

# ---- fork bomb -------------------------------------------------------------
F=$(allocate --owner vm/forkbomb --platform "$VM_PLATFORM" | jq -r .job)
pids_max=$(vm_root "cat $(job_cgroup "$F")/pids.max")
check "the job's TasksMax is the policy's DefaultPids" test "$pids_max" = 256
job_ssh "$F" 'setsid sh -c "b() { b | b & }; b" </dev/null >/dev/null 2>&1 &'
check "the fork bomb hits TasksMax (pids.events max > 0)" \
        vm_wait_for "awk '\$1 == \"max\" && \$2 > 0 { ok = 1 } END { exit !ok }' $(job_cgroup "$F")/pids.events" 90
current=$(vm_root "cat $(job_cgroup "$F")/pids.current")
echo "bomb: pids.current $current of $pids_max"
check "the bomb stays within TasksMax" test "$current" -le "$pids_max"
check "hostd answers capacity during the bomb" test "$(controller capacity | jq -r .apiVersion)" = hostd/v1
check "another job still runs commands during the bomb" test "$(job_ssh "$B" echo alive)" = alive
r=$(controller release "$F")
check "the bombed job is released" test "$(jq -r .state <<<"$r")" = released
check_fails "nothing of the bomb is left" vm_root "systemctl is-active -q hostd-job-$F.scope"

# ---- memory hog ----------------------------------------------------------
M=$(allocate --owner vm/memhog --platform "$VM_PLATFORM" --memory 256M | jq -r .job)
check "the job's MemoryMax is what it asked for" test "$(vm_root "cat $(job_cgroup "$M")/memory.max")" = 268435456
check "the job has no swap to hide in" test "$(vm_root "cat $(job_cgroup "$M")/memory.swap.max")" = 0
# tail keeps one endless line in memory.  The shell around it reports how
# it ended (ssh itself would say only 255 for a signal).
out=$(job_ssh "$M" 'tail /dev/zero; echo "status $?"' 2>&1 || true)
echo "memory hog: $out"
check "the hog was killed (SIGKILL, 128+9)" grep -qx 'status 137' <<<"$out"
check "the kernel's OOM killer acted in the hog's job (memory.events oom_kill)" \
        test "$(cg_field "$M" memory.events oom_kill)" -ge 1
check "the hog's job is still usable" test "$(job_ssh "$M" echo alive)" = alive
check "hostd was not touched (same MainPID)" test "$(main_pid)" = "$HOSTD_PID"
check "no OOM kill in the bystander's job" test "$(cg_field "$B" memory.events oom_kill)" = 0
controller release "$M" >/dev/null

# ---- CPU hog and the disk quota, one job -------------------------------
C=$(allocate --owner vm/cpuhog --platform "$VM_PLATFORM" --cpus 0.5 --disk 256M | jq -r .job)
check "the job's cpu.max is 0.5 CPU" test "$(vm_root "cat $(job_cgroup "$C")/cpu.max")" = "50000 100000"
# Two spinning loops on a 2-CPU guest, unlimited, would use 2 CPUs; the
# quota holds them to half of one.  Measured over 8 s in the middle of 14.
job_ssh "$C" 'for i in 1 2; do timeout 14 sh -c "while :; do :; done" & done; wait' &
hog=$!
sleep 3
read -r usage throttled wall <<<"$(vm_root "
        f=$(job_cgroup "$C")/cpu.stat
        u0=\$(awk '\$1 == \"usage_usec\" { print \$2 }' \$f); t0=\$(awk '\$1 == \"nr_throttled\" { print \$2 }' \$f); w0=\$(date +%s%6N)
        sleep 8
        u1=\$(awk '\$1 == \"usage_usec\" { print \$2 }' \$f); t1=\$(awk '\$1 == \"nr_throttled\" { print \$2 }' \$f); w1=\$(date +%s%6N)
        echo \$((u1 - u0)) \$((t1 - t0)) \$((w1 - w0))")"
wait "$hog" || true
ratio=$(awk -v u="$usage" -v w="$wall" 'BEGIN { printf "%.3f", u / w }')
echo "cpu hog: ${usage} us of CPU in ${wall} us of wall time = $ratio CPUs; throttled $throttled times"
check "the CPU hog ran (more than 0.1 CPU)" awk -v r="$ratio" 'BEGIN { exit !(r > 0.1) }'
check "the CPU hog is held to its 0.5 CPU quota (within 20%)" awk -v r="$ratio" 'BEGIN { exit !(r <= 0.6) }'
check "the quota throttled it (cpu.stat nr_throttled grew)" test "$throttled" -gt 0

out=$(job_ssh "$C" 'dd if=/dev/zero of=fill bs=1M count=400 2>&1; echo "dd: $?"; df -B1 --output=size . | tail -1' || true)
echo "$out"
check "writing past the disk quota fails with ENOSPC" grep -q 'No space left on device' <<<"$out"
size=$(tail -1 <<<"$out" | tr -d ' ')
check "the job's filesystem is the size of its quota" awk -v s="$size" 'BEGIN { exit !(s > 0.85 * 2^28 && s <= 2^28) }'
check "the host's state directory did not fill" \
        vm_root 'test "$(df -B1 --output=avail /var/lib/hostd | tail -1)" -gt $((1024 * 1024 * 1024))'
check "the job writes again after freeing space" test "$(job_ssh "$C" 'rm fill && echo ok > small && cat small')" = ok
controller release "$C" >/dev/null

# ---- the bystander and the lease ------------------------------------------
check "the bystander's process lived through it all" job_ssh "$B" "kill -0 $BPID"
for ((i = 0; i < 120; i++)); do
        [ "$(controller job "$L" | jq -r .state)" = released ] && break
        sleep 1
done
l=$(controller job "$L")
jq -c '{state, ended_by}' <<<"$l"
check "the 60 s lease expired and the job was reclaimed" test "$(jq -r .ended_by <<<"$l")" = lease-expired
check_fails "the expired job's key is refused" job_ssh "$L" true
check_fails "the expired job's scope is gone" vm_root "systemctl is-active -q hostd-job-$L.scope"
controller release "$B" >/dev/null
