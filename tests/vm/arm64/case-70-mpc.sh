#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# contrib/multi-platform-controller on the arm64 guest: the provision
# script allocates by platform (RAW_PLATFORM linux-arm64, as the controller
# passes it for a linux/arm64 pool; linux-amd64 is refused and makes no
# Secret) and writes the Secret the buildah-remote task reads; the task's
# command sequence (ssh mkdir, the rsync -razW --mkpath pushes, the long
# `ssh host podman run` with -e, -v ...:Z and --tmpfs /run/secrets, the
# post-build step, the rsync pulls) runs on it with stock clients and
# pinned host keys; the cleanup script releases the job.  As
# tests/integration/test-contrib-mpc.sh, with a stand-in kubectl that
# records the Secret.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

CONTRIB=$(cd "$(dirname "$0")/../../../contrib/multi-platform-controller" && pwd)
W=$VM_DIR/mpc
WS=$W/ssh-workspace
mkdir -p "$WS" "$W/bin" "$W/secrets"
install -m 0400 "$VM_DIR/controller_key" "$WS/id_rsa"
cp "$VM_DIR/hostd_known_hosts" "$WS/known_hosts"
cat >"$W/bin/kubectl" <<'EOS'
#!/bin/bash
# Stand-in for the cluster: records the Secret of `kubectl create -f FILE`.
[ "$#" -eq 3 ] && [ "$1" = create ] && [ "$2" = -f ] || { echo "stand-in kubectl: only 'create -f FILE'" >&2; exit 1; }
n=$(find "$KUBECTL_RECORD" -name '*.yaml' | wc -l)
cp "$3" "$KUBECTL_RECORD/$n.yaml"
echo "secret/$(awk '$1 == "name:" { gsub(/"/, "", $2); print $2; exit }' "$3") created"
EOS
chmod +x "$W/bin/kubectl"

mpc_env() {
        env PATH="$W/bin:$PATH" KUBECTL_RECORD="$W/secrets" NAMESPACE=tenant-arm TASKRUN_NAME="$1" \
            HOST=127.0.0.1 USER=controller HOSTD_PORT="$VM_HOSTD_PORT" SSH_WORKSPACE_PATH="$WS" "${@:2}"
}
# RAW_PLATFORM: what the controller passes for a linux/arm64 pool.
provision() { mpc_env "$1" SECRET_NAME="multi-platform-ssh-$1" RAW_PLATFORM="$2" bash "$CONTRIB/provision-hostd.sh"; }
cleanup_job() { mpc_env "$1" bash "$CONTRIB/cleanup-hostd.sh"; }
secret_data() { awk -v k="$2:" '$1 == k { gsub(/"/, "", $2); print $2 }' "$1" | base64 -d; }
secret_keys() { awk '/^data:/ { d = 1; next } d { sub(":", "", $1); print $1 }' "$1" | sort | tr '\n' ' '; }

# ---- provision ------------------------------------------------------------
check_fails "provision with RAW_PLATFORM=linux-amd64 fails here (no amd64 on this host)" provision amd-build linux-amd64
check "... and makes no Secret" test "$(find "$W/secrets" -name '*.yaml' | wc -l)" = 0
check "provision with RAW_PLATFORM=linux-arm64 succeeds" provision arm-build linux-arm64
S=$(find "$W/secrets" -name '*.yaml' | sort -V | tail -1)
check "the Secret has the keys buildah-remote reads, plus known_hosts" \
        test "$(secret_keys "$S")" = "host id_rsa known_hosts user-dir "
SSH_HOST=$(secret_data "$S" host)
A=${SSH_HOST%@*}
echo "$A" >>"$VM_DIR/case-jobs.$$"   # released on a failure (lib.sh)
echo "job $A"
job=$(controller job "$A")
jq -c '{job, owner, platform, state}' <<<"$job"
check "hostd's job is owned by the TaskRun" test "$(jq -r .owner <<<"$job")" = tenant-arm/arm-build
check "... and is linux/arm64" test "$(jq -r .platform <<<"$job")" = linux/arm64
mkdir -p "$W/ssh"
for k in id_rsa known_hosts host user-dir; do secret_data "$S" "$k" >"$W/ssh/$k"; done
chmod 0400 "$W/ssh/id_rsa"
BUILD_DIR=$(cat "$W/ssh/user-dir")
SSH_ARGS=(-F /dev/null -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$W/ssh/known_hosts"
          -o ServerAliveInterval=60 -o ServerAliveCountMax=10 -o IdentitiesOnly=yes -o BatchMode=yes
          -o LogLevel=ERROR -i "$W/ssh/id_rsa" -p "$VM_HOSTD_PORT")
export RSYNC_RSH="ssh ${SSH_ARGS[*]}"

# ---- buildah-remote's commands ---------------------------------------------
POD=$W/pod
mkdir -p "$POD/workdir/source" "$POD/shared" "$POD/results" "$POD/scripts" "$POD/builder"
head -c 3M /dev/urandom >"$POD/workdir/source/app.bin"
cp "$VM_BUSYBOX" "$POD/builder/busybox"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' >"$POD/builder/Containerfile"
cat >"$POD/scripts/script-build.sh" <<'EOS'
#!/bin/sh
set -e
cd /var/workdir
sha256sum source/app.bin >/shared/source.sums
echo "$IMAGE $PLATFORM $(uname -m)" >/shared/build.env
stat -f -c %T /run/secrets >/shared/run-secrets.fstype
echo built >/var/workdir/built
EOS
cat >"$POD/scripts/script-post-build.sh" <<'EOS'
#!/bin/sh
set -e
podman tag localhost/builder "$IMAGE"
podman push -q "$IMAGE" "oci:$BUILD_DIR/volumes/shared/konflux-final-image:latest"
podman image inspect --format '{{.Architecture}}' "$IMAGE" >"$BUILD_DIR/volumes/shared/IMAGE_ARCH"
EOS
chmod +x "$POD/scripts/"*.sh
IMAGE=quay.io/tenant-arm/app:v1

check "ssh mkdir of the build tree" ssh "${SSH_ARGS[@]}" "$SSH_HOST" mkdir -p "$BUILD_DIR/workspaces" "$BUILD_DIR/scripts" "$BUILD_DIR/volumes"
check "rsync push: workdir" rsync -razW --mkpath "$POD/workdir/" "$SSH_HOST:$BUILD_DIR/volumes/workdir/"
check "rsync push: shared" rsync -razW --mkpath "$POD/shared/" "$SSH_HOST:$BUILD_DIR/volumes/shared/"
check "rsync push: results" rsync -razW --mkpath "$POD/results/" "$SSH_HOST:$BUILD_DIR/results/"
check "rsync push: scripts" rsync -ra "$POD/scripts" "$SSH_HOST:$BUILD_DIR"
check "rsync push: the builder's context" rsync -ra "$POD/builder" "$SSH_HOST:$BUILD_DIR"
check "an arm64 builder image, built in the job" ssh "${SSH_ARGS[@]}" "$SSH_HOST" "podman build -q -t localhost/builder $BUILD_DIR/builder >/dev/null"
out=$(ssh "${SSH_ARGS[@]}" "$SSH_HOST" podman run \
        --tmpfs /run/secrets \
        -e PLATFORM=linux/arm64 \
        -e IMAGE="$IMAGE" \
        -v "$BUILD_DIR/volumes/workdir:/var/workdir:Z" \
        -v "$BUILD_DIR/volumes/shared:/shared:Z" \
        -v "$BUILD_DIR/scripts:/scripts:Z" \
        --user=0 \
        --security-opt label=disable \
        --rm localhost/builder /scripts/script-build.sh 2>&1) || { echo "$out"; fail "the podman run step"; }
check "the post-build step" ssh "${SSH_ARGS[@]}" "$SSH_HOST" BUILD_DIR="$BUILD_DIR" IMAGE="$IMAGE" scripts/script-post-build.sh
check "rsync pull: workdir" rsync -ra "$SSH_HOST:$BUILD_DIR/volumes/workdir/" "$POD/workdir/"
check "rsync pull: shared" rsync -ra "$SSH_HOST:$BUILD_DIR/volumes/shared/" "$POD/shared/"
echo "build.env: $(cat "$POD/shared/build.env"); image architecture $(cat "$POD/shared/IMAGE_ARCH")"
check "the build saw the uploaded sources intact" bash -c 'cd "$1/workdir" && sha256sum -c --quiet "$1/shared/source.sums"' _ "$POD"
check "it ran natively on aarch64 with PLATFORM linux/arm64" test "$(cat "$POD/shared/build.env")" = "$IMAGE linux/arm64 aarch64"
check "/run/secrets was a tmpfs" test "$(cat "$POD/shared/run-secrets.fstype")" = tmpfs
check "the build's output came back" test "$(cat "$POD/workdir/built")" = built
check "the image came back as an OCI layout, arm64" \
        bash -c 'jq -e ".manifests | length == 1" "$1/shared/konflux-final-image/index.json" >/dev/null && test "$(cat "$1/shared/IMAGE_ARCH")" = arm64' _ "$POD"

# ---- cleanup ------------------------------------------------------------------
check "cleanup releases the TaskRun's job" cleanup_job arm-build
check "the job is released" test "$(controller job "$A" | jq -r .state)" = released
check_fails "its key is refused" ssh "${SSH_ARGS[@]}" "$SSH_HOST" true
check "no job holds a slot" test "$(controller capacity | jq -r .slots.used)" = 0
check_fails "nothing of it is left: scope" vm_root "systemctl is-active -q hostd-job-$A.scope"
check "nothing of it is left: job directory, uid range" \
        test "$(vm_root "ls /var/lib/hostd/jobs | wc -l; ps -e -o uid= | awk '\$1 >= 524288' | wc -l" | tr '\n' ' ')" = "0 0 "
