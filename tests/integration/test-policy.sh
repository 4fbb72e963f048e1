#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The policy at the daemon level: hostd refuses to start on an invalid
# policy with file and line; a reload (hostctl reload or SIGHUP) applies a
# good policy, and keeps the old one in force when the new one is bad;
# `hostctl policy check` works without a daemon.
. "$(dirname "$0")/lib.sh"

PLAT=$(native_platform)
P="$WORK/policy.conf"

printf '[Jobs]\nSlots=2\n' >"$P"
check "policy check of a good file" "$HOSTCTL" policy check "$P"
check "policy check with no file (embedded default)" "$HOSTCTL" policy check

printf '[Jobs]\nSlots=2\nSlots=zero\n' >"$WORK/bad.conf"
rc=0; out=$("$HOSTCTL" policy check "$WORK/bad.conf" 2>&1) || rc=$?
check "policy check of a bad file fails with 2 (got $rc)" [ "$rc" -eq 2 ]
check "error names file:line" bash -c '[[ "$1" == *"$2:3"* ]]' _ "$out" "$WORK/bad.conf"

rc=0; out=$("$HOSTD" --policy "$WORK/bad.conf" --state-dir "$STATE" --control-socket "$SOCK" --log-target stderr 2>&1) || rc=$?
check "hostd refuses to start on an invalid policy (rc $rc)" [ "$rc" -ne 0 ]
check "and says where" bash -c '[[ "$1" == *"$2:3"* ]]' _ "$out" "$WORK/bad.conf"
check "no socket left behind" [ ! -e "$SOCK" ]
rc=0; "$HOSTD" --policy "$WORK/missing.conf" --state-dir "$STATE" --control-socket "$SOCK" --log-target stderr >/dev/null 2>&1 || rc=$?
check "hostd refuses a missing policy file (rc $rc)" [ "$rc" -ne 0 ]

start_hostd --policy "$P"
check "policy in force: 2 slots" [ "$(jqf .slots.total capacity)" = 2 ]

# Drop-in raises slots; reload applies it.
mkdir -p "$P.d"
printf '[Jobs]\nSlots=3\n' >"$P.d/50-more.conf"
r=$("$HOSTCTL" --json reload)
check "reload answer lists the drop-in" bash -c 'jq -r ".sources[]" <<<"$1" | grep -q 50-more.conf' _ "$r"
check "reload applied: 3 slots" [ "$(jqf .slots.total capacity)" = 3 ]

# A bad drop-in: reload fails, old policy stays.
printf '[Jobs]\nSlots=3\nMaxMemory=lots\n' >"$P.d/60-bad.conf"
rc=0; out=$("$HOSTCTL" reload 2>&1) || rc=$?
check "bad reload fails (rc $rc)" [ "$rc" -eq 2 ]
check "bad reload names file:line" bash -c '[[ "$1" == *"60-bad.conf:3"* ]]' _ "$out"
check "old policy still in force" [ "$(jqf .slots.total capacity)" = 3 ]
check "hostd still running" kill -0 "$HOSTD_PID"

# SIGHUP: same rules.
printf '[Jobs]\nSlots=1\n' >"$P.d/60-bad.conf"
kill -HUP "$HOSTD_PID"
for _ in $(seq 1 50); do [ "$(jqf .slots.total capacity)" = 1 ] && break; sleep 0.1; done
check "SIGHUP reload applied" [ "$(jqf .slots.total capacity)" = 1 ]
printf '[Jobs\n' >"$P.d/60-bad.conf"
kill -HUP "$HOSTD_PID"
for _ in $(seq 1 50); do grep -q "reload failed" "$LOG" && break; sleep 0.1; done
check "bad SIGHUP reload logged" grep -q "reload failed" "$LOG"
check "and the old policy kept" [ "$(jqf .slots.total capacity)" = 1 ]

# Fewer slots than jobs after a reload: no new jobs, nothing killed.
rm "$P.d/60-bad.conf"; "$HOSTCTL" reload >/dev/null
j1=$(jqf .job allocate --owner ns/a --platform "$PLAT")
j2=$(jqf .job allocate --owner ns/b --platform "$PLAT")
printf '[Jobs]\nSlots=1\n' >"$P.d/50-more.conf"; "$HOSTCTL" reload >/dev/null
check "over-full after reload: both jobs kept" [ "$(jqf '.jobs | length' jobs)" = 2 ]
check "over-full after reload: free is 0" [ "$(jqf .slots.free capacity)" = 0 ]
stop_hostd
finish
