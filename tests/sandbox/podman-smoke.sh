#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# podman inside a hostd job: run as the job, inside its sandbox, e.g.
#     ssh JOB@host bash -s < podman-smoke.sh
# Needs the environment hostd gives a job (podman_config_write(): CONTAINERS_CONF,
# CONTAINERS_STORAGE_CONF, _CONTAINERS_USERNS_CONFIGURED, XDG_RUNTIME_DIR) and
# the host's /bin/busybox (busybox-static), read-only in the sandbox.
# No registry: the image is built FROM scratch around a static busybox.
# Prints PASS/FAIL lines and "podman-smoke: N passed, M failed"; exit status 1
# on any failure.
#
# The script may arrive on stdin (bash -s): all of it is one function, read
# completely before it runs, and runs with stdin from /dev/null so that no
# command eats the rest of the script.

set -u

pass=0
fail=0
img=localhost/podman-smoke
log=

pass() {
        echo "PASS: $1"
        pass=$((pass + 1))
}

fail() {
        echo "FAIL: $1"
        fail=$((fail + 1))
        if [ -n "$log" ] && [ -s "$log" ]; then
                tail -n 20 "$log" | sed 's/^/    | /'
        fi
}

# check NAME COMMAND...: PASS if COMMAND succeeds, FAIL with its output otherwise.
check() {
        local name=$1
        shift
        local rc=0
        "$@" >"$log" 2>&1 || rc=$?
        if [ "$rc" -eq 0 ]; then
                pass "$name"
                return 0
        fi
        fail "$name (exit $rc)"
        return 1
}

finish() {
        echo "podman-smoke: $pass passed, $fail failed"
        [ "$fail" -eq 0 ]
        exit
}

main() {
        if [ -z "${HOME:-}" ] || [ ! -d "$HOME" ] || [ ! -w "$HOME" ]; then
                fail "HOME (${HOME:-unset}) is a writable directory"
                finish
        fi
        work=$(mktemp -d "$HOME/podman-smoke.XXXXXX") || { fail "mktemp in HOME"; finish; }
        log=$work/log
        cleanup() {
                podman rmi -f "$img" >/dev/null 2>&1
                rm -rf -- "$work"
        }
        trap cleanup EXIT

        echo "# uid $(id -u) gid $(id -g), HOME=$HOME, $(uname -r)"
        echo "# uid_map: $(tr -s ' ' </proc/self/uid_map)"
        for v in CONTAINERS_CONF CONTAINERS_STORAGE_CONF _CONTAINERS_USERNS_CONFIGURED XDG_RUNTIME_DIR; do
                if [ -n "${!v:-}" ]; then
                        pass "environment has $v=${!v}"
                else
                        fail "environment has $v"
                fi
        done
        for f in "${CONTAINERS_CONF:-}" "${CONTAINERS_STORAGE_CONF:-}"; do
                [ -n "$f" ] || continue
                if [ -r "$f" ]; then pass "readable $f"; else fail "readable $f"; fi
        done

        if ! command -v podman >/dev/null; then
                fail "podman installed"
                finish
        fi
        echo "# $(podman --version 2>&1)"
        if check "podman info" podman info; then
                echo "# $(grep -E '^ +(name|graphDriverName|graphRoot|runRoot|cgroupVersion|rootless):' "$log" | tr -s ' ' | tr '\n' ' ')"
        fi

        # The image: FROM scratch + static busybox + a RUN step.
        mkdir -p "$work/ctx" "$work/d"
        if ! cp /bin/busybox "$work/ctx/busybox" 2>"$log"; then
                fail "copy /bin/busybox (apt-get install busybox-static on the host)"
                finish
        fi
        printf '%s\n' 'FROM scratch' 'COPY busybox /bin/busybox' \
                'RUN ["/bin/busybox","sh","-c","echo hi > /hi"]' >"$work/ctx/Containerfile"

        check "podman build (FROM scratch, COPY, RUN)" podman build -t "$img" "$work/ctx" || finish

        if podman images --format '{{.Repository}}:{{.Tag}}' >"$log" 2>&1 && grep -qx "$img:latest" "$log"; then
                pass "podman images lists $img"
        else
                fail "podman images lists $img"
        fi

        if out=$(podman run --rm "$img" /bin/busybox cat /hi 2>"$log") && [ "$out" = hi ]; then
                pass "podman run --rm: RUN step's file is in the image"
        else
                echo "output: ${out:-}" >>"$log"
                fail "podman run --rm: RUN step's file is in the image"
        fi

        if check "podman save -o x.tar" podman save -o "$work/x.tar" "$img"; then
                if tar -tf "$work/x.tar" >"$log" 2>&1 && grep -qx manifest.json "$log"; then
                        pass "x.tar is an image archive"
                else
                        fail "x.tar is an image archive"
                fi
        fi

        # The shape buildah-remote (Tekton) uses: a bind mount with :Z, a tmpfs over
        # /run/secrets, an environment variable, an explicit user.
        if check "podman run -v dir:/d:Z --tmpfs /run/secrets -e VAR=v --user=0" \
                podman run --rm -v "$work/d:/d:Z" --tmpfs /run/secrets -e VAR=v --user=0 \
                "$img" /bin/busybox sh -c 'echo $VAR > /d/out && /bin/busybox grep -q " /run/secrets tmpfs " /proc/self/mounts'; then
                if [ "$(cat "$work/d/out" 2>/dev/null)" = v ]; then
                        pass "the job sees the container's /d/out = v"
                else
                        fail "the job sees the container's /d/out = v"
                fi
                if [ "$(stat -c %u "$work/d/out" 2>/dev/null)" = "$(id -u)" ]; then
                        pass "/d/out belongs to the job"
                else
                        fail "/d/out belongs to the job ($(stat -c %u:%g "$work/d/out" 2>&1))"
                fi
        fi

        # The archive loads back.
        if podman rmi "$img" >"$log" 2>&1 && check "podman load -i x.tar" podman load -i "$work/x.tar"; then
                if out=$(podman run --rm "$img" /bin/busybox cat /hi 2>"$log") && [ "$out" = hi ]; then
                        pass "podman run of the loaded image"
                else
                        fail "podman run of the loaded image"
                fi
        fi

        finish
}

main "$@" </dev/null
