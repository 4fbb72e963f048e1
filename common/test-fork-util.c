/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fork-util.h"
#include "macros.h"
#include "test-util.h"

/* Bits of the child's exit status: each is one failed expectation, so a
 * failure says which. */
enum {
        BAD_DEATHSIG = 1 << 0,
        BAD_MASK = 1 << 1,
        BAD_HANDLER = 1 << 2,
        BAD_KEPT_FD = 1 << 3,
        BAD_CLOSED_FD = 1 << 4,
        BAD_NAME = 1 << 5,
};

static int wait_status(pid_t pid) {
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 256 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static bool fd_open(int fd) {
        return fcntl(fd, F_GETFD) >= 0;
}

/* What the parent has and a child may or may not inherit: SIGUSR1
 * blocked, SIGUSR2 ignored; or, with set false, neither. */
static void parent_signals(bool set) {
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGUSR1);
        SETUP(sigprocmask(set ? SIG_BLOCK : SIG_UNBLOCK, &mask, NULL) >= 0, "sigprocmask: %m");
        SETUP(signal(SIGUSR2, set ? SIG_IGN : SIG_DFL) != SIG_ERR, "signal: %m");
}

static void test_child_setup(void) {
        int kept[2], closed[2], bits = 0;
        sigset_t mask;
        pid_t pid;

        parent_signals(true);
        SETUP(pipe2(kept, O_CLOEXEC) >= 0 && pipe2(closed, 0) >= 0, "pipe2: %m");

        pid = safe_fork_full("test-forked", FORK_DEATHSIG_SIGTERM | FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS | FORK_LOG,
                             kept, ELEMENTSOF(kept));
        if (pid == 0) {
                int sig = 0;
                sigset_t now;
                struct sigaction sa;
                char comm[16] = {};

                if (prctl(PR_GET_PDEATHSIG, &sig) < 0 || sig != SIGTERM)
                        bits |= BAD_DEATHSIG;
                if (sigprocmask(SIG_SETMASK, NULL, &now) < 0 || sigismember(&now, SIGUSR1))
                        bits |= BAD_MASK;
                if (sigaction(SIGUSR2, NULL, &sa) < 0 || sa.sa_handler != SIG_DFL)
                        bits |= BAD_HANDLER;
                if (!fd_open(kept[0]) || !fd_open(kept[1]) || !fd_open(STDERR_FILENO))
                        bits |= BAD_KEPT_FD;
                if (fd_open(closed[0]) || fd_open(closed[1]))
                        bits |= BAD_CLOSED_FD;
                if (prctl(PR_GET_NAME, comm) < 0 || !streq(comm, "test-forked"))
                        bits |= BAD_NAME;
                _exit(bits);
        }
        CHECK_MSG(pid > 0, "safe_fork_full: %s", strerror(pid < 0 ? (int) -pid : 0));
        if (pid > 0)
                CHECK_MSG((bits = wait_status(pid)) == 0, "child reported 0x%x", (unsigned) bits);
        /* The parent's own setup is untouched. */
        CHECK(fd_open(closed[0]) && fd_open(closed[1]));
        CHECK(sigprocmask(SIG_SETMASK, NULL, &mask) >= 0 && sigismember(&mask, SIGUSR1));

        for (int i = 0; i < 2; i++) {
                safe_close(kept[i]);
                safe_close(closed[i]);
        }
        parent_signals(false);
}

/* Without flags the child inherits all: the mask, the descriptors, no
 * death signal; FORK_UNBLOCK_SIGNALS leaves handlers alone. */
static void test_no_flags(void) {
        int fds[2], bits;
        pid_t pid;

        parent_signals(true);
        SETUP(pipe2(fds, O_CLOEXEC) >= 0, "pipe2: %m");

        pid = safe_fork(NULL, 0);
        if (pid == 0) {
                int sig = -1;
                sigset_t now;

                bits = 0;
                if (prctl(PR_GET_PDEATHSIG, &sig) < 0 || sig != 0)
                        bits |= BAD_DEATHSIG;
                if (sigprocmask(SIG_SETMASK, NULL, &now) < 0 || !sigismember(&now, SIGUSR1))
                        bits |= BAD_MASK;
                if (!fd_open(fds[0]) || !fd_open(fds[1]))
                        bits |= BAD_KEPT_FD;
                _exit(bits);
        }
        CHECK(pid > 0);
        if (pid > 0)
                CHECK_MSG((bits = wait_status(pid)) == 0, "child reported 0x%x", (unsigned) bits);

        pid = safe_fork(NULL, FORK_UNBLOCK_SIGNALS);
        if (pid == 0) {
                sigset_t now;
                struct sigaction sa;

                bits = 0;
                if (sigprocmask(SIG_SETMASK, NULL, &now) < 0 || sigismember(&now, SIGUSR1))
                        bits |= BAD_MASK;
                if (sigaction(SIGUSR2, NULL, &sa) < 0 || sa.sa_handler != SIG_IGN)
                        bits |= BAD_HANDLER;
                _exit(bits);
        }
        CHECK(pid > 0);
        if (pid > 0)
                CHECK_MSG((bits = wait_status(pid)) == 0, "child reported 0x%x", (unsigned) bits);

        safe_close(fds[0]);
        safe_close(fds[1]);
        parent_signals(false);
}

/* The death signal arrives when the parent dies, and the pid the parent
 * got is the child's. */
static void test_deathsig(void) {
        int p[2], bits;
        pid_t middle;

        SETUP(pipe2(p, O_CLOEXEC) >= 0, "pipe2: %m");
        middle = fork();
        if (middle == 0) {
                pid_t pid = safe_fork(NULL, FORK_DEATHSIG_SIGKILL);
                if (pid == 0) {
                        pid_t self = getpid();
                        /* Tell the grandparent who we are, then wait to be killed. */
                        if (write(p[1], &self, sizeof(self)) != sizeof(self))
                                _exit(1);
                        for (;;)
                                pause();
                }
                if (pid < 0)
                        _exit(1);
                /* Wait for the child's word, so that it reports the pid we got. */
                {
                        pid_t got;
                        if (read(p[0], &got, sizeof(got)) != sizeof(got) || got != pid)
                                _exit(2);
                        if (write(p[1], &pid, sizeof(pid)) != sizeof(pid))
                                _exit(3);
                }
                _exit(0);
        }
        SETUP(middle > 0, "fork: %m");
        CHECK_MSG((bits = wait_status(middle)) == 0, "middle process exited with %d", bits);
        {
                pid_t child = 0;
                bool gone = false;

                CHECK(read(p[0], &child, sizeof(child)) == sizeof(child) && child > 0);
                /* Reparented to init (or a subreaper), the child gets SIGKILL. */
                for (int i = 0; child > 0 && i < 500 && !gone; i++) {
                        if (kill(child, 0) < 0 && errno == ESRCH)
                                gone = true;
                        else {
                                char path[64], state = 0;
                                FILE *f;

                                /* A zombie of a subreaper counts as dead. */
                                snprintf(path, sizeof(path), "/proc/%d/stat", (int) child);
                                f = fopen(path, "re");
                                if (f && fscanf(f, "%*d %*s %c", &state) == 1 && state == 'Z')
                                        gone = true;
                                if (f)
                                        fclose(f);
                                usleep(10000);
                        }
                }
                CHECK_MSG(gone, "child %d outlived its parent", (int) child);
        }
        safe_close(p[0]);
        safe_close(p[1]);
}

int main(void) {
        test_child_setup();
        test_no_flags();
        test_deathsig();
        return test_summary("test-fork-util");
}
