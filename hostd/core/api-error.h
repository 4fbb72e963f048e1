/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* An API error as the contract defines it: a code from a fixed set and a
 * message that names the problem and the fix.  Functions that can fail
 * for a caller-visible reason fill one in and return a negative errno. */

#include <errno.h>

#include "api-codes.h"
#include "macros.h"

typedef struct ApiError {
        const char *code;   /* one of API_ERROR_*, static */
        char message[1024];
} ApiError;

/* Sets the error (first one wins) and returns -EINVAL, or error if < 0. */
int api_error_set(ApiError *e, int error, const char *code, const char *format, ...) _printf_(4, 5);

