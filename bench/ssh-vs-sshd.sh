#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmark: hostd's embedded SSH server (libssh, privilege-separated) against
# OpenSSH's sshd with a plain user account ("today's hosts"), on loopback,
# side by side, with the same client, the same cipher, kex and key type.
#
#   bench/ssh-vs-sshd.sh [OUTDIR]        (default /tmp/bench-out; needs root)
#
# Environment:
#   HOSTD=path        hostd binary (default: build it into /tmp/b-bench)
#   LAT_RUNS=200      `ssh true` runs per server
#   XFER_RUNS=3       1 GiB upload/download runs per server
#   XFER_BYTES=1G     transfer size (head -c syntax)
#   RSYNC_RUNS=3      rsync runs per server
#   RSYNC_FILES=10000 files in the rsync tree
#   TMPFS=1           put the work dir (both homes, hostd's state dir, the
#                     payload) on a private tmpfs so that disk writeback does
#                     not drown the SSH cost; TMPFS=0 uses /tmp's filesystem
#
# The two servers are measured alternately (latency: A B A B ... run by run;
# transfers and rsync: A B, B A, A B ... so neither always goes first) to
# cancel drift.  Raw numbers go to OUTDIR/raw.csv, the summary to
# OUTDIR/summary.json and OUTDIR/table.txt.  Everything it creates (sshd,
# hostd, the test user, temp dirs) is removed on exit, failure included.
set -euo pipefail

OUT=${1:-/tmp/bench-out}
LAT_RUNS=${LAT_RUNS:-200}
XFER_RUNS=${XFER_RUNS:-3}
XFER_BYTES=${XFER_BYTES:-1G}
RSYNC_RUNS=${RSYNC_RUNS:-3}
RSYNC_FILES=${RSYNC_FILES:-10000}
TMPFS=${TMPFS:-1}
SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)

BENCH=ssh-vs-sshd
. "$SRC_DIR/bench/lib.sh"

[ "$(id -u)" = 0 ] || die "needs root (it creates a user and runs sshd and hostd)"
for t in sshd ssh ssh-keygen rsync python3 useradd userdel; do
        command -v "$t" >/dev/null || die "missing $t (apt-get install -y openssh-server openssh-client rsync)"
done

release_hostd /tmp/b-bench

# ---- setup, with cleanup of everything on any exit ---------------------------

T=$(mktemp -d /tmp/ssh-vs-sshd.XXXXXX)
TMPFS_MADE=
if [ "$TMPFS" = 1 ]; then
        mount -t tmpfs -o size=6G,mode=755 bench-ssh-vs-sshd "$T" || die "cannot mount a tmpfs on $T"
        TMPFS_MADE=1
fi
chmod 755 "$T"     # job and test-user homes live below; their uids must traverse it
BUSER=hbench$$
SSHD_PID= HOSTD_PID= JOB= USER_MADE= RUN_SSHD_MADE=

cleanup() {
        local rc=$?
        set +e
        trap - EXIT INT TERM
        if [ -n "$JOB" ] && [ -n "$HOSTD_PID" ]; then
                "$HOSTCTL" --socket "$T/ctl.sock" release "$JOB" >/dev/null 2>&1 ||
                        echo "ssh-vs-sshd: release of $JOB failed" >&2
        fi
        for p in $HOSTD_PID $SSHD_PID; do
                kill "$p" 2>/dev/null
        done
        for p in $HOSTD_PID $SSHD_PID; do
                for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
                kill -9 "$p" 2>/dev/null
                wait "$p" 2>/dev/null
        done
        if [ -n "$USER_MADE" ]; then
                # The listener is gone; wait for this user's last session to end.
                for _ in $(seq 50); do [ -z "$(ps -o pid= -u "$BUSER" 2>/dev/null)" ] && break; sleep 0.1; done
                userdel "$BUSER" 2>/dev/null || echo "ssh-vs-sshd: userdel $BUSER failed" >&2
        fi
        [ -n "$RUN_SSHD_MADE" ] && rmdir /run/sshd 2>/dev/null
        [ -n "$TMPFS_MADE" ] && { umount "$T" || umount -l "$T"; }
        rm -rf "$T"
        exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

HOSTCTL=$(dirname "$(dirname "$HOSTD")")/ctl/hostctl
[ -x "$HOSTCTL" ] || HOSTCTL=$(command -v hostctl || true)

SSHD_PORT=$(free_port)
HOSTD_PORT=$(free_port)
while [ "$HOSTD_PORT" = "$SSHD_PORT" ]; do HOSTD_PORT=$(free_port); done

CLIENT_OPTS=(-o Ciphers=aes128-gcm@openssh.com -o KexAlgorithms=curve25519-sha256 -o ControlMaster=no -F /dev/null
             -o BatchMode=yes -o LogLevel=ERROR)

# -- sshd + a user, as on today's hosts
log "sshd: user $BUSER, port $SSHD_PORT"
mkdir -p "$T/sshd"
[ -d /run/sshd ] || { mkdir -m 755 /run/sshd; RUN_SSHD_MADE=1; }
ssh-keygen -q -t ed25519 -N '' -C bench-sshd-host -f "$T/sshd/host_ed25519"
# -p '*': no password, but not locked (with UsePAM no, sshd refuses a '!' account).
useradd -m -d "$T/home-$BUSER" -s /bin/sh -p '*' "$BUSER"
USER_MADE=1
ssh-keygen -q -t ed25519 -N '' -C bench-sshd-user -f "$T/sshd_userkey"
install -d -m 700 -o "$BUSER" -g "$BUSER" "$T/home-$BUSER/.ssh"
install -m 600 -o "$BUSER" -g "$BUSER" "$T/sshd_userkey.pub" "$T/home-$BUSER/.ssh/authorized_keys"
cat > "$T/sshd/sshd_config" <<EOF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $T/sshd/host_ed25519
PidFile $T/sshd/sshd.pid
UsePAM no
Ciphers aes128-gcm@openssh.com
KexAlgorithms curve25519-sha256
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
AllowUsers $BUSER
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
/usr/sbin/sshd -t -f "$T/sshd/sshd_config" || die "sshd config rejected"
/usr/sbin/sshd -D -f "$T/sshd/sshd_config" -E "$T/sshd/sshd.log" &
SSHD_PID=$!
echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$T/sshd/host_ed25519.pub")" > "$T/known_hosts"

# -- hostd + an allocated job
log "hostd: $HOSTD, port $HOSTD_PORT"
ssh-keygen -q -t ed25519 -N '' -C bench-controller -f "$T/ctlkey"
install -m 600 "$T/ctlkey.pub" "$T/controller_keys"
mkdir -m 755 "$T/hostd-state"
"$HOSTD" --state-dir "$T/hostd-state" --control-socket "$T/ctl.sock" --listen "127.0.0.1:$HOSTD_PORT" \
        --controller-keys "$T/controller_keys" > "$T/hostd.log" 2>&1 &
HOSTD_PID=$!

wait_port "$SSHD_PORT" || { cat "$T/sshd/sshd.log" >&2; die "sshd did not come up"; }
wait_port "$HOSTD_PORT" || { cat "$T/hostd.log" >&2; die "hostd did not come up"; }

ssh "${CLIENT_OPTS[@]}" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -i "$T/ctlkey" -p "$HOSTD_PORT" \
        controller@127.0.0.1 allocate --owner bench/ssh-vs-sshd --platform "linux/$(dpkg --print-architecture)" --lease 2h \
        > "$T/alloc.json" || { cat "$T/hostd.log" >&2; die "allocate failed"; }
JOB=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["job"])' "$T/alloc.json")
python3 - "$T" <<'EOF'
import json, os, sys
t = sys.argv[1]
d = json.load(open(f"{t}/alloc.json"))
fd = os.open(f"{t}/jobkey", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, d["private_key"].encode())
os.close(fd)
with open(f"{t}/known_hosts", "a") as f:
    f.write(d["known_hosts"].rstrip("\n") + "\n")
EOF

# Server-specific argument lists: A = hostd, B = sshd.
SSH_hostd=(ssh "${CLIENT_OPTS[@]}" -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/known_hosts" -i "$T/jobkey" -p "$HOSTD_PORT" "$JOB@127.0.0.1")
SSH_sshd=(ssh "${CLIENT_OPTS[@]}" -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/known_hosts" -i "$T/sshd_userkey" -p "$SSHD_PORT" "$BUSER@127.0.0.1")
RSH_hostd="ssh ${CLIENT_OPTS[*]} -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$T/known_hosts -i $T/jobkey -p $HOSTD_PORT"
RSH_sshd="ssh ${CLIENT_OPTS[*]} -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$T/known_hosts -i $T/sshd_userkey -p $SSHD_PORT"
DEST_hostd=$JOB@127.0.0.1
DEST_sshd=$BUSER@127.0.0.1

for s in hostd sshd; do
        declare -n cmd=SSH_$s
        got=$("${cmd[@]}" 'echo ok' </dev/null) || die "$s: ssh echo failed"
        [ "$got" = ok ] || die "$s: unexpected answer '$got'"
        unset -n cmd
done
log "both servers answer; job $JOB, user $BUSER"

mkdir -p "$OUT"
RAW=$OUT/raw.csv
echo "server,metric,run,value" > "$RAW"
record() { echo "$1,$2,$3,$4" >> "$RAW"; }

now_ns() { local t=$EPOCHREALTIME; echo $(( ${t%.*} * 1000000000 + 10#${t#*.} * 1000 )); }

# ---- 1. latency: `ssh host true` -------------------------------------------

log "latency: $LAT_RUNS x ssh true per server, ABAB"
for s in hostd sshd; do   # warm-up (page cache, first-connection effects)
        declare -n cmd=SSH_$s
        for _ in 1 2 3 4 5; do "${cmd[@]}" true </dev/null; done
        unset -n cmd
done
for i in $(seq "$LAT_RUNS"); do
        for s in hostd sshd; do
                declare -n cmd=SSH_$s
                t0=$(now_ns)
                "${cmd[@]}" true </dev/null || die "$s: ssh true failed"
                t1=$(now_ns)
                record "$s" latency_ms "$i" "$(( (t1 - t0) / 1000 ))e-3"
                unset -n cmd
        done
done

# ---- 2. 1 GiB upload and download --------------------------------------------

order() { if (( $1 % 2 )); then echo hostd sshd; else echo sshd hostd; fi; }

log "transfers: generating $XFER_BYTES of random data"
head -c "$XFER_BYTES" /dev/urandom > "$T/payload"
BYTES=$(stat -c %s "$T/payload")
for i in $(seq "$XFER_RUNS"); do
        for s in $(order "$i"); do
                declare -n cmd=SSH_$s
                "${cmd[@]}" 'rm -f payload; sync' </dev/null   # same starting point each run
                t0=$(now_ns)
                "${cmd[@]}" 'cat > payload' < "$T/payload" || die "$s: upload failed"
                t1=$(now_ns)
                record "$s" upload_MBps "$i" "$(python3 -c "print(round($BYTES/(($t1-$t0)/1e9)/1e6,1))")"
                got=$("${cmd[@]}" 'stat -c %s payload' </dev/null)
                [ "$got" = "$BYTES" ] || die "$s: upload landed $got bytes, not $BYTES"
                unset -n cmd
        done
        log "  upload run $i done"
done
for i in $(seq "$XFER_RUNS"); do
        for s in $(order "$i"); do
                declare -n cmd=SSH_$s
                t0=$(now_ns)
                got=$("${cmd[@]}" 'cat payload' </dev/null | wc -c) || die "$s: download failed"
                t1=$(now_ns)
                [ "$got" = "$BYTES" ] || die "$s: download gave $got bytes, not $BYTES"
                record "$s" download_MBps "$i" "$(python3 -c "print(round($BYTES/(($t1-$t0)/1e9)/1e6,1))")"
                unset -n cmd
        done
        log "  download run $i done"
done
for s in hostd sshd; do
        declare -n cmd=SSH_$s
        "${cmd[@]}" 'rm -f payload' </dev/null
        unset -n cmd
done
rm -f "$T/payload"

# ---- 3. rsync -aW of a tree of small files -------------------------------------

log "rsync: generating $RSYNC_FILES files"
python3 - "$T/tree" "$RSYNC_FILES" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
per_dir = 100
for i in range(n):
    d = os.path.join(root, f"d{i // per_dir:03d}")
    if i % per_dir == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}.dat"), "wb") as f:
        f.write(rng.randbytes(rng.randint(1024, 8192)))
EOF
TREE_BYTES=$(du -sb "$T/tree" | cut -f1)
for i in $(seq "$RSYNC_RUNS"); do
        for s in $(order "$i"); do
                declare -n cmd=SSH_$s rsh=RSH_$s dest=DEST_$s
                "${cmd[@]}" "rm -rf rs; sync" </dev/null
                t0=$(now_ns)
                rsync -aW -e "$rsh" "$T/tree/" "$dest:rs/" || die "$s: rsync failed"
                t1=$(now_ns)
                got=$("${cmd[@]}" 'find rs -type f | wc -l' </dev/null)
                [ "$got" = "$RSYNC_FILES" ] || die "$s: rsync landed $got files, not $RSYNC_FILES"
                record "$s" rsync_s "$i" "$(( (t1 - t0) / 1000 ))e-6"
                unset -n cmd rsh dest
        done
        log "  rsync run $i done"
done
for s in hostd sshd; do
        declare -n cmd=SSH_$s
        "${cmd[@]}" 'rm -rf rs' </dev/null
        unset -n cmd
done

# ---- summary ---------------------------------------------------------------

python3 - "$RAW" "$OUT" "$BYTES" "$TREE_BYTES" "$RSYNC_FILES" <<'EOF'
import csv, json, math, os, platform, re, subprocess, sys, statistics as st
raw, out, nbytes, tree_bytes, nfiles = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
v = {}
for r in csv.DictReader(open(raw)):
    v.setdefault((r["server"], r["metric"]), []).append(float(r["value"]))

def p99(xs):
    xs = sorted(xs)
    return xs[max(0, math.ceil(0.99 * len(xs)) - 1)]

size = f"{nbytes / 2**30:g} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:g} MiB"
rows = [  # name, metric, stat, unit, goal: ratio hostd/sshd must be <= or >= goal
    ("ssh true latency, median", "latency_ms", st.median, "ms", ("<=", 1.0)),
    ("ssh true latency, p99", "latency_ms", p99, "ms", ("<=", 1.0)),
    (f"{size} upload (cat > file), median", "upload_MBps", st.median, "MB/s", (">=", 0.9)),
    (f"{size} download (cat file), median", "download_MBps", st.median, "MB/s", (">=", 0.9)),
    (f"rsync -aW {nfiles} files ({tree_bytes/1e6:.0f} MB), median", "rsync_s", st.median, "s", ("<=", 1.0)),
]
summary = {"rows": []}
lines = [f"{'measure':<44} {'hostd':>10} {'sshd':>10}  {'unit':<5} {'hostd/sshd':>10}  goal     met"]
lines.append("-" * len(lines[0]))
for name, metric, fn, unit, (op, goal) in rows:
    h, s = fn(v[("hostd", metric)]), fn(v[("sshd", metric)])
    ratio = h / s
    met = ratio <= goal if op == "<=" else ratio >= goal
    summary["rows"].append({"measure": name, "metric": metric, "unit": unit, "hostd": round(h, 3), "sshd": round(s, 3),
                            "ratio_hostd_over_sshd": round(ratio, 3), "goal": f"{op} {goal}", "met": met,
                            "runs": len(v[("hostd", metric)])})
    lines.append(f"{name:<44} {h:>10.2f} {s:>10.2f}  {unit:<5} {ratio:>10.2f}  {op} {goal:<4} {'yes' if met else 'NO'}")

def cmd(*a):
    try:
        return subprocess.run(a, capture_output=True, text=True).stdout.strip() or subprocess.run(a, capture_output=True, text=True).stderr.strip()
    except OSError:
        return None
cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
mem = re.search(r"MemTotal:\s*(\d+)", open("/proc/meminfo").read())
summary["machine"] = {
    "nproc": os.cpu_count(), "cpu": cpu.group(1) if cpu else None,
    "mem_total_kib": int(mem.group(1)) if mem else None, "kernel": platform.release(),
    "openssh": cmd("ssh", "-V"),
    "libssh": cmd("dpkg-query", "-W", "-f=${Version}", "libssh-4"),
}
summary["transfer_bytes"] = nbytes
summary["raw"] = {f"{k[0]}/{k[1]}": x for k, x in v.items()}
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
text = "\n".join(lines) + "\n(MB = 10^6 bytes; ratios are hostd/sshd)\n"
open(os.path.join(out, "table.txt"), "w").write(text)
print(text)
EOF
log "raw numbers: $RAW; summary: $OUT/summary.json, $OUT/table.txt"
