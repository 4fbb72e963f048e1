#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Leases run on a timer: a job whose lease ran out while hostd was down is
# reclaimed at start, a renewed one is kept, and a lease that runs out while
# hostd runs is reclaimed by the timer.  Takes about two minutes (the
# shortest lease is 60 s).
. "$(dirname "$0")/lib.sh"

PLAT=$(native_platform)
start_hostd
a=$(jqf .job allocate --owner ns/expires --platform "$PLAT" --lease 60)
b=$(jqf .job allocate --owner ns/renewed --platform "$PLAT" --lease 60)
"$HOSTCTL" renew "$b" --lease 600 >/dev/null
kill9_hostd
sleep 62
start_hostd
for _ in $(seq 1 100); do [ "$(jqf .state job "$a")" = released ] && break; sleep 0.1; done
check "lease that ran out while down: reclaimed at start" [ "$(jqf .state job "$a")" = released ]
check "ended by lease expiry" [ "$(jqf .ended_by job "$a")" = lease-expired ]
check "its tree is gone" [ ! -e "$STATE/jobs/$a" ]
check "renewed job still active" [ "$(jqf .state job "$b")" = active ]

c=$(jqf .job allocate --owner ns/live --platform "$PLAT" --lease 60)
exp=$(jqf .lease_expires job "$c")
# Wait for the timer (no polling inside hostd): up to 75 s.
for _ in $(seq 1 75); do [ "$(jqf .state job "$c")" = released ] && break; sleep 1; done
check "live lease expiry reclaimed the job" [ "$(jqf .state job "$c")" = released ]
check "not before its lease_expires ($exp)" [ "$(date -u +%s)" -ge "$(date -u -d "$exp" +%s)" ]
check "expiry counted" bash -c '"$1" metrics | grep -q "^hostd_lease_expiries_total 2$"' _ "$HOSTCTL"
stop_hostd
finish
