/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "capacity.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macros.h"
#include "parse-util.h"

/* binfmt_misc entries are a few hundred bytes; anything bigger is not one. */
#define BINFMT_ENTRY_MAX (64U * 1024U)
#define PROC_FILE_MAX (1024U * 1024U)

static const struct {
        const char *machine;
        const char *platform;
} machine_table[] = {
        { "x86_64",  "linux/amd64"   },
        { "aarch64", "linux/arm64"   },
        { "ppc64le", "linux/ppc64le" },
        { "s390x",   "linux/s390x"   },
        { "riscv64", "linux/riscv64" },
        { "armv7l",  "linux/arm/v7"  },
        { "i686",    "linux/386"     },
};

static const struct {
        const char *handler;
        const char *platform;
} handler_table[] = {
        { "qemu-aarch64", "linux/arm64"   },
        { "qemu-x86_64",  "linux/amd64"   },
        { "qemu-arm",     "linux/arm/v7"  },
        { "qemu-ppc64le", "linux/ppc64le" },
        { "qemu-s390x",   "linux/s390x"   },
        { "qemu-riscv64", "linux/riscv64" },
        { "qemu-i386",    "linux/386"     },
};

int capacity_native_platform(const char *machine, char *buf, size_t size) {
        int n;

        for (size_t i = 0; i < ELEMENTSOF(machine_table); i++)
                if (streq(machine, machine_table[i].machine)) {
                        n = snprintf(buf, size, "%s", machine_table[i].platform);
                        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
                }

        n = snprintf(buf, size, "linux/%s", machine);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

static ssize_t handler_index(const char *handler) {
        for (size_t i = 0; i < ELEMENTSOF(handler_table); i++)
                if (streq(handler, handler_table[i].handler))
                        return (ssize_t) i;
        return -1;
}

const char *capacity_handler_platform(const char *handler) {
        ssize_t i = handler_index(handler);

        return i < 0 ? NULL : handler_table[i].platform;
}

static int count_cpus(unsigned *ret) {
        /* The kernel may have more possible CPUs than a default cpu_set_t
         * holds; grow until sched_getaffinity() accepts the size. */
        for (size_t n = 1024; n <= 1024 * 1024; n *= 2) {
                size_t size = CPU_ALLOC_SIZE(n);
                cpu_set_t *set = CPU_ALLOC(n);
                int c;

                if (!set)
                        return -ENOMEM;
                if (sched_getaffinity(0, size, set) < 0) {
                        int r = negative_errno();

                        CPU_FREE(set);
                        if (r == -EINVAL)
                                continue;
                        return r;
                }
                c = CPU_COUNT_S(size, set);
                CPU_FREE(set);
                *ret = c > 0 ? (unsigned) c : 1;
                return 0;
        }
        return -EINVAL;
}

/* Value of a "Key:   123 kB" line of /proc/meminfo, in bytes. */
static int meminfo_field(const char *text, const char *key, uint64_t *ret) {
        size_t l = strlen(key);

        for (const char *p = text, *eol; p; p = eol ? eol + 1 : NULL) {
                char num[32];
                const char *v;
                size_t n = 0;
                uint64_t kb;
                int r;

                eol = strchr(p, '\n');
                if (!strneq(p, key, l) || p[l] != ':')
                        continue;
                v = p + l + 1;
                while (*v == ' ' || *v == '\t')
                        v++;
                while (isdigit((unsigned char) v[n]) && n < sizeof(num) - 1) {
                        num[n] = v[n];
                        n++;
                }
                num[n] = 0;
                r = parse_u64(num, &kb);
                if (r < 0)
                        return r;
                v += n;
                if (!strneq(v, " kB", 3))
                        return -EBADMSG;
                if (kb > UINT64_MAX / 1024)
                        return -ERANGE;
                *ret = kb * 1024;
                return 0;
        }
        return -ENOENT;
}

static int read_meminfo(int proc_fd, uint64_t *ret_total, uint64_t *ret_available) {
        _cleanup_free_ char *text = NULL;
        uint64_t total, available;
        int r;

        r = read_file_at(proc_fd, "meminfo", PROC_FILE_MAX, 1, &text, NULL);
        if (r < 0)
                return log_debug_errno(r, "capacity: cannot read meminfo: %m");
        r = meminfo_field(text, "MemTotal", &total);
        if (r < 0)
                return log_debug_errno(r, "capacity: no usable MemTotal in meminfo: %m");
        r = meminfo_field(text, "MemAvailable", &available);
        if (r == -ENOENT)
                /* Kernels before 3.14 do not estimate it; free memory is a lower bound. */
                r = meminfo_field(text, "MemFree", &available);
        if (r < 0)
                return log_debug_errno(r, "capacity: no usable MemAvailable in meminfo: %m");

        *ret_total = total;
        *ret_available = MIN(available, total);
        return 0;
}

static int read_boot_id(int proc_fd, char ret[static 33]) {
        _cleanup_free_ char *text = NULL;
        size_t n = 0;
        int r;

        r = read_file_at(proc_fd, "sys/kernel/random/boot_id", 4096, 1, &text, NULL);
        if (r < 0)
                return log_debug_errno(r, "capacity: cannot read boot_id: %m");

        for (const char *p = text; *p && *p != '\n'; p++) {
                if (*p == '-')
                        continue;
                if (!isxdigit((unsigned char) *p) || n >= 32)
                        return -EBADMSG;
                ret[n++] = (char) tolower((unsigned char) *p);
        }
        if (n != 32)
                return -EBADMSG;
        ret[n] = 0;
        return 0;
}

/* The first line of a binfmt_misc file: "enabled" or "disabled". */
static int binfmt_read_enabled(int dfd, const char *name, bool *ret) {
        _cleanup_free_ char *text = NULL;
        size_t l;
        int r;

        r = read_file_at(dfd, name, BINFMT_ENTRY_MAX, 1, &text, NULL);
        if (r < 0)
                return r;
        l = strcspn(text, "\n");
        if (l == strlen("enabled") && strneq(text, "enabled", l))
                *ret = true;
        else if (l == strlen("disabled") && strneq(text, "disabled", l))
                *ret = false;
        else
                return -EBADMSG;
        return 0;
}

/* An entry: "enabled"/"disabled" first, then "interpreter PATH", "flags:
 * POCF", ...  F (fix binary) means the kernel opened the interpreter when
 * it was registered; without it the interpreter is looked up by path at
 * each exec, in the mount namespace of the caller: a job sees the host's
 * /usr, but a container's root has no qemu, and every RUN step of a
 * foreign image fails with "no such file or directory". */
static int binfmt_read_entry(int dfd, const char *name, bool *ret_enabled, bool *ret_fix_binary) {
        _cleanup_free_ char *text = NULL;
        const char *flags;
        int r;

        r = binfmt_read_enabled(dfd, name, ret_enabled);
        if (r < 0)
                return r;
        r = read_file_at(dfd, name, BINFMT_ENTRY_MAX, 1, &text, NULL);
        if (r < 0)
                return r;
        flags = strstr(text, "\nflags:");
        if (flags) {
                flags += strlen("\nflags:");
                *ret_fix_binary = memchr(flags, 'F', strcspn(flags, "\n")) != NULL;
        } else
                *ret_fix_binary = false;
        return 0;
}

static int platform_cmp(const void *a, const void *b) {
        const HostPlatform *x = a, *y = b;

        return strcmp(x->platform, y->platform);
}

static int measure_emulated(int proc_fd, const char *binfmt_dir, HostMeasurement *m) {
        _cleanup_closedir_ DIR *d = NULL;
        int fd, r;
        bool on;

        if (binfmt_dir)
                fd = open(binfmt_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        else
                fd = openat(proc_fd, "sys/fs/binfmt_misc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0; /* no binfmt_misc support: nothing is emulated */
                return log_debug_errno(errno, "capacity: cannot open binfmt_misc directory: %m");
        }
        d = fdopendir(fd);
        if (!d) {
                r = negative_errno();
                safe_close(fd);
                return r;
        }

        /* "status" exists when binfmt_misc is mounted; disabled means no
         * handler runs, whatever the entries say. */
        r = binfmt_read_enabled(dirfd(d), "status", &on);
        if (r >= 0 && !on)
                return 0;
        if (r < 0 && r != -ENOENT)
                log_debug_errno(r, "capacity: cannot read binfmt_misc status, ignoring: %m");

        for (;;) {
                HostPlatform *hp;
                ssize_t k;
                struct dirent *de;
                bool dup = false, fix_binary = false;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return log_debug_errno(errno, "capacity: cannot read binfmt_misc directory: %m");
                        break;
                }
                if (!startswith(de->d_name, "qemu-"))
                        continue; /* also skips "register" and "status" */
                k = handler_index(de->d_name);
                if (k < 0 || streq(handler_table[k].platform, m->native_platform))
                        continue;

                r = binfmt_read_entry(dirfd(d), de->d_name, &on, &fix_binary);
                if (r < 0) {
                        log_debug_errno(r, "capacity: skipping binfmt_misc entry '%s': %m", de->d_name);
                        continue;
                }
                if (!on)
                        continue;

                for (size_t i = 0; i < m->n_emulated; i++)
                        if (streq(m->emulated[i].platform, handler_table[k].platform))
                                dup = true;
                if (dup)
                        continue;
                if (m->n_emulated >= ELEMENTSOF(m->emulated))
                        break;

                hp = &m->emulated[m->n_emulated++];
                *hp = (HostPlatform) { .emulated = true, .fix_binary = fix_binary };
                /* From our table, not from the directory: known to fit. */
                snprintf(hp->platform, sizeof(hp->platform), "%s", handler_table[k].platform);
                snprintf(hp->handler, sizeof(hp->handler), "%s", handler_table[k].handler);
        }

        /* readdir order is arbitrary; answers should not be. */
        qsort(m->emulated, m->n_emulated, sizeof(m->emulated[0]), platform_cmp);
        return 0;
}

int capacity_measure(const char *state_dir, const char *binfmt_dir, const char *proc_dir,
                     HostMeasurement *ret) {
        _cleanup_free_ HostMeasurement *m = NULL;
        _cleanup_close_ int proc_fd = -1;
        struct statvfs sv;
        struct utsname u;
        int r;

        if (!state_dir || !ret)
                return -EINVAL;

        /* On the heap: the struct is about 1.8 KiB and *ret is only
         * written once everything worked. */
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;

        proc_fd = open(proc_dir ?: "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (proc_fd < 0)
                return log_debug_errno(errno, "capacity: cannot open %s: %m", proc_dir ?: "/proc");

        r = count_cpus(&m->cpus);
        if (r < 0)
                return log_debug_errno(r, "capacity: cannot get CPU affinity: %m");

        r = read_meminfo(proc_fd, &m->memory_total, &m->memory_available);
        if (r < 0)
                return r;

        if (statvfs(state_dir, &sv) < 0)
                return log_debug_errno(errno, "capacity: cannot statvfs %s: %m", state_dir);
        m->disk_total = (uint64_t) sv.f_blocks * sv.f_frsize;
        m->disk_free = MIN((uint64_t) sv.f_bavail * sv.f_frsize, m->disk_total);

        if (uname(&u) < 0)
                return negative_errno();
        r = capacity_native_platform(u.machine, m->native_platform, sizeof(m->native_platform));
        if (r < 0)
                return r;
        snprintf(m->hostname, sizeof(m->hostname), "%s", u.nodename);

        r = read_boot_id(proc_fd, m->boot_id);
        if (r < 0)
                return r;

        r = measure_emulated(proc_fd, binfmt_dir, m);
        if (r < 0)
                return r;

        *ret = *m;
        return 0;
}

static int json_add(struct json_object *o, const char *key, struct json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

bool capacity_emulated_allowed(const HostPlatform *hp, bool allow_emulated, char *reason, size_t size) {
        if (!hp->fix_binary) {
                snprintf(reason, size,
                         "binfmt_misc entry %s has no F flag, so containers cannot run %s binaries (RUN steps fail); "
                         "register it with F, as Debian's qemu-user-static does (flags OCF)",
                         hp->handler, hp->platform);
                return false;
        }
        if (!allow_emulated) {
                snprintf(reason, size,
                         "%s is only emulated here (%s) and this host's policy does not allow emulated jobs "
                         "([Platforms] AllowEmulated=no); use a native %s host",
                         hp->platform, hp->handler, hp->platform);
                return false;
        }
        return true;
}

static int platform_to_json(const char *platform, bool emulated, const char *handler, bool allowed,
                            const char *reason, struct json_object *array) {
        struct json_object *o;
        int r;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        r = json_add(o, "platform", json_object_new_string(platform));
        if (r >= 0)
                r = json_add(o, "emulated", json_object_new_boolean(emulated));
        if (r >= 0 && emulated)
                r = json_add(o, "handler", json_object_new_string(handler));
        if (r >= 0 && emulated)
                r = json_add(o, "allowed", json_object_new_boolean(allowed));
        if (r >= 0 && emulated && !allowed)
                r = json_add(o, "reason", json_object_new_string(reason));
        if (r >= 0 && json_object_array_add(array, o) < 0)
                r = -ENOMEM;
        if (r < 0)
                json_object_put(o);
        return r;
}

int capacity_to_json(const HostMeasurement *m, bool allow_emulated, const char *state_dir,
                     struct json_object **ret_platforms, struct json_object **ret_resources) {
        struct json_object *platforms = NULL, *resources = NULL;
        int r;

        if (!m || !state_dir || !ret_platforms || !ret_resources)
                return -EINVAL;

        platforms = json_object_new_array();
        if (!platforms)
                return -ENOMEM;
        r = platform_to_json(m->native_platform, false, NULL, true, NULL, platforms);
        for (size_t i = 0; r >= 0 && i < m->n_emulated; i++) {
                char reason[512];
                bool allowed = capacity_emulated_allowed(&m->emulated[i], allow_emulated, reason, sizeof(reason));

                r = platform_to_json(m->emulated[i].platform, true, m->emulated[i].handler, allowed, reason, platforms);
        }
        if (r < 0)
                goto fail;

        resources = json_object_new_object();
        if (!resources) {
                r = -ENOMEM;
                goto fail;
        }
        r = json_add(resources, "cpus", json_object_new_int64(m->cpus));
        if (r >= 0)
                r = json_add(resources, "memory_total_bytes", json_object_new_uint64(m->memory_total));
        if (r >= 0)
                r = json_add(resources, "memory_available_bytes", json_object_new_uint64(m->memory_available));
        if (r >= 0)
                r = json_add(resources, "disk_total_bytes", json_object_new_uint64(m->disk_total));
        if (r >= 0)
                r = json_add(resources, "disk_free_bytes", json_object_new_uint64(m->disk_free));
        if (r >= 0)
                r = json_add(resources, "state_dir", json_object_new_string(state_dir));
        if (r < 0)
                goto fail;

        *ret_platforms = platforms;
        *ret_resources = resources;
        return 0;

fail:
        json_object_put(platforms);
        json_object_put(resources);
        return r;
}
