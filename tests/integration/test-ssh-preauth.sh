#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Clients that never authenticate: a silent client is cut off after
# LoginGraceTime, and 500 unauthenticated connections held open are capped
# by MaxStartups and PerSourceMaxStartups (the processes they cost stay
# bounded) while the controller, from ControllerSources, is still served.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

# ---- LoginGraceTime ------------------------------------------------------------------
printf '[SSH]\nLoginGraceTime=2s\n' >"$WORK/grace.conf"
start_hostd_ssh --policy "$WORK/grace.conf"
alloc_job a >/dev/null

# silent_client MODE: connects, reads the banner, sends nothing (MODE=raw) or
# only its own banner (MODE=banner), and prints how long until hostd closed.
silent_client() {
        python3 - "$PORT" "$1" <<'PYEOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
t0 = time.monotonic()
if sys.argv[2] == "banner":
    s.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
while True:
    try:
        d = s.recv(4096)
    except (ConnectionResetError, socket.timeout):
        break
    if not d:
        break
print("%.1f" % (time.monotonic() - t0))
PYEOF
}
t=$(silent_client raw)
check "a client that sends nothing is closed after LoginGraceTime=2s (took ${t}s)" \
        python3 -c 'import sys; t = float(sys.argv[1]); sys.exit(not 1.5 <= t <= 6)' "$t"
t=$(silent_client banner)
check "a client that stops after its banner is closed after LoginGraceTime=2s (took ${t}s)" \
        python3 -c 'import sys; t = float(sys.argv[1]); sys.exit(not 1.5 <= t <= 6)' "$t"
check "the log says why" log_has "Connection from 127\.0\.0\.1 did not authenticate within 2s \(LoginGraceTime\)"
check "the grace time does not apply after authentication" [ "$(sshj a 'sleep 4; echo survived')" = survived ]
check "nothing is left of the silent clients" wait_for 5 no_session_procs
check "still serving" still_serving a
check_no_crash
stop_hostd

# ---- 500 unauthenticated connections ---------------------------------------------------
MAX=100
PER=50
# Loopback is normally one source (the host's own); here its addresses
# stand for distinct remote clients, one source each.
printf '[Listen]\nControllerSources=127.0.0.1/32\n[SSH]\nMaxStartups=%d\nPerSourceMaxStartups=%d\nLoginGraceTime=120s\n' \
        $MAX $PER >"$WORK/flood.conf"
printf 'LocalSourcesAsOne=no\nSourcePrefixIPv4=32\n' >>"$WORK/flood.conf"
: >"$LOG"
start_hostd_ssh --policy "$WORK/flood.conf"
check "the controller works before" still_serving a

# 150 from 127.0.0.2 (50 over PerSourceMaxStartups), then 50 from 127.0.0.3
# (reaching MaxStartups), then 300 from 127.0.0.4 (all over MaxStartups).
# Each sends its banner and then nothing; held until unhold.
check "the flood is in place" hold flood 127.0.0.2:150 127.0.0.3:50 127.0.0.4:300
adm() { admitted flood "$1"; }
check "500 connections were made" [ "$(adm connections)" = 500 ]
check "PerSourceMaxStartups: at most $PER admitted from 127.0.0.2 (got $(adm 127.0.0.2))" [ "$(adm 127.0.0.2)" -le $PER ]
check "MaxStartups: at most $MAX admitted in all (got $(adm total))" [ "$(adm total)" -le $MAX ]
check "the caps were reached, not something lower (admitted $(adm total))" [ "$(adm total)" -ge $((MAX * 9 / 10)) ]
check "nothing admitted past MaxStartups (127.0.0.4 got $(adm 127.0.0.4))" [ "$(adm 127.0.0.4)" -le $((MAX - $(adm 127.0.0.2) - $(adm 127.0.0.3))) ]
procs=$(count_session_procs)
check "session processes stay bounded: $procs <= 2 x MaxStartups" [ "$procs" -le $((2 * MAX)) ]
check "... and the held connections do cost processes (not vacuous: $procs)" [ "$procs" -ge $((2 * MAX * 9 / 10)) ]
for i in 1 2 3; do
        check "the controller gets a capacity answer during the flood ($i)" \
                bash -c '[ "$(timeout 20 "$@" | jq -r .apiVersion)" = hostd/v1 ]' _ \
                ssh "${SSH_OPTS[@]}" -o UserKnownHostsFile="$CTL_KH" -i "$CTL_KEY" -p "$PORT" controller@127.0.0.1 capacity
done
check "a job from 127.0.0.1 (a controller source) is served during the flood" [ "$(sshj a echo ok)" = ok ]
m=$(hc metrics)
check "rejections by PerSourceMaxStartups are counted" \
        bash -c '[ "$(awk "/^hostd_ssh_rejected_total\\{reason=\"per-source-max-startups\"\\}/ { print \$2 }" <<<"$1")" -ge 50 ]' _ "$m"
check "rejections by MaxStartups are counted" \
        bash -c '[ "$(awk "/^hostd_ssh_rejected_total\\{reason=\"max-startups\"\\}/ { print \$2 }" <<<"$1")" -ge 250 ]' _ "$m"
check "the unauthenticated gauge is at the cap" \
        bash -c '[ "$(awk "/^hostd_ssh_sessions\\{state=\"unauthenticated\"\\}/ { print \$2 }" <<<"$1")" -le 100 ]' _ "$m"

unhold flood
check "the flood's sessions go away when it disconnects" wait_for 30 no_session_procs
# Room again for others: a non-exempt client is admitted.
check "127.0.0.2 is admitted again" python3 -c '
import socket, sys
s = socket.socket(); s.settimeout(10); s.bind(("127.0.0.2", 0)); s.connect(("127.0.0.1", int(sys.argv[1])))
sys.exit(not s.recv(64).startswith(b"SSH-2.0-hostd"))' "$PORT"
check "still serving" still_serving a
check_no_crash
finish
