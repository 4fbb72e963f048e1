#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Is anything of hostd's jobs left on this host?  For after a release, a
# crash, or a test: prints each leftover and exits 1 if there is any.
#
#   check-leftovers.sh STATE_DIR UID_START RANGES [JOB...]
#
# Checks, for the uid pool [UID_START, UID_START + RANGES * 65536):
#   - processes owned by a pool uid (zombies aside), and jobs' pasta
#     processes (Network=private);
#   - job directories under STATE_DIR/jobs (only JOB... may remain: jobs
#     that are still allocated);
#   - loop devices backed by a file under STATE_DIR/jobs, and mounts of
#     anything under it;
#   - job cgroups (cgroupfs mode: CGROUP2/hostd.jobs/ID; systemd mode:
#     hostd-job-ID.scope units), other than those of JOB...
set -uo pipefail

STATE=${1:?usage: check-leftovers.sh STATE_DIR UID_START RANGES [JOB...]}
START=${2:?}
RANGES=${3:?}
shift 3
declare -A keep
for j in "$@"; do keep[$j]=1; done
END=$((START + RANGES * 65536))
found=0
leftover() { echo "leftover: $*"; found=1; }

# The uid ranges (multiples of 65536) of the jobs still allocated: their
# home belongs to their range's root.
declare -A keep_range
for j in "$@"; do
        u=$(stat -c %u "$STATE/jobs/$j/home" 2>/dev/null) && keep_range[$((u - u % 65536))]=1
done
# From /proc, not ps: ps prints uids of 2^31 and above as negative numbers.
while read -r pid uid stat comm; do
        [ "$uid" -ge "$START" ] && [ "$uid" -lt "$END" ] || continue
        [ "$stat" = Z ] && continue
        [ -n "${keep_range[$((uid - uid % 65536))]:-}" ] && continue
        leftover "process $pid ($comm) of pool uid $uid"
done < <(cat /proc/[0-9]*/status 2>/dev/null |
         awk '/^Name:/ { n = $2 } /^State:/ { s = $2 } /^Pid:/ { p = $2 } /^Uid:/ { print p, $2, s, n }')

# Network=private: a job's pasta runs as root, outside its uid range, and
# names its pid file in the job's directory on its command line.
for pid in $(pgrep -f -- " -P $STATE/jobs/j[0-9a-f]+/pasta\.pid"); do
        args=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
        [ "$(awk '/^State:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" = Z ] && continue
        j=${args#*" -P $STATE/jobs/"}
        j=${j%%/*}
        [ -n "${keep[$j]:-}" ] || leftover "pasta process $pid of job $j"
done

for d in "$STATE"/jobs/*; do
        [ -e "$d" ] || continue
        [ -n "${keep[${d##*/}]:-}" ] || leftover "job directory $d"
done

while read -r dev back; do
        j=${back#"$STATE"/jobs/}
        j=${j%%/*}
        [ -n "${keep[$j]:-}" ] || leftover "loop device $dev backed by $back"
done < <(losetup -n -l -O NAME,BACK-FILE 2>/dev/null | awk -v p="$STATE/jobs/" 'index($2, p) == 1')

while read -r target; do
        j=${target#"$STATE"/jobs/}
        j=${j%%/*}
        [ -n "${keep[$j]:-}" ] || leftover "mount on $target"
done < <(findmnt -rn -o TARGET | awk -v p="$STATE/jobs/" 'index($0, p) == 1')

cg=$(findmnt -t cgroup2 -no TARGET | head -n 1)
if [ -n "$cg" ] && [ -d "$cg/hostd.jobs" ]; then
        for d in "$cg"/hostd.jobs/j*; do
                [ -d "$d" ] || continue
                j=${d##*/}
                # Another hostd's jobs share this directory; only this state
                # dir's records say which are ours.
                [ -e "$STATE/registry/$j.json" ] || [ -e "$STATE/jobs/$j" ] || continue
                [ -n "${keep[$j]:-}" ] || leftover "cgroup $d"
        done
fi
if [ -d /run/systemd/system ]; then
        while read -r unit _; do
                j=${unit#hostd-job-}
                j=${j%.scope}
                [ -n "${keep[$j]:-}" ] || leftover "unit $unit"
        done < <(systemctl list-units --no-legend --plain 'hostd-job-*.scope' 2>/dev/null)
fi
exit $found
