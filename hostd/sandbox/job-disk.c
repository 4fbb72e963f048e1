/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "job-disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "fork-util.h"
#include "log.h"
#include "macros.h"

#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
#endif

/* mkfs.ext4 of a 20 GiB image takes ~30 ms; a minute means a hung disk. */
#define MKFS_TIMEOUT_USEC (60ULL * 1000 * 1000)
/* Enough of mkfs's output to say what went wrong, not a flood in the log. */
#define MKFS_OUTPUT_MAX 4096
/* LOOP_CTL_GET_FREE and LOOP_CONFIGURE are not atomic together: another
 * process may take the device in between (EBUSY). Each retry gets a fresh
 * free device, so only a storm of concurrent attaches exhausts this. */
#define LOOP_ATTACH_TRIES 64
/* After LOOP_CLR_FD, the detach happens when the last opener (us, or a
 * udev probe) closes the device; wait that long for it. */
#define LOOP_DETACH_WAIT_USEC (2ULL * 1000 * 1000)

static const char *const mkfs_paths[] = {
        "/sbin/mkfs.ext4",
        "/usr/sbin/mkfs.ext4",
};

static bool name_is_valid(const char *name) {
        return !isempty(name) && !strchr(name, '/') && !streq(name, ".") && !streq(name, "..");
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

static const char *find_mkfs(void) {
        for (size_t i = 0; i < ELEMENTSOF(mkfs_paths); i++)
                if (access(mkfs_paths[i], X_OK) >= 0)
                        return mkfs_paths[i];
        return NULL;
}

/* In the child of safe_fork(): only async-signal-safe calls until
 * execve().  The image is passed as fd 3 and named /proc/self/fd/3, so mkfs
 * formats the very file we created, whatever happens to its name meanwhile. */
_noreturn_ static void mkfs_child(const char *mkfs, int image_fd, int out_fd, char *opts) {
        int null_fd, fds[3];
        char *const envp[] = {
                (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                (char *) "LC_ALL=C",
                NULL,
        };

        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (null_fd < 0)
                _exit(127);
        /* Move everything above the target numbers first, so that no dup2()
         * below overwrites a source that happens to be 0..3. */
        fds[0] = fcntl(null_fd, F_DUPFD_CLOEXEC, 10);
        fds[1] = fcntl(out_fd, F_DUPFD_CLOEXEC, 10);
        fds[2] = fcntl(image_fd, F_DUPFD_CLOEXEC, 10);
        if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0)
                _exit(127);
        if (dup2(fds[0], STDIN_FILENO) < 0 || dup2(fds[1], STDOUT_FILENO) < 0 ||
            dup2(fds[1], STDERR_FILENO) < 0 || dup2(fds[2], 3) < 0)
                _exit(127);
        (void) close_range(4, ~0U, 0);

        {
                /* -b 4096: without it images under 512 MiB get 1 KiB blocks
                 * ("small" in mke2fs.conf), which a direct-I/O loop device
                 * on a disk with 4 KiB sectors cannot mount. -m 0: the job is the only user, reserving
                 * blocks for "root" would only shrink the quota. */
                char *const argv[] = {
                        (char *) "mkfs.ext4", (char *) "-q", (char *) "-F",
                        (char *) "-b", (char *) "4096", (char *) "-m", (char *) "0",
                        (char *) "-E", opts, (char *) "/proc/self/fd/3", NULL,
                };
                execve(mkfs, argv, envp);
        }
        _exit(127);
}

/* Reads the child's output until EOF or the deadline, keeping the first
 * MKFS_OUTPUT_MAX bytes. Returns 0 at EOF, -ETIMEDOUT. */
static int read_output(int fd, uint64_t deadline, char *buf, size_t size, size_t *ret_len) {
        size_t len = 0;

        for (;;) {
                char scratch[512];
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t n = now_usec();
                ssize_t k;
                int r;

                if (n >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) MIN((deadline - n + 999) / 1000, (uint64_t) INT_MAX));
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (r == 0)
                        continue;

                /* Past the limit, keep draining so the child never blocks on a full pipe. */
                if (len + 1 < size)
                        k = read(fd, buf + len, size - len - 1);
                else
                        k = read(fd, scratch, sizeof(scratch));
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                if (len + 1 < size)
                        len += (size_t) k;
        }
        buf[len] = 0;
        *ret_len = len;
        return 0;
}

static int run_mkfs(int image_fd, uid_t owner) {
        _cleanup_close_ int out_r = -1, out_w = -1;
        char output[MKFS_OUTPUT_MAX + 1] = "", opts[128];
        const char *mkfs;
        size_t len = 0;
        int status, r;
        pid_t pid;

        mkfs = find_mkfs();
        if (!mkfs)
                return log_error_errno(-ENOENT, "mkfs.ext4 not found in /sbin or /usr/sbin, cannot make job disks.");

        /* Formatted here: snprintf() is not async-signal-safe in the child.
         * lazy_*_init: the image is sparse, the tables already read as zeros. */
        snprintf(opts, sizeof(opts), "root_owner=%u:%u,lazy_itable_init=1,lazy_journal_init=1,nodiscard",
                 (unsigned) owner, (unsigned) owner);

        {
                int p[2];

                if (pipe2(p, O_CLOEXEC) < 0)
                        return log_error_errno(negative_errno(), "Cannot create a pipe for mkfs.ext4: %m");
                out_r = p[0];
                out_w = p[1];
        }

        /* If hostd dies, so does mkfs; the half-made image is removed at
         * the job's cleanup. */
        pid = safe_fork(NULL, FORK_DEATHSIG_SIGKILL | FORK_RESET_SIGNALS);
        if (pid < 0)
                return log_error_errno(pid, "Cannot fork for mkfs.ext4: %m");
        if (pid == 0)
                mkfs_child(mkfs, image_fd, out_w, opts);

        out_w = safe_close(out_w);
        r = read_output(out_r, now_usec() + MKFS_TIMEOUT_USEC, output, sizeof(output), &len);
        if (r < 0)
                (void) kill(pid, SIGKILL);

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return log_error_errno(negative_errno(), "Cannot wait for mkfs.ext4: %m");

        if (r == -ETIMEDOUT)
                return log_error_errno(r, "mkfs.ext4 did not finish within %llu s, killed.",
                                       MKFS_TIMEOUT_USEC / 1000000ULL);
        if (r < 0)
                return log_error_errno(r, "Cannot read the output of mkfs.ext4: %m");

        /* Strip the final newline, so the log line is one line when short. */
        while (len > 0 && output[len - 1] == '\n')
                output[--len] = 0;

        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (WIFEXITED(status))
                return log_error_errno(-EIO, "mkfs.ext4 failed with exit status %i: %s",
                                       WEXITSTATUS(status), isempty(output) ? "(no output)" : output);
        return log_error_errno(-EIO, "mkfs.ext4 killed by signal %i: %s",
                               WIFSIGNALED(status) ? WTERMSIG(status) : 0,
                               isempty(output) ? "(no output)" : output);
}

int job_disk_create(int dirfd, const char *name, uint64_t size, uid_t owner) {
        _cleanup_close_ int fd = -1;
        int r;

        if (!name_is_valid(name))
                return -EINVAL;
        if (size < JOB_DISK_SIZE_MIN || size > JOB_DISK_SIZE_MAX)
                return -ERANGE;
        if (owner == (uid_t) -1)
                return -EINVAL;

        /* O_EXCL|O_CREAT fails on anything already there, a dangling symlink
         * included: we never format a file we did not just create. */
        fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return negative_errno();

        /* The umask may have taken bits away, never added; be exact anyway. */
        if (fchmod(fd, 0600) < 0) {
                r = negative_errno();
                goto fail;
        }
        /* Sparse: blocks are allocated on the host only as the job writes. */
        if (ftruncate(fd, (off_t) size) < 0) {
                r = log_error_errno(negative_errno(), "Cannot size job disk %s to %" PRIu64 " bytes: %m", name, size);
                goto fail;
        }

        r = run_mkfs(fd, owner);
        if (r < 0)
                goto fail;

        log_debug("Created job disk %s: %" PRIu64 " MiB, root owned by %u.", name, size >> 20, (unsigned) owner);
        return 0;

fail:
        (void) unlinkat(dirfd, name, 0);
        return r;
}

/* Binds image_fd to the loop device behind loop_fd, detaching by itself on
 * last close. Returns -EBUSY if the device was taken meanwhile. */
static int loop_attach(int loop_fd, int image_fd) {
        struct loop_config config = {
                .fd = (uint32_t) image_fd,
                /* Direct I/O: the page cache of the job's ext4 is enough, a
                 * second copy of every block in the cache of the image file
                 * would double the memory a build's I/O takes. */
                .info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO,
        };
        struct loop_info64 info = {
                .lo_flags = LO_FLAGS_AUTOCLEAR,
        };

        if (ioctl(loop_fd, LOOP_CONFIGURE, &config) >= 0)
                return 0;
        if (errno == EBUSY)
                return -EBUSY;
        /* Some backing filesystems cannot do direct I/O (EINVAL); without. */
        if (errno == EINVAL) {
                config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
                if (ioctl(loop_fd, LOOP_CONFIGURE, &config) >= 0)
                        return 0;
                if (errno == EBUSY)
                        return -EBUSY;
        }
        if (errno != ENOTTY && errno != EINVAL)
                return negative_errno();

        /* Kernels before 5.8: two steps. A crash between them leaves the
         * device bound without autoclear; job_disk_remove() detaches it. */
        if (ioctl(loop_fd, LOOP_SET_FD, image_fd) < 0)
                return negative_errno();
        if (ioctl(loop_fd, LOOP_SET_STATUS64, &info) < 0) {
                int r = negative_errno();

                (void) ioctl(loop_fd, LOOP_CLR_FD);
                return r;
        }
        return 0;
}

int job_disk_mount(int dirfd, const char *name, const char *target, int *ret_loop_index) {
        _cleanup_close_ int image_fd = -1, control_fd = -1, loop_fd = -1;
        char dev[sizeof("/dev/loop") + 12];
        struct stat st;
        int nr = -1, r = -EBUSY;

        if (!name_is_valid(name) || !target || target[0] != '/')
                return -EINVAL;

        image_fd = openat(dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (image_fd < 0)
                return negative_errno();
        if (fstat(image_fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        /* Two loop devices on one image are two ext4 instances writing the
         * same blocks: corruption. The loop driver keeps a reference to this
         * very open file, so the lock lives exactly as long as the device
         * stays bound, with no state of ours to get out of sync. */
        if (flock(image_fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ?
                        log_error_errno(-EBUSY, "Job disk %s is attached to a loop device already.", name) :
                        negative_errno();

        control_fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (control_fd < 0)
                return log_error_errno(negative_errno(), "Cannot open /dev/loop-control: %m");

        for (unsigned i = 0; i < LOOP_ATTACH_TRIES; i++) {
                nr = ioctl(control_fd, LOOP_CTL_GET_FREE);
                if (nr < 0)
                        return log_error_errno(negative_errno(), "Cannot get a free loop device: %m");
                snprintf(dev, sizeof(dev), "/dev/loop%i", nr);

                loop_fd = open(dev, O_RDWR | O_CLOEXEC | O_NOCTTY);
                if (loop_fd < 0) {
                        /* Removed by someone else (LOOP_CTL_REMOVE) in between. */
                        if (errno == ENOENT || errno == ENXIO) {
                                r = -EBUSY;
                                continue;
                        }
                        return log_error_errno(negative_errno(), "Cannot open %s: %m", dev);
                }

                r = loop_attach(loop_fd, image_fd);
                if (r != -EBUSY)
                        break;
                loop_fd = safe_close(loop_fd);
        }
        if (r < 0)
                return log_error_errno(r, "Cannot attach job disk %s to a loop device: %m", name);

        /* nosuid, nodev: the job is root in its user namespace and owns the
         * whole tree; a setuid file or device node in it must mean nothing.
         * errors=remount-ro: on corruption or a failing host disk, stop
         * writing rather than make it worse, without panicking the host.
         * noinit_itable: the inode tables of a fresh sparse image already
         * read as zeros, so the kernel's lazy zeroing would only spend host
         * I/O (hundreds of MiB for a big image) for nothing. */
        if (mount(dev, target, "ext4", MS_NOSUID | MS_NODEV, "errors=remount-ro,noinit_itable") < 0)
                /* Our close of loop_fd detaches the device (autoclear). */
                return log_error_errno(negative_errno(), "Cannot mount job disk %s (%s) on %s: %m", name, dev, target);

        log_debug("Mounted job disk %s via %s on %s.", name, dev, target);
        if (ret_loop_index)
                *ret_loop_index = nr;
        return 0;
}

int job_disk_usage(int fs_root_fd, uint64_t *ret_used, uint64_t *ret_total) {
        struct statfs sfs;

        if (fstatfs(fs_root_fd, &sfs) < 0)
                return negative_errno();
        if (sfs.f_type != EXT4_SUPER_MAGIC)
                return -EMEDIUMTYPE;

        /* ext4 leaves its own overhead (journal, inode tables) out of
         * f_blocks, and keeps min(2%, 4096 blocks) of the rest back for
         * metadata even with -m 0: that is in f_bfree but never in
         * f_bavail. So "total" is what the job holds plus what it can still
         * get, and reads 100% when its writes fail with ENOSPC. */
        if (ret_used)
                *ret_used = ((uint64_t) sfs.f_blocks - (uint64_t) sfs.f_bfree) * (uint64_t) sfs.f_frsize;
        if (ret_total)
                *ret_total = ((uint64_t) sfs.f_blocks - (uint64_t) sfs.f_bfree + (uint64_t) sfs.f_bavail) *
                        (uint64_t) sfs.f_frsize;
        return 0;
}

int job_disk_check_root(int fs_root_fd, int dirfd, const char *name) {
        _cleanup_free_ char *backing = NULL;
        _cleanup_close_ int fd = -1;
        struct loop_info64 info = {};
        struct stat root, image;
        char p[PATH_MAX + 64], link[PATH_MAX], dirpath[PATH_MAX], image_path[PATH_MAX + 256];
        const char *sysname;
        ssize_t n;

        /* ext4's root directory is inode 2; the loop driver is major 7. */
        if (fstat(fs_root_fd, &root) < 0 || fstatat(dirfd, name, &image, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        if (!S_ISDIR(root.st_mode) || root.st_ino != 2 || major(root.st_dev) != 7 || !S_ISREG(image.st_mode))
                return -EXDEV;
        snprintf(p, sizeof(p), "/sys/dev/block/%u:%u", major(root.st_dev), minor(root.st_dev));
        n = readlink(p, link, sizeof(link) - 1);
        if (n <= 0)
                return -EXDEV;
        link[n] = 0;
        sysname = strrchr(link, '/');
        sysname = sysname ? sysname + 1 : link;
        snprintf(p, sizeof(p), "/dev/%s", sysname);
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
                return negative_errno();
        if (info.lo_inode != (uint64_t) image.st_ino)
                return -EXDEV;
        if (info.lo_device == (uint64_t) image.st_dev)
                return 0;
        /* btrfs: st_dev is the subvolume's (see loop_detach_if_backed_by());
         * then the backing file's path must be exactly the image's. */
        snprintf(p, sizeof(p), "/proc/self/fd/%i", dirfd);
        n = readlink(p, dirpath, sizeof(dirpath) - 1);
        if (n <= 0)
                return -EXDEV;
        dirpath[n] = 0;
        snprintf(image_path, sizeof(image_path), "%s/%s", dirpath, name);
        snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file", sysname);
        if (read_file_at(AT_FDCWD, p, PATH_MAX + 64, 0, &backing, NULL) < 0)
                return -EXDEV;
        backing[strcspn(backing, "\n")] = 0;
        return streq(backing, image_path) ? 0 : -EXDEV;
}

static bool backing_file_has_name(const char *backing, const char *name);

int job_disk_device(int dirfd, const char *name, dev_t *ret) {
        _cleanup_closedir_ DIR *d = NULL;
        struct stat image;

        if (fstatat(dirfd, name, &image, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        d = opendir("/sys/block");
        if (!d)
                return negative_errno();
        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_free_ char *backing = NULL, *devno = NULL;
                _cleanup_close_ int fd = -1;
                struct loop_info64 info = {};
                char p[PATH_MAX];
                unsigned maj, mnr;

                if (!startswith(de->d_name, "loop"))
                        continue;
                snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file", de->d_name);
                if (read_file_at(AT_FDCWD, p, PATH_MAX + 64, 0, &backing, NULL) < 0)
                        continue;
                backing[strcspn(backing, "\n")] = 0;
                if (!backing_file_has_name(backing, name))
                        continue;
                snprintf(p, sizeof(p), "/dev/%s", de->d_name);
                fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd < 0 || ioctl(fd, LOOP_GET_STATUS64, &info) < 0 || info.lo_inode != (uint64_t) image.st_ino)
                        continue;
                snprintf(p, sizeof(p), "/sys/block/%s/dev", de->d_name);
                if (read_file_at(AT_FDCWD, p, 64, 0, &devno, NULL) < 0 || sscanf(devno, "%u:%u", &maj, &mnr) != 2)
                        continue;
                *ret = makedev(maj, mnr);
                return 0;
        }
        return -ENODEV;
}

static bool loop_is_bound(const char *sysname) {
        char p[PATH_MAX];

        snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file", sysname);
        return access(p, F_OK) >= 0;
}

/* Whether the kernel's name of the backing file (as /proc/self/fd would
 * show it, possibly " (deleted)") has the final component name. A cheap
 * filter before the device is opened and asked. */
static bool backing_file_has_name(const char *backing, const char *name) {
        const char *slash = strrchr(backing, '/'), *rest;

        if (!slash)
                return false;
        rest = startswith(slash + 1, name);
        return rest && (isempty(rest) || streq(rest, " (deleted)"));
}

/* Detaches the loop device sysname if it is bound to the file st describes.
 * Returns 1 if it was and is now detached, 0 if not ours, -EBUSY if ours
 * and still mounted somewhere (then marked autoclear). */
static int loop_detach_if_backed_by(const char *sysname, const char *name, const struct stat *st,
                                    const char *image_path) {
        _cleanup_free_ char *backing = NULL;
        _cleanup_close_ int fd = -1;
        struct loop_info64 info = {};
        char p[PATH_MAX];
        uint64_t deadline;
        bool excl = true;
        size_t l;
        int r;

        snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file", sysname);
        r = read_file_at(AT_FDCWD, p, PATH_MAX + 64, 0, &backing, &l);
        if (r == -ENOENT)
                return 0; /* not bound */
        if (r < 0)
                return log_warning_errno(r, "Cannot read %s: %m", p);
        while (l > 0 && backing[l - 1] == '\n')
                backing[--l] = 0;
        if (!backing_file_has_name(backing, name))
                return 0;

        snprintf(p, sizeof(p), "/dev/%s", sysname);
        /* O_EXCL fails with EBUSY while a filesystem is mounted from the
         * device, and keeps anyone from mounting it while we look. */
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_EXCL);
        if (fd < 0 && errno == EBUSY) {
                excl = false;
                fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        }
        if (fd < 0)
                return errno == ENOENT || errno == ENXIO ? 0 : log_warning_errno(negative_errno(), "Cannot open %s: %m", p);

        if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
                return errno == ENXIO ? 0 : log_warning_errno(negative_errno(), "Cannot query %s: %m", p);
        /* The inode number decides. The device number as well, unless the
         * path is exactly ours: on btrfs, stat()'s st_dev is the subvolume's,
         * not the superblock's that the loop driver reports. */
        if (info.lo_inode != (uint64_t) st->st_ino)
                return 0;
        if (info.lo_device != (uint64_t) st->st_dev && !(image_path && streq(backing, image_path)))
                return 0;

        /* With other openers (a mount), this only sets autoclear. */
        if (ioctl(fd, LOOP_CLR_FD) < 0 && errno != ENXIO)
                return log_warning_errno(negative_errno(), "Cannot detach %s from job disk %s: %m", p, name);
        fd = safe_close(fd);

        if (!excl) {
                log_warning("Job disk %s is still mounted via %s (a live mount namespace?), marked to detach when unmounted.",
                            name, p);
                return -EBUSY;
        }

        /* The detach completes on the last close: ours, or a udev probe's. */
        deadline = now_usec() + LOOP_DETACH_WAIT_USEC;
        while (loop_is_bound(sysname)) {
                if (now_usec() >= deadline) {
                        log_warning("%s still bound to job disk %s after detaching.", p, name);
                        return -EBUSY;
                }
                (void) usleep(10 * 1000);
        }
        log_info("Detached stale loop device %s from job disk %s.", p, name);
        return 1;
}

static int detach_loops(int dirfd, const char *name, const struct stat *st) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ char *image_path = NULL;
        char fdpath[64], dirpath[PATH_MAX];
        ssize_t n;
        int r = 0;

        /* Only a tie-breaker (see above): failing to get it is fine. */
        snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%i", dirfd);
        n = dirfd == AT_FDCWD ? -1 : readlink(fdpath, dirpath, sizeof(dirpath) - 1);
        if (n > 0) {
                dirpath[n] = 0;
                if (asprintf(&image_path, "%s/%s", streq(dirpath, "/") ? "" : dirpath, name) < 0)
                        image_path = NULL;
        }

        d = opendir("/sys/block");
        if (!d)
                return log_warning_errno(negative_errno(), "Cannot list /sys/block: %m");

        for (struct dirent *de; (de = readdir(d));) {
                int k;

                if (!startswith(de->d_name, "loop"))
                        continue;
                k = loop_detach_if_backed_by(de->d_name, name, st, image_path);
                /* -EBUSY wins: the caller must come back later. */
                if (k < 0 && (r >= 0 || k == -EBUSY))
                        r = k;
        }
        return r;
}

int job_disk_remove(int dirfd, const char *name) {
        struct stat st;
        int r;

        if (!name_is_valid(name))
                return -EINVAL;

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : negative_errno();

        if (S_ISREG(st.st_mode)) {
                r = detach_loops(dirfd, name, &st);
                /* Still in use: keep the file, so the space stays accounted
                 * to this job until the last mount is really gone. */
                if (r == -EBUSY)
                        return r;
                if (r < 0)
                        log_warning_errno(r, "Could not check all loop devices for job disk %s, removing it anyway: %m",
                                          name);
        }

        /* A symlink in its place is removed, never followed. */
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

bool job_disk_supported(void) {
        _cleanup_close_ int fd = -1;

        if (!find_mkfs())
                return false;
        /* Existing is not enough: in a container without the capability it
         * exists but does not open. */
        fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC | O_NOCTTY);
        return fd >= 0;
}

int job_disk_remove_wait(int dirfd, const char *name, usec_t timeout) {
        usec_t deadline = now(CLOCK_MONOTONIC) + timeout, delay = 10 * USEC_PER_MSEC;

        for (;;) {
                int r = job_disk_remove(dirfd, name);
                if (r != -EBUSY || now(CLOCK_MONOTONIC) >= deadline)
                        return r;
                (void) nanosleep(&(struct timespec) { 0, (long) (delay * 1000) }, NULL);
                delay = MIN(delay * 2, 200 * USEC_PER_MSEC);
        }
}
