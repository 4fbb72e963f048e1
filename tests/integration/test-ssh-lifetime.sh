#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# How long job processes live: release ends connected sessions and leaves no
# process of the job (whatever it did to escape); a client that goes away
# hangs up its own processes (SIGHUP) but not nohup'ed work of another
# session, which lives until release.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

start_hostd_ssh
J=$(alloc_job r)
UID_R=$(juid r)

# ---- release ends connected sessions ----------------------------------------------
sshj_exec r 'sleep 300' >/dev/null 2>&1 & SSH1=$!
TERM=vt100 sshj_exec r -tt 'sleep 301' >/dev/null 2>&1 </dev/null & SSH2=$!
# Work that tries to outlive its session: nohup, its own session, ignoring signals.
sshj r 'nohup sleep 302 >/dev/null 2>&1 & setsid sleep 303 >/dev/null 2>&1 </dev/null &
        (trap "" HUP TERM INT; exec sleep 304) >/dev/null 2>&1 </dev/null &'
check "the job's processes run" wait_for 10 bash -c '[ "$(pgrep -u "$1" -f "^sleep 30[0-4]$" | wc -l)" -eq 5 ]' _ "$UID_R"
check "the job has connected sessions" [ "$(job_monitors "$J" | wc -l)" -ge 2 ]
t0=$SECONDS
check "release answers released" [ "$(jqf .state release "$J")" = released ]
check "the connected exec client exits within 5s of the release" wait_for 5 bash -c '! kill -0 "$1" 2>/dev/null' _ "$SSH1"
check "the connected pty client exits within 5s of the release" wait_for 5 bash -c '! kill -0 "$1" 2>/dev/null' _ "$SSH2"
echo "clients gone $((SECONDS - t0))s after release was asked"
rc=0; wait "$SSH1" || rc=$?
check "the exec client reports the lost connection (rc $rc)" [ "$rc" -ne 0 ]
check "no process of the job's uid remains" no_procs_of "$UID_R"
check "no monitor of the job remains" [ -z "$(job_monitors "$J")" ]
check "the log says why the sessions ended" log_has "Ending SSH session from 127\.0\.0\.1 for job $J: its job is being released"
check "the job's home is gone" [ ! -e "$STATE/jobs/$J" ]
rc=0; sshj r true 2>/dev/null || rc=$?
check "the released job's key is refused (rc $rc)" [ "$rc" -eq 255 ]

# ---- a client that goes away hangs up its processes -------------------------------------
J2=$(alloc_job d)
UID_D=$(juid d)
HOME_D=$(jfs d)       # the job's files, seen from the host through its sandbox
check "still serving after the release" still_serving d
# nohup'ed work started in a session that ended normally.
sshj d 'nohup sleep 310 >/dev/null 2>&1 &'
check "nohup'ed process runs" wait_for 5 pgrep_q -u "$UID_D" -fx 'sleep 310'
# A session whose shell notes the hang-up, with a child in its process group.
sshj_exec d 'trap "echo hup >got-hup; exit 0" HUP; sleep 311 & wait' >/dev/null 2>&1 & SSH3=$!
TERM=vt100 sshj_exec d -tt 'sleep 312' >/dev/null 2>&1 </dev/null & SSH4=$!
check "the sessions' processes run" wait_for 10 bash -c 'pgrep -u "$1" -fx "sleep 311" && pgrep -u "$1" -fx "sleep 312"' _ "$UID_D" >/dev/null
kill -KILL "$SSH3" "$SSH4"
wait "$SSH3" "$SSH4" 2>/dev/null || true
t0=$SECONDS
check "the vanished exec client's processes die within 5s" wait_for 5 bash -c '! pgrep -u "$1" -fx "sleep 311" >/dev/null' _ "$UID_D"
check "the vanished pty client's processes die within 5s" wait_for 5 bash -c '! pgrep -u "$1" -fx "sleep 312" >/dev/null' _ "$UID_D"
check "it was a SIGHUP (the shell's trap ran)" wait_for 5 test -s "$HOME_D/got-hup"
echo "hang-up took $((SECONDS - t0))s"
no_monitors() { [ -z "$(job_monitors "$1")" ]; }
check "their monitors are gone" wait_for 5 no_monitors "$J2"
sleep 2
check "nohup'ed work of another session survives" pgrep_q -u "$UID_D" -fx 'sleep 310'
check "the job still takes sessions" [ "$(sshj d echo ok)" = ok ]
check "release" [ "$(jqf .state release "$J2")" = released ]
check "release ends the nohup'ed work too" no_procs_of "$UID_D"

check "still serving" still_serving
check_no_crash

# ---- a stop waits for connections that need hostd ------------------------------
# A connection still authenticating (here: one that sends nothing) holds a
# SIGTERM back until it ends, so a restart does not cut a controller's
# request or a login in progress; the exit then follows its end, not the
# 10 s limit.
exec 7<>"/dev/tcp/127.0.0.1/$PORT"
unauth() { [ "$(hc metrics | awk '$1 == "hostd_ssh_sessions{state=\"unauthenticated\"}" { print $2 }')" = 1 ]; }
check "the silent connection is an unauthenticated session" wait_for 10 unauth
kill -TERM "$HOSTD_PID"
check "SIGTERM waits for the session" log_has 'stopping after 1 SSH session\(s\) that need hostd finish'
check "hostd still runs while it does" kill -0 "$HOSTD_PID"
# A controller arriving now waits in the listen backlog: not served by a
# hostd on its way out (the next one, under socket activation, serves it).
ctl capacity >"$WORK/during-stop.out" 2>&1 7>&- &
CTL_PID=$!
sleep 2
check "a new connection is not served meanwhile" [ ! -s "$WORK/during-stop.out" ]
exec 7>&-
check "hostd exits once the connection ends" wait_for 8 bash -c '! kill -0 "$1" 2>/dev/null' _ "$HOSTD_PID"
check "because it ended, not on the time limit" bash -c '! grep -q "stopping anyway" "$1"' _ "$LOG"
rc=0; wait "$HOSTD_PID" || rc=$?
HOSTD_PID=
check "and exits 0" [ "$rc" = 0 ]
wait "$CTL_PID" 2>/dev/null || true
check "the waiting controller got no answer from it" bash -c '! grep -q apiVersion "$1"' _ "$WORK/during-stop.out"
finish
