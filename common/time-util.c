/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "time-util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

usec_t now(clockid_t clock) {
        struct timespec ts;

        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

char *format_timestamp(char *buf, size_t size, usec_t t) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&sec, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
                snprintf(buf, size, "invalid");
        }
        return buf;
}

int parse_timestamp(const char *s, usec_t *ret) {
        struct tm tm = {};
        const char *end;
        time_t t;

        end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!end || *end)
                return -EINVAL;
        t = timegm(&tm);
        if (t < 0)
                return -ERANGE;
        *ret = (usec_t) t * USEC_PER_SEC;
        return 0;
}
