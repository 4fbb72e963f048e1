/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "parse-util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int parse_u64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!s || !*s)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
                if (v > (UINT64_MAX - (uint64_t) (*p - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        *ret = v;
        return 0;
}

int parse_u32(const char *s, uint32_t *ret) {
        uint64_t v;
        int r = parse_u64(s, &v);

        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

/* Splits "123abc" into number and unit, unit copied to buf. */
static int split_unit(const char *s, uint64_t *ret_num, char *unit, size_t unit_size) {
        char num[32];
        size_t n = 0;

        if (!s)
                return -EINVAL;
        while (isdigit((unsigned char) s[n]))
                n++;
        if (n == 0 || n >= sizeof(num))
                return n == 0 ? -EINVAL : -ERANGE;
        memcpy(num, s, n);
        num[n] = 0;
        if (strlen(s + n) >= unit_size)
                return -EINVAL;
        strcpy(unit, s + n);
        return parse_u64(num, ret_num);
}

static int mul_overflow(uint64_t a, uint64_t b, uint64_t *ret) {
        if (b != 0 && a > UINT64_MAX / b)
                return -ERANGE;
        *ret = a * b;
        return 0;
}

typedef struct Unit {
        const char *suffix;
        uint64_t factor;
} Unit;

/* A number with one of table's unit suffixes, scaled by its factor. */
static int parse_scaled(const char *s, const Unit *table, size_t n, uint64_t *ret) {
        char unit[8];
        uint64_t v;
        int r;

        r = split_unit(s, &v, unit, sizeof(unit));
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (strcmp(unit, table[i].suffix) == 0)
                        return mul_overflow(v, table[i].factor, ret);
        return -EINVAL;
}

int parse_size(const char *s, uint64_t *ret) {
        static const Unit table[] = {
                { "", 1 },
                { "B", 1 },
                { "K", 1ULL << 10 }, { "KiB", 1ULL << 10 }, { "KB", 1ULL << 10 },
                { "M", 1ULL << 20 }, { "MiB", 1ULL << 20 }, { "MB", 1ULL << 20 },
                { "G", 1ULL << 30 }, { "GiB", 1ULL << 30 }, { "GB", 1ULL << 30 },
                { "T", 1ULL << 40 }, { "TiB", 1ULL << 40 }, { "TB", 1ULL << 40 },
        };
        return parse_scaled(s, table, sizeof(table) / sizeof(table[0]), ret);
}

int parse_duration_sec(const char *s, uint64_t *ret) {
        static const Unit table[] = {
                { "", 1 }, { "s", 1 }, { "sec", 1 },
                { "m", 60 }, { "min", 60 },
                { "h", 3600 }, { "d", 86400 },
        };
        return parse_scaled(s, table, sizeof(table) / sizeof(table[0]), ret);
}

int parse_millicpus(const char *s, uint32_t *ret) {
        uint64_t whole = 0, frac = 0;
        const char *dot;
        char buf[32];
        size_t wl, fl;
        int r;

        if (!s || !*s || strlen(s) >= sizeof(buf))
                return -EINVAL;
        dot = strchr(s, '.');
        wl = dot ? (size_t) (dot - s) : strlen(s);
        if (wl == 0)
                return -EINVAL;
        memcpy(buf, s, wl);
        buf[wl] = 0;
        r = parse_u64(buf, &whole);
        if (r < 0)
                return r;
        if (dot) {
                fl = strlen(dot + 1);
                if (fl == 0 || fl > 3)
                        return -EINVAL;
                r = parse_u64(dot + 1, &frac);
                if (r < 0)
                        return r;
                for (size_t i = fl; i < 3; i++)
                        frac *= 10;
        }
        if (whole > UINT32_MAX / 1000 - 1)
                return -ERANGE;
        *ret = (uint32_t) (whole * 1000 + frac);
        return 0;
}

int parse_boolean(const char *s, bool *ret) {
        if (!s)
                return -EINVAL;
        if (!strcasecmp(s, "yes") || !strcasecmp(s, "true") || !strcasecmp(s, "on") || !strcmp(s, "1")) {
                *ret = true;
                return 0;
        }
        if (!strcasecmp(s, "no") || !strcasecmp(s, "false") || !strcasecmp(s, "off") || !strcmp(s, "0")) {
                *ret = false;
                return 0;
        }
        return -EINVAL;
}

char *format_size(char *buf, size_t size, uint64_t bytes) {
        static const char suffix[] = "KMGT";

        for (int i = 4; i >= 1; i--) {
                uint64_t f = 1ULL << (10 * i);
                if (bytes >= f && bytes % f == 0) {
                        snprintf(buf, size, "%llu%c", (unsigned long long) (bytes / f), suffix[i - 1]);
                        return buf;
                }
        }
        snprintf(buf, size, "%llu", (unsigned long long) bytes);
        return buf;
}

void mountinfo_unescape(char *s) {
        char *w = s;

        for (const char *r = s; *r; ) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
                    r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char) (((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
                        r += 4;
                } else
                        *w++ = *r++;
        }
        *w = 0;
}
