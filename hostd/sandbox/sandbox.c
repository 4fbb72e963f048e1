/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/mount.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "fileio.h"
#include "fork-util.h"
#include "parse-util.h"
#include "job-disk.h"
#include "log.h"
#include "macros.h"
#include "proc-util.h"
#include "json-seqpacket.h"

#define SETUP_TIMEOUT_MSEC 20000
#define DISK_IMAGE "disk.img"

/* The setup's own messages, on the transport of json-seqpacket.h (not the
 * SSH processes' vocabulary): the first child and the anchor talk to
 * sandbox_create() in the parent. */
typedef enum SandboxMessage {
        SANDBOX_MAP_ME,         /* child → parent: write my uid/gid maps */
        SANDBOX_MAPPED,         /* parent → child: written */
        SANDBOX_INIT,           /* child → parent: "pid", "anchor", and the job disk's fd */
        SANDBOX_ANCHOR_READY,   /* anchor → parent */
        SANDBOX_ERROR,          /* child or anchor → parent: "error", why the setup failed */
        _SANDBOX_MESSAGE_MAX,
        _SANDBOX_MESSAGE_INVALID = -EINVAL,
} SandboxMessage;

static const char *const sandbox_message_names[_SANDBOX_MESSAGE_MAX] = {
        [SANDBOX_MAP_ME] = "map-me",
        [SANDBOX_MAPPED] = "mapped",
        [SANDBOX_INIT] = "init",
        [SANDBOX_ANCHOR_READY] = "anchor-ready",
        [SANDBOX_ERROR] = "error",
};

#define SANDBOX_ERROR_MAX 512

static json_object *sandbox_message_new(SandboxMessage kind) {
        json_object *o = json_object_new_object();

        if (o)
                json_add_string(o, "type", sandbox_message_names[kind]);
        return o;
}

static SandboxMessage sandbox_message_kind(json_object *o) {
        const char *type = json_get_string_bounded(o, "type", 32);

        for (SandboxMessage k = 0; type && k < _SANDBOX_MESSAGE_MAX; k++)
                if (streq(type, sandbox_message_names[k]))
                        return k;
        return _SANDBOX_MESSAGE_INVALID;
}

/* ---- small helpers (child side: they report errors, the parent logs) ---- */

static int pidfd_open_(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

static int write_string_at(int dirfd, const char *path, const char *s) {
        _cleanup_close_ int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        size_t l = strlen(s);

        if (fd < 0)
                return negative_errno();
        if (write(fd, s, l) != (ssize_t) l)
                return negative_errno();
        return 0;
}

static int write_maps(pid_t pid, uint32_t base) {
        char path[64], map[64];
        int r;

        snprintf(map, sizeof(map), "0 %u 65536\n", base);
        snprintf(path, sizeof(path), "/proc/%d/uid_map", (int) pid);
        r = write_string_at(AT_FDCWD, path, map);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "/proc/%d/gid_map", (int) pid);
        return write_string_at(AT_FDCWD, path, map);
}

/* newroot + path, as one absolute path. */
static void under(char *buf, size_t size, const char *newroot, const char *path) {
        snprintf(buf, size, "%s%s", newroot, path);
}

static bool is_dir(const char *path) {
        struct stat st;
        return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int bind_mount(const char *src, const char *dst, bool read_only) {
        if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
                return negative_errno();
        if (read_only && mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
                return negative_errno();
        return 0;
}

/* A minimal /dev: the usual character devices, a private devpts and shm. */
static int setup_dev(const char *newroot, uint32_t base, char *error, size_t esize) {
        static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty", "fuse", "net/tun" };
        static const char *const links[][2] = {
                { "fd", "/proc/self/fd" },      { "stdin", "/proc/self/fd/0" }, { "stdout", "/proc/self/fd/1" },
                { "stderr", "/proc/self/fd/2" }, { "ptmx", "pts/ptmx" },        { "core", "/proc/kcore" },
        };
        char dev[2048], p[4096];
        int r;

        under(dev, sizeof(dev), newroot, "/dev");
        if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=65536k,nr_inodes=4096") < 0) {
                snprintf(error, esize, "cannot mount /dev: %m");
                return negative_errno();
        }
        for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
                char host[64];
                struct stat st;
                int fd;

                snprintf(host, sizeof(host), "/dev/%s", nodes[i]);
                /* fuse and tun only where the host has them. */
                if (stat(host, &st) < 0 || !S_ISCHR(st.st_mode))
                        continue;
                snprintf(p, sizeof(p), "%s/%s", dev, nodes[i]);
                if (strchr(nodes[i], '/')) {
                        char d[4096];
                        snprintf(d, sizeof(d), "%s/net", dev);
                        (void) mkdir(d, 0755);
                }
                fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
                if (fd < 0) {
                        snprintf(error, esize, "cannot create /dev/%s: %m", nodes[i]);
                        return negative_errno();
                }
                close(fd);
                if (mount(host, p, NULL, MS_BIND, NULL) < 0) {
                        snprintf(error, esize, "cannot bind %s: %m", host);
                        return negative_errno();
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(links); i++) {
                snprintf(p, sizeof(p), "%s/%s", dev, links[i][0]);
                if (symlink(links[i][1], p) < 0) {
                        snprintf(error, esize, "cannot create /dev/%s: %m", links[i][0]);
                        return negative_errno();
                }
        }
        snprintf(p, sizeof(p), "%s/pts", dev);
        if (mkdir(p, 0755) < 0 ||
            mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") < 0) {
                snprintf(error, esize, "cannot mount /dev/pts: %m");
                return negative_errno();
        }
        snprintf(p, sizeof(p), "%s/shm", dev);
        {
                char opts[64];
                /* uid 0 of the job's user namespace: the job owns it. */
                snprintf(opts, sizeof(opts), "mode=1777,size=262144k,uid=0,gid=0");
                if (mkdir(p, 0755) < 0 || mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
                        snprintf(error, esize, "cannot mount /dev/shm: %m");
                        return negative_errno();
                }
        }
        /* The rest of the tree is read-only; /dev itself is too, once filled. */
        r = mount(NULL, dev, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "mode=0755,size=65536k,nr_inodes=4096");
        if (r < 0) {
                snprintf(error, esize, "cannot make /dev read-only: %m");
                return negative_errno();
        }
        return 0;
}

/* Directories the job writes to, on its disk or under its job dir. */
static int make_owned_dir(int dirfd, const char *name, uint32_t base) {
        _cleanup_close_ int fd = -1;
        int r;

        r = mkdir_safe_at(dirfd, name, 0755);
        if (r < 0)
                return r;
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fchown(fd, base, base) < 0)
                return negative_errno();
        return 0;
}

/* Runs in the first child, as real root, in a fresh mount namespace (M1):
 * mounts the job's disk (ext4 may only be mounted by real root) and
 * creates the directories the job writes to.  The job has not run yet, and
 * every path here is ours. */
static int setup_disk(const SandboxSpec *s, char *ret_src, size_t src_size, int *ret_disk_fd, char *error, size_t esize) {
        _cleanup_close_ int disk_fd = -1;
        int src_fd, r;

        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                snprintf(error, esize, "cannot make mounts private: %m");
                return negative_errno();
        }
        if (s->disk) {
                snprintf(ret_src, src_size, "%s/disk", s->job_dir);
                r = mkdir_safe_at(s->job_dir_fd, "disk", 0700);
                if (r >= 0)
                        r = job_disk_mount(s->job_dir_fd, DISK_IMAGE, ret_src, NULL);
                if (r < 0) {
                        snprintf(error, esize, "cannot mount the job's disk: %s", strerror(-r));
                        return r;
                }
                disk_fd = open(ret_src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (disk_fd < 0) {
                        snprintf(error, esize, "cannot open the job's disk: %m");
                        return negative_errno();
                }
                src_fd = disk_fd;
        } else {
                snprintf(ret_src, src_size, "%s", s->job_dir);
                src_fd = s->job_dir_fd;
        }
        if ((r = make_owned_dir(src_fd, "home", s->uid_base)) < 0 || (r = make_owned_dir(src_fd, "tmp", s->uid_base)) < 0 ||
            (r = make_owned_dir(src_fd, "var-tmp", s->uid_base)) < 0 || (r = make_owned_dir(src_fd, "run", s->uid_base)) < 0) {
                snprintf(error, esize, "cannot create the job's writable directories: %s", strerror(-r));
                return r;
        }
        r = mkdir_safe_at(s->job_dir_fd, "root", 0755);
        if (r < 0) {
                snprintf(error, esize, "cannot create the job's root: %s", strerror(-r));
                return r;
        }
        *ret_disk_fd = TAKE_FD(disk_fd);
        return 0;
}

/* Without mount_setattr() (kernels before 5.12, and valgrind 3.19):
 * remounts every mount at or below root read-only, one by one, as
 * bubblewrap does.  The flags the kernel locked when it copied the host's
 * mounts into our user namespace (noexec and the atime ones) must be kept,
 * or the remount fails with EPERM.  A mount hidden under another stays as
 * it was, but the job cannot uncover it: the nested namespace locks the
 * one on top.  Any failure fails the job: a writable host mount must never
 * reach it. */
int sandbox_remount_read_only(const char *root) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        _cleanup_free_ char *line = NULL;
        size_t n = 0, root_len = strlen(root);

        if (!f)
                return negative_errno();
        while (getline(&line, &n, f) > 0) {
                unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV;
                char *mp = line;
                struct statvfs sv;

                /* ID PARENT MAJ:MIN ROOT MOUNTPOINT ...: the fifth field, any
                 * length (a line we cannot read fails the job). */
                for (int i = 0; i < 4 && mp; i++)
                        if ((mp = strchr(mp, ' ')))
                                mp++;
                if (!mp)
                        return -EIO;
                mp[strcspn(mp, " \n")] = 0;
                mountinfo_unescape(mp);
                if (strncmp(mp, root, root_len) != 0 || (mp[root_len] != '\0' && mp[root_len] != '/'))
                        continue;
                if (statvfs(mp, &sv) < 0)
                        return negative_errno();
                flags |= (sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0) | (sv.f_flag & ST_NOATIME ? MS_NOATIME : 0) |
                         (sv.f_flag & ST_NODIRATIME ? MS_NODIRATIME : 0) | (sv.f_flag & ST_RELATIME ? MS_RELATIME : 0);
                if (mount(NULL, mp, NULL, flags, NULL) < 0)
                        return negative_errno();
        }
        return 0;
}

/* Runs in the job's init (root of the job's user namespace, in a mount
 * namespace owned by it): builds the job's root under <job_dir>/root out
 * of the host tree, read-only, with our hides and writable places. */
static int setup_root(const SandboxSpec *s, const char *newroot, const char *src, char *error, size_t esize) {
        struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
        static const char *const hidden[] = { "/root", "/home", "/etc/hostd" };
        char p[4096], from[4096];
        int r;

        /* The host, read-only, nosuid and nodev everywhere below. */
        if (mount("/", newroot, NULL, MS_BIND | MS_REC, NULL) < 0) {
                snprintf(error, esize, "cannot bind the host root: %m");
                return negative_errno();
        }
        if (mount_setattr(AT_FDCWD, newroot, AT_RECURSIVE, &ro, sizeof(ro)) < 0) {
                r = errno == ENOSYS ? sandbox_remount_read_only(newroot) : negative_errno();
                if (r < 0) {
                        snprintf(error, esize, "cannot make the host read-only: %s", strerror(-r));
                        return r;
                }
        }

        /* The job's writable places first: hides and home below may lie
         * under them (a state dir in /tmp, as in tests). */
        {
                static const char *const places[][2] = { { "tmp", "/tmp" }, { "var-tmp", "/var/tmp" }, { "run", "/run" } };
                for (size_t i = 0; i < ELEMENTSOF(places); i++) {
                        snprintf(from, sizeof(from), "%s/%s", src, places[i][0]);
                        under(p, sizeof(p), newroot, places[i][1]);
                        if (!is_dir(p) || bind_mount(from, p, false) < 0) {
                                snprintf(error, esize, "cannot mount %s: %m", places[i][1]);
                                return negative_errno();
                        }
                }
        }

        /* Hidden: hostd's state (other jobs, keys, records), operators'
         * homes, hostd's config. */
        for (size_t i = 0; i < ELEMENTSOF(hidden) + 1 + strv_length(s->hide); i++) {
                const char *h = i < ELEMENTSOF(hidden) ? hidden[i] :
                                i == ELEMENTSOF(hidden) ? s->state_dir : s->hide[i - ELEMENTSOF(hidden) - 1];

                under(p, sizeof(p), newroot, h);
                if (!is_dir(p))
                        continue;
                if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1024k,nr_inodes=1024") < 0) {
                        snprintf(error, esize, "cannot hide %s: %m", h);
                        return negative_errno();
                }
        }

        /* Home at the same path as outside, so user_dir means the same. */
        under(p, sizeof(p), newroot, s->home);
        r = mkdir_parents_safe(p, 0755);
        snprintf(from, sizeof(from), "%s/home", src);
        if (r < 0 || bind_mount(from, p, false) < 0) {
                snprintf(error, esize, "cannot mount the job's home: %m");
                return r < 0 ? r : negative_errno();
        }

        r = setup_dev(newroot, s->uid_base, error, esize);
        if (r < 0)
                return r;

        /* The job's own /proc, on top of the host's: the host's must still be
         * visible here for the kernel to allow it (mount_too_revealing), and
         * the nested namespace below locks ours over it. */
        under(p, sizeof(p), newroot, "/proc");
        if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
                snprintf(error, esize, "cannot mount the job's /proc: %m");
                return negative_errno();
        }

        /* Since Linux 6.7 binfmt_misc has one instance per user namespace,
         * created by its first mount there, and an exec looks for handlers
         * in the nearest namespace that has one.  Mounting an empty one here,
         * in the job's namespace, takes the host's qemu handlers (F flag or
         * not) away from every process of the job.  Read-only, and locked
         * so by the nested namespace of the sessions. */
        if (s->private_binfmt) {
                under(p, sizeof(p), newroot, "/proc/sys/fs/binfmt_misc");
                if (mount("binfmt_misc", p, "binfmt_misc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
                        snprintf(error, esize, "cannot give the job its own binfmt_misc: %m");
                        return negative_errno();
                }
        }
        return 0;
}

bool sandbox_private_binfmt_supported(void) {
        int status;
        pid_t pid;

        pid = fork();
        if (pid < 0)
                return false;
        if (pid == 0) {
                int fd;

                if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                        _exit(2);
                /* Before 6.7 binfmt_misc is not FS_USERNS_MOUNT: EPERM. */
                fd = fsopen("binfmt_misc", FSOPEN_CLOEXEC);
                if (fd < 0 || fsconfig(fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                        _exit(3);
                _exit(0);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return false;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- the job's init and anchor --------------------------------------------- */

static int bring_up_loopback(void) {
        struct ifreq ifr = {};
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return negative_errno();
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return negative_errno();
        ifr.ifr_flags |= IFF_UP;
        return ioctl(fd, SIOCSIFFLAGS, &ifr) < 0 ? negative_errno() : 0;
}

static void send_error(int sock, const char *error) {
        json_object *o = sandbox_message_new(SANDBOX_ERROR);

        json_add_string(o, "error", error);
        (void) json_seqpacket_send(sock, o, NULL, 0);
        json_object_put(o);
}

/* The init's life: reap the job's orphans until it is killed. */
static _noreturn_ void reap_forever(void) {
        sigset_t all;

        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, NULL);
        for (;;) {
                siginfo_t si;
                while (waitpid(-1, NULL, WNOHANG) > 0)
                        ;
                (void) sigwaitinfo(&all, &si);
        }
}

/* The anchor lives as long as the job's init: killing PID 1 still ends
 * the whole job, although the anchor is outside its pid namespace. */
static _noreturn_ void anchor_wait(int init_pidfd) {
        struct pollfd p = { .fd = init_pidfd, .events = POLLIN };
        sigset_t all;

        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, NULL);
        while (poll(&p, 1, -1) < 0 && errno == EINTR)
                ;
        _exit(0);
}

/* The anchor: the process sessions enter through.  It lives in hostd's
 * pid namespace, not the job's: no job process can see it, so none can
 * signal or ptrace it (kill -9 -1 in a job used to end it, and with it
 * every later session).  It joins the job's ipc, uts, net and mount
 * namespaces once the init has built the root, makes the job's pid
 * namespace its pid_for_children (sessions join that), then moves into a
 * nested user and mount namespace: copying a mount namespace into one
 * owned by a new user namespace locks every mount the init made
 * (MNT_LOCKED), so the job, root only in the nested namespace, cannot
 * unmount our hides or our /proc.  It keeps the root of the job's disk
 * open at SANDBOX_ANCHOR_DISK_FD, so that hostd can take it back after a
 * restart (pidfd_getfd) instead of resolving a path in the job's tree. */
static _noreturn_ void anchor_main(int sock, int sync_fd, int disk_fd, int ns_flags) {
        int32_t init;
        int pidfd;
        char c;

        (void) prctl(PR_SET_NAME, SANDBOX_ANCHOR_COMM);
        /* EOF: the setup failed and our parent is gone. */
        if (read(sync_fd, &init, sizeof(init)) != sizeof(init))
                _exit(1);
        /* Through a pidfd, all at once (the init is dumpable until we are
         * in: setns() checks ptrace access).  CLONE_NEWPID makes the job's
         * pid namespace our pid_for_children; we stay where we are. */
        pidfd = pidfd_open_(init);
        if (pidfd < 0 || setns(pidfd, ns_flags) < 0) {
                send_error(sock, "the anchor cannot join the job's namespaces");
                _exit(1);
        }
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
                send_error(sock, "cannot create the nested namespaces");
                _exit(1);
        }
        /* Our parent writes our maps (identity: 0..65535 of the job).  Our
         * credentials changed earlier, which made us non-dumpable and our
         * /proc files global root's; dumpable just for the write, while no
         * job process exists that could ptrace us. */
        (void) prctl(PR_SET_DUMPABLE, 1);
        if (write(sync_fd, "u", 1) != 1 || read(sync_fd, &c, 1) != 1 || c != 'm') {
                send_error(sock, "the nested namespace was not mapped");
                _exit(1);
        }
        (void) prctl(PR_SET_DUMPABLE, 0);
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0 || setgroups(0, NULL) < 0) {
                send_error(sock, "cannot become root in the nested namespace");
                _exit(1);
        }
        {
                json_object *o = sandbox_message_new(SANDBOX_ANCHOR_READY);
                (void) json_seqpacket_send(sock, o, NULL, 0);
                json_object_put(o);
        }
        /* Keep the disk at SANDBOX_ANCHOR_DISK_FD and the init's pidfd
         * after it (moved out of the way first), nothing else. */
        disk_fd = disk_fd >= 0 ? fcntl(disk_fd, F_DUPFD_CLOEXEC, 16) : -1;
        pidfd = fcntl(pidfd, F_DUPFD_CLOEXEC, 16);
        if (pidfd < 0 || dup3(pidfd, SANDBOX_ANCHOR_DISK_FD + 1, O_CLOEXEC) < 0 ||
            (disk_fd >= 0 && dup3(disk_fd, SANDBOX_ANCHOR_DISK_FD, O_CLOEXEC) < 0))
                _exit(1);
        close_range(0, SANDBOX_ANCHOR_DISK_FD - (disk_fd >= 0 ? 1 : 0), 0);
        close_range(SANDBOX_ANCHOR_DISK_FD + 2, ~0U, 0);
        anchor_wait(SANDBOX_ANCHOR_DISK_FD + 1);
}

/* PID 1 of the job: builds its root and moves into it, says so on
 * ready_fd and waits there until the anchor has joined its namespaces,
 * then reaps orphans until it is killed (which ends the job's pid
 * namespace). */
static _noreturn_ void init_main(const SandboxSpec *s, const char *newroot, const char *src, int sock, int ready_fd) {
        char error[512] = "", c;

        (void) prctl(PR_SET_NAME, SANDBOX_INIT_COMM);
        if (setup_root(s, newroot, src, error, sizeof(error)) < 0)
                goto fail;
        if (chdir(newroot) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) {
                snprintf(error, sizeof(error), "cannot move into the job's root: %m");
                goto fail;
        }
        if (sethostname(s->job, strlen(s->job)) < 0) {
                snprintf(error, sizeof(error), "cannot set the hostname: %m");
                goto fail;
        }
        if (s->network != JOB_NETWORK_HOST && bring_up_loopback() < 0) {
                snprintf(error, sizeof(error), "cannot bring up loopback: %m");
                goto fail;
        }
        /* Our credentials changed, which made us non-dumpable: the anchor
         * (same credentials) may join us only while we are dumpable, and no
         * job process exists yet that could use it. */
        (void) prctl(PR_SET_DUMPABLE, 1);
        if (write(ready_fd, "r", 1) != 1 || read(ready_fd, &c, 1) != 1 || c != 'j')
                _exit(1);
        (void) prctl(PR_SET_DUMPABLE, 0);
        close_range(0, ~0U, 0);
        reap_forever();

fail:
        send_error(sock, error);
        _exit(1);
}

static _noreturn_ void child_fail(int sock, const char *error) {
        send_error(sock, error);
        _exit(1);
}

/* The first child: as real root, a private mount namespace with the job's
 * disk; then the job's user namespace and the rest, and the job's init. */
/* hostd.service lowers hostd's OOM score so that the kernel picks a job,
 * not the daemon that cleans up after it; job processes go back to the
 * default.  Raising it needs no privilege; failure only leaves the job
 * less likely to be picked. */
static void reset_oom_score(void) {
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

        if (fd >= 0) {
                (void) !write(fd, "0", 1);
                close(fd);
        }
}

static _noreturn_ void setup_child(const SandboxSpec *s, int sock) {
        char newroot[4096], src[4096], error[512] = "", path[64];
        int disk_fd = -1, proc_fd, flags, anchor_sync[2], ready[2];
        json_object *o;
        pid_t init, anchor;
        int32_t init_pid;
        char c;

        reset_oom_score();
        snprintf(newroot, sizeof(newroot), "%s/root", s->job_dir);
        if (unshare(CLONE_NEWNS) < 0)
                child_fail(sock, "cannot create a mount namespace");
        if (setup_disk(s, src, sizeof(src), &disk_fd, error, sizeof(error)) < 0)
                child_fail(sock, error);
        /* The host's /proc: once the init pivots, ours is the job's, where
         * the anchor (in the host's pid namespace) has no entry. */
        proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (proc_fd < 0)
                child_fail(sock, "cannot open /proc");

        /* Into the job's user namespace; the parent writes our maps. */
        if (unshare(CLONE_NEWUSER) < 0)
                child_fail(sock, "cannot create a user namespace");
        o = sandbox_message_new(SANDBOX_MAP_ME);
        if (json_seqpacket_send(sock, o, NULL, 0) < 0)
                _exit(1);
        json_object_put(o);
        o = NULL;
        if (json_seqpacket_recv(sock, &o, NULL, NULL) < 0 || sandbox_message_kind(o) != SANDBOX_MAPPED)
                _exit(1);
        json_object_put(o);
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0 || setgroups(0, NULL) < 0)
                child_fail(sock, "cannot become root in the job's user namespace");

        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
        if (s->network != JOB_NETWORK_HOST)
                flags |= CLONE_NEWNET;

        /* The anchor is forked before the pid namespace exists, so that it
         * stays in ours, out of the job's sight.  Plain fork()s here and
         * for the init: both block every signal themselves, and neither
         * wants a death signal (they outlive this child by design). */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, anchor_sync) < 0)
                child_fail(sock, "socketpair failed");
        anchor = fork();
        if (anchor < 0)
                child_fail(sock, "cannot fork the anchor");
        if (anchor == 0) {
                close(anchor_sync[0]);
                anchor_main(sock, anchor_sync[1], disk_fd, flags);
        }
        close(anchor_sync[1]);

        if (unshare(flags) < 0)
                child_fail(sock, "cannot create the job's namespaces");
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ready) < 0)
                child_fail(sock, "socketpair failed");
        init = fork();
        if (init < 0)
                child_fail(sock, "cannot fork the job's init");
        if (init == 0) {
                close(ready[0]);
                init_main(s, newroot, src, sock, ready[1]);
        }
        close(ready[1]);
        /* The init reports its own errors. */
        if (read(ready[0], &c, 1) != 1 || c != 'r')
                _exit(1);

        init_pid = (int32_t) init;
        if (write(anchor_sync[0], &init_pid, sizeof(init_pid)) != sizeof(init_pid) ||
            read(anchor_sync[0], &c, 1) != 1 || c != 'u' || write(ready[0], "j", 1) != 1)
                _exit(1);
        /* The nested namespace: identity over the job's 0..65535. */
        snprintf(path, sizeof(path), "%d/uid_map", (int) anchor);
        if (write_string_at(proc_fd, path, "0 0 65536\n") < 0)
                child_fail(sock, "cannot map the anchor's user namespace");
        snprintf(path, sizeof(path), "%d/gid_map", (int) anchor);
        if (write_string_at(proc_fd, path, "0 0 65536\n") < 0)
                child_fail(sock, "cannot map the anchor's user namespace");
        if (write(anchor_sync[0], "m", 1) != 1)
                _exit(1);

        o = sandbox_message_new(SANDBOX_INIT);
        json_add_int(o, "pid", init);
        json_add_int(o, "anchor", anchor);
        (void) json_seqpacket_send(sock, o, disk_fd >= 0 ? &disk_fd : NULL, disk_fd >= 0 ? 1 : 0);
        /* The init and the anchor now belong to hostd (a subreaper) or the
         * host's init. */
        _exit(0);
}

/* ---- parent side ----------------------------------------------------------- */

static int recv_timeout(int sock, json_object **ret, int *fds, size_t *n_fds) {
        struct pollfd p = { .fd = sock, .events = POLLIN };
        int r;

        r = poll(&p, 1, SETUP_TIMEOUT_MSEC);
        if (r < 0)
                return negative_errno();
        if (r == 0)
                return -ETIMEDOUT;
        return json_seqpacket_recv(sock, ret, fds, n_fds);
}

/* Whether child is among pid's children (orphans of the job are its init's
 * children too, so the anchor is rarely the only one). */
static bool has_child(pid_t pid, pid_t child) {
        _cleanup_free_ char *text = NULL;
        char path[64];
        const char *p;

        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int) pid, (int) pid);
        if (read_file_at(AT_FDCWD, path, 1024 * 1024, false, &text, NULL) < 0)
                return false;
        for (p = text; *p;) {
                char *end;
                long c = strtol(p, &end, 10);
                if (end == p)
                        break;
                if (c == child)
                        return true;
                p = end;
        }
        return false;
}

int sandbox_create(const SandboxSpec *s, Sandbox *ret) {
        _cleanup_close_ int disk_fd = -1;
        _cleanup_close_pair_ int sp[2] = { -1, -1 };
        json_object *o = NULL;
        int fds[JSON_SEQPACKET_FDS_MAX];
        size_t n_fds = 0;
        pid_t child, init = 0, anchor = 0;
        bool ready = false;
        int64_t a, b;
        int r;

        *ret = (Sandbox) { .pidfd = -1, .disk_fd = -1 };
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return negative_errno();
        child = safe_fork(NULL, FORK_UNBLOCK_SIGNALS);
        if (child < 0)
                return child;
        if (child == 0) {
                close(sp[0]);
                setup_child(s, sp[1]);
        }
        sp[1] = safe_close(sp[1]);

        /* map-me → mapped, then init (+ disk fd) and anchor-ready in either
         * order (they come from two processes), or an error. */
        while (init == 0 || !ready) {
                SandboxMessage kind;

                json_object_put(o);
                o = NULL;
                n_fds = 0;
                r = recv_timeout(sp[0], &o, fds, &n_fds);
                if (r < 0) {
                        log_job_full_errno(LOG_ERR, r, s->job, NULL, "Sandbox setup did not finish: %m");
                        goto fail;
                }
                for (size_t i = 0; i < n_fds; i++) {
                        if (disk_fd < 0)
                                disk_fd = fds[i];
                        else
                                close(fds[i]);
                }
                kind = sandbox_message_kind(o);
                if (kind == SANDBOX_MAP_ME) {
                        json_object *m = sandbox_message_new(SANDBOX_MAPPED);

                        r = write_maps(child, s->uid_base);
                        if (r < 0) {
                                log_job_full_errno(LOG_ERR, r, s->job, NULL, "Cannot write the uid/gid maps: %m");
                                json_object_put(m);
                                goto fail;
                        }
                        r = json_seqpacket_send(sp[0], m, NULL, 0);
                        json_object_put(m);
                        if (r < 0)
                                goto fail;
                } else if (kind == SANDBOX_INIT && json_get_int64(o, "pid", 2, INT32_MAX, &a) >= 0 &&
                           json_get_int64(o, "anchor", 2, INT32_MAX, &b) >= 0) {
                        init = (pid_t) a;
                        anchor = (pid_t) b;
                }
                else if (kind == SANDBOX_ANCHOR_READY)
                        ready = true;
                else {
                        log_job(LOG_ERR, s->job, NULL, "Sandbox setup failed: %s",
                                strempty(json_get_string_bounded(o, "error", SANDBOX_ERROR_MAX)));
                        r = -EIO;
                        goto fail;
                }
        }
        json_object_put(o);
        o = NULL;
        sp[0] = safe_close(sp[0]);
        (void) waitpid(child, NULL, 0);

        ret->pidfd = pidfd_open_(anchor);
        if (ret->pidfd < 0)
                return log_job_full_errno(LOG_ERR, errno, s->job, NULL, "Cannot open the anchor's pidfd: %m");
        ret->anchor = anchor;
        ret->init = init;
        ret->disk_fd = TAKE_FD(disk_fd);
        log_job(LOG_INFO, s->job, NULL, "Sandbox ready: anchor pid %d, uids %u-%u%s", (int) anchor, s->uid_base,
                s->uid_base + 65535, s->disk ? ", disk quota" : "");
        return 0;

fail:
        json_object_put(o);
        sp[0] = safe_close(sp[0]);
        (void) kill(child, SIGKILL);
        /* Killing PID 1 of a pid namespace kills everything in it; the
         * anchor is outside it. Both are ours to reap once the setup child
         * is gone (hostd is a subreaper); ECHILD otherwise. */
        if (init > 0)
                (void) kill(init, SIGKILL);
        if (anchor > 0)
                (void) kill(anchor, SIGKILL);
        (void) waitpid(child, NULL, 0);
        if (init > 0)
                (void) waitpid(init, NULL, 0);
        if (anchor > 0)
                (void) waitpid(anchor, NULL, 0);
        return r < 0 ? r : -EIO;
}

static bool same_ns(pid_t a, pid_t b, const char *type) {
        char pa[64], pb[64];
        struct stat sa, sb;

        snprintf(pa, sizeof(pa), "/proc/%d/ns/%s", (int) a, type);
        snprintf(pb, sizeof(pb), "/proc/%d/ns/%s", (int) b, type);
        return stat(pa, &sa) >= 0 && stat(pb, &sb) >= 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int parent_of(pid_t pid, pid_t *ret) {
        _cleanup_free_ char *text = NULL;
        char path[64];
        const char *p;
        int r;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        r = read_file_at(AT_FDCWD, path, 4096, false, &text, NULL);
        if (r < 0)
                return r;
        p = strrchr(text, ')');
        return p && sscanf(p, ") %*c %d", ret) == 1 ? 0 : -EBADMSG;
}

int sandbox_adopt(pid_t pid, pid_t init, uint32_t uid_base, Sandbox *ret) {
        _cleanup_free_ char *map = NULL;
        _cleanup_close_ int pidfd = -1;
        char path[64], comm[32];
        unsigned long inside, outside, count;
        pid_t parent;
        int r;

        *ret = (Sandbox) { .pidfd = -1, .disk_fd = -1 };
        if (pid <= 1)
                return -ESRCH;
        /* Open first, check after: the pidfd pins the process we check. */
        pidfd = pidfd_open_(pid);
        if (pidfd < 0)
                return negative_errno();
        if (proc_read_comm(-1, pid, comm, sizeof(comm)) < 0 || !streq(comm, SANDBOX_ANCHOR_COMM))
                return -ESRCH;
        snprintf(path, sizeof(path), "/proc/%d/uid_map", (int) pid);
        r = read_file_at(AT_FDCWD, path, 4096, false, &map, NULL);
        if (r < 0)
                return r;
        if (sscanf(map, "%lu %lu %lu", &inside, &outside, &count) != 3 || inside != 0 || outside != uid_base ||
            count != 65536)
                return -ESRCH;
        if (same_ns(pid, getpid(), "pid")) {
                /* Every job process lives in its job's pid namespace (or one
                 * below): one in ours with the job's uid map is hostd's own
                 * anchor.  Its pid_for_children is the job's pid namespace,
                 * whose PID 1 is the init. */
                if (init > 1 && (proc_read_comm(-1, init, comm, sizeof(comm)) < 0 || !streq(comm, SANDBOX_INIT_COMM) ||
                                 !same_ns(pid, init, "pid_for_children")))
                        init = 0;
        } else {
                /* An anchor made by hostd before the anchor left the job's
                 * pid namespace: the child of the job's init.  It stays
                 * reachable by the job until the job is released. */
                if (parent_of(pid, &parent) < 0 || proc_read_comm(-1, parent, comm, sizeof(comm)) < 0 ||
                    !streq(comm, SANDBOX_INIT_COMM) || !has_child(parent, pid))
                        return -ESRCH;
                init = parent;
        }
        ret->anchor = pid;
        ret->init = init > 1 ? init : 0;
        ret->pidfd = TAKE_FD(pidfd);
        return 0;
}

int sandbox_join_pid_namespace(const Sandbox *s) {
        _cleanup_close_ int fd = -1;
        char path[64];

        snprintf(path, sizeof(path), "/proc/%d/ns/pid_for_children", (int) s->anchor);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        /* The pid may have been reused between the check and the open: the
         * pidfd says whether the anchor we checked is still there. */
        if (syscall(SYS_pidfd_send_signal, s->pidfd, 0, NULL, 0) < 0)
                return negative_errno();
        return setns(fd, CLONE_NEWPID) < 0 ? negative_errno() : 0;
}

int sandbox_take_disk_fd(const Sandbox *s) {
        int fd = (int) syscall(SYS_pidfd_getfd, s->pidfd, SANDBOX_ANCHOR_DISK_FD, 0);

        return fd < 0 ? negative_errno() : fd;
}

void sandbox_close(Sandbox *s) {
        s->pidfd = safe_close(s->pidfd);
        s->disk_fd = safe_close(s->disk_fd);
}

int sandbox_enter(int pidfd, pid_t anchor, const char *home) {
        int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
        struct stat a, b;
        char path[64];

        reset_oom_score();
        /* Join the anchor's net namespace only if it has its own
         * (Network=none): the host's belongs to the initial user namespace,
         * which the job's credentials may not enter. */
        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) anchor);
        if (stat("/proc/self/ns/net", &a) < 0 || stat(path, &b) < 0)
                return negative_errno();
        if (a.st_ino != b.st_ino || a.st_dev != b.st_dev)
                flags |= CLONE_NEWNET;
        /* Two steps: ipc, uts and net belong to the job's outer user
         * namespace, which the nested one's credentials do not control, so
         * they are joined while we are still host root. */
        if (setns(pidfd, flags & ~(CLONE_NEWUSER | CLONE_NEWNS)) < 0)
                return negative_errno();
        if (setns(pidfd, CLONE_NEWUSER | CLONE_NEWNS) < 0)
                return negative_errno();
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0 || setgroups(0, NULL) < 0)
                return negative_errno();
        if (chdir(home) < 0)
                return negative_errno();
        return 0;
}
