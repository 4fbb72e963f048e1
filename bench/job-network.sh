#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmark: what [Jobs] Network=private (the job's own network namespace,
# egress through pasta) costs a job's registry traffic, against
# Network=host, side by side.
#
#   bench/job-network.sh [OUTDIR]     (default /tmp/bench-job-network; root)
#
# A registry (Debian's docker-registry, Go, storage on /dev/shm so that no
# disk is measured) listens on the host's 127.0.0.1.  Two jobs of one hostd:
# P allocated under Network=private, H under Network=host (a job keeps the
# network it was allocated with, so one hostd restarted between the two
# allocates serves both).  Each job has a SIZE_MB blob of random bytes in
# its home (page cache warm) and, RUNS times, alternating P H, H P, ...:
#   push: curl POST /v2/bench-JOB/blobs/uploads/ then a monolithic PUT of
#         the blob (?digest=sha256:...), which the registry reads, hashes,
#         and stores;
#   pull: curl GET /v2/bench-JOB/blobs/sha256:... to /dev/null.
# This is the HTTP path podman push/pull take for a layer, without podman
# (whose own costs are the same in both modes).  P reaches the registry at
# its gateway address (pasta maps it to the host's loopback), H at
# 127.0.0.1.  The first pull of each job is checked against the blob's
# sha256.  pasta's CPU time over P's runs is read from /proc.
#
# Environment: HOSTD, HOSTCTL (default build/...), RUNS=5, SIZE_MB=256.
# Raw numbers go to OUTDIR/raw.csv, the summary to OUTDIR/table.txt.
set -euo pipefail

OUT=${1:-/tmp/bench-job-network}
RUNS=${RUNS:-5}
SIZE_MB=${SIZE_MB:-256}
SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
export HOSTD=${HOSTD:-$SRC_DIR/build/hostd/hostd}
export HOSTCTL=${HOSTCTL:-$SRC_DIR/build/ctl/hostctl}
command -v docker-registry >/dev/null || { echo "job-network: apt-get install docker-registry" >&2; exit 1; }
command -v pasta >/dev/null || { echo "job-network: apt-get install passt" >&2; exit 1; }
mkdir -p "$OUT"

# The integration tests' helpers: hostd on a private state dir, port and
# uid pool; jobs over stock ssh; everything taken down on exit.
# shellcheck source=/dev/null
. "$SRC_DIR/tests/integration/lib.sh"
# shellcheck source=/dev/null
. "$SRC_DIR/tests/integration/ssh-lib.sh"

RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RDIR=$(mktemp -d /dev/shm/bench-registry.XXXXXX)
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $RDIR}
  delete: {enabled: true}
http: {addr: "127.0.0.1:$RPORT"}
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
trap 'kill "$REG_PID" 2>/dev/null || true; rm -rf "$RDIR"; cleanup' EXIT
wait_for 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RPORT" 2>/dev/null

start_hostd_ssh
P=$(alloc_job p --disk 2G)
stop_hostd
start_hostd_ssh --set Jobs.Network=host
H=$(alloc_job h --disk 2G)
PASTA=$(pgrep -f -- " -P $STATE/jobs/$P/pasta\.pid")
GW=$(sshj p 'ip -4 route show default' | awk '{ print $3; exit }')
declare -A ADDR=([p]="$GW:$RPORT" [h]="127.0.0.1:$RPORT")
echo "job-network: P $P (private, registry at ${ADDR[p]}, pasta pid $PASTA), H $H (host, ${ADDR[h]})" >&2

for j in p h; do
        sshj "$j" "head -c ${SIZE_MB}M /dev/urandom > blob && sha256sum blob | cut -d' ' -f1 > blob.sum && cat blob >/dev/null"
done
SUM_P=$(sshj p 'cat blob.sum')
SUM_H=$(sshj h 'cat blob.sum')
declare -A SUM=([p]="$SUM_P" [h]="$SUM_H")

# push JOB: seconds for the upload of the blob (POST, then PUT of all of it).
push() {
        sshj "$1" "loc=\$(curl -fsS -o /dev/null -D - -X POST http://${ADDR[$1]}/v2/bench-$1/blobs/uploads/ |
                         tr -d '\\r' | awk 'tolower(\$1) == \"location:\" { print \$2 }')
                   case \$loc in http*) ;; *) loc=http://${ADDR[$1]}\$loc ;; esac
                   curl -fsS -o /dev/null -w '%{time_total}' -X PUT -H 'Content-Type: application/octet-stream' \
                        --data-binary @blob \"\$loc&digest=sha256:${SUM[$1]}\""
}
# pull JOB [check]: seconds for the download of the blob (or its sha256).
pull() {
        if [ "${2:-}" = check ]; then
                sshj "$1" "curl -fsS http://${ADDR[$1]}/v2/bench-$1/blobs/sha256:${SUM[$1]} | sha256sum | cut -d' ' -f1"
        else
                sshj "$1" "curl -fsS -o /dev/null -w '%{time_total}' http://${ADDR[$1]}/v2/bench-$1/blobs/sha256:${SUM[$1]}"
        fi
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

for j in p h; do
        push "$j" >/dev/null
        [ "$(pull "$j" check)" = "${SUM[$j]}" ] || { echo "job-network: $j pulled a different blob" >&2; exit 1; }
done

echo "run,job,network,direction,seconds,MiB_per_s" >"$OUT/raw.csv"
T0=$(cpu_ticks "$PASTA")
for r in $(seq 1 "$RUNS"); do
        if [ $((r % 2)) = 1 ]; then order="p h"; else order="h p"; fi
        for j in $order; do
                net=$([ "$j" = p ] && echo private || echo host)
                for dir in push pull; do
                        s=$("$dir" "$j")
                        echo "$r,$j,$net,$dir,$s,$(awk -v s="$s" -v m="$SIZE_MB" 'BEGIN { printf "%.1f", m / s }')" >>"$OUT/raw.csv"
                done
        done
done
T1=$(cpu_ticks "$PASTA")

# Median MiB/s per network and direction, and private / host.
python3 - "$OUT/raw.csv" "$RUNS" "$SIZE_MB" "$(( (T1 - T0) ))" "$(getconf CLK_TCK)" <<'EOF' | tee "$OUT/table.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
runs, size, ticks, hz = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
med = {}
print(f"{size} MiB blob, {runs} runs per side, median (min-max) MiB/s")
print(f"{'':6} {'host':>22} {'private (pasta)':>22} {'private/host':>13}")
for d in ("pull", "push"):
    cells = []
    for n in ("host", "private"):
        v = [float(x["MiB_per_s"]) for x in rows if x["network"] == n and x["direction"] == d]
        med[n, d] = statistics.median(v)
        cells.append(f"{med[n, d]:.0f} ({min(v):.0f}-{max(v):.0f})")
    print(f"{d:6} {cells[0]:>22} {cells[1]:>22} {med['private', d] / med['host', d]:>13.2f}")
gib = 2 * runs * size / 1024
print(f"pasta CPU time over the private runs: {ticks / hz:.2f} s for {gib:.1f} GiB ({ticks / hz / gib:.2f} s/GiB)")
EOF
hc release "$P" >/dev/null
hc release "$H" >/dev/null
