/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Checking a key's value and assigning it to the policy. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "parse-util.h"
#include "policy-internal.h"

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

int policy_check_string(const PolicyKey *k, const char *v, char **ret, char *why, size_t size) {
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

int policy_check_element(const PolicyKey *k, const char *v, char **ret, char *why, size_t size) {
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

int policy_check_number(const PolicyKey *k, uint64_t v, char *why, size_t size) {
        char range[128];

        if (k->unlimited && v == 0)
                return 0;
        if (v < k->min || v > k->max)
                return why_fmt(why, size, "out of range; use %s%s", policy_describe_range(k, range, sizeof(range)),
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
                                       policy_describe_range(k, range, sizeof(range)), k->unlimited ? ", or infinity" : "");
                break;
        case KEY_DURATION:
                r = parse_duration_sec(value, &v);
                if (r == -EINVAL)
                        return why_fmt(why, size, "not a duration; use %s, in seconds or with an s, m, h or d suffix (e.g. 90s, 30m, 2h)",
                                       policy_describe_range(k, range, sizeof(range)));
                break;
        case KEY_CPUS:
                r = parse_millicpus(value, &u32);
                if (r == -EINVAL)
                        return why_fmt(why, size, "not a number of CPUs; use %s, a decimal with at most three fractional digits (e.g. 2 or 0.5)%s",
                                       policy_describe_range(k, range, sizeof(range)), k->unlimited ? ", or infinity" : "");
                v = u32;
                break;
        default:
                r = parse_u64(value, &v);
                if (r == -EINVAL)
                        return why_fmt(why, size, "not a whole number; use %s%s", policy_describe_range(k, range, sizeof(range)),
                                       k->unlimited ? ", or infinity" : "");
        }
        if (r < 0)
                return why_fmt(why, size, "out of range; use %s%s", policy_describe_range(k, range, sizeof(range)),
                               k->unlimited ? ", or infinity" : "");
        r = policy_check_number(k, v, why, size);
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

                r = policy_check_element(k, w, &norm, why, sizeof(why));
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        policy_problem(pr, "%s: [%s] %s=%s: '%s' %s", loc, k->section, k->name,
                                policy_shorten(value, shown), policy_shorten(w, shown_elem), why);
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

int policy_assign(Policy *p, const PolicyKey *k, const char *value, const char *loc, Problems *pr) {
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
                        policy_problem(pr, "%s: [%s] %s=: must not be empty; set a value or remove the line to keep the default",
                                loc, k->section, k->name);
                        return 0;
                }
                r = policy_check_string(k, value, &n, why, sizeof(why));
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        policy_problem(pr, "%s: [%s] %s=%s: %s", loc, k->section, k->name, policy_shorten(value, shown), why);
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
                        policy_problem(pr, "%s: [%s] %s=%s: %s", loc, k->section, k->name, policy_shorten(value, shown), why);
                        return 0;
                }
                policy_set_number(p, k, v);
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
                        policy_problem(pr, "%s: [%s] %s=%s: unknown network mode; use private, host or none",
                                loc, k->section, k->name, policy_shorten(value, shown));
                return 0;
        }

        case KIND_BOOL: {
                bool *f = field(p, k);
                bool b;

                if (parse_boolean(value, &b) < 0)
                        policy_problem(pr, "%s: [%s] %s=%s: not a boolean; use yes or no",
                                loc, k->section, k->name, policy_shorten(value, shown));
                else
                        *f = b;
                return 0;
        }
        }
        return 0;
}
