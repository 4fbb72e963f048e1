/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "api-error.h"

#include <stdarg.h>
#include <stdio.h>

int api_error_set(ApiError *e, int error, const char *code, const char *format, ...) {
        va_list ap;

        if (e && !e->code) {
                e->code = code;
                va_start(ap, format);
                vsnprintf(e->message, sizeof(e->message), format, ap);
                va_end(ap);
        }
        return error < 0 ? error : -EINVAL;
}

int api_error_exit_status(const char *code) {
        static const struct {
                const char *code;
                int status;
        } table[] = {
                { API_ERROR_BAD_REQUEST, 2 },
                { API_ERROR_UNKNOWN_JOB, 3 },
                { API_ERROR_NO_CAPACITY, 4 },
                { API_ERROR_DRAINING, 5 },
                { API_ERROR_UNSUPPORTED_PLATFORM, 6 },
                { API_ERROR_FORBIDDEN, 7 },
        };

        for (size_t i = 0; code && i < ELEMENTSOF(table); i++)
                if (streq(code, table[i].code))
                        return table[i].status;
        return 1;
}
