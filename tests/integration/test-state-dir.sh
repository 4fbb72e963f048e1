#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A state directory the jobs' uids cannot reach (a parent without the
# search bit for others, such as a 0700 mktemp dir): hostd refuses to start,
# exit status 78 (EX_CONFIG), naming the directory, its mode and the fix.
# If a parent loses the bit while hostd runs, allocate fails with a message
# that names it instead of a bare "internal" error.
. "$(dirname "$0")/lib.sh"

PLATFORM=$(native_platform)
PRIVATE="$WORK/private"
mkdir -m 0700 "$PRIVATE"
STATE="$PRIVATE/state"

# ---- refused at start ----------------------------------------------------------------
if start_hostd_expect_exit; then
        fail "hostd started on a state dir under a 0700 directory"
        out=$("$HOSTCTL" allocate --owner t/a --platform "$PLATFORM" 2>&1) && rc=0 || rc=$?
        echo "allocate: exit $rc: $out"
        check "allocate names the directory rather than a bare internal error" grep -qF "$PRIVATE " <<<"$out"
        stop_hostd || true
else
        cat "$LOG"
        check "hostd exits with status 78 (EX_CONFIG)" [ "$HOSTD_RC" = 78 ]
        check "the log names the directory and its mode" grep -qF "$PRIVATE (mode 0700) may not be searched" "$LOG"
        check "the log gives the fix" grep -qF "chmod o+x $PRIVATE, or choose another --state-dir" "$LOG"
fi

# ---- fixed: it starts and allocates --------------------------------------------------
chmod 0711 "$PRIVATE"
start_hostd
check "with o+x on the parent, jobs are allocated" [ "$(jqf .state allocate --owner t/b --platform "$PLATFORM")" = active ]

# ---- the bit lost while hostd runs -----------------------------------------------------
chmod 0700 "$PRIVATE"
out=$("$HOSTCTL" allocate --owner t/c --platform "$PLATFORM" 2>&1) && rc=0 || rc=$?
echo "allocate: exit $rc: $out"
check "allocate fails" [ "$rc" != 0 ]
check "its error names the directory, its mode and the fix" \
        grep -qF "$PRIVATE (mode 0700) may not be searched by the jobs' uids" <<<"$out"
check "the log names it too" grep -qF "chmod o+x $PRIVATE" "$LOG"
chmod 0711 "$PRIVATE"
check "after the fix, jobs are allocated again" [ "$(jqf .state allocate --owner t/d --platform "$PLATFORM")" = active ]

stop_hostd
finish
