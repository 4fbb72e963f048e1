#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Commands over SSH with the stock OpenSSH client: identity and home, every
# exit status, exit by signal (as ssh reports it against a real sshd),
# stdout/stderr kept apart, stdin, ptys and shells, environment, the
# controller API's bad-request answers, the banner and the negotiated
# algorithms.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

start_hostd_ssh
J=$(alloc_job a)
UID_A=$(juid a)

# Identity and home
check "job runs as its own uid (not root, not nobody)" [ "$UID_A" -ge 65536 -a "$UID_A" != 65534 ]
check "command runs as root of the job's user namespace" [ "$(sshj a 'id -u')" = 0 ]
sshj a 'echo x > made-by-a'
check "which is the job's uid on the host" [ "$(stat -c %u "$(jfs a)/made-by-a")" = "$UID_A" ]
check "command runs in the job's home" [ "$(sshj a pwd)" = "$(jhome a)" ]
check "HOME is the job's home" [ "$(sshj a 'echo $HOME')" = "$(jhome a)" ]
check "USER is root" [ "$(sshj a 'echo $USER')" = root ]
check "the job's user has a name (passwd)" [ "$(sshj a 'id -un')" = root ]
check "command goes through /bin/sh -c" [ "$(sshj a 'a=1; b=2; echo $((a + b))')" = 3 ]
out=$(sshj a 'echo $SSH_CONNECTION')
check "SSH_CONNECTION names both ends (got $out)" grep -qE "^127\.0\.0\.1 [0-9]+ 127\.0\.0\.1 $PORT\$" <<<"$out"

# Every exit status 0..255, over one multiplexed connection to be fast.
CM="$WORK/cm-exit"
sshj a -o ControlMaster=yes -o ControlPath="$CM" -o ControlPersist=120 -f -N
check "control master is up" sshj a -o ControlPath="$CM" -O check 2>/dev/null
auths=$(grep -c 'SSH session authenticated' "$LOG")
bad=
for i in $(seq 0 255); do
        rc=0; sshj a -o ControlPath="$CM" -o ControlMaster=no "exit $i" || rc=$?
        [ "$rc" -eq "$i" ] || bad="$bad $i->$rc"
done
check "every exit status 0..255 arrives as it is (wrong:${bad:-none})" [ -z "$bad" ]
check "the master outlives its sessions" sshj a -o ControlPath="$CM" -O check 2>/dev/null
check "all 256 went over the master's one connection" [ "$(grep -c 'SSH session authenticated' "$LOG")" = "$auths" ]
sshj a -o ControlPath="$CM" -O exit 2>/dev/null || true

# Exit by signal.  OpenSSH's ssh exits 255 when the server sends
# exit-signal, which real sshd does for every signal (named ones by name,
# others as "SIG@openssh.com"); the same must hold here.
for s in TERM KILL INT HUP QUIT SEGV ABRT PIPE USR1 XCPU SYS; do
        rc=0; sshj a "kill -$s \$\$" 2>/dev/null || rc=$?
        check "killed by SIG$s: ssh exits 255 as with sshd (got $rc)" [ "$rc" -eq 255 ]
done
out=$(sshj a -v 'kill -TERM $$' 2>&1) || true
check "exit by signal is reported as exit-signal" grep -q 'rtype exit-signal' <<<"$out"
rc=0; sshj a 'trap "" TERM; kill -TERM $$; exit 9' || rc=$?
check "an ignored signal does not count (exit 9, got $rc)" [ "$rc" -eq 9 ]

# stdout and stderr are separate streams, also under flow control.
sshj a 'echo out1; echo err1 >&2; echo out2; echo err2 >&2' >"$WORK/o" 2>"$WORK/e"
check "stdout carries only stdout" [ "$(cat "$WORK/o")" = "$(printf 'out1\nout2')" ]
check "stderr carries only stderr" [ "$(cat "$WORK/e")" = "$(printf 'err1\nerr2')" ]
sshj a 'seq 1 300000 & seq 300001 600000 >&2; wait' >"$WORK/o" 2>"$WORK/e"
check "4 MB of stdout intact" [ "$(sha256sum <"$WORK/o")" = "$(seq 1 300000 | sha256sum)" ]
check "4 MB of stderr intact" [ "$(sha256sum <"$WORK/e")" = "$(seq 300001 600000 | sha256sum)" ]

# stdin reaches the command, and its end is seen.
check "stdin and its EOF reach the command" [ "$(printf 'a\nb\n' | sshj a 'cat; echo end')" = "$(printf 'a\nb\nend')" ]
check "no stdin (-n) is an immediate EOF" [ "$(sshj a -n 'wc -c')" = 0 ]
check "a command that ignores stdin still exits" [ "$(yes | head -c 100000 | sshj a 'echo done')" = done ]

# A pty on request, with the client's TERM.
out=$(TERM=vt100 sshj a -tt 'tty; echo "$TERM"; test -t 0 && echo stdin-is-tty' 2>/dev/null | tr -d '\r')
check "ssh -tt gets a pty" grep -qE '^/dev/pts/[0-9]+$' <<<"$out"
check "the pty has the client's TERM" grep -qx vt100 <<<"$out"
check "stdin is the tty" grep -qx stdin-is-tty <<<"$out"
out=$(sshj a 'tty' 2>/dev/null) || true
check "no pty without -t" [ "$out" = "not a tty" ]
out=$(TERM=vt100 sshj a -tt 'stty size' 2>/dev/null | tr -d '\r') || true
check "the pty has a window size" grep -qE '^[0-9]+ [0-9]+$' <<<"$out"
# A login shell on a pty, fed from stdin.
rc=0; out=$(printf 'echo hi-$((6 * 7)); exit 3\n' | TERM=vt100 sshj a -tt 2>/dev/null | tr -d '\r') || rc=$?
check "a shell on a pty runs what it is fed" grep -q hi-42 <<<"$out"
check "the shell's exit status (3) comes back (got $rc)" [ "$rc" -eq 3 ]
# A shell without a pty.
rc=0; out=$(printf 'echo no-pty-shell; exit 4\n' | sshj a 2>/dev/null) || rc=$?
check "a shell without a pty runs what it is fed" [ "$out" = no-pty-shell ]
check "... and exits 4 (got $rc)" [ "$rc" -eq 4 ]

# Environment: LANG and LC_* are accepted, anything else is dropped.
out=$(LANG=C.UTF-8 LC_TIME=C HOSTD_TEST_SECRET=x sshj a -o SendEnv=LANG -o SendEnv=LC_TIME -o SendEnv=HOSTD_TEST_SECRET \
        'echo "$LANG|$LC_TIME|${HOSTD_TEST_SECRET:-unset}"')
check "LANG and LC_* pass, other variables do not (got $out)" [ "$out" = "C.UTF-8|C|unset" ]

# A long command line is carried whole.
long=$(printf 'x%.0s' $(seq 1 100000))
check "a 100 kB command line arrives whole" [ "$(sshj a "echo $long | wc -c")" = 100001 ]

# The controller API over SSH: bad requests are named, exit status 2.
rc=0; out=$(ctl frobnicate) || rc=$?
check "unknown verb: exit status 2 (got $rc)" [ "$rc" -eq 2 ]
check "unknown verb: bad-request JSON" [ "$(jq -r .error.code <<<"$out")" = bad-request ]
check "unknown verb: apiVersion" [ "$(jq -r .apiVersion <<<"$out")" = hostd/v1 ]
rc=0; out=$(ctl allocate --owner test/x --platform "$PLAT" --frobnicate 1) || rc=$?
check "unknown flag: exit status 2 (got $rc)" [ "$rc" -eq 2 ]
check "unknown flag: bad-request JSON" [ "$(jq -r .error.code <<<"$out")" = bad-request ]
rc=0; out=$(ctl job j000000000000) || rc=$?
check "unknown job over SSH: exit 3 (got $rc)" [ "$rc" -eq 3 ]
check "capacity over SSH answers" [ "$(ctl capacity | jq -r .slots.total)" = 4 ]

# The banner: exactly "SSH-2.0-hostd", no library name or version.
banner=$(python3 - "$PORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
buf = b""
while b"\n" not in buf:
    d = s.recv(256)
    if not d:
        break
    buf += d
sys.stdout.write(repr(buf.split(b"\n")[0] + b"\n"))
EOF
)
check "banner is exactly SSH-2.0-hostd (got $banner)" [ "$banner" = "b'SSH-2.0-hostd\\r\\n'" ]

# Negotiated algorithms: curve25519 key exchange; AES-GCM for a client that
# puts it first (as docs/ssh.md advises), chacha20 for stock defaults; and
# nothing else is offered.
out=$(sshj a -v -o Ciphers=aes128-gcm@openssh.com,chacha20-poly1305@openssh.com true 2>&1 | tr -d '\r')
check "kex is curve25519" grep -qE 'kex: algorithm: curve25519-sha256(@libssh.org)?$' <<<"$out"
check "server->client cipher is AES-GCM" grep -qE 'kex: server->client cipher: aes(128|256)-gcm@openssh.com' <<<"$out"
check "client->server cipher is AES-GCM" grep -qE 'kex: client->server cipher: aes(128|256)-gcm@openssh.com' <<<"$out"
out=$(sshj a -v true 2>&1 | tr -d '\r')
check "stock client order gets chacha20" grep -qE 'kex: server->client cipher: chacha20-poly1305@openssh.com' <<<"$out"
check "no CBC or CTR cipher is accepted" bash -c '! "$@" true 2>/dev/null' _ ssh "${SSH_OPTS[@]}" -o UserKnownHostsFile="$(jkh a)" \
        -i "$(jkey a)" -p "$PORT" -o Ciphers=aes128-ctr,aes256-cbc "$(jid a)@127.0.0.1"
check "remote software is hostd" grep -q 'Remote protocol version 2.0, remote software version hostd' <<<"$out"

check "still serving" still_serving a
check_no_crash
finish
