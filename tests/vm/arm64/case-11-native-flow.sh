#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The arm64 tier's controller flow: capacity reports linux/arm64 as the
# native platform; a job allocated with --platform linux/arm64 gets the
# build step's files by rsync, podman builds and runs a native arm64 image
# FROM scratch (Debian's arm64 static busybox: no qemu anywhere, the guest
# has no binfmt_misc handler), the results come back by rsync, and release
# leaves nothing behind.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

check "the guest is aarch64" test "$(vm_root 'uname -m')" = aarch64
echo "guest: $(vm_root 'uname -r; grep -m1 -i "^CPU part" /proc/cpuinfo' | tr -s '\t\n' '  ')"
check "the guest runs no binfmt_misc handler (nothing is emulated)" \
        test -z "$(vm_root 'ls /proc/sys/fs/binfmt_misc | grep -vx "register\|status" || true')"

# jq -e, quiet: check prints what the command prints.
jqe() { jq -e "$@" >/dev/null; }
cap=$(controller capacity)
jq -c '{platforms, seccomp_abis: .enforcement.seccomp_abis, emulation: .enforcement.emulation}' <<<"$cap"
check "capacity: linux/arm64 is the native platform (first, emulated false)" \
        jqe '.platforms[0] | .platform == "linux/arm64" and .emulated == false' <<<"$cap"
check "capacity: linux/arm64 is allowed (native: no 'allowed: false', no reason)" \
        jqe '[.platforms[] | select(.platform == "linux/arm64")] | length == 1 and (.[0].allowed // true) and (.[0].reason == null)' <<<"$cap"
check "capacity: no amd64 platform on this host" \
        jqe '[.platforms[] | select(.platform == "linux/amd64")] | length == 0' <<<"$cap"
check "capacity: the seccomp filter covers aarch64 and arm" \
        jqe '.enforcement.seccomp_abis == ["aarch64", "arm"]' <<<"$cap"
check "capacity: cgroups through systemd" test "$(jq -r .enforcement.cgroup_manager <<<"$cap")" = systemd
check "capacity: cpu, memory, pids and io enforced" test "$(jq -r '[.enforcement.cgroup[]] | all' <<<"$cap")" = true
check "capacity: podman runs crun on cgroup v2" test "$(jq -r .enforcement.podman_runtime <<<"$cap")" = crun

check_fails "an amd64 job is refused (unsupported-platform)" controller allocate --owner vm/amd64 --platform linux/amd64

a=$(allocate --owner vm/arm64-flow --platform linux/arm64 --lease 30m --memory 1G --disk 2G)
J=$(jq -r .job <<<"$a")
UD=$(jq -r .user_dir <<<"$a")
echo "job $J, user_dir $UD, platform $(jq -r .platform <<<"$a")"
check "the job is on linux/arm64" test "$(jq -r .platform <<<"$a")" = linux/arm64

job_ssh "$J" mkdir -p "$UD/workspaces/src" "$UD/results"
W=$VM_DIR/arm64-flow
mkdir -p "$W/src" "$W/out"
cp "$VM_BUSYBOX" "$W/src/busybox"
check "the image's busybox is an arm64 binary" bash -c "file -b '$W/src/busybox' | grep -q 'ARM aarch64'"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "/bin/busybox uname -m > /arch && echo built in %s > /hello"]\n' "$J" \
        >"$W/src/Containerfile"
head -c 4M /dev/urandom >"$W/src/blob"
t0=$SECONDS
job_rsync "$J" -razW --mkpath "$W/src/" "$(job_host "$J"):$UD/workspaces/src/"
job_ssh "$J" "cd workspaces/src && podman build -q -t localhost/arm64flow . >/dev/null &&
        podman image inspect --format '{{.Architecture}} {{.Os}}' localhost/arm64flow > ../../results/image-arch &&
        podman run --rm localhost/arm64flow /bin/busybox cat /hello > ../../results/hello.txt &&
        podman run --rm localhost/arm64flow /bin/busybox cat /arch > ../../results/build-uname &&
        podman run --rm localhost/arm64flow /bin/busybox uname -m > ../../results/run-uname &&
        sha256sum blob > ../../results/blob.sha"
job_rsync "$J" -razW "$(job_host "$J"):$UD/results/" "$W/out/"
echo "build step: $((SECONDS - t0)) s; image $(cat "$W/out/image-arch"), RUN step uname -m $(cat "$W/out/build-uname"), podman run uname -m $(cat "$W/out/run-uname")"
check "the build's output came back" grep -qx "built in $J" "$W/out/hello.txt"
check "the RUN step ran natively on aarch64" grep -qx aarch64 "$W/out/build-uname"
check "the container runs on aarch64" grep -qx aarch64 "$W/out/run-uname"
check "the image's Architecture is arm64 (linux)" grep -qx 'arm64 linux' "$W/out/image-arch"
check "the upload arrived intact" test "$(cut -d' ' -f1 "$W/out/blob.sha")" = "$(sha256sum "$W/src/blob" | cut -d' ' -f1)"

check "the job runs in its own scope" vm_root "systemctl is-active hostd-job-$J.scope"
check "the scope has the job's memory limit" test "$(vm_root "cat $(job_cgroup "$J")/memory.max")" = 1073741824

r=$(controller release "$J")
check "release answers released" test "$(jq -r .state <<<"$r")" = released
check_fails "the scope is gone" vm_root "systemctl is-active -q hostd-job-$J.scope"
check "no cgroup of the job left" vm_root "! test -e $(job_cgroup "$J") && ! ls -d /sys/fs/cgroup/hostd.slice/hostd-jobs.slice/hostd-job-* 2>/dev/null"
check "no job directory left" test "$(vm_root "ls /var/lib/hostd/jobs | wc -l")" = 0
check "no loop device left" test -z "$(vm_root 'losetup -n -l -O BACK-FILE | grep hostd || true')"
check "no process of the job's uid range left" test -z "$(vm_root "ps -e -o uid= | awk '\$1 >= 524288' | head -1")"
check_fails "the released key is refused" job_ssh "$J" true
