#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Network=private (the default): each job has its own network namespace,
# with egress through pasta.  Job A listens on an abstract unix socket and
# a loopback TCP port; job B cannot reach either, nor can the host; both
# download a file intact from an HTTP server on the host's loopback through
# the gateway address.  pasta is invisible to the job, ends at release and
# survives (or is restarted after) a kill -9 of hostd.  With Network=host,
# B reaches A's listeners: the policy makes the difference.  A host without
# pasta, or with a failing one, refuses allocate with words that say why.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

CHECK_LEFTOVERS=$(dirname "$0")/../../tools/check-leftovers.sh
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TAG="hostd-net-test-$$"
APORT=$(free_port)
HPORT=$(free_port)

# The listener (job A) and the probe (job B): python3 is the host's, seen
# read-only in jobs.
cat >"$WORK/listen.py" <<'EOF'
import socket, sys, threading
def serve(s):
    while True:
        c, _ = s.accept()
        c.sendall(b"from-a\n")
        c.close()
u = socket.socket(socket.AF_UNIX)
u.bind("\0" + sys.argv[1])
u.listen(8)
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", int(sys.argv[2])))
t.listen(8)
threading.Thread(target=serve, args=(u,), daemon=True).start()
serve(t)
EOF
cat >"$WORK/probe.py" <<'EOF'
import socket, sys
try:
    if sys.argv[1] == "unix":
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect("\0" + sys.argv[2])
    else:
        s = socket.socket()
        s.settimeout(10)
        s.connect(("127.0.0.1", int(sys.argv[2])))
    print(s.recv(64).decode().strip())
except OSError as e:
    print("error: " + e.__class__.__name__)
EOF
cat >"$WORK/fetch.py" <<'EOF'
import hashlib, sys, urllib.request
print(hashlib.sha256(urllib.request.urlopen(sys.argv[1], timeout=60).read()).hexdigest())
EOF

# The host's HTTP server, on loopback only.
mkdir -p "$WORK/www"
gen_bytes $((4 * 1024 * 1024)) net >"$WORK/www/blob"
SUM=$(sha256sum "$WORK/www/blob" | cut -d' ' -f1)
python3 -m http.server --bind 127.0.0.1 --directory "$WORK/www" "$HPORT" >/dev/null 2>&1 &
HTTP_PID=$!
trap 'kill "$HTTP_PID" 2>/dev/null || true; cleanup' EXIT
wait_for 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HPORT" 2>/dev/null

put_scripts() { # NAME
        local f
        for f in listen.py probe.py fetch.py; do sshj "$1" "cat > $f" <"$WORK/$f"; done
}
sshj_probe() { sshj "$1" "python3 probe.py $2 $([ "$2" = unix ] && echo "$TAG" || echo "$APORT")"; }
start_listener() { # NAME: starts the listener, waits until it answers its own job
        local i
        sshj "$1" "nohup python3 listen.py $TAG $APORT >/dev/null 2>&1 &"
        for i in $(seq 1 50); do
                [ "$(sshj_probe "$1" tcp)" = from-a ] && return 0
                sleep 0.2
        done
        return 1
}
# The job's gateway (pasta's: the host's default gateway), and a download
# through it of the host's loopback server.
jgw() { sshj "$1" 'ip -4 route show default' | awk '{ print $3; exit }'; }
jfetch() { sshj "$1" "python3 fetch.py http://$(jgw "$1"):$HPORT/blob" 2>/dev/null; }
# pasta processes of a job of ours (by the pid file on their command line).
pasta_of() { pgrep -f -- " -P $STATE/jobs/$1/pasta\.pid" || true; }
pasta_count() { pgrep -f -- " -P $STATE/jobs/j[0-9a-f]+/pasta\.pid" | wc -l; }

# ---- Network=private (the default) ------------------------------------------
start_hostd_ssh
check "capacity: network private, pasta found" \
        [ "$(jqf '.enforcement.network + " " + (.enforcement.network_helper // "none")' capacity)" = "private /usr/bin/pasta" ]
A=$(alloc_job a --disk 256M)
B=$(alloc_job b --disk 256M)
put_scripts a
put_scripts b
check "a's listener answers a itself (tcp)" start_listener a
check "a's listener answers a itself (abstract unix)" [ "$(sshj_probe a unix)" = from-a ]
check "b cannot connect to a's abstract unix socket" [ "$(sshj_probe b unix)" = "error: ConnectionRefusedError" ]
check "b cannot connect to a's loopback tcp port" [ "$(sshj_probe b tcp)" = "error: ConnectionRefusedError" ]
# Nothing of a's is forwarded to the host (pasta's "auto" would, within a second).
sleep 2
check "the host cannot connect to a's port" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$APORT) 2>/dev/null"
check "a has its own interface with a default route" [ -n "$(jgw a)" ]
check "a's gateway is the host's" [ "$(jgw a)" = "$(ip -4 route show default | awk '{ print $3; exit }')" ]
check "a downloads from the host's loopback, intact" [ "$(jfetch a)" = "$SUM" ]
check "b downloads from the host's loopback, intact" [ "$(jfetch b)" = "$SUM" ]
check "127.0.0.1 in a job is the job's own loopback" \
        sshj a "! python3 fetch.py http://127.0.0.1:$HPORT/blob >/dev/null 2>&1"

PA=$(pasta_of "$A")
PB=$(pasta_of "$B")
check "one pasta per job" [ "$(echo "$PA" | wc -w) $(echo "$PB" | wc -w)" = "1 1" ]
check "pasta runs outside the job's uid range" [ "$(awk '/^Uid:/ { print $2 }' "/proc/$PA/status")" = 0 ]
check "pasta binds no port on the host" [ -z "$(ss -Htulnp 2>/dev/null | grep -E "pid=($PA|$PB)," || true)" ]
check "pasta is not in the job's pid namespace" sshj a '! grep -qs -e passt -e pasta /proc/[0-9]*/comm'
check "the job cannot signal pasta by host pid" sshj a "! kill -0 $PA 2>/dev/null"
not() { ! "$@" 2>/dev/null; }
check "the job's uid on the host cannot signal pasta" not setpriv --reuid="$(juid a)" --regid="$(juid a)" --clear-groups kill -0 "$PA"
check "the job's uid on the host cannot read pasta's memory" \
        not setpriv --reuid="$(juid a)" --regid="$(juid a)" --clear-groups cat "/proc/$PA/environ"
if [ "$(jqf '.enforcement.cgroup_manager // "none"' capacity)" != none ]; then
        check "pasta is in the job's cgroup" [ "$(grep '^0::' "/proc/$PA/cgroup")" = "$(grep '^0::' "/proc/$(janchor a)/cgroup")" ]
fi
check "the log names the pasta of each job" log_has "$A.*Private network up: pasta pid $PA"

# Release: b's pasta goes, a's stays.
hc release "$B" >/dev/null
check "release ends the job's pasta" wait_for 20 bash -c "! kill -0 $PB 2>/dev/null || [ \"\$(awk '/^State:/ { print \$2 }' /proc/$PB/status)\" = Z ]"
check "the other job's pasta is untouched" kill -0 "$PA"
check "a still downloads" [ "$(jfetch a)" = "$SUM" ]

# kill -9 of hostd: a's pasta is re-adopted, egress goes on.
kill9_hostd
start_hostd_ssh
check "after a restart, the same pasta serves a" [ "$(pasta_of "$A")" = "$PA" ]
check "the restarted hostd re-adopted it" log_has "$A.*Re-adopted the job's pasta \\(pid $PA\\)"
check "after a restart, a downloads" [ "$(jfetch a)" = "$SUM" ]
# A pasta gone while hostd was down is started again.
kill9_hostd
kill -KILL "$PA" 2>/dev/null || true
wait_for 20 bash -c "[ -z \"\$(pgrep -f -- ' -P $STATE/jobs/$A/pasta\\.pid')\" ]"
start_hostd_ssh
check "a pasta gone at restart is started again" log_has "$A.*The job's pasta is gone; starting it again"
PA2=$(pasta_of "$A")
check "a new pasta serves a" [ "$(echo "$PA2" | wc -w)" = 1 ] && check "it is not the old one" [ "$PA2" != "$PA" ]
check "with the new pasta, a downloads" [ "$(jfetch a)" = "$SUM" ]
# A pid file pasta had not written yet (hostd killed while pasta started):
# the release finds pasta by its command line, and the job is released,
# not leaked.
: >"$STATE/jobs/$A/pasta.pid"
hc release "$A" >/dev/null
check "with an empty pid file, release finds the job's pasta" \
        log_has "$A.*found its pasta \\(pid $PA2\\) by its command line"
check "... and the job is released, not leaked" [ "$(jqf .state job "$A")" = released ]
check "no pasta left after the releases" wait_for 20 bash -c '[ "$(pgrep -f -- " -P $0/jobs/j[0-9a-f]+/pasta\.pid" | wc -l)" = 0 ]' "$STATE"
out=$("$CHECK_LEFTOVERS" "$STATE" "$UID_POOL_START" 16 2>&1) || true
check "check-leftovers: nothing left ($out)" [ -z "$out" ]
stop_hostd

# ---- Network=host: the same jobs reach each other ---------------------------
start_hostd_ssh --set Jobs.Network=host
check "capacity: network host" [ "$(jqf .enforcement.network capacity)" = host ]
C=$(alloc_job c --disk 256M)
D=$(alloc_job d --disk 256M)
put_scripts c
put_scripts d
check "Network=host: no pasta" [ "$(pasta_count)" = 0 ]
check "Network=host: c's listener answers" start_listener c
check "Network=host: d connects to c's abstract unix socket" [ "$(sshj_probe d unix)" = from-a ]
check "Network=host: d connects to c's loopback tcp port" [ "$(sshj_probe d tcp)" = from-a ]
hc release "$C" >/dev/null
hc release "$D" >/dev/null
stop_hostd

# ---- no pasta, or a failing one ---------------------------------------------
export HOSTD_TEST_PASTA=/nonexistent/pasta
start_hostd_ssh
check "without pasta, capacity says not allocatable and why" \
        bash -c '[ "$1" = false ] && grep -q "install the passt package" <<<"$2"' _ \
        "$(jqf .allocatable capacity)" "$(jqf .not_allocatable_reason capacity)"
check "without pasta, capacity has a note" bash -c 'grep -q "Network=private needs pasta" <<<"$1"' _ "$(jqf '.enforcement.notes[]' capacity)"
err=$(ctl allocate --owner test/e --platform "$PLAT" 2>&1 || true)
check "without pasta, allocate fails naming pasta and passt ($err)" bash -c 'grep -q "needs pasta.*passt" <<<"$1"' _ "$err"
stop_hostd
cat >"$WORK/fake-pasta" <<'EOF'
#!/bin/sh
echo "fake pasta: no tap for you" >&2
exit 3
EOF
chmod 0755 "$WORK/fake-pasta"
export HOSTD_TEST_PASTA=$WORK/fake-pasta
start_hostd_ssh
err=$(ctl allocate --owner test/f --platform "$PLAT" 2>&1 || true)
check "a failing pasta fails allocate with words that say so ($err)" bash -c 'grep -q "private network: pasta failed" <<<"$1"' _ "$err"
check "pasta's own message is in hostd's log" log_has "pasta: fake pasta: no tap for you"
check "the failed job holds no slot (its cleanup ends)" wait_for 30 bash -c '[ "$("$HOSTCTL" --json capacity | jq .slots.used)" = 0 ]'
unset HOSTD_TEST_PASTA
stop_hostd
out=$("$CHECK_LEFTOVERS" "$STATE" "$UID_POOL_START" 16 2>&1) || true
check "check-leftovers after the failed allocate: nothing left ($out)" [ -z "$out" ]

finish
