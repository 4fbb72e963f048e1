#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmark: what an emulated platform costs a build.  The same
# Containerfile built natively, in a job allocated as linux/amd64, and
# emulated, in a job allocated as linux/arm64 on this amd64 host (its RUN
# steps run arm64 binaries under qemu-aarch64 through binfmt_misc), side
# by side.
#
#   bench/emulated-build.sh [OUTDIR]    (default /tmp/bench-emulated-build; root, x86_64)
#
# A registry (Debian's docker-registry on the host's 127.0.0.1, storage in
# the run's temp dir) holds $REG/base:latest, a manifest list of amd64 and
# arm64 images of Debian's static busybox (tests/integration/registry-lib.sh).
# One hostd (Platforms.AllowEmulated=yes) with two jobs under the default
# Network=private: N allocated as linux/amd64, E as linux/arm64; each pulls
# the base once before anything is timed (E gets the arm64 entry, its
# platform being podman's default there), so no pull is measured.  The
# Containerfile, FROM that base:
#   (a) loop:   busybox sh counting to LOOP with $((i+1)), no forks;
#       data:   SIZE_MB MiB of /dev/urandom to /data with busybox dd (the
#               kernel's work; not a CPU step of the build's own binaries);
#   (b) sha256: busybox sha256sum /data;  gzip: busybox gzip -GZIP_LEVEL of it.
# Each step reads /proc/uptime (10 ms ticks) before and after its command,
# with the shell's builtin read, and prints it; the whole build is timed in
# the job around `podman build --no-cache --pull=never` with date +%s%N, so
# "build" includes what podman does natively in both jobs: the containers'
# setup, the layers' diff and commit.  Every build gets its own RUN_ID
# build arg as well, so no layer is reused.  One unrecorded build per job
# first, which also checks that E's steps ran as aarch64 and N's as x86_64
# and that E's image is linux/arm64 (every recorded run checks the
# architecture its steps printed, too).  Then RUNS runs, alternating N E,
# E N, ...; the image is removed after each (untimed).
#
# Environment: HOSTD, HOSTCTL (default build/...), RUNS=5, LOOP=300000,
# SIZE_MB=64, GZIP_LEVEL=9, DISK=4G (each job's disk image).
# Raw numbers go to OUTDIR/raw.csv, the summary to OUTDIR/table.txt.
set -euo pipefail

OUT=${1:-/tmp/bench-emulated-build}
RUNS=${RUNS:-5}
LOOP=${LOOP:-300000}
SIZE_MB=${SIZE_MB:-64}
GZIP_LEVEL=${GZIP_LEVEL:-9}
DISK=${DISK:-4G}
SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
export HOSTD=${HOSTD:-$SRC_DIR/build/hostd/hostd}
export HOSTCTL=${HOSTCTL:-$SRC_DIR/build/ctl/hostctl}

BENCH=emulated-build
. "$SRC_DIR/bench/lib.sh"
need_root
[ "$(uname -m)" = x86_64 ] || { echo "emulated-build: emulates arm64 on an x86_64 host; this is $(uname -m)" >&2; exit 1; }
need docker-registry docker-registry
need buildah buildah
need skopeo skopeo
need podman podman
need jq jq
need pasta passt
need busybox busybox-static
[ -r /usr/lib/binfmt.d/qemu-aarch64.conf ] || { echo "emulated-build: apt-get install qemu-user-static" >&2; exit 1; }
ls /var/cache/hostd-test/busybox-static_*_arm64.deb >/dev/null 2>&1 ||
        { echo "emulated-build: Debian's busybox-static:arm64 .deb is not in /var/cache/hostd-test (tools/install-deps.sh fetches it: apt-get download busybox-static:arm64)" >&2; exit 1; }
[ -x "$HOSTD" ] && [ -x "$HOSTCTL" ] || { echo "emulated-build: no $HOSTD or $HOSTCTL (meson compile -C build)" >&2; exit 1; }
mkdir -p "$OUT"

# The integration tests' helpers: hostd on a private state dir, port and
# uid pool; jobs over stock ssh; the registry and the base image.
# shellcheck source=/dev/null
. "$SRC_DIR/tests/integration/lib.sh"
# shellcheck source=/dev/null
. "$SRC_DIR/tests/integration/ssh-lib.sh"
# shellcheck source=/dev/null
. "$SRC_DIR/tests/integration/registry-lib.sh"
register_qemu_aarch64 >&2 || { echo "emulated-build: cannot register qemu-aarch64 in binfmt_misc" >&2; exit 1; }
# set +e first: under errexit "(exit $rc)" would end the trap before cleanup.
trap 'rc=$?; set +e; stop_registry; (exit $rc); cleanup' EXIT
T_START=$SECONDS

start_registry
push_base_images >/dev/null
start_hostd_ssh --set Platforms.AllowEmulated=yes
N=$(alloc_job n --disk "$DISK")
E=$(PLAT=linux/arm64 alloc_job e --disk "$DISK")
[ "$(jq -r .platform "$WORK/jobs/e.json")" = linux/arm64 ] ||
        { echo "emulated-build: no linux/arm64 job: $(jq -c '.error // .' "$WORK/jobs/e.json")" >&2; exit 1; }

mkdir -p "$WORK/ws"
cat >"$WORK/ws/Containerfile" <<'EOC'
ARG REG
FROM $REG/base:latest
ARG RUN_ID
ARG LOOP
ARG SIZE_MB
ARG GZIP_LEVEL
# (a) a shell loop: arithmetic in busybox sh, no forks
RUN echo "BENCH arch $(uname -m) $RUN_ID" && read t0 _ </proc/uptime && i=0 && \
    while [ $i -lt $LOOP ]; do i=$((i+1)); done && read t1 _ </proc/uptime && echo "BENCH loop $t0 $t1 $i"
# the data: the kernel's random bytes, written to the layer
RUN read t0 _ </proc/uptime && busybox dd if=/dev/urandom of=/data bs=1048576 count=$SIZE_MB 2>/dev/null && \
    read t1 _ </proc/uptime && echo "BENCH data $t0 $t1 $RUN_ID"
# (b) compute-bound tools
RUN read t0 _ </proc/uptime && sha256sum /data >/data.sha256 && read t1 _ </proc/uptime && \
    busybox gzip -$GZIP_LEVEL -c /data >/data.gz && read t2 _ </proc/uptime && \
    echo "BENCH sha256 $t0 $t1 $RUN_ID" && echo "BENCH gzip $t1 $t2 $RUN_ID"
EOC
declare -A JREG ARCH=([n]=x86_64 [e]=aarch64) IARCH=([n]=amd64 [e]=arm64) NAME=([n]=native [e]=emulated)
for j in n e; do
        JREG[$j]=$(job_registry "$j")
        rsync -a -e "$(jrsh "$j")" "$WORK/ws/" "$(jid "$j")@127.0.0.1:ws/"
        sshj "$j" "podman pull -q --tls-verify=false ${JREG[$j]}/base:latest >/dev/null"
        a=$(sshj "$j" "podman image inspect --format '{{.Architecture}}' ${JREG[$j]}/base:latest")
        [ "$a" = "${IARCH[$j]}" ] || { echo "emulated-build: job $j pulled a $a base, not ${IARCH[$j]}" >&2; exit 1; }
done
echo "emulated-build: N $N (linux/amd64), E $E (linux/arm64), registry ${JREG[n]} / ${JREG[e]}" >&2

# build JOB ID: one build; prints "build MS" and the BENCH lines of its
# steps; fails (with the build's tail) if podman does.
build() {
        local j=$1 id=$2
        sshj "$j" "cd ws && s=\$(date +%s%N) &&
                   podman build --no-cache --pull=never --tls-verify=false --build-arg REG=${JREG[$j]} \
                        --build-arg RUN_ID=$id --build-arg LOOP=$LOOP --build-arg SIZE_MB=$SIZE_MB \
                        --build-arg GZIP_LEVEL=$GZIP_LEVEL -t bench:$id . >build.log 2>&1 || { tail -n 20 build.log >&2; exit 1; }
                   e=\$(date +%s%N) && echo build \$(( (e - s) / 1000000 )) && grep '^BENCH ' build.log"
}
unbuild() { sshj "$1" "podman rmi -f bench:$2 >/dev/null && podman image prune -f >/dev/null"; }

# The check: one unrecorded build per job; its steps ran as the job's
# architecture, the image is of the job's platform, the loop counted.
for j in n e; do
        out=$(build "$j" warmup-$j)
        grep -qx "BENCH arch ${ARCH[$j]} warmup-$j" <<<"$out" ||
                { echo "emulated-build: job $j's RUN steps did not run as ${ARCH[$j]}:" >&2; echo "$out" >&2; exit 1; }
        grep -q "^BENCH loop .* $LOOP\$" <<<"$out" || { echo "emulated-build: the loop did not count to $LOOP" >&2; exit 1; }
        a=$(sshj "$j" "podman image inspect --format '{{.Os}}/{{.Architecture}}' bench:warmup-$j")
        [ "$a" = "linux/${IARCH[$j]}" ] || { echo "emulated-build: job $j built a $a image" >&2; exit 1; }
        unbuild "$j" "warmup-$j"
done

echo "run,variant,platform,step,ms,load1" >"$OUT/raw.csv"
for r in $(seq 1 "$RUNS"); do
        if [ $((r % 2)) = 1 ]; then order="n e"; else order="e n"; fi
        for j in $order; do
                load=$(cut -d' ' -f1 /proc/loadavg)
                out=$(build "$j" "r$r-$j")
                grep -qx "BENCH arch ${ARCH[$j]} r$r-$j" <<<"$out" || { echo "emulated-build: run $r, job $j: wrong architecture" >&2; exit 1; }
                awk -v r="$r" -v v="${NAME[$j]}" -v p="linux/${IARCH[$j]}" -v l="$load" '
                        $1 == "build" { b = $2 }
                        $1 == "BENCH" && $2 != "arch" { ms[$2] = ($4 - $3) * 1000; sum += ms[$2] }
                        END {
                                for (s in ms) printf "%s,%s,%s,%s,%.0f,%s\n", r, v, p, s, ms[s], l
                                printf "%s,%s,%s,other,%.0f,%s\n", r, v, p, b - sum, l
                                printf "%s,%s,%s,build,%d,%s\n", r, v, p, b, l
                        }' <<<"$out" >>"$OUT/raw.csv"
                unbuild "$j" "r$r-$j"
                echo "emulated-build: run $r ${NAME[$j]}: $(grep -o 'build [0-9]*' <<<"$out") ms (load $load)" >&2
        done
done

hc release "$N" >/dev/null
hc release "$E" >/dev/null

# Median (min-max) per variant and step, and emulated / native.
python3 - "$OUT/raw.csv" "$RUNS" "$LOOP" "$SIZE_MB" "$GZIP_LEVEL" "$(nproc)" "$(uname -r)" \
        "$(dpkg-query -W -f '${Version}' qemu-user-static)" "$(podman --version)" "$((SECONDS - T_START))" <<'EOF' | tee "$OUT/table.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
runs, loop, size, gz, ncpu, kernel, qemu, podman, wall = sys.argv[2:11]
steps = [("loop", f"(a) shell loop, {int(loop):,} iterations"),
         ("data", f"{size} MiB of /dev/urandom (dd)"),
         ("sha256", f"(b) sha256sum of {size} MiB"),
         ("gzip", f"(b) gzip -{gz} of {size} MiB"),
         ("other", "podman's own work (build - steps)"),
         ("build", "whole build")]
loads = [float(x["load1"]) for x in rows]
print(f"{runs} runs per variant, alternating; median (min-max) ms; emulated/native = ratio of medians")
print(f"machine: {ncpu} CPUs, kernel {kernel}, qemu-user-static {qemu}, {podman}")
print(f"load average (1 min) at the builds: {min(loads):.2f}-{max(loads):.2f}; script wall time {wall} s")
print(f"| step | native (linux/amd64) | emulated (linux/arm64, qemu) | emulated / native |")
print(f"|---|---|---|---|")
for key, label in steps:
    cells, med = [], {}
    for v in ("native", "emulated"):
        vals = [float(x["ms"]) for x in rows if x["variant"] == v and x["step"] == key]
        med[v] = statistics.median(vals)
        cells.append(f"{med[v]:,.0f} ({min(vals):,.0f}-{max(vals):,.0f})")
    ratio = med["emulated"] / med["native"] if med["native"] > 0 else float("nan")
    print(f"| {label} | {cells[0]} | {cells[1]} | {ratio:.1f}x |")
EOF
echo "emulated-build: done in $((SECONDS - T_START)) s; $OUT/raw.csv, $OUT/table.txt" >&2
