#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The demo: installs dependencies, builds, starts hostd on loopback with the
# embedded default policy, and plays the project's main job end to end with
# stock clients: the controller asks for a slot over SSH; the build step
# pins the host key, uploads a workspace with rsync, builds and runs a
# container with podman inside the job's sandbox, downloads the result; the
# controller releases the slot and nothing is left.  Only the state dir,
# control socket and controller key point at a temporary directory, so the
# demo leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."

./tools/install-deps.sh
[ -d build ] || meson setup build >/dev/null
meson compile -C build >/dev/null
HOSTD=build/hostd/hostd
HOSTCTL=build/ctl/hostctl
PORT=2222

WORK=$(mktemp -d /tmp/hostd-demo.XXXXXX)
chmod 0755 "$WORK"
export HOSTD_CONTROL_SOCKET="$WORK/control.sock"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

pid=
cleanup() {
        if [ -n "$pid" ]; then
                # Release whatever the demo still holds, then stop hostd.
                for j in $("$HOSTCTL" --json jobs 2>/dev/null | jq -r '.jobs[].job' 2>/dev/null); do
                        "$HOSTCTL" release "$j" >/dev/null 2>&1 || true
                done
                kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
        fi
        rm -rf "$WORK"
}
trap cleanup EXIT

step "hostd $($HOSTD --version | cut -d' ' -f2): the embedded default policy is valid"
run "$HOSTCTL" policy check | head -n 3

step "Start hostd on 127.0.0.1:$PORT (embedded default policy; state in $WORK)"
ssh-keygen -q -t ed25519 -N '' -C controller -f "$WORK/controller"
install -m 600 "$WORK/controller.pub" "$WORK/controller_keys"
"$HOSTD" --listen "127.0.0.1:$PORT" --state-dir "$WORK/state" --control-socket "$WORK/control.sock" \
        --controller-keys "$WORK/controller_keys" --log-target stderr 2>"$WORK/hostd.log" &
pid=$!
for _ in $(seq 1 100); do "$HOSTCTL" capacity >/dev/null 2>&1 && break; sleep 0.1; done
run "$HOSTCTL" status

# The controller pins the host key from hostd's own files (an operator would
# take them from the host's install); build steps get the pin from allocate.
for k in "$WORK"/state/host-keys/*.pub; do echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$k")"; done >"$WORK/controller_known_hosts"
CTL=(ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$WORK/controller_known_hosts"
     -i "$WORK/controller" -p "$PORT" controller@127.0.0.1)
case "$(uname -m)" in x86_64) plat=linux/amd64 ;; aarch64) plat=linux/arm64 ;; *) plat="linux/$(uname -m)" ;; esac

step "The controller asks for a slot over SSH (allocate is idempotent per owner)"
printf '$ ssh controller@127.0.0.1 allocate --owner demo/taskrun-1 --platform %s --lease 1h --disk 2G\n' "$plat"
"${CTL[@]}" allocate --owner demo/taskrun-1 --platform "$plat" --lease 1h --disk 2G >"$WORK/allocate.json"
jq '{job, host, port, user_dir, lease_expires, quota, known_hosts, private_key: "(an OpenSSH private key, shown once)"}' "$WORK/allocate.json"
JOB=$(jq -r .job "$WORK/allocate.json")
USERDIR=$(jq -r .user_dir "$WORK/allocate.json")
(umask 077; jq -r .private_key "$WORK/allocate.json" >"$WORK/id_job")
jq -r .known_hosts "$WORK/allocate.json" >"$WORK/known_hosts"
SSHJ="ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$WORK/known_hosts -i $WORK/id_job -p $PORT"

step "The build step, with stock ssh/rsync and the pinned host key (StrictHostKeyChecking=yes)"
mkdir -p "$WORK/workspace/src"
cp /bin/busybox "$WORK/workspace/src/"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo built by hostd job %s > /hello"]\n' "$JOB" \
        >"$WORK/workspace/src/Containerfile"
run $SSHJ "$JOB@127.0.0.1" mkdir -p "$USERDIR/workspaces" "$USERDIR/results"
run rsync -razW -e "$SSHJ" "$WORK/workspace/src/" "$JOB@127.0.0.1:$USERDIR/workspaces/src/"
run $SSHJ "$JOB@127.0.0.1" "id; hostname; cd workspaces/src && podman build -q -t localhost/demo . && podman run --rm localhost/demo /bin/busybox cat /hello > ../../results/hello.txt"
run rsync -razW -e "$SSHJ" "$JOB@127.0.0.1:$USERDIR/results/" "$WORK/results/"
run cat "$WORK/results/hello.txt"

step "Inside, the job is root of its own namespaces; outside, it is the job's uid range and its quota"
run $SSHJ "$JOB@127.0.0.1" 'cat /proc/self/uid_map; df -h $HOME | tail -n 1; ls /proc | grep -c "^[0-9]"; ls '"$WORK/state"' 2>&1 | head -n 2'
run "$HOSTCTL" job "$JOB"

step "The controller releases the slot: it answers once everything is reclaimed"
printf '$ ssh controller@127.0.0.1 release %s\n' "$JOB"
"${CTL[@]}" release "$JOB" | jq '{job, state, ended_by, released}'
echo "left in the state dir's jobs/: $(ls "$WORK/state/jobs" | wc -l) entries"
run $SSHJ "$JOB@127.0.0.1" true || echo "(the released job's key is refused: exit status $?)"
run "$HOSTCTL" capacity

step "Operators: drain with a reason, and Prometheus metrics"
run "$HOSTCTL" drain --reason "demo maintenance"
run "$HOSTCTL" resume
"$HOSTCTL" metrics | grep -E '^hostd_(slots|allocations_total|releases_total|ssh_authentications_total)'

step "Stop hostd (SIGTERM); jobs would survive it and be re-adopted at the next start"
kill -TERM "$pid"; wait "$pid" || true; pid=
tail -n 3 "$WORK/hostd.log"
