/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "reclaim.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macros.h"
#include "proc-util.h"

#define KILL_ROUNDS 200

/* Whether the process (its /proc directory) is alive and has any of its
 * real, effective, saved or fs uid in [start, end). */
static bool live_with_uid_in(int pid_fd, uint64_t start, uint64_t end) {
        _cleanup_free_ char *status = NULL;
        const char *p;

        if (read_file_at(pid_fd, "status", 64 * 1024, true, &status, NULL) < 0)
                return false;
        /* A zombie is already dead: no files, no mounts, nothing it can do;
         * kill() "succeeds" on it forever, until its parent reaps it. */
        p = strstr(status, "\nState:\t");
        if (p && (p[8] == 'Z' || p[8] == 'X'))
                return false;
        p = strstr(status, "\nUid:");
        if (!p)
                return false;
        p += 5;
        for (int i = 0; i < 4; i++) {
                char *next;
                unsigned long u = strtoul(p, &next, 10);
                if (next == p)
                        break;
                if (u >= start && u < end)
                        return true;
                p = next;
        }
        return false;
}

/* The next process of a /proc listing, skipping the other entries: its
 * pid, with its directory's name in *ret_name; 0 at the end. */
static pid_t next_process(DIR *d, const char **ret_name) {
        struct dirent *de;

        while ((de = readdir(d)))
                if (isdigit((unsigned char) de->d_name[0])) {
                        *ret_name = de->d_name;
                        return (pid_t) atoi(de->d_name);
                }
        return 0;
}

static bool proc_matches(int proc_fd, const char *pid, const char *job_comm, uint32_t uid_base) {
        _cleanup_close_ int fd = -1;
        char comm[64];

        fd = openat(proc_fd, pid, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return false;
        if (job_comm && proc_read_comm(fd, 0, comm, sizeof(comm)) >= 0 && streq(comm, job_comm))
                return true;
        return uid_base != 0 && live_with_uid_in(fd, uid_base, (uint64_t) uid_base + 65536);
}

int reclaim_kill_job_processes(const char *job, uint32_t uid_base) {
        char job_comm[32];
        _cleanup_close_ int proc_fd = -1;

        snprintf(job_comm, sizeof(job_comm), "s-%s", job);
        job_comm[15] = 0;   /* comm is at most 15 characters */
        proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (proc_fd < 0)
                return negative_errno();

        for (int round = 0; round < KILL_ROUNDS; round++) {
                _cleanup_closedir_ DIR *d = NULL;
                const char *name;
                unsigned found = 0;
                int r = opendir_at(proc_fd, &d);
                pid_t pid;

                if (r < 0)
                        return r;
                while ((pid = next_process(d, &name)) > 0) {
                        if (pid == getpid() || !proc_matches(proc_fd, name, job_comm, uid_base))
                                continue;
                        /* SIGKILL cannot be caught; stopped processes die too. */
                        if (kill(pid, SIGKILL) >= 0)
                                found++;
                }
                if (found == 0)
                        return 0;
                /* Let the killed go before looking again. */
                nanosleep(&(struct timespec) { 0, 10 * 1000 * 1000 }, NULL);
        }
        return -EBUSY;
}

/* ---- holders of a released job's disk and namespaces ---------------------- */

/* Whether the namespace behind nsfd is one of the job's user namespaces or
 * owned by one of them, at any depth: a job's mount namespaces (which keep
 * its disk mounted) all are. */
static bool ns_belongs_to(int nsfd, bool is_userns, const ReclaimTarget *t) {
        _cleanup_close_ int u = is_userns ? fcntl(nsfd, F_DUPFD_CLOEXEC, 3) : ioctl(nsfd, NS_GET_USERNS);

        /* Bounded: user namespaces nest at most 32 deep. */
        for (int depth = 0; u >= 0 && depth < 40; depth++) {
                struct stat st;
                int parent;

                if (fstat(u, &st) < 0)
                        return false;
                for (size_t i = 0; i < ELEMENTSOF(t->userns); i++)
                        if (t->userns[i] != 0 && st.st_ino == t->userns[i])
                                return true;
                /* EPERM at the initial namespace (or one outside ours). */
                parent = ioctl(u, NS_GET_PARENT);
                safe_close(u);
                u = parent;
        }
        return false;
}

static bool on_disk(int dirfd, const char *name, dev_t disk) {
        struct stat st;

        return disk != 0 && fstatat(dirfd, name, &st, 0) >= 0 && st.st_dev == disk;
}

static bool maps_disk(int pid_fd, dev_t disk) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t n = 0;
        int fd;

        if (disk == 0 || (fd = openat(pid_fd, "maps", O_RDONLY | O_CLOEXEC)) < 0)
                return false;
        f = fdopen(fd, "re");
        if (!f) {
                close(fd);
                return false;
        }
        /* ADDR PERMS OFFSET MAJ:MIN INODE PATH (MAJ:MIN in hex) */
        while (getline(&line, &n, f) > 0) {
                unsigned maj, mnr;
                if (sscanf(line, "%*s %*s %*s %x:%x", &maj, &mnr) == 2 && maj == major(disk) && mnr == minor(disk))
                        return true;
        }
        return false;
}

/* Whether process pid holds the job's disk or one of its namespaces. */
static bool holds(int proc_fd, const char *pid, const ReclaimTarget *t) {
        _cleanup_close_ int pid_fd = -1, fd_dir = -1, pidfd = -1;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        pid_fd = openat(proc_fd, pid, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pid_fd < 0)
                return false;
        if (on_disk(pid_fd, "cwd", t->disk) || on_disk(pid_fd, "root", t->disk) || maps_disk(pid_fd, t->disk))
                return true;
        fd_dir = openat(pid_fd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd_dir < 0 || opendir_at(fd_dir, &d) < 0)
                return false;
        while ((de = readdir(d))) {
                char target[64];
                ssize_t k;

                if (!isdigit((unsigned char) de->d_name[0]))
                        continue;
                k = readlinkat(fd_dir, de->d_name, target, sizeof(target) - 1);
                if (k <= 0)
                        continue;
                target[k] = 0;
                /* "mnt:[4026532...]", "user:[...]": a namespace descriptor. */
                if (target[0] != '/' && strstr(target, ":[") && !startswith(target, "socket:") &&
                    !startswith(target, "pipe:") && !startswith(target, "anon_inode:")) {
                        _cleanup_close_ int nsfd = -1;

                        if (pidfd < 0)
                                pidfd = (int) syscall(SYS_pidfd_open, atoi(pid), 0);
                        nsfd = pidfd < 0 ? -1 : (int) syscall(SYS_pidfd_getfd, pidfd, atoi(de->d_name), 0);
                        if (nsfd >= 0 && ns_belongs_to(nsfd, startswith(target, "user:") != NULL, t))
                                return true;
                        continue;
                }
                if (on_disk(fd_dir, de->d_name, t->disk))
                        return true;
        }
        return false;
}

static bool uid_in_pool(int proc_fd, const char *pid, const ReclaimTarget *t) {
        _cleanup_close_ int fd = openat(proc_fd, pid, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        return fd >= 0 && live_with_uid_in(fd, t->pool_start, t->pool_end);
}

int reclaim_kill_holders(const ReclaimTarget *t, unsigned *ret_killed, pid_t *ret_other) {
        _cleanup_close_ int proc_fd = -1;
        _cleanup_closedir_ DIR *d = NULL;
        unsigned killed = 0, others = 0;
        const char *name;
        pid_t pid;
        int r;

        *ret_killed = 0;
        *ret_other = 0;
        proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (proc_fd < 0)
                return negative_errno();
        r = opendir_at(proc_fd, &d);
        if (r < 0)
                return r;
        while ((pid = next_process(d, &name)) > 0) {
                if (pid == getpid() || pid == getppid() || !holds(proc_fd, name, t))
                        continue;
                /* Only job processes can hold these (nothing else can see
                 * the job's disk or namespaces): end them.  Anything else is
                 * an operator's to look at. */
                if (uid_in_pool(proc_fd, name, t)) {
                        if (kill(pid, SIGKILL) >= 0)
                                killed++;
                } else if (others++ == 0)
                        *ret_other = pid;
        }
        *ret_killed = killed;
        return (int) others;
}
