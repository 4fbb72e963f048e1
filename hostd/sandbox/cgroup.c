/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macros.h"
#include "parse-util.h"

#define JOBS_DIR "hostd.jobs"

/* Bounds on what we read from the kernel.  Control files we parse are a
 * few lines; cgroup.procs is streamed instead (a fork bomb can list
 * millions of pids). */
#define CG_SMALL_FILE_MAX 4096U
#define CG_STAT_FILE_MAX (64U * 1024U)
#define MOUNTINFO_LINE_MAX (64U * 1024U)

#define CG_LIST_MAX 65536U

static const char *const controller_names[] = { "cpu", "memory", "pids", "io" };

bool cgroup_job_name_is_valid(const char *job) {
        size_t n;

        if (!job)
                return false;
        n = strlen(job);
        if (n == 0 || n > 64)
                return false;
        for (const char *p = job; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
                        return false;
        return true;
}

/* One write(): cgroup files take a whole value per write and cannot be
 * replaced by rename. */
int cgroup_write_at(int dirfd, const char *file, const char *value) {
        _cleanup_close_ int fd = -1;
        size_t n = strlen(value);
        ssize_t k;

        fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
                return negative_errno();
        do
                k = write(fd, value, n);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return negative_errno();
        if ((size_t) k != n)
                return -EIO;
        return 0;
}

static int cg_read_at(int dirfd, const char *file, size_t max, char **ret) {
        return read_file_at(dirfd, file, max, /* nofollow= */ 1, ret, NULL);
}

/* A number in a cgroup file: it may end the line or be followed by more. */
static int parse_u64_field(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || end == s || (*end != '\0' && *end != '\n' && *end != ' '))
                return -EINVAL;
        *ret = (uint64_t) v;
        return 0;
}

const char *cgroup_find_key(const char *text, const char *key) {
        size_t n = strlen(key);

        for (const char *p = text; p && *p; ) {
                if (strncmp(p, key, n) == 0 && p[n] == ' ')
                        return p + n + 1;
                p = strchr(p, '\n');
                if (p)
                        p++;
        }
        return NULL;
}

static bool word_in_list(const char *list, const char *word) {
        size_t n = strlen(word);

        for (const char *p = list; *p; ) {
                p += strspn(p, " \t\n");
                if (strncmp(p, word, n) == 0 && (p[n] == '\0' || strchr(" \t\n", p[n])))
                        return true;
                p += strcspn(p, " \t\n");
        }
        return false;
}

/* The cgroup2 mount point: /sys/fs/cgroup if it is one (unified), else
 * /sys/fs/cgroup/unified (hybrid), else the first cgroup2 mount seen. */
static int find_cgroup2_mount(char *buf, size_t size) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL, *first = NULL;
        size_t alloc = 0;
        int best = 0;   /* 2: /sys/fs/cgroup, 1: /sys/fs/cgroup/unified */
        ssize_t k;

        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return log_error_errno(negative_errno(), "Failed to open /proc/self/mountinfo: %m");

        while ((k = getline(&line, &alloc, f)) >= 0) {
                char *fields[10], *sep, *save = NULL, *tok;
                size_t n = 0;
                int rank;

                if ((size_t) k > MOUNTINFO_LINE_MAX)
                        continue;
                /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS" */
                sep = strstr(line, " - ");
                if (!sep)
                        continue;
                *sep = 0;
                for (tok = strtok_r(line, " ", &save); tok && n < 6; tok = strtok_r(NULL, " ", &save))
                        fields[n++] = tok;
                if (n < 5)
                        continue;
                tok = strtok_r(sep + 3, " \n", &save);
                if (!tok || !streq(tok, "cgroup2"))
                        continue;

                mountinfo_unescape(fields[4]);
                if (streq(fields[4], "/sys/fs/cgroup"))
                        rank = 2;
                else if (streq(fields[4], "/sys/fs/cgroup/unified"))
                        rank = 1;
                else
                        rank = 0;

                if (rank > best || (!first && rank == 0)) {
                        free(first);
                        first = strdup(fields[4]);
                        if (!first)
                                return log_error_errno(-ENOMEM, "Out of memory.");
                        best = MAX(best, rank);
                }
                if (best == 2)
                        break;
        }
        if (ferror(f))
                return log_error_errno(-EIO, "Failed to read /proc/self/mountinfo.");

        if (!first) {
                buf[0] = 0;
                return 0;
        }
        if (strlen(first) >= size)
                return log_error_errno(-ENAMETOOLONG, "cgroup2 mount point too long: %s", first);
        strcpy(buf, first);
        return 1;
}

/* hostd's own cgroup on the unified hierarchy ("0::/path"), "/" if none. */
static int get_own_cgroup(char **ret) {
        _cleanup_free_ char *text = NULL;
        const char *p;
        char *s;
        int r;

        r = read_file_at(AT_FDCWD, "/proc/self/cgroup", CG_STAT_FILE_MAX, 0, &text, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to read /proc/self/cgroup: %m");

        for (p = text; p && *p; ) {
                if (startswith(p, "0::")) {
                        size_t n = strcspn(p + 3, "\n");

                        s = strndup(p + 3, n);
                        if (!s)
                                return -ENOMEM;
                        *ret = s;
                        return 0;
                }
                p = strchr(p, '\n');
                if (p)
                        p++;
        }
        s = strdup("/");
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* Enables in dirfd's cgroup.subtree_control the controllers among ours
 * that its cgroup.controllers offers, one at a time: one refused
 * controller (EBUSY when the cgroup has processes, EINVAL/ENOENT when it
 * is threaded or absent) must not cost us the others. */
static void enable_controllers(int dirfd, const char *path) {
        _cleanup_free_ char *avail = NULL, *enabled = NULL;
        int r;

        r = cg_read_at(dirfd, "cgroup.controllers", CG_SMALL_FILE_MAX, &avail);
        if (r < 0) {
                log_warning_errno(r, "Failed to read %s/cgroup.controllers: %m", path);
                return;
        }
        (void) cg_read_at(dirfd, "cgroup.subtree_control", CG_SMALL_FILE_MAX, &enabled);

        for (size_t i = 0; i < ELEMENTSOF(controller_names); i++) {
                char value[32];

                if (!word_in_list(avail, controller_names[i]))
                        continue;
                if (enabled && word_in_list(enabled, controller_names[i]))
                        continue;

                snprintf(value, sizeof(value), "+%s", controller_names[i]);
                r = cgroup_write_at(dirfd, "cgroup.subtree_control", value);
                if (r < 0)
                        log_full_errno((r == -EBUSY || r == -ENOENT || r == -EINVAL) ? LOG_DEBUG : LOG_WARNING, r,
                                       "Failed to enable controller %s in %s/cgroup.subtree_control, "
                                       "job cgroups will not have it: %m",
                                       controller_names[i], path);
                else
                        log_debug("Enabled controller %s in %s.", controller_names[i], path);
        }
}

/* Creates (if missing) and opens one cgroup below dirfd. */
static int open_child_cgroup(int dirfd, const char *name, const char *path, bool create) {
        int fd, r;

        if (create) {
                r = mkdir_safe_at(dirfd, name, 0755);
                if (r < 0)
                        return log_error_errno(r, "Failed to create cgroup %s: %m", path);
        }
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return log_error_errno(negative_errno(), "Failed to open cgroup %s: %m", path);
        return fd;
}

static int normalize_parent(const char *parent, char *buf, size_t size) {
        size_t n = 0;

        buf[0] = 0;
        if (!parent)
                return 0;
        if (parent[0] != '/')
                return -EINVAL;

        for (const char *p = parent; *p; ) {
                size_t l;

                p += strspn(p, "/");
                l = strcspn(p, "/");
                if (l == 0)
                        break;
                if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
                        return -EINVAL;
                if (n + 1 + l + 1 > size)
                        return -ENAMETOOLONG;
                buf[n++] = '/';
                memcpy(buf + n, p, l);
                n += l;
                buf[n] = 0;
                p += l;
        }
        return 0;
}

int cgroup_detect_with_parent(const char *parent, CgroupSupport *ret) {
        _cleanup_free_ char *own = NULL, *enabled = NULL;
        _cleanup_close_ int fd = -1;
        char rel[256], path[PATH_MAX];
        struct statfs sfs;
        int r;

        *ret = (CgroupSupport) {};

        r = normalize_parent(parent, rel, sizeof(rel));
        if (r < 0)
                return log_error_errno(r, "Invalid parent cgroup \"%s\": must be an absolute cgroup path "
                                       "without \".\" or \"..\".", strempty(parent));

        r = find_cgroup2_mount(ret->root, sizeof(ret->root));
        if (r < 0)
                return r;
        if (r == 0) {
                log_info("No cgroup2 file system mounted, job cgroups are not available.");
                return 0;
        }

        /* hostd.jobs inside hostd's own cgroup would die with hostd.service
         * (and break the "no internal processes" rule). */
        r = get_own_cgroup(&own);
        if (r < 0)
                return r;
        if (!streq(own, "/")) {
                const char *rest = startswith(rel, own);

                if (rest && (*rest == '\0' || *rest == '/'))
                        return log_error_errno(-EINVAL, "Parent cgroup %s is inside hostd's own cgroup %s, "
                                               "a restart of hostd would kill every job; pick a sibling.",
                                               rel, own);
        }

        fd = open(ret->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(negative_errno(), "Failed to open %s: %m", ret->root);
        if (fstatfs(fd, &sfs) < 0)
                return log_error_errno(negative_errno(), "Failed to statfs %s: %m", ret->root);
        if (sfs.f_type != CGROUP2_SUPER_MAGIC)
                return log_error_errno(-EMEDIUMTYPE, "%s is not a cgroup2 file system.", ret->root);

        snprintf(path, sizeof(path), "%s", ret->root);
        enable_controllers(fd, path);

        /* Walk down to the parent, creating what is missing and enabling
         * controllers on the way: a controller reaches the job cgroups only
         * if every ancestor has it in its subtree_control. */
        for (const char *p = rel; *p; ) {
                char name[NAME_MAX + 1];
                size_t l;
                int sub;

                p += strspn(p, "/");
                l = strcspn(p, "/");
                if (l == 0)
                        break;
                if (l > NAME_MAX)
                        return log_error_errno(-ENAMETOOLONG, "Parent cgroup %s: component too long.", rel);
                memcpy(name, p, l);
                name[l] = 0;
                p += l;

                if (strlen(path) + 1 + l >= sizeof(path))
                        return log_error_errno(-ENAMETOOLONG, "Parent cgroup path too long: %s%s", ret->root, rel);
                strcat(path, "/");
                strcat(path, name);

                sub = open_child_cgroup(fd, name, path, true);
                if (sub < 0)
                        return sub;
                safe_close(fd);
                fd = sub;
                enable_controllers(fd, path);
        }

        if (snprintf(ret->base, sizeof(ret->base), "%s%s/" JOBS_DIR, ret->root, rel) >= (int) sizeof(ret->base)) {
                ret->base[0] = 0;
                return log_error_errno(-ENAMETOOLONG, "Job cgroup base too long: %s%s/" JOBS_DIR, ret->root, rel);
        }

        {
                int sub = open_child_cgroup(fd, JOBS_DIR, ret->base, true);
                if (sub < 0) {
                        ret->base[0] = 0;
                        return sub;
                }
                safe_close(fd);
                fd = sub;
        }
        enable_controllers(fd, ret->base);

        /* What job cgroups really get is what ended up in hostd.jobs's
         * subtree_control, whichever run of hostd enabled it. */
        r = cg_read_at(fd, "cgroup.subtree_control", CG_SMALL_FILE_MAX, &enabled);
        if (r < 0) {
                log_error_errno(r, "Failed to read %s/cgroup.subtree_control: %m", ret->base);
                ret->base[0] = 0;
                return r;
        }
        ret->cpu = word_in_list(enabled, "cpu");
        ret->memory = word_in_list(enabled, "memory");
        ret->pids = word_in_list(enabled, "pids");
        ret->io = word_in_list(enabled, "io");

        /* hostd.jobs is not a root cgroup, so its own core files show what
         * the kernel offers any job cgroup; its memory.* files exist since
         * its parent enables memory (a precondition for enabling it here). */
        ret->kill = faccessat(fd, "cgroup.kill", F_OK, AT_SYMLINK_NOFOLLOW) >= 0;
        ret->freeze = faccessat(fd, "cgroup.freeze", F_OK, AT_SYMLINK_NOFOLLOW) >= 0;
        ret->memory_swap = ret->memory && faccessat(fd, "memory.swap.max", F_OK, AT_SYMLINK_NOFOLLOW) >= 0;

        log_info("Job cgroups under %s: controllers%s%s%s%s%s, cgroup.kill %s, cgroup.freeze %s.",
                 ret->base,
                 ret->cpu ? " cpu" : "", ret->memory ? " memory" : "", ret->pids ? " pids" : "",
                 ret->io ? " io" : "",
                 ret->cpu || ret->memory || ret->pids || ret->io ? "" : " none",
                 ret->kill ? "yes" : "no", ret->freeze ? "yes" : "no");
        return 0;
}

int cgroup_detect_under_systemd(CgroupSupport *ret) {
        _cleanup_free_ char *controllers = NULL, *own = NULL;
        _cleanup_close_ int fd = -1, own_fd = -1;
        char path[PATH_MAX];
        int r;

        *ret = (CgroupSupport) {};
        r = find_cgroup2_mount(ret->root, sizeof(ret->root));
        if (r <= 0)
                return r;
        fd = open(ret->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(negative_errno(), "Failed to open %s: %m", ret->root);
        /* systemd enables a controller down to a unit that asks for it
         * (the scope's limits do): what the root offers is what jobs get. */
        r = cg_read_at(fd, "cgroup.controllers", CG_SMALL_FILE_MAX, &controllers);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s/cgroup.controllers: %m", ret->root);
        ret->cpu = word_in_list(controllers, "cpu");
        ret->memory = word_in_list(controllers, "memory");
        ret->pids = word_in_list(controllers, "pids");
        ret->io = word_in_list(controllers, "io");

        /* The root cgroup has no cgroup.kill or memory.swap.max: look at our own. */
        r = get_own_cgroup(&own);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "%s%s", ret->root, own);
        own_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (own_fd >= 0) {
                ret->kill = faccessat(own_fd, "cgroup.kill", F_OK, AT_SYMLINK_NOFOLLOW) >= 0;
                ret->freeze = faccessat(own_fd, "cgroup.freeze", F_OK, AT_SYMLINK_NOFOLLOW) >= 0;
                ret->memory_swap = ret->memory && faccessat(own_fd, "memory.swap.max", F_OK, AT_SYMLINK_NOFOLLOW) >= 0;
        }
        log_info("Job cgroups are systemd scopes under %s: controllers%s%s%s%s%s, cgroup.kill %s.",
                 ret->root, ret->cpu ? " cpu" : "", ret->memory ? " memory" : "", ret->pids ? " pids" : "",
                 ret->io ? " io" : "", ret->cpu || ret->memory || ret->pids || ret->io ? "" : " none",
                 ret->kill ? "yes" : "no");
        return 0;
}

int cgroup_detect(CgroupSupport *ret) {
        return cgroup_detect_with_parent(NULL, ret);
}

int cgroup_job_path(const CgroupSupport *s, const char *job, char *buf, size_t size) {
        if (!cgroup_job_name_is_valid(job))
                return -EINVAL;
        if (isempty(s->base))
                return -EOPNOTSUPP;
        if (snprintf(buf, size, "%s/%s", s->base, job) >= (int) size)
                return -ENAMETOOLONG;
        return 0;
}

static int open_base(const CgroupSupport *s) {
        int fd;

        if (isempty(s->base))
                return -EOPNOTSUPP;
        fd = open(s->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return negative_errno();
        return fd;
}

/* Opens the cgroup directory name under dirfd, never through a symlink;
 * -ENOENT (not logged) if it does not exist.  path is for messages. */
static int open_dir_at(int dirfd, const char *name, const char *path) {
        int fd, r;

        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                r = negative_errno();
                if (r == -ENOENT)
                        return r;
                return log_error_errno(r, "Failed to open %s: %m", path);
        }
        return fd;
}

int cgroup_job_open(const CgroupSupport *s, const char *job, char *path, size_t size) {
        _cleanup_close_ int base_fd = -1;
        int r;

        r = cgroup_job_path(s, job, path, size);
        if (r < 0)
                return log_error_errno(r, "Cannot use job cgroup \"%s\" under \"%s\": %m",
                                       strempty(job), s->base);
        base_fd = open_base(s);
        if (base_fd < 0) {
                if (base_fd == -ENOENT)
                        return -ENOENT;
                return log_error_errno(base_fd, "Failed to open %s: %m", s->base);
        }
        return open_dir_at(base_fd, job, path);
}

/* Writes the limits of l into the cgroup open at fd (path for messages). */
static int write_limits(const CgroupSupport *s, int fd, const char *path, const CgroupLimits *l, bool job) {
        char cpu[64], memory[32], swap[32], pids[32], io[32], depth[16], desc[16];
        int r;

        /* The kernel's minimum quota is 1ms per period. */
        if (l->millicpus > 0)
                snprintf(cpu, sizeof(cpu), "%" PRIu64 " 100000", MAX((uint64_t) l->millicpus * 100, (uint64_t) 1000));
        else
                snprintf(cpu, sizeof(cpu), "max 100000");
#define LIMIT(buf, v) (v > 0 ? (snprintf(buf, sizeof(buf), "%" PRIu64, (uint64_t) (v)), buf) : "max")
        snprintf(io, sizeof(io), "default %" PRIu64,
                 l->io_weight == 0 ? (uint64_t) 100 : MIN(MAX(l->io_weight, (uint64_t) 1), (uint64_t) 10000));
        snprintf(depth, sizeof(depth), "%u", CGROUP_JOB_MAX_DEPTH);
        snprintf(desc, sizeof(desc), "%u", CGROUP_JOB_MAX_DESCENDANTS);

        const struct {
                bool enabled;
                const char *file;
                const char *value;
        } settings[] = {
                { s->cpu,         "cpu.max",                cpu },
                { s->memory,      "memory.max",             LIMIT(memory, l->memory) },
                { s->memory_swap, "memory.swap.max",        l->no_swap ? "0" : LIMIT(swap, l->swap) },
                { s->pids,        "pids.max",               LIMIT(pids, l->pids) },
                { s->io && job,   "io.weight",              io },
                { job,            "cgroup.max.depth",       depth },
                { job,            "cgroup.max.descendants", desc },
        };
#undef LIMIT

        for (size_t i = 0; i < ELEMENTSOF(settings); i++) {
                if (!settings[i].enabled)
                        continue;
                r = cgroup_write_at(fd, settings[i].file, settings[i].value);
                if (r == -ENOENT) {
                        /* Controller enabled but this knob absent (e.g. swap
                         * accounting off): the caller sees that in
                         * CgroupSupport, nothing to enforce here. */
                        log_debug("%s/%s does not exist, not set.", path, settings[i].file);
                        continue;
                }
                if (r < 0)
                        return log_error_errno(r, "Failed to write \"%s\" to %s/%s: %m",
                                               settings[i].value, path, settings[i].file);
        }
        return 0;
}

int cgroup_job_create(const CgroupSupport *s, const char *job, const CgroupLimits *l) {
        _cleanup_close_ int base_fd = -1, fd = -1;
        char path[PATH_MAX];
        int r;

        r = cgroup_job_path(s, job, path, sizeof(path));
        if (r < 0)
                return log_error_errno(r, "Cannot create job cgroup \"%s\" under \"%s\": %m",
                                       strempty(job), s->base);

        base_fd = open_base(s);
        if (base_fd < 0)
                return log_error_errno(base_fd, "Failed to open %s: %m", s->base);
        fd = open_child_cgroup(base_fd, job, path, true);
        if (fd < 0)
                return fd;
        return write_limits(s, fd, path, l, true);
}

int cgroup_set_total_limits(const CgroupSupport *s, const CgroupLimits *l) {
        _cleanup_close_ int base_fd = -1;

        if (!s->base[0])
                return 0;
        base_fd = open_base(s);
        if (base_fd < 0)
                return log_error_errno(base_fd, "Failed to open %s: %m", s->base);
        return write_limits(s, base_fd, s->base, l, false);
}

int cgroup_delegate_at(int fd, const char *path, uid_t uid, gid_t gid) {
        static const char *const files[] = { "cgroup.procs", "cgroup.threads", "cgroup.subtree_control" };

        if (fchown(fd, uid, gid) < 0)
                return log_error_errno(negative_errno(), "Failed to chown %s: %m", path);
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                if (fchownat(fd, files[i], uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
                        int r = negative_errno();

                        if (r == -ENOENT)
                                continue;
                        return log_error_errno(r, "Failed to chown %s/%s: %m", path, files[i]);
                }
        return 0;
}

int cgroup_job_delegate(const CgroupSupport *s, const char *job, uid_t uid, gid_t gid) {
        _cleanup_close_ int fd = -1;
        char path[PATH_MAX];

        fd = cgroup_job_open(s, job, path, sizeof(path));
        if (fd < 0)
                return fd == -ENOENT ? log_error_errno(fd, "Failed to open %s: %m", path) : fd;
        return cgroup_delegate_at(fd, path, uid, gid);
}

/* Opens the cgroup directory at path; -ENOENT (not logged) if it does not exist. */
static int open_path(const char *path) {
        if (isempty(path) || path[0] != '/')
                return log_error_errno(-EINVAL, "Not an absolute cgroup path: \"%s\"", strempty(path));
        return open_dir_at(AT_FDCWD, path, path);
}

static int attach_at(int fd, const char *path, pid_t pid) {
        char value[32];
        int r;

        /* "0" is the writer itself, also from inside a pid namespace. */
        snprintf(value, sizeof(value), "%d", (int) pid);
        r = cgroup_write_at(fd, "cgroup.procs", value);
        if (r < 0) {
                if (pid == 0)
                        return log_error_errno(r, "Failed to move this process into %s: %m", path);
                return log_error_errno(r, "Failed to move process %d into %s: %m", (int) pid, path);
        }
        return 0;
}

int cgroup_job_attach(const CgroupSupport *s, const char *job, pid_t pid) {
        _cleanup_close_ int fd = -1;
        char path[PATH_MAX];

        if (pid <= 0)
                return -EINVAL;

        fd = cgroup_job_open(s, job, path, sizeof(path));
        if (fd < 0)
                return fd == -ENOENT ? log_error_errno(fd, "Failed to open %s: %m", path) : fd;
        return attach_at(fd, path, pid);
}

int cgroup_attach_path(const char *path, pid_t pid) {
        _cleanup_close_ int fd = -1;

        if (pid < 0)
                return -EINVAL;

        fd = open_path(path);
        if (fd < 0)
                return fd == -ENOENT ? log_error_errno(fd, "Failed to open %s: %m", path) : fd;
        return attach_at(fd, path, pid);
}

int cgroup_job_exists(const CgroupSupport *s, const char *job) {
        _cleanup_close_ int base_fd = -1;
        struct stat st;

        if (!cgroup_job_name_is_valid(job))
                return -EINVAL;
        base_fd = open_base(s);
        if (base_fd == -ENOENT)
                return 0;
        if (base_fd < 0)
                return log_error_errno(base_fd, "Failed to open %s: %m", s->base);
        if (fstatat(base_fd, job, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(negative_errno(), "Failed to stat %s/%s: %m", s->base, job);
        }
        return S_ISDIR(st.st_mode);
}

static int strcmp_ptr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int cgroup_list_jobs(const CgroupSupport *s, char ***ret) {
        _cleanup_close_ int base_fd = -1;
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, alloc = 0;
        struct dirent *de;
        int r;

        base_fd = open_base(s);
        if (base_fd == -ENOENT) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
                *ret = TAKE_PTR(l);
                return 0;
        }
        if (base_fd < 0)
                return log_error_errno(base_fd, "Failed to open %s: %m", s->base);
        r = opendir_at(base_fd, &d);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", s->base);

        for (;;) {
                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return log_error_errno(negative_errno(), "Failed to read %s: %m", s->base);
                        break;
                }
                if (de->d_type != DT_DIR || !cgroup_job_name_is_valid(de->d_name))
                        continue;
                if (n >= CG_LIST_MAX)
                        return log_error_errno(-E2BIG, "More than %u job cgroups under %s.", CG_LIST_MAX, s->base);
                if (n + 2 > alloc) {
                        size_t na = MAX(alloc * 2, (size_t) 16);
                        char **nl = realloc(l, na * sizeof(char *));

                        if (!nl)
                                return -ENOMEM;
                        l = nl;
                        alloc = na;
                }
                l[n] = strdup(de->d_name);
                if (!l[n])
                        return -ENOMEM;
                l[++n] = NULL;
        }

        if (!l) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
        }
        qsort(l, n, sizeof(char *), strcmp_ptr);
        *ret = TAKE_PTR(l);
        return 0;
}

static int read_u64_at(int dirfd, const char *file, uint64_t *ret) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = cg_read_at(dirfd, file, CG_SMALL_FILE_MAX, &text);
        if (r < 0)
                return r;
        return parse_u64_field(text, ret);
}

static void usage_at(int fd, const char *path, CgroupUsage *ret) {
        _cleanup_free_ char *stat = NULL;
        CgroupUsage u = {};
        int r;

        r = cg_read_at(fd, "cpu.stat", CG_STAT_FILE_MAX, &stat);
        if (r >= 0) {
                const char *v = cgroup_find_key(stat, "usage_usec");

                u.has_cpu = v && parse_u64_field(v, &u.cpu_usec) >= 0;
        } else if (r != -ENOENT)
                log_warning_errno(r, "Failed to read %s/cpu.stat: %m", path);

        r = read_u64_at(fd, "memory.current", &u.memory);
        if (r >= 0)
                u.has_memory = true;
        else if (r != -ENOENT)
                log_warning_errno(r, "Failed to read %s/memory.current: %m", path);

        r = read_u64_at(fd, "pids.current", &u.pids);
        if (r >= 0)
                u.has_pids = true;
        else if (r != -ENOENT)
                log_warning_errno(r, "Failed to read %s/pids.current: %m", path);

        *ret = u;
}

int cgroup_job_usage(const CgroupSupport *s, const char *job, CgroupUsage *ret) {
        _cleanup_close_ int fd = -1;
        char path[PATH_MAX];

        fd = cgroup_job_open(s, job, path, sizeof(path));
        if (fd < 0)
                return fd;
        usage_at(fd, path, ret);
        return 0;
}

int cgroup_usage_path(const char *path, CgroupUsage *ret) {
        _cleanup_close_ int fd = -1;

        fd = open_path(path);
        if (fd < 0)
                return fd;
        usage_at(fd, path, ret);
        return 0;
}

/* rmdir name below dirfd after everything below it, depth first.  Only
 * directories are touched (a cgroup's files go with its rmdir). */
static int remove_subtree(int dirfd, const char *name, const char *path, unsigned depth) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_close_ int fd = -1;
        struct dirent *de;
        int r, first_error = 0;

        if (depth > CGROUP_WALK_MAX_DEPTH)
                return log_error_errno(-ELOOP, "Cgroup tree below %s deeper than %u levels.", path, CGROUP_WALK_MAX_DEPTH);

        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(negative_errno(), "Failed to open %s: %m", path);
        }
        r = opendir_at(fd, &d);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", path);

        while ((de = readdir(d))) {
                char subpath[PATH_MAX];

                if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (snprintf(subpath, sizeof(subpath), "%s/%s", path, de->d_name) >= (int) sizeof(subpath))
                        return log_error_errno(-ENAMETOOLONG, "Cgroup path too long below %s.", path);
                r = remove_subtree(fd, de->d_name, subpath, depth + 1);
                if (r < 0 && first_error == 0)
                        first_error = r;
        }
        if (first_error < 0)
                return first_error;

        if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0) {
                r = negative_errno();
                if (r == -ENOENT)
                        return 0;
                if (r == -EBUSY)
                        return log_warning_errno(r, "Cannot remove %s, processes remain in it: %m", path);
                return log_error_errno(r, "Failed to remove %s: %m", path);
        }
        return 0;
}

int cgroup_job_remove(const CgroupSupport *s, const char *job) {
        _cleanup_close_ int base_fd = -1;
        char path[PATH_MAX];
        int r;

        r = cgroup_job_path(s, job, path, sizeof(path));
        if (r < 0)
                return log_error_errno(r, "Cannot remove job cgroup \"%s\" under \"%s\": %m",
                                       strempty(job), s->base);
        base_fd = open_base(s);
        if (base_fd == -ENOENT)
                return 0;
        if (base_fd < 0)
                return log_error_errno(base_fd, "Failed to open %s: %m", s->base);
        return remove_subtree(base_fd, job, path, 0);
}
