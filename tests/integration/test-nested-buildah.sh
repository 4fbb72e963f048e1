#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Konflux's buildah-remote build step, for real, in a job: the builder image
# (tools/build-builder-image.sh, a Debian remake of upstream's) is uploaded
# and imported, the step's commands run with stock clients (ssh mkdir, the
# rsync -razW pushes, the long `ssh host podman run` with --tmpfs
# /run/secrets, -v ...:Z volumes, an anonymous /var/lib/containers,
# --user=0 --rm --entrypoint=''), and inside the builder container a real
# `buildah build` runs in a user namespace nested in the job's, as upstream
# makes it: root's subordinate range from the image's /etc/subuid
# (root:1:65535, before the appended root:1:4294967294), so that it fits in
# the job's 65536 ids.  The image comes back as an OCI layout through the
# shared volume and rsync, and is checked layer by layer; host ids stay in
# the job's range; a failing RUN fails the step; release leaves nothing.
#
# Upstream: konflux-ci/build-definitions, task/buildah-remote-oci-ta/0.10/
# buildah-remote-oci-ta.yaml at 4f3cd5d9994c45d186cc4bb5399e473d49c0047b
# (the build step; its builder runs `konflux-build-cli image build`, which
# re-execs itself in `unshare --map-root-user --map-auto --mount`:
# konflux-ci/konflux-build-cli pkg/commands/build_linux.go).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

for t in podman runc rsync jq buildah debootstrap /bin/busybox; do
        command -v "$t" >/dev/null || [ -x "$t" ] || { echo "$t missing (tools/install-deps.sh)"; exit 77; }
done
rc=0
BUILDER_TAR=$(bash "$(dirname "$0")/../../tools/build-builder-image.sh" /var/cache/hostd-builder) || rc=$?
if [ "$rc" = 77 ]; then
        echo "no builder image: the Debian mirror cannot be reached"
        exit 77
fi
[ "$rc" = 0 ] || { echo "FAIL: tools/build-builder-image.sh exited $rc" >&2; exit 1; }

start_hostd_ssh
A=$(alloc_job a --disk 4G)

# As the step reads them from the MPC's Secret; host keys are checked here
# where the task says StrictHostKeyChecking=no.
SSH_HOST="$A@127.0.0.1"
BUILD_DIR=$(jhome a)
SSH_ARGS=(-F /dev/null -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$(jkh a)" -o ServerAliveInterval=60
          -o ServerAliveCountMax=10 -o IdentitiesOnly=yes -o BatchMode=yes -i "$(jkey a)" -p "$PORT")
export RSYNC_RSH="ssh ${SSH_ARGS[*]}"

# The builder image: upstream's podman run pulls it; here it is uploaded and
# imported with the environment upstream's image sets.
BUILDER_IMAGE=localhost/hostd-builder:latest
check "upload of the builder image" rsync -a "$BUILDER_TAR" "$SSH_HOST:$BUILD_DIR/builder.tar.gz"
check "podman import of the builder image" ssh "${SSH_ARGS[@]}" "$SSH_HOST" \
        "podman import -q --change 'ENV BUILDAH_ISOLATION=chroot' builder.tar.gz $BUILDER_IMAGE >/dev/null && rm builder.tar.gz"

# The task pod's side: its volumes, the source, and the script it writes.
POD=$WORK/pod
mkdir -p "$POD/shared" "$POD/workdir/source" "$POD/entitlement" "$POD/activation-key" "$POD/additional-secret" \
        "$POD/trusted-ca" "$POD/proxy-ca-bundle" "$POD/results" "$POD/.docker" "$POD/scripts"
echo '{"auths": {}}' >"$POD/.docker/config.json"
cp /bin/busybox "$POD/workdir/source/"
cat >"$POD/workdir/source/Containerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN echo "built by buildah in a hostd job" >/hello && mkdir /data && id -u >/data/uid && cat /proc/self/uid_map >/data/uid_map
RUN echo 42 >/data/answer && chown 1234:2345 /data/answer
LABEL org.example.test=nested
EOF

cat >"$POD/scripts/script-build.sh" <<'REMOTESSHEOF'
#!/bin/bash
# The builder's script: upstream's script-build.sh (0.10) for this build,
# with `konflux-build-cli image build` replaced by kbc_image_build, which
# does what that command does here.  Left out, as nothing here uses them:
# CA bundles, RHSM, prefetch, yum repos, SBOMs.  Debian's buildah 1.28 lacks
# --security-opt unmask= and --inherit-labels, and its jq 1.6 the .a.["b"]
# syntax of the policy edit, written .a["b"] here.
set -euo pipefail

# konflux-build-cli, back in the user namespace it made: default labels
# and annotations, /usr/share/buildinfo/labels.json (and /root/buildinfo/
# with ICM_KEEP_COMPAT_LOCATION), buildah build.
kbc_build_in_userns() {
        local dockerfile=$1 created label_args=() annotation_args=() labels=() l buildinfo containerfile
        created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
        labels+=("org.opencontainers.image.created=$created")
        annotation_args+=(--annotation "org.opencontainers.image.created=$created")
        if [ -n "$SOURCE_URL" ]; then
                labels+=("org.opencontainers.image.source=$SOURCE_URL")
                annotation_args+=(--annotation "org.opencontainers.image.source=$SOURCE_URL")
        fi
        if [ -n "$COMMIT_SHA" ]; then
                labels+=("org.opencontainers.image.revision=$COMMIT_SHA")
                annotation_args+=(--annotation "org.opencontainers.image.revision=$COMMIT_SHA")
        fi
        labels+=("build-date=$created" "architecture=$(uname -m)")
        [ -z "$SOURCE_URL" ] || labels+=("vcs-url=$SOURCE_URL")
        [ -z "$COMMIT_SHA" ] || labels+=("vcs-ref=$COMMIT_SHA")
        [ -z "$SOURCE_URL$COMMIT_SHA" ] || labels+=("vcs-type=git")
        for l in "${labels[@]}"; do label_args+=(--label "$l"); done

        buildinfo=$(mktemp -d)
        jq -n '$ARGS.positional | map(split("=") | {(.[0]): (.[1:] | join("="))}) | add' \
                --args "${labels[@]}" >"$buildinfo/labels.json"
        chmod -R a+rX "$buildinfo"
        containerfile=$(mktemp)
        cp "$dockerfile" "$containerfile"
        printf '\nCOPY --from=.konflux-buildinfo . /usr/share/buildinfo/\n' >>"$containerfile"
        [ "$ICM_KEEP_COMPAT_LOCATION" != true ] ||
                printf 'COPY --from=.konflux-buildinfo . /root/buildinfo/\n' >>"$containerfile"

        cd "$SOURCE_CODE_DIR/$CONTEXT"
        buildah build --file "$containerfile" --tag "$IMAGE" --build-context ".konflux-buildinfo=$buildinfo" \
                "${label_args[@]}" "${annotation_args[@]}" --skip-unused-stages="$SKIP_UNUSED_STAGES" \
                --no-cache --ulimit nofile=4096:4096 --tls-verify="$TLSVERIFY" .
}

# konflux-build-cli re-execs itself (pkg/commands/build_linux.go): as root,
# in `unshare --map-root-user --map-auto --mount`; --map-auto maps root's
# first subordinate range of /etc/subuid and /etc/subgid.
kbc_image_build() {
        unshare --map-root-user --map-auto --mount -- "$0" --in-user-namespace "$@"
}
if [ "${1:-}" = --in-user-namespace ]; then
        shift
        kbc_build_in_userns "$@"
        exit
fi

cd /var/workdir
echo "[$(date --utc -Ins)] Prepare system (architecture: $(uname -m))"

# Fixing group permission on /var/lib/containers
chown root:root /var/lib/containers

sed -i 's/^\s*short-name-mode\s*=\s*.*/short-name-mode = "disabled"/' /etc/containers/registries.conf

container_policy=$(
        jq '.transports |= (
              del(.docker["registry.access.redhat.com"]) |
              del(.docker["registry.redhat.io"]) |
              if (.docker == {}) then del(.docker) else . end
            )' /etc/containers/policy.json
)
printf '%s\n' "$container_policy" >/etc/containers/policy.json

# Upstream's "new namespace to run buildah - 2^32-2": appended, so the
# image's root:1:65535 stays the first range, which --map-auto takes.
echo 'root:1:4294967294' | tee -a /etc/subuid >>/etc/subgid

echo "[$(date --utc -Ins)] Run the build"
if [ -e "$SOURCE_CODE_DIR/$CONTEXT/$DOCKERFILE" ]; then
        dockerfile_path="$(pwd)/$SOURCE_CODE_DIR/$CONTEXT/$DOCKERFILE"
elif [ -e "$SOURCE_CODE_DIR/$DOCKERFILE" ]; then
        dockerfile_path="$(pwd)/$SOURCE_CODE_DIR/$DOCKERFILE"
else
        echo "Cannot find Dockerfile $DOCKERFILE"
        exit 1
fi
kbc_image_build "$dockerfile_path"

echo "[$(date --utc -Ins)] Add metadata"
image_name=$(echo "${IMAGE##*/}" | tr ':' '-')
buildah push "$IMAGE" oci:"/shared/$image_name.oci:$IMAGE"
echo "/shared/$image_name.oci" >/shared/container_path

echo "[$(date --utc -Ins)] End build"
REMOTESSHEOF
chmod +x "$POD/scripts/script-build.sh"

# The task's parameters (defaults, except these) and its fixed values.
IMAGE=quay.io/tenant-a/app:v1
COMMIT_SHA=0123456789abcdef0123456789abcdef01234567
SOURCE_URL=https://git.example/tenant-a/app
DOCKERFILE=Containerfile
CONTEXT=. SOURCE_CODE_DIR=source HOME=/root
ADDITIONAL_SECRET=does-not-exist ADD_CAPABILITIES='' ALLOW_CROSS_PLATFORM_IMAGES=false ANNOTATIONS_FILE=''
BUILD_ARGS_FILE='' BUILD_TIMESTAMP='' CONTEXTUALIZE_SBOM=true HERMETIC=false IMAGE_EXPIRES_AFTER=''
INHERIT_BASE_IMAGE_LABELS=true KBC_LOG_LEVEL=info PRIVILEGED_NESTED=false RHSM_MOUNT_CA_CERTS=auto
SBOM_SKIP_VALIDATION=true SBOM_SOURCE_SCAN_ENABLED=true SBOM_SYFT_SELECT_CATALOGERS='' SBOM_TYPE=spdx
SKIP_INJECTIONS=false SKIP_SBOM_GENERATION=false SKIP_UNUSED_STAGES=true SQUASH=false STORAGE_DRIVER=overlay
TARGET_STAGE='' TLSVERIFY=true WORKINGDIR_MOUNT='' YUM_REPOS_D_FETCHED=fetched.repos.d YUM_REPOS_D_SRC=repos.d
YUM_REPOS_D_TARGET=/etc/yum.repos.d BUILDAH_HTTP_PROXY='' BUILDAH_NO_PROXY='' ICM_KEEP_COMPAT_LOCATION=true
BUILDAH_OMIT_HISTORY=false BUILDAH_SOURCE_DATE_EPOCH='' BUILDAH_REWRITE_TIMESTAMP=false
PRIVILEGED_NESTED_FLAGS=() PODMAN_NVIDIA_ARGS=() PORT_FORWARD='' PODMAN_PORT_FORWARD=''

# push_sources: the step's "Rsync data" (POD's directories in the task's
# order), then the script.
push_sources() {
        ssh "${SSH_ARGS[@]}" "$SSH_HOST" mkdir -p "${BUILD_DIR@Q}/workspaces" "${BUILD_DIR@Q}/scripts" "${BUILD_DIR@Q}/volumes" &&
        rsync -razW "$POD/shared/" "$SSH_HOST:$BUILD_DIR/volumes/shared/" &&
        rsync -razW "$POD/workdir/" "$SSH_HOST:$BUILD_DIR/volumes/workdir/" &&
        rsync -razW "$POD/entitlement/" "$SSH_HOST:$BUILD_DIR/volumes/etc-pki-entitlement/" &&
        rsync -razW "$POD/activation-key/" "$SSH_HOST:$BUILD_DIR/volumes/activation-key/" &&
        rsync -razW "$POD/additional-secret/" "$SSH_HOST:$BUILD_DIR/volumes/additional-secret/" &&
        rsync -razW "$POD/trusted-ca/" "$SSH_HOST:$BUILD_DIR/volumes/trusted-ca/" &&
        rsync -razW "$POD/proxy-ca-bundle/" "$SSH_HOST:$BUILD_DIR/volumes/proxy-ca-bundle/" &&
        rsync -razW "$POD/.docker/" "$SSH_HOST:$BUILD_DIR/.docker/" &&
        rsync -razW "$POD/results/" "$SSH_HOST:$BUILD_DIR/results/" &&
        (cd "$POD" && rsync -ra scripts "$SSH_HOST:$BUILD_DIR")
}

# build_via_ssh: "Build via ssh", word for word (the words are joined by
# ssh into one command line, hence ${var@Q}).
# shellcheck disable=SC2086
build_via_ssh() {
        ssh "${SSH_ARGS[@]}" "$SSH_HOST" $PORT_FORWARD podman  run $PODMAN_PORT_FORWARD \
          --tmpfs /run/secrets \
          -e ADDITIONAL_SECRET="${ADDITIONAL_SECRET@Q}" \
          -e ADD_CAPABILITIES="${ADD_CAPABILITIES@Q}" \
          -e ALLOW_CROSS_PLATFORM_IMAGES="${ALLOW_CROSS_PLATFORM_IMAGES@Q}" \
          -e ANNOTATIONS_FILE="${ANNOTATIONS_FILE@Q}" \
          -e BUILD_ARGS_FILE="${BUILD_ARGS_FILE@Q}" \
          -e BUILD_TIMESTAMP="${BUILD_TIMESTAMP@Q}" \
          -e CONTEXT="${CONTEXT@Q}" \
          -e CONTEXTUALIZE_SBOM="${CONTEXTUALIZE_SBOM@Q}" \
          -e HERMETIC="${HERMETIC@Q}" \
          -e IMAGE="${IMAGE@Q}" \
          -e IMAGE_EXPIRES_AFTER="${IMAGE_EXPIRES_AFTER@Q}" \
          -e INHERIT_BASE_IMAGE_LABELS="${INHERIT_BASE_IMAGE_LABELS@Q}" \
          -e KBC_LOG_LEVEL="${KBC_LOG_LEVEL@Q}" \
          -e PRIVILEGED_NESTED="${PRIVILEGED_NESTED@Q}" \
          -e RHSM_MOUNT_CA_CERTS="${RHSM_MOUNT_CA_CERTS@Q}" \
          -e SBOM_SKIP_VALIDATION="${SBOM_SKIP_VALIDATION@Q}" \
          -e SBOM_SOURCE_SCAN_ENABLED="${SBOM_SOURCE_SCAN_ENABLED@Q}" \
          -e SBOM_SYFT_SELECT_CATALOGERS="${SBOM_SYFT_SELECT_CATALOGERS@Q}" \
          -e SBOM_TYPE="${SBOM_TYPE@Q}" \
          -e SKIP_INJECTIONS="${SKIP_INJECTIONS@Q}" \
          -e SKIP_SBOM_GENERATION="${SKIP_SBOM_GENERATION@Q}" \
          -e SKIP_UNUSED_STAGES="${SKIP_UNUSED_STAGES@Q}" \
          -e SOURCE_CODE_DIR="${SOURCE_CODE_DIR@Q}" \
          -e SQUASH="${SQUASH@Q}" \
          -e STORAGE_DRIVER="${STORAGE_DRIVER@Q}" \
          -e TARGET_STAGE="${TARGET_STAGE@Q}" \
          -e TLSVERIFY="${TLSVERIFY@Q}" \
          -e WORKINGDIR_MOUNT="${WORKINGDIR_MOUNT@Q}" \
          -e YUM_REPOS_D_FETCHED="${YUM_REPOS_D_FETCHED@Q}" \
          -e YUM_REPOS_D_SRC="${YUM_REPOS_D_SRC@Q}" \
          -e YUM_REPOS_D_TARGET="${YUM_REPOS_D_TARGET@Q}" \
          -e HOME="${HOME@Q}" \
          -e COMMIT_SHA="${COMMIT_SHA@Q}" \
          -e SOURCE_URL="${SOURCE_URL@Q}" \
          -e DOCKERFILE="${DOCKERFILE@Q}" \
          -e BUILDAH_HTTP_PROXY="${BUILDAH_HTTP_PROXY@Q}" \
          -e BUILDAH_NO_PROXY="${BUILDAH_NO_PROXY@Q}" \
          -e ICM_KEEP_COMPAT_LOCATION="${ICM_KEEP_COMPAT_LOCATION@Q}" \
          -e BUILDAH_OMIT_HISTORY="${BUILDAH_OMIT_HISTORY@Q}" \
          -e BUILDAH_SOURCE_DATE_EPOCH="${BUILDAH_SOURCE_DATE_EPOCH@Q}" \
          -e BUILDAH_REWRITE_TIMESTAMP="${BUILDAH_REWRITE_TIMESTAMP@Q}" \
          -v "${BUILD_DIR@Q}/volumes/shared:/shared:Z" \
          -v "${BUILD_DIR@Q}/volumes/workdir:/var/workdir:Z" \
          -v "${BUILD_DIR@Q}/volumes/etc-pki-entitlement:/entitlement:Z" \
          -v "${BUILD_DIR@Q}/volumes/activation-key:/activation-key:Z" \
          -v "${BUILD_DIR@Q}/volumes/additional-secret:/additional-secret:Z" \
          -v "${BUILD_DIR@Q}/volumes/trusted-ca:/mnt/trusted-ca:Z" \
          -v "${BUILD_DIR@Q}/volumes/proxy-ca-bundle:/mnt/proxy-ca-bundle:Z" \
          -v "${BUILD_DIR@Q}/.docker/:/root/.docker:Z" \
          -v "${BUILD_DIR@Q}/results/:/tekton/results:Z" \
          -v "${BUILD_DIR@Q}/scripts:/scripts:Z" \
          -v /var/lib/containers \
          "${PRIVILEGED_NESTED_FLAGS[@]@Q}" \
          --user=0 "${PODMAN_NVIDIA_ARGS[@]@Q}" --rm --entrypoint='' "${BUILDER_IMAGE@Q}" /scripts/script-build.sh
}

# pull_results: "Rsync back".
pull_results() {
        rsync -razW --stats "$SSH_HOST:$BUILD_DIR/volumes/shared/" "$POD/shared/" >/dev/null &&
        rsync -razW --stats "$SSH_HOST:$BUILD_DIR/volumes/workdir/" "$POD/workdir/" >/dev/null &&
        rsync -razW --stats "$SSH_HOST:$BUILD_DIR/results/" "$POD/results/" >/dev/null
}

check "Rsync data" push_sources
t0=$SECONDS
rc=0
build_via_ssh >"$WORK/build.log" 2>&1 || rc=$?
echo "--- the build step took $((SECONDS - t0)) s"
check "the build step succeeds" [ "$rc" = 0 ]
[ "$rc" = 0 ] || tail -n 30 "$WORK/build.log"
check "buildah ran the RUN steps" grep -q "^STEP 5/.*: RUN echo 42" "$WORK/build.log"
check "Rsync back" pull_results
check "the build names its result" [ "$(cat "$POD/shared/container_path" 2>/dev/null)" = /shared/app-v1.oci ]

# ---- the result, as the task pod has it ---------------------------------------
OCI=$POD/shared/app-v1.oci
blob() { echo "$OCI/blobs/${1%%:*}/${1#*:}"; }
jqe() { jq -e "$@" >/dev/null; }
check "an OCI image layout" jqe '.imageLayoutVersion == "1.0.0"' "$OCI/oci-layout"
check "its index has the image under the task's reference" \
        jqe --arg ref "$IMAGE" '.manifests | length == 1 and .[0].annotations["org.opencontainers.image.ref.name"] == $ref' "$OCI/index.json"
blobs_intact() {
        local f
        for f in "$OCI"/blobs/sha256/*; do
                [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "${f##*/}" ] || { echo "blob ${f##*/} does not match its digest"; return 1; }
        done
}
check "every blob matches its digest" blobs_intact
MANIFEST=$(blob "$(jq -r '.manifests[0].digest' "$OCI/index.json" 2>/dev/null)")
check "the manifest is an OCI image manifest" jqe '.mediaType == "application/vnd.oci.image.manifest.v1+json"' "$MANIFEST"
CONFIG=$(blob "$(jq -r .config.digest "$MANIFEST" 2>/dev/null)")
check "the config is for this platform" jqe --arg a "${PLAT#linux/}" '.os == "linux" and .architecture == $a' "$CONFIG"
check "the Containerfile's label and upstream's labels" \
        jqe --arg r "$COMMIT_SHA" '.config.Labels as $l | $l["org.example.test"] == "nested" and
                $l["org.opencontainers.image.revision"] == $r and $l["vcs-type"] == "git" and
                $l.architecture == $m' --arg m "$(uname -m)" "$CONFIG"
check "the manifest carries upstream's annotations" \
        jqe --arg s "$SOURCE_URL" '.annotations["org.opencontainers.image.source"] == $s' "$MANIFEST"

# The layers, applied in order (no whiteouts in this image), as root keeping
# their owners, and listed with them.
ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS"
: >"$WORK/layers.list"
for d in $(jq -r '.layers[].digest' "$MANIFEST" 2>/dev/null); do
        tar -xzf "$(blob "$d")" -C "$ROOTFS" --numeric-owner
        tar -tvzf "$(blob "$d")" --numeric-owner >>"$WORK/layers.list"
done
check "the first RUN's output is in a layer" [ "$(cat "$ROOTFS/hello" 2>/dev/null)" = "built by buildah in a hostd job" ]
check "the last RUN's file has its content" [ "$(cat "$ROOTFS/data/answer" 2>/dev/null)" = 42 ]
check "... and the owner it was chown'ed to, inside the nested namespace" \
        grep -Eq '^-rw-r--r-- 1234/2345 +3 .* data/answer$' "$WORK/layers.list"
check "the RUN steps ran as root" [ "$(cat "$ROOTFS/data/uid" 2>/dev/null)" = 0 ]
# The RUN's own map: root alone, then root's subordinate range, as
# `unshare --map-root-user --map-auto` makes it from root:1:65535.
check "in the user namespace made like upstream's" \
        awk 'NR == 1 && !($1 == 0 && $2 == 0 && $3 == 1) { exit 1 } NR == 2 && !($1 == 1 && $2 == 1 && $3 >= 65534) { exit 1 } END { exit NR != 2 }' \
        "$ROOTFS/data/uid_map"
check "busybox, copied from the context" cmp -s /bin/busybox "$ROOTFS/bin/busybox"
check "labels.json injected in both buildinfo paths" \
        bash -c 'cmp -s "$1/usr/share/buildinfo/labels.json" "$1/root/buildinfo/labels.json" &&
                 jq -e --arg r "$2" ".[\"vcs-ref\"] == \$r" "$1/usr/share/buildinfo/labels.json" >/dev/null' _ "$ROOTFS" "$COMMIT_SHA"

# The step's last action: buildah pull of the layout, here into a private
# store so the host's /var/lib/containers is not touched.  From the
# layout's directory: buildah 1.28 names an oci: image after its path, and
# the test's path has capitals, which a name may not.
HBUILDAH=(buildah --root "$WORK/host-store" --runroot "$WORK/host-run" --storage-driver vfs)
CONFIG_ID=$(jq -r .config.digest "$MANIFEST" 2>/dev/null) || true
hpull() {
        local id
        id=$(cd "$POD/shared" && "${HBUILDAH[@]}" pull -q "oci:$(basename "$(cat container_path)"):$IMAGE") || return 1
        [ "sha256:$id" = "$CONFIG_ID" ] || { echo "pulled $id, the config is $CONFIG_ID"; return 1; }
}
check "buildah pull oci:\$(cat /shared/container_path):\$IMAGE on the task's side gives the image" hpull

# ---- the job's side -----------------------------------------------------------------
base=$(juid a)
check "the builder container and its /var/lib/containers volume are gone (--rm)" \
        [ "$(ssh "${SSH_ARGS[@]}" "$SSH_HOST" 'podman ps -aq; podman volume ls -q' | wc -l)" = 0 ]
# The result, pulled into the job's own podman: the nested build's owners
# land in the job's range on the host.
ID=$(ssh "${SSH_ARGS[@]}" "$SSH_HOST" "cd volumes/shared && podman pull -q oci:app-v1.oci:$IMAGE" 2>"$WORK/jpull.err") || cat "$WORK/jpull.err"
check "the image loads in the job's podman" [ "sha256:$ID" = "$CONFIG_ID" ]
check "and runs there" [ "$(ssh "${SSH_ARGS[@]}" "$SSH_HOST" "podman run --rm --pull=never $ID cat /data/answer" 2>&1)" = 42 ]
owned_in_range() {
        find "$(jfs a)" \( -uid -"$base" -o -uid +$((base + 65535)) -o -gid -"$base" -o -gid +$((base + 65535)) \) \
                -printf '%U:%G %p\n' >"$WORK/out-of-range"
        head -n 5 "$WORK/out-of-range"
        [ ! -s "$WORK/out-of-range" ]
}
check "every file in the job's home is owned in the job's range" owned_in_range
check "the file chown'ed to 1234:2345 in the nested build is $((base + 1234)):$((base + 2345)) on the host" \
        [ -n "$(find "$(jfs a)" -path '*/diff/data/answer' -uid $((base + 1234)) -gid $((base + 2345)) -print -quit)" ]

# ---- a failing build fails the step ------------------------------------------------
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "false"]\n' >"$POD/workdir/source/Containerfile"
rm -rf "${POD:?}/shared/"*
ssh "${SSH_ARGS[@]}" "$SSH_HOST" "rm -rf ${BUILD_DIR@Q}/volumes/shared"
check "Rsync data (a Containerfile whose RUN fails)" push_sources
rc=0
build_via_ssh >"$WORK/build-fail.log" 2>&1 || rc=$?
check "a failing RUN fails the step through buildah, unshare, podman and ssh" [ "$rc" != 0 ]
check "... with buildah's reason" grep -q 'error building at STEP\|building at STEP "RUN' "$WORK/build-fail.log"
check "Rsync back" pull_results
check "... and no result" [ ! -e "$POD/shared/container_path" ]

# ---- release -----------------------------------------------------------------------------
check "release" [ "$(ctl release "$A" | jq -r .state)" = released ]
check "no process of the job's range left" [ "$(range_procs "$base")" = 0 ]
check "no loop device left" [ "$(losetup -a | grep -c "$STATE/jobs/")" = 0 ]
check "no job directory left" [ -z "$(ls "$STATE/jobs")" ]
stop_hostd
finish
