/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;
#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)

usec_t now(clockid_t clock);

/* RFC 3339 in UTC with second precision: "2026-11-22T02:00:00Z".
 * buf must hold at least TIMESTAMP_MAX bytes. */
#define TIMESTAMP_MAX 32
char *format_timestamp(char *buf, size_t size, usec_t t);

/* Inverse of format_timestamp (only that exact form). */
int parse_timestamp(const char *s, usec_t *ret);
