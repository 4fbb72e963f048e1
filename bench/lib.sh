# SPDX-License-Identifier: LGPL-2.1-or-later
# What the bench scripts share.  Source it after setting BENCH (the
# script's name, for messages):
#
#   BENCH=name; . "$(dirname "$0")/lib.sh"
#
# die MSG, log MSG        an error (exit 1) or a progress line, on stderr
# need CMD PACKAGE        exits naming the Debian package if CMD is missing
# need_root               exits unless run as root
# release_hostd DIR       sets HOSTD, unless set, to a release build in DIR
# free_port, wait_port P  a free loopback TCP port; wait (10 s) until P listens
# start_hostd LOG ISOLATE CGNAME ARGS...
#                         starts $HOSTD ARGS in the background (HOSTD_PID);
#                         with ISOLATE=1, in its own cgroup namespace below
#                         a private cgroup CG_DIR=<cgroup2>/CGNAME.$$, so
#                         that its job cgroups land there (remove CG_DIR in
#                         the caller's cleanup: rmdir_cgroup)

BENCH_SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "${BENCH:-bench}: $*" >&2; exit 1; }
log() { echo "[$(date +%T)] $*" >&2; }

need() {
        command -v "$1" >/dev/null || die "$1 missing: apt-get install -y $2"
}
need_root() {
        [ "$(id -u)" = 0 ] || die "run as root (it starts hostd, whose jobs need root)"
}

release_hostd() {
        if [ -z "${HOSTD:-}" ]; then
                [ -f "$1/build.ninja" ] || (cd "$BENCH_SRC_DIR" && meson setup "$1" -Dbuildtype=release >/dev/null)
                ninja -C "$1" >/dev/null || die "build failed"
                HOSTD=$1/hostd/hostd
        fi
        [ -x "$HOSTD" ] || die "no hostd binary at $HOSTD"
}

free_port() {
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
        for _ in $(seq 100); do
                python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
                sleep 0.1
        done
        return 1
}

CG_DIR=
start_hostd() {
        local logfile=$1 isolate=$2 cgname=$3 cg2
        shift 3
        cg2=$(findmnt -t cgroup2 -no TARGET | head -n 1)
        if [ "$isolate" = 1 ] && [ -n "$cg2" ]; then
                CG_DIR=$cg2/$cgname.$$
                mkdir "$CG_DIR"
                # A subshell moves itself into CG_DIR, then hostd gets a new
                # cgroup and mount namespace with a cgroup2 mount rooted there.
                ( echo "$BASHPID" >"$CG_DIR/cgroup.procs"
                  exec unshare -m -C --propagation private sh -c \
                        'umount -l "$1" && mount -t cgroup2 cgroup2 "$1" && shift && exec "$@"' sh "$cg2" "$HOSTD" "$@"
                ) >"$logfile" 2>&1 &
        else
                "$HOSTD" "$@" >"$logfile" 2>&1 &
        fi
        HOSTD_PID=$!
}
rmdir_cgroup() {
        [ -z "$CG_DIR" ] || find "$CG_DIR" -depth -type d -exec rmdir {} + 2>/dev/null
}
