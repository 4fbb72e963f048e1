#!/bin/sh
# Test wrapper for `meson test --setup valgrind`: compiled test binaries run
# under the tool; scripts run as they are and wrap hostd/hostctl themselves
# through HOSTD_TEST_WRAPPER.
tool="$1"; shift
case "$tool" in
valgrind)
        if head -c 2 "$1" | grep -q '^#!'; then
                exec "$@"
        fi
        exec valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
                --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
                --track-fds=no "$@"
        ;;
*)
        echo "run-under.sh: unknown tool '$tool'" >&2
        exit 2
        ;;
esac
