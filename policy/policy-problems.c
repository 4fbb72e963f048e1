/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Collecting problems into one message, one problem per line. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy-internal.h"

void policy_problems_done(Problems *pr) {
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

bool policy_problems_full(const Problems *pr) {
        return pr->n >= PROBLEMS_MAX;
}

_printf_(2, 3)
void policy_problem(Problems *pr, const char *format, ...) {
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

int policy_problems_finish(Problems *pr, char **ret_error) {
        int r;

        if (pr->oom) {
                policy_problems_done(pr);
                if (ret_error)
                        *ret_error = NULL;
                return -ENOMEM;
        }
        if (pr->n == 0) {
                policy_problems_done(pr);
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
                        return policy_problems_finish(pr, ret_error);
        }
        r = pr->error < 0 ? pr->error : -EINVAL;
        if (ret_error)
                *ret_error = TAKE_PTR(pr->text);
        policy_problems_done(pr);
        return r;
}

/* Copies s for display in a message, cut at a character boundary. */
const char *policy_shorten(const char *s, char buf[static SHOWN_MAX + 4]) {
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
