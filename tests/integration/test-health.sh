#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# [Health]: the host drains itself, with the reason, when the podman probe
# fails ProbeFailures times in a row (a success resets the count) or free
# disk under the state directory is low; capacity shows the drain and the
# problem, allocate is refused, `hostctl resume` clears it once the problem
# is gone, and an operator's drain keeps its own reason.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

command -v podman >/dev/null || { echo "podman missing"; exit 77; }
PLATFORM=$(native_platform)

# A podman that fails the way a broken one does, and one that works.
cat >"$WORK/broken-podman" <<'EOF'
#!/bin/sh
echo "Error: default OCI runtime \"crun\" not found: invalid argument" >&2
exit 125
EOF
cat >"$WORK/fine-podman" <<'EOF'
#!/bin/sh
echo "crun 1.8.1"
EOF
# And one whose every run waits for the test to say how it ends: probe N
# creates $P/started.N and ends as $P/go.N says (ok or fail).  Probes never
# overlap, so when started.N+1 exists hostd has taken N's result.
P="$WORK/probes"
mkdir "$P"
echo 0 >"$P/count"
cat >"$WORK/scripted-podman" <<EOF
#!/bin/sh
n=\$((\$(cat "$P/count") + 1))
echo "\$n" >"$P/count"
: >"$P/started.\$n"
i=0
while [ ! -s "$P/go.\$n" ]; do
        sleep 0.1
        i=\$((i + 1))
        [ "\$i" -lt 3000 ] || exit 124
done
if [ "\$(cat "$P/go.\$n")" = ok ]; then echo "crun 1.8.1"; exit 0; fi
echo "Error: scripted failure \$n" >&2
exit 125
EOF
chmod +x "$WORK/broken-podman" "$WORK/fine-podman" "$WORK/scripted-podman"
policy() { # MinFreeDisk ProbeInterval Podman
        printf '[Health]\nMinFreeDisk=%s\nCheckInterval=1s\nProbeInterval=%s\nProbeTimeout=10s\n%s\n' \
                "$1" "$2" "${3:+Podman=$3}" >"$WORK/policy.conf"
}
cap() { jqf "$1" capacity; }
wait_for_log() { wait_for 15 grep -qE -- "$1" "$LOG"; }
draining() { [ "$(cap .draining)" = true ]; }
not_draining() { [ "$(cap .draining)" = false ]; }

# ---- the real podman passes the probe ----------------------------------------
policy 0 1s
HOSTD_LOG_LEVEL=debug start_hostd --policy "$WORK/policy.conf"
check "the real podman's probe passes" wait_for_log 'podman probe ok \((crun|runc) '
check "and the host is not drained" not_draining
# A restart gives the probe a new run directory; podman's database must
# not hold the old one against it (it did: the VM tier drained on it).
stop_hostd
HOSTD_LOG_LEVEL=debug start_hostd --policy "$WORK/policy.conf"
check "the probe passes again after a restart" wait_for 15 bash -c '[ "$(grep -cE "podman probe ok" "$1")" -ge 2 ]' _ "$LOG"

stop_hostd

# ---- only ProbeFailures (default 3) failures in a row drain the host --------------------
# The default, not set here: the count is what changed (before, one failure drained).
printf '[Health]\nMinFreeDisk=0\nCheckInterval=1s\nProbeInterval=1s\nProbeTimeout=10min\nPodman=%s\n' \
        "$WORK/scripted-podman" >"$WORK/policy.conf"
start_hostd --policy "$WORK/policy.conf"
answer_probe() { # N ok|fail: ends probe N and waits until hostd has its result
        wait_for 120 test -e "$P/started.$1" || { echo "probe $1 never started" >&2; return 1; }
        echo "$2" >"$P/go.$1"
        wait_for 120 test -e "$P/started.$(($1 + 1))" || { echo "probe $(($1 + 1)) never started" >&2; return 1; }
}
in_row() { [ "$(cap .health.podman_probe_failures)" = "$1" ]; }
answer_probe 1 fail
check "after 1 failure the host is not drained" not_draining
check "capacity counts 1 failure in a row" in_row 1
check "health stays ok below ProbeFailures" [ "$(cap .health.status)" = ok ]
check "the log says how many more drain it" grep -qF 'podman probe failed (exit status 125): Error: scripted failure 1; 1 of [Health] ProbeFailures=3 in a row' "$LOG"
answer_probe 2 fail
check "after 2 failures the host is not drained" not_draining
check "capacity counts 2" in_row 2
answer_probe 3 ok
check "a success resets the count" in_row 0
answer_probe 4 fail
answer_probe 5 fail
check "2 failures after the success: still not drained (4 failures, not in a row)" not_draining
check "capacity counts 2 again" in_row 2
check "metrics show the run" bash -c '"$1" metrics | grep -qx "hostd_podman_probe_failures_in_row 2"' _ "$HOSTCTL"
answer_probe 6 fail
check "the 3rd failure in a row drains the host" draining
check "with the last failure as the reason" [ "$(cap .drain_reason)" = 'podman probe failed (exit status 125): Error: scripted failure 6' ]
check "capacity counts 3" in_row 3
answer_probe 7 ok
hc resume >/dev/null
check "a success, then resume: not drained" not_draining
check "count back to 0" in_row 0
stop_hostd

# ---- ProbeFailures=1: the first failure drains ---------------------------------------------
policy 0 1s "$WORK/broken-podman"
echo "ProbeFailures=1" >>"$WORK/policy.conf"
start_hostd --policy "$WORK/policy.conf"
check "with ProbeFailures=1 one failure drains the host" wait_for 30 draining
check "and it says so in the log" grep -qF '(1 in a row); draining this host' "$LOG"
# The drain is durable: lift it before the next hostd.
policy 0 1s "$WORK/fine-podman"
hc reload >/dev/null
wait_for_log 'the podman probe passes again' || true
hc resume >/dev/null
stop_hostd
HOSTD_LOG_LEVEL=debug start_hostd --policy "$WORK/policy.conf"
check "a new hostd on a working podman is not drained" not_draining

# ---- a broken podman drains the host -----------------------------------------------
policy 0 1s "$WORK/broken-podman"
hc reload >/dev/null
check "a failing probe drains the host (3 in a row)" wait_for 60 draining
reason=$(cap .drain_reason)
echo "drain reason: $reason"
check "the reason is podman's own message" \
        grep -qF 'podman probe failed (exit status 125): Error: default OCI runtime "crun" not found' <<<"$reason"
check "capacity lists it as a health problem" [ "$(cap '.health.status')" = degraded ]
check "allocate is refused with the reason" bash -c '"$1" allocate --owner t/a --platform "$2" >/dev/null 2>&1; [ $? = 5 ]' _ "$HOSTCTL" "$PLATFORM"
check "metrics say which check fails" bash -c '"$1" metrics | grep -qx "hostd_health_check_failing{check=\"podman\"} 1"' _ "$HOSTCTL"
hc resume >/dev/null
check "resume while the probe still fails: drained again at the next probe" wait_for 30 draining

policy 0 1s "$WORK/fine-podman"
hc reload >/dev/null
check "the fixed probe passes again" wait_for_log 'the podman probe passes again'
hc resume >/dev/null
sleep 2
check "resume then holds" not_draining
check "and health is ok" [ "$(cap '.health.status')" = ok ]

# ---- an operator's drain keeps its reason --------------------------------------------
probe_failures() { hc metrics | awk '$1 == "hostd_podman_probe_failures_total" { print $2 }'; }
more_failures_than() { [ "$(probe_failures)" -gt "$1" ]; }
hc drain --reason "kernel update at 14:00" >/dev/null
n=$(probe_failures)
policy 0 1s "$WORK/broken-podman"
hc reload >/dev/null
# ProbeFailures (3) of them make it a problem.
check "the probe fails under an operator's drain" wait_for 30 more_failures_than "$((n + 2))"
check "the operator's reason stays" [ "$(cap .drain_reason)" = "kernel update at 14:00" ]
check "the probe's problem is still listed" bash -c '"$1" --json capacity | jq -e ".health.problems | any(test(\"podman probe failed\"))" >/dev/null' _ "$HOSTCTL"
hc resume >/dev/null

# ---- low free disk drains the host ---------------------------------------------
policy 64T 0
hc reload >/dev/null
check "free disk below MinFreeDisk drains the host" wait_for 10 draining
reason=$(cap .drain_reason)
echo "drain reason: $reason"
check "the reason names the directory and the threshold" \
        grep -qE "^free disk under $STATE is [0-9.]+ GiB, below \[Health\] MinFreeDisk=64T$" <<<"$reason"
check "the podman problem is gone with its probe turned off" \
        bash -c '! "$1" --json capacity | jq -e ".health.problems | any(test(\"podman\"))" >/dev/null' _ "$HOSTCTL"
policy 0 0
hc reload >/dev/null
hc resume >/dev/null
sleep 2
check "with the check off, resume holds" not_draining
check "jobs are allocated again" [ "$(jqf .state allocate --owner t/b --platform "$PLATFORM")" = active ]

stop_hostd
finish
