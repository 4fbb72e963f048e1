# SPDX-License-Identifier: LGPL-2.1-or-later
# The VM tier's plumbing, sourced by run-vm-tests.sh and by every case.
#
# A case runs on the host and reaches the guest only over loopback:
#   vm_root CMD...      root shell in the guest, through the guest's OpenSSH
#                       (the harness's own door, not hostd's)
#   controller VERB...  the controller API over hostd's SSH port, with the
#                       controller key, host key pinned (StrictHostKeyChecking=yes)
#   job_ssh JOB CMD...  a job session with the job's key and known_hosts line
#
# The environment comes from run-vm-tests.sh: VM_DIR (keys, known_hosts,
# console log), VM_ADMIN_PORT, VM_HOSTD_PORT; VM_PLATFORM (the guest's
# native platform, which the cases allocate) and VM_BUSYBOX (a static
# busybox of the guest's architecture, for FROM scratch images).

VM_DIR=${VM_DIR:?run the VM tier through tests/vm/run-vm-tests.sh}
VM_PLATFORM=${VM_PLATFORM:-linux/amd64}
VM_BUSYBOX=${VM_BUSYBOX:-/bin/busybox}
SSH_COMMON=(-o BatchMode=yes -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=8
            -o LogLevel=ERROR -o Ciphers=aes128-gcm@openssh.com,chacha20-poly1305@openssh.com)

vm_root() {
        ssh "${SSH_COMMON[@]}" -p "$VM_ADMIN_PORT" -i "$VM_DIR/harness_key" \
            -o UserKnownHostsFile="$VM_DIR/admin_known_hosts" -o StrictHostKeyChecking=accept-new \
            root@127.0.0.1 "$@"
}

# The controller: hostd's host key is pinned from the guest's own copy
# (read over the harness's door), so a wrong key fails the test.
controller() {
        ssh "${SSH_COMMON[@]}" -p "$VM_HOSTD_PORT" -i "$VM_DIR/controller_key" \
            -o UserKnownHostsFile="$VM_DIR/hostd_known_hosts" -o StrictHostKeyChecking=yes \
            controller@127.0.0.1 "$@"
}

# Allocates a job (controller allocate ARGS); prints its JSON answer and
# keeps the private key, the known_hosts lines and the user in
# $VM_DIR/jobs/ID/.  The guest's hostd listens on the same port number as
# the host's forward and advertises 127.0.0.1, so allocate's known_hosts
# lines are used exactly as given.
allocate() {
        local a id
        a=$(controller allocate "$@") || return 1
        id=$(jq -r .job <<<"$a")
        echo "$id" >>"$VM_DIR/case-jobs.$$"
        mkdir -p "$VM_DIR/jobs/$id"
        (umask 077; jq -r .private_key <<<"$a" >"$VM_DIR/jobs/$id/key")
        jq -r .known_hosts <<<"$a" >"$VM_DIR/jobs/$id/known_hosts"
        jq -r .user <<<"$a" >"$VM_DIR/jobs/$id/user"
        echo "$a"
}

# A case that fails half-way leaves no job behind for the next one.
release_case_jobs() {
        local id
        [ -f "$VM_DIR/case-jobs.$$" ] || return 0
        while read -r id; do
                # stdin from /dev/null: ssh would eat the rest of the list.
                controller release "$id" </dev/null >/dev/null 2>&1 || true
        done <"$VM_DIR/case-jobs.$$"
        rm -f "$VM_DIR/case-jobs.$$"
}
trap release_case_jobs EXIT

job_ssh_opts() {
        local id=$1
        echo "${SSH_COMMON[*]} -p $VM_HOSTD_PORT -i $VM_DIR/jobs/$id/key -o UserKnownHostsFile=$VM_DIR/jobs/$id/known_hosts -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"
}

job_ssh() {
        local id=$1
        shift
        # shellcheck disable=SC2046
        ssh $(job_ssh_opts "$id") "$(cat "$VM_DIR/jobs/$id/user")@127.0.0.1" "$@"
}

job_rsync() {
        local id=$1
        shift
        rsync -e "ssh $(job_ssh_opts "$id")" "$@"
}

job_host() {
        echo "$(cat "$VM_DIR/jobs/$1/user")@127.0.0.1"
}

release() {
        controller release "$1" >/dev/null
}

fail() {
        echo "FAIL: $*" >&2
        exit 1
}

check() {
        local what=$1
        shift
        if "$@"; then
                echo "ok: $what"
        else
                fail "$what"
        fi
}

# The opposite of check: the command must fail.  (Not `check ... bash -c
# "! cmd"`: the helpers here are functions, which a child bash lacks, so
# that would pass for "command not found".)
check_fails() {
        local what=$1
        shift
        if "$@" >/dev/null 2>&1; then
                fail "$what"
        else
                echo "ok: $what"
        fi
}

# Runs a (host-side) command once a second until it succeeds, up to $1 s.
retry() {
        local timeout=$1 i
        shift
        for ((i = 0; i < timeout; i++)); do
                "$@" >/dev/null 2>&1 && return 0
                sleep 1
        done
        return 1
}

# Waits for a shell condition (run in the guest) to hold, up to $2 seconds.
vm_wait_for() {
        local cond=$1 timeout=${2:-60} i
        for ((i = 0; i < timeout; i++)); do
                vm_root "$cond" >/dev/null 2>&1 && return 0
                sleep 1
        done
        return 1
}

# The job's scope cgroup in the guest.
job_cgroup() {
        echo "/sys/fs/cgroup/hostd.slice/hostd-jobs.slice/hostd-job-$1.scope"
}
