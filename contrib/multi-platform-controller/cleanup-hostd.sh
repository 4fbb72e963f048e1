#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The multi-platform-controller's cleanup step for a static host that runs
# hostd: `release` of the TaskRun's job instead of killall + userdel.
# release returns once the job is reclaimed (processes, mounts, files,
# uids); only then is the slot free.  A job already released (or never
# made) is not an error: cleanup runs again after retries and restarts.
#
# Environment: NAMESPACE TASKRUN_NAME HOST USER HOSTD_PORT
# SSH_WORKSPACE_PATH, as for provision-hostd.sh.  Needs ssh and jq.
set -euo pipefail

: "${NAMESPACE:?}" "${TASKRUN_NAME:?}"
# A stock host of the same pool: its Secret has no known_hosts (stock
# Secrets hold only id_rsa).  The controller's own clean script runs, from
# its ConfigMap, mounted as the stock Task mounts it; without it, the
# missing known_hosts is an error (hostd-lib.sh).
STOCK_SCRIPT=${HOSTD_MPC_STOCK_SCRIPTS:-/scripts}/clean-shared-host.sh
if [ ! -e "${SSH_WORKSPACE_PATH:?}/known_hosts" ] && [ -f "$STOCK_SCRIPT" ]; then
        printf '{"message": "%s", "level": "INFO"}\n' "no known_hosts in the host's Secret: ${HOST:-?} is a stock host, running $STOCK_SCRIPT" >&2
        exec bash "$STOCK_SCRIPT"
fi
. "$(dirname "$0")/hostd-lib.sh"

OWNER="$NAMESPACE/$TASKRUN_NAME"
jobs=$(hostd jobs | jq -r --arg o "$OWNER" '.jobs[] | select(.owner == $o) | .job')
if [ -z "$jobs" ]; then
        log INFO "no job of $OWNER on $HOST: already released"
        exit 0
fi
failed=0
for job in $jobs; do
        rc=0
        answer=$(hostd release "$job") || rc=$?
        case $rc in
        0) log INFO "released job $job of $OWNER on $HOST" ;;
        3) log INFO "job $job of $OWNER on $HOST: already released" ;;
        *)
                # A cleanup that failed leaves the job leaked and the host
                # draining (hostd keeps its slot): an operator looks at it.
                log ERROR "release of job $job on $HOST failed (exit $rc): $(jq -r '.error.message // .state_reason // empty' <<<"$answer" 2>/dev/null || true)"
                failed=1
                ;;
        esac
done
exit $failed
