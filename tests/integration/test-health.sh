#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# [Health]: the host drains itself, with the reason, when the podman probe
# fails or free disk under the state directory is low; capacity shows the
# drain and the problem, allocate is refused, `hostctl resume` clears it
# once the problem is gone, and an operator's drain keeps its own reason.
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
chmod +x "$WORK/broken-podman" "$WORK/fine-podman"
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

# ---- a broken podman drains the host -----------------------------------------------
policy 0 1s "$WORK/broken-podman"
hc reload >/dev/null
check "a failing probe drains the host" wait_for 10 draining
reason=$(cap .drain_reason)
echo "drain reason: $reason"
check "the reason is podman's own message" \
        grep -qF 'podman probe failed (exit status 125): Error: default OCI runtime "crun" not found' <<<"$reason"
check "capacity lists it as a health problem" [ "$(cap '.health.status')" = degraded ]
check "allocate is refused with the reason" bash -c '"$1" allocate --owner t/a --platform "$2" >/dev/null 2>&1; [ $? = 5 ]' _ "$HOSTCTL" "$PLATFORM"
check "metrics say which check fails" bash -c '"$1" metrics | grep -qx "hostd_health_check_failing{check=\"podman\"} 1"' _ "$HOSTCTL"
hc resume >/dev/null
check "resume while the probe still fails: drained again at the next probe" wait_for 10 draining

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
check "the probe fails under an operator's drain" wait_for 10 more_failures_than "$n"
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
