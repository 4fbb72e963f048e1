#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Many source addresses against the startup caps (issue 13, point 4).  A job
# on the host, or an attacker with a whole network, holds silent connections
# from 127.0.0.2, .3, … and must not lock out the controller and the jobs:
#   1. loopback is one source: 200 addresses of 127.0.0.0/8 get
#      PerSourceMaxStartups between them, and the controller, also on
#      loopback, gets a reserved slot (this part needs no new policy key, so
#      it runs against older hostd binaries, which it shows locked out);
#   2. SourcePrefixIPv4=24: 200 addresses in one /24 are one source, and a
#      job's ssh from another /24 is served;
#   3. MaxSessionsPerJob: the N+1th concurrent ssh connection of a job is
#      refused with a message, the others are served;
#   4. ControllerStartups with ControllerSources= empty: once the shared
#      pool is full, only the address the controller logged in from gets in,
#      as the controller only, and only ControllerStartups times at once.
# Every connection is from and to loopback (127.0.0.0/8), at most 250 at a
# time, each held for at most 150 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

# 200 addresses, one connection each: 127.0.0.2 … 127.0.0.201.
many() { local i; for i in $(seq 2 201); do echo "127.0.0.$i:1"; done; }

# The controller over SSH, with a time limit.
ctl_capacity() { [ "$(timeout 30 ssh "${SSH_OPTS[@]}" -o UserKnownHostsFile="$CTL_KH" -i "$CTL_KEY" -p "$PORT" \
                     controller@127.0.0.1 capacity | jq -r .apiVersion)" = hostd/v1 ]; }
not() { ! "$@" 2>/dev/null; }
procs_are() { [ "$(count_session_procs)" -eq "$1" ]; }
# sshj_from SRC NAME COMMAND...: sshj from the given local address.
sshj_from() {
        local src=$1 name=$2; shift 2
        timeout 30 ssh "${SSH_OPTS[@]}" -b "$src" -o UserKnownHostsFile="$(jkh "$name")" -i "$(jkey "$name")" \
                -p "$PORT" "$(jid "$name")@127.0.0.1" "$@"
}

# Does this hostd know the new keys?  An older one refuses them: then only
# part 1 runs (it needs none).
printf '[SSH]\nSourcePrefixIPv4=24\nControllerStartups=3\nMaxSessionsPerJob=3\nLocalSourcesAsOne=no\n' >"$WORK/probe.conf"
NEW_KEYS=yes
"$HOSTCTL" policy check "$WORK/probe.conf" >/dev/null 2>&1 || NEW_KEYS=

# ---- 1. loopback is one source; the controller keeps a reserved slot ------------------
MAX=20
PER=5
printf '[SSH]\nMaxStartups=%d\nPerSourceMaxStartups=%d\nLoginGraceTime=120s\n' $MAX $PER >"$WORK/one.conf"
start_hostd_ssh --policy "$WORK/one.conf"
# The controller logs in once (allocate), from 127.0.0.1.
alloc_job a >/dev/null
check "served before the flood" still_serving a

# shellcheck disable=SC2046
hold one $(many)
check "200 connections were made" [ "$(admitted one connections)" = 200 ]
check "loopback is one source: at most PerSourceMaxStartups=$PER of 200 loopback addresses admitted (got $(admitted one total))" \
        [ "$(admitted one total)" -le $PER ]
check "... and the cap was reached, not something lower (got $(admitted one total))" [ "$(admitted one total)" -ge $PER ]
for i in 1 2 3; do
        check "the controller (127.0.0.1, ControllerSources empty) gets a capacity answer during the flood ($i)" ctl_capacity
done
if [ -n "$NEW_KEYS" ]; then
        check "the log says the controller took a reserved slot" \
                log_has "Admitting a connection from 127\.0\.0\.1 to a reserved controller slot \(ControllerStartups=10\)"
fi
unhold one
check "the held connections go away" wait_for 30 no_session_procs
check "served after the flood" still_serving a
check_no_crash
stop_hostd

if [ -z "$NEW_KEYS" ]; then
        echo "this hostd does not know SourcePrefixIPv4=, ControllerStartups=, MaxSessionsPerJob=: parts 2-4 skipped"
        finish
fi

# ---- 2. SourcePrefixIPv4=24: one /24 is one source ---------------------------------------
printf '[SSH]\nMaxStartups=%d\nPerSourceMaxStartups=%d\nLoginGraceTime=120s\nLocalSourcesAsOne=no\nSourcePrefixIPv4=24\n' \
        $MAX $PER >"$WORK/net.conf"
start_hostd_ssh --policy "$WORK/net.conf"
alloc_job a >/dev/null
# 200 addresses of 127.0.0.0/24, then 10 connections from 10 addresses of 127.0.1.0/24.
# shellcheck disable=SC2046
hold net $(many) $(for i in $(seq 2 11); do echo "127.0.1.$i:1"; done)
check "SourcePrefixIPv4=24: 200 addresses of 127.0.0.0/24 get PerSourceMaxStartups=$PER (got $(admitted net 127.0.0.0/24))" \
        [ "$(admitted net 127.0.0.0/24)" = $PER ]
check "... and 127.0.1.0/24 is another source with its own $PER (got $(admitted net 127.0.1.0/24))" \
        [ "$(admitted net 127.0.1.0/24)" = $PER ]
check "a job's ssh command from 127.0.2.1 runs during the flood" [ "$(sshj_from 127.0.2.1 a echo ok)" = ok ]
check "the controller, in the flooded /24, gets a capacity answer" ctl_capacity
m=$(hc metrics)
check "the per-source rejections are counted" \
        bash -c '[ "$(awk "/^hostd_ssh_rejected_total\\{reason=\"per-source-max-startups\"\\}/ { print \$2 }" <<<"$1")" -ge 190 ]' _ "$m"
unhold net
check "the held connections go away" wait_for 30 no_session_procs
check_no_crash
stop_hostd

# ---- 3. MaxSessionsPerJob -------------------------------------------------------------------
CAP=3
printf '[SSH]\nMaxSessionsPerJob=%d\n' $CAP >"$WORK/cap.conf"
start_hostd_ssh --policy "$WORK/cap.conf"
alloc_job a >/dev/null
alloc_job b >/dev/null
# CAP sessions that wait for a line on stdin (a fifo the test holds).
declare -a FIFO_FD HELD_PID
for i in $(seq 1 $CAP); do
        mkfifo "$WORK/in.$i"
        sshj a 'echo up; read x; echo "served $x"' <"$WORK/in.$i" >"$WORK/out.$i" 2>"$WORK/err.$i" &
        HELD_PID[$i]=$!
        exec {fd}>"$WORK/in.$i"
        FIFO_FD[$i]=$fd
done
for i in $(seq 1 $CAP); do
        check "held session $i of job a is up" wait_for 30 grep -qx up "$WORK/out.$i"
done
rc=0
sshj a echo over-the-cap >"$WORK/over.out" 2>"$WORK/over.err" || rc=$?
check "MaxSessionsPerJob=$CAP: the job's connection $((CAP + 1)) is refused (exit $rc)" [ "$rc" = 255 ]
check "... and runs nothing" [ ! -s "$WORK/over.out" ]
check "... and the ssh client shows why: $(head -c 300 "$WORK/over.err")" \
        grep -q "job $(jid a) already has $CAP SSH connections open, its limit (MaxSessionsPerJob=$CAP)" "$WORK/over.err"
check "the log names the job and the cap" \
        log_has "$(jid a).*Refused an SSH connection from 127\.0\.0\.1: the job has $CAP SSH connections open \(MaxSessionsPerJob=$CAP\)"
check "another job is not limited by job a's sessions" [ "$(sshj b echo ok)" = ok ]
# Refusals by the cap are not authentication failures: 22 of them (more than
# the 20 that penalize a source) leave loopback unpenalized.
for _ in $(seq 1 22); do sshj a true 2>/dev/null && fail "a connection over the cap got in"; done
check "no penalty for refusals by the cap: job b from the same source is served" [ "$(sshj b echo ok)" = ok ]
metric() { hc metrics | awk -v k="$1" '$1 == k { print $2 }'; }
check "the refusals are counted ($(metric 'hostd_ssh_authentications_total{result="max-sessions-per-job"}'))" \
        [ "$(metric 'hostd_ssh_authentications_total{result="max-sessions-per-job"}')" -ge 23 ]
for i in $(seq 1 $CAP); do
        echo "$i" >&"${FIFO_FD[$i]}"
        exec {FIFO_FD[$i]}>&-
        wait "${HELD_PID[$i]}" || true
        check "held session $i was served to the end" grep -qx "served $i" "$WORK/out.$i"
done
check "with the held sessions gone, job a connects again" [ "$(sshj a echo ok)" = ok ]
check_no_crash
stop_hostd

# ---- 4. ControllerStartups, ControllerSources= empty --------------------------------------
RES=3
printf '[SSH]\nMaxStartups=%d\nPerSourceMaxStartups=2\nControllerStartups=%d\nLoginGraceTime=120s\nLocalSourcesAsOne=no\nSourcePrefixIPv4=32\n' \
        $MAX $RES >"$WORK/res.conf"
start_hostd_ssh --policy "$WORK/res.conf"
# Before the controller ever logged in, its address is nobody special: a
# flood from 200 addresses (one source each) fills MaxStartups and locks it out.
# shellcheck disable=SC2046
hold res0 $(many)
check "SourcePrefixIPv4=32: 200 addresses fill MaxStartups=$MAX (got $(admitted res0 total))" [ "$(admitted res0 total)" = $MAX ]
check "a controller that never logged in is not let into the reserved slots" not ctl_capacity
unhold res0
check "the held connections go away" wait_for 30 no_session_procs
alloc_job a >/dev/null
# shellcheck disable=SC2046
hold res1 $(many)
check "the flood fills MaxStartups again (got $(admitted res1 total))" [ "$(admitted res1 total)" = $MAX ]
for i in 1 2 3; do
        check "after one login, the controller gets a capacity answer with the pool full ($i)" ctl_capacity
done
check "the log says it used a reserved slot" log_has "Admitting a connection from 127\.0\.0\.1 to a reserved controller slot"
rc=0
sshj a echo in-a-reserved-slot >"$WORK/res.out" 2>/dev/null || rc=$?
check "a job login in a reserved slot is cut (exit $rc)" [ "$rc" = 255 ]
check "... and runs nothing" [ ! -s "$WORK/res.out" ]
check "... and the log says why" log_has "admitted to a reserved controller slot \(ControllerStartups\) but logs in as another user"
check "only the flood's sessions are left" wait_for 20 procs_are $((2 * MAX))
# The reserved slots are bounded: ControllerStartups silent connections from
# the controller's address take them all; one more is refused.
hold res2 127.0.0.1:$((RES + 1))
check "ControllerStartups=$RES: $RES silent connections from the controller's address are admitted, not more (got $(admitted res2 total))" \
        [ "$(admitted res2 total)" = $RES ]
unhold res2
unhold res1
check "the held connections go away" wait_for 30 no_session_procs
check "reserved admissions are counted ($(metric hostd_ssh_controller_reserved_total))" \
        [ "$(metric hostd_ssh_controller_reserved_total)" -ge $((3 + 1 + RES)) ]
check "served after the floods" still_serving a
check_no_crash
finish
