#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Logins that must fail, each with the client failing, the reason in the
# daemon log, and hostd still serving afterwards: an unknown key, another
# job's key, a released job, the controller key as a job, a job key as the
# controller, a password attempt, too many keys; and an unknown user.
# Then oversized requests from a job: a huge command, a flood of variables.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

start_hostd_ssh
JA=$(alloc_job a)
JB=$(alloc_job b)
JC=$(alloc_job c)

# refused DESCRIPTION LOG-REGEX SSH-ARGS...: the client fails with "Permission
# denied", the log gets a matching line, and hostd still serves job a.
refused() {
        local what=$1 re=$2; shift 2
        local rc=0 out
        out=$(ssh "${SSH_OPTS[@]}" -p "$PORT" "$@" 2>&1) || rc=$?
        check "$what: the client fails (rc $rc)" [ "$rc" -eq 255 ]
        check "$what: Permission denied" grep -q 'Permission denied (publickey)' <<<"$out"
        check "$what: nothing ran" bash -c '! grep -q RAN <<<"$1"' _ "$out"
        check "$what: the log says why" log_has "$re"
        check "$what: hostd still serves" still_serving a
}

ssh-keygen -q -t ed25519 -N '' -f "$WORK/stranger"
refused "unknown key" "Refused SSH key for '$JA' from 127\.0\.0\.1: key is not this job's key" \
        -o UserKnownHostsFile="$(jkh a)" -i "$WORK/stranger" "$JA@127.0.0.1" echo RAN

refused "job a's key as job b" "Refused SSH key for '$JB' from 127\.0\.0\.1: key is not this job's key" \
        -o UserKnownHostsFile="$(jkh b)" -i "$(jkey a)" "$JB@127.0.0.1" echo RAN

# A released job: its key no longer opens anything.
check "job c works before release" [ "$(sshj c echo ok)" = ok ]
hc release "$JC" >/dev/null
refused "released job" "Refused SSH key for '$JC' from 127\.0\.0\.1: (job was released|no such job)" \
        -o UserKnownHostsFile="$(jkh c)" -i "$(jkey c)" "$JC@127.0.0.1" echo RAN

refused "controller key as a job" "Refused SSH key for '$JA' from 127\.0\.0\.1: key is not this job's key" \
        -o UserKnownHostsFile="$(jkh a)" -i "$CTL_KEY" "$JA@127.0.0.1" echo RAN

refused "job key as the controller" "Refused SSH key for 'controller' from 127\.0\.0\.1: key is not in the controller keys" \
        -o UserKnownHostsFile="$CTL_KH" -i "$(jkey a)" controller@127.0.0.1 capacity

refused "unknown user" "Refused SSH key for 'root' from 127\.0\.0\.1: no such user" \
        -o UserKnownHostsFile="$(jkh a)" -i "$(jkey a)" root@127.0.0.1 echo RAN

refused "well-formed job id that does not exist" "Refused SSH key for 'j000000000000' from 127\.0\.0\.1: no such job" \
        -o UserKnownHostsFile="$(jkh a)" -i "$(jkey a)" j000000000000@127.0.0.1 echo RAN

# A password attempt: only publickey is offered, so a batch client gives up at once.
rc=0; out=$(ssh "${SSH_OPTS[@]}" -v -p "$PORT" -o UserKnownHostsFile="$(jkh a)" \
        -o PreferredAuthentications=password -o PubkeyAuthentication=no "$JA@127.0.0.1" echo RAN 2>&1) || rc=$?
check "password: the client fails (rc $rc)" [ "$rc" -eq 255 ]
check "password: Permission denied" grep -q 'Permission denied (publickey)' <<<"$out"
check "password: the server offers only publickey" grep -q 'Authentications that can continue: publickey$' <<<"$(tr -d '\r' <<<"$out")"
check "password: the log says why" log_has "Connection from 127\.0\.0\.1 closed before authenticating \(0 key\(s\) refused; only publickey is accepted\)"
check "password: hostd still serves" still_serving a
rc=0; out=$(ssh "${SSH_OPTS[@]}" -p "$PORT" -o UserKnownHostsFile="$(jkh a)" \
        -o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no "$JA@127.0.0.1" echo RAN 2>&1) || rc=$?
check "keyboard-interactive: the client fails (rc $rc)" [ "$rc" -eq 255 ]
check "keyboard-interactive: Permission denied" grep -q 'Permission denied (publickey)' <<<"$out"

# Too many keys: MaxAuthTries ends the connection, the right key comes too late.
for i in 1 2 3 4 5 6 7; do ssh-keygen -q -t ed25519 -N '' -f "$WORK/k$i"; done
rc=0; out=$(ssh "${SSH_OPTS[@]}" -p "$PORT" -o UserKnownHostsFile="$(jkh a)" \
        -i "$WORK/k1" -i "$WORK/k2" -i "$WORK/k3" -i "$WORK/k4" -i "$WORK/k5" -i "$WORK/k6" -i "$WORK/k7" \
        -i "$(jkey a)" "$JA@127.0.0.1" echo RAN 2>&1) || rc=$?
check "MaxAuthTries: the client fails (rc $rc)" [ "$rc" -eq 255 ]
check "MaxAuthTries: nothing ran" bash -c '! grep -q RAN <<<"$1"' _ "$out"
check "MaxAuthTries: the log says why" log_has "Too many authentication failures from 127\.0\.0\.1 \(MaxAuthTries=6\)"
check "MaxAuthTries: hostd still serves" still_serving a

# Oversized requests from an authenticated job: a command past what the
# session protocol carries, and a flood of variables.  Only that request
# is refused; the connection's other channels and hostd go on.
pad=$(head -c 100000 /dev/zero | tr '\0' x)
check "a command of 90 kB runs" [ "$(sshj a ": ${pad:0:90000}; echo ran")" = ran ]
rc=0; out=$(sshj a : "$pad" "$pad" "; echo ran" 2>&1) || rc=$?
check "a command of 200 kB is refused (rc $rc)" [ "$rc" -eq 255 ]
check "... as a failed exec request, not a dropped connection" grep -q 'exec request failed' <<<"$out"
check "... and the log says why" log_has "Refused an oversized exec request from 127\.0\.0\.1: the command and its variables exceed"
# SendEnv, from the client's environment: ssh keeps only the first SetEnv=.
out=$(for i in $(seq 1 100); do export "LC_FLOOD$i=$(head -c 4000 /dev/zero | tr '\0' y)"; done
      ssh "${SSH_OPTS[@]}" -o "SendEnv=LC_FLOOD*" -o UserKnownHostsFile="$(jkh a)" -i "$(jkey a)" -p "$PORT" \
              "$JA@127.0.0.1" 'env | grep -c ^LC_FLOOD' 2>&1) || true
check "100 variables of 4 kB: the command runs with the first 16 kB of them ($out arrived)" \
        [ "$out" -ge 1 ] && [ "$out" -le 4 ]
check "oversized requests: hostd still serves" still_serving a

# The refusals are counted.
check "failures are counted in the metrics" \
        bash -c '[ "$("$1" metrics | awk "/hostd_ssh_authentications_total\\{result=\"failure\"\\}/ { print \$2 }")" -ge 7 ]' _ "$HOSTCTL"
check "job b still works with its own key" [ "$(sshj b echo ok)" = ok ]
check_no_crash
finish
