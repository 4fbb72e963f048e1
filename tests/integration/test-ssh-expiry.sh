#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A job whose lease runs out (the shortest lease, 60s: this test is slow):
# hostd reclaims it like a release, ends its connected session, and refuses
# its key afterwards, with the reason in the log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

start_hostd_ssh
J=$(alloc_job e --lease 60)
UID_E=$(juid e)
check "lease of 60s granted" [ "$(jq -r .lease_seconds "$WORK/jobs/e.json")" = 60 ]
check "the job works before expiry" [ "$(sshj e echo ok)" = ok ]
sshj_exec e 'sleep 300' >/dev/null 2>&1 & SSH1=$!
check "its session runs" wait_for 10 pgrep_q -u "$UID_E" -fx 'sleep 300'

# Expiry (60s from allocate) and reclaim.
check "the lease expires and the job is reclaimed within 75s" \
        wait_for 75 bash -c '[ "$("$1" --json job "$2" | jq -r .state)" = released ]' _ "$HOSTCTL" "$J"
check "it ended by lease expiry" [ "$(jqf .ended_by job "$J")" = lease-expired ]
check "the connected client exits" wait_for 10 bash -c '! kill -0 "$1" 2>/dev/null' _ "$SSH1"
check "no process of the job's uid remains" no_procs_of "$UID_E"
check "the log says the lease expired" log_has "job $J .*Lease expired; reclaiming the job"

rc=0; out=$(sshj e echo RAN 2>&1) || rc=$?
check "the expired job's key is refused (rc $rc)" [ "$rc" -eq 255 ]
check "... with Permission denied" grep -q 'Permission denied (publickey)' <<<"$out"
check "... and nothing ran" bash -c '! grep -q RAN <<<"$1"' _ "$out"
check "the log says why" log_has "Refused SSH key for '$J' from 127\.0\.0\.1: (job was released|job lease expired)"
alloc_job f >/dev/null
check "hostd keeps serving: a new job works" [ "$(sshj f echo ok)" = ok ]
check_no_crash
finish
