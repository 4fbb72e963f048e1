#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Real multi-arch builds in jobs against a real registry (Debian's
# docker-registry on the host's loopback, htpasswd auth), as a Konflux
# pipeline does them:
#   - a multi-arch base image (busybox, amd64 + arm64) pushed once;
#   - the same Containerfile FROM it built natively (linux/amd64) in one
#     job and emulated in another (allocated as linux/arm64/v8, RUN steps
#     under qemu-user), with no --platform: the job's platform is podman's
#     default there; both pushed;
#   - a manifest list assembled and pushed from inside a job, and again on
#     the cluster side from oci-archives brought back with rsync;
#   - skopeo inspect --raw shows both platforms with the pushed digests,
#     each config names its architecture, and a build FROM the list with
#     --platform picks the right entry;
#   - pulls work although the host has a 0700 /var/lib/containers (what
#     any root podman leaves), and touch no host state;
#   - Network=host reaches the registry at 127.0.0.1, Network=none has no
#     way out and says so.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"
. "$(dirname "$0")/registry-lib.sh"

[ "$(uname -m)" = x86_64 ] || { echo "the arm64-on-amd64 case needs an x86_64 host"; exit 77; }
registry_prereqs || exit 77
register_qemu_aarch64 || exit 77
# set +e: under -e, (exit $rc) would end the trap before cleanup.
trap 'rc=$?; set +e; stop_registry; (exit $rc); cleanup' EXIT

make_host_sigstore
start_registry --auth
push_base_images
raw=$(skopeo inspect --raw --tls-verify=false --creds "$(reg_creds)" "docker://$REG/base:latest")
check "the base image is a manifest list of amd64 and arm64" \
        [ "$(jq -r '[.manifests[].platform.architecture] | sort | join(" ")' <<<"$raw")" = "amd64 arm64" ]
anon=0; skopeo inspect --raw --tls-verify=false "docker://$REG/base:latest" >/dev/null 2>&1 || anon=$?
check "the registry refuses anonymous pulls" [ "$anon" != 0 ]

mkdir -p "$WORK/ws"
cat >"$WORK/ws/Containerfile" <<'EOC'
ARG REG
FROM $REG/base:latest
RUN uname -m > /arch && i=0 && while [ $i -lt 2000 ]; do i=$((i+1)); done && echo $i > /count
CMD ["/bin/cat", "/arch"]
EOC

start_hostd_ssh --set Platforms.AllowEmulated=yes
AMD=$(alloc_job amd --disk 2G)
ARM=$(PLAT=linux/arm64/v8 alloc_job arm --disk 2G)
check "linux/arm64/v8 is allocated, answered as linux/arm64" [ "$(jq -r .platform "$WORK/jobs/arm.json")" = linux/arm64 ]
check "the job sees its platform" [ "$(sshj arm 'echo $HOSTD_JOB_PLATFORM')" = linux/arm64 ]

declare -A JREG
for j in amd arm; do
        JREG[$j]=$(job_registry "$j")
        rsync -a -e "$(jrsh "$j")" "$WORK/ws/" "$(jid "$j")@127.0.0.1:ws/"
done
check "private jobs reach the host's loopback registry at their gateway" [ "${JREG[amd]}" != "$REG" ]

# A wrong password is refused with the registry's answer; the right one is
# kept in the job's own /run, not the host's.
check "podman login with a wrong password fails" \
        sshj amd "! podman login --tls-verify=false -u $REG_USER -p wrong ${JREG[amd]} >/dev/null 2>&1"
for j in amd arm; do
        check "podman login ($j)" sshj "$j" "podman login --tls-verify=false -u $REG_USER -p $REG_PASS ${JREG[$j]} >/dev/null"
done
check "the credentials are in the job's /run" sshj amd 'test -s /run/user/0/containers/auth.json'
check "... not on the host" test ! -e /run/containers/0/auth.json -a ! -e /run/user/0/containers/auth.json

# Both builds at once, neither naming a platform; each pushes its image.
builds=()
for j in amd arm; do
        sshj "$j" "cd ws && podman build -q --tls-verify=false --build-arg REG=${JREG[$j]} -t ${JREG[$j]}/app:$j . >build.out 2>&1 &&
                   podman push -q --tls-verify=false ${JREG[$j]}/app:$j >>build.out 2>&1; echo rc=\$?" >"$WORK/build-$j.rc" 2>&1 &
        builds+=($!)
done
wait "${builds[@]}"
for j in amd arm; do
        check "the $j build and push succeed" grep -qx rc=0 "$WORK/build-$j.rc"
        grep -qx rc=0 "$WORK/build-$j.rc" || sshj "$j" 'tail -n 20 ws/build.out'
done
check "the native image is linux/amd64" [ "$(sshj amd "podman image inspect --format '{{.Os}}/{{.Architecture}}' ${JREG[amd]}/app:amd")" = linux/amd64 ]
check "the emulated image is linux/arm64, without --platform" \
        [ "$(sshj arm "podman image inspect --format '{{.Os}}/{{.Architecture}}' ${JREG[arm]}/app:arm")" = linux/arm64 ]
check "its RUN steps ran as aarch64 (qemu-user)" [ "$(sshj arm "podman run --rm ${JREG[arm]}/app:arm")" = aarch64 ]
check "the native RUN steps ran as x86_64" [ "$(sshj amd "podman run --rm ${JREG[amd]}/app:amd")" = x86_64 ]

# No host state touched by a pull: signatures, blob cache, short names.
dbg=$(sshj amd "podman --log-level=debug pull --tls-verify=false ${JREG[amd]}/base:latest 2>&1")
host_paths=$(grep -cE '/var/(lib|cache)/containers' <<<"$dbg" || true)
check "a pull reads nothing under the host's /var/lib/containers or /var/cache/containers" [ "$host_paths" = 0 ]
check "... its signatures and blob cache are the job's" grep -q "$(jhome amd)/.local/share/containers/cache" <<<"$dbg"

# ---- the manifest list, from inside a job ---------------------------------------
R=${JREG[amd]}
check "manifest list assembled and pushed from inside a job" sshj amd "
        podman manifest create app-list >/dev/null &&
        podman manifest add --tls-verify=false app-list docker://$R/app:amd >/dev/null &&
        podman manifest add --tls-verify=false app-list docker://$R/app:arm >/dev/null &&
        podman manifest push -q --all --tls-verify=false app-list docker://$R/app:latest"

creds=$(reg_creds)
digest_of() { skopeo inspect --tls-verify=false --creds "$creds" --format '{{.Digest}}' "docker://$REG/$1"; }
# check_list REPO:TAG AMD_REF ARM_REF: both platforms, with the digests
# pushed, each config naming its architecture.
check_list() {
        local raw d_amd d_arm
        raw=$(skopeo inspect --raw --tls-verify=false --creds "$creds" "docker://$REG/$1")
        d_amd=$(digest_of "$2"); d_arm=$(digest_of "$3")
        check "$1 lists linux/amd64 and linux/arm64" \
                [ "$(jq -r '[.manifests[] | .platform.os + "/" + .platform.architecture] | sort | join(" ")' <<<"$raw")" = "linux/amd64 linux/arm64" ]
        check "... amd64 is $2's digest" \
                [ "$(jq -r '.manifests[] | select(.platform.architecture == "amd64") | .digest' <<<"$raw")" = "$d_amd" ]
        check "... arm64 is $3's digest" \
                [ "$(jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest' <<<"$raw")" = "$d_arm" ]
        for a in amd64 arm64; do
                local d
                d=$(jq -r ".manifests[] | select(.platform.architecture == \"$a\") | .digest" <<<"$raw")
                check "... the $a config says $a" \
                        [ "$(skopeo inspect --config --tls-verify=false --creds "$creds" "docker://$REG/${1%%:*}@$d" | jq -r .architecture)" = "$a" ]
        done
}
check_list app:latest app:amd app:arm

# A build FROM the list picks the entry of the --platform it is given.
for p in amd64:x86_64 arm64:aarch64; do
        check "FROM the list with --platform linux/${p%%:*} runs ${p#*:}" [ "$(sshj amd "
                printf 'FROM $R/app:latest\nRUN cat /arch > /picked\nCMD [\"/bin/cat\", \"/picked\"]\n' > Containerfile.pick &&
                podman build -q --tls-verify=false --platform linux/${p%%:*} -f Containerfile.pick -t pick-${p%%:*} . >/dev/null &&
                podman run --rm --platform linux/${p%%:*} pick-${p%%:*}")" = "${p#*:}" ]
done

# ---- the manifest list, from the cluster side -----------------------------------
# Each job saves its image as an oci-archive; rsync brings both back; the
# cluster side pushes them and assembles the list itself.
for j in amd arm; do
        sshj "$j" "podman save -q --format oci-archive -o app-$j.tar ${JREG[$j]}/app:$j"
        rsync -a -e "$(jrsh "$j")" "$(jid "$j")@127.0.0.1:app-$j.tar" "$WORK/"
        skopeo copy -q --dest-tls-verify=false --dest-creds "$creds" "oci-archive:$WORK/app-$j.tar" "docker://$REG/app-cluster:$j"
done
"${HBUILDAH[@]}" manifest create cluster-list >/dev/null
for j in amd arm; do
        "${HBUILDAH[@]}" manifest add --tls-verify=false --creds "$creds" cluster-list "docker://$REG/app-cluster:$j" >/dev/null
done
check "the cluster side pushes its list" "${HBUILDAH[@]}" manifest push -q --all --tls-verify=false --creds "$creds" \
        cluster-list "docker://$REG/app-cluster:latest"
check_list app-cluster:latest app-cluster:amd app-cluster:arm
check "the round trip kept the layers: same image digest as the job pushed" \
        [ "$(skopeo inspect --tls-verify=false --creds "$creds" --format '{{.Layers}}' "docker://$REG/app-cluster:arm")" = \
          "$(skopeo inspect --tls-verify=false --creds "$creds" --format '{{.Layers}}' "docker://$REG/app:arm")" ]

for j in amd arm; do
        u=$(juid "$j")
        check "release $j" [ "$(ctl release "$(jid "$j")" | jq -r .state)" = released ]
        check "nothing of $j's range is left" [ "$(range_procs "$u")" = 0 ]
done
stop_hostd

# ---- the other network modes ------------------------------------------------------
start_hostd_ssh --set Jobs.Network=host
H=$(alloc_job host --disk 1G)
check "Network=host: FROM 127.0.0.1:PORT/base builds" sshj host "
        podman login --tls-verify=false -u $REG_USER -p $REG_PASS $REG >/dev/null &&
        printf 'FROM $REG/base:latest\nRUN echo ok > /ok\n' > Containerfile && podman build -q --tls-verify=false -t h . >/dev/null"
check "release" [ "$(ctl release "$H" | jq -r .state)" = released ]
stop_hostd
start_hostd_ssh --set Jobs.Network=none
N=$(alloc_job none --disk 1G)
out=$(sshj none "podman pull --tls-verify=false $REG/base:latest 2>&1; echo rc=\$?")
check "Network=none: no registry, a failed pull" grep -q "rc=125" <<<"$out"
check "... that names the connection" grep -qiE "connection refused|network is unreachable" <<<"$out"
check "release" [ "$(ctl release "$N" | jq -r .state)" = released ]
stop_hostd
finish
