#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The multi-platform-controller's provision step for a static host that runs
# hostd: one `allocate` over SSH instead of useradd + ssh-keygen + sudo.
#
# It writes the Secret the buildah-remote task reads, with the same keys as
# the stock provision-shared-host task:
#   id_rsa     the job's private key (made by hostd, shown once)
#   host       USER@ADDRESS
#   user-dir   the job's home
# plus `known_hosts` (hostd's pinned keys for ADDRESS:PORT), for tasks
# that check host keys.
#
# When this host cannot take the job (hostd answers no-capacity, draining
# or unsupported-platform, or cannot be reached), the step fails with
# hostd's reason in its log and makes no Secret: the controller then marks
# the host failed for this TaskRun (its failed-hosts annotation) and
# provisions on another host of the pool; only when every host has failed
# does it write the `error` Secret itself.  Exiting 0 with an error Secret
# would stop that failover.
#
# Environment (the provision Task's parameters, exactly the controller's):
#   SECRET_NAME NAMESPACE TASKRUN_NAME   where the Secret goes, and the owner
#   HOST                  the builder's address
#   USER                  hostd's controller user
#   SUDO_COMMANDS         ignored: a hostd job is root in its own user namespace
#   RAW_PLATFORM          the pool's platform without its flavour, as the
#                         controller's rawPlatform() makes it (linux-arm64
#                         for linux/arm64 and linux-m2xlarge/arm64); empty:
#                         the host's native platform
#   INSTANCE_TAG          ignored (names cloud instances of dynamic pools)
#   SSH_WORKSPACE_PATH    the host's Secret (see hostd-lib.sh)
# Needs ssh, jq, base64 and kubectl.
set -euo pipefail

: "${SECRET_NAME:?}" "${NAMESPACE:?}" "${TASKRUN_NAME:?}"
# A stock host of the same pool: its Secret has no known_hosts (stock
# Secrets hold only id_rsa).  The controller's own provision script runs, from
# its ConfigMap, mounted as the stock Task mounts it; without it, the
# missing known_hosts is an error (hostd-lib.sh).
STOCK_SCRIPT=${HOSTD_MPC_STOCK_SCRIPTS:-/scripts}/provision-shared-host.sh
if [ ! -e "${SSH_WORKSPACE_PATH:?}/known_hosts" ] && [ -f "$STOCK_SCRIPT" ]; then
        printf '{"message": "%s", "level": "INFO"}\n' "no known_hosts in the host's Secret: ${HOST:-?} is a stock host, running $STOCK_SCRIPT" >&2
        exec bash "$STOCK_SCRIPT"
fi
. "$(dirname "$0")/hostd-lib.sh"

# linux-arm64 -> linux/arm64: OS first, architecture last (the flavour,
# when the controller left one, in between).
PLATFORM=
if [ -n "${RAW_PLATFORM:-}" ]; then
        [[ $RAW_PLATFORM =~ ^[A-Za-z0-9_]+(-[A-Za-z0-9_]+)+$ ]] ||
                { log ERROR "RAW_PLATFORM '$RAW_PLATFORM' is not OS-ARCH (e.g. linux-arm64)"; exit 1; }
        PLATFORM="${RAW_PLATFORM%%-*}/${RAW_PLATFORM##*-}"
fi
if [ -z "$PLATFORM" ]; then
        PLATFORM=$(hostd capacity | jq -r '[.platforms[] | select(.emulated | not) | .platform][0] // empty')
        [ -n "$PLATFORM" ] || { log ERROR "hostd on $HOST names no native platform"; exit 1; }
fi

# One job per TaskRun: allocate is idempotent per owner.
OWNER="$NAMESPACE/$TASKRUN_NAME"
allocate() {
        rc=0
        answer=$(hostd allocate --owner "'$OWNER'" --platform "$PLATFORM" --lease "$LEASE") || rc=$?
}
allocate
# no-capacity although the controller chose this host for a free slot:
# its count frees a slot when a TaskRun completes, hostd only once the
# clean Task has run and the cleanup is done, seconds later.  Failing now
# would mark this host failed for the TaskRun for good (and with every host
# so marked, the build gets the error Secret), so wait for it, bounded.
deadline=$((SECONDS + FULL_WAIT))
[ "$rc" != 4 ] || [ "$FULL_WAIT" = 0 ] ||
        log INFO "hostd on $HOST is full: waiting up to ${FULL_WAIT} s for a cleanup to free a slot"
while [ "$rc" = 4 ] && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 1
        allocate
done

secret() { # KEY VALUE ...: the Secret with these data keys
        {
                printf 'apiVersion: v1\nkind: Secret\nmetadata:\n'
                printf '  name: "%s"\n  namespace: "%s"\n' "$SECRET_NAME" "$NAMESPACE"
                printf '  labels:\n    build.appstudio.redhat.com/multi-platform-secret: "true"\n'
                printf 'type: Opaque\ndata:\n'
                while [ $# -gt 0 ]; do
                        printf '  %s: "%s"\n' "$1" "$(printf '%s' "$2" | base64 -w 0)"
                        shift 2
                done
        } >"$WORK/secret.yaml"
        kubectl create -f "$WORK/secret.yaml"
}

case $rc in
0)
        # A retried provision (same TaskRun) gets the same job with a fresh
        # key; the previous key stops working (docs/contract.md).
        key=$(jq -r .private_key <<<"$answer")
        if ! secret id_rsa "$key"$'\n' \
                    host "$(jq -r .host <<<"$answer")" \
                    user-dir "$(jq -r .user_dir <<<"$answer")" \
                    known_hosts "$(jq -r .known_hosts <<<"$answer")"; then
                # No Secret: the step fails and the controller fails over to
                # another host; it cleans only the host a TaskRun ends on, so
                # the job made here would hold its slot until its lease ends.
                # Give it back now.
                job=$(jq -r .job <<<"$answer")
                hostd release "$job" >/dev/null ||
                        log ERROR "release of job $job on $HOST failed too: it keeps its slot until its lease ends"
                log ERROR "could not create the Secret for $OWNER: released job $job on $HOST"
                exit 1
        fi
        log INFO "job $(jq -r .job <<<"$answer") on $HOST for $OWNER, lease until $(jq -r .lease_expires <<<"$answer")"
        ;;
4 | 5 | 6)
        # no-capacity, draining, unsupported-platform: not this host; the
        # controller tries another one.
        log ERROR "hostd on $HOST cannot take $OWNER: $(jq -r '.error.code + ": " + .error.message' <<<"$answer" 2>/dev/null || echo "$answer")"
        exit 1
        ;;
*)
        log ERROR "allocate on $HOST failed (exit $rc): $(jq -r '.error.message // empty' <<<"$answer" 2>/dev/null || true)"
        exit 1
        ;;
esac
