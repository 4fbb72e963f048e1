#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# contrib/multi-platform-controller against a real hostd on loopback: the
# provision script makes the Secret the buildah-remote task reads, the
# task's own command sequence (ssh mkdir, rsync -razW --mkpath pushes, the
# long `ssh host podman run` with -e, -v ...:Z and --tmpfs /run/secrets,
# the post-build step, rsync pulls) runs on it with stock clients and
# StrictHostKeyChecking=yes, and the cleanup script releases the job.
# The Tasks' environment is exactly the parameters the controller passes
# (RAW_PLATFORM honoured); a host that cannot take the job fails the step
# with hostd's reason, so that the controller fails over.  The host's
# Secret is enrolled with `hostctl known-hosts` and carries hostd's port.
# The cluster is the only part that is not real: kubectl is a stand-in
# that records the Secret it is asked to create.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

CONTRIB=$(cd "$(dirname "$0")/../../contrib/multi-platform-controller" && pwd)
for t in podman rsync jq /bin/busybox; do
        command -v "$t" >/dev/null || [ -x "$t" ] || { echo "$t missing"; exit 77; }
done

start_hostd_ssh --set Jobs.Slots=2

# The host's Secret in the controller's namespace, as a mounted workspace,
# enrolled as contrib/multi-platform-controller/README.md says: the
# controller key, `hostctl known-hosts` run on the builder, hostd's port.
WS=$WORK/ssh-workspace
mkdir -p "$WS"
install -m 0400 "$CTL_KEY" "$WS/id_rsa"
enrol() { hc known-hosts 127.0.0.1 --port "$PORT" >"$WS/known_hosts"; }
check "hostctl known-hosts prints hostd's keys for the address and port" enrol
check "... one line per key served, in known_hosts form" \
        [ "$(awk -v hp="[127.0.0.1]:$PORT" '$1 == hp' "$WS/known_hosts" | wc -l)" = "$(jqf '.host_keys | length' capacity)" ]
echo "$PORT" >"$WS/hostd-port"

mkdir -p "$WORK/bin" "$WORK/secrets"
cat >"$WORK/bin/kubectl" <<'EOF'
#!/bin/bash
# Stand-in for the cluster: records the Secret of `kubectl create -f FILE`.
if [ "$#" -ne 3 ] || [ "$1" != create ] || [ "$2" != -f ]; then
        echo "stand-in kubectl: only 'create -f FILE' (got: $*)" >&2
        exit 1
fi
n=$(find "$KUBECTL_RECORD" -name '*.yaml' | wc -l)
cp "$3" "$KUBECTL_RECORD/$n.yaml"
echo "secret/$(awk '$1 == "name:" { gsub(/"/, "", $2); print $2; exit }' "$3") created"
EOF
chmod +x "$WORK/bin/kubectl"

# provision TASKRUN [WORKSPACE [RAW_PLATFORM]]: the provision Task's step,
# with the parameters the controller passes and nothing else.
provision() {
        env -i PATH="$WORK/bin:$PATH" KUBECTL_RECORD="$WORK/secrets" SECRET_NAME="multi-platform-ssh-$1" \
            NAMESPACE=tenant-a TASKRUN_NAME="$1" HOST=127.0.0.1 USER=controller SUDO_COMMANDS= \
            RAW_PLATFORM="${3-linux-${PLAT#linux/}}" INSTANCE_TAG=tenant-a-builds \
            HOSTD_MPC_STOCK_SCRIPTS="${STOCK:-$WORK/no-stock}" \
            SSH_WORKSPACE_PATH="${2:-$WS}" bash "$CONTRIB/provision-hostd.sh"
}
cleanup_job() {
        env -i PATH="$WORK/bin:$PATH" SECRET_NAME="multi-platform-ssh-$1" NAMESPACE=tenant-a TASKRUN_NAME="$1" \
            HOST=127.0.0.1 USER=controller HOSTD_MPC_STOCK_SCRIPTS="${STOCK:-$WORK/no-stock}" \
            SSH_WORKSPACE_PATH="${2:-$WS}" bash "$CONTRIB/cleanup-hostd.sh"
}
last_secret() { find "$WORK/secrets" -name '*.yaml' | sort -V | tail -1; }
n_secrets() { find "$WORK/secrets" -name '*.yaml' | wc -l; }
# secret_data FILE KEY: the decoded value of one data key
secret_data() { awk -v k="$2:" '$1 == k { gsub(/"/, "", $2); print $2 }' "$1" | base64 -d; }
secret_keys() { awk '/^data:/ { d = 1; next } d { sub(":", "", $1); print $1 }' "$1" | sort | tr '\n' ' '; }
# mount_secret FILE DIR: as Kubernetes mounts a Secret volume
mount_secret() {
        mkdir -p "$2"
        for k in $(secret_keys "$1"); do secret_data "$1" "$k" >"$2/$k"; done
}

# ---- provision ------------------------------------------------------------
check "provision succeeds" provision build-a
S1=$(last_secret)
check "the Secret has exactly the keys buildah-remote reads, plus known_hosts" \
        [ "$(secret_keys "$S1")" = "host id_rsa known_hosts user-dir " ]
check "it carries the label the controller looks for" grep -q 'build.appstudio.redhat.com/multi-platform-secret: "true"' "$S1"
check "it goes to the TaskRun's namespace" grep -q 'namespace: "tenant-a"' "$S1"
A=$(jqf '.jobs[0].job' jobs)
check "hostd has one job, owned by the TaskRun" [ "$(jqf '.jobs[0].owner' jobs)" = tenant-a/build-a ]
check "host is USER@ADDRESS with the job's user" [ "$(secret_data "$S1" host)" = "$A@127.0.0.1" ]
check "user-dir is the job's home" [ "$(secret_data "$S1" user-dir)" = "$(jqf .user_dir job "$A")" ]

# A retried provision (same TaskRun) gets the same job and a fresh key.
check "a retried provision succeeds" provision build-a
S1b=$(last_secret)
check "... with the same job" [ "$(secret_data "$S1b" host)" = "$A@127.0.0.1" ]
check "... and still one job" [ "$(jqf '.jobs | length' jobs)" = 1 ]
mount_secret "$S1" "$WORK/ssh-old"
mount_secret "$S1b" "$WORK/ssh"
chmod 0400 "$WORK/ssh-old/id_rsa" "$WORK/ssh/id_rsa"

# ---- the buildah-remote task's commands, on the mounted Secret ----------------
# As the task runs them, except for the port (this hostd is not on 22) and
# host keys, which are checked here where the task says
# StrictHostKeyChecking=no.
SSH_HOST=$(cat "$WORK/ssh/host")
BUILD_DIR=$(cat "$WORK/ssh/user-dir")
SSH_ARGS=(-F /dev/null -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$WORK/ssh/known_hosts"
          -o ServerAliveInterval=60 -o ServerAliveCountMax=10 -o IdentitiesOnly=yes -o BatchMode=yes
          -i "$WORK/ssh/id_rsa" -p "$PORT")
export RSYNC_RSH="ssh ${SSH_ARGS[*]}"
check_fails_old_key() {
        ! ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes \
              -o UserKnownHostsFile="$WORK/ssh/known_hosts" -i "$WORK/ssh-old/id_rsa" -p "$PORT" "$SSH_HOST" true 2>/dev/null
}
check "the first provision's key stopped working" check_fails_old_key

POD=$WORK/pod
mkdir -p "$POD/workdir/source" "$POD/shared" "$POD/trusted-ca" "$POD/results" "$POD/.docker" "$POD/scripts"
head -c 3M /dev/urandom >"$POD/workdir/source/app.bin"
echo 'print("hello")' >"$POD/workdir/source/main.py"
echo '-----BEGIN CERTIFICATE-----' >"$POD/trusted-ca/ca-bundle.crt"
echo '{"auths": {}}' >"$POD/.docker/config.json"
cat >"$POD/scripts/script-build.sh" <<'EOF'
#!/bin/sh
# Runs in the builder container, as buildah-remote's script-build.sh does.
set -e
cd /var/workdir
sha256sum source/app.bin source/main.py >/shared/source.sums
echo "$IMAGE $PLATFORM $BUILD_ARGS" >/shared/build.env
stat -f -c %T /run/secrets >/shared/run-secrets.fstype
ls /mnt/trusted-ca >/shared/trusted-ca.list
cat /root/.docker/config.json >/shared/docker-config.json
echo built >/var/workdir/built
EOF
cat >"$POD/scripts/script-post-build.sh" <<'EOF'
#!/bin/sh
# On the builder, in the job: the image as an OCI layout, and its digest.
set -e
podman tag localhost/builder "$IMAGE"
podman push -q "$IMAGE" "oci:$BUILD_DIR/volumes/shared/konflux-final-image:latest"
podman image inspect --format '{{.Digest}}' "$IMAGE" >"$BUILD_DIR/volumes/shared/IMAGE_DIGEST"
echo -n "$IMAGE" >"$BUILD_DIR/volumes/shared/IMAGE_URL"
EOF
chmod +x "$POD/scripts/"*.sh
IMAGE=quay.io/tenant-a/app:v1

check "ssh mkdir of the build tree" ssh "${SSH_ARGS[@]}" "$SSH_HOST" mkdir -p "$BUILD_DIR/workspaces" "$BUILD_DIR/scripts" "$BUILD_DIR/volumes"
check "rsync push: workdir" rsync -razW --mkpath "$POD/workdir/" "$SSH_HOST:$BUILD_DIR/volumes/workdir/"
check "rsync push: shared" rsync -razW --mkpath "$POD/shared/" "$SSH_HOST:$BUILD_DIR/volumes/shared/"
check "rsync push: trusted-ca" rsync -razW --mkpath "$POD/trusted-ca/" "$SSH_HOST:$BUILD_DIR/volumes/trusted-ca/"
check "rsync push: results" rsync -razW --mkpath "$POD/results/" "$SSH_HOST:$BUILD_DIR/results/"
check "rsync push: scripts" rsync -ra "$POD/scripts" "$SSH_HOST:$BUILD_DIR"
check "rsync push: .docker" rsync -ra "$POD/.docker/" "$SSH_HOST:$BUILD_DIR/.docker/"
# The builder image, built locally in the job (the task pulls one).
check "a local builder image" ssh "${SSH_ARGS[@]}" "$SSH_HOST" \
        "mkdir -p b && cp /bin/busybox b/ && printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n' >b/Containerfile && podman build -q -t localhost/builder b >/dev/null"
out=$(ssh "${SSH_ARGS[@]}" "$SSH_HOST" podman run \
        --tmpfs /run/secrets \
        -e BUILDER_IMAGE=localhost/builder \
        -e PLATFORM="$PLAT" \
        -e IMAGE="$IMAGE" \
        -e BUILD_ARGS=VERSION=1.2 \
        -e BUILD_DIR="$BUILD_DIR" \
        -v "$BUILD_DIR/volumes/workdir:/var/workdir:Z" \
        -v "$BUILD_DIR/volumes/shared:/shared:Z" \
        -v "$BUILD_DIR/.docker:/root/.docker:Z" \
        -v "$BUILD_DIR/volumes/trusted-ca:/mnt/trusted-ca:Z" \
        -v "$BUILD_DIR/scripts:/scripts:Z" \
        --user=0 \
        --security-opt label=disable \
        --rm localhost/builder /scripts/script-build.sh 2>&1) || { echo "$out"; fail "the podman run step"; }
check "the post-build step" ssh "${SSH_ARGS[@]}" "$SSH_HOST" BUILD_DIR="$BUILD_DIR" IMAGE="$IMAGE" scripts/script-post-build.sh
check "rsync pull: workdir" rsync -ra "$SSH_HOST:$BUILD_DIR/volumes/workdir/" "$POD/workdir/"
check "rsync pull: shared" rsync -ra "$SSH_HOST:$BUILD_DIR/volumes/shared/" "$POD/shared/"
check "rsync pull: results" rsync -ra "$SSH_HOST:$BUILD_DIR/results/" "$POD/results/"

check "the build saw the uploaded sources intact" bash -c 'cd "$1/workdir" && sha256sum -c --quiet "$1/shared/source.sums"' _ "$POD"
check "its environment came through -e" [ "$(cat "$POD/shared/build.env")" = "$IMAGE $PLAT VERSION=1.2" ]
check "/run/secrets was a tmpfs" [ "$(cat "$POD/shared/run-secrets.fstype")" = tmpfs ]
check "the trusted CA and docker config volumes were mounted" \
        bash -c 'grep -qx ca-bundle.crt "$1/shared/trusted-ca.list" && grep -q auths "$1/shared/docker-config.json"' _ "$POD"
check "the build's output came back" [ "$(cat "$POD/workdir/built")" = built ]
check "the image came back as an OCI layout" jq -e '.manifests | length == 1' "$POD/shared/konflux-final-image/index.json"
check "with its digest and URL" bash -c 'grep -qx "sha256:[0-9a-f]\{64\}" "$1/shared/IMAGE_DIGEST" && [ "$(cat "$1/shared/IMAGE_URL")" = "$2" ]' _ "$POD" "$IMAGE"

# ---- when hostd cannot take the job: the step fails, the controller fails over
check_fails() { ! "$@" >"$WORK/refusal.out" 2>&1; }
check "a second TaskRun gets the second slot" provision build-b
n=$(n_secrets)
check "a third TaskRun on the full host: the provision step fails" check_fails provision build-c
check "... after waiting for a slot to come free" grep -q 'is full: waiting up to 15 s for a cleanup' "$WORK/refusal.out"
check "... with hostd's reason in its log" grep -q 'cannot take tenant-a/build-c: no-capacity: ' "$WORK/refusal.out"
cat "$WORK/refusal.out"
check "... and no Secret (the controller writes 'error' once every host failed)" [ "$(n_secrets)" = "$n" ]
# The controller's count runs ahead of hostd's: a TaskRun completes, the
# controller provisions the next one on its slot, and the clean Task comes
# a little later.  The provision waits for it instead of failing the host.
provision build-c >"$WORK/wait.out" 2>&1 &
waiter=$!
sleep 2
check "cleanup releases the TaskRun's job" cleanup_job build-b
check "a provision that met the full host got the slot once the cleanup freed it" wait "$waiter"
check "... having waited" grep -q 'is full: waiting' "$WORK/wait.out"
check "... with a Secret" [ "$(n_secrets)" = $((n + 1)) ]
check "cleanup of build-c" cleanup_job build-c
check "... and the slot is free" [ "$(jqf .slots.free capacity)" = 1 ]
mkdir -p "$WORK/ws-nowait"
cp "$WS/id_rsa" "$WS/known_hosts" "$WORK/ws-nowait/"
echo 0 >"$WORK/ws-nowait/hostd-full-wait"
check "a second TaskRun fills the host again" provision build-e
check "with hostd-full-wait 0, a full host fails the step at once" check_fails provision build-g "$WORK/ws-nowait"
check "... without waiting" bash -c '! grep -q "is full: waiting" "$1"' _ "$WORK/refusal.out"
check "cleanup of build-e" cleanup_job build-e
n=$(n_secrets)
hc drain --reason "kernel update" >/dev/null
check "provision on a draining host fails" check_fails provision build-d
check "... with the drain reason" grep -q 'draining: .*kernel update' "$WORK/refusal.out"
hc resume >/dev/null
check "RAW_PLATFORM of a platform this host has not: the step fails" check_fails provision build-d "$WS" linux-s390x
check "... as unsupported-platform" grep -q 'unsupported-platform' "$WORK/refusal.out"
check "a RAW_PLATFORM that is not OS-ARCH is refused" check_fails provision build-d "$WS" 'linux-arm64;x'
check "... naming it" grep -q "RAW_PLATFORM 'linux-arm64;x' is not OS-ARCH" "$WORK/refusal.out"
check "no Secret for any of them" [ "$(n_secrets)" = "$n" ]
# The controller's rawPlatform() keeps OS and architecture of a flavoured
# platform (linux-m2xlarge/arm64 -> linux-arm64); an empty RAW_PLATFORM
# asks for the native platform.
check "RAW_PLATFORM linux-${PLAT#linux/} allocates a $PLAT job" provision build-d
check "... of that platform" [ "$(jqf '.jobs[] | select(.owner == "tenant-a/build-d") | .platform' jobs)" = "$PLAT" ]
check "cleanup of build-d" cleanup_job build-d
check "an empty RAW_PLATFORM asks for the native platform" provision build-d "$WS" ""
check "... $PLAT" [ "$(jqf '.jobs[] | select(.owner == "tenant-a/build-d") | .platform' jobs)" = "$PLAT" ]
check "cleanup of build-d again" cleanup_job build-d
n=$(n_secrets)
mkdir -p "$WORK/ws-port"
cp "$WS/id_rsa" "$WS/known_hosts" "$WORK/ws-port/"
echo '22 -oProxyCommand=x' >"$WORK/ws-port/hostd-port"
check "a hostd-port that is not a number is refused" check_fails provision build-f "$WORK/ws-port"
check "... naming it" grep -q "hostd-port '22-oProxyCommand=x' is not a port number" "$WORK/refusal.out"

# ---- refusals ------------------------------------------------------------------
mkdir -p "$WORK/ws-wrong"
install -m 0400 "$CTL_KEY" "$WORK/ws-wrong/id_rsa"
echo "$PORT" >"$WORK/ws-wrong/hostd-port"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/other_host_key"
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$WORK/other_host_key.pub")" >"$WORK/ws-wrong/known_hosts"
check "a host answering with another host key gets no build" check_fails provision build-e "$WORK/ws-wrong"
check "... because its host key is not the pinned one" grep -qi 'host key' "$WORK/refusal.out"
rm "$WORK/ws-wrong/known_hosts"
check "a workspace without known_hosts is refused" check_fails provision build-e "$WORK/ws-wrong"
check "... naming the file" grep -q 'known_hosts is missing' "$WORK/refusal.out"
check "no Secret was made for either" [ "$(n_secrets)" = "$n" ]

# A stock host of the same pool (its Secret has no known_hosts): the
# controller's own scripts run, with the same parameters.  Stand-ins that
# record how they were called; with known_hosts, hostd's path runs even
# when the stock scripts are there.
STOCK=$WORK/stock
mkdir -p "$STOCK"
for t in provision-shared-host clean-shared-host; do
        printf '#!/bin/bash\necho "%s $TASKRUN_NAME $HOST $USER $RAW_PLATFORM $SSH_WORKSPACE_PATH" >>"%s/calls"\n' "$t" "$WORK" >"$STOCK/$t.sh"
done
check "a Secret without known_hosts, stock scripts installed: the stock provision runs" provision build-s "$WORK/ws-wrong"
check "... with the controller's parameters" grep -qx "provision-shared-host build-s 127.0.0.1 controller linux-${PLAT#linux/} $WORK/ws-wrong" "$WORK/calls"
check "... and the stock cleanup" cleanup_job build-s "$WORK/ws-wrong"
check "... likewise" grep -qx "clean-shared-host build-s 127.0.0.1 controller  $WORK/ws-wrong" "$WORK/calls"
check "a Secret with known_hosts takes hostd's path" provision build-h
check "... (no stock call)" [ "$(wc -l <"$WORK/calls")" = 2 ]
check "cleanup of build-h" cleanup_job build-h
unset STOCK
check "and no job" [ "$(jqf '.jobs | length' jobs)" = 1 ]

# ---- cleanup ------------------------------------------------------------------------
check "cleanup of build-a" cleanup_job build-a
check "the job is released" [ "$(jqf .state job "$A")" = released ]
check "its key is refused" check_fails ssh "${SSH_ARGS[@]}" "$SSH_HOST" true
check "no job holds a slot" [ "$(jqf '.jobs | length' jobs)" = 0 ]
check "a second cleanup of the same TaskRun is fine" cleanup_job build-a
check "cleanup of a TaskRun that never got a job is fine" cleanup_job build-c

check "still serving" still_serving
check_no_crash
finish
