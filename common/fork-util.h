/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* What a forked child sets up before the caller's code runs, in the style
 * of systemd's safe_fork_full().  The child side makes only system calls,
 * so it is safe after fork() whatever the parent was doing. */
typedef enum ForkFlags {
        /* Empty signal mask: the parent blocks what it reads by signalfd. */
        FORK_UNBLOCK_SIGNALS = 1 << 0,
        /* That, and every handler back to SIG_DFL: ignored signals stay
         * ignored across execve(), which a program run there does not expect. */
        FORK_RESET_SIGNALS = 1 << 1,
        /* Killed by SIGKILL / SIGTERM when the parent dies, including when it
         * died between fork() and the prctl().  Not after unshare(CLONE_NEWPID):
         * the child could not see its parent, and would kill itself. */
        FORK_DEATHSIG_SIGKILL = 1 << 2,
        FORK_DEATHSIG_SIGTERM = 1 << 3,
        /* Close every descriptor above stderr but the except_fds. */
        FORK_CLOSE_ALL_FDS = 1 << 4,
        /* Log a failure to fork at LOG_ERR (the parent side). */
        FORK_LOG = 1 << 5,
} ForkFlags;

/* fork() and the setup of flags in the child; name, if not NULL, becomes
 * its comm.  0 in the child, the child's pid in the parent, or a negative
 * errno (no child).  A child whose setup fails exits with EXIT_FAILURE. */
pid_t safe_fork_full(const char *name, ForkFlags flags, const int except_fds[], size_t n_except_fds);

static inline pid_t safe_fork(const char *name, ForkFlags flags) {
        return safe_fork_full(name, flags, NULL, 0);
}
