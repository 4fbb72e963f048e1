# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by provision-hostd.sh and cleanup-hostd.sh: logging in the
# controller's format, the workspace check, and hostd's API over SSH with
# the controller key and hostd's pinned host keys.
#
# The workspace is the host's Secret in the controller's namespace:
#   id_rsa        the controller key (as for stock hosts)
#   known_hosts   hostd's host keys for the address (and port), pinned at
#                 enrolment: `hostctl known-hosts ADDRESS` on the builder
#   hostd-port    optional: hostd's port, default 22
#   hostd-lease   optional: the jobs' lease, default 4h (hostd reclaims a
#                 job whose cleanup never comes)
#   hostd-full-wait
#                 optional: seconds a provision waits on a full host for a
#                 slot to come free (the controller's count runs ahead of
#                 the cleanups), default 15
# HOSTD_PORT, LEASE and FULL_WAIT in the environment override the last three.

: "${HOST:?}" "${SSH_WORKSPACE_PATH:?}"
USER=${USER:-controller}
ws_value() { # ws_value KEY DEFAULT: a key of the host's Secret, or DEFAULT
        local v
        if [ -s "$SSH_WORKSPACE_PATH/$1" ]; then
                v=$(tr -d ' \n' <"$SSH_WORKSPACE_PATH/$1")
                echo "${v:-$2}"
        else
                echo "$2"
        fi
}
HOSTD_PORT=${HOSTD_PORT:-$(ws_value hostd-port 22)}
LEASE=${LEASE:-$(ws_value hostd-lease 4h)}
FULL_WAIT=${FULL_WAIT:-$(ws_value hostd-full-wait 15)}

log() { printf '{"message": %s, "level": "%s"}\n' "$(jq -Rn --arg m "$2" '$m')" "$1" >&2; }

[[ $HOSTD_PORT =~ ^[0-9]{1,5}$ ]] || { log ERROR "hostd-port '$HOSTD_PORT' is not a port number"; exit 1; }
[[ $LEASE =~ ^[0-9]+[smhd]?$ ]] || { log ERROR "hostd-lease '$LEASE' is not a duration such as 4h or 90m"; exit 1; }
[[ $FULL_WAIT =~ ^[0-9]{1,4}$ ]] || { log ERROR "hostd-full-wait '$FULL_WAIT' is not a number of seconds"; exit 1; }

for f in id_rsa known_hosts; do
        if [ ! -s "$SSH_WORKSPACE_PATH/$f" ]; then
                log ERROR "$SSH_WORKSPACE_PATH/$f is missing: the host's Secret needs the controller key (id_rsa) and hostd's pinned host keys (known_hosts: run 'hostctl known-hosts $HOST' on the builder and add its output to the Secret; contrib/multi-platform-controller/README.md, 'Enrolling')"
                exit 1
        fi
done
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
install -m 0400 "$SSH_WORKSPACE_PATH/id_rsa" "$WORK/controller_key"

# Host keys are checked: a builder that answers with another key is not
# the one enrolled, and gets no build.
hostd() {
        ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes \
            -o UserKnownHostsFile="$SSH_WORKSPACE_PATH/known_hosts" -o ConnectTimeout=30 \
            -i "$WORK/controller_key" -p "$HOSTD_PORT" "$USER@$HOST" "$@"
}
