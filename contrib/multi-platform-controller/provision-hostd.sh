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
# that check host keys.  When hostd answers that it cannot take the job
# (no-capacity, draining, unsupported-platform), the Secret holds only
# `error` with hostd's message, so the build task stops at once with it.
#
# Environment (the provision Task's parameters):
#   SECRET_NAME NAMESPACE TASKRUN_NAME   where the Secret goes, and the owner
#   HOST                  the builder's address
#   USER                  hostd's controller user (default: controller)
#   PLATFORM              linux/ARCH; empty: the host's native platform
#   SSH_WORKSPACE_PATH    holds id_rsa (the controller key) and known_hosts
#                         (hostd's host keys, pinned at enrolment)
#   HOSTD_PORT            default 22
#   LEASE                 default 4h: hostd reclaims a job whose cleanup
#                         never comes
# Needs ssh, jq, base64 and kubectl.
set -euo pipefail

: "${SECRET_NAME:?}" "${NAMESPACE:?}" "${TASKRUN_NAME:?}"
LEASE=${LEASE:-4h}
PLATFORM=${PLATFORM:-}
. "$(dirname "$0")/hostd-lib.sh"

if [ -z "$PLATFORM" ]; then
        PLATFORM=$(hostd capacity | jq -r '[.platforms[] | select(.emulated | not) | .platform][0] // empty')
        [ -n "$PLATFORM" ] || { log ERROR "hostd on $HOST names no native platform"; exit 1; }
fi

# One job per TaskRun: allocate is idempotent per owner.
OWNER="$NAMESPACE/$TASKRUN_NAME"
rc=0
answer=$(hostd allocate --owner "'$OWNER'" --platform "$PLATFORM" --lease "$LEASE") || rc=$?

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
        secret id_rsa "$key"$'\n' \
               host "$(jq -r .host <<<"$answer")" \
               user-dir "$(jq -r .user_dir <<<"$answer")" \
               known_hosts "$(jq -r .known_hosts <<<"$answer")"
        log INFO "job $(jq -r .job <<<"$answer") on $HOST for $OWNER, lease until $(jq -r .lease_expires <<<"$answer")"
        ;;
4 | 5 | 6)
        # no-capacity, draining, unsupported-platform: the build cannot run
        # here; say why in the build's own log.
        msg="hostd on $HOST: $(jq -r '.error.code + ": " + .error.message' <<<"$answer")"
        secret error "$msg"
        log WARNING "$msg"
        ;;
*)
        log ERROR "allocate on $HOST failed (exit $rc): $(jq -r '.error.message // empty' <<<"$answer" 2>/dev/null || true)"
        exit 1
        ;;
esac
