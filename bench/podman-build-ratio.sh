#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmark: the same `podman build` inside a hostd job (A) and by plain
# rootless podman as a normal user outside hostd (B), side by side, alternating.
#
#   bench/podman-build-ratio.sh [OUTDIR]    (default /tmp/bench-podman; needs root)
#
# The build: FROM scratch, COPY a static busybox, then 3 RUN steps that work:
#   1. write 64 MiB of /dev/urandom and sha256sum it
#   2. write 2,000 small files and tar them, gzip -1 the 64 MiB file
#   3. sha256sum -c, list the tar, md5sum the gzip
# Each run starts from empty storage (cold: no layer cached), and is then
# built again at once (warm: every step from the cache).
#
# A) a fresh job per run: allocate over SSH (untimed), the context goes up
#    with `tar | ssh`, the build runs in the job with the configuration hostd
#    writes for it (overlay on the job's loop-mounted ext4 disk, runc).
# B) a user made for the run (useradd -m, subuids from /etc/subuid), podman
#    rootless with overlay (native, in its user namespace), runc, cgroupfs,
#    --network=none; its storage is in its home on /tmp's filesystem (ext4
#    here, as the job's disk image is ext4). Fresh storage per run: the
#    user's processes (podman's pause process) are killed and its graphroot
#    and runroot removed.
# The build is timed inside (date +%s%N around `podman build`, the same way
# on both sides), so hostd's SSH session setup is not in the ratio; A's time
# as seen from the client, SSH included, is recorded too (outer_ms).
#
# Environment:
#   HOSTD=path   hostd binary (default: build it into /tmp/b-bench2)
#   RUNS=10      runs per side, alternating A B, B A, ...
#   DISK=        --disk for the jobs (default: the policy's DefaultDisk)
#   UID_START=   hostd's [UIDPool] Start (default 4001*65536)
#   ISOLATE_CGROUP=1  hostd in its own cgroup namespace (see cycle-vs-useradd.sh)
#
# Raw numbers: OUTDIR/raw.csv; summary: OUTDIR/summary.json, OUTDIR/table.txt.
# Everything it creates is removed on exit, failure included.
set -euo pipefail

OUT=${1:-/tmp/bench-podman}
RUNS=${RUNS:-10}
DISK=${DISK:-}
UID_START=${UID_START:-$((4001 * 65536))}
ISOLATE_CGROUP=${ISOLATE_CGROUP:-1}
SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
ARCH=$(dpkg --print-architecture)

BENCH=podman-build-ratio
. "$SRC_DIR/bench/lib.sh"

[ "$(id -u)" = 0 ] || die "needs root"
for t in ssh ssh-keygen jq python3 useradd userdel podman runc runuser newuidmap unshare findmnt; do
        command -v "$t" >/dev/null || die "missing $t (apt-get install -y podman runc uidmap busybox-static jq openssh-client)"
done
BUSYBOX=$(readlink -f /bin/busybox)
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || die "/bin/busybox is not static (apt-get install -y busybox-static)"

release_hostd /tmp/b-bench2

T=$(mktemp -d /tmp/podman-build-ratio.XXXXXX)
chmod 755 "$T"
PU=pbr$$
PH=$T/home-$PU
PRUN=$T/run-$PU
HOSTD_PID= CUR_JOB= USER_MADE= CG_DIR=

kill_user_procs() {
        local p
        for _ in $(seq 50); do
                p=$(ps -o pid= -u "$PU" 2>/dev/null || true)
                [ -z "$p" ] && return 0
                # shellcheck disable=SC2086
                kill -9 $p 2>/dev/null || true
                sleep 0.05
        done
}

cleanup() {
        local rc=$?
        set +e
        trap - EXIT INT TERM
        [ -n "$CUR_JOB" ] && [ -n "$HOSTD_PID" ] && { ctl release "$CUR_JOB" >/dev/null 2>&1 ||
                echo "podman-build-ratio: release of $CUR_JOB failed" >&2; }
        if [ -n "$HOSTD_PID" ]; then
                kill "$HOSTD_PID" 2>/dev/null
                for _ in $(seq 50); do kill -0 "$HOSTD_PID" 2>/dev/null || break; sleep 0.1; done
                kill -9 "$HOSTD_PID" 2>/dev/null
                wait "$HOSTD_PID" 2>/dev/null
        fi
        if [ -n "$USER_MADE" ]; then
                kill_user_procs
                userdel "$PU" 2>/dev/null || echo "podman-build-ratio: userdel $PU failed" >&2
        fi
        rmdir_cgroup
        rm -rf "$T"
        exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CLIENT_OPTS=(-o Ciphers=aes128-gcm@openssh.com -o KexAlgorithms=curve25519-sha256 -o ControlMaster=no -F /dev/null
             -o BatchMode=yes -o LogLevel=ERROR -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/known_hosts")

# ---- the build context --------------------------------------------------------

mkdir "$T/ctx"
cp "$BUSYBOX" "$T/ctx/busybox"
cat > "$T/ctx/Containerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /usr/bin /w && /bin/busybox --install -s /usr/bin && export PATH=/usr/bin && head -c 67108864 /dev/urandom > /w/data && sha256sum /w/data > /w/data.sha256"]
RUN ["/bin/busybox", "sh", "-c", "export PATH=/usr/bin; mkdir -p /w/tree && i=0; while [ $i -lt 2000 ]; do echo file $i > /w/tree/f$i; i=$((i+1)); done; tar -cf /w/tree.tar -C /w tree && gzip -1 -c /w/data > /w/data.gz && rm -rf /w/tree"]
RUN ["/bin/busybox", "sh", "-c", "export PATH=/usr/bin; sha256sum -c /w/data.sha256 && tar -tf /w/tree.tar | wc -l > /w/count && md5sum /w/data.gz > /w/gz.md5"]
EOF
# The same timed command on both sides; prints the build's ms.
BUILD_CMD='cd ctx && s=$(date +%s%N) && podman build --network=none -q -t bench . >/dev/null && e=$(date +%s%N) && echo $(( (e - s) / 1000000 ))'

# ---- A: hostd -------------------------------------------------------------------

ssh-keygen -q -t ed25519 -N '' -C bench-controller -f "$T/ctlkey"
install -m 600 "$T/ctlkey.pub" "$T/controller_keys"
mkdir -m 755 "$T/hostd-state"
HOSTD_ARGS=(--state-dir "$T/hostd-state" --control-socket "$T/ctl.sock" --listen "127.0.0.1:$PORT"
            --controller-keys "$T/controller_keys" --set "UIDPool.Start=$UID_START" --log-target stderr)
start_hostd "$T/hostd.log" "$ISOLATE_CGROUP" bench-podman "${HOSTD_ARGS[@]}"
for _ in $(seq 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),0.2)" 2>/dev/null && break
        sleep 0.1
done
for f in "$T"/hostd-state/host-keys/*.pub; do echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$f")"; done > "$T/known_hosts"
ctl() { ssh "${CLIENT_OPTS[@]}" -i "$T/ctlkey" -p "$PORT" controller@127.0.0.1 "$@" </dev/null; }
log "hostd: $HOSTD, port $PORT"

# ---- B: a rootless user -----------------------------------------------------------

useradd -m -d "$PH" -s /bin/sh "$PU"
USER_MADE=1
grep -q "^$PU:" /etc/subuid || die "useradd gave $PU no subuid range"
install -d -m 700 -o "$PU" -g "$PU" "$PRUN" "$PH/.config" "$PH/.config/containers"
cat > "$PH/.config/containers/storage.conf" <<'EOF'
[storage]
driver = "overlay"
EOF
cat > "$PH/.config/containers/containers.conf" <<'EOF'
[containers]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
lock_type = "file"
EOF
chown -R "$PU:$PU" "$PH/.config"
cp -r "$T/ctx" "$PH/ctx"
chown -R "$PU:$PU" "$PH/ctx"
as_user() { runuser -u "$PU" -- env -i HOME="$PH" USER="$PU" XDG_RUNTIME_DIR="$PRUN" PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -c "cd \"\$HOME\" && $1"; }
log "rootless user $PU ($(grep "^$PU:" /etc/subuid)), storage under $PH ($(findmnt -no FSTYPE -T "$PH"))"

mkdir -p "$OUT"
RAW=$OUT/raw.csv
echo "side,run,kind,build_ms,outer_ms" > "$RAW"
now_ns() { local t=$EPOCHREALTIME; echo $(( ${t%.*} * 1000000000 + 10#${t#*.} * 1000 )); }

run_A() {
        local i=$1 job t0 t1 ms kind disk=()
        [ -n "$DISK" ] && disk=(--disk "$DISK")
        ctl allocate --owner "bench/podman-$i" --platform "linux/$ARCH" --lease 1h "${disk[@]}" > "$T/alloc.json" ||
                { tail -n 20 "$T/hostd.log" >&2; die "allocate failed"; }
        job=$(jq -r .job "$T/alloc.json")
        CUR_JOB=$job
        (umask 077; jq -r .private_key "$T/alloc.json" > "$T/jobkey")
        S=(ssh "${CLIENT_OPTS[@]}" -i "$T/jobkey" -p "$PORT" "$job@127.0.0.1")
        tar -C "$T" -cf - ctx | "${S[@]}" 'tar -xf -' || die "A: upload to $job failed"
        [ "$i" = 1 ] && "${S[@]}" 'podman info --format "A: {{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}} on $(df -T ~ | tail -1)"' </dev/null >&2
        for kind in cold warm; do
                t0=$(now_ns)
                ms=$("${S[@]}" "$BUILD_CMD" </dev/null) || { tail -n 20 "$T/hostd.log" >&2; die "A: build in $job failed"; }
                t1=$(now_ns)
                echo "A,$i,$kind,$ms,$(( (t1 - t0) / 1000000 ))" >> "$RAW"
        done
        ctl release "$job" > /dev/null || die "release of $job failed"
        CUR_JOB=
}

run_B() {
        local i=$1 t0 t1 ms kind
        kill_user_procs
        rm -rf "$PH/.local/share/containers" "$PRUN/containers" "$PRUN/libpod" "$PH/.config/containers/podman"
        [ "$i" = 1 ] && as_user 'podman info --format "B: {{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}}" 2>/dev/null' >&2
        for kind in cold warm; do
                t0=$(now_ns)
                ms=$(as_user "$BUILD_CMD" 2> >(grep -v 'not a shared mount' >&2)) || die "B: rootless build failed"
                t1=$(now_ns)
                echo "B,$i,$kind,$ms,$(( (t1 - t0) / 1000000 ))" >> "$RAW"
        done
}

log "warm-up: one build per side (page cache, binaries)"
run_A 0; run_B 0
sed -i '/^[AB],0,/d' "$RAW"
log "measuring: $RUNS runs per side, alternating"
for i in $(seq "$RUNS"); do
        if (( i % 2 )); then run_A "$i"; run_B "$i"; else run_B "$i"; run_A "$i"; fi
        log "  run $i: $(grep -E "^[AB],$i,cold" "$RAW" | cut -d, -f1,4 | tr '\n' ' ')ms (cold)"
done

python3 - "$RAW" "$OUT" <<'EOF'
import csv, json, os, platform, re, subprocess, sys, statistics as st
raw, out = sys.argv[1:3]
v = {}
for r in csv.DictReader(open(raw)):
    v.setdefault((r["side"], r["kind"]), []).append(float(r["build_ms"]))
    v.setdefault((r["side"], r["kind"] + "_outer"), []).append(float(r["outer_ms"]))
rows, lines = [], []
hdr = f"{'build':<34} {'hostd med':>10} {'min-max':>13} {'rootless med':>13} {'min-max':>13}  {'ratio':>6}  goal    met"
lines += [hdr, "-" * len(hdr)]
for kind, name in [("cold", "cold (fresh storage), ms"), ("warm", "warm rebuild (all cached), ms")]:
    a, b = v[("A", kind)], v[("B", kind)]
    ratio = st.median(a) / st.median(b)
    met = ratio <= 1.05
    rows.append({"build": kind, "runs": len(a), "hostd_median_ms": st.median(a), "hostd_min_ms": min(a), "hostd_max_ms": max(a),
                 "rootless_median_ms": st.median(b), "rootless_min_ms": min(b), "rootless_max_ms": max(b),
                 "ratio_hostd_over_rootless": round(ratio, 3), "goal": "<= 1.05", "met": met,
                 "hostd_median_with_ssh_ms": st.median(v[("A", kind + "_outer")])})
    lines.append(f"{name:<34} {st.median(a):>10.0f} {f'{min(a):.0f}-{max(a):.0f}':>13} {st.median(b):>13.0f} "
                 f"{f'{min(b):.0f}-{max(b):.0f}':>13}  {ratio:>6.3f}  <= 1.05 {'yes' if met else 'NO'}")
lines.append(f"(load average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])} on {os.cpu_count()} CPUs)")
lines.append(f"(timed inside around `podman build`; hostd as seen by the ssh client, SSH included: "
             f"cold {st.median(v[('A','cold_outer')]):.0f} ms, warm {st.median(v[('A','warm_outer')]):.0f} ms)")
cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
def cmd(*a):
    p = subprocess.run(a, capture_output=True, text=True)
    return (p.stdout or p.stderr).strip()
summary = {"rows": rows, "machine": {"nproc": os.cpu_count(), "cpu": cpu.group(1) if cpu else None,
           "kernel": platform.release(), "podman": cmd("podman", "--version"), "runc": cmd("runc", "--version").splitlines()[0]},
           "loadavg_at_end": open("/proc/loadavg").read().split()[:3],
           "raw": {f"{k[0]}/{k[1]}": x for k, x in v.items()}}
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
text = "\n".join(lines) + "\n"
open(os.path.join(out, "table.txt"), "w").write(text)
print(text)
EOF
log "raw numbers: $RAW; summary: $OUT/summary.json, $OUT/table.txt"
