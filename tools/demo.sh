#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The demo: installs dependencies, builds, starts hostd on loopback with the
# embedded default policy (only the state dir and control socket point at a
# temporary directory, so the demo leaves nothing behind), walks through
# what it does at this stage, and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

./tools/install-deps.sh
[ -d build ] || meson setup build >/dev/null
meson compile -C build >/dev/null
HOSTD=build/hostd/hostd
HOSTCTL=build/ctl/hostctl

WORK=$(mktemp -d /tmp/hostd-demo.XXXXXX)
chmod 0755 "$WORK"
export HOSTD_CONTROL_SOCKET="$WORK/control.sock"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

pid=
cleanup() {
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
        rm -rf "$WORK"
}
trap cleanup EXIT

step "hostd $($HOSTD --version | cut -d' ' -f2): the embedded default policy is valid"
run "$HOSTCTL" policy check | head -n 3

step "Start hostd on loopback (embedded default policy; state in $WORK)"
"$HOSTD" --listen 127.0.0.1:2222 --state-dir "$WORK/state" --control-socket "$WORK/control.sock" \
        --log-target stderr 2>"$WORK/hostd.log" &
pid=$!
for _ in $(seq 1 100); do "$HOSTCTL" capacity >/dev/null 2>&1 && break; sleep 0.1; done
run "$HOSTCTL" status

case "$(uname -m)" in x86_64) plat=linux/amd64 ;; aarch64) plat=linux/arm64 ;; *) plat="linux/$(uname -m)" ;; esac

step "The controller asks for a slot (allocate is idempotent per owner)"
run "$HOSTCTL" allocate --owner demo/taskrun-1 --platform "$plat" --lease 1h --cpus 2 --memory 4G
job=$("$HOSTCTL" --json allocate --owner demo/taskrun-1 --platform "$plat" | jq -r .job)
echo "A retried allocate for demo/taskrun-1 answers the same job: $job"
run "$HOSTCTL" allocate --owner demo/taskrun-2 --platform "$plat" >/dev/null
run "$HOSTCTL" jobs

step "A full host says so (policy has 4 slots; fill them, then ask again)"
"$HOSTCTL" allocate --owner demo/taskrun-3 --platform "$plat" >/dev/null
"$HOSTCTL" allocate --owner demo/taskrun-4 --platform "$plat" >/dev/null
run "$HOSTCTL" allocate --owner demo/taskrun-5 --platform "$plat" || echo "(exit status $?: no-capacity)"

step "Release returns once the job's tree is reclaimed; only then is the slot free"
echo "some build output" >"$WORK/state/jobs/$job/home/result.txt"
run "$HOSTCTL" release "$job"
ls "$WORK/state/jobs/$job" 2>/dev/null || echo "$WORK/state/jobs/$job: gone"
run "$HOSTCTL" capacity

step "Operators: drain with a reason, and Prometheus metrics"
run "$HOSTCTL" drain --reason "demo maintenance"
run "$HOSTCTL" allocate --owner demo/taskrun-6 --platform "$plat" || echo "(exit status $?: draining)"
run "$HOSTCTL" resume
run "$HOSTCTL" metrics | grep -E '^hostd_(slots|jobs|allocations_total|releases_total)'

step "Stop hostd (SIGTERM); its jobs are durable in the state dir and come back at the next start"
kill -TERM "$pid"; wait "$pid" || true; pid=
tail -n 4 "$WORK/hostd.log"
echo
echo "Not served yet at this stage: SSH sessions and sandboxes (capacity's \"enforcement\" says so)."
