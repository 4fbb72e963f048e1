/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "job-network.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "fileio.h"
#include "fork-util.h"
#include "json-util.h"
#include "list.h"
#include "log.h"
#include "macros.h"

/* pasta configures the job's interface and forks into the background in
 * a few milliseconds; a busy host gets far more than that. */
#define PASTA_START_TIMEOUT_USEC (20ULL * 1000 * 1000)
#define PASTA_STOP_TIMEOUT_MSEC (10 * 1000)
/* What we keep of pasta's messages at start (it says little with --quiet). */
#define PASTA_OUTPUT_MAX 2048
#define PROC_FILE_MAX (64 * 1024)

static const char *const pasta_paths[] = {
        "/usr/bin/pasta",
        "/usr/local/bin/pasta",
};

const char *job_network_helper(void) {
        /* Tests point this elsewhere to see what a host without passt (or
         * with a failing pasta) does. */
        const char *t = getenv("HOSTD_TEST_PASTA");

        if (t)
                return access(t, X_OK) >= 0 ? t : NULL;
        for (size_t i = 0; i < ELEMENTSOF(pasta_paths); i++)
                if (access(pasta_paths[i], X_OK) >= 0)
                        return pasta_paths[i];
        return NULL;
}

bool job_network_available(JobNetwork n, char *why, size_t size) {
        if (n != JOB_NETWORK_PRIVATE || job_network_helper())
                return true;
        snprintf(why, size, "[Jobs] Network=private needs pasta, which is not installed: install the passt package "
                 "(apt-get install passt), or set [Jobs] Network=host or none");
        return false;
}

void job_network_describe(JobNetwork n, json_object *enf) {
        const char *helper = n == JOB_NETWORK_PRIVATE ? job_network_helper() : NULL;
        json_object *notes = NULL;
        char why[256];

        json_add_string(enf, "network", job_network_to_string(n));
        json_add_string(enf, "network_helper", helper);
        if (!json_object_object_get_ex(enf, "notes", &notes))
                return;
        if (!job_network_available(n, why, sizeof(why)))
                json_object_array_add(notes, json_object_new_string(why));
        else if (n == JOB_NETWORK_HOST)
                json_object_array_add(notes, json_object_new_string(
                        "Network=host: jobs share the host's network namespace; each reaches the others' loopback "
                        "listeners and abstract unix sockets, and the host's"));
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

static int pidfd_open_(pid_t pid) {
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);
        return fd < 0 ? negative_errno() : fd;
}

static int pidfd_kill(int pidfd, int sig) {
        return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? negative_errno() : 0;
}

/* The job's network namespace (from its anchor, checked to be alive after
 * the open) and the user namespace that owns it.  -ENOENT if it is the
 * host's (the job runs with Network=host). */
static int open_job_namespaces(const Job *j, int *ret_net, int *ret_user) {
        _cleanup_close_ int net = -1, user = -1;
        struct stat st, host;
        char path[64];

        if (j->anchor_pid <= 0 || j->sandbox_pidfd < 0)
                return -ESRCH;
        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) j->anchor_pid);
        net = open(path, O_RDONLY | O_CLOEXEC);
        if (net < 0)
                return negative_errno();
        /* Still our anchor, so the namespace we opened is the job's. */
        if (pidfd_kill(j->sandbox_pidfd, 0) < 0)
                return -ESRCH;
        if (fstat(net, &st) < 0 || stat("/proc/self/ns/net", &host) < 0)
                return negative_errno();
        if (st.st_dev == host.st_dev && st.st_ino == host.st_ino)
                return -ENOENT;
        user = ioctl(net, NS_GET_USERNS);
        if (user < 0)
                return negative_errno();
        *ret_net = TAKE_FD(net);
        *ret_user = TAKE_FD(user);
        return 0;
}

static int read_pid_file(int job_fd, pid_t *ret) {
        _cleanup_free_ char *text = NULL;
        char *end;
        long v;
        int r;

        r = read_file_at(job_fd, JOB_NETWORK_PID_FILE, 64, true, &text, NULL);
        if (r < 0)
                return r;
        errno = 0;
        v = strtol(text, &end, 10);
        if (errno != 0 || end == text || (*end != '\n' && *end != 0) || v <= 1 || v > INT32_MAX)
                return -EBADMSG;
        *ret = (pid_t) v;
        return 0;
}

/* Whether pid is the pasta we started for this job: host root, "-P" with
 * this job's pid file on its command line (pasta leaves that argument as
 * it was), and, if userns is known, joined to the job's user namespace.
 * Returns a pidfd for it, taken before the checks, so that the answer
 * holds for the process the pidfd names. */
static int pasta_open(pid_t pid, const char *job_id, ino_t userns) {
        _cleanup_free_ char *cmdline = NULL, *status = NULL;
        _cleanup_close_ int pidfd = -1;
        char path[64], suffix[64];
        size_t size = 0;
        const char *uid;
        bool found = false;
        struct stat st;
        int r;

        pidfd = pidfd_open_(pid);
        if (pidfd < 0)
                return pidfd;
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
        r = read_file_at(AT_FDCWD, path, PROC_FILE_MAX, false, &cmdline, &size);
        if (r < 0)
                return r;
        (void) job_path(suffix, sizeof(suffix), "", job_id, JOB_NETWORK_PID_FILE);
        for (size_t i = 0; i < size;) {
                const char *arg = cmdline + i;
                size_t l = strnlen(arg, size - i);

                i += l + 1;
                if ((streq(arg, "-P") || streq(arg, "--pid")) && i < size) {
                        const char *v = cmdline + i;
                        size_t vl = strnlen(v, size - i);
                        found = vl >= strlen(suffix) && streq(v + vl - strlen(suffix), suffix);
                        break;
                }
        }
        if (!found)
                return -ESRCH;
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        r = read_file_at(AT_FDCWD, path, PROC_FILE_MAX, false, &status, NULL);
        if (r < 0)
                return r;
        uid = strstr(status, "\nUid:\t");
        if (!uid || !startswith(uid, "\nUid:\t0\t0\t"))
                return -ESRCH;
        if (userns != 0) {
                snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
                if (stat(path, &st) < 0 || st.st_ino != userns)
                        return -ESRCH;
        }
        /* The checks read /proc by pid: make sure it was not reused since. */
        if (pidfd_kill(pidfd, 0) < 0)
                return -ESRCH;
        return TAKE_FD(pidfd);
}

/* The pasta of this job, found by its command line: for a pid file that
 * pasta had not written yet when hostd stopped (killed during an
 * allocate, say).  -ESRCH if there is none. */
static int pasta_find(const char *job_id, pid_t *ret) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        d = opendir("/proc");
        if (!d)
                return negative_errno();
        while ((de = readdir(d))) {
                _cleanup_close_ int pidfd = -1;
                char *end;
                long v;

                errno = 0;
                v = strtol(de->d_name, &end, 10);
                if (errno != 0 || *end != 0 || v <= 1 || v > INT32_MAX)
                        continue;
                pidfd = pasta_open((pid_t) v, job_id, 0);
                if (pidfd >= 0) {
                        *ret = (pid_t) v;
                        return 0;
                }
        }
        return -ESRCH;
}

/* ---- reaping ------------------------------------------------------------- */

/* pasta forks into the background; hostd is a subreaper, so its daemon is
 * ours to reap when the cleanup kills it.  The list keeps the watches
 * reachable until then. */
typedef struct Watch Watch;
struct Watch {
        LIST_FIELDS(Watch, watches);
        sd_event_source *source;
        char job[JOB_ID_LEN + 1];
};

static Watch *watches;

static int on_pasta_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Watch *w = userdata;

        /* Killed at release is the normal end; anything else leaves the job
         * without egress, and its owner should learn why from the log. */
        if (!(si->si_code == CLD_KILLED && si->si_status == SIGKILL))
                log_job(LOG_WARNING, w->job, NULL, "pasta (pid %d) exited (%s %d); the job has no network egress",
                        (int) si->si_pid, si->si_code == CLD_EXITED ? "status" : "signal", si->si_status);
        LIST_REMOVE(watches, watches, w);
        sd_event_source_disable_unref(w->source);
        free(w);
        return 0;
}

static void watch_pasta(sd_event *event, pid_t pid, const char *job) {
        Watch *w;

        if (!event)
                return;
        w = calloc(1, sizeof(Watch));
        if (!w)
                return;
        snprintf(w->job, sizeof(w->job), "%s", job);
        /* Fails (ECHILD) for a pasta that is not ours, re-adopted after a
         * restart: the host's init reaps it. */
        if (sd_event_add_child(event, &w->source, pid, WEXITED, on_pasta_exit, w) < 0) {
                free(w);
                return;
        }
        LIST_PREPEND(watches, watches, w);
}

/* ---- start ------------------------------------------------------------- */

/* In the child of safe_fork(FORK_RESET_SIGNALS): only async-signal-safe
 * calls until execve().  The namespaces are fds 3 and 4, named
 * /proc/self/fd/N: pasta, already in its final uid, could not open
 * /proc/<anchor>/ns/ itself. */
_noreturn_ static void pasta_child(const char *pasta, int net_fd, int user_fd, int out_fd, const char *cgroup,
                                   const char *pid_file) {
        char *const envp[] = {
                (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                (char *) "LC_ALL=C",
                NULL,
        };
        char *const argv[] = {
                (char *) "pasta",
                /* Stay host root: only that may enter the job's user
                 * namespace (owned by root), where pasta's capabilities
                 * then apply; "nobody" could open neither namespace. */
                (char *) "--runas", (char *) "0:0",
                (char *) "--quiet",
                (char *) "--config-net",
                /* No port forwarding of any kind: "auto", pasta's default,
                 * would forward ports the job binds to the host, and the
                 * host's bound ports into the job. */
                (char *) "-t", (char *) "none", (char *) "-u", (char *) "none",
                (char *) "-T", (char *) "none", (char *) "-U", (char *) "none",
                (char *) "-P", (char *) pid_file,
                (char *) "--userns", (char *) "/proc/self/fd/4",
                (char *) "--netns", (char *) "/proc/self/fd/3",
                NULL,
        };
        int src[] = { -1, out_fd, out_fd, net_fd, user_fd }, tmp[ELEMENTSOF(src)];

        /* Into the job's cgroup: its CPU and memory are the job's, and it
         * lives apart from hostd's unit.  Without cgroups it stays here. */
        if (cgroup) {
                int fd = open(cgroup, O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                        (void) !write(fd, "0", 1);
                        close(fd);
                }
        }
        /* hostd.service lowers hostd's OOM score; pasta is the job's. */
        {
                int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                        (void) !write(fd, "0", 1);
                        close(fd);
                }
        }
        /* 0..4: /dev/null, the pipe twice, the two namespaces.  Copies above
         * 10 first, so that no dup2() overwrites a source that is 0..4. */
        src[0] = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        for (size_t i = 0; i < ELEMENTSOF(src); i++)
                if (src[i] < 0 || (tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 10)) < 0)
                        _exit(127);
        for (size_t i = 0; i < ELEMENTSOF(src); i++)
                if (dup2(tmp[i], (int) i) < 0)
                        _exit(127);
        (void) close_range(5, ~0U, 0);
        execve(pasta, argv, envp);
        _exit(127);
}

/* Waits for the first pasta process (it exits once the job's interface is
 * up and its daemon is forked, whose output goes to /dev/null), keeping
 * the start of what it said.  Returns its wait status, or -ETIMEDOUT
 * after killing it. */
static int wait_start(pid_t pid, int out_fd, char *buf, size_t size) {
        _cleanup_close_ int pidfd = -1;
        uint64_t deadline = now_usec() + PASTA_START_TIMEOUT_USEC;
        size_t len = 0;
        int status = 0;

        pidfd = pidfd_open_(pid);
        if (pidfd < 0)
                return pidfd;
        buf[0] = 0;
        for (;;) {
                struct pollfd p[2] = { { .fd = pidfd, .events = POLLIN }, { .fd = out_fd, .events = POLLIN } };
                uint64_t n = now_usec();
                bool exited;

                if (n >= deadline) {
                        (void) pidfd_kill(pidfd, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        return -ETIMEDOUT;
                }
                if (poll(p, out_fd >= 0 ? 2 : 1, (int) MIN((deadline - n + 999) / 1000, 1000)) < 0 && errno != EINTR)
                        return negative_errno();
                exited = p[0].revents & POLLIN;
                /* After the exit, whatever is left in the pipe. */
                while (out_fd >= 0 && (exited || (p[1].revents & (POLLIN | POLLHUP | POLLERR)))) {
                        char scratch[512];
                        ssize_t k = read(out_fd, scratch, sizeof(scratch));

                        if (k <= 0) {
                                if (k == 0 || errno != EAGAIN)
                                        out_fd = -1;
                                break;
                        }
                        k = MIN((size_t) k, size - 1 - len);
                        memcpy(buf + len, scratch, (size_t) k);
                        len += (size_t) k;
                        buf[len] = 0;
                        if (!exited)
                                break;
                }
                if (exited)
                        return waitpid(pid, &status, 0) < 0 ? negative_errno() : status;
        }
}

/* Log lines from pasta, one per line, without the "Failed to send N bytes
 * to syslog" noise it prints on hosts without a syslog socket. */
static void log_output(const Job *j, int level, char *buf) {
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                if (!startswith(line, "Failed to send ") && line[0])
                        log_job(level, j->id, j->owner, "pasta: %s", line);
}

/* Whether pid's cgroup v2 path ("0::/a/b") is the end of the cgroupfs
 * directory cgroup. */
static bool in_cgroup(pid_t pid, const char *cgroup) {
        _cleanup_free_ char *text = NULL;
        char path[64];
        const char *line, *end;
        size_t l, cl = strlen(cgroup);

        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        if (read_file_at(AT_FDCWD, path, PROC_FILE_MAX, false, &text, NULL) < 0)
                return false;
        line = startswith(text, "0::") ? text + 3 : strstr(text, "\n0::");
        if (!line)
                return false;
        if (line != text + 3)
                line += 4;
        end = strchrnul(line, '\n');
        l = (size_t) (end - line);
        return l > 1 && l <= cl && strneq(cgroup + cl - l, line, l);
}

static int start_pasta(sd_event *event, const Job *j, int job_fd, const char *job_dir, const char *cgroup) {
        _cleanup_close_ int net = -1, user = -1, out_r = -1, out_w = -1;
        char pid_file[4096], procs[4096], out[PASTA_OUTPUT_MAX];
        const char *pasta;
        pid_t pid, daemon_pid;
        int r, status;

        uint64_t started = now_usec();

        pasta = job_network_helper();
        if (!pasta)
                return log_job_full_errno(LOG_ERR, ENONET, j->id, j->owner,
                                          "Network=private needs pasta (%s), which is missing: install the passt "
                                          "package, or set [Jobs] Network=host or none", pasta_paths[0]);
        r = open_job_namespaces(j, &net, &user);
        if (r < 0)
                return log_job_full_errno(LOG_ERR, r, j->id, j->owner, "Cannot open the job's network namespace: %m");
        if ((size_t) snprintf(pid_file, sizeof(pid_file), "%s/" JOB_NETWORK_PID_FILE, job_dir) >= sizeof(pid_file))
                return -ENAMETOOLONG;
        if (cgroup && (size_t) snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup) >= sizeof(procs))
                return -ENAMETOOLONG;
        (void) unlinkat(job_fd, JOB_NETWORK_PID_FILE, 0);
        {
                int p[2];
                if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                        return negative_errno();
                out_r = p[0];
                out_w = p[1];
        }
        pid = safe_fork(NULL, FORK_RESET_SIGNALS);
        if (pid < 0)
                return pid;
        if (pid == 0)
                pasta_child(pasta, net, user, out_w, cgroup ? procs : NULL, pid_file);
        out_w = safe_close(out_w);

        status = wait_start(pid, out_r, out, sizeof(out));
        if (status < 0) {
                log_job_full_errno(LOG_ERR, status, j->id, j->owner, "%s did not start in time: %m", pasta);
                return -ENONET;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                log_output(j, LOG_ERR, out);
                return log_job_full_errno(LOG_ERR, ENONET, j->id, j->owner,
                                          "%s failed (%s %d) to give the job its network; see its messages above, or "
                                          "set [Jobs] Network=host or none", pasta,
                                          WIFEXITED(status) ? "exit status" : "signal",
                                          WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        }
        log_output(j, LOG_WARNING, out);

        r = read_pid_file(job_fd, &daemon_pid);
        if (r < 0)
                return log_job_full_errno(LOG_ERR, r, j->id, j->owner, "%s wrote no usable pid file: %m", pasta);
        watch_pasta(event, daemon_pid, j->id);
        if (cgroup && !in_cgroup(daemon_pid, cgroup))
                log_job(LOG_WARNING, j->id, j->owner, "pasta (pid %d) runs outside the job's cgroup %s: its CPU and "
                        "memory are not counted as the job's", (int) daemon_pid, cgroup);
        log_job(LOG_INFO, j->id, j->owner, "Private network up: pasta pid %d, in %llu ms", (int) daemon_pid,
                (unsigned long long) (now_usec() - started) / 1000);
        return 0;
}

int job_network_start(sd_event *event, const Job *j, int job_fd, const char *job_dir, const char *cgroup, bool adopted) {
        _cleanup_close_ int pidfd = -1, net = -1, user = -1;
        struct stat st;
        pid_t pid = 0;
        int r;

        if (adopted) {
                r = read_pid_file(job_fd, &pid);
                if (r == -ENOENT)
                        return 0;  /* allocated with Network=host or none */
                if (r < 0)
                        log_job_full_errno(LOG_WARNING, r, j->id, j->owner, "Cannot read the job's pasta pid file: %m");
                r = open_job_namespaces(j, &net, &user);
                if (r == -ENOENT)
                        return 0;
                if (r < 0)
                        return log_job_full_errno(LOG_ERR, r, j->id, j->owner, "Cannot open the job's network namespace: %m");
                if (fstat(user, &st) < 0)
                        return negative_errno();
                pidfd = pid > 0 ? pasta_open(pid, j->id, st.st_ino) : -ESRCH;
                if (pidfd >= 0) {
                        log_job(LOG_INFO, j->id, j->owner, "Re-adopted the job's pasta (pid %d)", (int) pid);
                        return 0;
                }
                log_job(LOG_NOTICE, j->id, j->owner, "The job's pasta is gone; starting it again");
                /* The job's sandbox and files are fine: a job without egress
                 * is better than one marked leaked for want of it. */
                if (start_pasta(event, j, job_fd, job_dir, cgroup) < 0)
                        log_job(LOG_ERR, j->id, j->owner, "The job goes on without network egress");
                return 0;
        }
        return start_pasta(event, j, job_fd, job_dir, cgroup);
}

int job_network_stop(int job_fd, const Job *j) {
        _cleanup_close_ int pidfd = -1;
        struct pollfd p;
        pid_t pid;
        int r;

        r = read_pid_file(job_fd, &pid);
        if (r == -ENOENT)
                return 0;
        if (r == -EBADMSG) {
                /* Empty or torn: pasta was still starting when hostd stopped. */
                r = pasta_find(j->id, &pid);
                if (r == -ESRCH)
                        return 0;
                if (r >= 0)
                        log_job(LOG_NOTICE, j->id, j->owner, "The job's pasta pid file is unusable; found its pasta "
                                "(pid %d) by its command line", (int) pid);
        }
        if (r < 0)
                return log_job_full_errno(LOG_WARNING, r, j->id, j->owner, "Cannot read the job's pasta pid file: %m");
        /* The job's namespaces may be gone already: the command line says
         * whose it is. */
        pidfd = pasta_open(pid, j->id, 0);
        if (pidfd < 0)
                return 0;
        r = pidfd_kill(pidfd, SIGKILL);
        if (r < 0)
                return log_job_full_errno(LOG_ERR, r, j->id, j->owner, "Cannot kill the job's pasta (pid %d): %m", (int) pid);
        /* Readable once it has exited (a zombie until hostd reaps it). */
        p = (struct pollfd) { .fd = pidfd, .events = POLLIN };
        r = poll(&p, 1, PASTA_STOP_TIMEOUT_MSEC);
        if (r <= 0)
                return log_job_full_errno(LOG_ERR, r < 0 ? errno : ETIMEDOUT, j->id, j->owner,
                                          "The job's pasta (pid %d) does not go away: %m", (int) pid);
        return 0;
}
