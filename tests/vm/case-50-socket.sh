#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hostd.socket: systemd holds the SSH port and passes it to hostd, so a
# controller that connects while hostd restarts waits in the backlog
# instead of being refused.  Runs last: it leaves the socket in charge.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

vm_root "mkdir -p /etc/systemd/system/hostd.socket.d && cat >/etc/systemd/system/hostd.socket.d/vm.conf" <<EOF
[Socket]
ListenStream=
ListenStream=0.0.0.0:$VM_HOSTD_PORT
EOF
vm_root 'systemctl daemon-reload && systemctl stop hostd && systemctl enable --now hostd.socket'
check "the socket listens while hostd is stopped" vm_root 'systemctl is-active -q hostd.socket && ! systemctl is-active -q hostd'
# The first connection starts hostd.service through the socket.
check "a controller connection starts hostd" test "$(controller capacity | jq -r .apiVersion)" = hostd/v1
check "hostd serves the passed socket" \
        vm_root "journalctl -u hostd -o cat _PID=\$(systemctl show -p MainPID --value hostd) | grep -q 'Serving SSH on 1 socket(s) passed by systemd'"

a=$(allocate --owner vm/socket --platform "$VM_PLATFORM")
J=$(jq -r .job <<<"$a")
check "allocate advertises the socket's port" test "$(jq -r .port <<<"$a")" = "$VM_HOSTD_PORT"

# Restart hostd while a controller keeps asking: with the port held by
# systemd, every request is answered (late, not refused).
vm_root 'systemctl restart hostd' &
restart=$!
failures=0
asked=0
while kill -0 "$restart" 2>/dev/null || ((asked < 3)); do
        controller capacity >/dev/null || failures=$((failures + 1))
        asked=$((asked + 1))
done
wait "$restart"
echo "$asked requests during and after the restart"
check "no controller request failed across the restart" test "$failures" = 0
check "the job survived it" test "$(job_ssh "$J" echo alive)" = alive
controller release "$J" >/dev/null
