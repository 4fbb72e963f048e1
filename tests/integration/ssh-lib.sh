# SPDX-License-Identifier: LGPL-2.1-or-later
# Helpers for the SSH tests (stock OpenSSH clients against a real hostd).
# Source after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/ssh-lib.sh"
#   start_hostd_ssh [--policy FILE]
#   J=$(alloc_job a)                 # allocate over SSH as the controller
#   sshj a 'id -u'                   # ssh as that job, host key pinned
#
# Jobs are known by a short local NAME; their files live in $WORK/jobs:
# NAME.json (the allocate answer), NAME.key (private key), NAME.kh (known_hosts).

PLAT=$(native_platform)
CTL_KEY="$WORK/controller_key"
CTL_KEYS="$WORK/controller.keys"
CTL_KH="$WORK/controller_known_hosts"
mkdir -p "$WORK/jobs"

ssh-keygen -q -t ed25519 -N '' -C hostd-test-controller -f "$CTL_KEY"
cp "$CTL_KEY.pub" "$CTL_KEYS"
chmod 0600 "$CTL_KEYS"

# Options every client gets: no user or system config, no agent keys, no
# prompts, and the host key must match the pinned one.
SSH_OPTS=(-F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none
          -o StrictHostKeyChecking=yes -o ConnectTimeout=20)

# Starts hostd with the controller keys (plus any extra args) and pins its
# host keys for the controller.
start_hostd_ssh() {
        start_hostd --controller-keys "$CTL_KEYS" "$@"
        : >"$CTL_KH"
        for k in "$STATE"/host-keys/*.pub; do
                echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$k")" >>"$CTL_KH"
        done
}

# The controller API over SSH: ctl VERB [FLAGS...]
ctl() {
        ssh "${SSH_OPTS[@]}" -o UserKnownHostsFile="$CTL_KH" -i "$CTL_KEY" -p "$PORT" controller@127.0.0.1 "$@"
}

# alloc_job NAME [ALLOCATE FLAGS...]: allocates over SSH, writes the job's
# files, prints the job id.
alloc_job() {
        local name=$1; shift
        local f="$WORK/jobs/$name"
        ctl allocate --owner "test/$name" --platform "$PLAT" "$@" >"$f.json"
        jq -e '.job | test("^j[0-9a-f]{12}$")' "$f.json" >/dev/null
        (umask 077; jq -r .private_key "$f.json" >"$f.key")
        jq -r .known_hosts "$f.json" >"$f.kh"
        jq -r .job "$f.json"
}

jid() { jq -r .job "$WORK/jobs/$1.json"; }
jhome() { jq -r .user_dir "$WORK/jobs/$1.json"; }
# The job's uid on the host (root of its user namespace inside): the owner of
# its user_dir.
juid() { stat -c %u "$(jhome "$1")"; }
# The job's anchor, found from the host: a hostd-anchor whose user namespace
# maps 0 to the job's uid (the test's uid pool is its own, see lib.sh).
janchor() {
        local base p; base=$(juid "$1")
        for p in $(pgrep -x hostd-anchor); do
                [ "$(awk 'NR==1 {print $2}' "/proc/$p/uid_map" 2>/dev/null)" = "$base" ] && { echo "$p"; return 0; }
        done
        return 1
}
# The job's home as the host sees it: it lives on the job's disk, mounted
# only in the job's namespaces, so through its anchor's root.
jfs() { echo "/proc/$(janchor "$1")/root$(jhome "$1")"; }
jkey() { echo "$WORK/jobs/$1.key"; }
jkh() { echo "$WORK/jobs/$1.kh"; }

# sshj NAME [SSH OPTIONS...] [COMMAND...]: ssh as the job, its host keys pinned.
sshj() {
        local name=$1; shift
        ssh "${SSH_OPTS[@]}" -o UserKnownHostsFile="$(jkh "$name")" -i "$(jkey "$name")" -p "$PORT" \
                "$(jid "$name")@127.0.0.1" "$@"
}

# sshj_exec NAME ARGS...: sshj that replaces the calling shell, so that
# "sshj_exec NAME ... &" leaves the ssh client's own pid in $!.
sshj_exec() {
        local name=$1; shift
        exec ssh "${SSH_OPTS[@]}" -o UserKnownHostsFile="$(jkh "$name")" -i "$(jkey "$name")" -p "$PORT" \
                "$(jid "$name")@127.0.0.1" "$@"
}

# The same client as one string, for rsync -e.
jrsh() {
        echo "ssh ${SSH_OPTS[*]} -o UserKnownHostsFile=$(jkh "$1") -i $(jkey "$1") -p $PORT"
}

# Options for scp and sftp (-P for the port).
jcopts() {
        JCOPTS=("${SSH_OPTS[@]}" -o UserKnownHostsFile="$(jkh "$1")" -i "$(jkey "$1")" -P "$PORT")
}

# Processes of our hostd's SSH sessions: each monitor (a child of hostd,
# "hostd-session", root) and its net child (uid 65534).  Job processes,
# also children of the monitor, run as the job's uid and are not listed.
is_session_proc() {
        [ "$(tr -d '\0' 2>/dev/null <"/proc/$1/cmdline")" = hostd-session ] || return 1
        local uid
        uid=$(awk '/^Uid:/ { print $2 }' 2>/dev/null <"/proc/$1/status") || return 1
        [ "$uid" = 0 ] || [ "$uid" = 65534 ]
}
session_pids() {
        local m c
        for m in $(pgrep -P "$HOSTD_PID" 2>/dev/null); do
                is_session_proc "$m" || continue
                echo "$m"
                for c in $(pgrep -P "$m" 2>/dev/null); do
                        is_session_proc "$c" && echo "$c"
                done
        done
        return 0
}
count_session_procs() { session_pids | wc -l; }
# hostd's children also include the jobs' init processes (it is their
# subreaper), so sessions are counted by what they are, not by parentage.
no_session_procs() { [ "$(count_session_procs)" -eq 0 ]; }

# hold NAME ADDR:COUNT...: opens COUNT connections from each ADDR (all in
# 127.0.0.0/8) that send their banner and then nothing, in order, and
# writes "ADDR ADMITTED" lines, "net/24 ADMITTED" and "total ADMITTED" to
# $WORK/NAME once all are made; holds them until $WORK/NAME.stop appears.
# Admitted = hostd answered with its banner (a refused one is closed).
# Bounded: loopback only, at most 500 connections, held at most 150 s.
declare -A HOLD_PIDS
hold() {
        local name=$1; shift
        python3 - "$PORT" "$WORK/$name" "$@" <<'PYEOF' &
import ipaddress, os, socket, sys, time
port, out, specs = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
plan = []
for spec in specs:
    addr, n = spec.rsplit(":", 1)
    if ipaddress.ip_address(addr) not in ipaddress.ip_network("127.0.0.0/8"):
        sys.exit("hold: only loopback sources, not " + addr)
    plan += [addr] * int(n)
if len(plan) > 500:
    sys.exit("hold: at most 500 connections")
deadline = time.monotonic() + 150
socks = []
for src in plan:
    s = socket.socket()
    s.settimeout(20)
    try:
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"SSH-2.0-hold\r\n")
    except OSError:
        pass
    socks.append((src, s))
admitted = {}
for src, s in socks:
    try:
        ok = s.recv(64).startswith(b"SSH-2.0-hostd")
    except OSError:
        ok = False
    net = ".".join(src.split(".")[:3]) + ".0/24"
    for k in (src, net, "total"):
        admitted[k] = admitted.get(k, 0) + ok
with open(out + ".tmp", "w") as f:
    f.write("connections %d\n" % len(socks))
    for k, v in admitted.items():
        f.write("%s %d\n" % (k, v))
os.rename(out + ".tmp", out)
while not os.path.exists(out + ".stop") and time.monotonic() < deadline:
    time.sleep(0.2)
for _, s in socks:
    s.close()
PYEOF
        HOLD_PIDS[$name]=$!
        wait_for 90 test -e "$WORK/$name" || { echo "hold $name: not in place" >&2; return 1; }
        echo "--- held ($name): $(grep -v '^127\.[0-9.]* ' "$WORK/$name" | tr '\n' ' ')"
}
# admitted NAME KEY: what hold NAME counted for KEY (an address, NET/24 or total).
admitted() { awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$WORK/$1"; }
unhold() {
        touch "$WORK/$1.stop"
        wait "${HOLD_PIDS[$1]}" || true
}

# Monitors serving one job (comm "s-" + job id, cut to 15 characters).
job_monitors() {
        local want m
        want=$(printf 's-%s' "$1" | cut -c1-15)
        for m in $(pgrep -P "$HOSTD_PID" 2>/dev/null); do
                [ "$(cat "/proc/$m/comm" 2>/dev/null)" = "$want" ] && echo "$m"
        done
        return 0
}

# wait_for SECONDS COMMAND...: polls every 0.1s until COMMAND succeeds.
wait_for() {
        local t=$1; shift
        local end=$((SECONDS + t))
        while ! "$@"; do
                [ "$SECONDS" -lt "$end" ] || return 1
                sleep 0.1
        done
}

# log_has REGEX: the hostd log has a matching line (waits up to 5s: the
# monitor and the main process log asynchronously).
log_has() { wait_for 5 grep -qE -- "$1" "$LOG"; }

pgrep_q() { pgrep "$@" >/dev/null; }

# no_procs_of UID: no process runs as that uid.
# No live process of a uid: zombies are dead already (they only wait for
# their parent, hostd's event loop for a job's init, to reap them).
# "PID UID STATE NAME" of every process, from /proc: ps prints uids of 2^31
# and above as negative numbers, and the tests' uid pools reach that high
# (a ps-based check would then find nothing, whatever runs).
host_procs() {
        cat /proc/[0-9]*/status 2>/dev/null |
                awk '/^Name:/ { n = $2 } /^State:/ { s = $2 } /^Pid:/ { p = $2 } /^Uid:/ { print p, $2, s, n }'
}
no_procs_of() { [ "$(host_procs | awk -v u="$1" '$2 == u && $3 != "Z"' | wc -l)" -eq 0 ]; }
# Live processes in a job's uid range (from its base uid).
range_procs() { host_procs | awk -v b="$1" '$2 >= b && $2 < b + 65536 && $3 != "Z"' | wc -l; }

# Still serving: the controller gets an answer and the job NAME still runs commands.
still_serving() {
        [ "$(ctl capacity | jq -r .apiVersion)" = hostd/v1 ] || return 1
        [ -z "${1:-}" ] || [ "$(sshj "$1" echo ok)" = ok ]
}

# Deterministic fast pseudo-random stream of N bytes (AES-CTR of zeros).
gen_bytes() {
        # openssl dies of SIGPIPE when head has enough: not a failure.
        { openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:${2:-hostd}" </dev/zero 2>/dev/null || true; } | head -c "$1"
}

# No SSH process died of a signal (the monitor logs it; a crash of the net
# child otherwise looks like a disconnect to the client).
check_no_crash() {
        check "no SSH process crashed" bash -c '! grep -E "died of signal" "$1"' _ "$LOG"
}

# difq DIFF-ARGS...: diff with at most 20 lines of output, for check.
difq() {
        local rc=0
        diff "$@" >"$WORK/diff.out" 2>&1 || rc=$?
        head -n 20 "$WORK/diff.out"
        return $rc
}
