#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hostd.socket style socket activation: systemd passes the listening socket
# (LISTEN_FDS) and hostd serves SSH on it instead of binding its own.
. "$(dirname "$0")/lib.sh"

command -v systemd-socket-activate >/dev/null || { echo "systemd-socket-activate missing"; exit 77; }

ssh-keygen -q -t ed25519 -N '' -f "$WORK/ctl"
install -m 600 "$WORK/ctl.pub" "$WORK/controller_keys"

# systemd-socket-activate binds, then starts hostd at the first connection
# with the socket as fd 3; the policy's listen port (1) would fail to bind,
# which proves the passed socket is the one used.
systemd-socket-activate -l "127.0.0.1:$PORT" -E HOSTD_LOG_LEVEL=debug \
        "$HOSTD" --state-dir "$STATE" --control-socket "$SOCK" --listen 127.0.0.1:1 \
        --controller-keys "$WORK/controller_keys" --log-target stderr >>"$LOG" 2>&1 &
HOSTD_PID=$!
for _ in $(seq 1 50); do grep -q "Listening on" "$LOG" && break; sleep 0.1; done

ssh_ctl() {
        ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
                -o ConnectTimeout=20 -i "$WORK/ctl" -p "$PORT" controller@127.0.0.1 "$@" 2>>"$WORK/ssh.err"
}
cap=$(ssh_ctl capacity) || true
check "capacity over the passed socket" [ "$(jq -r .apiVersion <<<"$cap" 2>/dev/null)" = hostd/v1 ]
check "hostd says it uses the passed socket" grep -q "passed by systemd" "$LOG"
check "advertises the passed socket's port, not the policy's" [ "$(jq -r .ssh.port <<<"$cap" 2>/dev/null)" = "$PORT" ]
check "a second connection is served too" [ "$(ssh_ctl capacity | jq -r .slots.total)" = 4 ]
stop_hostd || true
finish
