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
