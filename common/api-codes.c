/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "api-codes.h"

#include "macros.h"

int api_code_exit_status(const char *code) {
        static const struct {
                const char *code;
                int status;
        } table[] = {
                { API_ERROR_BAD_REQUEST, EXIT_BAD_REQUEST },
                { API_ERROR_UNKNOWN_JOB, EXIT_UNKNOWN_JOB },
                { API_ERROR_NO_CAPACITY, EXIT_NO_CAPACITY },
                { API_ERROR_DRAINING, EXIT_DRAINING },
                { API_ERROR_UNSUPPORTED_PLATFORM, EXIT_UNSUPPORTED_PLATFORM },
                { API_ERROR_FORBIDDEN, EXIT_FORBIDDEN },
                { API_ERROR_INTERNAL, EXIT_INTERNAL },
        };

        for (size_t i = 0; code && i < ELEMENTSOF(table); i++)
                if (streq(code, table[i].code))
                        return table[i].status;
        return EXIT_INTERNAL;
}
