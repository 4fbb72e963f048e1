#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What a controller's polling costs a host: `capacity` over SSH with a new
# connection per poll (what contrib's scripts and a naive poller do),
# over one reused connection (OpenSSH ControlMaster), and over the local
# control socket (hostctl; no SSH, the cost of the answer itself).  The
# baseline, side by side: OpenSSH's sshd on the same loopback running
# one `echo` for a key-authenticated login of a plain user (/bin/sh, made
# with useradd for the run, as on today's hosts), a new connection per
# poll: the cheapest thing a controller can ask of a stock host.
#
#   bench/poll-cost.sh [OUTDIR]           (as root; default /tmp/bench-poll-cost)
#
# For each way, RUNS polls one after another, then again in BURST parallel
# polls at once (a controller that polls many hosts at the same moment
# only loads each host once, but several controllers sharing hosts do):
#   - latency of each poll, as the controller sees it (date +%s%N around
#     the client);
#   - the server's CPU per poll: utime+stime+cutime+cstime of hostd (or
#     sshd) and its live descendants (the per-connection processes are its
#     children; once reaped, their CPU is in its cutime/cstime), before
#     and after;
#   - the client's CPU per poll (the controller's side), from bash's times;
#   - TCP connections accepted per poll (hostd_ssh_connections_total;
#     sshd's accepted logins).
# Every answer is checked (apiVersion, slots.total), in bulk after each
# round, so that the controller side's CPU is the client's alone.  The ways take
# turns in rounds of RUNS/ROUNDS polls (A B C, B C A, ...) to cancel drift.
#
# Environment: HOSTD, HOSTCTL (default build/...), RUNS=300, ROUNDS=3,
# BURST=20.  Needs openssh-server installed (its sshd runs privately here,
# own port, config and keys; the system's ssh service is not touched).  Raw numbers: OUTDIR/raw.csv; summary: OUTDIR/table.txt.
set -euo pipefail

OUT=${1:-/tmp/bench-poll-cost}
RUNS=${RUNS:-300}
ROUNDS=${ROUNDS:-3}
BURST=${BURST:-20}
SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
HOSTD=${HOSTD:-$SRC_DIR/build/hostd/hostd}
HOSTCTL=${HOSTCTL:-$SRC_DIR/build/ctl/hostctl}

die() { echo "poll-cost: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (hostd needs it)"
for t in ssh ssh-keygen jq python3 /usr/sbin/sshd; do command -v "$t" >/dev/null || die "$t missing"; done
[ -x "$HOSTD" ] && [ -x "$HOSTCTL" ] || die "no $HOSTD or $HOSTCTL (meson compile -C build)"
mkdir -p "$OUT"

T=$(mktemp -d /tmp/poll-cost.XXXXXX)
chmod 0755 "$T"   # the jobs' uids must reach the state dir (hostd checks)
HOSTD_PID=
SSHD_PID=
RUN_SSHD_MADE=
BUSER=pollbench$$
USER_MADE=
cleanup() {
        [ -n "$HOSTD_PID" ] && kill "$HOSTD_PID" 2>/dev/null && wait "$HOSTD_PID" 2>/dev/null
        [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
        [ -n "$RUN_SSHD_MADE" ] && rmdir /run/sshd 2>/dev/null
        [ -n "$USER_MADE" ] && userdel "$BUSER" 2>/dev/null
        ssh -o ControlPath="$T/mux" -O exit x 2>/dev/null || true
        rm -rf "$T"
}
trap cleanup EXIT

PORT=$((20000 + RANDOM % 20000))
ssh-keygen -q -t ed25519 -N '' -f "$T/ck"
cp "$T/ck.pub" "$T/keys"
chmod 600 "$T/keys"
# A uid pool far from the tests' (this runs no job).
"$HOSTD" --state-dir "$T/state" --control-socket "$T/ctl.sock" --listen "127.0.0.1:$PORT" \
        --controller-keys "$T/keys" --set UIDPool.Start=$((65536 * 3000)) --set UIDPool.Ranges=4 \
        --log-target stderr >"$T/hostd.log" 2>&1 &
HOSTD_PID=$!
for _ in $(seq 100); do "$HOSTCTL" --socket "$T/ctl.sock" capacity >/dev/null 2>&1 && break; sleep 0.1; done
"$HOSTCTL" --socket "$T/ctl.sock" capacity >/dev/null || { cat "$T/hostd.log" >&2; die "hostd did not start"; }
# The baseline: a private sshd, one user by key only, nothing else
# enabled.  -p '*': no password but not locked (UsePAM no refuses '!').
useradd -M -d "$T" -s /bin/sh -p '*' "$BUSER"
USER_MADE=1
install -m 644 "$T/ck.pub" "$T/sshd_keys"   # sshd reads it as the user
SSHD_PORT=$((PORT + 1))
[ -d /run/sshd ] || { mkdir -m 755 /run/sshd; RUN_SSHD_MADE=1; }
ssh-keygen -q -t ed25519 -N '' -f "$T/sshd_host"
cat >"$T/sshd_config" <<CONF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $T/sshd_host
PidFile $T/sshd.pid
AuthorizedKeysFile $T/sshd_keys
AllowUsers $BUSER
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
# $T/sshd_keys is root's, under /tmp (world-writable): StrictModes refuses both.
StrictModes no
# sshd's default 10:30:100 drops some of a burst of 20 at random; hostd
# serves 20 from a controller (PerSourceMaxStartups + ControllerStartups).
MaxStartups 100
Subsystem sftp internal-sftp
CONF
/usr/sbin/sshd -D -f "$T/sshd_config" -E "$T/sshd.log" &
SSHD_PID=$!
for k in "$T"/state/host-keys/*.pub; do echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$k")"; done >"$T/kh"
echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$T/sshd_host.pub")" >>"$T/kh"
# One key exchange for both servers (sshd 9.2 would pick the costlier
# sntrup761x25519 by default, which libssh 0.10 does not offer).
SSH_BASE=(ssh -F /dev/null -o KexAlgorithms=curve25519-sha256 -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none -o StrictHostKeyChecking=yes
     -o UserKnownHostsFile="$T/kh" -i "$T/ck")
SSH=("${SSH_BASE[@]}" -p "$PORT")
for _ in $(seq 50); do "${SSH_BASE[@]}" -p "$SSHD_PORT" "$BUSER@127.0.0.1" true 2>/dev/null && break; sleep 0.1; done
"${SSH_BASE[@]}" -p "$SSHD_PORT" "$BUSER@127.0.0.1" true || { cat "$T/sshd.log" >&2; die "sshd did not come up"; }
"${SSH[@]}" -o ControlMaster=yes -o ControlPath="$T/mux" -o ControlPersist=600 -fN controller@127.0.0.1 ||
        die "cannot open the reused connection"

# poll WAY N: one capacity answer, to $T/ans/N (checked in bulk by
# check_answers, so that no jq runs per poll on the controller's side).
mkdir -p "$T/ans"
poll() {
        case $1 in
        fresh) "${SSH[@]}" controller@127.0.0.1 capacity ;;
        reused) "${SSH[@]}" -o ControlPath="$T/mux" controller@127.0.0.1 capacity ;;
        local) "$HOSTCTL" --socket "$T/ctl.sock" --json capacity ;;
        sshd) "${SSH_BASE[@]}" -p "$SSHD_PORT" "$BUSER@127.0.0.1" 'echo {\"sshd\": true}' ;;
        esac >"$T/ans/$2"
}
check_answers() {
        local n
        n=$(cat "$T"/ans/* | jq -s '[.[] | select((.apiVersion == "hostd/v1" and .slots.total == 4) or .sshd == true)] | length')
        [ "$n" = "$(ls "$T/ans" | wc -l)" ] || die "$(ls "$T/ans" | wc -l) answers, $n of them a good capacity answer"
        rm -f "$T"/ans/*
}
# hostd's CPU so far, in ticks: its own, its reaped children's (cutime,
# cstime), and that of its live descendants (the reused connection's
# processes live through the whole measurement).
server_ticks() {
        local pid=$HOSTD_PID
        [ "$1" != sshd ] || pid=$SSHD_PID
        python3 - "$pid" <<'PY'
import os, sys
root = int(sys.argv[1])
stat = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            f = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        v = f[f.rindex(")") + 2:].split()
        stat[int(d)] = (int(v[1]), sum(int(x) for x in v[11:15]))
def under(p):
    while p > 1:
        if p == root:
            return True
        p = stat.get(p, (0, 0))[0]
    return False
print(sum(t for p, (pp, t) in stat.items() if under(p)))
PY
}
# TCP connections the server accepted so far: hostd's counter, or sshd's
# log lines for accepted logins (the only way in that sshd offers here).
connections() {
        if [ "$1" = sshd ]; then
                grep -c 'Accepted publickey' "$T/sshd.log" || true
        else
                "$HOSTCTL" --socket "$T/ctl.sock" --json metrics | jq -r .text |
                        awk '$1 == "hostd_ssh_connections_total" { print $2 }'
        fi
}
# The children's user+system time of this shell, in ticks: `times` must
# run in this shell (not in a $(...) subshell), so it writes to a file.
times_ticks() {
        python3 -c 'import sys
def s(x): m, r = x.split("m"); return float(m) * 60 + float(r.rstrip("s"))
u, y = open(sys.argv[1]).read().split("\n")[1].split()
print(round((s(u) + s(y)) * 100))' "$1"
}

echo "way,mode,run,latency_ms" >"$OUT/raw.csv"
declare -A host_ticks conns client per
WAYS=(fresh reused local sshd)
for w in "${WAYS[@]}"; do host_ticks[$w]=0; conns[$w]=0; client[$w]=0; per[$w]=0; done
sleep 1
per_round=$((RUNS / ROUNDS))
for ((r = 0; r < ROUNDS; r++)); do
        for ((k = 0; k < ${#WAYS[@]}; k++)); do
                w=${WAYS[$(((r + k) % ${#WAYS[@]}))]}
                h0=$(server_ticks "$w"); c0=$(connections "$w"); times >"$T/times0"
                for ((i = 0; i < per_round; i++)); do
                        s=$(date +%s%N)
                        poll "$w" "$i"
                        e=$(date +%s%N)
                        echo "$w,serial,$((r * per_round + i)),$(((e - s) / 1000))" >>"$OUT/raw.csv.us"
                done
                sleep 0.5   # the last connection's processes reaped
                check_answers
                times >"$T/times1"; h1=$(server_ticks "$w"); c1=$(connections "$w")
                t0=$(times_ticks "$T/times0"); t1=$(times_ticks "$T/times1")
                host_ticks[$w]=$((host_ticks[$w] + h1 - h0))
                conns[$w]=$((conns[$w] + c1 - c0))
                client[$w]=$((client[$w] + t1 - t0))
                per[$w]=$((per[$w] + per_round))
        done
done
# Bursts: BURST polls at once, ROUNDS times per way.
for w in "${WAYS[@]}"; do
        for ((r = 0; r < ROUNDS; r++)); do
                s=$(date +%s%N)
                pids=()
                for ((i = 0; i < BURST; i++)); do poll "$w" "$i" & pids+=($!); done
                for p in "${pids[@]}"; do wait "$p" || die "a burst poll failed ($w)"; done
                e=$(date +%s%N)
                check_answers
                echo "$w,burst$BURST,$r,$(((e - s) / 1000))" >>"$OUT/raw.csv.us"
        done
done
awk -F, '{ printf "%s,%s,%s,%.3f\n", $1, $2, $3, $4 / 1000 }' "$OUT/raw.csv.us" >>"$OUT/raw.csv"
rm -f "$OUT/raw.csv.us"

hz=$(getconf CLK_TCK)
{
        printf 'capacity polls: %d serial per way (%d rounds), bursts of %d; %s, %d CPUs\n\n' \
                "$RUNS" "$ROUNDS" "$BURST" "$(uname -r)" "$(nproc)"
        printf '%-8s %12s %12s %12s %16s %16s %12s %18s\n' way "p50 ms" "p90 ms" "p99 ms" "server CPU ms/poll" \
                "client CPU ms" "conns/poll" "burst wall ms p50"
        for w in "${WAYS[@]}"; do
                read -r p50 p90 p99 < <(awk -F, -v w="$w" '$1 == w && $2 == "serial" { print $4 }' "$OUT/raw.csv" | sort -n |
                        awk '{ v[NR] = $1 } END { printf "%.1f %.1f %.1f\n", v[int(NR * 0.5) + 1], v[int(NR * 0.9) + 1], v[int(NR * 0.99) + 1] }')
                b50=$(awk -F, -v w="$w" '$1 == w && $2 ~ /^burst/ { print $4 }' "$OUT/raw.csv" | sort -n |
                        awk '{ v[NR] = $1 } END { printf "%.0f", v[int(NR * 0.5) + 1] }')
                awk -v w="$w" -v p50="$p50" -v p90="$p90" -v p99="$p99" -v h="${host_ticks[$w]}" -v c="${client[$w]}" \
                    -v n="${conns[$w]}" -v per="${per[$w]}" -v hz="$hz" -v b="$b50" 'BEGIN {
                        printf "%-8s %12s %12s %12s %16.2f %16.2f %12.2f %18s\n", w, p50, p90, p99,
                               h * 1000 / hz / per, c * 1000 / hz / per, n / per, b }'
        done
} | tee "$OUT/table.txt"
