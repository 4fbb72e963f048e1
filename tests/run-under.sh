#!/bin/sh
# Test wrapper for `meson test --setup valgrind`: compiled test binaries run
# under the tool; scripts run as they are and wrap hostd/hostctl themselves
# through HOSTD_TEST_WRAPPER.
tool="$1"; shift
case "$tool" in
valgrind)
        # Scripts (meson runs the integration tests as `bash test-X.sh`)
        # run as they are: valgrind is for our binaries, not for bash.
        case "$(basename "$1")" in
        bash|sh) exec "$@" ;;
        esac
        if head -c 2 "$1" | grep -q '^#!'; then
                exec "$@"
        fi
        # valgrind 3.19 does not emulate pidfd_open(2) (the sandbox pins its
        # init and anchor with pidfds) nor the loop device ioctls (the job's
        # disk): these tests need them and run in the normal and ASan+UBSan
        # builds instead.
        case "$(basename "$1")" in
        test-sandbox|test-job-disk|test-api)
                echo "$(basename "$1"): skipped under valgrind (pidfd_open, loop ioctls not emulated)"
                exit 77
                ;;
        esac
        exec valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
                --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
                --track-fds=no "$@"
        ;;
*)
        echo "run-under.sh: unknown tool '$tool'" >&2
        exit 2
        ;;
esac
