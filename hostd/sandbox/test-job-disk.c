/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/loop.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "job-disk.h"
#include "log.h"
#include "macros.h"
#include "rm-rf.h"
#include "test-util.h"

/* The job's uid 0 on the host. */
#define OWNER ((uid_t) 524288)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)


static char base[64];
static int base_fd = -1;
static pid_t main_pid;
/* A child holding a mount namespace, killed by cleanup() if we fail. */
static pid_t live_child;

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

static void path_of(char *buf, size_t size, const char *rel) {
        snprintf(buf, size, "%s/%s", base, rel);
}

static bool exists_at(int dfd, const char *name) {
        struct stat st;
        return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0;
}

/* Calls f(sysname, backing, userdata) for each bound loop device. */
static unsigned for_each_bound_loop(bool (*f)(const char *sysname, const char *backing, void *userdata),
                                    void *userdata) {
        _cleanup_closedir_ DIR *d = opendir("/sys/block");
        unsigned n = 0;

        if (!d)
                return 0;
        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_free_ char *backing = NULL;
                char p[PATH_MAX];
                size_t l;

                if (!startswith(de->d_name, "loop"))
                        continue;
                snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file", de->d_name);
                if (read_file_at(AT_FDCWD, p, PATH_MAX + 64, 0, &backing, &l) < 0)
                        continue;
                while (l > 0 && backing[l - 1] == '\n')
                        backing[--l] = 0;
                if (f(de->d_name, backing, userdata))
                        n++;
        }
        return n;
}

static bool backing_is(_unused_ const char *sysname, const char *backing, void *userdata) {
        const char *path = userdata, *rest = startswith(backing, path);

        return rest && (isempty(rest) || streq(rest, " (deleted)"));
}

/* How many loop devices are bound to base/rel. */
static unsigned loops_for(const char *rel) {
        char p[PATH_MAX];

        path_of(p, sizeof(p), rel);
        return for_each_bound_loop(backing_is, p);
}

/* The mount namespace of a dead process goes away asynchronously, and
 * with it the last reference to the loop device. */
static bool wait_loops_gone(const char *rel, uint64_t usec) {
        uint64_t deadline = now_usec() + usec;

        while (loops_for(rel) > 0) {
                if (now_usec() > deadline)
                        return false;
                usleep(10 * 1000);
        }
        return true;
}

static uint64_t host_free(void) {
        struct statvfs sv;

        if (statvfs(base, &sv) < 0)
                return 0;
        return (uint64_t) sv.f_bavail * sv.f_frsize;
}

static uint64_t allocated(const char *rel) {
        struct stat st;

        if (fstatat(base_fd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return UINT64_MAX;
        return (uint64_t) st.st_blocks * 512;
}

/* In a child: a private mount namespace, so that nothing we mount
 * outlives the child, even if the test crashes. */
static bool private_mount_ns(void) {
        if (unshare(CLONE_NEWNS) < 0)
                return false;
        return mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) >= 0;
}

/* Runs f in a forked child and adds its CHECK counts to ours. */
static void run_child(void (*f)(void *userdata), void *userdata) {
        unsigned counts[2] = {};
        int p[2], status;
        pid_t pid;

        SETUP(pipe2(p, O_CLOEXEC) >= 0, "pipe: %m");
        pid = fork();
        SETUP(pid >= 0, "fork: %m");
        if (pid < 0)
                return;
        if (pid == 0) {
                close(p[0]);
                test_passed = test_failed = 0;
                f(userdata);
                counts[0] = test_passed;
                counts[1] = test_failed;
                _exit(write(p[1], counts, sizeof(counts)) == (ssize_t) sizeof(counts) ? 0 : 1);
        }
        close(p[1]);
        live_child = pid;
        if (read(p[0], counts, sizeof(counts)) == (ssize_t) sizeof(counts)) {
                test_passed += counts[0];
                test_failed += counts[1];
        } else
                CHECK_MSG(false, "child died without reporting");
        close(p[0]);
        waitpid(pid, &status, 0);
        live_child = 0;
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
}

static bool become_owner(void) {
        return setgroups(0, NULL) >= 0 && setresgid(OWNER, OWNER, OWNER) >= 0 &&
                setresuid(OWNER, OWNER, OWNER) >= 0;
}

/* Writes 1 MiB blocks until an error; returns the bytes written and the errno. */
static uint64_t fill(int dfd, const char *name, int *ret_errno) {
        static char buf[1 << 20];
        _cleanup_close_ int fd = -1;
        uint64_t total = 0;

        memset(buf, 0xa5, sizeof(buf));
        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
                *ret_errno = errno;
                return 0;
        }
        for (;;) {
                ssize_t k = write(fd, buf, sizeof(buf));
                if (k < 0) {
                        *ret_errno = errno;
                        break;
                }
                total += (uint64_t) k;
                if (total > 2 * GiB) { /* runaway: the quota is not enforced */
                        *ret_errno = 0;
                        break;
                }
        }
        /* Delayed allocation reserved the blocks at write(); this must not fail. */
        if (fsync(fd) < 0 && *ret_errno == ENOSPC)
                *ret_errno = -errno;
        return total;
}

static void child_fill(_unused_ void *userdata) {
        char mnt[PATH_MAX], mnt2[PATH_MAX];
        _cleanup_close_ int root_fd = -1;
        uint64_t free_before, free_after, used = 0, total = 0, written;
        struct stat st;
        int r, idx = -1, err = 0;

        path_of(mnt, sizeof(mnt), "mnt-a");
        CHECK(private_mount_ns());
        r = job_disk_mount(base_fd, "a.img", mnt, &idx);
        CHECK_MSG(r == 0, "job_disk_mount: %s", strerror(-r));
        if (r < 0)
                return;
        CHECK(idx >= 0);
        CHECK(loops_for("a.img") == 1);
        {
                _cleanup_free_ char *dio = NULL;
                char p[PATH_MAX];

                snprintf(p, sizeof(p), "/sys/block/loop%i/loop/dio", idx);
                if (read_file_at(AT_FDCWD, p, 4096, 0, &dio, NULL) >= 0)
                        printf("  loop%i direct I/O: %s", idx, dio);
        }

        /* A second attach of the same image would corrupt it. */
        path_of(mnt2, sizeof(mnt2), "mnt-x");
        r = job_disk_mount(base_fd, "a.img", mnt2, NULL);
        CHECK_MSG(r == -EBUSY, "second mount: %i", r);
        CHECK(loops_for("a.img") == 1);

        root_fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(root_fd >= 0);
        CHECK(fstat(root_fd, &st) >= 0 && st.st_uid == OWNER && st.st_gid == OWNER);
        CHECK(job_disk_usage(root_fd, &used, &total) == 0);
        printf("  64 MiB image: %" PRIu64 " KiB usable, %" PRIu64 " KiB used when empty, loop%i\n",
               total >> 10, used >> 10, idx);

        {
                struct statvfs sv;
                CHECK(fstatvfs(root_fd, &sv) >= 0 && (sv.f_flag & ST_NOSUID) && (sv.f_flag & ST_NODEV));
                printf("  64 MiB image: %" PRIu64 " inodes\n", (uint64_t) sv.f_files);
        }

        free_before = host_free();
        CHECK(become_owner());
        written = fill(root_fd, "fill", &err);
        free_after = host_free();
        CHECK_MSG(err == ENOSPC || err == EDQUOT, "fill ended with %i (%s)", err, strerror(abs(err)));
        CHECK_MSG(written >= 48 * MiB && written <= 64 * MiB, "wrote %" PRIu64 " bytes", written);
        CHECK(job_disk_usage(root_fd, &used, &total) == 0);
        /* The last 1 MiB write may fail with a little less than 1 MiB free:
         * delayed allocation reserves for the worst case of its metadata. */
        CHECK_MSG(total - used <= 2 * MiB, "used %" PRIu64 " of %" PRIu64, used, total);
        CHECK_MSG(free_before < free_after + 70 * MiB, "host free space dropped by %" PRIi64 " KiB",
                  ((int64_t) free_before - (int64_t) free_after) / 1024);
        printf("  as uid %u: wrote %" PRIu64 " KiB before %s; usage %" PRIu64 "/%" PRIu64 " KiB; "
               "host free space dropped by %" PRIi64 " KiB\n",
               (unsigned) OWNER, written >> 10, strerror(abs(err)), used >> 10, total >> 10,
               ((int64_t) free_before - (int64_t) free_after) / 1024);

        /* Still ENOSPC for a new file, and for root of the job alike (-m 0). */
        CHECK(openat(root_fd, "more", O_WRONLY | O_CREAT | O_CLOEXEC, 0644) >= 0 || errno == ENOSPC);
}

static void test_fill(void) {
        uint64_t alloc;
        int r;

        printf("fill a 64 MiB disk:\n");
        r = job_disk_create(base_fd, "a.img", 64 * MiB, OWNER);
        CHECK_MSG(r == 0, "job_disk_create: %s", strerror(-r));
        if (r < 0)
                return;
        alloc = allocated("a.img");
        CHECK_MSG(alloc < 16 * MiB, "a fresh image takes %" PRIu64 " bytes", alloc);
        printf("  fresh 64 MiB image: %" PRIu64 " KiB allocated on the host\n", alloc >> 10);
        SETUP(mkdirat(base_fd, "mnt-a", 0755) >= 0, "mkdir: %m");

        run_child(child_fill, NULL);
        printf("  filled image: %" PRIu64 " KiB allocated on the host\n", allocated("a.img") >> 10);

        /* The namespace died with the child; autoclear detaches the device. */
        CHECK_MSG(wait_loops_gone("a.img", 5 * 1000000ULL), "loop device still bound after the namespace died");
        CHECK(job_disk_remove(base_fd, "a.img") == 0);
        CHECK(!exists_at(base_fd, "a.img"));
        CHECK(job_disk_remove(base_fd, "a.img") == 0);
}

/* A job killed with SIGKILL: its namespace dies, the device still goes. */
static void test_killed(void) {
        char mnt[PATH_MAX];
        int p[2], status, r;
        char c = 1;
        pid_t pid;

        printf("killed job:\n");
        r = job_disk_create(base_fd, "b.img", 64 * MiB, OWNER);
        CHECK_MSG(r == 0, "job_disk_create: %s", strerror(-r));
        if (r < 0)
                return;
        SETUP(mkdirat(base_fd, "mnt-b", 0755) >= 0, "mkdir: %m");
        path_of(mnt, sizeof(mnt), "mnt-b");

        SETUP(pipe2(p, O_CLOEXEC) >= 0, "pipe: %m");
        pid = fork();
        if (pid == 0) {
                _cleanup_close_ int fd = -1;

                close(p[0]);
                c = private_mount_ns() && job_disk_mount(base_fd, "b.img", mnt, NULL) == 0 ? 0 : 1;
                fd = openat(AT_FDCWD, mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd >= 0 && become_owner()) {
                        _cleanup_close_ int f = openat(fd, "busy", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                        if (write(f, "x", 1) != 1)
                                c = 1;
                }
                if (write(p[1], &c, 1) != 1)
                        _exit(1);
                for (;;)
                        pause();
        }
        close(p[1]);
        live_child = pid;
        CHECK(read(p[0], &c, 1) == 1 && c == 0);
        close(p[0]);

        CHECK(loops_for("b.img") == 1);
        /* Still mounted in a live namespace: refused, image kept. */
        r = job_disk_remove(base_fd, "b.img");
        CHECK_MSG(r == -EBUSY, "remove while mounted: %i", r);
        CHECK(exists_at(base_fd, "b.img"));
        CHECK(loops_for("b.img") == 1);

        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        live_child = 0;
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        CHECK_MSG(wait_loops_gone("b.img", 5 * 1000000ULL), "loop device still bound after SIGKILL");
        CHECK(job_disk_remove(base_fd, "b.img") == 0);
        CHECK(!exists_at(base_fd, "b.img"));
}

/* losetup -f --show: a device bound without autoclear, as a crash in the
 * middle of a two-step attach or an operator's losetup leaves it. */
static bool losetup(const char *rel, char *ret_dev, size_t size) {
        char path[PATH_MAX];
        int p[2], status;
        ssize_t n = 0;
        pid_t pid;

        path_of(path, sizeof(path), rel);
        if (pipe2(p, O_CLOEXEC) < 0)
                return false;
        pid = fork();
        if (pid == 0) {
                dup2(p[1], STDOUT_FILENO);
                execlp("losetup", "losetup", "-f", "--show", path, (char *) NULL);
                _exit(127);
        }
        close(p[1]);
        for (ssize_t k; size - 1 > (size_t) n && (k = read(p[0], ret_dev + n, size - 1 - (size_t) n)) > 0;)
                n += k;
        close(p[0]);
        ret_dev[n] = 0;
        while (n > 0 && ret_dev[n - 1] == '\n')
                ret_dev[--n] = 0;
        return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                startswith(ret_dev, "/dev/loop");
}

static bool autoclear_of(const char *dev) {
        _cleanup_free_ char *s = NULL;
        char p[PATH_MAX];

        snprintf(p, sizeof(p), "/sys/block/%s/loop/autoclear", dev + strlen("/dev/"));
        return read_file_at(AT_FDCWD, p, 4096, 0, &s, NULL) >= 0 && s[0] == '1';
}

static void test_stale_loop(void) {
        _cleanup_close_ int other_fd = -1;
        char dev[64], dev2[64];
        int r;

        printf("stale loop devices:\n");
        r = job_disk_create(base_fd, "c.img", 64 * MiB, OWNER);
        CHECK_MSG(r == 0, "job_disk_create: %s", strerror(-r));
        /* Same name in another directory: must be left alone. */
        SETUP(mkdirat(base_fd, "other", 0700) >= 0, "mkdir: %m");
        other_fd = openat(base_fd, "other", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(job_disk_create(other_fd, "c.img", 64 * MiB, OWNER) == 0);
        if (r < 0)
                return;

        CHECK(losetup("c.img", dev, sizeof(dev)));
        CHECK(losetup("other/c.img", dev2, sizeof(dev2)));
        CHECK(loops_for("c.img") == 1);
        CHECK(loops_for("other/c.img") == 1);
        CHECK(!autoclear_of(dev));
        CHECK(!autoclear_of(dev2));
        printf("  %s and %s bound without autoclear\n", dev, dev2);

        r = job_disk_remove(base_fd, "c.img");
        CHECK_MSG(r == 0, "job_disk_remove: %i", r);
        CHECK(loops_for("c.img") == 0);
        CHECK(!exists_at(base_fd, "c.img"));
        CHECK(loops_for("other/c.img") == 1);

        CHECK(job_disk_remove(other_fd, "c.img") == 0);
        CHECK(loops_for("other/c.img") == 0);
        CHECK(!exists_at(other_fd, "c.img"));
}

static void child_mount_expect(void *userdata) {
        const char *name = userdata;
        char mnt[PATH_MAX];
        int r, expect;

        expect = startswith(name, "sym") ? -ELOOP : -EINVAL;
        path_of(mnt, sizeof(mnt), "mnt-x");
        CHECK(private_mount_ns());
        r = job_disk_mount(base_fd, name, mnt, NULL);
        CHECK_MSG(r < 0 && (r == expect || !startswith(name, "sym")), "mount %s: %i", name, r);
        printf("  mount of %s refused: %s\n", name, strerror(-r));
}

static void test_refusals(void) {
        static const uint64_t bad[] = {
                0, 1, JOB_DISK_SIZE_MIN - 1, JOB_DISK_SIZE_MAX + 1, UINT64_MAX,
        };
        _cleanup_close_ int proc_fd = -1;
        struct stat st;
        int r;

        printf("refusals:\n");
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                r = job_disk_create(base_fd, "bad.img", bad[i], OWNER);
                CHECK_MSG(r == -ERANGE, "size %" PRIu64 ": %i", bad[i], r);
        }
        CHECK(!exists_at(base_fd, "bad.img"));
        CHECK(job_disk_create(base_fd, "a/b", 64 * MiB, OWNER) == -EINVAL);
        CHECK(job_disk_create(base_fd, "..", 64 * MiB, OWNER) == -EINVAL);
        CHECK(job_disk_create(base_fd, "", 64 * MiB, OWNER) == -EINVAL);
        CHECK(job_disk_remove(base_fd, "..") == -EINVAL);

        /* An existing image is never reformatted. */
        CHECK(job_disk_create(base_fd, "d.img", 64 * MiB, OWNER) == 0);
        CHECK(job_disk_create(base_fd, "d.img", 128 * MiB, OWNER) == -EEXIST);
        CHECK(fstatat(base_fd, "d.img", &st, 0) >= 0 && (uint64_t) st.st_size == 64 * MiB &&
              (st.st_mode & 07777) == 0600 && st.st_uid == 0);
        CHECK(job_disk_remove(base_fd, "d.img") == 0);

        /* A symlink in place of the image: neither followed nor formatted. */
        {
                _cleanup_close_ int fd = openat(base_fd, "victim", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                CHECK(fd >= 0 && write(fd, "precious", 8) == 8);
        }
        SETUP(symlinkat("victim", base_fd, "sym.img") >= 0, "symlink: %m");
        SETUP(symlinkat("nowhere", base_fd, "sym-dangling.img") >= 0, "symlink: %m");
        CHECK(job_disk_create(base_fd, "sym.img", 64 * MiB, OWNER) == -EEXIST);
        CHECK(job_disk_create(base_fd, "sym-dangling.img", 64 * MiB, OWNER) == -EEXIST);
        CHECK(!exists_at(base_fd, "nowhere"));
        CHECK(fstatat(base_fd, "victim", &st, AT_SYMLINK_NOFOLLOW) >= 0 && st.st_size == 8);

        SETUP(mkdirat(base_fd, "mnt-x", 0755) >= 0, "mkdir: %m");
        run_child(child_mount_expect, (void *) "sym.img");

        /* Not an ext4 image: the mount fails and the device detaches. */
        {
                _cleanup_close_ int fd = openat(base_fd, "garbage.img", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                CHECK(fd >= 0 && ftruncate(fd, 64 * MiB) >= 0);
        }
        run_child(child_mount_expect, (void *) "garbage.img");
        CHECK_MSG(wait_loops_gone("garbage.img", 5 * 1000000ULL), "loop device left bound after a failed mount");
        CHECK(job_disk_remove(base_fd, "garbage.img") == 0);

        /* Removing a symlink removes the link, not its target. */
        CHECK(job_disk_remove(base_fd, "sym.img") == 0);
        CHECK(!exists_at(base_fd, "sym.img") && exists_at(base_fd, "victim"));
        CHECK(job_disk_remove(base_fd, "sym-dangling.img") == 0);
        CHECK(job_disk_remove(base_fd, "never-existed.img") == 0);

        proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(job_disk_usage(proc_fd, NULL, NULL) == -EMEDIUMTYPE);
}

static void child_time_mount(void *userdata) {
        uint64_t *create_usec = userdata, t0, used = 0, total = 0;
        _cleanup_close_ int fd = -1;
        char mnt[PATH_MAX];
        int r;

        path_of(mnt, sizeof(mnt), "mnt-t");
        CHECK(private_mount_ns());
        t0 = now_usec();
        r = job_disk_mount(base_fd, "t.img", mnt, NULL);
        t0 = now_usec() - t0;
        CHECK_MSG(r == 0, "mount: %s", strerror(-r));
        fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(job_disk_usage(fd, &used, &total) == 0);
        {
                struct statvfs sv;
                if (fstatvfs(fd, &sv) >= 0)
                        printf("  20 GiB image: %" PRIu64 " inodes\n", (uint64_t) sv.f_files);
        }
        printf("  20 GiB image: create %.1f ms, mount %.1f ms; %" PRIu64 " MiB usable (%.2f%% overhead), "
               "%" PRIu64 " KiB used\n",
               *create_usec / 1000.0, t0 / 1000.0, total >> 20,
               100.0 - 100.0 * (double) total / (double) (20 * GiB), used >> 10);
        /* Give the kernel's lazy inode table init a moment, to see it does not run. */
        usleep(500 * 1000);
}

static void test_timing(void) {
        uint64_t t0;
        int r;

        printf("timing:\n");
        t0 = now_usec();
        r = job_disk_create(base_fd, "t.img", 20 * GiB, OWNER);
        t0 = now_usec() - t0;
        CHECK_MSG(r == 0, "job_disk_create 20 GiB: %s", strerror(-r));
        if (r < 0)
                return;
        printf("  fresh 20 GiB image: %" PRIu64 " KiB allocated on the host\n", allocated("t.img") >> 10);
        SETUP(mkdirat(base_fd, "mnt-t", 0755) >= 0, "mkdir: %m");
        run_child(child_time_mount, &t0);
        printf("  20 GiB image after mount+umount: %" PRIu64 " KiB allocated on the host\n",
               allocated("t.img") >> 10);
        CHECK(wait_loops_gone("t.img", 5 * 1000000ULL));
        CHECK(job_disk_remove(base_fd, "t.img") == 0);

        /* The upper bound is ours; the state filesystem may have a lower one. */
        t0 = now_usec();
        r = job_disk_create(base_fd, "max.img", JOB_DISK_SIZE_MAX, OWNER);
        t0 = now_usec() - t0;
        CHECK_MSG(r == 0 || r == -EFBIG, "64 TiB: %i", r);
        printf("  64 TiB image: %s (%.1f ms)\n", r == 0 ? "created" : strerror(-r), t0 / 1000.0);
        CHECK(job_disk_remove(base_fd, "max.img") == 0);
}

/* The host filesystem fills before the quota: a 64 MiB image on a 40 MiB
 * tmpfs standing in for the state disk. What does the job see? */
static void child_host_full(_unused_ void *userdata) {
        _cleanup_close_ int dfd = -1, root_fd = -1;
        char host[PATH_MAX], mnt[PATH_MAX];
        uint64_t written;
        struct statvfs sv;
        int r, err = 0;

        path_of(host, sizeof(host), "small-host");
        path_of(mnt, sizeof(mnt), "mnt-h");
        CHECK(private_mount_ns());
        CHECK(mount("tmpfs", host, "tmpfs", MS_NOSUID | MS_NODEV, "size=40m") >= 0);
        dfd = open(host, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = job_disk_create(dfd, "h.img", 64 * MiB, OWNER);
        CHECK_MSG(r == 0, "create: %s", strerror(-r));
        r = job_disk_mount(dfd, "h.img", mnt, NULL);
        CHECK_MSG(r == 0, "mount: %s", strerror(-r));
        if (r < 0)
                return;
        root_fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(become_owner());
        written = fill(root_fd, "fill", &err);
        CHECK(fstatvfs(root_fd, &sv) >= 0);
        printf("  host full first: job wrote %" PRIu64 " KiB, then %s%s; job fs %s\n", written >> 10,
               err < 0 ? "fsync: " : "", strerror(abs(err)), sv.f_flag & ST_RDONLY ? "read-only" : "still read-write");
        /* Only what the host had could land; the job sees an error, sooner or later. */
        CHECK(err != 0);
}

static void test_host_full(void) {
        printf("host full before the quota:\n");
        SETUP(mkdirat(base_fd, "small-host", 0755) >= 0, "mkdir: %m");
        SETUP(mkdirat(base_fd, "mnt-h", 0755) >= 0, "mkdir: %m");
        run_child(child_host_full, NULL);
        CHECK(wait_loops_gone("small-host/h.img", 5 * 1000000ULL));
}

static bool detach_ours(const char *sysname, const char *backing, _unused_ void *userdata) {
        char p[PATH_MAX];
        int fd;

        if (!startswith(backing, base))
                return false;
        snprintf(p, sizeof(p), "/dev/%s", sysname);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                (void) ioctl(fd, LOOP_CLR_FD);
                close(fd);
        }
        return true;
}

/* On any exit of the main process, leave nothing behind: no child holding
 * a mount namespace, no loop device, no files. */
static void cleanup(void) {
        _cleanup_close_ int parent_fd = -1;

        if (getpid() != main_pid || isempty(base))
                return;
        if (live_child > 0) {
                kill(live_child, SIGKILL);
                waitpid(live_child, NULL, 0);
        }
        for (unsigned i = 0; i < 100 && for_each_bound_loop(detach_ours, NULL) > 0; i++)
                usleep(50 * 1000);
        parent_fd = open("/var/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent_fd >= 0 && rm_rf_at(parent_fd, base + strlen("/var/tmp/")) < 0)
                fprintf(stderr, "test-job-disk: could not remove %s\n", base);
        base[0] = 0;
}

static void on_signal(int sig) {
        cleanup();
        signal(sig, SIG_DFL);
        raise(sig);
}

int main(void) {
        char tmpl[] = "/var/tmp/test-job-disk.XXXXXX";
        unsigned fds_before;

        log_setup("test-job-disk", LOG_TARGET_STDERR);
        if (geteuid() != 0) {
                fprintf(stderr, "test-job-disk: needs root, skipping\n");
                return 77;
        }
        if (!job_disk_supported()) {
                fprintf(stderr, "test-job-disk: no loop devices or mkfs.ext4 here, skipping\n");
                return 77;
        }
        /* Children print too; do not let them repeat our buffered output. */
        setvbuf(stdout, NULL, _IOLBF, 0);

        main_pid = getpid();
        base_fd = test_mkdtemp(tmpl, base, sizeof(base));
        if (base_fd < 0)
                return 1;
        atexit(cleanup);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        fds_before = test_count_fds();

        CHECK(!job_disk_supported() || access("/dev/loop-control", F_OK) >= 0);
        test_refusals();
        test_fill();
        test_killed();
        test_stale_loop();
        test_timing();
        test_host_full();

        CHECK_MSG(test_count_fds() == fds_before, "fd leak %u -> %u", fds_before, test_count_fds());
        CHECK_MSG(for_each_bound_loop(detach_ours, NULL) == 0, "loop devices left bound");

        cleanup();
        return test_summary("test-job-disk");
}
