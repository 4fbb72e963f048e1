#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The job seccomp filter on a real arm64 kernel: the cross-built, static
# seccomp-probe (tests/sandbox/seccomp-probe.c) copied into a job with scp
# and run there (--in-job: every denied call denied), and once as root in
# the guest (it installs the filter in itself: each denial checked against
# the unfiltered answer).  Then the AArch32 compat ABI: whether the CPU and
# kernel run a 32-bit ARM binary at all, and if they do, whether every
# denied call that exists in the ARM EABI, made from one inside a job,
# meets the filter (SCMP_ARCH_ARM).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

: "${VM_SECCOMP_PROBE:?run-vm-tests.sh builds the arm64 seccomp-probe}"

a=$(allocate --owner vm/arm64-seccomp --platform linux/arm64 --lease 30m)
J=$(jq -r .job <<<"$a")
# scp with the job's own key and pinned host key (scp's port flag is -P).
job_scp() {
        scp "${SSH_COMMON[@]}" -P "$VM_HOSTD_PORT" -i "$VM_DIR/jobs/$J/key" \
            -o UserKnownHostsFile="$VM_DIR/jobs/$J/known_hosts" -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes "$@"
}

# ---- the aarch64 ABI ------------------------------------------------------
check "scp the arm64 probe into the job" job_scp -q "$VM_SECCOMP_PROBE" "$(job_host "$J"):probe"
out=$(job_ssh "$J" './probe --in-job' 2>&1) || true
sed 's/^/  in job: /' <<<"$out"
check "in the job: the filter is there (Seccomp: 2)" grep -q '^ok *.*/proc/self/status.*Seccomp: 2' <<<"$out"
check "in the job: every denied call denied" grep -q "^seccomp-probe: [0-9]* passed, 0 failed" <<<"$out"

vm_root 'cat >/root/seccomp-probe && chmod 755 /root/seccomp-probe' <"$VM_SECCOMP_PROBE"
out=$(vm_root /root/seccomp-probe 2>&1) || true
sed 's/^/  as root: /' <<<"$out"
check "as root in the guest: the filter denies what it lists and allows what podman needs" \
        grep -q "^seccomp-probe: [0-9]* passed, 0 failed" <<<"$out"

# ---- the AArch32 compat ABI ----------------------------------------------
compat=$(vm_root 'grep -h "^CONFIG_COMPAT=" /boot/config-* 2>/dev/null; grep -m1 "^Features" /proc/cpuinfo' || true)
echo "kernel and CPU: $compat"
if [ -z "${VM_COMPAT_PROBE:-}" ]; then
        echo "no 32-bit ARM probe (arm-linux-gnueabihf-gcc missing): AArch32 not tried"
        exit 0
fi
check "the 32-bit probe is an ARM EABI binary" bash -c "file -b '$VM_COMPAT_PROBE' | grep -q '32-bit LSB executable, ARM, EABI5'"
vm_root 'cat >/root/compat-probe && chmod 755 /root/compat-probe' <"$VM_COMPAT_PROBE"
base=$(vm_root /root/compat-probe 2>&1) || true
sed 's/^/  AArch32 as root, no filter: /' <<<"$base"
if ! grep -q '^compat-probe: done' <<<"$base"; then
        # Exec format error: no AArch32 at EL0 in this CPU (or no
        # CONFIG_COMPAT); then no 32-bit code runs, in a job or out.
        echo "AArch32 binaries do not run on this guest: the compat ABI is not reachable"
        check "... in a job neither" bash -c '! grep -q "^compat-probe: done" <<<"$1"' _ \
                "$(job_scp -q "$VM_COMPAT_PROBE" "$(job_host "$J"):compat" && job_ssh "$J" ./compat 2>&1 || true)"
        exit 0
fi
echo "AArch32 binaries run on this guest (CONFIG_COMPAT and AArch32 at EL0)"
check "scp the 32-bit probe into the job" job_scp -q "$VM_COMPAT_PROBE" "$(job_host "$J"):compat"
out=$(job_ssh "$J" ./compat 2>&1) || true
sed 's/^/  AArch32 in job: /' <<<"$out"
check "in the job: the 32-bit binary runs (ARM is in the filter, not a bad arch)" grep -q '^compat-probe: done' <<<"$out"
answer() { awk -v n="$2" '$1 == n { print $2 }' <<<"$1"; }
# The filter's lists, from the source hostd was built from: a name added
# there without a call in compat-probe.c fails here.
listed() { awk -v l="$1" '$0 ~ l "\\[\\] = \\{" { f = 1; next } f && /NULL/ { exit }
                          f && match($0, /^[ \t]*"[a-z0-9_]+",/) { sub(/^[ \t]*"/, ""); sub(/".*/, ""); print }' \
        "$(dirname "$0")/../../../hostd/sandbox/job-seccomp.c"; }
absent=()
n=0
for list in eperm enosys; do
        want=${list^^}
        for c in $(listed "job_seccomp_denied_$list"); do
                n=$((n + 1))
                case $(answer "$out" "$c") in
                absent) absent+=("$c"); continue ;;
                "") fail "compat-probe.c has no call for $c (in job_seccomp_denied_$list)" ;;
                esac
                check "32-bit $c: $want in the job (the filter), $(answer "$base" "$c") as root without it" \
                        test "$(answer "$out" "$c")" = "$want" -a "$(answer "$base" "$c")" != "$want"
        done
done
check "the filter's lists were read ($n names)" test "$n" -gt 20
echo "not calls in the ARM EABI (nothing to reach): ${absent[*]}"
check "32-bit getppid (allowed) works in the job" test "$(answer "$out" getppid)" = OK
