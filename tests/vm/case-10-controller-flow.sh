#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The controller's whole flow against hostd.service, with stock clients and
# pinned host keys: capacity -> allocate -> ssh mkdir -> rsync up -> podman
# build and run inside the job -> rsync down -> release -> nothing left.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cap=$(controller capacity)
jq -c .enforcement <<<"$cap"
check "capacity: cgroups through systemd" test "$(jq -r .enforcement.cgroup_manager <<<"$cap")" = systemd
check "capacity: cpu, memory, pids and io enforced" \
        test "$(jq -r '[.enforcement.cgroup[]] | all' <<<"$cap")" = true
check "capacity: podman runs crun on cgroup v2" test "$(jq -r .enforcement.podman_runtime <<<"$cap")" = crun

a=$(allocate --owner vm/flow --platform "$VM_PLATFORM" --lease 30m --memory 1G --disk 2G)
J=$(jq -r .job <<<"$a")
UD=$(jq -r .user_dir <<<"$a")
echo "job $J, user_dir $UD"

job_ssh "$J" mkdir -p "$UD/workspaces/src" "$UD/results"
W=$VM_DIR/flow
mkdir -p "$W/src" "$W/out"
cp "$VM_BUSYBOX" "$W/src/"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo built in %s > /hello"]\n' "$J" >"$W/src/Containerfile"
head -c 4M /dev/urandom >"$W/src/blob"
job_rsync "$J" -razW --mkpath "$W/src/" "$(job_host "$J"):$UD/workspaces/src/"
job_ssh "$J" "cd workspaces/src && podman build -q -t localhost/flow . >/dev/null && podman run --rm localhost/flow /bin/busybox cat /hello > ../../results/hello.txt && sha256sum blob > ../../results/blob.sha"
job_rsync "$J" -razW "$(job_host "$J"):$UD/results/" "$W/out/"
check "the build's output came back" grep -qx "built in $J" "$W/out/hello.txt"
check "the upload arrived intact" test "$(cut -d' ' -f1 "$W/out/blob.sha")" = "$(sha256sum "$W/src/blob" | cut -d' ' -f1)"

# The job is a scope in hostd-jobs.slice with its limits.
check "the job runs in its own scope" vm_root "systemctl is-active hostd-job-$J.scope"
check "the scope has the job's memory limit" test "$(vm_root "cat $(job_cgroup "$J")/memory.max")" = 1073741824

r=$(controller release "$J")
check "release answers released" test "$(jq -r .state <<<"$r")" = released
check_fails "the scope is gone" vm_root "systemctl is-active -q hostd-job-$J.scope"
check "no job directory left" test "$(vm_root "ls /var/lib/hostd/jobs | wc -l")" = 0
check "no loop device left" test -z "$(vm_root 'losetup -n -l -O BACK-FILE | grep hostd || true')"
check "no process of the job's uid range left" test -z "$(vm_root "ps -e -o uid= | awk '\$1 >= 524288' | head -1")"
check_fails "the released key is refused" job_ssh "$J" true
