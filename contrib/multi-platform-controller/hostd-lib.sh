# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by provision-hostd.sh and cleanup-hostd.sh: logging in the
# controller's format, the workspace check, and hostd's API over SSH with
# the controller key and hostd's pinned host keys.

: "${HOST:?}" "${SSH_WORKSPACE_PATH:?}"
USER=${USER:-controller}
HOSTD_PORT=${HOSTD_PORT:-22}

log() { printf '{"message": %s, "level": "%s"}\n' "$(jq -Rn --arg m "$2" '$m')" "$1" >&2; }

for f in id_rsa known_hosts; do
        if [ ! -s "$SSH_WORKSPACE_PATH/$f" ]; then
                log ERROR "$SSH_WORKSPACE_PATH/$f is missing: the host's secret needs the controller key (id_rsa) and hostd's pinned host keys (known_hosts; see docs/install.md, 'Pinning')"
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
