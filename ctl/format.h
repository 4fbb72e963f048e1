/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Human-readable rendering of hostd's JSON answers (docs/contract.md).
 * Everything takes the answer, the current time and a FILE*, so that
 * test-format.c can feed canned answers and check the text. */

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "api-codes.h"

/* Exit statuses: the contract's (api-codes.h), plus hostctl's own. */
#define EXIT_UNAVAILABLE 69             /* EX_UNAVAILABLE: hostd cannot be reached */

/* Checks that the answer is an object with "apiVersion": "hostd/v1".
 * Returns 0, or -EBADMSG with *ret_bad saying what is wrong. */
int answer_check(json_object *answer, const char **ret_bad);

/* Returns 1 and the code and message if the answer is an error answer,
 * 0 if it is not, -EBADMSG if its "error" member is malformed. */
int answer_get_error(json_object *answer, const char **ret_code, const char **ret_message);

/* "59s", "1h59m", "2d3h": at most the two largest units. */
char *format_duration(char *buf, size_t size, uint64_t sec);
/* Time left until the RFC 3339 time expires, or "expired" ("?" if unparsable). */
char *format_lease_left(char *buf, size_t size, const char *expires, time_t now);
/* "24.0 GiB", "252 GiB", "512 B". */
char *format_bytes(char *buf, size_t size, uint64_t bytes);
/* Compact form for tables: "4G", "1.5G", "512M". */
char *format_bytes_short(char *buf, size_t size, uint64_t bytes);
/* "%Y-%m-%dT%H:%M:%SZ" to time_t; -EINVAL if it is not exactly that. */
int parse_rfc3339(const char *s, time_t *ret);

/* One renderer per verb. Each returns 0 when the answer was printed, a
 * positive exit status when it was printed but says the operation did not
 * complete (a release that left the job leaked), or -EBADMSG before
 * printing anything, with *ret_bad naming what is missing or wrong. */
typedef int (*format_func_t)(json_object *answer, time_t now, FILE *f, const char **ret_bad);

int format_capacity(json_object *answer, time_t now, FILE *f, const char **ret_bad);
int format_jobs(json_object *answer, time_t now, FILE *f, const char **ret_bad);
int format_job(json_object *answer, time_t now, FILE *f, const char **ret_bad);
int format_allocate(json_object *answer, time_t now, FILE *f, const char **ret_bad);
int format_release(json_object *answer, time_t now, FILE *f, const char **ret_bad);
int format_drain(json_object *answer, time_t now, FILE *f, const char **ret_bad);
int format_resume(json_object *answer, time_t now, FILE *f, const char **ret_bad);
int format_reload(json_object *answer, time_t now, FILE *f, const char **ret_bad);
int format_metrics(json_object *answer, time_t now, FILE *f, const char **ret_bad);

/* `known-hosts`: capacity's host_keys as OpenSSH known_hosts lines for
 * ADDRESS and port ("ADDRESS KEY" for port 22, "[ADDRESS]:PORT KEY"
 * otherwise).  -EINVAL if address is not an IP address or host name;
 * -EBADMSG (with *ret_bad) if the answer lists no host key. */
int format_known_hosts(json_object *capacity, const char *address, unsigned port, FILE *f, const char **ret_bad);

/* `status`: the capacity summary, then the jobs table. */
int format_status(json_object *capacity, json_object *jobs, time_t now, FILE *f, const char **ret_bad);
