#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hostd as systemd sees it: the STATUS line, journal fields per job, a
# reload with a bad policy, the jobs slice caps, and the watchdog.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

main_pid() { vm_root 'systemctl show -p MainPID --value hostd'; }

# ---- STATUS= and the journal --------------------------------------------
J=$(allocate --owner vm/systemd --platform "$VM_PLATFORM" | jq -r .job)
status=$(vm_root 'systemctl status hostd --no-pager' || true)
grep -m1 'Status:' <<<"$status"
check "systemctl status shows the slots in its STATUS line" grep -q 'Status: "1/6 slots used, 5 free' <<<"$status"
job_ssh "$J" true
controller release "$J" >/dev/null
check "systemctl status follows a release" \
        vm_wait_for "systemctl show -p StatusText --value hostd | grep -q '^0/6 slots used, 6 free'" 10
lines=$(vm_root "journalctl JOB=$J -o cat --no-pager")
echo "$lines"
check "journalctl JOB=$J finds the allocation" grep -qi 'allocated' <<<"$lines"
check "... the job's session" grep -qi 'session\|accepted' <<<"$lines"
check "... and the release" grep -q 'Job released' <<<"$lines"
check "... and only that job's lines" test -z "$(vm_root "journalctl JOB=$J -o json --no-pager | jq -r .JOB | grep -vx $J || true")"

# ---- the metrics timer feeds node-exporter's textfile directory -------------
prom=/var/lib/prometheus/node-exporter/hostd.prom
check "hostd-metrics.timer wrote $prom" vm_wait_for "test -s $prom" 40
check "... in Prometheus text, current" \
        vm_root "grep -q '^# TYPE hostd_slots gauge' $prom && grep -qx 'hostd_slots 6' $prom"

# ---- the jobs slice carries the policy's Total* caps ------------------------
check "hostd-jobs.slice has TotalMemory as MemoryMax" \
        test "$(vm_root 'cat /sys/fs/cgroup/hostd.slice/hostd-jobs.slice/memory.max')" = $((2560 * 1024 * 1024))

# ---- reload with a bad policy keeps the old one --------------------------
pid=$(main_pid)
vm_root 'printf "[Jobs]\nSlots=banana\n" >/etc/hostd/policy.conf.d/60-bad.conf && systemctl reload hostd'
check "hostd logs the bad drop-in by file and line" \
        vm_wait_for "journalctl -u hostd -o cat --since=-30s | grep -q '60-bad.conf:2'" 20
vm_root "journalctl -u hostd -o cat --since=-30s | grep '60-bad.conf'"
check "hostd keeps running (same MainPID)" test "$(main_pid)" = "$pid"
check "the old policy stays in force (6 slots)" test "$(controller capacity | jq -r .slots.total)" = 6
check "jobs can still be allocated" test "$(allocate --owner vm/after-bad-reload --platform "$VM_PLATFORM" | jq -r .state)" = active
controller release "$(controller jobs | jq -r '.jobs[] | select(.owner == "vm/after-bad-reload") | .job')" >/dev/null
vm_root 'printf "[Jobs]\nSlots=5\n" >/etc/hostd/policy.conf.d/60-bad.conf && systemctl reload hostd'
slots_are() { test "$(controller capacity | jq -r .slots.total)" = "$1"; }
check "a good reload takes effect (5 slots)" retry 20 slots_are 5
vm_root 'rm /etc/hostd/policy.conf.d/60-bad.conf && systemctl reload hostd'

# ---- the watchdog --------------------------------------------------------
# A hostd that stops sending WATCHDOG=1 (here: SIGSTOPped) is aborted
# after WatchdogSec=30s and restarted by Restart=on-failure.
restarts=$(vm_root 'systemctl show -p NRestarts --value hostd')
pid=$(main_pid)
vm_root "kill -STOP $pid"
check "a stopped hostd is restarted by the watchdog" \
        vm_wait_for "test \"\$(systemctl show -p NRestarts --value hostd)\" -gt $restarts && systemctl is-active -q hostd" 120
check "systemd says why" vm_root "journalctl -u hostd -o cat --since=-3min | grep -q 'Watchdog timeout'"
check "the new hostd serves the controller with the drop-in gone (6 slots)" retry 20 slots_are 6
