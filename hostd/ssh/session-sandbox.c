/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "session-sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <termios.h>

#include "log.h"
#include "macros.h"
#include "session.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(scmp_filter_ctx, seccomp_release);

static int install_filter(void) {
        /* What libssh, OpenSSL and glibc use once the connection is open. */
        static const char *const allowed[] = {
                "read", "write", "readv", "writev", "pread64", "recvmsg", "sendmsg", "recvfrom", "sendto",
                "poll", "ppoll", "select", "pselect6", "close", "shutdown",
                "mmap", "munmap", "mremap", "brk", "madvise", "mprotect",
                "futex", "getrandom", "clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep",
                "clock_nanosleep", "exit", "exit_group", "rt_sigreturn", "rt_sigprocmask", "rt_sigaction",
                "sigaltstack", "restart_syscall", "fstat", "newfstatat", "lseek", "fcntl", "getpid", "gettid",
                "getuid", "geteuid", "getgid", "getegid", "sched_yield", "getsockopt", "setsockopt",
                "getsockname", "getpeername", "dup", "sysinfo", "uname", "rseq", "set_robust_list",
        };
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        int r;

        ctx = seccomp_init(SCMP_ACT_ERRNO(EACCES));
        if (!ctx)
                return -ENOMEM;
        /* Only the native ABI is in the filter; libseccomp kills a call made
         * through any other (int 0x80, x32), so the list cannot be bypassed. */
        for (size_t i = 0; i < ELEMENTSOF(allowed); i++) {
                int nr = seccomp_syscall_resolve_name(allowed[i]);
                if (nr == __NR_SCMP_ERROR)
                        continue;   /* not on this architecture */
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
                if (r < 0)
                        return r;
        }
        /* ioctl only to resize a pty (window-change) and ask pending bytes. */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, TIOCSWINSZ));
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, FIONREAD));
        /* abort() signals itself; nobody else. */
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t) getpid()));
        if (r < 0)
                return r;
        return seccomp_load(ctx);
}

int session_sandbox_enter(const char *empty_dir, int monitor_fd) {
        struct rlimit rl;
        int r;

        if (chroot(empty_dir) < 0 || chdir("/") < 0)
                return log_error_errno(errno, "Cannot chroot into %s: %m", empty_dir);
        if (setgroups(0, NULL) < 0 || setresgid(SESSION_NET_GID, SESSION_NET_GID, SESSION_NET_GID) < 0 ||
            setresuid(SESSION_NET_UID, SESSION_NET_UID, SESSION_NET_UID) < 0)
                return log_error_errno(errno, "Cannot drop to uid %d: %m", SESSION_NET_UID);
        /* Paranoia, as bubblewrap: make sure the drop cannot be undone. */
        if (setresuid(0, 0, 0) == 0)
                return log_error_errno(EPERM, "Could regain root after dropping it; refusing to go on");

        /* Other net children run as the same uid: no ptrace, no core dumps of keys. */
        (void) prctl(PR_SET_DUMPABLE, 0);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return negative_errno();

        rl = (struct rlimit) { 0, 0 };
        (void) setrlimit(RLIMIT_FSIZE, &rl);
        /* stderr (the log) may be a regular file: with no file size left, a
         * log line must fail (EFBIG), not kill the connection with SIGXFSZ. */
        (void) signal(SIGXFSZ, SIG_IGN);
        (void) setrlimit(RLIMIT_NPROC, &rl);
        (void) setrlimit(RLIMIT_CORE, &rl);
        /* Three pipes per channel plus a margin. */
        rl = (struct rlimit) { 3 * SESSION_CHANNELS_MAX + 32, 3 * SESSION_CHANNELS_MAX + 32 };
        (void) setrlimit(RLIMIT_NOFILE, &rl);

        r = install_filter();
        if (r < 0)
                return log_error_errno(r, "Cannot install the seccomp filter: %m");
        return 0;
}
