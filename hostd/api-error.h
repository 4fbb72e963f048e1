/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* An API error as the contract defines it: a code from a fixed set and a
 * message that names the problem and the fix.  Functions that can fail
 * for a caller-visible reason fill one in and return a negative errno. */

#include <errno.h>

#include "macros.h"

#define API_ERROR_BAD_REQUEST "bad-request"
#define API_ERROR_UNKNOWN_JOB "unknown-job"
#define API_ERROR_NO_CAPACITY "no-capacity"
#define API_ERROR_DRAINING "draining"
#define API_ERROR_UNSUPPORTED_PLATFORM "unsupported-platform"
#define API_ERROR_FORBIDDEN "forbidden"
#define API_ERROR_INTERNAL "internal"

typedef struct ApiError {
        const char *code;   /* one of API_ERROR_*, static */
        char message[1024];
} ApiError;

/* Sets the error (first one wins) and returns -EINVAL, or error if < 0. */
int api_error_set(ApiError *e, int error, const char *code, const char *format, ...) _printf_(4, 5);

/* The exit status the contract assigns to an error code (docs/contract.md). */
int api_error_exit_status(const char *code);
