#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Hostile jobs beside a quiet one.  A reference podman build runs once on a
# quiet host, then twice more under attack.  The first time, beside a
# memory bomb, a CPU hog and a disk filler in one job, a fork bomb in
# another, and inode exhaustion in a third.  The second time, beside a job
# trying, one by one: 100k open files, huge argv, command lines and env, a
# setuid-root binary, mount and unshare escapes, the control socket and the
# controller's SSH door, other jobs' /proc, and ptrace and kill of its
# init, of hostd and of another job.  Each build's output must be
# byte-identical to the quiet run's, and hostd must answer `capacity`
# within a bound throughout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# The controller's capacity call, once a second; one line per answer with
# its time in ms ("fail" if it did not answer).  TCG makes every SSH
# handshake slow, so the bound is on the worst answer, not the typical one.
CAPACITY_BOUND_MS=10000
sample_capacity() {
        local t0
        while :; do
                t0=$(date +%s%N)
                if controller capacity >/dev/null 2>&1; then
                        echo $((($(date +%s%N) - t0) / 1000000))
                else
                        echo fail
                fi
                sleep 1
        done
}
summary() { # FILE: "n=.. median=.. max=.. failed=.."
        sort -n "$1" | awk '/fail/ { f++; next } { v[n++] = $1 } END {
                printf "n=%d median=%d max=%d failed=%d", n, n ? v[int(n / 2)] : 0, n ? v[n - 1] : 0, f }'
}
main_pid() { vm_root 'systemctl show -p MainPID --value hostd'; }
n_restarts() { vm_root 'systemctl show -p NRestarts --value hostd'; }
# The controller's whole cycle works: allocate OWNER, then release it.
allocates_and_releases() {
        local j
        j=$(controller allocate --owner "$1" --platform "$VM_PLATFORM" | jq -r .job) && [ "$j" != null ] &&
                test "$(controller release "$j" | jq -r .state)" = released
}
sampler=
# A failing check exits: the sampler must not outlive the case.
trap '[ -z "$sampler" ] || kill "$sampler" 2>/dev/null; release_case_jobs' EXIT

# ---- the reference build -------------------------------------------------------
# FROM scratch with the host's static busybox, so that no registry is
# needed; --timestamp 0 makes the image ID itself reproducible.
W=$VM_DIR/hostile
mkdir -p "$W/src"
cp "$VM_BUSYBOX" "$W/src/"
seq 1 200000 >"$W/src/input"
cat >"$W/src/Containerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
COPY input /input
RUN ["/bin/busybox", "sh", "-c", "mkdir /out && for i in 1 2 3 4; do /bin/busybox sed s/0/$i/g /input | /bin/busybox sha256sum; done > /out/sums && /bin/busybox gzip -c < /input > /out/input.gz"]
EOF

build_in() { # JOB USER_DIR OUT: the reference build in JOB; its image ID and outputs into OUT
        local j=$1 ud=$2 out=$3
        mkdir -p "$out"
        job_rsync "$j" -rW --mkpath "$W/src/" "$(job_host "$j"):$ud/src/"
        job_ssh "$j" "cd $ud/src && podman build --no-cache --timestamp 0 -q -t localhost/ref . > ../image-id &&
                podman run --rm localhost/ref /bin/busybox cat /out/sums > ../sums &&
                podman run --rm localhost/ref /bin/busybox cat /out/input.gz > ../input.gz"
        job_rsync "$j" -rW "$(job_host "$j"):$ud/image-id" "$(job_host "$j"):$ud/sums" "$(job_host "$j"):$ud/input.gz" "$out/"
}

a=$(allocate --owner vm/quiet --platform "$VM_PLATFORM" --lease 30m)
Q=$(jq -r .job <<<"$a")
sample_capacity >"$W/capacity-quiet" &
sampler=$!
t0=$SECONDS
build_in "$Q" "$(jq -r .user_dir <<<"$a")" "$W/quiet"
kill "$sampler"
sampler=
echo "quiet build: $((SECONDS - t0)) s, image $(cut -c1-19 "$W/quiet/image-id"); capacity $(summary "$W/capacity-quiet")"
check "the quiet build made its outputs" test -s "$W/quiet/sums" -a -s "$W/quiet/input.gz"
release "$Q"

# ---- the attacked build ----------------------------------------------------------
HOSTD_PID=$(main_pid)
RESTARTS=$(n_restarts)
ROOT_IFREE=$(vm_root "df --output=iavail / | tail -1")
a=$(allocate --owner vm/build --platform "$VM_PLATFORM" --lease 30m)
B=$(jq -r .job <<<"$a")
BUD=$(jq -r .user_dir <<<"$a")
# A marker process of the build job, for the attacker to look for.
BPID=$(job_ssh "$B" 'setsid sleep 4242 </dev/null >/dev/null 2>&1 & echo $!')
vm_wait_for "pgrep -xf 'sleep 4242'" 20 || fail "the build job's marker did not start"
BPID_HOST=$(vm_root "pgrep -xf 'sleep 4242'")
echo "build job $B (its marker is pid $BPID inside, $BPID_HOST on the host); hostd pid $HOSTD_PID"

# Bombs, left running through the build: a memory bomb (restarted after
# each OOM kill), a CPU hog and a disk filler in one job, a fork bomb in
# another (it takes every pid of its job, so it would stop the first
# job's loop from restarting its memory bomb).
BOMBS=$(allocate --owner vm/bombs --platform "$VM_PLATFORM" --cpus 0.5 --memory 256M --disk 256M | jq -r .job)
job_ssh "$BOMBS" 'setsid sh -c "while :; do tail /dev/zero; done" </dev/null >/dev/null 2>&1 &
        setsid sh -c "while :; do :; done" </dev/null >/dev/null 2>&1 &
        setsid dd if=/dev/zero of=fill bs=1M </dev/null >/dev/null 2>&1 &'
FORK=$(allocate --owner vm/forkbomb --platform "$VM_PLATFORM" --cpus 0.5 --memory 256M | jq -r .job)
job_ssh "$FORK" 'setsid sh -c "b() { b | b & }; b" </dev/null >/dev/null 2>&1 &'
check "the memory bomb is OOM-killed in its own job" \
        vm_wait_for "awk '\$1 == \"oom_kill\" && \$2 > 0 { ok = 1 } END { exit !ok }' $(job_cgroup "$BOMBS")/memory.events" 180
check "the fork bomb hits its TasksMax" \
        vm_wait_for "awk '\$1 == \"max\" && \$2 > 0 { ok = 1 } END { exit !ok }' $(job_cgroup "$FORK")/pids.events" 120
disk_filled() { [ "$(job_ssh "$BOMBS" 'stat -c %s fill' 2>/dev/null || echo 0)" -gt $((200 << 20)) ]; }
check "the disk filler filled its job's disk (over 200 MiB of 256M)" retry 120 disk_filled

sample_capacity >"$W/capacity-attacked" &
sampler=$!
build_in "$B" "$BUD" "$W/attacked" >"$W/attacked.log" 2>&1 &
builder=$!
build_start=$SECONDS

# -- inode exhaustion: the job's filesystem is its own ----------------------------
# A small disk (64M: 16k inodes) so that TCG fills it in seconds.
I=$(allocate --owner vm/inodes --platform "$VM_PLATFORM" --cpus 0.5 --memory 256M --disk 64M | jq -r .job)
out=$(job_ssh "$I" 'mkdir many && cd many && seq 1 100000 | xargs touch 2>&1 | grep -m1 "No space" || true
        df --output=iused,iavail . | tail -1' 2>&1 || true)
echo "inodes: $out"
check "creating files past the job's inodes fails with ENOSPC" grep -q 'No space left on device' <<<"$out"
check "the job's filesystem has no inode left" test "$(tail -1 <<<"$out" | awk '{ print $2 }')" = 0
root_ifree=$(vm_root "df --output=iavail / | tail -1")
check "the host's root filesystem lost no inodes to it ($ROOT_IFREE -> $root_ifree)" \
        test $((ROOT_IFREE - root_ifree)) -lt 2000
check "hostd still allocates and releases a job meanwhile" allocates_and_releases vm/probe
check "the job with no inode left is released" test "$(controller release "$I" | jq -r .state)" = released

# ---- the first build's verdict; the bombs go, a second build runs beside the rest
# (Under TCG a fork bomb at its TasksMax slows the whole guest several
# times over; the attacks below would take many minutes beside it.)
wait "$builder" || { cat "$W/attacked.log"; fail "the build beside the bombs failed"; }
echo "build beside the bombs: $((SECONDS - build_start)) s"
for f in image-id sums input.gz; do
        check "the build beside the bombs: $f is byte-identical to the quiet run's" cmp "$W/quiet/$f" "$W/attacked/$f"
done
for j in "$BOMBS" "$FORK"; do
        check "the bombed job $j is released" test "$(controller release "$j" | jq -r .state)" = released
        check_fails "$j's scope is gone" vm_root "systemctl is-active -q hostd-job-$j.scope"
done
build_in "$B" "$BUD" "$W/attacked2" >"$W/attacked2.log" 2>&1 &
builder=$!
build_start=$SECONDS

a=$(allocate --owner vm/attacker --platform "$VM_PLATFORM" --cpus 0.5 --memory 512M --disk 256M)
A=$(jq -r .job <<<"$a")
AUD=$(jq -r .user_dir <<<"$a")
echo "attacker $A"

# -- 100k open files ------------------------------------------------------------
# Two processes, each opening /dev/null until the job's per-process limit
# (65536): 131k open files, held for 40 s while hostd is asked to work.
job_ssh "$A" 'for i in 1 2; do
                perl -MPOSIX -e "\$| = 1; while (defined POSIX::open(\"/dev/null\", 0)) { \$n++ } print \"opened \$n \$!\n\"; sleep 40" &
        done; wait' >"$W/files.out" 2>&1 &
files=$!
two_opened() { [ "$(grep -c '^opened' "$W/files.out")" = 2 ]; }
retry 120 two_opened || fail "the file openers did not report"
mem=$(vm_root "cat $(job_cgroup "$A")/memory.current")
file_nr=$(vm_root 'cut -f1 /proc/sys/fs/file-nr')
opened=$(awk '$1 == "opened" { n += $2 } END { print n }' "$W/files.out")
echo "files: $(tr '\n' ' ' <"$W/files.out"); the job's memory.current $((mem >> 20)) MiB, the host's file-nr $file_nr"
check "the files are open right now (file-nr $file_nr)" test "$file_nr" -ge 100000
check "the job holds 100k open files ($opened)" test "$opened" -ge 100000
check "hostd answers capacity while they are open" test "$(controller capacity | jq -r .apiVersion)" = hostd/v1
check "hostd allocates and releases a job while they are open" allocates_and_releases vm/probe2
wait "$files" || true

# -- huge argv and env ----------------------------------------------------------
out=$(job_ssh "$A" 'perl -e "exec \"/bin/true\", (\"x\" x 100000) x 300 or print \"exec: \$!\n\""' 2>&1 || true)
echo "argv of 30 MB: $out"
check "a 30 MB argv is refused by the kernel (E2BIG)" grep -q 'Argument list too long' <<<"$out"
# ssh joins its arguments into one command; each stays below the local
# kernel's 128 kB per argument.
pad=$(head -c 100000 /dev/zero | tr '\0' x)
check "a 90 kB command line runs" test "$(job_ssh "$A" ": ${pad:0:90000}; echo ran")" = ran
out=$(job_ssh "$A" : "$pad" "$pad" "; echo ran" 2>&1 || true)
check "a 200 kB command line is refused as a failed exec request" grep -q 'exec request failed' <<<"$out"
huge=()
for i in $(seq 1 12); do huge+=("$pad"); done
check_fails "a 1.2 MB command line is refused" job_ssh "$A" : "${huge[@]}" "; echo ran"
# SendEnv, from the client's environment: ssh keeps only the first SetEnv=.
out=$(for i in $(seq 1 200); do export "LC_HOSTILE$i=$(head -c 4000 /dev/zero | tr '\0' y)"; done
      # shellcheck disable=SC2046
      ssh $(job_ssh_opts "$A") -o "SendEnv=LC_HOSTILE*" "$(job_host "$A")" 'env | grep -c ^LC_HOSTILE' 2>&1 || true)
echo "200 env requests of 4 kB: $out variables arrived"
check "at most 16 kB of client variables reach a session ($out of 4 kB)" test "${out:-99}" -ge 1 -a "${out:-99}" -le 4
check "hostd is the same process" test "$(main_pid)" = "$HOSTD_PID"

# -- a setuid-root binary of the host ----------------------------------------------
vm_root 'install -m 4755 -o root /usr/bin/sleep /usr/local/bin/suid-sleep'
job_ssh "$A" 'setsid /usr/local/bin/suid-sleep 4343 </dev/null >/dev/null 2>&1 &'
vm_wait_for "pgrep -xf '/usr/local/bin/suid-sleep 4343'" 20 || fail "the setuid binary did not start in the job"
uids=$(vm_root "awk '/^Uid:/ { print \$2, \$3, \$4, \$5 }' /proc/\$(pgrep -xf '/usr/local/bin/suid-sleep 4343')/status")
echo "setuid-root binary run by the job: host uids $uids"
check "setuid root gives the job no host root (real, effective, saved, fs uid)" \
        awk '{ for (i = 1; i <= 4; i++) if ($i < 524288) exit 1 }' <<<"$uids"
job_ssh "$A" 'cp /usr/bin/id ./id && chmod 4755 ./id'
owner=$(vm_root "stat -c %u /proc/\$(pgrep -xf '/usr/local/bin/suid-sleep 4343')/root$AUD/id")
echo "a setuid-root file the job made is owned by host uid $owner"
check "a setuid-root file the job makes belongs to its range, not to root" test "$owner" -ge 524288

# -- mount and unshare escapes ------------------------------------------------------
# Each line is what one attempt printed; "ESCAPED" marks a success (for
# the binds: the host keys under hostd's hidden state dir became readable).
cat >"$W/escape.sh" <<'EOF'
try() { if sh -c "$1" >/dev/null 2>&1; then echo "ESCAPED: $1"; else echo "refused: $1"; fi; }
mkdir -p m
try "umount -l /var/lib/hostd"
try "umount /proc"
try "mount -o remount,rw /usr"
try "mount -o remount,rw,suid /"
try "mount --bind / m && ls m/var/lib/hostd/host-keys | grep -q ."
try "mount --rbind / m && umount -l m/var/lib/hostd && ls m/var/lib/hostd/host-keys | grep -q ."
try "nsenter -t 1 -m -U true"
try "nsenter -t 1 -m true"
try "touch /usr/hostd-escape"
try "cat /var/lib/hostd/host-keys/ssh_host_ed25519_key"
try "ls /run/hostd/control.sock"
EOF
job_rsync "$A" "$W/escape.sh" "$(job_host "$A"):$AUD/escape.sh"
out=$(job_ssh "$A" "cd $AUD && sh escape.sh" 2>&1 || true)
echo "$out" | sed 's/^/  direct: /'
check "no mount escape from the job (11 attempts)" test "$(grep -c '^refused' <<<"$out")" = 11
out=$(job_ssh "$A" "cd $AUD && unshare -Urm sh escape.sh" 2>&1 || true)
echo "$out" | sed 's/^/  nested userns: /'
check "no mount escape from a nested user namespace either (11 attempts)" test "$(grep -c '^refused' <<<"$out")" = 11
check "the host's /usr is untouched" vm_root '! test -e /usr/hostd-escape'

# -- the control socket and the controller's door ------------------------------------
out=$(job_ssh "$A" 'hostctl capacity; echo "status $?"' 2>&1 || true)
echo "hostctl in the job: $(tr '\n' ' ' <<<"$out")"
check "hostctl inside the job reaches no control socket" grep -q '^status [1-9]' <<<"$out"
job_rsync "$A" "$VM_DIR/jobs/$A/key" "$(job_host "$A"):$AUD/key"
door="ssh -F /dev/null -i $AUD/key -p $VM_HOSTD_PORT -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
# Network=private: the host's loopback (where hostd listens) is the job's
# gateway address; hostd sees these connections come from 127.0.0.1.
gw=$(job_ssh "$A" "ip -4 route show default" | awk '{ print $3; exit }')
check "the job reaches hostd's SSH port as itself (the path works)" \
        test "$(job_ssh "$A" "$door $(cat "$VM_DIR/jobs/$A/user")@$gw echo inside" 2>/dev/null)" = inside
check_fails "the job is refused as the controller" job_ssh "$A" "$door controller@$gw capacity"
check_fails "the job is refused as the other job's user" job_ssh "$A" "$door $(cat "$VM_DIR/jobs/$B/user")@$gw true"

# -- other jobs' /proc ---------------------------------------------------------------
out=$(job_ssh "$A" "ls -d /proc/[0-9]* | wc -l; cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -c 'sleep 424[2]\|hostd-sessio[n]' || true
        awk '/^Uid:/ && \$2 == 65534 { n++ } END { print n + 0 }' /proc/[0-9]*/status
        cat /proc/$BPID_HOST/environ >/dev/null 2>&1 && echo READ || echo refused" 2>&1)
echo "/proc in the job: $(tr '\n' ' ' <<<"$out")"
check "the job's /proc shows only its own few processes" test "$(sed -n 1p <<<"$out")" -lt 20
# (The job's init and anchor are forks of hostd and show its command
# line; they are the job's own.  The brackets keep grep from matching its
# own command line.)
check "no other job's or hostd's session command line is visible" test "$(sed -n 2p <<<"$out")" = 0
check "no foreign (unmapped) process is visible" test "$(sed -n 3p <<<"$out")" = 0
check "the other job's environ cannot be read by host pid" test "$(sed -n 4p <<<"$out")" = refused

# -- ptrace and kill: the job's init, hostd, another job --------------------------------
# PTRACE_ATTACH is 16, SYS_ptrace 101 on x86_64 (the guest's ABI).
cat >"$W/ptrace.sh" <<'EOF'
anchor=$(grep -lx hostd-anchor /proc/[0-9]*/comm | cut -d/ -f3 | head -1)
# The anchor lives in hostd's pid namespace: the job must not see it.
echo "anchor seen: ${anchor:-none}"
# (+ 0: perl's syscall() passes a string argument as a pointer.)
attach() { perl -e '$r = syscall(101, 16, $ARGV[0] + 0, 0, 0); print "ptrace $ARGV[1]: ", ($r == 0 ? "ATTACHED" : "$!"), "\n"' "$1" "$2"; }
for p in 1 "$@"; do attach "$p" "$p"; done
# The call itself works: the job may trace its own processes.
# (It stays stopped once the tracer is gone: SIGKILL, and no hold on
# the session's output.)
sleep 30 >/dev/null 2>&1 &
attach $! own
kill -9 $! 2>/dev/null
for f in /proc/1/environ /proc/1/mem /proc/1/root/; do
        if ls "$f" >/dev/null 2>&1 && cat "$f" >/dev/null 2>&1; then echo "READ $f"; else echo "refused $f"; fi
done
EOF
job_rsync "$A" "$W/ptrace.sh" "$(job_host "$A"):$AUD/ptrace.sh"
out=$(job_ssh "$A" "sh $AUD/ptrace.sh $HOSTD_PID $BPID_HOST" 2>&1 || true)
echo "$out" | sed 's/^/  /'
check "ptrace works on the job's own process (not vacuous)" grep -qx 'ptrace own: ATTACHED' <<<"$out"
check "the job cannot see its anchor" grep -qx 'anchor seen: none' <<<"$out"
check "ptrace attached to nothing else (init, hostd, the other job)" \
        test "$(grep -c '^ptrace [0-9]*: ' <<<"$out")" = 3 -a "$(grep -c ATTACHED <<<"$out")" = 1
check "the job cannot read its init's environ, memory or root" test "$(grep -c '^refused /proc/1/' <<<"$out")" = 3
job_ssh "$A" "kill -9 $HOSTD_PID $BPID_HOST 2>/dev/null; setsid sh -c 'sleep 1; kill -9 -1' </dev/null >/dev/null 2>&1 &" || true
sleep 3
check "hostd survived the job's kill -9 (same MainPID, no restart)" \
        test "$(main_pid)" = "$HOSTD_PID" -a "$(n_restarts)" = "$RESTARTS"
check "the other job's process survived" vm_root "kill -0 $BPID_HOST"
check "the job's init, PID 1 of its namespace, survived its kill -9 -1 (two jobs, two inits)" \
        vm_root 'test "$(pgrep -cx hostd-init)" = 2'
check "the job takes a new session after its kill -9 -1 (the anchor is out of its reach)" \
        test "$(job_ssh "$A" echo alive 2>&1)" = alive

# ---- the verdict ---------------------------------------------------------------
attacks_end=$SECONDS
wait "$builder" || { cat "$W/attacked2.log"; fail "the second attacked build failed"; }
build_end=$SECONDS
kill "$sampler"
sampler=
echo "second attacked build: $((build_end - build_start)) s (the attacks after the bombs ran for $((attacks_end - build_start)) s)"
echo "capacity, quiet: $(summary "$W/capacity-quiet"); under attack: $(summary "$W/capacity-attacked")"
for f in image-id sums input.gz; do
        check "the second attacked build's $f is byte-identical to the quiet run's" cmp "$W/quiet/$f" "$W/attacked2/$f"
done
check "capacity always answered under attack" test "$(grep -c fail "$W/capacity-attacked")" = 0
max=$(sort -n "$W/capacity-attacked" | tail -1)
check "capacity answered within ${CAPACITY_BOUND_MS} ms under attack (worst $max ms)" test "$max" -le "$CAPACITY_BOUND_MS"
check "hostd is the same process at the end" test "$(main_pid)" = "$HOSTD_PID" -a "$(n_restarts)" = "$RESTARTS"

for j in "$A" "$B"; do
        check "release of $j answers released" test "$(controller release "$j" | jq -r .state)" = released
        check_fails "$j's scope is gone" vm_root "systemctl is-active -q hostd-job-$j.scope"
done
check "no process of the uid pool is left" test -z "$(vm_root "awk '/^Uid:/ && \$2 >= 524288 { print FILENAME }' /proc/[0-9]*/status 2>/dev/null | head -1")"
check "no job directory left" test "$(vm_root "ls /var/lib/hostd/jobs | wc -l")" = 0
check "no loop device left" test -z "$(vm_root 'losetup -n -l -O BACK-FILE | grep hostd || true')"
vm_root 'rm -f /usr/local/bin/suid-sleep'
