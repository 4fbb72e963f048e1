/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "rm-rf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "macros.h"

/* Design.
 *
 * A depth-first walk over directory fds only, with an explicit heap stack of
 * open DIR*s instead of recursion. A directory is entered with
 * openat2(parent_fd, name, O_DIRECTORY|O_NOFOLLOW, RESOLVE_NO_XDEV|
 * RESOLVE_NO_SYMLINKS|RESOLVE_BENEATH) and the new fd is then checked with
 * statx() (same st_dev and mount id as the top, not STATX_ATTR_MOUNT_ROOT)
 * before anything inside it is touched. Every syscall takes one path
 * component relative to a verified fd, and we never go back up through "..":
 * a job renaming directories under us can at worst move a directory we hold
 * open somewhere else, and then we only empty that directory, which was in
 * the tree when we opened it.
 *
 * The stack holds at most RM_RF_MAX_FDS directories, so deep trees neither
 * recurse nor exhaust fds. A directory found at that depth is not entered:
 * it is renamed (RENAME_NOREPLACE; same file system, it passed the mount
 * checks) into the top directory. That empties its parent so the directories
 * above can go, and another pass over the top directory picks it up. A chain
 * of N levels takes about N / RM_RF_MAX_FDS passes. Passes repeat while the
 * last one moved something up or lost a race (a directory renamed or
 * refilled under us), at most RM_RF_MAX_PASSES times. The result and the
 * mount count are those of the last pass, which saw everything left. */

#define RM_RF_MAX_FDS 256U
#define RM_RF_MAX_PASSES 4096U
#define RM_RF_MOVED_PREFIX ".#rm-rf-"

typedef struct MountRef {
        dev_t dev;
        uint64_t mnt_id;
        bool has_mnt_id;
} MountRef;

typedef struct Frame {
        DIR *dir;
        bool incomplete;          /* something below it could not be removed */
        char name[NAME_MAX + 1];  /* its name in the frame below */
} Frame;

typedef struct Pass {
        const char *top;          /* for log messages only */
        uint64_t files, dirs, mounts, moved;
        int error;                /* first failure other than a mount point */
        bool again;
        bool top_incomplete;
} Pass;

static void pass_fail(Pass *p, int r) {
        if (p->error == 0)
                p->error = r;
}

static bool dot_or_dot_dot(const char *name) {
        return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0));
}

static int mount_ref_of(int fd, MountRef *ret) {
        struct statx sx;

        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MNT_ID, &sx) < 0)
                return negative_errno();
        *ret = (MountRef) {
                .dev = makedev(sx.stx_dev_major, sx.stx_dev_minor),
                .mnt_id = sx.stx_mnt_id,
                .has_mnt_id = sx.stx_mask & STATX_MNT_ID,
        };
        return 0;
}

/* Opens the directory dfd/name if it is one on the mount of ref.
 * -ENOTDIR: not a directory (symlinks included). -EXDEV: a mount point or
 * another file system. */
static int open_child_dir(int dfd, const char *name, const MountRef *ref, int *ret_fd) {
        struct open_how how = {
                .flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        _cleanup_close_ int fd = -1;
        struct statx sx;

        fd = (int) syscall(SYS_openat2, dfd, name, &how, sizeof(how));
        if (fd < 0 && (errno == ENOSYS || errno == EPERM))
                /* Old kernel or a seccomp filter: the statx checks below still hold. */
                fd = openat(dfd, name, (int) how.flags);
        if (fd < 0) {
                if (errno == ELOOP) /* the entry is a symlink */
                        return -ENOTDIR;
                return negative_errno();
        }

        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW,
                  STATX_TYPE | STATX_MODE | STATX_MNT_ID, &sx) < 0)
                return negative_errno();
        if (!S_ISDIR(sx.stx_mode))
                return -ENOTDIR;
        if (makedev(sx.stx_dev_major, sx.stx_dev_minor) != ref->dev)
                return -EXDEV;
        if ((sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
            (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
                return -EXDEV;
        if (ref->has_mnt_id && (sx.stx_mask & STATX_MNT_ID) && sx.stx_mnt_id != ref->mnt_id)
                return -EXDEV;

        /* Make its entries removable without CAP_DAC_OVERRIDE too (0500
         * directories); it is going away, so its mode does not matter. */
        if ((sx.stx_mode & 0700) != 0700 && fchmod(fd, 0700) < 0)
                log_debug_errno(errno, "rm-rf: cannot chmod directory '%s', ignoring: %m", name);

        *ret_fd = TAKE_FD(fd);
        return 0;
}

static void mount_found(Pass *p, const char *name) {
        p->mounts++;
        log_warning("rm-rf: leaving mount point '%s' below '%s' in place", name, p->top);
}

/* 0: removed or gone. -EISDIR: it is a directory after all. */
static int unlink_nondir(int dfd, const char *name, Pass *p) {
        if (unlinkat(dfd, name, 0) >= 0) {
                p->files++;
                return 0;
        }
        switch (errno) {
        case ENOENT:
                return 0;
        case EISDIR:
                return -EISDIR;
        case EBUSY: /* a bind-mounted file */
                mount_found(p, name);
                return -EBUSY;
        default: {
                int r = -errno;

                log_debug_errno(r, "rm-rf: cannot remove '%s' below '%s': %m", name, p->top);
                pass_fail(p, r);
                return r;
        }
        }
}

static int move_to_top(int dfd, const char *name, int top_fd, uint64_t *counter) {
        /* Our counter makes names unique among ours; the job may have
         * planted some, which NOREPLACE makes us skip. */
        for (unsigned tries = 0; tries < 1000; tries++) {
                char tmp[sizeof(RM_RF_MOVED_PREFIX) + 16];

                snprintf(tmp, sizeof(tmp), RM_RF_MOVED_PREFIX "%016" PRIx64, (*counter)++);
                if (renameat2(dfd, name, top_fd, tmp, RENAME_NOREPLACE) >= 0)
                        return 0;
                if (errno != EEXIST)
                        return negative_errno();
        }
        return -EEXIST;
}

/* Closes the innermost frame and removes its directory from its parent. */
static void frame_pop(Frame *stack, size_t *depth, Pass *p) {
        Frame *f = &stack[*depth - 1], *parent;

        closedir(f->dir);
        f->dir = NULL;
        (*depth)--;
        if (*depth == 0) {
                p->top_incomplete = f->incomplete;
                return; /* the top is removed by our caller */
        }

        parent = &stack[*depth - 1];
        if (f->incomplete) {
                parent->incomplete = true;
                return;
        }
        if (unlinkat(dirfd(parent->dir), f->name, AT_REMOVEDIR) >= 0) {
                p->dirs++;
                return;
        }
        switch (errno) {
        case ENOENT:
        case ENOTDIR:
                /* Renamed or replaced under us: wherever it is now, another
                 * pass finds it. */
                p->again = true;
                return;
        case ENOTEMPTY:
        case EEXIST:
                /* Refilled under us. */
                p->again = true;
                break;
        case EBUSY:
                mount_found(p, f->name);
                break;
        default:
                pass_fail(p, -errno);
                log_debug_errno(errno, "rm-rf: cannot remove directory '%s' below '%s': %m", f->name, p->top);
        }
        parent->incomplete = true;
}

static void handle_entry(Frame *stack, size_t *depth, const char *name,
                         unsigned char d_type, int top_fd, const MountRef *ref,
                         uint64_t *counter, Pass *p) {
        Frame *f = &stack[*depth - 1];
        int dfd = dirfd(f->dir), child = -1, r;
        DIR *d;

        if (d_type != DT_DIR && d_type != DT_UNKNOWN) {
                r = unlink_nondir(dfd, name, p);
                if (r != -EISDIR) {
                        if (r < 0)
                                f->incomplete = true;
                        return;
                }
        }

        r = open_child_dir(dfd, name, ref, &child);
        if (r == -ENOTDIR) {
                r = unlink_nondir(dfd, name, p);
                if (r == -EISDIR) /* changed type twice under us */
                        p->again = true;
                if (r < 0)
                        f->incomplete = true;
                return;
        }
        if (r == -ENOENT)
                return;
        if (r == -EXDEV) {
                mount_found(p, name);
                f->incomplete = true;
                return;
        }
        if (r < 0) {
                log_debug_errno(r, "rm-rf: cannot open directory '%s' below '%s': %m", name, p->top);
                pass_fail(p, r);
                f->incomplete = true;
                return;
        }

        if (*depth >= RM_RF_MAX_FDS) {
                child = safe_close(child);
                r = move_to_top(dfd, name, top_fd, counter);
                if (r == -ENOENT)
                        return;
                if (r < 0) {
                        log_debug_errno(r, "rm-rf: cannot move deep directory '%s' below '%s': %m", name, p->top);
                        pass_fail(p, r);
                        f->incomplete = true;
                        return;
                }
                p->moved++;
                p->again = true;
                return;
        }

        d = fdopendir(child);
        if (!d) {
                r = negative_errno();
                safe_close(child);
                pass_fail(p, r);
                f->incomplete = true;
                return;
        }
        f = &stack[(*depth)++];
        f->dir = d;
        f->incomplete = false;
        snprintf(f->name, sizeof(f->name), "%s", name);
}

/* One walk over everything below top_fd. Always closes all it opened. */
static void rm_rf_pass(int top_fd, const MountRef *ref, Frame *stack, uint64_t *counter, Pass *p) {
        size_t depth = 0;
        int fd;

        /* A fresh fd each pass, to read the top directory from its start. */
        fd = openat(top_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                pass_fail(p, negative_errno());
                p->top_incomplete = true;
                return;
        }
        stack[0].dir = fdopendir(fd);
        if (!stack[0].dir) {
                pass_fail(p, negative_errno());
                p->top_incomplete = true;
                safe_close(fd);
                return;
        }
        stack[0].incomplete = false;
        stack[0].name[0] = 0;
        depth = 1;

        while (depth > 0) {
                Frame *f = &stack[depth - 1];
                struct dirent *de;

                errno = 0;
                de = readdir(f->dir);
                if (!de) {
                        if (errno != 0) {
                                pass_fail(p, -errno);
                                f->incomplete = true;
                        }
                        frame_pop(stack, &depth, p);
                        continue;
                }
                if (dot_or_dot_dot(de->d_name))
                        continue;
                handle_entry(stack, &depth, de->d_name, de->d_type, top_fd, ref, counter, p);
        }
}

int rm_rf_at_full(int dirfd, const char *name, RmRfStats *ret_stats) {
        _cleanup_free_ Frame *stack = NULL;
        _cleanup_close_ int top_fd = -1;
        RmRfStats stats = {};
        uint64_t counter = 0;
        MountRef ref;
        Pass p = { .top = name };
        int r;

        if (ret_stats)
                *ret_stats = stats;
        if (isempty(name) || strchr(name, '/') || dot_or_dot_dot(name))
                return -EINVAL;

        r = mount_ref_of(dirfd, &ref);
        if (r < 0)
                return r;

        /* A few tries in case the entry flips between directory and not. */
        for (unsigned tries = 0;; tries++) {
                if (tries >= 3)
                        return -EAGAIN;

                r = open_child_dir(dirfd, name, &ref, &top_fd);
                if (r == -ENOENT)
                        return 0;
                if (r == -EXDEV) {
                        log_warning("rm-rf: '%s' is a mount point, leaving it in place", name);
                        stats.mounts_skipped = 1;
                        goto finish;
                }
                if (r != -ENOTDIR)
                        break;

                /* Not a directory, symlinks included: remove just this entry. */
                r = unlink_nondir(dirfd, name, &p);
                if (r == -EISDIR)
                        continue;
                stats.files = p.files;
                stats.mounts_skipped = p.mounts;
                if (ret_stats)
                        *ret_stats = stats;
                return r;
        }
        if (r < 0)
                return r;

        stack = calloc(RM_RF_MAX_FDS, sizeof(Frame));
        if (!stack)
                return -ENOMEM;

        for (unsigned pass = 1;; pass++) {
                p = (Pass) { .top = name };
                rm_rf_pass(top_fd, &ref, stack, &counter, &p);
                stats.files += p.files;
                stats.dirs += p.dirs;
                stats.mounts_skipped = p.mounts;
                if (!p.again)
                        break;
                if (pass >= RM_RF_MAX_PASSES) {
                        log_warning("rm-rf: '%s' still changing after %u passes, giving up", name, pass);
                        pass_fail(&p, -EAGAIN);
                        break;
                }
        }
        top_fd = safe_close(top_fd);

        if (stats.mounts_skipped > 0)
                goto finish;
        if (p.error < 0) {
                r = p.error;
                goto finish;
        }
        if (p.top_incomplete) {
                r = -EIO; /* not reached: incompleteness always comes with an error or a mount */
                goto finish;
        }
        if (unlinkat(dirfd, name, AT_REMOVEDIR) >= 0) {
                stats.dirs++;
                r = 0;
        } else if (errno == ENOENT)
                r = 0;
        else if (errno == EBUSY) {
                log_warning("rm-rf: '%s' became a mount point, leaving it in place", name);
                stats.mounts_skipped = 1;
        } else
                r = negative_errno();

finish:
        if (stats.mounts_skipped > 0)
                r = -EBUSY;
        if (ret_stats)
                *ret_stats = stats;
        return r;
}

int rm_rf_at(int dirfd, const char *name) {
        return rm_rf_at_full(dirfd, name, NULL);
}

int rm_rf_path(const char *path) {
        _cleanup_free_ char *parent = NULL;
        _cleanup_close_ int fd = -1;
        char *slash;

        if (!path || path[0] != '/')
                return -EINVAL;
        parent = strdup(path);
        if (!parent)
                return -ENOMEM;
        slash = strrchr(parent, '/');
        if (!slash[1])
                return -EINVAL;
        *slash = 0;
        fd = open(slash == parent ? "/" : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        return rm_rf_at(fd, slash + 1);
}
