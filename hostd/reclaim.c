/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "reclaim.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "fileio.h"
#include "log.h"
#include "macros.h"

#define KILL_ROUNDS 200

static bool proc_matches(int proc_fd, const char *pid, const char *job_comm, uint32_t uid_base) {
        _cleanup_free_ char *status = NULL;
        _cleanup_close_ int fd = -1;
        const char *p;
        char comm[64];
        ssize_t k;

        fd = openat(proc_fd, pid, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return false;
        if (job_comm) {
                _cleanup_close_ int cfd = openat(fd, "comm", O_RDONLY | O_CLOEXEC);
                if (cfd >= 0 && (k = read(cfd, comm, sizeof(comm) - 1)) > 0) {
                        comm[k] = 0;
                        comm[strcspn(comm, "\n")] = 0;
                        if (streq(comm, job_comm))
                                return true;
                }
        }
        if (uid_base == 0 || read_file_at(fd, "status", 64 * 1024, true, &status, NULL) < 0)
                return false;
        /* A zombie is already dead: no files, no mounts, nothing it can do;
         * kill() "succeeds" on it forever, until its parent reaps it. */
        p = strstr(status, "\nState:\t");
        if (p && (p[8] == 'Z' || p[8] == 'X'))
                return false;
        /* Any of real, effective, saved or fs uid in the range. */
        p = strstr(status, "\nUid:");
        if (!p)
                return false;
        p += 5;
        for (int i = 0; i < 4; i++) {
                char *end;
                unsigned long u = strtoul(p, &end, 10);
                if (end == p)
                        break;
                if (u >= uid_base && u < (unsigned long) uid_base + 65536)
                        return true;
                p = end;
        }
        return false;
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
                struct dirent *de;
                unsigned found = 0;
                int r = opendir_at(proc_fd, &d);

                if (r < 0)
                        return r;
                while ((de = readdir(d))) {
                        pid_t pid;

                        if (!isdigit((unsigned char) de->d_name[0]))
                                continue;
                        pid = (pid_t) atoi(de->d_name);
                        if (pid == getpid() || !proc_matches(proc_fd, de->d_name, job_comm, uid_base))
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
