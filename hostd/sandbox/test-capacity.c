/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "capacity.h"
#include "fileio.h"
#include "log.h"
#include "macros.h"
#include "test-util.h"


static char base[64];
static int base_fd = -1;

static void put(const char *path, const char *content, size_t size) {
        _cleanup_close_ int fd = openat(base_fd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || write(fd, content, size) != (ssize_t) size)
                CHECK_MSG(false, "write %s: %m", path);
}

static void put_str(const char *path, const char *content) {
        put(path, content, strlen(content));
}

static void mkdir_at(const char *path) {
        if (mkdirat(base_fd, path, 0755) < 0 && errno != EEXIST)
                CHECK_MSG(false, "mkdir %s: %m", path);
}

static void path_of(char *buf, size_t size, const char *rel) {
        snprintf(buf, size, "%s/%s", base, rel);
}

static bool is_hex32(const char *s) {
        size_t n = 0;

        for (; s[n]; n++)
                if (!isxdigit((unsigned char) s[n]) || isupper((unsigned char) s[n]))
                        return false;
        return n == 32;
}

static void test_mappings(void) {
        static const char *const pairs[][2] = {
                { "x86_64",  "linux/amd64"   },
                { "aarch64", "linux/arm64"   },
                { "ppc64le", "linux/ppc64le" },
                { "s390x",   "linux/s390x"   },
                { "riscv64", "linux/riscv64" },
                { "armv7l",  "linux/arm/v7"  },
                { "i686",    "linux/386"     },
                { "mips64",  "linux/mips64"  },
        };
        char buf[32];

        for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
                int r = capacity_native_platform(pairs[i][0], buf, sizeof(buf));
                CHECK_MSG(r == 0 && streq(buf, pairs[i][1]), "%s -> %s (r=%d)", pairs[i][0], buf, r);
        }
        CHECK_MSG(capacity_native_platform("a-very-long-machine-name-that-overflows", buf, sizeof(buf)) == -ENAMETOOLONG,
              "long machine");

        CHECK_MSG(streq_ptr(capacity_handler_platform("qemu-aarch64"), "linux/arm64"), "aarch64");
        CHECK_MSG(streq_ptr(capacity_handler_platform("qemu-x86_64"), "linux/amd64"), "x86_64");
        CHECK_MSG(streq_ptr(capacity_handler_platform("qemu-arm"), "linux/arm/v7"), "arm");
        CHECK_MSG(streq_ptr(capacity_handler_platform("qemu-ppc64le"), "linux/ppc64le"), "ppc64le");
        CHECK_MSG(streq_ptr(capacity_handler_platform("qemu-s390x"), "linux/s390x"), "s390x");
        CHECK_MSG(streq_ptr(capacity_handler_platform("qemu-riscv64"), "linux/riscv64"), "riscv64");
        CHECK_MSG(streq_ptr(capacity_handler_platform("qemu-i386"), "linux/386"), "i386");
        CHECK_MSG(!capacity_handler_platform("qemu-mips"), "mips");
        CHECK_MSG(!capacity_handler_platform("python3.11"), "python");
}

static void test_real_host(void) {
        _cleanup_free_ char *boot_id = NULL;
        HostMeasurement m;
        struct utsname u;
        char native[32], expect_boot_id[33] = "";
        size_t n = 0;
        int r;

        r = capacity_measure(base, NULL, NULL, &m);
        CHECK_MSG(r == 0, "r=%d", r);
        if (r < 0)
                return;

        CHECK_MSG(m.cpus >= 1, "cpus=%u", m.cpus);
        CHECK_MSG(m.cpus <= (unsigned) sysconf(_SC_NPROCESSORS_CONF), "cpus=%u", m.cpus);
        CHECK_MSG(m.memory_total > 0, "memory_total=0");
        CHECK_MSG(m.memory_available > 0 && m.memory_available <= m.memory_total, "memory_available=%llu",
              (unsigned long long) m.memory_available);
        CHECK_MSG(m.disk_total > 0, "disk_total=0");
        CHECK_MSG(m.disk_free <= m.disk_total, "disk_free=%llu > disk_total=%llu",
              (unsigned long long) m.disk_free, (unsigned long long) m.disk_total);

        CHECK_MSG(uname(&u) == 0, "uname: %m");
        CHECK_MSG(capacity_native_platform(u.machine, native, sizeof(native)) == 0, "native");
        CHECK_MSG(streq(m.native_platform, native), "native %s != %s", m.native_platform, native);
        if (streq(u.machine, "x86_64"))
                CHECK_MSG(streq(m.native_platform, "linux/amd64"), "native %s", m.native_platform);
        CHECK_MSG(streq(m.hostname, u.nodename), "hostname %s", m.hostname);

        CHECK_MSG(is_hex32(m.boot_id), "boot_id '%s'", m.boot_id);
        if (read_file_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", 4096, 1, &boot_id, NULL) >= 0) {
                for (const char *p = boot_id; *p && *p != '\n' && n < 32; p++)
                        if (*p != '-')
                                expect_boot_id[n++] = *p;
                expect_boot_id[n] = 0;
        }
        CHECK_MSG(streq(m.boot_id, expect_boot_id), "boot_id %s != %s", m.boot_id, expect_boot_id);

        for (size_t i = 0; i < m.n_emulated; i++)
                CHECK_MSG(!streq(m.emulated[i].platform, m.native_platform) && m.emulated[i].emulated,
                      "real host lists %s", m.emulated[i].platform);
        printf("host: %s %s cpus=%u mem=%llu/%llu disk=%llu/%llu emulated=%zu boot_id=%s\n",
               m.hostname, m.native_platform, m.cpus,
               (unsigned long long) m.memory_available, (unsigned long long) m.memory_total,
               (unsigned long long) m.disk_free, (unsigned long long) m.disk_total,
               m.n_emulated, m.boot_id);
}

static const char qemu_entry_aarch64[] =
        "enabled\n"
        "interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n"
        "flags: POCF\n"
        "offset 0\n"
        "magic 7f454c460201010000000000000000000200b700\n"
        "mask ffffffffffffff00fffffffffffffffffeffffff\n";

static void make_binfmt(const char *dir, const char *status) {
        char p[128];
        _cleanup_free_ char *big = NULL;

#define AT(name) (snprintf(p, sizeof(p), "%s/%s", dir, name), p)
        mkdir_at(dir);
        if (status)
                put_str(AT("status"), status);
        put_str(AT("register"), "");
        put_str(AT("qemu-aarch64"), qemu_entry_aarch64);
        put_str(AT("qemu-riscv64"), "disabled\ninterpreter /usr/libexec/qemu-binfmt/riscv64-binfmt-P\n");
        /* Native here (x86_64 hosts): never listed as emulated. */
        put_str(AT("qemu-x86_64"), "enabled\ninterpreter /usr/libexec/qemu-binfmt/x86_64-binfmt-P\n");
        put_str(AT("python3.11"), "enabled\ninterpreter /usr/bin/python3.11\nflags: \nextension .pyc\n");
        /* Garbage: binary junk, an unmapped handler, a directory, a symlink
         * to an enabled entry, an oversized entry, an empty one. */
        put(AT("qemu-ppc64le"), "\x7f\x45\x00\xff\x01garbage\n", 13);
        put_str(AT("qemu-mips"), "enabled\n");
        mkdir_at(AT("qemu-arm"));
        if (symlinkat("qemu-aarch64", base_fd, AT("qemu-s390x")) < 0)
                CHECK_MSG(false, "symlink: %m");
        big = malloc(100 * 1024);
        if (big) {
                memset(big, 'x', 100 * 1024);
                memcpy(big, "enabled\n", 8);
                put(AT("qemu-i386"), big, 100 * 1024);
        }
#undef AT
}

static void test_fake_binfmt(void) {
        char dir[128];
        HostMeasurement m;
        int r;

        /* On a non-x86_64 host qemu-x86_64 is a real emulated platform. */
        struct utsname u;
        bool amd64 = uname(&u) == 0 && streq(u.machine, "x86_64");

        make_binfmt("binfmt", "enabled\n");
        path_of(dir, sizeof(dir), "binfmt");
        r = capacity_measure(base, dir, NULL, &m);
        CHECK_MSG(r == 0, "r=%d", r);
        if (r < 0)
                return;
        if (amd64) {
                CHECK_MSG(m.n_emulated == 1, "n_emulated=%zu", m.n_emulated);
                CHECK_MSG(m.n_emulated >= 1 && streq(m.emulated[0].platform, "linux/arm64") &&
                      streq(m.emulated[0].handler, "qemu-aarch64") && m.emulated[0].emulated,
                      "emulated[0]=%s/%s", m.emulated[0].platform, m.emulated[0].handler);
        }
        for (size_t i = 0; i < m.n_emulated; i++) {
                CHECK_MSG(!streq(m.emulated[i].platform, m.native_platform), "native listed as emulated");
                CHECK_MSG(!streq(m.emulated[i].platform, "linux/riscv64") || streq(m.native_platform, "linux/riscv64"),
                      "disabled riscv64 listed");
        }

        /* Registered without F: listed (it is registered) but not allowed,
         * whatever the policy says, with the fix in the reason. */
        {
                char reason[512];
                HostPlatform hp = { .platform = "linux/arm64", .emulated = true, .handler = "qemu-aarch64" };

                CHECK(!capacity_emulated_allowed(&hp, true, reason, sizeof(reason)));
                CHECK_STR_CONTAINS(reason, "no F flag");
                hp.fix_binary = true;
                CHECK(capacity_emulated_allowed(&hp, true, reason, sizeof(reason)));
                CHECK(!capacity_emulated_allowed(&hp, false, reason, sizeof(reason)));
                CHECK_STR_CONTAINS(reason, "AllowEmulated=no");
        }
        if (amd64) {
                char p[160];

                make_binfmt("binfmt-nof", "enabled\n");
                snprintf(p, sizeof(p), "binfmt-nof/qemu-aarch64");
                put_str(p, "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: OC\noffset 0\n");
                path_of(dir, sizeof(dir), "binfmt-nof");
                r = capacity_measure(base, dir, NULL, &m);
                CHECK_MSG(r == 0 && m.n_emulated == 1 && !m.emulated[0].fix_binary, "no F: r=%d n=%zu", r, m.n_emulated);
                make_binfmt("binfmt-f", "enabled\n");
                path_of(dir, sizeof(dir), "binfmt-f");
                r = capacity_measure(base, dir, NULL, &m);
                CHECK_MSG(r == 0 && m.n_emulated == 1 && m.emulated[0].fix_binary, "F: r=%d n=%zu", r, m.n_emulated);
        }

        /* Without a status file the entries decide alone. */
        make_binfmt("binfmt-nostatus", NULL);
        path_of(dir, sizeof(dir), "binfmt-nostatus");
        r = capacity_measure(base, dir, NULL, &m);
        CHECK_MSG(r == 0 && m.n_emulated == (amd64 ? 1U : m.n_emulated) &&
              m.n_emulated >= 1, "no status: r=%d n=%zu", r, m.n_emulated);

        /* Globally disabled: nothing runs. */
        make_binfmt("binfmt-off", "disabled\n");
        path_of(dir, sizeof(dir), "binfmt-off");
        r = capacity_measure(base, dir, NULL, &m);
        CHECK_MSG(r == 0 && m.n_emulated == 0, "disabled: r=%d n=%zu", r, m.n_emulated);

        path_of(dir, sizeof(dir), "no-such-binfmt");
        r = capacity_measure(base, dir, NULL, &m);
        CHECK_MSG(r == 0 && m.n_emulated == 0, "missing: r=%d n=%zu", r, m.n_emulated);
}

static void test_fake_proc(void) {
        char dir[128];
        HostMeasurement m;
        int r;

        mkdir_at("proc");
        mkdir_at("proc/sys");
        mkdir_at("proc/sys/kernel");
        mkdir_at("proc/sys/kernel/random");
        mkdir_at("proc/sys/fs");
        put_str("proc/meminfo",
                "MemTotal:        2048 kB\n"
                "MemFree:          512 kB\n"
                "MemAvailable:    1024 kB\n"
                "Buffers:            0 kB\n");
        put_str("proc/sys/kernel/random/boot_id", "5F0C1F0E-2A3B-4C5D-8E9F-00112233AABB\n");
        path_of(dir, sizeof(dir), "proc");

        /* No sys/fs/binfmt_misc below the fake /proc: nothing emulated. */
        r = capacity_measure(base, NULL, dir, &m);
        CHECK_MSG(r == 0, "fake proc r=%d", r);
        CHECK_MSG(m.memory_total == 2048 * 1024 && m.memory_available == 1024 * 1024,
              "mem %llu/%llu", (unsigned long long) m.memory_available, (unsigned long long) m.memory_total);
        CHECK_MSG(streq(m.boot_id, "5f0c1f0e2a3b4c5d8e9f00112233aabb"), "boot_id %s", m.boot_id);
        CHECK_MSG(m.n_emulated == 0, "n=%zu", m.n_emulated);

        /* binfmt_dir NULL means <proc_dir>/sys/fs/binfmt_misc. */
        make_binfmt("proc/sys/fs/binfmt_misc", "enabled\n");
        r = capacity_measure(base, NULL, dir, &m);
        CHECK_MSG(r == 0 && m.n_emulated >= 1, "default binfmt below proc: r=%d n=%zu", r, m.n_emulated);

        /* Old kernels have no MemAvailable. */
        put_str("proc/meminfo", "MemTotal:        2048 kB\nMemFree:          512 kB\n");
        r = capacity_measure(base, NULL, dir, &m);
        CHECK_MSG(r == 0 && m.memory_available == 512 * 1024, "MemFree fallback r=%d", r);

        put_str("proc/meminfo", "MemFree:          512 kB\n");
        r = capacity_measure(base, NULL, dir, &m);
        CHECK_MSG(r < 0, "no MemTotal accepted");

        put_str("proc/meminfo", "MemTotal:        99999999999999999999999 kB\nMemAvailable: 1 kB\n");
        r = capacity_measure(base, NULL, dir, &m);
        CHECK_MSG(r == -ERANGE, "huge MemTotal r=%d", r);

        put_str("proc/meminfo", "MemTotal:        2048 kB\nMemAvailable: 1024 kB\n");
        put_str("proc/sys/kernel/random/boot_id", "not-a-boot-id\n");
        r = capacity_measure(base, NULL, dir, &m);
        CHECK_MSG(r == -EBADMSG, "bad boot_id r=%d", r);

        r = capacity_measure("/nonexistent-state-dir", NULL, NULL, &m);
        CHECK_MSG(r == -ENOENT, "missing state dir r=%d", r);
        CHECK_MSG(capacity_measure(NULL, NULL, NULL, &m) == -EINVAL, "NULL state dir");
}

static bool has_type(struct json_object *o, const char *key, json_type t) {
        struct json_object *v;

        return json_object_object_get_ex(o, key, &v) && json_object_get_type(v) == t;
}

static void test_json_one(const HostMeasurement *m, bool allow) {
        struct json_object *platforms = NULL, *resources = NULL, *v;
        size_t n;
        int r;

        r = capacity_to_json(m, allow, "/var/lib/hostd", &platforms, &resources);
        CHECK_MSG(r == 0, "r=%d", r);
        if (r < 0)
                return;

        CHECK_MSG(json_object_get_type(platforms) == json_type_array, "platforms not an array");
        n = json_object_array_length(platforms);
        CHECK_MSG(n == m->n_emulated + 1, "platforms length %zu", n);
        for (size_t i = 0; i < n; i++) {
                struct json_object *p = json_object_array_get_idx(platforms, i);
                bool emulated = i > 0;

                CHECK_MSG(json_object_get_type(p) == json_type_object, "entry %zu", i);
                CHECK_MSG(has_type(p, "platform", json_type_string), "platform %zu", i);
                CHECK_MSG(has_type(p, "emulated", json_type_boolean), "emulated %zu", i);
                CHECK_MSG(json_object_object_get_ex(p, "emulated", &v) && json_object_get_boolean(v) == emulated,
                      "emulated value %zu", i);
                if (!emulated) {
                        CHECK_MSG(json_object_object_length(p) == 2, "native keys %d", json_object_object_length(p));
                        CHECK_MSG(json_object_object_get_ex(p, "platform", &v) &&
                              streq(json_object_get_string(v), m->native_platform), "native platform");
                } else {
                        /* Allowed: the policy says so and the handler has F. */
                        bool want = allow && m->emulated[i - 1].fix_binary;

                        CHECK_MSG(json_object_object_length(p) == (want ? 4 : 5), "emulated keys %d", json_object_object_length(p));
                        CHECK_MSG(has_type(p, "handler", json_type_string), "handler %zu", i);
                        CHECK_MSG(has_type(p, "allowed", json_type_boolean), "allowed %zu", i);
                        CHECK_MSG(json_object_object_get_ex(p, "allowed", &v) && json_object_get_boolean(v) == want,
                              "allowed value %zu", i);
                        if (!want)
                                CHECK_MSG(json_object_object_get_ex(p, "reason", &v) &&
                                          strstr(json_object_get_string(v), m->emulated[i - 1].fix_binary ?
                                                 "AllowEmulated=no" : "no F flag"),
                                          "reason %zu: %s", i, json_object_get_string(v));
                        CHECK_MSG(json_object_object_get_ex(p, "handler", &v) &&
                              streq(json_object_get_string(v), m->emulated[i - 1].handler), "handler value");
                }
        }

        CHECK_MSG(json_object_get_type(resources) == json_type_object, "resources not an object");
        CHECK_MSG(json_object_object_length(resources) == 6, "resources keys %d", json_object_object_length(resources));
        CHECK_MSG(has_type(resources, "cpus", json_type_int), "cpus");
        CHECK_MSG(has_type(resources, "memory_total_bytes", json_type_int), "memory_total_bytes");
        CHECK_MSG(has_type(resources, "memory_available_bytes", json_type_int), "memory_available_bytes");
        CHECK_MSG(has_type(resources, "disk_total_bytes", json_type_int), "disk_total_bytes");
        CHECK_MSG(has_type(resources, "disk_free_bytes", json_type_int), "disk_free_bytes");
        CHECK_MSG(has_type(resources, "state_dir", json_type_string), "state_dir");
        CHECK_MSG(json_object_object_get_ex(resources, "memory_total_bytes", &v) &&
              json_object_get_uint64(v) == m->memory_total, "memory_total value");
        CHECK_MSG(json_object_object_get_ex(resources, "cpus", &v) &&
              json_object_get_int64(v) == (int64_t) m->cpus, "cpus value");
        CHECK_MSG(json_object_object_get_ex(resources, "state_dir", &v) &&
              streq(json_object_get_string(v), "/var/lib/hostd"), "state_dir value");

        printf("platforms: %s\nresources: %s\n",
               json_object_to_json_string_ext(platforms, JSON_C_TO_STRING_PLAIN),
               json_object_to_json_string_ext(resources, JSON_C_TO_STRING_PLAIN));
        json_object_put(platforms);
        json_object_put(resources);
}

static void test_json(void) {
        char dir[128];
        HostMeasurement m;
        int r;

        path_of(dir, sizeof(dir), "binfmt");
        r = capacity_measure(base, dir, NULL, &m);
        CHECK_MSG(r == 0, "r=%d", r);
        if (r < 0)
                return;
        test_json_one(&m, false);
        test_json_one(&m, true);
        m.n_emulated = 0;
        test_json_one(&m, false);
}

static int rm_entry(const char *path, const struct stat *st _unused_, int flag, struct FTW *ftw _unused_) {
        return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

/* Test cleanup only: the tree is ours and holds no mounts. */
static int rm_tree(const char *path) {
        return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void) {
        char tmpl[] = "/tmp/test-capacity.XXXXXX";

        log_setup("test-capacity", LOG_TARGET_STDERR);
        base_fd = test_mkdtemp(tmpl, base, sizeof(base));
        if (base_fd < 0)
                return 1;

        test_mappings();
        test_real_host();
        test_fake_binfmt();
        test_fake_proc();
        test_json();

        base_fd = safe_close(base_fd);
        CHECK_MSG(rm_tree(base) == 0, "cleanup");
        return test_summary("test-capacity");
}
