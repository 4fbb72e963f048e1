#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmark: what pulling a build's base image costs a fresh job, cold and
# warm, from a registry on the same host.
#
#   bench/base-pull.sh [OUTDIR]     (default /tmp/bench-base-pull; root)
#
# A registry (Debian's docker-registry on the host's 127.0.0.1, its storage
# in the run's temp dir under /tmp, so on the host's disk) gets one image,
# $REG/big:latest (linux/amd64), built on the host side with buildah (own
# --root/--runroot in the temp dir, storage driver vfs): Debian's static
# busybox, then LAYERS layers of LAYER_MB MiB of /dev/urandom each (random,
# so gzip, which buildah push applies, cannot shrink them).  One hostd, jobs
# under the default Network=private reaching the registry at their gateway.
# RUNS runs; each allocates fresh jobs C, W, B and H (untimed, each with
# its own empty storage on its own ext4 disk image on a loop device, where
# the layers land) and measures, timed inside the job with date +%s%N:
#   cold:  the registry's blob files are dropped from the host's page cache
#          (posix_fadvise DONTNEED on each, checked with fincore), then C
#          runs `podman pull` of the image: the first pull of a base on a
#          host whose page cache does not have it;
#   noop:  C pulls it again: already there, podman's cost of a no-op pull
#          (what a job pays that pulls its base more than once);
#   fresh: W pulls it with the blobs in the host's page cache (from C's
#          pull): what every fresh job pays for a base that other jobs use;
#   build: B runs `podman build` of "FROM big\nRUN <print /proc/uptime>":
#          "first RUN" is /proc/uptime in that RUN step less /proc/uptime
#          read in the job just before podman build (10 ms ticks), i.e.
#          what a build step waits before its first command runs; "build"
#          is the whole build (the RUN's layer commit included);
#   fresh, Network=host: H, a fresh job allocated under Network=host
#          (hostd restarted with --set Jobs.Network=host for that allocate;
#          jobs keep their network and outlive the restart), pulls it, its
#          registry at 127.0.0.1: the same pull without pasta;
# W, B and H take turns going first (W B H, B H W, H W B, ...).  For where
# the time goes, W and H also fetch the same layer blobs with curl, no
# podman: to /dev/null ("fetch") and through a pipe, curl | cat >/dev/null
# ("fetch | cat": a reader that does not drain the socket all the time, as
# podman's and skopeo's do not), and W writes LAYER_MB*LAYERS MiB of zeros
# to its home with dd conv=fsync (the job's disk: "disk write").  Every cold and
# fresh pull and each build's base is checked against the pushed manifest
# digest, so a broken setup cannot produce a number.  MiB/s are of the
# bytes the registry sent (the compressed layers; random data, so about
# their size unpacked).
#
# Environment: HOSTD, HOSTCTL (default build/...), RUNS=5, LAYERS=4,
# LAYER_MB=64, DISK=4G (each job's disk image).
# Raw numbers go to OUTDIR/raw.csv, the summary to OUTDIR/table.txt.
set -euo pipefail

OUT=${1:-/tmp/bench-base-pull}
RUNS=${RUNS:-5}
LAYERS=${LAYERS:-4}
LAYER_MB=${LAYER_MB:-64}
DISK=${DISK:-4G}
SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
export HOSTD=${HOSTD:-$SRC_DIR/build/hostd/hostd}
export HOSTCTL=${HOSTCTL:-$SRC_DIR/build/ctl/hostctl}

BENCH=base-pull
. "$SRC_DIR/bench/lib.sh"
need_root
need docker-registry docker-registry
need buildah buildah
need skopeo skopeo
need podman podman
need jq jq
need pasta passt
need busybox busybox-static
need curl curl
need fincore util-linux
[ -x "$HOSTD" ] && [ -x "$HOSTCTL" ] || { echo "base-pull: no $HOSTD or $HOSTCTL (meson compile -C build)" >&2; exit 1; }
mkdir -p "$OUT"

# The integration tests' helpers: hostd on a private state dir, port and
# uid pool; jobs over stock ssh; the registry.
# shellcheck source=/dev/null
. "$SRC_DIR/tests/integration/lib.sh"
# shellcheck source=/dev/null
. "$SRC_DIR/tests/integration/ssh-lib.sh"
# shellcheck source=/dev/null
. "$SRC_DIR/tests/integration/registry-lib.sh"
# set +e first: under errexit "(exit $rc)" would end the trap before cleanup.
trap 'rc=$?; set +e; stop_registry; (exit $rc); cleanup' EXIT
T_START=$SECONDS

# ---- the image, built and pushed once --------------------------------------------
start_registry
HB=("${HBUILDAH[@]}")
c=$("${HB[@]}" from scratch)
"${HB[@]}" copy "$c" "$(busybox_root amd64)" / >/dev/null
"${HB[@]}" config --os linux --arch amd64 --env PATH=/bin --cmd /bin/sh "$c"
"${HB[@]}" commit -q "$c" localhost/big-0 >/dev/null
"${HB[@]}" rm "$c" >/dev/null
for i in $(seq 1 "$LAYERS"); do
        head -c "${LAYER_MB}M" /dev/urandom >"$WORK/layer-$i.bin"
        c=$("${HB[@]}" from localhost/big-$((i - 1)))
        "${HB[@]}" copy "$c" "$WORK/layer-$i.bin" "/data/layer-$i.bin" >/dev/null
        "${HB[@]}" commit -q "$c" "localhost/big-$i" >/dev/null
        "${HB[@]}" rm "$c" >/dev/null
        rm -f "$WORK/layer-$i.bin"
done
"${HB[@]}" push -q --tls-verify=false --digestfile "$WORK/big.digest" "localhost/big-$LAYERS" "docker://$REG/big:latest"
DIGEST=$(cat "$WORK/big.digest")
MANIFEST=$(skopeo inspect --raw --tls-verify=false "docker://$REG/big:latest")
[ "sha256:$(printf '%s' "$MANIFEST" | sha256sum | cut -d' ' -f1)" = "$DIGEST" ] ||
        { echo "base-pull: the registry's manifest is not the one pushed" >&2; exit 1; }
BYTES=$(jq '[.layers[].size] | add' <<<"$MANIFEST")
NLAYERS=$(jq '.layers | length' <<<"$MANIFEST")
mapfile -t BLOBS < <(jq -r '.layers[].digest' <<<"$MANIFEST")
[ "$NLAYERS" = $((LAYERS + 1)) ] || { echo "base-pull: $NLAYERS layers pushed, not $((LAYERS + 1))" >&2; exit 1; }
# The image's bytes as the registry stores them: every blob file.
blob_files() { find "$REG_DIR/data" -type f -path '*/blobs/*' -name data; }
evict() {
        blob_files | python3 -c '
import os, sys
for p in sys.stdin.read().split():
    fd = os.open(p, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)'
}
cached() { blob_files | xargs fincore -b -n -o RES | awk '{ s += $1 } END { print s + 0 }'; }
echo "base-pull: $REG/big:latest $DIGEST, $NLAYERS layers, $BYTES bytes compressed" >&2

start_hostd_ssh

# pull JOB: ms for a podman pull of the image, timed in the job.
pull() {
        sshj "$1" "s=\$(date +%s%N) && podman pull -q --tls-verify=false ${JREG[$1]}/big:latest >/dev/null &&
                   e=\$(date +%s%N) && echo \$(( (e - s) / 1000000 ))"
}
# check_digest JOB: the job's image is the one pushed.
check_digest() {
        local d
        d=$(sshj "$1" "podman image inspect --format '{{.Digest}}' ${JREG[$1]}/big:latest")
        [ "$d" = "$DIGEST" ] || { echo "base-pull: job $1 has $d, not $DIGEST" >&2; exit 1; }
}
# build JOB: "FIRST_RUN_MS BUILD_MS" for a build FROM the image.
build() {
        sshj "$1" "printf 'FROM ${JREG[$1]}/big:latest\nRUN read t _ </proc/uptime && echo BENCH \$t\n' >Containerfile &&
                   read t0 _ </proc/uptime && s=\$(date +%s%N) &&
                   podman build --tls-verify=false -t built . >build.log 2>&1 || { tail -n 20 build.log >&2; exit 1; }
                   e=\$(date +%s%N) && t=\$(awk '\$1 == \"BENCH\" { print \$2 }' build.log) &&
                   awk -v a=\$t0 -v b=\$t -v ms=\$(( (e - s) / 1000000 )) 'BEGIN { printf \"%.0f %d\\n\", (b - a) * 1000, ms }'"
}
# fetch JOB [pipe]: ms for the layer blobs with curl, no podman, to
# /dev/null or through a pipe to cat.
fetch() {
        local urls=() b sink="-o /dev/null"
        [ "${2:-}" != pipe ] || sink="| cat >/dev/null"
        for b in "${BLOBS[@]}"; do urls+=("http://${JREG[$1]}/v2/big/blobs/$b"); done
        sshj "$1" "s=\$(date +%s%N) && for u in ${urls[*]}; do curl -fsS \$u $sink || exit 1; done &&
                   e=\$(date +%s%N) && echo \$(( (e - s) / 1000000 ))"
}
# diskwrite JOB: ms for LAYERS*LAYER_MB MiB of zeros to the job's home, fsynced.
diskwrite() {
        sshj "$1" "s=\$(date +%s%N) && dd if=/dev/zero of=dd.out bs=1M count=$((LAYERS * LAYER_MB)) conv=fsync 2>/dev/null &&
                   e=\$(date +%s%N) && rm dd.out && echo \$(( (e - s) / 1000000 ))"
}
declare -A JREG
record() { # record RUN JOB MEASURE MS BYTES CACHED
        local load
        load=$(cut -d' ' -f1 /proc/loadavg)
        echo "$1,$2,$3,$4,$5,$(awk -v b="$5" -v ms="$4" 'BEGIN { printf "%.1f", (ms > 0 ? b / 1048576 / (ms / 1000) : 0) }'),$load,$6" >>"$OUT/raw.csv"
        echo "base-pull: run $1 $3: $4 ms (load $load)" >&2
}

echo "run,job,measure,ms,bytes,MiB_per_s,load1,registry_cached_bytes" >"$OUT/raw.csv"
for r in $(seq 1 "$RUNS"); do
        stop_hostd
        start_hostd_ssh --set Jobs.Network=host
        alloc_job h --disk "$DISK" >/dev/null
        stop_hostd
        start_hostd_ssh
        for j in c w b; do
                alloc_job "$j" --disk "$DISK" >/dev/null
        done
        for j in c w b h; do
                JREG[$j]=$(job_registry "$j")
        done
        [ "${JREG[h]}" = "$REG" ] && [ "${JREG[w]}" != "$REG" ] ||
                { echo "base-pull: H is not on the host's network or W is (${JREG[h]}, ${JREG[w]})" >&2; exit 1; }
        evict
        left=$(cached)
        [ "$left" -le $((BYTES / 20)) ] || echo "base-pull: run $r: $left bytes of the blobs still cached after eviction" >&2
        record "$r" c cold "$(pull c)" "$BYTES" "$left"
        check_digest c
        left=$(cached)
        record "$r" c noop "$(pull c)" "$BYTES" "$left"
        case $((r % 3)) in 1) order="w b h" ;; 2) order="b h w" ;; 0) order="h w b" ;; esac
        for j in $order; do
                left=$(cached)
                if [ "$j" = w ]; then
                        record "$r" w fresh "$(pull w)" "$BYTES" "$left"
                        check_digest w
                elif [ "$j" = h ]; then
                        record "$r" h fresh_hostnet "$(pull h)" "$BYTES" "$left"
                        check_digest h
                else
                        read -r first whole <<<"$(build b)"
                        record "$r" b first_run "$first" "$BYTES" "$left"
                        record "$r" b build "$whole" "$BYTES" "$left"
                        check_digest b
                fi
        done
        record "$r" w fetch "$(fetch w)" "$BYTES" "$(cached)"
        record "$r" h fetch_hostnet "$(fetch h)" "$BYTES" "$(cached)"
        record "$r" w fetch_pipe "$(fetch w pipe)" "$BYTES" "$(cached)"
        record "$r" h fetch_pipe_hostnet "$(fetch h pipe)" "$BYTES" "$(cached)"
        record "$r" w disk_write "$(diskwrite w)" $((LAYERS * LAYER_MB * 1048576)) ""
        for j in c w b h; do hc release "$(jid "$j")" >/dev/null; done
done

python3 - "$OUT/raw.csv" "$RUNS" "$NLAYERS" "$BYTES" "$LAYER_MB" "$DISK" "$(nproc)" "$(uname -r)" \
        "$(podman --version)" "$((SECONDS - T_START))" <<'EOF' | tee "$OUT/table.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
runs, nlayers, size, layer_mb, disk, ncpu, kernel, podman, wall = sys.argv[2:11]
size = int(size)
labels = [("cold", "cold: fresh job, blobs not in the host's page cache"),
          ("noop", "no-op: the same job again, image present"),
          ("fresh", "fresh job, blobs in the host's page cache"),
          ("first_run", "build FROM it, fresh job: until the first RUN runs"),
          ("build", "build FROM it, fresh job: whole build"),
          ("fresh_hostnet", "fresh job under Network=host (no pasta), blobs cached"),
          ("fetch", "(where the time goes) the blobs with curl to /dev/null, private"),
          ("fetch_hostnet", "(where the time goes) the same, Network=host"),
          ("fetch_pipe", "(where the time goes) curl | cat >/dev/null, private"),
          ("fetch_pipe_hostnet", "(where the time goes) the same, Network=host"),
          ("disk_write", "(where the time goes) dd of as many MiB to the job's disk, fsync")]
loads = [float(x["load1"]) for x in rows]
print(f"image: {nlayers} layers, {size / 1048576:.1f} MiB as pushed (busybox + {int(nlayers) - 1} x {layer_mb} MiB random); "
      f"{runs} runs, median (min-max)")
print(f"machine: {ncpu} CPUs, kernel {kernel}, {podman}; job disk: ext4 image on a loop device, {disk}")
print(f"load average (1 min) during the runs: {min(loads):.2f}-{max(loads):.2f}; script wall time {wall} s")
print("| measure | seconds | MiB/s |")
print("|---|---|---|")
for key, label in labels:
    v = [float(x["ms"]) / 1000 for x in rows if x["measure"] == key]
    b = [float(x["MiB_per_s"]) for x in rows if x["measure"] == key]
    rate = f"{statistics.median(b):.0f} ({min(b):.0f}-{max(b):.0f})" if key != "noop" else "-"
    print(f"| {label} | {statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f}) | {rate} |")
EOF
echo "base-pull: done in $((SECONDS - T_START)) s; $OUT/raw.csv, $OUT/table.txt" >&2
