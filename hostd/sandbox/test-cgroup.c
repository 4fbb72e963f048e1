/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Job cgroups on the real cgroup2 file system (needs root).  The tests run
 * in a child process under an isolated parent cgroup; the parent process
 * then kills and removes whatever is left there, so a crash or a failed
 * check never leaves cgroups or processes behind. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup-kill.h"
#include "cgroup-systemd.h"
#include "fileio.h"
#include "log.h"
#include "macros.h"
#include "test-util.h"

#define N_GRANDCHILDREN 50
#define MAX_PIDS 128
#define KILL_TIMEOUT (10U * USEC_PER_SEC)

static char test_parent[64];

/* ---- processes ---- */

static _noreturn_ void idle_forever(void) {
        for (;;) {
                struct timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
}

static void write_pid(int fd) {
        pid_t p = getpid();

        if (write(fd, &p, sizeof(p)) != sizeof(p))
                _exit(EXIT_FAILURE);
}

/* The parent's ends of the pipes, which a child must close at once: a
 * child holding the write end of the "go" pipe would never see EOF. */
static int parent_fds[4] = { -1, -1, -1, -1 };

static void set_parent_fds(int a, int b, int c, int d) {
        parent_fds[0] = a;
        parent_fds[1] = b;
        parent_fds[2] = c;
        parent_fds[3] = d;
}

static void wait_go(int go_fd) {
        char c;

        for (size_t i = 0; i < ELEMENTSOF(parent_fds); i++)
                if (parent_fds[i] >= 0)
                        close(parent_fds[i]);

        /* EOF (the parent closed its end) is the signal. */
        while (read(go_fd, &c, 1) < 0 && errno == EINTR)
                ;
        close(go_fd);
}

static void burn_cpu(unsigned msec) {
        usec_t end = now(CLOCK_THREAD_CPUTIME_ID) + msec * USEC_PER_MSEC;
        volatile unsigned long x = 0;

        while (now(CLOCK_THREAD_CPUTIME_ID) < end)
                x++;
}

/* A: records itself, burns a little CPU, forks N_GRANDCHILDREN idlers. */
static pid_t spawn_forker(int pid_fd, int go_fd) {
        pid_t pid = fork();

        if (pid != 0)
                return pid;
        wait_go(go_fd);
        write_pid(pid_fd);
        burn_cpu(30);
        for (int i = 0; i < N_GRANDCHILDREN; i++) {
                pid_t c = fork();
                if (c < 0)
                        _exit(EXIT_FAILURE);
                if (c == 0) {
                        write_pid(pid_fd);
                        idle_forever();
                }
        }
        idle_forever();
}

/* B: forks C, which calls setsid() and forks D, then exits: D is an
 * orphan in its own session, out of reach of B's process group. */
static pid_t spawn_escaper(int pid_fd, int go_fd) {
        pid_t pid = fork();

        if (pid != 0)
                return pid;
        wait_go(go_fd);
        write_pid(pid_fd);
        pid = fork();
        if (pid < 0)
                _exit(EXIT_FAILURE);
        if (pid == 0) {
                write_pid(pid_fd);
                (void) setsid();
                pid = fork();
                if (pid < 0)
                        _exit(EXIT_FAILURE);
                if (pid == 0) {
                        write_pid(pid_fd);
                        idle_forever();
                }
                _exit(EXIT_SUCCESS);
        }
        idle_forever();
}

/* A process whose pid keeps changing: each generation forks the next and
 * exits, so a kill by pid list always lags behind it. */
static pid_t spawn_hopper(int go_fd) {
        pid_t pid = fork();

        if (pid != 0)
                return pid;
        wait_go(go_fd);
        for (;;) {
                struct timespec ts = { .tv_nsec = 1000 * 1000 };
                pid_t c = fork();

                if (c < 0)
                        _exit(EXIT_FAILURE);
                if (c > 0)
                        _exit(EXIT_SUCCESS);
                nanosleep(&ts, NULL);
        }
}

static pid_t spawn_idler(int pid_fd, int go_fd) {
        pid_t pid = fork();

        if (pid != 0)
                return pid;
        wait_go(go_fd);
        write_pid(pid_fd);
        idle_forever();
}

/* Reads n pids from fd, waiting at most 10s in all. */
static size_t read_pids(int fd, pid_t *pids, size_t n) {
        usec_t deadline = now(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;
        size_t got = 0;

        while (got < n) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                usec_t t = now(CLOCK_MONOTONIC);
                ssize_t k;

                if (t >= deadline)
                        break;
                if (poll(&p, 1, (int) ((deadline - t) / USEC_PER_MSEC) + 1) <= 0)
                        continue;
                k = read(fd, &pids[got], sizeof(pid_t));
                if (k == sizeof(pid_t))
                        got++;
                else if (k == 0)
                        break;
        }
        return got;
}

/* Reaps every child (orphans come to us: we are a subreaper).  Only called
 * when they are known dead, or after SIGKILLing the known ones. */
static void reap_all(void) {
        while (waitpid(-1, NULL, 0) >= 0 || errno == EINTR)
                ;
}

/* A zombie is dead: under qemu-user, which refuses PR_SET_CHILD_SUBREAPER,
 * the killed grandchildren go to init, which may reap them later. */
static bool is_zombie(pid_t pid) {
        char path[64], buf[256], *p;
        FILE *f;
        bool z = false;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return false;
        if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
                z = p[1] == ' ' && p[2] == 'Z';
        fclose(f);
        return z;
}

static bool all_gone(const pid_t *pids, size_t n) {
        bool ok = true;

        for (size_t i = 0; i < n; i++)
                if (pids[i] <= 0 || ((kill(pids[i], 0) == 0 || errno != ESRCH) && !is_zombie(pids[i]))) {
                        fprintf(stderr, "process %d still exists\n", (int) pids[i]);
                        ok = false;
                }
        return ok;
}

static void kill_all(const pid_t *pids, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (pids[i] > 0)
                        (void) kill(pids[i], SIGKILL);
}

static int read_events_populated(const CgroupSupport *s, const char *job) {
        _cleanup_free_ char *text = NULL;
        char path[PATH_MAX];
        int r;

        r = cgroup_job_path(s, job, path, sizeof(path));
        if (r < 0)
                return r;
        if (strlen(path) + sizeof("/cgroup.events") > sizeof(path))
                return -ENAMETOOLONG;
        strcat(path, "/cgroup.events");
        r = read_file_at(AT_FDCWD, path, 4096, 1, &text, NULL);
        if (r < 0)
                return r;
        return str_contains(text, "populated 1") ? 1 : 0;
}

static int write_to(const char *path, const char *value) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

        if (fd < 0)
                return negative_errno();
        if (write(fd, value, strlen(value)) < 0)
                return negative_errno();
        return 0;
}

static int read_trimmed(const char *dir, const char *file, char *buf, size_t size) {
        _cleanup_free_ char *text = NULL;
        char path[PATH_MAX];
        int r;

        snprintf(path, sizeof(path), "%s/%s", dir, file);
        r = read_file_at(AT_FDCWD, path, 4096, 1, &text, NULL);
        if (r < 0)
                return r;
        text[strcspn(text, "\n")] = 0;
        snprintf(buf, size, "%s", text);
        return 0;
}

/* ---- tests ---- */

static void test_names(void) {
        char buf[128];

        CHECK(cgroup_job_name_is_valid("j0123456789ab"));
        CHECK(cgroup_job_name_is_valid("a-b_C"));
        CHECK(!cgroup_job_name_is_valid(""));
        CHECK(!cgroup_job_name_is_valid(NULL));
        CHECK(!cgroup_job_name_is_valid("."));
        CHECK(!cgroup_job_name_is_valid(".."));
        CHECK(!cgroup_job_name_is_valid("a/b"));
        CHECK(!cgroup_job_name_is_valid("cpu.max"));
        CHECK(!cgroup_job_name_is_valid("cgroup.procs"));
        CHECK(!cgroup_job_name_is_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));

        CHECK(cgroup_systemd_unit_name("j1", buf, sizeof(buf)) == 0);
        CHECK(streq(buf, "hostd-job-j1.scope"));
        CHECK(cgroup_systemd_unit_name("../x", buf, sizeof(buf)) == -EINVAL);
        CHECK(cgroup_systemd_unit_name("j1", buf, 8) == -ENAMETOOLONG);
}

static void test_systemd_absent(void) {
        /* This machine: PID 1 is not systemd, so the scope path is off. */
        if (sd_booted() > 0) {
                printf("systemd is PID 1 here; skipping the no-systemd check\n");
                return;
        }
        CHECK(!cgroup_systemd_available());
}

static void test_detect_default(void) {
        CgroupSupport s;
        char expected[300];
        int r;

        r = cgroup_detect(&s);
        CHECK_MSG(r == 0, "cgroup_detect: %s", strerror(-r));
        CHECK_MSG(!isempty(s.root), "no cgroup2 mount found");
        if (isempty(s.root))
                return;
        snprintf(expected, sizeof(expected), "%s/hostd.jobs", s.root);
        CHECK_MSG(streq(s.base, expected), "base %s", s.base);
        CHECK(s.kill);     /* kernel >= 5.14 */
        CHECK(s.freeze);   /* kernel >= 5.2 */

        /* The hybrid layout of the test machine: cgroup2 at .../unified
         * with no controllers, so no limits can be enforced. */
        if (streq(s.root, "/sys/fs/cgroup/unified")) {
                CHECK(!s.cpu && !s.memory && !s.pids && !s.io && !s.memory_swap);
        } else
                printf("cgroup2 at %s (not the hybrid layout): controllers cpu=%d memory=%d pids=%d io=%d\n",
                       s.root, s.cpu, s.memory, s.pids, s.io);
}

static void test_detect_parent(const CgroupSupport *s) {
        CgroupSupport t;
        char expected[400];

        snprintf(expected, sizeof(expected), "%s%s/hostd.jobs", s->root, test_parent);
        CHECK_MSG(streq(s->base, expected), "base %s, expected %s", s->base, expected);
        CHECK(s->kill);

        /* Normalised: repeated and trailing slashes. */
        {
                char p[80];

                snprintf(p, sizeof(p), "/%s//", test_parent);
                CHECK(cgroup_detect_with_parent(p, &t) == 0);
                CHECK_MSG(streq(t.base, expected), "base %s", t.base);
        }
        CHECK(cgroup_detect_with_parent("relative", &t) == -EINVAL);
        CHECK(cgroup_detect_with_parent("/a/../b", &t) == -EINVAL);
        CHECK(cgroup_detect_with_parent("/a/./b", &t) == -EINVAL);
}

static void test_create(const CgroupSupport *s) {
        CgroupLimits l = {
                .millicpus = 1500,
                .memory = 256ULL << 20,
                .swap = 64ULL << 20,
                .pids = 100,
                .io_weight = 200,
        };
        CgroupLimits none = {};
        char path[PATH_MAX], v[128];
        CgroupUsage u;

        CHECK(cgroup_job_exists(s, "c1") == 0);
        CHECK(cgroup_job_create(s, "c1", &l) == 0);
        CHECK(cgroup_job_exists(s, "c1") == 1);
        /* Idempotent: again, and with other limits. */
        CHECK(cgroup_job_create(s, "c1", &l) == 0);
        CHECK(cgroup_job_path(s, "c1", path, sizeof(path)) == 0);
        CHECK_STR_CONTAINS(path, "/hostd.jobs/c1");

        CHECK(read_trimmed(path, "cgroup.max.depth", v, sizeof(v)) == 0 && streq(v, "16"));
        CHECK(read_trimmed(path, "cgroup.max.descendants", v, sizeof(v)) == 0 && streq(v, "4096"));

        /* Where controllers are enabled (not on the test machine's hybrid
         * layout, but in the VM) the limits must be there. */
        if (s->cpu)
                CHECK(read_trimmed(path, "cpu.max", v, sizeof(v)) == 0 && streq(v, "150000 100000"));
        if (s->memory)
                CHECK(read_trimmed(path, "memory.max", v, sizeof(v)) == 0 && streq(v, "268435456"));
        if (s->memory_swap)
                CHECK(read_trimmed(path, "memory.swap.max", v, sizeof(v)) == 0 && streq(v, "67108864"));
        if (s->pids)
                CHECK(read_trimmed(path, "pids.max", v, sizeof(v)) == 0 && streq(v, "100"));
        if (s->io)
                CHECK(read_trimmed(path, "io.weight", v, sizeof(v)) == 0 && streq(v, "default 200"));

        CHECK(cgroup_job_create(s, "c1", &none) == 0);
        if (s->cpu)
                CHECK(read_trimmed(path, "cpu.max", v, sizeof(v)) == 0 && streq(v, "max 100000"));
        if (s->pids)
                CHECK(read_trimmed(path, "pids.max", v, sizeof(v)) == 0 && streq(v, "max"));

        CHECK(cgroup_job_usage(s, "c1", &u) == 0);
        CHECK(u.has_cpu && u.cpu_usec == 0);
        CHECK(u.has_memory == s->memory && u.has_pids == s->pids);

        /* Invalid names never reach the file system. */
        CHECK(cgroup_job_create(s, "../c1", &l) == -EINVAL);
        CHECK(cgroup_job_create(s, "cgroup.procs", &l) == -EINVAL);
        CHECK(cgroup_job_exists(s, "a/b") == -EINVAL);

        CHECK(cgroup_job_remove(s, "c1") == 0);
        CHECK(cgroup_job_exists(s, "c1") == 0);
        CHECK(cgroup_job_usage(s, "c1", &u) == -ENOENT);
}

static void test_delegate(const CgroupSupport *s) {
        CgroupLimits l = {};
        char path[PATH_MAX], f[PATH_MAX + 32];
        struct stat st;

        CHECK(cgroup_job_create(s, "d1", &l) == 0);
        CHECK(cgroup_job_delegate(s, "d1", 300000, 300000) == 0);
        CHECK(cgroup_job_path(s, "d1", path, sizeof(path)) == 0);
        CHECK(stat(path, &st) == 0 && st.st_uid == 300000 && st.st_gid == 300000);
        snprintf(f, sizeof(f), "%s/cgroup.procs", path);
        CHECK(stat(f, &st) == 0 && st.st_uid == 300000);
        snprintf(f, sizeof(f), "%s/cgroup.subtree_control", path);
        CHECK(stat(f, &st) == 0 && st.st_uid == 300000);
        /* The limits stay root's. */
        snprintf(f, sizeof(f), "%s/cgroup.max.depth", path);
        CHECK(stat(f, &st) == 0 && st.st_uid == 0);
        CHECK(cgroup_job_delegate(s, "missing", 300000, 300000) == -ENOENT);
        CHECK(cgroup_job_remove(s, "d1") == 0);
}

/* The full life of a job: processes (a forker with 50 children, a
 * setsid double-fork escaper, one process in a nested child cgroup a/b as
 * podman would make), kill, reap, verify, remove. */
static void test_kill(const CgroupSupport *base_support, const char *job, bool use_kill) {
        CgroupSupport s = *base_support;
        CgroupLimits l = { .millicpus = 500, .pids = 200 };
        int pid_pipe[2] = { -1, -1 }, go_pipe[2] = { -1, -1 }, hop_pipe[2] = { -1, -1 };
        pid_t pids[MAX_PIDS] = {}, a, b, e, h = 0;
        size_t expected = 1 + N_GRANDCHILDREN + 3 + 1, got;
        char path[PATH_MAX], nested[PATH_MAX + 32], value[32];
        CgroupUsage u;
        usec_t t0;
        int r;

        s.kill = use_kill;
        printf("kill test %s: %s\n", job, use_kill ? "cgroup.kill" : s.freeze ? "freeze + SIGKILL" : "SIGKILL");

        CHECK(cgroup_job_create(&s, job, &l) == 0);
        CHECK(cgroup_job_path(&s, job, path, sizeof(path)) == 0);
        snprintf(nested, sizeof(nested), "%s/a", path);
        CHECK(mkdir(nested, 0755) == 0);
        snprintf(nested, sizeof(nested), "%s/a/b", path);
        CHECK(mkdir(nested, 0755) == 0);

        if (pipe2(pid_pipe, O_CLOEXEC) < 0 || pipe2(go_pipe, O_CLOEXEC) < 0 || pipe2(hop_pipe, O_CLOEXEC) < 0) {
                CHECK_MSG(false, "pipe2: %m");
                goto finish;
        }

        fflush(stdout);
        fflush(stderr);
        set_parent_fds(pid_pipe[0], go_pipe[1], hop_pipe[1], -1);
        a = spawn_forker(pid_pipe[1], go_pipe[0]);
        b = spawn_escaper(pid_pipe[1], go_pipe[0]);
        e = spawn_idler(pid_pipe[1], go_pipe[0]);
        if (!use_kill)
                h = spawn_hopper(hop_pipe[0]);
        CHECK(a > 0 && b > 0 && e > 0 && (use_kill || h > 0));

        /* Attach before they may fork: their children are born inside. */
        CHECK(cgroup_job_attach(&s, job, a) == 0);
        CHECK(cgroup_job_attach(&s, job, b) == 0);
        snprintf(nested, sizeof(nested), "%s/a/b/cgroup.procs", path);
        snprintf(value, sizeof(value), "%d", (int) e);
        CHECK(write_to(nested, value) == 0);
        if (h > 0)
                CHECK(cgroup_job_attach(&s, job, h) == 0);
        CHECK(cgroup_job_attach(&s, job, 0) == -EINVAL);

        go_pipe[1] = safe_close(go_pipe[1]);
        go_pipe[0] = safe_close(go_pipe[0]);
        pid_pipe[1] = safe_close(pid_pipe[1]);

        got = read_pids(pid_pipe[0], pids, expected);
        CHECK_MSG(got == expected, "got %zu of %zu pids", got, expected);
        CHECK(read_events_populated(&s, job) == 1);

        CHECK(cgroup_job_usage(&s, job, &u) == 0);
        CHECK_MSG(u.has_cpu && u.cpu_usec > 0, "cpu_usec %llu", (unsigned long long) u.cpu_usec);

        /* The hopper starts its pid changes right before the kill. */
        hop_pipe[1] = safe_close(hop_pipe[1]);
        hop_pipe[0] = safe_close(hop_pipe[0]);

        /* Processes remain: removal must refuse. */
        CHECK(cgroup_job_remove(&s, job) == -EBUSY);

        t0 = now(CLOCK_MONOTONIC);
        r = cgroup_job_kill(&s, job, KILL_TIMEOUT);
        CHECK_MSG(r == 0, "cgroup_job_kill: %s", strerror(-r));
        printf("  killed in %.1f ms\n", (double) (now(CLOCK_MONOTONIC) - t0) / 1000.0);
        CHECK(read_events_populated(&s, job) == 0);
        if (!use_kill && s.freeze)
                /* Thawed again: a frozen leftover would confuse the next user. */
                CHECK(read_trimmed(path, "cgroup.freeze", value, sizeof(value)) == 0 && streq(value, "0"));

        if (r < 0)
                kill_all(pids, got);
        reap_all();
        CHECK(all_gone(pids, got));

        /* Killing again is a no-op. */
        CHECK(cgroup_job_kill(&s, job, KILL_TIMEOUT) == 0);

        r = cgroup_job_remove(&s, job);
        CHECK_MSG(r == 0, "cgroup_job_remove: %s", strerror(-r));
        CHECK(cgroup_job_exists(&s, job) == 0);

finish:
        safe_close(pid_pipe[0]);
        safe_close(pid_pipe[1]);
        safe_close(go_pipe[0]);
        safe_close(go_pipe[1]);
        safe_close(hop_pipe[0]);
        safe_close(hop_pipe[1]);
}

static void test_kill_timeout(const CgroupSupport *s) {
        CgroupSupport t = *s;
        CgroupLimits l = {};
        char path[PATH_MAX], nested[PATH_MAX + 32], value[32];
        int pid_pipe[2], go_pipe[2];
        pid_t p = 0, pid;
        usec_t t0;
        int r;

        /* The bounded wait: a live process and a timeout of 0. */
        CHECK(cgroup_job_create(&t, "t1", &l) == 0);
        CHECK(cgroup_job_path(&t, "t1", path, sizeof(path)) == 0);
        if (pipe2(pid_pipe, O_CLOEXEC) < 0)
                return;
        if (pipe2(go_pipe, O_CLOEXEC) < 0) {
                close(pid_pipe[0]);
                close(pid_pipe[1]);
                return;
        }
        fflush(stdout);
        fflush(stderr);
        set_parent_fds(pid_pipe[0], go_pipe[1], -1, -1);
        pid = spawn_idler(pid_pipe[1], go_pipe[0]);
        snprintf(nested, sizeof(nested), "%s/cgroup.procs", path);
        snprintf(value, sizeof(value), "%d", (int) pid);
        CHECK(write_to(nested, value) == 0);
        close(go_pipe[1]);
        close(go_pipe[0]);
        close(pid_pipe[1]);
        CHECK(read_pids(pid_pipe[0], &p, 1) == 1);
        close(pid_pipe[0]);

        /* Fallback without freeze, zero timeout: one round of SIGKILL, then
         * -ETIMEDOUT unless the process died that fast; then a real wait. */
        t.kill = false;
        t.freeze = false;
        t0 = now(CLOCK_MONOTONIC);
        r = cgroup_job_kill(&t, "t1", 0);
        CHECK(r == 0 || r == -ETIMEDOUT);
        r = cgroup_job_kill(&t, "t1", KILL_TIMEOUT);
        CHECK(r == 0);
        CHECK(now(CLOCK_MONOTONIC) - t0 < KILL_TIMEOUT);
        if (r < 0)
                (void) kill(pid, SIGKILL);
        reap_all();
        CHECK(all_gone(&p, 1));
        CHECK(cgroup_job_remove(&t, "t1") == 0);
}

static void test_missing(const CgroupSupport *s) {
        CgroupUsage u;

        CHECK(cgroup_job_kill(s, "nothere", KILL_TIMEOUT) == 0);
        CHECK(cgroup_job_remove(s, "nothere") == 0);
        CHECK(cgroup_job_exists(s, "nothere") == 0);
        CHECK(cgroup_job_usage(s, "nothere", &u) == -ENOENT);
        CHECK(cgroup_job_attach(s, "nothere", getpid()) == -ENOENT);
}

/* The same by absolute path, as for a systemd scope and in sessions. */
static void test_attach_path(const CgroupSupport *s) {
        CgroupLimits none = {};
        char path[PATH_MAX], missing[PATH_MAX + 16];
        CgroupUsage u;
        pid_t pid;
        int status;

        CHECK(cgroup_job_create(s, "p1", &none) == 0);
        CHECK(cgroup_job_path(s, "p1", path, sizeof(path)) == 0);

        /* pid 0: the caller itself, as a session's child joins. */
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                _cleanup_free_ char *self = NULL;

                if (cgroup_attach_path(path, 0) < 0 ||
                    read_file_at(AT_FDCWD, "/proc/self/cgroup", 65536, 0, &self, NULL) < 0)
                        _exit(1);
                _exit(strstr(self, "/hostd.jobs/p1\n") ? 0 : 2);
        }
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);

        CHECK(cgroup_usage_path(path, &u) == 0);
        CHECK(u.has_cpu && u.has_memory == s->memory && u.has_pids == s->pids);

        snprintf(missing, sizeof(missing), "%s/nothere", s->base);
        CHECK(cgroup_usage_path(missing, &u) == -ENOENT);
        CHECK(cgroup_attach_path(missing, getpid()) == -ENOENT);
        CHECK(cgroup_attach_path("relative", getpid()) == -EINVAL);
        CHECK(cgroup_attach_path(path, -1) == -EINVAL);

        CHECK(cgroup_job_remove(s, "p1") == 0);
}

static void test_list(const CgroupSupport *s) {
        _cleanup_strv_free_ char **l = NULL;
        CgroupLimits lim = {};
        char path[PATH_MAX + 32];

        CHECK(cgroup_list_jobs(s, &l) == 0);
        CHECK(l && strv_length(l) == 0);
        l = strv_free(l);

        CHECK(cgroup_job_create(s, "l2", &lim) == 0);
        CHECK(cgroup_job_create(s, "l1", &lim) == 0);
        /* Not a job name: skipped. */
        snprintf(path, sizeof(path), "%s/x.y", s->base);
        CHECK(mkdir(path, 0755) == 0);

        CHECK(cgroup_list_jobs(s, &l) == 0);
        CHECK(l && strv_length(l) == 2);
        if (l && strv_length(l) == 2)
                CHECK(streq(l[0], "l1") && streq(l[1], "l2"));

        CHECK(rmdir(path) == 0);
        CHECK(cgroup_job_remove(s, "l1") == 0);
        CHECK(cgroup_job_remove(s, "l2") == 0);
}

static void test_unsupported(void) {
        CgroupSupport none = {};
        CgroupLimits l = {};
        char buf[64];

        CHECK(cgroup_job_path(&none, "x", buf, sizeof(buf)) == -EOPNOTSUPP);
        CHECK(cgroup_job_create(&none, "x", &l) == -EOPNOTSUPP);
        CHECK(cgroup_job_kill(&none, "x", 0) == -EOPNOTSUPP);
}

static int run_tests(void) {
        CgroupSupport s;
        int r;

        (void) prctl(PR_SET_CHILD_SUBREAPER, 1);

        test_names();
        test_unsupported();
        test_systemd_absent();
        test_detect_default();

        r = cgroup_detect_with_parent(test_parent, &s);
        CHECK_MSG(r == 0 && !isempty(s.base), "cgroup_detect_with_parent: %s", strerror(-r));
        if (r < 0 || isempty(s.base))
                return test_summary("test-cgroup");

        test_detect_parent(&s);
        test_create(&s);
        test_delegate(&s);
        test_missing(&s);
        test_attach_path(&s);
        test_list(&s);
        test_kill(&s, "k-kill", true);
        if (s.freeze)
                test_kill(&s, "k-freeze", false);
        {
                CgroupSupport nofreeze = s;
                nofreeze.freeze = false;
                test_kill(&nofreeze, "k-plain", false);
        }
        test_kill_timeout(&s);

        return test_summary("test-cgroup");
}

/* Runs after the tests, whatever happened to them. */
static int cleanup(bool created_default_base) {
        _cleanup_strv_free_ char **jobs = NULL;
        CgroupSupport s;
        char path[PATH_MAX];
        int r, ret = 0;

        log_set_max_level(MIN(log_get_max_level(), LOG_WARNING));
        r = cgroup_detect_with_parent(test_parent, &s);
        if (r < 0 || isempty(s.base))
                return r < 0 ? r : -ENOENT;

        if (cgroup_list_jobs(&s, &jobs) >= 0)
                STRV_FOREACH(j, jobs) {
                        fprintf(stderr, "cleanup: job cgroup %s left behind\n", *j);
                        (void) cgroup_job_kill(&s, *j, KILL_TIMEOUT);
                        if (cgroup_job_remove(&s, *j) < 0)
                                ret = -EBUSY;
                }
        reap_all();
        if (rmdir(s.base) < 0 && errno != ENOENT) {
                fprintf(stderr, "cleanup: rmdir %s: %m\n", s.base);
                ret = -errno;
        }
        snprintf(path, sizeof(path), "%s%s", s.root, test_parent);
        if (rmdir(path) < 0 && errno != ENOENT) {
                fprintf(stderr, "cleanup: rmdir %s: %m\n", path);
                ret = -errno;
        }
        if (created_default_base) {
                /* Only if still empty: a real hostd may have started using it. */
                snprintf(path, sizeof(path), "%s/hostd.jobs", s.root);
                (void) rmdir(path);
        }
        return ret;
}

int main(void) {
        char default_base[300];
        bool had_default_base;
        CgroupSupport probe;
        pid_t pid;
        int status, level, r;

        log_setup("test-cgroup", LOG_TARGET_STDERR);
        if (geteuid() != 0) {
                printf("test-cgroup: skipped, needs root\n");
                return 77;
        }

        snprintf(test_parent, sizeof(test_parent), "/hostd-test-cgroup-%d", (int) getpid());

        /* Remember whether <root>/hostd.jobs existed, to leave it as found. */
        level = log_get_max_level();
        log_set_max_level(MIN(level, LOG_WARNING));
        r = cgroup_detect_with_parent(test_parent, &probe);
        log_set_max_level(level);
        if (r < 0 || isempty(probe.root)) {
                printf("test-cgroup: skipped, no usable cgroup2 (%s)\n", r < 0 ? strerror(-r) : "not mounted");
                (void) cleanup(false);
                return 77;
        }
        snprintf(default_base, sizeof(default_base), "%s/hostd.jobs", probe.root);
        had_default_base = access(default_base, F_OK) >= 0;

        /* Orphans of a crashed test child come to us, to be reaped. */
        (void) prctl(PR_SET_CHILD_SUBREAPER, 1);

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
                perror("fork");
                return EXIT_FAILURE;
        }
        if (pid == 0) {
                alarm(120);
                r = run_tests();
                fflush(stdout);
                _exit(r);
        }

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        perror("waitpid");
                        status = EXIT_FAILURE << 8;
                        break;
                }

        r = cleanup(!had_default_base);
        if (r < 0) {
                fprintf(stderr, "test-cgroup: cleanup failed: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        if (!WIFEXITED(status)) {
                printf("test-cgroup: test process died (signal %d), 0 passed, 1 failed\n",
                       WIFSIGNALED(status) ? WTERMSIG(status) : 0);
                return EXIT_FAILURE;
        }
        return WEXITSTATUS(status);
}
