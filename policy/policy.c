/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "policy.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macros.h"
#include "parse-util.h"

/* The compiler's dependency tracking does not see .incbin, so the build
 * generates a header carrying a checksum of default.conf: including it
 * makes an edit of default.conf rebuild this file. Optional, so that
 * policy.c also builds outside meson (fuzzers). */
#if defined(__has_include)
#  if __has_include("policy-default-stamp.h")
#    include "policy-default-stamp.h"
#  endif
#endif

#ifndef POLICY_DEFAULT_PATH
#  error "POLICY_DEFAULT_PATH must be the absolute path of policy/default.conf"
#endif

__asm__(".pushsection .rodata\n"
        ".global policy_default_text\n"
        ".type policy_default_text, @object\n"
        "policy_default_text:\n"
        ".incbin \"" POLICY_DEFAULT_PATH "\"\n"
        ".byte 0\n"
        ".size policy_default_text, . - policy_default_text\n"
        ".popsection\n"
        ".pushsection .note.GNU-stack, \"\", @progbits\n"
        ".popsection\n");

#define EMBEDDED_NAME "(embedded default)"
#define COMMAND_LINE_NAME "command line"

#define PROBLEMS_MAX 50U
#define WHY_MAX 512
#define SHOWN_MAX 100          /* bytes of a value echoed in a message */
#define SUGGEST_LEN_MAX 64     /* longer names get no "did you mean" */

#define UID_RANGE_SIZE UINT64_C(65536)
#define UID_POOL_END UINT64_C(0xFFFF0000)
#define SUN_PATH_SIZE 108

/* ---- problem collection ------------------------------------------------ */

typedef struct Problems {
        char *text;             /* problems joined by '\n' */
        size_t len;
        unsigned n;             /* problems seen (including dropped ones) */
        int error;              /* first read error, returned instead of -EINVAL */
        bool oom;
} Problems;

static void problems_done(Problems *pr) {
        free(pr->text);
        *pr = (Problems) {};
}

static void problems_append(Problems *pr, const char *line) {
        size_t l = strlen(line);
        char *t;

        t = realloc(pr->text, pr->len + l + 2);
        if (!t) {
                pr->oom = true;
                return;
        }
        pr->text = t;
        if (pr->len > 0)
                pr->text[pr->len++] = '\n';
        memcpy(pr->text + pr->len, line, l + 1);
        pr->len += l;
}

static bool problems_full(const Problems *pr) {
        return pr->n >= PROBLEMS_MAX;
}

_printf_(2, 3)
static void problem(Problems *pr, const char *format, ...) {
        _cleanup_free_ char *line = NULL;
        va_list ap;
        int k;

        /* Count even what is not shown, so callers know something failed. */
        pr->n++;
        if (pr->n > PROBLEMS_MAX)
                return;

        va_start(ap, format);
        k = vasprintf(&line, format, ap);
        va_end(ap);
        if (k < 0) {
                line = NULL;
                pr->oom = true;
                return;
        }
        problems_append(pr, line);
}

static int problems_finish(Problems *pr, char **ret_error) {
        int r;

        if (pr->oom) {
                problems_done(pr);
                if (ret_error)
                        *ret_error = NULL;
                return -ENOMEM;
        }
        if (pr->n == 0) {
                problems_done(pr);
                if (ret_error)
                        *ret_error = NULL;
                return 0;
        }
        if (pr->n > PROBLEMS_MAX) {
                char buf[128];

                snprintf(buf, sizeof(buf), "(%u more problems not shown; fix the ones above first)",
                         pr->n - PROBLEMS_MAX);
                problems_append(pr, buf);
                if (pr->oom)
                        return problems_finish(pr, ret_error);
        }
        r = pr->error < 0 ? pr->error : -EINVAL;
        if (ret_error)
                *ret_error = TAKE_PTR(pr->text);
        problems_done(pr);
        return r;
}

/* ---- small string helpers ---------------------------------------------- */

static bool utf8_valid(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s, *e = p + n;

        while (p < e) {
                unsigned char c = *p;
                uint32_t cp, min;
                size_t len;

                if (c < 0x80) {
                        p++;
                        continue;
                }
                if ((c & 0xe0) == 0xc0) {
                        len = 2, cp = c & 0x1f, min = 0x80;
                } else if ((c & 0xf0) == 0xe0) {
                        len = 3, cp = c & 0x0f, min = 0x800;
                } else if ((c & 0xf8) == 0xf0) {
                        len = 4, cp = c & 0x07, min = 0x10000;
                } else
                        return false;
                if ((size_t) (e - p) < len)
                        return false;
                for (size_t i = 1; i < len; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = cp << 6 | (p[i] & 0x3f);
                }
                /* No overlong forms, surrogates or code points past Unicode. */
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                p += len;
        }
        return true;
}

/* Copies s for display in a message, cut at a character boundary. */
static const char *shorten(const char *s, char buf[static SHOWN_MAX + 4]) {
        size_t l = strlen(s);

        if (l <= SHOWN_MAX)
                return memcpy(buf, s, l + 1);
        l = SHOWN_MAX;
        while (l > 0 && ((unsigned char) s[l] & 0xc0) == 0x80)
                l--;
        memcpy(buf, s, l);
        memcpy(buf + l, "...", 4);
        return buf;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r';
}

static char *strip(char *s) {
        char *e;

        while (is_blank(*s))
                s++;
        e = s + strlen(s);
        while (e > s && is_blank(e[-1]))
                e--;
        *e = 0;
        return s;
}

static bool endswith(const char *s, const char *suffix) {
        size_t l = strlen(s), k = strlen(suffix);

        return l >= k && streq(s + l - k, suffix);
}

static int strv_extend(char ***l, const char *s) {
        size_t n = strv_length(*l);
        char **t;
        char *c;

        c = strdup(s);
        if (!c)
                return -ENOMEM;
        t = reallocarray(*l, n + 2, sizeof(char *));
        if (!t) {
                free(c);
                return -ENOMEM;
        }
        t[n] = c;
        t[n + 1] = NULL;
        *l = t;
        return 0;
}

/* Levenshtein distance for "did you mean"; names are short. */
static size_t edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        size_t row[SUGGEST_LEN_MAX + 1];

        if (la > SUGGEST_LEN_MAX || lb > SUGGEST_LEN_MAX)
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t diag = row[0];

                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t up = row[j];
                        size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;

                        row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), diag + cost);
                        diag = up;
                }
        }
        return row[lb];
}

static bool similar(const char *typed, const char *known) {
        size_t d;

        if (strcasecmp(typed, known) == 0)
                return true;
        d = edit_distance(typed, known);
        return d <= 2 && d < strlen(known);
}

/* ---- the key table ----------------------------------------------------- */

typedef enum KeyType {
        KEY_ADDRESS,     /* IP literal */
        KEY_HOST,        /* host name or IP literal */
        KEY_PATH,        /* absolute file path */
        KEY_SOCKET,      /* absolute path that fits in sun_path */
        KEY_STATE_DIR,   /* absolute directory path, not "/" */
        KEY_USER,        /* user name, not shaped like a job user */
        KEY_GROUP,       /* group name */
        KEY_CIDRS,       /* list of ADDRESS/PREFIX */
        KEY_ENV_NAMES,   /* list of NAME or PREFIX* */
        KEY_SYSCALLS,    /* list of system call names */
        KEY_UINT,
        KEY_UID_START,   /* a multiple of 65536 */
        KEY_SIZE,
        KEY_DURATION,
        KEY_CPUS,
        KEY_NETWORK,
        KEY_BOOL,
} KeyType;

typedef struct PolicyKey {
        const char *section;
        const char *name;
        KeyType type;
        size_t offset;
        size_t size;
        bool optional;   /* string keys: an empty value means NULL */
        bool unlimited;  /* number keys: "infinity" is allowed and stored as 0 */
        uint64_t min, max;
} PolicyKey;

#define FIELD(f) offsetof(Policy, f), sizeof(((Policy *) NULL)->f)
#define KIB UINT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define TIB (GIB * 1024)
#define MINUTE UINT64_C(60)
#define HOUR (MINUTE * 60)
#define DAY (HOUR * 24)

/* In file order; policy_dump and docs/policy.md follow it. */
static const PolicyKey keys[] = {
        { "Listen", "Address", KEY_ADDRESS, FIELD(listen_address) },
        { "Listen", "Port", KEY_UINT, FIELD(listen_port), .min = 1, .max = 65535 },
        { "Listen", "AdvertiseAddress", KEY_HOST, FIELD(advertise_address), .optional = true },
        { "Listen", "ControllerSources", KEY_CIDRS, FIELD(controller_sources) },

        { "SSH", "HostKeyEd25519", KEY_PATH, FIELD(host_key_ed25519), .optional = true },
        { "SSH", "HostKeyRSA", KEY_PATH, FIELD(host_key_rsa), .optional = true },
        { "SSH", "HostKeyECDSA", KEY_PATH, FIELD(host_key_ecdsa), .optional = true },
        { "SSH", "ControllerUser", KEY_USER, FIELD(controller_user) },
        { "SSH", "ControllerKeys", KEY_PATH, FIELD(controller_keys), .optional = true },
        { "SSH", "MaxStartups", KEY_UINT, FIELD(max_startups), .min = 1, .max = 10000 },
        { "SSH", "PerSourceMaxStartups", KEY_UINT, FIELD(per_source_max_startups), .min = 1, .max = 10000 },
        { "SSH", "ControllerStartups", KEY_UINT, FIELD(controller_startups), .min = 0, .max = 1000 },
        { "SSH", "SourcePrefixIPv4", KEY_UINT, FIELD(source_prefix_ipv4), .min = 8, .max = 32 },
        { "SSH", "SourcePrefixIPv6", KEY_UINT, FIELD(source_prefix_ipv6), .min = 16, .max = 128 },
        { "SSH", "LocalSourcesAsOne", KEY_BOOL, FIELD(local_sources_as_one) },
        { "SSH", "LoginGraceTime", KEY_DURATION, FIELD(login_grace_sec), .min = 1, .max = 10 * MINUTE },
        { "SSH", "MaxAuthTries", KEY_UINT, FIELD(max_auth_tries), .min = 1, .max = 100 },
        { "SSH", "MaxSessionsPerJob", KEY_UINT, FIELD(max_sessions_per_job), .min = 1, .max = 1024 },
        { "SSH", "AcceptEnv", KEY_ENV_NAMES, FIELD(accept_env) },

        { "Control", "Socket", KEY_SOCKET, FIELD(control_socket) },
        { "Control", "Group", KEY_GROUP, FIELD(control_group), .optional = true },

        { "State", "Directory", KEY_STATE_DIR, FIELD(state_dir) },
        { "State", "ReleasedRetention", KEY_DURATION, FIELD(released_retention_sec), .min = 0, .max = 30 * DAY },

        { "Jobs", "Slots", KEY_UINT, FIELD(slots), .min = 1, .max = 1024 },
        { "Jobs", "Network", KEY_NETWORK, FIELD(network) },
        { "Jobs", "DefaultCPUs", KEY_CPUS, FIELD(job_default.millicpus), .min = 100, .max = 1024000 },
        { "Jobs", "MaxCPUs", KEY_CPUS, FIELD(job_max.millicpus), .min = 100, .max = 1024000 },
        { "Jobs", "DefaultMemory", KEY_SIZE, FIELD(job_default.memory), .min = 64 * MIB, .max = 16 * TIB },
        { "Jobs", "MaxMemory", KEY_SIZE, FIELD(job_max.memory), .min = 64 * MIB, .max = 16 * TIB },
        { "Jobs", "DefaultPids", KEY_UINT, FIELD(job_default.pids), .min = 16, .max = 4194304 },
        { "Jobs", "MaxPids", KEY_UINT, FIELD(job_max.pids), .min = 16, .max = 4194304 },
        { "Jobs", "DefaultDisk", KEY_SIZE, FIELD(job_default.disk), .min = 64 * MIB, .max = 64 * TIB },
        { "Jobs", "MaxDisk", KEY_SIZE, FIELD(job_max.disk), .min = 64 * MIB, .max = 64 * TIB },
        { "Jobs", "DefaultLease", KEY_DURATION, FIELD(job_default.lease), .min = MINUTE, .max = 7 * DAY },
        { "Jobs", "MaxLease", KEY_DURATION, FIELD(job_max.lease), .min = MINUTE, .max = 7 * DAY },
        { "Jobs", "TotalCPUs", KEY_CPUS, FIELD(job_total.millicpus), .min = 100, .max = 1024000, .unlimited = true },
        { "Jobs", "TotalMemory", KEY_SIZE, FIELD(job_total.memory), .min = 64 * MIB, .max = 64 * TIB, .unlimited = true },
        { "Jobs", "TotalPids", KEY_UINT, FIELD(job_total.pids), .min = 16, .max = 4194304, .unlimited = true },

        /* The upper bound leaves room for at least one range below 0xFFFF0000. */
        { "UIDPool", "Start", KEY_UID_START, FIELD(uid_pool_start),
          .min = UID_RANGE_SIZE, .max = UID_POOL_END - UID_RANGE_SIZE },
        { "UIDPool", "Ranges", KEY_UINT, FIELD(uid_pool_ranges), .min = 1, .max = 65536 },

        { "Seccomp", "ExtraDeny", KEY_SYSCALLS, FIELD(seccomp_extra_deny) },

        { "Platforms", "AllowEmulated", KEY_BOOL, FIELD(allow_emulated) },

        { "Health", "MinFreeDisk", KEY_SIZE, FIELD(health_min_free_disk), .min = 0, .max = 64 * TIB },
        { "Health", "CheckInterval", KEY_DURATION, FIELD(health_check_interval_sec), .min = 1, .max = HOUR },
        { "Health", "ProbeInterval", KEY_DURATION, FIELD(health_probe_interval_sec), .min = 0, .max = DAY },
        { "Health", "ProbeTimeout", KEY_DURATION, FIELD(health_probe_timeout_sec), .min = 1, .max = 10 * MINUTE },
        { "Health", "ProbeFailures", KEY_UINT, FIELD(health_probe_failures), .min = 1, .max = 100 },
        { "Health", "Podman", KEY_PATH, FIELD(health_podman), .optional = true },
};

static const char *const sections[] = {
        "Listen", "SSH", "Control", "State", "Jobs", "UIDPool", "Seccomp", "Platforms", "Health",
};

typedef enum KeyKind {
        KIND_STRING,
        KIND_LIST,
        KIND_NUMBER,
        KIND_NETWORK,
        KIND_BOOL,
} KeyKind;

static KeyKind key_kind(const PolicyKey *k) {
        switch (k->type) {
        case KEY_ADDRESS:
        case KEY_HOST:
        case KEY_PATH:
        case KEY_SOCKET:
        case KEY_STATE_DIR:
        case KEY_USER:
        case KEY_GROUP:
                return KIND_STRING;
        case KEY_CIDRS:
        case KEY_ENV_NAMES:
        case KEY_SYSCALLS:
                return KIND_LIST;
        case KEY_NETWORK:
                return KIND_NETWORK;
        case KEY_BOOL:
                return KIND_BOOL;
        default:
                return KIND_NUMBER;
        }
}

static const PolicyKey *find_key(const char *section, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (streq(keys[i].section, section) && streq(keys[i].name, name))
                        return keys + i;
        return NULL;
}

static const char *find_section(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(sections); i++)
                if (streq(sections[i], name))
                        return sections[i];
        return NULL;
}

static void *field(Policy *p, const PolicyKey *k) {
        return (uint8_t *) p + k->offset;
}

static const void *field_const(const Policy *p, const PolicyKey *k) {
        return (const uint8_t *) p + k->offset;
}

static uint64_t get_number(const Policy *p, const PolicyKey *k) {
        const void *f = field_const(p, k);

        switch (k->size) {
        case sizeof(uint16_t): {
                uint16_t v;
                memcpy(&v, f, sizeof(v));
                return v;
        }
        case sizeof(uint32_t): {
                uint32_t v;
                memcpy(&v, f, sizeof(v));
                return v;
        }
        default: {
                uint64_t v = 0;
                memcpy(&v, f, sizeof(v));
                return v;
        }
        }
}

/* Callers have range-checked v against k->max, which fits the field. */
static void set_number(Policy *p, const PolicyKey *k, uint64_t v) {
        void *f = field(p, k);

        switch (k->size) {
        case sizeof(uint16_t): {
                uint16_t x = (uint16_t) v;
                memcpy(f, &x, sizeof(x));
                break;
        }
        case sizeof(uint32_t): {
                uint32_t x = (uint32_t) v;
                memcpy(f, &x, sizeof(x));
                break;
        }
        default:
                memcpy(f, &v, sizeof(v));
        }
}

/* ---- formatting -------------------------------------------------------- */

static char *format_duration(char *buf, size_t size, uint64_t sec) {
        if (sec > 0 && sec % DAY == 0)
                snprintf(buf, size, "%llud", (unsigned long long) (sec / DAY));
        else if (sec > 0 && sec % HOUR == 0)
                snprintf(buf, size, "%lluh", (unsigned long long) (sec / HOUR));
        else if (sec > 0 && sec % MINUTE == 0)
                snprintf(buf, size, "%llum", (unsigned long long) (sec / MINUTE));
        else
                snprintf(buf, size, "%llus", (unsigned long long) sec);
        return buf;
}

static char *format_cpus(char *buf, size_t size, uint64_t millicpus) {
        uint64_t whole = millicpus / 1000, frac = millicpus % 1000;

        if (frac == 0)
                snprintf(buf, size, "%llu", (unsigned long long) whole);
        else if (frac % 100 == 0)
                snprintf(buf, size, "%llu.%llu", (unsigned long long) whole, (unsigned long long) (frac / 100));
        else if (frac % 10 == 0)
                snprintf(buf, size, "%llu.%02llu", (unsigned long long) whole, (unsigned long long) (frac / 10));
        else
                snprintf(buf, size, "%llu.%03llu", (unsigned long long) whole, (unsigned long long) frac);
        return buf;
}

static char *format_number(const PolicyKey *k, char *buf, size_t size, uint64_t v) {
        if (k->unlimited && v == 0) {
                snprintf(buf, size, "infinity");
                return buf;
        }
        switch (k->type) {
        case KEY_SIZE:
                return format_size(buf, size, v);
        case KEY_DURATION:
                return format_duration(buf, size, v);
        case KEY_CPUS:
                return format_cpus(buf, size, v);
        default:
                snprintf(buf, size, "%llu", (unsigned long long) v);
                return buf;
        }
}

/* "a whole number from 1 to 1024", for "use ..." hints. */
static char *describe_range(const PolicyKey *k, char *buf, size_t size) {
        char a[32], b[32];
        const char *what;

        switch (k->type) {
        case KEY_SIZE:
                what = "a size";
                break;
        case KEY_DURATION:
                what = "a duration";
                break;
        case KEY_CPUS:
                what = "a number of CPUs";
                break;
        case KEY_UID_START:
                what = "a multiple of 65536";
                break;
        default:
                what = "a whole number";
        }
        snprintf(buf, size, "%s from %s to %s", what,
                 format_number(k, a, sizeof(a), k->min), format_number(k, b, sizeof(b), k->max));
        return buf;
}

/* ---- value checks -----------------------------------------------------------
 * Each returns 0 if fine, -EINVAL with "WHAT IS WRONG; FIX" in why, or -ENOMEM.
 * List element checks phrase why to follow "'ELEMENT' ". */

_printf_(3, 4)
static int why_fmt(char *why, size_t size, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(why, size, format, ap);
        va_end(ap);
        return -EINVAL;
}

static bool is_ip_literal(const char *s) {
        struct in6_addr a;

        return inet_pton(AF_INET, s, &a) == 1 || inet_pton(AF_INET6, s, &a) == 1;
}

static bool is_hostname(const char *s) {
        size_t total = strlen(s), label = 0;
        bool digits_only = true;

        if (total == 0 || total > 253)
                return false;
        for (const char *c = s;; c++) {
                if (*c == '.' || *c == 0) {
                        if (label == 0 || label > 63 || c[-1] == '-')
                                return false;
                        if (*c == 0)
                                break;
                        label = 0;
                        digits_only = true;
                        continue;
                }
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      (*c >= '0' && *c <= '9') || *c == '-'))
                        return false;
                if (*c == '-' && label == 0)
                        return false;
                if (!(*c >= '0' && *c <= '9'))
                        digits_only = false;
                label++;
        }
        /* A numeric last label is a mistyped address, not a host name. */
        return !digits_only;
}

/* Collapses "//" and "/./" and drops a trailing '/'; refuses "..". */
static int check_path(const char *v, char **ret, char *why, size_t size) {
        _cleanup_free_ char *n = NULL;
        const char *c = v;
        size_t l = 0;

        if (v[0] != '/')
                return why_fmt(why, size, "must be an absolute path; write it starting with '/'");
        n = malloc(strlen(v) + 1);
        if (!n)
                return -ENOMEM;
        while (*c) {
                size_t cl;

                while (*c == '/')
                        c++;
                cl = strcspn(c, "/");
                if (cl == 0)
                        break;
                if (cl == 2 && strneq(c, "..", 2))
                        return why_fmt(why, size, "must not contain '..'; write the path without '..' components");
                if (!(cl == 1 && c[0] == '.')) {
                        n[l++] = '/';
                        memcpy(n + l, c, cl);
                        l += cl;
                }
                c += cl;
        }
        if (l == 0)
                n[l++] = '/';
        n[l] = 0;
        if (l >= PATH_MAX)
                return why_fmt(why, size, "path is too long; use a path shorter than %d bytes", PATH_MAX);
        if (ret)
                *ret = TAKE_PTR(n);
        return 0;
}

static bool is_user_name(const char *s, size_t max_len) {
        size_t l = strlen(s);

        if (l == 0 || l > max_len)
                return false;
        if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
                return false;
        for (size_t i = 1; i < l; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
                        return false;
        return true;
}

static bool looks_like_job_user(const char *s) {
        if (s[0] != 'j')
                return false;
        for (size_t i = 1; i <= 12; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

static int check_string(const PolicyKey *k, const char *v, char **ret, char *why, size_t size) {
        _cleanup_free_ char *n = NULL;
        int r;

        switch (k->type) {
        case KEY_ADDRESS:
                if (!is_ip_literal(v))
                        return why_fmt(why, size, "not an IP address; use an IPv4 or IPv6 address such as 127.0.0.1, 0.0.0.0 or ::");
                break;

        case KEY_HOST:
                if (!is_ip_literal(v) && !is_hostname(v))
                        return why_fmt(why, size, "not a host name or IP address; use e.g. builder-07.example.com or 192.0.2.7, or leave it empty");
                break;

        case KEY_PATH:
        case KEY_SOCKET:
        case KEY_STATE_DIR:
                r = check_path(v, &n, why, size);
                if (r < 0)
                        return r;
                if (streq(n, "/"))
                        return why_fmt(why, size, "must not be the root directory; use %s",
                                       k->type == KEY_STATE_DIR ? "a dedicated directory such as /var/lib/hostd" : "the path of a file");
                if (k->type == KEY_SOCKET && strlen(n) >= SUN_PATH_SIZE)
                        return why_fmt(why, size, "path is %zu bytes long, too long for a Unix socket; use a path of at most %d bytes",
                                       strlen(n), SUN_PATH_SIZE - 1);
                break;

        case KEY_USER:
                if (!is_user_name(v, 32))
                        return why_fmt(why, size, "not a valid user name; use 1 to 32 characters from a-z, 0-9, '_' and '-', starting with a letter or '_'");
                if (looks_like_job_user(v))
                        return why_fmt(why, size, "looks like a job user name ('j' and 12 hex digits); pick another name such as 'controller'");
                break;

        case KEY_GROUP:
                if (!is_user_name(v, SIZE_MAX))
                        return why_fmt(why, size, "not a valid group name; use characters from a-z, 0-9, '_' and '-', starting with a letter or '_', or leave it empty for root only");
                break;

        default:
                return why_fmt(why, size, "internal error: not a string key");
        }

        if (ret) {
                if (!n) {
                        n = strdup(v);
                        if (!n)
                                return -ENOMEM;
                }
                *ret = TAKE_PTR(n);
        }
        return 0;
}

/* Accepts ADDRESS/PREFIX with the host bits clear; *ret is the canonical form. */
static int check_cidr(const char *v, char **ret, char *why, size_t size) {
        _cleanup_free_ char *addr = NULL;
        unsigned char a[sizeof(struct in6_addr)];
        char canon[INET6_ADDRSTRLEN];
        const char *slash;
        uint32_t prefix;
        int family, bits;
        bool host_bits = false;

        slash = strchr(v, '/');
        if (!slash)
                return why_fmt(why, size, "has no '/PREFIX'; write ADDRESS/PREFIX, e.g. 10.0.0.0/8, or 192.0.2.7/32 for one address");
        addr = strndup(v, (size_t) (slash - v));
        if (!addr)
                return -ENOMEM;
        if (inet_pton(AF_INET, addr, a) == 1)
                family = AF_INET, bits = 32;
        else if (inet_pton(AF_INET6, addr, a) == 1)
                family = AF_INET6, bits = 128;
        else
                return why_fmt(why, size, "is not a CIDR (bad address); write ADDRESS/PREFIX, e.g. 10.0.0.0/8 or 2001:db8::/32");
        if (parse_u32(slash + 1, &prefix) < 0 || prefix > (uint32_t) bits)
                return why_fmt(why, size, "is not a CIDR (bad prefix length); use a prefix length from 0 to %d", bits);

        for (int i = 0; i < bits / 8; i++) {
                int keep = (int) prefix - i * 8;
                unsigned char mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char) (0xff << (8 - keep));

                if (a[i] & ~mask)
                        host_bits = true;
                a[i] &= mask;
        }
        if (!inet_ntop(family, a, canon, sizeof(canon)))
                return why_fmt(why, size, "is not a CIDR; write ADDRESS/PREFIX, e.g. 10.0.0.0/8");
        if (host_bits)
                return why_fmt(why, size, "has bits set after the prefix; did you mean %s/%u?", canon, prefix);
        if (ret && asprintf(ret, "%s/%u", canon, prefix) < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

static int check_env_name(const char *v, char *why, size_t size) {
        size_t l = strlen(v);

        if (l > 0 && v[l - 1] == '*')
                l--;
        if (l == 0 || !((v[0] >= 'A' && v[0] <= 'Z') || (v[0] >= 'a' && v[0] <= 'z') || v[0] == '_'))
                goto bad;
        for (size_t i = 1; i < l; i++)
                if (!((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= 'a' && v[i] <= 'z') ||
                      (v[i] >= '0' && v[i] <= '9') || v[i] == '_'))
                        goto bad;
        return 0;
bad:
        return why_fmt(why, size, "is not a variable name; use NAME or a PREFIX* pattern of letters, digits and '_' (e.g. TERM or CI_*)");
}

static int check_syscall(const char *v, char *why, size_t size) {
        /* Also accepts names known only on other architectures (negative
         * pseudo numbers): the policy may be shared between hosts. */
        if (seccomp_syscall_resolve_name(v) == __NR_SCMP_ERROR)
                return why_fmt(why, size, "is not a known system call; check the spelling (see syscalls(2))");
        return 0;
}

static int check_element(const PolicyKey *k, const char *v, char **ret, char *why, size_t size) {
        int r;

        switch (k->type) {
        case KEY_CIDRS:
                return check_cidr(v, ret, why, size);
        case KEY_ENV_NAMES:
                r = check_env_name(v, why, size);
                break;
        case KEY_SYSCALLS:
                r = check_syscall(v, why, size);
                break;
        default:
                return why_fmt(why, size, "internal error: not a list key");
        }
        if (r < 0)
                return r;
        if (ret) {
                *ret = strdup(v);
                if (!*ret)
                        return -ENOMEM;
        }
        return 0;
}

static int check_number(const PolicyKey *k, uint64_t v, char *why, size_t size) {
        char range[128];

        if (k->unlimited && v == 0)
                return 0;
        if (v < k->min || v > k->max)
                return why_fmt(why, size, "out of range; use %s%s", describe_range(k, range, sizeof(range)),
                               k->unlimited ? ", or infinity" : "");
        if (k->type == KEY_UID_START && v % UID_RANGE_SIZE != 0)
                return why_fmt(why, size, "not a multiple of 65536; use e.g. %llu",
                               (unsigned long long) MAX(v / UID_RANGE_SIZE * UID_RANGE_SIZE, UID_RANGE_SIZE));
        return 0;
}

static int parse_number(const PolicyKey *k, const char *value, uint64_t *ret, char *why, size_t size) {
        char range[128];
        uint32_t u32;
        uint64_t v;
        int r;

        if (k->unlimited && streq(value, "infinity")) {
                *ret = 0;
                return 0;
        }
        switch (k->type) {
        case KEY_SIZE:
                r = parse_size(value, &v);
                if (r == -EINVAL)
                        return why_fmt(why, size, "not a size; use %s, in bytes or with a K, M, G or T suffix (e.g. 4G)%s",
                                       describe_range(k, range, sizeof(range)), k->unlimited ? ", or infinity" : "");
                break;
        case KEY_DURATION:
                r = parse_duration_sec(value, &v);
                if (r == -EINVAL)
                        return why_fmt(why, size, "not a duration; use %s, in seconds or with an s, m, h or d suffix (e.g. 90s, 30m, 2h)",
                                       describe_range(k, range, sizeof(range)));
                break;
        case KEY_CPUS:
                r = parse_millicpus(value, &u32);
                if (r == -EINVAL)
                        return why_fmt(why, size, "not a number of CPUs; use %s, a decimal with at most three fractional digits (e.g. 2 or 0.5)%s",
                                       describe_range(k, range, sizeof(range)), k->unlimited ? ", or infinity" : "");
                v = u32;
                break;
        default:
                r = parse_u64(value, &v);
                if (r == -EINVAL)
                        return why_fmt(why, size, "not a whole number; use %s%s", describe_range(k, range, sizeof(range)),
                                       k->unlimited ? ", or infinity" : "");
        }
        if (r < 0)
                return why_fmt(why, size, "out of range; use %s%s", describe_range(k, range, sizeof(range)),
                               k->unlimited ? ", or infinity" : "");
        r = check_number(k, v, why, size);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

/* ---- assignments ------------------------------------------------------- */

static int assign_list(Policy *p, const PolicyKey *k, const char *value, const char *loc, Problems *pr) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *copy = NULL;
        char shown[SHOWN_MAX + 4], shown_elem[SHOWN_MAX + 4], why[WHY_MAX];
        size_t n = 0, words = 0;
        bool bad = false;
        char *save = NULL;
        char ***f;

        copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        for (const char *c = value; *c; c++)
                if (!is_blank(*c) && (c == value || is_blank(c[-1])))
                        words++;
        l = calloc(words + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;

        for (char *w = strtok_r(copy, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save)) {
                char *norm = NULL;
                int r;

                r = check_element(k, w, &norm, why, sizeof(why));
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        problem(pr, "%s: [%s] %s=%s: '%s' %s", loc, k->section, k->name,
                                shorten(value, shown), shorten(w, shown_elem), why);
                        bad = true;
                        continue;
                }
                l[n++] = norm;
        }
        if (bad)
                return 0;

        /* An assignment replaces the whole list; an empty one clears it. */
        f = field(p, k);
        strv_free(*f);
        *f = TAKE_PTR(l);
        return 0;
}

static int assign(Policy *p, const PolicyKey *k, const char *value, const char *loc, Problems *pr) {
        char shown[SHOWN_MAX + 4], why[WHY_MAX];
        int r;

        switch (key_kind(k)) {
        case KIND_STRING: {
                _cleanup_free_ char *n = NULL;
                char **f = field(p, k);

                if (isempty(value) && k->optional) {
                        free(*f);
                        *f = NULL;
                        return 0;
                }
                if (isempty(value)) {
                        problem(pr, "%s: [%s] %s=: must not be empty; set a value or remove the line to keep the default",
                                loc, k->section, k->name);
                        return 0;
                }
                r = check_string(k, value, &n, why, sizeof(why));
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        problem(pr, "%s: [%s] %s=%s: %s", loc, k->section, k->name, shorten(value, shown), why);
                        return 0;
                }
                free(*f);
                *f = TAKE_PTR(n);
                return 0;
        }

        case KIND_LIST:
                return assign_list(p, k, value, loc, pr);

        case KIND_NUMBER: {
                uint64_t v = 0;

                r = parse_number(k, value, &v, why, sizeof(why));
                if (r < 0) {
                        problem(pr, "%s: [%s] %s=%s: %s", loc, k->section, k->name, shorten(value, shown), why);
                        return 0;
                }
                set_number(p, k, v);
                return 0;
        }

        case KIND_NETWORK: {
                JobNetwork *f = field(p, k);

                if (streq(value, "private"))
                        *f = JOB_NETWORK_PRIVATE;
                else if (streq(value, "host"))
                        *f = JOB_NETWORK_HOST;
                else if (streq(value, "none"))
                        *f = JOB_NETWORK_NONE;
                else
                        problem(pr, "%s: [%s] %s=%s: unknown network mode; use private, host or none",
                                loc, k->section, k->name, shorten(value, shown));
                return 0;
        }

        case KIND_BOOL: {
                bool *f = field(p, k);
                bool b;

                if (parse_boolean(value, &b) < 0)
                        problem(pr, "%s: [%s] %s=%s: not a boolean; use yes or no",
                                loc, k->section, k->name, shorten(value, shown));
                else
                        *f = b;
                return 0;
        }
        }
        return 0;
}

/* ---- the file format --------------------------------------------------- */

static void unknown_section(const char *loc, const char *name, Problems *pr) {
        char shown[SHOWN_MAX + 4];

        if (problems_full(pr)) {
                pr->n++;
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(sections); i++)
                if (similar(name, sections[i])) {
                        problem(pr, "%s: unknown section [%s]; did you mean [%s]?", loc, shorten(name, shown), sections[i]);
                        return;
                }
        problem(pr, "%s: unknown section [%s]; use one of [Listen], [SSH], [Control], [State], [Jobs], [UIDPool], [Seccomp], [Platforms]",
                loc, shorten(name, shown));
}

static void unknown_key(const char *loc, const char *section, const char *name, Problems *pr) {
        char shown[SHOWN_MAX + 4];
        const PolicyKey *close = NULL;

        if (problems_full(pr)) {
                pr->n++;
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (streq(keys[i].name, name)) {
                        problem(pr, "%s: unknown key '%s' in [%s]; %s belongs in [%s]",
                                loc, name, section, name, keys[i].section);
                        return;
                }
        for (size_t i = 0; i < ELEMENTSOF(keys) && !close; i++)
                if (streq(keys[i].section, section) && similar(name, keys[i].name))
                        close = keys + i;
        if (close)
                problem(pr, "%s: unknown key '%s' in [%s]; did you mean '%s'?",
                        loc, shorten(name, shown), section, close->name);
        else
                problem(pr, "%s: unknown key '%s' in [%s]; see docs/policy.md for the keys of [%s]",
                        loc, shorten(name, shown), section, section);
}

static void key_outside_section(const char *loc, const char *name, const char *value, Problems *pr) {
        char shown[SHOWN_MAX + 4], shown_value[SHOWN_MAX + 4];

        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (streq(keys[i].name, name)) {
                        problem(pr, "%s: %s=%s is outside any section; put it below a [%s] header",
                                loc, name, shorten(value, shown_value), keys[i].section);
                        return;
                }
        problem(pr, "%s: %s=%s is outside any section; add a [Section] header above it",
                loc, shorten(name, shown), shorten(value, shown_value));
}

typedef enum SectionState {
        SECTION_NONE,      /* before the first header */
        SECTION_KNOWN,
        SECTION_BAD,       /* unknown or malformed header, already reported */
} SectionState;

static int parse_line(Policy *p, const char *filename, unsigned line_no, const char *line, size_t len,
                      SectionState *state, const char **section, Problems *pr) {
        char buf[POLICY_LINE_MAX + 1], loc[PATH_MAX + 32], shown[SHOWN_MAX + 4];
        char *s, *eq, *key, *value;
        const PolicyKey *k;

        snprintf(loc, sizeof(loc), "%s:%u", filename, line_no);

        if (len > POLICY_LINE_MAX) {
                problem(pr, "%s: line is %zu bytes long, over the limit of %d; shorten it", loc, len, POLICY_LINE_MAX);
                return 0;
        }
        if (memchr(line, 0, len)) {
                problem(pr, "%s: contains a NUL byte; policy files must be plain text", loc);
                return 0;
        }
        if (!utf8_valid(line, len)) {
                problem(pr, "%s: contains bytes that are not valid UTF-8; save the file as UTF-8", loc);
                return 0;
        }
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) line[i];

                if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
                        problem(pr, "%s: contains the control character 0x%02x; remove it", loc, c);
                        return 0;
                }
        }

        memcpy(buf, line, len);
        buf[len] = 0;
        s = strip(buf);

        if (*s == 0 || *s == '#' || *s == ';')
                return 0;

        if (*s == '[') {
                size_t l = strlen(s);
                const char *known;

                if (l < 2 || s[l - 1] != ']') {
                        problem(pr, "%s: malformed section header '%s'; write it as [Name]", loc, shorten(s, shown));
                        *state = SECTION_BAD;
                        return 0;
                }
                s[l - 1] = 0;
                known = find_section(s + 1);
                if (!known) {
                        unknown_section(loc, s + 1, pr);
                        *state = SECTION_BAD;
                        return 0;
                }
                *section = known;
                *state = SECTION_KNOWN;
                return 0;
        }

        eq = strchr(s, '=');
        if (!eq) {
                problem(pr, "%s: '%s' has no '='; write Key=Value (or '#' before a comment)", loc, shorten(s, shown));
                return 0;
        }
        *eq = 0;
        key = strip(s);
        value = strip(eq + 1);
        if (*key == 0) {
                problem(pr, "%s: '=%s' has no key name before '='; write Key=Value", loc, shorten(value, shown));
                return 0;
        }

        switch (*state) {
        case SECTION_NONE:
                key_outside_section(loc, key, value, pr);
                return 0;
        case SECTION_BAD:
                /* Its header was reported; one message per mistake is enough. */
                return 0;
        case SECTION_KNOWN:
                break;
        }

        k = find_key(*section, key);
        if (!k) {
                unknown_key(loc, *section, key, pr);
                return 0;
        }
        return assign(p, k, value, loc, pr);
}

static int parse_text_internal(Policy *p, const char *text, size_t size, const char *filename, Problems *pr) {
        SectionState state = SECTION_NONE;
        const char *section = NULL, *c, *end;
        unsigned line_no = 0;
        int r;

        if (size > POLICY_FILE_MAX) {
                problem(pr, "%s: is %zu bytes, over the limit of %d bytes; split it into drop-ins or shorten it",
                        filename, size, POLICY_FILE_MAX);
                return 0;
        }
        if (size == 0)
                return 0;

        c = text;
        end = text + size;
        /* Editors on some systems add a byte order mark; it carries no meaning. */
        if (size >= 3 && memcmp(c, "\xef\xbb\xbf", 3) == 0)
                c += 3;

        while (c < end) {
                const char *nl = memchr(c, '\n', (size_t) (end - c));
                size_t len = nl ? (size_t) (nl - c) : (size_t) (end - c);

                line_no++;
                r = parse_line(p, filename, line_no, c, len, &state, &section, pr);
                if (r < 0)
                        return r;
                c = nl ? nl + 1 : end;
        }
        return 0;
}

int policy_parse_text(Policy *p, const char *text, size_t size, const char *filename, char **ret_error) {
        Problems pr = {};
        int r;

        if (!p || (!text && size > 0)) {
                if (ret_error)
                        *ret_error = NULL;
                return -EINVAL;
        }
        r = parse_text_internal(p, text, size, filename ?: "(text)", &pr);
        if (r < 0) {
                problems_done(&pr);
                if (ret_error)
                        *ret_error = NULL;
                return r;
        }
        return problems_finish(&pr, ret_error);
}

/* ---- cross-key checks -------------------------------------------------- */

static int validate_internal(const Policy *p, Problems *pr) {
        static const char *const pairs[] = { "CPUs", "Memory", "Pids", "Disk", "Lease" };
        char why[WHY_MAX], shown[SHOWN_MAX + 4], a[32], b[32];
        const PolicyKey *k, *k2;
        uint64_t start, ranges, end;
        int r;

        /* Per-key checks again: p may not come from the parser. */
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                k = keys + i;

                switch (key_kind(k)) {
                case KIND_STRING: {
                        const char *s = *(char *const *) field_const(p, k);

                        if (!s) {
                                if (!k->optional)
                                        problem(pr, "[%s] %s is not set; set it in the policy", k->section, k->name);
                                break;
                        }
                        r = check_string(k, s, NULL, why, sizeof(why));
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                problem(pr, "[%s] %s=%s: %s", k->section, k->name, shorten(s, shown), why);
                        break;
                }
                case KIND_LIST:
                        STRV_FOREACH(e, *(char **const *) field_const(p, k)) {
                                r = check_element(k, *e, NULL, why, sizeof(why));
                                if (r == -ENOMEM)
                                        return r;
                                if (r < 0)
                                        problem(pr, "[%s] %s: '%s' %s", k->section, k->name, shorten(*e, shown), why);
                        }
                        break;
                case KIND_NUMBER: {
                        uint64_t v = get_number(p, k);

                        if (check_number(k, v, why, sizeof(why)) < 0)
                                problem(pr, "[%s] %s=%s: %s", k->section, k->name, format_number(k, a, sizeof(a), v), why);
                        break;
                }
                case KIND_NETWORK:
                        if (!job_network_to_string(p->network))
                                problem(pr, "[%s] %s=%d: unknown network mode; use private, host or none", k->section, k->name, (int) p->network);
                        break;
                case KIND_BOOL:
                        break;
                }
        }

        for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
                char dn[32], mn[32];
                uint64_t dv, mv;

                snprintf(dn, sizeof(dn), "Default%s", pairs[i]);
                snprintf(mn, sizeof(mn), "Max%s", pairs[i]);
                k = find_key("Jobs", dn);
                k2 = find_key("Jobs", mn);
                dv = get_number(p, k);
                mv = get_number(p, k2);
                if (dv > mv)
                        problem(pr, "[Jobs] %s=%s is above [Jobs] %s=%s; lower %s or raise %s",
                                dn, format_number(k, a, sizeof(a), dv), mn, format_number(k2, b, sizeof(b), mv), dn, mn);
        }

        /* A job that may ask for more than all jobs together could never get it. */
        for (size_t i = 0; i < 3; i++) {
                char mn[32], tn[32];
                uint64_t mv, tv;

                snprintf(mn, sizeof(mn), "Max%s", pairs[i]);
                snprintf(tn, sizeof(tn), "Total%s", pairs[i]);
                k = find_key("Jobs", mn);
                k2 = find_key("Jobs", tn);
                mv = get_number(p, k);
                tv = get_number(p, k2);
                if (tv != 0 && mv > tv)
                        problem(pr, "[Jobs] %s=%s is above [Jobs] %s=%s, the cap of all jobs together; lower %s or raise %s",
                                mn, format_number(k, a, sizeof(a), mv), tn, format_number(k2, b, sizeof(b), tv), mn, tn);
        }

        if (p->per_source_max_startups > p->max_startups)
                problem(pr, "[SSH] PerSourceMaxStartups=%u is above [SSH] MaxStartups=%u; lower PerSourceMaxStartups or raise MaxStartups",
                        p->per_source_max_startups, p->max_startups);

        if (p->uid_pool_ranges < p->slots)
                problem(pr, "[UIDPool] Ranges=%u is below [Jobs] Slots=%u; every job needs its own UID range, so raise Ranges or lower Slots",
                        p->uid_pool_ranges, p->slots);

        start = p->uid_pool_start;
        ranges = p->uid_pool_ranges;
        end = start + ranges * UID_RANGE_SIZE;
        if (end > UID_POOL_END) {
                uint64_t fit = start < UID_POOL_END ? (UID_POOL_END - start) / UID_RANGE_SIZE : 0;

                problem(pr, "[UIDPool] Start=%llu with Ranges=%llu needs UIDs up to %llu, past the last usable UID %llu; lower Start or use at most Ranges=%llu",
                        (unsigned long long) start, (unsigned long long) ranges, (unsigned long long) (end - 1),
                        (unsigned long long) (UID_POOL_END - 1), (unsigned long long) fit);
        }
        return 0;
}

int policy_validate(const Policy *p, char **ret_error) {
        Problems pr = {};
        int r;

        if (!p) {
                if (ret_error)
                        *ret_error = NULL;
                return -EINVAL;
        }
        r = validate_internal(p, &pr);
        if (r < 0) {
                problems_done(&pr);
                if (ret_error)
                        *ret_error = NULL;
                return r;
        }
        return problems_finish(&pr, ret_error);
}

/* ---- loading ----------------------------------------------------------- */

Policy *policy_free(Policy *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                switch (key_kind(keys + i)) {
                case KIND_STRING:
                        free(*(char **) field(p, keys + i));
                        break;
                case KIND_LIST:
                        strv_free(*(char ***) field(p, keys + i));
                        break;
                default:
                        break;
                }
        strv_free(p->sources);
        free(p);
        return NULL;
}

static int new_default(Policy **ret, Problems *pr) {
        _cleanup_policy_ Policy *p = NULL;
        unsigned before = pr->n;
        int r;

        p = calloc(1, sizeof(Policy));
        if (!p)
                return -ENOMEM;
        r = strv_extend(&p->sources, EMBEDDED_NAME);
        if (r < 0)
                return r;
        r = parse_text_internal(p, policy_default_text, strlen(policy_default_text), EMBEDDED_NAME, pr);
        if (r < 0)
                return r;
        r = validate_internal(p, pr);
        if (r < 0)
                return r;
        if (pr->n != before) {
                /* A broken default.conf is a build bug, not the admin's. */
                problem(pr, "%s: the compiled-in default policy is invalid; this is a bug in the hostd build", EMBEDDED_NAME);
                return -EINVAL;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

int policy_new_default(Policy **ret) {
        Problems pr = {};
        int r;

        if (!ret)
                return -EINVAL;
        r = new_default(ret, &pr);
        problems_done(&pr);
        return r;
}

static void read_problem(Problems *pr, const char *path, int error, const char *fix) {
        char shown[SHOWN_MAX + 4];
        const char *what;

        switch (error) {
        case -EFBIG:
                problem(pr, "%s: cannot read: larger than the limit of %d bytes; split it into drop-ins or shorten it",
                        path, POLICY_FILE_MAX);
                break;
        case -EBADFD:
                problem(pr, "%s: cannot read: not a regular file; %s", path, fix);
                break;
        default:
                what = strerror(-error);
                problem(pr, "%s: cannot read: %s; %s", path, shorten(what, shown), fix);
        }
        if (pr->error == 0)
                pr->error = error;
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int load_dropins(Policy *p, const char *path, Problems *pr) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_strv_free_ char **names = NULL;
        size_t n = 0, total = 0;
        int r;

        if (asprintf(&dir, "%s.d", path) < 0) {
                dir = NULL;
                return -ENOMEM;
        }
        d = opendir(dir);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                read_problem(pr, dir, negative_errno(), "fix the drop-in directory or remove it");
                return 0;
        }

        names = calloc(POLICY_DROPINS_MAX + 1, sizeof(char *));
        if (!names)
                return -ENOMEM;
        for (;;) {
                struct dirent *de;
                struct stat st;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                read_problem(pr, dir, negative_errno(), "fix the drop-in directory");
                        break;
                }
                if (de->d_name[0] == '.' || !endswith(de->d_name, ".conf"))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, 0) < 0) {
                        _cleanup_free_ char *fn = NULL;

                        if (asprintf(&fn, "%s/%s", dir, de->d_name) < 0) {
                                fn = NULL;
                                return -ENOMEM;
                        }
                        read_problem(pr, fn, negative_errno(), "fix the drop-in or remove it");
                        continue;
                }
                if (!S_ISREG(st.st_mode))
                        continue;
                total++;
                if (n >= POLICY_DROPINS_MAX)
                        continue;
                names[n] = strdup(de->d_name);
                if (!names[n])
                        return -ENOMEM;
                n++;
        }
        if (total > POLICY_DROPINS_MAX) {
                problem(pr, "%s: has %zu drop-ins, over the limit of %d; merge some of them",
                        dir, total, POLICY_DROPINS_MAX);
                return 0;
        }
        qsort(names, n, sizeof(char *), cmp_strp);

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *fn = NULL, *text = NULL;
                size_t size = 0;

                if (asprintf(&fn, "%s/%s", dir, names[i]) < 0) {
                        fn = NULL;
                        return -ENOMEM;
                }
                r = read_file_at(dirfd(d), names[i], POLICY_FILE_MAX, 0, &text, &size);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        read_problem(pr, fn, r, "fix the drop-in or remove it");
                        continue;
                }
                r = strv_extend(&p->sources, fn);
                if (r < 0)
                        return r;
                r = parse_text_internal(p, text, size, fn, pr);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int load_overrides(Policy *p, const PolicyOverride *overrides, size_t n_overrides, Problems *pr) {
        int r;

        for (size_t i = 0; i < n_overrides; i++) {
                const PolicyOverride *o = overrides + i;
                const char *origin = o->origin ?: COMMAND_LINE_NAME;
                const PolicyKey *k;

                if (!o->section || !o->key) {
                        problem(pr, "%s: override without section or key; this is a bug in the caller", origin);
                        continue;
                }
                k = find_key(o->section, o->key);
                if (!k) {
                        char s1[SHOWN_MAX + 4], s2[SHOWN_MAX + 4];

                        problem(pr, "%s: unknown key [%s] %s; see docs/policy.md for the sections and keys",
                                origin, shorten(o->section, s1), shorten(o->key, s2));
                        continue;
                }
                r = assign(p, k, o->value ?: "", origin, pr);
                if (r < 0)
                        return r;
        }
        if (n_overrides > 0)
                return strv_extend(&p->sources, COMMAND_LINE_NAME);
        return 0;
}

static int load_internal(const char *path, const PolicyOverride *overrides, size_t n_overrides,
                         Policy **ret, Problems *pr) {
        _cleanup_policy_ Policy *p = NULL;
        int r;

        r = new_default(&p, pr);
        if (r < 0)
                return r;

        if (path) {
                _cleanup_free_ char *text = NULL;
                size_t size = 0;

                r = read_file_at(AT_FDCWD, path, POLICY_FILE_MAX, 0, &text, &size);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        /* Nothing else is worth reading without the main file. */
                        read_problem(pr, path, r, "check the path given to --policy");
                        return 0;
                }
                r = strv_extend(&p->sources, path);
                if (r < 0)
                        return r;
                r = parse_text_internal(p, text, size, path, pr);
                if (r < 0)
                        return r;
                r = load_dropins(p, path, pr);
                if (r < 0)
                        return r;
        }

        r = load_overrides(p, overrides, n_overrides, pr);
        if (r < 0)
                return r;

        if (pr->error == 0) {
                r = validate_internal(p, pr);
                if (r < 0)
                        return r;
        }
        if (pr->n == 0)
                *ret = TAKE_PTR(p);
        return 0;
}

int policy_load(const char *path, const PolicyOverride *overrides, size_t n_overrides,
                Policy **ret, char **ret_error) {
        Policy *p = NULL;
        Problems pr = {};
        int r;

        if (!ret || (!overrides && n_overrides > 0)) {
                if (ret_error)
                        *ret_error = NULL;
                return -EINVAL;
        }
        r = load_internal(path, overrides, n_overrides, &p, &pr);
        if (r < 0) {
                /* Keep the messages: a broken default explains itself. */
                if (r != -ENOMEM && pr.n > 0 && !pr.oom)
                        return problems_finish(&pr, ret_error);
                problems_done(&pr);
                if (ret_error)
                        *ret_error = NULL;
                return r;
        }
        r = problems_finish(&pr, ret_error);
        if (r < 0) {
                policy_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

/* ---- output ------------------------------------------------------------ */

const char *job_network_to_string(JobNetwork n) {
        switch (n) {
        case JOB_NETWORK_HOST:
                return "host";
        case JOB_NETWORK_NONE:
                return "none";
        case JOB_NETWORK_PRIVATE:
                return "private";
        }
        return NULL;
}

void policy_dump(const Policy *p, FILE *f) {
        const char *section = NULL;
        char buf[64];

        fputs("# The effective hostd policy, merged from:\n", f);
        STRV_FOREACH(s, p->sources)
                fprintf(f, "#   %s\n", *s);

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const PolicyKey *k = keys + i;

                if (!section || !streq(section, k->section)) {
                        section = k->section;
                        fprintf(f, "\n[%s]\n", section);
                }
                fprintf(f, "%s=", k->name);
                switch (key_kind(k)) {
                case KIND_STRING:
                        fputs(strempty(*(char *const *) field_const(p, k)), f);
                        break;
                case KIND_LIST: {
                        bool first = true;

                        STRV_FOREACH(e, *(char **const *) field_const(p, k)) {
                                if (!first)
                                        fputc(' ', f);
                                fputs(*e, f);
                                first = false;
                        }
                        break;
                }
                case KIND_NUMBER:
                        fputs(format_number(k, buf, sizeof(buf), get_number(p, k)), f);
                        break;
                case KIND_NETWORK:
                        fputs(strempty(job_network_to_string(p->network)), f);
                        break;
                case KIND_BOOL:
                        fputs(*(const bool *) field_const(p, k) ? "yes" : "no", f);
                        break;
                }
                fputc('\n', f);
        }
}
