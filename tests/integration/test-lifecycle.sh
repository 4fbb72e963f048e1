#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The whole job lifecycle through hostctl against a real hostd: capacity,
# idempotent allocate, slots, drain/resume, renew, release, metrics, and
# refusals (unauthorised peer, daemon not running).
. "$(dirname "$0")/lib.sh"

PLAT=$(native_platform)

# hostctl without a daemon: one line saying so, exit 69.
rc=0; out=$("$HOSTCTL" --socket "$WORK/none.sock" capacity 2>&1) || rc=$?
check "not-running exit status is 69 (got $rc)" [ "$rc" -eq 69 ]
check "not-running message names the socket and how to start" \
        bash -c '[[ "$1" == *"not running"*"$2"* && "$1" == *"start it"* && $(wc -l <<<"$1") -eq 1 ]]' _ "$out" "$WORK/none.sock"

start_hostd

cap=$("$HOSTCTL" --json capacity)
check "capacity apiVersion" [ "$(jq -r .apiVersion <<<"$cap")" = hostd/v1 ]
check "capacity 4 slots free" [ "$(jq -r '.slots.total, .slots.free' <<<"$cap" | tr '\n' ' ')" = "4 4 " ]
check "capacity native platform" [ "$(jq -r '.platforms[] | select(.emulated == false) | .platform' <<<"$cap")" = "$PLAT" ]
check "capacity measures CPUs" [ "$(jq -r .resources.cpus <<<"$cap")" = "$(nproc)" ]
check "capacity: jobs are sandboxed" [ "$(jq -r '.enforcement.job_isolation, .enforcement.seccomp' <<<"$cap" | tr '\n' ' ')" = "true true " ]
case $(uname -m) in
x86_64) abis='x86_64 x86 x32' ;;
aarch64) abis='aarch64 arm' ;;
*) abis=native ;;
esac
check "capacity: the seccomp filter covers $abis" [ "$(jq -r '.enforcement.seccomp_abis | join(" ")' <<<"$cap")" = "$abis" ]
# Each cgroup limit is reported enforced exactly when this host's cgroup v2
# hierarchy has the controller (this machine's has none), never pretended.
cg2=$(findmnt -t cgroup2 -no TARGET | head -n 1)
for c in cpu memory pids io; do
        want=false
        [ -n "$cg2" ] && grep -qw "$c" "$cg2/cgroup.controllers" && want=true
        check "enforcement.cgroup.$c is $want" [ "$(jq -r ".enforcement.cgroup.$c" <<<"$cap")" = "$want" ]
done
want=false; [ -w /dev/loop-control ] && command -v mkfs.ext4 >/dev/null && want=true
check "enforcement.disk_quota is $want" [ "$(jq -r .enforcement.disk_quota <<<"$cap")" = "$want" ]
check "capacity boot id" [ "$(jq -r .boot_id <<<"$cap")" = "$(tr -d - </proc/sys/kernel/random/boot_id)" ]
check "human capacity has a slot gauge" bash -c '"$1" capacity | grep -q "0/4"' _ "$HOSTCTL"

# allocate is idempotent per owner
a1=$("$HOSTCTL" --json allocate --owner tenant-a/run-1 --platform "$PLAT" --lease 1h)
j1=$(jq -r .job <<<"$a1")
a1b=$("$HOSTCTL" --json allocate --owner tenant-a/run-1 --platform "$PLAT")
check "retried allocate returns the same job" [ "$(jq -r .job <<<"$a1b")" = "$j1" ]
check "user_dir exists" [ -d "$(jq -r .user_dir <<<"$a1")" ]
check "user_dir is inside the state dir" [ "$(jq -r .user_dir <<<"$a1")" = "$STATE/jobs/$j1/home" ]
check "lease granted" [ "$(jq -r .lease_seconds <<<"$a1")" = 3600 ]

j2=$(jqf .job allocate --owner tenant-a/run-2 --platform "$PLAT")
j3=$(jqf .job allocate --owner tenant-b/run-3 --platform "$PLAT")
j4=$(jqf .job allocate --owner tenant-b/run-4 --platform "$PLAT")
check "four distinct jobs" [ "$(printf '%s\n' "$j1" "$j2" "$j3" "$j4" | sort -u | wc -l)" = 4 ]

rc=0; out=$("$HOSTCTL" allocate --owner tenant-c/run-5 --platform "$PLAT" 2>&1) || rc=$?
check "fifth allocate: no-capacity exit 4 (got $rc)" [ "$rc" -eq 4 ]
check "no-capacity message" bash -c '[[ "$1" == *no-capacity*"all 4 slots"* ]]' _ "$out"
check "jobs lists 4" [ "$(jqf '.jobs | length' jobs)" = 4 ]
check "human jobs table lists the owner" bash -c '"$1" jobs | grep -q "tenant-b/run-3"' _ "$HOSTCTL"

# bad requests are named
rc=0; out=$("$HOSTCTL" allocate --owner x/y --platform "$PLAT" --memory 1T 2>&1) || rc=$?
check "over max memory is bad-request (rc $rc)" [ "$rc" -eq 2 ]
check "message names MaxMemory" bash -c '[[ "$1" == *MaxMemory* ]]' _ "$out"
rc=0; "$HOSTCTL" job j000000000000 >/dev/null 2>&1 || rc=$?
check "unknown job exit 3 (got $rc)" [ "$rc" -eq 3 ]
rc=0; "$HOSTCTL" allocate --owner x/y --platform linux/mips64 >/dev/null 2>&1 || rc=$?
check "unsupported platform exit 6 (got $rc)" [ "$rc" -eq 6 ]

# renew
r=$("$HOSTCTL" --json renew "$j2" --lease 600)
check "renew sets lease" [ "$(jq -r .lease_seconds <<<"$r")" = 600 ]
r=$("$HOSTCTL" --json renew "$j2" --lease 30d)
check "renew clamps to MaxLease (24h)" [ "$(jq -r .lease_seconds <<<"$r")" = 86400 ]

# drain/resume
"$HOSTCTL" release "$j4" >/dev/null
"$HOSTCTL" drain --reason "kernel update" >/dev/null
rc=0; out=$("$HOSTCTL" allocate --owner tenant-c/run-6 --platform "$PLAT" 2>&1) || rc=$?
check "draining exit 5 (got $rc)" [ "$rc" -eq 5 ]
check "draining reason in capacity" [ "$(jqf .drain_reason capacity)" = "kernel update" ]
check "not allocatable while draining" [ "$(jqf .allocatable capacity)" = false ]
check "retry of an existing owner still answers while draining" [ "$(jqf .job allocate --owner tenant-a/run-1 --platform "$PLAT")" = "$j1" ]
"$HOSTCTL" resume >/dev/null
check "resumed" [ "$(jqf .draining capacity)" = false ]

# release: returns when reclaimed, removes the tree, idempotent
touch "$STATE/jobs/$j1/home/file"; mkdir -p "$STATE/jobs/$j1/home/a/b/c"; ln -s /etc "$STATE/jobs/$j1/home/etc-link"
rel=$("$HOSTCTL" --json release "$j1")
check "release answer says released" [ "$(jq -r .state <<<"$rel")" = released ]
check "tree is gone when release returns" [ ! -e "$STATE/jobs/$j1" ]
check "symlink target untouched" [ -f /etc/hostname ] || [ -d /etc ]
check "second release is idempotent" [ "$(jqf .state release "$j1")" = released ]
check "slot freed" [ "$(jqf .slots.free capacity)" = 2 ]
check "released job still visible by id" [ "$(jqf .ended_by job "$j1")" = release ]
rc=0; "$HOSTCTL" renew "$j1" --lease 600 >/dev/null 2>&1 || rc=$?
check "renew of released job is unknown-job (rc $rc)" [ "$rc" -eq 3 ]

# metrics (Prometheus text; each family has HELP and TYPE)
m=$("$HOSTCTL" metrics)
check "metrics allocations counter" grep -q '^hostd_allocations_total 4$' <<<"$m"
check "metrics releases counter" grep -q '^hostd_releases_total 2$' <<<"$m"
check "metrics slots" grep -q '^hostd_slots 4$' <<<"$m"
check "every family has HELP and TYPE" bash -c '
        fams=$(grep -v "^#" <<<"$1" | sed -E "s/(_bucket|_sum|_count)?(\{.*)? .*//" | sort -u)
        for f in $fams; do grep -q "^# TYPE $f " <<<"$1" || grep -q "^# TYPE ${f%_bucket} " <<<"$1" || { echo "no TYPE for $f"; exit 1; }; done' _ "$m"

# An unauthorised peer is refused clearly and the daemon keeps serving.
rc=0; out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$HOSTCTL" capacity 2>&1) || rc=$?
check "nobody is refused with exit 7 (got $rc)" [ "$rc" -eq 7 ]
check "refusal names the rule" bash -c '[[ "$1" == *root* ]]' _ "$out"
check "still serving" [ "$(jqf .apiVersion capacity)" = hostd/v1 ]

# Control group: a member of the configured group is let in.
getent group hostd-test-ops >/dev/null || groupadd -r hostd-test-ops
stop_hostd
printf '[Control]\nGroup=hostd-test-ops\n' >"$WORK/policy.conf"
start_hostd --policy "$WORK/policy.conf"
rc=0; setpriv --reuid=65534 --regid=65534 --groups="$(getent group hostd-test-ops | cut -d: -f3)" "$HOSTCTL" capacity >/dev/null 2>&1 || rc=$?
check "control group member allowed (rc $rc)" [ "$rc" -eq 0 ]
check "socket is root:group 0660" [ "$(stat -c '%U:%G %a' "$SOCK")" = "root:hostd-test-ops 660" ]

stop_hostd
check "state survives a clean stop" [ "$(ls "$STATE/registry" | wc -l)" -ge 3 ]
finish
