#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Soak: allocate -> SSH session -> release, over and over from parallel
# workers (allocate and release over SSH and the control socket in turn), with a real podman build in every BUILD_EVERY-th cycle.  hostd's
# RSS, open fds and processes are sampled throughout and must stay flat,
# and nothing may be left at the end.
#
#   HOSTD_SOAK_CYCLES=300    cycles in all (CI; 100 under sanitizers;
#                            bench/soak.sh runs 10000)
#   HOSTD_SOAK_WORKERS=4     cycles run at once
#   HOSTD_SOAK_BUILD_EVERY=100
#   HOSTD_SOAK_OUT=DIR       keep samples.csv and cycles.csv there
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

# Fewer under sanitizers: there the point is LeakSanitizer's report at
# exit, and every cycle costs twice the time.
CYCLES=${HOSTD_SOAK_CYCLES:-$([ -n "${HOSTD_TEST_SANITIZED:-}" ] && echo 100 || echo 300)}
WORKERS=${HOSTD_SOAK_WORKERS:-4}
BUILD_EVERY=${HOSTD_SOAK_BUILD_EVERY:-100}
OUT=${HOSTD_SOAK_OUT:-$WORK/soak}
mkdir -p "$OUT"
BUILDS=1
command -v podman >/dev/null && [ -x /bin/busybox ] || { echo "podman or /bin/busybox missing: no builds in this soak"; BUILDS=0; }

# The released records are kept for an hour by default and capped at 1000
# (REGISTRY_RELEASED_MAX): a soak longer than that must show the cap at work.
printf '[Jobs]\nSlots=%d\nDefaultDisk=512M\n' $((WORKERS + 2)) >"$WORK/soak.conf"
start_hostd_ssh --policy "$WORK/soak.conf"

# hostd's own figures (not its children's): RSS in kB, open fds, children.
sample() {
        local rss fds kids
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$HOSTD_PID/status")
        fds=$(ls "/proc/$HOSTD_PID/fd" | wc -l)
        kids=$(pgrep -c -P "$HOSTD_PID" || true)
        echo "$(date +%s),$1,$rss,$fds,$kids,$(count_session_procs)"
}

# One cycle, as the controller and a build step drive it.  Prints
# "N,ms,result" (result "ok" or what failed).
cycle() {
        local n=$1 t0 a j key kh user out
        t0=$(date +%s%N)
        key=$WORK/jobs/soak-$n.key
        kh=$WORK/jobs/soak-$n.kh
        # The controller's two doors in turn: SSH, and the control socket.
        local api=ctl
        [ $((n % 2)) = 0 ] && api="hc --json"
        a=$($api allocate --owner "soak/$n" --platform "$PLAT" --lease 10m 2>&1) || { echo "$n,0,allocate: $a" | head -1; return; }
        j=$(jq -r .job <<<"$a")
        user=$(jq -r .user <<<"$a")
        (umask 077; jq -r .private_key <<<"$a" >"$key")
        jq -r .known_hosts <<<"$a" >"$kh"
        local s=(ssh "${SSH_OPTS[@]}" -o UserKnownHostsFile="$kh" -i "$key" -p "$PORT" "$user@127.0.0.1")
        out=$("${s[@]}" "echo $n > cycle && cat cycle" 2>&1) || true
        if [ "$out" != "$n" ]; then
                echo "$n,0,session: $(head -1 <<<"$out")"
        elif [ "$BUILDS" = 1 ] && [ $((n % BUILD_EVERY)) = 0 ]; then
                out=$("${s[@]}" "mkdir b && cp /bin/busybox b/ &&
                        printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo $n > /n\"]\n' > b/Containerfile &&
                        podman build -q -t localhost/soak b >/dev/null && podman run --rm localhost/soak /bin/busybox cat /n" 2>&1) || true
                [ "$out" = "$n" ] || echo "$n,0,build: $(tail -1 <<<"$out")"
        fi
        out=$($api release "$j" 2>&1 | jq -r .state 2>&1) || true
        rm -f "$key" "$kh"
        [ "$out" = released ] || { echo "$n,0,release: $out"; return; }
        echo "$n,$((($(date +%s%N) - t0) / 1000000)),ok"
}

worker() {
        local w=$1 n
        for ((n = w; n <= CYCLES; n += WORKERS)); do
                cycle "$n"
        done >"$WORK/cycles.$w"
}

echo "time,cycles_done,rss_kb,fds,children,session_procs" >"$OUT/samples.csv"
sample 0 >>"$OUT/samples.csv"
start=$SECONDS
pids=()
for ((w = 1; w <= WORKERS; w++)); do
        worker "$w" &
        pids+=($!)
done
while :; do
        running=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=1; done
        done_n=$(cat "$WORK"/cycles.* 2>/dev/null | wc -l)
        sample "$done_n" >>"$OUT/samples.csv"
        [ "$running" = 1 ] || break
        sleep 5
done
wait "${pids[@]}" || true
elapsed=$((SECONDS - start))
cat "$WORK"/cycles.* | sort -t, -k1,1n >"$OUT/cycles.csv"
sleep 1
sample "$CYCLES" >>"$OUT/samples.csv"

ok=$(grep -c ',ok$' "$OUT/cycles.csv" || true)
echo "$ok of $CYCLES cycles in $elapsed s with $WORKERS workers ($(awk -F, '$3 == "ok" { print $2 }' "$OUT/cycles.csv" |
        sort -n | awk '{ v[n++] = $1 } END { printf "median %d ms, p99 %d ms", v[int(n / 2)], v[int(n * 0.99)] }'))"
grep -v ',ok$' "$OUT/cycles.csv" | head -5 || true
check "every cycle succeeded ($ok of $CYCLES)" test "$ok" = "$CYCLES"

# Flat: compare the last sample with the one after the first tenth of the
# cycles (the warm-up: allocator arenas, libssh and the key cache).
awk -F, 'NR > 1' "$OUT/samples.csv" >"$WORK/s"
n_samples=$(wc -l <"$WORK/s")
warm=$(awk -F, -v c=$((CYCLES / 10)) '$2 >= c { print; exit }' "$WORK/s")
first=$(head -1 "$WORK/s")
last=$(tail -1 "$WORK/s")
peak_rss=$(cut -d, -f3 "$WORK/s" | sort -n | tail -1)
peak_fds=$(cut -d, -f4 "$WORK/s" | sort -n | tail -1)
peak_kids=$(cut -d, -f5 "$WORK/s" | sort -n | tail -1)
f() { cut -d, -f"$2" <<<"$1"; }
echo "hostd over $n_samples samples: RSS $(f "$first" 3) kB at start, $(f "$warm" 3) after warm-up, $(f "$last" 3) at the end (peak $peak_rss);" \
     "fds $(f "$first" 4) -> $(f "$last" 4) (peak $peak_fds); children $(f "$first" 5) -> $(f "$last" 5) (peak $peak_kids)"
if [ -n "${HOSTD_TEST_SANITIZED:-}" ]; then
        # ASan's quarantine holds freed memory back: RSS grows by design.
        echo "RSS flatness not checked under sanitizers (LeakSanitizer checks leaks at exit)"
else
        check "RSS is flat: at most 1 MiB above the warm-up's $(f "$warm" 3) kB (end: $(f "$last" 3) kB)" \
                test "$(f "$last" 3)" -le $(($(f "$warm" 3) + 1024))
fi
check "open fds are back to the warm-up's $(f "$warm" 4) (end: $(f "$last" 4))" test "$(f "$last" 4)" -le "$(f "$warm" 4)"
check "fds stayed bounded while running (peak $peak_fds)" test "$peak_fds" -le $(($(f "$first" 4) + 16 * WORKERS))
check "no child process is left (end: $(f "$last" 5))" test "$(f "$last" 5)" = 0
check "no session process is left" wait_for 10 no_session_procs
check "children stayed bounded while running (peak $peak_kids)" test "$peak_kids" -le $((8 * WORKERS))

cap=$(ctl capacity)
check "all slots are free" test "$(jq -r '.slots.used' <<<"$cap")" = 0
released=$(ls "$STATE/registry" | wc -l)
if [ "$CYCLES" -gt 1000 ]; then
        check "released records are capped at 1000 ($released on disk)" test "$released" -le 1000
else
        check "one released record per cycle ($released on disk)" test "$released" = "$CYCLES"
fi
check "nothing of any job is left (check-leftovers)" \
        "$(dirname "$0")/../../tools/check-leftovers.sh" "$STATE" "$UID_POOL_START" 16
check "still serving" still_serving
check_no_crash
finish
