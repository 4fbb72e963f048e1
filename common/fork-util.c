/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fork-util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"
#include "macros.h"

static bool fd_in(int fd, const int fds[], size_t n) {
        for (size_t i = 0; i < n; i++)
                if (fds[i] == fd)
                        return true;
        return false;
}

/* Child side: no allocation, no stdio, no locks.  The list is unsorted and
 * short, so the gaps between kept descriptors are found by scanning it. */
static int close_all_fds_but(const int except[], size_t n) {
        int from = 3;

        for (;;) {
                int next = INT_MAX;

                /* The lowest kept descriptor at or above from. */
                for (size_t i = 0; i < n; i++)
                        if (except[i] >= from && except[i] < next)
                                next = except[i];
                if (next > from && close_range((unsigned) from, next == INT_MAX ? ~0U : (unsigned) next - 1, 0) < 0)
                        return negative_errno();
                if (next == INT_MAX)
                        return 0;
                from = next + 1;
                while (fd_in(from, except, n))
                        from++;
        }
}

pid_t safe_fork_full(const char *name, ForkFlags flags, const int except_fds[], size_t n_except_fds) {
        pid_t parent = getpid(), pid;
        int deathsig = flags & FORK_DEATHSIG_SIGKILL ? SIGKILL : flags & FORK_DEATHSIG_SIGTERM ? SIGTERM : 0;

        pid = fork();
        if (pid < 0) {
                int r = negative_errno();
                if (flags & FORK_LOG)
                        log_error_errno(r, "Cannot fork%s%s: %m", name ? " " : "", strempty(name));
                return r;
        }
        if (pid > 0)
                return pid;

        if (name)
                (void) prctl(PR_SET_NAME, name);
        if (deathsig) {
                if (prctl(PR_SET_PDEATHSIG, deathsig) < 0)
                        _exit(EXIT_FAILURE);
                /* The parent may have died before the prctl(): then nobody
                 * sends the signal, and we were reparented already. */
                if (getppid() != parent) {
                        (void) raise(deathsig);
                        _exit(EXIT_FAILURE);
                }
        }
        if (flags & FORK_RESET_SIGNALS)
                for (int sig = 1; sig < _NSIG; sig++)
                        (void) signal(sig, SIG_DFL);
        if (flags & (FORK_UNBLOCK_SIGNALS | FORK_RESET_SIGNALS)) {
                sigset_t none;

                sigemptyset(&none);
                if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
                        _exit(EXIT_FAILURE);
        }
        if ((flags & FORK_CLOSE_ALL_FDS) && close_all_fds_but(except_fds, n_except_fds) < 0)
                _exit(EXIT_FAILURE);
        return 0;
}
