/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cgroup-kill.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macros.h"

/* How long one fallback kill round waits for the freeze to settle, and
 * the longest it waits for the subtree to empty before looking again for
 * processes that slipped through (first round 10ms, doubling). */
#define CG_FREEZE_WAIT_USEC (1U * USEC_PER_SEC)
#define CG_ROUND_WAIT_MIN_USEC (10U * USEC_PER_MSEC)
#define CG_ROUND_WAIT_MAX_USEC (1U * USEC_PER_SEC)

/* Reads cgroup.events through an fd kept open for poll(): a cgroup that
 * went away (ENODEV) holds no processes. */
static int events_read(int fd, bool *ret_populated, bool *ret_frozen) {
        char buf[256];
        const char *v;
        ssize_t k;

        if (lseek(fd, 0, SEEK_SET) < 0)
                return negative_errno();
        do
                k = read(fd, buf, sizeof(buf) - 1);
        while (k < 0 && errno == EINTR);
        if (k < 0) {
                if (errno == ENODEV || errno == ENOENT) {
                        *ret_populated = false;
                        if (ret_frozen)
                                *ret_frozen = false;
                        return 0;
                }
                return negative_errno();
        }
        buf[k] = 0;

        v = cgroup_find_key(buf, "populated");
        if (!v)
                return -EBADMSG;
        *ret_populated = *v == '1';
        if (ret_frozen) {
                v = cgroup_find_key(buf, "frozen");
                *ret_frozen = v && *v == '1';
        }
        return 0;
}

/* Blocks until cgroup.events changes (kernfs signals POLLPRI|POLLERR on
 * every change after our last read) or until deadline: 1 on a change, 0
 * on timeout. */
static int events_wait(int fd, usec_t deadline) {
        struct pollfd p = { .fd = fd, .events = POLLPRI };
        int timeout_ms = -1;

        if (deadline != USEC_INFINITY) {
                usec_t n = now(CLOCK_MONOTONIC);

                if (n >= deadline)
                        return 0;
                timeout_ms = (int) MIN((deadline - n + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) INT_MAX);
        }
        if (poll(&p, 1, timeout_ms) < 0) {
                if (errno == EINTR)
                        return 1;   /* look again */
                return negative_errno();
        }
        return p.revents != 0;
}

/* 0 once "populated 0" (or, with until_frozen, "frozen 1"), -ETIMEDOUT
 * at deadline. */
static int wait_events(int events_fd, bool until_frozen, usec_t deadline) {
        for (;;) {
                bool populated, frozen = false;
                int r;

                r = events_read(events_fd, &populated, until_frozen ? &frozen : NULL);
                if (r < 0)
                        return r;
                if (frozen || !populated)
                        return 0;
                r = events_wait(events_fd, deadline);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -ETIMEDOUT;
        }
}

static usec_t deadline_min(usec_t a, usec_t b) {
        return MIN(a, b);
}

static usec_t deadline_after(usec_t timeout) {
        usec_t n = now(CLOCK_MONOTONIC);

        if (timeout == USEC_INFINITY || timeout > USEC_INFINITY - n)
                return USEC_INFINITY;
        return n + timeout;
}

/* SIGKILLs every process listed in cgroup.procs of dirfd's cgroup and of
 * every cgroup below it.  Returns the number of signals sent. */
static int kill_subtree(int dirfd, const char *path, unsigned depth) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        pid_t self = getpid();
        struct dirent *de;
        int fd, r, n = 0, first_error = 0;
        long long v;

        if (depth > CGROUP_WALK_MAX_DEPTH)
                return log_error_errno(-ELOOP, "Cgroup tree below %s deeper than %u levels.", path, CGROUP_WALK_MAX_DEPTH);

        fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                r = negative_errno();
                if (r == -ENOENT || r == -ENODEV)
                        return 0;   /* removed under us */
                return log_error_errno(r, "Failed to open %s/cgroup.procs: %m", path);
        }
        f = fdopen(fd, "re");
        if (!f) {
                r = negative_errno();
                close(fd);
                return log_error_errno(r, "Failed to open %s/cgroup.procs: %m", path);
        }
        while (fscanf(f, "%lld", &v) == 1) {
                /* Never 0 or negative: kill() would hit a process group or everything. */
                if (v <= 0 || v > INT_MAX || (pid_t) v == self)
                        continue;
                if (kill((pid_t) v, SIGKILL) >= 0)
                        n++;
                else if (errno != ESRCH)
                        log_warning_errno(negative_errno(), "Failed to kill process %lld of %s: %m", v, path);
        }

        r = opendir_at(dirfd, &d);
        if (r < 0) {
                if (r == -ENOENT || r == -ENODEV)
                        return n;
                return log_error_errno(r, "Failed to read %s: %m", path);
        }
        while ((de = readdir(d))) {
                _cleanup_close_ int sub = -1;
                char subpath[PATH_MAX];

                if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (snprintf(subpath, sizeof(subpath), "%s/%s", path, de->d_name) >= (int) sizeof(subpath))
                        return log_error_errno(-ENAMETOOLONG, "Cgroup path too long below %s.", path);
                sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (sub < 0) {
                        if (errno == ENOENT)
                                continue;
                        r = log_error_errno(negative_errno(), "Failed to open %s: %m", subpath);
                        if (first_error == 0)
                                first_error = r;
                        continue;
                }
                r = kill_subtree(sub, subpath, depth + 1);
                if (r < 0) {
                        if (first_error == 0)
                                first_error = r;
                } else
                        n += r;
        }
        return first_error < 0 ? first_error : n;
}

/* Without cgroup.kill: rounds of freeze (so nothing forks while we read
 * the pid lists), SIGKILL to every listed pid, thaw, then wait for the
 * subtree to empty a little longer each round before looking again.  At
 * least one round runs, even with a deadline already past. */
static int kill_fallback(const CgroupSupport *s, int fd, int events_fd, const char *path, usec_t deadline) {
        usec_t round_wait = CG_ROUND_WAIT_MIN_USEC;

        for (unsigned round = 0;; round++) {
                bool populated, frozen = false;
                int r, k;

                r = events_read(events_fd, &populated, NULL);
                if (r < 0)
                        return log_error_errno(r, "Failed to read %s/cgroup.events: %m", path);
                if (!populated)
                        return 0;

                if (s->freeze) {
                        r = cgroup_write_at(fd, "cgroup.freeze", "1");
                        if (r < 0 && r != -ENOENT)
                                log_warning_errno(r, "Failed to freeze %s, killing without: %m", path);
                        frozen = r >= 0;
                        if (frozen) {
                                /* A task in uninterruptible sleep can delay the
                                 * freeze; kill anyway after a while. */
                                r = wait_events(events_fd, true, deadline_min(deadline,
                                                                        deadline_after(CG_FREEZE_WAIT_USEC)));
                                if (r < 0 && r != -ETIMEDOUT)
                                        log_warning_errno(r, "Failed to wait for %s to freeze: %m", path);
                        }
                }

                k = kill_subtree(fd, path, 0);

                /* Frozen tasks die of SIGKILL too, but thaw so that none is
                 * left frozen if something goes wrong: a pending SIGKILL
                 * stops them forking once they run. */
                if (frozen) {
                        r = cgroup_write_at(fd, "cgroup.freeze", "0");
                        if (r < 0 && r != -ENOENT && r != -ENODEV)
                                log_warning_errno(r, "Failed to thaw %s: %m", path);
                }
                if (k < 0)
                        return k;
                log_debug("Kill round %u on %s: %d processes signalled.", round, path, k);

                r = wait_events(events_fd, false, deadline_min(deadline, deadline_after(round_wait)));
                if (r != -ETIMEDOUT)
                        return r < 0 ? log_error_errno(r, "Failed to watch %s/cgroup.events: %m", path) : 0;
                if (now(CLOCK_MONOTONIC) >= deadline)
                        return -ETIMEDOUT;
                round_wait = MIN(round_wait * 2, (usec_t) CG_ROUND_WAIT_MAX_USEC);
        }
}

int cgroup_job_kill(const CgroupSupport *s, const char *job, usec_t timeout) {
        _cleanup_close_ int fd = -1, events_fd = -1;
        char path[PATH_MAX];
        usec_t deadline;
        int r;

        fd = cgroup_job_open(s, job, path, sizeof(path));
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;

        /* Opened before killing, so no change of "populated" can be missed. */
        events_fd = openat(fd, "cgroup.events", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (events_fd < 0)
                return log_error_errno(negative_errno(), "Failed to open %s/cgroup.events: %m", path);

        deadline = deadline_after(timeout);

        if (s->kill) {
                r = cgroup_write_at(fd, "cgroup.kill", "1");
                if (r >= 0) {
                        r = wait_events(events_fd, false, deadline);
                        if (r == -ETIMEDOUT)
                                return log_error_errno(r, "Processes of %s still running after cgroup.kill.", path);
                        if (r < 0)
                                return log_error_errno(r, "Failed to watch %s/cgroup.events: %m", path);
                        return 0;
                }
                if (r != -ENOENT)
                        return log_error_errno(r, "Failed to write %s/cgroup.kill: %m", path);
                log_debug("%s/cgroup.kill does not exist, killing process by process.", path);
        }

        r = kill_fallback(s, fd, events_fd, path, deadline);
        if (r == -ETIMEDOUT)
                return log_error_errno(r, "Processes of %s still running after repeated SIGKILL.", path);
        return r;
}
