#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# kill -9 of hostd at 20 random moments of a job's life: during allocate,
# during a build in the job (its session running), during release (in the
# middle of the cleanup).  After each restart:
#   - no job is lost: a job whose allocate had answered is still there, and
#     a retried allocate of its owner returns it, never a second one;
#   - no job is duplicated: one job per owner;
#   - a job whose release had started is reclaimed without being asked
#     again (the cleanup resumes), and a retried release answers released;
#   - at the end, tools/check-leftovers.sh finds no process of the uid
#     pool, job directory, loop device, mount or cgroup.
# The moments come from $RANDOM with a printed seed; HOSTD_TEST_SEED=N
# replays a run.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

CHECK_LEFTOVERS=$(dirname "$0")/../../tools/check-leftovers.sh
SEED=${HOSTD_TEST_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$SEED
echo "seed $SEED (HOSTD_TEST_SEED=$SEED replays this run)"
ROUNDS=20

start_hostd_ssh
# sleep_ms N: a pause of N milliseconds.
sleep_ms() { sleep "$(printf '0.%03d' "$1")"; }
one_job_per_owner() { [ "$(jqf '[.jobs[].owner] | length == (unique | length)' jobs)" = true ]; }
converged() { # no job left releasing (resumed cleanups finished)
        [ "$(jqf '[.jobs[] | select(.state == "releasing")] | length' jobs)" = 0 ]
}

lost=0 dup=0 stuck=0
declare -A phase_count
for ((round = 1; round <= ROUNDS; round++)); do
        phase=$((RANDOM % 3))
        delay=$((RANDOM % 400))
        owner="crash/r$round"
        case $phase in
        0) # allocate in flight
                phase_count[allocate]=$((${phase_count[allocate]:-0} + 1))
                "$HOSTCTL" --json allocate --owner "$owner" --platform "$PLAT" >"$WORK/a.$round" 2>&1 &
                op=$!
                sleep_ms "$delay"
                kill9_hostd
                wait "$op" 2>/dev/null || true
                start_hostd_ssh
                answered=$(jq -r '.job // empty' "$WORK/a.$round" 2>/dev/null || true)
                again=$(jqf .job allocate --owner "$owner" --platform "$PLAT")
                if [ -n "$answered" ] && [ "$answered" != "$again" ]; then
                        echo "round $round: allocate had answered $answered, the retry gave $again"
                        lost=$((lost + 1))
                fi
                ;;
        1) # a build running in the job's session
                phase_count[build]=$((${phase_count[build]:-0} + 1))
                name=b$round
                PLAT=$PLAT alloc_job "$name" >/dev/null
                sshj "$name" 'mkdir -p w && cd w && for i in $(seq 200); do head -c 65536 /dev/urandom > f$i; done && tar cf ../w.tar . && sha256sum ../w.tar > ../w.sum' \
                        >/dev/null 2>&1 &
                op=$!
                sleep_ms "$delay"
                kill9_hostd
                start_hostd_ssh
                wait "$op" 2>/dev/null || true
                # The job was re-adopted: its key works, in its sandbox, and
                # what the build finished is intact.  (A crash during the
                # session's key exchange cuts that session: it needs hostd.)
                if ! sshj "$name" 'cd w 2>/dev/null || exit 0; test ! -f ../w.sum || sha256sum -c --quiet ../w.sum' 2>/dev/null; then
                        echo "round $round: the job with a build in flight did not come back usable"
                        lost=$((lost + 1))
                fi
                ;;
        2) # release (and its cleanup) in flight
                phase_count[release]=$((${phase_count[release]:-0} + 1))
                name=r$round
                j=$(PLAT=$PLAT alloc_job "$name")
                sshj "$name" 'for i in $(seq 300); do mkdir -p d$i && head -c 32768 /dev/urandom > d$i/f; done' >/dev/null 2>&1 || true
                "$HOSTCTL" --json release "$j" >/dev/null 2>&1 &
                op=$!
                sleep_ms "$delay"
                kill9_hostd
                wait "$op" 2>/dev/null || true
                start_hostd_ssh
                wait_for 60 converged || { echo "round $round: a release did not finish after the restart"; stuck=$((stuck + 1)); }
                st=$(jqf .state job "$j" 2>/dev/null || echo gone)
                if [ "$st" != released ]; then
                        # The crash came before the release was recorded: ask again.
                        st=$(jqf .state release "$j")
                fi
                [ "$st" = released ] || { echo "round $round: job $j ended $st"; stuck=$((stuck + 1)); }
                ;;
        esac
        one_job_per_owner || { echo "round $round: an owner has two jobs"; dup=$((dup + 1)); }
        # Free the slot for the next round.
        for j in $(jqf '.jobs[].job' jobs); do
                "$HOSTCTL" release "$j" >/dev/null
        done
done
echo "rounds: ${phase_count[allocate]:-0} allocate, ${phase_count[build]:-0} build, ${phase_count[release]:-0} release"
check "no job lost across $ROUNDS crashes" [ "$lost" = 0 ]
check "no job duplicated" [ "$dup" = 0 ]
check "every interrupted release finished" [ "$stuck" = 0 ]

# The checker sees a job still allocated, with a process running (it can
# fail), and passes when told about that job.
K=$(PLAT=$PLAT alloc_job keep)
sshj keep 'setsid sleep 600 </dev/null >/dev/null 2>&1 &'
leftovers_show_sleep() { "$CHECK_LEFTOVERS" "$STATE" "$UID_POOL_START" 16 | grep -q 'process .*(sleep)'; }
wait_for 10 leftovers_show_sleep || true
check "check-leftovers reports a job still allocated" bash -c '! "$1" "$2" "$3" 16 >/dev/null' _ "$CHECK_LEFTOVERS" "$STATE" "$UID_POOL_START"
out=$("$CHECK_LEFTOVERS" "$STATE" "$UID_POOL_START" 16) || true
echo "$out"
check "... its directory, loop device and process" bash -c '
        grep -q "job directory" <<<"$1" && grep -q "loop device" <<<"$1" && grep -q "process .*(sleep)" <<<"$1"' _ "$out"
check "... and nothing else when told about it" "$CHECK_LEFTOVERS" "$STATE" "$UID_POOL_START" 16 "$K"
# Release what is left; then nothing of any job may remain.
for j in $(jqf '.jobs[].job' jobs); do
        "$HOSTCTL" release "$j" >/dev/null
done
check "no job holds a slot" [ "$(jqf '.jobs | length' jobs)" = 0 ]
out=$("$CHECK_LEFTOVERS" "$STATE" "$UID_POOL_START" 16 2>&1) || true
[ -z "$out" ] || echo "$out"
check "check-leftovers: no process, directory, loop device, mount or cgroup left" [ -z "$out" ]
check_no_crash
finish
