#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Real podman inside a job, driven with stock ssh: build FROM scratch with RUN
# steps, images, run, save, the buildah-remote run shape
# (tests/sandbox/podman-smoke.sh); then kill -9 of hostd in the middle of a
# build: the build finishes, the restarted hostd re-adopts the job, and its
# release leaves nothing behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

SMOKE="$(dirname "$0")/../sandbox/podman-smoke.sh"
for t in podman /bin/busybox; do
        command -v "$t" >/dev/null || [ -x "$t" ] || { echo "$t missing"; exit 77; }
done

start_hostd_ssh
A=$(alloc_job a --disk 2G)

out=$(sshj a bash -s <"$SMOKE" 2>&1) || true
check "podman smoke inside the job" grep -q "^podman-smoke: [0-9]* passed, 0 failed" <<<"$out"
[ "$failures" -eq 0 ] || grep -v "^PASS" <<<"$out" | tail -n 20

# A build that takes a while, and hostd killed in the middle of it.
sshj a 'mkdir -p slow && cp /bin/busybox slow/ && printf "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sleep\", \"6\"]\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo done > /done\"]\n" > slow/Containerfile'
sshj a 'cd slow && podman build -q -t localhost/slow . >/dev/null 2>build.err; echo "rc=$?"' >"$WORK/build.out" 2>&1 &
build=$!
for _ in $(seq 1 100); do
        sshj a 'pgrep -f "busybox sleep 6" >/dev/null' && break
        sleep 0.1
done
check "the build is running" sshj a 'pgrep -f "busybox sleep 6" >/dev/null'
kill9_hostd
start_hostd_ssh
wait "$build" || true
check "the build finished across the crash" grep -q "^rc=0$" "$WORK/build.out"
check "the restarted hostd re-adopted the sandbox" grep -q "Re-adopted the running sandbox" "$LOG"
check "the image is there after the restart" [ "$(sshj a 'podman run --rm localhost/slow /bin/busybox cat /done')" = done ]

base=$(juid a)
check "release" [ "$(ctl release "$A" | jq -r .state)" = released ]
check "no process of the job's range left" [ "$(range_procs "$base")" = 0 ]
check "no loop device left" [ "$(losetup -a | grep -c "$STATE/jobs/")" = 0 ]
check "no job directory left" [ -z "$(ls "$STATE/jobs")" ]
stop_hostd
finish
