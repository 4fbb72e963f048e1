/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading the INI file format: lines, section headers and Key=Value, with
 * file:line messages. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "macros.h"
#include "policy-internal.h"

#define SUGGEST_LEN_MAX 64     /* longer names get no "did you mean" */

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

/* ---- the file format --------------------------------------------------- */

static void unknown_section(const char *loc, const char *name, Problems *pr) {
        char shown[SHOWN_MAX + 4];

        if (policy_problems_full(pr)) {
                pr->n++;
                return;
        }
        for (size_t i = 0; i < n_policy_sections; i++)
                if (similar(name, policy_sections[i])) {
                        policy_problem(pr, "%s: unknown section [%s]; did you mean [%s]?", loc, policy_shorten(name, shown), policy_sections[i]);
                        return;
                }
        policy_problem(pr, "%s: unknown section [%s]; use one of [Listen], [SSH], [Control], [State], [Jobs], [UIDPool], [Seccomp], [Platforms]",
                loc, policy_shorten(name, shown));
}

static void unknown_key(const char *loc, const char *section, const char *name, Problems *pr) {
        char shown[SHOWN_MAX + 4];
        const PolicyKey *close = NULL;

        if (policy_problems_full(pr)) {
                pr->n++;
                return;
        }
        for (size_t i = 0; i < n_policy_keys; i++)
                if (streq(policy_keys[i].name, name)) {
                        policy_problem(pr, "%s: unknown key '%s' in [%s]; %s belongs in [%s]",
                                loc, name, section, name, policy_keys[i].section);
                        return;
                }
        for (size_t i = 0; i < n_policy_keys && !close; i++)
                if (streq(policy_keys[i].section, section) && similar(name, policy_keys[i].name))
                        close = policy_keys + i;
        if (close)
                policy_problem(pr, "%s: unknown key '%s' in [%s]; did you mean '%s'?",
                        loc, policy_shorten(name, shown), section, close->name);
        else
                policy_problem(pr, "%s: unknown key '%s' in [%s]; see docs/policy.md for the keys of [%s]",
                        loc, policy_shorten(name, shown), section, section);
}

static void key_outside_section(const char *loc, const char *name, const char *value, Problems *pr) {
        char shown[SHOWN_MAX + 4], shown_value[SHOWN_MAX + 4];

        for (size_t i = 0; i < n_policy_keys; i++)
                if (streq(policy_keys[i].name, name)) {
                        policy_problem(pr, "%s: %s=%s is outside any section; put it below a [%s] header",
                                loc, name, policy_shorten(value, shown_value), policy_keys[i].section);
                        return;
                }
        policy_problem(pr, "%s: %s=%s is outside any section; add a [Section] header above it",
                loc, policy_shorten(name, shown), policy_shorten(value, shown_value));
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
                policy_problem(pr, "%s: line is %zu bytes long, over the limit of %d; shorten it", loc, len, POLICY_LINE_MAX);
                return 0;
        }
        if (memchr(line, 0, len)) {
                policy_problem(pr, "%s: contains a NUL byte; policy files must be plain text", loc);
                return 0;
        }
        if (!utf8_valid(line, len)) {
                policy_problem(pr, "%s: contains bytes that are not valid UTF-8; save the file as UTF-8", loc);
                return 0;
        }
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) line[i];

                if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
                        policy_problem(pr, "%s: contains the control character 0x%02x; remove it", loc, c);
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
                        policy_problem(pr, "%s: malformed section header '%s'; write it as [Name]", loc, policy_shorten(s, shown));
                        *state = SECTION_BAD;
                        return 0;
                }
                s[l - 1] = 0;
                known = policy_find_section(s + 1);
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
                policy_problem(pr, "%s: '%s' has no '='; write Key=Value (or '#' before a comment)", loc, policy_shorten(s, shown));
                return 0;
        }
        *eq = 0;
        key = strip(s);
        value = strip(eq + 1);
        if (*key == 0) {
                policy_problem(pr, "%s: '=%s' has no key name before '='; write Key=Value", loc, policy_shorten(value, shown));
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

        k = policy_find_key(*section, key);
        if (!k) {
                unknown_key(loc, *section, key, pr);
                return 0;
        }
        return policy_assign(p, k, value, loc, pr);
}

int policy_parse_text_internal(Policy *p, const char *text, size_t size, const char *filename, Problems *pr) {
        SectionState state = SECTION_NONE;
        const char *section = NULL, *c, *end;
        unsigned line_no = 0;
        int r;

        if (size > POLICY_FILE_MAX) {
                policy_problem(pr, "%s: is %zu bytes, over the limit of %d bytes; split it into drop-ins or shorten it",
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
        r = policy_parse_text_internal(p, text, size, filename ?: "(text)", &pr);
        if (r < 0) {
                policy_problems_done(&pr);
                if (ret_error)
                        *ret_error = NULL;
                return r;
        }
        return policy_problems_finish(&pr, ret_error);
}
