# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers for integration tests: a real hostd as root on a temporary
# state dir and control socket, driven with the real hostctl.
#
# Environment (set by meson): HOSTD, HOSTCTL; optional HOSTD_TEST_WRAPPER=valgrind.

set -euo pipefail

: "${HOSTD:?HOSTD must point at the hostd binary}"
: "${HOSTCTL:?HOSTCTL must point at the hostctl binary}"

TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "/tmp/hostd-${TEST_NAME}.XXXXXX")
chmod 0755 "$WORK"
STATE="$WORK/state"
SOCK="$WORK/control.sock"
LOG="$WORK/hostd.log"
# A free port of our own, so tests run in parallel (ephemeral range, just released).
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# And uid ranges of our own: tests run in parallel, each with a hostd, and a
# release kills every process of a job's range.  16 ranges per port, so
# neighbouring ports (the kernel hands them out close together) never
# overlap: 64 + 4000 * 16 ranges stay below the 2^32 uid limit.
UID_POOL_START=$(( (64 + (PORT % 4000) * 16) * 65536 ))
HOSTD_PID=
export HOSTD_CONTROL_SOCKET="$SOCK"
failures=0
passes=0

# hostd pins and enters job sandboxes through pidfds (pidfd_open(2), 434
# on x86_64).  valgrind 3.19, Debian 12's, does not emulate that system
# call (nor seccomp(2)), so under it no job can be created: the tests skip
# rather than fail on the tool.  The ASan+UBSan build runs them instead.
if [ "${HOSTD_TEST_WRAPPER:-}" = valgrind ] &&
   ! valgrind --tool=none -q perl -e 'syscall(434, $$, 0) >= 0 or exit 1' 2>/dev/null; then
        echo "$TEST_NAME: skipped: this valgrind does not emulate pidfd_open(2), which hostd's sandbox needs"
        rm -rf "$WORK"
        exit 77
fi

wrap() {
        case "${HOSTD_TEST_WRAPPER:-}" in
        valgrind) echo "valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --log-file=$WORK/valgrind.%p.log" ;;
        *) echo "" ;;
        esac
}

# Job sandboxes outlive hostd by design (a restart must not kill builds),
# so a test that ends with jobs allocated takes their sandboxes down itself:
# the job's PID 1 (killing it ends the pid namespace), then loop devices and
# cgroups.  Only ours: matched by our uid pool.
kill_test_sandboxes() {
        local p base cg
        for p in $(pgrep -x hostd-init); do
                base=$(awk 'NR==1 {print $2}' "/proc/$p/uid_map" 2>/dev/null) || continue
                [ -n "$base" ] || continue
                if [ "$base" -ge "$UID_POOL_START" ] && [ "$base" -lt $((UID_POOL_START + 16 * 65536)) ]; then
                        kill -KILL "$p" 2>/dev/null || true
                fi
        done
        # Network=private: each job's pasta (root, outside the uid pool)
        # names its pid file in our state dir.
        for p in $(pgrep -f -- " -P $STATE/jobs/j[0-9a-f]+/pasta\.pid"); do
                kill -KILL "$p" 2>/dev/null || true
        done
        sleep 0.2
        losetup -a 2>/dev/null | grep -F "($STATE/jobs/" | cut -d: -f1 | xargs -r -n1 losetup -d 2>/dev/null || true
        cg=$(findmnt -t cgroup2 -no TARGET | head -n 1)/hostd.jobs
        for j in $(ls "$STATE/jobs" 2>/dev/null); do
                [ -d "$cg/$j" ] && find "$cg/$j" -depth -type d -exec rmdir {} + 2>/dev/null || true
        done
}

cleanup() {
        local rc=$?
        stop_hostd || true
        kill_test_sandboxes
        if [ "$rc" -ne 0 ] || [ "$failures" -ne 0 ]; then
                echo "--- hostd log ($LOG) ---"
                tail -n 60 "$LOG" 2>/dev/null || true
                for f in "$WORK"/valgrind.*.log; do [ -s "$f" ] && { echo "--- $f ---"; cat "$f"; }; done 2>/dev/null || true
        fi
        [ -n "${HOSTD_TEST_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { passes=$((passes + 1)); }
check() { # check DESCRIPTION COMMAND...
        local what=$1; shift
        if "$@"; then pass; else fail "$what"; fi
}

# Starts hostd with the embedded default policy (plus any extra args) and
# waits until its control socket answers.
start_hostd() {
        : >"$LOG"
        # shellcheck disable=SC2046
        $(wrap) "$HOSTD" --state-dir "$STATE" --control-socket "$SOCK" --listen "127.0.0.1:$PORT" \
                --set UIDPool.Start="$UID_POOL_START" --set UIDPool.Ranges=16 --log-target stderr "$@" >>"$LOG" 2>&1 &
        HOSTD_PID=$!
        for _ in $(seq 1 600); do
                if "$HOSTCTL" --json capacity >/dev/null 2>&1; then return 0; fi
                if ! kill -0 "$HOSTD_PID" 2>/dev/null; then
                        wait "$HOSTD_PID" || true
                        HOSTD_PID=
                        echo "hostd exited during start:" >&2; cat "$LOG" >&2
                        return 1
                fi
                sleep 0.1
        done
        echo "hostd did not answer within 60s" >&2
        return 1
}

# For a start that should fail: starts hostd like start_hostd and returns 1
# with its exit status in HOSTD_RC once it has exited, or 0 (HOSTD_PID set)
# if it came up after all.
start_hostd_expect_exit() {
        : >"$LOG"
        "$HOSTD" --state-dir "$STATE" --control-socket "$SOCK" --listen "127.0.0.1:$PORT" \
                --set UIDPool.Start="$UID_POOL_START" --set UIDPool.Ranges=16 --log-target stderr "$@" >>"$LOG" 2>&1 &
        HOSTD_PID=$!
        for _ in $(seq 1 600); do
                kill -0 "$HOSTD_PID" 2>/dev/null || break
                "$HOSTCTL" --json capacity >/dev/null 2>&1 && return 0
                sleep 0.1
        done
        kill -0 "$HOSTD_PID" 2>/dev/null && return 0
        HOSTD_RC=0
        wait "$HOSTD_PID" || HOSTD_RC=$?
        HOSTD_PID=
        return 1
}

stop_hostd() {
        [ -n "$HOSTD_PID" ] || return 0
        kill -TERM "$HOSTD_PID" 2>/dev/null || true
        local rc=0
        wait "$HOSTD_PID" || rc=$?
        HOSTD_PID=
        return $rc
}

kill9_hostd() {
        [ -n "$HOSTD_PID" ] || return 0
        kill -KILL "$HOSTD_PID" 2>/dev/null || true
        wait "$HOSTD_PID" 2>/dev/null || true
        HOSTD_PID=
}

hc() { "$HOSTCTL" "$@"; }
# JSON field of a hostctl --json answer: jqf '.job' allocate ...
jqf() { local f=$1; shift; "$HOSTCTL" --json "$@" | jq -r "$f"; }

native_platform() {
        case "$(uname -m)" in
        x86_64) echo linux/amd64 ;;
        aarch64) echo linux/arm64 ;;
        *) echo "linux/$(uname -m)" ;;
        esac
}

finish() {
        echo "$TEST_NAME: $passes passed, $failures failed"
        [ "$failures" -eq 0 ]
}
