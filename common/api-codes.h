/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The contract's error codes (docs/contract.md, "Errors") and the exit
 * status each gives: hostd's SSH exec of a controller verb exits with it,
 * and hostctl exits with it.  One table for both sides. */

#define API_ERROR_BAD_REQUEST "bad-request"
#define API_ERROR_UNKNOWN_JOB "unknown-job"
#define API_ERROR_NO_CAPACITY "no-capacity"
#define API_ERROR_DRAINING "draining"
#define API_ERROR_UNSUPPORTED_PLATFORM "unsupported-platform"
#define API_ERROR_FORBIDDEN "forbidden"
#define API_ERROR_INTERNAL "internal"

enum {
        EXIT_INTERNAL = 1,              /* internal, an unknown code, a malformed answer */
        EXIT_BAD_REQUEST = 2,           /* also hostctl's own usage errors */
        EXIT_UNKNOWN_JOB = 3,
        EXIT_NO_CAPACITY = 4,
        EXIT_DRAINING = 5,
        EXIT_UNSUPPORTED_PLATFORM = 6,
        EXIT_FORBIDDEN = 7,
};

/* The exit status for an error answer's "code"; 1 for NULL and for codes
 * this side does not know (a newer peer's). */
int api_code_exit_status(const char *code);
